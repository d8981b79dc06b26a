-- tests/pg/policy-set-config.lua - a policy's SELECT that changes the
-- session as SET would (set_config), then reads the setting back.
local mlm = require "mlm"

function filter_message(ctx)
  local before, after
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do before = r.v or r[1] end
  local refused = {}
  for _, sql in ipairs({
      "SELECT set_config('statement_timeout', '0', false) AS v",
      "SELECT pg_catalog.SET_CONFIG('statement_timeout', '0', false) AS v",
      "SELECT \"set_config\"('statement_timeout', '0', false) AS v",
      "SELECT U&\"\\0073et_config\"('statement_timeout', '0', false) AS v",
      "SELECT pg_advisory_lock(7105645)",
      "SELECT pg_try_advisory_xact_lock(1)"}) do
    local ok = pcall(function() for _ in mlm.db:rows(sql) do end end)
    refused[#refused + 1] = ok and "ran" or "refused"
  end
  ctx:add_header("X-Refused", table.concat(refused, " "))
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do after = r.v or r[1] end
  ctx:add_header("X-Timeout", tostring(before) .. " -> " .. tostring(after))
  return mlm.continue()
end
