#!/usr/bin/env bash
# A policy's SQL can change the PostgreSQL session by having PostgreSQL
# run a text it builds (query_to_xml, set_config spelled in pieces), which
# no check of the text can see; but mlm's own statements run under the
# driver's settings: the first one after a policy's statement restores
# them (driver_pg.c, session_setup). The policy reads the timeout before,
# after the call, and after a list lookup of mlm's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test setcfgdyn "$here/policy-set-config-dynamic.lua"
out=$(ctl try --from a@example.net --to dev@example.org "$tmp/post.eml" 2>&1)
line=$(grep -E '^X-Timeout|^X-Ran|error' <<<"$out" | head -n 3 | tr '\n' ' ')
t_check "the policy ran ($line)" grep -q '^X-Timeout' <<<"$out"
t_check "the next statement of mlm's own runs under the driver's statement timeout again ($line)" \
    grep -q "^X-Timeout: 5s -> 0 -> 5s$" <<<"$out"
t_done
