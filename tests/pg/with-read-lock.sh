#!/usr/bin/env bash
# A policy's read that starts with WITH and changes no row is a read on
# PostgreSQL (driver_pg.c), as a plain SELECT is: it takes no writers'
# lock, so it does not wait behind an import (or any write transaction)
# of any host. Before the fix it ran in a transaction of its own under
# that lock.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
holder=
pg_test_cleanup() { [ -n "$holder" ] && kill "$holder" 2>/dev/null; }
pg_policy_test withread "$here/with-read-lock.lua"
printf 'From: a@example.net\nTo: dev@example.org\nSubject: r\n\nHi.\n' >"$tmp/post.eml"
# a writer of another host holds the writers' lock (7105645) for 20 s
[ -n "${NO_HOLD:-}" ] || pg_psql mlm "BEGIN; SELECT pg_advisory_xact_lock(7105645); SELECT pg_sleep(20); COMMIT" >/dev/null 2>&1 &
holder=$!
lock_held() {
    test "$(pg_psql mlm "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1
}
[ -n "${NO_HOLD:-}" ] || mlm_wait_until 10 lock_held
read_done() { # SENDER: whether its read answered within 5 s
    timeout 5 "$CTL_BIN" -C "$tmp/conf" try --from "$1" --to dev@example.org "$tmp/post.eml" 2>&1 | grep -q '^X-Read: 1'
}
t_check "a plain SELECT read answers while a writer holds the lock" read_done plain@example.net
t_check "a WITH ... SELECT read answers while a writer holds the lock" read_done with@example.net
t_done
