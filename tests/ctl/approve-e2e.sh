#!/usr/bin/env bash
# tests/ctl/approve-e2e.sh - mlm-ctl held approve end to end: a non-member
# post is held by the shipped list policy (hold_mode queue), approved with
# mlm-ctl, re-injected through "sendmail" with its X-Mlm-Approved mark, and
# distributed to the members by the same policy; a post carrying a forged
# mark is held, not distributed. A mark is good once, for its own message:
# the captured mark on another message, the same message sent again, and a
# mark made with the secret for a held id that does not exist distribute
# nothing. The database, its -wal and -shm files and the secret file are
# 0600 though made under umask 022. The sendmail stand-in submits by SMTP to
# the private Postfix, so the re-injected post passes the milter as it does
# through Postfix's sendmail with non_smtpd_milters = $smtpd_milters.
#
# Needs Postfix, swaks and smtp-sink (exit 77 without them).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77
command -v swaks >/dev/null || exit 77

umask 022
inject_dir=$(mktemp -d /tmp/mlm-inject.XXXXXX)
cleanup() { pf_stop; rm -rf "$inject_dir"; mlm_stop || exit 1; }
trap cleanup EXIT
cat >"$inject_dir/sendmail" <<EOF
#!/bin/sh
# sendmail [-i] -f SENDER RCPT...: submit stdin to the private Postfix.
from=
while [ \$# -gt 0 ]; do
    case \$1 in
    -i) shift ;;
    -f) from=\$2; shift 2 ;;
    *) break ;;
    esac
done
to=\$(echo "\$@" | tr ' ' ',')
printf '%s\n' "\$from \$to" >>"$inject_dir/calls"
# The re-injected post (the one with a mark) is kept as injected.eml.
msg=\$(mktemp "$inject_dir/in.XXXXXX")
cat >"\$msg"
grep -q '^X-Mlm-Approved:' "\$msg" && cp "\$msg" "$inject_dir/injected.eml"
exec swaks --server 127.0.0.1 --port "\$(cat "$inject_dir/port")" \
    --helo localhost --from "\$from" --to "\$to" \
    --data "\$msg" >>"$inject_dir/swaks.log" 2>&1
EOF
chmod +x "$inject_dir/sendmail"

mlm_start "$top_srcdir/lua/policy.lua" "sendmail = $inject_dir/sendmail" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || exit 1
pf_start || exit 1
echo "$PF_PORT" >"$inject_dir/port"

L=approve@lists.example
ctl() { mlm_ctl "$@" >/dev/null || t_fail "mlm-ctl $*"; }
ctl list create $L --owner owner@example.org --prefix "[ap]"
ctl list set $L nonmember_action hold
ctl member add $L alice@example.org
ctl member add $L bob@example.org
# Deliveries whose whole Subject matches ERE (the moderator notices that the
# policy sends through the same sendmail are deliveries too).
posts() {
    local f
    for f in $(pf_sink_files); do
        pf_message "$f" | sed '/^$/q' | grep -Eq "^Subject: $1\$" && echo "$f"
    done
    return 0
}
delivered() { # ERE
    local f
    for f in $(posts "$1"); do pf_rcpts "$f"; done | sort | tr '\n' ' '
}
settle() { pf_wait_queue_empty 30 >/dev/null; sleep 0.3; }

pf_sink_clear
pf_send --from stranger@example.net --to $L --header "Subject: hold me" \
    --body "from a stranger"
pf_replied '^250 ' && t_ok "non-member post: 250 (held)" || t_fail "non-member post: $PF_SEND_OUT"
settle
t_check "the held post is not delivered" test -z "$(posts '(\[ap\] )?hold me')"
id=$(mlm_ctl held $L | awk '/hold me/ { print $1; exit }')
t_check "the post is in the moderation queue (id ${id:-none})" test -n "$id"

if mlm_ctl held approve "$id" --by moderator >"$inject_dir/out" 2>&1; then
    t_ok "held approve"
else
    t_fail "held approve: $(cat "$inject_dir/out")"
fi
t_check "re-injected from the -bounces address to the list" \
    grep -qx "approve-bounces@lists.example $L" "$inject_dir/calls"
settle
for ((i = 0; i < 100; i++)); do [ -n "$(posts '(\[ap\] )?hold me')" ] && break; sleep 0.1; done
settle
t_check "the approved post reaches every member (got: $(delivered '(\[ap\] )?hold me'))" \
    test "$(delivered '(\[ap\] )?hold me')" = "alice@example.org bob@example.org "
f=$(posts '(\[ap\] )?hold me' | head -n 1)
t_check "the distributed post has the list's subject prefix" \
    grep -q '^Subject: \[ap\] hold me' "${f:-/dev/null}"
t_check "the approval mark is not passed on" \
    bash -c "[ -n '$f' ] && ! grep -qi '^X-Mlm-Approved:' '$f'"
t_check "the post is not held again" \
    test -z "$(mlm_ctl held $L | awk '/hold me/')"
t_check "recorded as approved by moderator" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' held $L --state approved | grep -q 'hold me'"

# A forged mark: held like any non-member post.
pf_sink_clear
pf_send --from stranger@example.net --to $L --header "Subject: forged" \
    --header "X-Mlm-Approved: $L $id 0000000000000000000000000000000000000000000000000000000000000000" \
    --body "forged"
settle
t_check "a forged mark is not distributed" test -z "$(posts '(\[ap\] )?forged$')"
t_check "a post with a forged mark is held" \
    bash -c "'$CTL_BIN' -C '$MLM_CONF' held $L | grep -q forged"

# --- file modes ------------------------------------------------------------
# The workers hold the database open, so its -wal and -shm files exist.
if mlm_on_sqlite "the modes of the SQLite files and the secret file (the secret is in the database there)"; then
for f in "$MLM_DIR/mlm.db" "$MLM_DIR/mlm.db-wal" "$MLM_DIR/mlm.db-shm" \
    "$MLM_DIR/secret"; do
    mode=$(stat -c %a "$f" 2>/dev/null || echo missing)
    t_check "$(basename "$f") is 0600 under umask 022 (got $mode)" test "$mode" = 600
done
fi

# The server's last reply of the transaction (before QUIT's 221).
final_reply() { # DESCRIPTION ERE
    local last
    last=$(sed -n 's/^<[-~*]* *//p' "$PF_SEND_LOG" | grep -v '^221 ' | tail -1)
    if grep -Eq -- "$2" <<<"$last"; then t_ok "$1"; else t_fail "$1: got $last"; fi
}

# --- a mark works once, for its own message ----------------------------------
mark=$(sed -n 's/^X-Mlm-Approved: *//p' "$inject_dir/injected.eml" | tr -d '\r')
t_check "the re-injected post's mark was captured ($mark)" test -n "$mark"
pf_sink_clear
pf_send --from approve-bounces@lists.example --to $L \
    --data "$(cat "$inject_dir/injected.eml")"
final_reply "the approved post sent again with its mark: 250 (a duplicate)" '^250 '
pf_send --from approve-bounces@lists.example --to $L \
    --header "Subject: captured" --header "X-Mlm-Approved: $mark" \
    --body "a stranger's post under a captured mark"
settle
t_check "a mark used twice distributes once (got: $(delivered '(\[ap\] )?hold me'))" \
    test -z "$(delivered '(\[ap\] )?hold me')"
t_check "the duplicate is dropped, not held for the moderators again" \
    test -z "$(mlm_ctl held $L | awk '/hold me/')"
t_check "a captured mark on another message is not distributed (got: $(delivered '(\[ap\] )?captured'))" \
    test -z "$(delivered '(\[ap\] )?captured')"

# A mark made with the installation's secret (as one who read it would)
# for a held id that does not exist. The secret: the file on SQLite, the
# database's meta row "secret" (hex) on PostgreSQL.
forge() { # ID SENDER MESSAGE-FILE
    local old key
    old=$(mlm_sql "SELECT value FROM meta WHERE key = 'approval_secret'")
    key=$(mlm_sql "SELECT value FROM meta WHERE key = 'secret'")
    [ -n "$key" ] || key=$(od -An -v -tx1 "$MLM_DIR/secret" | tr -d ' \n')
    python3 - "$old" "$key" "$L" "$1" "$2" "$3" <<'PY'
import hashlib, hmac, re, sys, time
old, key_hex, lst, held_id, sender, eml = sys.argv[1:]
if old:  # the secret of a database row: "LIST ID" was all it covered
    mac = hmac.new(old.encode(), f"{lst} {held_id}".encode(),
                   hashlib.sha256).hexdigest()
    print(f"{lst} {held_id} {mac}")
    sys.exit(0)
key = bytes.fromhex(key_hex)
raw = open(eml, "rb").read()
head, sep, body = raw.partition(b"\r\n\r\n")
body = body.rstrip(b"\r\n")
body_digest = hashlib.sha256(body + (b"\r\n" if body else b"")).hexdigest()
names = ["from", "sender", "reply-to", "to", "cc", "subject", "message-id",
         "in-reply-to", "references", "mime-version", "content-type",
         "content-transfer-encoding"]
sums = hashlib.sha256()
for field in re.split(rb"\r?\n(?![ \t])", head):
    name, colon, value = field.partition(b":")
    name = name.strip().lower()
    if colon and name.decode() in names:
        value = re.sub(rb"[ \t\r\n]+", b" ", value).strip()
        sums.update(name + b":" + value + b"\r\n")
expires = int(time.time()) + 3600
text = "\n".join([lst.lower(), held_id, str(expires), sender.lower(),
                  body_digest, sums.hexdigest()])
mac = hmac.new(key, b"mlm approval\0" + text.encode(),
               hashlib.sha256).hexdigest()
print(f"{lst} {held_id} {expires} {mac}")
PY
}
printf '%s\r\n' "From: stranger@example.net" "To: $L" "Subject: forged id" \
    "Message-ID: <forged-id@example.net>" "" "no such held post" >"$inject_dir/forged.eml"
forged=$(forge 99999 approve-bounces@lists.example "$inject_dir/forged.eml")
pf_send --from approve-bounces@lists.example --to $L \
    --data "X-Mlm-Approved: $forged"$'\r\n'"$(cat "$inject_dir/forged.eml")"
settle
t_check "a mark for a held id that does not exist is not distributed (got: $(delivered '(\[ap\] )?forged id'))" \
    test -z "$(delivered '(\[ap\] )?forged id')"

[ "$T_FAILED" -eq 0 ] || { mlm_log; cat "$inject_dir/swaks.log" 2>/dev/null | tail -20; }
t_done
