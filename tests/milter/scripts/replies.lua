-- replies.lua (miltertest) - each reply kind of policies/replies.lua at
-- MAIL, RCPT and EOM as the MTA sees it, with failure_action tempfail.
dofile(LIB)

-- MAIL: one connection per reply, as an MTA would after accept/discard.
local function mail(from)
  local conn = open("client.test", "192.0.2.10", "client.test")
  must(mt.mailfrom(conn, from), "mailfrom " .. from)
  return conn
end

local at_mail = {
  {"<continue@sender.test>", SMFIR_CONTINUE, "mlm.continue()"},
  {"<nil@sender.test>", SMFIR_CONTINUE, "returning nil"},
  {"<accept@sender.test>", SMFIR_ACCEPT, "mlm.accept()"},
  {"<reject@sender.test>", SMFIR_REPLYCODE, "mlm.reject(text, 550, 5.7.1)"},
  {"<tempfail@sender.test>", SMFIR_REPLYCODE,
   "mlm.tempfail(text, 451, 4.7.1)"},
  {"<discard@sender.test>", SMFIR_DISCARD, "mlm.discard()"},
}
for _, c in ipairs(at_mail) do
  local conn = mail(c[1])
  expect_reply(conn, c[2], "MAIL " .. c[1] .. ": " .. c[3])
  mt.disconnect(conn)
end

-- Replies a policy may not give: a Lua error, so failure_action (451).
local refused = {
  {"<bad-reject-code@sender.test>", "mlm.reject(text, \"450\")"},
  {"<bad-reject-dsn@sender.test>", "mlm.reject(text, \"550\", \"4.7.1\")"},
  {"<bad-tempfail-code@sender.test>", "mlm.tempfail(text, \"550\")"},
  {"<bad-text@sender.test>", "mlm.reject() with CR LF in the text"},
  {"<plain-table@sender.test>", "a plain table returned"},
  {"<string@sender.test>", "a string returned"},
  {"<error@sender.test>", "error()"},
}
for _, c in ipairs(refused) do
  local conn = mail(c[1])
  expect_reply(conn, SMFIR_REPLYCODE, "MAIL " .. c[1] .. ": " .. c[2] ..
               " is a failure, answered with a reply code")
  mt.disconnect(conn)
end

-- RCPT: a refused recipient does not end the transaction.
do
  local conn = mail("<continue@sender.test>")
  must(mt.rcptto(conn, "<nobody@lists.test>"), "rcptto nobody")
  expect_reply(conn, SMFIR_REPLYCODE, "RCPT nobody@: reject 550 5.1.1")
  must(mt.rcptto(conn, "<busy@lists.test>"), "rcptto busy")
  expect_reply(conn, SMFIR_REPLYCODE, "RCPT busy@: tempfail 452 4.5.3")
  must(mt.rcptto(conn, "<list@lists.test>"), "rcptto list")
  expect_reply(conn, SMFIR_CONTINUE,
               "RCPT list@ after two refused recipients: continue")
  must(mt.rcptto(conn, "<error@lists.test>"), "rcptto error")
  expect_reply(conn, SMFIR_REPLYCODE, "RCPT error@ (Lua error): reply code")
  must(mt.rcptto(conn, "<other@lists.test>"), "rcptto other")
  expect_reply(conn, SMFIR_CONTINUE, "RCPT other@ after a failed one: continue")
  send_message(conn, {{"Subject", "hello"}}, "Hello.\r\n")
  expect_reply(conn, SMFIR_CONTINUE, "EOM of that transaction: continue")
  expect_header(conn, "X-Rcpts", "list@lists.test,other@lists.test",
                "ctx.recipients holds only the accepted recipients")
  mt.disconnect(conn)
end

-- End of message.
local function eom(subject)
  local conn = transaction{from = "<continue@sender.test>",
                           headers = {{"Subject", subject}}}
  return conn
end

do
  local conn = eom("continue")
  expect_reply(conn, SMFIR_CONTINUE, "EOM mlm.continue()")
  expect_header(conn, "X-Rcpts", "list@lists.test",
                "EOM continue applies the changes")
  mt.disconnect(conn)

  conn = eom("accept")
  expect_reply(conn, SMFIR_ACCEPT, "EOM mlm.accept()")
  expect_header(conn, "X-Rcpts", "list@lists.test",
                "EOM accept applies the changes")
  mt.disconnect(conn)

  conn = eom("discard")
  expect_reply(conn, SMFIR_DISCARD, "EOM mlm.discard()")
  check("EOM discard applies no change", nothing_applied(conn))
  mt.disconnect(conn)

  conn = eom("reject")
  expect_reply(conn, SMFIR_REPLYCODE, "EOM mlm.reject(): reply code")
  check("EOM reject is 554 5.7.0 with the policy's text",
        mt.eom_check(conn, MT_SMTPREPLY, "554", "5.7.0", "Message refused"))
  check("EOM reject applies no change", nothing_applied(conn))
  mt.disconnect(conn)

  conn = eom("tempfail")
  expect_reply(conn, SMFIR_REPLYCODE, "EOM mlm.tempfail(): reply code")
  check("EOM tempfail is 452 4.3.1 with the policy's text",
        mt.eom_check(conn, MT_SMTPREPLY, "452", "4.3.1", "Not now"))
  check("EOM tempfail applies no change", nothing_applied(conn))
  mt.disconnect(conn)

  conn = eom("error")
  expect_failure_at_eom(conn, "EOM error()")
  check("EOM error(): the header added before the error is not applied",
        nothing_applied(conn))
  mt.disconnect(conn)

  conn = eom("plain-table")
  expect_failure_at_eom(conn, "EOM returning a plain table")
  check("EOM plain table: no change applied", nothing_applied(conn))
  mt.disconnect(conn)
end

done()
