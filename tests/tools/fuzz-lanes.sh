#!/usr/bin/env bash
# tests/tools/fuzz-lanes.sh - tests/fuzz/run.sh runs every target exactly
# once and prints one summary line for each, whatever FUZZ_JOBS is.
#
# The fuzz binaries are stand-ins here (shell scripts that print libFuzzer's
# final statistics and log their run), since what is checked is the script
# that schedules them: with FUZZ_NO_BUILD=1 run.sh only runs what it finds
# in OUT. Each stand-in reports a different number of executions, so a
# lane that let a target's figures into its own bookkeeping would run a
# target twice or not at all. The stand-ins exit 0 at once, so the 600 s
# asked for are never waited (with 1 s, a second that turns before the
# first run would skip it).
# Environment: top_srcdir (set by make check).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
run=$top_srcdir/tests/fuzz/run.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

targets="proto config address message footer dsn headers mime dmarc"
make_stand_ins() {
    out=$1
    mkdir -p "$out"
    execs=1001
    for t in $targets; do
        cat >"$out/fuzz_$t" <<STAND_IN
#!/bin/sh
echo "$t" >>"$out/ran"
echo "#$execs	DONE   cov: 7 ft: 9 corp: 1/1b exec/s: 3"
echo "stat::number_of_executed_units: $execs"
echo "stat::new_units_added: 1"
exit 0
STAND_IN
        chmod +x "$out/fuzz_$t"
        execs=$((execs + 17))
    done
}

for jobs in 1 2 3 4; do
    out=$tmp/out$jobs
    make_stand_ins "$out"
    FUZZ_NO_BUILD=1 FUZZ_JOBS=$jobs OUT=$out "$run" 600 >"$out/printed" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] && ok "FUZZ_JOBS=$jobs: exit 0" ||
        fail "FUZZ_JOBS=$jobs: exit $rc"
    for t in $targets; do
        ran=$(grep -cx "$t" "$out/ran")
        [ "$ran" -eq 1 ] && ok "FUZZ_JOBS=$jobs: $t ran once" ||
            fail "FUZZ_JOBS=$jobs: $t ran $ran times"
        lines=$(grep -c "^$t: [0-9]* execs" "$out/printed")
        [ "$lines" -eq 1 ] && ok "FUZZ_JOBS=$jobs: $t has its line" ||
            fail "FUZZ_JOBS=$jobs: $t has $lines summary lines"
    done
    # the lines come in target order
    order=$(sed -n 's/^\([a-z]*\): [0-9]* execs.*/\1/p' "$out/printed" | tr '\n' ' ')
    [ "$order" = "$targets " ] && ok "FUZZ_JOBS=$jobs: target order" ||
        fail "FUZZ_JOBS=$jobs: order is '$order'"
done

# A target that cannot run is reported by name, and the exit is 2.
out=$tmp/missing
make_stand_ins "$out"
rm "$out/fuzz_dsn"
FUZZ_NO_BUILD=1 FUZZ_JOBS=2 OUT=$out "$run" 600 >"$out/printed" 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok "missing target: exit 2" || fail "missing target: exit $rc"
grep -q "^dsn: no " "$out/printed" && ok "missing target: named" ||
    fail "missing target: not named"

echo "$fails failed"
[ "$fails" -eq 0 ]
