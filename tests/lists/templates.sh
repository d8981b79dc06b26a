#!/usr/bin/env bash
# tests/lists/templates.sh - the mail templates (lua/lib/mlm_templates.lua)
# and a list's own versions (mlm-ctl templates, template show|set|reset),
# with `mlm-ctl try` (no daemons; mail goes to tests/lib/fake-sendmail.sh):
#
#  - a list's version changes the mail the policy sends (a confirmation)
#    and the mails mlm-ctl sends (the decision notice of held reject, the
#    pending summary of held notify); another list keeps the shipped text;
#  - reset brings the shipped text back; set and reset are in the log;
#  - a bad version (unknown name, unknown placeholder, no Subject line,
#    a control character, not UTF-8, too long, "${" without a name) is
#    refused and nothing is stored;
#  - a value is substituted once (a Subject "${id}" stays "${id}"), and a
#    value with CR/LF put in a Subject never starts another header line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-templates.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
SENT=$tmp/sent
mkdir "$SENT"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
L=dev@lists.example R=dev-request@lists.example O=other@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org
ctl list create $O --owner owner@example.org
ctl member add $L mod@example.org --role moderator
ctl member add $L ann@example.org
ctl list set $L nonmember_action hold

# send FROM TO SUBJECT: one mail through the policy.
send() {
    printf 'From: %s\nTo: %s\nSubject: %s\n\nx\n' "$1" "$2" "$3" >"$tmp/mail"
    "$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to "$2" "$tmp/mail" \
        >"$tmp/out" 2>&1
}
# the last mail to ADDRESS (in To:, or the last sendmail argument: mlm-ctl's
# notices are To: NAME-owner@)
last_to() {
    grep -liE "^(To: |ARGS: .* )$1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null |
        xargs -r ls -t | head -1
}
set_from() { # LIST NAME TEXT: template set from a file
    printf '%s' "$3" >"$tmp/tpl"
    OUT=$("$CTL_BIN" -C "$MLM_CONF" template set "$1" "$2" "$tmp/tpl" 2>&1)
    RC=$?
}

# --- the catalogue --------------------------------------------------------
out=$(mlm_ctl templates $L)
t_check "templates: welcome, shipped" grep -qE '^welcome +shipped ' <<<"$out"
t_check "... and the held notice, the summary, the bounce probe" \
    test "$(grep -cE '^(held-notice|held-summary|bounce-probe) ' <<<"$out")" -eq 3
t_check "template show: the shipped text as a file" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' template show $L welcome | head -2 | tr '\n' '|' | grep -qx 'Subject: Welcome to \${list}||'"

# --- a list's version changes the mail the policy sends ---------------------
set_from $L confirm-subscribe 'Subject: Bitte bestaetigen: confirm ${token}

Jemand will ${address} bei ${list} eintragen.
Antwort an ${request}.
'
t_check "template set confirm-subscribe ($OUT)" test $RC -eq 0
t_check "templates: now own" grep -qE '^confirm-subscribe +own ' <<<"$(mlm_ctl templates $L)"
t_check "... not on the other list" grep -qE '^confirm-subscribe +shipped ' <<<"$(mlm_ctl templates $O)"
send new@example.net $R subscribe
f=$(last_to new@example.net)
t_check "subscribe: the list's Subject, the token in it" \
    grep -qE '^Subject: Bitte bestaetigen: confirm [0-9a-f]{32}'$'\r''?$' "${f:-/dev/null}"
t_check "... the list's body, placeholders filled" \
    grep -q "^Jemand will new@example.net bei $L eintragen." "${f:-/dev/null}"
token=$(sed -n 's/^Subject: Bitte bestaetigen: confirm \([0-9a-f]*\).*/\1/p' "${f:-/dev/null}")
send new@example.net $R "Re: Bitte bestaetigen: confirm $token"
t_check "... and a reply keeping the subject confirms" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep -q '^new@example.net '"
send new@example.net other-request@lists.example subscribe
t_check "the other list: the shipped text" \
    grep -q "^Someone, probably you, asked to subscribe new@example.net to $O." "$(last_to new@example.net)"
t_check "template show: the list's version" \
    grep -q '^Jemand will ${address}' <<<"$("$CTL_BIN" -C "$MLM_CONF" template show $L confirm-subscribe)"
t_check "... --shipped: the shipped one" \
    grep -q '^Someone, probably you' <<<"$("$CTL_BIN" -C "$MLM_CONF" template show $L confirm-subscribe --shipped)"
t_check "the change log: template set" \
    grep -qE "template set +confirm-subscribe +[0-9]+ bytes\$" <<<"$(mlm_ctl log $L --limit 3)"

# --- reset ------------------------------------------------------------------
out=$("$CTL_BIN" -C "$MLM_CONF" template reset $L confirm-subscribe 2>&1)
t_check "template reset ($out)" test $? -eq 0
send second@example.net $R subscribe
t_check "... the shipped text again" \
    grep -q "^Someone, probably you, asked to subscribe second@example.net to $L." "$(last_to second@example.net)"
t_check "... logged" grep -qE "template reset +confirm-subscribe" <<<"$(mlm_ctl log $L --limit 1)"
"$CTL_BIN" -C "$MLM_CONF" template reset $L confirm-subscribe >/dev/null 2>&1
t_check "reset again: exit 1 (no version of its own)" test $? -eq 1

# --- the mails mlm-ctl sends -------------------------------------------------
set_from $L held-decided 'Subject: Entschieden: ${id} ${state}

Beitrag ${id} (${subject}) wurde von ${decided_by} ${state}${via}.
'
t_check "template set held-decided ($OUT)" test $RC -eq 0
send stranger@example.net $L "first post"
id=$(mlm_sql "SELECT max(id) FROM held")
mlm_ctl held reject "$id" --by boss >/dev/null
f=$(last_to mod@example.org)
t_check "held reject: the moderators' notice is the list's version" \
    bash -c "grep -q '^Subject: Entschieden: $id rejected' '${f:-/dev/null}' && grep -q '^Beitrag $id (first post) wurde von boss rejected.' '${f:-/dev/null}'"
set_from $L held-summary-post 'POST ${id}: ${subject} -> ${approve_address}

'
t_check "template set held-summary-post (a fragment) ($OUT)" test $RC -eq 0
send stranger@example.net $L "second post"
id=$(mlm_sql "SELECT max(id) FROM held")
rm -f "$SENT"/sent.*
mlm_ctl held notify >/dev/null
f=$(last_to mod@example.org)
t_check "held notify: the summary with the list's fragment" \
    grep -qE "^POST $id: second post -> dev-request\+approve-$id-[^ ]+@lists.example"$'\r''?$' "${f:-/dev/null}"
t_check "... in the shipped frame" grep -q "^Posts to $L waiting for a decision: 1." "${f:-/dev/null}"
t_check "template show of a fragment: the text and the file's one line end" \
    test "$("$CTL_BIN" -C "$MLM_CONF" template show $L delivery-enabled | od -An -c | tr -d ' ')" = 'on\n'
"$CTL_BIN" -C "$MLM_CONF" template show $L held-summary-post >"$tmp/frag"
"$CTL_BIN" -C "$MLM_CONF" template set $L held-summary-post "$tmp/frag" >/dev/null
t_check "... which template set takes back unchanged" \
    cmp -s <(mlm_sql "SELECT text FROM templates WHERE name = 'held-summary-post'") <(cat "$tmp/frag"; echo)

# --- refused versions ----------------------------------------------------------
before=$(mlm_sql "SELECT count(*) FROM templates")
set_from $L no-such-template 'Subject: x

y'
t_check "an unknown name: refused ($OUT)" bash -c "[ $RC -eq 1 ] && grep -q 'no template' <<<'$OUT'"
set_from $L welcome 'Subject: Welcome ${address}

hi'
t_check "a placeholder the template has not: refused, naming its own ($OUT)" \
    bash -c "[ $RC -eq 1 ] && grep -qF 'has no placeholder \${address}' <<<'$OUT' && grep -qF '\${list}' <<<'$OUT'"
set_from $L welcome 'Welcome, no subject line'
t_check "a mail without its Subject line: refused" test $RC -eq 1
set_from $L welcome "$(printf 'Subject: x\n\nbell \a here')"
t_check "a control character: refused" test $RC -eq 1
set_from $L welcome 'Subject: x

costs ${ money'
t_check "\"\${\" without a name: refused" test $RC -eq 1
set_from $L welcome "$(printf 'Subject: x\n\nLatin-1 \351t\351')"
t_check "not UTF-8: refused" test $RC -eq 1
head -c 20000 /dev/zero | tr '\0' x | sed '1s/^/Subject: x\n\n/' >"$tmp/big"
"$CTL_BIN" -C "$MLM_CONF" template set $L welcome "$tmp/big" >/dev/null 2>&1
t_check "over 16384 bytes: refused" test $? -eq 1
t_check "... nothing of them stored" test "$(mlm_sql "SELECT count(*) FROM templates")" = "$before"

# --- values: once, and never a header line of their own ------------------------
set_from $L held-notice 'Subject: HELD ${subject} (${id})

${sender} ${approve_address}
'
t_check "template set held-notice ($OUT)" test $RC -eq 0
rm -f "$SENT"/sent.*
send stranger@example.net $L '${id} ${token}'
id=$(mlm_sql "SELECT max(id) FROM held")
f=$(last_to mod@example.org)
t_check "a value is not read for placeholders: Subject HELD \${id} \${token} ($id)" \
    grep -qF "Subject: HELD \${id} \${token} ($id)" "${f:-/dev/null}"
# A Subject that decodes to CR LF and a Bcc: line (RFC 2047).
enc=$(printf 'hi\r\nBcc: evil@example.net' | base64 -w0)
rm -f "$SENT"/sent.*
send stranger@example.net $L "=?UTF-8?B?$enc?="
f=$(last_to mod@example.org)
t_check "CR/LF from the post's Subject put in the notice's Subject: one header line" \
    bash -c "[ -n '$f' ] && grep -q '^Subject: ' '$f' && ! sed '/^\r\?\$/q' '$f' | grep -qi '^Bcc:'"
t_check "... and no Bcc recipient" bash -c "! grep -qi 'evil@example.net' <(sed -n 1p '${f:-/dev/null}')"
mlm_sql "UPDATE held SET subject = 'x"$'\r\n'"Bcc: evil@example.net' WHERE id = $id"
set_from $L held-decided 'Subject: Decided ${subject}

${state}
'
mlm_ctl held discard "$id" >/dev/null
f=$(last_to mod@example.org)
t_check "mlm-ctl: CR/LF of a stored subject put in a Subject: one header line" \
    bash -c "[ -n '$f' ] && grep -q '^Subject: Decided x' '$f' && ! sed '/^\r\?\$/q' '$f' | grep -qi '^Bcc:'"

t_done
