/*
 * header_fold.c - folding the header fields mlm writes (RFC 5322 2.1.1,
 * 2.2.3): lines of at most 78 characters where the text allows, never
 * more than 998, never a line of blanks only. Linear in the value.
 */
#include "proto.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define FOLD_AT 78
#define LINE_MAX_OCTETS 998

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

/* Whether the byte at p starts a UTF-8 character (or is not UTF-8). */
static int char_start(const char *p) { return ((unsigned char)*p & 0xc0) != 0x80; }

char *header_fold(const char *name, const char *value)
{
    size_t len = strlen(value);
    struct mlm_buf out;
    buf_init(&out);
    buf_reserve(&out, len + len / 32 + 16);
    size_t col = strlen(name) + 2; /* the MTA writes "Name: " first */
    int line_has_text = 0;
    const char *p = value;
    while (*p) {
        const char *w = p; /* a word: its leading blanks and its text */
        while (is_wsp(*p))
            p++;
        const char *text = p;
        while (*p && !is_wsp(*p))
            p++;
        size_t wlen = (size_t)(p - w);
        /* fold before the word's blanks: the next line starts with them */
        if (col + wlen > FOLD_AT && w < text && text < p && line_has_text) {
            buf_put_u8(&out, '\n');
            col = 0;
            line_has_text = 0;
        }
        /* blanks that would fill a line by themselves become one: a line
         * of blanks only is no line of a header (nor a fold) */
        if (col + (size_t)(p - w) > LINE_MAX_OCTETS && text - w > 1 &&
            col + (size_t)(text - w) >= LINE_MAX_OCTETS)
            w = text - 1;
        /* a word longer than a line may be: cut it (a space is added) */
        while (col + (size_t)(p - w) > LINE_MAX_OCTETS) {
            size_t room = LINE_MAX_OCTETS - col, n = room;
            if (room == 0) {
                buf_put_bytes(&out, "\n ", 2);
                col = 1;
                continue;
            }
            while (n > 0 && !char_start(w + n))
                n--;
            if (n == 0)
                n = room;
            buf_put_bytes(&out, w, n);
            buf_put_bytes(&out, "\n ", 2);
            col = 1;
            w += n;
            line_has_text = 1;
        }
        buf_put_bytes(&out, w, (size_t)(p - w));
        col += (size_t)(p - w);
        line_has_text |= text < p;
    }
    buf_put_u8(&out, 0);
    char *r = xstrdup((const char *)out.data);
    buf_free(&out);
    return r;
}

/* The end of the physical line at p (its "\n", or end). */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

char *header_block_fold(const char *msg, size_t len, size_t *out_len)
{
    const char *end = msg + len, *p = msg;
    int over = 0;
    /* the header block: up to the first empty line */
    while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
        const char *e = line_end(p, end);
        size_t n = (size_t)(e - p) - (e > p && e[-1] == '\r');
        over |= n > LINE_MAX_OCTETS;
        p = e < end ? e + 1 : end;
    }
    if (!over)
        return NULL;
    const char *head_end = p;
    struct mlm_buf out, field;
    buf_init(&out);
    buf_init(&field);
    buf_reserve(&out, len + len / 32 + 16);
    p = msg;
    while (p < head_end) {
        /* one field: its first line and the folded lines after it */
        const char *start = p;
        int crlf = 0, long_line = 0;
        buf_reset(&field);
        do {
            const char *e = line_end(p, head_end);
            size_t n = (size_t)(e - p);
            crlf = n > 0 && p[n - 1] == '\r';
            n -= (size_t)crlf;
            long_line |= n > LINE_MAX_OCTETS;
            buf_put_bytes(&field, p, n);
            p = e < head_end ? e + 1 : head_end;
        } while (p < head_end && is_wsp(*p));
        const char *colon = memchr(field.data, ':', field.len);
        if (!long_line || colon == NULL) {
            buf_put_bytes(&out, start, (size_t)(p - start));
            continue;
        }
        buf_put_u8(&field, 0);
        char *name = xstrndup((const char *)field.data,
                              (size_t)(colon - (const char *)field.data));
        const char *value = colon + 1;
        if (*value == ' ')
            value++;
        char *folded = header_fold(name, value);
        buf_put_bytes(&out, name, strlen(name));
        buf_put_bytes(&out, ": ", 2);
        for (const char *f = folded; *f; f++) {
            if (*f == '\n' && crlf)
                buf_put_u8(&out, '\r');
            buf_put_u8(&out, (uint8_t)*f);
        }
        buf_put_bytes(&out, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
        free(folded);
        free(name);
    }
    buf_put_bytes(&out, head_end, (size_t)(end - head_end));
    buf_free(&field);
    *out_len = out.len;
    buf_put_u8(&out, 0);
    char *r = xmalloc(*out_len + 1);
    memcpy(r, out.data, *out_len + 1);
    buf_free(&out);
    return r;
}
