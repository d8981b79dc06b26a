#!/usr/bin/env bash
# The scenarios of e2e/sendmail.sh (tests/lib/list-scenarios.sh) through a
# private Postfix, so that the same code passes on both MTAs: the demo's
# list scenarios, an approved post re-injected through Postfix's own
# sendmail (non_smtpd_milters, as examples/postfix-main.cf.snippet), and a
# post to 20,000 members.
set -u
# MLM_MTA_TESTS=no: a second pass of the suite (sanitizers) skips the tests
# that compare MTAs; mlm's own code runs there through the other tests.
[ "${MLM_MTA_TESTS:-yes}" != no ] || { echo "skip: MLM_MTA_TESTS=no"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77

FAKE_SENDMAIL_DIR=$(mktemp -d /tmp/mlm-sent.XXXXXX)
export FAKE_SENDMAIL_DIR
cleanup() {
    pf_stop
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$FAKE_SENDMAIL_DIR"
    mlm_stop || exit 1
}
trap cleanup EXIT

mlm_start "$top_srcdir/lua/policy.lua" \
    "sendmail = $here/../lib/fake-sendmail.sh" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
PF_MILTER="inet:127.0.0.1:$MLM_PORT" PF_MAIN_EXTRA='non_smtpd_milters = $smtpd_milters' \
    pf_setup || exit 1
pf_start || exit 1
pf_submit() { sendmail -C "$PF_CONF" -i "$@"; }

MTA=pf
. "$here/../lib/list-scenarios.sh"
L=dev@lists.example
ls_create_list $L

ls_rcpt_stage $L
ls_member_post $L
ls_nonmember $L
ls_hold_approve $L pf_submit
ls_defer $L
ls_big_post $L
ls_dsn $L
ls_big_list lists.example 20000

[ "$T_FAILED" -eq 0 ] || { mlm_log; pf_queue; }
t_done
