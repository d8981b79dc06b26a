#!/usr/bin/env bash
# PostgreSQL commits a statement and the connection is lost before its
# answer arrives (tests/pg/cut-proxy.py cuts it there). The case that
# lost posts: an approved post (hold_mode defer) retried by its sender,
# whose claim of the distribution committed unseen. The claim carries the
# request's own token, so the worker finds it its own and distributes the
# post; it must not take it for one distributed already and drop it.
# When reading the token back fails too (a second loss), the request
# fails (451) and undoes its claim at its end, so the MTA's retry
# distributes the post. When even the undo is lost (the worker gone),
# the retry of the same message takes the claim over once it is older
# than twice request_timeout; two such retries at once distribute once.
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
    "$PG_SOCKDIR/.s.PGSQL.$PG_PORT" "$tmp/flag" &
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
# the statements the proxy cuts (driver_pg.c sends them as written in
# db/statements.h, ?N as $N)
CLAIM='UPDATE held SET distributed_at = CAST'
READ_BACK='SELECT claimed_by FROM held'
UNDO='UPDATE held SET distributed_at = NULL'
cut() { printf '%s\n' "$@" >"$tmp/flag"; }
cuts() { cat "$tmp/flag.cut" 2>/dev/null || echo 0; }
# post N: a message of its own, held (450 under defer) and approved
post() {
    printf 'From: w@example.net\nTo: %s\nSubject: hi %s\nMessage-ID: <m%s@example.net>\n\nHello.\n' \
        $L "$1" "$1" >"$tmp/post$1.eml"
}
try() { # CONF N
    "$CTL_BIN" -C "$tmp/$1.conf" try --from w@example.net --to $L "$tmp/post$2.eml" 2>&1
}
distributed() { ! grep -q "discard" <<<"$1" && grep -q "^result: accept\|^result: .*deliver\|^result: 250\|^result: continue" <<<"$1"; }
hold_approve() { # N: post N held, then approved; its held id in $id
    local out
    post "$1"
    out=$(try direct "$1")
    t_check "post $1 is held (450 under defer)" grep -q "^result: .*450" <<<"$out"
    id=$(pg_psql mlm "SELECT max(id) FROM held")
    ctl held approve "$id" >/dev/null
}
claimed() { pg_psql mlm "SELECT distributed_at IS NOT NULL FROM held WHERE id = $1"; }
# the sender's MTA retries minutes later: the claim is that much older
later() { pg_psql mlm "UPDATE held SET distributed_at = distributed_at - 3600 WHERE id = $1"; }

# One loss: the claim's answer.
hold_approve 1
cut "$CLAIM"
# then_duplicate N: post N's next retry is a duplicate, dropped.
then_duplicate() {
    local out
    out=$(try direct "$1")
    t_check "post $1: a retry after that is a duplicate ($(grep '^result' <<<"$out"))" \
        grep -q "discard" <<<"$out"
}
out=$(try proxy 1)
t_check "the connection was cut after the claim was sent" test "$(cuts)" = 1
t_check "the claim is in the database" test "$(claimed "$id")" = t
t_check "the retry is distributed, not dropped ($(grep '^result' <<<"$out"))" \
    distributed "$out"
then_duplicate 1

# Two losses: the claim's answer and the read-back's (sent twice: a read
# is sent again once on a new connection).
hold_approve 2
cut "$CLAIM" "$READ_BACK" "$READ_BACK"
out=$(try proxy 2)
t_check "the claim and both read-backs were cut" test "$(cuts)" = 4
t_check "the request failed, not distributed ($(grep '^result' <<<"$out"))" \
    bash -c '! grep -q "discard" <<<"$1" && grep -q "^result: .*451\|^result: .*fail\|^result: tempfail" <<<"$1"' _ "$out"
t_check "its claim was undone at its end" test "$(claimed "$id")" = f
out=$(try direct 2)
t_check "the MTA's retry is distributed ($(grep '^result' <<<"$out"))" \
    distributed "$out"
then_duplicate 2

# Two losses and no undo (the worker gone before it could send it).
hold_approve 3
cut "$CLAIM" "$READ_BACK" "$READ_BACK" "drop:$UNDO"
out=$(try proxy 3)
t_check "the claim and the read-backs were cut, the undo dropped" test "$(cuts)" = 8
t_check "the claim stands (its fate unknown to anyone)" test "$(claimed "$id")" = t
later "$id"
# The MTA's retry minutes later takes the stale claim over; two copies at
# once (two MX hosts): one distributes, the other is a duplicate.
try direct 3 >"$tmp/a.out" &
a=$!
try direct 3 >"$tmp/b.out"
wait $a
n=0
for f in "$tmp/a.out" "$tmp/b.out"; do distributed "$(cat "$f")" && n=$((n + 1)); done
t_check "retries minutes later take the claim over: one distributes ($n), the other is discarded" \
    bash -c '[ "$1" = 1 ] && cat "$2" "$3" | grep -q discard' _ "$n" "$tmp/a.out" "$tmp/b.out"
# The distribution confirmed its claim: a copy after it, however late (an
# MTA that lost the 250), is a duplicate.
later "$id"
then_duplicate 3
t_done
