#!/usr/bin/env bash
# Every reply a policy can give, at MAIL, RCPT and end of message, through
# mlmd's real milter socket: miltertest checks the kind of each reply (and
# the full text at end of message), milter-client.py the exact code, DSN
# and text at MAIL and RCPT, which miltertest does not keep. Replies a
# policy may not give (a code of the wrong class, a forged reply table)
# are failures: 451 4.3.0 by default, continue with failure_action accept.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT

policy=$here/policies/replies.lua

# want_reply DESCRIPTION EXPECTED-LINE STEP... : one milter-client check.
want_reply() {
    local what=$1 want=$2 out
    shift 2
    out=$(mt_client "$@" 2>&1)
    if grep -qxF -- "$want" <<<"$out"; then
        t_ok "$what"
    else
        t_fail "$what (want '$want', got: $(tr '\n' '|' <<<"$out"))"
    fi
}

mlm_start "$policy" || exit 1

mt_run replies.lua

# Exact replies at MAIL.
want_reply "MAIL reject: 550 5.7.1 and the policy's text" \
    "mail <reject@sender.test>: 550 5.7.1 We do not take mail from you" \
    mail '<reject@sender.test>'
want_reply "MAIL tempfail: 451 4.7.1 and the policy's text" \
    "mail <tempfail@sender.test>: 451 4.7.1 Come back later" \
    mail '<tempfail@sender.test>'
want_reply "MAIL mlm.reject() with no arguments: 550 5.7.1" \
    "mail <reject-default@sender.test>: 550 5.7.1 Rejected by policy" \
    mail '<reject-default@sender.test>'
want_reply "MAIL mlm.tempfail() with no arguments: 451 4.3.0" \
    "mail <tempfail-default@sender.test>: 451 4.3.0 Temporary failure, try again later" \
    mail '<tempfail-default@sender.test>'
want_reply "MAIL mlm.reject(text, 550): the DSN defaults to 5.7.1" \
    "mail <reject-code-only@sender.test>: 550 5.7.1 x" \
    mail '<reject-code-only@sender.test>'
want_reply "MAIL continue" "mail <continue@sender.test>: continue" \
    mail '<continue@sender.test>'
want_reply "MAIL accept" "mail <accept@sender.test>: accept" \
    mail '<accept@sender.test>'
want_reply "MAIL discard" "mail <discard@sender.test>: discard" \
    mail '<discard@sender.test>'
for who in bad-reject-code bad-reject-dsn bad-tempfail-code bad-text \
    plain-table string error; do
    want_reply "MAIL $who@ (not an allowed reply): $MT_FAILURE" \
        "mail <$who@sender.test>: $MT_FAILURE" mail "<$who@sender.test>"
done

# Exact replies at RCPT; the transaction goes on after each refusal.
out=$(mt_client mail '<continue@sender.test>' rcpt '<nobody@lists.test>' \
    rcpt '<busy@lists.test>' rcpt '<list@lists.test>' \
    rcpt '<error@lists.test>' rcpt '<other@lists.test>' \
    header Subject hello eoh body $'Hello.\r\n' eom 2>&1)
t_check "RCPT reject: 550 5.1.1 and the policy's text" \
    grep -qxF "rcpt <nobody@lists.test>: 550 5.1.1 No such list" <<<"$out"
t_check "RCPT tempfail: 452 4.5.3 and the policy's text" \
    grep -qxF "rcpt <busy@lists.test>: 452 4.5.3 Too many lists" <<<"$out"
t_check "RCPT after two refused ones: continue" \
    grep -qxF "rcpt <list@lists.test>: continue" <<<"$out"
t_check "RCPT with a Lua error: $MT_FAILURE" \
    grep -qxF "rcpt <error@lists.test>: $MT_FAILURE" <<<"$out"
t_check "RCPT after a failed one: continue" \
    grep -qxF "rcpt <other@lists.test>: continue" <<<"$out"
t_check "the transaction reaches its end of message" \
    grep -qx "eom: continue" <<<"$out"
t_check "only the recipients the MTA kept are in ctx.recipients" \
    grep -qxF "eom: addheader X-Rcpts: list@lists.test,other@lists.test" <<<"$out"
[ "$T_FAILED" -eq 0 ] || { echo "$out" | sed 's/^/#   /'; mlm_log; }
# mlm.accept() at RCPT accepts the message: the MTA sends nothing more.
want_reply "RCPT accept" "rcpt <accept@lists.test>: accept" \
    mail '<continue@sender.test>' rcpt '<accept@lists.test>'
# A plain continue at MAIL is logged only with mlmd -d, as a debug line.
t_check "without -d: no line for a plain continue at MAIL" \
    sh -c '! grep -q "sender: from=<continue@sender.test> .*action=continue" "$1"' _ "$MLM_DIR/mlmd.log"
kill "$MLM_MLMD_PID"; wait "$MLM_MLMD_PID" 2>/dev/null
MLMD_FLAGS=-d mlm_start_mlmd
want_reply "mlmd -d: MAIL continue" "mail <continue@sender.test>: continue" \
    mail '<continue@sender.test>'
t_check "mlmd -d: a debug line for the plain continue" \
    grep -q "sender: from=<continue@sender.test> .*action=continue" "$MLM_DIR/mlmd.log"
t_check "the daemons stop cleanly (spool empty, no memory error report)" \
    mlm_stop

# failure_action = accept: a failure lets the mail through.
mlm_start "$policy" "failure_action = accept" || exit 1
mt_run replies-accept.lua
want_reply "failure_action accept: MAIL with a Lua error continues" \
    "mail <error@sender.test>: continue" mail '<error@sender.test>'
want_reply "failure_action accept: MAIL mlm.reject() still 550 5.7.1" \
    "mail <reject@sender.test>: 550 5.7.1 We do not take mail from you" \
    mail '<reject@sender.test>'
[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
