#!/usr/bin/env bash
# tests/lists/member-commands.sh - the member commands by mail to
# NAME-request@ (nomail, mail, not-me-too on|off, options, who-am-i), with
# `mlm-ctl try` (no daemons; mlm.sendmail goes to
# tests/lib/fake-sendmail.sh):
#
#  - nomail, confirmed by its token, turns the member's delivery off
#    (disabled-by-user) and the next post's expansion leaves the member
#    out; mail, confirmed, turns it on again;
#  - not-me-too on, confirmed: the member's own post (envelope sender or
#    From) goes to the others, not to the member; other posts still reach
#    it; off again: its own posts reach it; mlm-ctl members shows the flag;
#  - a used token, an unknown one, a token confirmed by another address
#    change nothing; so does "confirm TOKEN" with a token of the wrong
#    length or alphabet (a letter, UTF-8 or fullwidth digit glued on or
#    in it, upper-case hex), and nothing answers it;
#  - options and who-am-i answer a member, once a list and address an hour;
#    a non-member's commands get no mail at all, nor does a robot's;
#  - 1,000 commands in one body and a 5 MB command mail: one command at
#    most is acted on, and each is answered within a generous bound.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-membercmd.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
SENT=$tmp/sent
mkdir "$SENT"
# mlm-ctl try gives a policy (and so sendmail) only PATH, TZ, LANG, LC_*
# and TMPDIR of its environment: the directory goes on the command line.
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
L=dev@lists.example R=dev-request@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org
for m in ann bob cat dan eve fay gus hal; do
    ctl member add $L $m@example.org
done

# send FROM TO SUBJECT [BODY-FILE [HEADER]]: one mail through the policy
# (the body "x" without BODY-FILE); the try output in $tmp/out.
send() {
    { printf 'From: %s\nTo: %s\nSubject: %s\n%s\n\n' "$1" "$2" "$3" \
          "${5:-X-Test: yes}"
      if [ -n "${4:-}" ]; then cat "$4"; else echo x; fi
    } >"$tmp/mail"
    "$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to "$2" "$tmp/mail" \
        >"$tmp/out" 2>&1
}
# sent_to ADDRESS [SUBJECT-ERE]: how many mails went to ADDRESS (with a
# Subject matching).
sent_to() {
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null |
        xargs -r grep -lE "^Subject: ${2:-}" | wc -l
}
# the last mail to ADDRESS
last_to() {
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null |
        xargs -r ls -t | head -1
}
token_of() {
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* | xargs -r ls -t |
        head -1 | xargs -r sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p'
}
delivery() { mlm_ctl members $L --role member | awk -v a="$1" '$1 == a { print $3 }'; }
flags() { mlm_ctl members $L --role member | awk -v a="$1" '$1 == a { print $5 }'; }
# post FROM [FROM-HEADER]: a post to the list; the recipients it gets,
# sorted, on one line.
post() {
    printf 'From: %s\nTo: %s\nSubject: hello\n\nx\n' "${2:-$1}" $L >"$tmp/post"
    "$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to $L "$tmp/post" 2>&1 |
        sed -n 's/^change: add_recipient //p' | sort | tr '\n' ' '
}
gets() { grep -q " $1 " <<<" $2"; }

all=$(post bob@example.org)
t_check "before: every member gets a post ($all)" \
    test "$all" = "ann@example.org bob@example.org cat@example.org dan@example.org eve@example.org fay@example.org gus@example.org hal@example.org "

# --- nomail, mail -------------------------------------------------------------
send ann@example.org $R nomail
t1=$(token_of ann@example.org)
t_check "nomail: a token to the member ($t1)" test ${#t1} -eq 32
t_check "... which names what it does" \
    grep -q "stop sending you the posts of $L" "$(last_to ann@example.org)"
t_check "... and nothing changes before the reply" test "$(delivery ann@example.org)" = enabled
send mallory@example.net $R "Re: confirm $t1"
t_check "the token confirmed from another address: done as asked, answered to the member" \
    test "$(delivery ann@example.org)" = disabled-by-user
t_check "... not to the other address" test "$(sent_to mallory@example.net 'Your settings')" -eq 0
t_check "... the member gets its settings" \
    grep -q "delivery:    off (you turned it off)" "$(last_to ann@example.org)"
r=$(post bob@example.org)
t_check "a post after nomail: not to the member ($r)" bash -c "! grep -q ' ann@example.org ' <<<' $r'"
t_check "... to the others" gets bob@example.org "$r"
send ann@example.org $R "Re: confirm $t1"
t_check "the used token again: nothing changes" test "$(delivery ann@example.org)" = disabled-by-user
send ann@example.org $R mail
t2=$(token_of ann@example.org)
t_check "mail: a new token ($t2)" bash -c "[ ${#t2} -eq 32 ] && [ $t2 != $t1 ]"
send ann@example.org $R "confirm $(printf '%032x' 7)"
t_check "an unknown token: nothing changes" test "$(delivery ann@example.org)" = disabled-by-user
send ann@example.org $R "Re: confirm $t2"
t_check "mail confirmed: delivery on" test "$(delivery ann@example.org)" = enabled
t_check "a post after mail: to the member again" gets ann@example.org "$(post bob@example.org)"

# A delivery the owners turned off stays off.
ctl member set $L hal@example.org delivery disabled
send hal@example.org $R mail
send hal@example.org $R "confirm $(token_of hal@example.org)"
t_check "mail cannot undo disabled-by-admin" test "$(delivery hal@example.org)" = disabled-by-admin
t_check "... and says so" grep -q "turned off by the owners" "$(last_to hal@example.org)"

# --- not-me-too -----------------------------------------------------------------
send cat@example.org $R "not-me-too on"
t3=$(token_of cat@example.org)
t_check "not-me-too on: a token ($t3)" test ${#t3} -eq 32
t_check "... the flag still off" test "$(flags cat@example.org)" = -
send cat@example.org $R "Re: confirm $t3"
t_check "not-me-too confirmed: mlm-ctl members shows it" test "$(flags cat@example.org)" = not-me-too
t_check "... and --json" bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L --json | grep -q '\"address\":\"cat@example.org\".*\"not_me_too\":true'"
r=$(post cat@example.org)
t_check "the member's own post: not to itself ($r)" bash -c "! grep -q ' cat@example.org ' <<<' $r'"
t_check "... to the others" bash -c "grep -q ' ann@example.org ' <<<' $r' && grep -q ' bob@example.org ' <<<' $r'"
r=$(post other@example.net cat@example.org)
t_check "its post by From: not to itself either" bash -c "! grep -q ' cat@example.org ' <<<' $r'"
t_check "another member's post reaches it" gets cat@example.org "$(post bob@example.org)"
send cat@example.org $R "not-me-too off"
send cat@example.org $R "confirm $(token_of cat@example.org)"
t_check "not-me-too off: the flag goes" test "$(flags cat@example.org)" = -
t_check "... its own post reaches it" gets cat@example.org "$(post cat@example.org)"
send dan@example.org $R "not-me-too"
t_check "not-me-too without on or off: the help, no token" \
    bash -c "[ $(sent_to dan@example.org 'Help for') -eq 1 ] && [ $(sent_to dan@example.org confirm) -eq 0 ]"

# --- confirm TOKEN of the wrong length or alphabet ----------------------------
# The member's token one digit longer or shorter, with a letter, a UTF-8
# character or a fullwidth digit glued on or in it, in upper case: no
# token, nothing changes and nothing is answered.
ctl member add $L kim@example.org
send kim@example.org $R nomail
t6=$(token_of kim@example.org)
before=$(ls "$SENT" | wc -l)
for bad in "${t6}0" "${t6:0:31}" "${t6}g" "${t6}é" "${t6:0:16}é${t6:16}" \
    "${t6}Ｆ" "$(sed 's/^./Ｆ/' <<<"$t6")" "${t6}_" "$(tr a-f A-F <<<"$t6")" \
    "$(sed 's/[a-f]/\U&/' <<<"$t6")"; do
    send kim@example.org $R "Re: confirm $bad"
    send kim@example.org $R x "$(printf 'confirm %s\n' "$bad" >"$tmp/body"; echo "$tmp/body")"
done
t_check "confirm with a token of the wrong length or alphabet: nothing changes" \
    test "$(delivery kim@example.org)$(flags kim@example.org)" = enabled-
t_check "... and nothing is answered ($(ls "$SENT" | wc -l) after $before)" \
    test "$(ls "$SENT" | wc -l)" -eq "$before"
send kim@example.org $R "CONFIRM $t6."
t_check "the token itself, after CONFIRM, a full stop after: confirmed" \
    test "$(delivery kim@example.org)" = disabled-by-user

# --- options, who-am-i, once an hour ------------------------------------------
send bob@example.org $R options
t_check "options: the member's settings" bash -c "[ $(sent_to bob@example.org 'Your settings') -eq 1 ] && grep -q 'delivery:    on' '$(last_to bob@example.org)'"
send bob@example.org $R "who-am-i"
send bob@example.org $R "nomail"
t_check "... then nothing more to that address from this list within the hour" \
    test "$(sent_to bob@example.org)" -eq 1
send eve@example.org $R "Re: who-am-i"
t_check "who-am-i: the address subscribed" \
    grep -q "You are subscribed to $L as eve@example.org" "$(last_to eve@example.org)"
send gus@example.org $R nomail
send gus@example.org $R nomail
t_check "nomail twice within the hour: one token" test "$(sent_to gus@example.org)" -eq 1

# --- strangers and robots -------------------------------------------------------
for c in nomail mail "not-me-too on" options who-am-i; do
    send stranger@example.net $R "$c"
done
t_check "a non-member's member commands: no mail at all" \
    test "$(sent_to stranger@example.net)" -eq 0
send fay@example.org $R nomail "" "Auto-Submitted: auto-replied"
send fay@example.org $R options "" "Precedence: bulk"
t_check "a robot's (Auto-Submitted, Precedence): no mail" test "$(sent_to fay@example.org)" -eq 0

# с is CYRILLIC SMALL LETTER ES: "сat" is not cat.
lookalike=$(printf '\321\201at@example.org')
before=$(ls "$SENT" | wc -l)
send "$lookalike" $R nomail
send "$lookalike" $R options
t_check "a look-alike of a member's address: no mail ($(ls "$SENT" | wc -l) after $before)" \
    test "$(ls "$SENT" | wc -l)" -eq "$before"
t_check "... nothing changed" bash -c "[ $(delivery cat@example.org) = enabled ] && [ $(flags cat@example.org) = - ]"
send helper@example.net $R help
t_check "the help lists the member commands" \
    bash -c "grep -q '^  nomail ' '$(last_to helper@example.net)' && grep -q '^  not-me-too on ' '$(last_to helper@example.net)' && grep -q '^  who-am-i ' '$(last_to helper@example.net)'"

# --- mlm-ctl ---------------------------------------------------------------------
ctl member set $L dan@example.org not-me-too yes
t_check "mlm-ctl member set not-me-too yes: shown" test "$(flags dan@example.org)" = not-me-too
t_check "... and followed by the expansion" bash -c "! grep -q ' dan@example.org ' <<<' $(post dan@example.org)'"
t_check "mlm-ctl member set not-me-too maybe: refused" \
    bash -c "! '$CTL_BIN' -C '$MLM_CONF' member set $L dan@example.org not-me-too maybe 2>/dev/null"

# --- bounded ---------------------------------------------------------------------
ctl member add $L ivy@example.org
ctl member add $L joe@example.org
for i in $(seq 250); do printf 'nomail\nnot-me-too on\nmail\noptions\n'; done >"$tmp/many"
start=$(date +%s)
send ivy@example.org $R "" "$tmp/many"
took=$(($(date +%s) - start))
t_check "1,000 commands in one body: one token (for the first line; took ${took}s)" \
    bash -c "[ $(sent_to ivy@example.org confirm) -eq 1 ] && [ $(sent_to ivy@example.org) -eq 1 ] && [ $took -lt 20 ]"
t_check "... nothing changed" bash -c "[ $(delivery ivy@example.org) = enabled ] && [ $(flags ivy@example.org) = - ]"
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' 'm' | fold -w 76 >"$tmp/big"
start=$(date +%s)
send joe@example.org $R "who-am-i" "$tmp/big"
took=$(($(date +%s) - start))
t_check "a 5 MB command mail: answered once (took ${took}s)" \
    bash -c "[ $(sent_to joe@example.org 'Who you are') -eq 1 ] && [ $took -lt 20 ]"
t_check "... nothing changed" bash -c "[ $(delivery joe@example.org) = enabled ] && [ $(flags joe@example.org) = - ]"
t_done
