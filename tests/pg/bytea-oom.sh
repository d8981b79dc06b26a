#!/usr/bin/env bash
# A held post's message (bytea) that libpq cannot unescape (out of
# memory: PQunescapeBytea returns NULL; tests/pg/unescape-fail.c makes it
# so) is an error, never an empty message: approving the post fails and
# sends nothing, showing it fails, and a sender's retry under hold_mode
# defer fails with 451 rather than being held again as a new post.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
pg_policy_test bytea "$top_srcdir/lua/policy.lua"
echo "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$tmp/sent $top_srcdir/tests/lib/fake-sendmail.sh" >>"$tmp/conf"
mkdir "$tmp/sent"
if ! ${CC:-cc} -shared -fPIC -o "$tmp/unescape-fail.so" "$here/unescape-fail.c"; then
    echo "# skipped: no C compiler for the preloaded library"
    exit 77
fi
# Under an ASan build the runtime would refuse a library preloaded ahead
# of it; this one replaces one libpq function and no allocator.
oom() {
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        LD_PRELOAD="$tmp/unescape-fail.so" "$CTL_BIN" -C "$tmp/conf" "$@"
}
L=dev@lists.example
ctl list create $L --owner owner@example.org >/dev/null
ctl list set $L nonmember_action hold >/dev/null
printf 'From: w@example.net\nTo: %s\nSubject: kept whole\nMessage-ID: <b1@example.net>\n\nThe body.\n' $L >"$tmp/post.eml"
ctl try --from w@example.net --to $L "$tmp/post.eml" >/dev/null 2>&1
id=$(pg_psql mlm "SELECT max(id) FROM held")
t_check "the post is held (id $id)" test -n "$id"
rm -f "$tmp"/sent/*

out=$(oom held show "$id" 2>&1)
st=$?
t_check "held show fails ($st): $(head -1 <<<"$out")" test "$st" -ne 0
t_check "... saying why" grep -q "out of memory decoding a bytea value" <<<"$out"
t_check "... and shows no empty message" bash -c '! grep -Eq "^size +0 bytes" <<<"$1"' _ "$out"

out=$(oom held approve "$id" 2>&1)
st=$?
t_check "held approve fails ($st): $(head -1 <<<"$out")" test "$st" -ne 0
t_check "... sends nothing ($(ls "$tmp/sent" | wc -l) sent)" test -z "$(ls "$tmp/sent")"
t_check "... and the post stays pending" \
    test "$(pg_psql mlm "SELECT state FROM held WHERE id = $id")" = pending
out=$(ctl held show "$id" 2>&1)
t_check "without the fault the message is whole" grep -q "^The body.$" <<<"$out"

# hold_mode defer: the retry compares the stored message
ctl list set $L hold_mode defer >/dev/null
sed 's/b1@/b2@/' "$tmp/post.eml" >"$tmp/post2.eml"
ctl try --from w@example.net --to $L "$tmp/post2.eml" >/dev/null 2>&1
n=$(pg_psql mlm "SELECT count(*) FROM held")
out=$(oom try --from w@example.net --to $L "$tmp/post2.eml" 2>&1)
t_check "a retry fails with 451 ($(grep '^result' <<<"$out"))" \
    grep -q "^result: .*451" <<<"$out"
t_check "... and is not held again as a new post" \
    test "$(pg_psql mlm "SELECT count(*) FROM held")" = "$n"
t_done
