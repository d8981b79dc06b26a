#!/usr/bin/env bash
# The spool: mlmd keeps spool files for reuse after a transaction. A reused
# file holding a longer message is cut to the new message (the worker
# reads the new one only), the worker's new-body file too, a file that
# held over 1 MB is removed at once, files idle for a minute go, and mlmd
# removes the rest when it stops (tests/lib/mlm.sh checks that).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT
BENCH=$top_builddir/tests/bench/mlm-bench

mlm_start "$here/policies/spool.lua" "spool_idle_timeout = 3" || exit 1
spool_files() { find "$MLM_DIR/spool" -type f | wc -l; }

# body_length BYTES: the length the policy read for a post of BYTES.
body_length() {
    "$BENCH" -s "$MLM_MILTER" -n 1 -m "$1" >/dev/null 2>&1
    sed -n 's/.*action=reject .*reason="body \([0-9]*\)".*/\1/p' \
        "$MLM_DIR/mlmd.log" | tail -1
}

short=$(body_length 2000)
t_check "a post read through a new spool file (body $short)" test -n "$short"
t_check "... which is kept for reuse ($(spool_files) file)" test "$(spool_files)" = 1
long=$(body_length 50000)
again=$(body_length 2000)
t_check "the same file reused for a longer then a shorter post ($(spool_files) file)" \
    test "$(spool_files)" = 1
t_check "the shorter post reads its own length ($again), not the earlier tail ($long)" \
    test -n "$again" -a "$again" = "$short" -a "$long" -gt "$short"

# A file that held a big message is removed, not kept for a minute.
"$BENCH" -s "$MLM_MILTER" -n 1 -m 2000000 >/dev/null 2>&1
t_check "a 2 MB post's spool file is removed at once, not kept ($(spool_files) files)" \
    test -z "$(find "$MLM_DIR/spool" -type f -size +1024k)" -a "$(spool_files)" = 0
next=$(body_length 2000)
t_check "... and the next post ($next) gets a new one ($(spool_files) file)" \
    test "$next" = "$short" -a "$(spool_files)" = 1

# A new body in the reused file's companion: longer, then shorter.
post_footer() { # BODY
    mt_client mail '<poster@example.net>' rcpt '<list@lists.test>' \
        header Subject footer eoh body "$1" eom 2>&1 |
        sed -n 's/^eom: replbody //p'
}
long_body=$(printf 'long line of the first post\r\n%.0s' $(seq 200))
post_footer "$long_body" >/dev/null
body=$(post_footer $'short post\r\n')
t_check "a shorter new body after a longer one holds only itself" \
    test "$body" = '"short post\r\nSpool footer\r\n"'
[ "$T_FAILED" -eq 0 ] || echo "# got: $body"
t_check "the new-body file lives beside its spool file" \
    test "$(find "$MLM_DIR/spool" -name '*.body' | wc -l)" = 1

# A message with no header field: its body is spooled from the end of the
# headers on (the spool used to open at the first header, dropping it all).
nohdr=$(mt_client mail '<poster@example.net>' rcpt '<list@lists.test>' \
    eoh body $'A body with no header field\r\nand a second line\r\n' eom 2>&1)
t_check "a message without header fields keeps its body (48 bytes read)" \
    grep -qx 'eom: 550 5\.7\.1 body 48' <<<"$nohdr"
[ "$T_FAILED" -eq 0 ] || echo "# got: $nohdr"
nohdr=$(mt_client mail '<poster@example.net>' rcpt '<list@lists.test>' \
    body $'Only body chunks\r\n' eom 2>&1)
t_check "... also when the MTA sends body chunks without an end of headers" \
    grep -qx 'eom: 550 5\.7\.1 body 18' <<<"$nohdr"
[ "$T_FAILED" -eq 0 ] || echo "# got: $nohdr"

# Idle files go after spool_idle_timeout (3 s here), checked every 1 s.
for ((i = 0; i < 20 && $(spool_files) > 0; i++)); do sleep 1; done
t_check "idle spool files are removed after spool_idle_timeout (waited $i s)" \
    test "$(spool_files)" = 0
t_check "... and posts still pass afterwards (body $(body_length 2000))" \
    test "$(body_length 2000)" = "$short"
t_done
