#!/usr/bin/env bash
# The worker fork server (mlm-worker -Z): workers it forks are the
# multiplexor's children and are reaped and counted; killed or stopped, it
# costs no request (the pool execs workers until it is back) and comes
# back; a reload starts a new one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/pool-lib.sh"
tmp=$(mktemp -d /tmp/mlm-zygote.XXXXXX)
trap 'mlm_stop >/dev/null; rm -rf "$tmp"' EXIT

# Every worker in status is a child of the multiplexor, not of the zygote.
workers_are_mux_children() {
    local pid
    for pid in $(mlm_ctl status | awk '$1 ~ /^[0-9]+$/ && $2 > 0 { print $2 }'); do
        [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = "$MLM_MUX_PID" ] || return 1
    done
}

cp "$here/slow.lua" "$tmp/policy.lua"
# Each worker's first math.random, to see that forked workers do not share
# one sequence (Lua seeds it from the time and an address).
echo 'function init() print("first random " .. math.random(1, 1000000000)) end' \
    >>"$tmp/policy.lua"
# 3 requests a transaction, a worker replaced every 5: many starts.
mlm_start "$tmp/policy.lua" "lua_instruction_limit = 0" "workers_min = 2" \
    "workers_max = 2" "worker_max_requests = 5" || exit 1
z1=$(wait_zygote)
t_check "the fork server runs as the multiplexor's child, with -Z (pid $z1)" \
    test -n "$z1" -a "$(ps -o ppid= -p "${z1:-0}" | tr -d ' ')" = "$MLM_MUX_PID" -a \
    "$(ps -o args= -p "${z1:-0}" | awk '{ print $NF }')" = "-Z"
s0=$(json_get "j['workers']['started']") f0=$(json_get "j['workers']['forked']")
bench "$tmp/b1" -c 2 -n 100
t_check "100 transactions through forked workers: all continued" \
    test "$(result continue "$tmp/b1")" = 100
t_check "workers were replaced (started $(json_get "j['workers']['started']") >= 60)" \
    test "$(json_get "j['workers']['started']")" -ge 60
# A fork server slower than ZYGOTE_ANSWER_MS (a loaded machine, a
# sanitizer build) is given up for exec until it is back: logged, and then
# exec'd starts are right. Its pids come after the workers start: counted
# once no worker is starting.
for i in $(seq 100); do
    [ "$(json_get "j['workers']['starting']")" = 0 ] && break
    sleep 0.1
done
lost=$(grep -c "worker fork server: no answer" "$MLM_DIR/mux.log")
started=$(( $(json_get "j['workers']['started']") - s0 ))
forked=$(( $(json_get "j['workers']['forked']") - f0 ))
t_check "every worker started once it was ready was forked by it (started $started, forked $forked, given up $lost times)" \
    test "$started" = "$forked" -o "$lost" -gt 0
t_check "stats names them" bash -c "'$CTL_BIN' -C '$MLM_CONF' stats | grep -q 'started by the fork server'"
t_check "workers forked by it are the multiplexor's children" workers_are_mux_children
# (a worker shows -Z from its fork until it is out of the fork server's code)
t_check "forked workers show no -Z" \
    bash -c "for i in \$(seq 50); do ps -o args= --ppid $MLM_MUX_PID | grep -c -- '-Z\$' | grep -qx 1 && exit 0; sleep 0.1; done; exit 1"
sleep 0.5
t_check "every worker that left was reaped and counted (started - exited = 2)" \
    test "$(json_get "j['workers']['started'] - j['workers']['exited']")" = 2
t_check "no zombie children" \
    bash -c "! ps -o stat= --ppid $MLM_MUX_PID | grep -q Z"
t_check "the same fork server served them all" test "$(zygote_pid)" = "$z1"
randoms=$(grep -o 'first random [0-9]*' "$MLM_DIR/mux.log" | awk '{ print $3 }')
t_check "each worker its own math.random ($(echo "$randoms" | sort -u | wc -l) different first numbers from $(echo "$randoms" | wc -l) workers)" \
    test "$(echo "$randoms" | sort -u | wc -l)" = "$(echo "$randoms" | wc -l)" -a \
    "$(echo "$randoms" | wc -l)" -ge 60
t_check "the fork server runs at nice $(loading_nice) (at $(nice_of "$z1"))" \
    test "$(nice_of "$z1")" = "$(loading_nice)"
t_check "the workers it forked serve at the multiplexor's nice ($(nice_of "$MLM_MUX_PID"))" \
    bash -c "for p in \$('$CTL_BIN' -C '$MLM_CONF' status | awk '\$1 ~ /^[0-9]+\$/ && \$3 != \"starting\" { print \$2 }'); do
                 test \"\$(ps -o ni= -p \$p | tr -d ' ')\" = '$(nice_of "$MLM_MUX_PID")' || exit 1; done"
# A descriptor kept per worker start would show as about 60 more here.
fds0=$(ls "/proc/$MLM_MUX_PID/fd" | wc -l)
bench "$tmp/b1b" -c 2 -n 100
sleep 0.5
fds1=$(ls "/proc/$MLM_MUX_PID/fd" | wc -l)
t_check "no descriptor leaks over 60 more starts ($fds0 -> $fds1 in the multiplexor)" \
    test $((fds1 - fds0)) -lt 10

# --- killed: the pool goes on with exec, then it comes back -----------------
lost_before=$(grep -Ec "worker fork server: (exited|cannot write to it|no answer)" "$MLM_DIR/mux.log")
kill -9 "$z1"
bench "$tmp/b2" -c 2 -n 30
t_check "fork server killed: 30 transactions all continued" \
    test "$(result continue "$tmp/b2")" = 30
# The multiplexor learns of the kill by the end of its socket, by a failed
# write of the next start, or by the missing answer, whichever comes first
# (at nice 19 on a busy machine the killed process may take a while to go).
lost_after=$lost_before
for i in $(seq 100); do
    lost_after=$(grep -Ec "worker fork server: (exited|cannot write to it|no answer)" "$MLM_DIR/mux.log")
    [ "$lost_after" -gt "$lost_before" ] && break
    sleep 0.1
done
t_check "fork server killed: logged" test "$lost_after" -gt "$lost_before"
z2=$(wait_zygote "$z1")
t_check "fork server killed: a new one runs ($z2)" test -n "$z2"
f0=$(json_get "j['workers']['forked']")
bench "$tmp/b3" -c 2 -n 30
t_check "through the new one: 30 continued" test "$(result continue "$tmp/b3")" = 30
t_check "the new one forks workers (forked $f0 -> $(json_get "j['workers']['forked']"))" \
    test "$(json_get "j['workers']['forked']")" -gt "$f0"

# --- stopped: no answer within a second, the request does not wait longer --
kill -STOP "$z2"
bench "$tmp/b4" -c 2 -n 30
t_check "fork server stopped: 30 transactions all continued, no error" \
    test "$(result continue "$tmp/b4"):$(result errors "$tmp/b4")" = 30:0
t_check "fork server stopped: logged as no answer" grep -q "worker fork server: no answer" "$MLM_DIR/mux.log"
t_check "fork server stopped: it was killed" \
    bash -c "for i in \$(seq 50); do kill -0 $z2 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
z3=$(wait_zygote "$z2")
t_check "fork server stopped: a new one runs ($z3)" test -n "$z3"

# --- a reload starts a new fork server --------------------------------------
mlm_ctl reload >/dev/null
t_check "reload: accepted" test $? = 0
z4=$(wait_zygote "$z3")
t_check "reload: a new fork server ($z4, was $z3)" test -n "$z4"
t_check "reload: the old one left" \
    bash -c "for i in \$(seq 50); do kill -0 $z3 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
bench "$tmp/b5" -c 2 -n 30
t_check "after the reload: 30 continued" test "$(result continue "$tmp/b5")" = 30
t_check "workers are still the multiplexor's children" workers_are_mux_children
mlm_stop >/dev/null
t_check "stopped: the fork server left with the multiplexor" \
    bash -c "for i in \$(seq 50); do kill -0 $z4 2>/dev/null || exit 0; sleep 0.1; done; exit 1"

t_done
