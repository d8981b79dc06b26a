#!/usr/bin/env bash
# MIME structure past mime_max_parts, mime_max_depth or mime_max_headers
# is refused 552 5.3.4 before GMime builds it, and the worker's memory
# stays bounded: the 10 MB mail of 1.4 million empty parts that took a
# worker to 1.9 GB, 10 MB of header lines in one part (840 MB),
# nesting past the limit through multipart, message/rfc822 and
# multipart/digest, a boundary in RFC 2231 pieces. Mail within the limits
# (1,000 parts, 50 deep, a patch full of "--" lines) is not touched.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
trap 'mlm_stop || exit 1' EXIT
mlm_start "$here/mime.lua" "workers_min = 1" "workers_max = 1" \
    "request_timeout = 120" "decision_timeout = 110" || exit 1
run() { timeout 300 python3 "$here/mime-limits.py" "$MLM_MILTER" "$1"; }
worker_pid() { "$CTL_BIN" -C "$MLM_CONF" status | awk '$1 ~ /^[0-9]+$/ && $2 > 0 { print $2; exit }'; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

pid=$(worker_pid)
out=$(run empty-parts)
t_check "1.4 million empty parts: refused 552 5.3.4 naming mime_max_parts ($out)" \
    bash -c '[[ "$1" == "552 5.3.4 "*"more than 10000 MIME parts (mime_max_parts)"* ]]' _ "$out"
t_check "1.4 million empty parts: the same worker answered (pid $pid, now $(worker_pid))" \
    test "$pid" = "$(worker_pid)"
hwm=$(hwm_kb "$pid")
t_check "1.4 million empty parts: the worker's peak RSS stayed under 200 MB (VmHWM ${hwm} kB)" \
    test "${hwm:-999999}" -lt 204800
for c in deep-multipart deep-message digest-deep; do
    out=$(run $c)
    t_check "$c 150 deep: refused 552 5.3.4 naming mime_max_depth ($out)" \
        bash -c '[[ "$1" == "552 5.3.4 "*"(mime_max_depth)"* ]]' _ "$out"
done
out=$(run header-flood)
t_check "1.7 million header lines in one part: refused 552 5.3.4 naming mime_max_headers ($out)" \
    bash -c '[[ "$1" == "552 5.3.4 "*"more than 50000 header fields (mime_max_headers)"* ]]' _ "$out"
hwm=$(hwm_kb "$pid")
t_check "header lines: the worker's peak RSS stayed under 200 MB (VmHWM ${hwm} kB)" \
    test "${hwm:-999999}" -lt 204800
out=$(run headers-ok)
t_check "2,000 parts of 5 header fields: within the limits ($out)" \
    bash -c '[[ "$1" == "continue | X-Parts: 2000" ]]' _ "$out"
out=$(run rfc2231-parts)
t_check "20,000 parts under an RFC 2231 boundary: refused ($out)" \
    bash -c '[[ "$1" == "552 5.3.4 "*"(mime_max_parts)"* ]]' _ "$out"
out=$(run caught)
t_check "a policy that catches the error still gets the message refused ($out)" \
    bash -c '[[ "$1" == "552 5.3.4 "* && "$1" == *"X-Parts: None" ]]' _ "$out"
out=$(run dropped)
t_check "a policy that catches the error and discards: its discard stands ($out)" \
    bash -c '[[ "$1" == "discard | "* ]]' _ "$out"
out=$(run many-parts-ok)
t_check "1,000 parts: within the limit, all seen ($out)" \
    bash -c '[[ "$1" == "continue | X-Parts: 1000" ]]' _ "$out"
out=$(run deep-ok)
t_check "50 deep: within the limit ($out)" \
    bash -c '[[ "$1" == "continue | X-Parts: 1" ]]' _ "$out"
out=$(run dashes-ok)
t_check "a patch with 20,000 lines starting with --: not MIME, not refused ($out)" \
    bash -c '[[ "$1" == "continue | X-Parts: 1" ]]' _ "$out"
t_check "the refusals are logged" grep -q "message refused: more than 10000 MIME parts" "$MLM_DIR/mux.log"
mlm_stop >/dev/null || t_fail "mlm_stop: daemons or spool not clean"
# mime_max_parts = 0 and mime_max_depth = 0: no limits of their own;
# worker_memory_limit is the bound left: GMime's tree of the 1.4 million
# parts runs into it, the worker dies, the request gets failure_action,
# and the pool serves on.
mlm_start "$here/mime.lua" "mime_max_parts = 0" "mime_max_depth = 0" \
    "worker_memory_limit = 256M" "workers_min = 1" "workers_max = 1" \
    "request_timeout = 120" "decision_timeout = 110" || exit 1
out=$(run deep-multipart)
t_check "limits 0: 150 deep is parsed ($out)" bash -c '[[ "$1" == "continue | X-Parts: 1" ]]' _ "$out"
if grep -q "worker_memory_limit ignored" "$MLM_DIR/mux.log"; then
    echo "ok - # skip worker_memory_limit: an AddressSanitizer build ignores it"
else
    pid=$(worker_pid)
    out=$(run empty-parts)
    t_check "limits 0, worker_memory_limit 256M: the 1.4 million parts fail the request ($out)" \
        bash -c '[[ "$1" == "451 4.3.0 "* ]]' _ "$out"
    t_check "... the worker that ran into the limit is gone (pid $pid)" \
        bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
    out=$(run many-parts-ok)
    t_check "... and the pool serves on ($out)" \
        bash -c '[[ "$1" == "continue | X-Parts: 1000" ]]' _ "$out"
fi
t_done
