-- tests/pg/writers-hidden-word.lua - a policy statement that counts and
-- inserts in one, led by a WITH whose name ends in $x$ after a letter
-- beyond ASCII (an identifier to PostgreSQL, the start of a dollar quote
-- to db/sqlscan.c), slowed by pg_sleep: two at once must still add one
-- row between them.
local mlm = require "mlm"

function filter_message(ctx)
  local n = mlm.db:exec("WITH é$x$ AS (SELECT 1) INSERT INTO site_cap (who) "
    .. "SELECT 'w' WHERE (SELECT count(*) FROM site_cap) < 1 AND "
    .. "CAST(pg_sleep(2) AS TEXT) = '' -- $x$")
  ctx:add_header("X-Cap", tostring(n))
  return mlm.continue()
end
