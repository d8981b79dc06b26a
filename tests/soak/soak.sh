#!/usr/bin/env bash
# soak.sh [MINUTES] - mixed traffic from mlm-bench against mlm running the
# shipped list policy for MINUTES (default 30), sampling the RSS of mlmd,
# the multiplexor and every worker each minute. Prints a table; growth
# after warm-up (the first sample) is what to look for. A benchmark, not a
# test: it asserts nothing and is not part of make check.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
minutes=${1:-30}
trap 'kill $(jobs -p) 2>/dev/null; mlm_stop >/dev/null' EXIT
mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $here/../lib/fake-sendmail.sh" \
    "worker_max_requests = 5000" || exit 1
export FAKE_SENDMAIL_DIR=$MLM_DIR
L=dev@lists.example
mlm_ctl list create $L --prefix "[dev]" >/dev/null
mlm_ctl list set $L footer "-- soak" >/dev/null
seq 1 100 | sed 's/^/member/; s/$/@example.org/' >"$MLM_DIR/members"
mlm_ctl member import $L "$MLM_DIR/members" >/dev/null
mlm_ctl member add $L sender@bench.test >/dev/null

# Four kinds of traffic in a loop until the time is up.
end=$(( $(date +%s) + minutes * 60 ))
traffic() {
    while [ "$(date +%s)" -lt "$end" ]; do
        "$BENCH" -s "$MLM_MILTER" -c 4 -n 400 -t $L -m 4000 >/dev/null 2>&1     # member posts
        "$BENCH" -s "$MLM_MILTER" -c 4 -n 400 -t $L -f stranger@bench.test >/dev/null 2>&1  # refused
        "$BENCH" -s "$MLM_MILTER" -c 8 -n 400 -t nosuch@lists.example >/dev/null 2>&1     # unknown list
        "$BENCH" -s "$MLM_MILTER" -c 2 -n 100 -t $L -m 100000 >/dev/null 2>&1   # big posts
        find "$MLM_DIR" -maxdepth 1 -name 'sent.*' -delete
    done
}
traffic &
rss() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status 2>/dev/null || echo -; }
printf '%-6s %10s %10s %10s %10s %12s\n' minute mlmd_kB mux_kB worker_max worker_sum requests
for ((m = 0; m <= minutes; m++)); do
    wmax=0 wsum=0
    for w in $(pgrep -f "mlm-worker.*$MLM_CONF"); do
        r=$(rss "$w"); [ "$r" = - ] && continue
        wsum=$((wsum + r)); [ "$r" -gt "$wmax" ] && wmax=$r
    done
    req=$(mlm_ctl stats --json 2>/dev/null | python3 -c 'import json,sys; j=json.load(sys.stdin); print(sum(j[s]["requests"] for s in ("sender","recipient","message")))' 2>/dev/null)
    printf '%-6s %10s %10s %10s %10s %12s\n' "$m" "$(rss "$MLM_MLMD_PID")" "$(rss "$MLM_MUX_PID")" "$wmax" "$wsum" "$req"
    [ "$m" -lt "$minutes" ] && sleep 60
done
mlm_ctl stats | tail -n 8
