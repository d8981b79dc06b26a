#!/usr/bin/env bash
# The README's demo runs to its end: posts accepted and expanded, refused
# as non-member and as unknown list, held and approved, then status and
# stats.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
[ "$(id -u)" -eq 0 ] || exit 77
out=$(mktemp /tmp/mlm-demo.XXXXXX)
trap 'rm -f "$out"' EXIT
# The demo builds in the source tree; in a VPATH build use that build.
top_builddir=$top_builddir top_srcdir=$top_srcdir timeout 300 "$top_srcdir/demo/run" --once >"$out" 2>&1
t_check "demo/run --once exits 0" test $? -eq 0
t_check "a member's post is expanded to the three members" \
    grep -q "to alice@example.org bob@example.org carol@example.org" "$out"
t_check "the non-member is refused with 550 5.7.1" grep -q "server: 550 5.7.1" "$out"
t_check "the unknown list is refused with 550 5.1.1" grep -q "server: 550 5.1.1" "$out"
t_check "the approved post is distributed with the prefix" grep -q "Subject: \[dev\] may I?" "$out"
t_check "mlm-ctl status shows workers" grep -Eq "^[0-9]+ +[0-9]+ +idle" "$out"
t_check "mlm-ctl stats shows the traffic" grep -Eq "^ +recipient +[1-9]" "$out"
t_done
