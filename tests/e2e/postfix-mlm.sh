#!/usr/bin/env bash
# End to end: swaks -> private Postfix -> mlmd -> multiplexor -> Lua policy,
# deliveries captured by smtp-sink. A refusal at RCPT reaches the client as
# 550 5.1.1; a post to the list address is expanded into three envelopes
# with the changed sender, the added header and the changed subject.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
. "$here/../lib/postfix.sh"
pf_available || exit 77

cleanup() { pf_stop; mlm_stop || exit 1; }
trap cleanup EXIT

mlm_start "$here/policies/expand.lua" || exit 1
mlm_start_inet || { mlm_log; exit 1; }
PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || exit 1
pf_start || exit 1

# 1. A refusal at RCPT, with its enhanced status code.
pf_send --from sender@example.net --to nosuch@lists.example
if pf_replied '^550 5\.1\.1 .*No such list here'; then
    t_ok "RCPT refused with 550 5.1.1 and the policy's text"
else
    t_fail "RCPT refusal: got: $(grep -E '^ *<' "$PF_SEND_LOG" | tail -3)"
fi

# 2. An expanded post: three envelopes, new sender, new headers.
pf_send --from sender@example.net --to dev@lists.example \
    --header "Subject: hello list" --body "a post"
t_check "post accepted with 250" pf_replied '^250 .*queued'
if pf_wait_deliveries 1 30; then
    rcpts=$(for f in $(pf_sink_files); do pf_rcpts "$f"; done | sort | tr '\n' ' ')
    t_check "three member envelopes (got: $rcpts)" \
        test "$rcpts" = "alice@example.org bob@example.org carol@example.org "
    f=$(pf_sink_files | head -n1)
    t_check "envelope sender is dev-bounces@ (got: $(pf_sender "$f"))" \
        test "$(pf_sender "$f")" = "dev-bounces@lists.example"
    t_check "X-Loop added" test "$(pf_header "$f" X-Loop)" = "dev@lists.example"
    t_check "Subject changed (got: $(pf_header "$f" Subject))" \
        test "$(pf_header "$f" Subject)" = "[dev] hello list"
    t_check "the list address itself got nothing" \
        bash -c "! grep -q 'dev@lists.example' <<<'$rcpts'"
else
    t_fail "no delivery arrived"
    pf_log | tail -20
    mlm_log
fi
[ "$T_FAILED" -eq 0 ] || mlm_log
t_done
