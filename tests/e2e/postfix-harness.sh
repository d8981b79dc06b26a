#!/bin/bash
# Self-test of tests/lib/postfix.sh: a private Postfix on 127.0.0.1 relaying
# to smtp-sink, no milter. Exit 0 pass, 1 fail, 77 skip (not root / no
# postfix). KEEP_TMP=1 keeps the instance's directory for inspection.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/postfix.sh
. "$here/../lib/postfix.sh"

pf_available || exit 77

failures=0
ok() { printf 'ok   - %s\n' "$*"; }
not_ok() { printf 'FAIL - %s\n' "$*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# shellcheck disable=SC2317 # called through check
not() { ! "$@"; }
fatal() {
    not_ok "$*"
    exit 1
}

pf_trap
unset PF_MILTER
PF_RELAY_DOMAINS="lists.example example.org" pf_setup || fatal "pf_setup"
check "temp dir $PF_DIR exists and is traversable (755)" \
    test "$(stat -c %a "$PF_DIR")" = 755
check "config in $PF_CONF, no milter configured" \
    test -z "$(postconf -c "$PF_CONF" -nh smtpd_milters)"
check "postconf reads relay_domains" \
    test "$(postconf -c "$PF_CONF" -h relay_domains)" = "lists.example example.org"

pf_start || fatal "pf_start"
check "postfix listens on 127.0.0.1:$PF_PORT" pf__listening "$PF_PORT"
check "smtp-sink listens on 127.0.0.1:$SINK_PORT" pf__listening "$SINK_PORT"
check "master pid $PF_MASTER_PID alive" kill -0 "${PF_MASTER_PID:-0}"

# 1. A relayed message with two recipients.
token="harness-$$-$RANDOM"
pf_send --from poster@example.com \
    --to one@lists.example,two@lists.example \
    --header "Subject: harness self-test" \
    --add-header "X-Harness-Token: $token"
check "swaks accepted the message (rc $PF_SEND_RC)" test "$PF_SEND_RC" = 0
check "server answered 250 ... queued as" pf_replied '^250 2\.0\.0 Ok: queued as [0-9A-F]+'

if pf_wait_deliveries 1 20; then
    ok "one delivery reached smtp-sink"
else
    not_ok "no delivery reached smtp-sink"
fi
f=$(pf_sink_files | head -n 1)
if [ -n "$f" ]; then
    rcpts=$(pf_rcpts "$f" | sort | tr '\n' ' ')
    check "envelope recipients are both ($rcpts)" \
        test "$rcpts" = "one@lists.example two@lists.example "
    sender=$(pf_sender "$f")
    check "envelope sender is poster@example.com ($sender)" \
        test "$sender" = poster@example.com
    hdr=$(pf_header "$f" x-harness-token)
    check "added header X-Harness-Token present ($hdr)" test "$hdr" = "$token"
    subj=$(pf_header "$f" Subject)
    check "Subject header ($subj)" test "$subj" = "harness self-test"
    check "message passed through our Postfix" \
        grep -q '^Received: from client\.mlm\.test .*by mta\.mlm\.test (Postfix)' \
        <(pf_message "$f" | tr -d '\n')
else
    not_ok "no sink file to inspect"
fi

# 2. Relay to a domain that is not a relay domain is refused, even from
#    127.0.0.1 (which is in mynetworks).
pf_send --from poster@example.com --to someone@not-relayed.example
check "non-relay recipient: swaks fails (rc $PF_SEND_RC)" test "$PF_SEND_RC" != 0
check "non-relay recipient: 554/550 5.7.1 Relay access denied" \
    pf_replied '^55[04] 5\.7\.1 <someone@not-relayed\.example>: Relay access denied'
check "maillog shows the reject" \
    pf_wait_log 'NOQUEUE: reject: RCPT from .*Relay access denied' 5

# 3. Nothing else was delivered; the queue is empty.
check "queue is empty" pf_wait_queue_empty 10
check "exactly one delivery file" test "$(pf_deliveries)" = 1
check "maillog shows status=sent to the sink" \
    pf_wait_log "status=sent .*250 2\.0\.0 Ok" 5

# 4. pf_stop stops everything and cleans up, and is idempotent.
dir=$PF_DIR master=${PF_MASTER_PID:-} sink=${SINK_PID:-} port=$PF_PORT sport=$SINK_PORT
keep=${KEEP_TMP:-}
pf_stop
check "master $master and all its processes stopped" \
    not pf__pgrp_alive "$master"
check "smtp-sink $sink stopped" pf__gone "$sink"
check "port $port closed" not pf__listening "$port"
check "port $sport closed" not pf__listening "$sport"
if [ -z "$keep" ]; then
    check "temp dir removed" test ! -e "$dir"
fi
pf_stop
check "second pf_stop is a no-op" test $? = 0

if [ "$failures" -eq 0 ]; then
    echo "PASS postfix-harness"
    exit 0
fi
echo "FAIL postfix-harness: $failures check(s) failed"
exit 1
