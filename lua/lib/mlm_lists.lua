-- mlm_lists.lua - the list policy that ships with mlm.
--
-- Every decision is made in the SMTP session (README.md, "Lists", and
-- doc/ARCHITECTURE.md, "Where the contract is implemented"): unknown lists and lonely-list violations at
-- RCPT, everything about the post at end of message, in the order of
-- Mailman 3's posting chain. The default policy.lua only wires these
-- functions in, so an admin can wrap or replace any stage:
--
--   local lists = require "mlm_lists"
--   filter_recipient = lists.filter_recipient
--   filter_message = lists.filter_message
--
-- State between the stages of one transaction lives in the database or in
-- the envelope, never in Lua globals (stages may run in different workers).
--
-- This file holds RCPT, the posting chain and NAME-owner@; the rest is in
-- modules it requires (each requires none of those above it):
--   mlm_dmarc         sender authentication and DMARC mitigation
--   mlm_list_bounces  NAME-bounces@ (mlm_bounce reads the bounce)
--   mlm_list_request  NAME-request@ commands and moderation by reply
--   mlm_text          reading remote text in linear time
--   mlm_list_common   a list's addresses, the transaction's log line

local mlm = require "mlm"
local common = require "mlm_list_common"
local dmarc = require "mlm_dmarc"
local list_bounces = require "mlm_list_bounces"
local list_request = require "mlm_list_request"
local moderation = require "mlm_moderation"
local text = require "mlm_text"

local M = {}

local APPROVED_HEADERS = { "Approved", "Approve", "X-Approved", "X-Approve" }
-- RFC 2369, 2919 and 5064 fields the list does not set itself: an
-- incoming post's are another list's and go.
local FOREIGN_LIST_HEADERS = { "Archived-At", "List-Unsubscribe-Post" }

local addresses, log = common.addresses, common.log
M.addresses = addresses
local list_id_is, x_loop_is = text.list_id_is, text.x_loop_is
local COMMAND_TEXT_MAX = text.COMMAND_TEXT_MAX
-- The remote-text helpers, for tests and policies (mlm_text).
M.text = text

-- ---------------------------------------------------------------- RCPT ---

-- Whether any recipient accepted so far is one of our lists' addresses.
local function earlier_list_recipient(ctx)
  for _, rcpt in ipairs(ctx.recipients) do
    local kind = mlm.resolve(rcpt)
    if kind and kind ~= "unknown" then
      return rcpt
    end
  end
  return nil
end

local function lonely_refusal()
  return mlm.tempfail("A list address must be the only recipient of its "
    .. "transaction; send the other recipients separately", "452", "4.5.3")
end

-- The sender is allowed to post as far as the envelope can tell.
local function envelope_may_post(list, sender)
  if sender == "" then
    return false
  end
  return list:member(sender) ~= nil
    or list:member(sender, "owner") ~= nil
    or list:member(sender, "moderator") ~= nil
    or list:accepts_nonmember(sender)
end

function M.filter_recipient(ctx)
  local kind, list = mlm.resolve(ctx.recipient)
  if kind == nil then
    -- Not ours; but an earlier list recipient must stay alone.
    if earlier_list_recipient(ctx) then
      return lonely_refusal()
    end
    return mlm.continue()
  end
  if kind == "unknown" then
    return mlm.reject("No such list: " .. ctx.recipient, "550", "5.1.1")
  end
  if #ctx.recipients > 0 then
    return lonely_refusal()
  end
  if kind == "post" and list.early_reject == "envelope"
      and list.posting ~= "open" and list.nonmember_action == "reject"
      and not envelope_may_post(list, ctx.sender or "") then
    local a = addresses(list)
    return mlm.reject(string.format("%s is not a member of %s; contact %s",
      ctx.sender ~= "" and ctx.sender or "<>", a.post, a.owner), "550", "5.7.1")
  end
  return mlm.continue()
end

-- ---------------------------------------------------------- end of message

-- The one list recipient of this transaction (RCPT made sure it is alone),
-- and the detail of a NAME-request+DETAIL@ or NAME-bounces+DETAIL@.
local function list_target(ctx)
  for _, rcpt in ipairs(ctx.recipients) do
    local kind, list, detail = mlm.resolve(rcpt)
    if kind and kind ~= "unknown" then
      return kind, list, rcpt, detail
    end
  end
  return nil
end

local SENDER_HEADERS = { "From", "Sender", "Reply-To" }

-- Every address the post claims to come from.
local function sender_addresses(ctx)
  local msg = ctx.message
  local seen, out = {}, {}
  local function add(a)
    if a and a ~= "" then
      local key = a:lower()
      if not seen[key] then
        seen[key] = true
        out[#out + 1] = a
      end
    end
  end
  add(ctx.sender)
  for _, h in ipairs(SENDER_HEADERS) do
    for _, a in ipairs(msg:addresses(h)) do add(a) end
  end
  return out
end

-- Each candidate's memberships (role -> membership), one query each.
local function memberships(list, candidates)
  local held = {}
  for i, a in ipairs(candidates) do
    held[i] = list:memberships(a) or false
  end
  return held
end

-- The first membership in role among the candidates' memberships, or nil.
local function find_role(held, role)
  for _, h in ipairs(held) do
    if h and h[role] then return h[role] end
  end
  return nil
end

-- Approved: password header, or the mark of mlm-ctl approve (good for the
-- one message it was made for, once). Returns "password" or "moderator";
-- or nil and, for a mark of a post distributed already, the held id.
local function approval(ctx, list)
  local msg = ctx.message
  local password = list.approve_password
  if password ~= "" then
    for _, name in ipairs(APPROVED_HEADERS) do
      if msg:header(name) == password then
        return "password"
      end
    end
  end
  local mark = msg:header("X-Mlm-Approved")
  if mark then
    local id, why = list:approved(mark, ctx)
    if id then
      return "moderator"
    end
    log("info", ctx, "%s: X-Mlm-Approved mark not taken: %s", list.address,
      why)
    if why == "used" then
      return nil, mark:match("^%s*%S+%s+(%d+)")
    end
  end
  return nil
end

local function is_loop(ctx, list, a)
  local msg = ctx.message
  for _, v in ipairs(msg:headers("List-Id")) do
    if list_id_is(v, a.id_lower) then return true end
  end
  for _, v in ipairs(msg:headers("X-Loop")) do
    if x_loop_is(v, a.post_lower) then return true end
  end
  return false
end

local ADMINISTRIVIA = { subscribe = true, unsubscribe = true, help = true }

-- A subject that is a request command ("subscribe", "help me", ...).
local function administrivia(subject)
  local word, e = subject:sub(1, COMMAND_TEXT_MAX):lower():match("^%s*(%a+)()")
  return ADMINISTRIVIA[word] == true
    and (e > #subject or subject:find("^%s", e) ~= nil)
end

-- Send a notice to each moderator (or, without any, each owner) of list,
-- with the addresses that decide by reply (mlm_moderation); errors are
-- logged, never fatal: the post is safely stored whatever happens to the
-- notice.
local function notify_moderators(ctx, list, a, id, reason)
  local subject = ctx.message:header("Subject") or "(no subject)"
  local function notice(to)
    return common.template_mail(list, "held-notice", a.owner, to,
      moderation.action_vars(list, id, to, { subject = subject,
        sender = ctx.sender ~= "" and ctx.sender or "<>", reason = reason }),
      "auto-generated")
  end
  for _, to in ipairs(moderation.moderators(list)) do
    local ok, err = pcall(function()
      mlm.sendmail(a.bounces, to, notice(to))
    end)
    if not ok then
      log("warning", ctx, "could not notify %s of a post held by %s: %s", to,
        a.post, tostring(err))
    end
  end
end

-- Hold the post: stored and 250 (hold_mode queue), or stored and 450 until
-- a moderator decides (hold_mode defer; the sender's MTA retries).
local function hold(ctx, list, a, reason)
  if list.hold_mode == "defer" then
    -- A retry: same envelope sender, Message-ID, body and key headers.
    local held = list:held_retry(ctx)
    if held and held.state == "approved" then
      log("info", ctx, "%s: retry of approved held post %d", a.post, held.id)
      return nil -- go on and distribute (this retry only: it is claimed)
    elseif held and held.state == "distributed" then
      -- 250, not a bounce: an MTA retrying after a lost 250 is no sender
      -- of anything new, and the post did reach the members.
      log("info", ctx, "%s: retry of held post %d, distributed already: "
        .. "discarded as a duplicate", a.post, held.id)
      return mlm.discard()
    elseif held and held.state ~= "pending" then
      return mlm.reject("Your post to " .. a.post .. " was not approved by "
        .. "its moderators", "550", "5.7.1")
    elseif held then
      return mlm.tempfail("Your post to " .. a.post .. " is awaiting "
        .. "moderator approval", "450", "4.7.1")
    end
    local id = list:hold(ctx, reason)
    log("info", ctx, "%s: post held (%s) as %d, deferred", a.post, reason, id)
    notify_moderators(ctx, list, a, id, reason)
    return mlm.tempfail("Your post to " .. a.post .. " is awaiting moderator "
      .. "approval", "450", "4.7.1")
  end
  local id = list:hold(ctx, reason)
  log("info", ctx, "%s: post held (%s) as %d", a.post, reason, id)
  notify_moderators(ctx, list, a, id, reason)
  return mlm.discard()
end

-- The Subject with the prefix in front, or nil when it has it already
-- ("[dev] hi", not again on "Re: [dev] hi"). The prefix goes before the
-- original bytes, which are never decoded and encoded again: as an
-- encoded word of its own when it is not ASCII, holding the space when
-- an encoded word follows (whitespace between two encoded words is not
-- text).
local SUBJECT_MAX = 16000
local function prefixed_subject(ctx, prefix)
  local subject = ctx.message:header("Subject") or ""
  if subject:sub(1, COMMAND_TEXT_MAX + #prefix):find(prefix, 1, true) then
    return nil
  end
  local raw = ctx.message:raw_header("Subject") or ""
  if raw == "" then
    return mlm.encode_header(prefix)
  end
  if #raw > SUBJECT_MAX then
    return nil -- no header value may be that long: leave it as it came
  end
  if raw:find("[\0-\8\10-\31\127]") then
    -- control characters may not go into a header as they are: encoded
    return mlm.encode_header(prefix .. " " .. subject)
  end
  if not prefix:find("[\128-\255%c]") then
    return prefix .. " " .. raw
  end
  if raw:find("^=%?") then
    return mlm.encode_word(prefix .. " ") .. " " .. raw
  end
  return mlm.encode_word(prefix) .. " " .. raw
end

-- A post approved by a password or carrying an approval mark is never
-- wrapped: the attachment is the post byte for byte, and the password
-- would reach every member.
local function carries_approval(ctx)
  for _, name in ipairs(APPROVED_HEADERS) do
    if ctx.message:raw_header(name) then return true end
  end
  return ctx.message:raw_header("X-Mlm-Approved") ~= nil
end

-- The From addresses looked at for not-me-too: a From names one author,
-- rarely a few.
local OWN_COPY_FROM_MAX = 2

-- The members who sent this post (its envelope sender, or one of the first
-- OWN_COPY_FROM_MAX From addresses) and want no copy of their own posts
-- (not-me-too): their addresses as list:add_recipients skips them.
local function own_copies_skipped(ctx, list)
  local candidates = { ctx.sender }
  local from = ctx.message:addresses("From")
  for i = 1, math.min(#from, OWN_COPY_FROM_MAX) do
    -- mostly the envelope sender again: one query for both
    if from[i]:lower() ~= ctx.sender:lower() then
      candidates[#candidates + 1] = from[i]
    end
  end
  local skip = {}
  for _, addr in ipairs(candidates) do
    local m = addr ~= "" and list:member(addr)
    if m and m.not_me_too then skip[#skip + 1] = m.address end
  end
  return skip
end

local function distribute(ctx, list, a, rcpt)
  ctx:delete_recipient(rcpt)
  local n = list:add_recipients(ctx, own_copies_skipped(ctx, list))
  if list.archive_address ~= "" then
    ctx:add_recipient(list.archive_address)
  end
  ctx:change_sender(a.bounces)

  local prefix = list.subject_prefix
  if prefix ~= "" then
    local subject = prefixed_subject(ctx, prefix)
    if subject then
      ctx:set_header("Subject", subject)
    end
  end
  for _, name in ipairs(APPROVED_HEADERS) do ctx:delete_headers(name) end
  ctx:delete_headers("X-Mlm-Approved")
  dmarc.authentication_results(ctx, list)

  -- Our RFC 2369/2919 fields only: those of another list the post passed
  -- through go (List-Archive, Archived-At, ...), ours replace any others.
  for _, name in ipairs(FOREIGN_LIST_HEADERS) do ctx:delete_headers(name) end
  ctx:set_header("List-Id", a.id)
  -- RFC 2369 3.4: "NO" where the list takes no posts from members
  ctx:set_header("List-Post", list.posting == "announce" and "NO" or a.list_post)
  ctx:set_header("List-Help", a.list_help)
  ctx:set_header("List-Subscribe", a.list_subscribe)
  ctx:set_header("List-Unsubscribe", a.list_unsubscribe)
  ctx:set_header("List-Owner", a.list_owner)
  if list.list_archive ~= "" then
    ctx:set_header("List-Archive", "<" .. list.list_archive .. ">")
  else
    ctx:delete_headers("List-Archive")
  end
  ctx:set_header("Precedence", "list")
  ctx:add_header("X-Loop", a.post)
  if list.reply_to == "list" then
    ctx:set_header("Reply-To", a.post)
  end
  dmarc.mitigate(ctx, list, a, carries_approval(ctx))
  if list.footer ~= "" then
    ctx:add_footer({ text = list.footer })
  end
  log("info", ctx, "%s: post from %s distributed to %d members", a.post,
    ctx.sender ~= "" and ctx.sender or "<>", n)
  return mlm.continue()
end

-- Mailman 3's posting chain, with SMTP answers instead of bounces.
function M.post(ctx, list, rcpt)
  local a = addresses(list)
  local approved, duplicate = approval(ctx, list)
  if duplicate then
    log("info", ctx, "%s: approved post %s distributed already: discarded "
      .. "as a duplicate", a.post, duplicate)
    return mlm.discard()
  end

  if list.emergency == "yes" and not approved then
    return hold(ctx, list, a, "emergency hold") or distribute(ctx, list, a, rcpt)
  end
  if is_loop(ctx, list, a) then
    log("info", ctx, "%s: loop detected (List-Id or X-Loop): discarded", a.post)
    return mlm.discard()
  end
  local candidates = sender_addresses(ctx)
  for _, addr in ipairs(candidates) do
    if list:is_banned(addr) then
      return mlm.reject(addr .. " may not post to " .. a.post, "550", "5.7.1")
    end
  end
  local max = list.max_message_size
  if max > 0 and ctx.message.size > max then
    return mlm.reject(string.format("Message too big for %s (%d bytes, "
      .. "limit %d)", a.post, ctx.message.size, max), "552", "5.3.4")
  end
  if approved then
    return distribute(ctx, list, a, rcpt)
  end

  local roles = memberships(list, candidates)
  local member = find_role(roles, "member")
  local privileged = find_role(roles, "owner") or find_role(roles, "moderator")
  local refusal = dmarc.refusal(ctx, list, a, member or privileged)
  if refusal then return refusal end
  if list.posting == "announce" then
    if privileged then
      return distribute(ctx, list, a, rcpt)
    end
    return mlm.reject("Only the owners and moderators of " .. a.post
      .. " may post to it; contact " .. a.owner, "550", "5.7.1")
  end
  if not member and not privileged and list.posting ~= "open" then
    local accepted = false
    for _, addr in ipairs(candidates) do
      if list:accepts_nonmember(addr) then accepted = true end
    end
    local action = accepted and "accept" or list.nonmember_action
    if action == "reject" then
      return mlm.reject(string.format("%s is not a member of %s; to post, "
        .. "subscribe first or contact %s", candidates[1] or "<>", a.post,
        a.owner), "550", "5.7.1")
    elseif action == "discard" then
      log("info", ctx, "%s: non-member post from %s discarded", a.post,
        candidates[1] or "<>")
      return mlm.discard()
    elseif action == "hold" then
      return hold(ctx, list, a, "post from a non-member")
        or distribute(ctx, list, a, rcpt)
    end
  end
  if member and member.moderated then
    return hold(ctx, list, a, "post from a moderated member")
      or distribute(ctx, list, a, rcpt)
  end
  if administrivia(ctx.message:header("Subject") or "") then
    return mlm.reject("Send subscribe, unsubscribe and help requests to "
      .. a.request .. ", not to the list", "550", "5.7.1")
  end
  if list.posting == "moderated" then
    return hold(ctx, list, a, "the list is moderated")
      or distribute(ctx, list, a, rcpt)
  end
  return distribute(ctx, list, a, rcpt)
end

-- NAME-owner@: delivered to the owners.
function M.owner(ctx, list, rcpt)
  local a = addresses(list)
  local n = 0
  ctx:delete_recipient(rcpt)
  for m in list:members("owner") do
    ctx:add_recipient(m.address)
    n = n + 1
  end
  if n == 0 then
    return mlm.reject(a.post .. " has no owner to deliver to", "550", "5.1.1")
  end
  ctx:change_sender(a.bounces)
  ctx:add_header("X-Loop", a.owner)
  return mlm.continue()
end

-- NAME-bounces@ (mlm_list_bounces).
function M.bounces(ctx, list, rcpt, detail)
  return list_bounces.handle(ctx, list, addresses(list), rcpt, detail)
end

-- NAME-request@ (mlm_list_request).
function M.request(ctx, list, rcpt, detail)
  return list_request.handle(ctx, list, addresses(list), rcpt, detail)
end

function M.filter_message(ctx)
  local kind, list, rcpt, detail = list_target(ctx)
  if kind == "post" then
    return M.post(ctx, list, rcpt)
  elseif kind == "owner" then
    return M.owner(ctx, list, rcpt)
  elseif kind == "bounces" then
    return M.bounces(ctx, list, rcpt, detail)
  elseif kind == "request" then
    return M.request(ctx, list, rcpt, detail)
  end
  return mlm.continue()
end

return M
