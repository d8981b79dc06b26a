#!/usr/bin/env bash
# Faults: the multiplexor killed mid-transaction, mlmd killed under a
# real Postfix, the spool full, the MTA disconnecting mid-body, 200
# clients at once, and privileges (daemons drop to the configured user;
# sockets 0660; spool 0700; reload refused to other users). For each, a
# post is refused with 4xx/5xx or delivered, never accepted and lost, and
# the spool holds no leftovers: mlmd keeps spool files for reuse (one per
# concurrent transaction at most, removed after a minute idle: see
# tests/milter/spool.sh), but never one a worker may still hold.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
BENCH=$top_builddir/tests/bench/mlm-bench
tmp=$(mktemp -d /tmp/mlm-faults.XXXXXX)
chmod 755 "$tmp"
cleanup() { pf_stop; mlm_stop >/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
result() { sed -n 's/^RESULT //p' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# mlmd's spool files (the outbox, mail a policy sent, is not mlmd's)
spool_empty() { [ -z "$(ls -A "$MLM_DIR/spool" | grep -vx outbox)" ]; }
spool_files() { find "$MLM_DIR/spool" -path "$MLM_DIR/spool/outbox" -prune -o -type f -print | wc -l; }
POLICY=$top_srcdir/tests/pool/slow.lua

# --- the multiplexor killed mid-transaction ---------------------------------
mlm_start "$POLICY" "lua_instruction_limit = 0" || exit 1
"$BENCH" -s "$MLM_MILTER" -n 1 -f slowmsg@pool.test >"$tmp/b1" 2>&1 &
bpid=$!
for i in $(seq 50); do
    mlm_ctl status 2>/dev/null | grep -q ' busy ' && break
    sleep 0.1
done
kill -9 "$MLM_MUX_PID"
wait $bpid
t_check "multiplexor killed mid-transaction: answered tempfail" test "$(result tempfail "$tmp/b1")" = 1
t_check "... and logged with the queue id" grep -q "B0000001: message stage failed" "$MLM_DIR/mlmd.log"
t_check "... and the spool file is removed, not kept for reuse" spool_empty
pkill -9 -f "mlm-worker.*$MLM_CONF" 2>/dev/null
mlm_start_mux
"$BENCH" -s "$MLM_MILTER" -n 5 >"$tmp/b2" 2>&1
t_check "mlmd reconnects by itself when the multiplexor is back" test "$(result continue "$tmp/b2")" = 5
mlm_stop >/dev/null

# --- the spool full ---------------------------------------------------------
mlm_start "$POLICY" || exit 1
kill "$MLM_MLMD_PID"; wait "$MLM_MLMD_PID" 2>/dev/null
rm -f "$MLM_DIR/milter.sock"
(ulimit -f 64; exec "$MLMD_BIN" -f -C "$MLM_CONF" -p "$MLM_MILTER" >>"$MLM_DIR/mlmd.log" 2>&1) &
MLM_MLMD_PID=$!
mlm_wait_socket "$MLM_DIR/milter.sock"
"$BENCH" -s "$MLM_MILTER" -n 3 -m 200000 >"$tmp/b3" 2>&1
t_check "spool full (RLIMIT_FSIZE): every post answered tempfail" test "$(result tempfail "$tmp/b3")" = 3
t_check "spool full: logged" grep -q "write failed" "$MLM_DIR/mlmd.log"
t_check "spool full: mlmd still up" kill -0 "$MLM_MLMD_PID"
t_check "spool full: no leftovers" spool_empty
"$BENCH" -s "$MLM_MILTER" -n 3 -m 2000 >"$tmp/b4" 2>&1
t_check "spool full: small posts still pass" test "$(result continue "$tmp/b4")" = 3

# --- the MTA disconnecting mid-body ------------------------------------------
cat >"$tmp/midbody.lua" <<LUA
local conn = mt.connect("$MLM_MILTER", 20, 0.1)
assert(conn, "connect")
mt.conninfo(conn, "client.test", "192.0.2.9")
mt.mailfrom(conn, "<a@b.test>")
mt.rcptto(conn, "<c@d.test>")
mt.header(conn, "Subject", "cut")
mt.eoh(conn)
mt.bodystring(conn, string.rep("x", 5000) .. "\r\n")
mt.disconnect(conn, false)
LUA
${MILTERTEST:-miltertest} -s "$tmp/midbody.lua" >/dev/null 2>&1
mlm_wait_until 10 eval '[ "$(spool_files)" -le 1 ]'
t_check "MTA gone mid-body: its spool file is kept for reuse, not left over ($(spool_files))" \
    test "$(spool_files)" -le 1
t_check "MTA gone mid-body: mlmd still up" kill -0 "$MLM_MLMD_PID"

# --- 200 clients at once ----------------------------------------------------
"$BENCH" -s "$MLM_MILTER" -c 200 -n 1000 >"$tmp/b5" 2>&1
t_check "200 concurrent clients: 1000 transactions, no errors" test "$(result errors "$tmp/b5")" = 0
t_check "200 concurrent clients: all answered continue (got $(result continue "$tmp/b5"))" \
    test "$(result continue "$tmp/b5")" = 1000
t_check "200 concurrent clients: at most one spool file per connection kept ($(spool_files))" \
    test "$(spool_files)" -le 200
kept=$(spool_files)
"$BENCH" -s "$MLM_MILTER" -c 1 -n 20 >"$tmp/b6" 2>&1
t_check "20 transactions after them reuse the $kept kept files (now $(spool_files))" \
    test "$(result continue "$tmp/b6")" = 20 -a "$kept" -ge 1 -a "$(spool_files)" = "$kept"
mlm_stop >/dev/null

# --- the database locked past busy_timeout ----------------------------------
mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $here/../lib/fake-sendmail.sh" || exit 1
export FAKE_SENDMAIL_DIR=$tmp
mlm_ctl list create dev@lists.example >/dev/null
mlm_ctl list set dev@lists.example nonmember_action hold >/dev/null
# The lock holder says when it holds the lock: the post must not start
# before (on a loaded machine python3 alone takes longer than any fixed
# sleep).
# On PostgreSQL the holder locks the lists table (every decision reads
# it) past the statement timeout.
if [ "$(mlm_backend)" = postgresql ]; then
    mlm_sql "BEGIN; LOCK TABLE lists IN ACCESS EXCLUSIVE MODE;
\\! touch $tmp/locked
SELECT pg_sleep(14); ROLLBACK;" >/dev/null &
    locked_why="canceling statement due to statement timeout\|lock timeout"
else
python3 - "$MLM_DIR/mlm.db" "$tmp/locked" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO meta (key, value) VALUES ('lock-test', 'x')")
open(sys.argv[2], "w").close()
time.sleep(14)
db.execute("ROLLBACK")
PY
    locked_why="database is locked"
fi
lock_pid=$!
for _ in $(seq 300); do [ -e "$tmp/locked" ] && break; sleep 0.1; done
t_check "the lock holder holds the database's lock" test -e "$tmp/locked"
"$BENCH" -s "$MLM_MILTER" -n 1 -t dev@lists.example -f stranger@example.net -T 60 >"$tmp/b7" 2>&1
t_check "database locked past busy_timeout: the post is answered tempfail, not lost" \
    test "$(result tempfail "$tmp/b7")" = 1
t_check "... and the reason is logged" grep -q "$locked_why" "$MLM_DIR/mlmd.log"
wait $lock_pid
"$BENCH" -s "$MLM_MILTER" -n 1 -t dev@lists.example -f stranger@example.net >"$tmp/b8" 2>&1
t_check "after the lock: the retry is held (250)" test "$(result discard "$tmp/b8")" = 1
t_check "... exactly once in the moderation queue" \
    test "$(mlm_ctl held dev@lists.example | wc -l)" = 1
mlm_stop >/dev/null

# --- mlmd killed under Postfix: milter_default_action, then resume --------
if pf_available; then
    mlm_start "$top_srcdir/tests/e2e/policies/expand.lua" || exit 1
    mlm_start_inet
    PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup >/dev/null && pf_start >/dev/null
    kill -9 "$MLM_MLMD_INET_PID"; wait "$MLM_MLMD_INET_PID" 2>/dev/null
    pf_send --from a@example.net --to dev@lists.example --body x
    t_check "mlmd down: Postfix answers 4xx (milter_default_action = tempfail)" pf_replied '^4[0-9][0-9] '
    mlm_start_inet
    pf_send --from a@example.net --to dev@lists.example --body x
    t_check "mlmd restarted: posts accepted again" pf_replied '^250 .*queued'
    t_check "... and expanded" pf_wait_deliveries 1 30
    pf_stop
    mlm_stop >/dev/null
fi

# --- privileges ---------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    getent passwd mlmtest >/dev/null || useradd -r -M -s /usr/sbin/nologin mlmtest
    getent passwd mlmpeer >/dev/null || useradd -r -M -s /usr/sbin/nologin -G mlmtest mlmpeer
    mlm_start "$POLICY" || exit 1
    mlm_stop >/dev/null
    MLM_DIR=$tmp/priv; mkdir -p "$MLM_DIR"; chmod 755 "$MLM_DIR"
    MLM_CONF=$MLM_DIR/mlm.conf; MLM_MILTER=unix:$MLM_DIR/milter.sock
    MLM_PORT=$(mlm_free_port)
    cp "$POLICY" "$MLM_DIR/policy.lua"; chmod 644 "$MLM_DIR/policy.lua"
    mlm_write_conf "$MLM_DIR/policy.lua"
    sed -i 's/^user =$/user = mlmtest/' "$MLM_CONF"
    chmod 644 "$MLM_CONF"
    mlm_start_mux && mlm_start_mlmd
    uid=$(id -u mlmtest)
    worker=$(pgrep -f "mlm-worker.*$MLM_CONF" | head -1)
    for p in "$MLM_MUX_PID" "$MLM_MLMD_PID" "$worker"; do
        t_check "process $p runs as mlmtest, not root" \
            test "$(awk '/^Uid:/ {print $2 $3 $4 $5}' /proc/"$p"/status)" = "$uid$uid$uid$uid"
    done
    for s in mx.sock ctl.sock milter.sock; do
        t_check "$s is mode 0660 owned by mlmtest" \
            test "$(stat -c '%a %U' "$MLM_DIR/$s")" = "660 mlmtest"
    done
    t_check "spool is mode 0700 owned by mlmtest" test "$(stat -c '%a %U' "$MLM_DIR/spool")" = "700 mlmtest"
    t_check "status works for a user in the daemon's group" \
        setpriv --reuid=mlmpeer --regid=mlmpeer --init-groups "$CTL_BIN" -C "$MLM_CONF" status
    out=$(setpriv --reuid=mlmpeer --regid=mlmpeer --init-groups "$CTL_BIN" -C "$MLM_CONF" reload 2>&1)
    t_check "reload refused to another user (SO_PEERCRED): $out" grep -q "permission denied" <<<"$out"
    t_check "reload allowed to root" mlm_ctl reload
    out=$(setpriv --reuid=mlmpeer --regid=mlmpeer --init-groups /usr/bin/python3 - \
        "$MLM_DIR/mx.sock" request 2 a@b.test <"$here/../pool/mx-client.py" 2>&1)
    t_check "mx_socket: a member of the daemon's group is refused all the same ($out)" \
        bash -c '[[ "$1" == closed* ]]' _ "$out"
    "$BENCH" -s "$MLM_MILTER" -n 5 >"$tmp/b6" 2>&1
    t_check "serving as mlmtest" test "$(result continue "$tmp/b6")" = 5
    KEEP_TMP=1 mlm_stop >/dev/null
    sed -i 's/^user = mlmtest$/user = no-such-user-here/' "$MLM_CONF"
    timeout 20 "$MUX_BIN" -f -C "$MLM_CONF" >"$tmp/nouser.log" 2>&1
    t_check "a configured user that does not exist: refuses to run (rc $?)" \
        grep -Eq "user '?no-such-user-here'? .*does not exist" "$tmp/nouser.log"
    sed -i 's/^user = no-such-user-here$/user = root/' "$MLM_CONF"
    timeout 20 "$MUX_BIN" -f -C "$MLM_CONF" >"$tmp/rootuser.log" 2>&1
    t_check "user = root: the multiplexor refuses to run as root (rc $?)" \
        grep -q "user 'root' is root" "$tmp/rootuser.log"
    t_check "user = root: mlm-ctl works as root all the same" \
        "$CTL_BIN" -C "$MLM_CONF" lists
fi
t_done
