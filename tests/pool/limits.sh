#!/usr/bin/env bash
# The bounds on a worker whatever its request does: request_timeout
# kills a busy worker also after mlmd stopped waiting for it
# (decision_timeout first); worker_memory_limit (RLIMIT_AS) fails a
# request that allocates past it, and the pool serves on.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/pool-lib.sh"
tmp=$(mktemp -d /tmp/mlm-limits.XXXXXX)
trap 'mlm_stop >/dev/null; rm -rf "$tmp"' EXIT
cp "$here/slow.lua" "$tmp/policy.lua"

busy_pids() { mlm_ctl status | awk '$3 == "busy" || $3 == "retiring" { print $2 }'; }

# --- request_timeout once the client is gone ----------------------------
# mlmd gives up after 1 s (failure_action), the worker spins on; the
# multiplexor must still kill it at request_timeout (3 s).
mlm_start "$tmp/policy.lua" "lua_instruction_limit = 0" "request_timeout = 3" \
    "decision_timeout = 1" || exit 1
bench "$tmp/b1" -n 1 -f hang@pool.test
t_check "decision_timeout: mlmd answered tempfail first" test "$(result tempfail "$tmp/b1")" = 1
stuck=$(busy_pids | head -1)
t_check "the worker still runs the request after mlmd left (pid $stuck)" test -n "$stuck"
gone=
for i in $(seq 150); do # 15 s: request_timeout is 3 s
    if [ -z "$(busy_pids)" ] && ! kill -0 "$stuck" 2>/dev/null; then gone=1; break; fi
    sleep 0.1
done
t_check "request_timeout killed the worker without a client (pid $stuck gone: ${gone:-no})" test -n "$gone"
t_check "logged as request_timeout with no client waiting" \
    grep -q "request_timeout reached (its client had stopped waiting)" "$MLM_DIR/mux.log"
bench "$tmp/b2" -n 10
t_check "the pool serves on (continue $(result continue "$tmp/b2") of 10)" test "$(result continue "$tmp/b2")" = 10
mlm_stop >/dev/null

# --- worker_memory_limit: RLIMIT_AS ---------------------------------------
mlm_start "$tmp/policy.lua" "lua_instruction_limit = 0" "lua_memory_limit = 0" \
    "worker_memory_limit = 300M" "workers_min = 1" "workers_max = 1" || exit 1
pid=$(mlm_ctl status | awk '$1 ~ /^[0-9]+$/ && $2 > 0 { print $2; exit }')
if grep -q "worker_memory_limit ignored: built with AddressSanitizer" "$MLM_DIR/mux.log"; then
    echo "ok - # skip worker_memory_limit: an AddressSanitizer build ignores it"
else
limit=$(awk '/^Max address space/ { print $4 }' "/proc/$pid/limits" 2>/dev/null)
t_check "worker_memory_limit 300M: the worker's RLIMIT_AS is $((300 * 1024 * 1024)) (got $limit)" \
    test "$limit" = $((300 * 1024 * 1024))
bench "$tmp/b4" -n 1 -f hog@pool.test
t_check "allocating 600 MB past the limit fails the request (tempfail $(result tempfail "$tmp/b4"), continue $(result continue "$tmp/b4"))" \
    test "$(result tempfail "$tmp/b4")" = 1
t_check "the failure is logged as memory" grep -q "not enough memory" "$MLM_DIR/mux.log"
bench "$tmp/b5" -n 10
t_check "the pool serves on after it (continue $(result continue "$tmp/b5") of 10)" \
    test "$(result continue "$tmp/b5")" = 10
fi
mlm_stop >/dev/null
mlm_start "$tmp/policy.lua" "worker_memory_limit = 0" "workers_min = 1" \
    "workers_max = 1" || exit 1
pid=$(mlm_ctl status | awk '$1 ~ /^[0-9]+$/ && $2 > 0 { print $2; exit }')
t_check "worker_memory_limit 0: no RLIMIT_AS" \
    grep -Eq '^Max address space +unlimited' "/proc/$pid/limits"
mlm_stop >/dev/null

t_done
