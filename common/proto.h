/*
 * proto.h - the mlm request protocol, spoken between mlmd, mlm-multiplexor,
 * mlm-worker and mlm-ctl. Every side includes this header; nothing else
 * defines the wire format (doc/PROTOCOL.md describes it message by
 * message). The fork server's channel has its own: zygote_proto.h.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload.
 * The payload starts with a fixed 4-byte header:
 *
 *     [0] version   MLM_PROTO_VERSION; a mismatch is refused, never guessed
 *     [1] type      enum mlm_msg_type
 *     [2] sub       REQUEST: the stage; REPLY: the action; CTL: the verb;
 *                   0 in every other message
 *     [3] flags     REPLY: see "The flags byte of a reply" below; 0 in
 *                   every other message
 *
 * then typed fields: u8, u32 (big-endian), u64, and strings (u32 length then
 * bytes, no NUL inside). Every length and count is bounded and checked on
 * read. Every message has an encoder (which appends one whole frame to a
 * buffer) and a decoder below; a decoder refuses another type, a sub or
 * flags byte out of range, and a payload it does not consume exactly
 * (reader_end()). No side builds or reads a frame by hand.
 * The multiplexor relays requests and replies between mlmd and a worker
 * without decoding them: it reads the fixed header, and walks a request's
 * fields (request_check) so that a malformed one is refused at the socket
 * and never reaches a worker.
 */
#ifndef MLM_PROTO_H
#define MLM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MLM_PROTO_VERSION 2
#define MLM_FRAME_HDR 4                    /* the length prefix */
#define MLM_PAYLOAD_HDR 4                  /* version, type, sub, flags */
#define MLM_PAYLOAD_FLAGS 3                /* the flags byte's offset */
#define MLM_FRAME_MAX (64u << 20)          /* payload bytes in one frame */
#define MLM_STR_MAX (1u << 20)             /* bytes in one string field */
#define MLM_LIST_MAX 2000000u              /* entries in one array field */

/* Who sends what; the fields are those of the codec functions below. */
enum mlm_msg_type {
    MSG_HELLO = 1,    /* mlmd (or mlm-ctl) -> mux: no fields */
    MSG_HELLO_OK,     /* mux -> client: u32 stage mask, u32 generation */
    MSG_REQUEST,      /* mlmd -> mux -> worker: sub = stage; struct mlm_request */
    MSG_REPLY,        /* worker -> mux -> mlmd: sub = action, flags;
                         struct mlm_reply */
    MSG_READY,        /* worker -> mux: policy loaded: u32 stage mask,
                         u32 pid */
    MSG_LOAD_ERROR,   /* worker -> mux: policy did not load: str reason,
                         u32 pid */
    MSG_ERROR,        /* mux -> client: str reason; the mux closes */
    MSG_CTL,          /* mlm-ctl -> mux: sub = verb, u8 argument */
    MSG_CTL_REPLY,    /* mux -> mlm-ctl: u8 ok (0 or 1), str text */
};

enum mlm_stage {
    STAGE_RELAY,      /* connect: filter_relay */
    STAGE_HELO,       /* HELO/EHLO: filter_helo */
    STAGE_SENDER,     /* MAIL FROM: filter_sender */
    STAGE_RECIPIENT,  /* each RCPT TO: filter_recipient */
    STAGE_MESSAGE,    /* end of message: filter_message */
    STAGE_COUNT
};
#define STAGE_BIT(s) (1u << (s))

/*
 * The flags byte of a reply. From a worker to the multiplexor it is 0 or
 * REPLY_OUTBOX: the worker left generated mail in the outbox
 * (mlm.sendmail), and the multiplexor starts its drainer. From the
 * multiplexor to mlmd it is the serving policy's stage mask (the
 * STAGE_BIT values, bits 0-4): the multiplexor overwrites the worker's
 * byte before it relays the reply, and mlmd reads it (reply_flags) to
 * learn, after a reload, which stages to ask the MTA for. The reply
 * decoder leaves the byte to these two readers.
 */
#define REPLY_OUTBOX 0x80u
#define STAGE_MASK_ALL ((1u << STAGE_COUNT) - 1)

enum mlm_action {
    ACT_CONTINUE,
    ACT_ACCEPT,
    ACT_REJECT,
    ACT_TEMPFAIL,
    ACT_DISCARD,
    ACT_FAILED,       /* no decision: the caller applies failure_action */
    ACT_COUNT
};

enum mlm_change_kind {
    CHG_ADD_HEADER = 1,   /* name, value */
    CHG_CHANGE_HEADER,    /* name, value, index (1-based among that name) */
    CHG_DELETE_HEADER,    /* name, index */
    CHG_ADD_RCPT,         /* value = address */
    CHG_DELETE_RCPT,      /* value = address */
    CHG_CHANGE_SENDER,    /* value = address */
    CHG_REPLACE_BODY,     /* value = path of a spool file holding the body */
    CHG_QUARANTINE,       /* value = reason */
};

/* An array of owned strings. */
struct mlm_strv {
    char **v;
    uint32_t n;
};

struct mlm_request {
    enum mlm_stage stage;
    char *qid;
    char *hostip;
    char *hostname;
    char *helo;
    char *sender;         /* no angle brackets; "" for the null sender */
    char *recipient;      /* the current RCPT (recipient stage) */
    char *spool_path;     /* the spooled message (message stage) */
    uint64_t size;        /* bytes in the spooled message */
    struct mlm_strv recipients;
    struct mlm_strv esmtp_args;
    struct mlm_strv macros;   /* name, value, name, value, ... */
    /* request_decode puts every string and list in this block */
    char *arena;
    size_t arena_len, arena_used;
};

struct mlm_change {
    enum mlm_change_kind kind;
    uint32_t index;
    char *name;
    char *value;
};

struct mlm_reply {
    enum mlm_action action;
    char *code;           /* "550" or NULL for the default */
    char *dsn;            /* "5.7.1" or NULL */
    char *text;           /* reply text or NULL */
    struct mlm_change *changes;
    uint32_t nchanges;
    uint32_t changes_cap;
    /* reply_decode puts every string in this one block (NULL otherwise) */
    char *arena;
    size_t arena_len, arena_used;
    /* reply_add_change copies its strings into these blocks */
    struct reply_block *blocks;
};

/* A growable byte buffer; frames are built in one. */
struct mlm_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* A bounds-checked reader over one payload. Any failure sets bad. */
struct mlm_reader {
    const uint8_t *p;
    size_t left;
    int bad;
};

void buf_init(struct mlm_buf *b);
void buf_free(struct mlm_buf *b);
void buf_reset(struct mlm_buf *b);
/* Room for more bytes; buf_grow does the (rare) growing. */
void buf_grow(struct mlm_buf *b, size_t more);
void buf_put_u64(struct mlm_buf *b, uint64_t v);

/*
 * The field writers are inline: a list post's reply is some 500 of them,
 * and calls through buf_reserve and memcpy for one to four bytes each were
 * a tenth of encoding it.
 */
static inline void buf_reserve(struct mlm_buf *b, size_t more)
{
    if (b->cap - b->len < more)
        buf_grow(b, more);
}

static inline void buf_put_bytes(struct mlm_buf *b, const void *data,
                                 size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
}

static inline void buf_put_u8(struct mlm_buf *b, uint8_t v)
{
    buf_reserve(b, 1);
    b->data[b->len++] = v;
}

static inline void buf_put_u32(struct mlm_buf *b, uint32_t v)
{
    buf_reserve(b, 4);
    uint8_t *p = b->data + b->len;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    b->len += 4;
}

/* NULL as "" */
static inline void buf_put_str(struct mlm_buf *b, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    buf_reserve(b, 4 + len);
    buf_put_u32(b, (uint32_t)len);
    buf_put_bytes(b, s, len);
}
void buf_consume(struct mlm_buf *b, size_t len);

/* Start a frame in an empty buffer; frame_finish() fills in the length. */
void frame_begin(struct mlm_buf *b, enum mlm_msg_type type, uint8_t sub);
void frame_finish(struct mlm_buf *b);

/* The payload length in a 4-byte frame prefix (not yet checked). */
uint32_t frame_payload_len(const uint8_t *prefix);

/*
 * Whether buf holds one complete frame at its start: 1 with *frame_len set
 * (prefix included), 0 when more bytes are needed, -1 when the length
 * prefix is out of bounds (the connection must be dropped).
 */
int frame_complete(const uint8_t *data, size_t len, size_t *frame_len);

/*
 * Check a payload's fixed header and set up a reader after it. Returns 0,
 * or -1 with why filled (version mismatch, short payload).
 */
int payload_open(struct mlm_reader *r, const uint8_t *payload, size_t len,
                 uint8_t *type, uint8_t *sub, char *why, size_t whylen);

uint8_t reader_u8(struct mlm_reader *r);
uint32_t reader_u32(struct mlm_reader *r);
uint64_t reader_u64(struct mlm_reader *r);
char *reader_str(struct mlm_reader *r);     /* owned; NULL when bad */
void reader_skip_strs(struct mlm_reader *r, uint32_t n); /* n strings, checked as reader_str */
int reader_end(struct mlm_reader *r);       /* 0 when all consumed */

void strv_push(struct mlm_strv *sv, const char *s);
void strv_free(struct mlm_strv *sv);

/* Requests. encode appends a whole frame to b. */
void request_encode(struct mlm_buf *b, const struct mlm_request *req);
int request_decode(struct mlm_request *req, const uint8_t *payload,
                   size_t len, char *why, size_t whylen);
/*
 * Whether request_decode would take the payload, without allocating: what
 * the multiplexor checks before it relays a frame to a worker. 0, or -1
 * with why.
 */
int request_check(const uint8_t *payload, size_t len, char *why,
                  size_t whylen);
void request_free(struct mlm_request *req);

/* Replies. */
void reply_init(struct mlm_reply *rep, enum mlm_action action);
struct mlm_change *reply_add_change(struct mlm_reply *rep,
                                    enum mlm_change_kind kind,
                                    const char *name, const char *value,
                                    uint32_t index);
void reply_encode(struct mlm_buf *b, const struct mlm_reply *rep);
int reply_decode(struct mlm_reply *rep, const uint8_t *payload, size_t len,
                 char *why, size_t whylen);
int reply_validate(const struct mlm_reply *rep, char *why, size_t whylen);
void reply_free(struct mlm_reply *rep);

/*
 * The flags byte of a reply's payload (at least MLM_PAYLOAD_HDR bytes),
 * read and set in place: the multiplexor relays replies undecoded.
 */
static inline uint8_t reply_flags(const uint8_t *payload)
{
    return payload[MLM_PAYLOAD_FLAGS];
}

static inline void reply_flags_set(uint8_t *payload, uint8_t flags)
{
    payload[MLM_PAYLOAD_FLAGS] = flags;
}

/*
 * The other messages. Each encoder appends one whole frame to b, its
 * fields in the order of its arguments; each decoder takes one payload
 * into a struct and returns 0, or -1 with why (and nothing left
 * allocated).
 */

/* MSG_HELLO: no fields. */
void hello_encode(struct mlm_buf *b);
int hello_decode(const uint8_t *payload, size_t len, char *why,
                 size_t whylen);

/* MSG_HELLO_OK: the serving policy's stage mask and generation. */
struct mlm_hello_ok {
    uint32_t stages;      /* STAGE_BIT values within STAGE_MASK_ALL */
    uint32_t generation;
};
void hello_ok_encode(struct mlm_buf *b, uint32_t stages, uint32_t generation);
int hello_ok_decode(struct mlm_hello_ok *m, const uint8_t *payload,
                    size_t len, char *why, size_t whylen);

/*
 * MSG_READY and MSG_LOAD_ERROR: a worker's first frame. The pid is the
 * worker's own (getpid), for a multiplexor that has not learned it from
 * the fork server yet: 1 .. INT32_MAX.
 */
struct mlm_ready {
    uint32_t stages;      /* STAGE_BIT values within STAGE_MASK_ALL */
    uint32_t pid;
};
void ready_encode(struct mlm_buf *b, uint32_t stages, uint32_t pid);
int ready_decode(struct mlm_ready *m, const uint8_t *payload, size_t len,
                 char *why, size_t whylen);

struct mlm_load_error {
    char *reason;         /* decoded: owned, free with load_error_free */
    uint32_t pid;
};
void load_error_encode(struct mlm_buf *b, const char *reason, uint32_t pid);
int load_error_decode(struct mlm_load_error *m, const uint8_t *payload,
                      size_t len, char *why, size_t whylen);
void load_error_free(struct mlm_load_error *m);

/* MSG_ERROR: why the multiplexor refuses a client; *reason owned. */
void error_encode(struct mlm_buf *b, const char *reason);
int error_decode(char **reason, const uint8_t *payload, size_t len,
                 char *why, size_t whylen);

/*
 * MSG_CTL: a control verb (the frame's sub byte) and its one-byte
 * argument: for CTL_STATS the format, 0 for the others. The names are
 * mlm-ctl's command words, and the multiplexor's in its logs.
 */
enum mlm_ctl_verb {
    CTL_STATUS,       /* one line per worker, then totals */
    CTL_STATS,        /* the statistics in a format */
    CTL_RELOAD,       /* load the policy in a new worker, then switch */
    CTL_VERB_COUNT
};

enum mlm_stats_format {
    STATS_TEXT,
    STATS_JSON,
    STATS_PROMETHEUS,
    STATS_FORMAT_COUNT
};

struct mlm_ctl {
    enum mlm_ctl_verb verb;
    uint8_t arg;          /* CTL_STATS: enum mlm_stats_format; CTL_STATUS:
                             STATS_TEXT or STATS_JSON; else 0 */
};
void ctl_encode(struct mlm_buf *b, enum mlm_ctl_verb verb, uint8_t arg);
/* Refuses an unknown verb ("unknown control command") and an argument
 * the verb does not take. */
int ctl_decode(struct mlm_ctl *m, const uint8_t *payload, size_t len,
               char *why, size_t whylen);

/* MSG_CTL_REPLY: whether the command succeeded, and its text. */
struct mlm_ctl_reply {
    int ok;               /* 1 or 0 */
    char *text;           /* decoded: owned, free with ctl_reply_free */
};
void ctl_reply_encode(struct mlm_buf *b, int ok, const char *text);
int ctl_reply_decode(struct mlm_ctl_reply *m, const uint8_t *payload,
                     size_t len, char *why, size_t whylen);
void ctl_reply_free(struct mlm_ctl_reply *m);

/* The type of a payload of at least MLM_PAYLOAD_HDR bytes: which decoder
 * to call. */
static inline uint8_t payload_type(const uint8_t *payload)
{
    return payload[1];
}

/* Names for logs, statistics and mlm-ctl's messages; "?" out of range. */
const char *stage_name(enum mlm_stage stage);
const char *stage_function(enum mlm_stage stage);
const char *action_name(enum mlm_action action);
const char *ctl_verb_name(enum mlm_ctl_verb verb);
const char *stats_format_name(enum mlm_stats_format format);

/* Checks shared by the worker (early, as Lua errors) and mlmd (again). */
int smtp_code_valid(const char *code, char klass);
int smtp_dsn_valid(const char *dsn, char klass);
int header_name_valid(const char *name);
int header_value_valid(const char *value);
int header_value_folded_valid(const char *value);

/*
 * value (valid by header_value_valid) folded for a field called name:
 * LF and the blank that follows it inserted before a blank so that lines
 * keep to 78 octets where the words allow; a word that would make a line
 * over 998 octets is cut (there a space is added); a run of blanks that
 * would fill a line by itself becomes one blank. Owned by the caller.
 */
char *header_fold(const char *name, const char *value);
/*
 * A message (len bytes) whose header block has a line over 998 octets
 * (RFC 5322 2.1.1), with each field holding such a line unfolded and
 * folded again by header_fold (the field's line ends kept, CRLF or LF);
 * the other fields and the body byte for byte. NULL when no line is over
 * (nothing to change). Linear in len. Owned by the caller (free), its
 * length in *out_len.
 */
char *header_block_fold(const char *msg, size_t len, size_t *out_len);
int address_valid(const char *addr);
int reply_text_valid(const char *text);

#endif
