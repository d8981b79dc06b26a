#!/usr/bin/env bash
# What a worker remembers between requests follows the database from one
# post to the next. A worker keeps the recipients of the list it expanded
# last, the lists addresses named and whether a list has patterns while
# nothing commits, and each list's settings: a member added or removed by
# mlm-ctl (another connection) or by the policy itself (the worker's own
# connection), a member whose delivery is disabled, a setting changed, a
# list created or deleted, a banned pattern set or cleared must all show
# in the very next post.
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
t_check "a setting read with its default (posting members)" test "$(added 'expect posting members')" = 2
mlm_ctl list set $L subject_prefix '[c1]' >/dev/null
t_check "a setting changed with mlm-ctl is read by the next post" test "$(added 'expect subject_prefix [c1]')" = 2
t_check "a setting the policy changes is read in that same post" test "$(added 'set subject_prefix [c2]')" = 2
t_check "... and by the next" test "$(added 'expect subject_prefix [c2]')" = 2
t_check "counts read as numbers (max_message_size 0)" test "$(added 'expect max_message_size 0')" = 2
mlm_stop >/dev/null

# The shipped policy: lists and patterns, one worker again.
mlm_start "$top_srcdir/lua/policy.lua" "workers_min = 1" "workers_max = 1" || exit 1
N=new@lists.test
outcome() { # the first decision of one post from sender@bench.test to N
    "$BENCH" -s "$MLM_MILTER" -n 1 -t $N >"$tmp/out" 2>&1
    for o in continue accept reject tempfail discard; do
        [ "$(sed -n "s/^RESULT .* $o=\([0-9]*\).*/\1/p" "$tmp/out")" = 1 ] && echo $o
    done
}
mlm_ctl list create other@lists.test >/dev/null # lists.test is a list domain
t_check "no such list yet: refused ($(outcome))" test "$(outcome)" = reject
mlm_ctl list create $N >/dev/null
mlm_ctl member add $N sender@bench.test >/dev/null
t_check "the list created with mlm-ctl takes the next post ($(outcome))" test "$(outcome)" = continue
mlm_ctl list set $N banned sender@bench.test >/dev/null
t_check "a banned pattern set with mlm-ctl refuses the next post ($(outcome))" test "$(outcome)" = reject
mlm_ctl list set $N banned "" >/dev/null
t_check "... and cleared, the next is taken again ($(outcome))" test "$(outcome)" = continue
mlm_ctl list delete $N >/dev/null
t_check "the list deleted: the next post is refused ($(outcome))" test "$(outcome)" = reject
t_done
