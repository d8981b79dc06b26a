/*
 * buf.c - growable byte buffers and the bounds-checked field reader used by
 * every encoder and decoder of the request protocol (proto.h).
 */
#include "proto.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

void buf_init(struct mlm_buf *b) { memset(b, 0, sizeof *b); }

void buf_free(struct mlm_buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct mlm_buf *b) { b->len = 0; }

void buf_grow(struct mlm_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_put_u64(struct mlm_buf *b, uint64_t v)
{
    buf_put_u32(b, (uint32_t)(v >> 32));
    buf_put_u32(b, (uint32_t)v);
}

/* Drop len bytes from the front (a frame that has been handled). */
void buf_consume(struct mlm_buf *b, size_t len)
{
    if (len >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + len, b->len - len);
    b->len -= len;
}

static int reader_take(struct mlm_reader *r, void *out, size_t len)
{
    if (r->bad || r->left < len) {
        r->bad = 1;
        return -1;
    }
    memcpy(out, r->p, len);
    r->p += len;
    r->left -= len;
    return 0;
}

uint8_t reader_u8(struct mlm_reader *r)
{
    uint8_t v = 0;
    reader_take(r, &v, 1);
    return v;
}

uint32_t reader_u32(struct mlm_reader *r)
{
    uint8_t be[4];
    if (reader_take(r, be, 4) == -1)
        return 0;
    return (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 |
           (uint32_t)be[2] << 8 | be[3];
}

uint64_t reader_u64(struct mlm_reader *r)
{
    uint64_t hi = reader_u32(r);
    return hi << 32 | reader_u32(r);
}

/* A string field: bounded, no NUL inside, returned NUL-terminated. */
char *reader_str(struct mlm_reader *r)
{
    uint32_t len = reader_u32(r);
    if (r->bad || len > MLM_STR_MAX || len > r->left ||
        memchr(r->p, '\0', len) != NULL) {
        r->bad = 1;
        return NULL;
    }
    char *s = xstrndup((const char *)r->p, len);
    r->p += len;
    r->left -= len;
    return s;
}

/*
 * Skip n string fields as reader_str would read them (each bounded, within
 * the frame, no NUL inside), or mark r bad. One tight loop: the
 * multiplexor runs it over every field of every request.
 */
void reader_skip_strs(struct mlm_reader *r, uint32_t n)
{
    const uint8_t *p = r->p;
    size_t left = r->left;
    for (; n > 0 && !r->bad; n--) {
        if (left < 4) {
            r->bad = 1;
            break;
        }
        uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                       (uint32_t)p[2] << 8 | p[3];
        p += 4;
        left -= 4;
        if (len > MLM_STR_MAX || len > left ||
            (len > 0 && memchr(p, '\0', len) != NULL))
            r->bad = 1;
        else {
            p += len;
            left -= len;
        }
    }
    r->p = p;
    r->left = left;
}

int reader_end(struct mlm_reader *r) { return r->bad || r->left ? -1 : 0; }

void strv_push(struct mlm_strv *sv, const char *s)
{
    /* Grow in powers of two: n is a power of two exactly when full. */
    if ((sv->n & (sv->n - 1)) == 0)
        sv->v = xrealloc(sv->v, (sv->n ? sv->n * 2 : 1) * sizeof *sv->v);
    sv->v[sv->n++] = xstrdup(s ? s : "");
}

void strv_free(struct mlm_strv *sv)
{
    for (uint32_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}
