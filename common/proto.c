/*
 * proto.c - frames and messages of the mlm request protocol (see proto.h
 * for the wire format). Decoders never trust a length: every field is
 * bounded, arrays are capped, and trailing bytes are an error.
 */
#include "proto.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void frame_begin(struct mlm_buf *b, enum mlm_msg_type type, uint8_t sub)
{
    buf_put_u32(b, 0);                /* length, set by frame_finish */
    buf_put_u8(b, MLM_PROTO_VERSION);
    buf_put_u8(b, (uint8_t)type);
    buf_put_u8(b, sub);
    buf_put_u8(b, 0);
}

/* Every caller builds one frame per buffer, so the frame starts at 0. */
void frame_finish(struct mlm_buf *b)
{
    uint32_t payload = (uint32_t)(b->len - MLM_FRAME_HDR);
    b->data[0] = payload >> 24;
    b->data[1] = payload >> 16;
    b->data[2] = payload >> 8;
    b->data[3] = payload;
}

uint32_t frame_payload_len(const uint8_t *prefix)
{
    return (uint32_t)prefix[0] << 24 | (uint32_t)prefix[1] << 16 |
           (uint32_t)prefix[2] << 8 | prefix[3];
}

int frame_complete(const uint8_t *data, size_t len, size_t *frame_len)
{
    if (len < MLM_FRAME_HDR)
        return 0;
    uint32_t payload = frame_payload_len(data);
    if (payload < MLM_PAYLOAD_HDR || payload > MLM_FRAME_MAX)
        return -1;
    if (len - MLM_FRAME_HDR < payload)
        return 0;
    *frame_len = MLM_FRAME_HDR + payload;
    return 1;
}

int payload_open(struct mlm_reader *r, const uint8_t *payload, size_t len,
                 uint8_t *type, uint8_t *sub, char *why, size_t whylen)
{
    if (len < MLM_PAYLOAD_HDR) {
        snprintf(why, whylen, "short frame (%zu bytes)", len);
        return -1;
    }
    if (payload[0] != MLM_PROTO_VERSION) {
        snprintf(why, whylen,
                 "protocol version mismatch: peer speaks %u, we speak %u",
                 payload[0], MLM_PROTO_VERSION);
        return -1;
    }
    *type = payload[1];
    *sub = payload[2];
    r->p = payload + MLM_PAYLOAD_HDR;
    r->left = len - MLM_PAYLOAD_HDR;
    r->bad = 0;
    return 0;
}

static void strv_encode(struct mlm_buf *b, const struct mlm_strv *sv)
{
    buf_put_u32(b, sv->n);
    for (uint32_t i = 0; i < sv->n; i++)
        buf_put_str(b, sv->v[i]);
}

/*
 * A string of the frame copied into arena at *used, with its NUL; NULL
 * (and r->bad) when the frame or the arena cannot hold it.
 */
static char *arena_copy(struct mlm_reader *r, char *arena, size_t arena_len,
                        size_t *used)
{
    uint32_t len = reader_u32(r);
    if (r->bad || len > MLM_STR_MAX || len > r->left ||
        len + 1 > arena_len - *used || memchr(r->p, '\0', len) != NULL) {
        r->bad = 1;
        return NULL;
    }
    char *s = memcpy(arena + *used, r->p, len);
    s[len] = '\0';
    r->p += len;
    r->left -= len;
    *used += (size_t)len + 1;
    return s;
}

/*
 * A decoded request lives in one block, as a reply does: a frame of len
 * bytes holds at most len bytes of strings with their NULs, and each list
 * entry takes at least 4 frame bytes for an 8-byte pointer, so 3 * len
 * (and room to align each list) always fits. One allocation per request
 * instead of one per string: a worker decodes a request for every stage.
 */
static char *request_str(struct mlm_reader *r, struct mlm_request *req)
{
    return arena_copy(r, req->arena, req->arena_len, &req->arena_used);
}

static void request_strv(struct mlm_reader *r, struct mlm_request *req,
                         struct mlm_strv *sv)
{
    uint32_t n = reader_u32(r);
    /* Each entry takes at least its 4-byte length: a cheap early bound. */
    if (r->bad || n > MLM_LIST_MAX || (size_t)n * 4 > r->left) {
        r->bad = 1;
        return;
    }
    size_t at = (req->arena_used + 7) & ~(size_t)7;
    size_t need = (n ? n : 1) * sizeof *sv->v;
    if (at > req->arena_len || need > req->arena_len - at) {
        r->bad = 1;
        return;
    }
    sv->v = (char **)(void *)(req->arena + at);
    req->arena_used = at + need;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        sv->v[i] = request_str(r, req);
        if (sv->v[i])
            sv->n = i + 1;
    }
}

void request_encode(struct mlm_buf *b, const struct mlm_request *req)
{
    frame_begin(b, MSG_REQUEST, (uint8_t)req->stage);
    buf_put_str(b, req->qid);
    buf_put_str(b, req->hostip);
    buf_put_str(b, req->hostname);
    buf_put_str(b, req->helo);
    buf_put_str(b, req->sender);
    buf_put_str(b, req->recipient);
    buf_put_str(b, req->spool_path);
    buf_put_u64(b, req->size);
    strv_encode(b, &req->recipients);
    strv_encode(b, &req->esmtp_args);
    strv_encode(b, &req->macros);
    frame_finish(b);
}

int request_decode(struct mlm_request *req, const uint8_t *payload,
                   size_t len, char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t type, sub;
    memset(req, 0, sizeof *req);
    if (payload_open(&r, payload, len, &type, &sub, why, whylen) == -1)
        return -1;
    if (type != MSG_REQUEST || sub >= STAGE_COUNT ||
        payload[MLM_PAYLOAD_FLAGS] != 0) {
        snprintf(why, whylen, "not a request (type %u, stage %u, flags %u)",
                 type, sub, payload[MLM_PAYLOAD_FLAGS]);
        return -1;
    }
    req->stage = sub;
    req->arena_len = 3 * len + 64;
    req->arena = xmalloc(req->arena_len);
    req->qid = request_str(&r, req);
    req->hostip = request_str(&r, req);
    req->hostname = request_str(&r, req);
    req->helo = request_str(&r, req);
    req->sender = request_str(&r, req);
    req->recipient = request_str(&r, req);
    req->spool_path = request_str(&r, req);
    req->size = reader_u64(&r);
    request_strv(&r, req, &req->recipients);
    request_strv(&r, req, &req->esmtp_args);
    request_strv(&r, req, &req->macros);
    if (reader_end(&r) == -1 || req->macros.n % 2) {
        snprintf(why, whylen, "malformed request frame");
        request_free(req);
        return -1;
    }
    return 0;
}

static void strv_check(struct mlm_reader *r, uint32_t *count)
{
    uint32_t n = reader_u32(r);
    if (r->bad || n > MLM_LIST_MAX || (size_t)n * 4 > r->left) {
        r->bad = 1;
        return;
    }
    reader_skip_strs(r, n);
    *count = n;
}

int request_check(const uint8_t *payload, size_t len, char *why,
                  size_t whylen)
{
    struct mlm_reader r;
    uint8_t type, sub;
    if (payload_open(&r, payload, len, &type, &sub, why, whylen) == -1)
        return -1;
    if (type != MSG_REQUEST || sub >= STAGE_COUNT ||
        payload[MLM_PAYLOAD_FLAGS] != 0) {
        snprintf(why, whylen, "not a request (type %u, stage %u, flags %u)",
                 type, sub, payload[MLM_PAYLOAD_FLAGS]);
        return -1;
    }
    reader_skip_strs(&r, 7); /* qid ... spool_path */
    reader_u64(&r);
    uint32_t n, macros = 0;
    strv_check(&r, &n);
    strv_check(&r, &n);
    strv_check(&r, &macros);
    if (reader_end(&r) == -1 || macros % 2) {
        snprintf(why, whylen, "malformed request frame");
        return -1;
    }
    return 0;
}

void request_free(struct mlm_request *req)
{
    if (req->arena) { /* decoded: everything is in the block */
        free(req->arena);
        memset(req, 0, sizeof *req);
        return;
    }
    free(req->qid);
    free(req->hostip);
    free(req->hostname);
    free(req->helo);
    free(req->sender);
    free(req->recipient);
    free(req->spool_path);
    strv_free(&req->recipients);
    strv_free(&req->esmtp_args);
    strv_free(&req->macros);
    memset(req, 0, sizeof *req);
}

void reply_init(struct mlm_reply *rep, enum mlm_action action)
{
    memset(rep, 0, sizeof *rep);
    rep->action = action;
}

/*
 * The strings of changes a worker records live in blocks of at least
 * REPLY_BLOCK_MIN bytes, freed together with the reply: a list post
 * records one change per recipient, and two allocations each were a tenth
 * of the worker's work.
 */
#define REPLY_BLOCK_MIN 8192
#define REPLY_BLOCK_MAX (16 * REPLY_BLOCK_MIN)

struct reply_block {
    struct reply_block *next;
    size_t cap, used;
    char data[];
};

static char *reply_strdup(struct mlm_reply *rep, const char *s)
{
    size_t len = strlen(s) + 1;
    struct reply_block *b = rep->blocks;
    if (b == NULL || b->cap - b->used < len) {
        /* Big replies: each block twice the last, up to REPLY_BLOCK_MAX. */
        size_t cap = REPLY_BLOCK_MIN;
        if (b)
            cap = b->cap * 2 < REPLY_BLOCK_MAX ? b->cap * 2 : REPLY_BLOCK_MAX;
        if (cap < len)
            cap = len;
        b = xmalloc(sizeof *b + cap);
        b->next = rep->blocks;
        b->cap = cap;
        b->used = 0;
        rep->blocks = b;
    }
    char *out = memcpy(b->data + b->used, s, len);
    b->used += len;
    return out;
}

struct mlm_change *reply_add_change(struct mlm_reply *rep,
                                    enum mlm_change_kind kind,
                                    const char *name, const char *value,
                                    uint32_t index)
{
    if (rep->nchanges == rep->changes_cap) {
        rep->changes_cap = rep->changes_cap ? rep->changes_cap * 2 : 8;
        rep->changes =
            xrealloc(rep->changes, rep->changes_cap * sizeof *rep->changes);
    }
    struct mlm_change *c = &rep->changes[rep->nchanges++];
    c->kind = kind;
    c->index = index;
    c->name = name ? reply_strdup(rep, name) : NULL;
    c->value = value ? reply_strdup(rep, value) : NULL;
    return c;
}

void reply_encode(struct mlm_buf *b, const struct mlm_reply *rep)
{
    frame_begin(b, MSG_REPLY, (uint8_t)rep->action);
    buf_put_str(b, rep->code);
    buf_put_str(b, rep->dsn);
    buf_put_str(b, rep->text);
    buf_put_u32(b, rep->nchanges);
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        const struct mlm_change *c = &rep->changes[i];
        buf_put_u8(b, (uint8_t)c->kind);
        buf_put_u32(b, c->index);
        buf_put_str(b, c->name);
        buf_put_str(b, c->value);
    }
    frame_finish(b);
}

/*
 * A string of the frame in the reply's arena; NULL for "" when
 * empty_is_null (empty optional strings travel as "", in memory they are
 * NULL). A frame of len bytes holds at most len bytes of strings and
 * length prefixes, so an arena of len bytes always fits: one allocation
 * per reply instead of two per change (a list post's reply holds one
 * change per recipient).
 */
static char *arena_str(struct mlm_reader *r, struct mlm_reply *rep,
                       int empty_is_null)
{
    char *s = arena_copy(r, rep->arena, rep->arena_len, &rep->arena_used);
    return s && *s == '\0' && empty_is_null ? NULL : s;
}

static int change_decode(struct mlm_reader *r, struct mlm_reply *rep)
{
    uint8_t kind = reader_u8(r);
    uint32_t index = reader_u32(r);
    char *name = arena_str(r, rep, 1);
    char *value = arena_str(r, rep, 0);
    if (r->bad || kind < CHG_ADD_HEADER || kind > CHG_QUARANTINE) {
        r->bad = 1;
        return -1;
    }
    struct mlm_change *c = reply_add_change(rep, kind, NULL, NULL, index);
    c->name = name;
    c->value = value;
    return 0;
}

int reply_decode(struct mlm_reply *rep, const uint8_t *payload, size_t len,
                 char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t type, sub;
    reply_init(rep, ACT_FAILED);
    if (payload_open(&r, payload, len, &type, &sub, why, whylen) == -1)
        return -1;
    if (type != MSG_REPLY || sub >= ACT_COUNT) {
        snprintf(why, whylen, "not a reply (type %u, action %u)", type, sub);
        return -1;
    }
    rep->action = sub;
    rep->arena = xmalloc(len + 1);
    rep->arena_len = len + 1;
    rep->code = arena_str(&r, rep, 1);
    rep->dsn = arena_str(&r, rep, 1);
    rep->text = arena_str(&r, rep, 1);
    uint32_t n = reader_u32(&r);
    if (n > MLM_LIST_MAX || n > r.left / 13) /* 13: the smallest change */
        r.bad = 1;
    if (!r.bad && n > 0) {
        rep->changes = xmalloc(n * sizeof *rep->changes);
        rep->changes_cap = n;
    }
    for (uint32_t i = 0; i < n && !r.bad; i++)
        change_decode(&r, rep);
    if (reader_end(&r) == -1) {
        snprintf(why, whylen, "malformed reply frame");
        reply_free(rep);
        rep->action = ACT_FAILED;
        return -1;
    }
    return 0;
}

/* Strings in the arena go with it; code, dsn and text set later are alone. */
static void reply_string_free(const struct mlm_reply *rep, char *s)
{
    if (s && !(rep->arena && s >= rep->arena &&
               s < rep->arena + rep->arena_len))
        free(s);
}

void reply_free(struct mlm_reply *rep)
{
    /* A change's strings are in the arena or in the blocks, never alone. */
    for (struct reply_block *b = rep->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    rep->blocks = NULL;
    free(rep->changes);
    reply_string_free(rep, rep->code);
    reply_string_free(rep, rep->dsn);
    reply_string_free(rep, rep->text);
    free(rep->arena);
    rep->changes = NULL;
    rep->nchanges = rep->changes_cap = 0;
    rep->code = rep->dsn = rep->text = NULL;
    rep->arena = NULL;
    rep->arena_len = rep->arena_used = 0;
}

/*
 * The other messages: a payload of type want, with sub below sub_limit
 * and flags 0; *sub set and r placed after the header. 0, or -1 with why.
 */
static int message_open(struct mlm_reader *r, const uint8_t *payload,
                        size_t len, uint8_t want, unsigned sub_limit,
                        uint8_t *sub, const char *what, char *why,
                        size_t whylen)
{
    uint8_t type;
    if (payload_open(r, payload, len, &type, sub, why, whylen) == -1)
        return -1;
    if (type != want) {
        snprintf(why, whylen, "not a %s (type %u)", what, type);
        return -1;
    }
    if (*sub >= sub_limit || payload[MLM_PAYLOAD_FLAGS] != 0) {
        snprintf(why, whylen, "malformed %s (sub %u, flags %u)", what, *sub,
                 payload[MLM_PAYLOAD_FLAGS]);
        return -1;
    }
    return 0;
}

/* The end of a decode: every byte read, nothing bad. 0, or -1 with why. */
static int message_end(struct mlm_reader *r, const char *what, char *why,
                       size_t whylen)
{
    if (reader_end(r) == 0)
        return 0;
    snprintf(why, whylen, "malformed %s frame", what);
    return -1;
}

/* A pid as a worker says it: a positive pid_t. */
static int pid_valid(uint32_t pid)
{
    return pid > 0 && pid <= INT32_MAX;
}

void hello_encode(struct mlm_buf *b)
{
    frame_begin(b, MSG_HELLO, 0);
    frame_finish(b);
}

int hello_decode(const uint8_t *payload, size_t len, char *why,
                 size_t whylen)
{
    struct mlm_reader r;
    uint8_t sub;
    if (message_open(&r, payload, len, MSG_HELLO, 1, &sub, "hello", why,
                     whylen) == -1)
        return -1;
    return message_end(&r, "hello", why, whylen);
}

void hello_ok_encode(struct mlm_buf *b, uint32_t stages, uint32_t generation)
{
    frame_begin(b, MSG_HELLO_OK, 0);
    buf_put_u32(b, stages);
    buf_put_u32(b, generation);
    frame_finish(b);
}

int hello_ok_decode(struct mlm_hello_ok *m, const uint8_t *payload,
                    size_t len, char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t sub;
    memset(m, 0, sizeof *m);
    if (message_open(&r, payload, len, MSG_HELLO_OK, 1, &sub, "hello answer",
                     why, whylen) == -1)
        return -1;
    m->stages = reader_u32(&r);
    m->generation = reader_u32(&r);
    if (m->stages & ~STAGE_MASK_ALL)
        r.bad = 1;
    return message_end(&r, "hello answer", why, whylen);
}

void ready_encode(struct mlm_buf *b, uint32_t stages, uint32_t pid)
{
    frame_begin(b, MSG_READY, 0);
    buf_put_u32(b, stages);
    buf_put_u32(b, pid);
    frame_finish(b);
}

int ready_decode(struct mlm_ready *m, const uint8_t *payload, size_t len,
                 char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t sub;
    memset(m, 0, sizeof *m);
    if (message_open(&r, payload, len, MSG_READY, 1, &sub, "ready", why,
                     whylen) == -1)
        return -1;
    m->stages = reader_u32(&r);
    m->pid = reader_u32(&r);
    if ((m->stages & ~STAGE_MASK_ALL) || !pid_valid(m->pid))
        r.bad = 1;
    return message_end(&r, "ready", why, whylen);
}

void load_error_encode(struct mlm_buf *b, const char *reason, uint32_t pid)
{
    frame_begin(b, MSG_LOAD_ERROR, 0);
    buf_put_str(b, reason);
    buf_put_u32(b, pid);
    frame_finish(b);
}

int load_error_decode(struct mlm_load_error *m, const uint8_t *payload,
                      size_t len, char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t sub;
    memset(m, 0, sizeof *m);
    if (message_open(&r, payload, len, MSG_LOAD_ERROR, 1, &sub, "load error",
                     why, whylen) == -1)
        return -1;
    m->reason = reader_str(&r);
    m->pid = reader_u32(&r);
    if (!pid_valid(m->pid))
        r.bad = 1;
    if (message_end(&r, "load error", why, whylen) == -1) {
        load_error_free(m);
        return -1;
    }
    return 0;
}

void load_error_free(struct mlm_load_error *m)
{
    free(m->reason);
    m->reason = NULL;
}

void error_encode(struct mlm_buf *b, const char *reason)
{
    frame_begin(b, MSG_ERROR, 0);
    buf_put_str(b, reason);
    frame_finish(b);
}

int error_decode(char **reason, const uint8_t *payload, size_t len,
                 char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t sub;
    *reason = NULL;
    if (message_open(&r, payload, len, MSG_ERROR, 1, &sub, "error", why,
                     whylen) == -1)
        return -1;
    *reason = reader_str(&r);
    if (message_end(&r, "error", why, whylen) == -1) {
        free(*reason);
        *reason = NULL;
        return -1;
    }
    return 0;
}

/* How many values each verb's argument may take: 0 .. limit - 1. */
static const uint8_t ctl_arg_limit[CTL_VERB_COUNT] = {
    [CTL_STATUS] = STATS_JSON + 1, /* text or JSON */
    [CTL_STATS] = STATS_FORMAT_COUNT,
    [CTL_RELOAD] = 1,
};

void ctl_encode(struct mlm_buf *b, enum mlm_ctl_verb verb, uint8_t arg)
{
    frame_begin(b, MSG_CTL, (uint8_t)verb);
    buf_put_u8(b, arg);
    frame_finish(b);
}

int ctl_decode(struct mlm_ctl *m, const uint8_t *payload, size_t len,
               char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t verb;
    memset(m, 0, sizeof *m);
    if (message_open(&r, payload, len, MSG_CTL, UINT8_MAX + 1, &verb,
                     "control command", why, whylen) == -1)
        return -1;
    if (verb >= CTL_VERB_COUNT) {
        snprintf(why, whylen, "unknown control command %u", verb);
        return -1;
    }
    m->verb = verb;
    m->arg = reader_u8(&r);
    if (m->arg >= ctl_arg_limit[verb])
        r.bad = 1;
    return message_end(&r, "control command", why, whylen);
}

void ctl_reply_encode(struct mlm_buf *b, int ok, const char *text)
{
    frame_begin(b, MSG_CTL_REPLY, 0);
    buf_put_u8(b, ok ? 1 : 0);
    buf_put_str(b, text);
    frame_finish(b);
}

int ctl_reply_decode(struct mlm_ctl_reply *m, const uint8_t *payload,
                     size_t len, char *why, size_t whylen)
{
    struct mlm_reader r;
    uint8_t sub;
    memset(m, 0, sizeof *m);
    if (message_open(&r, payload, len, MSG_CTL_REPLY, 1, &sub,
                     "control answer", why, whylen) == -1)
        return -1;
    uint8_t ok = reader_u8(&r);
    m->ok = ok == 1;
    m->text = reader_str(&r);
    if (ok > 1)
        r.bad = 1;
    if (message_end(&r, "control answer", why, whylen) == -1) {
        ctl_reply_free(m);
        return -1;
    }
    return 0;
}

void ctl_reply_free(struct mlm_ctl_reply *m)
{
    free(m->text);
    m->text = NULL;
}

static const char *const stage_names[STAGE_COUNT] = {
    "relay", "helo", "sender", "recipient", "message"};
static const char *const stage_functions[STAGE_COUNT] = {
    "filter_relay", "filter_helo", "filter_sender", "filter_recipient",
    "filter_message"};
static const char *const action_names[ACT_COUNT] = {
    "continue", "accept", "reject", "tempfail", "discard", "failed"};

const char *stage_name(enum mlm_stage s)
{
    return (unsigned)s < STAGE_COUNT ? stage_names[s] : "?";
}

const char *stage_function(enum mlm_stage s)
{
    return (unsigned)s < STAGE_COUNT ? stage_functions[s] : "?";
}

const char *action_name(enum mlm_action a)
{
    return (unsigned)a < ACT_COUNT ? action_names[a] : "?";
}

/* mlm-ctl's command words and --FORMAT options: names users type. */
static const char *const ctl_verb_names[CTL_VERB_COUNT] = {
    [CTL_STATUS] = "status",
    [CTL_STATS] = "stats",
    [CTL_RELOAD] = "reload",
};
static const char *const stats_format_names[STATS_FORMAT_COUNT] = {
    [STATS_TEXT] = "text",
    [STATS_JSON] = "json",
    [STATS_PROMETHEUS] = "prometheus",
};

const char *ctl_verb_name(enum mlm_ctl_verb verb)
{
    return (unsigned)verb < CTL_VERB_COUNT ? ctl_verb_names[verb] : "?";
}

const char *stats_format_name(enum mlm_stats_format format)
{
    return (unsigned)format < STATS_FORMAT_COUNT ? stats_format_names[format]
                                                 : "?";
}
