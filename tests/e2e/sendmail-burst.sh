#!/usr/bin/env bash
# A burst of held posts with one worker, mlm's mail sent through Sendmail's
# own submission program (Debian's MSP, interactive delivery: it opens an
# SMTP session to the MTA, which asks mlmd, which needs a worker). Twenty
# non-member posts to a list that holds them: every post is held, every
# moderator notice reaches the moderator, and no request waits into
# queue_timeout because the one worker is blocked on mail that needs a
# worker itself (issue 22, item 1).
set -u
# MLM_MTA_TESTS=no: a second pass of the suite (sanitizers) skips the tests
# that compare MTAs; mlm's own code runs there through the other tests.
[ "${MLM_MTA_TESTS:-yes}" != no ] || { echo "skip: MLM_MTA_TESTS=no"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/sendmail.sh"
sm_available || exit 77

cleanup() { sm_stop; mlm_stop || exit 1; }
trap cleanup EXIT

N=20
sm_setup || exit 1
mlm_start "$top_srcdir/lua/policy.lua" "$(sm_mlm_sendmail)" \
    "workers_min = 1" "workers_max = 1" "queue_timeout = 10" || exit 1
sm_set_milter "$MLM_MILTER" || exit 1
sm_start || exit 1

L=dev@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org
ctl member add $L alice@example.org
ctl member add $L mod@example.org --role moderator
ctl list set $L nonmember_action hold

# Five sessions at a time, as a busy list sees them.
smtp-source -c -m "$N" -s 5 -f stranger@example.net -t "$L" -S "burst" \
    "127.0.0.1:$SM_PORT" >/dev/null 2>"$SM_DIR/smtp-source.err"
rc=$?
t_check "smtp-source sent $N posts without an error ($(head -c 300 "$SM_DIR/smtp-source.err"))" \
    test "$rc" -eq 0 -a ! -s "$SM_DIR/smtp-source.err"

held=0
for ((i = 0; i < 150; i++)); do
    held=$(mlm_ctl held $L | grep -c burst)
    [ "$held" -ge "$N" ] && break
    sleep 0.2
done
t_check "$N posts held (got $held)" test "$held" -eq "$N"

# Each held post's notice to the moderator, through the MSP, the MTA (and
# mlmd) to the sink. A generous bound: the notices take milliseconds each
# when no worker waits on itself.
notices() {
    local f n=0
    for f in $(sm_sink_files); do
        sm_rcpts "$f" | grep -qx mod@example.org &&
            grep -q 'post held for approval' "$f" && n=$((n + 1))
    done
    echo "$n"
}
for ((i = 0; i < 60; i++)); do
    [ "$(notices)" -ge "$N" ] && break
    sleep 1
done
t_check "$N moderator notices delivered (got $(notices))" test "$(notices)" -eq "$N"
t_check "no request waited into queue_timeout" \
    bash -c "! grep 'waited .* for a worker' '$MLM_DIR/mux.log'"
t_check "no notice left in the submission queue" \
    test "$(find "$SM_CLIENT_QUEUE" -name 'qf*' | wc -l)" -eq 0
t_check "no post refused for want of a worker" \
    bash -c "! grep -E 'stage failed' '$MLM_DIR/mlmd.log'"

[ "$T_FAILED" -eq 0 ] || { mlm_log; sm_queue; }
t_done
