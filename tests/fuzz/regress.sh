#!/bin/sh
# regress.sh [TARGET...] - run each fuzz target once over its seeds
# (corpus/TARGET) and then over each saved input in crashes/TARGET-*, one
# at a time, with full stacks. Prints one line per input set; exits 1 when
# anything still crashes. Logs are in build/regress/. `make regress` runs
# this after building.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/build}
targets=${*:-proto config address message footer dsn headers mime dmarc}
logs=$out/regress
mkdir -p "$logs"
TMPDIR=$out/tmp
ASAN_OPTIONS=fast_unwind_on_malloc=0:${ASAN_OPTIONS:-}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp}
export TMPDIR ASAN_OPTIONS LSAN_OPTIONS
mkdir -p "$TMPDIR"

failed=0
# run NAME LOG INPUT...: one libFuzzer run over the inputs, reported
run() {
    name=$1 log=$2
    shift 2
    if "$bin" -runs=1 -timeout=10 -rss_limit_mb=2048 "$@" >"$log" 2>&1; then
        echo "ok    $name"
    else
        failed=1
        echo "FAIL  $name: $(grep -m1 -E 'FUZZ PROPERTY FAILED|ERROR|runtime error|ALARM|SUMMARY' "$log")"
        echo "      log: $log"
    fi
}

for t in $targets; do
    bin=$out/fuzz_$t
    [ -x "$bin" ] || { echo "no $bin (make -C tests/fuzz first)" >&2; exit 2; }
    run "$t seeds" "$logs/$t.seeds.log" "$here/corpus/$t"/*
    for f in "$here/crashes/$t"-*; do
        [ -f "$f" ] || continue
        run "$t ${f##*/}" "$logs/${f##*/}.log" "$f"
    done
done
exit $failed
