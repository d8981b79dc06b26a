-- message-api.lua (miltertest) - what policies/message-api.lua reports of
-- ctx and ctx.message at end of message, as X-Seen-* headers.
dofile(LIB)

-- 1. ctx fields, header lookup, RFC 2047, addresses, size.
do
  local headers = {
    {"Subject", "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?="},
    {"Received", "from a.test by b.test; Mon, 1 Jan 2024 00:00:00 +0000"},
    {"Received", "from c.test by d.test; Mon, 1 Jan 2024 00:00:01 +0000"},
    {"From", "\"Poster, The\" <poster@example.net>"},
    {"To", "A <a@x.test>, b@y.test, Group: c@z.test;"},
    {"X-Folded", "first part\r\n\tsecond part"},
    {"Reply-To", "R <r@w.test>"},
  }
  local body = "Hello.\r\n"
  local conn = transaction{
    host = "client.example.test", ip = "192.0.2.25", helo = "helo.example.test",
    macros = {"i", "QID123", "{auth_authen}", "alice"},
    from = "<poster@example.net>", esmtp = {"SIZE=100", "BODY=8BITMIME"},
    to = {"<list@lists.test>", "<other@lists.test>"},
    headers = headers, body = body}
  expect_reply(conn, SMFIR_CONTINUE, "fields message: EOM continue")
  expect_header(conn, "X-Seen-Fields",
    "qid=QID123 hostip=192.0.2.25 hostname=client.example.test " ..
    "helo=helo.example.test sender=[poster@example.net] recipient=nil " ..
    "recipients=[list@lists.test,other@lists.test] " ..
    "esmtp=[SIZE=100,BODY=8BITMIME] auth=alice/alice",
    "ctx.qid (macro i), hostip, hostname, helo, sender, recipients, " ..
    "esmtp_args, macros at end of message")
  expect_header(conn, "X-Seen-Size", tostring(wire_size(headers, body)),
                "message.size is the size of the message as received")
  expect_header(conn, "X-Seen-Subject", "Grüße aus Köln",
                "message:header(\"subject\"): =?UTF-8?B?...?= decoded")
  expect_header(conn, "X-Seen-Subject-Upper", "Grüße aus Köln",
                "message:header(\"SUBJECT\"): names ignore case")
  expect_header(conn, "X-Seen-Missing", "nil",
                "message:header() of an absent header is nil")
  expect_header(conn, "X-Seen-Missing-All", "0",
                "message:headers() of an absent header is empty")
  expect_header(conn, "X-Seen-Received",
                "2:from a.test by b.test; Mon, 1 Jan 2024 00:00:00 +0000|" ..
                "from c.test by d.test; Mon, 1 Jan 2024 00:00:01 +0000",
                "message:headers(\"received\") returns every value, in order")
  local folded = mt.getheader(conn, "X-Seen-Folded", 0)
  check("message:header() unfolds a folded value (got " ..
        added(conn, "X-Seen-Folded") .. ")",
        folded == "first part second part" or
        folded == "first part\tsecond part")
  expect_header(conn, "X-Seen-To", "a@x.test,b@y.test,c@z.test",
                "message:addresses(\"To\"): the addr-specs, group flattened")
  expect_header(conn, "X-Seen-From", "poster@example.net",
                "message:addresses(\"from\") with a quoted display name")
  expect_header(conn, "X-Seen-Cc", "",
                "message:addresses() of an absent header is empty")
  expect_header(conn, "X-Seen-To-Again",
                "a@x.test,b@y.test,c@z.test|poster@example.net||" ..
                "r@w.test|r@w.test",
                "message:addresses() again, after a script changed an " ..
                "earlier result, and for a name past the four kept: the same")
  expect_header(conn, "X-Seen-Wrong-Type",
                "mlm.message expected, got mlm.ctx|" ..
                "mlm.ctx expected, got mlm.message",
                "a ctx given as the message, a message as the ctx: errors")
  expect_header(conn, "X-Seen-Texts", "Hello.",
                "a message without MIME is one text part")
  local parts = mt.getheader(conn, "X-Seen-Parts", 0) or ""
  check("a message without MIME: one text/plain part of 8 bytes (got " ..
        added(conn, "X-Seen-Parts") .. ")",
        parts:match("^text/plain;[^;|]*;nil;8$") ~= nil)
  mt.disconnect(conn)
end

-- 2. More RFC 2047 forms.
local subjects = {
  {"=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln",
   "=?ISO-8859-1?Q?...?= decoded to UTF-8"},
  {"Re: =?UTF-8?Q?caf=C3=A9?= ok", "Re: café ok",
   "an encoded word between plain words"},
  {"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab",
   "the space between two encoded words is dropped"},
  {"=?iso-8859-15?b?pA==?=", "€", "ISO-8859-15 in lower-case B encoding"},
  {"plain ASCII", "plain ASCII", "a plain subject stays as it is"},
}
for _, s in ipairs(subjects) do
  local conn = transaction{headers = {{"Subject", s[1]}}}
  expect_header(conn, "X-Seen-Subject", s[2], "message:header(): " .. s[3])
  mt.disconnect(conn)
end

-- 3. The null sender.
do
  local conn = transaction{from = "<>"}
  local fields = mt.getheader(conn, "X-Seen-Fields", 0) or ""
  check("ctx.sender is \"\" for the null sender <> (got " ..
        added(conn, "X-Seen-Fields") .. ")",
        fields:find(" sender=[] ", 1, true) ~= nil)
  check("ctx.qid does not carry an earlier transaction's queue id",
        fields:find("qid=QID123", 1, true) == nil)
  mt.disconnect(conn)
end

-- 4. A multipart message: leaves, decoding, charsets, attachment.
do
  local body = table.concat({
    "This is a multi-part message.",
    "--b1",
    "Content-Type: multipart/alternative; boundary=\"b2\"",
    "",
    "--b2",
    "Content-Type: text/plain; charset=ISO-8859-1",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Gr=FC=DFe aus K=F6ln",
    "--b2",
    "Content-Type: text/html; charset=UTF-8",
    "Content-Transfer-Encoding: base64",
    "",
    "PHA+SMOkbGxvLCBXw7ZybGQ8L3A+",
    "--b2--",
    "--b1",
    "Content-Type: application/octet-stream; name=\"data.bin\"",
    "Content-Disposition: attachment; filename=\"data.bin\"",
    "Content-Transfer-Encoding: base64",
    "",
    "MDEyMzQ1Njc4OQ==",
    "--b1--",
    "",
  }, "\r\n")
  local conn = transaction{headers = {
    {"Subject", "parts"}, {"MIME-Version", "1.0"},
    {"Content-Type", "multipart/mixed; boundary=\"b1\""}}, body = body}
  expect_reply(conn, SMFIR_CONTINUE, "multipart message: EOM continue")
  local parts = mt.getheader(conn, "X-Seen-Parts", 0) or ""
  local p1, p2, p3 = parts:match("^([^|]*)|([^|]*)|([^|]*)$")
  check("message:parts() yields the three leaves (got " ..
        added(conn, "X-Seen-Parts") .. ")", p1 ~= nil)
  p1, p2, p3 = p1 or "", p2 or "", p3 or ""
  check("part 1: text/plain, charset ISO-8859-1, no filename, 14 bytes " ..
        "decoded (got " .. p1 .. ")",
        p1:lower():match("^text/plain;iso%-8859%-1;nil;14$") ~= nil)
  check("part 2: text/html, charset UTF-8, no filename, 21 bytes decoded" ..
        " (got " .. p2 .. ")",
        p2:lower():match("^text/html;utf%-8;nil;21$") ~= nil)
  check("part 3: the attachment, its filename, 10 bytes decoded (got " ..
        p3 .. ")", p3 == "application/octet-stream;nil;data.bin;10")
  expect_header(conn, "X-Seen-Texts",
                "Grüße aus Köln|<p>Hällo, Wörld</p>|nil",
                "part:text(): quoted-printable ISO-8859-1 and base64 UTF-8 " ..
                "decoded to UTF-8, nil for the attachment")
  mt.disconnect(conn)
end

-- 4b. An attached message: one leaf for parts(), its own leaves (with
-- their depth) for parts(true); part:text(max) cuts the text.
do
  local body = table.concat({
    "--o",
    "Content-Type: text/plain",
    "",
    "outer text",
    "--o",
    "Content-Type: message/rfc822",
    "",
    "Subject: inner",
    "MIME-Version: 1.0",
    "Content-Type: multipart/mixed; boundary=\"i\"",
    "",
    "--i",
    "Content-Type: message/delivery-status",
    "",
    "Final-Recipient: rfc822; a@example.org",
    "--i",
    "Content-Type: text/html",
    "",
    "<p>x</p>",
    "--i--",
    "--o--",
    "",
  }, "\r\n")
  local conn = transaction{headers = {
    {"Subject", "nested"}, {"MIME-Version", "1.0"},
    {"Content-Type", "multipart/mixed; boundary=\"o\""}}, body = body}
  expect_reply(conn, SMFIR_CONTINUE, "attached message: EOM continue")
  local parts = mt.getheader(conn, "X-Seen-Parts", 0) or ""
  check("parts(): the attached message is one leaf (got " .. parts .. ")",
        select(2, parts:gsub("|", "")) == 1
          and parts:find("message/rfc822", 1, true) ~= nil)
  expect_header(conn, "X-Seen-Nested",
                "text/plain:0|message/rfc822:0|message/delivery-status:1|" ..
                "text/html:1",
                "parts(true): the attached message's leaves follow it, " ..
                "depth 1")
  expect_header(conn, "X-Seen-Text-Max", "outer",
                "part:text(5): the first 5 bytes")
  mt.disconnect(conn)
end

-- 5. A ctx (and its message, part, iterator) kept for a later request.
do
  local conn = transaction{headers = {{"Subject", "keep"}}}
  expect_header(conn, "X-Kept", "stored", "a policy keeps ctx in a global")
  mt.disconnect(conn)

  conn = transaction{headers = {{"Subject", "use-kept"}}}
  expect_reply(conn, SMFIR_CONTINUE,
               "using the kept ctx later is an error the policy can catch")
  expect_header(conn, "X-Kept-Exists", "yes",
                "the later request runs where the ctx was kept")
  local want = {
    {"X-Kept-Field", "ctx used after its request ended", "ctx.sender"},
    {"X-Kept-Method", "ctx used after its request ended", "ctx:add_header()"},
    {"X-Kept-Message", "message used after its request ended",
     "message:header()"},
    {"X-Kept-Size", "message used after its request ended", "message.size"},
    {"X-Kept-Part", "part used after its request ended", "part:text()"},
    {"X-Kept-Iterator", "message used after its request ended",
     "the parts() iterator"},
  }
  for _, w in ipairs(want) do
    expect_header(conn, w[1], w[2], "kept " .. w[3] .. " in a later request")
  end
  check("the late ctx:add_header() added nothing",
        not mt.eom_check(conn, MT_HDRADD, "X-Late"))
  mt.disconnect(conn)

  conn = transaction{headers = {{"Subject", "after"}}}
  expect_reply(conn, SMFIR_CONTINUE, "the next transaction is served")
  expect_header(conn, "X-Seen-Subject", "after",
                "and its policy runs normally")
  mt.disconnect(conn)
end

done()
