#!/usr/bin/env bash
# Two mail hosts on one PostgreSQL, end to end: hosts A and B each run a
# private Postfix with its own complete mlm (mlmd on TCP, multiplexor,
# workers) as its milter, delivering to its own smtp-sink; both mlm use one
# database on a private PostgreSQL server. A member added through A's
# mlm-ctl posts through B, and B's Postfix delivers the post to the
# members; a non-member gets the same refusal at SMTP from both; a post
# held on B is approved with A's mlm-ctl and delivered once; DSNs for one
# member through both hosts score once. PostgreSQL stopped while posts
# stream into both: every transaction is either delivered or answered 4xx
# (451 4.3.0), none accepted and lost; PostgreSQL back, both serve again
# without a restart.
#
# Needs root, Postfix, swaks and smtp-sink (exit 77 without them).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
. "$here/../lib/postgres.sh"
pf_available || exit 77
[ -x "$PG_BIN/initdb" ] || exit 77

tmp=$(mktemp -d /tmp/mlm-pgpf.XXXXXX)
chmod 755 "$tmp"

# Each host's daemons are named by the globals of tests/lib/mlm.sh and
# tests/lib/postfix.sh; "on A" and "on B" switch between the two sets.
HOST_VARS="MLM_DIR MLM_CONF MLM_MILTER MLM_MUX_PID MLM_MLMD_PID
    MLM_MLMD_INET_PID MLM_PORT MLM_MILTER_INET MLM_DNS_OWN MLM_DNS_RESOLVER
    DNS_PID DNS_RESOLVER DNS_PORT PF_DIR PF_CONF PF_QUEUE PF_LOG PF_PORT
    SINK_DIR SINK_PORT SINK_PID PF_MASTER_PID PF_SMTPD_SERVICE"
HOST=
on() { # A|B
    local v
    if [ -n "$HOST" ]; then
        for v in $HOST_VARS; do eval "${HOST}_$v=\${$v:-}"; done
    fi
    HOST=$1
    for v in $HOST_VARS; do eval "$v=\${${HOST}_$v:-}"; done
}

# within SECONDS COMMAND...: runs COMMAND until it succeeds, 1 when it has
# not after SECONDS of wall time (a generous bound, not a delay). Not
# mlm_wait_until: that counts tries, and a try here (mlm-ctl and python, a
# scan of both sinks) takes up to a second.
within() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

LOAD_PID=
cleanup() {
    local st=$? rc=0 h
    if [ -n "$LOAD_PID" ]; then
        touch "$tmp/stop"
        kill "$LOAD_PID" 2>/dev/null
        wait "$LOAD_PID" 2>/dev/null
    fi
    for h in A B; do
        on $h
        pf_stop
        mlm_stop || rc=1
    done
    pg_cleanup
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
    [ "$rc" = 0 ] || exit 1
    exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_start || exit 1
URI=$(pg_createdb mlm) || exit 1
printf 'database = %s\nuser =\n' "$URI" >"$tmp/ctl.conf"
"$CTL_BIN" -C "$tmp/ctl.conf" db migrate >/dev/null || exit 1

# start_host NAME DATABASE: mlm, then its Postfix; mail mlm sends (an
# approved post, notices) is submitted to that host's Postfix.
start_host() {
    on "$1"
    mkdir -p "$tmp/inject-$1"
    pf_sendmail_script "$tmp/inject-$1"
    mlm_start "$top_srcdir/lua/policy.lua" "database = $2" \
        "sendmail = $tmp/inject-$1/sendmail" || return 1
    mlm_start_inet || { mlm_log; return 1; }
    PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || return 1
    pf_start || return 1
    echo "$PF_PORT" >"$tmp/inject-$1/port"
}
start_host A "$URI" || exit 1
# PG_SECOND_DB=1 puts host B on a database of its own: the checks of
# shared state must then fail (a check of the test itself).
if [ -n "${PG_SECOND_DB:-}" ]; then
    URI_B=$(pg_createdb mlm_b) || exit 1
    printf 'database = %s\nuser =\n' "$URI_B" >"$tmp/ctl-b.conf"
    "$CTL_BIN" -C "$tmp/ctl-b.conf" db migrate >/dev/null || exit 1
else
    URI_B=$URI
fi
start_host B "$URI_B" || exit 1
ctl_a() { (on A; mlm_ctl "$@"); }
ctl_b() { (on B; mlm_ctl "$@"); }

L=team@lists.example
ctl_a list create $L --owner owner@example.org >/dev/null
ctl_a member add $L alice@example.org >/dev/null

# send HOST FROM SUBJECT [SWAKS-ARGS...]: a post to the list through HOST's
# Postfix; REPLY is the server's last reply (before QUIT's 221).
send() {
    local h=$1 from=$2 subject=$3
    shift 3
    on "$h"
    pf_send --from "$from" --to $L --header "From: $from" \
        --header "Subject: $subject" --body "A post." "$@"
    REPLY=$(sed -n 's/^<[-~*]* *//p' "$PF_SEND_LOG" | grep -v '^221 ' | tail -1)
}
# deliveries HOST...: "HOST RCPT SUBJECT" for each recipient of each
# complete delivery in those hosts' sinks.
deliveries() {
    local h
    for h in "$@"; do
        (on "$h"
         pf_sink_files | xargs -r awk -v h="$h" '
            function flush(i) { for (i = 1; i <= n; i++) print h, r[i], s
                                n = 0; s = ""; got = 0 }
            FNR == 1 && NR > 1 { flush() }
            /^X-Rcpt-Args: / { a = $2; gsub(/^<|>$/, "", a); r[++n] = a; next }
            !got && /^Subject: / { s = substr($0, 10); sub(/\r$/, "", s); got = 1 }
            END { if (NR) flush() }')
    done
}
# delivered SUBJECT-ERE: "HOST RCPT" of the deliveries of a post, sorted.
delivered() {
    deliveries A B | awk -v e="^(\\\\[team\\\\] )?($1)\$" '{
        h = $1; r = $2; $1 = ""; $2 = ""; sub(/^  /, "")
        if ($0 ~ e) print h, r }' | sort | tr '\n' ' '
}
settle() { # both queues and outboxes empty
    local h rc=0
    for h in A B; do on $h; pf_wait_queue_empty 120 >/dev/null || rc=1; done
    return $rc
}

# --- a member added through A posts through B, delivered through B --------
send B alice@example.org "first through B"
t_check "alice posts through B: 250 ($REPLY)" grep -q '^250 ' <<<"$REPLY"
within 60 eval '[ -n "$(delivered "first through B")" ]'
t_check "... expanded by B to the members (got: $(delivered "first through B"))" \
    test "$(delivered "first through B")" = "B alice@example.org "
send B bob@example.org "bob before"
t_check "bob, no member yet, is refused by B: $REPLY" grep -q '^550 5\.7\.1 ' <<<"$REPLY"
ctl_a member add $L bob@example.org >/dev/null
send B bob@example.org "bob after"
t_check "bob, added through A's mlm-ctl, posts through B: 250 ($REPLY)" \
    grep -q '^250 ' <<<"$REPLY"
within 60 eval '[ "$(delivered "bob after")" = "B alice@example.org B bob@example.org " ]'
t_check "B's Postfix delivers bob's post to the members (got: $(delivered "bob after"))" \
    test "$(delivered "bob after")" = "B alice@example.org B bob@example.org "

# --- a non-member: the same refusal at SMTP on both ---------------------------
send A stranger@example.net "from a stranger"
ra=$REPLY
send B stranger@example.net "from a stranger"
rb=$REPLY
t_check "a non-member is refused by A's Postfix: $ra" grep -q '^550 5\.7\.1 ' <<<"$ra"
t_check "... and by B's, with the same code and text: $rb" test "$ra" = "$rb"

# --- a post held on B, approved with A's mlm-ctl, delivered once --------------
ctl_a member set $L alice@example.org moderated yes >/dev/null
send B alice@example.org "held on B"
t_check "a moderated member's post through B: 250 ($REPLY)" grep -q '^250 ' <<<"$REPLY"
held_id() { ctl_a held $L --json | python3 -c '
import json, sys
print(" ".join(str(h["id"]) for h in json.load(sys.stdin) if h.get("state", "pending") == "pending"))'; }
within 30 eval '[ -n "$(held_id)" ]'
id=$(held_id)
t_check "it is pending in A's mlm-ctl (id $id)" grep -qx '[0-9][0-9]*' <<<"$id"
settle
t_check "... and not delivered while held (got: $(delivered "held on B"))" \
    test -z "$(delivered "held on B")"
out=$(ctl_a held approve "${id:-0}" 2>&1)
t_check "A's mlm-ctl approves it: $out" test $? = 0
within 60 eval '[ -n "$(delivered "held on B")" ]'
settle
out=$(ctl_b held approve "${id:-0}" 2>&1)
t_check "B's mlm-ctl cannot approve it again: $out" grep -q "already" <<<"$out"
settle
got=$(delivered "held on B" | sed 's/[AB] //g')
t_check "the approved post reaches each member once (got: $got)" \
    test "$got" = "alice@example.org bob@example.org "
ctl_a member set $L alice@example.org moderated no >/dev/null

# --- DSNs for one member through both hosts score once -------------------------
ctl_a member add $L gone@example.org >/dev/null
printf '%s\r\n' "From: Mail Delivery System <MAILER-DAEMON@example.org>" \
    "To: team-bounces@lists.example" \
    "Subject: Undelivered Mail Returned to Sender" "MIME-Version: 1.0" \
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"' \
    "" "--B" "Content-Type: text/plain" "" "Failed." "--B" \
    "Content-Type: message/delivery-status" "" "Reporting-MTA: dns; mx.example.org" \
    "" "Final-Recipient: rfc822; gone@example.org" "Action: failed" "Status: 5.1.1" \
    "Diagnostic-Code: smtp; 550 5.1.1 no such user" "" "--B--" >"$tmp/dsn"
for h in A B; do
    on $h
    pf_send --from '<>' --to team-bounces@lists.example --data "$tmp/dsn"
    t_check "a DSN for gone@ through $h: 250" pf_replied '^250 '
done
bounces() { pg_psql mlm "SELECT count(*) FROM bounces WHERE address = 'gone@example.org'"; }
t_check "both DSNs are recorded in the one database" within 60 eval '[ "$(bounces)" = 2 ]'
score() { "$@" bounces $L --members --json | python3 -c '
import json, sys
print(" ".join(str(m["score"]) for m in json.load(sys.stdin) if m["address"] == "gone@example.org"))'; }
t_check "... and score once, by A's mlm-ctl (score $(score ctl_a))" test "$(score ctl_a)" = 1
t_check "... and by B's (score $(score ctl_b))" test "$(score ctl_b)" = 1
settle
t_check "neither DSN was delivered" \
    test -z "$(delivered "Undelivered Mail Returned to Sender")"
ctl_a member remove $L gone@example.org >/dev/null

# --- PostgreSQL stopped while posts stream into both Postfix ------------------
LOAD=$tmp/load
on A; port_a=$PF_PORT
on B; port_b=$PF_PORT
python3 "$here/smtp-load.py" --out "$LOAD" --stop "$tmp/stop" --sessions 3 \
    --from alice@example.org --to $L "A:$port_a" "B:$port_b" &
LOAD_PID=$!
# count HOST CODE-ERE: transactions of HOST whose last reply matches
count() { touch "$LOAD"; awk -v h="^load-$1-" -v c="^($2)\$" '$1 ~ h && $3 ~ c' "$LOAD" | wc -l; }
within 120 eval '[ "$(count A 250)" -ge 10 ] && [ "$(count B 250)" -ge 10 ]'
t_check "posts stream into both hosts ($(count A 250) and $(count B 250) accepted)" \
    test "$(count A 250)" -ge 10 -a "$(count B 250)" -ge 10
pg_stop
within 120 eval '[ "$(count A "4..")" -ge 5 ] && [ "$(count B "4..")" -ge 5 ]'
t_check "PostgreSQL stopped: both hosts answer 4xx ($(count A '4..') and $(count B '4..'))" \
    test "$(count A '4..')" -ge 5 -a "$(count B '4..')" -ge 5
pg_start_again || exit 1
na=$(count A 250) nb=$(count B 250)
within 120 eval '[ "$(count A 250)" -ge $((na + 5)) ] && [ "$(count B 250)" -ge $((nb + 5)) ]'
t_check "PostgreSQL back: both hosts accept posts again, unrestarted ($na -> $(count A 250), $nb -> $(count B 250))" \
    test "$(count A 250)" -ge $((na + 5)) -a "$(count B 250)" -ge $((nb + 5))
touch "$tmp/stop"
wait "$LOAD_PID"
LOAD_PID=
t_check "every post was delivered (sinks empty queues)" settle
total=$(wc -l <"$LOAD")
awk '$3 == 250 { print $1 }' "$LOAD" | sort >"$tmp/accepted"
awk '$3 ~ /^4/ { print $1 }' "$LOAD" | sort >"$tmp/tempfailed"
deliveries A B | awk '$NF ~ /^load-/ { print $NF, $2 }' |
    sort >"$tmp/delivered-rcpts"
cut -d' ' -f1 "$tmp/delivered-rcpts" | sort -u >"$tmp/delivered"
echo "# $total transactions: $(wc -l <"$tmp/accepted") accepted, $(wc -l <"$tmp/tempfailed") 4xx, $(wc -l <"$tmp/delivered") delivered"
echo "# replies (step, code): $(awk '{ print $2, $3, ($3 == 250 ? "" : $4) }' "$LOAD" |
    sort | uniq -c | tr -s ' \n' ' ')"
t_check "every transaction got 250 or 4xx (others: $(awk '$3 != 250 && $3 !~ /^4/' "$LOAD" | head -3))" \
    test -z "$(awk '$3 != 250 && $3 !~ /^4/' "$LOAD")"
t_check "the 4xx are 451 4.3.0 (others: $(awk '$3 ~ /^4/ && $4 != "4.3.0"' "$LOAD" | head -3))" \
    test -z "$(awk '$3 ~ /^4/ && !($3 == 451 && $4 == "4.3.0")' "$LOAD")"
lost=$(comm -23 "$tmp/accepted" "$tmp/delivered" | tr '\n' ' ')
t_check "every post accepted with 250 was delivered (lost: ${lost:-none})" test -z "$lost"
stray=$(comm -13 "$tmp/accepted" "$tmp/delivered" | tr '\n' ' ')
t_check "every post not delivered was answered 4xx, none of those delivered (${stray:-none})" \
    test -z "$stray" -a "$(comm -12 "$tmp/tempfailed" "$tmp/delivered" | wc -l)" = 0
dups=$(uniq -d "$tmp/delivered-rcpts" | head -3 | tr '\n' ' ')
t_check "each accepted post reached each member once ($(wc -l <"$tmp/delivered-rcpts") copies, duplicates: ${dups:-none})" \
    test -z "$dups" -a "$(wc -l <"$tmp/delivered-rcpts")" = $((2 * $(wc -l <"$tmp/accepted")))

# --- and a fresh post through each host is delivered --------------------------
for h in A B; do
    send $h alice@example.org "fresh through $h"
    t_check "after the outage, a post through $h: 250 ($REPLY)" grep -q '^250 ' <<<"$REPLY"
done
settle
t_check "... delivered by A's Postfix ($(delivered "fresh through A"))" \
    test "$(delivered "fresh through A")" = "A alice@example.org A bob@example.org "
t_check "... and by B's ($(delivered "fresh through B"))" \
    test "$(delivered "fresh through B")" = "B alice@example.org B bob@example.org "

if [ "$T_FAILED" -ne 0 ]; then
    for h in A B; do on $h; echo "--- host $h"; mlm_log; pf_log | tail -20; done
fi
t_done
