#!/usr/bin/env bash
# tests/bench/mux-ab.sh - two mlm-multiplexor binaries side by side: the
# built one and OTHER (for example one built from an earlier commit), each
# run twice in turn (A B A B) on the decisions policy with 4 workers;
# prints tx/s, RCPT p99 and the multiplexor's own CPU per transaction.
# With OTHER-WORKER, OTHER runs with that mlm-worker (and the fork server
# it brings), the built one with the built mlm-worker.
# C sets the concurrency (16), N the transactions (10000), R the workers'
# worker_max_requests (1000000: never replaced, to see the event loop
# alone; 1000, the default, to see worker replacement).
#
#   tests/bench/mux-ab.sh OTHER-BINARY
#   C=128 tests/bench/mux-ab.sh /tmp/old/multiplexor/mlm-multiplexor
#   R=1000 tests/bench/mux-ab.sh /tmp/old/multiplexor/mlm-multiplexor
#   R=1000 tests/bench/mux-ab.sh /tmp/old/multiplexor/mlm-multiplexor \
#       /tmp/old/worker/mlm-worker
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
other=${1:?usage: mux-ab.sh OTHER-MULTIPLEXOR-BINARY [OTHER-WORKER-BINARY]}
other_worker=${2:-$WORKER_BIN}
built=$MUX_BIN
built_worker=$WORKER_BIN
C=${C:-16} N=${N:-10000} R=${R:-1000000}
hz=$(getconf CLK_TCK)
for bin in "$other" "$built" "$other" "$built"; do
    MUX_BIN=$bin
    WORKER_BIN=$built_worker
    [ "$bin" = "$other" ] && WORKER_BIN=$other_worker
    mlm_start "$here/policies/decisions.lua" "workers_min = 4" "workers_max = 4" \
        "worker_max_requests = $R" >/dev/null || exit 1
    "$BENCH" -s "$MLM_MILTER" -n 2000 -c "$C" -m 4000 >/dev/null # warm up
    read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$MLM_MUX_PID/stat")
    r=$("$BENCH" -s "$MLM_MILTER" -n "$N" -c "$C" -m 4000 | grep '^RESULT' |
        grep -o 'tx_per_s=[0-9.]*\|rcpt_p99_ms=[0-9.]*' | tr '\n' ' ')
    read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$MLM_MUX_PID/stat")
    echo "$bin: ${r}multiplexor user $(((u1 - u0) * 1000000 / hz / N)) us/tx," \
        "system $(((s1 - s0) * 1000000 / hz / N)) us/tx"
    mlm_stop >/dev/null
done
