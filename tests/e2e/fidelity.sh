#!/usr/bin/env bash
# Message fidelity on the real path: Python's smtplib -> private Postfix ->
# mlmd -> multiplexor -> the shipped list policy, deliveries captured by
# smtp-sink. Every message of ctl/fidelity.sh's corpus is posted: the
# shapes of issue 20 (tests/ctl/fidelity/), CPython's email test messages
# and the footer writer's corpus (less deep-200.eml, refused past
# mime_max_depth). What a member gets is checked by
# tests/ctl/fidelity-check.py and compared with what `mlm-ctl try --output`
# writes for the same message, byte for byte less the Received field
# Postfix adds: Postfix here rewrites no header field and drops none.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mlm-e2e-fidelity.XXXXXX")
cleanup() { pf_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$work"; mlm_stop || exit 1; }
trap cleanup EXIT
mlm_start "$top_srcdir/lua/policy.lua" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
# Postfix rewrites and adds header fields (From, Date, Message-Id, qualified
# addresses) only for local_header_rewrite_clients, and drops those of
# message_drop_headers (Return-Path, Bcc, ...): with neither, all it adds to
# what mlmd passes on is its Received field.
PF_MAIN_EXTRA="local_header_rewrite_clients =
message_drop_headers =" \
    PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || exit 1
pf_start || exit 1

L=dev@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --posting open --prefix "[dév]"
ctl list set $L footer $'-- \ndev list'
ctl member add $L bob@example.org

# post FILE: the file's bytes as the message (CRLF, no mbox From line),
# sent with smtplib: swaks adds line ends of its own after --data.
post() {
    python3 - "$PF_PORT" "$1" <<'EOF'
import smtplib, sys
data = open(sys.argv[2], "rb").read()
if data.startswith(b"From "):
    data = data.split(b"\n", 1)[1]
data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), "client.mlm.test") as s:
    s.sendmail("alice@example.net", ["dev@lists.example"], data)
EOF
}

# strip_postfix [sink]: stdin without the Received fields Postfix adds,
# with LF line ends; with "sink", also without the line end smtp-sink puts
# after each message.
strip_postfix() {
    python3 -c '
import re, sys
data = sys.stdin.buffer.read().replace(b"\r\n", b"\n")
if len(sys.argv) > 1 and data.endswith(b"\n"):
    data = data[:-1]
head, sep, body = data.partition(b"\n\n")
out, skip = [], False
for line in head.split(b"\n"):
    if line[:1] in (b" ", b"\t"):
        if not skip:
            out.append(line)
        continue
    skip = re.match(rb"(?i)received:", line) is not None
    if not skip:
        out.append(line)
sys.stdout.buffer.write(b"\n".join(out) + sep + body)' "$@"
}

export FIDELITY_TALLY=$work/tally
: >"$FIDELITY_TALLY"
# MLM_FIDELITY_SAMPLE=N (the sanitizer pass of .ci/run): every Nth message
# of the two corpora, every issue-shaped one
sample=${MLM_FIDELITY_SAMPLE:-1} n=0
for f in "$top_srcdir"/tests/ctl/fidelity/*.eml \
    "$top_srcdir"/tests/corpus/cpython-email/msg_*.txt \
    "$top_srcdir"/tests/unit/footer/*.eml; do
    [ "${f##*/}" = deep-200.eml ] && continue
    case $f in
    */tests/ctl/fidelity/*) ;;
    *) n=$((n + 1)); [ $((n % sample)) -eq 0 ] || continue ;;
    esac
    name=${f##*/}
    pf_sink_clear
    if ! post "$f" 2>"$work/err"; then
        t_fail "$name: not accepted: $(tr '\n' '|' <"$work/err")"
        continue
    fi
    if ! pf_wait_deliveries 1 30; then
        t_fail "$name: no delivery"
        continue
    fi
    pf_message "$(pf_sink_files | head -n1)" >"$work/delivered"
    mlm_ctl try --from alice@example.net --to $L --output "$work/try-message" "$f" \
        >"$work/try" 2>/dev/null
    # the checker reads try's form: its lines, an empty line, the message
    { sed '/^$/q' "$work/try"; strip_postfix sink <"$work/delivered"; } >"$work/real"
    if python3 "$top_srcdir/tests/ctl/fidelity-check.py" "$f" "$work/real" \
        "[dév]" "dev list" "<mailto:$L>" >"$work/problems"; then
        t_ok "$name: delivered with nothing lost or mangled"
    else
        t_fail "$name: $(tr '\n' '|' <"$work/problems")"
    fi
    strip_postfix <"$work/try-message" >"$work/try-compared"
    if strip_postfix sink <"$work/delivered" | cmp -s - "$work/try-compared"; then
        t_ok "$name: mlm-ctl try printed what Postfix delivered"
    else
        t_fail "$name: try and the real path differ: $(strip_postfix sink <"$work/delivered" |
            diff "$work/try-compared" - | head -6 | tr '\n' '|')"
    fi
done
unset FIDELITY_TALLY
# the figures: messages, properties checked, problems found
python3 "$top_srcdir/tests/ctl/fidelity-check.py" --summary "$work/tally" |
    sed 's/^/# real path: /'
[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
