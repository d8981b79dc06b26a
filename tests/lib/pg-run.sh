#!/usr/bin/env bash
# tests/lib/pg-run.sh COMMAND... - runs COMMAND with the test suite on
# PostgreSQL: one private server for the whole run (tests/lib/postgres.sh),
# its PG_SOCKDIR, PG_PORT and PG_BIN exported with
# MLM_TEST_BACKEND=postgresql, so that every test's database is a fresh
# one on it (tests/lib/mlm.sh, mlm_db_new). The server is stopped and
# removed when COMMAND ends, whatever its result; COMMAND's status is the
# script's.
set -u
. "$(dirname "$0")/postgres.sh"
trap pg_cleanup EXIT
trap 'exit 130' INT TERM
pg_start || exit 1
MLM_TEST_BACKEND=postgresql
export MLM_TEST_BACKEND
echo "# PostgreSQL for the tests: $PG_BIN, socket $PG_SOCKDIR, port $PG_PORT"
"$@"
