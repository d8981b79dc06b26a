#!/usr/bin/env bash
# A policy's SQL cannot change the PostgreSQL session the driver owns by
# having PostgreSQL run a text it builds (query_to_xml) with set_config
# spelled in pieces: the statement timeout the driver sets stays.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test setcfgdyn "$here/policy-set-config-dynamic.lua"
out=$(ctl try --from a@example.net --to dev@example.org "$tmp/post.eml" 2>&1)
line=$(grep -E '^X-Timeout|^X-Ran|error' <<<"$out" | head -n 3 | tr '\n' ' ')
t_check "the policy ran ($line)" grep -q '^X-Timeout' <<<"$out"
t_check "a policy's SELECT cannot lift the driver's statement timeout through query_to_xml ($line)" \
    bash -c '! grep -q "^X-Timeout: .* -> 0$" <<<"$1"' _ "$out"
t_done
