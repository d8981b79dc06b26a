#!/usr/bin/env bash
# The shipped list policy end to end: swaks -> private Postfix -> mlmd ->
# multiplexor -> lua/policy.lua + mlm_lists.lua, deliveries captured by
# smtp-sink. One check (or more) per row of the contract's "SMTP behaviour of
# the shipped list policy" table, with the replies the client sees and the
# envelopes and headers of what was delivered.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77

cleanup() { pf_stop; mlm_stop || exit 1; }
trap cleanup EXIT

FAKE_SENDMAIL_DIR=$(mktemp -d /tmp/mlm-sent.XXXXXX)
export FAKE_SENDMAIL_DIR
cleanup() { pf_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$FAKE_SENDMAIL_DIR"; mlm_stop || exit 1; }
mlm_start "$top_srcdir/lua/policy.lua" \
    "sendmail = $here/../lib/fake-sendmail.sh" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || exit 1
pf_start || exit 1

L=dev@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org --prefix "[dev]"
ctl member add $L alice@example.org
ctl member add $L bob@example.org
ctl member add $L carol@example.org
ctl member add $L dave@example.org
ctl member set $L dave@example.org delivery disabled
ctl member add $L mod@example.org --role moderator

# send FROM TO... [swaks args] ; the rest of the checks read $PF_SEND_LOG
send() {
    local from=${1:-<>} to=$2
    shift 2
    pf_send --from "$from" --to "$to" "$@"
}
expect_reply() { # DESCRIPTION ERE
    if pf_replied "$2"; then t_ok "$1"; else
        t_fail "$1: got $(sed -n 's/^<[-~*]* *//p' "$PF_SEND_LOG" | tail -2 | tr '\n' '|')"
    fi
}
# All envelope recipients delivered since the last pf_sink_clear, sorted.
delivered() {
    local f
    for f in $(pf_sink_files); do pf_rcpts "$f"; done | sort | tr '\n' ' '
}
settle() { pf_wait_queue_empty 30 >/dev/null; sleep 0.3; }

# --- RCPT stage ------------------------------------------------------------
send alice@example.org nosuch@lists.example
expect_reply "unknown list: 550 5.1.1 at RCPT" '^550 5\.1\.1 '

send alice@example.org "$L,someone@example.org"
expect_reply "list + other recipient: 452 4.5.3" '^452 4\.5\.3 '
send alice@example.org "someone@example.org,$L"
expect_reply "other recipient + list: 452 4.5.3" '^452 4\.5\.3 '
ctl list create ops@lists.example --owner owner@example.org
send alice@example.org "$L,ops@lists.example"
expect_reply "two lists: 452 4.5.3" '^452 4\.5\.3 '
pf_sink_clear
settle
pf_sink_clear

ctl list set $L early_reject envelope
send stranger@example.net $L
expect_reply "early_reject=envelope: non-member refused 550 5.7.1 at RCPT" '^550 5\.7\.1 '
if pf_replied '^354 '; then t_fail "early reject happened after DATA"; else t_ok "early reject before DATA"; fi
ctl list set $L early_reject none

# --- end of message -----------------------------------------------------------
pf_sink_clear
send alice@example.org $L --header "Subject: hello" --body "first post"
expect_reply "member post accepted with 250" '^250 .*queued'
settle
t_check "one copy to each member with delivery enabled (got: $(delivered))" \
    test "$(delivered)" = "alice@example.org bob@example.org carol@example.org "
f=$(pf_sink_files | head -n1)
t_check "envelope sender is dev-bounces@" test "$(pf_sender "$f")" = "dev-bounces@lists.example"
t_check "subject prefixed once" test "$(pf_header "$f" Subject)" = "[dev] hello"
t_check "List-Id" test "$(pf_header "$f" List-Id)" = "<dev.lists.example>"
t_check "List-Post" test "$(pf_header "$f" List-Post)" = "<mailto:dev@lists.example>"
t_check "List-Unsubscribe" test "$(pf_header "$f" List-Unsubscribe)" = "<mailto:dev-request@lists.example?subject=unsubscribe>"
t_check "List-Help" test "$(pf_header "$f" List-Help)" = "<mailto:dev-request@lists.example?subject=help>"
t_check "List-Subscribe" test "$(pf_header "$f" List-Subscribe)" = "<mailto:dev-request@lists.example?subject=subscribe>"
t_check "Precedence: list" test "$(pf_header "$f" Precedence)" = "list"
t_check "X-Loop" test "$(pf_header "$f" X-Loop)" = "dev@lists.example"

pf_sink_clear
send bob@example.org $L --header "Subject: Re: [dev] hello" --body "a reply"
settle
f=$(pf_sink_files | head -n1)
t_check "reply subject not prefixed again" test "$(pf_header "$f" Subject)" = "Re: [dev] hello"

ctl list set $L footer "-- dev mailing list"
pf_sink_clear
send bob@example.org $L --header "Subject: footer" --body "body text"
settle
f=$(pf_sink_files | head -n1)
t_check "footer added to the body" grep -q -- "-- dev mailing list" "$f"
t_check "original body kept" grep -q "body text" "$f"
ctl list set $L footer ""

pf_sink_clear
send alice@example.org $L --header "Subject: approve me" --header "Approved: s3cret" --body "x"
ctl list set $L approve_password s3cret
send stranger@example.net $L --header "Subject: approved" --header "Approved: s3cret" --body "x"
expect_reply "Approved: password lets a non-member post" '^250 '
settle
f=$(pf_sink_files | tail -n1)
t_check "Approved: header removed" bash -c "! grep -qi '^Approved:' $f"

ctl list set $L max_message_size 2000
big=$(head -c 3000 /dev/zero | tr '\0' 'x' | fold -w 70)
send alice@example.org $L --header "Subject: big" --body "$big"
expect_reply "message over max_message_size: 552 5.3.4" '^552 5\.3\.4 '
ctl list set $L max_message_size 0

pf_sink_clear
send alice@example.org $L --header "Subject: loop" --header "List-Id: <dev.lists.example>" --body "x"
expect_reply "own List-Id: 250" '^250 '
send alice@example.org $L --header "Subject: loop2" --header "X-Loop: dev@lists.example" --body "x"
expect_reply "own X-Loop: 250" '^250 '
settle
t_check "loops not delivered" test "$(pf_deliveries)" -eq 0
t_check "loop logged" grep -q "loop detected" "$MLM_DIR/mux.log"

send stranger@example.net $L --header "Subject: spam" --body "x"
expect_reply "non-member reject: 550 5.7.1" '^550 5\.7\.1 '
expect_reply "non-member refusal names the owner address" 'dev-owner@lists\.example'

ctl list set $L nonmember_action discard
pf_sink_clear
send stranger@example.net $L --header "Subject: dropped" --body "x"
expect_reply "non-member discard: 250" '^250 '
settle
t_check "discarded post not delivered" test "$(pf_deliveries)" -eq 0

ctl list set $L nonmember_action hold
send stranger@example.net $L --header "Subject: please hold" --body "x"
expect_reply "non-member hold: 250" '^250 '
settle
t_check "held post not delivered" test "$(pf_deliveries)" -eq 0
t_check "held post in the moderation queue" bash -c "mlm_ctl() { '$CTL_BIN' -C '$MLM_CONF' \"\$@\"; }; mlm_ctl held $L | grep -q 'please hold'"
t_check "moderators notified through sendmail" bash -c "grep -rqs 'held for approval' '$FAKE_SENDMAIL_DIR'"

ctl member set $L bob@example.org moderated yes
send bob@example.org $L --header "Subject: moderated member" --body "x"
expect_reply "moderated member: 250" '^250 '
t_check "moderated member's post held" bash -c "'$CTL_BIN' -C '$MLM_CONF' held $L | grep -q 'moderated member'"
id=$(mlm_ctl held $L | awk '/moderated member/ {print $1; exit}')
mlm_ctl held reject "$id" --by alice-mod >/dev/null
t_check "a rejected member is told" bash -c "grep -l '^Subject: Your post to dev@lists.example was not accepted' '$FAKE_SENDMAIL_DIR'/sent.* | xargs -r grep -q '^ARGS: .* bob@example.org'"
t_check "the moderators are told who decided" bash -c "grep -q 'held post $id rejected by alice-mod' '$FAKE_SENDMAIL_DIR'/sent.*"
ctl member set $L bob@example.org moderated no

ctl list set $L posting moderated
send alice@example.org $L --header "Subject: moderated list" --body "x"
expect_reply "moderated list: 250" '^250 '
t_check "post to a moderated list held" bash -c "'$CTL_BIN' -C '$MLM_CONF' held $L | grep -q 'moderated list'"
ctl list set $L posting members
settle
t_check "no held post was delivered" test "$(pf_deliveries)" -eq 0

# posting = announce: the owners and moderators only (found with
# list:memberships, every role of an address in one query).
ctl list set $L posting announce
send alice@example.org $L --header "Subject: member on announce" --body "x"
expect_reply "announce list: a member's post refused 550 5.7.1" '^550 5\.7\.1 .*Only the owners and moderators'
send mod@example.org $L --header "Subject: announcement" --body "x"
expect_reply "announce list: a moderator (not a member) posts: 250" '^250 '
settle
t_check "the announcement went to the members (got: $(delivered))" \
    test "$(delivered)" = "alice@example.org bob@example.org carol@example.org "
ctl list set $L posting members
pf_sink_clear

send alice@example.org $L --header "Subject: subscribe" --body "x"
expect_reply "administrivia to the posting address refused with a hint" 'dev-request@lists\.example'
send alice@example.org $L --header "Subject:   Unsubscribe me please" --body "x"
expect_reply "... also with spaces, capitals and more words" 'dev-request@lists\.example'
send alice@example.org $L --header "Subject: subscribers: help!" --body "x"
expect_reply "a subject that only starts like a command is a post" '^250 '

# --- special addresses ------------------------------------------------------
pf_sink_clear
send stranger@example.net dev-owner@lists.example --header "Subject: to the owner" --body "x"
expect_reply "mail to -owner accepted" '^250 '
settle
t_check "-owner delivered to the owners (got: $(delivered))" test "$(delivered)" = "owner@example.org "

pf_sink_clear
dsn=$(printf '%s\r\n' "Subject: Delivery Status Notification (Failure)" \
  "MIME-Version: 1.0" \
  "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"" \
  "" "--B" "Content-Type: text/plain" "" "failed" "--B" \
  "Content-Type: message/delivery-status" "" "Reporting-MTA: dns; mx.example.org" "" \
  "Final-Recipient: rfc822; carol@example.org" "Action: failed" "Status: 5.1.1" \
  "Diagnostic-Code: smtp; 550 5.1.1 no such user" "" "--B--")
send "" dev-bounces@lists.example --data "$dsn"
expect_reply "DSN to -bounces accepted" '^250 '
settle
t_check "DSN not delivered" test "$(pf_deliveries)" -eq 0
t_check "bounce recorded for carol" bash -c "'$CTL_BIN' -C '$MLM_CONF' bounces $L | grep -q 'carol@example.org'"
t_check "carol's bounce score is 1" bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep 'carol@example.org' | grep -qw 1"

# --- NAME-request@: subscribe, confirm, unsubscribe, help -----------------
sent_to() { # ADDRESS: the newest fake-sendmail file sent to ADDRESS
    grep -l "^To: $1" "$FAKE_SENDMAIL_DIR"/sent.* 2>/dev/null | xargs -r ls -t | head -n1
}
sent_count() { grep -l "^To: $1" "$FAKE_SENDMAIL_DIR"/sent.* 2>/dev/null | wc -l; }
R=dev-request@lists.example
send newbie@example.net $R --header "Subject: subscribe" --body "please"
expect_reply "subscribe to -request accepted" '^250 '
settle
f=$(sent_to newbie@example.net)
token=$([ -n "$f" ] && sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p' "$f")
t_check "a confirmation with a token went to the subscriber" test -n "$token"
t_check "confirmation sent through sendmail from dev-bounces@" \
    bash -c "head -1 '$f' | grep -q -- '-f dev-bounces@lists.example'"
t_check "not a member before confirming" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members $L | grep -q newbie@"
send newbie@example.net $R --header "Subject: subscribe" --body "again"
settle
t_check "a second subscribe within the hour sends nothing (rate limit)" test "$(sent_count newbie@example.net)" -eq 1
send newbie@example.net $R --header "Subject: Re: confirm $token" --body "> quoted"
expect_reply "confirmation reply accepted" '^250 '
settle
t_check "confirmed subscriber is a member" bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep -q '^newbie@example.net'"
t_check "welcome mail sent" bash -c "grep -l 'Subject: Welcome to dev@lists.example' '$FAKE_SENDMAIL_DIR'/sent.* | xargs grep -q '^To: newbie@example.net'"
send newbie@example.net $R --header "Subject: Re: confirm $token" --body "replay"
settle
t_check "a token works once" bash -c "grep -l 'unknown or has expired' '$FAKE_SENDMAIL_DIR'/sent.* | xargs grep -q '^To: newbie@example.net'"
send helpme@example.net $R --header "Subject: what is this" --body "help"
settle
t_check "help answered" bash -c "grep -q 'Subject: Help for dev@lists.example' \"\$(ls -t '$FAKE_SENDMAIL_DIR'/sent.* | head -1)\""
n=$(ls "$FAKE_SENDMAIL_DIR" | wc -l)
send robot@example.net $R --header "Subject: subscribe" --header "Auto-Submitted: auto-replied" --body "x"
send "" $R --header "Subject: subscribe" --body "x"
settle
t_check "robots and the null sender get no answer" test "$(ls "$FAKE_SENDMAIL_DIR" | wc -l)" -eq "$n"
send stranger@example.net $R --header "Subject: unsubscribe" --body "x"
settle
t_check "unsubscribe from a non-member sends nothing" test "$(ls "$FAKE_SENDMAIL_DIR" | wc -l)" -eq "$n"
ctl member remove $L newbie@example.net

# --- hold_mode = defer ---------------------------------------------------------
ctl list set $L hold_mode defer
ctl list set $L nonmember_action hold
pf_sink_clear
msg=$(printf '%s\r\n' "From: stranger@example.net" "To: $L" "Subject: deferred" "Message-ID: <defer-1@example.net>" "" "please")
send stranger@example.net $L --data "$msg"
expect_reply "hold_mode=defer: 450 4.7.1" '^450 4\.7\.1 '
send stranger@example.net $L --data "$msg"
expect_reply "retry while pending: 450 4.7.1 again" '^450 4\.7\.1 '
id=$(mlm_ctl held $L | awk '/deferred/ {print $1; exit}')
# The server's last reply of the transaction (before QUIT's 221).
final_reply() { # DESCRIPTION ERE
    local last
    last=$(sed -n 's/^<[-~*]* *//p' "$PF_SEND_LOG" | grep -v '^221 ' | tail -1)
    if grep -Eq -- "$2" <<<"$last"; then t_ok "$1"; else t_fail "$1: got $last"; fi
}
if [ -n "$id" ] && mlm_ctl held approve "$id" >/dev/null; then
    # A stranger replays the approved post's Message-ID and body with
    # another From and Subject, or the same bytes from another envelope
    # sender: a new post for the moderators, never the approved one.
    phish=$(printf '%s\r\n' 'From: "Director" <director@example.com>' "To: $L" "Subject: urgent: pay this invoice" "Message-ID: <defer-1@example.net>" "" "please")
    send stranger@example.net $L --data "$phish"
    final_reply "defer replay with another From and Subject: held (450), not distributed" '^450 4\.7\.1 '
    send other@example.net $L --data "$msg"
    final_reply "defer replay from another envelope sender: held (450)" '^450 4\.7\.1 '
    settle
    t_check "no replay reached the members (got: $(delivered))" test -z "$(delivered)"
    send stranger@example.net $L --data "$msg"
    final_reply "retry after approval accepted" '^250 '
    settle
    t_check "approved deferred post delivered to the members" test "$(delivered)" = "alice@example.org bob@example.org carol@example.org "
    pf_sink_clear
    send stranger@example.net $L --data "$msg"
    final_reply "a second retry of a distributed post: 250 (a duplicate, no bounce)" '^250 '
    send stranger@example.net $L --data "$phish"
    final_reply "the replay after distribution: still held (450)" '^450 4\.7\.1 '
    settle
    t_check "a second retry is not distributed again (got: $(delivered))" test -z "$(delivered)"
else
    t_fail "deferred post not found in the held list or not approved"
fi
msg2=$(printf '%s\r\n' "From: stranger@example.net" "To: $L" "Subject: deferred2" "Message-ID: <defer-2@example.net>" "" "no")
send stranger@example.net $L --data "$msg2"
id=$(mlm_ctl held $L | awk '/deferred2/ {print $1; exit}')
mlm_ctl held reject "$id" >/dev/null
send stranger@example.net $L --data "$msg2"
expect_reply "retry after rejection: 550 5.7.1" '^550 5\.7\.1 '
mlm_outbox_wait >/dev/null
t_check "a rejected non-member is never told (no backscatter)" \
    bash -c "! grep -l 'was not accepted' '$FAKE_SENDMAIL_DIR'/sent.* | xargs -r grep -q 'stranger@example.net'"
# The mode a post was held under decides its approval, not the list's now.
msg3=$(printf '%s\r\n' "From: stranger@example.net" "To: $L" "Subject: deferred3" "Message-ID: <defer-3@example.net>" "" "x")
send stranger@example.net $L --data "$msg3"
expect_reply "held under defer: 450 4.7.1" '^450 4\.7\.1 '
ctl list set $L hold_mode queue
id=$(mlm_ctl held $L | awk '/deferred3/ {print $1; exit}')
out=$(mlm_ctl held approve "$id" 2>&1)
t_check "held under defer, approved after a switch to queue: left to the sender's retry ($out)" \
    grep -q "when the sender's MTA retries" <<<"$out"
send stranger@example.net $L --header "Subject: queued4" --body "x"
expect_reply "held under queue: 250" '^250 '
ctl list set $L hold_mode defer
id=$(mlm_ctl held $L | awk '/queued4/ {print $1; exit}')
out=$(mlm_ctl held approve "$id" 2>&1)
t_check "held under queue, approved after a switch to defer: re-injected, not lost ($out)" \
    grep -q "sent to $L" <<<"$out"
ctl list set $L hold_mode queue
ctl list set $L nonmember_action reject

# --- load: 100 posts to a 3-member list deliver exactly 300 copies -----------
pf_sink_clear
smtp-source -c -m 100 -s 5 -f alice@example.org -t $L -S "load" 127.0.0.1:$PF_PORT \
    >/dev/null 2>&1
settle
copies=$(for f in $(pf_sink_files); do pf_rcpts "$f"; done | wc -l)
t_check "100 posts to a 3-member list: 300 copies (got $copies)" test "$copies" -eq 300

# --- internal failure: 451 4.3.0 -------------------------------------------
gone=/nonexistent/dir/mlm.db
[ "$(mlm_backend)" = postgresql ] && gone="postgresql:///mlm?host=/nonexistent/dir\&user=mlm"
sed -i "s|^database = .*|database = $gone|" "$MLM_CONF"
mlm_ctl reload >/dev/null || t_fail "reload with the broken database path"
send alice@example.org $L --header "Subject: db gone" --body "x"
expect_reply "database failure: 451 4.3.0" '^451 4\.3\.0 '

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
