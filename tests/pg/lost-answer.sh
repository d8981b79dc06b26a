#!/usr/bin/env bash
# PostgreSQL commits a statement and the connection is lost before its
# answer arrives (tests/pg/cut-proxy.py cuts it there). The case that
# lost posts: an approved post (hold_mode defer) retried by its sender,
# whose claim of the distribution committed unseen. The claim carries the
# request's own mark, so the worker finds it its own and distributes the
# post; it must not take it for one distributed already and drop it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
tmp=$(mktemp -d /tmp/mlm-pglost.XXXXXX)
chmod 755 "$tmp"
proxy=
cleanup() {
    local st=$?
    [ -n "$proxy" ] && kill "$proxy" 2>/dev/null
    pg_cleanup
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
    exit "$st"
}
trap cleanup EXIT
pg_start || exit 1
uri=$(pg_createdb mlm) || exit 1
mkdir "$tmp/px"
chmod 777 "$tmp/px"
python3 "$here/cut-proxy.py" "$tmp/px/.s.PGSQL.$PG_PORT" \
    "$PG_SOCKDIR/.s.PGSQL.$PG_PORT" "$tmp/flag" "UPDATE held SET distributed_at" &
proxy=$!
mlm_wait_until 10 test -S "$tmp/px/.s.PGSQL.$PG_PORT"
conf() { # URI FILE
    printf 'database = %s\nuser =\npolicy = %s\nlua_path = %s\nsecret_file = %s\nsendmail = /bin/true\n' \
        "$1" "$top_srcdir/lua/policy.lua" "$top_srcdir/lua/lib" "$tmp/secret" >"$2"
}
conf "$uri" "$tmp/direct.conf"
conf "postgresql:///mlm?host=$tmp/px&port=$PG_PORT&user=mlm" "$tmp/proxy.conf"
ctl() { "$CTL_BIN" -C "$tmp/direct.conf" "$@"; }
ctl db migrate >/dev/null
L=dev@lists.example
ctl list create $L --owner owner@example.org >/dev/null
ctl member add $L alice@example.org >/dev/null
ctl list set $L nonmember_action hold >/dev/null
ctl list set $L hold_mode defer >/dev/null
printf 'From: w@example.net\nTo: %s\nSubject: hi\nMessage-ID: <m1@example.net>\n\nHello.\n' $L >"$tmp/post.eml"
try() { "$CTL_BIN" -C "$tmp/$1.conf" try --from w@example.net --to $L "$tmp/post.eml" 2>&1; }
out=$(try direct)
t_check "the post is held (450 under defer)" grep -q "^result: .*450" <<<"$out"
id=$(pg_psql mlm "SELECT id FROM held")
ctl held approve "$id" >/dev/null
touch "$tmp/flag"
out=$(try proxy)
t_check "the connection was cut after the claim was sent" test -f "$tmp/flag.cut"
t_check "the claim is in the database" \
    test "$(pg_psql mlm "SELECT distributed_at IS NOT NULL FROM held WHERE id = $id")" = t
t_check "the retry is distributed, not dropped ($(grep '^result' <<<"$out"))" \
    bash -c '! grep -q "discard" <<<"$1" && grep -q "^result: accept\|^result: .*deliver\|^result: 250\|^result: continue" <<<"$1"' _ "$out"
out=$(try direct)
t_check "a second retry is dropped as a duplicate ($(grep '^result' <<<"$out"))" \
    grep -q "discard" <<<"$out"
t_done
