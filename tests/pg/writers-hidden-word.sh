#!/usr/bin/env bash
# A policy's WITH ... INSERT whose words db/sqlscan.c reads as inside a
# dollar quote (a name like é$x$) still runs under the writers' lock
# on PostgreSQL: two requests at once that each count and insert add
# one row, not one each.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test writershw "$here/writers-hidden-word.lua"
pg_writers_race
t_done
