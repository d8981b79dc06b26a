#!/usr/bin/env bash
# tests/bench/cpu-split.sh - CPU per list post, split by process: user and
# system microseconds of mlmd, the multiplexor and the workers, next to the
# null milter doing the same actions (-a 100), read from /proc around one
# mlm-bench run of N posts (list of 100 members, c=16, 4,000-byte body).
#
#   tests/bench/cpu-split.sh [extra mlm.conf lines...]     (N=4000 default)
#   WORKLOAD=decisions tests/bench/cpu-split.sh
#
# WORKLOAD=decisions: the decisions-only policy (MAIL, RCPT and end of
# message asked, nothing changed) next to the null milter continuing.
#
# Shows which process a change moved; run-bench.sh gives the ratios.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
NULL=$top_builddir/tests/bench/null-milter
N=${N:-4000}
. "$here/bench-lib.sh"
bench_workload || exit 2
NULL_ARGS=(-a 100)
[ "$WORKLOAD" = decisions ] && NULL_ARGS=()
mlm_start "$POLICY" "worker_max_requests = 100000" "$@" || exit 1
trap 'kill $null_pid 2>/dev/null; mlm_stop >/dev/null' EXIT
if [ "$WORKLOAD" = list ]; then bench_lists_setup "$MLM_DIR" 100 || exit 1; fi

ticks() { # user and system clock ticks of the PIDs, summed
    for p; do awk '{ print $14, $15 }' "/proc/$p/stat"; done |
        awk '{ u += $1; s += $2 } END { print u + 0, s + 0 }'
}
measure() { # NAME SOCKET PID...
    local name=$1 sock=$2 u0 s0 u1 s1 rate hz
    shift 2
    hz=$(getconf CLK_TCK)
    "$BENCH" -s "$sock" -n 500 -c 16 -m 4000 -t $TARGET >/dev/null # warm up
    read -r u0 s0 <<<"$(ticks "$@")"
    rate=$("$BENCH" -s "$sock" -n "$N" -c 16 -m 4000 -t $TARGET |
        sed -n 's/^RESULT .*tx_per_s=\([0-9.]*\).*/\1/p')
    read -r u1 s1 <<<"$(ticks "$@")"
    printf '%-12s %8s tx/s  user %4d us/tx  system %4d us/tx\n' "$name" \
        "$rate" $(((u1 - u0) * 1000000 / hz / N)) $(((s1 - s0) * 1000000 / hz / N))
}
"$NULL" -p "unix:$MLM_DIR/null.sock" "${NULL_ARGS[@]}" >/dev/null 2>&1 &
null_pid=$!
mlm_wait_socket "$MLM_DIR/null.sock"
measure "null ${NULL_ARGS[*]}" "unix:$MLM_DIR/null.sock" $null_pid
measure mlmd "$MLM_MILTER" "$MLM_MLMD_PID"
measure multiplexor "$MLM_MILTER" "$MLM_MUX_PID"
# shellcheck disable=SC2046
measure workers "$MLM_MILTER" $(pgrep -P "$MLM_MUX_PID")
