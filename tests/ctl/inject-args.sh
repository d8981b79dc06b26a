#!/usr/bin/env bash
# tests/ctl/inject-args.sh - no address reaches sendmail's command line as
# an option: mlm-ctl's mails (a subscription request's answer, the
# notices of a held-post decision) to addresses that begin with '-'
# (valid in SMTP, stored as a subscriber or moderator) run no sendmail
# with them; the decision stands, a warning names the address, and the
# other recipients still get their notice.
#
# Environment: top_builddir, top_srcdir (set by make check), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-inject-args.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
SENT=$tmp/sent
mkdir "$SENT"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
sql() { mlm_sql "$@"; }
# option_args: how many sendmail runs had an argument (other than the
# -f before the sender) that starts with '-'.
option_args() {
    cat "$SENT"/sent.* 2>/dev/null | sed -n 's/^ARGS: -f [^ ]*//p' |
        grep -c -- ' -' || true
}

# --- requests approve|reject ---------------------------------------------
ctl list create sub@lists.example --owner owner@example.org
ctl list set sub@lists.example subscription_policy moderate
for a in '-oQ/tmp/q@example.net' '-X@example.net'; do
    sql "INSERT INTO requests (list_id, address, received)
         SELECT id, '$a', 0 FROM lists WHERE name = 'sub'"
done
qid=$(sql "SELECT id FROM requests WHERE address = '-oQ/tmp/q@example.net'")
xid=$(sql "SELECT id FROM requests WHERE address = '-X@example.net'")
out=$("$CTL_BIN" -C "$MLM_CONF" requests reject "$qid" 2>&1); rc=$?
t_check "reject of -oQ/tmp/q@example.net's request: decided ($rc: $out)" \
    test "$rc" -eq 0 -a "$(sql "SELECT state FROM requests WHERE id = $qid")" = rejected
t_check "... the address is not given to sendmail ($(option_args) runs with an option)" \
    test "$(option_args)" -eq 0
t_check "... a warning names it" grep -q "bad recipient address for sendmail: '-oQ/tmp/q@example.net'" <<<"$out"
out=$("$CTL_BIN" -C "$MLM_CONF" requests approve "$xid" 2>&1); rc=$?
t_check "approve of -X@example.net's request: decided ($rc: $out)" \
    test "$rc" -eq 0 -a "$(sql "SELECT state FROM requests WHERE id = $xid")" = approved
t_check "... no welcome through sendmail with it ($(option_args))" test "$(option_args)" -eq 0

# --- held approve|reject: the moderators' notices -------------------------
L=dev@lists.example
ctl list create $L --owner owner@example.org
ctl list set $L nonmember_action hold
ctl member add $L mod@example.org --role moderator
sql "INSERT INTO members (list_id, address, role, created)
     SELECT id, '-oi@example.org', 'moderator', 0 FROM lists WHERE name = 'dev'"
printf 'From: stranger@example.net\nTo: %s\nSubject: held\n\nx\n' $L >"$tmp/mail"
for _ in 1 2; do
    "$CTL_BIN" -C "$MLM_CONF" try --from stranger@example.net --to $L "$tmp/mail" >/dev/null 2>&1
done
ids=$(sql "SELECT id FROM held WHERE state = 'pending' ORDER BY id")
t_check "two posts held ($ids)" test "$(wc -w <<<"$ids")" -eq 2
rm -f "$SENT"/sent.*
set -- $ids
out=$("$CTL_BIN" -C "$MLM_CONF" held reject "$1" 2>&1); rc=$?
t_check "held reject: decided ($rc: $out)" test "$rc" -eq 0
t_check "... no sendmail run with -oi@example.org ($(option_args))" test "$(option_args)" -eq 0
t_check "... mod@example.org is told" \
    test "$(grep -l '^ARGS: -f dev-bounces@lists.example mod@example.org$' "$SENT"/sent.* 2>/dev/null | wc -l)" -eq 1
t_check "... a warning names the address left out" grep -q "not sent to '-oi@example.org'" <<<"$out"
out=$("$CTL_BIN" -C "$MLM_CONF" held approve "$2" 2>&1); rc=$?
t_check "held approve: decided, the post re-injected ($rc: $out)" \
    test "$rc" -eq 0 -a "$(grep -l '^ARGS: -f dev-bounces@lists.example dev@lists.example$' "$SENT"/sent.* | wc -l)" -eq 1
t_check "... no sendmail run with -oi@example.org ($(option_args))" test "$(option_args)" -eq 0
t_done
