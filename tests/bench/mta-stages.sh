#!/usr/bin/env bash
# tests/bench/mta-stages.sh - what each SMTP stage costs the client when
# the MTA asks mlmd, by MTA and milter socket: a private Sendmail
# (tests/lib/sendmail.sh) with mlmd on a unix socket and on inet:
# loopback, a private Postfix (tests/lib/postfix.sh) on inet:, and each
# MTA without a milter for reference. N transactions (default 50), one at a
# time, each its own connection, a member's post to a 3-member list (the
# shipped policy); for each stage the median (p50) and p90 time from the
# client's command to the MTA's reply.
#
#   tests/bench/mta-stages.sh            N=200 tests/bench/mta-stages.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/sendmail.sh"
N=${N:-50}
tmp=$(mktemp -d /tmp/mlm-stages.XXXXXX)
trap 'pf_stop; sm_stop; mlm_stop >/dev/null; rm -rf "$tmp"' EXIT

# stages PORT LABEL: N transactions; one line of per-stage figures.
stages() {
    python3 - "$1" "$N" "$2" <<'EOF'
import socket, sys, time
port, n, label = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
names = ["connect", "ehlo", "mail", "rcpt", "data", "eom"]
t = {k: [] for k in names}
for i in range(n):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")
    def reply():
        while True:
            line = f.readline().decode()
            if line[3:4] != "-":
                return line
    def timed(name, data):
        a = time.monotonic()
        if data is not None:
            s.sendall(data)
        r = reply()
        t[name].append((time.monotonic() - a) * 1000)
        return r
    r = reply(); t["connect"].append((time.monotonic() - t0) * 1000)
    timed("ehlo", b"EHLO client.mlm.test\r\n")
    timed("mail", b"MAIL FROM:<alice@example.org>\r\n")
    r = timed("rcpt", b"RCPT TO:<dev@lists.example>\r\n")
    if not r.startswith("250"):
        sys.exit("RCPT refused: " + r)
    timed("data", b"DATA\r\n")
    s.sendall(b"From: alice@example.org\r\nTo: dev@lists.example\r\nSubject: stage %d\r\n\r\nbody\r\n" % i)
    r = timed("eom", b".\r\n")
    if not r.startswith("250"):
        sys.exit("post refused: " + r)
    s.sendall(b"QUIT\r\n"); reply(); s.close()
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]
print("%-26s" % label + "  ".join("%s %5.1f/%5.1f" % (k, pct(t[k], .5), pct(t[k], .9)) for k in names))
EOF
}

[ "$(id -u)" = 0 ] || { echo "mta-stages.sh: run as root" >&2; exit 1; }
sm_available && pf_available || exit 1
mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $top_srcdir/tests/lib/fake-sendmail.sh" \
    >/dev/null || exit 1
mlm_start_inet >/dev/null || exit 1
mlm_ctl list create dev@lists.example >/dev/null
for m in alice bob carol; do mlm_ctl member add dev@lists.example $m@example.org >/dev/null; done
echo "p50/p90 ms per stage, $N transactions, one at a time:"

for spec in none "$MLM_MILTER" "inet:$MLM_PORT@127.0.0.1"; do
    if [ "$spec" = none ]; then SM_MILTER= sm_setup || exit 1; else SM_MILTER=$spec sm_setup || exit 1; fi
    sm_start || exit 1
    # the list address must be expanded to be relayed: without a milter
    # it goes to the sink as it is
    stages "$SM_PORT" "sendmail ${spec%%:*}" || exit 1
    sm_stop
done
for spec in none "inet:127.0.0.1:$MLM_PORT"; do
    if [ "$spec" = none ]; then PF_MILTER= pf_setup || exit 1; else PF_MILTER=$spec pf_setup || exit 1; fi
    pf_start || exit 1
    stages "$PF_PORT" "postfix ${spec%%:*}" || exit 1
    pf_stop
done
