#!/usr/bin/env bash
# Workers writing to the database on every request while mlm-ctl imports
# large member files into it: no "database is locked" failure anywhere
# (WAL, busy_timeout, short write transactions).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
trap 'mlm_stop >/dev/null; rm -rf "$tmp"' EXIT
tmp=$(mktemp -d /tmp/mlm-dbc.XXXXXX)
mlm_start "$here/dbwriters.lua" "workers_min = 4" "workers_max = 4" || exit 1
result() { sed -n 's/^RESULT //p' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
for l in a b c; do mlm_ctl list create $l@lists.example >/dev/null; done
seq 1 50000 | sed 's/^/user/; s/$/@example.org/' >"$tmp/members"
"$BENCH" -s "$MLM_MILTER" -c 8 -n 3000 -t a@lists.example >"$tmp/bench" 2>&1 &
bpid=$!
rc=0
for l in a b c; do
    mlm_ctl member import $l@lists.example "$tmp/members" >"$tmp/import.$l" 2>&1 || rc=1
done
wait $bpid
t_check "three imports of 50,000 members while workers write (rc $rc)" test "$rc" = 0
t_check "every list got its 50,000 members" \
    test "$(mlm_sql 'SELECT count(*) FROM members')" = 150000
t_check "bench: 3000 transactions, none failed (tempfail $(result tempfail "$tmp/bench"))" \
    test "$(result tempfail "$tmp/bench")" = 0 -a "$(result errors "$tmp/bench")" = 0
t_check "every request's write is in the database" \
    test "$(mlm_sql 'SELECT count(*) FROM seen')" = 3000
t_check "no 'database is locked' anywhere" bash -c "! grep -qi 'locked' '$MLM_DIR'/*.log '$tmp'/import.*"
t_done
