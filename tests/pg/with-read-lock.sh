#!/usr/bin/env bash
# Defect repro (review of ad09d14..bf039fa): a policy's read that starts
# with WITH (a read-only query) is taken for a write holding a SELECT
# (driver_pg.c: is_read only for a leading SELECT, reads_rows for any
# SELECT word) and runs in a transaction of its own under the writers'
# lock: it waits behind an import (or any write transaction) of every
# host, where the same read written as a plain SELECT does not.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
tmp=$(mktemp -d /tmp/mlm-pgwithread.XXXXXX)
chmod 755 "$tmp"
holder=
cleanup() {
    local st=$?
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    pg_cleanup
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
    exit "$st"
}
trap cleanup EXIT
pg_start || exit 1
uri=$(pg_createdb mlm) || exit 1
printf 'database = %s\nuser =\npolicy = %s\nlua_path = %s\nsecret_file = %s\n' \
    "$uri" "$here/with-read-lock.lua" "$top_srcdir/lua/lib" "$tmp/secret" >"$tmp/conf"
ctl() { "$CTL_BIN" -C "$tmp/conf" "$@"; }
ctl db migrate >/dev/null
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
