#!/usr/bin/env bash
# tests/tools/fuzz-dist.sh - every source of the fuzz targets (tests/fuzz/
# *.c, *.h, *.lua) is named in Makefile.am's EXTRA_DIST, so that `make
# fuzz` works from a release tarball (tests/fuzz/Makefile builds every
# fuzz_*.c it is asked for, and run.sh asks for all of them).
# Environment: top_srcdir (set by make check).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
fails=0
dist=$(sed -n '/^EXTRA_DIST += tests\/fuzz\//,/^$/p' "$top_srcdir/Makefile.am")
for f in "$top_srcdir"/tests/fuzz/*.c "$top_srcdir"/tests/fuzz/*.h \
    "$top_srcdir"/tests/fuzz/*.lua; do
    [ -e "$f" ] || continue
    name=tests/fuzz/${f##*/}
    if grep -qw -- "$name" <<<"$dist"; then
        echo "ok   $name in EXTRA_DIST"
    else
        echo "FAIL $name not in EXTRA_DIST (Makefile.am)"
        fails=$((fails + 1))
    fi
done
echo "$fails failed"
[ "$fails" -eq 0 ]
