#!/usr/bin/env bash
# tests/lists/owner-commands.sh - the owners' commands by mail to
# NAME-request@ (add, remove, moderate, held: lua/lib/mlm_owner_commands.lua),
# with `mlm-ctl try` (no daemons; mail goes to tests/lib/fake-sendmail.sh):
#
#  - add ADDRESS NAME, remove ADDRESS, moderate ADDRESS yes|no from an
#    owner: a token to the owner's address, nothing changed before the
#    reply "confirm TOKEN", done after it, the owner told;
#  - held: answered at once to the owner, listing the pending posts with
#    the owner's own reply addresses, which decide;
#  - mlm-ctl log shows each change with the confirming mail's sender;
#  - the same commands from a member, a moderator, a stranger or a forged
#    envelope sender that is no owner: no mail, nothing changed;
#  - a replayed token, an unknown one, the token after the owner lost the
#    role: nothing changes;
#  - bad arguments (no address, a look-alike address, moderate maybe) get
#    the usage, nothing changes; a robot's command gets nothing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-ownercmd.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
SENT=$tmp/sent
mkdir "$SENT"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
L=dev@lists.example R=dev-request@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner boss@example.org
ctl member add $L boss2@example.org --role owner
ctl member add $L boss3@example.org --role owner
ctl member add $L mod@example.org --role moderator
ctl member add $L ann@example.org
ctl member add $L bob@example.org
ctl list set $L nonmember_action hold

# send FROM SUBJECT [HEADER]: one mail to NAME-request@ (body "x").
send() {
    printf 'From: %s\nTo: %s\nSubject: %s\n%s\n\nx\n' "$1" "$R" "$2" \
        "${3:-X-Test: yes}" >"$tmp/mail"
    "$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to "$R" "$tmp/mail" \
        >"$tmp/out" 2>&1
}
sent_to() { # ADDRESS [SUBJECT-ERE]
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null |
        xargs -r grep -lE "^Subject: ${2:-}" | wc -l
}
last_to() {
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null |
        xargs -r ls -t | head -1
}
token_of() {
    last_to "$1" | xargs -r sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p'
}
is_member() { mlm_ctl members $L --role member | grep -q "^$1 "; }
moderated() { mlm_ctl members $L --role member | awk -v a="$1" '$1 == a { print $5 }'; }
changes() { mlm_sql "SELECT count(*) FROM changes"; }
# a new hour for the token limit of ADDRESS (one confirmation an hour)
# and for the reply quota (five replies an address an hour)
owner_tokens() { mlm_sql "SELECT count(*) FROM tokens WHERE action LIKE 'owner%'"; }
next_hour() { mlm_sql "UPDATE tokens SET expires = expires - 7200 WHERE address = '$1'; DELETE FROM replies"; }

# --- add ---------------------------------------------------------------------
send boss@example.org "add new@example.net New Person"
t1=$(token_of boss@example.org)
t_check "add: a token to the owner ($t1)" test ${#t1} -eq 32
t_check "... which names the command" \
    grep -q "to add new@example.net to $L as a member" "$(last_to boss@example.org)"
t_check "... nothing changed before the reply" \
    bash -c "! '$CTL_BIN' -C '$MLM_CONF' members $L | grep -q '^new@example.net '"
send boss@example.org "Re: confirm $t1"
t_check "confirmed: new@example.net is a member" is_member new@example.net
t_check "... with its name" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L --role member | grep '^new@example.net ' | grep -q 'New Person'"
t_check "... the owner told" grep -q "^  add new@example.net New Person" "$(last_to boss@example.org)"
t_check "... nothing sent to the new member" test "$(sent_to new@example.net)" -eq 0
t_check "mlm-ctl log: the change, by the owner's mail" \
    grep -qE "mail from <boss@example.org> \([^)]*\) +member add +new@example.net +member\$" <<<"$(mlm_ctl log $L --limit 1)"
n=$(changes)
send boss@example.org "confirm $t1"
t_check "the token replayed: nothing changes" test "$(changes)" = "$n"

# --- remove --------------------------------------------------------------------
next_hour boss@example.org
send boss@example.org "remove ann@example.org"
t2=$(token_of boss@example.org)
t_check "remove: a token ($t2)" bash -c "[ ${#t2} -eq 32 ] && [ $t2 != $t1 ]"
t_check "... ann still a member before the reply" is_member ann@example.org
send boss@example.org "confirm $t2"
t_check "confirmed: ann removed" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members $L --role member | grep -q '^ann@example.org '"
t_check "mlm-ctl log: member remove by the owner's mail" \
    grep -qE "mail from <boss@example.org> \([^)]*\) +member remove +ann@example.org" <<<"$(mlm_ctl log $L --limit 1)"

# --- moderate ------------------------------------------------------------------
send boss2@example.org "moderate bob@example.org yes"
t3=$(token_of boss2@example.org)
t_check "moderate yes: a token to that owner ($t3)" test ${#t3} -eq 32
t_check "... not moderated before the reply" test "$(moderated bob@example.org)" = -
send boss2@example.org "confirm $t3"
t_check "confirmed: bob moderated" test "$(moderated bob@example.org)" = moderated
t_check "mlm-ctl log: member set moderated yes by that owner" \
    grep -qE "mail from <boss2@example.org> \([^)]*\) +member set +bob@example.org +moderated yes\$" <<<"$(mlm_ctl log $L --limit 1)"
next_hour boss2@example.org
send boss2@example.org "moderate <bob@example.org> no"
send boss2@example.org "confirm $(token_of boss2@example.org)"
t_check "moderate no (address in <>): confirmed, not moderated" test "$(moderated bob@example.org)" = -

# --- a confirmed command that cannot be done -----------------------------------------
next_hour boss2@example.org
send boss2@example.org "remove nobody@example.org"
send boss2@example.org "confirm $(token_of boss2@example.org)"
t_check "remove of a non-member: the owner told it was not done" \
    grep -q "^Subject: $L: not done: remove nobody@example.org" "$(last_to boss2@example.org)"

# --- held ----------------------------------------------------------------------
printf 'From: stranger@example.net\nTo: %s\nSubject: please hold\n\nx\n' $L >"$tmp/post"
"$CTL_BIN" -C "$MLM_CONF" try --from stranger@example.net --to $L "$tmp/post" >/dev/null 2>&1
id=$(mlm_sql "SELECT max(id) FROM held")
send boss3@example.org "held"
f=$(last_to boss3@example.org)
t_check "held: answered at once to the owner" grep -q "^Subject: $L: held posts pending: 1" "${f:-/dev/null}"
t_check "... listing the post" bash -c "grep -q '^held id: $id' '$f' && grep -q 'subject: please hold' '$f'"
A=$(sed -n 's/^  approve *\(dev-request+approve-[^ ]*@lists.example\).*/\1/p' "${f:-/dev/null}" | tr -d '\r')
printf 'From: boss3@example.org\nTo: %s\nSubject: approve\n\nok\n' "$A" >"$tmp/mail"
"$CTL_BIN" -C "$MLM_CONF" try --from boss3@example.org --to "$A" "$tmp/mail" >/dev/null 2>&1
t_check "... whose approve address decides the post" \
    test "$(mlm_sql "SELECT state FROM held WHERE id = $id")" != pending
n=$(ls "$SENT" | wc -l)
send boss3@example.org "held"
t_check "held again: answered again (held takes no token; the reply quota bounds it)" \
    test "$(ls "$SENT" | wc -l)" -eq $((n + 1))
send boss3@example.org "add after-held@example.net"
t5=$(token_of boss3@example.org)
t_check "... and the owner's next command is still answered with a token ($t5)" \
    test ${#t5} -eq 32

# --- not an owner: nothing -------------------------------------------------------
n=$(ls "$SENT" | wc -l) c=$(changes)
send bob@example.org "add evil@example.net"
send mod@example.org "remove bob@example.org"
send stranger@example.net "moderate bob@example.org yes"
send stranger@example.net "held"
send bob@example.org "held"
t_check "member, moderator, stranger: no mail at all ($(ls "$SENT" | wc -l) after $n)" \
    test "$(ls "$SENT" | wc -l)" -eq "$n"
t_check "... nothing changed" bash -c "[ $(changes) = $c ] && ! '$CTL_BIN' -C '$MLM_CONF' members $L | grep -q '^evil@'"
# A forged From: of an owner, the envelope sender a stranger's.
printf 'From: boss@example.org\nTo: %s\nSubject: add forged@example.net\n\nx\n' $R >"$tmp/mail"
"$CTL_BIN" -C "$MLM_CONF" try --from stranger@example.net --to $R "$tmp/mail" >/dev/null 2>&1
t_check "a forged From: of an owner: no mail, nothing changed" \
    bash -c "[ $(ls "$SENT" | wc -l) -eq $n ] && [ $(changes) = $c ]"
# An owner's token used after the owner lost the role.
next_hour boss3@example.org
send boss3@example.org "add late@example.net"
t4=$(token_of boss3@example.org)
ctl member remove $L boss3@example.org --role owner
c=$(changes)
send boss3@example.org "confirm $t4"
t_check "the token of an owner no more: nothing done" \
    bash -c "[ $(changes) = $c ] && ! '$CTL_BIN' -C '$MLM_CONF' members $L | grep -q '^late@'"
send boss@example.org "confirm 0123456789abcdef0123456789abcdef"
t_check "an unknown token: nothing changed" test "$(changes)" = "$c"

# --- bad arguments, robots ---------------------------------------------------------
for cmd in "add" "add not-an-address" "moderate bob@example.org maybe" \
    "add bob@exаmple.org" "remove ann@example.org extra" "held now"; do
    mlm_sql "DELETE FROM tokens; DELETE FROM replies"
    rm -f "$SENT"/sent.*
    send boss@example.org "$cmd"
    t_check "'$cmd': the usage to the owner, no token" \
        bash -c "grep -q 'owner command not understood' '$(last_to boss@example.org)' && [ $(owner_tokens) -eq 0 ]"
done
t_check "... nothing changed" test "$(changes)" = "$c"
mlm_sql "DELETE FROM tokens"
rm -f "$SENT"/sent.*
send boss@example.org "add robot@example.net" "Auto-Submitted: auto-replied"
t_check "a robot's command (Auto-Submitted): no mail" test "$(ls "$SENT" | wc -l)" -eq 0

# 1,000 commands in one body, behind a subject that is none: the first line
# alone is read.
{ printf 'From: boss@example.org\nTo: %s\nSubject: hello\n\n' $R
  for i in $(seq 1 1000); do echo "add many$i@example.net"; done; } >"$tmp/many"
start=$(date +%s)
"$CTL_BIN" -C "$MLM_CONF" try --from boss@example.org --to $R "$tmp/many" >/dev/null 2>&1
took=$(( $(date +%s) - start ))
t_check "1,000 commands in one body: one token, for the first (took ${took}s)" \
    bash -c "[ $(owner_tokens) -eq 1 ] && [ $took -lt 20 ]"
t_check "... nothing changed" test "$(changes)" = "$c"

# --- a member's own command behind a Subject that starts like an owner's ------
# "Remove me ..." from a member is no owner command: the unsubscribe in the
# body is answered as before.
next_hour bob@example.org
rm -f "$SENT"/sent.*
is_member bob@example.org || t_fail "bob@example.org is no member"
printf 'From: bob@example.org\nTo: %s\nSubject: Remove me from this list please\n\nunsubscribe\n' $R >"$tmp/mail"
"$CTL_BIN" -C "$MLM_CONF" try --from bob@example.org --to $R "$tmp/mail" >/dev/null 2>&1
t_check "a member's \"Remove me ...\" with unsubscribe in the body: the confirmation sent" \
    test "$(sent_to bob@example.org 'confirm ')" -eq 1
printf 'From: new2@example.net\nTo: %s\nSubject: Add me to the list\n\nsubscribe\n' $R >"$tmp/mail"
"$CTL_BIN" -C "$MLM_CONF" try --from new2@example.net --to $R "$tmp/mail" >/dev/null 2>&1
t_check "a stranger's \"Add me ...\" with subscribe in the body: the confirmation sent" \
    test "$(sent_to new2@example.net 'confirm ')" -eq 1

# --- held counts every pending post, also past the 50 shown -------------------
mlm_sql "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 60)
    INSERT INTO held (list_id, sender, subject, reason, received, message)
    SELECT list_id, sender, subject, reason, received, message FROM held, c WHERE id = $id"
next_hour boss2@example.org
send boss2@example.org "held"
f=$(last_to boss2@example.org)
t_check "held with 60 pending: the count says 60" grep -q "^Subject: $L: held posts pending: 60" "${f:-/dev/null}"
t_check "... and 50 are shown" test "$(grep -c '^held id: ' "${f:-/dev/null}")" -eq 50
mlm_sql "UPDATE held SET state = 'discarded' WHERE state = 'pending'"

# --- a name cut to 100 bytes, never inside a UTF-8 character -------------------
next_hour boss2@example.org
long=$(printf 'a%.0s' $(seq 99))é
send boss2@example.org "=?UTF-8?B?$(printf 'add utf@example.net %s' "$long" | base64 -w0)?="
t6=$(token_of boss2@example.org)
send boss2@example.org "confirm $t6"
name=$(mlm_sql "SELECT name FROM members WHERE address = 'utf@example.net'")
t_check "a name of 101 bytes ending in é: cut to the 99 a before it (got ${#name} characters)" \
    test "$name" = "${long%é}"

# --- a forged command does not hold the owner's token for the hour ----------
next_hour boss@example.org
send boss@example.org "remove bob@example.org"
tf=$(token_of boss@example.org)
send boss@example.org "add owners-own@example.net"
to=$(token_of boss@example.org)
t_check "after a forged command in the owner's name, the owner's own is answered ($tf, then $to)" \
    bash -c "[ ${#to} -eq 32 ] && [ '$to' != '$tf' ]"
c=$(changes)
send boss@example.org "confirm $tf"
t_check "... and the forged command's token is void: nothing changed" \
    bash -c "[ $(changes) = $c ] && is_member() { '$CTL_BIN' -C '$MLM_CONF' members $L --role member | grep -q \"^\$1 \"; }; is_member bob@example.org"

t_done
