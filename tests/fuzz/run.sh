#!/bin/sh
# run.sh [SECONDS [TARGET...]] - build the fuzz targets (unless
# FUZZ_NO_BUILD=1) and fuzz each TARGET (default: all) for SECONDS (default
# $FUZZ_SECONDS, else 60). For CI: tests/fuzz/run.sh 20
#
# Each target starts from its seeds (corpus/TARGET, read only) and from
# what earlier runs found (build/corpus/TARGET). A crash, a timeout, a leak
# or an out-of-memory stops libFuzzer: the input is saved as
# build/artifacts/TARGET/crash-* (or timeout-*, leak-*, oom-*), the report
# is in build/logs/, and the target is restarted for the time left, at most
# MAX_CRASHES (5) times, and not when the same input crashed again (a seed,
# most likely). One line per target:
#
#     TARGET: N execs, M new units, crashes: K
#
# then coverage and exec/s, and each finding's report summary. Exits 1 when
# any target crashed, 2 when something could not be built or run.
#
# FUZZ_JOBS (default: the number of CPUs) targets run at a time, each on
# its own corpus and artifacts; the lines are printed in target order.
set -u
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
targets=${*:-proto config address message footer dsn headers mime dmarc}
out=${OUT:-$here/build}
max_crashes=${MAX_CRASHES:-5}

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
    if ! make -s -j"$jobs" -C "$here" TARGETS="$targets" >"$out.make.log" 2>&1; then
        tail -n 30 "$out.make.log"
        echo "fuzz targets did not build" >&2
        exit 2
    fi
    rm -f "$out.make.log"
fi

# Per-target options: the largest input, and a dictionary when there is one.
options() {
    case $1 in
        proto) echo "-max_len=8192" ;;
        config) echo "-max_len=8192 -dict=$here/dict/config.dict" ;;
        address) echo "-max_len=2048" ;;
        message | footer) echo "-max_len=65536 -dict=$here/dict/mime.dict" ;;
        # long inputs from the start: the danger here is running time (16 KiB
        # is enough to show a quadratic pattern and keeps runs fast)
        dsn) echo "-max_len=16384 -len_control=0 -dict=$here/dict/dsn.dict" ;;
        *) echo "-max_len=4096" ;;
    esac
}

# How many files a directory holds.
count() {
    set -- "$1"/*
    if [ -e "$1" ]; then echo $#; else echo 0; fi
}

# The last value of "key: N" in libFuzzer's status lines.
last_stat() {
    grep -o "$1: [0-9]*" "$2" | tail -n 1 | sed 's/.*: //'
}

# Leaks still unfixed can be silenced while the rest is fuzzed: one
# "leak:FUNCTION" a line in lsan.supp (remove the line with the fix).
if [ -z "${LSAN_OPTIONS:-}" ] && [ -f "$here/lsan.supp" ]; then
    LSAN_OPTIONS=suppressions=$here/lsan.supp
    export LSAN_OPTIONS
fi

# What a crashed run leaves behind (its temporary files) stays in build/.
TMPDIR=$out/tmp
export TMPDIR
mkdir -p "$TMPDIR"

# fuzz_one TARGET: fuzz it for $secs seconds; prints its lines; returns 1
# when it crashed, 2 when it could not run. Its variables are the script's
# (sh has no locals): call it in a subshell.
fuzz_one() {
    t=$1
    bin=$out/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "$t: no $bin"
        return 2
    fi
    work=$out/corpus/$t
    art=$out/artifacts/$t
    logs=$out/logs
    mkdir -p "$work" "$art" "$logs"
    execs=0 newunits=0 crashes=0 cov=0 ft=0 rate=0 run=0
    findings='' units=''
    start=$(date +%s)
    while :; do
        left=$((secs - ($(date +%s) - start)))
        [ "$left" -gt 0 ] || break
        run=$((run + 1))
        log=$logs/$t.$run.log
        before=$(count "$art")
        # shellcheck disable=SC2046
        "$bin" $(options "$t") -max_total_time="$left" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
            "$work" "$here/corpus/$t" >"$log" 2>&1
        rc=$?
        n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        u=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
        [ -n "$n" ] || n=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        execs=$((execs + ${n:-0}))
        newunits=$((newunits + ${u:-0}))
        c=$(last_stat cov "$log")
        f=$(last_stat ft "$log")
        r=$(last_stat exec/s "$log")
        [ -n "$c" ] && cov=$c
        [ -n "$f" ] && ft=$f
        [ -n "$r" ] && rate=$r
        if [ $rc -eq 0 ]; then
            break
        fi
        if [ "$(count "$art")" -eq "$before" ] && [ -z "$n" ]; then
            echo "$t: the fuzzer did not run (exit $rc):"
            tail -n 20 "$log"
            return 2
        fi
        unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        # The same input again (one of the seeds, say): restarting is futile.
        case " $units " in *" $unit "*) break ;; esac
        units="$units $unit"
        crashes=$((crashes + 1))
        findings="$findings $log"
        # Again with a full stack: glib, GMime and Lua have no frame pointers.
        [ -n "$unit" ] && [ -f "$unit" ] &&
            ASAN_OPTIONS=fast_unwind_on_malloc=0:${ASAN_OPTIONS:-} \
                "$bin" -timeout=60 "$unit" >"$log.repro" 2>&1
        [ "$crashes" -lt "$max_crashes" ] || break
    done
    echo "$t: $execs execs, $newunits new units, crashes: $crashes"
    echo "  cov $cov, ft $ft, corpus $(count "$work") found +" \
        "$(count "$here/corpus/$t") seeds, $rate exec/s (last run)"
    for log in $findings; do
        echo "  finding, report in $log (full stack: $log.repro):"
        grep -E '^(FUZZ PROPERTY FAILED|==[0-9]+==ERROR|SUMMARY|.*runtime error:|ALARM|artifact_prefix=|Test unit written to)' \
            "$log" | head -n 6 | sed 's/^/    /'
    done
    [ "$crashes" -eq 0 ]
}

# Lane L of FUZZ_JOBS runs targets L, L+jobs, ... one after the other; each
# target's lines and status go to $out/summary/TARGET{,.rc}.
fuzz_jobs=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
[ "$fuzz_jobs" -ge 1 ] 2>/dev/null || fuzz_jobs=1
rm -rf "$out/summary"
mkdir -p "$out/summary"
lane=0 lane_pids=''
while [ "$lane" -lt "$fuzz_jobs" ]; do
    (
        position=0
        for target in $targets; do
            if [ $((position % fuzz_jobs)) -eq "$lane" ]; then
                (fuzz_one "$target") >"$out/summary/$target" 2>&1
                echo $? >"$out/summary/$target.rc"
            fi
            position=$((position + 1))
        done
    ) &
    lane_pids="$lane_pids $!"
    lane=$((lane + 1))
done
for pid in $lane_pids; do
    wait "$pid"
done

failed=0
for t in $targets; do
    cat "$out/summary/$t" 2>/dev/null || echo "$t: not run"
    rc=$(cat "$out/summary/$t.rc" 2>/dev/null || echo 2)
    case $rc in
        0) ;;
        1) [ "$failed" -eq 2 ] || failed=1 ;;
        *) failed=2 ;;
    esac
done
exit $failed
