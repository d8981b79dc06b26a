#!/usr/bin/env bash
# tests/bench/db-bench.sh - database figures for a big list: member import
# (a 1,000,000-member list built with mlm-ctl member import; the import of
# 100,000 addresses timed on its own, target < 2 s), one mlm-ctl command
# on it, and through tests/bench/db-lookup.c member lookups (us each) and
# recipient streaming (addresses/s). Prints figures; asserts no times.
#
#   tests/bench/db-bench.sh [MEMBERS]     (default 1000000)
#
# Environment: top_builddir, top_srcdir (default: this repository), CC,
# KEEP_TMP.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(cd "$here/../.." && pwd)}"
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
total=${1:-1000000}
batch=100000
[ "$total" -gt "$batch" ] || { echo "MEMBERS must be over $batch" >&2; exit 2; }
ctl_bin=$top_builddir/ctl/mlm-ctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlm-db-bench.XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
printf 'database = %s/mlm.db\nuser =\n' "$tmp" >"$tmp/mlm.conf"
ctl() { "$ctl_bin" -C "$tmp/mlm.conf" "$@"; }

# seconds SINCE-NS: elapsed seconds with milliseconds.
now_ns() { date +%s%N; }
seconds() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

echo "db-bench: $total members, sqlite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1), $(nproc) CPUs"

# Addresses over 100 domains, in an order unrelated to the index order.
awk -v n="$total" 'BEGIN {
    for (i = 1; i <= n; i++)
        printf "user%d.%07d@d%02d.example.org\n", (i * 7919) % 1000, i, i % 100
}' >"$tmp/all.txt"
head -n $((total - batch)) "$tmp/all.txt" >"$tmp/first.txt"
tail -n $batch "$tmp/all.txt" >"$tmp/last.txt"
shuf -n 1000 --random-source=<(yes) "$tmp/all.txt" >"$tmp/lookup.txt"

ctl list create empty@example.org >/dev/null
t=$(now_ns)
ctl member import empty@example.org "$tmp/last.txt" >/dev/null
echo "import $batch into an empty list: $(seconds "$t") s"

ctl list create big@example.org >/dev/null
t=$(now_ns)
ctl member import big@example.org "$tmp/first.txt" >/dev/null
echo "import $((total - batch)) into an empty list: $(seconds "$t") s"
t=$(now_ns)
out=$(ctl member import big@example.org "$tmp/last.txt")
echo "import $batch into a list of $((total - batch)) (target < 2 s): $(seconds "$t") s ($out)"
t=$(now_ns)
out=$(ctl member import big@example.org "$tmp/last.txt")
echo "import the same $batch again (all present): $(seconds "$t") s ($out)"

addr=$(head -n 1 "$tmp/lookup.txt")
t=$(now_ns)
ctl member set big@example.org "$addr" moderated yes >/dev/null
echo "mlm-ctl member set (one process, one lookup and update): $(seconds "$t") s"
t=$(now_ns)
ctl lists >/dev/null
echo "mlm-ctl lists (member counts): $(seconds "$t") s"
t=$(now_ns)
ctl members big@example.org --role member >/dev/null
echo "mlm-ctl members of $total (aligned, two passes): $(seconds "$t") s"
t=$(now_ns)
ctl members big@example.org --role member --json >/dev/null
echo "mlm-ctl members --json of $total: $(seconds "$t") s"
echo "database size: $(du -k "$tmp/mlm.db" | cut -f1) KB"

${CC:-cc} -O2 -D_GNU_SOURCE -I"$top_srcdir/common" -I"$top_srcdir/db" -o "$tmp/db-lookup" \
    "$here/db-lookup.c" "$top_builddir/db/libmlmdb.a" "$top_builddir/common/libmlmcommon.a" \
    $(pkg-config --cflags --libs sqlite3 glib-2.0)
"$tmp/db-lookup" "$tmp/mlm.db" big@example.org "$tmp/lookup.txt"
