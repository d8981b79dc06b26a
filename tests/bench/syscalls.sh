#!/usr/bin/env bash
# tests/bench/syscalls.sh - system calls per list post, split by process:
# strace -c on mlmd, the multiplexor and each worker over one mlm-bench run
# of N posts (list of 100 members, c=16, 4,000-byte body). Divide a count
# by N for calls per post (a worker's by the posts it served: two requests
# each). Needs strace; run as root. Shows which process a change moved.
# WORKLOAD=decisions runs the decisions-only policy instead (three
# requests a transaction: MAIL, RCPT, end of message; nothing changed).
#
#   tests/bench/syscalls.sh                      (N=1000 default)
#   WORKLOAD=decisions tests/bench/syscalls.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
N=${N:-1000}
. "$here/bench-lib.sh"
bench_workload || exit 2
command -v strace >/dev/null || { echo "syscalls.sh: strace is needed" >&2; exit 2; }
mlm_start "$POLICY" "worker_max_requests = 100000" \
    "workers_min = 2" "workers_max = 2" || exit 1
out=$(mktemp -d /tmp/mlm-syscalls.XXXXXX)
trap 'mlm_stop >/dev/null; rm -rf "$out"' EXIT
if [ "$WORKLOAD" = list ]; then bench_lists_setup "$MLM_DIR" 100 || exit 1; fi
"$BENCH" -s "$MLM_MILTER" -n 300 -c 16 -m 4000 -t $TARGET >/dev/null # warm up
pids="$MLM_MLMD_PID $MLM_MUX_PID $(pgrep -P "$MLM_MUX_PID" | tr '\n' ' ')"
for p in $pids; do
    strace -c -f -p "$p" -o "$out/$p.txt" 2>/dev/null &
done
sleep 1
"$BENCH" -s "$MLM_MILTER" -n "$N" -c 16 -m 4000 -t $TARGET | grep '^RESULT' |
    grep -o 'tx_per_s=[0-9.]*'
pkill -INT -f "strace -c -f -p" 2>/dev/null
sleep 1
for p in $pids; do
    echo "== $(cat "/proc/$p/comm" 2>/dev/null) (pid $p), $N transactions ($WORKLOAD)"
    sed -n '3,16p' "$out/$p.txt"
done
