-- tests/pg/policy-set-config-dynamic.lua - a policy's SELECT that spells
-- set_config in pieces and has PostgreSQL run it (query_to_xml): the text
-- check cannot see it; the setting reads 0 for the policy's own SQL, and
-- is the driver's again once a statement of mlm's own has run.
local mlm = require "mlm"

function filter_message(ctx)
  local before, after
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do before = r.v or r[1] end
  local ok = pcall(function()
    for _ in mlm.db:rows("SELECT query_to_xml('SELECT set_' || 'config(''statement_timeout'', ''0'', false)', false, false, '') AS v") do end
  end)
  ctx:add_header("X-Ran", ok and "ran" or "refused")
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do after = r.v or r[1] end
  -- a statement of mlm's own (a list lookup) restores the driver's
  -- settings first
  mlm.list("nolist-" .. tostring(os.time()) .. "@example.org")
  local restored
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do restored = r.v or r[1] end
  ctx:add_header("X-Timeout", tostring(before) .. " -> " .. tostring(after) .. " -> " .. tostring(restored))
  return mlm.continue()
end
