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
pg_psql mlm "CREATE TABLE site_cap (who TEXT)"
printf 'From: a@example.net\nTo: dev@example.org\nSubject: cap\n\nHi.\n' >"$tmp/post.eml"
try() { ctl try --from "$1" --to dev@example.org "$tmp/post.eml" >"$tmp/$2.out" 2>&1; }
try a@example.net a &
pa=$!
try b@example.net b &
pb=$!
wait $pa
wait $pb
t_check "both requests ran ($(grep -h '^X-Cap' "$tmp/a.out" "$tmp/b.out" | tr '\n' ' '))" \
    test "$(grep -h '^X-Cap' "$tmp/a.out" "$tmp/b.out" | wc -l)" = 2
t_check "one row between them ($(pg_psql mlm 'SELECT count(*) FROM site_cap'))" \
    test "$(pg_psql mlm 'SELECT count(*) FROM site_cap')" = 1
t_check "... added by one of them" \
    test "$(grep -h '^X-Cap' "$tmp/a.out" "$tmp/b.out" | sort | tr '\n' ' ')" = "X-Cap: 0 X-Cap: 1 "
t_done
