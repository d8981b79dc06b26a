#!/usr/bin/env bash
# tests/ctl/moderation-e2e.sh - moderation by reply end to end through the
# private Postfix: held-post notices reach each moderator with the
# NAME-request+ACTION-TOKEN@ addresses; replies to them approve (the post is
# re-injected and distributed), reject with a reason (told to the poster)
# and discard; forged replies (right token wrong From, right From token of
# another post, a replayed token, an expired token, a token of the wrong
# length or alphabet (upper-case hex too), a Unicode look-alike of the
# moderator's address) get 550 5.7.1 in the SMTP session and decide
# nothing. NAME-request+ANYTHING@
# is accepted at RCPT; NAME-owner+ANYTHING@ is no list address.
#
# Needs Postfix, swaks and smtp-sink (exit 77 without them).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
command -v swaks >/dev/null || exit 77

inject_dir=$(mktemp -d /tmp/mlm-modreply.XXXXXX)
cleanup() { pf_stop; rm -rf "$inject_dir"; mlm_stop || exit 1; }
trap cleanup EXIT
pf_sendmail_script "$inject_dir"

mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $inject_dir/sendmail" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || exit 1
pf_start || exit 1
echo "$PF_PORT" >"$inject_dir/port"

L=mod@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org
ctl list set $L nonmember_action hold
ctl member add $L alice@example.org
ctl member add $L bob@example.org
ctl member set $L bob@example.org moderated yes
ctl member add $L moderator@example.org --role moderator
settle() { pf_wait_queue_empty 30 >/dev/null; sleep 0.3; }
# Deliveries whose Subject matches ERE.
posts() {
    local f
    for f in $(pf_sink_files); do
        pf_message "$f" | sed '/^$/q' | grep -Eq "^Subject: $1" && echo "$f"
    done
    return 0
}
delivered() { local f; for f in $(posts "$1"); do pf_rcpts "$f"; done | sort | tr '\n' ' '; }
state() { mlm_ctl held show "$1" | awk '$1 == "state" { print $2 }'; }
# action ID ACTION: the address in the notice of held post ID.
action() {
    local f
    for f in $(posts "$L post held"); do
        pf_message "$f" | grep -q "held id: $1"$'\r'"\?\$" || continue
        pf_message "$f" | tr -d '\r' | sed -n "s/^  $2 *\([^ ]*@lists.example\)\$/\1/p" | head -1
        return
    done
}
# reply ENVFROM FROM TO [BODY]: a moderator's reply.
reply() {
    pf_send --from "$1" --to "$3" --header "From: $2" \
        --header "Subject: Re: held" --body "${4:-ok}"
}
# The server's last reply of the last pf_send (before QUIT's 221).
final() { sed -n 's/^<[-~*]* *//p' "$PF_SEND_LOG" | grep -v '^221 ' | tail -1; }
final_is() { grep -Eq -- "$1" <<<"$(final)"; }

pf_send --from stranger@example.net --to $L --header "Subject: post one" --body one
pf_send --from bob@example.org --to $L --header "Subject: post two" --body two
pf_send --from stranger@example.net --to $L --header "Subject: post three" --body three
settle
ids=$(mlm_ctl held $L | awk '{ print $1 }' | tr '\n' ' ')
t_check "three posts held (ids $ids)" test "$ids" = "1 2 3 "
A1=$(action 1 approve) R2=$(action 2 reject) D3=$(action 3 discard)
A3=$(action 3 approve)
t_check "the notices carry the action addresses ($A1)" \
    test -n "$A1" -a -n "$R2" -a -n "$D3" -a -n "$A3"

M=moderator@example.org
reply $M evil@example.net "$A1"
t_check "right token, wrong From: 550 5.7.1" pf_replied '^550 5\.7\.1 '
reply evil@example.net $M "$A1"
t_check "right From, wrong envelope sender: 550 5.7.1" pf_replied '^550 5\.7\.1 '
reply $M $M "$(sed 's/approve-3-/approve-1-/' <<<"$A3")"
t_check "right From, the token of another post: 550 5.7.1" pf_replied '^550 5\.7\.1 '
reply $M $M "mod-request+approve-1-1-zz@lists.example"
t_check "a malformed token: 550 5.7.1" pf_replied '^550 5\.7\.1 '
tok=${A1#mod-request+approve-}
tok=${tok%@lists.example}
for bad in "${tok}0" "${tok%?}" "$(sed 's/[0-9a-f]$/g/' <<<"$tok")" \
    "$(sed 's/[0-9a-f]$/é/' <<<"$tok")" "$(sed 's/[0-9a-f]$/Ｆ/' <<<"$tok")" \
    "$(sed 's/^3-/1-/' <<<"${A3#mod-request+approve-}" | sed 's/@.*//' | tr a-f A-F)" \
    "$(printf 'a%.0s' $(seq 200))"; do
    reply $M $M "mod-request+approve-$bad@lists.example"
    t_check "token '${bad:0:60}': refused, not 4xx ($(final))" final_is '^5[0-9][0-9] '
done
# о is CYRILLIC SMALL LETTER O, ＠ FULLWIDTH COMMERCIAL AT
for who in "mоderator@example.org" "moderator＠example.org"; do
    reply $M "$who" "$A1"
    t_check "From $who: 550 5.7.1" final_is '^550 5\.7\.1 '
    reply "$who" "$who" "$A1"
    t_check "envelope sender and From $who: refused ($(final))" final_is '^5[0-9][0-9] '
done
t_check "nothing decided" test "$(state 1)$(state 2)$(state 3)" = pendingpendingpending

pf_sink_clear
reply $M $M "$A1"
t_check "approve by reply: 250" pf_replied '^250 .*[Qq]ueued'
settle
for ((i = 0; i < 100; i++)); do [ -n "$(posts 'post one')" ] && break; sleep 0.1; done
settle
t_check "the approved post reaches the members (got: $(delivered 'post one'))" \
    test "$(delivered 'post one')" = "alice@example.org bob@example.org "
t_check "post 1 approved" test "$(state 1)" = approved
t_check "the moderators are told who decided" test -n "$(posts "$L: held post 1 approved by $M")"
reply $M $M "$A1"
t_check "the approve token replayed: 550 5.7.1" pf_replied '^550 5\.7\.1 '

reply $M $M "$R2" "Please trim your quotes."
t_check "reject by reply: 250" final_is '^250 '
settle
t_check "post 2 rejected" test "$(state 2)" = rejected
f=$(posts "Your post to $L was not accepted" | head -1)
t_check "the poster is told, with the reason" \
    sh -c "[ -n '$f' ] && grep -q 'reason: Please trim your quotes.' '$f'"
t_check "... at the poster's address" test "$(pf_rcpts "${f:-/dev/null}")" = bob@example.org

reply $M $M "$D3"
t_check "discard by reply: 250" final_is '^250 '
t_check "post 3 discarded" test "$(state 3)" = discarded
reply $M $M "$A3"
t_check "approving a discarded post: 550 5.7.1" pf_replied '^550 5\.7\.1 '
t_check "... still discarded" test "$(state 3)" = discarded

# --- a token in upper case, an expired token ---------------------------------
pf_send --from stranger@example.net --to $L --header "Subject: post four" --body four
settle
A4=$(action 4 approve)
t_check "post four held ($A4)" test -n "$A4" -a "$(state 4)" = pending
reply $M $M "$(sed 's/-\([0-9a-f]\{32\}\)@/-\U\1@/' <<<"$A4")"
t_check "the token in upper case: 550 5.7.1" final_is '^550 5\.7\.1 '
t_check "... post 4 still pending" test "$(state 4)" = pending
reply $M $M "$(sed 's/+approve-/+Approve-/' <<<"$A4")"
t_check "the token itself (the action in any case): 250" final_is '^250 '
t_check "... post 4 approved" test "$(state 4)" = approved
mlm_ctl list set $L held_expire 0 >/dev/null
pf_send --from stranger@example.net --to $L --header "Subject: post five" --body five
settle
D5=$(action 5 discard)
expires=$(sed -n 's/^mod-request+discard-5-\([0-9]*\)-.*/\1/p' <<<"$D5")
t_check "post five held, its token expiring at once ($D5)" \
    test -n "$expires" -a "$(state 5)" = pending
# held_expire 0: the token expires as the post arrives; a second later it
# has expired.
for ((i = 0; i < 50 && $(date +%s) <= ${expires:-0}; i++)); do sleep 0.1; done
reply $M $M "$D5"
t_check "an expired token: 550 5.7.1" final_is '^550 5\.7\.1 '
t_check "... post 5 not discarded" test "$(state 5)" = pending
mlm_ctl list set $L held_expire 14 >/dev/null

pf_send --from $M --to mod-owner+x@lists.example --header "Subject: x" --body x
t_check "NAME-owner+x@ is no list address: 550 5.1.1 at RCPT" pf_replied '^550 5\.1\.1 '

[ "$T_FAILED" -eq 0 ] || { mlm_log; tail -20 "$inject_dir/swaks.log" 2>/dev/null; }
t_done
