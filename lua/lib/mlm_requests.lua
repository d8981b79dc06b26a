-- mlm_requests.lua - subscription requests held for the list's owners
-- (list setting subscription_policy moderate and confirm_then_moderate),
-- for the shipped list policy. The owners decide by replying to the
-- notice (each owner's own NAME-request+approve-TOKEN@ and
-- +reject-TOKEN@ addresses: db.h, reqtoken_make; checked as moderation
-- replies are, mlm_moderation) or with `mlm-ctl requests approve|reject
-- ID`; either makes the member and tells the subscriber.

local mlm = require "mlm"
local common = require "mlm_list_common"

local M = {}

-- Requests a list keeps pending at most: past it a new one is not stored
-- nor announced to the owners (the subscriber is told to ask later), so
-- a flood of subscribe mails cannot flood the owners or the table.
M.PENDING_MAX = 100
-- Seconds after the owners rejected an address during which it cannot
-- ask again: its requests are neither stored nor announced (nor answered:
-- the rejection told it).
M.REJECT_COOLDOWN = 24 * 3600

-- An address as a request keeps it: the domain in lower case, without
-- trailing dots; one pending request a list and address, whatever the
-- case of its local part.
local function stored_address(address)
  local localpart, domain = address:match("^(.*)@([^@]*)$")
  if not localpart then return address end
  local last = #domain
  while last > 0 and domain:byte(last) == 46 do last = last - 1 end -- "."
  return localpart .. "@" .. domain:sub(1, last):lower()
end

-- The pending request of address on list: its id, or nil.
local function pending(list, address)
  for row in mlm.db:rows("SELECT id FROM requests WHERE list_id = ? AND "
      .. "lower(address) = lower(?) AND state = 'pending'", list.id,
      address) do
    return row.id
  end
end

-- The address owner replies to for action on request id.
local function action_address(list, id, action, owner)
  return list.name .. "-request+" .. action .. "-"
    .. list:request_token(id, action, owner) .. "@" .. list.domain
end

-- The notice to one owner: one mail per request and owner.
local function notice(list, a, to, id, address)
  return common.template_mail(list, "request-notice", a.owner, to, {
    id = id, address = address, owner_address = to,
    approve_address = action_address(list, id, "approve", to),
    reject_address = action_address(list, id, "reject", to),
  }, "auto-generated")
end

-- Whether the owners rejected address on list within REJECT_COOLDOWN.
local function rejected_lately(list, address)
  for _ in mlm.db:rows("SELECT 1 FROM requests WHERE list_id = ? AND "
      .. "lower(address) = lower(?) AND state = 'rejected' AND "
      .. "decided_at > ?", list.id, address,
      os.time() - M.REJECT_COOLDOWN) do
    return true
  end
  return false
end

-- Hold the subscribe request of address (confirmed, or not needing it)
-- for list's owners (a: the list's addresses, log(level, fmt, ...)):
-- the owners get one notice per new request; a request already pending
-- is not held or announced again. The request's id and whether it is
-- new; nil, false and why when it is not held: "cooldown" (rejected
-- lately) or "full" (PENDING_MAX requests pending, younger than the
-- list's held_expire days).
function M.hold(list, a, address, log)
  address = stored_address(address)
  if rejected_lately(list, address) then
    log("info", "%s: subscription request of %s not held: rejected less "
      .. "than %d hours ago", a.post, address, M.REJECT_COOLDOWN // 3600)
    return nil, false, "cooldown"
  end
  -- One statement: the count and the insert cannot be split by another
  -- worker's request (a writing statement runs alone, on PostgreSQL
  -- under the writers' lock of every host). Only requests younger than
  -- held_expire days count (their notices' reply addresses still work):
  -- forged requests fill the cap for that long at most.
  local live = (tonumber(list.held_expire) or 14) * 24 * 3600
  local now = os.time()
  local added = mlm.db:exec("INSERT INTO requests "
    .. "(list_id, address, received) SELECT ?1, ?2, ?5 "
    .. "WHERE (SELECT count(*) FROM requests WHERE list_id = ?1 AND "
    .. "state = 'pending' AND received > ?4) < ?3 ON CONFLICT DO NOTHING",
    list.id, address, M.PENDING_MAX, now - live, now)
  local id = pending(list, address)
  if added == 0 and not id then
    log("warning", "%s: subscription request of %s not held: %d requests "
      .. "pending already", a.post, address, M.PENDING_MAX)
    return nil, false, "full"
  end
  if added == 0 then
    log("info", "%s: a subscription request of %s is already pending (%s)",
      a.post, address, tostring(id))
    return id, false
  end
  log("info", "%s: subscription request %d of %s held for the owners",
    a.post, id, address)
  local owners = 0
  for m in list:members("owner") do
    owners = owners + 1
    local ok, err = pcall(function()
      mlm.sendmail(a.bounces, m.address, notice(list, a, m.address, id,
        address))
    end)
    if not ok then
      log("warning", "could not notify %s of subscription request %d: %s",
        m.address, id, tostring(err))
    end
  end
  if owners == 0 then
    log("warning", "%s has no owner to decide subscription request %d",
      a.post, id)
  end
  return id, true
end

-- One mail of list's template name from NAME-request@ to address (the
-- sender NAME-bounces@); a failure is logged, the decision stands.
local function tell(list, a, to, name, vars, log)
  local ok, err = pcall(mlm.sendmail, a.bounces, to,
    common.template_mail(list, name, a.request, to, vars, "auto-replied"))
  if not ok then
    log("warning", "%s: %s not sent: %s", a.post, name, tostring(err))
  end
end

-- An owner's reply to NAME-request+ACTION-TOKEN@ for a subscription
-- request (mlm_moderation checked robots and that From is the envelope
-- sender): decides it as mlm-ctl requests approve|reject does, tells the
-- subscriber and the other owners. Returns true when decided, else
-- false and why ("invalid", "expired", "used", "not a moderator",
-- "banned").
function M.reply(ctx, list, a, action, token, log)
  local r, why = list:decide_request(action, token, ctx.sender)
  if not r then return false, why end
  log("info", "%s: subscription request %d of %s %s by %s (by mail)%s",
    a.post, r.id, r.address, r.state, r.decided_by,
    (r.state == "approved" and not r.added) and ", a member already" or "")
  tell(list, a, { r.address }, r.state == "approved" and "welcome"
    or "request-rejected", nil, log)
  local owners = {}
  for m in list:members("owner") do owners[#owners + 1] = m.address end
  if #owners > 0 then
    tell(list, a, owners, "request-decided", { id = r.id,
      address = r.address, state = r.state, decided_by = r.decided_by,
      via = common.fragment(list, "via-mail") }, log)
  end
  return true
end

return M
