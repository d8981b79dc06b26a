-- mlm_requests.lua - subscription requests held for the list's owners
-- (list setting subscription_policy moderate and confirm_then_moderate),
-- for the shipped list policy. The owners decide with
-- `mlm-ctl requests approve|reject ID`, which makes the member and tells
-- the subscriber.

local mlm = require "mlm"

local M = {}

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

-- The notice to one owner: one mail per request and owner.
local function notice(a, to, id, address)
  return table.concat({
    "From: " .. a.owner,
    "To: " .. to,
    "Subject: " .. mlm.encode_header(a.post
      .. " subscription request held for approval: " .. address),
    "Auto-Submitted: auto-generated",
    "Precedence: bulk",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    "A subscription request for " .. a.post .. " waits for the owners.",
    "",
    "  request id: " .. id,
    "  address:    " .. address,
    "",
    "Decide with:",
    "  mlm-ctl requests approve " .. id,
    "  mlm-ctl requests reject " .. id,
    "",
  }, "\r\n")
end

-- Hold the subscribe request of address (confirmed, or not needing it)
-- for list's owners (a: the list's addresses, log(level, fmt, ...)):
-- the owners get one notice per new request; a request already pending
-- is not held or announced again. The request's id and whether it is new.
function M.hold(list, a, address, log)
  address = stored_address(address)
  local added = mlm.db:exec("INSERT OR IGNORE INTO requests "
    .. "(list_id, address, received) VALUES (?, ?, strftime('%s', 'now'))",
    list.id, address)
  local id = pending(list, address)
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
    local ok, err = pcall(mlm.sendmail, a.bounces, m.address,
      notice(a, m.address, id, address))
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

return M
