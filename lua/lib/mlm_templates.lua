-- mlm_templates.lua - the text of every mail mlm sends, as named
-- templates: the shipped English here, a list's own versions in the
-- database (table templates, set with mlm-ctl template set). The shipped
-- list policy (mlm_list_common.template_mail) and mlm-ctl (ctl/templates.c,
-- which loads this file into a bare Lua state) render through render().
--
-- A template is a mail (a Subject and a body) or a fragment (a body only:
-- a piece that code puts into a mail as a placeholder's value, such as
-- one item of a summary or a word for a member's delivery). Placeholders
-- are ${name}; the placeholders of a template are those its shipped text
-- uses, and the caller gives a value for each. A list's version may use
-- only those (check() refuses others), so no version can ask for data
-- the code does not hand it.
--
-- render() substitutes in one pass, linear in the template and the
-- values; a value is never read for placeholders again. In a Subject every
-- control character of the result (CR and LF above all) becomes a space:
-- no value reaches another header line.
--
-- This module requires nothing (mlm-ctl runs it without the mlm library).

local M = {}

-- Bytes of a list's version of a template (mlm-ctl template set).
M.TEXT_MAX = 16384

-- The common end of every confirmation mail.
local CONFIRM_TAIL = [[


To confirm, reply to this message keeping its subject, or send a
message to ${request} with the subject:

    confirm ${token}

If you did not ask for this, ignore this message: nothing happens.]]

local function confirm(first)
  return { subject = "confirm ${token}", body = first .. CONFIRM_TAIL,
    about = "confirmation asked by mail to NAME-request@" }
end

-- name -> { subject = ... (nil for a fragment), body = ..., about = ... }
local SHIPPED = {
  -- to a subscriber or member, from NAME-request@
  ["welcome"] = { about = "to a new member",
    subject = "Welcome to ${list}", body = [[
You are now subscribed to ${list}.
To post, write to ${list}.
To leave, send 'unsubscribe' to ${request}.]] },
  ["goodbye"] = { about = "to a member who left (confirmed unsubscribe)",
    subject = "You have left ${list}",
    body = "You are no longer subscribed to ${list}." },
  ["request-held"] = { about = "to a subscriber whose request waits for "
      .. "the owners",
    subject = "Your subscription to ${list}", body = [[
Your request to join ${list} waits for the approval of
the list's owners. You will hear from them when they decide.

  request id: ${id}]] },
  ["request-full"] = { about = "to a subscriber when too many requests "
      .. "wait",
    subject = "Your subscription to ${list}", body = [[
The owners of ${list} have too many subscription requests
waiting to take yours now. Please ask again in a few days.]] },
  ["request-rejected"] = { about = "to a subscriber the owners did not "
      .. "approve",
    subject = "Your subscription to ${list}", body = [[
Thank you for your interest in ${list}.
The list's owners did not approve your subscription request.
If you think this is a mistake, write to ${owner}.]] },
  ["confirm-unknown"] = { about = "to the sender of an unknown or expired "
      .. "confirmation",
    subject = "Your confirmation for ${list}", body = [[
The confirmation code you sent is unknown or has expired.
Send your command ('subscribe', 'unsubscribe', 'nomail', ...) to ${request} again.]] },
  ["confirm-subscribe"] = confirm(
    "Someone, probably you, asked to subscribe ${address} to ${list}."),
  ["confirm-unsubscribe"] = confirm(
    "Someone, probably you, asked to unsubscribe ${address} from ${list}."),
  ["confirm-nomail"] = confirm("Someone, probably you, asked ${request} to "
    .. "stop sending you the posts of ${list} at ${address}."),
  ["confirm-mail"] = confirm("Someone, probably you, asked ${request} to "
    .. "send you the posts of ${list} at ${address}."),
  ["confirm-not-me-too-on"] = confirm("Someone, probably you, asked "
    .. "${request} to stop sending you copies of your own posts to "
    .. "${list} at ${address}."),
  ["confirm-not-me-too-off"] = confirm("Someone, probably you, asked "
    .. "${request} to send you copies of your own posts to ${list} at "
    .. "${address}."),
  ["confirm-owner-add"] = confirm("Someone, probably you, asked "
    .. "${request} from ${address}, an owner's address, to add ${member} "
    .. "to ${list} as a member."),
  ["confirm-owner-remove"] = confirm("Someone, probably you, asked "
    .. "${request} from ${address}, an owner's address, to remove the "
    .. "member ${member} from ${list}."),
  ["confirm-owner-moderate"] = confirm("Someone, probably you, asked "
    .. "${request} from ${address}, an owner's address, to set moderated "
    .. "${value} for the member ${member} of ${list}."),
  ["settings"] = { about = "a member's settings (options, and after a "
      .. "change)",
    subject = "Your settings on ${list}", body = [[
Your settings on ${list}:

  address:     ${address}
  delivery:    ${delivery}
  not-me-too:  ${not_me_too}

To change them, send one of these to ${request}:
  nomail, mail, not-me-too on, not-me-too off${note}]] },
  ["settings-note-admin"] = { about = "settings: when the owners turned "
      .. "delivery off", body = [[


Delivery to you was turned off by the owners; write to ${owner}.]] },
  ["delivery-enabled"] = { about = "settings: delivery on", body = "on" },
  ["delivery-disabled-by-user"] = { about = "settings: delivery off by "
      .. "the member", body = "off (you turned it off)" },
  ["delivery-disabled-by-bounces"] = { about = "settings: delivery off by "
      .. "bounces", body = "off (mail to you bounced)" },
  ["delivery-disabled-by-admin"] = { about = "settings: delivery off by "
      .. "the owners", body = "off (the owners turned it off)" },
  ["not-me-too-on"] = { about = "settings: not-me-too on",
    body = "on (you get no copy of your own posts)" },
  ["not-me-too-off"] = { about = "settings: not-me-too off",
    body = "off (you get a copy of your own posts)" },
  ["who-am-i"] = { about = "the answer to who-am-i",
    subject = "Who you are on ${list}", body = [[
You are subscribed to ${list} as ${address}.
Your roles: ${roles}.]] },
  ["help"] = { about = "the answer to help",
    subject = "Help for ${list}", body = [[
This is ${request}, the robot of ${list}.

Send one of these words as the subject (or the first line):
  subscribe     join the list${subscribe_note}
  unsubscribe   leave the list (you will be asked to confirm)
  help          this message

Members can also send (changes are confirmed, like unsubscribe):
  nomail           stop delivery of the list's posts to you
  mail             start it again
  not-me-too on    get no copy of your own posts
  not-me-too off   get a copy of your own posts again
  options          your settings
  who-am-i         the address you are subscribed as

Owners can also send (changes are confirmed):
  add ADDRESS [NAME], remove ADDRESS, moderate ADDRESS yes|no, held

To post, write to ${list}; the owners are ${owner}.]] },
  ["help-subscribe-open"] = { about = "help: subscribe on an open list",
    body = " (at once when your mail server is authenticated, else you "
      .. "confirm)" },
  ["help-subscribe-confirm"] = { about = "help: subscribe on a confirm "
      .. "list", body = " (you will be asked to confirm)" },
  ["help-subscribe-moderate"] = { about = "help: subscribe on a moderate "
      .. "list", body = " (the owners approve it)" },
  ["help-subscribe-confirm_then_moderate"] = { about = "help: subscribe "
      .. "on a confirm_then_moderate list",
    body = " (you confirm, then the owners approve it)" },

  -- to moderators and owners, from NAME-owner@
  ["held-notice"] = { about = "to each moderator: a post is held",
    subject = "${list} post held for approval: ${subject}", body = [[
A post to ${list} is held for approval.

  held id: ${id}
  sender:  ${sender}
  reason:  ${reason}

To decide, reply from ${moderator} to one of:

  approve  ${approve_address}
           <mailto:${approve_address}?subject=approve%20${id}>
  reject   ${reject_address}
           <mailto:${reject_address}?subject=reject%20${id}>
  discard  ${discard_address}
           <mailto:${discard_address}?subject=discard%20${id}>

A reply to reject may give the reason in its first line; it is sent to
the poster. Or, on the mail host: mlm-ctl held approve|reject|discard ${id}]] },
  ["held-decided"] = { about = "to the moderators: who decided a held post",
    subject = "${list}: held post ${id} ${state} by ${decided_by}", body = [[
The held post ${id} to ${list}
  from:    ${sender}
  subject: ${subject}
  reason:  ${reason}
was ${state} by ${decided_by}${via}.]] },
  ["via-mail"] = { about = "held-decided, request-decided: decided by "
      .. "mail", body = " (by mail)" },
  ["via-ctl"] = { about = "held-decided, request-decided: decided with "
      .. "mlm-ctl", body = "" },
  ["post-rejected"] = { about = "to a member whose post was rejected",
    subject = "Your post to ${list} was not accepted", body = [[
Your post to ${list} (subject: ${subject}) was not accepted by the list's moderators.]] },
  ["post-rejected-reason"] = { about = "to a member whose post was "
      .. "rejected with a reason",
    subject = "Your post to ${list} was not accepted", body = [[
Your post to ${list} (subject: ${subject}) was not accepted by the list's moderators.

The moderator's reason: ${reason}]] },
  ["held-summary"] = { about = "mlm-ctl held notify: to each moderator",
    subject = "${list}: held posts pending: ${count}",
    body = "${expired}${pending}${more}" },
  ["held-summary-expired"] = { about = "held-summary: the expired posts",
    body = "Expired (held_expire) and discarded:\n${items}\n" },
  ["held-summary-expired-item"] = { about = "held-summary: one expired "
      .. "post", body = "  ${id} from ${sender}: ${subject}\n" },
  ["held-summary-pending"] = { about = "held-summary: the pending posts",
    body = [[
Posts to ${list} waiting for a decision: ${count}. Reply from ${moderator}
to an address below to decide (a reply to reject may give the reason in
its first line).

${items}]] },
  ["held-summary-post"] = { about = "held-summary: one pending post",
    body = [[
held id: ${id}
  sender:  ${sender}
  subject: ${subject}
  reason:  ${reason}
  approve  ${approve_address}
  reject   ${reject_address}
  discard  ${discard_address}

]] },
  ["held-summary-more"] = { about = "held-summary: posts left out",
    body = "... and ${count} more: mlm-ctl held ${list}\n" },
  ["request-notice"] = { about = "to each owner: a subscription request "
      .. "waits",
    subject = "${list} subscription request held for approval: ${address}",
    body = [[
A subscription request for ${list} waits for the owners.

  request id: ${id}
  address:    ${address}

To decide, reply from ${owner_address} to one of:

  approve  ${approve_address}
           <mailto:${approve_address}?subject=approve%20request%20${id}>
  reject   ${reject_address}
           <mailto:${reject_address}?subject=reject%20request%20${id}>

Or, on the mail host:
  mlm-ctl requests approve ${id}
  mlm-ctl requests reject ${id}]] },
  ["request-decided"] = { about = "to the owners: who decided a "
      .. "subscription request",
    subject = "${list}: subscription request ${id} ${state} by ${decided_by}",
    body = [[
The subscription request ${id} of ${address} to ${list} was ${state} by ${decided_by}${via}.]] },

  -- to an owner, from NAME-request@: the owner commands
  ["owner-done"] = { about = "to an owner: a confirmed command was done",
    subject = "${list}: done: ${command}", body = [[
Your command to ${list} was carried out:

  ${command}

mlm-ctl log ${list} shows it among the list's changes.]] },
  ["owner-failed"] = { about = "to an owner: a confirmed command failed",
    subject = "${list}: not done: ${command}", body = [[
Your command to ${list} was not carried out:

  ${command}

Why: ${reason}]] },
  ["owner-usage"] = { about = "to an owner: a command not understood",
    subject = "${list}: owner command not understood", body = [[
Owner commands to ${request}, one as the subject or the first line:

  add ADDRESS [NAME]         make ADDRESS a member
  remove ADDRESS             take the member away
  moderate ADDRESS yes|no    hold (or not) the member's posts
  held                       the held posts, with the addresses to decide

Each change is confirmed by a reply, as a subscription is.]] },
  ["owner-held"] = { about = "to an owner: the answer to held",
    subject = "${list}: held posts pending: ${count}", body = [[
Posts to ${list} waiting for a decision: ${count}. Reply from
${moderator} to an address below to decide (a reply to reject may give
the reason in its first line).

${items}${more}]] },
  ["owner-held-item"] = { about = "owner-held: one pending post", body = [[
held id: ${id}
  sender:  ${sender}
  subject: ${subject}
  reason:  ${reason}
  approve  ${approve_address}
  reject   ${reject_address}
  discard  ${discard_address}

]] },
  ["owner-held-more"] = { about = "owner-held: posts left out",
    body = "Only the first ${shown} are shown: mlm-ctl held ${list}\n" },

  -- bounces
  ["bounce-disabled-member"] = { about = "to a member whose delivery "
      .. "bounces disabled",
    subject = "Your delivery from ${list} is disabled", body = [[
Mail from ${list} to ${address} bounced (${status}) too often, so the list stopped sending to you.

If you still want the list's mail, write to the owners at ${owner} to have your delivery enabled again.]] },
  ["bounce-disabled-owners"] = { about = "to the owners: bounces disabled "
      .. "a member",
    subject = "${list}: delivery to ${address} disabled by bounces",
    body = [[
Delivery to the member ${address} was disabled: its bounce
score reached bounce_threshold (last status ${status}).
The member was told. If the reports were not genuine, enable it with:

  mlm-ctl member set ${list} ${address} delivery enabled]] },
  ["bounce-probe"] = { about = "to a member whose mail bounces: the test",
    subject = "Delivery test from ${list}", body = [[
Mail from the list ${list} to ${address} has bounced
several times. This message tests whether your address still works:
if you read it, nothing needs to be done, and your subscription stays
as it is.

Questions go to the list owners: ${owner}]] },
  ["bounce-digest"] = { about = "to the owners: mail to NAME-bounces@ "
      .. "mlm could not read",
    subject = "Unrecognised mail to ${bounces}", body = [[
Mails that came to ${bounces} since the last digest and that mlm could
not read as a bounce: ${count}.
None was delivered or changed anything; what each said:

${items}To see what mlm reads from a bounce: mlm-ctl bounces parse FILE.eml]] },
  ["bounce-digest-item"] = { about = "bounce-digest: one mail",
    body = [[
${number}. ${date} UTC, envelope sender <${sender}>, ${size} bytes
   From: ${from}
   Subject: ${subject}
${summary}
]] },
  ["bounce-digest-line"] = { about = "bounce-digest: one line of a mail's "
      .. "text", body = "   | ${line}\n" },
}

-- The placeholders of each shipped template: name -> set.
local PLACEHOLDERS = {}

local function placeholders_of(text, into)
  local pos = 1
  while true do
    local s = text:find("${", pos, true)
    if not s then return into end
    local name, e = text:match("^([%w_]+)}()", s + 2)
    if not name then return nil, s end
    into[name] = true
    pos = e
  end
end

for name, t in pairs(SHIPPED) do
  local set = {}
  placeholders_of(t.subject or "", set)
  placeholders_of(t.body, set)
  PLACEHOLDERS[name] = set
end

-- Every template name, sorted.
function M.names()
  local out = {}
  for name in pairs(SHIPPED) do out[#out + 1] = name end
  table.sort(out)
  return out
end

-- The shipped template name: subject (nil for a fragment), body, about;
-- nil for no such template.
function M.shipped(name)
  local t = SHIPPED[name]
  if not t then return nil end
  return t.subject, t.body, t.about
end

-- The placeholders of template name, sorted; nil for no such template.
function M.placeholders(name)
  local set = PLACEHOLDERS[name]
  if not set then return nil end
  local out = {}
  for p in pairs(set) do out[#out + 1] = p end
  table.sort(out)
  return out
end

-- A template as a file holds it: "Subject: ..." and an empty line before
-- the body for a mail, the body alone for a fragment; then one line end,
-- which is not part of the text (parse drops it).
function M.text(name, subject, body)
  if SHIPPED[name] and SHIPPED[name].subject then
    return "Subject: " .. (subject or "") .. "\n\n" .. body .. "\n"
  end
  return body .. "\n"
end

-- The subject and body of text in a file's form (M.text) for template
-- name; nil and why when text is not of that form. Line ends become LF;
-- one final line end goes.
local function parse(name, text)
  text = text:gsub("\r\n?", "\n")
  if not SHIPPED[name].subject then return nil, (text:gsub("\n$", "")) end
  local subject, body = text:match("^[Ss]ubject:[ \t]*([^\n]*)\n\n(.*)$")
  if not subject then
    return nil, nil, "a mail template starts with a line \"Subject: ...\" "
      .. "and an empty line"
  end
  return subject, (body:gsub("\n$", ""))
end

-- Whether text may be list's version of template name: true, or nil and
-- why (an unknown name, too long, a NUL or other control character but
-- TAB and line ends, not UTF-8, not of the file's form, a placeholder the template
-- does not have, a "${" that starts none).
function M.check(name, text)
  if not SHIPPED[name] then return nil, "no template " .. tostring(name) end
  if #text > M.TEXT_MAX then
    return nil, string.format("longer than %d bytes", M.TEXT_MAX)
  end
  if text:find("[%z\1-\8\11\12\14-\31\127]") then
    return nil, "holds a control character"
  end
  if utf8 and not utf8.len(text) then
    return nil, "not UTF-8 (the mails say charset=UTF-8)"
  end
  local subject, body, why = parse(name, text)
  if not body then return nil, why end
  local used = {}
  for _, part in ipairs({ subject or "", body }) do
    local ok, at = placeholders_of(part, used)
    if not ok then
      return nil, string.format("\"${\" without a placeholder name at %q",
        part:sub(at, at + 20))
    end
  end
  local known = PLACEHOLDERS[name]
  local unknown = {}
  for p in pairs(used) do
    if not known[p] then unknown[#unknown + 1] = "${" .. p .. "}" end
  end
  if #unknown > 0 then
    table.sort(unknown)
    return nil, string.format("%s has no placeholder %s (it has: %s)", name,
      table.concat(unknown, ", "), "${" .. table.concat(M.placeholders(name),
        "}, ${") .. "}")
  end
  return true
end

-- text with each ${name} replaced by vars[name] (tostring; "" when
-- missing), in one pass.
local function substitute(text, vars)
  local out, pos = {}, 1
  while true do
    local s = text:find("${", pos, true)
    if not s then break end
    local name, e = text:match("^([%w_]+)}()", s + 2)
    out[#out + 1] = text:sub(pos, s - 1)
    if name then
      local v = vars[name]
      out[#out + 1] = v ~= nil and tostring(v) or ""
      pos = e
    else
      out[#out + 1] = "${"
      pos = s + 2
    end
  end
  out[#out + 1] = text:sub(pos)
  return table.concat(out)
end

-- Template name rendered with vars: its subject (nil for a fragment) and
-- body, from version (a list's version in the file's form, checked when
-- it was stored) or else the shipped text. The subject holds no control
-- character. An unknown name is an error (a bug of the caller).
function M.render(name, vars, version)
  local t = SHIPPED[name]
  if not t then error("no template " .. tostring(name), 2) end
  local subject, body = t.subject, t.body
  if version and version ~= "" then
    local s, b = parse(name, version)
    if b then subject, body = s, b end
  end
  if subject then
    subject = substitute(subject, vars):gsub("%c", " ")
  end
  return subject, substitute(body, vars)
end

return M
