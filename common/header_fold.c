/*
 * header_fold.c - folding the header fields mlm writes (RFC 5322 2.1.1,
 * 2.2.3): lines of at most 78 characters where the text allows, never
 * more than 998.
 */
#include "proto.h"
#include "xmalloc.h"

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
