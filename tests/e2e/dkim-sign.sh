#!/usr/bin/env bash
# tests/e2e/dkim-sign.sh - DKIM-signed list mail, end to end: a private
# Postfix with smtpd_milters = mlmd, then OpenDKIM (started here, its
# signing settings taken from examples/opendkim.conf), a private DNS
# server (unbound) publishing an author domain with p=reject and its DKIM
# key, a p=none domain, and the list domain's key as
# "mlm-ctl dns dkim-record" prints it (with p=reject for the list domain
# too). Posts come in over SMTP from an outside address (XCLIENT), and
# the members' copies are caught by smtp-sink.
#
#  - a member post signed by its p=reject author domain: delivered to the
#    members with From munged, and a DKIM signature of the list domain
#    whose h= names From, Subject, List-Id, List-Post, List-Unsubscribe,
#    List-Help once more than the copy has them (List-Unsubscribe-Post,
#    absent, once);
#  - that copy verified by a receiver separate from the signer: mlm-ctl
#    try with a policy that reports ctx.auth (tests/e2e/policies/
#    verify.lua), libopendkim fetching the key from the private DNS
#    through mlm's resolver: dkim=pass for the list domain, and DMARC pass
#    for the munged From;
#  - oversigning: the copy with a second List-Id, From or a
#    List-Unsubscribe-Post added on top fails verification (an unsigned
#    field added on top does not);
#  - a forged member post (the p=reject From, unsigned, or signed and
#    altered): refused 550 5.7.26 at end of DATA, nothing delivered;
#  - a post from a p=none domain: delivered with From unchanged, signed by
#    the list domain all the same.
#
# Skips (77) without Postfix as root (tests/lib/postfix.sh) or without
# OpenDKIM (Debian: opendkim, opendkim-tools).
# Environment: top_builddir, top_srcdir (set by make check), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
for c in opendkim opendkim-genkey dkimsign; do
    if ! command -v $c >/dev/null; then
        echo "skip: $c is not installed (Debian: opendkim, opendkim-tools, python3-dkim)"
        exit 77
    fi
done

tmp=$(mktemp -d /tmp/mlm-dkim-sign.XXXXXX)
chmod 755 "$tmp"
DK_PID=
cleanup() {
    local rc=$?
    mlm_kill "$DK_PID"
    pf_stop
    mlm_stop || rc=1
    dns_stop
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT

# Keys: the list domain's (selector mlm), the author domain's (sel).
mkdir "$tmp/list" "$tmp/author"
opendkim-genkey -D "$tmp/list" -d lists.example -s mlm || exit 1
opendkim-genkey -D "$tmp/author" -d signed.example -s sel || exit 1
# The list key's record as mlm-ctl prints it, on one line for unbound.
list_record=$("$CTL_BIN" -C /dev/null dns dkim-record mlm lists.example \
    "$tmp/list/mlm.private" | tr '\n\t()' '    ') || exit 1
# The author's record without h=sha256 (it allows any hash).
author_key=$(grep -o '"[^"]*"' "$tmp/author/sel.txt" | sed 's/h=sha256; //' | tr '\n' ' ')

dns_start "$tmp" "$list_record" \
    '_dmarc.lists.example. TXT "v=DMARC1; p=reject"' \
    "sel._domainkey.signed.example. TXT $author_key" \
    '_dmarc.signed.example. TXT "v=DMARC1; p=reject"' \
    '_dmarc.none.example. TXT "v=DMARC1; p=none"' || exit 1
MLM_DNS_RESOLVER=$DNS_RESOLVER
export FAKE_SENDMAIL_DIR=$tmp/sent
mkdir "$tmp/sent"
mlm_start "$top_srcdir/lua/policy.lua" \
    "sendmail = $here/../lib/fake-sendmail.sh" "authserv_id = mlm.test" \
    "dns_timeout = 3s" || exit 1
mlm_start_inet || exit 1
L=dev@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@lists.example
ctl list set $L posting members
for m in m1@example.org m2@example.net alice@signed.example nora@none.example; do
    ctl member add $L $m
done

# OpenDKIM: examples/opendkim.conf with this test's socket, pid file and
# key (the key lives under /tmp, which others may write: RequireSafeKeys
# would refuse it), logging nowhere.
DK_PORT=$(mlm_free_port)
{
    sed -E '/^(Syslog|SyslogSuccess|LogWhy|UserID|UMask|PidFile|Socket|KeyTable|RequireSafeKeys)[[:space:]]/d' \
        "$top_srcdir/examples/opendkim.conf"
    echo "Syslog no"
    echo "Socket inet:$DK_PORT@127.0.0.1"
    echo "PidFile $tmp/opendkim.pid"
    echo "KeyTable csl:mlm=lists.example:mlm:$tmp/list/mlm.private"
    echo "RequireSafeKeys no"
} >"$tmp/opendkim.conf"
opendkim -f -x "$tmp/opendkim.conf" >"$tmp/opendkim.log" 2>&1 &
DK_PID=$!
mlm_wait_port "$DK_PORT" || { cat "$tmp/opendkim.log"; exit 1; }

PF_MILTER="inet:127.0.0.1:$MLM_PORT, inet:127.0.0.1:$DK_PORT" \
    PF_MAIN_EXTRA="milter_macro_daemon_name = mlm" pf_setup || exit 1
pf_start || exit 1

# post FROM [SIGNING-DOMAIN]: a post from an outside client, signed when
# asked; the transcript in PF_SEND_LOG.
post() {
    printf 'From: %s\nTo: %s\nSubject: hello list\nMessage-ID: <%s@x>\nDate: Fri, 4 Dec 2026 12:00:00 +0000\n\nbody\n' \
        "$1" $L "$RANDOM" >"$tmp/plain"
    if [ -n "${2:-}" ]; then
        dkimsign sel "$2" "$tmp/author/sel.private" \
            <"$tmp/plain" >"$tmp/post" || t_fail "signing"
    else
        cp "$tmp/plain" "$tmp/post"
    fi
    [ -z "${ALTER:-}" ] || sed -i 's/^body$/altered body/' "$tmp/post"
    pf_send --from "$(sed 's/.*<//; s/>.*//' <<<"$1")" --to $L \
        --xclient-addr 192.0.2.10 --data "$tmp/post"
}
# delivered: wait until the queue is empty; the delivery files in FILES,
# the recipients (sorted, one line) in RCPTS.
delivered() {
    pf_wait_queue_empty 30 >/dev/null
    FILES=$(pf_sink_files)
    RCPTS=$(for f in $FILES; do pf_rcpts "$f"; done | sort | tr '\n' ' ')
}
# copy FILE OUT: the delivered message, as a receiver gets it.
copy() { pf_message "$1" >"$2"; }
# list_sig FILE: the list domain's DKIM-Signature of a message file, one
# line, blanks removed.
list_sig() {
    sed '/^$/q' "$1" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[ \t]\+/ /g' |
        grep -i '^DKIM-Signature:' | tr -d ' \t' | grep 'd=lists.example;'
}
# h_count SIG NAME: how often the signature's h= names NAME.
h_count() {
    sed 's/.*;h=//; s/;.*//' <<<"$1" | tr ':' '\n' | grep -cix -- "$2"
}
# field_count FILE NAME: how often the header of FILE has the field.
field_count() { sed '/^$/q' "$1" | grep -ci -- "^$2:"; }
# verify FILE: the receiver's view; X-Verify's value in VERIFY, the
# Authentication-Results it would write in RESULTS.
verify() {
    local out
    out=$("$CTL_BIN" -C "$tmp/verify.conf" try --from check@verify.example \
        --to check@verify.example --client 192.0.2.99 --helo verify.example "$1" 2>&1)
    VERIFY=$(sed -n 's/^change: add_header X-Verify: //p' <<<"$out")
    RESULTS=$(sed -n 's/^change: add_header X-Verify-Results: //p' <<<"$out" |
        sed 's/\\x0a / /g')
}
sed "s|^policy = .*|policy = $here/policies/verify.lua|" "$MLM_CONF" >"$tmp/verify.conf"

# 1. A signed member post from a p=reject domain.
post 'Alice <alice@signed.example>' signed.example
t_check "signed post from p=reject: accepted ($(grep -E '^<' "$PF_SEND_LOG" | tail -2 | head -1))" \
    pf_replied '^250 '
delivered
t_check "delivered to the members (got: $RCPTS)" \
    bash -c "grep -q 'm1@example.org' <<<'$RCPTS' && grep -q 'm2@example.net' <<<'$RCPTS'"
f=$(head -n1 <<<"$FILES")
if [ -z "$f" ]; then
    t_fail "no copy delivered"
    pf_log | tail -20
    mlm_log
    exit 1
fi
copy "$f" "$tmp/copy"
t_check "From munged ($(pf_header "$f" From))" \
    test "$(pf_header "$f" From)" = '"Alice via dev" <dev@lists.example>'
sig=$(list_sig "$tmp/copy")
t_check "one DKIM-Signature of the list domain" test "$(grep -c . <<<"$sig")" -eq 1
t_check "... selector mlm, rsa-sha256" \
    bash -c "grep -q ';s=mlm;' <<<'$sig' && grep -q 'a=rsa-sha256;' <<<'$sig'"
for h in From Subject List-Id List-Post List-Unsubscribe List-Help; do
    n=$(field_count "$tmp/copy" $h)
    t_check "$h: in the copy once, signed and oversigned (h= names it $(h_count "$sig" $h) times)" \
        test "$n" -eq 1 -a "$(h_count "$sig" $h)" -eq 2
done
t_check "List-Unsubscribe-Post: absent, named once (its absence signed)" \
    test "$(field_count "$tmp/copy" List-Unsubscribe-Post)" -eq 0 -a \
    "$(h_count "$sig" List-Unsubscribe-Post)" -eq 1
verify "$tmp/copy"
t_check "receiver: DKIM pass for lists.example, DMARC pass for the munged From ($VERIFY)" \
    bash -c "grep -q '^dkim=pass domains=\(.*,\)\{0,1\}lists.example[ ,]' <<<'$VERIFY' &&
        grep -q ' dmarc=pass from=lists.example$' <<<'$VERIFY'"
t_check "receiver's Authentication-Results: dkim=pass header.d=lists.example ($RESULTS)" \
    bash -c "grep -q '^mlm.test; dkim=pass header.d=lists.example;' <<<'$RESULTS'"

# 2. Oversigning: a field added on top of the copy breaks the signature;
# an unsigned one added the same way does not.
tampered() { # FIELD-LINE: the copy with the line on top, verified
    { printf '%s\n' "$1"; cat "$tmp/copy"; } >"$tmp/tampered"
    verify "$tmp/tampered"
}
tampered 'X-Added: an unsigned field'
t_check "an unsigned field added: still dkim=pass for lists.example ($VERIFY)" \
    grep -q 'domains=\(.*,\)\{0,1\}lists.example' <<<"$VERIFY"
for line in 'List-Id: <evil.lists.example>' 'From: Mallory <dev@lists.example>' \
    'List-Unsubscribe-Post: List-Unsubscribe=One-Click' 'Subject: buy now'; do
    tampered "$line"
    t_check "${line%%:*} added on top of the copy: the list signature fails ($VERIFY)" \
        grep -q '^dkim=fail domains= ' <<<"$VERIFY"
done

# 3. Forged member posts: refused at end of DATA, nothing delivered.
pf_sink_clear
post 'Alice <alice@signed.example>'
t_check "unsigned post with the p=reject From: 550 5.7.26 naming the domain" \
    pf_replied '^550 5\.7\.26 .*signed\.example'
ALTER=1 post 'Alice <alice@signed.example>' signed.example
t_check "signed, then altered: 550 5.7.26" pf_replied '^550 5\.7\.26 '
t_check "... refused at end of DATA (after 354)" pf_replied '^354 '
delivered
t_check "forged posts: nothing delivered (got: $RCPTS)" test -z "$FILES"

# 4. A post from a p=none domain: From as it was, signed by the list.
pf_sink_clear
post 'Nora <nora@none.example>'
t_check "unsigned post from p=none: accepted" pf_replied '^250 '
delivered
f=$(head -n1 <<<"$FILES")
if [ -n "$f" ]; then
    copy "$f" "$tmp/copy"
    t_check "p=none: From unchanged ($(pf_header "$f" From))" \
        test "$(pf_header "$f" From)" = 'Nora <nora@none.example>'
    sig=$(list_sig "$tmp/copy")
    t_check "p=none: signed by the list domain, From oversigned" \
        test "$(grep -c . <<<"$sig")" -eq 1 -a "$(h_count "$sig" From)" -eq 2
    verify "$tmp/copy"
    t_check "p=none: receiver sees dkim=pass for lists.example ($VERIFY)" \
        grep -q '^dkim=pass domains=lists.example ' <<<"$VERIFY"
else
    t_fail "p=none: no copy delivered"
fi

[ "$T_FAILED" -eq 0 ] || { pf_log | tail -30; mlm_log; }
t_done
