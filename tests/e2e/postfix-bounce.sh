#!/usr/bin/env bash
# A bounce that Postfix itself writes: a post expanded to a member whose
# domain Postfix refuses (error transport, 5.1.1) makes Postfix send an
# RFC 3464 report to NAME-bounces@; with non_smtpd_milters and
# internal_mail_filter_classes = bounce it passes through mlm, which
# scores the member and does not deliver the report. A member whose
# address Postfix rewrites (virtual alias) to an unknown user is named
# only in the report's Original-Recipient, which mlm reads first. mlmd
# gives each member ORCPT and the new sender RET=HDRS and ENVID (the post's
# queue id): Postfix stores them in its queue file (postcat shows them on
# a copy deferred for a member) and its report names the post, which the
# bounce's log line shows.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
cleanup() { pf_stop; mlm_stop || exit 1; }
trap cleanup EXIT

mlm_start "$top_srcdir/lua/policy.lua" \
    "sendmail = $here/../lib/fake-sendmail.sh" || exit 1
mlm_start_inet || exit 1
L=dev@lists.example
mlm_ctl list create $L >/dev/null
mlm_ctl member add $L alice@example.org >/dev/null
mlm_ctl member add $L ghost@bad.example >/dev/null
mlm_ctl member add $L moved@alias.example >/dev/null
mlm_ctl member add $L late@slow.example >/dev/null
PF_MILTER="inet:127.0.0.1:$MLM_PORT" PF_MAIN_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MLM_PORT
internal_mail_filter_classes = bounce
transport_maps = inline:{ { bad.example = error:5.1.1 User unknown }, { slow.example = retry:4.4.1 Try later } }
virtual_alias_maps = inline:{ { moved@alias.example = nobody@bad.example } }" pf_setup || exit 1
pf_start || exit 1

pf_send --from alice@example.org --to $L --header "Subject: to all" --body "hi"
t_check "post accepted" pf_replied '^250 '
pf_wait_log 'status=deferred .*Try later' 30
qid=$(pf_log | sed -n 's/.* \([0-9A-F][0-9A-F]*\): from=<dev-bounces@lists.example>.*/\1/p' | head -1)
record=$(postcat -c "$PF_CONF" -e -q "$qid" 2>&1)
t_check "the post's queue file: RET=HDRS from mlmd (queue id $qid)" \
    grep -qx 'named_attribute: ret_flags=2' <<<"$record"
t_check "... ENVID, the post's queue id" grep -qx "named_attribute: envelope_id=$qid" <<<"$record"
t_check "... each member with ORCPT=rfc822;ADDRESS" \
    bash -c 'for m in alice@example.org ghost@bad.example moved@alias.example late@slow.example; do grep -qx "named_attribute: dsn_orig_rcpt=rfc822;$m" <<<"$1" || exit 1; done' _ "$record"
[ "$T_FAILED" -eq 0 ] || echo "$record" | sed 's/^/#   /'
postsuper -c "$PF_CONF" -d "$qid" >/dev/null 2>&1
pf_wait_queue_empty 30 >/dev/null
for i in $(seq 50); do
    mlm_ctl bounces $L | grep -q ghost@bad.example && break
    sleep 0.2
done
t_check "Postfix's own bounce scored the member ($(mlm_ctl bounces $L | head -1))" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep ghost@bad.example | grep -q '5\.1\.1'"
t_check "member's bounce score is 1" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep '^ghost@bad.example' | grep -qw 1"
for i in $(seq 50); do
    mlm_ctl bounces $L | grep -q moved@alias.example && break
    sleep 0.2
done
t_check "the report names the rewritten member only as Original-Recipient: scored ($(mlm_ctl bounces $L | grep moved))" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep '^moved@alias.example' | grep -qw 1"
t_check "the bounce's log line names the post: post=$qid" \
    grep -q "bounce 5.1.1 .* for ghost@bad.example, score 1, post=$qid" "$MLM_DIR"/mux.log
sleep 0.5
rcpts=$(for f in $(pf_sink_files); do pf_rcpts "$f"; done | sort | tr '\n' ' ')
t_check "only alice's copy reached the sink; the report was not delivered (got: $rcpts)" \
    test "$rcpts" = "alice@example.org "
[ "$T_FAILED" -eq 0 ] || { pf_log | tail -30; mlm_log; }
t_done
