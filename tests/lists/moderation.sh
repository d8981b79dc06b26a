#!/usr/bin/env bash
# tests/lists/moderation.sh - moderation by reply with `mlm-ctl try` (no
# daemons; mlm.sendmail goes to tests/lib/fake-sendmail.sh):
#
#  - a held post's notice goes to each moderator with that moderator's
#    NAME-request+ACTION-TOKEN@ addresses (and mailto links);
#  - a reply from the moderator (envelope sender and From:) decides: 250,
#    the other moderators are told who decided, a rejected member learns
#    the reason from the reply's first line, an approved post is
#    re-injected with its X-Mlm-Approved mark;
#  - forged replies are refused 550 5.7.1 and change nothing: right token
#    wrong From, wrong envelope sender, another moderator's token, the token
#    of another post, a replayed token, an expired one, a token of the wrong
#    length or alphabet (a UTF-8 character, upper-case hex), a 5 MB reply, a reply whose body holds 1,000
#    commands, a Unicode look-alike of the moderator's address (Cyrillic
#    o, a fullwidth @) as envelope sender or in From.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-moderation.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
SENT=$tmp/sent
mkdir "$SENT"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
L=dev@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org
ctl list set $L nonmember_action hold
ctl member add $L alice@example.org
ctl member set $L alice@example.org moderated yes
ctl member add $L mod@example.org --role moderator
ctl member add $L mod2@example.org --role moderator

# send ENVFROM HEADERFROM TO SUBJECT [BODYFILE]: one mail through the
# policy; the result line in $RESULT, the whole output in $OUT.
send() {
    { printf 'From: %s\nTo: %s\nSubject: %s\n\n' "$2" "$3" "$4"
      if [ -n "${5:-}" ]; then cat "$5"; else echo x; fi; } >"$tmp/mail"
    OUT=$("$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to "$3" "$tmp/mail" 2>&1)
    RESULT=$(printf '%s\n' "$OUT" | sed -n 's/^result: //p')
}
state() { mlm_sql "SELECT state || ':' || decided_by FROM held WHERE id = $1"; }
# addr ID ACTION TO: the action address in the notice of held post ID to TO.
addr() {
    grep -l "^To: $3"$'\r'"\?\$" "$SENT"/sent.* | xargs -r grep -l "held id: $1"$'\r'"\?\$" |
        xargs -r sed -n "s/^  $2 *\([^ ]*@lists.example\).*/\1/p" | head -1 | tr -d '\r'
}
refused() { case $RESULT in *550*5.7.1*) return 0 ;; esac; return 1; }
decided() { case $RESULT in *discard*) return 0 ;; esac; return 1; }

send stranger@example.net stranger@example.net $L "first post"
send alice@example.org alice@example.org $L "moderated alice"
send stranger@example.net stranger@example.net $L "third post"
t_check "three posts held" test "$(mlm_sql "SELECT count(*) FROM held WHERE state = 'pending'")" -eq 3
A1=$(addr 1 approve mod@example.org) R1=$(addr 1 reject mod@example.org)
D1=$(addr 1 discard mod@example.org) A1b=$(addr 1 approve mod2@example.org)
R2=$(addr 2 reject mod@example.org) A3=$(addr 3 approve mod@example.org)
t_check "each moderator's notice has its own action addresses" \
    test -n "$A1" -a -n "$A1b" -a "$A1" != "$A1b"
t_check "... of the form NAME-request+ACTION-TOKEN@ (got $A1)" \
    grep -qE '^dev-request\+approve-1-[0-9]+-[0-9a-f]{32}@lists.example$' <<<"$A1"
t_check "... with mailto links" grep -qF "<mailto:$R1?subject=reject%201>" "$SENT"/sent.*
count_sent() { ls "$SENT" | wc -l; }

# --- forged replies: 550, nothing decided ----------------------------------
send mod@example.org evil@example.net "$A1" "approve"
t_check "right token, wrong From: 550 5.7.1 ($RESULT)" refused
send evil@example.net mod@example.org "$A1" "approve"
t_check "right token, wrong envelope sender: 550 ($RESULT)" refused
send mod2@example.org mod2@example.org "$A1" "approve"
t_check "another moderator's token: 550 ($RESULT)" refused
other=$(sed 's/approve-1-/approve-3-/' <<<"$A1")
send mod@example.org mod@example.org "$other" "approve"
t_check "the token of post 1 on post 3: 550 ($RESULT)" refused
send mod@example.org mod@example.org "$(sed 's/+approve-/+discard-/' <<<"$A1")" "x"
t_check "the approve token as discard: 550 ($RESULT)" refused
send mod@example.org mod@example.org "$(sed 's/\(.\)@/\1f@/' <<<"$A1")" "x"
t_check "a token one digit too long: 550 ($RESULT)" refused
send mod@example.org mod@example.org "$(sed 's/[0-9a-f]@/g@/' <<<"$A1")" "x"
t_check "a token with a non-hex digit: 550 ($RESULT)" refused
send mod@example.org mod@example.org "dev-request+approve-1-$(printf 'a%.0s' $(seq 200))@lists.example" "x"
t_check "a 200-byte token: 550 ($RESULT)" refused
send mod@example.org mod@example.org "dev-request+approve@lists.example" "x"
t_check "no token: 550 ($RESULT)" refused
send "mоd@example.org" "mоd@example.org" "$A1" "x" # Cyrillic o
t_check "a Unicode look-alike of the moderator: 550 ($RESULT)" refused
send mod@example.org "mоd@example.org" "$A1" "x"
t_check "... in From alone: 550 ($RESULT)" refused
send "mod＠example.org" "mod＠example.org" "$A1" "x" # FULLWIDTH COMMERCIAL AT
t_check "the moderator's address with a fullwidth @: 550 ($RESULT)" refused
send mod@example.org "mod＠example.org" "$A1" "x"
t_check "... in From alone: 550 ($RESULT)" refused
send mod@example.org mod@example.org "$(sed 's/[0-9a-f]@/é@/' <<<"$A1")" "x"
t_check "a token with a UTF-8 character: 550 ($RESULT)" refused
send mod@example.org mod@example.org "$(sed 's/-\([0-9a-f]\{32\}\)@/-\U\1@/; s/approve-1-/approve-3-/' <<<"$A1")" "x"
t_check "another post's token in upper case: 550 ($RESULT)" refused
t_check "nothing decided by forged replies" test "$(state 1)" = "pending:"

# --- bad input ----------------------------------------------------------------
head -c 5000000 /dev/zero | tr '\0' 'a' | fold -w 76 >"$tmp/big"
start=$(date +%s)
send mod@example.org mod@example.org "$(sed 's/[0-9a-f]@/0@/;s/[0-9a-f]\(0@\)/1\1/' <<<"$A1")" "approve" "$tmp/big"
t_check "a 5 MB reply with a bad token: 550 ($RESULT)" refused
t_check "... in bounded time ($(( $(date +%s) - start )) s < 60)" test $(( $(date +%s) - start )) -lt 60
for i in $(seq 1000); do echo "approve"; echo "reject"; done >"$tmp/many"
send mod@example.org mod@example.org "$(sed 's/approve-1-/approve-2-/' <<<"$A1")" "approve" "$tmp/many"
t_check "1,000 commands in a body with a bad token: 550 ($RESULT)" refused
t_check "nothing decided by bad input" test "$(state 1)$(state 2)" = "pending:pending:"

# --- good replies ----------------------------------------------------------
printf '> moderated alice\nOn Friday alice wrote:\n\nOff topic here, sorry.\n' >"$tmp/reason"
before=$(count_sent)
send mod@example.org mod@example.org "$R2" "Re: reject" "$tmp/reason"
t_check "reject by reply: 250 (discard) ($RESULT)" decided
t_check "... post 2 rejected by the moderator" test "$(state 2)" = "rejected:mod@example.org"
t_check "... alice is told the reason" \
    sh -c "grep -l '^To: alice@example.org' '$SENT'/sent.* | xargs -r grep -l 'reason: Off topic here, sorry.' | grep -q ."
t_check "... the moderators are told who decided" \
    sh -c "grep -l '^was rejected by mod@example.org (by mail)' '$SENT'/sent.* | xargs -r grep -l '^To: mod2@example.org, mod@example.org' | grep -q ."
send mod@example.org mod@example.org "$R2" "Re: reject"
t_check "the reject token replayed: 550 ($RESULT)" refused

send mod2@example.org mod2@example.org "$(sed 's/-\([0-9a-f]\{32\}\)@/-\U\1@/' <<<"$A1b")" "Re: approve"
t_check "the token in upper case: 550 ($RESULT)" refused
t_check "... post 1 still pending" test "$(state 1)" = "pending:"
send mod2@example.org mod2@example.org "$(sed 's/+approve-/+APPROVE-/' <<<"$A1b")" "Re: approve"
t_check "approve by reply (the action in upper case): 250 ($RESULT)" decided
t_check "... post 1 approved by mod2" test "$(state 1)" = "approved:mod2@example.org"
inj=$(grep -l '^X-Mlm-Approved: dev@lists.example 1 ' "$SENT"/sent.* | head -1)
t_check "... re-injected with its mark to the list from -bounces" \
    grep -q '^ARGS: .*-f dev-bounces@lists.example dev@lists.example' "${inj:-/dev/null}"
t_check "... the re-injected post is distributed by the policy" \
    sh -c "'$CTL_BIN' -C '$MLM_CONF' try --from dev-bounces@lists.example --to $L '$inj' | grep -q 'envelope recipient: <alice@example.org>'"
send mod@example.org mod@example.org "$A1" "approve"
t_check "the other moderator's token of a decided post: 550 ($RESULT)" refused
send mod@example.org mod@example.org "$D1" "discard"
t_check "discard of a decided post: 550 ($RESULT)" refused
send mod2@example.org mod2@example.org "$A1b" "Re: approve"
t_check "the used token again: 550 ($RESULT)" refused
t_check "... still approved" test "$(state 1)" = "approved:mod2@example.org"

# --- removed moderator, expired tokens ---------------------------------------
ctl member remove $L mod2@example.org --role moderator
send mod2@example.org mod2@example.org "$(addr 3 discard mod2@example.org)" "discard"
t_check "a token of one no longer a moderator: 550 ($RESULT)" refused
ctl list set $L held_expire 0
send stranger@example.net stranger@example.net $L "fourth post"
D4=$(addr 4 discard mod@example.org)
sleep 2  # time must pass: the token expires with the second it was made in (held_expire 0)
send mod@example.org mod@example.org "$D4" "discard"
t_check "an expired token (held_expire 0): 550 ($RESULT)" refused
t_check "nothing decided on posts 3 and 4" test "$(state 3)$(state 4)" = "pending:pending:"
send mod@example.org mod@example.org "$(addr 3 discard mod@example.org)" "discard"
t_check "a token made before held_expire changed still decides ($RESULT)" decided
t_check "... post 3 discarded" test "$(state 3)" = "discarded:mod@example.org"
# --- mlm-ctl held notify: expiry, then one summary per moderator ---------------
ctl list set $L held_expire 14
send stranger@example.net stranger@example.net $L "fifth post"
ctl list set $L held_expire 0
sleep 2  # time must pass: the token expires with the second it was made in (held_expire 0)
rm -f "$SENT"/sent.*
out=$(mlm_ctl held notify)
t_check "held notify: post 4 (past held_expire 0) discarded" \
    test "$(state 4)" = "discarded:held_expire"
t_check "... and said so ($out)" grep -q "expired held message 4 of $L: discarded" <<<"$out"
t_check "... post 5 too" test "$(state 5)" = "discarded:held_expire"
ctl list set $L held_expire 14
send stranger@example.net stranger@example.net $L "sixth post"
send stranger@example.net stranger@example.net $L "seventh post"
rm -f "$SENT"/sent.*
out=$(mlm_ctl held notify)
t_check "held notify: one summary per moderator ($(ls "$SENT" | wc -l))" test "$(ls "$SENT" | wc -l)" -eq 1
sum=$(ls "$SENT"/sent.* 2>/dev/null | head -1)
t_check "... to the moderator" grep -q '^ARGS: -f dev-bounces@lists.example mod@example.org$' "${sum:-/dev/null}"
t_check "... listing both pending posts" \
    test "$(grep -c '^held id: [67]' "${sum:-/dev/null}")" -eq 2
A7=$(sed -n 's/^  approve *\(dev-request+approve-7-[^ ]*@lists.example\).*/\1/p' "${sum:-/dev/null}" | tr -d '\r')
send mod@example.org mod@example.org "$A7" "approve"
t_check "an address from the summary decides ($RESULT)" decided
t_check "... post 7 approved" test "$(state 7)" = "approved:mod@example.org"
out=$(mlm_ctl held notify)
t_check "a second pass: nothing expired, post 6 still pending" test "$(state 6)" = "pending:"
t_done
