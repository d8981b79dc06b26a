/*
 * msgdigest.c - digests of a message's body and key headers (see
 * msgdigest.h). One pass over the header block, linear in its size.
 */
#include "msgdigest.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* In the order of the mask's bits (MSGDIGEST_TO, MSGDIGEST_MESSAGE_ID). */
static const char *const key_headers[] = {
    "from", "sender", "reply-to", "to", "cc", "subject", "message-id", "in-reply-to", "references", "mime-version",
    "content-type", "content-transfer-encoding",
};
#define NKEY (sizeof key_headers / sizeof key_headers[0])

/* The bit of a header name among the key headers, or 0. */
static unsigned key_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < NKEY; i++)
        if (strlen(key_headers[i]) == len &&
            strncasecmp(key_headers[i], name, len) == 0)
            return 1u << i;
    return 0;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Call fn for each header field of the header block (up to the first empty
 * line): its name and the field's raw bytes after the colon, continuation
 * lines included. Lines without a colon are skipped.
 */
static void headers_each(const char *raw, size_t len,
                         void (*fn)(const char *name, size_t nlen,
                                    const char *value, size_t vlen, void *),
                         void *arg)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(raw + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - raw) + 1 : len;
        size_t content = end - pos - (nl != NULL);
        if (content > 0 && raw[pos + content - 1] == '\r')
            content--;
        if (content == 0)
            return; /* the empty line: the body follows */
        /* The field runs on over lines that begin with a blank. */
        size_t field_end = end;
        while (field_end < len &&
               (raw[field_end] == ' ' || raw[field_end] == '\t')) {
            const char *next = memchr(raw + field_end, '\n', len - field_end);
            field_end = next ? (size_t)(next - raw) + 1 : len;
        }
        const char *colon = memchr(raw + pos, ':', content);
        if (colon && colon > raw + pos) {
            size_t nlen = (size_t)(colon - (raw + pos));
            while (nlen > 0 && (raw[pos + nlen - 1] == ' ' ||
                                raw[pos + nlen - 1] == '\t'))
                nlen--;
            size_t vstart = (size_t)(colon - raw) + 1;
            fn(raw + pos, nlen, raw + vstart, field_end - vstart, arg);
        }
        pos = field_end;
    }
}

static void mask_add(const char *name, size_t nlen, const char *value,
                     size_t vlen, void *arg)
{
    (void)value;
    (void)vlen;
    *(unsigned *)arg |= key_bit(name, nlen);
}

unsigned message_header_mask(const char *raw, size_t len)
{
    unsigned mask = 0;
    headers_each(raw, len, mask_add, &mask);
    return mask;
}

struct header_sum {
    GChecksum *sum;
    unsigned mask;
};

/* Bytes to the checksum through a small buffer (one update per 256). */
struct sum_out {
    GChecksum *sum;
    guchar buf[256];
    size_t n;
};

static void out_byte(struct sum_out *o, guchar c)
{
    if (o->n == sizeof o->buf) {
        g_checksum_update(o->sum, o->buf, (gssize)o->n);
        o->n = 0;
    }
    o->buf[o->n++] = c;
}

/* One covered field, relaxed: "name:value\r\n". */
static void sum_add(const char *name, size_t nlen, const char *value,
                    size_t vlen, void *arg)
{
    struct header_sum *h = arg;
    unsigned bit = key_bit(name, nlen);
    if ((h->mask & bit) == 0)
        return;
    struct sum_out o = {.sum = h->sum, .n = 0};
    for (size_t i = 0; i < nlen; i++)
        out_byte(&o, (guchar)g_ascii_tolower(name[i]));
    out_byte(&o, ':');
    size_t i = 0;
    int run = 0;
    while (i < vlen && blank(value[i]))
        i++;
    for (; i < vlen; i++) {
        if (blank(value[i])) {
            run = 1;
            continue;
        }
        if (run)
            out_byte(&o, ' ');
        run = 0;
        out_byte(&o, (guchar)value[i]);
    }
    out_byte(&o, '\r');
    out_byte(&o, '\n');
    g_checksum_update(o.sum, o.buf, (gssize)o.n);
}

void message_header_digest(const char *raw, size_t len, unsigned mask,
                           char out[MSGDIGEST_HEX + 1])
{
    struct header_sum h = {g_checksum_new(G_CHECKSUM_SHA256), mask};
    headers_each(raw, len, sum_add, &h);
    snprintf(out, MSGDIGEST_HEX + 1, "%s", g_checksum_get_string(h.sum));
    g_checksum_free(h.sum);
}

void message_body_digest(const char *raw, size_t len,
                         char out[MSGDIGEST_HEX + 1])
{
    const char *body = g_strstr_len(raw, (gssize)len, "\r\n\r\n");
    size_t skip = body ? (size_t)(body - raw) + 4 : len;
    gchar *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                             (const guchar *)raw + skip,
                                             len - skip);
    snprintf(out, MSGDIGEST_HEX + 1, "%s", hex);
    g_free(hex);
}

void message_body_digest_relaxed(const char *raw, size_t len,
                                 char out[MSGDIGEST_HEX + 1])
{
    const char *body = g_strstr_len(raw, (gssize)len, "\r\n\r\n");
    size_t skip = body ? (size_t)(body - raw) + 4 : len;
    size_t end = len;
    while (end > skip && (raw[end - 1] == '\r' || raw[end - 1] == '\n'))
        end--;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, (const guchar *)raw + skip, (gssize)(end - skip));
    if (end > skip)
        g_checksum_update(sum, (const guchar *)"\r\n", 2);
    snprintf(out, MSGDIGEST_HEX + 1, "%s", g_checksum_get_string(sum));
    g_checksum_free(sum);
}
