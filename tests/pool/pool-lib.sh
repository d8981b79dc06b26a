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
