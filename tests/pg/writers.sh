#!/usr/bin/env bash
# A policy's statement that writes runs under the lock of mlm's writers
# on PostgreSQL, as every statement does on SQLite: two requests on
# different workers (or hosts) that each count and insert in one
# statement (tests/pg/writers.lua; the shipped cap on pending
# subscription requests has that shape) add one row, not one each.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test writers "$here/writers.lua"
pg_writers_race
t_check "... added by one of them" test "$pg_race_caps" = "X-Cap: 0 X-Cap: 1 "
t_done
