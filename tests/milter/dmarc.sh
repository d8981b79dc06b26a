#!/usr/bin/env bash
# Sender authentication through the milter (milter-client.py -> mlmd ->
# multiplexor -> worker) with the shipped list policy and a private DNS
# server: a post failing DMARC for a p=reject domain is refused 550 5.7.26
# at end of message; an SPF-authenticated one is accepted with one
# Authentication-Results header, its From munged to the list and the
# author in Reply-To (and with dmarc_mitigation wrap, the post attached as
# it arrived); a p=none domain's post is accepted unchanged; with
# the DNS server gone, a post whose policy is unknown gets 451 4.7.5.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"
. "$here/scripts/mt.sh"
dnsdir=$(mktemp -d /tmp/mlm-dmarc-dns.XXXXXX)
trap 'dns_stop; rm -rf "$dnsdir"; mlm_stop || exit 1' EXIT

dns_start "$dnsdir" \
    '_dmarc.reject.example. TXT "v=DMARC1; p=reject"' \
    'reject.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    '_dmarc.none.example. TXT "v=DMARC1; p=none"' \
    '_dmarc.later.example. TXT "v=DMARC1; p=reject"' \
    || exit 1
MLM_DNS_RESOLVER=$DNS_RESOLVER
mlm_start "$top_srcdir/lua/policy.lua" "dns_timeout = 3s" \
    "authserv_id = mx.lists.test" || exit 1
mlm_ctl list create list@lists.test --owner owner@lists.test >/dev/null
mlm_ctl list set list@lists.test posting open >/dev/null

# post FROM CLIENT-IP: one post to list@ from FROM (envelope and header).
post() {
    mt_client connect client.example "$2" helo client.example \
        mail "<$1>" rcpt '<list@lists.test>' \
        header From "Someone <$1>" header Subject hello \
        header Authentication-Results 'mx.lists.test; dmarc=pass (forged)' \
        eoh body $'Hello list.\r\n' eom 2>&1 |
        sed -e ':a' -e 'N' -e '$!ba' -e 's/\n\([ \t]\)/\1/g' # folded values unfolded
}

out=$(post bob@reject.example 192.0.2.99)
t_check "p=reject, SPF fails: 550 5.7.26 at end of message" \
    grep -q "^eom: 550 5.7.26 .*reject.example" <<<"$out"
t_check "... and nothing changed" test "$(grep -c '^eom: \(addheader\|chgheader\|addrcpt\)' <<<"$out")" -eq 0
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

out=$(post bob@reject.example 192.0.2.1)
t_check "p=reject, SPF passes: accepted" grep -qx "eom: continue" <<<"$out"
t_check "... one Authentication-Results with spf=pass, dmarc=pass" \
    test "$(grep -c '^eom: addheader Authentication-Results: mx.lists.test; dkim=none; spf=pass smtp.mailfrom=reject.example; dmarc=pass policy.dmarc=reject header.from=reject.example$' <<<"$out")" -eq 1
t_check "... the forged one claiming mx.lists.test removed" \
    grep -q '^eom: chgheader 1 Authentication-Results: *$' <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

t_check "... From munged to the list (dmarc_mitigation munge_from)" \
    grep -qx 'eom: chgheader 1 From: "Someone via list" <list@lists.test>' <<<"$out"
t_check "... the author in Reply-To" \
    grep -qx 'eom: addheader Reply-To: "Someone" <bob@reject.example>' <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

out=$(post carol@none.example 192.0.2.99)
t_check "p=none, unauthenticated: accepted" grep -qx "eom: continue" <<<"$out"
t_check "... From not changed, no Reply-To" \
    test "$(grep -c '^eom: \(chgheader 1 From\|addheader Reply-To\)' <<<"$out")" -eq 0

# wrap: the body replaced by a text part and the post as it arrived.
mlm_ctl list set list@lists.test dmarc_mitigation wrap >/dev/null
out=$(post bob@reject.example 192.0.2.1)
t_check "wrap: accepted" grep -qx "eom: continue" <<<"$out"
t_check "wrap: Content-Type multipart/mixed on the wrapper" \
    grep -q '^eom: addheader Content-Type: multipart/mixed; *boundary="=_mlm_wrap_[0-9a-f]\{32\}"$' <<<"$out"
body=$(sed -n 's/^eom: replbody //p' <<<"$out")
t_check "wrap: the post attached byte for byte as mlmd received it" \
    python3 -c '
import json, sys
b = json.loads(sys.argv[1])
post = ("From: Someone <bob@reject.example>\r\nSubject: hello\r\n"
        "Authentication-Results: mx.lists.test; dmarc=pass (forged)\r\n"
        "\r\nHello list.\r\n")
part = "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
inner = b.split(part, 1)[1]
sys.exit(not (inner.startswith(post) and inner[len(post):].startswith("\r\n--=_mlm_wrap_")))
' "$body"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'
mlm_ctl list set list@lists.test dmarc_mitigation munge_from >/dev/null

dns_stop
out=$(post dave@later.example 192.0.2.99)
t_check "DNS server gone: 451 4.7.5" grep -q "^eom: 451 4.7.5" <<<"$out"
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

t_done
