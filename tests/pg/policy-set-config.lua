-- tests/pg/policy-set-config.lua - a policy's SELECT that changes the
-- session as SET would (set_config), then reads the setting back.
local mlm = require "mlm"

function filter_message(ctx)
  local before, after
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do before = r.v or r[1] end
  for r in mlm.db:rows("SELECT set_config('statement_timeout', '0', false) AS v") do end
  for r in mlm.db:rows("SELECT current_setting('statement_timeout') AS v") do after = r.v or r[1] end
  ctx:add_header("X-Timeout", tostring(before) .. " -> " .. tostring(after))
  return mlm.continue()
end
