#!/usr/bin/env bash
# The shipped list policy end to end through Sendmail: swaks -> a private
# Sendmail (Debian's packages, sendmail.cf built from
# examples/sendmail.mc.snippet) -> mlmd -> multiplexor -> mlm_lists.lua,
# deliveries captured by smtp-sink. The demo's scenarios, the code
# e2e/postfix-scenarios.sh runs through Postfix (tests/lib/list-scenarios.sh), an approved post
# re-injected through Sendmail's own submission program, and a post to
# 20,000 members.
set -u
# MLM_MTA_TESTS=no: a second pass of the suite (sanitizers) skips the tests
# that compare MTAs; mlm's own code runs there through the other tests.
[ "${MLM_MTA_TESTS:-yes}" != no ] || { echo "skip: MLM_MTA_TESTS=no"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/sendmail.sh"
sm_available || exit 77

FAKE_SENDMAIL_DIR=$(mktemp -d /tmp/mlm-sent.XXXXXX)
export FAKE_SENDMAIL_DIR
cleanup() {
    sm_stop
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$FAKE_SENDMAIL_DIR"
    mlm_stop || exit 1
}
trap cleanup EXIT

mlm_start "$top_srcdir/lua/policy.lua" \
    "sendmail = $here/../lib/fake-sendmail.sh" || exit 1
SM_MILTER=$MLM_MILTER sm_setup || exit 1
sm_start || exit 1

MTA=sm
. "$here/../lib/list-scenarios.sh"
L=dev@lists.example
ls_create_list $L

ls_rcpt_stage $L
ls_member_post $L
ls_nonmember $L
ls_hold_approve $L sm_submit
ls_defer $L
ls_big_post $L
ls_dsn $L
# Sendmail's add-recipient cost grows with the recipients added before
# (BENCHMARKS.md, "Big lists"): 20,000 take seconds, far below the
# snippet's end-of-message timeout (T=E:5m).
ls_big_list lists.example 20000

[ "$T_FAILED" -eq 0 ] || { mlm_log; sm_queue; }
t_done
