-- mlm_moderation.lua - moderation by reply, for the shipped list policy.
--
-- A held-post notice carries, for each action, the address
-- NAME-request+ACTION-TOKEN@DOMAIN (TOKEN: db.h, modtoken_make; bound to
-- the list, the held post, the action, the moderator's address and the
-- post's expiry). Mail to it decides the post when
--   * it is no robot's (RFC 3834: Auto-Submitted, Precedence, List-Id,
--     the null sender),
--   * its envelope sender and its one From: address are both the
--     moderator's address the token was made for (case-insensitively),
--   * the token is true, not expired, the post still pending, and the
--     address still a moderator or owner of the list.
-- Else it is refused 550 5.7.1 in the SMTP session and nothing changes.
-- A reject may carry a reason in the first body line: told to the poster
-- (when a member, as mlm-ctl held reject does). The other moderators are
-- told who decided.
--
-- Text from the mail is cut to a bound before any pattern runs on it and
-- every pattern is anchored (see mlm_lists.lua, "remote text").

local mlm = require "mlm"
local common = require "mlm_list_common"
local requests = require "mlm_requests"

local M = {}

M.ACTIONS = { "approve", "reject", "discard" }
local ACTION = { approve = "approved", reject = "rejected",
  discard = "discarded" }

-- Bytes of the +detail of an address looked at; a token is shorter.
local DETAIL_MAX = 100
-- Bytes of a reject reason passed on to the poster.
local REASON_MAX = 300
-- Bytes of the body read for the reason (its first non-blank line).
local BODY_SCAN_MAX = 4096

-- "ACTION-TOKEN" -> action (in any case), token (as it is: the form
-- tokens are sent in is lower-case hex, db.h); nil when not of that form.
function M.parse(detail)
  if #detail > DETAIL_MAX then return nil end
  local action, token = detail:match("^(%a+)%-([%w%-]+)$")
  action = action and action:lower()
  if not action or not ACTION[action] then return nil end
  return action, token
end

-- The address a moderator replies to for action on held post id.
function M.address(list, id, action, moderator)
  local token = list:moderation_token(id, action, moderator)
  return list.name .. "-request+" .. action .. "-" .. token .. "@"
    .. list.domain
end

-- The addresses a held-post notice goes to: moderators, else owners.
function M.moderators(list)
  local to = {}
  for m in list:members("moderator") do to[#to + 1] = m.address end
  if #to == 0 then
    for m in list:members("owner") do to[#to + 1] = m.address end
  end
  return to
end

-- The values of the held-notice template (mlm_templates) that tell
-- moderator how to decide held post id: ${approve_address} and the like.
function M.action_vars(list, id, moderator, vars)
  vars = vars or {}
  vars.moderator, vars.id = moderator, id
  for _, action in ipairs(M.ACTIONS) do
    vars[action .. "_address"] = M.address(list, id, action, moderator)
  end
  return vars
end

local function trim(s)
  local first = s:find("%S")
  if not first then return "" end
  return s:sub(first, #s + 1 - s:reverse():find("%S"))
end

-- The first non-blank body line, printable, cut to REASON_MAX; or "".
-- Quoted lines ("> ...") and a mail client's attribution ("On ...
-- wrote:") are no reason.
local function reason_of(ctx)
  for part in ctx.message:parts() do
    if part.content_type == "text/plain" then
      local text = (part:text() or ""):sub(1, BODY_SCAN_MAX)
      for line in text:gmatch("[^\r\n]+") do
        line = trim(line:gsub("%c", " "))
        if line ~= "" and not line:find("^>")
            and line:sub(-6):lower() ~= "wrote:" then
          return line:sub(1, REASON_MAX)
        end
      end
      return ""
    end
  end
  return ""
end

local function robot(ctx)
  local msg = ctx.message
  if ctx.sender == "" then return true end
  if (msg:header("Auto-Submitted") or "no"):sub(1, 100):lower() ~= "no" then
    return true
  end
  local precedence = (msg:header("Precedence") or ""):sub(1, 100):lower()
  return precedence:find("^%s*bulk") or precedence:find("^%s*junk")
    or precedence:find("^%s*list") or msg:header("List-Id") ~= nil
end

-- The From: address when there is exactly one, else nil.
local function from_address(ctx)
  local from = ctx.message:addresses("From")
  if #from ~= 1 then return nil end
  return from[1]
end

local function refusal(text)
  return mlm.reject(text, "550", "5.7.1")
end

-- list's template name with vars from NAME-owner@ to to.
local function send(ctx, list, a, to, name, vars)
  local ok, err = pcall(mlm.sendmail, a.bounces, to,
    common.template_mail(list, name, a.owner, to, vars, "auto-generated"))
  if not ok then
    mlm.log("warning", string.format("%s: %s: notice not sent: %s",
      ctx.qid or "NOQUEUE", a.post, tostring(err)))
  end
end

-- After a decision: the moderators learn who decided; the poster of a
-- rejected post, when a member (a non-member's address may be forged),
-- learns it with the reason.
local function tell(ctx, list, a, held, reason)
  local subject = held.subject ~= "" and held.subject or "(no subject)"
  send(ctx, list, a, M.moderators(list), "held-decided", {
    id = held.id, state = held.state, decided_by = held.decided_by,
    sender = held.sender ~= "" and held.sender or "<>",
    subject = subject:sub(1, 300), reason = held.reason,
    via = common.fragment(list, "via-mail") })
  if held.state == "rejected" and held.sender ~= ""
      and list:member(held.sender) then
    send(ctx, list, a, { held.sender }, reason ~= "" and
      "post-rejected-reason" or "post-rejected",
      { subject = subject:sub(1, 300), reason = reason })
  end
end

-- Mail to NAME-request+DETAIL@: a moderation reply, decided here.
-- a: the list's addresses (mlm_lists.addresses).
function M.reply(ctx, list, a, detail)
  local action, token = M.parse(detail)
  if not action then
    mlm.log("info", string.format("%s: %s: mail to %s+...: no moderation "
      .. "action", ctx.qid or "NOQUEUE", a.post, a.request))
    return refusal("No such moderation address")
  end
  if robot(ctx) then
    return refusal("Automatic replies cannot moderate")
  end
  local from = from_address(ctx)
  if not from or from:lower() ~= ctx.sender:lower() then
    mlm.log("info", string.format("%s: %s: moderation reply refused: From "
      .. "is not the envelope sender %s", ctx.qid or "NOQUEUE", a.post,
      ctx.sender))
    return refusal("A moderation reply must come from the moderator's "
      .. "address, in From: and as the envelope sender")
  end
  local held, why = list:moderate(action, token, ctx.sender)
  if not held and why == "invalid" and action ~= "discard" then
    -- no held post's token: perhaps a subscription request's
    local decided, rwhy = requests.reply(ctx, list, a, action, token,
      function(level, fmt, ...)
        mlm.log(level, string.format("%s: " .. fmt, ctx.qid or "NOQUEUE",
          ...))
      end)
    if decided then return mlm.discard() end
    why = rwhy
    if why == "banned" then
      mlm.log("info", string.format("%s: %s: subscription request not "
        .. "approved by %s: the address is banned", ctx.qid or "NOQUEUE",
        a.post, ctx.sender))
      return refusal("The address of this subscription request is banned "
        .. "from the list; lift the ban or reject the request")
    end
  end
  if not held then
    mlm.log("info", string.format("%s: %s: moderation reply (%s) from %s "
      .. "refused: %s", ctx.qid or "NOQUEUE", a.post, action, ctx.sender, why))
    if why:find("^failed") then
      return mlm.tempfail("The post could not be approved now; try again "
        .. "later")
    end
    return refusal("This moderation address is not valid for you, or the "
      .. "post was decided or has expired")
  end
  local reason = action == "reject" and reason_of(ctx) or ""
  mlm.log("info", string.format("%s: %s: held post %d %s by %s (by mail)",
    ctx.qid or "NOQUEUE", a.post, held.id, held.state, held.decided_by))
  tell(ctx, list, a, held, reason)
  return mlm.discard()
end

return M
