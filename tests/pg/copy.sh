#!/usr/bin/env bash
# mlm-ctl db copy: an installation moves from SQLite to PostgreSQL and
# back, lists, members, settings, held posts (their bytes), requests,
# bounces, templates and the change log, verified by counts; ids are kept
# and new rows follow them; a moderation token mailed before the move still
# works after it (the secret moves with the data); a destination that is
# not empty is refused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postgres.sh"
tmp=$(mktemp -d /tmp/mlm-pgcopy.XXXXXX)
cleanup() { local st=$?; pg_cleanup; [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"; exit "$st"; }
trap cleanup EXIT
pg_start || exit 1
URI=$(pg_createdb mlm) || exit 1
SENT=$tmp/sent
mkdir "$SENT"
MLM_DIR=$tmp MLM_CONF=$tmp/sqlite.conf
# the source is SQLite whatever MLM_TEST_BACKEND says
MLM_TEST_BACKEND=sqlite mlm_write_conf "$top_srcdir/lua/policy.lua" \
    "sendmail = /usr/bin/env FAKE_SENDMAIL_DIR=$SENT $here/../lib/fake-sendmail.sh"
{ grep -v '^database = ' "$tmp/sqlite.conf"; echo "database = $URI"; } >"$tmp/pg.conf"
{ grep -v '^database = ' "$tmp/sqlite.conf"; echo "database = $tmp/back.db"; } >"$tmp/back.conf"
sq() { "$CTL_BIN" -C "$tmp/sqlite.conf" "$@"; }
pg() { "$CTL_BIN" -C "$tmp/pg.conf" "$@"; }
back() { "$CTL_BIN" -C "$tmp/back.conf" "$@"; }

L=dev@lists.example
sq list create $L --owner owner@example.org >/dev/null
sq list create other@lists.example >/dev/null
sq list set $L nonmember_action hold >/dev/null
sq list set $L banned "spam@example.net, @bad.example" >/dev/null
sq member add $L alice@example.org --name "Alice Ä" >/dev/null
sq member add $L mod@example.org --role moderator >/dev/null
seq 1 300 | sed 's/^/m/; s/$/@example.com/' | sq member import $L - >/dev/null
printf 'Subject: Held: ${subject}\n\nCustom text ${list}.\n' >"$tmp/tpl"
sq template set $L held-sender "$tmp/tpl" >/dev/null 2>&1 || true
# two held posts, one with 8-bit bytes and a NUL-free binary-ish body
printf 'From: stranger@example.net\nTo: %s\nSubject: first\n\nx\n' $L >"$tmp/m1"
printf 'From: s2@example.net\nTo: %s\nSubject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; charset=latin1\nContent-Transfer-Encoding: 8bit\n\ncaf\351 \377\376 end\n' $L >"$tmp/m2"
sq try --from stranger@example.net --to $L "$tmp/m1" >/dev/null 2>&1
sq try --from s2@example.net --to $L "$tmp/m2" >/dev/null 2>&1
t_check "two posts held in SQLite" test "$(sqlite3 "$tmp/mlm.db" "SELECT count(*) FROM held")" = 2
approve=$(grep -l "^To: mod@example.org" "$SENT"/sent.* | xargs -r grep -l "held id: 1" |
    xargs -r sed -n 's/^  approve *\([^ ]*@lists.example\).*/\1/p' | head -1 | tr -d '\r')
t_check "the moderator got an approve address under SQLite ($approve)" test -n "$approve"

out=$("$CTL_BIN" -C "$tmp/pg.conf" db copy "$tmp/mlm.db" "$URI" 2>&1)
rc=$?
t_check "db copy SQLite -> PostgreSQL: exit 0" test "$rc" = 0
t_check "... reports the members copied ($(grep '^members' <<<"$out"))" grep -qx "members: 303" <<<"$out"
t_check "... and the held posts" grep -qx "held: 2" <<<"$out"
t_check "... and the lists" grep -qx "lists: 2" <<<"$out"
for cmd in "members $L" "held $L --json" "held show 2" "list show $L" "log $L --json" "templates $L"; do
    # The two run a moment apart: an age ("(2s ago)", "age":"1s") may
    # differ.
    # shellcheck disable=SC2086
    a=$(sq $cmd 2>&1 | sed -E 's/ \([^()]* ago\)//; s/"age":"[^"]*"/"age":""/g')
    # shellcheck disable=SC2086
    b=$(pg $cmd 2>&1 | sed -E 's/ \([^()]* ago\)//; s/"age":"[^"]*"/"age":""/g')
    t_check "mlm-ctl $cmd: the same from PostgreSQL" test "$a" = "$b"
    [ "$a" = "$b" ] || echo "# PostgreSQL: $(head -c 300 <<<"$b")"
done
t_check "the 8-bit bytes of a held post arrive intact" \
    test "$(sqlite3 "$tmp/mlm.db" "SELECT hex(message) FROM held WHERE id = 2")" = \
         "$(pg_psql mlm "SELECT upper(encode(message, 'hex')) FROM held WHERE id = 2")"

out=$("$CTL_BIN" -C "$tmp/pg.conf" db copy "$tmp/mlm.db" "$URI" 2>&1)
t_check "a second copy into the now full database is refused: $out" \
    grep -q "not empty" <<<"$out"
t_check "... and changes nothing" test "$(pg_psql mlm "SELECT count(*) FROM members")" = 303

# New rows in PostgreSQL are numbered after the copied ones.
sq_id=$(sqlite3 "$tmp/mlm.db" "SELECT max(id) FROM held")
printf 'From: s3@example.net\nTo: %s\nSubject: third\n\nx\n' $L >"$tmp/m3"
pg try --from s3@example.net --to $L "$tmp/m3" >/dev/null 2>&1
t_check "a post held after the move gets the next id" \
    test "$(pg_psql mlm "SELECT max(id) FROM held")" = $((sq_id + 1))

# The moderator's reply to the notice mailed before the move decides.
printf 'From: mod@example.org\nTo: %s\nSubject: Re: held\n\nok\n' "$approve" >"$tmp/reply"
out=$(pg try --from mod@example.org --to "$approve" "$tmp/reply" 2>&1)
t_check "a moderation token mailed under SQLite works under PostgreSQL" \
    test "$(pg_psql mlm "SELECT state FROM held WHERE id = 1")" = approved

# And back: PostgreSQL -> a new SQLite file, the same rows.
out=$("$CTL_BIN" -C "$tmp/back.conf" db copy "$URI" "$tmp/back.db" 2>&1)
rc=$?
t_check "db copy PostgreSQL -> SQLite: exit 0 ($(tail -1 <<<"$out"))" test "$rc" = 0
t_check "... without the shared secret in the SQLite file" \
    test "$(sqlite3 "$tmp/back.db" "SELECT count(*) FROM meta WHERE key = 'secret'")" = 0
t_check "... every held post" test "$(sqlite3 "$tmp/back.db" "SELECT count(*) FROM held")" = 3
for t in members settings patterns templates; do
    t_check "table $t the same after the round trip" \
        test "$(sqlite3 "$tmp/mlm.db" "SELECT * FROM $t ORDER BY 1, 2, 3")" = \
             "$(sqlite3 "$tmp/back.db" "SELECT * FROM $t ORDER BY 1, 2, 3")"
done
t_check "the held post's bytes the same after the round trip" \
    test "$(sqlite3 "$tmp/mlm.db" "SELECT hex(message) FROM held WHERE id = 2")" = \
         "$(sqlite3 "$tmp/back.db" "SELECT hex(message) FROM held WHERE id = 2")"
t_done
