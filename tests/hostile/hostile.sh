#!/usr/bin/env bash
# Hostile mail through mlmd's real socket with the shipped list policy:
# huge bodies and headers, thousands of fields and parts, deep MIME, bad
# bytes and encodings, odd addresses, CR/LF injection attempts. Each gets
# a defined answer, bounded memory, and the daemons stay up.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
trap 'mlm_stop || exit 1' EXIT
mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $here/../lib/fake-sendmail.sh" \
    "request_timeout = 120" "decision_timeout = 110" || exit 1
export FAKE_SENDMAIL_DIR=$MLM_DIR
mlm_ctl list create dev@lists.example --prefix "[dev]" >/dev/null
mlm_ctl list set dev@lists.example footer "-- the dev list" >/dev/null
mlm_ctl member add dev@lists.example alice@example.org >/dev/null
mlm_ctl member add dev@lists.example bob@example.org >/dev/null
python3 "$here/hostile.py" "$MLM_MILTER" "$MLM_MUX_PID" "$MLM_MLMD_PID"
rc=$?
rss_max=0
for pid in $(pgrep -f "mlm-worker.*$MLM_CONF") "$MLM_MLMD_PID" "$MLM_MUX_PID"; do
    hwm=$(awk '/^VmHWM:/ {print $2}' /proc/"$pid"/status 2>/dev/null)
    [ -n "$hwm" ] && [ "$hwm" -gt "$rss_max" ] && rss_max=$hwm
done
echo "# largest peak RSS of a daemon: ${rss_max} kB"
if [ "$rss_max" -lt 400000 ]; then echo "ok - memory bounded (peak ${rss_max} kB < 400 MB)"; else
    echo "FAIL - peak RSS ${rss_max} kB"; rc=1; fi
exit $rc
