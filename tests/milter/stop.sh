#!/usr/bin/env bash
# mlmd stops at once on SIGTERM, SIGHUP and SIGINT, on a unix and on an
# inet socket: libmilter's listener would notice the stop only at its next
# poll timeout (up to 5 s); mlmd wakes it (mlmd/run.c). Each signal is
# sent half a second after the socket appears, so without the wake-up the
# stop takes about 4.5 s; the bound is 2 s. The exit is clean: status 0
# and "mlmd stopped" in the log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
trap 'mlm_stop || exit 1' EXIT

BOUND_MS=2000

# stop_and_check LABEL PID SIGNAL LOG: send SIGNAL half a second after the
# start, wait for PID to exit (at most 8 s), and check the time against
# the bound, the exit status and the log's last line.
stop_and_check() {
    local label=$1 pid=$2 sig=$3 log=$4 t0 t1 ms st i
    sleep 0.5
    t0=${EPOCHREALTIME/./}
    kill -s "$sig" "$pid"
    for ((i = 0; i < 800; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    t1=${EPOCHREALTIME/./}
    ms=$(((t1 - t0) / 1000))
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null
        st=killed
    else
        wait "$pid"
        st=$?
    fi
    t_check "$label: mlmd gone within ${BOUND_MS} ms of SIG$sig (took $ms ms)" \
        test "$ms" -le "$BOUND_MS"
    t_check "$label: exit status 0 (got $st)" test "$st" = 0
    t_check "$label: 'mlmd stopped' is its log's last line" \
        sh -c 'tail -n 1 "$1" | grep -q "mlmd stopped$"' _ "$log"
}

mlm_start "$here/policies/basic.lua" || exit 1

stop_and_check "unix socket, SIGTERM" "$MLM_MLMD_PID" TERM "$MLM_DIR/mlmd.log"
MLM_MLMD_PID=

mlm_start_mlmd || exit 1
stop_and_check "unix socket, SIGINT" "$MLM_MLMD_PID" INT "$MLM_DIR/mlmd.log"
MLM_MLMD_PID=

mlm_start_inet || exit 1
stop_and_check "inet socket, SIGHUP" "$MLM_MLMD_INET_PID" HUP "$MLM_DIR/mlmd-inet.log"
MLM_MLMD_INET_PID=

# A transaction open at the stop: libmilter serves no further command
# once stopped, so mlmd exits after a grace of 1 s (mlmd/run.c) and the
# MTA sees the connection go (its milter failure setting applies, a
# tempfail with the usual default_action), and the transaction's spool
# file goes too.
mlm_start_mlmd || exit 1
client_out=$MLM_DIR/client.out
python3 "$here/scripts/milter-client.py" "$MLM_MILTER" \
    mail '<poster@example.net>' rcpt '<someone@lists.test>' \
    header Subject grace eoh body 'hello' pause 3 eom >"$client_out" 2>&1 &
client=$!
spool_file() { find "$MLM_DIR/spool" -maxdepth 1 -name 'mlmd.*' | grep -q .; }
t_check "the open transaction has its spool file before the stop" \
    mlm_wait_until 10 spool_file
t0=${EPOCHREALTIME/./}
kill -TERM "$MLM_MLMD_PID"
t_check "mlmd exits under the open transaction" \
    mlm_wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' _ "$MLM_MLMD_PID"
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
t_check "after the grace of 1 s, within ${BOUND_MS} ms more (took $ms ms)" \
    test "$ms" -ge 900 -a "$ms" -le $((1000 + BOUND_MS))
wait "$MLM_MLMD_PID" 2>/dev/null
MLM_MLMD_PID=
wait "$client"
t_check "the MTA side sees the connection go, no reply ($(tr '\n' ' ' <"$client_out"))" \
    sh -c '! grep -q "^eom: " "$1" && grep -Eq "closed|reset|Broken pipe" "$1"' _ "$client_out"
t_check "the transaction's spool file is gone" \
    test -z "$(find "$MLM_DIR/spool" -maxdepth 1 -name 'mlmd.*')"
t_check "mlmd logged the removal" \
    grep -q "removed the spool files of 1 transactions left open" "$MLM_DIR/mlmd.log"

# A transaction still works after the restarts on the same socket.
mlm_start_mlmd || exit 1
out=$(python3 "$here/scripts/milter-client.py" "$MLM_MILTER" mail '<poster@example.net>' 2>&1)
t_check "after the restarts: MAIL answered (got: $out)" \
    grep -q "^mail <poster@example.net>: " <<<"$out"

t_done
