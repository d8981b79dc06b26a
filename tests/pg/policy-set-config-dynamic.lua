-- tests/pg/policy-set-config-dynamic.lua - a policy's SELECT that spells
-- set_config in pieces and has PostgreSQL run it (query_to_xml), then
-- reads the setting back.
local mlm = require "mlm"

function filter_message(ctx)
  local before, after
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do before = r.v or r[1] end
  local ok = pcall(function()
    for _ in mlm.db:rows("SELECT query_to_xml('SELECT set_' || 'config(''statement_timeout'', ''0'', false)', false, false, '') AS v") do end
  end)
  ctx:add_header("X-Ran", ok and "ran" or "refused")
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do after = r.v or r[1] end
  ctx:add_header("X-Timeout", tostring(before) .. " -> " .. tostring(after))
  return mlm.continue()
end
