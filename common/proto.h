/*
 * proto.h - the mlm request protocol, spoken between mlmd, mlm-multiplexor,
 * mlm-worker and mlm-ctl. Every side includes this header; nothing else
 * defines the wire format.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload.
 * The payload starts with a fixed 4-byte header:
 *
 *     [0] version   MLM_PROTO_VERSION; a mismatch is refused, never guessed
 *     [1] type      enum mlm_msg_type
 *     [2] sub       the stage of a request, the action of a reply
 *     [3] flags     reserved, 0
 *
 * then typed fields: u8, u32 (big-endian), u64, and strings (u32 length then
 * bytes, no NUL inside). Every length and count is bounded and checked on
 * read, and a decoder must consume the payload exactly (reader_end()).
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

#define MLM_PROTO_VERSION 1
#define MLM_FRAME_HDR 4                    /* the length prefix */
#define MLM_PAYLOAD_HDR 4                  /* version, type, sub, flags */
#define MLM_FRAME_MAX (64u << 20)          /* payload bytes in one frame */
#define MLM_STR_MAX (1u << 20)             /* bytes in one string field */
#define MLM_LIST_MAX 2000000u              /* entries in one array field */

enum mlm_msg_type {
    MSG_HELLO = 1,    /* client -> mux: hello; mux answers MSG_HELLO_OK */
    MSG_HELLO_OK,     /* mux -> client: u32 stage mask, u32 generation */
    MSG_REQUEST,      /* mlmd -> mux -> worker: sub = stage */
    MSG_REPLY,        /* worker -> mux -> mlmd: sub = action */
    MSG_READY,        /* worker -> mux: policy loaded, u32 stage mask */
    MSG_LOAD_ERROR,   /* worker -> mux: policy did not load, str reason */
    MSG_ERROR,        /* any -> peer: str reason; the peer closes */
    MSG_CTL,          /* mlm-ctl -> mux: str command, str argument */
    MSG_CTL_REPLY,    /* mux -> mlm-ctl: u8 ok, str text */
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
 * The flags byte of a MSG_REPLY. From the multiplexor to mlmd it holds the
 * serving policy's stage mask (STAGE_BIT values). From a worker to the
 * multiplexor it may carry REPLY_OUTBOX: the worker left generated mail in
 * the outbox (mlm.sendmail); the multiplexor starts its drainer and
 * overwrites the byte with the stage mask before relaying.
 */
#define REPLY_OUTBOX 0x80u

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
void reader_skip_str(struct mlm_reader *r); /* checked as reader_str */
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

/* Names for logs and statistics. */
const char *stage_name(enum mlm_stage stage);
const char *stage_function(enum mlm_stage stage);
const char *action_name(enum mlm_action action);

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
