#!/usr/bin/env bash
# tests/bench/start-cost.sh - the CPU a worker start costs, as the whole
# machine counts it (/proc/stat: every process, the kernel included, so
# the fork, the exit and the page faults of the new worker are in it).
# N decisions transactions (1000) at one connection with one worker, once
# with worker_max_requests = 3 (a start a transaction) and once with no
# replacement, each twice in turn; the difference over the starts is the
# cost of one. MUX_BIN and WORKER_BIN choose the binaries (tests/lib/mlm.sh).
#
#   tests/bench/start-cost.sh
#   WORKER_BIN=/tmp/old/worker/mlm-worker MUX_BIN=/tmp/old/multiplexor/mlm-multiplexor \
#       tests/bench/start-cost.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
N=${N:-1000}
hz=$(getconf CLK_TCK)
busy_ticks() { # every CPU's time but idle and iowait, in ticks
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
json_get() {
    mlm_ctl stats --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}
declare -A cpu starts
for round in 1 2; do
    for limit in 3 1000000; do
        mlm_start "$here/policies/decisions.lua" "workers_min = 1" \
            "workers_max = 1" "worker_max_requests = $limit" >/dev/null || exit 1
        "$BENCH" -s "$MLM_MILTER" -n 100 -c 1 -m 4000 >/dev/null # warm up
        s0=$(json_get "j['workers']['started']")
        t0=$(busy_ticks)
        "$BENCH" -s "$MLM_MILTER" -n "$N" -c 1 -m 4000 >/dev/null
        sleep 0.3 # the last worker's exit
        t1=$(busy_ticks)
        s1=$(json_get "j['workers']['started']")
        forked=$(json_get "j['workers']['forked']")
        mlm_stop >/dev/null
        ms=$(((t1 - t0) * 1000 / hz))
        echo "round $round, worker_max_requests $limit: $ms ms of CPU," \
            "$((s1 - s0)) workers started ($forked by the fork server in all)"
        cpu[$round.$limit]=$ms
        starts[$round.$limit]=$((s1 - s0))
    done
    d=$((cpu[$round.3] - cpu[$round.1000000]))
    n=$((starts[$round.3] - starts[$round.1000000]))
    [ "$n" -gt 0 ] && echo "round $round: $(awk -v d="$d" -v n="$n" 'BEGIN { printf "%.2f", d / n }') ms of CPU a worker start"
done
