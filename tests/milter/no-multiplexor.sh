#!/usr/bin/env bash
# mlmd without its multiplexor: while mlm-multiplexor is gone, MAIL is
# answered 451 4.3.0 (failure_action) and mlmd stays up; once it is back,
# mlmd reconnects by itself and serves the next transaction - also when
# the multiplexor was killed hard and mlmd still holds pooled connections
# to the dead one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT

mlm_start "$here/policies/basic.lua" || exit 1

# Wait until the multiplexor answers mlm-ctl status with an idle worker.
mux_ready() {
    local i
    for ((i = 0; i < 100; i++)); do
        mlm_ctl status 2>/dev/null | grep -qw idle && return 0
        sleep 0.1
    done
    return 1
}

mt_run no-multiplexor.lua -D PHASE=before
t_check "MAIL before: continue" \
    grep -qxF "mail <poster@example.net>: continue" \
    <<<"$(mt_client mail '<poster@example.net>' 2>&1)"

# 1. The multiplexor stops (SIGTERM).
kill "$MLM_MUX_PID"
{ wait "$MLM_MUX_PID"; } 2>/dev/null
MLM_MUX_PID=
mt_run no-multiplexor.lua -D PHASE=down
out=$(mt_client mail '<poster@example.net>' 2>&1)
t_check "multiplexor down: MAIL answered $MT_FAILURE (got: $out)" \
    grep -qxF "mail <poster@example.net>: $MT_FAILURE" <<<"$out"
t_check "multiplexor down: mlmd still runs" kill -0 "$MLM_MLMD_PID"
t_check "multiplexor down: mlmd logs the failed sender stage" \
    mt_log_has "sender stage failed: .*answering 451 4.3.0"

mlm_start_mux || exit 1
t_check "the multiplexor is back with a worker" mux_ready
mt_run no-multiplexor.lua -D PHASE=restarted
out=$(mt_client mail '<poster@example.net>' 2>&1)
t_check "after the restart: MAIL continues (got: $out)" \
    grep -qxF "mail <poster@example.net>: continue" <<<"$out"

# 2. The multiplexor is killed hard (SIGKILL) and restarted before any
# transaction: mlmd's pooled connections to it are dead, and the first
# transaction after the restart must be served all the same.
mt_run no-multiplexor.lua -D PHASE=before-kill
old_workers=$(mlm_children "$MLM_MUX_PID")
kill -9 "$MLM_MUX_PID"
{ wait "$MLM_MUX_PID"; } 2>/dev/null
MLM_MUX_PID=
# its workers see the socket close and exit
workers_gone() { local p; for p in $old_workers; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
t_check "the killed multiplexor's workers exit" mlm_wait_until 10 workers_gone
mlm_start_mux || exit 1
t_check "the multiplexor is back after SIGKILL" mux_ready
mt_run no-multiplexor.lua -D PHASE=after-kill

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
