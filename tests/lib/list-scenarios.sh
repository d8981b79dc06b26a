# shellcheck shell=bash
#
# tests/lib/list-scenarios.sh - the README demo's list scenarios, written
# once for any MTA harness: a member's post expanded, a non-member refused
# (550 5.7.1), an unknown list (550 5.1.1), a list with another recipient
# (452 4.5.3), a post held and approved, hold_mode = defer (450 4.7.1), a
# 1 MB post delivered whole, a DSN to NAME-bounces scored.
#
# Usage: load tests/lib/mlm.sh and the MTA's harness, start mlm with the
# shipped policy and FAKE_SENDMAIL_DIR set (mlm's "sendmail" key pointing at
# tests/lib/fake-sendmail.sh), start the MTA, then
#
#   MTA=sm      # the harness's prefix: pf (postfix.sh) or sm (sendmail.sh)
#   . "$here/../lib/list-scenarios.sh"
#   ls_create_list dev@lists.example
#   ls_rcpt_stage dev@lists.example
#   ls_member_post dev@lists.example
#   ...
#
# The harness must provide PREFIX_send (swaks arguments), PREFIX_replied,
# PREFIX_wait_queue_empty, PREFIX_sink_files, PREFIX_sink_clear,
# PREFIX_deliveries, PREFIX_rcpts, PREFIX_sender, PREFIX_header, and a
# PREFIX_SEND_LOG variable naming the last transcript. Each scenario counts
# its checks with t_ok/t_fail (mlm.sh).

: "${MTA:?list-scenarios.sh: set MTA to the harness prefix (pf or sm)}"

ls_send() { # FROM TO [swaks args]: a transaction through the MTA
    local from=${1:-<>} to=$2
    shift 2
    "${MTA}_send" --from "$from" --to "$to" "$@"
}
ls_send_log() { local v="${MTA^^}_SEND_LOG"; printf '%s' "${!v}"; }
ls_replies() { sed -n 's/^<[-~*]* *//p' "$(ls_send_log)"; }
ls_expect_reply() { # DESCRIPTION ERE: any reply of the last transaction
    if "${MTA}_replied" "$2"; then t_ok "$1"; else
        t_fail "$1: got $(ls_replies | tail -2 | tr '\n' '|')"
    fi
}
ls_final_reply() { # DESCRIPTION ERE: the last reply before QUIT's 221
    local last
    last=$(ls_replies | grep -v '^221 ' | tail -1)
    if grep -Eq -- "$2" <<<"$last"; then t_ok "$1"; else t_fail "$1: got $last"; fi
}
ls_delivered() { # every envelope recipient delivered since the last clear
    local f
    for f in $("${MTA}_sink_files"); do "${MTA}_rcpts" "$f"; done | sort | tr '\n' ' '
}
# mlm's outbox first (mail a policy sent), then the MTA's queue
ls_settle() { mlm_outbox_wait >/dev/null; "${MTA}_wait_queue_empty" 30 >/dev/null; sleep 0.3; }
ls_clear() { "${MTA}_sink_clear"; }
ls_ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ls_held_id() { # LIST SUBJECT-WORD: the id of a held post
    mlm_ctl held "$1" | awk -v s="$2" '$0 ~ s {print $1; exit}'
}

LS_MEMBERS="alice@example.org bob@example.org carol@example.org "

# ls_create_list LIST - the demo's list: three members who get mail, one
# with delivery disabled, a moderator, the owner owner@example.org.
ls_create_list() {
    local l=$1
    ls_ctl list create "$l" --owner owner@example.org --prefix "[dev]"
    ls_ctl member add "$l" alice@example.org
    ls_ctl member add "$l" bob@example.org
    ls_ctl member add "$l" carol@example.org
    ls_ctl member add "$l" dave@example.org
    ls_ctl member set "$l" dave@example.org delivery disabled
    ls_ctl member add "$l" mod@example.org --role moderator
}

# ls_rcpt_stage LIST - refusals at RCPT: unknown list, a list address not
# alone in its transaction.
ls_rcpt_stage() {
    local l=$1 d=${1#*@}
    ls_send alice@example.org "nosuch@$d"
    ls_expect_reply "unknown list: 550 5.1.1 at RCPT" '^550 5\.1\.1 '
    ls_send alice@example.org "$l,someone@example.org"
    ls_expect_reply "list + other recipient: 452 4.5.3" '^452 4\.5\.3 '
    ls_send alice@example.org "someone@example.org,$l"
    ls_expect_reply "other recipient + list: 452 4.5.3" '^452 4\.5\.3 '
    ls_settle
    ls_clear
}

# ls_member_post LIST - a member's post: one copy to each member with
# delivery enabled, from NAME-bounces@, with the prefix and List-* headers.
ls_member_post() {
    local l=$1 f name=${1%@*}
    ls_clear
    ls_send alice@example.org "$l" --header "Subject: hello" --body "first post"
    ls_final_reply "member post accepted with 250" '^250 '
    ls_settle
    t_check "one copy to each member with delivery enabled (got: $(ls_delivered))" \
        test "$(ls_delivered)" = "$LS_MEMBERS"
    f=$("${MTA}_sink_files" | head -n1)
    [ -n "$f" ] || return 0
    t_check "envelope sender is $name-bounces@" \
        test "$("${MTA}_sender" "$f")" = "$name-bounces@${l#*@}"
    # the DSN parameters mlmd gives Postfix (dsn_parameters auto) reach
    # the next hop; Sendmail gets none
    if [ "$MTA" = pf ]; then
        t_check "MAIL FROM with RET=HDRS and an ENVID ($(grep -m1 '^X-Mail-Args:' "$f"))" \
            grep -Eq '^X-Mail-Args: <[^>]*>( .*)? ENVID=[!-~]+( .*)?$' "$f"
        t_check "... RET=HDRS" grep -Eq '^X-Mail-Args: .* RET=HDRS( |$)' "$f"
        t_check "RCPT TO with ORCPT=rfc822;MEMBER ($(grep -m1 '^X-Rcpt-Args:' "$f"))" \
            grep -Eq '^X-Rcpt-Args: <([^>]*)> .*ORCPT=rfc822;\1( |$)' "$f"
    else
        t_check "no DSN parameters from mlmd ($(grep -m1 '^X-Rcpt-Args:' "$f"))" \
            bash -c "! grep -Eq '^X-Rcpt-Args: .*ORCPT=rfc822;' '$f' && ! grep -Eq '^X-Mail-Args: .*RET=HDRS' '$f'"
    fi
    t_check "subject prefixed" test "$("${MTA}_header" "$f" Subject)" = "[dev] hello"
    t_check "List-Id" test "$("${MTA}_header" "$f" List-Id)" = "<$name.${l#*@}>"
    t_check "List-Post" test "$("${MTA}_header" "$f" List-Post)" = "<mailto:$l>"
    t_check "X-Loop" test "$("${MTA}_header" "$f" X-Loop)" = "$l"
}

# ls_nonmember LIST - a non-member's post refused at end of message.
ls_nonmember() {
    local l=$1
    ls_clear
    ls_send stranger@example.net "$l" --header "Subject: spam" --body "x"
    ls_expect_reply "non-member reject: 550 5.7.1" '^550 5\.7\.1 '
    ls_expect_reply "non-member refusal names the owner address" "${l%@*}-owner@"
    ls_settle
    t_check "refused post not delivered" test "$("${MTA}_deliveries")" -eq 0
}

# ls_hold_approve LIST [REINJECT] - nonmember_action = hold: 250, nothing
# delivered, the moderators told through sendmail; mlm-ctl held approve
# hands the post to sendmail. With REINJECT (a command that reads a
# message on stdin and takes "-f SENDER RECIPIENT"), the post the fake
# sendmail received is submitted through it and must come back
# distributed by the policy.
ls_hold_approve() {
    local l=$1 reinject=${2:-} id out f sender
    ls_ctl list set "$l" nonmember_action hold
    ls_clear
    ls_send stranger@example.net "$l" --header "Subject: please hold" --body "may I?"
    ls_final_reply "non-member hold: 250" '^250 '
    ls_settle
    t_check "held post not delivered" test "$("${MTA}_deliveries")" -eq 0
    id=$(ls_held_id "$l" 'please hold')
    t_check "held post in the moderation queue" test -n "$id"
    t_check "moderators notified through sendmail" \
        grep -rqs 'held for approval' "$FAKE_SENDMAIL_DIR"
    ls_ctl list set "$l" nonmember_action reject
    [ -n "$id" ] || return 0
    out=$(mlm_ctl held approve "$id" 2>&1)
    t_check "held approve hands the post to sendmail ($out)" grep -q "sent to $l" <<<"$out"
    f=$(grep -l '^Subject: please hold' "$FAKE_SENDMAIL_DIR"/sent.* 2>/dev/null | head -n1)
    t_check "the approved post went to sendmail for $l" \
        bash -c "head -n1 '$f' | grep -q -- ' $l\$'"
    [ -n "$reinject" ] && [ -n "$f" ] || return 0
    sender=$(head -n1 "$f" | sed -n 's/.* -f \([^ ]*\) .*/\1/p')
    sed 1d "$f" | $reinject -f "$sender" "$l"
    t_check "re-injected approved post accepted by the submission program" test $? -eq 0
    ls_settle
    t_check "approved post distributed to the members (got: $(ls_delivered))" \
        test "$(ls_delivered)" = "$LS_MEMBERS"
    f=$("${MTA}_sink_files" | head -n1)
    [ -n "$f" ] && t_check "approved post has the prefix" \
        test "$("${MTA}_header" "$f" Subject)" = "[dev] please hold"
}

# ls_defer LIST - hold_mode = defer: 450 4.7.1 while held, 250 and
# distributed when the sender's MTA retries after approval.
ls_defer() {
    local l=$1 msg id
    ls_ctl list set "$l" hold_mode defer
    ls_ctl list set "$l" nonmember_action hold
    ls_clear
    msg=$(printf '%s\n' "From: stranger@example.net" "To: $l" "Subject: deferred" \
        "Message-ID: <defer-1@example.net>" "" "please")
    ls_send stranger@example.net "$l" --data "$msg"
    ls_final_reply "hold_mode=defer: 450 4.7.1" '^450 4\.7\.1 '
    id=$(ls_held_id "$l" deferred)
    if [ -n "$id" ] && mlm_ctl held approve "$id" >/dev/null; then
        ls_send stranger@example.net "$l" --data "$msg"
        ls_final_reply "retry after approval accepted" '^250 '
        ls_settle
        t_check "approved deferred post delivered (got: $(ls_delivered))" \
            test "$(ls_delivered)" = "$LS_MEMBERS"
    else
        t_fail "deferred post not found in the held list or not approved"
    fi
    ls_ctl list set "$l" hold_mode queue
    ls_ctl list set "$l" nonmember_action reject
}

# ls_big_post LIST - a 1 MB post reaches every member whole.
ls_big_post() {
    local l=$1 body=$MLM_DIR/big-body f ok=1 n=0
    for ((i = 0; i < 14000; i++)); do printf 'line %05d %s\n' "$i" \
        'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz'; done >"$body"
    ls_clear
    ls_send alice@example.org "$l" --header "Subject: big" --body "@$body"
    ls_final_reply "1 MB post accepted with 250" '^250 '
    ls_settle
    t_check "1 MB post delivered to each member (got: $(ls_delivered))" \
        test "$(ls_delivered)" = "$LS_MEMBERS"
    for f in $("${MTA}_sink_files"); do
        n=$((n + 1))
        if [ "$(grep -c '^line [0-9]\{5\} abc' "$f")" -ne 14000 ] ||
            ! grep -q '^line 13999 ' "$f" || [ "$(stat -c %s "$f")" -lt 1000000 ]; then
            ok=0
        fi
    done
    t_check "each copy holds all 14,000 lines of the body ($n copies)" \
        test "$ok" = 1 -a "$n" -gt 0
}

# ls_dsn LIST - a DSN to NAME-bounces@ is consumed and scored.
ls_dsn() {
    local l=$1 name=${1%@*} dsn
    ls_clear
    dsn=$(printf '%s\n' "Subject: Delivery Status Notification (Failure)" \
        "MIME-Version: 1.0" \
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"" \
        "" "--B" "Content-Type: text/plain" "" "failed" "--B" \
        "Content-Type: message/delivery-status" "" "Reporting-MTA: dns; mx.example.org" "" \
        "Final-Recipient: rfc822; carol@example.org" "Action: failed" "Status: 5.1.1" \
        "Diagnostic-Code: smtp; 550 5.1.1 no such user" "" "--B--")
    ls_send "" "$name-bounces@${l#*@}" --data "$dsn"
    ls_final_reply "DSN to -bounces accepted" '^250 '
    ls_settle
    t_check "DSN not delivered" test "$("${MTA}_deliveries")" -eq 0
    t_check "bounce recorded for carol" bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $l | grep -q 'carol@example.org'"
    t_check "carol's bounce score is 1" \
        bash -c "'$CTL_BIN' -C '$MLM_CONF' members $l | grep 'carol@example.org' | grep -qw 1"
}

# ls_big_list DOMAIN N - a post to a list of N members (alice and N-1
# others) is accepted within the MTA's end-of-message timeout and each
# member gets one copy.
ls_big_list() {
    local l=big@$1 n=$2 f got=0 i
    ls_ctl list create "$l"
    awk -v n="$n" 'BEGIN { print "alice@example.org"
        for (i = 1; i < n; i++) printf "member%d@example.org\n", i }' >"$MLM_DIR/big-members"
    ls_ctl member import "$l" "$MLM_DIR/big-members"
    ls_clear
    ls_send alice@example.org "$l" --header "Subject: to $n" --body "a post to a big list"
    ls_final_reply "a post to $n members accepted with 250" '^250 '
    for ((i = 0; i < 180; i++)); do
        got=$(for f in $("${MTA}_sink_files"); do "${MTA}_rcpts" "$f"; done | sort -u | wc -l)
        [ "$got" -ge "$n" ] && break
        sleep 0.5
    done
    t_check "each of the $n members got the post (got $got)" test "$got" -eq "$n"
    ls_clear
}
