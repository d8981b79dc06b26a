-- mlm_bounce.lua - what a bounce says: which addresses failed, how, and
-- whether that should count against them.
--
--   local bounce = require "mlm_bounce"
--   local r = bounce.parse(ctx.message)
--   r.format      "rfc3464", "arf", "exim", "qmail", ... or "none"
--   r.verdict     the verdict of the whole mail (see VERDICTS)
--   r.recipients  { {address=, final=, status=, action=, diagnostic=,
--                    verdict=}, ... } in the order reported; address is
--                    the Original-Recipient when the report gives one of
--                    type rfc822, final then the Final-Recipient if it
--                    differs (the caller tries the one that is a member)
--
-- Verdicts: "failure" (permanent, 5.x.x other than 5.7.x: scores),
-- "policy" (5.7.x: refused for policy or spam; recorded, never scored),
-- "delay" (4.x.x, delayed: never scored), "success" (delivered, relayed,
-- expanded), "autoreply" (vacation and other robots), "complaint" (an ARF
-- feedback report), "none" (nothing understood).
--
-- The order: an ARF report (message/feedback-report); else RFC 3464/6533
-- reports (message/delivery-status, message/global-delivery-status), the
-- outermost first, also inside attached messages; else the auto-reply
-- marks; else the detectors of DETECTORS (mlm_bounce_text) in order,
-- first match wins. An address is only ever taken from the part that
-- reports it: report fields, or the human-readable text of the top-level
-- message before the quoted original, never from an attached original.
--
-- Hostile input: every text is cut to TEXT_MAX bytes, LINES_MAX lines of
-- LINE_MAX bytes (mlm_bounce_text.lines_of), and at most RECIPIENTS_MAX
-- recipients and PARTS_MAX parts are looked at, before any pattern runs;
-- patterns have no unbounded backtracking (Lua's matcher runs in C, out of
-- reach of the instruction limit).

local bounce_text = require "mlm_bounce_text"

local M = {}

local TEXT_MAX = bounce_text.TEXT_MAX             -- bytes of one part read
local RECIPIENTS_MAX = bounce_text.RECIPIENTS_MAX -- recipients of one bounce
local PARTS_MAX = bounce_text.PARTS_MAX           -- parts looked at
local FIELD_MAX = 400        -- bytes of one report field kept
local REPORTS_MAX = 4        -- delivery-status parts read

local DETECTORS = bounce_text.DETECTORS
local trim = bounce_text.trim
local clean_address = bounce_text.clean_address
local lines_of = bounce_text.lines_of
local status_of = bounce_text.status_of

M.RECIPIENTS_MAX = RECIPIENTS_MAX
M.DETECTORS = DETECTORS
M.clean_address = clean_address
M.status_of = status_of

-- ------------------------------------------------------------ helpers ---

local function verdict_of(action, status, diagnostic)
  if action == "delayed" then return "delay" end
  if action == "delivered" or action == "relayed" or action == "expanded" then
    return "success"
  end
  local class = status:sub(1, 1)
  if class == "2" then return "success" end
  if class == "4" then return "delay" end
  if class ~= "5" then return "none" end
  if status:find("^5%.7%.") or (diagnostic or ""):find("[^%d%.]5%.7%.%d") then
    return "policy"
  end
  return "failure"
end

local VERDICT_RANK = { failure = 6, policy = 5, delay = 4, success = 3,
  complaint = 2, autoreply = 1, none = 0 }

local function overall(r)
  local best = "none"
  for _, x in ipairs(r.recipients) do
    if VERDICT_RANK[x.verdict] > VERDICT_RANK[best] then best = x.verdict end
  end
  r.verdict = best
  return r
end

local function add(r, seen, address, fields)
  if #r.recipients >= RECIPIENTS_MAX then return end
  local key = address:lower()
  if seen[key] then return end
  seen[key] = true
  fields = fields or {}
  local status = fields.status or "5.0.0"
  local entry = {
    address = address,
    final = fields.final,
    status = status,
    action = fields.action or "failed",
    diagnostic = (fields.diagnostic or ""):sub(1, FIELD_MAX),
  }
  entry.verdict = fields.verdict
    or verdict_of(entry.action, status, entry.diagnostic)
  r.recipients[#r.recipients + 1] = entry
end

-- ----------------------------------------------------- RFC 3464 / 6533 ---

-- The value of an address-type field: "rfc822; <a@b>" -> "a@b", "rfc822",
-- or for utf-8 (RFC 6533) and x400 types whatever stands after the ';'.
local function typed_address(value)
  if not value then return nil end
  local kind, addr = value:match("^%s*([%w%-]+)%s*;(.*)$")
  if not kind then addr, kind = value, "rfc822" end
  addr = trim(addr:sub(1, 300))
  if kind:lower() == "utf-8" then
    -- RFC 6533 utf-8-addr-unitext: raw UTF-8, and \x{HEX} escapes
    addr = addr:gsub("\\[Xx]{(%x%x?%x?%x?%x?%x?)}", function(h)
      local n = tonumber(h, 16)
      return n and n < 0x110000 and utf8.char(n) or ""
    end)
  end
  return clean_address(addr), kind:lower()
end

-- The per-recipient blocks of a delivery-status text. Lenient: folded
-- lines, CRLF, blocks without blank lines between them (a new
-- Final-Recipient starts a block), field names in any case.
local function dsn_blocks(text)
  local blocks, cur, last = {}, nil, nil
  local function close()
    if cur and (cur["final-recipient"] or cur["original-recipient"]) then
      blocks[#blocks + 1] = cur
    end
    cur, last = nil, nil
  end
  for _, line in ipairs(lines_of(text)) do
    if line:find("^[ \t]") and cur and last then
      cur[last] = (cur[last] .. " " .. trim(line)):sub(1, FIELD_MAX)
    elseif not line:find("%S") then
      close()
    else
      local name, value = line:match("^([%w%-]+)[ \t]*:[ \t]*(.*)$")
      if name then
        name = name:lower()
        if (name == "final-recipient" or name == "original-recipient")
            and cur and cur[name] then
          close()
        end
        cur = cur or {}
        if not cur[name] then cur[name] = value:sub(1, FIELD_MAX) end
        last = name
      end
    end
    if #blocks >= RECIPIENTS_MAX then break end
  end
  close()
  return blocks
end

-- RFC 3464 2.2.1: the envelope id the post was sent with (mlmd gives the
-- post's queue id), printable, at most 100 bytes, from the per-message
-- fields (the report's first block).
local function envelope_id(text)
  local began = false
  for _, line in ipairs(lines_of(text)) do
    if not line:find("%S") then
      if began then return nil end
    else
      began = true
    end
    local v = line:match("^[Oo][Rr][Ii][Gg][Ii][Nn][Aa][Ll]%-[Ee][Nn][Vv]"
      .. "[Ee][Ll][Oo][Pp][Ee]%-[Ii][Dd][ \t]*:[ \t]*([!-~]+)")
    if v then return v:sub(1, 100) end
  end
  return nil
end

local function read_dsn(r, seen, text)
  r.envid = r.envid or envelope_id(text)
  for _, b in ipairs(dsn_blocks(text)) do
    local final = typed_address(b["final-recipient"])
    local original, kind = typed_address(b["original-recipient"])
    if kind and kind ~= "rfc822" and kind ~= "utf-8" then original = nil end
    local address = original or final
    if address then
      local action = (b["action"] or ""):lower():match("^%s*(%a+)") or ""
      if action == "failure" or action == "error" then action = "failed" end
      local diagnostic = b["diagnostic-code"] or ""
      local st = b["status"] and b["status"]:match("^%s*([245]%.%d+%.%d+)")
      local status = st or status_of(diagnostic:gsub("^[^;]*;", " ", 1))
        or (action == "failed" and "5.0.0")
        or (action == "delayed" and "4.0.0")
        or (action ~= "" and "2.0.0") or ""
      if action == "" then
        action = ({ ["5"] = "failed", ["4"] = "delayed" })[status:sub(1, 1)]
          or "delivered"
      end
      add(r, seen, address, { final = original and final ~= original
        and final or nil, status = status, action = action,
        diagnostic = trim(diagnostic) })
    end
  end
end

-- ------------------------------------------------------- auto-replies ---

local AUTOREPLY_SUBJECTS = {
  "auto reply", "auto-reply", "autoreply", "automatic reply",
  "auto response", "autoresponse", "auto-response", "out of office",
  "out of the office", "vacation", "abwesenheit", "automatische antwort",
  "r\195\169ponse automatique", "absence", "on leave", "away from my mail",
}

-- Subjects of bounces, which often quote the subject of the post
-- ("Undeliverable: Out of office plans"): never taken for auto-replies.
local BOUNCE_SUBJECTS = {
  "undeliver", "delivery", "failure", "failed", "returned mail",
  "returning message", "not delivered", "mail error", "rejected",
  "mail system error",
}

local function is_autoreply(msg)
  for _, h in ipairs({ "X-Autoreply", "X-Autorespond", "X-Vacation" }) do
    if msg:header(h) then return true end
  end
  local subject = (msg:header("Subject") or ""):sub(1, 300):lower()
  for _, s in ipairs(BOUNCE_SUBJECTS) do
    if subject:find(s, 1, true) then return false end
  end
  for _, s in ipairs(AUTOREPLY_SUBJECTS) do
    if subject:find(s, 1, true) then return true end
  end
  return false
end

local function robot_sender(msg)
  local from = (msg:header("From") or ""):sub(1, 300):lower()
  return from:find("mailer%-daemon") or from:find("postmaster")
    or from:find("mail delivery")
end


-- ------------------------------------------------------------- parse ---

function M.parse(msg)
  local r, seen = { format = "none", verdict = "none", recipients = {} }, {}

  -- ARF (RFC 5965): a complaint, never a failure.
  local reports, n = {}, 0
  for part in msg:parts(true) do
    n = n + 1
    if n > PARTS_MAX then break end
    local ct = part.content_type
    if ct == "message/feedback-report" and part.depth == 0 then
      local text = part:text(TEXT_MAX) or ""
      r.format = "arf"
      local kind, rcpts = "abuse", {}
      for _, line in ipairs(lines_of(text)) do
        local name, v = line:match("^([%w%-]+):%s*(.*)")
        name = name and name:lower()
        if name == "feedback-type" then
          kind = v:match("^[%w%-]+") or kind
        elseif name == "original-rcpt-to" then
          rcpts[#rcpts + 1] = clean_address(v)
        end
      end
      for _, address in ipairs(rcpts) do
        add(r, seen, address, { verdict = "complaint", action = "complaint",
          status = "", diagnostic = "ARF " .. kind .. " report" })
      end
      r.verdict = "complaint"
      return r
    elseif ct == "message/delivery-status"
        or ct == "message/global-delivery-status" then
      reports[#reports + 1] = { depth = part.depth, part = part }
    end
  end
  table.sort(reports, function(a, b) return a.depth < b.depth end)
  for k, rep in ipairs(reports) do
    if k > REPORTS_MAX or #r.recipients >= RECIPIENTS_MAX
        or rep.depth > reports[1].depth and #r.recipients > 0 then
      break
    end
    read_dsn(r, seen, rep.part:text(TEXT_MAX) or "")
  end
  if #r.recipients > 0 then
    r.format = "rfc3464"
    return overall(r)
  end

  if is_autoreply(msg) then
    r.format, r.verdict = "autoreply", "autoreply"
    return r
  end

  local t = bounce_text.view(msg, bounce_text.readable_text(msg))
  local warning = bounce_text.is_warning(t)
  for _, d in ipairs(DETECTORS) do
    local got = d.fn(t)
    if got and #got > 0 then
      r.format = d.name
      for _, g in ipairs(got) do
        local f = g[2]
        if warning and not (f.status or ""):find("^5") then
          f.action, f.status = "delayed", f.status or "4.0.0"
        end
        add(r, seen, g[1], f)
      end
      return overall(r)
    end
  end
  if (msg:header("Auto-Submitted") or "no"):lower():find("^%s*auto%-replied")
      and not robot_sender(msg) then
    r.format, r.verdict = "autoreply", "autoreply"
  end
  return r
end

-- Every reader on one text with no message around it (tests/fuzz/fuzz_dsn):
-- the report reader, then each detector and the warning test as if the
-- text were the human-readable part. The recipients, as parse gives them.
function M.read_text(text)
  text = text:sub(1, TEXT_MAX)
  local r, seen = { recipients = {} }, {}
  read_dsn(r, seen, text)
  local stub = { header = function() return nil end,
    headers = function() return {} end }
  local t = bounce_text.view(stub, text)
  local warning = bounce_text.is_warning(t)
  for _, d in ipairs(DETECTORS) do
    for _, g in ipairs(d.fn(t) or {}) do
      if warning then g[2].action = "delayed" end
      add(r, seen, g[1], g[2])
    end
  end
  return r.recipients
end

-- The verdicts that count against a member, and those recorded in the
-- bounce log (a complaint with the status "complaint", never scored).
M.SCORES = { failure = true }
M.RECORDED = { failure = true, policy = true, complaint = true }

return M
