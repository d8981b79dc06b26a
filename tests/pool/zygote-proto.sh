#!/usr/bin/env bash
# The fork server's channel (common/zygote_proto.h) checked on both ends:
# mlm-worker -Z answers a good FORK with FORKED and its ticket, and leaves,
# logging why, at a FORK of another version, without a descriptor or of
# another type; the multiplexor drops a fork server that says READY in
# another version, with a pid not its own, or answers with another ticket,
# logs why, and serves every request through workers it executes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/pool-lib.sh"
tmp=$(mktemp -d /tmp/mlm-zyproto.XXXXXX)
chmod 755 "$tmp"
trap 'mlm_stop >/dev/null; rm -rf "$tmp"' EXIT
peer() { python3 "$here/zy-peer.py" "$@"; }

# --- the fork server's end ----------------------------------------------------
out=$(peer server "$WORKER_BIN" fork)
t_check "fork server: READY first, version 1, ticket 0, its own pid ($(head -n1 <<<"$out"))" \
    test "$(head -n1 <<<"$out")" = "first 1 1 0 own-pid"
t_check "fork server: a FORK answered with FORKED, the ticket and a pid ($(sed -n 2p <<<"$out"))" \
    test "$(sed -n 2p <<<"$out")" = "answer 3 7 positive"
for case in "version:fork server protocol version mismatch: peer speaks 9, we speak 1" \
    "nofd:a request without a socket" "type:not a fork request"; do
    scenario=${case%%:*} why=${case#*:}
    out=$(peer server "$WORKER_BIN" "$scenario")
    t_check "fork server: a $scenario FORK: it leaves ($(sed -n 2p <<<"$out"))" \
        test "$(sed -n 2p <<<"$out")" = eof
    t_check "fork server: a $scenario FORK: logged ($(sed -n 3p <<<"$out"))" \
        grep -qF "zygote: $why" <<<"$out"
done

# --- the multiplexor's end: fork servers wrong in one way each --------------
for case in "version:fork server protocol version mismatch: peer speaks 9, we speak 1" \
    "pid:unexpected first message" "ticket:unexpected answer (type 3, worker"; do
    mode=${case%%:*} why=${case#*:}
    cat >"$tmp/worker-$mode" <<SCRIPT
#!/bin/sh
for arg; do [ "\$arg" = -Z ] && exec python3 "$here/zy-peer.py" fake $mode; done
exec "$WORKER_BIN" "\$@"
SCRIPT
    chmod 755 "$tmp/worker-$mode"
    # One request a worker: every successor is asked of the fork server.
    mlm_start "$here/peer.lua" "worker_program = $tmp/worker-$mode" \
        "workers_min = 1" "workers_max = 2" "worker_max_requests = 1" || exit 1
    for i in $(seq 50); do
        grep -qF "worker fork server: $why" "$MLM_DIR/mux.log" && break
        python3 "$here/mx-client.py" "$MLM_DIR/mx.sock" request 2 a@pool.test >/dev/null
        sleep 0.1
    done
    t_check "multiplexor: a fork server of the $mode kind is dropped, logged" \
        grep -qF "worker fork server: $why" "$MLM_DIR/mux.log"
    served=0
    for i in $(seq 5); do
        [ "$(python3 "$here/mx-client.py" "$MLM_DIR/mx.sock" request 2 a@pool.test)" = "reply continue " ] &&
            served=$((served + 1))
    done
    t_check "multiplexor: with a fork server of the $mode kind, 5 of 5 requests served ($served)" \
        test "$served" = 5
    mlm_stop >/dev/null || t_fail "mlm_stop: daemons or spool not clean"
done
t_done
