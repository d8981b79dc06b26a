#!/usr/bin/env bash
# The changes a policy makes at end of message (headers added, changed by
# index, deleted; recipients added and removed; the sender changed;
# quarantine; a footer) reach the MTA as milter actions, all together;
# with a refusal or an error none of them does; and a change asked for
# before end of message is a Lua error (451 4.3.0). miltertest has no check
# for a changed envelope sender and only compares a new body as a whole, so
# milter-client.py shows those.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT

mlm_start "$here/policies/changes.lua" "expand_max = 3" || exit 1

mt_run changes.lua

# post SUBJECT: one post to list@ through milter-client.py.
post() {
    mt_client mail '<poster@example.net>' rcpt '<list@lists.test>' \
        header Subject "$1" header From 'Sender <sender@example.net>' \
        header X-Multi one header X-Multi two header X-Multi three \
        header X-One one header X-Secret password \
        eoh body $'Hello list.\r\n' eom 2>&1
}

out=$(post envelope)
t_check "change_sender: the MTA gets the new envelope sender" \
    grep -qxF "eom: chgfrom <list-bounces@lists.test>" <<<"$out"
t_check "change_sender: exactly one sender change" \
    test "$(grep -c '^eom: chgfrom' <<<"$out")" -eq 1
t_check "envelope changes end with continue" grep -qx "eom: continue" <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

# DSN parameters (dsn_parameters auto: for Postfix, named by its connect
# macro v): each member added with ORCPT (xtext), the new sender with
# RET=HDRS and the queue id as ENVID.
post_qid() { # SUBJECT [MTA]: as post, from MTA (Postfix), queue id QID1+2
    mt_client macro C "v=${2:-Postfix 3.7.11}" macro M 'i=QID1+2' \
        mail '<poster@example.net>' \
        rcpt '<list@lists.test>' header Subject "$1" \
        header From 'Sender <sender@example.net>' eoh body $'Hi.\r\n' eom 2>&1
}
out=$(post_qid envelope)
t_check "add_recipient: each member with ORCPT=rfc822;ADDRESS" \
    test "$(grep '^eom: addrcpt' <<<"$out")" = "eom: addrcpt <a@members.test> ORCPT=rfc822;a@members.test
eom: addrcpt <b@members.test> ORCPT=rfc822;b@members.test"
t_check "change_sender: RET=HDRS and the queue id as ENVID (xtext)" \
    grep -qxF "eom: chgfrom <list-bounces@lists.test> RET=HDRS ENVID=QID1+2B2" <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'
out=$(post_qid esmtp)
t_check "ORCPT: '+' and '=' of an address as xtext" \
    grep -qxF "eom: addrcpt <a+b=c@members.test> ORCPT=rfc822;a+2Bb+3Dc@members.test" <<<"$out"
t_check "ORCPT: a UTF-8 address is added without one" \
    grep -qx "eom: addrcpt <j.*rgen@members.test>" <<<"$out"
out=$(mt_client macro C 'v=Postfix 3.7.11' mail '<poster@example.net>' \
    rcpt '<list@lists.test>' header Subject envelope eoh body $'Hi.\r\n' eom 2>&1)
t_check "change_sender before the queue id is known: RET=HDRS alone" \
    grep -qxF "eom: chgfrom <list-bounces@lists.test> RET=HDRS" <<<"$out"
out=$(post_qid envelope '8.17.1')
t_check "another MTA (Sendmail: noreceipts drops a recipient with ORCPT): no DSN parameters at all" \
    test "$(grep -E '^eom: (addrcpt|chgfrom)' <<<"$out")" = "eom: addrcpt <a@members.test>
eom: addrcpt <b@members.test>
eom: chgfrom <list-bounces@lists.test>"
out=$(MT_ACTIONS=0x17F post_qid envelope)
t_check "an MTA without SMFIF_ADDRCPT_PAR: members added without parameters" \
    test "$(grep '^eom: addrcpt' <<<"$out")" = "eom: addrcpt <a@members.test>
eom: addrcpt <b@members.test>"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

out=$(post footer)
body=$(sed -n 's/^eom: replbody //p' <<<"$out")
t_check "add_footer: the new body holds the footer text" \
    grep -qF 'List footer: see https://lists.test/' <<<"$body"
t_check "add_footer: the new body keeps the original text first" \
    grep -qF '"Hello list.\r\n' <<<"$body"
t_check "add_footer: the new body has CRLF line ends only" \
    python3 -c 'import json,sys; b=json.loads(sys.argv[1]); sys.exit(not (b.endswith("\r\n") and "\n" not in b.replace("\r\n", "")))' "$body"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

out=$(post set-headers)
t_check "set_header and delete_headers: one change per header that arrived" \
    test "$(grep '^eom: ' <<<"$out")" = "eom: chgheader 1 X-Multi: only
eom: chgheader 3 X-Multi: 
eom: chgheader 2 X-Multi: 
eom: addheader X-New: new
eom: chgheader 1 x-one: uno
eom: chgheader 1 X-Secret: 
eom: continue"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

out=$(post set-header-crlf)
t_check "set_header with CR LF in the value: $MT_FAILURE, nothing applied" \
    test "$(grep '^eom: ' <<<"$out")" = "eom: $MT_FAILURE"

out=$(post all)
t_check "all changes at once: sender, recipients and body together" \
    test "$(grep -cE '^eom: (chgfrom|addrcpt|delrcpt|replbody)' <<<"$out")" -eq 5

# expand_max 3: a reply that adds more recipients is refused before any
# action reaches the MTA (451 4.3.0, logged); up to the limit it passes.
out=$(post "expand 3")
t_check "expand_max 3: a post expanded to 3 passes with its changes" \
    test "$(grep -cE '^eom: (addrcpt|delrcpt|addheader)' <<<"$out"):$(grep -c '^eom: continue' <<<"$out")" = 5:1
out=$(post "expand 4")
t_check "expand_max 3: a post expanded to 4 gets 451 4.3.0, no action at all" \
    test "$(grep '^eom: ' <<<"$out")" = "eom: 451 4.3.0 Too many list members to expand here, try again later"
t_check "... logged for the admin" \
    grep -q "the policy adds 4 recipients, more than expand_max (3): answering 451 4.3.0" "$MLM_DIR/mlmd.log"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

out=$(post error-after-changes)
t_check "changes then error(): only the 451 4.3.0, no action at all" \
    test "$out" = "mail <poster@example.net>: continue
rcpt <list@lists.test>: continue
eom: $MT_FAILURE"

out=$(mt_client mail '<early-header@sender.test>' \
    mail '<early-pcall@sender.test>' mail '<poster@example.net>' \
    rcpt '<early@lists.test>' 2>&1)
t_check "ctx:add_header in filter_sender: $MT_FAILURE" \
    grep -qxF "mail <early-header@sender.test>: $MT_FAILURE" <<<"$out"
t_check "ctx:add_header in filter_sender raises a Lua error naming the rule" \
    grep -qxF "mail <early-pcall@sender.test>: 550 5.7.1 early change refused: filter_sender" <<<"$out"
t_check "ctx:add_recipient in filter_recipient: $MT_FAILURE" \
    grep -qxF "rcpt <early@lists.test>: $MT_FAILURE" <<<"$out"

# Body files written for footers that were not applied are removed too.
# (outbox/ is the multiplexor's: mail a policy sent, none here)
spool_left() { ls -A "$MLM_DIR/spool" 2>&1 | grep -vx outbox; }
mlm_wait_until 10 eval '[ -z "$(spool_left)" ]'
left=$(spool_left)
t_check "the spool directory is empty after the transactions (left: ${left:-none})" \
    test -d "$MLM_DIR/spool" -a -z "$left"

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
