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
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
# mlm-ctl try gives a policy (and so sendmail) only PATH, TZ, LANG, LC_*
# and TMPDIR of its environment: the directory goes on the command line.
FAKE_SENDMAIL_DIR=$tmp/sent
mkdir -p "$FAKE_SENDMAIL_DIR"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$FAKE_SENDMAIL_DIR $here/../lib/fake-sendmail.sh"
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
mlm_sql "UPDATE members SET last_bounce = '2000-01-01' WHERE address = 'carol@example.org'"
try postfix.eml
t_check "a report on another day scores again" test "$(score carol@example.org)" = 2
t_check "at bounce_threshold delivery stays enabled: a probe goes out first" \
    test "$(delivery carol@example.org)" = enabled
probe=$(grep -l "^ARGS: -f dev-bounces+probe-[0-9a-f]*@lists.example carol@example.org" "$FAKE_SENDMAIL_DIR"/sent.* 2>/dev/null | head -1)
t_check "... the probe: sent to carol from dev-bounces+probe-TOKEN@" test -n "$probe"
token=$(sed -n '1s/^ARGS: -f dev-bounces+probe-\([0-9a-f]*\)@.*/\1/p' "$probe" 2>/dev/null)
mlm_ctl try --from '' --to dev-bounces+probe-ffff0000@lists.example "$here/dsn/postfix.eml" >/dev/null 2>&1
t_check "a bounce to a probe address with a wrong token disables no one" \
    test "$(delivery carol@example.org)" = enabled
mlm_ctl try --from '' --to "dev-bounces+probe-$token@lists.example" "$here/dsn/postfix.eml" >"$tmp/probe.out" 2>&1
t_check "the probe's bounce disables carol (disabled-by-bounces)" \
    test "$(delivery carol@example.org)" = disabled-by-bounces
t_check "... and is not delivered" grep -q "^result: discarded" "$tmp/probe.out"
# An unbounced probe: after bounce_probe_wait days the score starts again.
mlm_ctl member add $L kim@example.org >/dev/null
sed 's/carol@example.org/kim@example.org/g' "$here/dsn/postfix.eml" >"$tmp/kim.eml"
mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/kim.eml" >/dev/null 2>&1
mlm_sql "UPDATE members SET last_bounce = '2000-01-01' WHERE address = 'kim@example.org'"
mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/kim.eml" >/dev/null 2>&1
t_check "kim at the threshold: probed, still enabled" \
    bash -c "test '$(delivery kim@example.org)' = enabled && grep -q 'probe-[0-9a-f]*@lists.example kim@example.org' '$FAKE_SENDMAIL_DIR'/sent.*"
mlm_ctl bounces $L --members >"$tmp/kim.members"
t_check "bounces --members: kim's probe out, with its time" \
    grep -q "^kim@example.org  *2  *enabled  *[0-9-]*  *probe:20[0-9-]*T" "$tmp/kim.members"
mlm_sql "UPDATE members SET last_bounce = '2000-01-01', probe_sent = probe_sent - 8 * 86400 WHERE address = 'kim@example.org'"
mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/kim.eml" >/dev/null 2>&1
t_check "a probe unbounced for bounce_probe_wait days: the score starts again (got $(score kim@example.org))" \
    test "$(score kim@example.org)" = 1
t_check "... and delivery stays enabled" test "$(delivery kim@example.org)" = enabled
# bounce_probe_wait 0: disabled at the threshold, no probe.
mlm_ctl list set $L bounce_probe_wait 0 >/dev/null
mlm_sql "UPDATE members SET last_bounce = '2000-01-01' WHERE address = 'kim@example.org'"
mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/kim.eml" >/dev/null 2>&1
t_check "bounce_probe_wait 0: disabled at bounce_threshold without a probe" \
    test "$(delivery kim@example.org)" = disabled-by-bounces
mlm_ctl list set $L bounce_probe_wait 7 >/dev/null
try delayed.eml
t_check "delayed 4.x.x report: not scored" test "$(score frank@example.org)" = 0
t_check "delayed report: not delivered" grep -q "^result: discarded" "$tmp/delayed.eml.out"
try spamfilter.eml
t_check "5.7.x report: recorded" bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep -q gina@example.org"
t_check "5.7.x report: not scored" test "$(score gina@example.org)" = 0
mlm_ctl bounces $L --members >"$tmp/members.out"
t_check "bounces --members: carol with score 2, disabled, no probe out, last status 5.1.1" \
    grep -q "^carol@example.org  *2  *disabled-by-bounces  *[0-9-]*  *-  *5.1.1 " "$tmp/members.out"
t_check "bounces --members: gina's unscored 5.7.x is her last status" \
    grep -q "^gina@example.org  *0  *enabled  *-  *-  *5.7.1 " "$tmp/members.out"
t_check "bounces --members: members without bounces left out" \
    bash -c "! grep -q '^frank@example.org' '$tmp/members.out'"
mlm_ctl bounces $L --members --json >"$tmp/members.json"
t_check "bounces --members --json: score, delivery, last status and diagnostic" python3 -c '
import json, sys
rows = {r["address"]: r for r in json.load(open(sys.argv[1]))}
c = rows["carol@example.org"]
assert c["score"] == 2 and c["delivery"] == "disabled-by-bounces", c
assert c["last_status"] == "5.1.1" and c["last_diagnostic"], c
assert c["last_bounce"], c' "$tmp/members.json"
printf 'From: someone@example.net\r\nTo: dev-bounces@lists.example\r\nSubject: hello?\r\n\r\nnot a report\r\n' >"$tmp/plain.eml"
mlm_ctl try --from someone@example.net --to dev-bounces@lists.example "$tmp/plain.eml" >"$tmp/plain.out" 2>&1
t_check "mail to -bounces that is no bounce: dropped (250), not forwarded" grep -q "^result: discarded" "$tmp/plain.out"
digests() { grep -l "^Subject: Unrecognised mail to dev-bounces@lists.example" "$FAKE_SENDMAIL_DIR"/sent.* 2>/dev/null; }
t_check "... the owners get a digest at once (the first this hour)" test "$(digests | wc -l)" = 1
d=$(digests | head -1)
t_check "... with the null sender, to the owners" grep -q "^ARGS: .*-f <> .*owner@example.org" "$d"
t_check "... naming the mail's sender and subject" bash -c "grep -q 'someone@example.net' '$d' && grep -q 'Subject: hello?' '$d'"
sed 's/hello?/second one/' "$tmp/plain.eml" >"$tmp/plain2.eml"
mlm_ctl try --from someone@example.net --to dev-bounces@lists.example "$tmp/plain2.eml" >/dev/null 2>&1
t_check "a second one within the hour: no second digest" test "$(digests | wc -l)" = 1
mlm_sql "UPDATE meta SET value = CAST(CAST(value AS BIGINT) - 3601 AS TEXT) WHERE key LIKE 'bounce-digest:%'"
sed 's/hello?/third one/' "$tmp/plain.eml" >"$tmp/plain3.eml"
mlm_ctl try --from someone@example.net --to dev-bounces@lists.example "$tmp/plain3.eml" >/dev/null 2>&1
t_check "an hour later the next one sends the digest of both waiting" test "$(digests | wc -l)" = 2
d2=$(grep -l "third one" $(digests))
t_check "... which holds the second and the third" bash -c "grep -q 'second one' '$d2' && grep -q 'read as a bounce: 2\.' '$d2'"

# Text bounces (no RFC 3464 report), Original-Recipient, and what never
# scores: auto-replies, ARF complaints.
corpus=$here/../bounces/corpus
for m in userx@example.de hank@example.org ivy@example.org; do
    mlm_ctl member add $L $m >/dev/null
done
mlm_ctl try --from '' --to dev-bounces@lists.example "$corpus/qmail_01.txt" >"$tmp/qmail.out" 2>&1
t_check "qmail text bounce: not delivered" grep -q "^result: discarded" "$tmp/qmail.out"
t_check "qmail text bounce: the member scored (got $(score userx@example.de))" test "$(score userx@example.de)" = 1
b=DSNBOUNDARY
printf 'From: MAILER-DAEMON@mx.example.net\r\nTo: dev-bounces@lists.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=%s\r\n\r\n--%s\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nOriginal-Recipient: rfc822;hank@example.org\r\nFinal-Recipient: rfc822;hank.alias@mbox.example.net\r\nAction: failed (bad destination)\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n--%s--\r\n' $b $b $b $b >"$tmp/orcpt.eml"
mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/orcpt.eml" >"$tmp/orcpt.out" 2>&1
t_check "Original-Recipient names the member; Action 'failed (...)', status from Diagnostic-Code: scored (got $(score hank@example.org))" test "$(score hank@example.org)" = 1
printf 'From: ivy@example.org\r\nTo: dev-bounces@lists.example\r\nSubject: Out of office: back Monday\r\nAuto-Submitted: auto-replied\r\n\r\nI am away; user unknown jokes aside, ivy@example.org is not here.\r\n' >"$tmp/vacation.eml"
mlm_ctl try --from ivy@example.org --to dev-bounces@lists.example "$tmp/vacation.eml" >"$tmp/vacation.out" 2>&1
t_check "auto-reply: not scored" test "$(score ivy@example.org)" = 0
t_check "auto-reply: dropped, not sent to the owners" grep -q "^result: discarded" "$tmp/vacation.out"
sed 's/^Subject: .*/Subject: Undeliverable: Out of office plans/' "$corpus/simple_05.txt" >"$tmp/ooo-bounce.eml"
mlm_ctl member add $L userx@example.net >/dev/null
mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/ooo-bounce.eml" >/dev/null 2>&1
t_check "a bounce quoting a vacation-like subject is still a bounce: scored (got $(score userx@example.net))" test "$(score userx@example.net)" = 1
printf 'From: fbl@isp.example\r\nTo: dev-bounces@lists.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=%s\r\n\r\n--%s\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report; the mailbox does not exist? no: spam.\r\n--%s\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\nOriginal-Rcpt-To: ivy@example.org\r\n\r\n--%s--\r\n' $b $b $b $b >"$tmp/arf.eml"
mlm_ctl try --from fbl@isp.example --to dev-bounces@lists.example "$tmp/arf.eml" >"$tmp/arf.out" 2>&1
t_check "ARF complaint: not scored" test "$(score ivy@example.org)" = 0
t_check "ARF complaint: dropped" grep -q "^result: discarded" "$tmp/arf.out"
t_check "ARF complaint: recorded as a complaint in the bounce log" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep '^ivy@example.org' | grep -q 'complaint  *-  .*ARF abuse report'"
"$CTL_BIN" -C "$MLM_CONF" bounces parse "$tmp/arf.eml" >"$tmp/arf.parse"
t_check "ARF complaint: parse says complaint" grep -q "^verdict: complaint" "$tmp/arf.parse"
"$CTL_BIN" -C "$MLM_CONF" bounces parse --json "$tmp/orcpt.eml" >"$tmp/orcpt.json"
t_check "bounces parse --json: format, address, final, status, verdict" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
x = r["recipients"][0]
assert r["format"] == "rfc3464" and r["verdict"] == "failure", r
assert x["address"] == "hank@example.org" and x["final"] == "hank.alias@mbox.example.net", x
assert x["status"] == "5.1.1" and x["action"] == "failed", x' "$tmp/orcpt.json"

# NAME-bounces+ANYTHING@ (VERP, probes) is the -bounces address at RCPT.
sed 's/^To: .*/To: dev-bounces+probe-abc@lists.example/' "$corpus/qmail_02.txt" >"$tmp/plus.eml"
mlm_ctl member add $L userx@example.com >/dev/null
mlm_ctl try --from '' --to dev-bounces+probe-abc@lists.example "$tmp/plus.eml" >"$tmp/plus.out" 2>&1
t_check "dev-bounces+probe-abc@ accepted and read as a bounce" grep -q "^result: discarded" "$tmp/plus.out"
t_check "dev-bounces+probe-abc@: the member scored (got $(score userx@example.com))" test "$(score userx@example.com)" = 1
mlm_ctl try --from someone@example.net --to dev-owner+x@lists.example "$tmp/plain.eml" >"$tmp/ownerplus.out" 2>&1
t_check "dev-owner+x@ is still unknown (refused)" grep -q "refused" "$tmp/ownerplus.out"
mlm_ctl try --from someone@example.net --to dev-request+x@lists.example "$tmp/plain.eml" >"$tmp/requestplus.out" 2>&1
t_check "dev-request+x@ is accepted at RCPT like dev-request@" \
    grep -q "^recipient dev-request+x@lists.example: continue" "$tmp/requestplus.out"

# RFC 3464/6533 details, as `mlm-ctl bounces parse` reads them (no database).
report() { # FILE FIELDS...: a multipart/report with one delivery-status part
    local f=$1 ct=$2
    shift 2
    {
        printf 'From: MAILER-DAEMON@mx.example.net\r\nTo: dev-bounces@lists.example\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nreport\r\n--R\r\nContent-Type: %s\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n' "$ct"
        printf '%s\r\n' "$@"
        printf '\r\n--R--\r\n'
    } >"$tmp/$f"
    "$CTL_BIN" -C "$MLM_CONF" bounces parse "$tmp/$f" >"$tmp/$f.parse" 2>&1
}
report utf8.eml message/global-delivery-status 'Final-Recipient: utf-8; j\x{E9}r\x{F4}me@example.org' 'Action: failed' 'Status: 5.1.1'
t_check "global-delivery-status, utf-8 address type with \\x{} escapes" \
    grep -q "^address: jérôme@example.org" "$tmp/utf8.eml.parse"
report diag57.eml message/delivery-status 'Final-Recipient: rfc822; x@example.org' 'Action: failed' 'Status: 5.0.0' 'Diagnostic-Code: smtp; 550 5.7.1 message refused as spam'
t_check "5.7.x only in the diagnostic: verdict policy (not scored)" \
    grep -q "^  verdict: policy" "$tmp/diag57.eml.parse"
report expired.eml message/delivery-status 'Final-Recipient: rfc822; x@example.org' 'Action: failed' 'Status: 4.4.7'
t_check "Action failed with a 4.x.x status (given up): a delay, never scored" \
    grep -q "^  verdict: delay" "$tmp/expired.eml.parse"
report success.eml message/delivery-status 'Final-Recipient: rfc822; x@example.org' 'Action: delivered' 'Status: 2.0.0'
t_check "a delivery success report: verdict success" grep -q "^verdict: success" "$tmp/success.eml.parse"
report twoblocks.eml message/delivery-status 'Final-Recipient: rfc822; a@example.org' 'Action: failed' 'Status: 5.1.1' 'Final-Recipient: rfc822; b@example.org' 'Action: delayed' 'Status: 4.2.2'
t_check "two recipient blocks without a blank line between them" \
    bash -c "grep -q '^address: a@example.org' '$tmp/twoblocks.eml.parse' && grep -q '^address: b@example.org' '$tmp/twoblocks.eml.parse' && grep -c '^  verdict: ' '$tmp/twoblocks.eml.parse' | grep -qx 2"
"$CTL_BIN" -C "$MLM_CONF" bounces parse - <"$tmp/success.eml" >"$tmp/stdin.parse" 2>&1
t_check "bounces parse - reads standard input" cmp -s "$tmp/stdin.parse" "$tmp/success.eml.parse"

# VERP: a report to NAME-bounces+USER=DOMAIN@ is about that member,
# whatever address it names; a delay there scores no one; an unknown
# USER@DOMAIN leaves the report's own address.
for m in vera victor; do mlm_ctl member add $L $m@example.org >/dev/null; done
sed 's/carol@example.org/vera.forward@elsewhere.example/g' "$here/dsn/postfix.eml" >"$tmp/verp.eml"
mlm_ctl try --from '' --to 'dev-bounces+vera=example.org@lists.example' "$tmp/verp.eml" >"$tmp/verp.out" 2>&1
t_check "VERP: the report for vera's forward scores vera (got $(score vera@example.org))" \
    test "$(score vera@example.org)" = 1
t_check "... and records its status for her, not for the forward address" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep vera@example.org | grep -q 5.1.1"
t_check "... not delivered" grep -q "^result: discarded" "$tmp/verp.out"
sed 's/carol@example.org/victor@example.org/g' "$here/dsn/postfix.eml" >"$tmp/verp2.eml"
mlm_ctl try --from '' --to 'dev-bounces+nobody=example.net@lists.example' "$tmp/verp2.eml" >/dev/null 2>&1
t_check "VERP for an address that is no member: the named member is scored" \
    test "$(score victor@example.org)" = 1
report verp-delay.eml message/delivery-status 'Final-Recipient: rfc822; elsewhere@example.net' 'Action: delayed' 'Status: 4.4.1'
mlm_ctl member add $L wendy@example.org >/dev/null
mlm_ctl try --from '' --to 'dev-bounces+wendy=example.org@lists.example' "$tmp/verp-delay.eml" >/dev/null 2>&1
t_check "VERP: a delay scores no one (got '$(score wendy@example.org)')" \
    test "$(score wendy@example.org)" = 0

# The post a report is about: its Original-Envelope-Id (mlmd sends the
# post's queue id as ENVID), from the per-message fields only.
printf 'From: MAILER-DAEMON@mx.example.net\r\nTo: dev-bounces@lists.example\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nreport\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\nOriginal-Envelope-Id: 4QxY7z1AbC\r\n\r\nFinal-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nOriginal-Envelope-Id: not-this-one\r\n\r\n--R--\r\n' >"$tmp/envid.eml"
"$CTL_BIN" -C "$MLM_CONF" bounces parse "$tmp/envid.eml" >"$tmp/envid.parse" 2>&1
t_check "the report's Original-Envelope-Id names the post (envid)" \
    grep -qx "envid: 4QxY7z1AbC" "$tmp/envid.parse"
"$CTL_BIN" -C "$MLM_CONF" bounces parse "$tmp/success.eml" >"$tmp/noenvid.parse" 2>&1
t_check "... and a report without one has no envid" \
    bash -c "! grep -q '^ *envid' '$tmp/noenvid.parse'"

# Hostile bounces through the worker's Lua: bounded time and memory,
# answered (discarded or forwarded), never a failure.
hostile() { # NAME [BOUND]: time one try, check its answer
    local start=$SECONDS bound=${2:-30}
    mlm_ctl try --from '' --to dev-bounces@lists.example "$tmp/$1.eml" >"$tmp/$1.out" 2>&1
    local took=$((SECONDS - start))
    t_check "$1: answered, not failed ($(grep -m1 '^result' "$tmp/$1.out"))" grep -q "^result: discarded\|^change: add_recipient" "$tmp/$1.out"
    t_check "$1: bounded time (${took}s, bound ${bound}s)" test "$took" -le "$bound"
}
# Texts shaped against the detectors' patterns (a quadratic pattern takes
# many seconds on these; the linear ones a fraction of one).
{
    printf 'From: MAILER-DAEMON@x.example\r\nTo: dev-bounces@lists.example\r\nSubject: failure\r\nContent-Type: text/html\r\n\r\n'
    for ((i = 0; i < 700; i++)); do printf '<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br<br'; done
    printf '\r\n'
} >"$tmp/html-open-tags.eml"
hostile html-open-tags 5
{
    printf 'From: MAILER-DAEMON@x.example\r\nTo: dev-bounces@lists.example\r\nSubject: failure\r\n\r\nUser unknown\r\n'
    line=$(printf 'a%.0s' {1..399})
    for ((i = 0; i < 3000; i++)); do printf '%s\r\n' "$line"; done
} >"$tmp/long-words.eml"
hostile long-words 5
{
    printf 'From: MAILER-DAEMON@x.example\r\nTo: dev-bounces@lists.example\r\nSubject: failure notice\r\n\r\nHi. This is the qmail-send program at x.example.\r\n\r\n'
    head -c 10000000 /dev/zero | tr '\0' '<'
    printf '\r\n'
} >"$tmp/ten-mb.eml"
hostile ten-mb
{
    printf 'From: MAILER-DAEMON@x.example\r\nTo: dev-bounces@lists.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=%s\r\n\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n' $b $b
    for ((i = 0; i < 10000; i++)); do
        printf '\r\nFinal-Recipient: rfc822; u%d@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n' $i
    done
    printf '\r\n--%s--\r\n' $b
} >"$tmp/many-blocks.eml"
hostile many-blocks
{
    printf 'From: MAILER-DAEMON@x.example\r\nTo: dev-bounces@lists.example\r\nMIME-Version: 1.0\r\n'
    for ((i = 0; i < 100; i++)); do
        printf 'Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\nContent-Type: message/rfc822\r\n\r\nMIME-Version: 1.0\r\n' $i $i
    done
    printf 'Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n'
    for ((i = 99; i >= 0; i--)); do printf '\r\n--b%d--\r\n' $i; done
} >"$tmp/deep.eml"
hostile deep
t_done
