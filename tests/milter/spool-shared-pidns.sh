#!/usr/bin/env bash
# Two mlmd sharing spool_dir in PID namespaces of their own (two
# containers on one spool volume) have the same pid. mlmd removes at its
# stop the spool files of its own open transactions, named by a random
# tag of its own (mlmd/spool.c), never by its pid: stopping one leaves
# the other's open transaction its file, and its end of message is
# answered.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
a= b= client=
# the mlmd inside the namespace that unshare process $1 made
ns_mlmd() { pgrep -P "$(pgrep -P "$1" | head -n 1)" | head -n 1; }
cleanup() {
    [ -n "$client" ] && kill "$client" 2>/dev/null
    # mlmd A stops as mlmd does (its own spool files go), then the rest
    if [ -n "$a" ]; then
        m=$(ns_mlmd "$a")
        [ -n "$m" ] && kill -TERM "$m" && mlm_wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' _ "$m"
    fi
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
# stop mlmd B (SIGTERM to its mlmd, pid 2 in its namespace)
mlmd_b=$(ns_mlmd "$b")
kill -TERM "$mlmd_b"
mlm_wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' _ "$mlmd_b"
t_check "stopping mlmd B leaves mlmd A's spool file" spool_file
wait "$client"
t_check "mlmd A's transaction still goes through at end of message ($(tr '\n' ' ' <"$MLM_DIR/client.out"))" \
    grep -q "^eom: continue" "$MLM_DIR/client.out"
client=
t_done
