-- mlm_dmarc.lua - sender authentication in the shipped list policy: the
-- Authentication-Results header of a distributed post, the refusal of a
-- post that fails DMARC or (sender_authentication = require) is not
-- authenticated, and the DMARC mitigation of what goes out.

local mlm = require "mlm"
local common = require "mlm_list_common"
local text = require "mlm_text"

local log, trim, utf8_cut = common.log, text.trim, text.utf8_cut
local COMMAND_TEXT_MAX = text.COMMAND_TEXT_MAX

local M = {}

-- One Authentication-Results header (RFC 8601) with ctx.auth's results,
-- after removing those that claim our authserv-id (forged or from an
-- earlier pass). Only when the list checks senders: with "off" no lookup.
function M.authentication_results(ctx, list)
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

-- Make the post DMARC-safe when the list says so; approved: it carries a
-- password or an approval mark (then munged, never wrapped).
function M.mitigate(ctx, list, a, approved)
  if not needs_mitigation(ctx, list) then return end
  munge_from(ctx, list, a)
  if list.dmarc_mitigation == "wrap" and not approved then
    wrap(ctx, list, a)
  end
  log("info", ctx, "%s: post from %s made DMARC-safe (%s)", a.post,
    ctx.sender ~= "" and ctx.sender or "<>", list.dmarc_mitigation)
end

-- sender_authentication: the refusal of a post that fails DMARC for a
-- From domain asking for reject or quarantine, or (require) of a member
-- post whose From is not authenticated by an aligned DKIM or SPF pass;
-- 451 4.7.5 when DNS could not tell. nil: go on.
-- The bytes of From (as message:raw_header gives it) the DMARC check
-- reads: a longer From is permerror there (AUTH_FROM_MAX in auth/auth.h,
-- the same number) and refused here.
local FROM_CHECKED_MAX = 4000

function M.refusal(ctx, list, a, is_member)
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

return M
