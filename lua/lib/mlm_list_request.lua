-- mlm_list_request.lua - NAME-request@ in the shipped list policy: the
-- commands a mail names (subscribe, unsubscribe, confirm, help, and the
-- member commands nomail, mail, not-me-too on|off, options, who-am-i),
-- the replies, moderation by reply (mlm_moderation) and the owners'
-- commands (mlm_owner_commands).

local mlm = require "mlm"
local common = require "mlm_list_common"
local moderation = require "mlm_moderation"
local owner_commands = require "mlm_owner_commands"
local requests = require "mlm_requests"
local text = require "mlm_text"

local addresses, log = common.addresses, common.log
local first_line, confirm_token, first_word, command_words = text.first_line,
  text.confirm_token, text.first_word, text.command_words
local COMMAND_TEXT_MAX, BODY_SCAN_MAX = text.COMMAND_TEXT_MAX,
  text.BODY_SCAN_MAX

local M = {}

-- Mail from the list's -request address, through the MTA, when the reply
-- limit allows it (mlm.reply_quota: at most 5 replies to one address an
-- hour, whatever the list and the kind of reply); else only logged. The
-- text is list's template name with vars (mlm_templates).
local function request_mail(ctx, list, a, to, name, vars)
  local allowed, why = mlm.reply_quota(to)
  if not allowed then
    log("info", ctx, "%s: no reply sent: %s", a.post, why or "not an address")
    return
  end
  mlm.sendmail(a.bounces, to,
    common.template_mail(list, name, a.request, to, vars, "auto-replied"))
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

-- The member commands, only as the first word (a person writing "mail" or
-- "options" in a sentence is not asking for them). not-me-too takes on or
-- off, and is the command not-me-too-on or not-me-too-off.
local MEMBER_COMMANDS = { nomail = "nomail", mail = "mail",
  ["not-me-too"] = "not-me-too", options = "options",
  ["who-am-i"] = "who-am-i" }
local SWITCH = { on = "on", yes = "on", off = "off", no = "off" }

-- The member command text starts with, or nil; help for a not-me-too
-- without on or off.
local function member_command(text)
  local word, argument = command_words(text)
  local command = MEMBER_COMMANDS[word or ""]
  if command == "not-me-too" then
    local switch = SWITCH[argument or ""]
    return switch and "not-me-too-" .. switch or "help"
  end
  return command
end

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
-- subscribe, unsubscribe, help or a member command (MEMBER_COMMANDS) as
-- the first word of the subject or of the first body line, the subject
-- first; "invalid" for a confirm without a token of the token's
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
  for i, t in ipairs({ subject, body }) do
    local command = COMMANDS[words[i] or ""] or member_command(t)
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

local function welcome(ctx, list, a, address)
  request_mail(ctx, list, a, address, "welcome")
end

-- Hold a subscription (subscription_policy moderate, or confirmed under
-- confirm_then_moderate) for the owners (mlm_requests); the subscriber
-- learns it waits, once a request, or that the owners have too many to
-- take it now.
local function hold_request(ctx, list, a, address)
  local id, new, refused = requests.hold(list, a, address,
    function(level, fmt, ...) log(level, ctx, fmt, ...) end)
  if refused == "full" then
    request_mail(ctx, list, a, address, "request-full")
  elseif new then
    request_mail(ctx, list, a, address, "request-held", { id = id })
  end
end

-- The delivery states a member reads as a fragment delivery-STATE.
local DELIVERY_STATES = { enabled = true, ["disabled-by-user"] = true,
  ["disabled-by-bounces"] = true, ["disabled-by-admin"] = true }

-- The values of the settings template for membership m.
local function settings_vars(list, m)
  return {
    address = m.address,
    delivery = DELIVERY_STATES[m.delivery]
      and common.fragment(list, "delivery-" .. m.delivery) or m.delivery,
    not_me_too = common.fragment(list, m.not_me_too and "not-me-too-on"
      or "not-me-too-off"),
    note = m.delivery == "disabled-by-admin"
      and common.fragment(list, "settings-note-admin") or "",
  }
end

-- The token actions of the member commands: the change each makes (a
-- member setting and its value), what the confirmation asks, and whether
-- the membership has it already (then nothing is sent). The
-- confirmation mail is the template confirm-ACTION.
local MEMBER_ACTIONS = {
  nomail = { key = "delivery", value = "disabled-by-user",
    done = function(m) return m.delivery ~= "enabled" end },
  mail = { key = "delivery", value = "enabled",
    done = function(m) return m.delivery == "enabled" end },
  ["not-me-too-on"] = { key = "not-me-too", value = "yes",
    done = function(m) return m.not_me_too end },
  ["not-me-too-off"] = { key = "not-me-too", value = "no",
    done = function(m) return not m.not_me_too end },
}

-- A confirmed member command: the change, then the settings. The
-- membership is read again (it may have gone since the token was sent);
-- what the owners turned off (disabled-by-admin) the member cannot change.
local function member_confirm(ctx, list, a, address, action)
  local m = list:member(address)
  if not m then
    log("info", ctx, "%s: %s confirmed %s but is no member: nothing done",
      a.post, address, action)
    return
  end
  local change = MEMBER_ACTIONS[action]
  if m.delivery == "disabled-by-admin" and change.key == "delivery" then
    log("info", ctx, "%s: %s confirmed %s: delivery disabled by the owners, "
      .. "unchanged", a.post, m.address, action)
  elseif not change.done(m) then
    list:set_member(m.address, change.key, change.value)
    log("info", ctx, "%s: %s: %s (confirmed)", a.post, m.address, action)
    m = list:member(m.address) or m
  end
  request_mail(ctx, list, a, m.address, "settings", settings_vars(list, m))
end

local function request_confirm(ctx, this_list, a, token)
  local list, address, action = mlm.take_token(token)
  if not list then
    request_mail(ctx, this_list, a, ctx.sender, "confirm-unknown")
    return
  end
  local b = addresses(list)
  if owner_commands.is_action(action) then
    owner_commands.confirm(ctx, list, b, address, action,
      function(to, name, vars) request_mail(ctx, list, b, to, name, vars) end,
      function(level, fmt, ...) log(level, ctx, fmt, ...) end)
  elseif action == "subscribe" then
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
    welcome(ctx, list, b, address)
  elseif action == "unsubscribe" then
    list:remove_member(address)
    log("info", ctx, "%s: %s unsubscribed (confirmed)", b.post, address)
    request_mail(ctx, list, b, address, "goodbye")
  elseif MEMBER_ACTIONS[action] then
    member_confirm(ctx, list, b, address, action)
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
  request_mail(ctx, list, a, ctx.sender, "confirm-" .. action,
    { token = token, address = ctx.sender })
end

-- Whether the envelope sender of a -request mail, the address a
-- subscribe joins, is vouched for by its own domain: an SPF pass for that
-- very domain, which ties the envelope to the sending host. A DKIM
-- signature or a DMARC pass would not: they vouch for a message, which
-- anyone can replay under another envelope sender in its domain. "spf",
-- or nil (also when DNS could not tell). Domains as DNS names: case and
-- a final dot ignored; an envelope domain in U-labels never matches.
local function sender_authenticated_by(ctx)
  local domain = ctx.sender:match("@([^@]+)$")
  local auth = ctx.auth
  if not domain or not auth then return nil end
  local function dns_name(d) return (d:lower():gsub("%.$", "")) end
  if auth.spf == "pass" and auth.spf_domain
      and dns_name(auth.spf_domain) == dns_name(domain) then
    return "spf"
  end
  return nil
end

-- A member command from the envelope sender. Only a member is answered,
-- at its address as the list holds it: nothing tells a stranger who is
-- on. A change (MEMBER_ACTIONS) is confirmed by a token, unless the
-- membership has it already; options and who-am-i are answered at once.
-- Either way a list sends one mail an address an hour at most: the
-- answers take the hour's token of the address (one nobody is given).
local function member_request(ctx, list, a, command)
  local m = list:member(ctx.sender)
  if not m then
    log("info", ctx, "%s: %s from %s, not a member: not answered", a.post,
      command, ctx.sender)
    return
  end
  if MEMBER_ACTIONS[command] then
    if MEMBER_ACTIONS[command].done(m) then
      log("info", ctx, "%s: %s from %s: so already, not answered", a.post,
        command, m.address)
    else
      request_token(ctx, list, a, command)
    end
    return
  end
  local slot, why = list:token(m.address, "answered")
  if not slot then
    log("info", ctx, "%s: %s from %s not answered: %s", a.post, command,
      m.address, why)
    return
  end
  if command == "options" then
    request_mail(ctx, list, a, m.address, "settings", settings_vars(list, m))
  else
    local roles = {}
    for _, role in ipairs({ "member", "moderator", "owner" }) do
      if role == "member" or list:member(m.address, role) then
        roles[#roles + 1] = role
      end
    end
    request_mail(ctx, list, a, m.address, "who-am-i",
      { address = m.address, roles = table.concat(roles, ", ") })
  end
end

-- The subscription policies whose help says more after subscribe (the
-- fragment help-subscribe-POLICY).
local SUBSCRIBE_HELP = { open = true, confirm = true, moderate = true,
  confirm_then_moderate = true }

-- NAME-request@: subscribe (as subscription_policy says), unsubscribe
-- and the member commands (confirmed by a token), options, who-am-i and
-- help.
function M.handle(ctx, list, a, rcpt, detail)
  if detail then
    return moderation.reply(ctx, list, a, detail)
  end
  if from_robot(ctx) then
    return mlm.discard()
  end
  local command, token = request_command(ctx)
  -- an owner verb is read only from an owner: anyone else's "Remove me"
  -- or "Add me" Subject leaves the member command in the body its effect
  local owner_command = command ~= "confirm"
    and list:member(ctx.sender, "owner") and (owner_commands.parse(
    ctx.message:header("Subject") or "")
    or owner_commands.parse(first_body_line(ctx)))
  if owner_command then
    owner_commands.request(ctx, list, a, owner_command,
      function(to, name, vars) request_mail(ctx, list, a, to, name, vars) end,
      function(level, fmt, ...) log(level, ctx, fmt, ...) end)
  elseif command == "invalid" or command == "none" then
    log("info", ctx, "%s: %s from %s: not answered", a.post,
      command == "invalid" and "a confirm without a valid token"
        or "no command", ctx.sender)
  elseif command == "confirm" then
    request_confirm(ctx, list, a, token)
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
      welcome(ctx, list, a, ctx.sender)
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
  elseif command ~= "help" then
    member_request(ctx, list, a, command)
  else
    local policy = list.subscription_policy
    request_mail(ctx, list, a, ctx.sender, "help", { subscribe_note =
      SUBSCRIBE_HELP[policy] and common.fragment(list, "help-subscribe-"
        .. policy) or "" })
  end
  return mlm.discard()
end

return M
