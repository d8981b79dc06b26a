-- expand.lua - used by lists/expansion.sh: every post goes to the members
-- of cache@lists.test. A Subject "add ADDRESS" or "drop ADDRESS" first
-- changes the membership through the worker's own database connection.
local mlm = require "mlm"

function filter_message(ctx)
  local list = mlm.list("cache@lists.test")
  local verb, address = (ctx.message:header("Subject") or ""):match("^(%a+) (%S+)$")
  if verb == "add" then
    list:add_member(address)
  elseif verb == "drop" then
    list:remove_member(address)
  end
  list:add_recipients(ctx)
  return mlm.continue()
end
