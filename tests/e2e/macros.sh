#!/usr/bin/env bash
# The milter macros of the shipped MTA snippets reach a policy through a
# real Sendmail and a real Postfix: examples/sendmail.mc.snippet
# (confMILTER_MACROS_CONNECT) and the milter_connect_macros line of
# examples/postfix-main.cf.snippet add the client's address, name and port
# and the daemon's address to the MTAs' defaults; the queue id comes from
# MAIL on with Sendmail, after the first accepted RCPT with Postfix (the
# comment at msg_qid in mlmd/callbacks.c). And where ctx:add_header puts its header: both MTAs append
# it after the message's last header.
#
# The policy (tests/milter/policies/macros.lua) refuses RCPT
# report@lists.test with ctx.macros as the reply text, and adds them to
# every message as X-Macros.
set -u
# MLM_MTA_TESTS=no: a second pass of the suite (sanitizers) skips the tests
# that compare MTAs; mlm's own code runs there through the other tests.
[ "${MLM_MTA_TESTS:-yes}" != no ] || { echo "skip: MLM_MTA_TESTS=no"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/sendmail.sh"
pf_available || exit 77
sm_available || exit 77

cleanup() { sm_stop; pf_stop; mlm_stop || exit 1; }
trap cleanup EXIT

mlm_start "$here/../milter/policies/macros.lua" || exit 1
mlm_start_inet || { mlm_log; exit 1; }

# check MTA: the RCPT reply and the delivered message's headers.
check() {
    local mta=$1 reply f last
    "${mta}_send" --from alice@example.org --to report@lists.test
    reply=$(sed -n 's/^<[-~*]* *//p' "$(eval echo "\$${mta^^}_SEND_LOG")" | grep '^550' | tr '\n' ' ')
    t_check "$mta: {client_addr} at RCPT ($reply)" grep -q '{client_addr}=127\.0\.0\.1' <<<"$reply"
    t_check "$mta: {client_port} at RCPT" grep -Eq '\{client_port\}=[1-9][0-9]*' <<<"$reply"
    t_check "$mta: {client_name} at RCPT" grep -Eq '\{client_name\}=[^ ]' <<<"$reply"
    t_check "$mta: {daemon_addr} at RCPT" grep -q '{daemon_addr}=127\.0\.0\.1' <<<"$reply"
    if [ "$mta" = sm ]; then
        t_check "$mta: the queue id i at the first RCPT (sent from MAIL on)" \
            grep -Eq '(^| )i=[0-9A-Za-z]+' <<<"$reply"
    else # its queue file is opened once it accepted a RCPT
        t_check "$mta: no queue id at the first RCPT" \
            bash -c "! grep -Eq '(^| )i=' <<<'$reply'"
    fi

    "${mta}_sink_clear"
    "${mta}_send" --from alice@example.org --to someone@example.org \
        --header "Subject: where" --header "X-Last: original" --body "x"
    "${mta}_wait_deliveries" 1 30
    f=$("${mta}_sink_files" | head -n1)
    t_check "$mta: the end-of-message macros in X-Macros" \
        grep -q '{client_addr}=127\.0\.0\.1' <<<"$("${mta}_header" "$f" X-Macros)"
    t_check "$mta: the queue id at end of message" \
        grep -Eq '(^| )i=[0-9A-Za-z]+' <<<"$("${mta}_header" "$f" X-Macros)"
    # the last header line (continuation lines folded into theirs)
    last=$("${mta}_message" "$f" | awk '/^$/ { exit } /^[^ \t]/ { name = $1 } END { print name }')
    t_check "$mta: ctx:add_header appends after the last header (last: $last)" \
        test "$last" = "X-Macros:"
}

SM_MILTER=$MLM_MILTER SM_RELAY_DOMAINS="lists.test example.org" sm_setup || exit 1
sm_start || exit 1
check sm
sm_stop

PF_MAIN_EXTRA=$(grep '^milter_[a-z_]*macros' "$top_srcdir/examples/postfix-main.cf.snippet")
t_check "the Postfix snippet sets milter_connect_macros" test -n "$PF_MAIN_EXTRA"
PF_MILTER="inet:127.0.0.1:$MLM_PORT" PF_RELAY_DOMAINS="lists.test example.org" \
    PF_MAIN_EXTRA=$PF_MAIN_EXTRA pf_setup || exit 1
pf_start || exit 1
check pf

[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
