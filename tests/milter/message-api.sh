#!/usr/bin/env bash
# The Lua core API as a policy sees it through a real milter transaction:
# the ctx fields at MAIL, RCPT and end of message; message:header() (case,
# RFC 2047), headers(), addresses(), size and parts() with decoded text;
# and a ctx kept in a global, which gives an error in a later request,
# not a crash. At end of message the policy reports as X-Seen-* headers
# (checked by scripts/message-api.lua); at MAIL and RCPT in the text of a
# refusal, which milter-client.py shows. One worker, so that the request
# after the one that kept the ctx runs in the same Lua state.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT

mlm_start "$here/policies/message-api.lua" "workers_min = 1" \
    "workers_max = 1" || exit 1

worker_pids() {
    mlm_ctl status | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ { print $2 }' |
        sort | tr '\n' ' '
}
pids_before=$(worker_pids)

mt_run message-api.lua

# ctx at MAIL.
out=$(mt_client connect client.example.test 192.0.2.25 \
    helo helo.example.test macro M 'i=QID77 {auth_authen}=alice' \
    mail '<report@sender.test> SIZE=100 BODY=8BITMIME' 2>&1)
want="mail <report@sender.test> SIZE=100 BODY=8BITMIME: 550 5.7.1 qid=QID77 hostip=192.0.2.25 hostname=client.example.test helo=helo.example.test sender=[report@sender.test] recipient=nil recipients=[] esmtp=[SIZE=100,BODY=8BITMIME] auth=alice/alice"
t_check "ctx fields at MAIL (qid, hostip, hostname, helo, sender, esmtp_args, macros)" \
    grep -qxF "$want" <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "#   got: $out"

# ctx at RCPT, with the null sender.
out=$(mt_client connect client.example.test 192.0.2.25 helo helo.example.test \
    mail '<>' rcpt '<list@lists.test>' rcpt '<report@lists.test>' 2>&1)
want_re="^rcpt <report@lists.test>: 550 5\.7\.1 qid=[^ ]+ hostip=192\.0\.2\.25 hostname=client\.example\.test helo=helo\.example\.test sender=\[\] recipient=report@lists\.test recipients=\[list@lists\.test\] esmtp=\[\] auth=nil/nil$"
t_check "ctx fields at RCPT (recipient, the recipients so far, the null sender as \"\")" \
    grep -qE "$want_re" <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "#   got: $out"

pids_after=$(worker_pids)
t_check "the worker survived the kept ctx (before: $pids_before, after: $pids_after)" \
    test -n "$pids_before" -a "$pids_before" = "$pids_after"

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
