-- common.lua - helpers shared by the miltertest scripts of tests/milter.
--
-- Loaded by each script with dofile(LIB); the shell test passes
-- -D MILTER=unix:... -D LIB=.../common.lua. Every check prints one line,
-- "CHECK ok - what" or "CHECK FAIL - what", which the shell turns into
-- its ok/FAIL lines; done() prints "DONE" and raises an error when a
-- check failed, so a script run by hand exits nonzero too.

local failed, count = 0, 0

local names = {}
for _, n in ipairs({"SMFIR_CONTINUE", "SMFIR_ACCEPT", "SMFIR_REJECT",
                    "SMFIR_TEMPFAIL", "SMFIR_DISCARD", "SMFIR_REPLYCODE"}) do
  if _G[n] then names[_G[n]] = n end
end

function reply_name(r)
  if r == nil then return "nil" end
  return names[r] or string.format("reply %s (%q)", tostring(r),
                                   string.char(math.tointeger(r) or 63))
end

function check(what, ok)
  count = count + 1
  if ok then
    print("CHECK ok - " .. what)
  else
    failed = failed + 1
    print("CHECK FAIL - " .. what)
  end
  return ok
end

-- Check the last reply on conn.
function expect_reply(conn, want, what)
  local got = mt.getreply(conn)
  return check(what .. " (want " .. reply_name(want) .. ", got " ..
               reply_name(got) .. ")", got == want)
end

-- A milter call that must not fail at the protocol level.
function must(result, what)
  if result ~= nil then
    error(what .. ": " .. tostring(result))
  end
end

-- A new connection, negotiated as an MTA that takes no ESMTP parameters
-- with an added recipient (no SMFIF_ADDRCPT_PAR): miltertest's eom_check
-- cannot see such recipients; milter-client.py, which offers every action,
-- shows them with their ORCPT.
function mta_connect()
  local conn = mt.connect(MILTER, 40, 0.25)
  if conn == nil then error("cannot connect to " .. tostring(MILTER)) end
  -- miltertest reads (version, protocol steps, actions), whatever its
  -- manual says; nil: its defaults
  must(mt.negotiate(conn, nil, nil, SMFIF_ADDHDRS + SMFIF_CHGBODY
    + SMFIF_ADDRCPT + SMFIF_DELRCPT + SMFIF_CHGHDRS + SMFIF_QUARANTINE
    + SMFIF_CHGFROM + SMFIF_SETSYMLIST), "negotiate")
  return conn
end

-- A new connection with connect (and optionally HELO) done.
function open(host, ip, helo)
  local conn = mta_connect()
  must(mt.conninfo(conn, host or "client.test", ip or "192.0.2.10"),
       "conninfo")
  if helo then must(mt.helo(conn, helo), "helo") end
  return conn
end

-- Headers ({{name, value}, ...}), end of headers and body; then EOM.
function send_message(conn, headers, body)
  for _, h in ipairs(headers or {}) do
    must(mt.header(conn, h[1], h[2]), "header " .. h[1])
  end
  must(mt.eoh(conn), "eoh")
  must(mt.bodystring(conn, body or "Hello.\r\n"), "body")
  must(mt.eom(conn), "eom")
end

-- The bytes mlmd spools for these headers and body (message.size).
function wire_size(headers, body)
  local n = 2
  for _, h in ipairs(headers) do n = n + #h[1] + 2 + #h[2] + 2 end
  return n + #(body or "Hello.\r\n")
end

-- One whole transaction on a new connection; returns the connection and
-- the replies before end of message ({connect=, helo=, mail=, rcpt={...}}).
function transaction(t)
  local replies = {rcpt = {}}
  local conn = mta_connect()
  must(mt.conninfo(conn, t.host or "client.test", t.ip or "192.0.2.10"),
       "conninfo")
  replies.connect = mt.getreply(conn)
  must(mt.helo(conn, t.helo or "client.test"), "helo")
  replies.helo = mt.getreply(conn)
  if t.macros then must(mt.macro(conn, SMFIC_MAIL, table.unpack(t.macros)),
                        "macro") end
  if t.esmtp then
    must(mt.mailfrom(conn, t.from or "<sender@example.net>",
                     table.unpack(t.esmtp)), "mailfrom")
  else
    must(mt.mailfrom(conn, t.from or "<sender@example.net>"), "mailfrom")
  end
  replies.mail = mt.getreply(conn)
  for _, r in ipairs(t.to or {"<list@lists.test>"}) do
    must(mt.rcptto(conn, r), "rcptto")
    replies.rcpt[#replies.rcpt + 1] = mt.getreply(conn)
  end
  send_message(conn, t.headers or {{"Subject", "hello"}}, t.body)
  return conn, replies
end

-- True when every reply before end of message was continue; and a text
-- listing them for messages.
function all_continued(replies)
  local ok = replies.connect == SMFIR_CONTINUE and
             replies.helo == SMFIR_CONTINUE and replies.mail == SMFIR_CONTINUE
  local text = "connect " .. reply_name(replies.connect) .. ", helo " ..
               reply_name(replies.helo) .. ", mail " ..
               reply_name(replies.mail)
  for _, r in ipairs(replies.rcpt) do
    ok = ok and r == SMFIR_CONTINUE
    text = text .. ", rcpt " .. reply_name(r)
  end
  return ok, text
end

-- No change at all came with the last EOM on conn (rcpts: the envelope
-- addresses the policy might have added or removed).
function nothing_applied(conn, rcpts)
  local any = mt.eom_check(conn, MT_HDRADD) or
              mt.eom_check(conn, MT_HDRCHANGE) or
              mt.eom_check(conn, MT_HDRDELETE) or
              mt.eom_check(conn, MT_BODYCHANGE) or
              mt.eom_check(conn, MT_QUARANTINE)
  for _, r in ipairs(rcpts or {}) do
    any = any or mt.eom_check(conn, MT_RCPTADD, r) or
          mt.eom_check(conn, MT_RCPTDELETE, r)
  end
  return not any
end

-- An added header's value, for messages ("nil" when it was not added).
function added(conn, name)
  local v = mt.getheader(conn, name, 0)
  if v == nil then return "nil" end
  return string.format("%q", v)
end

-- Check that the header name was added with value, folded or not (mlm
-- folds what it writes at 78 octets: a line end and a blank).
function expect_header(conn, name, value, what)
  local v = mt.getheader(conn, name, 0)
  local unfolded = v and (v:gsub("\n([ \t])", "%1"))
  return check((what or name) .. " (want " .. string.format("%q", value) ..
               ", got " .. added(conn, name) .. ")",
               unfolded == value and mt.eom_check(conn, MT_HDRADD, name, v))
end

-- The 451 4.3.0 reply mlmd gives when it has no decision.
FAILURE_CODE, FAILURE_DSN = "451", "4.3.0"
FAILURE_TEXT = "Temporary failure in mailing list processing, try again later"

function expect_failure_at_eom(conn, what)
  expect_reply(conn, SMFIR_REPLYCODE, what .. ": EOM answered with a reply code")
  check(what .. ": the reply is 451 4.3.0",
        mt.eom_check(conn, MT_SMTPREPLY, FAILURE_CODE, FAILURE_DSN,
                     FAILURE_TEXT))
end

function done()
  print("DONE " .. count .. " checks, " .. failed .. " failed")
  if failed > 0 then error(failed .. " check(s) failed") end
end
