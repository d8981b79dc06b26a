#!/usr/bin/env bash
# A policy's SQL cannot change the PostgreSQL session the driver owns by
# a function either: set_config (in any spelling: schema-qualified, upper
# case, quoted, U& escaped) and the advisory locks are refused
# (db/sqlscan.c), so the statement timeout the driver sets on each
# connection stays. Before the fix a SELECT set_config(...) lifted it for
# every later statement of the connection, mlm's own included.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test setcfg "$here/policy-set-config.lua"
out=$(ctl try --from a@example.net --to dev@example.org "$tmp/post.eml" 2>&1)
line=$(grep -E '^X-Timeout|error' <<<"$out" | head -n 3 | tr '\n' ' ')
t_check "the policy ran ($line)" grep -q '^X-Timeout' <<<"$out"
t_check "a policy's SELECT cannot lift the driver's statement timeout ($line)" \
    bash -c '! grep -q "^X-Timeout: .* -> 0$" <<<"$1"' _ "$out"
t_check "set_config (any spelling) and advisory locks are refused ($(grep '^X-Refused' <<<"$out"))" \
    grep -q '^X-Refused: refused refused refused refused refused refused$' <<<"$out"
t_done
