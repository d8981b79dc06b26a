# tests/pool/pool-lib.sh - what the pool tests share: run mlm-bench and
# read its RESULT line, read mlm-ctl stats --json. Sourced after
# tests/lib/mlm.sh.
BENCH=$top_builddir/tests/bench/mlm-bench

result() { # KEY FILE -> value from the RESULT line
    sed -n 's/^RESULT //p' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
bench() { # OUTFILE ARGS...
    local out=$1
    shift
    "$BENCH" -s "$MLM_MILTER" "$@" >"$out" 2>&1
}
json_get() { # EXPR  (python expression over j = stats --json)
    mlm_ctl stats --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}
nice_of() { # PID -> its nice value
    ps -o ni= -p "$1" | tr -d ' '
}
# The nice value workers forked by the fork server load at: 19, unless
# they could not come back from it here (RLIMIT_NICE), then the
# multiplexor's own.
loading_nice() {
    if grep -q "could not come back" "$MLM_DIR/mux.log"; then
        nice_of "$MLM_MUX_PID"
    else
        echo 19
    fi
}
zygote_pid() { # the fork server's pid once it is ready, or nothing
    # (as the multiplexor knows it: a worker just forked still shows -Z)
    json_get "j['fork_server']['pid'] if j['fork_server']['ready'] else ''"
}
wait_zygote() { # [NOT-PID] -> its pid, once one (other than NOT-PID) is ready
    local z i
    for i in $(seq 100); do
        z=$(zygote_pid)
        [ -n "$z" ] && [ "$z" != "${1:-}" ] && { echo "$z"; return 0; }
        sleep 0.1
    done
    return 1
}
