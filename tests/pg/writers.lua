-- tests/pg/writers.lua - a policy statement that counts and inserts in
-- one (the shape of the shipped policy's cap on pending subscription
-- requests), slowed by pg_sleep between its start (its snapshot) and its
-- end: two at once must still add one row between them.
local mlm = require "mlm"

function filter_message(ctx)
  local n = mlm.db:exec("INSERT INTO site_cap (who) SELECT ? WHERE "
    .. "(SELECT count(*) FROM site_cap) < 1 AND "
    .. "CAST(pg_sleep(2) AS TEXT) = ''", ctx.sender)
  ctx:add_header("X-Cap", tostring(n))
  return mlm.continue()
end
