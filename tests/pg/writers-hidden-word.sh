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
pg_psql mlm "CREATE TABLE site_cap (who TEXT NOT NULL)"
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
t_done
