-- expand.lua - used by lists/expansion.sh: every post goes to the members
-- of cache@lists.test. A Subject "add ADDRESS" or "drop ADDRESS" first
-- changes the membership through the worker's own database connection.
-- "set KEY VALUE" changes a setting the same way (SQL), "expect KEY VALUE"
-- refuses the post unless a new list object reads that setting as VALUE:
-- list settings a worker keeps must follow both connections.
local mlm = require "mlm"

function filter_message(ctx)
  local list = mlm.list("cache@lists.test")
  local subject = ctx.message:header("Subject") or ""
  local verb, address = subject:match("^(%a+) (%S+)$")
  local how, key, value = subject:match("^(%a+) ([%w_]+) (%S+)$")
  if how == "set" then
    mlm.db:exec("INSERT INTO settings (list_id, key, value) VALUES (?, ?, ?) "
      .. "ON CONFLICT (list_id, key) DO UPDATE SET value = excluded.value",
      list.id, key, value)
  end
  if how and tostring(mlm.list("cache@lists.test")[key]) ~= value then
    return mlm.reject(key .. " reads " .. tostring(list[key]))
  end
  if verb == "add" then
    list:add_member(address)
  elseif verb == "drop" then
    list:remove_member(address)
  end
  list:add_recipients(ctx)
  return mlm.continue()
end
