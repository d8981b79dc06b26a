/*
 * proto_test.c - the request protocol codec and the fork server's
 * messages: round trips, and refusal of truncated, oversized, trailing,
 * garbage and wrong-version frames.
 */
#include "proto.h"
#include "sockio.h"
#include "xmalloc.h"
#include "zygote_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

static void sample_request(struct mlm_request *req)
{
    memset(req, 0, sizeof *req);
    req->stage = STAGE_MESSAGE;
    req->qid = xstrdup("4ABC12");
    req->hostip = xstrdup("192.0.2.1");
    req->hostname = xstrdup("mx.example.org");
    req->helo = xstrdup("mx.example.org");
    req->sender = xstrdup("");
    req->recipient = xstrdup("dev@lists.example");
    req->spool_path = xstrdup("/var/spool/mlm/4ABC12.x");
    req->size = 1234567890123ULL;
    strv_push(&req->recipients, "dev@lists.example");
    strv_push(&req->recipients, "b@example.org");
    strv_push(&req->esmtp_args, "SIZE=100");
    strv_push(&req->macros, "{auth_authen}");
    strv_push(&req->macros, "alice");
}

static void test_request_roundtrip(void)
{
    struct mlm_request in, out;
    struct mlm_buf b;
    char why[256];
    sample_request(&in);
    buf_init(&b);
    request_encode(&b, &in);
    size_t flen;
    CHECK(frame_complete(b.data, b.len, &flen) == 1 && flen == b.len,
          "frame_complete on a whole frame");
    CHECK(request_decode(&out, b.data + 4, b.len - 4, why, sizeof why) == 0,
          "decode: %s", why);
    CHECK(request_check(b.data + 4, b.len - 4, why, sizeof why) == 0,
          "request_check takes what decodes: %s", why);
    CHECK(out.stage == STAGE_MESSAGE, "stage");
    CHECK(strcmp(out.qid, "4ABC12") == 0, "qid");
    CHECK(strcmp(out.sender, "") == 0, "null sender stays empty");
    CHECK(out.size == 1234567890123ULL, "size");
    CHECK(out.recipients.n == 2 && strcmp(out.recipients.v[1],
                                          "b@example.org") == 0,
          "recipients");
    CHECK(out.macros.n == 2 && strcmp(out.macros.v[1], "alice") == 0,
          "macros");
    /* Every truncation must be refused, never read past the end. */
    for (size_t cut = 0; cut < b.len - 4; cut++) {
        struct mlm_request t;
        CHECK(request_decode(&t, b.data + 4, cut, why, sizeof why) == -1,
              "truncated at %zu accepted", cut);
        CHECK(request_check(b.data + 4, cut, why, sizeof why) == -1,
              "request_check: truncated at %zu accepted", cut);
    }
    /* request_check and request_decode agree on every frame one byte away:
     * a NUL planted in a string, a length made too long. */
    for (size_t at = 4; at < b.len; at++) {
        static const uint8_t planted[] = {0x00, 0xff};
        for (size_t k = 0; k < sizeof planted; k++) {
            uint8_t keep = b.data[at];
            struct mlm_request t;
            b.data[at] = planted[k];
            int decoded = request_decode(&t, b.data + 4, b.len - 4, why,
                                         sizeof why) == 0;
            if (decoded)
                request_free(&t);
            int checked = request_check(b.data + 4, b.len - 4, why,
                                        sizeof why) == 0;
            CHECK(decoded == checked, "byte %zu set to %#x: decode %d, "
                  "check %d", at, planted[k], decoded, checked);
            b.data[at] = keep;
        }
    }
    /* Trailing garbage is refused too. */
    request_free(&out);
    buf_put_u8(&b, 0x42);
    CHECK(request_decode(&out, b.data + 4, b.len - 4, why, sizeof why) == -1 ||
              (request_free(&out), 0),
          "trailing byte accepted");
    CHECK(request_check(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "request_check: trailing byte accepted");
    request_free(&in);
    buf_free(&b);
}

static void test_reply_roundtrip(void)
{
    struct mlm_reply in, out;
    struct mlm_buf b;
    char why[256];
    reply_init(&in, ACT_REJECT);
    in.code = xstrdup("550");
    in.dsn = xstrdup("5.1.1");
    in.text = xstrdup("No such list");
    reply_add_change(&in, CHG_ADD_HEADER, "X-Test", "yes", 0);
    reply_add_change(&in, CHG_DELETE_RCPT, NULL, "dev@lists.example", 0);
    buf_init(&b);
    reply_encode(&b, &in);
    CHECK(reply_decode(&out, b.data + 4, b.len - 4, why, sizeof why) == 0,
          "decode reply: %s", why);
    CHECK(out.action == ACT_REJECT && strcmp(out.dsn, "5.1.1") == 0,
          "reply fields");
    CHECK(out.nchanges == 2 && out.changes[0].kind == CHG_ADD_HEADER &&
              strcmp(out.changes[0].value, "yes") == 0 &&
              out.changes[1].name == NULL,
          "changes");
    CHECK(reply_validate(&out, why, sizeof why) == 0, "valid reply: %s", why);
    for (size_t cut = 0; cut < b.len - 4; cut++) {
        struct mlm_reply t;
        CHECK(reply_decode(&t, b.data + 4, cut, why, sizeof why) == -1,
              "truncated reply at %zu accepted", cut);
    }
    reply_free(&in);
    reply_free(&out);
    buf_free(&b);
}

/*
 * A big reply: its strings span many blocks, one of them longer than a
 * block; every change must come back as it went out, in order.
 */
static void test_big_reply(void)
{
    struct mlm_reply in, out;
    struct mlm_buf b;
    char why[256], addr[64];
    static char long_value[16001];
    memset(long_value, 'v', sizeof long_value - 1);
    reply_init(&in, ACT_CONTINUE);
    reply_add_change(&in, CHG_DELETE_RCPT, NULL, "big@lists.example", 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(addr, sizeof addr, "member%d@d%d.example", i, i % 97);
        reply_add_change(&in, CHG_ADD_RCPT, NULL, addr, 0);
        if (i == 10000)
            reply_add_change(&in, CHG_ADD_HEADER, "X-Long", long_value, 0);
    }
    buf_init(&b);
    reply_encode(&b, &in);
    CHECK(reply_decode(&out, b.data + 4, b.len - 4, why, sizeof why) == 0,
          "decode big reply: %s", why);
    CHECK(out.nchanges == in.nchanges, "big reply: %u changes back, %u sent",
          out.nchanges, in.nchanges);
    int same = out.nchanges == in.nchanges;
    for (uint32_t i = 0; same && i < out.nchanges; i++)
        same = out.changes[i].kind == in.changes[i].kind &&
               strcmp(out.changes[i].value, in.changes[i].value) == 0 &&
               (in.changes[i].name == NULL
                    ? out.changes[i].name == NULL
                    : strcmp(out.changes[i].name, in.changes[i].name) == 0);
    CHECK(same, "big reply: every change as sent, in order");
    CHECK(strlen(in.changes[10002].value) == 16000,
          "the long value kept whole in the worker's blocks");
    CHECK(reply_validate(&out, why, sizeof why) == 0, "big reply valid: %s",
          why);
    reply_free(&in);
    reply_free(&out);
    buf_free(&b);
}

static void test_bad_frames(void)
{
    char why[256];
    size_t flen;
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK(frame_complete(huge, 4, &flen) == -1, "oversized length accepted");
    uint8_t tiny[4] = {0, 0, 0, 2};
    CHECK(frame_complete(tiny, 4, &flen) == -1, "undersized length accepted");
    uint8_t partial[6] = {0, 0, 0, 8, 1, 3};
    CHECK(frame_complete(partial, 6, &flen) == 0, "partial frame complete");
    CHECK(frame_complete(partial, 3, &flen) == 0, "partial prefix complete");

    uint8_t wrong_version[4] = {MLM_PROTO_VERSION + 1, MSG_REQUEST, 0, 0};
    struct mlm_request req;
    CHECK(request_decode(&req, wrong_version, 4, why, sizeof why) == -1 &&
              strstr(why, "version mismatch") != NULL,
          "version mismatch not named: %s", why);

    /* A string length larger than the payload. */
    struct mlm_buf b;
    buf_init(&b);
    frame_begin(&b, MSG_REQUEST, STAGE_SENDER);
    buf_put_u32(&b, 0x7fffffff);
    frame_finish(&b);
    CHECK(request_decode(&req, b.data + 4, b.len - 4, why, sizeof why) == -1,
          "lying string length accepted");

    /* An array count far beyond what the payload can hold. */
    buf_reset(&b);
    frame_begin(&b, MSG_REQUEST, STAGE_SENDER);
    for (int i = 0; i < 7; i++)
        buf_put_str(&b, "x");
    buf_put_u64(&b, 0);
    buf_put_u32(&b, 1000000);
    frame_finish(&b);
    CHECK(request_decode(&req, b.data + 4, b.len - 4, why, sizeof why) == -1,
          "lying array count accepted");

    /* A NUL inside a string field. */
    buf_reset(&b);
    frame_begin(&b, MSG_REQUEST, STAGE_SENDER);
    buf_put_u32(&b, 3);
    buf_put_bytes(&b, "a\0b", 3);
    frame_finish(&b);
    CHECK(request_decode(&req, b.data + 4, b.len - 4, why, sizeof why) == -1,
          "NUL in a string accepted");

    /* A stage or action out of range. */
    uint8_t bad_stage[4] = {MLM_PROTO_VERSION, MSG_REQUEST, STAGE_COUNT, 0};
    CHECK(request_decode(&req, bad_stage, 4, why, sizeof why) == -1,
          "stage out of range accepted");
    struct mlm_reply rep;
    uint8_t bad_action[4] = {MLM_PROTO_VERSION, MSG_REPLY, ACT_COUNT, 0};
    CHECK(reply_decode(&rep, bad_action, 4, why, sizeof why) == -1,
          "action out of range accepted");

    /* Garbage: random bytes never crash the decoders. */
    srand(42);
    uint8_t junk[512];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rand();
        if (n > 0)
            junk[0] = MLM_PROTO_VERSION;
        if (n > 2 && round % 2) { /* a request's body of junk */
            junk[1] = MSG_REQUEST;
            junk[2] = (uint8_t)(rand() % STAGE_COUNT);
        }
        int checked = request_check(junk, n, why, sizeof why);
        int decoded = request_decode(&req, junk, n, why, sizeof why);
        CHECK(checked == decoded, "request_check (%d) and request_decode "
              "(%d) disagree on junk of round %d", checked, decoded, round);
        if (decoded == 0)
            request_free(&req);
        if (reply_decode(&rep, junk, n, why, sizeof why) == 0)
            reply_free(&rep);
    }
    buf_free(&b);
}

/*
 * frame_read over a socket: a frame whole in one read (blocking, without a
 * deadline), a big frame over many, and bytes after a frame refused (a
 * peer must wait for the answer).
 */
static void test_frame_io(void)
{
    int sv[2];
    char why[256];
    const uint8_t *payload;
    size_t len;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    struct mlm_buf out, in;
    buf_init(&out);
    buf_init(&in);
    frame_begin(&out, MSG_HELLO, 7);
    buf_put_str(&out, "hello");
    frame_finish(&out);
    int64_t deadline = now_ms() + 5000;
    CHECK(frame_write(sv[0], &out, deadline, why, sizeof why) == 0, "write");
    CHECK(frame_read(sv[1], &in, DEADLINE_NONE, &payload, &len, why,
                     sizeof why) == 0 &&
              len == out.len - MLM_FRAME_HDR && payload[1] == MSG_HELLO,
          "one small frame read back, blocking: %s", why);

    /* Two frames sent without waiting: the second is a broken peer. */
    CHECK(frame_write(sv[0], &out, deadline, why, sizeof why) == 0 &&
              frame_write(sv[0], &out, deadline, why, sizeof why) == 0,
          "write two");
    why[0] = '\0';
    CHECK(frame_read(sv[1], &in, deadline, &payload, &len, why, sizeof why) ==
                  -1 &&
              strstr(why, "unexpected bytes after a frame") != NULL,
          "bytes after a frame not refused: %s", why);
    close(sv[0]);
    close(sv[1]);

    /* A frame larger than one read and than the socket's buffer. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    buf_reset(&out);
    frame_begin(&out, MSG_HELLO, 0);
    char *big = xmalloc(300000);
    memset(big, 'x', 299999);
    big[299999] = '\0';
    buf_put_str(&out, big);
    frame_finish(&out);
    pid_t child = fork();
    if (child == 0) {
        frame_write(sv[0], &out, now_ms() + 5000, why, sizeof why);
        _exit(0);
    }
    CHECK(frame_read(sv[1], &in, now_ms() + 5000, &payload, &len, why,
                     sizeof why) == 0 &&
              len == out.len - MLM_FRAME_HDR &&
              memcmp(payload, out.data + MLM_FRAME_HDR, len) == 0,
          "big frame read back whole: %s", why);
    waitpid(child, NULL, 0);
    close(sv[0]);
    close(sv[1]);
    free(big);
    buf_free(&out);
    buf_free(&in);
}

static void test_validation(void)
{
    struct mlm_reply rep;
    char why[256];
    CHECK(smtp_code_valid("550", '5') && !smtp_code_valid("450", '5') &&
              !smtp_code_valid("55", 0) && !smtp_code_valid("5x0", 0),
          "reply codes");
    CHECK(smtp_dsn_valid("5.7.1", '5') && smtp_dsn_valid("4.3.0", '4') &&
              !smtp_dsn_valid("4.3.0", '5') && !smtp_dsn_valid("5.7", 0) &&
              !smtp_dsn_valid("5.7.1234", 0) && !smtp_dsn_valid("5..1", 0),
          "enhanced status codes");
    CHECK(header_name_valid("X-Loop") && !header_name_valid("X Loop") &&
              !header_name_valid("X:Loop") && !header_name_valid(""),
          "header names");
    CHECK(header_value_valid("a\tb") && !header_value_valid("a\r\nBcc: x") &&
              !header_value_valid("a\nb"),
          "header values");
    CHECK(address_valid("a@b.example") && !address_valid("a@b>\r\nRCPT") &&
              !address_valid("a\x01@b") && !address_valid("<a@b>") &&
              !address_valid("a\x7f@b") && !address_valid("a\t@b") &&
              !address_valid(NULL) && address_valid("caf\xc3\xa9@b.example"),
          "addresses");
    char longest[1001];
    memset(longest, 'a', 998);
    longest[998] = '\0';
    CHECK(address_valid(longest), "an address of 998 bytes is valid");
    longest[998] = 'a', longest[999] = '\0';
    CHECK(!address_valid(longest), "an address of 999 bytes is not");
    reply_init(&rep, ACT_CONTINUE);
    reply_add_change(&rep, CHG_ADD_HEADER, "X-A", "ok\r\nInjected: 1", 0);
    CHECK(reply_validate(&rep, why, sizeof why) == -1,
          "CR/LF in a header value passed validation");
    reply_free(&rep);
    reply_init(&rep, ACT_REJECT);
    rep.code = xstrdup("451");
    CHECK(reply_validate(&rep, why, sizeof why) == -1,
          "a 4xx code on a reject passed validation");
    reply_free(&rep);
}

/* The longest line of a folded value, the first counting "Name: ". */
static size_t longest_line(const char *name, const char *folded)
{
    size_t longest = 0, col = strlen(name) + 2;
    for (const char *p = folded;; p++) {
        if (*p == '\n' || *p == '\0') {
            longest = col > longest ? col : longest;
            if (*p == '\0')
                return longest;
            col = 0;
        } else {
            col++;
        }
    }
}

/* Folded back: every LF removed (RFC 5322 2.2.3). */
static int unfolds_to(const char *folded, const char *value)
{
    const char *v = value;
    for (const char *p = folded; *p; p++) {
        if (*p == '\n')
            continue;
        if (*p != *v++)
            return 0;
    }
    return *v == '\0';
}

static void test_header_fold(void)
{
    static char words[3000], token[2000];
    size_t n = 0;
    for (int i = 0; n + 8 < sizeof words - 1; i++)
        n += (size_t)snprintf(words + n, sizeof words - n, "w%d ", i);
    words[n - 1] = '\0';
    char *f = header_fold("Subject", words);
    CHECK(longest_line("Subject", f) <= 78, "words folded at 78 (longest %zu)",
          longest_line("Subject", f));
    CHECK(unfolds_to(f, words), "a fold only adds line ends");
    CHECK(header_value_folded_valid(f), "mlmd takes the folded value");
    free(f);

    memset(token, 'x', sizeof token - 1);
    f = header_fold("X-Token", token);
    CHECK(longest_line("X-Token", f) <= 998,
          "a word too long for a line is cut at 998 (longest %zu)",
          longest_line("X-Token", f));
    CHECK(header_value_folded_valid(f), "mlmd takes the cut value");
    free(f);

    static char blanks[1600];
    memset(blanks, ' ', sizeof blanks - 1);
    blanks[0] = 'a';
    blanks[sizeof blanks - 2] = 'b';
    f = header_fold("Subject", blanks);
    CHECK(longest_line("Subject", f) <= 998 && header_value_folded_valid(f),
          "a run of 1,600 blanks inside a value: no line of blanks only "
          "(longest %zu)", longest_line("Subject", f));
    CHECK(f[0] == 'a' && strchr(f, 'b') != NULL, "its words kept");
    free(f);
    blanks[sizeof blanks - 2] = ' ';
    f = header_fold("Subject", blanks);
    CHECK(longest_line("Subject", f) <= 998 && header_value_folded_valid(f),
          "a value ending in 1,600 blanks: no line of blanks only");
    free(f);

    f = header_fold("List-Id", "<dev.example.org>");
    CHECK(strcmp(f, "<dev.example.org>") == 0, "a short value stays as it is");
    free(f);

    CHECK(header_value_folded_valid("a\n b") && header_value_folded_valid("a\n\tb"),
          "a fold is a line end and a blank");
    CHECK(!header_value_folded_valid("a\nb"), "a line end without a blank is refused");
    CHECK(!header_value_folded_valid("a\r\n b"), "CR is refused");
    CHECK(!header_value_folded_valid("a\n \n b") && !header_value_folded_valid("a\n "),
          "a line of blanks only is refused");
}

/*
 * The messages besides requests and replies. Each decoder behind one
 * signature: 0 when it takes the payload (what it decoded freed again).
 */
typedef int (*decode_fn)(const uint8_t *payload, size_t len, char *why,
                         size_t whylen);

static int try_hello(const uint8_t *p, size_t len, char *why, size_t wl)
{
    return hello_decode(p, len, why, wl);
}

static int try_hello_ok(const uint8_t *p, size_t len, char *why, size_t wl)
{
    struct mlm_hello_ok m;
    return hello_ok_decode(&m, p, len, why, wl);
}

static int try_ready(const uint8_t *p, size_t len, char *why, size_t wl)
{
    struct mlm_ready m;
    return ready_decode(&m, p, len, why, wl);
}

static int try_load_error(const uint8_t *p, size_t len, char *why, size_t wl)
{
    struct mlm_load_error m;
    int rc = load_error_decode(&m, p, len, why, wl);
    if (rc == -1 && m.reason != NULL)
        return -2; /* a failed decode must leave nothing */
    load_error_free(&m);
    return rc;
}

static int try_error(const uint8_t *p, size_t len, char *why, size_t wl)
{
    char *reason;
    int rc = error_decode(&reason, p, len, why, wl);
    if (rc == -1 && reason != NULL)
        return -2;
    free(reason);
    return rc;
}

static int try_ctl(const uint8_t *p, size_t len, char *why, size_t wl)
{
    struct mlm_ctl m;
    return ctl_decode(&m, p, len, why, wl);
}

static int try_ctl_reply(const uint8_t *p, size_t len, char *why, size_t wl)
{
    struct mlm_ctl_reply m;
    int rc = ctl_reply_decode(&m, p, len, why, wl);
    if (rc == -1 && m.text != NULL)
        return -2;
    ctl_reply_free(&m);
    return rc;
}

/*
 * What every decoder refuses, on a good frame b (as its encoder made it):
 * each truncation, a byte too many, another version, another type, a sub
 * (but for CTL, whose sub is the verb) or flags byte other than 0.
 */
static void refusals(const char *what, decode_fn decode, struct mlm_buf *b,
                     uint8_t type)
{
    char why[256];
    uint8_t *payload = b->data + MLM_FRAME_HDR;
    size_t len = b->len - MLM_FRAME_HDR;
    CHECK(decode(payload, len, why, sizeof why) == 0, "%s: decode: %s", what,
          why);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(decode(payload, cut, why, sizeof why) == -1,
              "%s: truncated at %zu accepted", what, cut);
    /* A copy one byte longer, so that the bytes past len are its own. */
    uint8_t *longer = xmalloc(len + 1);
    memcpy(longer, payload, len);
    longer[len] = 0;
    why[0] = '\0';
    CHECK(decode(longer, len + 1, why, sizeof why) == -1 &&
              strstr(why, "malformed") != NULL,
          "%s: a trailing byte accepted (%s)", what, why);
    free(longer);
    payload[0] = MLM_PROTO_VERSION + 1;
    CHECK(decode(payload, len, why, sizeof why) == -1 &&
              strstr(why, "version mismatch") != NULL,
          "%s: another version accepted (%s)", what, why);
    payload[0] = MLM_PROTO_VERSION;
    payload[1] = type == MSG_ERROR ? MSG_HELLO_OK : MSG_ERROR;
    CHECK(decode(payload, len, why, sizeof why) == -1, "%s: another type "
          "accepted", what);
    payload[1] = type;
    if (type != MSG_CTL) {
        payload[2] = 1;
        CHECK(decode(payload, len, why, sizeof why) == -1,
              "%s: sub 1 accepted", what);
        payload[2] = 0;
    }
    for (int bit = 0; bit < 8; bit++) {
        payload[MLM_PAYLOAD_FLAGS] = (uint8_t)(1u << bit);
        CHECK(decode(payload, len, why, sizeof why) == -1,
              "%s: flags 0x%x accepted", what, 1u << bit);
    }
    payload[MLM_PAYLOAD_FLAGS] = 0;
    CHECK(decode(payload, len, why, sizeof why) == 0,
          "%s: the frame, restored, decodes: %s", what, why);
}

/* A string field whose length says more than the frame holds. */
static void lying_string(const char *what, decode_fn decode, uint8_t type,
                         uint8_t before)
{
    struct mlm_buf b;
    char why[256];
    buf_init(&b);
    frame_begin(&b, type, 0);
    if (before)
        buf_put_u8(&b, 1);
    buf_put_u32(&b, 1000);
    buf_put_bytes(&b, "short", 5);
    buf_put_u32(&b, 42);
    frame_finish(&b);
    CHECK(decode(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "%s: a string longer than the frame accepted", what);
    /* A NUL inside the string. */
    buf_reset(&b);
    frame_begin(&b, type, 0);
    if (before)
        buf_put_u8(&b, 1);
    buf_put_u32(&b, 3);
    buf_put_bytes(&b, "a\0b", 3);
    buf_put_u32(&b, 42);
    frame_finish(&b);
    CHECK(decode(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "%s: a NUL in the string accepted", what);
    buf_free(&b);
}

static void test_hello(void)
{
    struct mlm_buf b;
    char why[256];
    buf_init(&b);
    hello_encode(&b);
    CHECK(b.len == MLM_FRAME_HDR + MLM_PAYLOAD_HDR, "hello: the header only");
    CHECK(hello_decode(b.data + 4, b.len - 4, why, sizeof why) == 0,
          "hello: decode: %s", why);
    refusals("hello", try_hello, &b, MSG_HELLO);
    buf_free(&b);

    struct mlm_hello_ok ok;
    buf_init(&b);
    hello_ok_encode(&b, STAGE_BIT(STAGE_SENDER) | STAGE_BIT(STAGE_MESSAGE),
                    7);
    CHECK(hello_ok_decode(&ok, b.data + 4, b.len - 4, why, sizeof why) == 0 &&
              ok.stages == (STAGE_BIT(STAGE_SENDER) |
                            STAGE_BIT(STAGE_MESSAGE)) &&
              ok.generation == 7,
          "hello_ok: round trip");
    refusals("hello_ok", try_hello_ok, &b, MSG_HELLO_OK);
    buf_reset(&b);
    hello_ok_encode(&b, STAGE_MASK_ALL + 1, 1);
    CHECK(try_hello_ok(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "hello_ok: a stage beyond STAGE_COUNT accepted");
    buf_free(&b);
}

static void test_ready(void)
{
    struct mlm_buf b;
    struct mlm_ready r;
    struct mlm_load_error le;
    char why[256];
    buf_init(&b);
    ready_encode(&b, STAGE_MASK_ALL, 4242);
    CHECK(ready_decode(&r, b.data + 4, b.len - 4, why, sizeof why) == 0 &&
              r.stages == STAGE_MASK_ALL && r.pid == 4242,
          "ready: round trip");
    refusals("ready", try_ready, &b, MSG_READY);
    buf_reset(&b);
    ready_encode(&b, STAGE_BIT(STAGE_RELAY), 0);
    CHECK(try_ready(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "ready: pid 0 accepted");
    buf_reset(&b);
    ready_encode(&b, STAGE_BIT(STAGE_RELAY), 0x80000000u);
    CHECK(try_ready(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "ready: a negative pid accepted");
    buf_reset(&b);
    ready_encode(&b, 1u << STAGE_COUNT, 1);
    CHECK(try_ready(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "ready: a stage beyond STAGE_COUNT accepted");
    buf_reset(&b);

    load_error_encode(&b, "policy.lua:3: syntax error", 99);
    CHECK(load_error_decode(&le, b.data + 4, b.len - 4, why, sizeof why) ==
                  0 &&
              strcmp(le.reason, "policy.lua:3: syntax error") == 0 &&
              le.pid == 99,
          "load_error: round trip");
    load_error_free(&le);
    refusals("load_error", try_load_error, &b, MSG_LOAD_ERROR);
    buf_reset(&b);
    load_error_encode(&b, "x", 0);
    CHECK(try_load_error(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "load_error: pid 0 accepted");
    lying_string("load_error", try_load_error, MSG_LOAD_ERROR, 0);
    buf_free(&b);
}

static void test_error(void)
{
    struct mlm_buf b;
    char *reason, why[256];
    buf_init(&b);
    error_encode(&b, "frame length out of bounds");
    CHECK(error_decode(&reason, b.data + 4, b.len - 4, why, sizeof why) == 0 &&
              strcmp(reason, "frame length out of bounds") == 0,
          "error: round trip");
    free(reason);
    refusals("error", try_error, &b, MSG_ERROR);
    lying_string("error", try_error, MSG_ERROR, 0);
    buf_free(&b);
}

static void test_ctl(void)
{
    struct mlm_buf b;
    struct mlm_ctl c;
    struct mlm_ctl_reply rep;
    char why[256];
    buf_init(&b);
    for (int v = 0; v < CTL_VERB_COUNT; v++) {
        uint8_t arg = v == CTL_STATS ? STATS_PROMETHEUS : 0;
        buf_reset(&b);
        ctl_encode(&b, v, arg);
        CHECK(ctl_decode(&c, b.data + 4, b.len - 4, why, sizeof why) == 0 &&
                  c.verb == (enum mlm_ctl_verb)v && c.arg == arg,
              "ctl %s: round trip: %s", ctl_verb_name(v), why);
        refusals(ctl_verb_name(v), try_ctl, &b, MSG_CTL);
    }
    /* mlm-ctl's words, which its errors and the multiplexor's log name. */
    CHECK(strcmp(ctl_verb_name(CTL_STATUS), "status") == 0 &&
              strcmp(ctl_verb_name(CTL_STATS), "stats") == 0 &&
              strcmp(ctl_verb_name(CTL_RELOAD), "reload") == 0,
          "verb names");
    CHECK(strcmp(stats_format_name(STATS_TEXT), "text") == 0 &&
              strcmp(stats_format_name(STATS_JSON), "json") == 0 &&
              strcmp(stats_format_name(STATS_PROMETHEUS), "prometheus") == 0,
          "stats format names");
    CHECK(strcmp(ctl_verb_name(CTL_VERB_COUNT), "?") == 0 &&
              strcmp(stats_format_name(STATS_FORMAT_COUNT), "?") == 0,
          "names out of range");

    /* Unknown verbs, whatever their number, and arguments out of range. */
    for (unsigned v = CTL_VERB_COUNT; v <= UINT8_MAX; v++) {
        buf_reset(&b);
        frame_begin(&b, MSG_CTL, (uint8_t)v);
        buf_put_u8(&b, 0);
        frame_finish(&b);
        why[0] = '\0';
        CHECK(ctl_decode(&c, b.data + 4, b.len - 4, why, sizeof why) == -1 &&
                  strstr(why, "unknown control command") != NULL,
              "verb %u accepted (%s)", v, why);
    }
    buf_reset(&b);
    ctl_encode(&b, CTL_STATS, STATS_FORMAT_COUNT);
    CHECK(try_ctl(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "stats: format %d accepted", STATS_FORMAT_COUNT);
    buf_reset(&b);
    ctl_encode(&b, CTL_RELOAD, 1);
    CHECK(try_ctl(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "reload: an argument accepted");
    buf_reset(&b);
    ctl_encode(&b, CTL_STATUS, STATS_JSON);
    CHECK(try_ctl(b.data + 4, b.len - 4, why, sizeof why) == 0,
          "status: JSON refused (%s)", why);
    buf_reset(&b);
    ctl_encode(&b, CTL_STATUS, STATS_PROMETHEUS);
    CHECK(try_ctl(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "status: a format past JSON accepted");

    for (int ok = 0; ok <= 1; ok++) {
        buf_reset(&b);
        ctl_reply_encode(&b, ok, ok ? "reloaded" : "permission denied");
        CHECK(ctl_reply_decode(&rep, b.data + 4, b.len - 4, why,
                               sizeof why) == 0 &&
                  rep.ok == ok &&
                  strcmp(rep.text, ok ? "reloaded" : "permission denied") ==
                      0,
              "ctl_reply %d: round trip", ok);
        ctl_reply_free(&rep);
        refusals("ctl_reply", try_ctl_reply, &b, MSG_CTL_REPLY);
    }
    buf_reset(&b);
    ctl_reply_encode(&b, 1, "");
    b.data[MLM_FRAME_HDR + MLM_PAYLOAD_HDR] = 2;
    CHECK(try_ctl_reply(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "ctl_reply: ok 2 accepted");
    lying_string("ctl_reply", try_ctl_reply, MSG_CTL_REPLY, 1);
    buf_free(&b);
}

/* The flags byte: 0 in a request, free in a reply (relayed, stamped). */
static void test_flags(void)
{
    struct mlm_request in, out;
    struct mlm_reply rin, rout;
    struct mlm_buf b;
    char why[256];
    sample_request(&in);
    buf_init(&b);
    request_encode(&b, &in);
    b.data[MLM_FRAME_HDR + MLM_PAYLOAD_FLAGS] = REPLY_OUTBOX;
    CHECK(request_decode(&out, b.data + 4, b.len - 4, why, sizeof why) == -1,
          "request: flags accepted");
    CHECK(request_check(b.data + 4, b.len - 4, why, sizeof why) == -1,
          "request_check: flags accepted");
    request_free(&in);
    buf_reset(&b);
    reply_init(&rin, ACT_CONTINUE);
    reply_encode(&b, &rin);
    CHECK(reply_flags(b.data + 4) == 0, "a reply leaves the worker with 0");
    reply_flags_set(b.data + 4, REPLY_OUTBOX | STAGE_BIT(STAGE_MESSAGE));
    CHECK(reply_flags(b.data + 4) == (REPLY_OUTBOX | STAGE_BIT(STAGE_MESSAGE)),
          "reply flags set and read back");
    CHECK(reply_decode(&rout, b.data + 4, b.len - 4, why, sizeof why) == 0 &&
              rout.action == ACT_CONTINUE,
          "a reply decodes whatever its flags: %s", why);
    CHECK((REPLY_OUTBOX & STAGE_MASK_ALL) == 0,
          "REPLY_OUTBOX is no stage bit");
    reply_free(&rin);
    reply_free(&rout);
    buf_free(&b);
}

/* The fork server's channel: fixed 12-byte messages. */
static void test_zygote_proto(void)
{
    uint8_t msg[ZY_MSG_LEN + 1];
    struct zy_msg m;
    char why[256];
    const struct zy_msg good[] = {
        {ZY_READY, 0, 1234},
        {ZY_FORK, 17, 0},
        {ZY_FORKED, 17, 5678},
        {ZY_FORK_FAILED, 18, 11},
        {ZY_FORKED, UINT32_MAX, INT32_MAX},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        zy_encode(msg, good[i].type, good[i].ticket, good[i].value);
        CHECK(zy_decode(&m, msg, ZY_MSG_LEN, why, sizeof why) == 0 &&
                  m.type == good[i].type && m.ticket == good[i].ticket &&
                  m.value == good[i].value,
              "zygote message %zu: round trip: %s", i, why);
        CHECK(msg[0] == ZYGOTE_PROTO_VERSION && msg[4] == good[i].ticket >> 24 &&
                  msg[11] == (uint8_t)good[i].value,
              "zygote message %zu: version first, big-endian fields", i);
        for (size_t len = 0; len <= ZY_MSG_LEN + 1; len++)
            if (len != ZY_MSG_LEN)
                CHECK(zy_decode(&m, msg, len, why, sizeof why) == -1,
                      "zygote message %zu: %zu bytes accepted", i, len);
    }
    const struct zy_msg bad[] = {
        {ZY_READY, 1, 1234},        /* a ticket in READY */
        {ZY_READY, 0, 0},           /* no pid */
        {ZY_FORK, 17, 1},           /* a value in FORK */
        {ZY_FORKED, 17, 0},         /* pid 0 */
        {ZY_FORKED, 17, 0x80000000u}, /* a negative pid */
        {0, 0, 0},                  /* no such type */
        {ZY_FORK_FAILED + 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zy_encode(msg, bad[i].type, bad[i].ticket, bad[i].value);
        CHECK(zy_decode(&m, msg, ZY_MSG_LEN, why, sizeof why) == -1,
              "bad zygote message %zu accepted", i);
    }
    zy_encode(msg, ZY_FORK, 3, 0);
    msg[0] = ZYGOTE_PROTO_VERSION + 1;
    CHECK(zy_decode(&m, msg, ZY_MSG_LEN, why, sizeof why) == -1 &&
              strstr(why, "version mismatch") != NULL,
          "zygote: another version accepted (%s)", why);
    for (int at = 2; at <= 3; at++) {
        zy_encode(msg, ZY_FORK, 3, 0);
        msg[at] = 1;
        CHECK(zy_decode(&m, msg, ZY_MSG_LEN, why, sizeof why) == -1,
              "zygote: reserved byte %d accepted", at);
    }
}

int main(void)
{
    test_request_roundtrip();
    test_reply_roundtrip();
    test_big_reply();
    test_bad_frames();
    test_frame_io();
    test_hello();
    test_ready();
    test_error();
    test_ctl();
    test_flags();
    test_zygote_proto();
    test_validation();
    test_header_fold();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
