# tests/lib/dns.sh - a private DNS server for one test: unbound serving
# local data on a random loopback port, no recursion, no internet.
# Source it after mlm.sh, then:
#
#   dns_start DIR RECORD...   each RECORD is an unbound local-data string,
#                             e.g. '_dmarc.a.example. TXT "v=DMARC1; p=reject"';
#                             every other name answers NXDOMAIN (the whole
#                             tree is local). Sets DNS_PORT and DNS_RESOLVER
#                             (the dns_resolver value).
#   dns_stop                  stops it (safe in an EXIT trap).

UNBOUND_BIN=${UNBOUND_BIN:-/usr/sbin/unbound}

dns_start() { # DIR RECORD...
    local dir=$1 rec
    shift
    DNS_PORT=$(mlm_free_port)
    DNS_RESOLVER=127.0.0.1@$DNS_PORT
    {
        echo "server:"
        echo "  interface: 127.0.0.1"
        echo "  port: $DNS_PORT"
        echo "  do-ip6: no"
        echo "  do-daemonize: no"
        echo "  username: \"\""
        echo "  chroot: \"\""
        echo "  directory: \"$dir\""
        echo "  pidfile: \"$dir/unbound.pid\""
        echo "  use-syslog: no"
        echo "  logfile: \"$dir/unbound.log\""
        echo "  access-control: 127.0.0.0/8 allow"
        echo "  local-zone: \".\" static"
        for rec in "$@"; do
            echo "  local-data: '$rec'"
        done
        echo "remote-control:"
        echo "  control-enable: no"
    } >"$dir/unbound.conf"
    "$UNBOUND_BIN" -d -c "$dir/unbound.conf" >>"$dir/unbound.log" 2>&1 &
    DNS_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        if python3 - "$DNS_PORT" <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x00\x00\x06\x00\x01"
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
s.recvfrom(512)
PY
        sleep 0.1
    done
    echo "dns: unbound did not answer on port $DNS_PORT" >&2
    cat "$dir/unbound.log" >&2
    return 1
}

dns_stop() {
    mlm_kill "${DNS_PID:-}"
    DNS_PID=
}
