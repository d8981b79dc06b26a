#!/usr/bin/env bash
# tests/ctl/dkim-record.sh - mlm-ctl dns dkim-record SELECTOR DOMAIN KEYFILE
# against the tools that make and check DKIM keys:
#
#  - for keys opendkim-genkey made (2048 and 1024 bits), the record is the
#    one opendkim-genkey wrote beside them (its h=sha256 aside: mlm-ctl
#    prints no h=), owner name included;
#  - the same record from the private key as PKCS#8, PKCS#1 or DER, from
#    its public key, and from standard input;
#  - the TXT data in strings of at most 255 bytes, as many as needed;
#  - published in a private DNS server, opendkim-testkey finds the record
#    and says it matches the private key (and a wrong key does not match);
#  - an Ed25519 key: k=ed25519 and the raw 32-byte key (RFC 8463), as
#    OpenSSL's DER of the public key ends;
#  - refused, exit 1, nothing on stdout: RSA under 1024 bits, an EC key,
#    an encrypted key (no passphrase prompt), no key, an empty or huge
#    input, a selector or domain that is not a DNS name.
#
# Environment: top_builddir (set by make check), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"
command -v opendkim-genkey >/dev/null || PATH=$PATH:/usr/sbin
for c in opendkim-genkey opendkim-testkey openssl; do
    command -v $c >/dev/null || { echo "skip: $c is not installed"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlm-dkim-record.XXXXXX")
trap 'dns_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
# No configuration is needed: an empty one stands for it.
: >"$tmp/mlm.conf"
record() { "$CTL_BIN" -C "$tmp/mlm.conf" dns dkim-record "$@"; }

# A zone-file record as one line: owner, then the joined TXT data.
flat() {
    tr '\n\t' '  ' | sed -E 's/;[^"]*$//' | awk '{
        s = $0; name = $1; data = ""
        while (match(s, /"[^"]*"/)) {
            data = data substr(s, RSTART + 1, RLENGTH - 2)
            s = substr(s, RSTART + RLENGTH)
        }
        print name, data }'
}

for bits in 2048 1024; do
    d=$tmp/k$bits
    mkdir "$d"
    opendkim-genkey -D "$d" -b $bits -d lists.example -s mlm$bits -a || exit 1
    want=$(flat <"$d/mlm$bits.txt" | sed 's/h=sha256; //')
    out=$(record mlm$bits lists.example "$d/mlm$bits.private"); rc=$?
    t_check "$bits bits: exit 0" [ "$rc" -eq 0 ]
    t_check "$bits bits: opendkim-genkey's record ($(flat <<<"$out" | cut -c1-60)...)" \
        [ "$(flat <<<"$out")" = "$want" ]
    t_check "$bits bits: IN TXT in parentheses" \
        grep -q "^mlm$bits\._domainkey\.lists\.example\. IN TXT ( \"v=DKIM1; k=rsa; p=" <<<"$out"
    data=$(flat <<<"$out" | cut -d' ' -f2-)
    longest=$(grep -o '"[^"]*"' <<<"$out" | awk '{ n = length($0) - 2; if (n > m) m = n } END { print m }')
    strings=$(grep -o '"[^"]*"' <<<"$out" | wc -l)
    t_check "$bits bits: strings of at most 255 bytes (longest $longest)" \
        [ "$longest" -le 255 ]
    t_check "$bits bits: as few strings as 255 bytes allow ($strings for ${#data})" \
        [ "$strings" -eq $(((${#data} + 254) / 255)) ]
done

d=$tmp/k2048
key=$d/mlm2048.private
want=$(record mlm2048 lists.example "$key")
openssl pkey -in "$key" -pubout -out "$tmp/pub.pem" 2>/dev/null
openssl rsa -in "$key" -traditional -out "$tmp/pkcs1.pem" 2>/dev/null
openssl pkey -in "$key" -outform DER -out "$tmp/key.der" 2>/dev/null
grep -q 'BEGIN RSA PRIVATE KEY' "$tmp/pkcs1.pem" || t_fail "openssl wrote no PKCS#1 key"
for f in pub.pem pkcs1.pem key.der; do
    t_check "the same record from $f" \
        [ "$(record mlm2048 lists.example "$tmp/$f")" = "$want" ]
done
t_check "the same record from standard input" \
    [ "$(record mlm2048 lists.example - <"$key")" = "$want" ]
t_check "a trailing dot on the domain is the same domain" \
    [ "$(record mlm2048 lists.example. "$key")" = "$want" ]

# Published, as printed, in a private DNS server: opendkim-testkey (with
# libunbound forwarding to it) finds the key and matches it.
dns_start "$tmp" "$(tr '\n\t()' '    ' <<<"$want")" || exit 1
printf 'server:\n  do-not-query-localhost: no\nforward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@%s\n' \
    "$DNS_PORT" >"$tmp/unbound-client.conf"
printf 'ResolverConfiguration %s\n' "$tmp/unbound-client.conf" >"$tmp/testkey.conf"
out=$(opendkim-testkey -x "$tmp/testkey.conf" -d lists.example -s mlm2048 \
    -k "$key" -vvv 2>&1); rc=$?
t_check "opendkim-testkey: the published record matches the key (exit $rc)" \
    [ "$rc" -eq 0 ] && grep -q 'key OK' <<<"$out"
out=$(opendkim-testkey -x "$tmp/testkey.conf" -d lists.example -s mlm2048 \
    -k "$tmp/k1024/mlm1024.private" -vvv 2>&1); rc=$?
t_check "opendkim-testkey: another key does not match (exit $rc)" \
    grep -q 'keys do not match' <<<"$out"

# Ed25519 (RFC 8463): the raw key, the last 32 bytes of its DER.
openssl genpkey -algorithm ed25519 -out "$tmp/ed.pem" 2>/dev/null
raw=$(openssl pkey -in "$tmp/ed.pem" -pubout -outform DER 2>/dev/null |
    tail -c 32 | base64 -w0)
out=$(record ed lists.example "$tmp/ed.pem")
t_check "Ed25519: k=ed25519 and the raw public key" [ "$out" = \
    "ed._domainkey.lists.example. IN TXT ( \"v=DKIM1; k=ed25519; p=$raw\" )" ]

# Refusals: exit 1, one line on stderr, nothing on stdout.
refused() { # DESCRIPTION PATTERN ARGS...
    local what=$1 pattern=$2 out err rc
    shift 2
    out=$(record "$@" 2>"$tmp/err" </dev/null); rc=$?
    err=$(cat "$tmp/err")
    t_check "$what: refused ($err)" \
        [ "$rc" -eq 1 -a -z "$out" -a "$(wc -l <"$tmp/err")" -eq 1 ]
    t_check "$what: says why" grep -q -- "$pattern" "$tmp/err"
}
openssl genrsa -out "$tmp/small.pem" 512 2>/dev/null
refused "RSA of 512 bits" "512 bits" s lists.example "$tmp/small.pem"
openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 \
    -out "$tmp/ec.pem" 2>/dev/null
refused "an EC key" "RSA or Ed25519" s lists.example "$tmp/ec.pem"
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -aes128 \
    -pass pass:secret -out "$tmp/enc.pem" 2>/dev/null
grep -q ENCRYPTED "$tmp/enc.pem" || t_fail "openssl wrote no encrypted key"
refused "an encrypted key" "encrypted" s lists.example "$tmp/enc.pem"
printf 'not a key\n' >"$tmp/text"
refused "no key" "no RSA or Ed25519 key" s lists.example "$tmp/text"
: >"$tmp/empty"
refused "an empty file" "empty" s lists.example "$tmp/empty"
head -c 100000 /dev/zero >"$tmp/huge"
refused "a 100 KB file" "larger than 64 KB" s lists.example "$tmp/huge"
refused "a missing file" "cannot open" s lists.example "$tmp/none"
refused "a selector with a quote" "not a selector" 'a"b' lists.example "$key"
refused "a selector with a blank" "not a selector" 'a b' lists.example "$key"
refused "an empty label" "not a selector" 'a..b' lists.example "$key"
refused "a domain without a dot" "not a domain" s localhost "$key"
refused "a domain with a newline" "not a domain" s $'lists.example\nx' "$key"
refused "a label of 64 bytes" "not a domain" s "$(printf 'a%.0s' {1..64}).example" "$key"
long=$(printf 'abcdefghi.%.0s' {1..24})example
refused "an owner name over 253 bytes" "longer than a DNS name" s "$long" "$key"
t_done
