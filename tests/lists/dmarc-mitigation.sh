#!/usr/bin/env bash
# tests/lists/dmarc-mitigation.sh - DMARC mitigation of outgoing posts in
# the shipped list policy (list settings dmarc_mitigation, dmarc_mitigate),
# with `mlm-ctl try` against a private DNS server (unbound, local data).
# Posts are SPF-authenticated (client 192.0.2.1 is in each domain's SPF
# record), so sender_authentication accepts them.
#
#  - from p=reject and p=quarantine: From "NAME via dev" <dev@lists.example>,
#    the author in Reply-To; from p=none: From unchanged, no Reply-To;
#  - dmarc_mitigate always: p=none munged too; dmarc_mitigation none: never;
#  - display names with non-ASCII, quotes, commas, an address, none at all,
#    and a CR LF "Bcc:" smuggled in an encoded word: one From mailbox, the
#    list's address, the name kept readable, no header injected;
#  - reply_to list: Reply-To stays the list, the author goes to Cc; an
#    author already in Reply-To is not added twice;
#  - wrap: multipart/mixed from the list, a text part with the footer,
#    the post attached as message/rfc822 byte for byte, a DKIM-signed
#    post's signature still verifying inside it;
#  - DNS not answering, a From with two addresses or too long to check
#    (sender_authentication off): munged all the same (unsure: safe);
#  - ctx:wrap_message on its own: the fields of the old body replaced;
#    twice, or before end of message, an error.
#
# Environment: top_builddir, top_srcdir (set by make check), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"
tmp=$(mktemp -d /tmp/mlm-mitigation.XXXXXX)
trap 'dns_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT

command -v opendkim-genkey >/dev/null || PATH=$PATH:/usr/sbin
# A DKIM key for signed.example (selector sel), as in tests/lists/dmarc.sh;
# unbound gets the record without h=sha256 (it allows any hash).
mkdir "$tmp/signed.example"
opendkim-genkey -D "$tmp/signed.example" -d signed.example -s sel || exit 1
key_record=$(grep -o '"[^"]*"' "$tmp/signed.example/sel.txt" |
    sed 's/h=sha256; //' | tr '\n' ' ')

dns_start "$tmp" \
    "sel._domainkey.signed.example. TXT $key_record" \
    '_dmarc.signed.example. TXT "v=DMARC1; p=reject"' \
    '_dmarc.reject.example. TXT "v=DMARC1; p=reject"' \
    'reject.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    '_dmarc.quarantine.example. TXT "v=DMARC1; p=quarantine"' \
    'quarantine.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    '_dmarc.none.example. TXT "v=DMARC1; p=none"' \
    'none.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
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
ctl list set $L subject_prefix '[dev]'

show=$(mlm_ctl list show $L)
t_check "list show: dmarc_mitigation munge_from by default" \
    grep -Eq '^dmarc_mitigation +munge_from$' <<<"$show"
t_check "list show: dmarc_mitigate policy by default" \
    grep -Eq '^dmarc_mitigate +policy$' <<<"$show"
t_check "list set dmarc_mitigation: a bad value is refused" \
    test "$(mlm_ctl list set $L dmarc_mitigation munge >/dev/null 2>&1; echo $?)" -ne 0
t_check "list set dmarc_mitigate: a bad value is refused" \
    test "$(mlm_ctl list set $L dmarc_mitigate sometimes >/dev/null 2>&1; echo $?)" -ne 0

# mail FROM-HEADER-VALUE [EXTRA-HEADER-LINE]: a post in $tmp/mail.
mail() {
    {
        printf 'From: %s\n' "$1"
        [ -n "${2:-}" ] && printf '%s\n' "$2"
        printf 'To: %s\nSubject: hello\nMessage-ID: <%s@x>\n' $L "$RANDOM"
        printf 'Date: Fri, 4 Dec 2026 12:00:00 +0000\n\nbody\n'
    } >"$tmp/mail"
}
# try ENVELOPE-FROM [CONF]: the post through the policy; the resulting
# message's header block in $tmp/out.
try() {
    OUT=$("$CTL_BIN" -C "${2:-$MLM_CONF}" try --from "$1" --to $L \
        --client 192.0.2.1 --helo client.example "$tmp/mail" 2>&1)
    awk 'body { print; next } /^envelope sender/ { env = 1 }
         env && $0 == "" { body = 1 }' <<<"$OUT" >"$tmp/out"
}
result() { sed -n 's/^result: //p' <<<"$OUT"; }
# hdr NAME: the decoded mailboxes of NAME in the result, one "name|addr"
# a line (Python's RFC 5322 parser); "COUNT n" first: how many NAME fields.
hdr() {
    python3 - "$tmp/out" "$1" <<'PY'
import sys, email, email.policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'),
                                     policy=email.policy.default)
values = msg.get_all(sys.argv[2]) or []
print("COUNT", len(values))
for v in values:
    for a in v.addresses:
        print("%s|%s" % (a.display_name, a.addr_spec))
PY
}
# fields: the header names of the result, one a line.
unfold() { sed -e ':a' -e 'N' -e '$!ba' -e 's/\r\{0,1\}\n\([ \t]\)/\1/g'; }
fields() { sed -n '/^$/q;s/^\([^ \t:]*\):.*/\1/p' "$tmp/out"; }

mail 'Alice Example <alice@reject.example>'
try alice@reject.example
t_check "p=reject: accepted ($(result))" test "$(result)" = accepted
t_check "p=reject: From is the list, the author's name via dev" \
    test "$(hdr From)" = "COUNT 1
Alice Example via dev|dev@lists.example"
t_check "p=reject: the author in Reply-To" \
    test "$(hdr Reply-To)" = "COUNT 1
Alice Example|alice@reject.example"
t_check "p=reject: no Cc added" test "$(hdr Cc)" = "COUNT 0"

mail 'Quinn <quinn@quarantine.example>'
try quinn@quarantine.example
t_check "p=quarantine: From munged" test "$(hdr From)" = "COUNT 1
Quinn via dev|dev@lists.example"
t_check "p=quarantine: the author in Reply-To" test "$(hdr Reply-To)" = "COUNT 1
Quinn|quinn@quarantine.example"

mail 'Nora <nora@none.example>'
try nora@none.example
t_check "p=none: accepted ($(result))" test "$(result)" = accepted
t_check "p=none: From unchanged" grep -qx 'From: Nora <nora@none.example>' "$tmp/out"
t_check "p=none: no Reply-To" test "$(hdr Reply-To)" = "COUNT 0"

ctl list set $L dmarc_mitigate always
try nora@none.example
t_check "always: p=none munged too" test "$(hdr From)" = "COUNT 1
Nora via dev|dev@lists.example"
t_check "always: the author in Reply-To" test "$(hdr Reply-To)" = "COUNT 1
Nora|nora@none.example"
ctl list set $L dmarc_mitigation none
try nora@none.example
t_check "none (always): From unchanged" grep -qx 'From: Nora <nora@none.example>' "$tmp/out"
ctl list set $L dmarc_mitigate policy
mail 'Alice Example <alice@reject.example>'
try alice@reject.example
t_check "none: p=reject unchanged" \
    grep -qx 'From: Alice Example <alice@reject.example>' "$tmp/out"
t_check "none: no Reply-To" test "$(hdr Reply-To)" = "COUNT 0"
ctl list set $L dmarc_mitigation munge_from

# Display names.
mail '=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <joerg@reject.example>'
try joerg@reject.example
t_check "non-ASCII name: decoded From is the name via dev" \
    test "$(hdr From)" = "COUNT 1
Jörg Müller via dev|dev@lists.example"
t_check "non-ASCII name: RFC 2047 encoded, the header ASCII" \
    test "$(LC_ALL=C grep -c '[^ -~]' "$tmp/out")" -eq 0
t_check "non-ASCII name: Reply-To" test "$(hdr Reply-To)" = "COUNT 1
Jörg Müller|joerg@reject.example"

mail '"Smith, Bob \"The Builder\"" <bob@reject.example>'
try bob@reject.example
t_check "quotes and a comma: one mailbox, the name intact" \
    test "$(hdr From)" = 'COUNT 1
Smith, Bob "The Builder" via dev|dev@lists.example'
t_check "quotes and a comma: Reply-To intact" \
    test "$(hdr Reply-To)" = 'COUNT 1
Smith, Bob "The Builder"|bob@reject.example'

mail 'alice@reject.example'
try alice@reject.example
t_check "no display name: the local part" test "$(hdr From)" = "COUNT 1
alice via dev|dev@lists.example"
t_check "no display name: Reply-To is the address" \
    test "$(hdr Reply-To)" = "COUNT 1
|alice@reject.example"
ctl member add $L mallory@reject.example --name 'Mallory M.'
mail 'mallory@reject.example'
try mallory@reject.example
t_check "no display name, a member with a name: the member's name" \
    test "$(hdr From)" = "COUNT 1
Mallory M. via dev|dev@lists.example"
mail '"alice@reject.example" <alice@reject.example>'
try alice@reject.example
t_check "an address as display name: no second domain in From" \
    test "$(hdr From)" = "COUNT 1
alice via dev|dev@lists.example"

# "Eve\r\nBcc: victim@else.example" in an encoded word.
mail "=?UTF-8?B?$(printf 'Eve\r\nBcc: victim@else.example' | base64 -w0)?= <eve@reject.example>"
try eve@reject.example
t_check "CR LF in the display name: accepted ($(result))" test "$(result)" = accepted
t_check "CR LF in the display name: no Bcc header injected" \
    test "$(fields | grep -ci '^bcc$')" -eq 0
t_check "CR LF in the display name: one From mailbox, the list's" \
    test "$(hdr From | sed -n 's/.*|//p')" = dev@lists.example
t_check "CR LF in the display name: no line break inside the name" \
    test "$(hdr From)" = "COUNT 1
Eve  Bcc: victim via dev|dev@lists.example"

# A display name of 20,000 bytes: From stays one short mailbox. (With
# sender_authentication on, such a From and one with two addresses are
# refused: tests/lists/dmarc.sh.)
ctl list set $L sender_authentication off
mail "\"$(head -c 20000 /dev/zero | tr '\0' 'x')\" <long@reject.example>"
try long@reject.example
t_check "a 20 KB display name: accepted ($(result))" test "$(result)" = accepted
t_check "a 20 KB display name: From is the list's, under 300 bytes" \
    test "$(hdr From | sed -n 's/.*|//p')" = dev@lists.example -a \
    "$(sed '/^$/q' "$tmp/out" | unfold | grep '^From:' | wc -c)" -lt 300

# Two From addresses: no one domain to ask (dmarc=permerror): munged,
# the envelope sender as the author (as Mailman 3 does).
mail 'Alice <alice@reject.example>, Nora <nora@none.example>'
try alice@reject.example
t_check "two From addresses: From munged to the list" test "$(hdr From)" = "COUNT 1
alice via dev|dev@lists.example"
t_check "two From addresses: the envelope sender in Reply-To" \
    test "$(hdr Reply-To)" = "COUNT 1
|alice@reject.example"
ctl list set $L sender_authentication dmarc

# An existing Reply-To: the author added after it, once.
mail 'Alice Example <alice@reject.example>' 'Reply-To: Team <team@reject.example>'
try alice@reject.example
t_check "existing Reply-To: the author added to it" \
    test "$(hdr Reply-To)" = "COUNT 1
Team|team@reject.example
Alice Example|alice@reject.example"
mail 'Alice Example <alice@reject.example>' 'Reply-To: alice@reject.example'
try alice@reject.example
t_check "author already in Reply-To: not added twice" \
    test "$(hdr Reply-To)" = "COUNT 1
|alice@reject.example"

# reply_to = list: Reply-To the list, the author in Cc (as Mailman 3).
ctl list set $L reply_to list
mail 'Alice Example <alice@reject.example>' 'Cc: Carl <carl@else.example>'
try alice@reject.example
t_check "reply_to list: Reply-To is the list" test "$(hdr Reply-To)" = "COUNT 1
|dev@lists.example"
t_check "reply_to list: the author added to Cc" test "$(hdr Cc)" = "COUNT 1
Carl|carl@else.example
Alice Example|alice@reject.example"
t_check "reply_to list: From munged" test "$(hdr From)" = "COUNT 1
Alice Example via dev|dev@lists.example"
ctl list set $L reply_to none

# wrap: a message from the list, the post attached byte for byte.
ctl list set $L dmarc_mitigation wrap
ctl list set $L footer 'the list footer'
mail 'Alice Example <alice@reject.example>' 'DKIM-Signature: v=1; d=reject.example; s=x; b=AAAA'
try alice@reject.example
t_check "wrap: accepted ($(result))" test "$(result)" = accepted
t_check "wrap: From munged on the wrapper" test "$(hdr From)" = "COUNT 1
Alice Example via dev|dev@lists.example"
t_check "wrap: Reply-To the author" test "$(hdr Reply-To)" = "COUNT 1
Alice Example|alice@reject.example"
t_check "wrap: the author's DKIM-Signature not on the wrapper" \
    test "$(fields | grep -ci '^dkim-signature$')" -eq 0
wrapped=$(python3 - "$tmp/out" "$tmp/mail" <<'PY'
import sys, email, email.policy
out = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
orig = open(sys.argv[2], 'rb').read().replace(b'\n', b'\r\n')
msg = email.message_from_bytes(out, policy=email.policy.default)
parts = msg.get_payload()
print(msg.get_content_type(), len(parts), parts[0].get_content_type(),
      parts[1].get_content_type(),
      'footer' if 'the list footer' in parts[0].get_content() else 'no-footer')
boundary = msg.get_param('boundary').encode()
body = out.split(b'\r\n\r\n', 1)[1]
inner = body.split(b'--' + boundary + b'\r\n')[2]
inner = inner.split(b'\r\n--' + boundary + b'--')[0]
inner = inner.split(b'\r\n\r\n', 1)[1]
print('identical' if inner == orig else 'different')
PY
)
t_check "wrap: multipart/mixed of text/plain (with the footer) and message/rfc822 ($(head -1 <<<"$wrapped"))" \
    test "$(head -1 <<<"$wrapped")" = "multipart/mixed 2 text/plain message/rfc822 footer"
t_check "wrap: the attached post byte for byte the original" \
    test "$(tail -1 <<<"$wrapped")" = identical
# A DKIM-signed post: its signature still verifies inside the wrapper
# (the attachment run through the policy again: libopendkim says pass).
printf 'From: Sig <sig@signed.example>\nTo: %s\nSubject: signed\nMessage-ID: <s@x>\nDate: Fri, 4 Dec 2026 12:00:00 +0000\n\nsigned body\n' $L |
    dkimsign sel signed.example "$tmp/signed.example/sel.private" \
        >"$tmp/mail" || t_fail "signing"
try sig@signed.example
t_check "wrap, signed post: accepted with dkim=pass ($(result))" \
    grep -q 'dkim=pass header.d=signed.example' "$tmp/out"
python3 - "$tmp/out" >"$tmp/inner" <<'PY'
import sys
out = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n')
part = b'Content-Type: message/rfc822\nContent-Disposition: inline\n\n'
inner = out.split(part, 1)[1].rsplit(b'\n--=_mlm_wrap_', 1)[0]
sys.stdout.buffer.write(inner)
PY
cmp -s "$tmp/inner" "$tmp/mail"
t_check "wrap, signed post: the attachment is the signed post" test $? -eq 0
cp "$tmp/inner" "$tmp/mail"
ctl list set $L dmarc_mitigation none
try sig@signed.example
t_check "wrap, signed post: the attachment's DKIM signature verifies" \
    grep -q 'dkim=pass header.d=signed.example' "$tmp/out"
ctl list set $L dmarc_mitigation wrap

mail 'Nora <nora@none.example>'
try nora@none.example
t_check "wrap: p=none not wrapped" \
    test "$(grep -ci '^content-type: multipart' "$tmp/out")" -eq 0

# A post approved with the list's password is never wrapped: the
# attachment would carry the password to every member. Munged instead.
ctl list set $L approve_password S3cretModPw
ctl list set $L posting moderated
mail 'Alice Example <alice@reject.example>' 'Approved: S3cretModPw'
try alice@reject.example
t_check "wrap, post approved by password: accepted ($(result))" test "$(result)" = accepted
t_check "... not wrapped: From munged, no attachment" \
    test "$(hdr From | tail -1)" = "Alice Example via dev|dev@lists.example" -a \
    "$(grep -ci '^content-type: message/rfc822' "$tmp/out")" -eq 0
t_check "... the password nowhere in what is sent" \
    bash -c "! grep -q S3cretModPw '$tmp/out'"
ctl list set $L posting open
ctl list set $L approve_password ''
ctl list set $L footer ''
ctl list set $L dmarc_mitigation munge_from

# A control byte in Reply-To: the new Reply-To is the author alone (the
# field could not be written back with it; the post must not fail).
mail 'Alice Example <alice@reject.example>' $'Reply-To: a@none.example \001'
try alice@reject.example
t_check "a control byte in Reply-To: accepted ($(result))" test "$(result)" = accepted
t_check "... Reply-To the author alone" test "$(hdr Reply-To)" = "COUNT 1
Alice Example|alice@reject.example"

# ctx:wrap_message on its own (tests/lists/policies/wrap.lua): the fields
# of the old body go, Content-Type and MIME-Version are the wrapper's.
sed "s|^policy = .*|policy = $here/policies/wrap.lua|" "$MLM_CONF" >"$tmp/wrap.conf"
printf 'From: a@b.example\nTo: x@y.example\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\nContent-Disposition: inline\nX-Wrap-Footer: foot\n\naGVsbG8K\n' >"$tmp/mail"
try a@b.example "$tmp/wrap.conf"
t_check "wrap_message: accepted ($(result))" test "$(result)" = accepted
t_check "wrap_message: one Content-Type, multipart/mixed with the boundary" \
    test "$(fields | grep -ci '^content-type$')" -eq 1 -a \
    "$(sed '/^$/q' "$tmp/out" | unfold | grep -c '^Content-Type: multipart/mixed; *boundary="=_mlm_wrap_')" -eq 1
t_check "wrap_message: one MIME-Version" \
    test "$(sed '/^$/q' "$tmp/out" | grep -ci '^mime-version: 1.0$')" -eq 1
t_check "wrap_message: Content-Transfer-Encoding and Content-Disposition gone" \
    test "$(fields | grep -ci '^content-\(transfer-encoding\|disposition\)$')" -eq 0
t_check "wrap_message: no text: the text part holds the footer only" \
    grep -qx 'foot' "$tmp/out"
t_check "wrap_message: the base64 body attached as it came" \
    grep -qx 'aGVsbG8K' "$tmp/out"
printf 'From: a@b.example\nX-Wrap-Twice: yes\n\nbody\n' >"$tmp/mail"
try a@b.example "$tmp/wrap.conf"
t_check "wrap_message twice: a Lua error, nothing applied" \
    grep -q 'wrapped already' <<<"$OUT"
t_check "wrap_message twice: no result: accepted" test "$(result)" != accepted
OUT=$("$CTL_BIN" -C "$tmp/wrap.conf" try --from early@example.net --to $L "$tmp/mail" 2>&1)
t_check "wrap_message in filter_sender: an error" \
    grep -q 'only possible in filter_message' <<<"$OUT"

# DNS down: the policy is unknown; with sender_authentication off the
# post is accepted, and made DMARC-safe rather than left to be refused.
ctl list set $L sender_authentication off
python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1], flush=True); time.sleep(60)' >"$tmp/silent.port" &
silent_pid=$!
for _ in $(seq 50); do [ -s "$tmp/silent.port" ] && break; sleep 0.1; done
sed -e "s/^dns_resolver = .*/dns_resolver = 127.0.0.1@$(cat "$tmp/silent.port")/" \
    -e 's/^dns_timeout = .*/dns_timeout = 1s/' "$MLM_CONF" >"$tmp/down.conf"
mail 'Nora <nora@none.example>'
try nora@none.example "$tmp/down.conf"
kill "$silent_pid" 2>/dev/null; wait "$silent_pid" 2>/dev/null
t_check "DNS down: accepted ($(result))" test "$(result)" = accepted
t_check "DNS down: From munged all the same" test "$(hdr From)" = "COUNT 1
Nora via dev|dev@lists.example"
ctl list set $L sender_authentication dmarc

t_done
