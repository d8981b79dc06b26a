#!/usr/bin/env bash
# tests/lists/subscription.sh - the list setting subscription_policy and
# mlm-ctl requests, with `mlm-ctl try` (no daemons; mlm.sendmail goes to
# tests/lib/fake-sendmail.sh):
#
#  - open: a subscribe whose envelope sender's domain authenticates it
#    (SPF pass for that domain, from a private DNS server) makes a member
#    at once, with a welcome; an unauthenticated or forged one (no SPF,
#    SPF fail, SPF pass for another domain) gets a token as under confirm;
#  - confirm (the default): a token first, the member after the reply;
#  - moderate: no token, the request is held and every owner gets one
#    notice naming mlm-ctl requests approve|reject ID;
#  - confirm_then_moderate: a token, and after the reply the request is
#    held like under moderate;
#  - mlm-ctl requests LIST (and --json) lists them; approve makes the
#    member and welcomes it, reject tells it; a replayed decision, a bad
#    or unknown id fail and change nothing; a request of an address that
#    became a member meanwhile is approved without a second membership;
#  - approving the request of an address banned since (by address, in
#    another spelling, or by @domain) is refused, sends nothing and leaves
#    the request pending; an approval whose member cannot be added (an
#    address the database refuses) changes nothing either (one
#    transaction);
#  - moderate limits: at most 100 requests pending a list (the 101st is
#    answered, not stored, and the owners hear nothing); an address the
#    owners rejected cannot ask again for 24 hours (nothing stored or
#    sent), and can after.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"
tmp=$(mktemp -d /tmp/mlm-subscription.XXXXXX)
trap 'dns_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
# auth.example lets 192.0.2.1 send its mail (SPF); nothing else exists.
# signed.example has a DKIM key (selector sel) and DMARC p=reject, no SPF.
command -v opendkim-genkey >/dev/null || PATH=$PATH:/usr/sbin
mkdir "$tmp/signed.example"
opendkim-genkey -D "$tmp/signed.example" -d signed.example -s sel || exit 1
key=$(grep -o '"[^"]*"' "$tmp/signed.example/sel.txt" | sed 's/h=sha256; //' | tr '\n' ' ')
dns_start "$tmp" 'auth.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    'other.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    "sel._domainkey.signed.example. TXT $key" \
    '_dmarc.signed.example. TXT "v=DMARC1; p=reject"' || exit 1
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf MLM_DNS_RESOLVER=$DNS_RESOLVER
SENT=$tmp/sent
mkdir "$SENT"
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
for l in open confirm moderate ctm capped byreply; do
    ctl list create $l@lists.example --owner owner1@example.org
    ctl member add $l@lists.example owner2@example.org --role owner
done
ctl list set open@lists.example subscription_policy open
ctl list set moderate@lists.example subscription_policy moderate
ctl list set ctm@lists.example subscription_policy confirm_then_moderate
ctl list set capped@lists.example subscription_policy moderate
ctl list set byreply@lists.example subscription_policy moderate
t_check "the default is confirm" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' list show confirm@lists.example | grep -qE '^subscription_policy +confirm\$'"
t_check "a bad value is refused" \
    bash -c "! '$CTL_BIN' -C '$MLM_CONF' list set confirm@lists.example subscription_policy maybe 2>/dev/null"

# send FROM TO SUBJECT [CLIENT]: one mail through the policy (from the
# client address CLIENT, else try's loopback one: libspf2 passes any
# domain from there); the result in $RESULT.
send() {
    printf 'From: %s\nTo: %s\nSubject: %s\n\nx\n' "$1" "$2" "$3" >"$tmp/mail"
    RESULT=$("$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to "$2" \
        ${4:+--client "$4" --helo client.example} "$tmp/mail" 2>&1 |
        sed -n 's/^result: //p')
}
# mails TO SUBJECT-ERE: how many mails went to TO with a Subject matching.
mails() {
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null |
        xargs -r grep -lE "^Subject: $2" | wc -l
}
token_of() {
    grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* | xargs -r sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p' | tail -1
}
is_member() { mlm_ctl members "$1" --role member | grep -qi "^$2 "; }
pending_id() { mlm_ctl requests "$1" | awk -v a="$2" '$2 == a { print $1 }'; }

# --- open -------------------------------------------------------------------
send ann@auth.example open-request@lists.example subscribe 192.0.2.1
t_check "open: subscribe with SPF pass for its domain makes a member at once ($RESULT)" \
    is_member open@lists.example ann@auth.example
t_check "... with a welcome and no token" \
    test "$(mails ann@auth.example 'Welcome to open@')" -eq 1 -a "$(mails ann@auth.example confirm)" -eq 0
# not_member LIST ADDRESS
not_member() { ! mlm_ctl members "$1" | grep -qi "^$2 "; }
send ann@example.net open-request@lists.example subscribe 192.0.2.50
t_check "open: an unauthenticated subscribe (no SPF record) makes no member" \
    not_member open@lists.example ann@example.net
token=$(token_of ann@example.net)
t_check "... a token is sent instead, no welcome" \
    test -n "$token" -a "$(mails ann@example.net 'Welcome to open@')" -eq 0
send ann@example.net open-request@lists.example "Re: confirm $token" 192.0.2.50
t_check "... replying with it subscribes" is_member open@lists.example ann@example.net
send victim@auth.example open-request@lists.example subscribe 192.0.2.99
t_check "open: a forged sender (SPF fail) is not subscribed" \
    not_member open@lists.example victim@auth.example
t_check "... the address is asked to confirm" test -n "$(token_of victim@auth.example)"
send victim@example.net open-request@lists.example subscribe 192.0.2.1
t_check "open: a client auth.example's SPF allows, sending as example.net: not subscribed" \
    not_member open@lists.example victim@example.net
printf 'From: %s\nTo: %s\nSubject: subscribe\n\nx\n' victim2@example.net \
    open-request@lists.example >"$tmp/mail"
RESULT=$("$CTL_BIN" -C "$MLM_CONF" try --from mallory@other.example \
    --to open-request@lists.example --client 192.0.2.1 "$tmp/mail" 2>&1 |
    sed -n 's/^result: //p')
t_check "open: SPF pass for the envelope sender subscribes the envelope sender, not the From" \
    bash -c "! '$CTL_BIN' -C '$MLM_CONF' members open@lists.example | grep -qi '^victim2@' &&
        '$CTL_BIN' -C '$MLM_CONF' members open@lists.example | grep -qi '^mallory@other.example '"
# A DKIM-signed "subscribe" of the attacker's own, replayed under the
# victim's envelope sender in the signing domain from anywhere: the
# signature vouches for the message, not the envelope.
printf 'From: attacker@signed.example\nTo: open-request@lists.example\nSubject: subscribe\nMessage-ID: <1@signed.example>\nDate: Fri, 4 Dec 2026 12:00:00 +0000\n\nx\n' >"$tmp/plain"
dkimsign sel signed.example "$tmp/signed.example/sel.private" \
    <"$tmp/plain" >"$tmp/signed" || t_fail "signing"
out=$("$CTL_BIN" -C "$MLM_CONF" try --from victim@signed.example \
    --to open-request@lists.example --client 198.51.100.66 --helo x.example \
    "$tmp/signed" 2>&1)
t_check "open: a replayed DKIM-signed subscribe under another envelope sender subscribes no one" \
    bash -c "! '$CTL_BIN' -C '$MLM_CONF' members open@lists.example | grep -qi '^victim@signed.example '"
t_check "... the victim is asked to confirm instead" test -n "$(token_of victim@signed.example)"

# --- confirm ----------------------------------------------------------------
send bob@example.net confirm-request@lists.example subscribe
t_check "confirm: subscribe alone makes no member" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members confirm@lists.example | grep -q bob@"
token=$(token_of bob@example.net)
t_check "... a token is sent" test -n "$token"
send bob@example.net confirm-request@lists.example "Re: confirm $token"
t_check "... replying with it subscribes" is_member confirm@lists.example bob@example.net
t_check "... nothing is held" test -z "$(mlm_ctl requests confirm@lists.example)"

# --- moderate ---------------------------------------------------------------
send Carol@Example.NET. moderate-request@lists.example subscribe
t_check "moderate: no member yet" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members moderate@lists.example | grep -qi carol@"
t_check "... no token" test "$(mails carol@example.net. confirm)" -eq 0
t_check "... the subscriber is told it waits" test "$(mails 'carol@example\.net\.' 'Your subscription to moderate@')" -eq 1
cid=$(pending_id moderate@lists.example Carol@example.net)
t_check "... requests lists it, pending ($(mlm_ctl requests moderate@lists.example))" test -n "$cid"
for o in owner1 owner2; do
    t_check "... $o gets one notice naming the commands" \
        test "$(grep -l "^To: $o@example.org" "$SENT"/sent.* | xargs -r grep -l "mlm-ctl requests approve $cid" |
            xargs -r grep -l "mlm-ctl requests reject $cid" | wc -l)" -eq 1
done
n=$(ls "$SENT" | wc -l)
send carol@example.net moderate-request@lists.example subscribe
t_check "... a second subscribe holds nothing more and tells no one" \
    test "$(mlm_ctl requests moderate@lists.example | wc -l)" -eq 1 -a "$(ls "$SENT" | wc -l)" -eq "$n"
json=$(mlm_ctl requests moderate@lists.example --json)
t_check "... --json ($json)" python3 -c "
import json, sys
r = json.loads(sys.argv[1])
assert len(r) == 1 and r[0]['id'] == $cid and r[0]['address'] == 'Carol@example.net' and r[0]['state'] == 'pending'
" "$json"
out=$(mlm_ctl requests approve "$cid" --by owner1 2>&1)
t_check "approve: the request becomes a member ($out)" is_member moderate@lists.example carol@example.net
# to_rcpt ADDRESS SUBJECT-ERE: mails sent to the envelope recipient ADDRESS.
to_rcpt() { grep -lE "^ARGS: .* $1\$" "$SENT"/sent.* | xargs -r grep -lE "^Subject: $2" | wc -l; }
t_check "... welcomed" test "$(to_rcpt Carol@example.net 'Welcome to moderate@')" -eq 1
f=$(grep -lE "^ARGS: -f moderate-bounces@lists.example Carol@example.net\$" "$SENT"/sent.* | xargs -r grep -l '^Subject: Welcome')
t_check "... from moderate-request@, to the subscriber alone" \
    bash -c "[ -n '$f' ] && grep -q '^From: moderate-request@lists.example' '$f' && grep -q '^To: Carol@example.net' '$f'"
t_check "... recorded as approved by owner1" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' requests moderate@lists.example --state approved | grep -qE '^$cid +Carol@example.net .* approved'" 
t_check "... and no longer pending" test -z "$(mlm_ctl requests moderate@lists.example)"
n=$(ls "$SENT" | wc -l)
out=$(mlm_ctl requests approve "$cid" 2>&1); rc=$?
t_check "a replayed approve fails ($rc: $out)" test "$rc" -ne 0
t_check "... saying it is decided, sending nothing" \
    bash -c "grep -q 'already approved by owner1' <<<'$out' && test \$(ls '$SENT' | wc -l) -eq $n"
out=$(mlm_ctl requests reject "$cid" 2>&1); rc=$?
t_check "rejecting an approved request fails ($rc: $out)" test "$rc" -ne 0
t_check "... and it stays a member" is_member moderate@lists.example carol@example.net

send dave@example.net moderate-request@lists.example subscribe
did=$(pending_id moderate@lists.example dave@example.net)
out=$(mlm_ctl requests reject "$did" 2>&1)
t_check "reject: no member ($out)" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members moderate@lists.example | grep -q dave@"
t_check "... the subscriber is told politely" \
    bash -c "grep -lE '^ARGS: .* dave@example.net\$' '$SENT'/sent.* | xargs -r grep -l 'did not approve your subscription' | grep -q ."
t_check "... recorded as rejected" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' requests moderate@lists.example --state rejected | grep -qE '^$did +dave@example.net .* rejected'"
out=$(mlm_ctl requests approve "$did" 2>&1); rc=$?
t_check "approving a rejected request fails ($rc: $out)" test "$rc" -ne 0
t_check "... and makes no member" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members moderate@lists.example | grep -q dave@"

send erin@example.net moderate-request@lists.example subscribe
eid=$(pending_id moderate@lists.example erin@example.net)
ctl member add moderate@lists.example erin@example.net
out=$(mlm_ctl requests approve "$eid" 2>&1); rc=$?
t_check "approving a request of an address that is a member by now ($rc: $out)" \
    bash -c "test $rc -eq 0 && grep -q 'already a member' <<<'$out'"
t_check "... one membership" test "$(mlm_ctl members moderate@lists.example | grep -c '^erin@')" -eq 1
send erin@example.net moderate-request@lists.example subscribe
t_check "a member's subscribe holds nothing" test -z "$(mlm_ctl requests moderate@lists.example)"

# Bans made after the request: approve refuses, nothing changes.
send gina@example.net moderate-request@lists.example subscribe
gid=$(pending_id moderate@lists.example gina@example.net)
send hal@banned.example moderate-request@lists.example subscribe
hid=$(pending_id moderate@lists.example hal@banned.example)
ctl list set moderate@lists.example banned 'Gina@EXAMPLE.net. @Banned.Example'
n=$(ls "$SENT" | wc -l)
for x in "gina@example.net $gid" "hal@banned.example $hid"; do
    set -- $x
    out=$(mlm_ctl requests approve "$2" 2>&1); rc=$?
    t_check "approving banned $1's request fails ($rc: $out)" \
        bash -c "test $rc -ne 0 && grep -q '$1 is banned from moderate@lists.example' <<<'$out'"
    t_check "... no member" not_member moderate@lists.example "$1"
    t_check "... the request stays pending" test "$(pending_id moderate@lists.example "$1")" = "$2"
done
t_check "... and nothing is sent" test "$(ls "$SENT" | wc -l)" -eq "$n"
ctl list set moderate@lists.example banned ''
ctl requests approve "$gid"
t_check "once the ban is lifted, approve makes the member" is_member moderate@lists.example gina@example.net
ctl requests reject "$hid"
# A request whose address the members table refuses (a space outside
# quotes, written straight into the database): the approval fails and
# leaves it pending, not approved without a member.
mlm_sql "INSERT INTO requests (list_id, address, received)
    SELECT id, 'bad address@example.net', 0 FROM lists WHERE name = 'moderate'"
bid=$(mlm_sql "SELECT id FROM requests WHERE address = 'bad address@example.net'")
out=$(mlm_ctl requests approve "$bid" 2>&1); rc=$?
t_check "approving a request whose member cannot be added fails ($rc: $out)" test "$rc" -ne 0
t_check "... and leaves it pending" \
    test "$(mlm_sql "SELECT state FROM requests WHERE id = $bid")" = pending
mlm_sql "DELETE FROM requests WHERE id = $bid"

for bad in 0 -1 abc 1x 99999999999999999999 "" 424242; do
    out=$(mlm_ctl requests approve "$bad" 2>&1); rc=$?
    t_check "approve of bad id '$bad' fails cleanly ($rc: $out)" \
        bash -c "test $rc -ne 0 && grep -qE 'no subscription request|usage' <<<'$out'"
done
out=$(mlm_ctl requests nosuch@lists.example 2>&1); rc=$?
t_check "requests of an unknown list fails ($rc: $out)" test "$rc" -ne 0
out=$(mlm_ctl requests moderate@lists.example --state maybe 2>&1); rc=$?
t_check "requests with a bad --state fails ($rc: $out)" test "$rc" -ne 0

# --- moderate: decided by an owner's reply -------------------------------------
# reply_address OWNER SUBSCRIBER ACTION: the address of OWNER's notice
# about SUBSCRIBER's request for ACTION.
reply_address() {
    grep -l "^To: $1" "$SENT"/sent.* | xargs -r grep -l "address: *$2" |
        xargs -r sed -n "s/^  $3 *\(byreply-request+$3-[0-9a-f-]*@lists.example\)\r\{0,1\}\$/\1/p" | tail -1
}
send frank@example.net byreply-request@lists.example subscribe
fid=$(pending_id byreply@lists.example frank@example.net)
a1=$(reply_address owner1@example.org frank@example.net approve)
a2=$(reply_address owner2@example.org frank@example.net approve)
t_check "by reply: each owner's notice has an approve address of its own ($a1)" \
    bash -c "[ -n '$a1' ] && [ -n '$a2' ] && [ '$a1' != '$a2' ]"
send owner2@example.org "$a1" approve
t_check "another owner's address (right token, wrong From): 550 5.7.1 ($RESULT)" \
    grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
send mallory@example.net "$a1" approve
t_check "... from a stranger: 550 5.7.1" grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
send owner1@example.org "${a1/+approve-/+reject-}" reject
t_check "... the token of approve used to reject: 550 5.7.1" \
    grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
send "оwner1@example.org" "$a1" approve # Cyrillic o
t_check "... from a look-alike of the owner: 550 5.7.1" grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
send "owner1＠example.org" "$a1" approve # FULLWIDTH COMMERCIAL AT
t_check "... from the owner's address with a fullwidth @: 550 5.7.1" grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
tok=${a1#byreply-request+approve-}
tok=${tok%@lists.example}
for bad in "${tok}0" "${tok%?}" "${tok%?}g" "${tok%?}é" "$(tr a-f A-F <<<"${tok%?}0")"; do
    send owner1@example.org "byreply-request+approve-$bad@lists.example" approve
    t_check "... a token '$bad': 550 5.7.1" grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
done
t_check "... and nothing decided" test "$(pending_id byreply@lists.example frank@example.net)" = "$fid"
t_check "... no member" not_member byreply@lists.example frank@example.net
send owner1@example.org "$a1" approve
t_check "owner1 approves by reply: accepted and dropped ($RESULT)" test "$RESULT" = "discarded at message"
t_check "... frank is a member" is_member byreply@lists.example frank@example.net
t_check "... welcomed" test "$(mails frank@example.net 'Welcome to byreply@')" -eq 1
t_check "... the owners learn who decided" \
    test "$(mails 'owner1@example.org, owner2@example.org' 'byreply@lists.example: subscription request [0-9]+ approved by owner1@example.org')" -eq 1
t_check "... requests shows it approved by owner1 ($(mlm_ctl requests byreply@lists.example --state approved --json))" \
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(not any(x["id"]==int(sys.argv[2]) and x["state"]=="approved" and x["decided_by"]=="owner1@example.org" for x in (r if isinstance(r,list) else r.get("requests",[]))))' "$(mlm_ctl requests byreply@lists.example --state approved --json)" "$fid"
send owner1@example.org "$a1" approve
t_check "the same reply again (replayed): 550 5.7.1" grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
send owner2@example.org "$a2" approve
t_check "... and owner2's own address for it, now decided: 550 5.7.1" \
    grep -q '^rejected at message: 550 5.7.1' <<<"$RESULT"
send gail@example.net byreply-request@lists.example subscribe
r2=$(reply_address owner2@example.org gail@example.net reject)
send owner2@example.org "$r2" reject
t_check "owner2 rejects by reply ($RESULT)" test "$RESULT" = "discarded at message"
t_check "... gail is told" test "$(mails gail@example.net 'Your subscription to byreply@')" -eq 2
t_check "... and is no member" not_member byreply@lists.example gail@example.net
send hank@example.net byreply-request@lists.example subscribe
a3=$(reply_address owner1@example.org hank@example.net approve)
ctl list set byreply@lists.example banned hank@example.net
send owner1@example.org "$a3" approve
t_check "approving a banned address by reply: 550 5.7.1, it stays pending" \
    bash -c "grep -q '^rejected at message: 550 5.7.1' <<<'$RESULT' && [ -n '$(pending_id byreply@lists.example hank@example.net)' ]"
ctl list set byreply@lists.example banned ''
# held_expire 0: a request's tokens expire as it comes
ctl list set byreply@lists.example held_expire 0
send ivy@example.net byreply-request@lists.example subscribe
a4=$(reply_address owner1@example.org ivy@example.net approve)
sleep 1.1  # time must pass: the token expires with the second it was made in (held_expire 0)
send owner1@example.org "$a4" approve
t_check "past held_expire days the token has expired: 550 5.7.1" \
    bash -c "grep -q '^rejected at message: 550 5.7.1' <<<'$RESULT' && ! '$CTL_BIN' -C '$MLM_CONF' members byreply@lists.example | grep -q ivy@"
ctl list set byreply@lists.example held_expire 14

# --- moderate: limits ---------------------------------------------------------
# notices TO: the owner notices for capped@ to TO.
notices() { grep -l "^To: $1" "$SENT"/sent.* | xargs -r grep -l '^Subject: capped@lists.example subscription request' | wc -l; }
mlm_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99)
    INSERT INTO requests (list_id, address, received)
    SELECT (SELECT id FROM lists WHERE name = 'capped'), 'filler' || i || '@example.net', $(date +%s) FROM n"
send last@example.net capped-request@lists.example subscribe
t_check "the 100th pending request is held" test -n "$(pending_id capped@lists.example last@example.net)"
t_check "... and announced" test "$(notices owner1@example.org)" -eq 1
send over@example.net capped-request@lists.example subscribe
t_check "the 101st is not held" test -z "$(pending_id capped@lists.example over@example.net)"
t_check "... 100 pending" test "$(mlm_ctl requests capped@lists.example | wc -l)" -eq 100
t_check "... the owners hear nothing more" test "$(notices owner1@example.org)" -eq 1
t_check "... the subscriber is told to ask later" \
    test "$(grep -lE '^ARGS: .* over@example.net$' "$SENT"/sent.* | xargs -r grep -l 'too many subscription requests' | wc -l)" -eq 1
ctl requests reject "$(pending_id capped@lists.example last@example.net)"
send over@example.net capped-request@lists.example subscribe
t_check "below the cap again, a request is held" test -n "$(pending_id capped@lists.example over@example.net)"
# Forged requests fill the cap only until held_expire: older pending ones
# (their reply addresses dead) no longer count.
mlm_sql "UPDATE requests SET received = $(date +%s) - 15 * 86400 WHERE address LIKE 'filler%'"
send late@example.net capped-request@lists.example subscribe
send later@example.net capped-request@lists.example subscribe
t_check "requests older than held_expire do not count toward the cap" \
    bash -c "[ -n '$(pending_id capped@lists.example late@example.net)' ] && [ -n '$(pending_id capped@lists.example later@example.net)' ]"
mlm_sql "DELETE FROM requests WHERE address LIKE 'filler%'"
n=$(ls "$SENT" | wc -l)
send Last@Example.net capped-request@lists.example subscribe
t_check "a rejected address asking again within 24 h (in other case): not held" \
    bash -c "! '$CTL_BIN' -C '$MLM_CONF' requests capped@lists.example | grep -qi ' last@example.net '"
t_check "... nothing sent (no owner notice, no answer)" test "$(ls "$SENT" | wc -l)" -eq "$n"
mlm_sql "UPDATE requests SET decided_at = decided_at - 86401 WHERE address = 'last@example.net'"
send last@example.net capped-request@lists.example subscribe
t_check "... 24 hours after the rejection, held again" \
    test -n "$(pending_id capped@lists.example last@example.net)"

# --- confirm_then_moderate --------------------------------------------------
send fay@example.net ctm-request@lists.example subscribe
t_check "confirm_then_moderate: nothing held before the confirmation" test -z "$(mlm_ctl requests ctm@lists.example)"
token=$(token_of fay@example.net)
t_check "... a token is sent" test -n "$token"
n=$(grep -l "^To: owner1@example.org" "$SENT"/sent.* | wc -l)
send fay@example.net ctm-request@lists.example "Re: confirm $token"
fid=$(pending_id ctm@lists.example fay@example.net)
t_check "... confirming holds the request ($(mlm_ctl requests ctm@lists.example))" test -n "$fid"
t_check "... without making a member" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members ctm@lists.example | grep -q fay@"
t_check "... and the owners get a notice" \
    test "$(grep -l "^To: owner1@example.org" "$SENT"/sent.* | xargs -r grep -l "mlm-ctl requests approve $fid" | wc -l)" -eq 1
send fay@example.net ctm-request@lists.example "Re: confirm $token"
t_check "... a replayed confirmation holds nothing more" test "$(mlm_ctl requests ctm@lists.example | wc -l)" -eq 1
ctl requests approve "$fid"
t_check "... approve makes the member" is_member ctm@lists.example fay@example.net

# --- help ---------------------------------------------------------------------
for l in open confirm moderate ctm; do
    send "helpme-$l@example.net" $l-request@lists.example help
done
help_says() { grep -lE "^ARGS: .* helpme-$1@example.net\$" "$SENT"/sent.* | xargs -r grep -h '^  subscribe '; }
t_check "help on an open list: at once only when authenticated ($(help_says open))" \
    grep -q "at once when your mail server is authenticated, else you confirm" <<<"$(help_says open)"
t_check "help under confirm: asked to confirm" grep -q "asked to confirm" <<<"$(help_says confirm)"
t_check "help under moderate: the owners approve" grep -q "owners approve" <<<"$(help_says moderate)"
t_check "help under confirm_then_moderate: both" grep -q "confirm, then the owners approve" <<<"$(help_says ctm)"

# --- robots -------------------------------------------------------------------
printf 'From: MAILER-DAEMON@example.net\nTo: moderate-request@lists.example\nSubject: subscribe\nAuto-Submitted: auto-replied\n\nx\n' >"$tmp/mail"
mlm_ctl try --from '' --to moderate-request@lists.example "$tmp/mail" >/dev/null 2>&1
t_check "a robot's subscribe holds nothing" test -z "$(mlm_ctl requests moderate@lists.example)"
t_done
