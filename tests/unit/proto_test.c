/*
 * proto_test.c - the request protocol codec and the fork server's
 * messages: round trips, and refusal of truncated, oversized, trailing,
 * garbage and wrong-version frames. Every decoder meets the same battery
 * of broken frames (refusals); the messages besides requests and replies
 * are one table of cases (messages[]). Also the rules common/proto.h
 * sets on what a reply carries (codes, enhanced codes, header names and
 * values, folding): one file for the one header's contract.
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

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Every decoder behind one signature: 0 when it takes the payload (and,
 * given ctx, the case the payload was encoded from, decodes that case's
 * fields), -1 when it refuses it; what it decoded is freed again.
 */
typedef int (*decode_fn)(const void *ctx, const uint8_t *payload, size_t len,
                         char *why, size_t whylen);

/* One decoder and what the frames of its type hold. */
struct decoder {
    const char *what;
    decode_fn decode;
    const void *ctx;
    uint8_t type;   /* MSG_REQUEST .. MSG_CTL_REPLY */
    int sub_free;   /* the sub byte is a field: stage, action, verb */
    int flags_free; /* any flags byte is taken: a reply's */
};

/*
 * What every decoder refuses, on a good frame b (as its encoder made it):
 * each truncation, a byte too many, another version, another type, a sub
 * (unless it is a field) or flags byte (unless free) other than 0.
 */
static void refusals(const struct decoder *d, struct mlm_buf *b)
{
    char why[256];
    uint8_t *payload = b->data + MLM_FRAME_HDR;
    size_t len = b->len - MLM_FRAME_HDR;
    CHECK(d->decode(d->ctx, payload, len, why, sizeof why) == 0,
          "%s: round trip: %s", d->what, why);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(d->decode(d->ctx, payload, cut, why, sizeof why) == -1,
              "%s: truncated at %zu accepted", d->what, cut);
    /* A copy one byte longer, so that the bytes past len are its own. */
    uint8_t *longer = xmalloc(len + 1);
    memcpy(longer, payload, len);
    longer[len] = 0;
    why[0] = '\0';
    CHECK(d->decode(d->ctx, longer, len + 1, why, sizeof why) == -1 &&
              strstr(why, "malformed") != NULL,
          "%s: a trailing byte accepted (%s)", d->what, why);
    free(longer);
    payload[0] = MLM_PROTO_VERSION + 1;
    CHECK(d->decode(d->ctx, payload, len, why, sizeof why) == -1 &&
              strstr(why, "version mismatch") != NULL,
          "%s: another version accepted (%s)", d->what, why);
    payload[0] = MLM_PROTO_VERSION;
    payload[1] = d->type == MSG_ERROR ? MSG_HELLO_OK : MSG_ERROR;
    CHECK(d->decode(d->ctx, payload, len, why, sizeof why) == -1,
          "%s: another type accepted", d->what);
    payload[1] = d->type;
    if (!d->sub_free) {
        payload[2] = 1;
        CHECK(d->decode(d->ctx, payload, len, why, sizeof why) == -1,
              "%s: sub 1 accepted", d->what);
        payload[2] = 0;
    }
    for (int bit = 0; bit < 8 && !d->flags_free; bit++) {
        payload[MLM_PAYLOAD_FLAGS] = (uint8_t)(1u << bit);
        CHECK(d->decode(d->ctx, payload, len, why, sizeof why) == -1,
              "%s: flags 0x%x accepted", d->what, 1u << bit);
    }
    payload[MLM_PAYLOAD_FLAGS] = 0;
    CHECK(d->decode(d->ctx, payload, len, why, sizeof why) == 0,
          "%s: the frame, restored, decodes: %s", d->what, why);
}

static int try_request(const void *ctx, const uint8_t *p, size_t len,
                       char *why, size_t wl)
{
    struct mlm_request t;
    int rc = request_decode(&t, p, len, why, wl);
    if (rc == 0)
        request_free(&t);
    return rc;
}

static int try_request_check(const void *ctx, const uint8_t *p, size_t len,
                             char *why, size_t wl)
{
    return request_check(p, len, why, wl);
}

static int try_reply(const void *ctx, const uint8_t *p, size_t len,
                     char *why, size_t wl)
{
    struct mlm_reply t;
    int rc = reply_decode(&t, p, len, why, wl);
    if (rc == 0)
        reply_free(&t);
    return rc;
}

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
    static const struct decoder decoders[] = {
        {"request", try_request, NULL, MSG_REQUEST, 1, 0},
        {"request_check", try_request_check, NULL, MSG_REQUEST, 1, 0},
    };
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
    CHECK(out.stage == STAGE_MESSAGE, "stage");
    CHECK(strcmp(out.qid, "4ABC12") == 0, "qid");
    CHECK(strcmp(out.sender, "") == 0, "null sender stays empty");
    CHECK(out.size == 1234567890123ULL, "size");
    CHECK(out.recipients.n == 2 && strcmp(out.recipients.v[1],
                                          "b@example.org") == 0,
          "recipients");
    CHECK(out.macros.n == 2 && strcmp(out.macros.v[1], "alice") == 0,
          "macros");
    request_free(&out);
    for (size_t i = 0; i < COUNT(decoders); i++)
        refusals(&decoders[i], &b);
    /* request_check and request_decode agree on every frame one byte away:
     * a NUL planted in a string, a length made too long. */
    for (size_t at = 4; at < b.len; at++) {
        static const uint8_t planted[] = {0x00, 0xff};
        for (size_t k = 0; k < sizeof planted; k++) {
            uint8_t keep = b.data[at];
            b.data[at] = planted[k];
            int decoded = try_request(NULL, b.data + 4, b.len - 4, why,
                                      sizeof why) == 0;
            int checked = request_check(b.data + 4, b.len - 4, why,
                                        sizeof why) == 0;
            CHECK(decoded == checked, "byte %zu set to %#x: decode %d, "
                  "check %d", at, planted[k], decoded, checked);
            b.data[at] = keep;
        }
    }
    request_free(&in);
    buf_free(&b);
}

static void test_reply_roundtrip(void)
{
    static const struct decoder decoder = {"reply", try_reply, NULL,
                                           MSG_REPLY, 1, 1};
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
    refusals(&decoder, &b);
    /* The flags byte is the multiplexor's to set, and relayed undecoded. */
    CHECK(reply_flags(b.data + 4) == 0, "a reply leaves the worker with 0");
    reply_flags_set(b.data + 4, REPLY_OUTBOX | STAGE_BIT(STAGE_MESSAGE));
    CHECK(reply_flags(b.data + 4) == (REPLY_OUTBOX | STAGE_BIT(STAGE_MESSAGE)),
          "reply flags set and read back");
    reply_free(&out);
    CHECK(reply_decode(&out, b.data + 4, b.len - 4, why, sizeof why) == 0 &&
              out.action == ACT_REJECT,
          "a reply decodes whatever its flags: %s", why);
    CHECK((REPLY_OUTBOX & STAGE_MASK_ALL) == 0,
          "REPLY_OUTBOX is no stage bit");
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

/* A string of one 'x' as the codec writes it: a 32-bit length, the bytes. */
#define X_STR 0, 0, 0, 1, 'x'

/* Frame prefixes, and payloads made by hand that the decoders refuse. */
static void test_bad_frames(void)
{
    static const struct {
        const char *what;
        uint8_t bytes[6];
        size_t len;
        int want; /* frame_complete's answer */
    } prefixes[] = {
        {"an oversized length", {0xff, 0xff, 0xff, 0xff}, 4, -1},
        {"an undersized length", {0, 0, 0, 2}, 4, -1},
        {"a partial frame", {0, 0, 0, 8, 1, 3}, 6, 0},
        {"a partial prefix", {0, 0, 0, 8, 1, 3}, 3, 0},
    };
    static const struct {
        const char *what;
        decode_fn decode;
        const char *why_has; /* what the refusal must say, or NULL */
        size_t len;
        uint8_t bytes[64];
    } payloads[] = {
        {"another version", try_request, "version mismatch", 4,
         {MLM_PROTO_VERSION + 1, MSG_REQUEST, 0, 0}},
        {"a string length larger than the payload", try_request, NULL, 8,
         {MLM_PROTO_VERSION, MSG_REQUEST, STAGE_SENDER, 0, 0x7f, 0xff, 0xff,
          0xff}},
        /* the seven strings, the size, then a million recipients */
        {"an array count far beyond the payload", try_request, NULL, 51,
         {MLM_PROTO_VERSION, MSG_REQUEST, STAGE_SENDER, 0, X_STR, X_STR, X_STR,
          X_STR, X_STR, X_STR, X_STR, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0f, 0x42,
          0x40}},
        {"a NUL inside a string", try_request, NULL, 11,
         {MLM_PROTO_VERSION, MSG_REQUEST, STAGE_SENDER, 0, 0, 0, 0, 3, 'a', 0,
          'b'}},
        {"a stage out of range", try_request, NULL, 4,
         {MLM_PROTO_VERSION, MSG_REQUEST, STAGE_COUNT, 0}},
        {"an action out of range", try_reply, NULL, 4,
         {MLM_PROTO_VERSION, MSG_REPLY, ACT_COUNT, 0}},
    };
    char why[256];
    size_t flen;
    for (size_t i = 0; i < COUNT(prefixes); i++)
        CHECK(frame_complete(prefixes[i].bytes, prefixes[i].len, &flen) ==
                  prefixes[i].want,
              "frame_complete: %s: not %d", prefixes[i].what,
              prefixes[i].want);
    for (size_t i = 0; i < COUNT(payloads); i++) {
        why[0] = '\0';
        CHECK(payloads[i].decode(NULL, payloads[i].bytes, payloads[i].len, why,
                                 sizeof why) == -1 &&
                  (payloads[i].why_has == NULL ||
                   strstr(why, payloads[i].why_has) != NULL),
              "%s accepted, or not named: %s", payloads[i].what, why);
    }

    /* Garbage: random bytes never crash the decoders. */
    struct mlm_request req;
    struct mlm_reply rep;
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
 * The messages besides requests and replies: one as its encoder writes it
 * from these fields, and what its decoder must say of it.
 */
struct msg_case {
    const char *what;
    uint8_t type;     /* MSG_HELLO .. MSG_CTL_REPLY */
    uint32_t a;       /* hello_ok, ready: stages; ctl: verb; ctl_reply: ok */
    uint32_t b;       /* hello_ok: generation; ready, load_error: pid;
                         ctl: argument */
    const char *text; /* load_error, error: reason; ctl_reply: text */
    int want;         /* 0: decodes to these fields; -1: refused */
};

static const struct msg_case messages[] = {
    {"hello", MSG_HELLO, 0, 0, NULL, 0},
    {"hello_ok", MSG_HELLO_OK,
     STAGE_BIT(STAGE_SENDER) | STAGE_BIT(STAGE_MESSAGE), 7, NULL, 0},
    {"hello_ok: a stage beyond STAGE_COUNT", MSG_HELLO_OK, STAGE_MASK_ALL + 1,
     1, NULL, -1},
    {"ready", MSG_READY, STAGE_MASK_ALL, 4242, NULL, 0},
    {"ready: pid 0", MSG_READY, STAGE_BIT(STAGE_RELAY), 0, NULL, -1},
    {"ready: a negative pid", MSG_READY, STAGE_BIT(STAGE_RELAY), 0x80000000u,
     NULL, -1},
    {"ready: a stage beyond STAGE_COUNT", MSG_READY, 1u << STAGE_COUNT, 1, NULL,
     -1},
    {"load_error", MSG_LOAD_ERROR, 0, 99, "policy.lua:3: syntax error", 0},
    {"load_error: pid 0", MSG_LOAD_ERROR, 0, 0, "x", -1},
    {"error", MSG_ERROR, 0, 0, "frame length out of bounds", 0},
    {"status", MSG_CTL, CTL_STATUS, STATS_TEXT, NULL, 0},
    {"status: JSON", MSG_CTL, CTL_STATUS, STATS_JSON, NULL, 0},
    {"status: a format past JSON", MSG_CTL, CTL_STATUS, STATS_PROMETHEUS, NULL,
     -1},
    {"stats", MSG_CTL, CTL_STATS, STATS_PROMETHEUS, NULL, 0},
    {"stats: format STATS_FORMAT_COUNT", MSG_CTL, CTL_STATS, STATS_FORMAT_COUNT,
     NULL, -1},
    {"reload", MSG_CTL, CTL_RELOAD, 0, NULL, 0},
    {"reload: an argument", MSG_CTL, CTL_RELOAD, 1, NULL, -1},
    {"ctl_reply 0", MSG_CTL_REPLY, 0, 0, "permission denied", 0},
    {"ctl_reply 1", MSG_CTL_REPLY, 1, 0, "reloaded", 0},
};

static void msg_encode(struct mlm_buf *b, const struct msg_case *c)
{
    switch (c->type) {
    case MSG_HELLO: hello_encode(b); break;
    case MSG_HELLO_OK: hello_ok_encode(b, c->a, c->b); break;
    case MSG_READY: ready_encode(b, c->a, c->b); break;
    case MSG_LOAD_ERROR: load_error_encode(b, c->text, c->b); break;
    case MSG_ERROR: error_encode(b, c->text); break;
    case MSG_CTL: ctl_encode(b, (enum mlm_ctl_verb)c->a, (uint8_t)c->b); break;
    case MSG_CTL_REPLY: ctl_reply_encode(b, (int)c->a, c->text); break;
    }
}

/*
 * The decoder of the case's type: 0 when it decodes the payload to the
 * case's fields, 1 to others, -1 when it refuses it, -2 when it refuses
 * it but leaves something allocated.
 */
static int try_msg(const void *ctx, const uint8_t *p, size_t len, char *why,
                   size_t wl)
{
    const struct msg_case *c = ctx;
    uint32_t a = 0, b = 0;
    char *text = NULL;
    int rc = -1;
    switch (c->type) {
    case MSG_HELLO:
        rc = hello_decode(p, len, why, wl);
        break;
    case MSG_HELLO_OK: {
        struct mlm_hello_ok m;
        rc = hello_ok_decode(&m, p, len, why, wl);
        a = m.stages, b = m.generation;
        break;
    }
    case MSG_READY: {
        struct mlm_ready m;
        rc = ready_decode(&m, p, len, why, wl);
        a = m.stages, b = m.pid;
        break;
    }
    case MSG_LOAD_ERROR: {
        struct mlm_load_error m;
        rc = load_error_decode(&m, p, len, why, wl);
        b = m.pid, text = m.reason;
        break;
    }
    case MSG_ERROR:
        rc = error_decode(&text, p, len, why, wl);
        break;
    case MSG_CTL: {
        struct mlm_ctl m;
        rc = ctl_decode(&m, p, len, why, wl);
        a = m.verb, b = m.arg;
        break;
    }
    case MSG_CTL_REPLY: {
        struct mlm_ctl_reply m;
        rc = ctl_reply_decode(&m, p, len, why, wl);
        a = (uint32_t)m.ok, text = m.text;
        break;
    }
    }
    if (rc == -1)
        return text == NULL ? -1 : -2;
    int same = a == c->a && b == c->b &&
               (c->text == NULL || (text && strcmp(text, c->text) == 0));
    free(text);
    return same ? 0 : 1;
}

/*
 * The string field of a message (after its ok byte for CTL_REPLY) with a
 * length that says more than the frame holds, or with a NUL inside.
 */
static void lying_string(const struct msg_case *c)
{
    struct mlm_buf b;
    char why[256];
    buf_init(&b);
    for (int nul = 0; nul <= 1; nul++) {
        buf_reset(&b);
        frame_begin(&b, c->type, 0);
        if (c->type == MSG_CTL_REPLY)
            buf_put_u8(&b, (uint8_t)c->a);
        buf_put_u32(&b, nul ? 3 : 1000);
        buf_put_bytes(&b, nul ? "a\0b" : "short", nul ? 3 : 5);
        buf_put_u32(&b, 42);
        frame_finish(&b);
        CHECK(try_msg(c, b.data + 4, b.len - 4, why, sizeof why) == -1,
              "%s: %s accepted", c->what,
              nul ? "a NUL in the string" : "a string longer than the frame");
    }
    buf_free(&b);
}

/*
 * Each message refused, or decoded as it went out and then refused when
 * broken (refusals, and lying_string for those with a string); every
 * control verb has a case.
 */
static void test_messages(void)
{
    struct mlm_buf b;
    char why[256];
    int verbs = 0;
    buf_init(&b);
    for (size_t i = 0; i < COUNT(messages); i++) {
        const struct msg_case *c = &messages[i];
        const struct decoder d = {c->what, try_msg, c, c->type,
                                  c->type == MSG_CTL, 0};
        buf_reset(&b);
        msg_encode(&b, c);
        if (c->want == -1) {
            CHECK(try_msg(c, b.data + 4, b.len - 4, why, sizeof why) == -1,
                  "%s accepted", c->what);
            continue;
        }
        refusals(&d, &b);
        if (c->text != NULL)
            lying_string(c);
        if (c->type == MSG_CTL && c->a < 32)
            verbs |= 1 << c->a;
    }
    CHECK(verbs == (1 << CTL_VERB_COUNT) - 1, "a case for every control verb");
    buf_reset(&b);
    hello_encode(&b);
    CHECK(b.len == MLM_FRAME_HDR + MLM_PAYLOAD_HDR, "hello: the header only");
    /* ok is 0 or 1 on the wire: no encoder writes another. */
    static const struct msg_case ok2 = {"ctl_reply: ok 2", MSG_CTL_REPLY, 2,
                                        0, "", -1};
    buf_reset(&b);
    ctl_reply_encode(&b, 1, "");
    b.data[MLM_FRAME_HDR + MLM_PAYLOAD_HDR] = 2;
    CHECK(try_msg(&ok2, b.data + 4, b.len - 4, why, sizeof why) == -1,
          "%s accepted", ok2.what);

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
    /* Unknown verbs, whatever their number. */
    for (unsigned v = CTL_VERB_COUNT; v <= UINT8_MAX; v++) {
        struct mlm_ctl m;
        buf_reset(&b);
        frame_begin(&b, MSG_CTL, (uint8_t)v);
        buf_put_u8(&b, 0);
        frame_finish(&b);
        why[0] = '\0';
        CHECK(ctl_decode(&m, b.data + 4, b.len - 4, why, sizeof why) == -1 &&
                  strstr(why, "unknown control command") != NULL,
              "verb %u accepted (%s)", v, why);
    }
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
    test_messages();
    test_zygote_proto();
    test_validation();
    test_header_fold();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
