#!/usr/bin/env bash
# tests/ctl/commands-e2e.sh - commands by mail end to end through the
# private Postfix (mlm's own mail, tokens and answers, goes back through
# the same Postfix to smtp-sink):
#
#  - a member turns delivery off (nomail) and on (mail), and not-me-too on
#    and off, each confirmed by replying with its token; the next post's
#    recipients show each change;
#  - an owner approves a pending subscription (subscription_policy
#    moderate) by replying to the notice: the subscriber is in mlm-ctl
#    members and is welcomed; forged replies (another owner's address, a
#    look-alike of the owner's in From or as envelope sender, a token of
#    the wrong length or alphabet) are refused 5xx in the session and
#    leave the request pending;
#  - bad input, each answered with a final reply (250, not a 4xx timeout)
#    and nothing changed: 1,000 commands in one body (one answer, the
#    token for the first line), a 5 MB command mail (one answer),
#    "confirm TOKEN" with the member's token one digit longer or shorter,
#    with a letter, "_" or a UTF-8 character glued on or in it, in upper
#    case (nothing answered), and a Unicode look-alike of a member's
#    address (Cyrillic o, a fullwidth @) as the envelope sender (no mail
#    to anyone).
#
# Needs Postfix, swaks and smtp-sink (exit 77 without them).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
command -v swaks >/dev/null || exit 77

inject_dir=$(mktemp -d /tmp/mlm-cmd-e2e.XXXXXX)
cleanup() { pf_stop; rm -rf "$inject_dir"; mlm_stop || exit 1; }
trap cleanup EXIT
pf_sendmail_script "$inject_dir"

mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $inject_dir/sendmail" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || exit 1
pf_start || exit 1
echo "$PF_PORT" >"$inject_dir/port"

L=dev@lists.example R=dev-request@lists.example
S=sub@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org
for m in ann bob cat dan ivy joe; do ctl member add $L $m@example.org; done
ctl list create $S --owner owner@example.org
ctl member add $S owner2@example.org --role owner
ctl list set $S subscription_policy moderate

settle() { pf_wait_queue_empty 30 >/dev/null; sleep 0.3; }
# until_true CODE: the shell code CODE, evaluated again every 0.2 s for up
# to 30 s until it succeeds.
until_true() {
    local i
    for ((i = 0; i < 150; i++)); do eval "$1" && return 0; sleep 0.2; done
    return 1
}
# mails TO [SUBJECT-ERE]: the deliveries to envelope recipient TO (whose
# Subject matches), oldest first.
mails() {
    local files
    files=$(pf_sink_files)
    [ -n "$files" ] || return 0
    grep -liF "X-Rcpt-Args: <$1>" $files | xargs -r grep -lE "^Subject: ${2:-}"
    return 0
}
# answers TO [SUBJECT-ERE]: how many mails from dev-request@ went to TO.
answers() { mails "$@" | xargs -r grep -l "^From: $R" | wc -l; }
# token_of ADDRESS: the token of the last confirmation mailed to ADDRESS.
token_of() {
    mails "$1" 'confirm [0-9a-f]{32}' | tail -1 | xargs -r cat | tr -d '\r' |
        sed -n 's/^Subject: confirm \([0-9a-f]\{32\}\)$/\1/p' | head -1
}
has_token() { [ -n "$(token_of "$1")" ]; }
delivery() { mlm_ctl members $L --role member | awk -v a="$1" '$1 == a { print $3 }'; }
flags() { mlm_ctl members $L --role member | awk -v a="$1" '$1 == a { print $5 }'; }
# The server's last reply of the last pf_send (before QUIT's 221).
final() { sed -n 's/^<[-~*]* *//p' "$PF_SEND_LOG" | grep -v '^221 ' | tail -1; }
final_is() { grep -Eq -- "$1" <<<"$(final)"; }
# command FROM TO SUBJECT [BODY]: a command mail, envelope sender and From
# FROM; a body of more than a line comes from the file BODY.
command() {
    if [ -f "${4:-}" ]; then
        printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n' "$1" "$2" "$3" >"$inject_dir/cmd"
        cat "$4" >>"$inject_dir/cmd"
        pf_send --from "$1" --to "$2" --data "$inject_dir/cmd"
    else
        pf_send --from "$1" --to "$2" --header "From: $1" \
            --header "Subject: $3" --body "${4:-x}"
    fi
}
N=0
# The deliveries of post N.
post_files() { grep -lE "^Subject: post $N"$'\r'"?\$" $(pf_sink_files) /dev/null; }
# post FROM: a post to the list; in $RCPTS the recipients it reached,
# sorted, on one line.
post() {
    N=$((N + 1))
    pf_send --from "$1" --to $L --header "Subject: post $N" --body "post $N"
    until_true 'post_files | grep -q .'
    settle
    RCPTS=$(post_files |
        while read -r f; do pf_rcpts "$f"; done | sort | tr '\n' ' ')
}
EVERYONE="ann@example.org bob@example.org cat@example.org dan@example.org ivy@example.org joe@example.org "

post bob@example.org; r=$RCPTS
t_check "before: a post reaches every member ($r)" test "$r" = "$EVERYONE"

# --- nomail, mail -------------------------------------------------------------
command ann@example.org $R nomail
t_check "nomail: 250" final_is '^250 '
until_true 'has_token ann@example.org'
t1=$(token_of ann@example.org)
t_check "... a token mailed to the member ($t1)" test ${#t1} -eq 32
t_check "... delivery unchanged before the reply" test "$(delivery ann@example.org)" = enabled
command ann@example.org $R "Re: confirm $t1"
t_check "the reply with the token: 250" final_is '^250 '
t_check "... delivery off" test "$(delivery ann@example.org)" = disabled-by-user
until_true '[ "$(answers ann@example.org "Your settings")" -eq 1 ]'
t_check "... the member is told its settings" test "$(answers ann@example.org 'Your settings')" -eq 1
post bob@example.org; r=$RCPTS
t_check "the next post: not to the member ($r)" \
    test "$r" = "bob@example.org cat@example.org dan@example.org ivy@example.org joe@example.org "
command ann@example.org $R mail
until_true '[ -n "$(token_of ann@example.org)" ] && [ "$(token_of ann@example.org)" != "$t1" ]'
t2=$(token_of ann@example.org)
t_check "mail: a new token ($t2)" test ${#t2} -eq 32 -a "$t2" != "$t1"
t_check "... delivery still off before the reply" test "$(delivery ann@example.org)" = disabled-by-user
command ann@example.org $R "Re: confirm $t2"
t_check "... the reply: delivery on" test "$(delivery ann@example.org)" = enabled
post bob@example.org; r=$RCPTS
t_check "the next post: to the member again ($r)" test "$r" = "$EVERYONE"
command ann@example.org $R "Re: confirm $t1"
t_check "the used nomail token again: 250, delivery stays on" \
    bash -c "grep -q '^250 ' <<<'$(final)' && [ $(delivery ann@example.org) = enabled ]"

# --- not-me-too -----------------------------------------------------------------
command cat@example.org $R "not-me-too on"
until_true 'has_token cat@example.org'
t3=$(token_of cat@example.org)
t_check "not-me-too on: a token ($t3)" test ${#t3} -eq 32
t_check "... the flag still off" test "$(flags cat@example.org)" = -
command cat@example.org $R "Re: confirm $t3"
t_check "... the reply: the flag on" test "$(flags cat@example.org)" = not-me-too
post cat@example.org; r=$RCPTS
t_check "the member's own post: to the others, not to itself ($r)" \
    test "$r" = "ann@example.org bob@example.org dan@example.org ivy@example.org joe@example.org "
post bob@example.org; r=$RCPTS
t_check "another member's post reaches it ($r)" test "$r" = "$EVERYONE"
command cat@example.org $R "not-me-too off"
until_true '[ -n "$(token_of cat@example.org)" ] && [ "$(token_of cat@example.org)" != "$t3" ]'
t4=$(token_of cat@example.org)
command cat@example.org $R "Re: confirm $t4"
t_check "not-me-too off, confirmed: the flag off" test "$(flags cat@example.org)" = -
post cat@example.org; r=$RCPTS
t_check "its own post reaches it again ($r)" test "$r" = "$EVERYONE"

# --- confirm TOKEN of the wrong length or alphabet --------------------------
command dan@example.org $R nomail
until_true 'has_token dan@example.org'
t5=$(token_of dan@example.org)
n=$(pf_deliveries)
for bad in "${t5}0" "${t5:0:31}" "${t5}g" "${t5}_" "${t5:0:31}g" "${t5}é" "${t5:0:16}é${t5:16}" \
    "$(printf '%s' "$t5" | sed 's/[0-9a-f]/Ｆ/')" "$(tr a-f A-F <<<"$t5")"; do
    command dan@example.org $R "Re: confirm $bad"
    t_check "confirm '$bad': 250, delivery unchanged" \
        bash -c "grep -q '^250 ' <<<'$(final)' && [ $(delivery dan@example.org) = enabled ]"
done
settle
t_check "... and nothing answered ($(pf_deliveries) deliveries after $n)" test "$(pf_deliveries)" -eq "$n"
command dan@example.org $R "Re: confirm $t5"
t_check "the token itself then: delivery off" test "$(delivery dan@example.org)" = disabled-by-user

# --- Unicode look-alikes of a member's address ---------------------------------
# о is CYRILLIC SMALL LETTER O, ＠ FULLWIDTH COMMERCIAL AT.
settle
n=$(pf_deliveries)
for who in "bоb@example.org" "bob＠example.org"; do
    for c in nomail "not-me-too on" options who-am-i; do
        command "$who" $R "$c"
        t_check "'$c' from $who: refused or dropped, not 4xx ($(final))" final_is '^(250|5[0-9][0-9]) '
    done
done
settle
t_check "... no mail to anyone ($(pf_deliveries) deliveries after $n)" test "$(pf_deliveries)" -eq "$n"
t_check "... bob unchanged" test "$(delivery bob@example.org)$(flags bob@example.org)" = "enabled-"

# --- bad input -------------------------------------------------------------------
for i in $(seq 250); do printf 'nomail\r\nnot-me-too on\r\nmail\r\noptions\r\n'; done >"$inject_dir/many"
start=$(date +%s)
command ivy@example.org $R "" "$inject_dir/many"
took=$(($(date +%s) - start))
t_check "1,000 commands in one body: a final 250 ($(final); ${took}s < 60)" \
    bash -c "grep -q '^250 ' <<<'$(final)' && [ $took -lt 60 ]"
until_true 'has_token ivy@example.org'
settle
t_check "... one mail, a token for the first line" \
    test "$(answers ivy@example.org)" -eq 1 -a "$(answers ivy@example.org 'confirm [0-9a-f]{32}')" -eq 1
t_check "... nothing changed" test "$(delivery ivy@example.org)$(flags ivy@example.org)" = "enabled-"
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' 'm' | fold -w 76 | sed 's/$/\r/' >"$inject_dir/big"
start=$(date +%s)
command joe@example.org $R "who-am-i" "$inject_dir/big"
took=$(($(date +%s) - start))
t_check "a 5 MB command mail: a final 250 ($(final); ${took}s < 60)" \
    bash -c "grep -q '^250 ' <<<'$(final)' && [ $took -lt 60 ]"
until_true '[ "$(answers joe@example.org "Who you are")" -ge 1 ]'
settle
t_check "... answered once" test "$(answers joe@example.org)" -eq 1 -a "$(answers joe@example.org 'Who you are')" -eq 1
t_check "... nothing changed" test "$(delivery joe@example.org)$(flags joe@example.org)" = "enabled-"

# --- an owner approves a subscription by reply ----------------------------------
pending_id() { mlm_ctl requests $S | awk -v a="$1" '$2 == a { print $1 }'; }
is_member() { mlm_ctl members $S --role member | grep -qi "^$1 "; }
# reply_address OWNER SUBSCRIBER ACTION: from OWNER's notice about
# SUBSCRIBER's request.
reply_address() {
    local f
    for f in $(mails "$1" "$S subscription request"); do
        pf_message "$f" | grep -q "address: *$2" || continue
        pf_message "$f" | tr -d '\r' |
            sed -n "s/^  $3 *\(sub-request+$3-[0-9a-f-]*@lists.example\)\$/\1/p" | head -1
    done
}
command frank@example.org sub-request@lists.example subscribe
t_check "subscribe under moderate: 250" final_is '^250 '
fid=$(pending_id frank@example.org)
t_check "... the request is pending ($fid)" test -n "$fid"
until_true '[ -n "$(reply_address owner@example.org frank@example.org approve)" ]'
a1=$(reply_address owner@example.org frank@example.org approve)
a2=$(reply_address owner2@example.org frank@example.org approve)
t_check "each owner's notice has its approve address ($a1)" \
    test -n "$a1" -a -n "$a2" -a "$a1" != "$a2"
reply() { # ENVFROM FROM TO
    pf_send --from "$1" --to "$3" --header "From: $2" --header "Subject: Re: request" --body ok
}
reply owner2@example.org owner2@example.org "$a1"
t_check "another owner's address: 550 5.7.1" final_is '^550 5\.7\.1 '
reply owner@example.org "оwner@example.org" "$a1"
t_check "From a look-alike of the owner (Cyrillic o): 550 5.7.1" final_is '^550 5\.7\.1 '
reply "оwner@example.org" "оwner@example.org" "$a1"
t_check "envelope and From a look-alike of the owner: refused ($(final))" final_is '^5[0-9][0-9] '
reply owner@example.org "owner＠example.org" "$a1"
t_check "From with a fullwidth @: 550 5.7.1" final_is '^550 5\.7\.1 '
tok=${a1#sub-request+approve-}
tok=${tok%@lists.example}
for bad in "${tok}0" "${tok%?}" "$(sed 's/.$/g/' <<<"$tok")" "$(sed 's/.$/é/' <<<"$tok")"; do
    reply owner@example.org owner@example.org "sub-request+approve-$bad@lists.example"
    t_check "token '$bad': refused ($(final))" final_is '^5[0-9][0-9] '
done
t_check "... the request still pending, frank no member" \
    bash -c "[ '$(pending_id frank@example.org)' = '$fid' ] && ! '$CTL_BIN' -C '$MLM_CONF' members $S | grep -qi '^frank@'"
reply owner@example.org owner@example.org "$a1"
t_check "the owner's reply to its approve address: 250" final_is '^250 '
t_check "... frank is a member" is_member frank@example.org
t_check "... the request is approved by the owner" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' requests $S --state approved | grep -qE '^$fid +frank@example.org .*approved'"
until_true '[ "$(mails frank@example.org "Welcome to $S" | wc -l)" -eq 1 ]'
t_check "... frank is welcomed" test "$(mails frank@example.org "Welcome to $S" | wc -l)" -eq 1
reply owner@example.org owner@example.org "$a1"
t_check "the reply replayed: 550 5.7.1" final_is '^550 5\.7\.1 '
t_check "... one membership" test "$(mlm_ctl members $S --role member | grep -ci '^frank@')" -eq 1

[ "$T_FAILED" -eq 0 ] || { mlm_log; tail -20 "$inject_dir/swaks.log" 2>/dev/null; }
t_done
