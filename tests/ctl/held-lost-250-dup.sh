#!/usr/bin/env bash
# An approved held post (hold_mode defer) is distributed by the sender's
# MTA's retry; the 250 is lost on the way back, and the sender's MTA
# retries minutes later, as MTAs do (Postfix: 300 s at the least). The
# request that distributed confirmed its claim, so the late copy is
# discarded as a duplicate (mlm_lists.lua's hold(): "distributed
# already"), however old the claim. Before the fix, a claim older than
# twice request_timeout was taken over and the post went out twice.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-lost250.XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
printf 'database = %s\nuser =\npolicy = %s\nlua_path = %s\nsecret_file = %s\nsendmail = /bin/true\n' \
    "$tmp/mlm.db" "$top_srcdir/lua/policy.lua" "$top_srcdir/lua/lib" "$tmp/secret" >"$tmp/mlm.conf"
ctl() { "$CTL_BIN" -C "$tmp/mlm.conf" "$@"; }
ctl db migrate >/dev/null
L=dev@lists.example
ctl list create $L --owner owner@example.org >/dev/null
ctl list set $L nonmember_action hold >/dev/null
ctl list set $L hold_mode defer >/dev/null
printf 'From: w@example.net\nTo: %s\nSubject: hi\nMessage-ID: <m1@example.net>\n\nHello.\n' $L >"$tmp/post.eml"
try() { ctl try --from w@example.net --to $L "$tmp/post.eml" 2>&1; }
out=$(try)
t_check "the post is held (450 under defer)" grep -q "^result: .*450" <<<"$out"
id=$(sqlite3 "$tmp/mlm.db" "SELECT max(id) FROM held")
ctl held approve "$id" >/dev/null
out=$(try)
t_check "the MTA's retry is distributed ($(grep '^result' <<<"$out"))" \
    bash -c '! grep -q discard <<<"$1"' _ "$out"
# the 250 is lost; the sender's MTA retries 5 minutes later
sqlite3 "$tmp/mlm.db" "UPDATE held SET distributed_at = distributed_at - 300 WHERE id = $id"
out=$(try)
t_check "the retry after a lost 250 is a duplicate, discarded ($(grep '^result' <<<"$out"))" \
    grep -q discard <<<"$out"
t_done
