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
outbox() { # new|failed: files there (new counts those being sent, in cur/)
    if [ "$1" = new ]; then
        find "$MLM_DIR/spool/outbox/new" "$MLM_DIR/spool/outbox/cur" -type f 2>/dev/null | wc -l
    else
        find "$MLM_DIR/spool/outbox/$1" -type f 2>/dev/null | wc -l
    fi
}
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
    bash -c "! grep -q 'waited .* for a worker' '$MLM_DIR/mux.log'"
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
    wait_log "outbox: $bad: no outbox envelope: moved to outbox/failed"
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

# put NAME-SUFFIX: a valid outbox file to one recipient
put() {
    printf 'mlm-outbox 1\nsender owner@pool.test\nrecipient %s@pool.test\n\nSubject: %s\r\n\r\nx\r\n' "$1" "$1" \
        >"$MLM_DIR/spool/outbox/tmp/$1"
    mv "$MLM_DIR/spool/outbox/tmp/$1" "$MLM_DIR/spool/outbox/new/$(date +%s).9.$1"
}
sent_to() { grep -l "^ARGS: .* $1@pool.test\$" "$tmp"/sent/sent.* 2>/dev/null | wc -l; }

# --- a FIFO in the outbox blocks nothing -----------------------------------
fifo=$(date +%s).9.fifo
mkfifo "$MLM_DIR/spool/outbox/new/$fifo"
put afterfifo
t_check "a FIFO in the outbox: moved to failed/, unopened" \
    wait_log "outbox: $fifo: not a regular file: moved to outbox/failed"
t_check "... the mail after it is sent" mlm_outbox_wait
t_check "... once ($(sent_to afterfifo))" test "$(sent_to afterfifo)" = 1

# --- a sendmail that exits 0 and leaves a child holding its output --------
cat >"$tmp/bg-sendmail" <<SH
#!/bin/sh
f=\$(mktemp "$tmp/sent/sent.XXXXXX")
echo "ARGS: \$*" >"\$f"
cat >>"\$f"
sleep 20 &
exit 0
SH
chmod 755 "$tmp/bg-sendmail"
sed -i "s|^sendmail = .*|sendmail = $tmp/bg-sendmail|" "$MLM_CONF"
put background
t_check "a sendmail that leaves a child behind: its exit counts" mlm_outbox_wait
# (taken: its file is gone, so no later drain can send it again)
t_check "... sent once ($(sent_to background)), not failed" \
    test "$(sent_to background)" = 1 -a "$(grep -c 'background.*did not finish' "$MLM_DIR/mux.log")" = 0
pkill -f "sleep 20" 2>/dev/null

# --- one drain at a time --------------------------------------------------
cat >"$tmp/slow-sendmail" <<SH
#!/bin/sh
sleep 3
f=\$(mktemp "$tmp/sent/sent.XXXXXX")
echo "ARGS: \$*" >"\$f"
cat >>"\$f"
SH
chmod 755 "$tmp/slow-sendmail"
sed -i "s|^sendmail = .*|sendmail = $tmp/slow-sendmail|" "$MLM_CONF"
put slow
for i in $(seq 50); do [ -n "$(ls -A "$MLM_DIR/spool/outbox/cur")" ] && break; sleep 0.1; done
t_check "a drain sending moves the file to cur/" test -n "$(ls -A "$MLM_DIR/spool/outbox/cur")"
"$WORKER_BIN" -O -f -d -C "$MLM_CONF" >"$tmp/second.log" 2>&1
t_check "a second drain meanwhile stops at once (exit $?): mail waits" test $? = 1
t_check "... and says why" grep -q "another drain runs" "$tmp/second.log"
t_check "... the mail is sent" mlm_outbox_wait
t_check "... once ($(sent_to slow))" test "$(sent_to slow)" = 1
mlm_stop || t_fail "clean stop"

# --- root never follows a link planted in the outbox -------------------------
mlm_start "$tmp/policy.lua" || exit 1
mlm_kill "$MLM_MUX_PID"
mkdir -m 0755 "$tmp/victim"
rm -rf "$MLM_DIR/spool/outbox/failed"
ln -s "$tmp/victim" "$MLM_DIR/spool/outbox/failed"
"$MUX_BIN" -f -C "$MLM_CONF" >"$tmp/linked.log" 2>&1 &
mux=$!
for i in $(seq 50); do kill -0 $mux 2>/dev/null || break; sleep 0.1; done
t_check "a link as outbox/failed: the multiplexor does not start" \
    bash -c "! kill -0 $mux 2>/dev/null && grep -q 'failed: .*not a directory of its own' '$tmp/linked.log'"
kill $mux 2>/dev/null
t_check "... and the link's target is untouched ($(stat -c %a "$tmp/victim"))" \
    test "$(stat -c %a "$tmp/victim")" = 755
rm -f "$MLM_DIR/spool/outbox/failed"
mlm_stop || t_fail "clean stop"
t_done
