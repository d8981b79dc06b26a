/*
 * fuzz_proto.c - the decoders of the request protocol (common/proto.h),
 * which read what arrives on the mlmd <-> multiplexor <-> worker and
 * mlm-ctl <-> multiplexor sockets, and of the fork server's channel
 * (common/zygote_proto.h).
 *
 * Input: one mode byte, then a payload. Bit 0 of the mode forces the
 * payload's version byte to MLM_PROTO_VERSION (so half the inputs get past
 * the version check), bit 1 the version byte of each 12-byte fork server
 * message. Each input is decoded as every message type (request, reply,
 * hello, hello answer, ready, load error, error, control command and
 * answer) and, cut in ZY_MSG_LEN pieces, as fork server messages; the raw
 * payload is also read as a byte stream of frames (frame_complete as mlmd
 * and the multiplexor use it), and frame_complete is checked on every
 * prefix. Properties: a failed decode leaves nothing allocated, a decoded
 * message re-encodes to the same bytes (a reply's flags byte aside: the
 * multiplexor stamps it), and frame_complete answers consistently as
 * bytes arrive.
 */
#include "proto.h"
#include "fuzz_check.h"
#include "zygote_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Decoded payload -> encoded frame: the same bytes, the flags byte aside
 * when flags_free (a reply's).
 */
static void check_reencoded_flags(const struct mlm_buf *b,
                                  const uint8_t *payload, size_t len,
                                  const char *what, int flags_free)
{
    size_t frame_len = 0;
    FUZZ_CHECK(frame_complete(b->data, b->len, &frame_len) == 1 &&
                   frame_len == b->len,
               "re-encoded %s is not one complete frame", what);
    FUZZ_CHECK(b->len == len + MLM_FRAME_HDR, "re-encoded %s: %zu bytes, "
               "decoded from %zu", what, b->len - MLM_FRAME_HDR, len);
    const uint8_t *p = b->data + MLM_FRAME_HDR;
    FUZZ_CHECK(memcmp(p, payload, MLM_PAYLOAD_FLAGS) == 0 &&
                   (flags_free || p[MLM_PAYLOAD_FLAGS] ==
                                      payload[MLM_PAYLOAD_FLAGS]) &&
                   memcmp(p + MLM_PAYLOAD_HDR, payload + MLM_PAYLOAD_HDR,
                          len - MLM_PAYLOAD_HDR) == 0,
               "re-encoded %s differs from the payload it was decoded from",
               what);
}

static void check_reencoded(const struct mlm_buf *b, const uint8_t *payload,
                            size_t len, const char *what)
{
    check_reencoded_flags(b, payload, len, what, 0);
}

static void try_request(const uint8_t *payload, size_t len)
{
    struct mlm_request req;
    char why[256];
    int checked = request_check(payload, len, why, sizeof why);
    int decoded = request_decode(&req, payload, len, why, sizeof why);
    FUZZ_CHECK(checked == decoded, "request_check says %d, request_decode %d",
               checked, decoded);
    if (decoded == -1) {
        FUZZ_CHECK(req.qid == NULL && req.spool_path == NULL &&
                       req.recipients.v == NULL && req.macros.v == NULL,
                   "failed request_decode left fields set");
        FUZZ_CHECK(why[0] != '\0', "failed request_decode without a reason");
        return;
    }
    FUZZ_CHECK((unsigned)req.stage < STAGE_COUNT, "stage %u", req.stage);
    FUZZ_CHECK(req.macros.n % 2 == 0, "odd macro list");
    FUZZ_CHECK(req.qid && req.hostip && req.hostname && req.helo &&
                   req.sender && req.recipient && req.spool_path,
               "decoded request with a NULL string");
    struct mlm_buf b;
    buf_init(&b);
    request_encode(&b, &req);
    check_reencoded(&b, payload, len, "request");
    buf_free(&b);
    request_free(&req);
}

static void try_reply(const uint8_t *payload, size_t len)
{
    struct mlm_reply rep;
    char why[256];
    if (reply_decode(&rep, payload, len, why, sizeof why) == -1) {
        FUZZ_CHECK(rep.action == ACT_FAILED && rep.nchanges == 0 &&
                       rep.changes == NULL && rep.code == NULL &&
                       rep.text == NULL,
                   "failed reply_decode left a half reply");
        return;
    }
    FUZZ_CHECK((unsigned)rep.action < ACT_COUNT, "action %u", rep.action);
    for (uint32_t i = 0; i < rep.nchanges; i++)
        FUZZ_CHECK(rep.changes[i].kind >= CHG_ADD_HEADER &&
                       rep.changes[i].kind <= CHG_QUARANTINE &&
                       rep.changes[i].value != NULL,
                   "change %u: kind %u", i, rep.changes[i].kind);
    reply_validate(&rep, why, sizeof why);
    struct mlm_buf b;
    buf_init(&b);
    reply_encode(&b, &rep);
    check_reencoded_flags(&b, payload, len, "reply", 1);
    buf_free(&b);
    reply_free(&rep);
}

/* The messages with few fields: decode, re-encode, compare. */
static void try_small(const uint8_t *payload, size_t len)
{
    char why[256];
    struct mlm_buf b;
    buf_init(&b);
    if (hello_decode(payload, len, why, sizeof why) == 0) {
        hello_encode(&b);
        check_reencoded(&b, payload, len, "hello");
    }
    struct mlm_hello_ok ok;
    if (hello_ok_decode(&ok, payload, len, why, sizeof why) == 0) {
        FUZZ_CHECK((ok.stages & ~STAGE_MASK_ALL) == 0, "hello_ok stages %x",
                   ok.stages);
        buf_reset(&b);
        hello_ok_encode(&b, ok.stages, ok.generation);
        check_reencoded(&b, payload, len, "hello_ok");
    }
    struct mlm_ready ready;
    if (ready_decode(&ready, payload, len, why, sizeof why) == 0) {
        FUZZ_CHECK(ready.pid > 0 && ready.pid <= INT32_MAX &&
                       (ready.stages & ~STAGE_MASK_ALL) == 0,
                   "ready pid %u stages %x", ready.pid, ready.stages);
        buf_reset(&b);
        ready_encode(&b, ready.stages, ready.pid);
        check_reencoded(&b, payload, len, "ready");
    }
    struct mlm_load_error failed;
    if (load_error_decode(&failed, payload, len, why, sizeof why) == 0) {
        FUZZ_CHECK(failed.reason != NULL && failed.pid > 0,
                   "load_error without a reason or pid");
        buf_reset(&b);
        load_error_encode(&b, failed.reason, failed.pid);
        check_reencoded(&b, payload, len, "load_error");
        load_error_free(&failed);
    } else {
        FUZZ_CHECK(failed.reason == NULL, "failed load_error_decode left a "
                   "reason");
    }
    char *reason;
    if (error_decode(&reason, payload, len, why, sizeof why) == 0) {
        FUZZ_CHECK(reason != NULL, "error without a reason");
        buf_reset(&b);
        error_encode(&b, reason);
        check_reencoded(&b, payload, len, "error");
        free(reason);
    } else {
        FUZZ_CHECK(reason == NULL, "failed error_decode left a reason");
    }
    struct mlm_ctl ctl;
    if (ctl_decode(&ctl, payload, len, why, sizeof why) == 0) {
        FUZZ_CHECK((unsigned)ctl.verb < CTL_VERB_COUNT &&
                       (ctl.verb == CTL_STATS    ? ctl.arg < STATS_FORMAT_COUNT
                        : ctl.verb == CTL_STATUS ? ctl.arg <= STATS_JSON
                                                 : ctl.arg == 0),
                   "control verb %u argument %u", ctl.verb, ctl.arg);
        buf_reset(&b);
        ctl_encode(&b, ctl.verb, ctl.arg);
        check_reencoded(&b, payload, len, "control command");
    }
    struct mlm_ctl_reply answer;
    if (ctl_reply_decode(&answer, payload, len, why, sizeof why) == 0) {
        FUZZ_CHECK(answer.text != NULL && (answer.ok == 0 || answer.ok == 1),
                   "control answer ok %d", answer.ok);
        buf_reset(&b);
        ctl_reply_encode(&b, answer.ok, answer.text);
        check_reencoded(&b, payload, len, "control answer");
        ctl_reply_free(&answer);
    } else {
        FUZZ_CHECK(answer.text == NULL, "failed ctl_reply_decode left text");
    }
    buf_free(&b);
}

/* The bytes as fork server messages, ZY_MSG_LEN at a time. */
static void try_zygote(const uint8_t *data, size_t size, int force_version)
{
    char why[256];
    for (size_t at = 0; at < size; at += ZY_MSG_LEN) {
        size_t len = size - at < ZY_MSG_LEN ? size - at : ZY_MSG_LEN;
        uint8_t *msg = malloc(len ? len : 1);
        memcpy(msg, data + at, len);
        if (force_version && len > 0)
            msg[0] = ZYGOTE_PROTO_VERSION;
        struct zy_msg m;
        if (zy_decode(&m, msg, len, why, sizeof why) == 0) {
            FUZZ_CHECK(len == ZY_MSG_LEN, "a fork server message of %zu "
                       "bytes", len);
            uint8_t again[ZY_MSG_LEN];
            zy_encode(again, m.type, m.ticket, m.value);
            FUZZ_CHECK(memcmp(again, msg, ZY_MSG_LEN) == 0,
                       "re-encoded fork server message differs");
        }
        free(msg);
    }
}

/* Decode a payload from its own allocation, so ASan sees any over-read. */
static void try_payload(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    try_request(copy, len);
    try_reply(copy, len);
    try_small(copy, len);
    free(copy);
}

/* frame_complete on every prefix of data, as the bytes trickle in. */
static void check_prefixes(const uint8_t *data, size_t size)
{
    for (size_t k = 0; k <= size; k++) {
        size_t fl = 0;
        int r = frame_complete(data, k, &fl);
        if (k < MLM_FRAME_HDR) {
            FUZZ_CHECK(r == 0, "frame_complete(%zu bytes) = %d", k, r);
            continue;
        }
        uint32_t payload = frame_payload_len(data);
        if (payload < MLM_PAYLOAD_HDR || payload > MLM_FRAME_MAX)
            FUZZ_CHECK(r == -1, "bad length %u accepted", payload);
        else if (k < MLM_FRAME_HDR + (size_t)payload)
            FUZZ_CHECK(r == 0, "incomplete frame reported complete");
        else
            FUZZ_CHECK(r == 1 && fl == MLM_FRAME_HDR + (size_t)payload,
                       "complete frame: r %d, len %zu", r, fl);
        if (r != 0)
            break; /* the answer cannot change with more bytes */
    }
}

/* The input as a socket byte stream: frames one after another. */
static void read_stream(const uint8_t *data, size_t size)
{
    size_t off = 0, fl;
    while (off < size && frame_complete(data + off, size - off, &fl) == 1) {
        FUZZ_CHECK(fl >= MLM_FRAME_HDR + MLM_PAYLOAD_HDR && fl <= size - off,
                   "frame length %zu with %zu bytes left", fl, size - off);
        try_payload(data + off + MLM_FRAME_HDR, fl - MLM_FRAME_HDR);
        off += fl;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++, size--;

    uint8_t *payload = malloc(size ? size : 1);
    memcpy(payload, data, size);
    if ((mode & 1) && size > 0)
        payload[0] = MLM_PROTO_VERSION;
    try_request(payload, size);
    try_reply(payload, size);
    try_small(payload, size);
    free(payload);
    try_zygote(data, size, mode & 2);

    check_prefixes(data, size);
    read_stream(data, size);
    return 0;
}
