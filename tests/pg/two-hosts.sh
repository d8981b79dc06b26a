#!/usr/bin/env bash
# Two mail hosts on one PostgreSQL: two complete mlm instances (mlmd,
# multiplexor, workers) on a private PostgreSQL server decide the same.
# A member added through host A's mlm-ctl posts through host B; a
# non-member is refused with the same reply on both; a post held on B is
# approved with A's mlm-ctl, once; bounces for one member through both
# hosts score once a day; with PostgreSQL stopped every transaction gets
# 451 4.3.0, and when it is back both hosts serve again, unrestarted.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
CLIENT="python3 $top_srcdir/tests/milter/scripts/milter-client.py"
tmp=$(mktemp -d /tmp/mlm-pg2.XXXXXX)
chmod 755 "$tmp"
stop_b() { [ -n "${B_DIR:-}" ] || return 0
    (MLM_DIR=$B_DIR MLM_MUX_PID=$B_MUX MLM_MLMD_PID=$B_MLMD MLM_DNS_OWN=$B_DNS_OWN \
        DNS_PID=$B_DNS_PID; mlm_stop); }
cleanup() {
    local st=$? rc=0
    stop_b || rc=1
    mlm_stop || rc=1
    pg_cleanup
    rm -rf "$tmp"
    [ "$rc" = 0 ] || exit 1
    exit "$st"
}
trap cleanup EXIT

pg_start || exit 1
URI=$(pg_createdb mlm) || exit 1
SENT=$tmp/sent
mkdir -p "$SENT"
cp "$top_srcdir/tests/lib/fake-sendmail.sh" "$tmp/sendmail"
chmod 755 "$tmp/sendmail"
printf '#!/bin/sh\nFAKE_SENDMAIL_DIR=%s exec %s "$@"\n' "$SENT" "$tmp/sendmail" >"$tmp/sendmail-wrap"
chmod 755 "$tmp/sendmail-wrap"

# A fresh database is not migrated by a host: only by mlm-ctl db migrate.
printf 'database = %s\nuser =\n' "$URI" >"$tmp/ctl.conf"
out=$("$CTL_BIN" -C "$tmp/ctl.conf" lists 2>&1)
t_check "an unmigrated database is refused: $out" \
    grep -q "schema version 0, this mlm needs .*run mlm-ctl db migrate" <<<"$out"
out=$("$CTL_BIN" -C "$tmp/ctl.conf" db migrate 2>&1)
t_check "mlm-ctl db migrate: $out" \
    grep -qx "postgresql database at schema version [0-9]*" <<<"$out"
t_check "the schema is in PostgreSQL" \
    test "$(pg_psql mlm 'SELECT count(*) FROM lists')" = 0
out=$("$CTL_BIN" -C "$tmp/ctl.conf" db migrate 2>&1)
t_check "db migrate again changes nothing: $out" \
    grep -qx "postgresql database at schema version [0-9]*" <<<"$out"

common=("database = $URI" "sendmail = $tmp/sendmail-wrap")
mlm_start "$top_srcdir/lua/policy.lua" "${common[@]}" || exit 1
B_DIR=$MLM_DIR B_CONF=$MLM_CONF B_MILTER=$MLM_MILTER B_MUX=$MLM_MUX_PID
B_MLMD=$MLM_MLMD_PID B_DNS_OWN=${MLM_DNS_OWN:-} B_DNS_PID=${DNS_PID:-}
MLM_DNS_OWN= MLM_DNS_RESOLVER= DNS_PID=
mlm_start "$top_srcdir/lua/policy.lua" "${common[@]}" || exit 1
A_CONF=$MLM_CONF A_MILTER=$MLM_MILTER
ctl_a() { "$CTL_BIN" -C "$A_CONF" "$@"; }
ctl_b() { "$CTL_BIN" -C "$B_CONF" "$@"; }

L=team@lists.example
ctl_a list create $L --owner owner@example.org >/dev/null
ctl_a member add $L alice@example.org >/dev/null

# post SOCKET FROM [SUBJECT]: the milter's answers, one step a line.
post() {
    $CLIENT "$1" connect mx.example.net 192.0.2.7 helo mx.example.net \
        mail "<$2>" rcpt "<$L>" header From "$2" \
        header Subject "${3:-hello}" header Message-ID "<$RANDOM.$RANDOM@example.net>" \
        eoh body $'Hello.\r\n' eom quit 2>&1
}
out=$(post "$B_MILTER" alice@example.org)
t_check "a member added through A's mlm-ctl posts through B" \
    grep -q "^eom: addrcpt <alice@example.org>" <<<"$out"
t_check "... and B accepts it" grep -q "^eom.*: accept\|^eom: continue\|^eom:.*continue" <<<"$out"
# What B's workers keep in memory follows changes made through A.
ctl_a member add $L bob@example.org >/dev/null
out=$(post "$B_MILTER" alice@example.org)
t_check "a member added through A after B's last post gets B's next one" \
    grep -q "^eom: addrcpt <bob@example.org>" <<<"$out"
ctl_a member remove $L bob@example.org >/dev/null
out=$(post "$B_MILTER" alice@example.org)
t_check "... and a member removed through A does not" \
    bash -c '! grep -q "^eom: addrcpt <bob@example.org>" <<<"$1"' _ "$out"
# An import is one transaction: the change counter moves once for it, not
# once per address (a transaction rewriting the one row at each statement
# is quadratic), and B's next post has every imported member.
awk 'BEGIN { for (i = 1; i <= 2000; i++) printf "imported%d@example.org\n", i }' >"$tmp/import"
n0=$(pg_psql mlm "SELECT n FROM change_counter")
ctl_a member import $L "$tmp/import" >/dev/null
n1=$(pg_psql mlm "SELECT n FROM change_counter")
t_check "an import of 2000 addresses moves the change counter once ($n0 -> $n1)" \
    test "$((n1 - n0))" = 1
out=$(post "$B_MILTER" alice@example.org)
t_check "... and B's next post goes to all 2000" \
    test "$(grep -c "^eom: addrcpt <imported[0-9]*@example.org>" <<<"$out")" = 2000
pg_psql mlm "DELETE FROM members WHERE address LIKE 'imported%'" >/dev/null
out=$(post "$B_MILTER" alice@example.org)
t_check "... and, deleted in one statement, to none of them" \
    bash -c '! grep -q "^eom: addrcpt <imported" <<<"$1"' _ "$out"
ra=$(post "$A_MILTER" stranger@example.net | grep ': [45][0-9][0-9] ')
rb=$(post "$B_MILTER" stranger@example.net | grep ': [45][0-9][0-9] ')
t_check "a non-member is refused on A: $ra" grep -q ": 550 5\." <<<"$ra"
t_check "... and on B with the same reply" test "$ra" = "$rb"

# A post held on B, approved with A's mlm-ctl, distributed once.
ctl_a member set $L alice@example.org moderated yes >/dev/null
out=$(post "$B_MILTER" alice@example.org "held on B")
id=$(ctl_a held $L --json | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h[0]["id"] if h else "")')
t_check "a post held on B is pending in A's mlm-ctl (id $id)" test -n "$id"
out=$(ctl_a held approve "$id" 2>&1)
t_check "A's mlm-ctl approves it: $out" test $? = 0
mlm_wait_until 10 grep -lq "^Subject: held on B" "$SENT"/sent.* 2>/dev/null
n=$(grep -l "^Subject: held on B" "$SENT"/sent.* 2>/dev/null | wc -l)
t_check "it is re-injected once ($n)" test "$n" = 1
out=$(ctl_b held approve "$id" 2>&1)
t_check "B's mlm-ctl cannot approve it again: $out" grep -q "already" <<<"$out"

# A moderator's reply to the notice B's worker mailed is decided on A:
# marks and tokens are made with the secret both hosts share.
ctl_a member add $L mod@example.org --role moderator >/dev/null
post "$B_MILTER" alice@example.org "second held" >/dev/null
t_check "... held" test "$(pg_psql mlm "SELECT count(*) FROM held WHERE state = 'pending'")" = 1
id2=$(pg_psql mlm "SELECT max(id) FROM held")
mlm_wait_until 10 bash -c "grep -ls 'held id: $id2' '$SENT'/sent.* | xargs -r grep -lq '^To: mod@example.org'"
approve=$(grep -ls "held id: $id2" "$SENT"/sent.* | xargs -r grep -l '^To: mod@example.org' |
    xargs -r sed -n 's/^  approve *\([^ ]*@lists.example\).*/\1/p' | head -1 | tr -d '\r')
t_check "B mailed the moderator an approve address ($approve)" test -n "$approve"
out=$($CLIENT "$A_MILTER" connect mx.example.net 192.0.2.8 helo mx.example.net \
    mail "<mod@example.org>" rcpt "<$approve>" header From mod@example.org \
    header Subject "Re: held" eoh body $'ok\r\n' eom quit 2>&1)
held_state() { pg_psql mlm "SELECT state FROM held WHERE id = $1"; }
t_check "the reply through A approves the post B held (id $id2)" \
    mlm_wait_until 10 eval '[ "$(held_state $id2)" = approved ]'
ctl_a member set $L alice@example.org moderated no >/dev/null

# The same hard bounce for one member through A and through B scores once.
ctl_a member add $L gone@example.org >/dev/null
dsn() {
    $CLIENT "$1" connect mx.example.net 192.0.2.9 helo mx.example.net \
        mail "<>" rcpt "<team-bounces@lists.example>" \
        header From "Mail Delivery System <MAILER-DAEMON@example.org>" \
        header Subject "Undelivered Mail Returned to Sender" \
        header MIME-Version "1.0" \
        header Content-Type 'multipart/report; report-type=delivery-status; boundary="B"' \
        eoh body $'--B\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n--B--\r\n' \
        eom quit 2>&1
}
# at the same moment: the two hosts' transactions run one after the other
dsn "$A_MILTER" >"$tmp/dsn-a" &
dsn_a=$!
dsn "$B_MILTER" >"$tmp/dsn-b" &
wait "$dsn_a" $!
score=$(ctl_a bounces $L --members --json | python3 -c '
import json,sys
for m in json.load(sys.stdin):
    if m["address"] == "gone@example.org": print(m["score"])')
t_check "two bounces through A and B score once today (score $score)" test "$score" = 1
t_check "both were recorded" \
    test "$(pg_psql mlm "SELECT count(*) FROM bounces WHERE address = 'gone@example.org'")" = 2
t_check "... one of them scored" \
    test "$(pg_psql mlm "SELECT sum(scored) FROM bounces WHERE address = 'gone@example.org'")" = 1

# PostgreSQL stops: every transaction is refused for now, none accepted.
pg_stop
out_a=$(post "$A_MILTER" alice@example.org "while down")
out_b=$(post "$B_MILTER" alice@example.org "while down")
t_check "PostgreSQL down: A answers 451 4.3.0 ($(grep -m1 '451\|accept\|550' <<<"$out_a"))" \
    grep -q "451 4.3.0" <<<"$out_a"
t_check "PostgreSQL down: B answers 451 4.3.0" grep -q "451 4.3.0" <<<"$out_b"
t_check "... and neither accepted the post" \
    bash -c '! grep -q "^eom: addrcpt" <<<"$1$2"' _ "$out_a" "$out_b"
pg_start_again || exit 1
out=$(post "$A_MILTER" alice@example.org "after")
t_check "PostgreSQL back: A serves again without a restart" \
    grep -q "^eom: addrcpt <alice@example.org>" <<<"$out"
out=$(post "$B_MILTER" alice@example.org "after")
t_check "PostgreSQL back: B serves again without a restart" \
    grep -q "^eom: addrcpt <alice@example.org>" <<<"$out"

# PostgreSQL restarted while the workers were idle: their connections are
# dead without their knowing; the first read of the next request is sent
# again on a new connection, and the post is served.
pg_stop
pg_start_again || exit 1
out=$(post "$A_MILTER" alice@example.org "after a restart")
t_check "PostgreSQL restarted between posts: the next post is served at once" \
    grep -q "^eom: addrcpt <alice@example.org>" <<<"$out"

# A statement that waits on a lock is cut at the worker's statement
# timeout (a fifth of decision_timeout: 5 s), well before mlmd gives up:
# the post gets 451, and the next one is served.
"$PG_BIN/psql" -h "$PG_SOCKDIR" -p "$PG_PORT" -U mlm -d mlm -XAtq \
    -c "BEGIN; LOCK TABLE change_counter IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT" \
    >/dev/null 2>&1 &
locker=$!
locked() {
    [ "$(pg_psql mlm "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'change_counter'::regclass")" = 1 ]
}
mlm_wait_until 10 locked
start=$SECONDS
out=$(post "$A_MILTER" alice@example.org "locked")
took=$((SECONDS - start))
t_check "a post meeting a locked table gets 451 4.3.0 ($(grep -m1 -o '45[0-9] [0-9.]*' <<<"$out"))" \
    grep -q "451 4.3.0" <<<"$out"
t_check "... after the statement timeout, not mlmd's 25 s ($took s)" test "$took" -lt 20
t_check "... and the worker says why" grep -q "statement timeout" "$MLM_DIR"/*.log
wait "$locker"
out=$(post "$A_MILTER" alice@example.org "unlocked")
t_check "the lock gone, the next post is served" \
    grep -q "^eom: addrcpt <alice@example.org>" <<<"$out"
t_done
