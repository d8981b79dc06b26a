-- no-multiplexor.lua (miltertest) - one transaction through
-- policies/basic.lua; PHASE=down: the multiplexor is gone, so MAIL gets
-- 451 4.3.0 (a reply code); PHASE=up: it is served normally.
dofile(LIB)

local what = PHASE == "down" and "multiplexor down" or
             "multiplexor up (" .. tostring(PHASE) .. ")"
local conn = open("client.test", "192.0.2.10", "client.test")
must(mt.mailfrom(conn, "<poster@example.net>"), "mailfrom")
if PHASE == "down" then
  expect_reply(conn, SMFIR_REPLYCODE, what .. ": MAIL gets a reply code")
  mt.disconnect(conn)
else
  expect_reply(conn, SMFIR_CONTINUE, what .. ": MAIL continues")
  must(mt.rcptto(conn, "<list@lists.test>"), "rcptto")
  expect_reply(conn, SMFIR_CONTINUE, what .. ": RCPT continues")
  send_message(conn, {{"Subject", "hello"}}, "Hello.\r\n")
  expect_reply(conn, SMFIR_CONTINUE, what .. ": EOM continues")
  expect_header(conn, "X-Policy", "seen", what .. ": the policy ran")
  check(what .. ": the list is expanded",
        mt.eom_check(conn, MT_RCPTADD, "<a@members.test>"))
  mt.disconnect(conn)
end
done()
