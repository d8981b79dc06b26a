#!/usr/bin/env bash
# tests/bench/latency-split.sh - where a request's latency is spent: the
# per-stage latency mlm-bench sees (the MTA's view: mlmd, the multiplexor
# and the worker, and every wakeup between) next to the multiplexor's own
# (`mlm-ctl stats`: from the request's arrival to the reply, queue
# included), over one run of N decisions transactions at c=16. The
# difference is mlmd and the hops to and from it.
#
#   tests/bench/latency-split.sh [extra mlm.conf lines...]   (N=10000)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
N=${N:-10000}
mlm_start "$here/policies/decisions.lua" "workers_min = 2" "workers_max = 4" \
    "$@" >/dev/null || exit 1
trap 'mlm_stop >/dev/null' EXIT
"$BENCH" -s "$MLM_MILTER" -n 2000 -c 16 -m 4000 >/dev/null # warm up
echo "mlm-bench (the MTA's view), $N transactions at c=16:"
"$BENCH" -s "$MLM_MILTER" -n "$N" -c 16 -m 4000 | grep '^RESULT' | tr ' ' '\n' |
    grep -E '^(tx_per_s|(mail|rcpt|eom)_p(50|99)_ms)='
echo "mlm-multiplexor (arrival to reply), the last minute (warm-up included):"
mlm_ctl stats | awk '$1 == "1m" { on = 1; next } on && /^[a-z0-9]/ { exit }
    on && ($1 == "sender" || $1 == "recipient" || $1 == "message")'
