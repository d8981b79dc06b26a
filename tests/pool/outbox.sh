#!/usr/bin/env bash
# Mail a policy sends (mlm.sendmail) goes through the outbox: the worker's
# call returns once the message is on disk, and the multiplexor's drainer
# (mlm-worker -O) hands it to sendmail outside every request.
#  - a submission program that asks mlm for a decision before it returns
#    (Sendmail's delivers interactively) never waits on the worker that
#    sent it: 20 notices with one worker, none waits into queue_timeout;
#  - a sendmail that hangs is killed with its children at its deadline,
#    the mail stays in the outbox and is sent when sendmail works again;
#  - what an earlier run left is sent at start; a file that is not an
#    outbox file is moved to failed/, never deleted.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/pool-lib.sh"
tmp=$(mktemp -d /tmp/mlm-outbox.XXXXXX)
trap 'mlm_stop >/dev/null; pkill -f "sleep 360[78]" 2>/dev/null; rm -rf "$tmp"' EXIT
cp "$here/slow.lua" "$tmp/policy.lua"
mkdir "$tmp/sent"
outbox() { ls "$MLM_DIR/spool/outbox/$1" 2>/dev/null | wc -l; } # new|failed
wait_log() { # ERE: 0 once mux.log has a line matching it, 1 after 40 s
    local i
    for i in $(seq 400); do
        grep -Eq "$1" "$MLM_DIR/mux.log" && return 0
        sleep 0.1
    done
    return 1
}

# --- a submission that comes back to mlm, with one worker ---------------
# This sendmail does what Sendmail's submission program does: before it
# exits, the message passes through mlm (a milter transaction of its own).
cat >"$tmp/reentrant-sendmail" <<SH
#!/bin/sh
f=\$(mktemp "$tmp/sent/sent.XXXXXX")
echo "ARGS: \$*" >"\$f"
cat >>"\$f"
"$BENCH" -s "\$MLM_MILTER" -n 1 -f reentry@pool.test \
    --stages=connect,helo,mail -T 60 >"\$f.milter" 2>&1
grep -q "continue=1" "\$f.milter"
SH
chmod 755 "$tmp/reentrant-sendmail"
mlm_start "$tmp/policy.lua" "workers_min = 1" "workers_max = 1" \
    "queue_timeout = 3" "decision_timeout = 20" \
    "sendmail = $tmp/reentrant-sendmail" || exit 1
bench "$tmp/b1" -n 20 -f sendmail@pool.test --stages=connect,helo,mail
t_check "20 notices with one worker: every request answered by the policy (reject $(result reject "$tmp/b1"), tempfail $(result tempfail "$tmp/b1"))" \
    test "$(result reject "$tmp/b1")" = 20
t_check "... the outbox emptied" mlm_outbox_wait
t_check "... 20 notices handed to sendmail ($(ls "$tmp"/sent/sent.* 2>/dev/null | grep -vc milter))" \
    test "$(ls "$tmp"/sent/sent.* 2>/dev/null | grep -vc milter)" = 20
t_check "... each submission's own transaction passed mlm ($(grep -l continue=1 "$tmp"/sent/*.milter 2>/dev/null | wc -l))" \
    test "$(grep -l continue=1 "$tmp"/sent/*.milter 2>/dev/null | wc -l)" = 20
t_check "... nothing waited into queue_timeout" \
    bash -c "! grep -q 'queue_timeout' '$MLM_DIR/mux.log'"
t_check "... the envelope kept: null sender, the recipient" \
    grep -qx "ARGS: -f <> rcpt@pool.test" "$(ls "$tmp"/sent/sent.* | grep -v milter | head -1)"
t_check "... one log line per mail sent" \
    test "$(grep -c 'outbox: .*: sent from <> to 1 recipient$' "$MLM_DIR/mux.log")" = 20
mlm_stop >/dev/null
rm -f "$tmp"/sent/*

# --- a sendmail that never finishes, then works again --------------------
# It leaves a child of its own too: the whole group goes at the deadline
# (2 x decision_timeout + 10 s: 12 s).
cat >"$tmp/hang-sendmail" <<'SH'
#!/bin/sh
sleep 3607 &
sleep 3608
SH
chmod 755 "$tmp/hang-sendmail"
mlm_start "$tmp/policy.lua" "workers_min = 1" "workers_max = 1" \
    "decision_timeout = 1" "outbox_retry = 1" \
    "sendmail = $tmp/hang-sendmail -i" || exit 1
bench "$tmp/b2" -n 1 -f sendmail@pool.test --stages=connect,helo,mail
t_check "hanging sendmail: the policy's call returned, the request was answered (reject $(result reject "$tmp/b2"))" \
    test "$(result reject "$tmp/b2")" = 1
started=
for i in $(seq 50); do pgrep -f "sleep 3608" >/dev/null && { started=1; break; }; sleep 0.1; done
t_check "... while sendmail runs outside the request" test -n "$started"
t_check "... the deadline killed it (logged)" \
    wait_log "outbox: [^ ]*: sendmail \(.*hang-sendmail -i\) failed: .* did not finish within 12000 ms: killed; tried again later"
left=
for i in $(seq 30); do
    left=$(pgrep -f "sleep 360[78]")
    [ -z "$left" ] && break
    sleep 0.1
done
t_check "... it and its child are gone (left: ${left:-none})" test -z "$left"
t_check "... the mail is still in the outbox ($(outbox new))" test "$(outbox new)" = 1
# sendmail works again: the retry sends it
sed -i "s|^sendmail = .*|sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$tmp/sent $here/../lib/fake-sendmail.sh -i|" "$MLM_CONF"
t_check "... sent by a later attempt" mlm_outbox_wait
t_check "... to its recipient" grep -qx "ARGS: -i -f <> rcpt@pool.test" "$(ls "$tmp"/sent/sent.* | head -1)"
t_check "... whole" grep -qx $'t\r' "$(ls "$tmp"/sent/sent.* | head -1)"

# --- a file that is no outbox file ---------------------------------------
bad=$(date +%s).1.1
printf "garbage\\n" >"$MLM_DIR/spool/outbox/new/$bad"
bench "$tmp/b3" -n 1 -f sendmail@pool.test --stages=connect,helo,mail
t_check "a file that is not an outbox file: moved to failed/" \
    wait_log "outbox: $bad: no outbox envelope: moved to .*/failed/$bad"
t_check "... kept there ($(outbox failed))" test -s "$MLM_DIR/spool/outbox/failed/$bad"
mlm_outbox_wait >/dev/null
mlm_kill "$MLM_MUX_PID"

# --- what an earlier run left is sent at start ----------------------------
printf 'mlm-outbox 1\nsender owner@pool.test\nrecipient a@pool.test\nrecipient b@pool.test\n\nSubject: left\r\n\r\nleft over\r\n' \
    >"$MLM_DIR/spool/outbox/new/$(date +%s).1.0"
rm -f "$tmp"/sent/*
mlm_start_mux || exit 1
t_check "mail left in the outbox is sent at start" mlm_outbox_wait
t_check "... with its envelope" \
    grep -qx "ARGS: -i -f owner@pool.test a@pool.test b@pool.test" "$(ls "$tmp"/sent/sent.* | head -1)"
mlm_stop || t_fail "clean stop"
t_done
