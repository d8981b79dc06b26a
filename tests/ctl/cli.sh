#!/usr/bin/env bash
# tests/ctl/cli.sh - mlm-ctl's database commands against a scratch
# database: lists, settings, members, import, held messages (approve
# re-injects through a fake sendmail), bounces; every error case with its
# exit status (1 with one "mlm-ctl:" line on stderr, 2 with a usage line),
# --json validity, and no raw control characters from stored data.
#
# Environment: top_builddir (defaults to this repository), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"

umask 022 # an administrator's: the files mlm makes must be 0600 all the same
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlm-ctl-test.XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
conf=$tmp/mlm.conf
mlm_db_new "$tmp" || exit 1
db=$MLM_DB
cat >"$tmp/sendmail" <<EOF
#!/bin/sh
# A sendmail that keeps what it is given: arguments and message. Notices
# mlm-ctl generates (Auto-Submitted) go to notice.* instead.
cat >"$tmp/in.msg"
if grep -q '^Auto-Submitted: auto-generated' "$tmp/in.msg"; then
    n=\$(ls "$tmp"/notice.*.msg 2>/dev/null | wc -l)
    printf '%s\n' "\$@" >"$tmp/notice.\$n.args"
    mv "$tmp/in.msg" "$tmp/notice.\$n.msg"
    exit 0
fi
printf '%s\n' "\$@" >"$tmp/sent.args"
mv "$tmp/in.msg" "$tmp/sent.msg"
exit \${FAKE_SENDMAIL_EXIT:-0}
EOF
chmod +x "$tmp/sendmail"
cat >"$conf" <<EOF
database = $db
secret_file = $tmp/secret
user =
ctl_socket = $tmp/no-such.sock
sendmail = $tmp/sendmail -i
lua_path = $top_srcdir/lua/lib
EOF

ctl() { "$CTL_BIN" -C "$conf" "$@"; }

# run WANT-STATUS DESCRIPTION ARGS...: run mlm-ctl and check its exit status;
# 1 must come with exactly one "mlm-ctl: " line on stderr, 2 with a usage
# line. Leaves stdout in OUT, stderr in ERR.
run() {
    local want=$1 what=$2 rc
    shift 2
    ctl "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    OUT=$(cat "$tmp/out")
    ERR=$(cat "$tmp/err")
    if [ "$rc" -ne "$want" ]; then
        t_fail "$what (exit $rc, want $want; stderr: $(tr '\n' '|' <"$tmp/err"))"
        return 1
    fi
    if [ "$want" -eq 1 ] && { [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
        ! grep -q '^mlm-ctl: ' "$tmp/err"; }; then
        t_fail "$what (want one 'mlm-ctl:' line on stderr, got: $(tr '\n' '|' <"$tmp/err"))"
        return 1
    fi
    if [ "$want" -eq 2 ] && ! grep -q '^usage: mlm-ctl ' "$tmp/err"; then
        t_fail "$what (no usage line on stderr: $(tr '\n' '|' <"$tmp/err"))"
        return 1
    fi
    t_ok "$what"
}

# has DESCRIPTION REGEX: a line of OUT matches (grep -E).
has() {
    if grep -qE -- "$2" <<<"$OUT"; then t_ok "$1"
    else t_fail "$1 (no line matching '$2' in: $(tr '\n' '|' <<<"$OUT"))"; fi
}
hasnt() {
    if grep -qE -- "$2" <<<"$OUT"; then t_fail "$1 (a line matches '$2': $(tr '\n' '|' <<<"$OUT"))"
    else t_ok "$1"; fi
}
# json DESCRIPTION [PYTHON-EXPRESSION over d]: OUT is valid JSON (and the
# expression is true).
json() {
    if ! python3 -m json.tool <<<"$OUT" >/dev/null 2>&1; then
        t_fail "$1: not valid JSON: $(head -c 300 <<<"$OUT")"
        return
    fi
    if [ -n "${2:-}" ] && ! python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($2) else 1)" <<<"$OUT"; then
        t_fail "$1: JSON does not satisfy: $2"
        return
    fi
    t_ok "$1"
}
# aligned DESCRIPTION: the second column of OUT starts at one position.
aligned() {
    local n
    n=$(awk 'NF > 1 { match($0, /^[^ ]+ +/); print RLENGTH }' <<<"$OUT" | sort -u | wc -l)
    if [ "$n" -eq 1 ]; then t_ok "$1"; else t_fail "$1 (columns not aligned: $(tr '\n' '|' <<<"$OUT"))"; fi
}
# no_control DESCRIPTION: the output (stdout and stderr) is valid UTF-8
# and holds no control character a terminal acts on: no C0 but TAB and LF,
# no DEL, no C1 (U+0080..U+009F, nor raw 8-bit bytes: they are not UTF-8),
# no bidi embedding, override or isolate.
no_control() {
    local bad
    bad=$(cat "$tmp/out" "$tmp/err" | python3 -c '
import re, sys
data = sys.stdin.buffer.read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    print("not UTF-8 at byte %d: %r" % (e.start, data[max(0, e.start - 10):e.start + 10]))
    sys.exit()
m = re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
if m:
    print("U+%04X in %r" % (ord(m.group()), text[max(0, m.start() - 20):m.end() + 10]))
')
    if [ -n "$bad" ]; then
        t_fail "$1 (raw control character: $bad)"
    else
        t_ok "$1"
    fi
}
sql() { mlm_sql "$@"; }
# hexof FILE: its bytes as mlm_sql_hex prints them
hexof() { od -An -v -tx1 "$1" | tr -d ' \n' | tr a-f A-F; }

L=dev@example.org

# --- usage ------------------------------------------------------------------
run 2 "no command: usage" 
run 2 "unknown command: usage" frobnicate
run 2 "a group without its word: usage" list
run 2 "a group with an unknown word: usage" member frob
run 2 "held alone: usage" held
run 2 "missing argument: usage" member add $L
run 2 "too many arguments: usage" list show $L extra
run 2 "unknown option: usage" lists --frob
run 2 "option without its value: usage" members $L --role
run 2 "flag given a value: usage" lists --json=yes
run 2 "list set without a value: usage" list set $L posting
run 0 "help" help
has "help lists every command" '^  member import LIST FILE'
run 0 "help list set lists the settings" help list set
has "help list set names bounce_threshold" '^  bounce_threshold '
run 0 "--help after a command" member add --help
has "--help prints the usage line" '^usage: mlm-ctl member add LIST ADDRESS'
run 1 "status without a multiplexor: one line on stderr" status

# --- lists ------------------------------------------------------------------
run 0 "lists on a new database" lists
[ -z "$OUT" ] && t_ok "no lists: no output" || t_fail "no lists: output '$OUT'"
if mlm_on_sqlite "the modes of the SQLite file and its -wal and -shm"; then
t_check "a new database is 0600 under umask 022 (got $(stat -c %a "$db"))" \
    test "$(stat -c %a "$db")" = 600
# A database, -wal and -shm that others may read (made before): 0600 once
# opened. Another connection keeps the -wal and -shm files in place.
chmod 644 "$db"
mkfifo "$tmp/release" # the holder keeps its connection until told
{ printf 'PRAGMA journal_mode = WAL;\nSELECT count(*) FROM lists;\n'
  read -r _ <"$tmp/release"; } | sqlite3 "$db" >/dev/null &
holder=$!
for ((i = 0; i < 50; i++)); do [ -e "$db-shm" ] && break; sleep 0.1; done
chmod 644 "$db-wal" "$db-shm" 2>/dev/null
run 0 "lists on a database others may read" lists
modes=$(stat -c %a "$db" "$db-wal" "$db-shm" 2>&1 | tr '\n' ' ')
t_check "the database, -wal and -shm made 0600 on open (got $modes)" \
    test "$modes" = "600 600 600 "
timeout 10 sh -c 'echo >"$1"' _ "$tmp/release"
wait "$holder"
fi
run 0 "list create with posting, owners and prefix" \
    list create dev@Example.ORG --posting open --owner boss@example.org \
    --owner deputy@example.org --prefix "[dev]"
run 1 "list create: exists already" list create dev@example.org
run 1 "list create: bad address" list create not-an-address
run 1 "list create: a name ending in -request" list create x-request@example.org
run 1 "list create: bad --posting" list create p@example.org --posting maybe
run 1 "list create: bad --owner" list create o@example.org --owner 'bad owner'
run 0 "lists" lists
has "lists: address, members, posting" '^dev@example\.org +0 +open$'
hasnt "a refused list create leaves nothing behind" '^(p|o)@example\.org'
run 0 "list create: a second list" list create ann@example.org
run 0 "lists: two lists" lists
aligned "lists: aligned columns"
run 0 "lists --json" lists --json
json "lists --json is valid" 'len(d) == 2 and d[1]["posting"] == "open" and d[1]["members"] == 0'

run 0 "list show" list show $L
has "list show: the address" "^list +$L$"
has "list show: owners" '^owner +boss@example\.org$'
has "list show: member count" '^members +0$'
has "list show: subject prefix from create" '^subject_prefix +\[dev\]$'
settings=$(ctl help list set | awk '/^settings/ { s = 1; next } s && /^  [a-z_]+ / { print $1 }')
for key in posting nonmember_action accept_nonmembers subject_prefix footer \
    max_message_size bounce_threshold early_reject hold_mode archive_address \
    reply_to $settings; do
    has "list show: setting $key" "^$key( |$)"
done
run 0 "list show --json" list show $L --json
json "list show --json: settings, owners, count" \
    '"settings" in d and d["settings"]["posting"] == "open" and d["members"] == 0 and d["owners"] == ["boss@example.org", "deputy@example.org"] and d["settings"]["bounce_threshold"] == 5'
run 1 "list show: unknown list" list show nosuch@example.org

# Every setting: a good value is stored, a bad one refused.
setting() { # KEY GOOD-VALUE SHOWN-REGEX [BAD-VALUE]
    run 0 "list set $1" list set $L "$1" "$2"
    run 0 "list show after setting $1" list show $L
    has "list show: $1 is set" "^$1 +$3$"
    if [ $# -ge 4 ]; then
        run 1 "list set $1: bad value refused" list set $L "$1" "$4"
    fi
}
setting posting moderated moderated maybe
setting nonmember_action hold hold bounce
setting accept_nonmembers "friend@example.net, @partner.example" '@partner\.example friend@example\.net' 'not an address'
setting banned "@spam.example" '@spam\.example'
setting subject_prefix "[dev2]" '\[dev2\]' $'bad\x1bprefix'
setting footer $'-- \nThe dev list' '-- ?'
has "list show: a footer's second line is indented" '^ +The dev list$'
run 1 "list set footer: a control character refused" list set $L footer $'bad\x07footer'
setting max_message_size 1048576 1048576 -5
setting bounce_threshold 3 3 three
setting early_reject envelope envelope always
setting hold_mode defer defer later
setting archive_address archive@example.org 'archive@example\.org' 'no address'
setting reply_to list list sender
setting description "The developers' list" "The developers' list"
setting list_archive https://lists.example.org/dev 'https://lists\.example\.org/dev'
setting approve_password s3cret '\(set\)'
setting emergency yes yes perhaps
run 1 "list set: unknown setting" list set $L colour blue
run 1 "list set: unknown list" list set nosuch@example.org posting open
run 0 "list show --json after every setting" list show $L --json
json "list show --json: typed values" \
    'd["settings"]["max_message_size"] == 1048576 and d["settings"]["accept_nonmembers"] == ["@partner.example", "friend@example.net"] and d["settings"]["footer"] == "-- \nThe dev list"'

# --- members ----------------------------------------------------------------
run 0 "member add" member add $L bob@example.org --name "Bob B"
run 1 "member add: the same address again" member add $L bob@example.org
run 1 "member add: the domain compares without case" member add $L bob@EXAMPLE.ORG
run 0 "member add: the local part compares exactly" member add $L Bob@example.org
run 1 "member add: bad address" member add $L 'bob at example.org'
run 1 "member add: control character in the address" member add $L $'eve\x1b@example.org'
run 1 "member add: unknown list" member add nosuch@example.org bob@example.org
run 1 "member add: bad role" member add $L carol@example.org --role boss
run 0 "member add --role moderator" member add $L mod@example.org --role moderator
run 0 "member add: the same address as moderator too" member add $L bob@example.org --role moderator
run 0 "member add: a name with quotes, backslash and ESC" \
    member add $L odd@example.org --name $'He said "hi" \\ \x1b[2J'
run 0 "members" members $L
has "members: address, role, delivery, bounce score" '^bob@example\.org +member +enabled +0( |$)'
has "members: roles are listed separately" '^bob@example\.org +moderator +enabled +0( |$)'
has "members: the owner from list create" '^boss@example\.org +owner '
aligned "members: aligned columns"
no_control "members: no raw control characters from a stored name"
# A name from a subscriber's mail may hold C1 controls, raw 8-bit bytes
# and bidi overrides: escaped too.
sql "UPDATE members SET name = 'Eve "$'\xc2\x9b\x9b\xe2\x80\xae'"gpj.exe'
     WHERE address = 'odd@example.org'"
run 0 "members: a name with C1, a raw 8-bit byte and a bidi override" members $L
no_control "members: no raw C1, 8-bit byte or bidi override from a stored name"
has "members: the name, escaped" 'Eve \\u\{9b\}\\x9b\\u\{202e\}gpj\.exe$'
sql "UPDATE members SET name = 'He said \"hi\" \\ "$'\x1b'"[2J' WHERE address = 'odd@example.org'"
run 0 "members --role member" members $L --role member
hasnt "members --role member: no owners" ' owner '
[ "$(wc -l <<<"$OUT")" -eq 3 ] && t_ok "members --role member: one member a line" ||
    t_fail "members --role member: want 3 lines, got: $(tr '\n' '|' <<<"$OUT")"
run 1 "members: bad role" members $L --role boss
run 1 "members: unknown list" members nosuch@example.org
run 0 "members --json" members $L --json
json "members --json: valid, the odd name intact" \
    'any(m["name"] == "He said \"hi\" \\ \x1b[2J" for m in d) and all(set(m) >= {"address", "role", "delivery", "bounce_score"} for m in d)'

run 0 "member set moderated yes" member set $L bob@example.org moderated yes
run 0 "member set delivery disabled" member set $L bob@example.org delivery disabled
run 0 "member set name" member set $L bob@example.org name "Robert B"
run 0 "member set --role moderator" member set $L bob@example.org delivery disabled --role moderator
run 0 "members after member set" members $L --role member
has "member set: delivery and moderation show" '^bob@example\.org +member +disabled-by-admin +0 +moderated +Robert B$'
run 0 "member set delivery enabled" member set $L bob@example.org delivery enabled
run 1 "member set: bad value" member set $L bob@example.org moderated maybe
run 1 "member set: bad delivery" member set $L bob@example.org delivery sometimes
run 1 "member set: unknown key" member set $L bob@example.org colour blue
run 1 "member set: not a member" member set $L nobody@example.org moderated yes
run 1 "member set: unknown list" member set nosuch@example.org bob@example.org moderated yes

run 0 "member remove" member remove $L Bob@example.org
run 1 "member remove: not a member any more" member remove $L Bob@example.org
run 1 "member remove: unknown list" member remove nosuch@example.org bob@example.org
run 0 "member remove --role moderator" member remove $L mod@example.org --role moderator

# --- import -----------------------------------------------------------------
count() { sql "SELECT count(*) FROM members m JOIN lists l ON l.id = m.list_id WHERE l.name = 'dev' AND m.role = 'member'"; }
before=$(count)
printf 'one@example.org\ntwo@example.org\nnot an address\nthree@example.org\n' >"$tmp/bad.txt"
run 1 "member import: a bad line refuses the file" member import $L "$tmp/bad.txt"
grep -q 'line 3' <<<"$ERR" && t_ok "member import: the bad line is named" || t_fail "member import: no line number in: $ERR"
[ "$(count)" = "$before" ] && t_ok "member import: nothing imported from a bad file" ||
    t_fail "member import: $(count) members after a refused import (was $before)"
printf '# new members\none@example.org\n\n  two@Example.ORG  \nbob@example.org\nthree@example.org\r\n' >"$tmp/good.txt"
run 0 "member import: a good file" member import $L "$tmp/good.txt"
has "member import: prints how many were added" "^3 added to $L$"
[ "$(count)" = "$((before + 3))" ] && t_ok "member import: three more members" ||
    t_fail "member import: $(count) members (was $before)"
run 0 "members after import" members $L --role member
has "member import: the domain is lower-cased" '^two@example\.org +member'
run 0 "member import: from stdin" member import $L - <<<"four@example.org"
has "member import from stdin: one added" "^1 added"
run 1 "member import: no such file" member import $L "$tmp/none.txt"
run 1 "member import: unknown list" member import nosuch@example.org "$tmp/good.txt"

# --- held messages ------------------------------------------------------------
lid=$(sql "SELECT id FROM lists WHERE name = 'dev'")
held() { # SENDER SUBJECT REASON AGE-SECONDS MESSAGE
    sql "INSERT INTO held (list_id, sender, subject, reason, received, message)
         VALUES ($lid, '$1', '$2', '$3', $(($(date +%s) - $4)),
                 $(mlm_sql_bytes "$5")) RETURNING id"
}
h1=$(held x@example.net $'Hello \x1b[31mred\r "world"' non-member 7200 \
    $'From: x@example.net\r\nSubject: hi\r\n\r\nbody \x1bx\r\n')
h2=$(held y@example.net second moderated 60 $'Subject: 2\n\ntwo\n')
h3=$(held z@example.net third moderated 30 $'Subject: 3\n\nthree\n')
run 0 "held LIST" held $L
has "held: id first, then sender, subject, reason, age" "^$h1 +x@example\.net +Hello \\\\x1b\[31mred\\\\x0d \"world\" +non-member +2h$"
# Stored 60 s before "now"; a loaded machine may take a few seconds more
# to list it.
has "held: the second message" "^$h2 +y@example\.net +second +moderated +(6[0-9]s|1m)$"
aligned "held: aligned columns"
no_control "held: no raw ESC or CR from a stored subject"
run 0 "held --json" held $L --json
json "held --json: valid, the subject intact" \
    'd[0]["id"] == '"$h1"' and d[0]["subject"] == "Hello \x1b[31mred\r \"world\"" and len(d) == 3'
run 1 "held: unknown list" held nosuch@example.org
run 1 "held: bad --state" held $L --state lost
run 0 "held show" held show "$h1"
has "held show: the list" "^list +$L$"
has "held show: the sender" '^sender +x@example\.net$'
has "held show: the state" '^state +pending$'
has "held show: the message" '^Subject: hi$'
no_control "held show: no raw control characters from the message"
run 0 "held show --json" held show "$h1" --json
json "held show --json: the message intact" 'd["message"].endswith("body \x1bx\r\n") and d["state"] == "pending"'
run 1 "held show: unknown id" held show 999
run 1 "held show: not a number" held show abc

run 0 "hold_mode queue for the approvals below" list set $L hold_mode queue
FAKE_SENDMAIL_EXIT=75 run 1 "held approve: sendmail fails" held approve "$h1"
grep -q 'pending again' <<<"$ERR" && t_ok "held approve: a failed injection says the post is pending again" ||
    t_fail "held approve: stderr was: $ERR"
[ "$(sql "SELECT state FROM held WHERE id = $h1")" = pending ] &&
    t_ok "held approve: a failed injection leaves the post pending" ||
    t_fail "held approve: state $(sql "SELECT state FROM held WHERE id = $h1") after a failed injection"
rm -f "$tmp/sent.msg" "$tmp/sent.args"
run 0 "held approve" held approve "$h1" --by alice
if head -n 1 "$tmp/sent.msg" 2>/dev/null | grep -qE "^X-Mlm-Approved: $L $h1 [0-9]{10,} [0-9a-f]{64}"$'\r$'; then
    t_ok "held approve: X-Mlm-Approved is the first header"
else
    t_fail "held approve: first line sent: $(head -n 1 "$tmp/sent.msg" 2>/dev/null | cat -A)"
fi
tail -n +2 "$tmp/sent.msg" >"$tmp/sent.body" 2>/dev/null
if [ "$(hexof "$tmp/sent.body")" = "$(sql "SELECT $(mlm_sql_hex message) FROM held WHERE id = $h1")" ]; then
    t_ok "held approve: then the stored message, unchanged"
else
    t_fail "held approve: the message sent differs from the stored one"
fi
if [ "$(tr '\n' ' ' <"$tmp/sent.args" 2>/dev/null)" = "-i -f dev-bounces@example.org $L " ]; then
    t_ok "held approve: sendmail -i -f LIST-bounces@ LIST"
else
    t_fail "held approve: sendmail arguments: $(tr '\n' ' ' <"$tmp/sent.args" 2>/dev/null)"
fi
[ "$(sql "SELECT state || ' ' || decided_by FROM held WHERE id = $h1")" = "approved alice" ] &&
    t_ok "held approve: recorded as approved by alice" ||
    t_fail "held approve: recorded $(sql "SELECT state || ' ' || decided_by FROM held WHERE id = $h1")"
cp "$tmp/sent.msg" "$tmp/approved1.msg"
run 1 "held approve: not pending any more" held approve "$h1"
if mlm_on_sqlite "the secret is in the database there (db_secret.c), no secret_file"; then
t_check "the secret file was made, 0600 under umask 022 (got $(stat -c %a "$tmp/secret" 2>&1))" \
    test "$(stat -c %a "$tmp/secret" 2>&1)" = 600
[ "$(sql "SELECT count(*) FROM meta")" = 0 ] && t_ok "no secret in the database" ||
    t_fail "the meta table holds: $(sql "SELECT key FROM meta")"
else
t_check "the secret in the database, 32 bytes in hex" \
    test "$(sql "SELECT length(value) FROM meta WHERE key = 'secret'")" = 64
t_check "... and no secret file" test ! -e "$tmp/secret"
fi
# A secret file others may read is made 0600 (it is ours); one of the
# wrong size is refused, and the post stays pending.
h5=$(held v@example.net five non-member 5 $'Subject: 5\r\n\r\nfive\r\n')
if mlm_on_sqlite "the secret is in the database there (db_secret.c), no secret_file"; then
chmod 644 "$tmp/secret"
cp "$tmp/secret" "$tmp/secret.good"
head -c 16 "$tmp/secret.good" >"$tmp/secret"
run 1 "held approve: a secret file of the wrong size is refused" held approve "$h5"
[ "$(sql "SELECT state FROM held WHERE id = $h5")" = pending ] &&
    t_ok "held approve: refused for its secret, the post stays pending" ||
    t_fail "held approve: state $(sql "SELECT state FROM held WHERE id = $h5") after a refused secret"
cp "$tmp/secret.good" "$tmp/secret"
chmod 644 "$tmp/secret"
run 0 "held approve with a secret file others may read" held approve "$h5"
t_check "... which is made 0600 (got $(stat -c %a "$tmp/secret"))" \
    test "$(stat -c %a "$tmp/secret")" = 600
else
run 0 "held approve" held approve "$h5"
fi

# The re-injected post through the policy (try): a policy that checks the
# mark itself and then hands over to the shipped one distributes it; the
# same post again is a duplicate, dropped.
cat >"$tmp/twice.lua" <<'EOF'
local mlm = require "mlm"
local lists = require "mlm_lists"
filter_recipient = lists.filter_recipient
function filter_message(ctx)
  local list = mlm.list("dev@example.org")
  local id, why = list:approved(ctx.message:header("X-Mlm-Approved") or "")
  mlm.log("info", "own check: " .. tostring(id or why))
  return lists.filter_message(ctx)
end
EOF
cp "$tmp/approved1.msg" "$tmp/approved.msg"
try_approved() { ctl try --from dev-bounces@example.org --to $L --policy "$tmp/twice.lua" "$1" 2>&1; }
sed 's/^Subject: hi\r$/&\nReply-To: thief@example.net\r/' "$tmp/approved.msg" >"$tmp/replyto.msg"
OUT=$(try_approved "$tmp/replyto.msg")
has "try: the unused mark on the post with a Reply-To added is invalid" 'own check: invalid'
hasnt "try: ... and that message is not distributed" '^result: accepted'
sql "DELETE FROM held WHERE $(mlm_sql_hex message) LIKE '%$(printf thief@example.net | od -An -v -tx1 | tr -d ' \n' | tr a-f A-F)%'"
OUT=$(try_approved "$tmp/approved.msg")
has "try: the approved post with its mark is distributed, checked twice" '^result: accepted'
has "try: the policy's own check saw the mark good" 'own check: [0-9]+$'
OUT=$(try_approved "$tmp/approved.msg")
has "try: the same post again is dropped as a duplicate" '^result: discarded'
has "try: ... its mark is used" 'own check: used'
sed 's/^Subject: hi/Subject: pay this/' "$tmp/approved.msg" >"$tmp/other.msg"
OUT=$(try_approved "$tmp/other.msg")
has "try: the mark on another message is invalid" 'own check: invalid'
hasnt "try: ... and that message is not distributed" '^result: accepted'
sql "DELETE FROM held WHERE subject = 'pay this'" # held anew: not for below

h4=$(held w@example.net deferred non-member 10 $'Subject: 4\n\nfour\n')
run 0 "hold_mode defer" list set $L hold_mode defer
rm -f "$tmp/sent.msg"
run 0 "held approve in hold_mode defer" held approve "$h4"
has "held approve in defer mode: the sender's retry delivers it" 'retries'
[ ! -e "$tmp/sent.msg" ] && t_ok "held approve in defer mode: nothing re-injected" ||
    t_fail "held approve in defer mode: the post was re-injected (it would be delivered twice)"
[ "$(sql "SELECT state FROM held WHERE id = $h4")" = approved ] &&
    t_ok "held approve in defer mode: recorded as approved" ||
    t_fail "held approve in defer mode: state $(sql "SELECT state FROM held WHERE id = $h4")"
run 0 "held reject" held reject "$h2"
grep -qs "held post $h2 rejected by" "$tmp"/notice.*.msg &&
    t_ok "held reject: the moderators are told who decided" ||
    t_fail "held reject: no notice to the moderators"
run 0 "held discard" held discard "$h3" --by bob
run 1 "held reject: not pending any more" held reject "$h3"
run 1 "held approve: unknown id" held approve 999
run 1 "held discard: not a number" held discard 1x
run 0 "held: nothing pending" held $L
[ -z "$OUT" ] && t_ok "held: no line when nothing is pending" || t_fail "held: output '$OUT'"
run 0 "held --state rejected" held $L --state rejected
has "held --state rejected: the rejected post" "^$h2 +y@example\.net"
run 0 "held --state discarded --json" held $L --state discarded --json
json "held --json: decided_by" 'd[0]["decided_by"] == "bob" and d[0]["state"] == "discarded"'

# A stranger's post made to attack the admin's terminal: ESC [ 2 J (clear),
# OSC 52 (set the clipboard), CSI as U+009B and as the raw byte 0x9b,
# U+202E (right-to-left override) and U+2066 (isolate), in the sender, the
# subject and the body. Each is shown escaped; JSON escapes them too.
hostile() { # the text; $1 says where it is
    printf '%s \e[2J \e]52;c;ZWNobyBoaQ==\a \xc2\x9b \x9b \xe2\x80\xaetxt.exe \xe2\x81\xa6end' "$1"
}
h4=$(sql "INSERT INTO held (list_id, sender, subject, reason, received, message)
     VALUES ($lid, '$(hostile sender)', '$(hostile subject)', 'non-member', $(date +%s),
             $(mlm_sql_bytes "Subject: x"$'\r\n\r\n'"$(hostile body)"$'\r\n'))
     RETURNING id")
escaped='\\x1b\[2J \\x1b\]52;c;ZWNobyBoaQ==\\x07 \\u\{9b\} \\x9b \\u\{202e\}txt\.exe \\u\{2066\}end'
run 0 "held: a hostile post" held $L
no_control "held: no raw controls, C1 or bidi overrides from a hostile post"
has "held: the hostile sender and subject (cut), escaped" \
    "^$h4 +sender $escaped +subject \\\\x1b\[2J \\\\x1b\]52;c;[^ ]* [^ ]* [^ ]* \.\.\. +non-member"
run 0 "held show: a hostile post" held show "$h4"
no_control "held show: no raw controls, C1 or bidi overrides from a hostile post"
has "held show: the sender, escaped" "^sender +sender $escaped$"
has "held show: the subject, escaped" "^subject +subject $escaped$"
has "held show: the body, escaped" "^body $escaped$"
run 0 "held --json: a hostile post" held $L --json
no_control "held --json: no raw controls, C1 or bidi overrides"
has "held --json: ESC, BEL, U+009B, U+202E, U+2066 as \\u escapes" \
    '"subject":"subject \\u001b\[2J \\u001b\]52;c;ZWNobyBoaQ==\\u0007 \\u009b \\ufffd \\u202e'
json "held --json: the subject decodes to the stored text" \
    'd[-1]["subject"] == "subject \x1b[2J \x1b]52;c;ZWNobyBoaQ==\x07 \x9b \ufffd \u202etxt.exe \u2066end"'
run 0 "held show --json: a hostile post" held show "$h4" --json
no_control "held show --json: no raw controls, C1 or bidi overrides"
json "held show --json: the body escaped, decodes to the text" \
    '"body \x1b[2J \x1b]52;c;ZWNobyBoaQ==\x07 \x9b \ufffd \u202etxt.exe \u2066end" in d["message"]'
run 0 "held discard: the hostile post" held discard "$h4"
run 1 "held show: an error quoting a hostile id is escaped" held show $'1\x1b[2J\xc2\x9b'
no_control "an error message: no raw controls"

# --- bounces ----------------------------------------------------------------
sql "INSERT INTO bounces (list_id, address, status, diagnostic, scored, received) VALUES
     ($lid, 'one@example.org', '5.1.1', '550 5.1.1 user unknown"$'\x1b'"[0m', 1, $(($(date +%s) - 100))),
     ($lid, 'two@example.org', '4.2.2', 'mailbox full', 0, $(date +%s))"
run 0 "bounces" bounces $L
has "bounces: address, status, scored, when, diagnostic" '^one@example\.org +5\.1\.1 +scored +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +550 5\.1\.1 user unknown\\x1b\[0m$'
has "bounces: newest first" '^two@example\.org +4\.2\.2 +- '
aligned "bounces: aligned columns"
no_control "bounces: no raw ESC from a diagnostic"
run 0 "bounces --limit 1" bounces $L --limit 1
[ "$(wc -l <<<"$OUT")" -eq 1 ] && t_ok "bounces --limit 1: one line" || t_fail "bounces --limit 1: $OUT"
run 0 "bounces --json" bounces $L --json
json "bounces --json: valid" 'len(d) == 2 and d[1]["scored"] is True and d[1]["diagnostic"].endswith("\x1b[0m")'
run 1 "bounces: bad --limit" bounces $L --limit none
run 1 "bounces: unknown list" bounces nosuch@example.org

# --- check ------------------------------------------------------------------
printf 'function filter_sender(ctx) end\n' >"$tmp/good.lua"
printf 'function filter_sender(ctx)\n' >"$tmp/bad.lua"
run 0 "check: a good policy" check "$tmp/good.lua"
has "check: names its stages" '^filter_sender$'
run 1 "check: a policy that does not load" check "$tmp/bad.lua"
grep -q 'bad.lua:' <<<"$ERR" && t_ok "check: the error names the file" || t_fail "check: $ERR"

# --- delete -----------------------------------------------------------------
run 0 "list delete" list delete $L
run 1 "list show: deleted" list show $L
run 1 "members: deleted list" members $L
run 1 "list delete: unknown list" list delete $L
[ "$(sql "SELECT count(*) FROM members")" = 0 ] && t_ok "list delete: members gone with the list" ||
    t_fail "list delete: $(sql "SELECT count(*) FROM members") members left"
run 0 "lists after delete" lists
hasnt "lists: the deleted list is gone" "^$L "

# --- a database of schema 1 (before held posts recorded their hold_mode) ---
if mlm_on_sqlite "a SQLite database of schema 1 migrated on open"; then
old=$tmp/old.db
sqlite3 "$db" .schema | grep -v '^CREATE TABLE sqlite_' >"$tmp/schema.sql"
sqlite3 "$old" <"$tmp/schema.sql"
sqlite3 "$old" "ALTER TABLE held DROP COLUMN claimed_by;
    ALTER TABLE held DROP COLUMN distributed_at; ALTER TABLE held DROP COLUMN hold_mode;
    DROP TABLE replies;
    ALTER TABLE members DROP COLUMN last_status;
    ALTER TABLE members DROP COLUMN last_diagnostic;
    ALTER TABLE members DROP COLUMN probe_token;
    ALTER TABLE members DROP COLUMN probe_sent;
    ALTER TABLE members DROP COLUMN not_me_too;
    DROP TABLE bounce_unrecognised; DROP TABLE requests; DROP TABLE changes;
    DROP TABLE templates;
    PRAGMA user_version = 1;
    INSERT INTO lists (id, name, domain, created) VALUES (7, 'old', 'lists.example', 0);
    INSERT INTO patterns (list_id, kind, pattern) VALUES (7, 'banned', '\"Spammer\"@example.org'),
      (7, 'banned', 'SPAMMER@example.org'), (7, 'banned', '@Spam.example'),
      (7, 'banned', 'dot@example.org.'), (7, 'banned', '@Spam.example..');
    INSERT INTO members (list_id, address, role, created) VALUES
      (7, 'm@example.org.', 'member', 0), (7, 'n@example.org', 'member', 0),
      (7, 'n@example.org.', 'member', 0);
    INSERT INTO held (list_id, sender, subject, reason, received, message)
    VALUES (7, 'a@example.net', 'kept', 'test', 0, 'Subject: kept

x
');
    INSERT INTO meta (key, value) VALUES ('approval_secret', 'abc');"
sed "s|^database = .*|database = $old|" "$conf" >"$tmp/old.conf"
out=$("$CTL_BIN" -C "$tmp/old.conf" held old@lists.example 2>&1)
t_check "schema 1 migrated on open: its held post kept ($out)" grep -q kept <<<"$out"
t_check "... at schema 14, with hold_mode '' for it" \
    test "$(sqlite3 "$old" "PRAGMA user_version; SELECT hold_mode FROM held" | tr '\n' ,)" = "14,,"
t_check "... and a table of the list's own templates" \
    test "$(sqlite3 "$old" "SELECT count(*) FROM templates")" = 0
t_check "... and a change log" test "$(sqlite3 "$old" "SELECT count(*) FROM changes")" = 0
t_check "... and a table of subscription requests" \
    test "$(sqlite3 "$old" "SELECT count(*) FROM requests")" = 0
out=$(sqlite3 "$old" "SELECT pattern FROM patterns ORDER BY pattern" | tr '\n' ' ')
t_check "... banned patterns unquoted, lower-cased, without trailing dots, duplicates merged ($out)" \
    test "$out" = "@spam.example dot@example.org spammer@example.org "
out=$(sqlite3 "$old" "SELECT address FROM members ORDER BY address" | tr '\n' ' ')
t_check "... members without the domain's trailing dots, duplicates merged ($out)" \
    test "$out" = "m@example.org n@example.org "
t_check "... and not-me-too off for each" \
    test "$(sqlite3 "$old" "SELECT group_concat(not_me_too) FROM members")" = "0,0"
t_check "... the reply limit's table made" sqlite3 "$old" "SELECT count(*) FROM replies"
t_check "... and the secret of the database row deleted" \
    test "$(sqlite3 "$old" "SELECT count(*) FROM meta")" = 0
t_check "... and the members' last bounce status and diagnostic columns, the digest table" \
    sqlite3 "$old" "SELECT last_status, last_diagnostic, probe_token, probe_sent FROM members; SELECT count(*) FROM bounce_unrecognised"
fi

t_done
