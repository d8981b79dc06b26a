-- replies-accept.lua (miltertest) - policies/replies.lua with
-- failure_action = accept: a failed decision lets the mail through
-- unchanged, while the policy's own refusals still refuse.
dofile(LIB)

local function mail(from)
  local conn = open("client.test", "192.0.2.10", "client.test")
  must(mt.mailfrom(conn, from), "mailfrom " .. from)
  return conn
end

local failures = {
  {"<error@sender.test>", "error()"},
  {"<bad-reject-code@sender.test>", "mlm.reject(text, \"450\")"},
  {"<plain-table@sender.test>", "a plain table returned"},
}
for _, c in ipairs(failures) do
  local conn = mail(c[1])
  expect_reply(conn, SMFIR_CONTINUE, "failure_action accept: MAIL " .. c[1] ..
               " (" .. c[2] .. ") continues")
  mt.disconnect(conn)
end

do
  local conn = mail("<reject@sender.test>")
  expect_reply(conn, SMFIR_REPLYCODE,
               "failure_action accept: mlm.reject() at MAIL still refuses")
  mt.disconnect(conn)

  conn = mail("<continue@sender.test>")
  must(mt.rcptto(conn, "<error@lists.test>"), "rcptto error")
  expect_reply(conn, SMFIR_CONTINUE,
               "failure_action accept: RCPT with a Lua error continues")
  must(mt.rcptto(conn, "<nobody@lists.test>"), "rcptto nobody")
  expect_reply(conn, SMFIR_REPLYCODE,
               "failure_action accept: mlm.reject() at RCPT still refuses")
  mt.disconnect(conn)

  conn = transaction{from = "<continue@sender.test>",
                     headers = {{"Subject", "error"}}}
  expect_reply(conn, SMFIR_CONTINUE,
               "failure_action accept: EOM with a Lua error continues")
  check("failure_action accept: EOM with a Lua error applies no change",
        nothing_applied(conn))
  mt.disconnect(conn)

  conn = transaction{from = "<continue@sender.test>",
                     headers = {{"Subject", "reject"}}}
  check("failure_action accept: mlm.reject() at EOM still gives 554 5.7.0",
        mt.getreply(conn) == SMFIR_REPLYCODE and
        mt.eom_check(conn, MT_SMTPREPLY, "554", "5.7.0", "Message refused"))
  mt.disconnect(conn)
end

done()
