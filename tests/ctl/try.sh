#!/usr/bin/env bash
# tests/ctl/try.sh - mlm-ctl try: a message through a policy with no MTA
# and no daemons. Checks each stage's printed reply, that a refused
# recipient is dropped while the others go on, the changes of
# filter_message, the resulting envelope and message (headers added,
# changed and deleted, a footer in the body), the exit statuses, and that
# the policy sees the database through mlm.list.
#
# Environment: top_builddir (defaults to this repository), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlm-try-test.XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
mkdir "$tmp/t"
export TMPDIR=$tmp/t
conf=$tmp/mlm.conf
cat >"$tmp/policy.lua" <<'EOF'
local mlm = require "mlm"

function filter_relay(ctx)
  if ctx.hostip == "192.0.2.66" then
    return mlm.reject("You are not welcome here", "554", "5.7.1")
  end
end

function filter_helo(ctx)
  if ctx.helo == "tempfail.example" then return mlm.tempfail("Later") end
end

function filter_sender(ctx)
  if ctx.sender == "spammer@bad.example" then
    return mlm.reject("We do not take mail from you")
  end
end

function filter_recipient(ctx)
  if ctx.recipient == "nobody@example.org" then
    return mlm.reject("No such list", "550", "5.1.1")
  end
  if ctx.recipient == "crash@example.org" then error("crashed on purpose") end
  if ctx.recipient == "drop@example.org" then return mlm.discard() end
end

function filter_message(ctx)
  local list = mlm.list("dev@example.org")
  ctx:add_header("X-Policy", "seen by " .. ctx.hostip .. " " .. ctx.helo)
  ctx:add_header("X-List-Found", list and list.address or "no")
  ctx:add_header("X-Recipients", table.concat(ctx.recipients, ","))
  ctx:change_header("Subject", "[dev] " .. (ctx.message:header("Subject") or ""))
  ctx:delete_header("X-Secret")
  ctx:delete_recipient("dev@example.org")
  ctx:add_recipient("bob@example.org")
  ctx:add_recipient("carol@example.org")
  ctx:change_sender("dev-bounces@example.org")
  if ctx.message:header("X-Footer") then
    ctx:add_footer{text = "-- \nThe dev list"}
  end
end
EOF
mlm_db_new "$tmp" || exit 1
cat >"$conf" <<EOF
database = $MLM_DB
secret_file = $tmp/secret
user =
policy = $tmp/policy.lua
lua_path = $top_srcdir/lua/lib
EOF
cat >"$tmp/post.eml" <<'EOF'
From: Alice <alice@example.net>
To: dev@example.org
Subject: hello
X-Secret: do not pass on

Hi all.
EOF

ctl() { "$CTL_BIN" -C "$conf" "$@"; }

# try WANT-STATUS DESCRIPTION ARGS...: stdout in OUT, stderr in ERR.
try() {
    local want=$1 what=$2 rc
    shift 2
    ctl try "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    OUT=$(cat "$tmp/out")
    ERR=$(cat "$tmp/err")
    if [ "$rc" -eq "$want" ]; then t_ok "$what"
    else t_fail "$what (exit $rc, want $want; stderr: $(tr '\n' '|' <"$tmp/err"))"; fi
}
has() {
    if grep -qxE -- "$2" <<<"$OUT"; then t_ok "$1"
    else t_fail "$1 (no line '$2' in: $(tr '\n' '|' <<<"$OUT"))"; fi
}
hasnt() {
    if grep -qE -- "$2" <<<"$OUT"; then t_fail "$1 (a line matches '$2')"
    else t_ok "$1"; fi
}

ctl list create dev@example.org >/dev/null || t_fail "list create for the policy"

# An accepted post with one refused recipient.
try 0 "try: accepted post" --from alice@example.net --to dev@example.org \
    --to nobody@example.org --client 192.0.2.10 --helo mx.example.net \
    "$tmp/post.eml"
has "relay reply" 'relay: continue'
has "helo reply" 'helo: continue'
has "sender reply" 'sender: continue'
has "recipient reply" 'recipient dev@example.org: continue'
has "a refused recipient: code, DSN and text" \
    'recipient nobody@example.org: reject 550 5\.1\.1 No such list'
has "message reply" 'message: continue'
has "change: add_header" 'change: add_header X-Policy: seen by 192\.0\.2\.10 mx\.example\.net'
has "change: change_header with its index" 'change: change_header Subject\[1\]: \[dev\] hello'
has "change: delete_header" 'change: delete_header X-Secret\[1\]'
has "change: delete_recipient" 'change: delete_recipient dev@example\.org'
has "change: add_recipient" 'change: add_recipient bob@example\.org'
has "change: change_sender" 'change: change_sender dev-bounces@example\.org'
has "the result" 'result: accepted'
has "envelope sender changed" 'envelope sender: <dev-bounces@example\.org>'
has "envelope recipient added" 'envelope recipient: <bob@example\.org>'
has "envelope: a second recipient added" 'envelope recipient: <carol@example\.org>'
hasnt "envelope: the list address removed" 'envelope recipient: <dev@example\.org>'
hasnt "envelope: the refused recipient is not delivered to" 'envelope recipient: <nobody@'
has "message: the header added" 'X-Policy: seen by 192\.0\.2\.10 mx\.example\.net'
has "message: the subject changed" 'Subject: \[dev\] hello'
hasnt "message: the deleted header is gone" '^X-Secret'
has "message: the body" 'Hi all\.'
has "ctx.recipients holds only the accepted recipients" 'X-Recipients: dev@example\.org'
has "the policy reads the database (mlm.list)" 'X-List-Found: dev@example\.org'
expected="From: Alice <alice@example.net>
To: dev@example.org
Subject: [dev] hello
X-Policy: seen by 192.0.2.10 mx.example.net
X-List-Found: dev@example.org
X-Recipients: dev@example.org

Hi all."
if [ "$(sed '1,/^$/d' <<<"$OUT")" = "$expected" ]; then
    t_ok "after a blank line, the resulting message exactly"
else
    t_fail "the resulting message: $(sed '1,/^$/d' <<<"$OUT" | tr '\n' '|')"
fi
hasnt "stages the MTA asks after a refusal do not stop the transaction" 'result: rejected'
[ -z "$(ls -A "$tmp/t")" ] && t_ok "the temporary spool is removed" || t_fail "left in TMPDIR: $(ls -A "$tmp/t")"

# Defaults: sender from From:, recipients from To:.
try 0 "try: sender and recipients default to the message's" "$tmp/post.eml"
has "default recipient from To:" 'recipient dev@example\.org: continue'
has "default client is 127.0.0.1" 'X-Policy: seen by 127\.0\.0\.1 localhost'

# A footer: the replaced body is shown.
{ echo "X-Footer: yes"; cat "$tmp/post.eml"; } >"$tmp/footer.eml"
try 0 "try: a footer" "$tmp/footer.eml"
has "change: replace_body" 'change: replace_body \([0-9]+ bytes\)'
has "the footer is in the body" 'The dev list'
[ -z "$(ls -A "$tmp/t")" ] && t_ok "the footer's body file is removed" || t_fail "left in TMPDIR: $(ls -A "$tmp/t")"

# What mlmd would send: the header block split where Postfix splits it.
printf 'This first line is no header field\nso the message has none.\n' >"$tmp/nohdr.eml"
try 0 "try: a message with no header field is accepted, as mlmd accepts it" \
    --from alice@example.net --to dev@example.org "$tmp/nohdr.eml"
if [ "$(sed '1,/^$/d' <<<"$OUT" | sed '1,/^$/d')" = "This first line is no header field
so the message has none." ]; then
    t_ok "no header field: the whole text is the body"
else
    t_fail "no header field: $(tr '\n' '|' <<<"$OUT")"
fi
printf 'From: alice@example.net\nTo: dev@example.org\nSubject:hi\nno colon here\nSecond: body line\n' >"$tmp/noblank.eml"
try 0 "try: headers with no empty line before the body" "$tmp/noblank.eml"
if [ "$(sed '1,/^$/d' <<<"$OUT" | sed -n '/^$/,$p')" = "
no colon here
Second: body line" ]; then
    t_ok "the body starts at the first line that is no header field"
else
    t_fail "split: $(sed '1,/^$/d' <<<"$OUT" | tr '\n' '|')"
fi
has "a header as mlmd spools it (a space after the colon)" 'Subject: \[dev\] hi'
printf 'From: alice@example.net\nTo: dev@example.org\nSUBJECT: shouting\n\nx\n' >"$tmp/case.eml"
try 0 "try: a header name in other case" "$tmp/case.eml"
has "a changed header has the spelling of the change, as Postfix writes it" \
    'Subject: \[dev\] shouting'
hasnt "the incoming spelling is gone" '^SUBJECT:'

# Refusals end the transaction as an MTA would.
try 1 "try: refused at connect" --client 192.0.2.66 "$tmp/post.eml"
has "relay: the reject" 'relay: reject 554 5\.7\.1 You are not welcome here'
hasnt "no stage after a refused connection" '^(helo|sender|recipient|message)'
[ "$(wc -l <<<"$ERR")" -eq 1 ] && grep -q '^mlm-ctl: ' <<<"$ERR" && t_ok "refused: one line on stderr" ||
    t_fail "refused: stderr: $ERR"
try 1 "try: tempfail at HELO" --helo tempfail.example "$tmp/post.eml"
has "helo: default tempfail code" 'helo: tempfail 451 4\.3\.0 Later'
try 1 "try: refused sender" --from spammer@bad.example "$tmp/post.eml"
has "sender: the default reject code" 'sender: reject 550 5\.7\.1 We do not take mail from you'
hasnt "no recipient asked after a refused sender" '^recipient'
try 1 "try: every recipient refused" --to nobody@example.org "$tmp/post.eml"
has "result: no recipient" 'result: refused at recipient: no recipient accepted'
hasnt "no end of message without recipients" '^message:'
try 1 "try: a policy error is failure_action (tempfail)" --to crash@example.org "$tmp/post.eml"
has "the failed stage names the policy line" \
    'recipient crash@example\.org: failed \(.*policy\.lua:[0-9]+: crashed on purpose\); failure_action tempfail: 451 4\.3\.0 .*'
try 1 "try: discard" --to drop@example.org "$tmp/post.eml"
has "discard reply" 'recipient drop@example\.org: discard'
has "result: discarded" 'result: discarded at recipient'

# failure_action accept: a failed stage goes on.
cp "$conf" "$tmp/accept.conf"
echo "failure_action = accept" >>"$tmp/accept.conf"
"$CTL_BIN" -C "$tmp/accept.conf" try --to crash@example.org --to dev@example.org \
    "$tmp/post.eml" >"$tmp/out" 2>&1 && t_ok "failure_action accept: delivered" ||
    t_fail "failure_action accept: exit $?"
OUT=$(cat "$tmp/out")
has "failure_action accept: the failed recipient continues" \
    'recipient crash@example\.org: failed \(.*\); failure_action accept: continue'

# Usage and errors.
ctl try >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q '^usage: mlm-ctl try ' "$tmp/err" && t_ok "try without a file: usage (2)" ||
    t_fail "try without a file: $(cat "$tmp/err")"
ctl try --to >/dev/null 2>&1
[ $? -eq 2 ] && t_ok "try --to without a value: usage (2)" || t_fail "try --to without a value"
try 1 "try: no such file" "$tmp/none.eml"
printf 'function filter_sender(ctx)\n' >"$tmp/broken.lua"
try 1 "try: a policy that does not load" --policy "$tmp/broken.lua" "$tmp/post.eml"
grep -q 'broken.lua' <<<"$ERR" && t_ok "the load error names the policy" || t_fail "load error: $ERR"
printf 'Subject: nobody\n\nx\n' >"$tmp/norcpt.eml"
try 1 "try: no recipient anywhere" "$tmp/norcpt.eml"

# A stranger's message made to attack the admin's terminal: ESC [ 2 J,
# OSC 52, U+009B, the raw byte 0x9b, U+202E in its Subject and its body; the
# policy logs the subject (stderr) and quotes it in a tempfail reply. Every
# line try prints shows them escaped (the resulting message too: try's
# output is for reading, even through a pipe).
hostile=$'\e[2J \e]52;c;ZWNobyBoaQ==\a \xc2\x9b \x9b \xe2\x80\xaetxt.exe'
printf 'From: a@example.net\nTo: dev@example.org\nSubject: s %s\n\nb %s\n' \
    "$hostile" "$hostile" >"$tmp/hostile.eml"
cat >"$tmp/echo.lua" <<'EOF'
local mlm = require "mlm"
function filter_message(ctx)
  local subject = ctx.message:header("Subject") or ""
  print("the subject: " .. subject)
  if subject:find("tempfail", 1, true) then return mlm.tempfail((subject:gsub("%c", ""))) end
end
EOF
try 0 "try: a hostile message" --policy "$tmp/echo.lua" "$tmp/hostile.eml"
escaped='\\x1b\[2J \\x1b\]52;c;ZWNobyBoaQ==\\x07 \\u\{9b\} \\x9b \\u\{202e\}txt\.exe'
has "try: the hostile subject, escaped" "Subject: s $escaped"
has "try: the hostile body, escaped" "b $escaped"
# no_raw: stdout and stderr are UTF-8 with no control a terminal acts on.
no_raw() {
    local bad
    bad=$(cat "$tmp/out" "$tmp/err" | python3 -c '
import re, sys
data = sys.stdin.buffer.read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit("not UTF-8: %r" % data[max(0, e.start - 10):e.start + 10])
m = re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
if m:
    sys.exit("U+%04X in %r" % (ord(m.group()), text[max(0, m.start() - 20):m.end() + 10]))
' 2>&1)
    if [ -z "$bad" ]; then t_ok "$1"; else t_fail "$1 ($bad)"; fi
}
no_raw "try: no raw controls, C1 or bidi overrides on stdout or stderr"
grep -q 'the subject: s ' "$tmp/err" && t_ok "try: the policy's log line is on stderr" ||
    t_fail "try: no log line on stderr: $(cat "$tmp/err")"
# --output: the same message unescaped, byte for byte what the MTA would
# queue (LF line ends), while stdout stays escaped.
printf 'From: a@example.net\r\nTo: dev@example.org\r\nSubject: s %s\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\nGr\xfc\xdfe %s\r\nno line end' \
    "$hostile" "$hostile" >"$tmp/raw.eml"
try 0 "try --output: a Latin-1 body with hostile bytes" --policy "$tmp/echo.lua" \
    --output "$tmp/raw.out" "$tmp/raw.eml"
no_raw "try --output: stdout still escaped"
if tr -d '\r' <"$tmp/raw.eml" | cmp -s - <(head -c -1 "$tmp/raw.out") &&
    [ "$(tail -c 1 "$tmp/raw.out" | od -An -c | tr -d ' ')" = '\n' ]; then
    t_ok "try --output: the message's bytes, CRLF as LF, a line end at the end"
else
    t_fail "try --output: $(od -c "$tmp/raw.out" | head -5 | tr '\n' '|')"
fi
try 1 "try --output: a file that cannot be written fails" --policy "$tmp/echo.lua" \
    --output "$tmp/no-such-dir/out" "$tmp/raw.eml"
grep -q "cannot write .*no-such-dir/out" <<<"$ERR" && t_ok "try --output: says why" ||
    t_fail "try --output: no reason on stderr: $ERR"

sed -i 's/^Subject: s /Subject: tempfail /' "$tmp/hostile.eml"
try 1 "try: a reply quoting the hostile subject" --policy "$tmp/echo.lua" "$tmp/hostile.eml"
has "try: the reply, escaped" "message: tempfail 451 4\.[0-9]\.[0-9] tempfail \[2J \]52;c;ZWNobyBoaQ== \\\\u\{9b\} (\\\\x9b|\\\\u\{9b\}|�) \\\\u\{202e\}txt\.exe"
no_raw "try: a hostile reply: no raw controls, C1 or bidi overrides"

t_done
