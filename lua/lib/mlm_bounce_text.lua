-- mlm_bounce_text.lua - reading the human-readable text of a bounce: its
-- lines, the addresses and statuses they hold, and the detectors for the
-- formats of other MTAs that send no RFC 3464 report. mlm_bounce (which
-- reads the reports) is its only user; DETECTORS is mlm_bounce.DETECTORS.
--
--   local bounce_text = require "mlm_bounce_text"
--   local t = bounce_text.view(msg, bounce_text.readable_text(msg))
--   bounce_text.DETECTORS      { {name=, fn=}, ... }: fn(t) gives nil or
--                              { {address, fields}, ... }, fields those of
--                              mlm_bounce.parse's recipients (any missing)
--   bounce_text.is_warning(t)  the text says delivery is still being tried
--   clean_address, status_of, lines_of, trim: the readers mlm_bounce's
--   report reader shares
--
-- Hostile input: the text is cut to TEXT_MAX bytes of at most PARTS_MAX
-- parts, then to LINES_MAX lines of LINE_MAX bytes, before any pattern
-- runs, and a detector keeps at most RECIPIENTS_MAX addresses; every
-- pattern is linear in its input (Lua's matcher runs in C, out of reach of
-- the instruction limit). mlm_bounce holds its reports to the same limits.

local M = {}

local TEXT_MAX = 65536       -- bytes of one part read
local LINES_MAX = 2000       -- lines of human-readable text scanned
local LINE_MAX = 400         -- bytes of one line scanned
local RECIPIENTS_MAX = 200   -- recipients taken from one bounce
local PARTS_MAX = 100        -- parts looked at
M.TEXT_MAX, M.RECIPIENTS_MAX, M.PARTS_MAX = TEXT_MAX, RECIPIENTS_MAX, PARTS_MAX

-- ------------------------------------------------------------ helpers ---

local function trim(s)
  -- linear: no %s*$ over unbounded text (callers pass short strings)
  local a = s:find("%S")
  if not a then return "" end
  local b = #s
  while b > a and s:find("^%s", b) do b = b - 1 end
  return s:sub(a, b)
end
M.trim = trim

-- An addr-spec worth reporting: one @, a dotted domain, no spaces or
-- brackets; trailing punctuation removed. nil when it is none.
local function clean_address(s)
  if not s or #s > 254 then return nil end
  s = s:gsub("^[%s<\"'(%[]+", ""):gsub("^mailto:", "")
  s = s:match("^[^%s<>\"'(),;%[%]]+") or ""
  local e = #s
  while e > 0 and (".:,;"):find(s:sub(e, e), 1, true) do e = e - 1 end
  s = s:sub(1, e)
  local l, d = s:match("^([^@]+)@([%w%-%.\128-\255]+)$")
  if not l or not d:find("%.%a") or d:find("%.%.") or l:find("%.%.")
      or l:find("^%.") or l:find("%.$") then
    return nil
  end
  if l:find("[%c]") or l:find("=%x%x") then
    -- quoted-printable leftovers in the local part
    l = l:gsub("=(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    if l:find("[%c%s]") then return nil end
  end
  return l .. "@" .. d
end
M.clean_address = clean_address

-- The lines of a text, each cut to LINE_MAX, at most LINES_MAX.
local function lines_of(text)
  local out, n, pos, len = {}, 0, 1, #text
  while pos <= len and n < LINES_MAX do
    local nl = text:find("\n", pos, true) or len + 1
    local line = text:sub(pos, math.min(nl - 1, pos + LINE_MAX - 1))
    n = n + 1
    out[n] = (line:gsub("\r", ""))
    pos = nl + 1
  end
  return out
end
M.lines_of = lines_of

local function status_of(text)
  if not text then return nil end
  local s = text:match("^%s*([245]%.%d%d?%d?%.%d%d?%d?)")
    or text:match("[^%d%.]([245]%.%d%d?%d?%.%d%d?%d?)[^%d%.]")
    or text:match("[^%d%.]([245]%.%d%d?%d?%.%d%d?%d?)$")
  if s then return s end
  local code = text:match("^%s*([245])%d%d[%s%-]") or text:match("[^%d]([245])[0-5]%d[ %-]")
  if code then return code .. ".0.0" end
  return nil
end
M.status_of = status_of

-- ---------------------------------------------------------- detectors ---
--
-- Each detector reads the human-readable text (t.lines, t.lower: the lines
-- and their lower-case forms, t.msg the message) and returns a list of
-- {address, fields} or nil. Detectors are tried in order; the first that
-- finds an address decides.

-- The lines where the quoted original starts (lower case, plain find).
local ORIGINAL_STARTS = {
  "below this line is a copy of the message",
  "below the next line is a copy of the message",
  "original message follows", "original message as received",
  "returned mail follows", "returned message follows",
  "start of returned message", "---- returned mail ----",
  "-------- returned mail --------", "this is a copy of",
  "a copy of the original message", "copy of the message",
  "original message headers", "message headers follow",
  "----- original message -----", "------ this is a copy",
  "your message reads", "the header of the original message",
  "included is a copy of the message header", "message text follows",
  "----- transcript of session follows -----", "old message:",
  "end of message", "original message attached", "-- the header",
  "message removed", "session transcript", "header of the source mail",
}

local function original_starts(lower)
  for _, s in ipairs(ORIGINAL_STARTS) do
    if lower:find(s, 1, true) then return true end
  end
  return false
end

-- Every address on a line: <a@b> forms first, else bare a@b words (at
-- most 8, read around the first AT_TRIED '@'). Linear: each '<' scan stops
-- at the next '<', and a bare word is read around each '@' with anchored
-- patterns on at most 64 bytes before and 255 after.
local BARE_LOCAL = "^[^%s<>\"'(),;:%[%]@]+"
local AT_TRIED = 16
local function line_addresses(line)
  local out = {}
  for a in line:gmatch("<([^<>%s@]+@[^<>%s]+)>") do
    out[#out + 1] = clean_address(a)
  end
  if #out > 0 then return out end
  local pos = 1
  for _ = 1, AT_TRIED do
    if #out >= 8 then break end
    local at = line:find("@", pos, true)
    if not at then break end
    local l = line:sub(math.max(1, at - 64), at - 1):reverse():match(BARE_LOCAL)
    local d = line:sub(at + 1, at + 255):match("^[%w%-%.]+")
    if l and d then out[#out + 1] = clean_address(l:reverse() .. "@" .. d) end
    pos = at + 1
  end
  return out
end

-- Note address (with its fields) in list, at most RECIPIENTS_MAX of them.
local function found(list, address, fields)
  if address and #list < RECIPIENTS_MAX then
    list[#list + 1] = { address, fields or {} }
  end
  return list
end

-- Quoted header lines of the original that some bounces show.
local function header_line(lower)
  return lower:find("^%s*to:") or lower:find("^%s*from:")
    or lower:find("^%s*cc:") or lower:find("^%s*sender:")
    or lower:find("^%s*reply%-to:") or lower:find("^%s*return%-path:")
    or lower:find("^%s*received:") or lower:find("^%s*for <")
    or lower:find("^%s*message%-id:") or lower:find("^%s*subject:")
    or lower:find("^>%s*[%w%-]+:") or lower:find("mail from:", 1, true)
    or lower:find("^%s*delivered%-to:")
end

-- The status a text line gives (x.y.z or an SMTP code), if any.
local function line_status(line)
  return status_of(" " .. line .. " ")
end

-- line without the words that hold an address (a '@' with something on
-- both sides), so that the digits of an address are not taken for a
-- status. Linear: "%S+" ends each word at the first blank and never
-- backtracks.
local function without_addresses(line)
  return (line:gsub("%S+", function(word)
    if word:sub(2, -2):find("@", 1, true) then return "" end
  end))
end

-- The status given on line i or the lines after it, up to a blank line
-- (at most 8 lines): "550-5.7.1 ..." under an Exim address.
local function status_near(t, i)
  for k = i, math.min(i + 8, #t.lines) do
    local line = t.lines[k]
    if k > i and not line:find("%S") then break end
    local st = line_status(k == i and without_addresses(line) or line)
    if st then return st end
  end
  return nil
end

local DETECTORS = {}
M.DETECTORS = DETECTORS

local function detector(name, fn)
  DETECTORS[#DETECTORS + 1] = { name = name, fn = fn }
end

-- Exim (and others): the X-Failed-Recipients header lists the addresses.
-- At most XFR_HEADERS_MAX such headers and XFR_BYTES_MAX bytes of them
-- are read; each word (cut at blanks, commas and angle brackets by a
-- pattern that never backtracks) that holds a '@' is an address.
local XFR_HEADERS_MAX = 10
local XFR_BYTES_MAX = 4096
detector("exim", function(t)
  local out, left = {}, XFR_BYTES_MAX
  for k, v in ipairs(t.msg:headers("X-Failed-Recipients") or {}) do
    if k > XFR_HEADERS_MAX or left <= 0 then break end
    v = v:sub(1, left)
    left = left - #v
    for word in v:gmatch("[^%s,<>]+") do
      if word:find("@", 1, true) then found(out, clean_address(word)) end
    end
  end
  return out
end)

-- qmail (QSBMF), Postfix before DSN, Yahoo, mail.ru, sbcglobal and every
-- mailer that lists "<address>:" at the start of a line followed by the
-- reason, before the quoted original.
detector("angle-colon", function(t)
  local out = {}
  for i, lower in ipairs(t.lower) do
    if original_starts(lower) or lower:find("^%-%-%-") and #out > 0 then
      break
    end
    local a = t.lines[i]:match("^%s*<([^<>%s]+)>[^%w]*:")
      or t.lines[i]:match("^%s*<([^<>%s]+)>%s*%(expanded from")
    if a then
      local why = t.lines[i]:match(">:%s*(.*)") or ""
      local nxt = t.lines[i + 1] or ""
      if why == "" then why = nxt end
      found(out, clean_address(a), { status = line_status(why),
        diagnostic = trim(why) })
    end
  end
  return out
end)

-- The value of the first "SMTP=VALUE;" on line, or nil. Linear: each
-- "SMTP=" is found by a plain find and its value ends at the first ';' or
-- blank; the search goes on after that end (an "SMTP=" inside a value
-- would end at the same place).
local function smtp_field(line)
  local pos = 1
  while true do
    local s = line:find("SMTP=", pos, true)
    if not s then return nil end
    local e = line:find("[;%s]", s + 5)
    if not e then return nil end
    if e > s + 5 and line:sub(e, e) == ";" then return line:sub(s + 5, e - 1) end
    pos = e + 1
  end
end

-- Microsoft Exchange (IMS, 5.5 era) and GroupWise gateways: "did not reach
-- the following recipient(s):", then "ADDRESS on DATE" or
-- "...;SMTP=ADDRESS; on DATE", up to the MSEXCH: line.
detector("exchange", function(t)
  local out, on = {}, false
  for i, lower in ipairs(t.lower) do
    if not on then
      on = lower:find("did not reach the following recipient", 1, true)
    elseif lower:find("msexch:", 1, true) or original_starts(lower) then
      break
    else
      local line = t.lines[i]
      local a = smtp_field(line) or line:match("^%s*(%S+) on ")
      found(out, clean_address(a))
    end
  end
  return out
end)

-- SMTP32 (IMail): one line "Delivery failed N attempts: ADDRESS",
-- "Invalid final delivery userid: ADDRESS", "User mailbox exceeds
-- allowed size: ADDRESS", "Unknown user: ADDRESS", "undeliverable to
-- ADDRESS".
detector("smtp32", function(t)
  if not (t.msg:header("X-Mailer") or ""):find("^<SMTP32 v") then return nil end
  local out = {}
  for i, lower in ipairs(t.lower) do
    if original_starts(lower) then break end
    local tail = lower:find("user mailbox[^:]*:") or lower:find("delivery failed[^:]*:")
      or lower:find("unknown user[^:]*:") or lower:find("delivery userid[^:]*:")
      or lower:find("undeliverable +to ")
    if tail then
      found(out, line_addresses(t.lines[i]:sub(tail))[1])
    end
  end
  return out
end)

-- AOL: "Your mail to the following recipients could not be delivered
-- because ...:" and then one screen name (or address) a line.
detector("aol", function(t)
  local from = (t.msg:header("From") or ""):lower()
  if not from:find("@aol%.com") then return nil end
  local out, on = {}, false
  for i, lower in ipairs(t.lower) do
    if not on then
      on = lower:find("following recipients could not be delivered", 1, true)
    elseif lower:find("%S") then
      local w = trim(t.lines[i])
      if w:find("%s") then break end
      found(out, clean_address(w:find("@") and w or (w .. "@aol.com")))
    elseif #out > 0 then
      break
    end
  end
  return out
end)

-- qmail-style notices that show the original's To: line ("I wasn't able
-- to deliver the following message ... To: ADDRESS").
detector("qmail-to", function(t)
  local out, on = {}, false
  for i, lower in ipairs(t.lower) do
    if not on then
      on = lower:find("able to deliver the following message", 1, true)
    elseif lower:find("below this line is a copy", 1, true) then
      break
    else
      found(out, clean_address(t.lines[i]:match("^To:%s*(%S+)")))
    end
  end
  return out
end)

-- "... an email SENDER addressed to email address : / -- ADDRESS".
detector("dash-list", function(t)
  local out, on = {}, false
  for i, lower in ipairs(t.lower) do
    if not on then
      on = lower:find("delivery failure notification", 1, true)
    elseif lower:find("could not be delivered", 1, true) then
      break
    else
      found(out, clean_address(t.lines[i]:match("^%-%-%s+(%S+@%S+)")))
    end
  end
  return out
end)

-- The first word between two commas on line (", ADDRESS,") that holds a
-- '@', or nil. Linear: one anchored match at each comma, and the text
-- between two commas is read by one match only.
local function between_commas(line)
  local pos = 1
  while true do
    local c = line:find(",", pos, true)
    if not c then return nil end
    local word = line:match("^,%s*([^%s,]+),", c)
    if word and word:sub(2, -2):find("@", 1, true) then return word end
    pos = c + 1
  end
end

-- LLNL's postmaster: "which your message was addressed, ADDRESS, did
-- not exactly match".
detector("llnl", function(t)
  local out = {}
  for i, lower in ipairs(t.lower) do
    if original_starts(lower) then break end
    if lower:find("did not exactly match", 1, true) then
      found(out, clean_address(between_commas(t.lines[i])))
    end
  end
  return out
end)

-- Yale's mailer: user names without a domain under "Message not delivered
-- to the following:", up to "Error Detail"; both of Yale's mail domains
-- are reported for each.
detector("yale", function(t)
  local from = (t.msg:header("From") or ""):lower()
  if not from:find("mailer%-daemon@[%w%.%-]*yale%.edu") then return nil end
  local out, on = {}, false
  for i, lower in ipairs(t.lower) do
    if not on then
      on = lower:find("message not delivered to the following", 1, true)
    elseif lower:find("error detail", 1, true) then
      break
    else
      local name = t.lines[i]:match("^%s+([%w%._][%w%._%-]*)%s")
        or t.lines[i]:match("^%s+([%w%._][%w%._%-]*)$")
      if name then
        found(out, clean_address(name .. "@yale.edu"))
        found(out, clean_address(name .. "@cs.yale.edu"))
      end
    end
  end
  return out
end)

-- Phrases that introduce the failed addresses in free text.
local FAILURE_INTROS = {
  "failed recipients", "failed addresses", "could not be delivered",
  "could not deliver", "couldn't be delivered", "was not delivered",
  "undeliverable", "unable to deliver", "delivery to the following",
  "delivery has failed", "delivery failure", "delivery failed",
  "permanent delivery failure", "permanent error", "user unknown",
  "unknown user", "no such user", "no such mailbox", "mailbox unavailable",
  "mailbox is full", "over quota", "does not exist", "doesn't exist",
  "invalid recipient", "invalid address", "not a valid", "no mailbox",
  "recipient unknown", "unknown recipient", "address rejected",
  "did not reach", "not delivered to", "non-delivery", "non delivery",
  "failed to deliver", "intended recipient", "rejected", "bounced",
  "not listed in", "there is no user", "no such user here",
  "fatal error", "delivery problems", "no longer valid",
  "has not been delivered", "following recipients", "following addresses",
  "following address", "following recipient",
  "returned to sender", "error-for:", "failed recipient",
  "was automatically rejected", "the following address failed",
  "following recipient(s) could not be reached", "not be reached",
  "n'existe pas", "inconnu", "sconosciuto", "unbekannt",
  "\208\189\208\181", -- Russian "не" (not): Yandex/Mail.ru notices
}

-- The free-text detector ("simple match"): addresses on the lines from the
-- first failure phrase to the quoted original, leaving out quoted header
-- lines and the addresses of the bouncing system itself (postmaster,
-- mailer-daemon).
detector("text", function(t)
  local out, on = {}, false
  for i, lower in ipairs(t.lower) do
    if (original_starts(lower) or lower:find("^received: ")) and (on or i > 1)
    then
      break
    end
    if not on then
      for _, p in ipairs(FAILURE_INTROS) do
        if lower:find(p, 1, true) then on = true break end
      end
    end
    if on and not header_line(lower) then
      local status, diagnostic -- of the line, read once for all its addresses
      for _, a in ipairs(line_addresses(t.lines[i])) do
        local l = a:lower()
        if not (l:find("^postmaster@") or l:find("^mailer%-daemon@")) then
          if not diagnostic then
            status, diagnostic = status_near(t, i), trim(t.lines[i])
          end
          found(out, a, { status = status, diagnostic = diagnostic })
        end
      end
    end
  end
  return out
end)

-- Warnings ("simple warning"): the same addresses, from a text that says
-- delivery is delayed and still being tried.
local DELAY_PHRASES = {
  "has not yet been delivered", "has not been delivered yet",
  "delayed", "will continue trying", "will keep trying",
  "still trying", "still being retried", "will be retried",
  "temporary failure", "temporarily", "will try again",
  "not been able to deliver", "is being retried",
  "will continue to be made", "attempts will continue",
  "has been postponed", "will continue to try", "will continue to attempt",
  "not yet been delivered",
}

-- Phrases that make a bounce permanent whatever else it says.
local PERMANENT_PHRASES = {
  "permanent", "fatal", "user unknown", "unknown user", "no such user",
  "does not exist", "not going to try again", "given up", "giving up",
}

local function any_phrase(lower, phrases)
  for _, p in ipairs(phrases) do
    if lower:find(p, 1, true) then return true end
  end
  return false
end

local function is_warning(t)
  local subject = (t.msg:header("Subject") or ""):sub(1, 300):lower()
  if any_phrase(subject, PERMANENT_PHRASES) then return false end
  local warned = subject:find("warning") or subject:find("delay")
  for _, lower in ipairs(t.lower) do
    if original_starts(lower) then break end
    if any_phrase(lower, PERMANENT_PHRASES) then return false end
    warned = warned or any_phrase(lower, DELAY_PHRASES)
  end
  return warned
end
M.is_warning = is_warning

-- Delay warnings that name their addresses without a failure phrase
-- ("has not yet been delivered", "has been postponed"): every address of
-- the text before the quoted original, as delays (never scored).
detector("warning", function(t)
  if not is_warning(t) then return nil end
  local out = {}
  for i, lower in ipairs(t.lower) do
    if i > 1 and original_starts(lower) then break end
    if not header_line(lower) then
      for _, a in ipairs(line_addresses(t.lines[i])) do
        local l = a:lower()
        if not (l:find("^postmaster@") or l:find("^mailer%-daemon@")) then
          found(out, a, { action = "delayed", status = "4.0.0" })
        end
      end
    end
  end
  return out
end)

-- The human-readable text: the top-level text parts (HTML reduced to its
-- text), before any attached message.
local function readable_text(msg)
  local texts, n, size = {}, 0, 0
  for part in msg:parts() do
    n = n + 1
    if n > PARTS_MAX or size >= TEXT_MAX then break end
    local ct = part.content_type
    if ct == "text/plain" or ct == "text/html" then
      local s = part:text(TEXT_MAX - size) or ""
      if ct == "text/html" then
        -- [^<>]* and not [^>]*: a scan ends at the next '<' (linear)
        s = s:gsub("<[Bb][Rr][^<>]*>", "\n"):gsub("<[Pp][ >][^<>]*>", "\n")
          :gsub("</?[%a][^<>]*>", ""):gsub("&lt;", "<"):gsub("&gt;", ">")
          :gsub("&nbsp;", " "):gsub("&amp;", "&")
      end
      texts[#texts + 1] = s
      size = size + #s
    end
    if ct == "message/rfc822" then break end
  end
  return table.concat(texts, "\n"):sub(1, TEXT_MAX)
end
M.readable_text = readable_text

-- The view of text the detectors read, msg the message around it (or a
-- stand-in with header() and headers()).
function M.view(msg, text)
  local t = { msg = msg, lines = lines_of(text), lower = {} }
  for i, line in ipairs(t.lines) do t.lower[i] = line:lower() end
  return t
end

return M
