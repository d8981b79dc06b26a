#!/usr/bin/env bash
# tests/lists/dmarc.sh - sender authentication in the shipped list policy,
# with `mlm-ctl try` against a private DNS server (unbound, local data):
# posts signed with a real DKIM key (opendkim-genkey, dkimsign: rsa-sha256),
# DMARC records reject, quarantine and none, the organisational-domain
# fallback, and a DNS server that does not answer.
#
#  - aligned DKIM pass from a p=reject domain: accepted, and ctx.auth says
#    dkim=pass, dmarc=pass, the d= domain;
#  - the same post altered after signing: 550 5.7.26 naming the domain;
#  - unsigned posts from p=reject, p=quarantine (found at the
#    organisational domain): 550 5.7.26; from p=none or no record: accepted;
#  - a From with two addresses, or too long to read: 550 5.7.26, and
#    ctx.auth.dmarc is permerror for a From past 4000 bytes (the same bound
#    the policy refuses at); a header line longer than 4 KB is read whole,
#    so text in it at byte 4096 is not taken for a From field;
#  - DNS down: 451 4.7.5, within dns_timeout;
#  - require: an unauthenticated member post from a domain without DMARC
#    is refused 550 5.7.26, a signed one accepted; off: nothing checked;
#  - an IDN From domain (p=reject published at its A-label form), in
#    U-labels or A-labels: checked in A-labels, unsigned refused 550
#    5.7.26, signed with d= the A-label accepted (also as a member under
#    require); a non-ASCII domain without an A-label form: 550 5.7.26.
#
# Environment: top_builddir, top_srcdir (set by make check), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"
command -v opendkim-genkey >/dev/null || PATH=$PATH:/usr/sbin
tmp=$(mktemp -d /tmp/mlm-dmarc.XXXXXX)
trap 'dns_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT

# A DKIM key for signed.example and for nodmarc.example (selector sel).
# xn--bcher-kva.example is bücher.example in A-labels.
IDN=xn--bcher-kva.example UIDN=bücher.example
for d in signed.example nodmarc.example $IDN; do
    mkdir "$tmp/$d"
    opendkim-genkey -D "$tmp/$d" -d "$d" -s sel || exit 1
done
# The key record as unbound local-data strings, without h=sha256
# (a test signs with rsa-sha1 on purpose: refused).
key_record() {
    grep -o '"[^"]*"' "$tmp/$1/sel.txt" | sed 's/h=sha256; //' | tr '\n' ' '
}

dns_start "$tmp" \
    "sel._domainkey.signed.example. TXT $(key_record signed.example)" \
    "sel._domainkey.nodmarc.example. TXT $(key_record nodmarc.example)" \
    '_dmarc.signed.example. TXT "v=DMARC1; p=reject"' \
    "sel._domainkey.$IDN. TXT $(key_record $IDN)" \
    "_dmarc.$IDN. TXT \"v=DMARC1; p=reject\"" \
    '_dmarc.reject.example. TXT "v=DMARC1; p=reject"' \
    '_dmarc.org.example. TXT "v=DMARC1; p=none; sp=quarantine"' \
    '_dmarc.none.example. TXT "v=DMARC1; p=none"' \
    '_dmarc.spf.example. TXT "v=DMARC1; p=reject"' \
    'spf.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    'mail.spf.example. A 192.0.2.7' \
    'sub.spf.example. TXT "v=spf1 a:mail.spf.example -all"' \
    '_dmarc.loop.example. TXT "v=DMARC1; p=reject"' \
    'loop.example. TXT "v=spf1 include:loop.example -all"' \
    || exit 1

MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf MLM_DNS_RESOLVER=$DNS_RESOLVER
mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = $here/../lib/fake-sendmail.sh" "dns_timeout = 2s" \
    "authserv_id = mlm.test"
export FAKE_SENDMAIL_DIR=$tmp/sent
mkdir "$tmp/sent"
L=dev@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@lists.example
ctl list set $L posting open

# mail FROM [SIGNING-DOMAIN]: a post in $tmp/mail, signed when asked.
mail() {
    printf 'From: Someone <%s>\nTo: %s\nSubject: hello\nMessage-ID: <%s@x>\nDate: Fri, 4 Dec 2026 12:00:00 +0000\n\nbody\n' \
        "$1" $L "$RANDOM" >"$tmp/plain"
    if [ -n "${2:-}" ]; then
        dkimsign sel "$2" "$tmp/$2/sel.private" \
            <"$tmp/plain" >"$tmp/mail" || t_fail "signing"
    else
        cp "$tmp/plain" "$tmp/mail"
    fi
}
# unfold: header lines as one line each (mlm folds what it writes at 78).
unfold() { sed -e ':a' -e 'N' -e '$!ba' -e 's/\r\{0,1\}\n\([ \t]\)/\1/g'; }
# try FROM [CONF [CLIENT]]: the post through the policy; the output in $OUT.
try() {
    OUT=$("$CTL_BIN" -C "${2:-$MLM_CONF}" try --from "$1" --to $L \
        --client "${3:-192.0.2.1}" --helo client.example "$tmp/mail" 2>&1 |
        unfold)
}
result() { sed -n 's/^result: //p' <<<"$OUT"; }
has() { grep -q -- "$1" <<<"$OUT"; }

mail alice@signed.example signed.example
try alice@signed.example
t_check "aligned DKIM pass from a p=reject domain: accepted ($(result))" \
    test "$(result)" = accepted
t_check "try prints the authentication results ($(sed -n 's/^authentication: //p' <<<"$OUT"))" \
    grep -q '^authentication: [^;]*; dkim=pass header.d=signed.example; spf=[a-z]*.*; dmarc=pass policy.dmarc=reject header.from=signed.example$' <<<"$OUT"

# Whether a post is signed is read from the header block before
# libopendkim is asked (auth_from.c): a field name in any case, and a
# signature past the first 8 KB read, are still verified.
mail alice@signed.example signed.example
sed -i 's/^DKIM-Signature:/dkim-signature:/' "$tmp/mail"
try alice@signed.example
t_check "a signature named dkim-signature: verified ($(result))" \
    grep -q '^authentication: [^;]*; dkim=pass header.d=signed.example;' <<<"$OUT"
mail alice@signed.example signed.example
{
    for i in $(seq 1 200); do
        printf 'X-Pad-%03d: %s\n' "$i" "$(printf '%060d' 0)"
    done
    cat "$tmp/mail"
} >"$tmp/mail.pad"
mv "$tmp/mail.pad" "$tmp/mail"
try alice@signed.example
t_check "a signature after 14 KB of header fields: verified ($(result))" \
    grep -q '^authentication: [^;]*; dkim=pass header.d=signed.example;.*dmarc=pass' <<<"$OUT"
mail alice@reject.example
try alice@reject.example
t_check "an unsigned post: dkim=none" \
    grep -q '^authentication: [^;]*; dkim=none; ' <<<"$OUT"
# An ASCII From domain in mixed case: looked up and aligned in lower case.
mail alice@Signed.EXAMPLE signed.example
try alice@signed.example
t_check "From alice@Signed.EXAMPLE: header.from=signed.example, dmarc=pass ($(result))" \
    grep -q '^authentication: [^;]*; dkim=pass header.d=signed.example;.* dmarc=pass policy.dmarc=reject header.from=signed.example$' <<<"$OUT"

sed -i 's/^body$/altered body/' "$tmp/mail"
try alice@signed.example
t_check "the post altered after signing: refused ($(result))" \
    has "550 5.7.26.*signed.example"

# Authentication-Results: ours written once, a forged one claiming our
# authserv-id removed, another receiver's kept.
mail alice@signed.example signed.example
{
    printf 'Authentication-Results: mlm.test; dkim=pass header.d=forged.example; dmarc=pass\n'
    printf 'Authentication-Results: other.example; spf=pass\n'
    cat "$tmp/mail"
} >"$tmp/mail.ar"
mv "$tmp/mail.ar" "$tmp/mail"
try alice@signed.example
ar=$(grep "^Authentication-Results:" <<<"$(sed -n "/^envelope sender/,\$p" <<<"$OUT")")
t_check "A-R: one header with our authserv-id, dkim=pass, dmarc=pass" \
    test "$(grep -c '^Authentication-Results: mlm.test; dkim=pass header.d=signed.example;.* dmarc=pass policy.dmarc=reject header.from=signed.example$' <<<"$ar")" -eq 1
t_check "A-R: the forged one claiming mlm.test removed" \
    test "$(grep -c 'forged.example' <<<"$ar")" -eq 0
t_check "A-R: another receiver's kept" \
    test "$(grep -c '^Authentication-Results: other.example' <<<"$ar")" -eq 1

# 50 signatures, each for a selector without a key: only the first 5 are
# verified (auth_dkim.c: AUTH_DKIM_MAX_SIGS), and the post is
# refused as unsigned.
mail bob@reject.example
for i in $(seq 50); do
    printf 'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=reject.example; s=s%d;\n\th=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\n' "$i"
done >"$tmp/sigs"
cat "$tmp/sigs" "$tmp/mail" >"$tmp/mail.sigs" && mv "$tmp/mail.sigs" "$tmp/mail"
try bob@reject.example
t_check "50 signatures: refused 550 5.7.26" has "550 5.7.26.*reject.example"
t_check "50 signatures: a result, no hang or crash" \
    test -n "$(result)"

mail bob@reject.example
try bob@reject.example
t_check "unsigned from p=reject: 550 5.7.26 naming the domain" \
    has "550 5.7.26.*reject.example"
# RFC 8301: an rsa-sha1 signature, however true, is no pass.
mail alice@signed.example
opendkim-testmsg -d signed.example -k "$tmp/signed.example/sel.private" -s sel \
    <"$tmp/plain" >"$tmp/mail" || t_fail "signing with rsa-sha1"
t_check "... (the test's signature is rsa-sha1)" grep -q 'a=rsa-sha1' "$tmp/mail"
try alice@signed.example
t_check "a true rsa-sha1 signature from p=reject: not a pass, 550 5.7.26 ($(result))" \
    has "550 5.7.26.*signed.example"
mail bob@reject.example
# libspf2 passes any sender from a loopback client ("localhost is always
# allowed"): a forger behind a local proxy or re-injecting filter would
# pass DMARC. mlm takes that as no SPF result.
try bob@reject.example "$MLM_CONF" 127.0.0.1
t_check "unsigned from p=reject through a loopback client: still 550 5.7.26" \
    has "550 5.7.26.*reject.example"
try bob@reject.example "$MLM_CONF" ::1
t_check "... also from ::1" has "550 5.7.26.*reject.example"

# A From DMARC cannot check (two addresses, or one past what is read):
# no domain to ask, and a forger's way around p=reject: refused.
mail 'bob@reject.example>, <nora@none.example'
try bob@reject.example
t_check "two From addresses (one of p=reject): 550 5.7.26 ($(result))" \
    has "550 5.7.26 .*does not name one address"
mail bob@reject.example
sed -i "s/^From: Someone </From: \"$(head -c 20000 /dev/zero | tr '\0' 'x')\" </" "$tmp/mail"
try bob@reject.example
t_check "a 20 KB From display name: 550 5.7.26 ($(result | cut -c1-60))" \
    has "550 5.7.26 .*does not name one address"
# A header line of 4 KB and more is one line: text at its 4096th byte
# is no From field (a second From would make DMARC unable to check the
# real one).
mail bob@reject.example
pad=$(head -c $((4095 - 7)) /dev/zero | tr '\0' 'x')
sed -i "1i X-Pad: ${pad}From: <eve@none.example>" "$tmp/mail"
try bob@reject.example
t_check "a 4 KB header line ending in From: text: bob's p=reject applies ($(result | cut -c1-60))" \
    has "550 5.7.26.*reject.example (DMARC p=reject)"
# What the check itself says (ctx.auth through a policy that shows it):
# a From past the 4000 bytes it reads is permerror, not the domain of
# its first bytes; one just within is checked.
cat >"$tmp/probe.lua" <<'LUA'
local mlm = require "mlm"
function filter_message(ctx)
  return mlm.reject("auth dmarc=" .. ctx.auth.dmarc .. " from="
    .. tostring(ctx.auth.from_domain))
end
LUA
sed "s|^policy = .*|policy = $tmp/probe.lua|" "$MLM_CONF" >"$tmp/probe.conf"
long_from() { # BYTES: a From value of BYTES bytes, the address first
    mail dave@none.example
    local comment
    comment=$(head -c $(($1 - 22)) /dev/zero | tr '\0' 'c')
    sed -i "s/^From: .*/From: <dave@none.example> ($comment)/" "$tmp/mail"
}
long_from 4001
try dave@none.example "$tmp/probe.conf"
t_check "a From of 4001 bytes: dmarc=permerror, no domain ($(result | cut -c1-70))" \
    has "auth dmarc=permerror from=nil"
long_from 4000
try dave@none.example "$tmp/probe.conf"
t_check "a From of 4000 bytes: checked ($(result | cut -c1-70))" \
    has "auth dmarc=fail from=none.example"
mail dave@none.example
sed -i "s/^From: .*/From: <dave@none.example>\n  ($(head -c 5000 /dev/zero | tr '\0' 'c'))/" "$tmp/mail"
try dave@none.example "$tmp/probe.conf"
t_check "a folded From past 4000 bytes: dmarc=permerror ($(result | cut -c1-70))" \
    has "auth dmarc=permerror from=nil"
try dave@none.example
t_check "... and the shipped policy refuses it 550 5.7.26" \
    has "550 5.7.26 .*does not name one address"
# No From at all claims no one's domain: not refused for it.
mail bob@reject.example
sed -i '/^From: /d' "$tmp/mail"
try bob@reject.example
t_check "no From header: not refused as unreadable ($(result | cut -c1-60))" \
    bash -c "! grep -q 'does not name one address' <<<\"\$1\"" _ "$OUT"

mail carol@mail.org.example
try carol@mail.org.example
t_check "unsigned from a subdomain of sp=quarantine: 550 5.7.26" \
    has "550 5.7.26.*mail.org.example"

# IDN: DMARC looks the From domain up in A-labels, however it is written.
mail "alice@$UIDN"
try "alice@$IDN"
t_check "unsigned From in U-labels, p=reject at the A-label: 550 5.7.26 ($(result | cut -c1-60))" \
    has "550 5.7.26.*$IDN (DMARC p=reject)"
mail "alice@$IDN"
try "alice@$IDN"
t_check "unsigned From in A-labels: 550 5.7.26 ($(result | cut -c1-60))" \
    has "550 5.7.26.*$IDN (DMARC p=reject)"
mail "alice@BÜCHER.Example"
try "alice@$IDN"
t_check "unsigned From in upper-case U-labels: 550 5.7.26 ($(result | cut -c1-60))" \
    has "550 5.7.26.*$IDN (DMARC p=reject)"
mail "alice@$UIDN" $IDN
try "alice@$IDN"
t_check "From in U-labels signed with d= the A-label: accepted ($(result))" \
    test "$(result)" = accepted
t_check "... A-R: dkim=pass, dmarc=pass, header.from in A-labels" \
    has "Authentication-Results: mlm.test; dkim=pass header.d=$IDN;.* dmarc=pass policy.dmarc=reject header.from=$IDN\$"
mail "alice@mail.$UIDN" $IDN
try "alice@mail.$IDN"
t_check "From in a U-label subdomain, signed by the A-label org domain: relaxed alignment ($(result))" \
    has "Authentication-Results: mlm.test; dkim=pass header.d=$IDN;.* dmarc=pass policy.dmarc=reject header.from=mail.$IDN\$"
mail 'mallory@-ü.example'
try mallory@example.com
t_check "a non-ASCII From domain without an A-label form: 550 5.7.26 ($(result | cut -c1-60))" \
    has "550 5.7.26 .*does not name one address"

# SPF: the envelope sender's domain authorises the client.
mail ivan@spf.example
try ivan@spf.example
t_check "SPF pass aligned with From (p=reject): accepted ($(result))" \
    test "$(result)" = accepted
t_check "... Authentication-Results says spf=pass" \
    has "Authentication-Results: mlm.test; dkim=none; spf=pass smtp.mailfrom=spf.example; dmarc=pass"
try ivan@spf.example "$MLM_CONF" 192.0.2.99
t_check "SPF fail from another client: 550 5.7.26" has "550 5.7.26.*spf.example"
# "From :" (a blank before the colon, RFC 5322's obsolete syntax) is a
# From field to GMime and to mail readers: the check must see it too.
# (not as the first line, which try takes for an mbox "From " line)
printf 'To: %s\nFrom : PayPal <service@reject.example>\nFrom: ivan@spf.example\nSubject: hello\nMessage-ID: <%s@x>\n\nbody\n' $L "$RANDOM" >"$tmp/mail"
try ivan@spf.example
t_check "a \"From :\" field before an SPF-aligned From: two From fields, 550 5.7.26 ($(result))" \
    has "550 5.7.26"
printf 'To: %s\nFrom : bob@reject.example\nSubject: hello\nMessage-ID: <%s@x>\n\nbody\n' $L "$RANDOM" >"$tmp/mail"
try bob@reject.example
t_check "an unsigned \"From :\" of a p=reject domain: 550 5.7.26 ($(result))" \
    has "550 5.7.26.*reject.example"
mail ivan@sub.spf.example
try ivan@sub.spf.example "$MLM_CONF" 192.0.2.7
t_check "SPF a: mechanism, relaxed alignment with the org domain's record ($(result))" \
    test "$(result)" = accepted
mail judy@loop.example
try judy@loop.example
t_check "an SPF include loop ends: refused 550, not hung" \
    has "550 5.7.26.*loop.example"

mail dave@none.example
try dave@none.example
t_check "unsigned from p=none: accepted ($(result))" test "$(result)" = accepted

mail erin@nothing.example
try erin@nothing.example
t_check "unsigned, no DMARC record: accepted ($(result))" \
    test "$(result)" = accepted
# The envelope domain and the HELO are the client's words: results they
# carry never reach our Authentication-Results.
try 'erin@nothing.example;dkim=pass header.d=paypal.com'
t_check "an envelope domain carrying '; dkim=pass': no such result in ours ($(sed -n 's/^authentication: //p' <<<"$OUT"))" \
    bash -c 'a=$(grep "^authentication: " <<<"$1"); [ -n "$a" ] && ! grep -qi "paypal" <<<"$a" && [ "$(grep -o "dkim=" <<<"$a" | wc -l)" = 1 ]' _ "$OUT"
OUT=$("$CTL_BIN" -C "$MLM_CONF" try --from '' --to $L --client 192.0.2.1 \
    --helo 'x;dkim=pass;dmarc=pass' "$tmp/mail" 2>&1 | unfold)
t_check "a HELO carrying ';dkim=pass': no such result in ours ($(sed -n 's/^authentication: //p' <<<"$OUT"))" \
    bash -c '! grep -q "^authentication: .*x;dkim" <<<"$1" && [ "$(grep "^authentication: " <<<"$1" | grep -o "dkim=" | wc -l)" = 1 ]' _ "$OUT"

# require: member posts must be authenticated even without DMARC.
ctl list set $L sender_authentication require
ctl member add $L erin@nothing.example
ctl member add $L frank@nodmarc.example
ctl member add $L "alice@$UIDN"
try erin@nothing.example
t_check "require: unauthenticated member post: 550 5.7.26" \
    has "550 5.7.26.*requires"
mail frank@nodmarc.example nodmarc.example
try frank@nodmarc.example
t_check "require: member post with an aligned DKIM pass: accepted ($(result))" \
    test "$(result)" = accepted
mail "alice@$UIDN" $IDN
try "alice@$IDN"
t_check "require: IDN member post signed with d= the A-label: accepted ($(result))" \
    test "$(result)" = accepted
mail grace@nothing.example
try grace@nothing.example
t_check "require: a non-member without DMARC is not refused by it ($(result))" \
    test "$(result)" = accepted
ctl list set $L sender_authentication off
mail bob@reject.example
try bob@reject.example
t_check "off: unsigned from p=reject accepted ($(result))" \
    test "$(result)" = accepted
ctl list set $L sender_authentication dmarc

# DNS down: a resolver that reads and never answers.
python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1], flush=True); time.sleep(60)' >"$tmp/silent.port" &
silent_pid=$!
for _ in $(seq 50); do [ -s "$tmp/silent.port" ] && break; sleep 0.1; done
sed "s/^dns_resolver = .*/dns_resolver = 127.0.0.1@$(cat "$tmp/silent.port")/" \
    "$MLM_CONF" >"$tmp/down.conf"
start=$(date +%s)
try bob@reject.example "$tmp/down.conf"
took=$(($(date +%s) - start))
kill "$silent_pid" 2>/dev/null; wait "$silent_pid" 2>/dev/null
t_check "DNS down: 451 4.7.5" has "451 4.7.5"
t_check "DNS down: answered within dns_timeout (took ${took}s, bound 2s + 5)" \
    test "$took" -le 7

t_done
