#!/usr/bin/env bash
# tests/bench/big-list.sh - what an MTA's add-recipient costs as a list
# grows: one post to lists of 1,000, 5,000 and 20,000 members through a
# private Postfix (tests/lib/postfix.sh, milter on inet: loopback, as
# examples/postfix-main.cf.snippet) and a private Sendmail
# (tests/lib/sendmail.sh, milter on a unix socket, as
# examples/sendmail.mc.snippet), the shipped list policy. For each post:
# the time from the client's end of data (".") to the MTA's final reply,
# which holds mlm's decision and every add-recipient the MTA applies, and
# mlmd's own time for the decision (mlmd's log, ms=). The deliveries are
# counted: every member must reach smtp-sink.
#
#   tests/bench/big-list.sh                      (sizes 1000 5000 20000)
#   SIZES="1000 20000 50000" MTAS=sendmail REPEAT=1 tests/bench/big-list.sh
#   SM_MILTER_INET=1 MTAS=sendmail tests/bench/big-list.sh   (Sendmail on inet:)
#   DELIVER=0 ...     do not wait for the deliveries (big sizes: Sendmail
#                     takes minutes to deliver 50,000 to smtp-sink)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/sendmail.sh"
SIZES=${SIZES:-1000 5000 20000}
MTAS=${MTAS:-postfix sendmail}
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d /tmp/mlm-biglist.XXXXXX)
trap 'pf_stop; sm_stop; mlm_stop >/dev/null; rm -rf "$tmp"' EXIT

# eom_ms PORT TO: one post from alice@example.org to TO over SMTP; prints
# the milliseconds from the "." to the final reply, then that reply.
eom_ms() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, to = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=600)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline().decode()
        if line[3:4] != "-":
            return line.strip()
def cmd(c):
    s.sendall(c.encode() + b"\r\n")
    return reply()
reply()
cmd("EHLO client.mlm.test")
cmd("MAIL FROM:<alice@example.org>")
r = cmd("RCPT TO:<%s>" % to)
if not r.startswith("250"):
    print("0", r); sys.exit(0)
cmd("DATA")
s.sendall(b"From: alice@example.org\r\nTo: %s\r\nSubject: big list\r\n\r\n"
          % to.encode() + b"a post to a big list\r\n" * 20)
t0 = time.monotonic()
s.sendall(b".\r\n")
r = reply()
print("%.0f" % ((time.monotonic() - t0) * 1000), r)
cmd("QUIT")
EOF
}

# delivered: recipients in the sink's complete files.
delivered() {
    local f n=0
    for f in $(pf_sink_files); do n=$((n + $(pf_rcpts "$f" | wc -l))); done
    echo "$n"
}

run_mta() { # MTA: the sizes through it
    local mta=$1 n r out ms reply dms got
    mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $top_srcdir/tests/lib/fake-sendmail.sh" \
        >/dev/null || exit 1
    FAKE_SENDMAIL_DIR=$tmp
    export FAKE_SENDMAIL_DIR
    mlm_ctl list create poster@lists.example >/dev/null
    for n in $SIZES; do
        mlm_ctl list create "big$n@lists.example" >/dev/null
        awk -v n="$n" 'BEGIN { print "alice@example.org"
            for (i = 1; i < n; i++) printf "member%d@d%d.example.org\n", i, i % 100 }' \
            >"$tmp/members$n.txt"
        mlm_ctl member import "big$n@lists.example" "$tmp/members$n.txt" >/dev/null || exit 1
    done
    case $mta in
    postfix)
        mlm_start_inet >/dev/null || exit 1
        PF_MILTER="inet:127.0.0.1:$MLM_PORT" PF_RELAY_DOMAINS="lists.example example.org" \
            pf_setup || exit 1
        pf_start || exit 1
        port=$PF_PORT
        ;;
    sendmail)
        if [ -n "${SM_MILTER_INET:-}" ]; then
            mlm_start_inet >/dev/null || exit 1
            SM_MILTER="inet:$MLM_PORT@127.0.0.1" sm_setup || exit 1
        else
            SM_MILTER=$MLM_MILTER sm_setup || exit 1
        fi
        sm_start || exit 1
        port=$SM_PORT
        ;;
    esac
    for n in $SIZES; do
        for ((r = 1; r <= REPEAT; r++)); do
            pf_sink_clear
            out=$(eom_ms "$port" "big$n@lists.example")
            ms=${out%% *} reply=${out#* }
            dms=$(cat "$MLM_DIR"/mlmd*.log | grep "message: from=<alice@example.org>" |
                tail -n1 | sed -n 's/.* ms=\([0-9.]*\).*/\1/p')
            # every member's copy, then the queue empty
            got=-
            for ((i = 0; i < 600 && ${DELIVER:-1}; i++)); do
                got=$(delivered)
                [ "$got" -ge "$n" ] && break
                sleep 0.5
            done
            printf '%-8s %6d members: end of data to reply %6d ms (mlmd %s ms), delivered %s, %s\n' \
                "$mta" "$n" "$ms" "${dms:-?}" "$got" "$reply"
        done
    done
    pf_stop
    sm_stop
    mlm_stop >/dev/null
}

[ "$(id -u)" = 0 ] || { echo "big-list.sh: run as root" >&2; exit 1; }
for mta in $MTAS; do
    case $mta in
    postfix) pf_available || exit 1 ;;
    sendmail) sm_available || exit 1 ;;
    *) echo "MTAS: postfix or sendmail, not $mta" >&2; exit 1 ;;
    esac
    run_mta "$mta"
done
