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

local mlm = require "mlm"
local bounce = require "mlm_bounce"
local bounce_digest = require "mlm_bounce_digest"
local bounce_probe = require "mlm_bounce_probe"
local moderation = require "mlm_moderation"
local requests = require "mlm_requests"

local M = {}

local APPROVED_HEADERS = { "Approved", "Approve", "X-Approved", "X-Approve" }
-- RFC 2369, 2919 and 5064 fields the list does not set itself: an
-- incoming post's are another list's and go.
local FOREIGN_LIST_HEADERS = { "Archived-At", "List-Unsubscribe-Post" }

-- The posting, owner, request and bounces addresses of a list. A list's
-- name and domain never change, so each list's set is made once per
-- worker (at most ADDRESSES_KEPT lists are remembered); callers share the
-- table and must not change it.
local ADDRESSES_KEPT = 1000
local addresses_of, addresses_kept = {}, 0

local function addresses(list)
  local key = list.address
  local a = addresses_of[key]
  if a then return a end
  local name, domain = list.name, list.domain
  local post, request = name .. "@" .. domain, name .. "-request@" .. domain
  a = {
    post = post,
    owner = name .. "-owner@" .. domain,
    request = request,
    bounces = name .. "-bounces@" .. domain,
    id = "<" .. name .. "." .. domain .. ">",
    -- the RFC 2369 header values, the same for every post
    list_post = "<mailto:" .. post .. ">",
    list_help = "<mailto:" .. request .. "?subject=help>",
    list_subscribe = "<mailto:" .. request .. "?subject=subscribe>",
    list_unsubscribe = "<mailto:" .. request .. "?subject=unsubscribe>",
    list_owner = "<mailto:" .. name .. "-owner@" .. domain .. ">",
  }
  a.id_lower, a.post_lower = a.id:lower(), a.post:lower()
  if addresses_kept >= ADDRESSES_KEPT then
    addresses_of, addresses_kept = {}, 0
  end
  addresses_of[key], addresses_kept = a, addresses_kept + 1
  return a
end
M.addresses = addresses

local function log(level, ctx, fmt, ...)
  mlm.log(level, string.format("%s: " .. fmt, ctx.qid or "NOQUEUE", ...))
end

-- ------------------------------------------------------- remote text ---
--
-- Lua's pattern matcher is C code: the instruction limit does not stop it,
-- and an unanchored pattern that can backtrack (such as "%s+$") is
-- quadratic in a run of what it matches. So every pattern the shipped
-- policy runs on text from the mail is anchored or cannot backtrack, and
-- runs on an input cut to a bound first: each costs time linear in at most
-- the bound. These helpers are M.text, for tests and for policies.

-- Bytes of a header (Subject) or of a body that are searched for a request
-- command or a subject prefix; a command and its token are a few words.
local COMMAND_TEXT_MAX = 1000
-- Bytes of the first text/plain part read for the first non-blank line.
local BODY_SCAN_MAX = 4096

-- s without leading and trailing white space, in linear time: each
-- find("%S") tries one character at each position.
local function trim(s)
  local first = s:find("%S")
  if not first then return "" end
  return s:sub(first, #s + 1 - s:reverse():find("%S"))
end

-- The first non-blank line of text (its first BODY_SCAN_MAX bytes),
-- trimmed and cut to COMMAND_TEXT_MAX bytes, or "".
local function first_line(text)
  for line in text:sub(1, BODY_SCAN_MAX):gmatch("[^\r\n]+") do
    line = trim(line)
    if line ~= "" then return line:sub(1, COMMAND_TEXT_MAX) end
  end
  return ""
end

local TOKEN_LENGTH = 32 -- hex digits of a confirmation token

-- The token of the first "confirm TOKEN" in text, or nil. A plain find of
-- "confirm", then one anchored match after it: no two attempts scan the
-- same characters.
local function confirm_token(text)
  text = text:sub(1, COMMAND_TEXT_MAX):lower()
  local init = 1
  while true do
    local _, e = text:find("confirm", init, true)
    if not e then return nil end
    local token = text:match("^%s+(%x+)", e + 1)
    if token and #token == TOKEN_LENGTH then return token end
    init = e + 1
  end
end

local REPLY_PREFIXES = { re = true, aw = true, sv = true, fw = true,
  fwd = true, antw = true, wg = true, tr = true, vs = true }

-- The first word of text, lower-case, after "Re:" and the like; or nil.
local function first_word(text)
  text = text:sub(1, COMMAND_TEXT_MAX):lower()
  local pos = 1
  for _ = 1, 10 do
    local word, e = text:match("^%s*(%a+)()", pos)
    if not word then return nil end
    if not (REPLY_PREFIXES[word] and text:find("^:", e)) then
      return word
    end
    pos = e + 1
  end
  return nil
end

-- Whether the List-Id value names the list whose id (lower-case) is id.
local function list_id_is(value, id)
  return value:sub(1, COMMAND_TEXT_MAX):lower():find(id, 1, true) ~= nil
end

-- Whether an X-Loop value is the address (lower-case) as a whole: trimmed,
-- one pair of <> removed, compared case-insensitively.
local function x_loop_is(value, address)
  if #value > COMMAND_TEXT_MAX then return false end
  value = trim(value):lower()
  if value:sub(1, 1) == "<" and value:sub(-1) == ">" then
    value = trim(value:sub(2, -2))
  end
  return value == address
end

M.text = {
  trim = trim,
  first_line = first_line,
  confirm_token = confirm_token,
  first_word = first_word,
  list_id_is = list_id_is,
  x_loop_is = x_loop_is,
  COMMAND_TEXT_MAX = COMMAND_TEXT_MAX,
  BODY_SCAN_MAX = BODY_SCAN_MAX,
}

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
    return table.concat({
      "From: " .. a.owner,
      "To: " .. to,
      "Subject: " .. mlm.encode_header(a.post .. " post held for approval: "
        .. subject),
      "Auto-Submitted: auto-generated",
      "Precedence: bulk",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=UTF-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "A post to " .. a.post .. " is held for approval.",
      "",
      "  held id: " .. id,
      "  sender:  " .. (ctx.sender ~= "" and ctx.sender or "<>"),
      "  reason:  " .. reason,
      "",
      table.concat(moderation.action_lines(list, id, to), "\r\n"),
      "",
    }, "\r\n")
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

-- One Authentication-Results header (RFC 8601) with ctx.auth's results,
-- after removing those that claim our authserv-id (forged or from an
-- earlier pass). Only when the list checks senders: with "off" no lookup.
local function authentication_results(ctx, list)
  if list.sender_authentication == "off" then return end
  local auth = ctx.auth
  local ours = auth.authserv_id:lower()
  local values = ctx.message:headers("Authentication-Results")
  for i = #values, 1, -1 do
    local id = values[i]:match("^%s*([^%s;]+)")
    if id and id:lower() == ours then
      ctx:delete_header("Authentication-Results", i)
    end
  end
  ctx:add_header("Authentication-Results", auth.results)
end

-- ------------------------------------------------- DMARC mitigation ---
--
-- A list that changes a post (subject prefix, footer) breaks the author's
-- DKIM signature, and its own IP is not in the author's SPF record: a post
-- from a domain publishing DMARC p=reject or p=quarantine would fail DMARC
-- at every receiver. So, as Mailman 3 does, such a post goes out From the
-- list itself (dmarc_mitigation = munge_from), the author named in the
-- display name and put in Reply-To (or in Cc when reply_to = list, so that
-- "reply" still goes to the list and "reply all" to the author too).

-- Bytes of the author's display name kept in the munged From.
local DISPLAY_NAME_MAX = 200
-- Longest Reply-To or Cc value the author is added to; a longer one (no
-- person writes one) is left as it came.
local ADDRESS_HEADER_MAX = 8000

-- Whether the post must be made DMARC-safe (dmarc_mitigate).
local function needs_mitigation(ctx, list)
  if list.dmarc_mitigation == "none" then return false end
  if list.dmarc_mitigate == "always" then return true end
  local auth = ctx.auth
  -- Unsure (DNS could not tell, or no one From domain to ask about, as
  -- for a From too long for the check to read): safe rather than refused
  -- by receivers that read it their own way.
  return auth.policy == "reject" or auth.policy == "quarantine"
    or auth.dmarc == "temperror" or auth.dmarc == "permerror"
end

-- text cut to at most max bytes, never inside a UTF-8 character.
local function utf8_cut(text, max)
  if #text <= max then return text end
  local cut = max
  while cut > 0 and text:byte(cut + 1) >= 0x80 and text:byte(cut + 1) < 0xC0 do
    cut = cut - 1
  end
  return text:sub(1, cut)
end

-- A display name as an RFC 5322 phrase: a quoted string when it is
-- printable ASCII (quotes and backslashes escaped), else RFC 2047 encoded
-- words. Control characters (CR, LF, ...) become spaces first.
local function phrase(name)
  name = trim(name:gsub("%c", " "))
  if not name:find("[\128-\255]") then
    return '"' .. name:gsub('[\\"]', "\\%0") .. '"'
  end
  return mlm.encode_word(name)
end

-- The author of the post: the one From address and its display name
-- (decoded, "" when there is none); for a From with no or several
-- addresses, the envelope sender and no name (as Mailman 3 does).
local function author(ctx)
  local msg = ctx.message
  local from = msg:addresses("From")
  if #from ~= 1 then
    return ctx.sender ~= "" and ctx.sender or nil, ""
  end
  local value = (msg:header("From") or ""):sub(1, COMMAND_TEXT_MAX)
  local name = ""
  local last = value:reverse():find("<", 1, true)
  if last then
    name = trim(value:sub(1, #value - last))
    if #name >= 2 and name:sub(1, 1) == '"' and name:sub(-1) == '"' then
      name = name:sub(2, -2):gsub("\\(.)", "%1")
    end
  end
  return from[1], name
end

-- The author as a mailbox for Reply-To or Cc, or nil when the address
-- cannot go into a header as it is.
local function author_mailbox(address, name)
  if address:find("[%c<>]") then return nil end
  if name == "" then return address end
  return phrase(name) .. " <" .. address .. ">"
end

-- The value of header name with mailbox added, or nil when address is in
-- it already (or the value is too long to touch).
local function with_mailbox(ctx, name, address, mailbox)
  local raw = ctx.message:raw_header(name)
  if not raw or trim(raw) == "" then return mailbox end
  if #raw > ADDRESS_HEADER_MAX then return nil end
  -- a control byte would make the new field unwritable: the author alone
  if raw:find("%c") then return mailbox end
  local key = address:lower()
  for _, a in ipairs(ctx.message:addresses(name)) do
    if a:lower() == key then return nil end
  end
  return trim(raw) .. ", " .. mailbox
end

-- dmarc_mitigation = munge_from: From "NAME via LIST" <LIST@DOMAIN>, the
-- author in Reply-To (reply_to = none) or in Cc (reply_to = list: the
-- list stays in Reply-To).
local function munge_from(ctx, list, a)
  local address, author_name = author(ctx)
  if not address then return end
  local name = author_name
  if name == "" then
    -- the name the member was subscribed with, as Mailman 3 takes
    local m = list:member(address)
    name = m and m.name or ""
  end
  if name == "" then
    name = address:match("^(.*)@") or address
  end
  -- no second domain in From (spam filters count them): "bob@ex.org" -> "bob"
  name = utf8_cut(name:gsub("@[%w%.%-]+", ""), DISPLAY_NAME_MAX)
  if trim(name) == "" then name = address:match("^(.*)@") or address end
  ctx:set_header("From", phrase(name .. " via " .. list.name) .. " <"
    .. a.post .. ">")
  local mailbox = author_mailbox(address,
    utf8_cut(author_name, DISPLAY_NAME_MAX))
  if not mailbox then return end
  local field = list.reply_to == "list" and "Cc" or "Reply-To"
  local value = with_mailbox(ctx, field, address, mailbox)
  if value then ctx:set_header(field, value) end
end

-- Fields of the author's that would be wrong on the wrapper (they stay in
-- the attached post).
local WRAPPER_DROPS = { "DKIM-Signature", "ARC-Seal", "ARC-Message-Signature",
  "ARC-Authentication-Results", "Sender" }

-- dmarc_mitigation = wrap: the headers as for munge_from, and the post
-- attached unchanged to a short text (with the footer) from the list.
local function wrap(ctx, list, a)
  local address = author(ctx) or "the author"
  for _, name in ipairs(WRAPPER_DROPS) do ctx:delete_headers(name) end
  ctx:wrap_message({ text = "The post of " .. address .. " to " .. a.post
    .. "\nis attached as its author sent it, so that the members' mail"
    .. "\nproviders accept it (DMARC).\n\n" })
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

local function mitigate(ctx, list, a)
  if not needs_mitigation(ctx, list) then return end
  munge_from(ctx, list, a)
  if list.dmarc_mitigation == "wrap" and not carries_approval(ctx) then
    wrap(ctx, list, a)
  end
  log("info", ctx, "%s: post from %s made DMARC-safe (%s)", a.post,
    ctx.sender ~= "" and ctx.sender or "<>", list.dmarc_mitigation)
end

local function distribute(ctx, list, a, rcpt)
  ctx:delete_recipient(rcpt)
  local n = list:add_recipients(ctx)
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
  authentication_results(ctx, list)

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
  mitigate(ctx, list, a)
  if list.footer ~= "" then
    ctx:add_footer({ text = list.footer })
  end
  log("info", ctx, "%s: post from %s distributed to %d members", a.post,
    ctx.sender ~= "" and ctx.sender or "<>", n)
  return mlm.continue()
end

-- sender_authentication: the refusal of a post that fails DMARC for a
-- From domain asking for reject or quarantine, or (require) of a member
-- post whose From is not authenticated by an aligned DKIM or SPF pass;
-- 451 4.7.5 when DNS could not tell. nil: go on.
-- The bytes of From (as message:raw_header gives it) the DMARC check
-- reads: a longer From is permerror there (AUTH_FROM_MAX in auth/auth.h,
-- the same number) and refused here.
local FROM_CHECKED_MAX = 4000

local function authentication_refusal(ctx, list, a, is_member)
  local mode = list.sender_authentication
  if mode == "off" then return nil end
  local auth = ctx.auth
  local domain = auth.from_domain or "the From domain"
  if auth.dmarc == "temperror" then
    return mlm.tempfail("Cannot check the DMARC policy of " .. domain
      .. " now; try again later", "451", "4.7.5")
  end
  local from = ctx.message:raw_header("From")
  local from_addresses = ctx.message:addresses("From")
  if from and (#from > FROM_CHECKED_MAX or #from_addresses > 1
      or (auth.dmarc == "permerror" and from_addresses[1]
          and from_addresses[1]:find("@[^@]+$"))) then
    -- several addresses, a field longer than the check reads, or a
    -- domain the check could not take (no A-label form): DMARC cannot
    -- vouch for what members are shown, a forger's way past it (RFC 7489
    -- 6.6.1 lets receivers refuse). A From with no domain ("foo", "<>")
    -- or none at all claims no one's: it goes on.
    log("info", ctx, "%s: post from %s names no single From address",
      a.post, ctx.sender ~= "" and ctx.sender or "<>")
    return mlm.reject("The From header of this post does not name one "
      .. "address that DMARC can check", "550", "5.7.26")
  end
  if auth.dmarc == "fail" and (auth.policy == "reject"
      or auth.policy == "quarantine") then
    log("info", ctx, "%s: post from %s fails %s's DMARC policy (%s)", a.post,
      ctx.sender ~= "" and ctx.sender or "<>", domain, auth.policy)
    return mlm.reject("The From address of this post is not authenticated "
      .. "by " .. domain .. " (DMARC p=" .. auth.policy .. ")", "550", "5.7.26")
  end
  if mode == "require" and is_member and not auth.aligned then
    if auth.dkim == "temperror" or auth.spf == "temperror" then
      return mlm.tempfail("Cannot authenticate the From address of this post "
        .. "now; try again later", "451", "4.7.5")
    end
    log("info", ctx, "%s: member post from %s not authenticated", a.post,
      ctx.sender ~= "" and ctx.sender or "<>")
    return mlm.reject("The From address of this post is not authenticated "
      .. "by " .. domain .. " (no aligned DKIM or SPF pass); " .. a.post
      .. " requires it", "550", "5.7.26")
  end
  return nil
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
  local refusal = authentication_refusal(ctx, list, a, member or privileged)
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

-- Tell a member whose delivery bounces just disabled, and the owners, so
-- that forged reports cannot switch members off unnoticed (as Mailman 3
-- does). One notice each per member disabled; errors are logged only.
local function notify_disabled(ctx, list, a, address, status)
  status = status:sub(1, 16) -- from the report: a few digits and dots
  local owners = {}
  for m in list:members("owner") do owners[#owners + 1] = m.address end
  local notices = {
    { to = { address }, subject = "Your delivery from " .. a.post
        .. " is disabled", lines = {
      "Mail from " .. a.post .. " to " .. address .. " bounced (" .. status
        .. ") too often, so the list stopped sending to you.",
      "",
      "If you still want the list's mail, write to the owners at "
        .. a.owner .. " to have your delivery enabled again." } },
    { to = owners, subject = a.post .. ": delivery to " .. address
        .. " disabled by bounces", lines = {
      "Delivery to the member " .. address .. " was disabled: its bounce",
      "score reached bounce_threshold (last status " .. status .. ").",
      "The member was told. If the reports were not genuine, enable it with:",
      "",
      "  mlm-ctl member set " .. a.post .. " " .. address
        .. " delivery enabled" } },
  }
  for _, n in ipairs(notices) do
    if #n.to > 0 then
      local text = table.concat({
        "From: " .. a.owner,
        "To: " .. table.concat(n.to, ", "),
        "Subject: " .. mlm.encode_header(n.subject),
        "Auto-Submitted: auto-generated",
        "Precedence: bulk",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        table.concat(n.lines, "\r\n"),
        "",
      }, "\r\n")
      local ok, err = pcall(mlm.sendmail, a.bounces, n.to, text)
      if not ok then
        log("warning", ctx, "%s: could not tell %s of the disabled delivery "
          .. "of %s: %s", a.post, table.concat(n.to, ", "), address,
          tostring(err))
      end
    end
  end
end

-- VERP (the Postfix recipe in examples/): a copy to USER@DOMAIN went out
-- from NAME-bounces+USER=DOMAIN@, so a report that comes back there is
-- about that member, whatever address it names (a member who forwards
-- elsewhere): the report's worst recipient stands for the member alone,
-- the address it named kept as final (scored instead when USER@DOMAIN is
-- no member). Any other detail, or a report naming nobody: as it is.
local function verp_member(detail, r)
  local user, domain = (detail or ""):match("^(.+)=([^=@]+)$")
  if not user or user:find("@", 1, true) or #r.recipients == 0 then
    return r.recipients
  end
  local member = user .. "@" .. domain
  for _, x in ipairs(r.recipients) do
    if x.verdict == r.verdict then
      local named = x.address:lower() ~= member:lower() and x.address or nil
      return { { address = member, final = named or x.final,
        status = x.status, action = x.action, verdict = x.verdict,
        diagnostic = x.diagnostic } }
    end
  end
  return r.recipients
end

-- NAME-bounces@: bounces score the members (mlm_bounce reads them). Only
-- permanent failures score; 5.7.x refusals are recorded unscored; delays,
-- delivery successes, auto-replies and complaints are logged and dropped;
-- mail that is none of these reaches the owners in an hourly digest with
-- the null sender (mlm_bounce_digest), never silently lost. A member at
-- bounce_threshold gets a probe (mlm_bounce_probe); a failure or an
-- unreadable mail to NAME-bounces+probe-TOKEN@ disables that member.
-- Mail to NAME-bounces+USER=DOMAIN@ (VERP, see verp_member) is about the
-- member USER@DOMAIN.
function M.bounces(ctx, list, rcpt, detail)
  local a = addresses(list)
  local ok, r = pcall(bounce.parse, ctx.message)
  if not ok then
    -- a parser error must not bounce the bounce: kept for the owners
    log("warning", ctx, "%s: the bounce reader failed: %s", a.post,
      tostring(r))
    r = { format = "none", verdict = "none", recipients = {} }
  end
  local token = bounce_probe.token_of(rcpt)
  if token and (r.verdict == "failure" or r.verdict == "none") then
    local address, disabled = list:probe_bounced(token)
    if disabled then
      local first = r.recipients[1]
      local status = first and first.status ~= "" and first.status or "probe"
      notify_disabled(ctx, list, a, address, status)
    end
    if address then
      log("info", ctx, "%s: the probe to %s bounced (%s)%s", a.post, address,
        r.format, disabled and ", delivery disabled" or "")
      return mlm.discard()
    end
  end
  if r.verdict == "none" then
    local sent, noted = bounce_digest.add(ctx, list, a)
    log("info", ctx, "%s: mail to %s is not a bounce mlm understands: %s%s",
      a.post, a.bounces, noted and "kept for the owners' digest"
        or "not kept (the owners' digest is full)",
      sent > 0 and string.format("; digest of %d sent to the owners", sent)
        or "")
    return mlm.discard()
  end
  r.recipients = verp_member(detail, r)
  for _, x in ipairs(r.recipients) do
    if bounce.RECORDED[x.verdict] then
      local address = x.address
      local status = x.status ~= "" and x.status or x.verdict
      local score, disabled, probe = list:record_bounce(address, status,
        x.diagnostic)
      if not score and x.final then
        address = x.final
        score, disabled, probe = list:record_bounce(address, status,
          x.diagnostic)
      end
      if disabled then notify_disabled(ctx, list, a, address, status) end
      if score then
        log("info", ctx, "%s: bounce %s (%s, %s) for %s, score %d%s%s",
          a.post, x.status, x.verdict, r.format, address, score,
          disabled and ", delivery disabled" or "",
          r.envid and (", post=" .. r.envid) or "")
      end
      if probe then
        local ok, err = pcall(bounce_probe.send, list, a, address)
        log(ok and "info" or "warning", ctx, "%s: probe to %s %s", a.post,
          address, ok and "sent" or ("not sent: " .. tostring(err)))
      end
    else
      log("info", ctx, "%s: %s report (%s) for %s: not scored", a.post,
        x.verdict, r.format, x.address)
    end
  end
  if #r.recipients == 0 then
    log("info", ctx, "%s: %s to %s: not scored", a.post, r.verdict, a.bounces)
  end
  return mlm.discard()
end

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
function M.request(ctx, list, rcpt, detail)
  local a = addresses(list)
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
