#!/usr/bin/env bash
# Recipient expansion follows the membership from one post to the next.
# A worker keeps the recipients of the list it expanded last while the
# database is unchanged: a member added or removed by mlm-ctl (another
# connection), by the policy itself (the worker's own connection), or a
# member whose delivery is disabled must show in the very next post.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
trap 'mlm_stop || exit 1' EXIT
BENCH=$top_builddir/tests/bench/mlm-bench
tmp=$(mktemp -d /tmp/mlm-expansion.XXXXXX)
trap 'mlm_stop; rm -rf "$tmp"' EXIT

# One worker, so every post meets the same cache.
mlm_start "$here/policies/expand.lua" "workers_min = 1" "workers_max = 1" || exit 1
L=cache@lists.test
mlm_ctl list create $L >/dev/null
for m in ann bob cat; do mlm_ctl member add $L $m@example.org >/dev/null; done

# added [SUBJECT]: recipients one post gets.
added() {
    printf 'From: poster@example.net\nSubject: %s\n' "${1:-post}" >"$tmp/headers"
    "$BENCH" -s "$MLM_MILTER" -n 1 -t $L -H "$tmp/headers" >"$tmp/out" 2>&1
    sed -n 's/^RESULT .*rcpt_added=\([0-9]*\).*/\1/p' "$tmp/out"
}

t_check "3 members: 3 recipients" test "$(added)" = 3
t_check "again, from the worker's copy: 3" test "$(added)" = 3
mlm_ctl member add $L dan@example.org >/dev/null
t_check "a member added with mlm-ctl gets the next post (4)" test "$(added)" = 4
mlm_ctl member remove $L ann@example.org >/dev/null
t_check "a member removed with mlm-ctl does not (3)" test "$(added)" = 3
mlm_ctl member set $L bob@example.org delivery disabled-by-admin >/dev/null
t_check "a member whose delivery is disabled does not (2)" test "$(added)" = 2
t_check "a member the policy adds gets that same post (3)" test "$(added 'add eve@example.org')" = 3
t_check "... and the next (3)" test "$(added)" = 3
t_check "a member the policy removes does not get that post (2)" test "$(added 'drop eve@example.org')" = 2
t_done
