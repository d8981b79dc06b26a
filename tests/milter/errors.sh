#!/usr/bin/env bash
# A policy that fails - a Lua error at each stage, unsafe header values and
# addresses, an endless loop (also inside pcall), a memory bomb, calls to
# what the sandbox leaves out - costs only that request: it is answered
# 451 4.3.0 with nothing applied, the error is logged with the policy's
# file and line, the next transaction is served normally, and the worker
# that ran it is still the same process. One worker only, so that every
# "next transaction" runs in the worker that just failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT

policy=$here/policies/errors.lua
mlm_start "$policy" "workers_min = 1" "workers_max = 1" \
    "lua_instruction_limit = 1000000" "lua_memory_limit = 32M" || exit 1

# The pids of the workers, from mlm-ctl status.
worker_pids() {
    mlm_ctl status | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ { print $2 }' |
        sort | tr '\n' ' '
}
# The line of the policy that carries the marker "LINE:NAME".
line_of() { grep -n -- "LINE:$1\$" "$policy" | cut -d: -f1; }

pids_before=$(worker_pids)
t_check "mlm-ctl status lists the worker (pids: ${pids_before:-none})" \
    test -n "$pids_before"

mt_run errors.lua

# Exact replies before end of message (miltertest only sees their kind).
out=$(mt_client connect error.relay.test 192.0.2.66 2>&1)
t_check "error in filter_relay: connect answered $MT_FAILURE" \
    grep -qxF "connect error.relay.test 192.0.2.66: $MT_FAILURE" <<<"$out"
out=$(mt_client connect client.test 192.0.2.10 helo error.helo.test 2>&1)
t_check "error in filter_helo: HELO answered $MT_FAILURE" \
    grep -qxF "helo error.helo.test: $MT_FAILURE" <<<"$out"
for who in error error-object loop pcall-loop membomb os-exit io dofile \
    loadfile os-execute require-io bytecode; do
    out=$(mt_client mail "<$who@sender.test>" 2>&1)
    t_check "MAIL $who@: $MT_FAILURE (got: $out)" \
        grep -qxF "mail <$who@sender.test>: $MT_FAILURE" <<<"$out"
done
out=$(mt_client mail '<poster@example.net>' rcpt '<error@lists.test>' 2>&1)
t_check "error in filter_recipient: RCPT answered $MT_FAILURE" \
    grep -qxF "rcpt <error@lists.test>: $MT_FAILURE" <<<"$out"
out=$(mt_client mail '<poster@example.net>' rcpt '<list@lists.test>' \
    header Subject inject-rcpt-crlf eoh body $'Hi.\r\n' eom 2>&1)
t_check "address injection at EOM: only the 451 4.3.0 reaches the MTA" \
    test "$(grep '^eom:' <<<"$out")" = "eom: $MT_FAILURE"

# Each failure is logged with the policy file and the line (the worker's
# log line carries the traceback); transactions carry queue ids
# QID<name> (see scripts/errors.lua).
name=$(basename "$policy")
log_for() { # QUEUE-ID: the log lines about that transaction
    cat "$MLM_DIR"/*.log | grep -F -- "$1: "
}
want_log() { # WHAT QUEUE-ID EXTENDED-REGEX... : each matches one of its lines
    local what=$1 qid=$2 re
    shift 2
    for re in "$@"; do
        if ! log_for "$qid" | grep -Eq -- "$re"; then
            t_fail "$what (no '$re' in: $(log_for "$qid" | head -n 2 |
                cut -c1-200 | tr '\n' '|'))"
            return
        fi
    done
    t_ok "$what"
}
for what in relay helo; do
    line=$(line_of "$what")
    t_check "an error in filter_$what is logged as $name:$line" \
        mt_log_has "$what stage failed: .*$name:$line:"
done
for what in error error-object os-exit io dofile loadfile os-execute \
    require-io bytecode recipient message-error inject-header \
    inject-header-lf inject-header-name inject-rcpt-crlf inject-rcpt-angle \
    inject-rcpt-ctl inject-rcpt-nul inject-delete-rcpt inject-sender \
    inject-quarantine; do
    line=$(line_of "$what")
    want_log "the failure '$what' is logged as $name:$line" \
        "QID${what//-/}" "$name:$line:"
done
# A run past the instruction limit: the limit and the line it was at.
for what in loop message-loop pcall-loop pcall-loop-again; do
    line=$(line_of "$what")
    want_log "an endless loop ('$what') is logged with $name:$line and the instruction limit" \
        "QID${what//-/}" "$name:$line:" "instruction limit"
done
# Regression check (bug found by this test): lua/stage.c policy_run() used
# to name the memory limit only when the policy's own pcall swallowed the
# error; a plain memory bomb was logged as a bare "not enough memory",
# without the policy file.
want_log "a memory bomb is logged with $name and the memory limit" \
    QIDmembomb "$name" "memory limit"
want_log "a memory bomb inside pcall is logged with $name and the memory limit" \
    QIDpcallmembomb "$name" "memory limit"

# Still the same worker: no failure killed it.
pids_after=$(worker_pids)
t_check "the same worker runs after all failures (before: $pids_before, after: $pids_after)" \
    test "$pids_before" = "$pids_after"
t_check "mlm-multiplexor and mlmd still run" \
    kill -0 "$MLM_MUX_PID" "$MLM_MLMD_PID"

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
