-- mlm_bounce_digest.lua - mail to NAME-bounces@ that mlm_bounce does not
-- understand reaches the owners as a digest, at most once an hour per
-- list, sent with the null sender (an owner's bounce of it can never come
-- back to -bounces and loop).
--
--   local digest = require "mlm_bounce_digest"
--   digest.add(ctx, list, addresses)   note this mail; send the digest
--                                      when the last one is an hour old
--
-- A note holds the envelope sender, From, Subject, size and the first
-- lines of the readable text, each cut and cleaned of control characters;
-- at most PENDING_MAX notes wait per list (more are only counted in the
-- log). The notes wait in the table bounce_unrecognised; the time of the
-- last digest in meta under "bounce-digest:LIST_ID". Pending notes go out
-- with the first mail to -bounces after the hour.

local mlm = require "mlm"
local common = require "mlm_list_common"

local M = {}

local INTERVAL = 3600      -- seconds between two digests of a list
local PENDING_MAX = 200    -- notes kept per list between digests
local LINES_KEPT = 5       -- lines of text per note
M.INTERVAL, M.PENDING_MAX = INTERVAL, PENDING_MAX

local function clean(s, max)
  return (tostring(s or ""):sub(1, max * 4):gsub("[%c]", " "):sub(1, max))
end

-- The first non-empty lines of the first text part.
local function first_lines(msg)
  for part in msg:parts() do
    if part.content_type == "text/plain" then
      local out, pos, text = {}, 1, part:text(8192) or ""
      while #out < LINES_KEPT and pos <= #text do
        local nl = text:find("\n", pos, true) or #text + 1
        local line = clean(text:sub(pos, nl - 1):gsub("\r$", ""), 160)
        if line:find("%S") then out[#out + 1] = line end
        pos = nl + 1
      end
      return out
    end
  end
  return {}
end

local function note(ctx, list)
  local msg = ctx.message
  local pending = 0
  for row in mlm.db:rows("SELECT count(*) AS n FROM bounce_unrecognised "
      .. "WHERE list_id = ?", list.id) do
    pending = row.n
  end
  if pending >= PENDING_MAX then return false end
  -- a message whose parts cannot be read (past a MIME limit) is still
  -- noted, with why instead of its first lines
  local ok, lines = pcall(first_lines, msg)
  local summary = ok and table.concat(lines, "\n")
    or clean("(body not read: " .. tostring(lines) .. ")", 300)
  mlm.db:exec("INSERT INTO bounce_unrecognised (list_id, received, sender, "
    .. "from_header, subject, size, summary) "
    .. "VALUES (?, ?, ?, ?, ?, ?, ?)", list.id, os.time(),
    clean(ctx.sender, 300), clean(msg:header("From"), 300),
    clean(msg:header("Subject"), 200), msg.size, summary)
  return true
end

-- Claim the right to send this hour's digest (one worker wins).
local function claim(list)
  local key = "bounce-digest:" .. list.id
  local now = os.time()
  mlm.db:exec("INSERT INTO meta (key, value) VALUES (?, '0') "
    .. "ON CONFLICT DO NOTHING", key)
  return mlm.db:exec("UPDATE meta SET value = ? WHERE key = ? "
    .. "AND CAST(value AS BIGINT) <= ?", tostring(now), key,
    now - INTERVAL) == 1
end

local function send(list, a)
  local items, last = {}, 0
  for row in mlm.db:rows("SELECT id, received, sender, from_header, subject, "
      .. "size, summary FROM bounce_unrecognised WHERE list_id = ? "
      .. "ORDER BY id LIMIT ?", list.id, PENDING_MAX) do
    items[#items + 1] = row
    last = row.id
  end
  if #items == 0 then return 0 end
  mlm.db:exec("DELETE FROM bounce_unrecognised WHERE list_id = ? AND id <= ?",
    list.id, last)
  local owners = {}
  for m in list:members("owner") do owners[#owners + 1] = m.address end
  if #owners == 0 then return 0 end
  local shown = {}
  for i, it in ipairs(items) do
    local lines = {}
    for line in (it.summary .. "\n"):gmatch("([^\n]*)\n") do
      if line ~= "" then
        lines[#lines + 1] = common.fragment(list, "bounce-digest-line",
          { line = line })
      end
    end
    shown[i] = common.fragment(list, "bounce-digest-item", { number = i,
      date = os.date("!%Y-%m-%d %H:%M", it.received), sender = it.sender,
      size = it.size, from = it.from_header, subject = it.subject,
      summary = table.concat(lines) })
  end
  local text = common.template_mail(list, "bounce-digest", a.bounces, owners,
    { count = #items, items = table.concat(shown) }, "auto-generated")
  mlm.sendmail("", owners, text)
  return #items
end

-- Note the mail of ctx; when the list's last digest is an hour old or
-- more, send the digest of every pending note. Returns the number of notes
-- sent (0 when the digest waits) and whether this mail was noted.
function M.add(ctx, list, a)
  local noted = note(ctx, list)
  local sent = 0
  if claim(list) then sent = send(list, a) end
  return sent, noted
end

return M
