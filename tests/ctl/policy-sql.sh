#!/usr/bin/env bash
# A policy's own SQL (mlm.db) gives the same answers on SQLite and, when
# PostgreSQL's binaries are installed, on a private PostgreSQL: parameters
# (? and ?N, a ? inside a quoted string left alone), integers past 2^53,
# floats, booleans, NULL, UTF-8 text, 8-bit text that is not UTF-8,
# count(*) as an integer; more
# arguments than parameters and a missing table are errors. Only one
# SELECT, INSERT, UPDATE, DELETE, WITH or CREATE TABLE/INDEX statement is
# taken, the same on both (SET, BEGIN, COMMIT, DEALLOCATE, PREPARE,
# LISTEN, COPY, PRAGMA, ATTACH, VACUUM and a second statement are refused;
# CREATE, ALTER and DROP of the policy's own tables and indexes are not).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
tmp=$(mktemp -d /tmp/mlm-policysql.XXXXXX)
cleanup() { local st=$?; pg_cleanup; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"; exit "$st"; }
trap cleanup EXIT
printf 'From: a@example.net\nTo: dev@example.org\nSubject: sql\n\nHi.\n' >"$tmp/post.eml"

# run DATABASE: the X-Sql headers the policy added, one a line.
run() {
    printf 'database = %s\nuser =\npolicy = %s\nlua_path = %s\nsecret_file = %s\n' \
        "$1" "$here/policy-sql.lua" "$top_srcdir/lua/lib" "$tmp/secret" >"$tmp/conf"
    "$CTL_BIN" -C "$tmp/conf" try --from a@example.net --to dev@example.org \
        "$tmp/post.eml" 2>&1 | sed -n 's/^X-Sql-[0-9]*: //p'
}
expected='1
1
integer|1|a@example.net|integer|9007199254740993|2.5|1|nil
integer|2|café '"'quoted'"' ?|integer|3|nil|nil|nil
count integer 1
extra false bind 2
missing false
nul false 1
latin1 1
sum integer 9007199254740996
quoted it'"'"'s ? x
hundred 5050
adjacent false
ident dollar
ident else
refused 1 false true
refused 2 false true
refused 3 false true
refused 4 false true
refused 5 false true
refused 6 false true
refused 7 false true
refused 8 false true
refused 9 false true
refused 10 false true
refused 11 false true
refused 12 false true
refused 13 false true
refused 14 false true
allowed ; 2 true true true'
got=$(run "$tmp/mlm.db")
t_check "SQLite: the policy's SQL answers as expected" test "$got" = "$expected"
[ "$got" = "$expected" ] || diff <(echo "$expected") <(echo "$got")
if [ -x "$PG_BIN/initdb" ]; then
    pg_start || exit 1
    uri=$(pg_createdb mlm) || exit 1
    printf 'database = %s\nuser =\n' "$uri" >"$tmp/ctl.conf"
    "$CTL_BIN" -C "$tmp/ctl.conf" db migrate >/dev/null
    got=$(run "$uri")
    t_check "PostgreSQL: the same answers" test "$got" = "$expected"
    [ "$got" = "$expected" ] || diff <(echo "$expected") <(echo "$got")
else
    echo "# skipped: PostgreSQL's binaries are not installed (Debian package postgresql)"
fi
t_done
