-- changes.lua (miltertest) - the end-of-message changes of
-- policies/changes.lua as milter actions, and changes asked for before
-- end of message (a Lua error: 451 4.3.0).
dofile(LIB)

local headers = {
  {"From", "Sender <sender@example.net>"},
  {"To", "list@lists.test"},
  {"X-Multi", "one"}, {"X-Multi", "two"}, {"X-Multi", "three"},
  {"X-One", "one"},
  {"X-Secret", "password"},
}
local body = "Hello list.\r\n"

local function post(subject)
  local h = {{"Subject", subject}}
  for _, x in ipairs(headers) do h[#h + 1] = x end
  return transaction{from = "<poster@example.net>",
                     to = {"<list@lists.test>"}, headers = h, body = body}
end

local function header_checks(conn, what)
  expect_header(conn, "X-Added", "added value", what .. ": add_header")
  check(what .. ": add_header twice adds two fields",
        mt.eom_check(conn, MT_HDRADD, "X-Added-Twice", "first") and
        mt.eom_check(conn, MT_HDRADD, "X-Added-Twice", "second"))
  check(what .. ": change_header(Subject, value)",
        mt.eom_check(conn, MT_HDRCHANGE, "Subject", "[list] headers"))
  -- miltertest reads the index of MT_HDRCHANGE from the value argument,
  -- so the values are the indexes themselves.
  check(what .. ": change_header(X-Multi, \"2\", 2) changes the 2nd field",
        mt.eom_check(conn, MT_HDRCHANGE, "X-Multi", "2", 2))
  check(what .. ": change_header(X-One, \"1\") changes the 1st field",
        mt.eom_check(conn, MT_HDRCHANGE, "X-One", "1", 1))
  check(what .. ": delete_header(X-Secret)",
        mt.eom_check(conn, MT_HDRDELETE, "X-Secret", 1))
  check(what .. ": delete_header(X-Multi, 3) deletes the 3rd field",
        mt.eom_check(conn, MT_HDRDELETE, "X-Multi", 3))
  check(what .. ": delete_header(X-Multi, 3) leaves the 1st field",
        not mt.eom_check(conn, MT_HDRDELETE, "X-Multi", 1))
end

local function envelope_checks(conn, what)
  check(what .. ": delete_recipient(list@)",
        mt.eom_check(conn, MT_RCPTDELETE, "<list@lists.test>"))
  check(what .. ": add_recipient(a@), add_recipient(b@)",
        mt.eom_check(conn, MT_RCPTADD, "<a@members.test>") and
        mt.eom_check(conn, MT_RCPTADD, "<b@members.test>"))
end

local conn

conn = post("headers")
expect_reply(conn, SMFIR_CONTINUE, "header changes: EOM continue")
header_checks(conn, "header changes")
check("header changes: no envelope or body change",
      not mt.eom_check(conn, MT_BODYCHANGE) and
      not mt.eom_check(conn, MT_RCPTDELETE, "<list@lists.test>"))
mt.disconnect(conn)

conn = post("envelope")
expect_reply(conn, SMFIR_CONTINUE, "envelope changes: EOM continue")
envelope_checks(conn, "envelope changes")
check("envelope changes: no header change",
      not mt.eom_check(conn, MT_HDRADD) and
      not mt.eom_check(conn, MT_HDRCHANGE))
mt.disconnect(conn)

conn = post("quarantine")
expect_reply(conn, SMFIR_CONTINUE, "quarantine: EOM continue")
check("quarantine(reason) quarantines with that reason",
      mt.eom_check(conn, MT_QUARANTINE, "held for review"))
mt.disconnect(conn)

conn = post("footer")
expect_reply(conn, SMFIR_CONTINUE, "add_footer: EOM continue")
check("add_footer replaces the body", mt.eom_check(conn, MT_BODYCHANGE))
check("add_footer changes no header", not mt.eom_check(conn, MT_HDRADD))
mt.disconnect(conn)

conn = post("all")
expect_reply(conn, SMFIR_CONTINUE, "all changes at once: EOM continue")
header_checks(conn, "all changes at once")
envelope_checks(conn, "all changes at once")
check("all changes at once: the body is replaced",
      mt.eom_check(conn, MT_BODYCHANGE))
mt.disconnect(conn)

conn = post("accept-with-changes")
expect_reply(conn, SMFIR_ACCEPT, "mlm.accept() with changes: EOM accept")
header_checks(conn, "mlm.accept() with changes")
mt.disconnect(conn)

conn = post("reject-after-changes")
expect_reply(conn, SMFIR_REPLYCODE, "changes then mlm.reject(): reply code")
check("changes then mlm.reject(): 550 5.7.1 No",
      mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "No"))
check("changes then mlm.reject(): none of the changes is applied",
      nothing_applied(conn, {"<list@lists.test>", "<a@members.test>"}))
mt.disconnect(conn)

conn = post("error-after-changes")
expect_failure_at_eom(conn, "changes then error()")
check("changes then error(): none of the changes is applied",
      nothing_applied(conn, {"<list@lists.test>", "<a@members.test>"}))
mt.disconnect(conn)

conn = post("bad-index")
expect_failure_at_eom(conn, "change_header with index 0")
check("change_header with index 0: the header added before is not applied",
      nothing_applied(conn))
mt.disconnect(conn)

-- Changes before end of message are Lua errors.
conn = open("client.test", "192.0.2.10", "client.test")
must(mt.mailfrom(conn, "<early-header@sender.test>"), "mailfrom")
expect_reply(conn, SMFIR_REPLYCODE, "ctx:add_header in filter_sender fails")
must(mt.mailfrom(conn, "<early-sender@sender.test>"), "mailfrom")
expect_reply(conn, SMFIR_REPLYCODE, "ctx:change_sender in filter_sender fails")
must(mt.mailfrom(conn, "<poster@example.net>"), "mailfrom")
expect_reply(conn, SMFIR_CONTINUE, "the next MAIL on that connection continues")
must(mt.rcptto(conn, "<early@lists.test>"), "rcptto")
expect_reply(conn, SMFIR_REPLYCODE,
             "ctx:add_recipient in filter_recipient fails")
must(mt.rcptto(conn, "<list@lists.test>"), "rcptto")
expect_reply(conn, SMFIR_CONTINUE, "the next RCPT continues")
send_message(conn, {{"Subject", "nothing"}}, body)
expect_reply(conn, SMFIR_CONTINUE, "that transaction ends with continue")
check("and without the refused early changes",
      nothing_applied(conn, {"<extra@members.test>"}))
mt.disconnect(conn)

done()
