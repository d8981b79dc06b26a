/*
 * fuzz_proto.c - the request protocol's decoders (common/proto.h), which
 * read what arrives on the mlmd <-> multiplexor <-> worker sockets.
 *
 * Input: one mode byte, then a payload. Bit 0 of the mode forces the
 * payload's version byte to MLM_PROTO_VERSION (so half the inputs get past
 * the version check). Each input is decoded as a request and as a reply;
 * the raw payload is also read as a byte stream of frames (frame_complete
 * as mlmd and the multiplexor use it), and frame_complete is checked on
 * every prefix. Properties: a failed decode leaves nothing allocated, a
 * decoded message re-encodes to the same bytes (the reserved flags byte
 * aside), and frame_complete answers consistently as bytes arrive.
 */
#include "proto.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decoded payload -> encoded frame: the same bytes, flags byte aside. */
static void check_reencoded(const struct mlm_buf *b, const uint8_t *payload,
                            size_t len, const char *what)
{
    size_t frame_len = 0;
    FUZZ_CHECK(frame_complete(b->data, b->len, &frame_len) == 1 &&
                   frame_len == b->len,
               "re-encoded %s is not one complete frame", what);
    FUZZ_CHECK(b->len == len + MLM_FRAME_HDR, "re-encoded %s: %zu bytes, "
               "decoded from %zu", what, b->len - MLM_FRAME_HDR, len);
    const uint8_t *p = b->data + MLM_FRAME_HDR;
    FUZZ_CHECK(memcmp(p, payload, 3) == 0 &&
                   memcmp(p + MLM_PAYLOAD_HDR, payload + MLM_PAYLOAD_HDR,
                          len - MLM_PAYLOAD_HDR) == 0,
               "re-encoded %s differs from the payload it was decoded from",
               what);
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
    check_reencoded(&b, payload, len, "reply");
    buf_free(&b);
    reply_free(&rep);
}

/* Decode a payload from its own allocation, so ASan sees any over-read. */
static void try_payload(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    try_request(copy, len);
    try_reply(copy, len);
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
    free(payload);

    check_prefixes(data, size);
    read_stream(data, size);
    return 0;
}
