#!/usr/bin/env bash
# The VERP recipe of examples/postfix-main.cf.snippet: an smtpd command
# filter adds XVERP to MAIL FROM, and Postfix applies it to the sender mlmd
# sets (NAME-bounces@), so each member's copy goes out from
# NAME-bounces+USER=DOMAIN@; a member's failure comes back to that address
# and scores that member. Without the filter the copies go out from the
# plain NAME-bounces@ (the last check).
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
mlm_ctl member add $L poster@example.net >/dev/null
verp_setup() { # FILTER: yes or no
    PF_MILTER="inet:127.0.0.1:$MLM_PORT" PF_MAIN_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MLM_PORT
internal_mail_filter_classes = bounce
transport_maps = inline:{ { bad.example = error:5.1.1 User unknown } }
$([ "$1" = yes ] && echo "smtpd_command_filter = regexp:\$config_directory/mlm-verp
smtpd_authorized_verp_clients = 127.0.0.0/8")" pf_setup || return 1
    # the recipe's table, as in the snippet
    printf '%s\n' 'if !/ XVERP/' '/^(MAIL FROM: *<[^>]+>.*)$/ $1 XVERP' 'endif' \
        >"$PF_CONF/mlm-verp"
    pf_start
}

verp_setup yes || exit 1
pf_send --from poster@example.net --to $L --header "Subject: verp" --body "hi"
t_check "post accepted" pf_replied '^250 '
pf_wait_queue_empty 30 >/dev/null
for i in $(seq 50); do
    mlm_ctl members $L | grep -q '^ghost@bad.example .* 1 ' && break
    sleep 0.2
done
f=$(for f in $(pf_sink_files); do pf_rcpts "$f" | grep -qx alice@example.org && echo "$f"; done | head -1)
t_check "alice's copy went out from dev-bounces+alice=example.org@ (got '$(pf_sender "$f" 2>/dev/null)')" \
    test "$(pf_sender "$f" 2>/dev/null)" = "dev-bounces+alice=example.org@lists.example"
t_check "Postfix's report for ghost went to dev-bounces+ghost=bad.example@" \
    grep -q 'to=<dev-bounces+ghost=bad.example@lists.example>' "$PF_LOG"
t_check "... which scored ghost ($(mlm_ctl members $L | grep ghost))" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep '^ghost@bad.example' | grep -qw 1"
t_check "... and was not delivered: only alice's and the poster's copies left" \
    test "$(for f in $(pf_sink_files); do pf_rcpts "$f"; done | sort | tr '\n' ' ')" = "alice@example.org poster@example.net "
# A remote MTA's report comes over SMTP with the null sender: the filter
# leaves MAIL FROM:<> alone (Postfix refuses XVERP there), and the report
# to the VERP address scores that member.
mlm_ctl member add $L remote@far.example >/dev/null
printf 'From: MAILER-DAEMON@far.example\r\nTo: dev-bounces+remote=far.example@lists.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.example\r\n\r\nFinal-Recipient: rfc822; forwarded@elsewhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--R--\r\n' >"$PF_DIR/report.eml"
pf_send --from '<>' --to dev-bounces+remote=far.example@lists.example --data "$PF_DIR/report.eml"
t_check "a null-sender report over SMTP through the filter: 250 queued" pf_replied '^250 2\.0\.0 Ok: queued'
pf_wait_queue_empty 30 >/dev/null
for i in $(seq 50); do
    mlm_ctl members $L | grep -q '^remote@far.example .* 1 ' && break
    sleep 0.2
done
t_check "... it scores the member of the VERP address, not the address it names" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep '^remote@far.example' | grep -qw 1"
[ "$T_FAILED" -eq 0 ] || { pf_log | tail -30; mlm_log; }

pf_stop
verp_setup no || exit 1
pf_send --from poster@example.net --to $L --header "Subject: plain" --body "hi"
pf_wait_queue_empty 30 >/dev/null
f=$(for f in $(pf_sink_files); do pf_rcpts "$f" | grep -qx alice@example.org && echo "$f"; done | head -1)
t_check "without the filter: from the plain dev-bounces@ (got '$(pf_sender "$f" 2>/dev/null)')" \
    test "$(pf_sender "$f" 2>/dev/null)" = "dev-bounces@lists.example"
t_done
