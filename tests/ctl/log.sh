#!/usr/bin/env bash
# mlm-ctl log LIST: every change of a list with who made it, newest first.
# Changes by mlm-ctl name its user (sudo's caller when root); changes a
# mail made (a confirmed subscription, a bounce that disabled delivery)
# name the mail's envelope sender and queue id; held-post and request
# decisions are there too. --limit, --json, terminal-safe output.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-log.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
SENT=$tmp/sent
mkdir "$SENT"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
L=dev@lists.example
ctl() { env -u SUDO_USER "$CTL_BIN" -C "$MLM_CONF" "$@" >/dev/null || t_fail "mlm-ctl $*"; }
log() { env -u SUDO_USER "$CTL_BIN" -C "$MLM_CONF" log $L "$@" 2>&1; }
me=$(id -un)

ctl list create $L --owner owner@example.org
ctl list set $L sender_authentication off
ctl member add $L alice@example.org
ctl list set $L subject_prefix '[dev]'
ctl member set $L alice@example.org moderated yes
out=$(log)
t_check "mlm-ctl's changes, newest first, by its user ($(head -1 <<<"$out"))" \
    test "$(awk -F '  +' '{print $3}' <<<"$out" | tr '\n' ,)" = "member set,setting,member add,setting,member add,list create,"
t_check "... each by 'mlm-ctl by $me'" \
    test "$(grep -c "  mlm-ctl by $me  " <<<"$out")" -eq 6
t_check "... with the address and the new value" \
    grep -qE "  member set +alice@example.org +moderated yes\$" <<<"$out"
t_check "... a setting's name and value" grep -qE "  setting +subject_prefix +\[dev\]\$" <<<"$out"
SUDO_USER=boss "$CTL_BIN" -C "$MLM_CONF" member remove $L alice@example.org >/dev/null
if [ "$(id -u)" = 0 ]; then
    t_check "root under sudo: by sudo's caller" \
        grep -qE "mlm-ctl by boss +member remove +alice@example.org" <<<"$(log)"
fi

# A subscription confirmed by mail: the change is the mail's.
printf 'From: zed@example.net\nTo: dev-request@lists.example\nSubject: subscribe\n\nx\n' >"$tmp/sub"
mlm_ctl try --from zed@example.net --to dev-request@lists.example "$tmp/sub" >/dev/null 2>&1
token=$(grep -l '^To: zed@example.net' "$SENT"/sent.* | xargs -r sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p' | tail -1)
printf 'From: zed@example.net\nTo: dev-request@lists.example\nSubject: confirm %s\n\nx\n' "$token" >"$tmp/confirm"
mlm_ctl try --from zed@example.net --to dev-request@lists.example "$tmp/confirm" >/dev/null 2>&1
t_check "a confirmed subscription: by the mail from zed ($(log --limit 1))" \
    grep -qE "mail from <zed@example.net> \([^)]*\) +member add +zed@example.net +member\$" <<<"$(log --limit 1)"

# A bounce that disables delivery (no probes): by the bounce's mail.
ctl member add $L carol@example.org
ctl list set $L bounce_threshold 1
ctl list set $L bounce_probe_wait 0
mlm_ctl try --from '' --to dev-bounces@lists.example "$here/../lists/dsn/postfix.eml" >/dev/null 2>&1
t_check "delivery disabled by a bounce: by the mail from <> ($(log --limit 1))" \
    grep -qE "mail from <> \([^)]*\) +member set +carol@example.org +delivery disabled-by-bounces\$" <<<"$(log --limit 1)"
ctl member set $L carol@example.org delivery enabled
t_check "... enabled again by mlm-ctl" \
    grep -qE "mlm-ctl by $me +member set +carol@example.org +delivery enabled\$" <<<"$(log --limit 1)"

# A held post decided.
ctl list set $L posting moderated
ctl member add $L bob@example.org
printf 'From: bob@example.org\nTo: dev@lists.example\nSubject: held one\n\nx\n' >"$tmp/post"
mlm_ctl try --from bob@example.org --to dev@lists.example "$tmp/post" >/dev/null 2>&1
id=$("$CTL_BIN" -C "$MLM_CONF" held $L | awk 'NR == 1 {print $1}')
ctl held discard "$id"
t_check "a held post discarded: held ID, discarded ($(log --limit 1))" \
    grep -qE "mlm-ctl by $me +held decide +held $id +discarded\$" <<<"$(log --limit 1)"

# An approval whose re-injection fails: the post is pending again, and the
# log says so after the approval.
printf 'From: bob@example.org\nTo: dev@lists.example\nSubject: held two\n\nx\n' >"$tmp/post2"
mlm_ctl try --from bob@example.org --to dev@lists.example "$tmp/post2" >/dev/null 2>&1
id2=$("$CTL_BIN" -C "$MLM_CONF" held $L | awk 'NR == 1 {print $1}')
sed 's|^sendmail = .*|sendmail = /bin/false|' "$MLM_CONF" >"$tmp/false.conf"
env -u SUDO_USER "$CTL_BIN" -C "$tmp/false.conf" held approve "$id2" >/dev/null 2>&1
t_check "a failed re-injection: held reopen after held decide approved ($(log --limit 2 | tr '\n' '|'))" \
    test "$(log --limit 2 | awk -F '  +' '{print $3 " " $5}' | tr '\n' ,)" = "held reopen pending,held decide approved,"

# --limit, --json, hostile values.
t_check "--limit 3: three lines" test "$(log --limit 3 | wc -l)" -eq 3
t_check "--json: an array of objects with every field, newest first" python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert len(r) > 10 and all(set(x) == {"id", "at", "when", "actor", "action", "subject", "detail"} for x in r), r
assert [x["id"] for x in r] == sorted((x["id"] for x in r), reverse=True)
assert r[0]["action"] == "held reopen" and r[0]["detail"] == "pending"' "$(log --json)"
ctl member set $L bob@example.org name $'evil \e]0;title\a name'
t_check "a control character in a value is shown escaped, never raw" \
    bash -c "out=\$(env -u SUDO_USER '$CTL_BIN' -C '$MLM_CONF' log $L --limit 1); grep -q 'evil \\\\x1b' <<<\"\$out\" && ! grep -q \$'\\e' <<<\"\$out\""
out=$(log --limit 0); rc=$?
t_check "--limit 0 is refused ($rc: $out)" test "$rc" -ne 0
out=$("$CTL_BIN" -C "$MLM_CONF" log nosuch@lists.example 2>&1); rc=$?
t_check "an unknown list fails ($rc)" test "$rc" -ne 0
t_done
