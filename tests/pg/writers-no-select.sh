#!/usr/bin/env bash
# A policy's statement that writes what it reads from other rows runs
# under the writers' lock on PostgreSQL also when it reads them without
# the word SELECT (TABLE t, UPDATE ... FROM, DELETE ... USING): two
# requests at once that each check and insert add one row, not one each.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test writersns "$here/writers-no-select.lua"
pg_writers_race
t_done
