-- tests/pg/with-read-lock.lua - a policy that only reads, with a WITH
-- query (and, for comparison, the same read as a plain SELECT).
local mlm = require "mlm"

function filter_message(ctx)
  local sql = ctx.sender == "with@example.net"
    and "WITH x AS (SELECT 1 AS n) SELECT n FROM x"
    or "SELECT n FROM (SELECT 1 AS n) AS x"
  local n = 0
  for row in mlm.db:rows(sql) do n = n + 1 end
  ctx:add_header("X-Read", tostring(n))
  return mlm.continue()
end
