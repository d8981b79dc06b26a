#!/usr/bin/env bash
# mx_socket trusts nobody but mlmd: a peer of another uid is refused
# (SO_PEERCRED) even when the socket's mode lets it connect; a spool path
# outside spool_dir (directly, through "..", through a symbolic link) fails
# the request unread; malformed request frames are answered and closed by
# the multiplexor and cost no worker. On ctl_socket, another uid may read
# status but not reload, and may not send a frame longer than a command.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/pool-lib.sh"
tmp=$(mktemp -d /tmp/mlm-peer.XXXXXX)
chmod 755 "$tmp"
trap 'rm -f "$MLM_DIR"/spool/evil-link "$MLM_DIR"/spool/inside.eml; mlm_stop >/dev/null; rm -rf "$tmp"' EXIT
client() { python3 "$here/mx-client.py" "$MLM_DIR/mx.sock" "$@"; }
pids() { mlm_ctl status | awk '$1 ~ /^[0-9]+$/ { print $2 }' | sort | tr '\n' ' '; }

mlm_start "$here/peer.lua" "workers_min = 2" "workers_max = 2" || exit 1
for i in $(seq 50); do # both workers up, with their pids known
    [ "$(mlm_ctl status | awk '$3 == "idle" && $2 > 0' | wc -l)" = 2 ] && break
    sleep 0.1
done

# --- malformed frames cost no worker -----------------------------------------
before=$(pids)
started=$(json_get "j['workers']['started']")
client junk >"$tmp/junk"
t_check "6 malformed frames: each answered with an error by the multiplexor ($(sort "$tmp/junk" | uniq -c | tr -s ' \n' ' '))" \
    test "$(grep -c '^error ' "$tmp/junk")" = 6
# A request served after them: the multiplexor has handled every frame
# before it (one event loop, in order), so a worker they started or
# killed would show below.
t_check "a good request after them is served" \
    test "$(client request 2 a@pool.test)" = "reply continue "
t_check "malformed frames: worker pids unchanged ($before / $(pids))" test "$before" = "$(pids)"
t_check "malformed frames: no worker started ($started / $(json_get "j['workers']['started']"))" \
    test "$started" = "$(json_get "j['workers']['started']")"
t_check "malformed frames: logged" grep -q "malformed request frame: closing" "$MLM_DIR/mux.log"
t_check "a good request is served (root)" \
    test "$(client request 2 a@pool.test)" = "reply continue "

# --- control and hello frames: decoded whole, unknown verbs refused ----------
ctl_client() { python3 "$here/mx-client.py" "$MLM_DIR/ctl.sock" "$@"; }
ctl_client ctljunk >"$tmp/ctljunk"
t_check "control: a well-formed status is answered ($(head -n1 "$tmp/ctljunk"))" \
    grep -q '^ctl 1 id  *pid  *state' <(head -n1 "$tmp/ctljunk")
t_check "control: verbs 3 and 255 refused as unknown ($(sed -n 2,3p "$tmp/ctljunk" | tr '\n' '/'))" \
    test "$(sed -n 2,3p "$tmp/ctljunk" | grep -c '^ctl 0 unknown control command')" = 2
t_check "control: a bad argument, a byte too many or too few, flags, version 1's string verb: 6 refused as malformed ($(tail -n +4 "$tmp/ctljunk" | sort | uniq -c | tr -s ' \n' ' '))" \
    test "$(tail -n +4 "$tmp/ctljunk" | grep -c '^ctl 0 malformed control command')" = 6
ctl_client hellojunk >"$tmp/hellojunk"
t_check "hello: answered with the stage mask ($(head -n1 "$tmp/hellojunk"))" \
    grep -q '^hello_ok [0-9]' <(head -n1 "$tmp/hellojunk")
t_check "hello: a byte too many is refused ($(tail -n1 "$tmp/hellojunk"))" \
    test "$(tail -n1 "$tmp/hellojunk")" = "error malformed hello frame"
t_check "control: status still served" \
    bash -c '"$@" status | grep -q "^total:"' _ "$CTL_BIN" -C "$MLM_CONF"

# --- spool paths outside spool_dir ----------------------------------------------
printf 'Subject: secret-outside\r\n\r\nbody\r\n' >"$tmp/outside.eml"
printf 'Subject: secret-above\r\n\r\nbody\r\n' >"$MLM_DIR/above.eml"
printf 'Subject: inside\r\n\r\nbody\r\n' >"$MLM_DIR/spool/inside.eml"
ln -s "$tmp/outside.eml" "$MLM_DIR/spool/evil-link"
out=$(client request 4 a@pool.test "$MLM_DIR/spool/inside.eml")
t_check "a spool file in spool_dir is read ($out)" test "$out" = "reply reject read: inside"
out=$(client request 4 a@pool.test "$MLM_DIR/./spool/inside.eml")
t_check "... also named another way, resolved into spool_dir ($out)" \
    test "$out" = "reply reject read: inside"
for path in "$tmp/outside.eml" "$MLM_DIR/spool/../above.eml" \
    "$MLM_DIR/spool/evil-link" "/etc/passwd" "relative.eml" ""; do
    out=$(client request 4 a@pool.test "$path")
    t_check "spool path '$path' refused unread ($out)" \
        bash -c '[[ "$1" == "reply failed "* && "$1" != *secret* ]]' _ "$out"
done
t_check "the refusal names spool_dir" grep -q "is not in spool_dir" "$MLM_DIR/mux.log"
rm -f "$MLM_DIR/spool/evil-link" "$MLM_DIR/spool/inside.eml" "$MLM_DIR/above.eml"

# --- a peer of another uid ---------------------------------------------------------
# The socket is opened to everyone here, so only the uid check stands.
chmod 666 "$MLM_DIR/mx.sock" "$MLM_DIR/ctl.sock"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
out=$(as_nobody /usr/bin/python3 - "$MLM_DIR/mx.sock" request 2 a@pool.test <"$here/mx-client.py")
t_check "mx_socket: uid nobody is refused, no answer ($out)" \
    bash -c '[[ "$1" == closed* ]]' _ "$out"
t_check "mx_socket: the refusal is logged with the uid" \
    grep -q "connection from uid $(id -u nobody) refused" "$MLM_DIR/mux.log"
t_check "mx_socket: root still served" test "$(client request 2 a@pool.test)" = "reply continue "
t_check "ctl_socket: uid nobody may read status" \
    bash -c '"$@" status | grep -q "^total:"' _ setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL_BIN" -C "$MLM_CONF"
out=$(as_nobody "$CTL_BIN" -C "$MLM_CONF" reload 2>&1)
t_check "ctl_socket: uid nobody may not reload ($out)" grep -q "permission denied" <<<"$out"
out=$(as_nobody /usr/bin/python3 - "$MLM_DIR/ctl.sock" bigctl <"$here/mx-client.py" 2>&1)
t_check "ctl_socket: a frame claiming 32 MB is refused at once ($out)" \
    test "$out" = "error control frame too long"
bench "$tmp/b1" -n 5
t_check "mlmd (same uid) is served throughout (the policy rejects: $(result reject "$tmp/b1") of 5)" \
    test "$(result reject "$tmp/b1")" = 5
mlm_stop >/dev/null || t_fail "mlm_stop: daemons or spool not clean"
t_done
