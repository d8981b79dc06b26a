# tests/bench/bench-lib.sh - what the benchmark scripts share; sourced
# after tests/lib/mlm.sh, with mlm started.

# The footer of every benchmark list: a text footer on a plain body.
BENCH_FOOTER=$'-- \nlist100 footer: to unsubscribe, write to the -request address'

# bench_lists_setup DIR SIZES...: for each N, list N@lists.test with the
# prefix "[bench]", BENCH_FOOTER and N members: sender@bench.test (the
# poster mlm-bench uses) and N-1 others over 100 domains.
bench_lists_setup() {
    local dir=$1 n
    shift
    for n in "$@"; do
        mlm_ctl list create "list$n@lists.test" --prefix "[bench]" >/dev/null || return 1
        mlm_ctl list set "list$n@lists.test" footer "$BENCH_FOOTER" >/dev/null || return 1
        awk -v n="$n" 'BEGIN { print "sender@bench.test"
            for (i = 1; i < n; i++) printf "member%d@d%d.bench.test\n", i, i % 100 }' \
            >"$dir/members$n.txt"
        mlm_ctl member import "list$n@lists.test" "$dir/members$n.txt" >/dev/null || return 1
    done
}

# bench_workload: POLICY (the policy file) and TARGET (the first
# recipient) for WORKLOAD: "list" (default; posts to list100@, the
# shipped policy) or "decisions" (the decisions-only policy).
bench_workload() {
    case ${WORKLOAD:=list} in
    list) POLICY=$top_srcdir/lua/policy.lua TARGET=list100@lists.test ;;
    decisions) POLICY=$top_srcdir/tests/bench/policies/decisions.lua TARGET=member@lists.test ;;
    *) echo "WORKLOAD must be list or decisions, not $WORKLOAD" >&2; return 1 ;;
    esac
}
