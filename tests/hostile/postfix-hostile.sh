#!/usr/bin/env bash
# Hostile mail through a real Postfix to a list run by the shipped policy:
# thousands of header fields and MIME parts, deep nesting, raw 8-bit and
# broken encodings, odd addresses, a subject built to smuggle CR/LF past
# the prefix. Each gets a defined SMTP answer, the daemons stay up, and
# every delivered copy is well formed (no header line holding the
# smuggled Bcc).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
tmp=$(mktemp -d /tmp/mlm-ph.XXXXXX)
cleanup() { pf_stop; rm -rf "$tmp"; mlm_stop || exit 1; }
trap cleanup EXIT
mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $here/../lib/fake-sendmail.sh" || exit 1
export FAKE_SENDMAIL_DIR=$tmp
mlm_start_inet || exit 1
L=dev@lists.example
mlm_ctl list create $L --prefix "[dev]" >/dev/null
mlm_ctl list set $L footer "-- dev" >/dev/null
mlm_ctl member add $L alice@example.org >/dev/null
mlm_ctl member add $L bob@example.org >/dev/null
PF_MILTER="inet:127.0.0.1:$MLM_PORT" PF_MAIN_EXTRA="message_size_limit = 60000000" \
    pf_setup >/dev/null || exit 1
pf_start >/dev/null || exit 1

python3 - "$tmp" <<'PY'
import base64, os, sys
d = sys.argv[1]
def msg(name, headers, body):
    head = b"From: alice@example.org\r\nTo: dev@lists.example\r\n" + headers
    open(os.path.join(d, name + ".eml"), "wb").write(head + b"\r\n" + body)
msg("headers5000", b"Subject: many\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(5000)), b"x\r\n")
parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\np%d\r\n" % i for i in range(1000)) + b"--B--\r\n"
msg("parts1000", b"Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n", parts)
nest = b"".join(b"--B%d\r\nContent-Type: multipart/mixed; boundary=\"B%d\"\r\n\r\n" % (i, i + 1) for i in range(200))
nest += b"--B200\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--B200--\r\n" + b"".join(b"--B%d--\r\n" % i for i in range(199, -1, -1))
msg("nested200", b"Subject: deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B0\"\r\n", nest)
msg("raw8bit", b"Subject: caf\xe9 \xff\xfe =?UTF-8?B?####?= =?x?Q?=ZZ?=\r\n", b"body \xff\r\n")
msg("addresses", b"Subject: addr\r\nReply-To: \"a \\\"q\\\" b\" <q@example.org>\r\nCc: <>, \"\"@, @, <<<>>>\r\n", b"x\r\n")
evil = base64.b64encode(b"hi\r\nBcc: victim@example.org\r\n")
msg("crlf", b"Subject: =?UTF-8?B?" + evil + b"?=\r\n", b"x\r\n")
msg("big", b"Subject: big\r\n", (b"y" * 998 + b"\r\n") * 20000)
PY
for f in headers5000 parts1000 nested200 raw8bit addresses crlf big; do
    pf_sink_clear
    pf_send --from alice@example.org --to $L --data "$tmp/$f.eml"
    t_check "$f: a defined SMTP answer" pf_replied '^(250|4[0-9][0-9]|5[0-9][0-9]) [0-9]\.'
    t_check "$f: daemons still up" kill -0 "$MLM_MUX_PID" "$MLM_MLMD_INET_PID"
    if pf_replied '^250 .*queued'; then
        pf_wait_queue_empty 60 >/dev/null
        t_check "$f: copies delivered" test "$(pf_deliveries)" -ge 1
        for c in $(pf_sink_files); do
            if grep -qi '^Bcc: victim' "$c"; then t_fail "$f: a smuggled Bcc header was delivered"; fi
        done
        if [ "$f" = crlf ]; then
            t_check "crlf: delivered with the prefix, the CR/LF still encoded" \
                bash -c "grep -h '^Subject:' $SINK_DIR/* | grep -q '=?UTF-8?'"
        fi
    fi
done
t_done
