#!/usr/bin/env bash
# Bounce reports to NAME-bounces@ in the shapes Postfix, Exim, Sendmail and
# Exchange write, run through the shipped list policy with `mlm-ctl try`
# (no daemons): failed 5.x.x reports score the member once a day, 4.x.x
# and delayed do not, 5.7.x is recorded but not scored, reports are never
# delivered, and mail to -bounces that is no report goes to the owners.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-dsn.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf MLM_PORT=1
mlm_write_conf "$top_srcdir/lua/policy.lua"
L=dev@lists.example
mlm_ctl list create $L --owner owner@example.org >/dev/null
mlm_ctl list set $L bounce_threshold 2 >/dev/null
for m in bob carol dave erin frank gina; do
    mlm_ctl member add $L $m@example.org >/dev/null
done
try() { mlm_ctl try --from '' --to dev-bounces@lists.example "$here/dsn/$1" >"$tmp/$1.out" 2>&1; }
score() { mlm_ctl members $L | awk -v a="$1" '$1 == a {print $4}'; }
delivery() { mlm_ctl members $L | awk -v a="$1" '$1 == a {print $3}'; }

for shape in postfix:carol:5.1.1 exim:bob:5.0.0 sendmail:dave:5.2.2 exchange:erin:5.1.10; do
    IFS=: read -r name who status <<<"$shape"
    try "$name.eml"
    t_check "$name report: not delivered" grep -q "^result: discarded" "$tmp/$name.eml.out"
    t_check "$name report: bounce of $who recorded with $status" \
        bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep '$who@example.org' | grep -q '$status'"
    t_check "$name report: $who scored 1 (got $(score $who@example.org))" test "$(score $who@example.org)" = 1
done
try postfix.eml
t_check "a second report the same day does not score again" test "$(score carol@example.org)" = 1
t_check "delivery still enabled below the threshold" test "$(delivery carol@example.org)" = enabled
sqlite3 "$tmp/mlm.db" "UPDATE members SET last_bounce = '2000-01-01' WHERE address = 'carol@example.org'"
try postfix.eml
t_check "a report on another day scores again" test "$(score carol@example.org)" = 2
t_check "at bounce_threshold delivery becomes disabled-by-bounces" \
    test "$(delivery carol@example.org)" = disabled-by-bounces
try delayed.eml
t_check "delayed 4.x.x report: not scored" test "$(score frank@example.org)" = 0
t_check "delayed report: not delivered" grep -q "^result: discarded" "$tmp/delayed.eml.out"
try spamfilter.eml
t_check "5.7.x report: recorded" bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep -q gina@example.org"
t_check "5.7.x report: not scored" test "$(score gina@example.org)" = 0
printf 'From: someone@example.net\r\nTo: dev-bounces@lists.example\r\nSubject: hello?\r\n\r\nnot a report\r\n' >"$tmp/plain.eml"
mlm_ctl try --from someone@example.net --to dev-bounces@lists.example "$tmp/plain.eml" >"$tmp/plain.out" 2>&1
t_check "mail to -bounces that is no report goes to the owners" grep -q "owner@example.org" "$tmp/plain.out"
t_done
