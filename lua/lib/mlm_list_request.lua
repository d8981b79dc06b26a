-- mlm_list_request.lua - NAME-request@ in the shipped list policy: the
-- commands a mail names (subscribe, unsubscribe, confirm, help), the
-- replies, and moderation by reply (mlm_moderation).

local mlm = require "mlm"
local common = require "mlm_list_common"
local moderation = require "mlm_moderation"
local requests = require "mlm_requests"
local text = require "mlm_text"

local addresses, log = common.addresses, common.log
local first_line, confirm_token, first_word = text.first_line,
  text.confirm_token, text.first_word
local COMMAND_TEXT_MAX, BODY_SCAN_MAX = text.COMMAND_TEXT_MAX,
  text.BODY_SCAN_MAX

local M = {}

-- Mail from the list's -request address, through the MTA, when the reply
-- limit allows it (mlm.reply_quota: at most 5 replies to one address an
-- hour, whatever the list and the kind of reply); else only logged.
local function request_mail(ctx, a, to, subject, lines)
  local allowed, why = mlm.reply_quota(to)
  if not allowed then
    log("info", ctx, "%s: no reply sent: %s", a.post, why or "not an address")
    return
  end
  local text = table.concat({
    "From: " .. a.request,
    "To: " .. to,
    "Subject: " .. mlm.encode_header(subject),
    "Auto-Submitted: auto-replied",
    "Precedence: bulk",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    table.concat(lines, "\r\n"),
    "",
  }, "\r\n")
  mlm.sendmail(a.bounces, to, text)
end

-- Never answer bounces, robots or other lists (RFC 3834).
local function from_robot(ctx)
  local msg = ctx.message
  if ctx.sender == "" then return true end
  if (msg:header("Auto-Submitted") or "no"):lower() ~= "no" then return true end
  local precedence = (msg:header("Precedence") or ""):lower()
  if precedence == "bulk" or precedence == "junk" or precedence == "list" then
    return true
  end
  return msg:header("List-Id") ~= nil
end

-- The first non-blank line of the first text/plain part (see first_line).
local function first_body_line(ctx)
  for part in ctx.message:parts() do
    if part.content_type == "text/plain" then
      return first_line(part:text() or "")
    end
  end
  return ""
end

local COMMANDS = { subscribe = "subscribe", join = "subscribe",
  unsubscribe = "unsubscribe", leave = "unsubscribe", help = "help" }

-- Whether one of the first ASKED_WORDS words of text is a command name
-- (subscribe, join, unsubscribe, leave, help): a person asking the robot
-- in their own words ("please unsubscribe me"). Linear: "%a+" never
-- backtracks, and at most COMMAND_TEXT_MAX bytes are read.
local ASKED_WORDS = 8
local function names_a_command(text)
  local n = 0
  for word in text:sub(1, COMMAND_TEXT_MAX):lower():gmatch("%a+") do
    if COMMANDS[word] then return true end
    n = n + 1
    if n >= ASKED_WORDS then break end
  end
  return false
end

-- The command of a -request mail: "confirm TOKEN" (also in "Re: ..."), or
-- subscribe, unsubscribe, help as the first word of the subject or of the
-- first body line; "invalid" for a confirm without a token of the token's
-- form; help when a command name is among the first words of either
-- ("please unsubscribe me"); else "none". Nothing answers "invalid" or
-- "none": a forged sender gets no mail from a stranger's junk.
local function request_command(ctx)
  local subject = ctx.message:header("Subject") or ""
  local body = first_body_line(ctx)
  for _, text in ipairs({ subject, body }) do
    local token = confirm_token(text)
    if token then return "confirm", token end
  end
  local words = { first_word(subject), first_word(body) }
  for i = 1, 2 do
    local command = COMMANDS[words[i] or ""]
    if command then return command end
  end
  if words[1] == "confirm" or words[2] == "confirm" then
    return "invalid"
  end
  if names_a_command(subject) or names_a_command(body) then
    return "help"
  end
  return "none"
end

local function welcome(ctx, a, address)
  request_mail(ctx, a, address, "Welcome to " .. a.post, {
    "You are now subscribed to " .. a.post .. ".",
    "To post, write to " .. a.post .. ".",
    "To leave, send 'unsubscribe' to " .. a.request .. "." })
end

-- Hold a subscription (subscription_policy moderate, or confirmed under
-- confirm_then_moderate) for the owners (mlm_requests); the subscriber
-- learns it waits, once a request, or that the owners have too many to
-- take it now.
local function hold_request(ctx, list, a, address)
  local id, new, refused = requests.hold(list, a, address,
    function(level, fmt, ...) log(level, ctx, fmt, ...) end)
  if refused == "full" then
    request_mail(ctx, a, address, "Your subscription to " .. a.post, {
      "The owners of " .. a.post .. " have too many subscription requests",
      "waiting to take yours now. Please ask again in a few days." })
  elseif new then
    request_mail(ctx, a, address, "Your subscription to " .. a.post, {
      "Your request to join " .. a.post .. " waits for the approval of",
      "the list's owners. You will hear from them when they decide.",
      "",
      "  request id: " .. id })
  end
end

local function request_confirm(ctx, a, token)
  local list, address, action = mlm.take_token(token)
  if not list then
    request_mail(ctx, a, ctx.sender, "Your confirmation for " .. a.post, {
      "The confirmation code you sent is unknown or has expired.",
      "Send 'subscribe' or 'unsubscribe' to " .. a.request .. " again." })
    return
  end
  local b = addresses(list)
  if action == "subscribe" then
    if list:is_banned(address) then
      log("info", ctx, "%s: %s is banned: not subscribed", b.post, address)
      return
    end
    if list.subscription_policy == "confirm_then_moderate" then
      hold_request(ctx, list, b, address)
      return
    end
    list:add_member(address)
    log("info", ctx, "%s: %s subscribed (confirmed)", b.post, address)
    welcome(ctx, b, address)
  elseif action == "unsubscribe" then
    list:remove_member(address)
    log("info", ctx, "%s: %s unsubscribed (confirmed)", b.post, address)
    request_mail(ctx, b, address, "You have left " .. b.post, {
      "You are no longer subscribed to " .. b.post .. "." })
  end
end

-- A token mailed to the sender; a reply quoting it confirms. One a list
-- and address an hour, and the reply limit over all: mlm cannot be made to
-- flood an address.
local function request_token(ctx, list, a, action)
  local token, why = list:token(ctx.sender, action)
  if not token then
    log("info", ctx, "%s: no %s confirmation sent: %s", a.post, action, why)
    return
  end
  request_mail(ctx, a, ctx.sender, "confirm " .. token, {
    "Someone, probably you, asked to " .. action .. " " .. ctx.sender
      .. (action == "subscribe" and " to " or " from ") .. a.post .. ".",
    "",
    "To confirm, reply to this message keeping its subject, or send a",
    "message to " .. a.request .. " with the subject:",
    "",
    "    confirm " .. token,
    "",
    "If you did not ask for this, ignore this message: nothing happens." })
end

-- Whether the envelope sender of a -request mail, the address a
-- subscribe joins, is vouched for by its own domain: an SPF pass for that
-- domain, a passing DKIM signature of that domain (d= equal to it), or a
-- DMARC pass for a From in that domain. Its name ("spf", "dkim", "dmarc"),
-- or nil (also when DNS could not tell). Domains as DNS names: case and a
-- final dot ignored; an envelope domain in U-labels never matches.
local function sender_authenticated_by(ctx)
  local domain = ctx.sender:match("@([^@]+)$")
  local auth = ctx.auth
  if not domain or not auth then return nil end
  local function dns_name(d) return (d:lower():gsub("%.$", "")) end
  local function same(d) return d ~= nil and dns_name(d) == dns_name(domain) end
  if auth.spf == "pass" and same(auth.spf_domain) then return "spf" end
  for _, d in ipairs(auth.dkim_domains or {}) do
    if same(d) then return "dkim" end
  end
  if auth.dmarc == "pass" and same(auth.from_domain) then return "dmarc" end
  return nil
end

-- What the help says follows subscribe, by subscription_policy.
local SUBSCRIBE_HELP = {
  open = " (at once when your mail server is authenticated, else you"
    .. " confirm)",
  confirm = " (you will be asked to confirm)",
  moderate = " (the owners approve it)",
  confirm_then_moderate = " (you confirm, then the owners approve it)",
}

-- NAME-request@: subscribe (as subscription_policy says), unsubscribe
-- (confirmed by a token) and help.
function M.handle(ctx, list, a, rcpt, detail)
  if detail then
    return moderation.reply(ctx, list, a, detail)
  end
  if from_robot(ctx) then
    return mlm.discard()
  end
  local command, token = request_command(ctx)
  if command == "invalid" or command == "none" then
    log("info", ctx, "%s: %s from %s: not answered", a.post,
      command == "invalid" and "a confirm without a valid token"
        or "no command", ctx.sender)
  elseif command == "confirm" then
    request_confirm(ctx, a, token)
  elseif command == "subscribe" then
    if list:is_banned(ctx.sender) then
      log("info", ctx, "%s: %s is banned: no subscription", a.post, ctx.sender)
    elseif list:member(ctx.sender) then
      log("info", ctx, "%s: %s is already a member", a.post, ctx.sender)
    elseif list.subscription_policy == "open"
        and sender_authenticated_by(ctx) then
      -- open trusts the envelope sender only where its domain vouches for
      -- it; anyone else confirms, as under confirm.
      list:add_member(ctx.sender)
      log("info", ctx, "%s: %s subscribed (open list, %s pass)", a.post,
        ctx.sender, sender_authenticated_by(ctx))
      welcome(ctx, a, ctx.sender)
    elseif list.subscription_policy == "moderate" then
      hold_request(ctx, list, a, ctx.sender)
    else
      if list.subscription_policy == "open" then
        log("info", ctx, "%s: %s not authenticated by its domain: "
          .. "confirmation asked (open list)", a.post, ctx.sender)
      end
      request_token(ctx, list, a, "subscribe")
    end
  elseif command == "unsubscribe" then
    -- Only members get a confirmation: nothing tells a stranger who is on.
    if list:member(ctx.sender) then
      request_token(ctx, list, a, "unsubscribe")
    end
  else
    request_mail(ctx, a, ctx.sender, "Help for " .. a.post, {
      "This is " .. a.request .. ", the robot of " .. a.post .. ".",
      "",
      "Send one of these words as the subject (or the first line):",
      "  subscribe     join the list"
        .. (SUBSCRIBE_HELP[list.subscription_policy] or ""),
      "  unsubscribe   leave the list (you will be asked to confirm)",
      "  help          this message",
      "",
      "To post, write to " .. a.post .. "; the owners are " .. a.owner .. "." })
  end
  return mlm.discard()
end

return M
