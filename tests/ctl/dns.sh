#!/usr/bin/env bash
# tests/ctl/dns.sh - mlm-ctl dns check against a private DNS server: the
# organisational domain from the Public Suffix List, DMARC policy
# discovery (the From domain's own record, else the organisational
# domain's with its sp=), broken records, SPF records, and a resolver that
# never answers (a temporary error within dns_timeout).
#
# Environment: top_builddir (defaults to this repository), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/dns.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlm-dns-test.XXXXXX")
trap 'dns_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT

dns_start "$tmp" \
    '_dmarc.reject.example. TXT "v=DMARC1; p=reject; adkim=s"' \
    '_dmarc.org.example. TXT "v=DMARC1; p=none; sp=quarantine"' \
    '_dmarc.split.example. TXT "v=DMARC1; p=qua" "rantine"' \
    '_dmarc.broken.example. TXT "v=DMARC1; p=bogus"' \
    '_dmarc.notfirst.example. TXT "p=reject; v=DMARC1"' \
    'reject.example. TXT "v=spf1 ip4:192.0.2.1 -all"' \
    'reject.example. TXT "google-site-verification=abc"' \
    || exit 1

conf=$tmp/mlm.conf
printf 'dns_resolver = %s\ndns_timeout = 3s\n' "$DNS_RESOLVER" >"$conf"
check() { "$top_builddir/ctl/mlm-ctl" -C "$conf" dns check "$@"; }

out=$(check reject.example); rc=$?
t_check "a domain's own record: exit 0" [ "$rc" -eq 0 ]
t_check "its policy" grep -qx 'dmarc policy: reject' <<<"$out"
t_check "strict DKIM alignment read" \
    grep -qx 'dmarc alignment: dkim strict, spf relaxed' <<<"$out"
t_check "its SPF record, not the other TXT" \
    grep -qx 'spf record: v=spf1 ip4:192.0.2.1 -all' <<<"$out"

out=$(check mail.sub.org.example)
t_check "organisational domain from the PSL" \
    grep -qx 'organisational domain: org.example' <<<"$out"
t_check "a subdomain falls back to the org domain's record" \
    grep -qx 'dmarc found at: _dmarc.org.example' <<<"$out"
t_check "... whose sp= applies" \
    grep -qx 'dmarc policy: quarantine' <<<"$out"
t_check "no SPF record: none" grep -qx 'spf record: none' <<<"$out"

out=$(check org.example)
t_check "the org domain itself: p=" grep -qx 'dmarc policy: none' <<<"$out"

out=$(check split.example)
t_check "a record in two strings is joined" \
    grep -qx 'dmarc policy: quarantine' <<<"$out"

out=$(check broken.example)
t_check "a bad p= is no record" grep -qx 'dmarc record: none' <<<"$out"
out=$(check notfirst.example)
t_check "v= not first is no record" grep -qx 'dmarc record: none' <<<"$out"
out=$(check nothing.example); rc=$?
t_check "nothing published: none, exit 0" \
    [ "$rc" -eq 0 -a "$(grep -c 'dmarc record: none' <<<"$out")" -eq 1 ]

out=$(check www.example.co.uk 2>&1)
t_check "a multi-label public suffix (co.uk)" \
    grep -qx 'organisational domain: example.co.uk' <<<"$out"

# A resolver that never answers: a bound UDP socket that reads nothing.
python3 -c 'import socket,time,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1], flush=True); time.sleep(60)' >"$tmp/silent.port" &
silent_pid=$!
for _ in $(seq 50); do [ -s "$tmp/silent.port" ] && break; sleep 0.1; done
printf 'dns_resolver = 127.0.0.1@%s\ndns_timeout = 2s\n' \
    "$(cat "$tmp/silent.port")" >"$conf"
start=$(date +%s)
out=$(check reject.example); rc=$?
took=$(($(date +%s) - start))
kill "$silent_pid" 2>/dev/null; wait "$silent_pid" 2>/dev/null
t_check "silent resolver: temperror, exit 1" \
    [ "$rc" -eq 1 -a "$(grep -c 'dmarc record: temperror' <<<"$out")" -eq 1 ]
t_check "silent resolver: within the budget (took ${took}s, bound 2s + 3)" \
    [ "$took" -le 5 ]

printf 'dns_resolver = not an address\n' >"$conf"
check reject.example >/dev/null 2>&1
t_check "a bad dns_resolver is an error" [ $? -eq 1 ]

t_done
