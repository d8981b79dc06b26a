-- tests/pg/writers-no-select.lua - a policy statement that reads other
-- rows and inserts in one without the word SELECT (a TABLE subquery),
-- slowed by pg_sleep: two at once must still add one row between them.
local mlm = require "mlm"

function filter_message(ctx)
  local ok, n = pcall(function()
    return mlm.db:exec("INSERT INTO site_cap (who) VALUES (CASE WHEN "
      .. "CAST(pg_sleep(2) AS TEXT) = '' AND NOT EXISTS (TABLE site_cap) "
      .. "THEN ? ELSE NULL END)", ctx.sender)
  end)
  ctx:add_header("X-Cap", ok and tostring(n) or "0")
  return mlm.continue()
end
