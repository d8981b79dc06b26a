#!/usr/bin/env bash
# Defect repro (review of ad09d14..bf039fa): mlmd removes at its stop the
# spool files named mlmd.<its pid>.*, taken for its own open
# transactions. Two mlmd sharing spool_dir in PID namespaces of their own
# (two containers on one spool volume, the usual container setup) have
# the same pid: stopping one removes the spool file of the other's open
# transaction, whose end of message then finds no message.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
a= b= client=
cleanup() {
    [ -n "$client" ] && kill "$client" 2>/dev/null
    [ -n "$a" ] && kill "$a" 2>/dev/null
    [ -n "$b" ] && kill "$b" 2>/dev/null
    mlm_stop
}
trap cleanup EXIT
unshare -pf true 2>/dev/null || { echo "SKIP: no PID namespaces"; exit 77; }
mlm_start "$here/policies/basic.lua" || exit 1
kill "$MLM_MLMD_PID"; wait "$MLM_MLMD_PID" 2>/dev/null; MLM_MLMD_PID=
# each mlmd is pid 2 of a namespace of its own (pid 1: the shell)
start_ns() { # SOCKET LOG
    unshare -pf --kill-child bash -c '"$@"; :' _ "$MLMD_BIN" -f -C "$MLM_CONF" -p "unix:$1" >>"$2" 2>&1 &
}
start_ns "$MLM_DIR/a.sock" "$MLM_DIR/a.log"; a=$!
start_ns "$MLM_DIR/b.sock" "$MLM_DIR/b.log"; b=$!
mlm_wait_socket "$MLM_DIR/a.sock"
mlm_wait_socket "$MLM_DIR/b.sock"
python3 "$here/scripts/milter-client.py" "unix:$MLM_DIR/a.sock" \
    mail '<poster@example.net>' rcpt '<someone@lists.test>' \
    header Subject shared eoh body 'hello' pause 4 eom >"$MLM_DIR/client.out" 2>&1 &
client=$!
spool_file() { find "$MLM_DIR/spool" -maxdepth 1 -name 'mlmd.*' | grep -q .; }
t_check "mlmd A's open transaction has its spool file" mlm_wait_until 10 spool_file
ls "$MLM_DIR/spool"
# stop mlmd B (SIGTERM to its mlmd, pid 2 in its namespace)
pkill_b=$(pgrep -P "$(pgrep -P "$b" | head -1)" | head -1)
kill -TERM "$pkill_b"
mlm_wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' _ "$pkill_b"
cat "$MLM_DIR/b.log" | tail -2
t_check "stopping mlmd B leaves mlmd A's spool file" spool_file
wait "$client"
t_check "mlmd A's transaction still answered at end of message ($(tr '\n' ' ' <"$MLM_DIR/client.out"))" \
    grep -q "^eom: " "$MLM_DIR/client.out"
client=
t_done
