#!/usr/bin/env bash
# ctx.macros at each stage, over one milter connection carrying two
# messages: the connection's macros (sent once, at CONNECT) reach every
# request; a message's macros (i, {auth_authen}, {mail_addr}, sent at MAIL)
# reach its RCPT and end of message and not the next message; {rcpt_addr}
# only the RCPT it came with; macros mlm does not pass on never appear.
# mlmd reads each macro once per connection, message or RCPT
# (mlmd/macros.c): these checks fail if a value is kept too long or lost.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/scripts/mt.sh"
trap 'mlm_stop || exit 1' EXIT

mlm_start "$here/policies/macros.lua" || exit 1

conn='j=mx.test {daemon_name}=smtpd {client_addr}=192.0.2.7 {if_name}=eth0'
out=$(mt_client macro C "$conn" connect client.test 192.0.2.7 \
    macro M 'i=QID1 {auth_authen}=alice {mail_addr}=a@example.net' \
    mail '<a@example.net>' \
    macro R '{rcpt_addr}=report@lists.test' rcpt '<report@lists.test>' \
    macro R '{rcpt_addr}=list@lists.test' rcpt '<list@lists.test>' \
    eoh eom \
    macro M 'i=QID2 {mail_addr}=b@example.net' mail '<b@example.net>' \
    macro R '{rcpt_addr}=list@lists.test' rcpt '<list@lists.test>' \
    eoh eom 2>&1)

# mlm folds the header values it writes at 78 characters: unfolded here.
out=$(sed -e ':a' -e 'N' -e '$!ba' -e 's/\n\([ \t]\)/\1/g' <<<"$out")
c='j=mx.test {client_addr}=192.0.2.7 {daemon_name}=smtpd'
t_check "RCPT: the connection's, the message's and the recipient's macros" \
    grep -qxF "rcpt <report@lists.test>: 550 5.7.1 i=QID1 j=mx.test {auth_authen}=alice {client_addr}=192.0.2.7 {daemon_name}=smtpd {mail_addr}=a@example.net {rcpt_addr}=report@lists.test" <<<"$out"
t_check "end of message: the connection's and the message's, no {rcpt_addr}" \
    grep -qxF "eom: addheader X-Macros: i=QID1 j=mx.test {auth_authen}=alice {client_addr}=192.0.2.7 {daemon_name}=smtpd {mail_addr}=a@example.net" <<<"$out"
t_check "the next message: its own i and {mail_addr}, no {auth_authen} left from the first" \
    grep -qxF "eom: addheader X-Macros: i=QID2 j=mx.test {client_addr}=192.0.2.7 {daemon_name}=smtpd {mail_addr}=b@example.net" <<<"$out"
t_check "two messages reported (no other X-Macros line)" \
    test "$(grep -c '^eom: addheader X-Macros' <<<"$out")" -eq 2
[ "$T_FAILED" -eq 0 ] || echo "$out" | sed 's/^/#   /'

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
