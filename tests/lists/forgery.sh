#!/usr/bin/env bash
# tests/lists/forgery.sh - what a stranger who forges senders, headers and
# bounce reports can make the shipped list policy do, with `mlm-ctl try`
# (no daemons; mlm.sendmail goes to tests/lib/fake-sendmail.sh):
#
#  - NAME-request@ sends one address at most 5 replies an hour, across all
#    lists and kinds of reply, whatever the spelling of the address, its
#    subaddress (+...) or trailing dots, and
#    counts them in the database (every try below is a process of its own);
#    a confirm without a token of the token's form, and a mail without a
#    command word among its first words, are not answered at all;
#  - banned patterns match whatever the case and quoting of the local part
#    and trailing dots of the domain,
#    and a banned address can neither subscribe nor confirm;
#  - X-Loop is a loop only when it names the list's address as a whole;
#  - a member whose delivery bounces disable is told, and so are the owners.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-forgery.XXXXXX)
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
ctl member add $L alice@example.org

# send FROM TO SUBJECT [BODY [HEADER]]: one mail through the policy; the
# result line in $RESULT.
send() {
    printf 'From: %s\nTo: %s\nSubject: %s\n%s\n\n%s\n' "$1" "$2" "$3" \
        "${5:-X-Test: yes}" "${4:-x}" >"$tmp/mail"
    RESULT=$("$CTL_BIN" -C "$MLM_CONF" try --from "$1" --to "$2" "$tmp/mail" 2>&1 |
        sed -n 's/^result: //p')
}
# sent_to ERE: how many mails the policy sent with a To: matching ERE
# (case-insensitively).
sent_to() { grep -liE "^To: $1"$'\r'"?\$" "$SENT"/sent.* 2>/dev/null | wc -l; }
is_member() { mlm_ctl members "$1" | grep -qi "^$2 "; }

# --- the reply limit --------------------------------------------------------
for i in $(seq 30); do send victim1@example.net $R "confirm 0"; done
send victim1@example.net $R "Re: confirm 12345"
send victim1@example.net $R "hello" "confirm zz"
t_check "31 confirms without a well-formed token: no answer (got $(sent_to victim1@example.net))" \
    test "$(sent_to victim1@example.net)" -eq 0
for i in $(seq 30); do
    send victim2@example.net $R "confirm $(printf '%032x' "$i")"
done
t_check "30 unknown well-formed tokens: 5 answers (got $(sent_to victim2@example.net))" \
    test "$(sent_to victim2@example.net)" -eq 5
for i in $(seq 20); do
    ctl list create "l$i@lists.example"
    send victim3@example.net "l$i-request@lists.example" subscribe
done
t_check "subscribe to 20 lists: 5 confirmations (got $(sent_to victim3@example.net))" \
    test "$(sent_to victim3@example.net)" -eq 5
for spelling in victim4@example.net Victim4@EXAMPLE.net '"victim4"@example.net'; do
    send "$spelling" $R help
    send "$spelling" $R help
    send "$spelling" l1-request@lists.example subscribe
done
t_check "help and subscribe from three spellings of one address: 5 replies (got $(sent_to '"?victim4"?@example.net'))" \
    test "$(sent_to '"?victim4"?@example.net')" -eq 5
for spelling in victim5+1@example.net victim5+2@example.net \
    victim5@example.net. Victim5+x@EXAMPLE.NET..; do
    send "$spelling" $R help
    send "$spelling" $R help
done
t_check "help from subaddresses and a trailing dot of one mailbox: 5 replies (got $(sent_to 'victim5(\+[0-9x]+)?@example\.net\.*'))" \
    test "$(sent_to 'victim5(\+[0-9x]+)?@example\.net\.*')" -eq 5
t_check "the count is in the database" \
    test "$(mlm_sql "SELECT count(*) FROM replies WHERE address = 'victim4@example.net'")" -eq 5

for subject in "buy cheap pills" "" "Re: your invoice" "helpful offer" "subscriber news"; do
    send junk@example.net $R "$subject" "$subject"
done
t_check "mail to -request without a command word: no answer (got $(sent_to junk@example.net))" \
    test "$(sent_to junk@example.net)" -eq 0
send person1@example.net $R "Please unsubscribe me"
send person2@example.net $R "question" "how do I leave this list?"
send person3@example.net $R "what is this" "help"
t_check "a command word among the first words: help (got $(sent_to 'person[123]@example.net'))" \
    test "$(grep -l '^Subject: Help for' "$SENT"/sent.* | xargs -r grep -liE '^To: person[123]@example.net' | wc -l)" -eq 3

send newbie@example.net $R subscribe
token=$(grep -lh '^To: newbie@example.net' "$SENT"/sent.* | xargs -r sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p')
t_check "below the limit a subscriber gets a token" test -n "$token"
send newbie@example.net $R "Re: confirm $token" "> quoted"
t_check "... and confirming subscribes" is_member $L newbie@example.net
t_check "... with a welcome" test "$(grep -l '^Subject: Welcome' "$SENT"/sent.* | xargs -r grep -l '^To: newbie@example.net' | wc -l)" -eq 1

# --- banned ----------------------------------------------------------------
ctl list set $L posting open
ctl list set $L banned 'Spammer@Example.NET, "Pest"@example.net'
out=$(mlm_ctl list show $L | grep banned)
t_check "banned patterns are kept in one spelling ($out)" \
    grep -qE 'banned +pest@example\.net spammer@example\.net$' <<<"$out"
for spelling in spammer@example.net Spammer@example.net SPAMMER@EXAMPLE.NET \
    '"spammer"@example.net' '"Spammer"@Example.net' pest@example.net; do
    send "$spelling" $L hello
    t_check "banned $spelling may not post ($RESULT)" grep -q "may not post" <<<"$RESULT"
done
send spammer@example.net. $L hello
t_check "banned spammer@example.net. (a trailing dot) may not post ($RESULT)" \
    grep -q "may not post" <<<"$RESULT"
send friend@example.net $L hello
t_check "an address not banned posts ($RESULT)" test "$RESULT" = accepted
n=$(ls "$SENT" | wc -l)
send '"Spammer"@example.net' $R subscribe
send SPAMMER@example.net $R subscribe
send spammer@Example.NET.. $R subscribe
t_check "a banned address gets no confirmation" test "$(ls "$SENT" | wc -l)" -eq "$n"
t_check "... and is not subscribed" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members $L | grep -qi spammer"
send later@example.net $R subscribe
token=$(grep -lh '^To: later@example.net' "$SENT"/sent.* | xargs -r sed -n 's/^Subject: confirm \([0-9a-f]*\).*/\1/p')
t_check "a token for an address banned afterwards" test -n "$token"
ctl list set $L banned '@Example.NET'
send later@example.net $R "Re: confirm $token"
t_check "... does not subscribe it once banned" bash -c "! '$CTL_BIN' -C '$MLM_CONF' members $L | grep -q later@"
ctl list set $L banned ''

# --- X-Loop ----------------------------------------------------------------
for v in dev@lists.example " DEV@Lists.Example " "<dev@lists.example>"; do
    send alice@example.org $L loop x "X-Loop: $v"
    t_check "X-Loop '$v' is our loop ($RESULT)" test "$RESULT" = "discarded at message"
done
for v in olddev@lists.example dev@lists.example.org "dev@lists.example, x"; do
    send alice@example.org $L loop x "X-Loop: $v"
    t_check "X-Loop '$v' is another address ($RESULT)" test "$RESULT" = accepted
done

# --- delivery disabled by bounces -------------------------------------------
ctl member add $L carol@example.org
ctl member add $L bob@example.org
ctl list set $L bounce_threshold 1
ctl list set $L bounce_probe_wait 0 # no probe: the report itself disables
n=$(ls "$SENT" | wc -l)
mlm_ctl try --from '' --to dev-bounces@lists.example "$here/dsn/postfix.eml" >/dev/null 2>&1
t_check "a report disabled carol" bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep carol@ | grep -q disabled-by-bounces"
f=$(grep -l '^To: carol@example.org' "$SENT"/sent.* | xargs -r grep -l '^Subject: Your delivery from dev@lists.example is disabled')
t_check "carol is told her delivery is disabled" test -n "$f"
t_check "... through sendmail from dev-bounces@" bash -c "head -1 '$f' | grep -q -- '-f dev-bounces@lists.example'"
t_check "the owners are told, with the command to enable it again" \
    bash -c "grep -l '^To: owner@example.org' '$SENT'/sent.* | xargs -r grep -l 'member set dev@lists.example carol@example.org delivery enabled' | grep -q ."
t_check "two notices, nothing else ($(($(ls "$SENT" | wc -l) - n)))" test "$(ls "$SENT" | wc -l)" -eq $((n + 2))
mlm_sql "UPDATE members SET last_bounce = '2000-01-01' WHERE address = 'carol@example.org'"
mlm_ctl try --from '' --to dev-bounces@lists.example "$here/dsn/postfix.eml" >/dev/null 2>&1
t_check "a member already disabled is not told again" test "$(ls "$SENT" | wc -l)" -eq $((n + 2))

# With probes (the default), the probe's bounce disables: told likewise.
ctl member set $L carol@example.org delivery enabled
ctl list set $L bounce_probe_wait 7
mlm_sql "UPDATE members SET last_bounce = '2000-01-01', bounce_score = 0 WHERE address = 'carol@example.org'"
n=$(ls "$SENT" | wc -l)
mlm_ctl try --from '' --to dev-bounces@lists.example "$here/dsn/postfix.eml" >/dev/null 2>&1
probe=$(grep -h -o '^ARGS: -f dev-bounces+probe-[0-9a-f]*@lists.example carol@example.org' "$SENT"/sent.* | head -1 |
    sed 's/^ARGS: -f \([^ ]*\) .*/\1/')
t_check "with probes: the report sends carol a probe ($probe), delivery stays on" \
    bash -c "[ -n '$probe' ] && '$CTL_BIN' -C '$MLM_CONF' members $L | grep carol@ | grep -q enabled"
mlm_ctl try --from '' --to "$probe" "$here/dsn/postfix.eml" >/dev/null 2>&1
t_check "the probe's bounce disables carol" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' members $L | grep carol@ | grep -q disabled-by-bounces"
t_check "... and carol and the owners are told (probe and two notices: $(($(ls "$SENT" | wc -l) - n)))" \
    test "$(ls "$SENT" | wc -l)" -eq $((n + 3))
t_done
