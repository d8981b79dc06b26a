/*
 * rfc2047.c - RFC 2047 encoded words in unstructured header text.
 *
 * Decoding is done here, not by GMime: GMime 3.2.13 decodes adjacent
 * B-encoded words where a non-final word ends in base64 padding to the
 * first word only (gmime issue #133), and a policy would read (and a list
 * pass on) the truncated text. Encoding makes words of at most 75
 * characters (RFC 2047 section 2) that never split a UTF-8 character.
 *
 * Both are linear in the length of their input and allocate at most a
 * small multiple of it. Decoding converts at most the first DECODE_MAX
 * bytes of a value and opens at most CHARSETS_MAX converters per call.
 */
#include "rfc2047.h"
#include "xmalloc.h"

#include <gmime/gmime.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode a B or Q word's text onto out; padding and stray bytes skipped. */
static void word_decode(int enc, const char *s, size_t len, struct mlm_buf *out)
{
    if (enc == 'B') {
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 0; i < len; i++) {
            int v = b64_value((unsigned char)s[i]);
            if (v < 0)
                continue;
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                buf_put_u8(out, (uint8_t)(acc >> bits));
                acc &= (1u << bits) - 1;
            }
        }
        return;
    }
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '_') {
            buf_put_u8(out, ' ');
        } else if (s[i] == '=' && i + 2 < len &&
                   (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
                   (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            buf_put_u8(out, (uint8_t)(hi << 4 | lo));
            i += 2;
        } else {
            buf_put_u8(out, (uint8_t)s[i]);
        }
    }
}

/*
 * Longest charset and encoded word looked for: RFC 2047 allows 75
 * characters, some mailers write longer ones. The bounds keep decoding
 * linear however many "=?" a hostile header holds.
 */
#define CHARSET_MAX 64
#define WORD_MAX 1000

/*
 * An encoded word at s (which starts with "=?"): its length, with the
 * charset, encoding and text found; 0 when s does not start one.
 */
static size_t word_parse(const char *s, const char **charset, size_t *cslen,
                         int *enc, const char **text, size_t *textlen)
{
    const char *p = s + 2, *q = p;
    while (*q && *q != '?' && q - p < CHARSET_MAX) {
        if (*q <= ' ' || *q >= 0x7f || *q == '=')
            return 0;
        q++;
    }
    if (*q != '?' || q == p)
        return 0;
    if ((q[1] != 'B' && q[1] != 'b' && q[1] != 'Q' && q[1] != 'q') ||
        q[2] != '?')
        return 0;
    const char *t = q + 3, *end = t;
    while (*end && !(end[0] == '?' && end[1] == '=')) {
        if (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n' ||
            end - s >= WORD_MAX)
            return 0;
        end++;
    }
    if (*end == '\0')
        return 0;
    const char *star = memchr(p, '*', (size_t)(q - p)); /* RFC 2231 language */
    *charset = p;
    *cslen = (size_t)((star ? star : q) - p);
    *enc = q[1] == 'b' || q[1] == 'B' ? 'B' : 'Q';
    *text = t;
    *textlen = (size_t)(end - t);
    return (size_t)(end + 2 - s);
}

/*
 * Bounds on one decode call. Each distinct charset is opened at most once
 * (opening a converter may load a module); words in charsets past the
 * CHARSETS_MAX first ones, and all text past DECODE_MAX bytes of input,
 * are kept as they are.
 */
#define CHARSETS_MAX 4
#define DECODE_MAX 16384

/* The converters one decode call opened, by charset name. */
struct charset_cache {
    int n;
    char name[CHARSETS_MAX][CHARSET_MAX + 1];
    iconv_t cd[CHARSETS_MAX]; /* (iconv_t)-1: unknown charset */
};

/* Charsets whose bytes are UTF-8 already: never converted. */
static int charset_is_utf8(const char *charset)
{
    return g_ascii_strcasecmp(charset, "utf-8") == 0 ||
           g_ascii_strcasecmp(charset, "us-ascii") == 0;
}

/*
 * The cache slot of charset, opening its converter on first sight; -1
 * when the cache is full with other charsets (the word stays encoded).
 */
static int charset_slot(struct charset_cache *cache, const char *charset)
{
    for (int i = 0; i < cache->n; i++)
        if (g_ascii_strcasecmp(cache->name[i], charset) == 0)
            return i;
    if (cache->n == CHARSETS_MAX)
        return -1;
    int i = cache->n++;
    snprintf(cache->name[i], sizeof cache->name[i], "%s", charset);
    cache->cd[i] = charset_is_utf8(charset) ? (iconv_t)-1
                                            : g_mime_iconv_open("UTF-8", charset);
    return i;
}

static void charset_cache_close(struct charset_cache *cache)
{
    for (int i = 0; i < cache->n; i++)
        if (cache->cd[i] != (iconv_t)-1)
            g_mime_iconv_close(cache->cd[i]);
}

/* Convert the pending words' bytes with converter cd (or keep them as they
 * are when cd is (iconv_t)-1) onto out. */
static void pending_flush(struct mlm_buf *pending, iconv_t cd,
                          struct mlm_buf *out)
{
    if (pending->len == 0)
        return;
    char *converted = NULL;
    if (cd != (iconv_t)-1) {
        iconv(cd, NULL, NULL, NULL, NULL); /* initial shift state */
        converted = g_mime_iconv_strndup(cd, (const char *)pending->data,
                                         pending->len);
    }
    if (converted) {
        buf_put_bytes(out, converted, strlen(converted));
        g_free(converted);
    } else {
        buf_put_bytes(out, pending->data, pending->len);
    }
    buf_reset(pending);
}

char *rfc2047_decode(const char *text)
{
    struct mlm_buf out, pending;
    buf_init(&out);
    buf_init(&pending);
    struct charset_cache cache = { .n = 0 };
    int slot = -1; /* the pending bytes' charset */
    const char *p = text, *plain = text;
    int after_word = 0; /* only whitespace since the last encoded word */
    while (*p && p - text < DECODE_MAX) {
        const char *cs, *wt;
        size_t cslen, wtlen, wlen = 0;
        int enc, this_slot = -1;
        if (p[0] == '=' && p[1] == '?')
            wlen = word_parse(p, &cs, &cslen, &enc, &wt, &wtlen);
        if (wlen) {
            char this_cs[CHARSET_MAX + 1];
            snprintf(this_cs, sizeof this_cs, "%.*s", (int)cslen, cs);
            this_slot = charset_slot(&cache, this_cs);
        }
        if (wlen == 0 || this_slot < 0) { /* plain text, or kept as it is */
            if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                after_word = 0;
            p += wlen ? wlen : 1;
            continue;
        }
        /* the text before this word; whitespace between two words goes */
        if (!after_word) {
            pending_flush(&pending, slot >= 0 ? cache.cd[slot] : (iconv_t)-1, &out);
            buf_put_bytes(&out, plain, (size_t)(p - plain));
        }
        if (this_slot != slot) {
            pending_flush(&pending, slot >= 0 ? cache.cd[slot] : (iconv_t)-1, &out);
            slot = this_slot;
        }
        word_decode(enc, wt, wtlen, &pending); /* bytes of one charset join */
        p += wlen;
        plain = p;
        after_word = 1;
    }
    pending_flush(&pending, slot >= 0 ? cache.cd[slot] : (iconv_t)-1, &out);
    buf_put_bytes(&out, plain, strlen(plain)); /* and the rest past DECODE_MAX */
    buf_put_u8(&out, 0);
    char *r = xstrdup((const char *)out.data);
    buf_free(&out);
    buf_free(&pending);
    charset_cache_close(&cache);
    return r;
}

/* Bytes of UTF-8 per encoded word: 60 base64 characters, 75 in all. The
 * first word of a value follows its field's name on the same line: 36 bytes,
 * 60 characters in all, fit within 78 after a name of up to 16 characters. */
#define WORD_BYTES 45
#define FIRST_WORD_BYTES 36

void rfc2047_encode_words(const char *utf8, size_t len, struct mlm_buf *out)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)utf8;
    size_t at = 0;
    while (at < len) {
        size_t most = at == 0 && out->len == 0 ? FIRST_WORD_BYTES : WORD_BYTES;
        size_t n = len - at < most ? len - at : most;
        /* never split a character: back off over continuation bytes */
        while (n < len - at && n > 0 && (s[at + n] & 0xc0) == 0x80)
            n--;
        if (n == 0)
            n = len - at < most ? len - at : most;
        if (at > 0)
            buf_put_u8(out, ' ');
        buf_put_bytes(out, "=?UTF-8?B?", 10);
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)s[at + i] << 16;
            if (i + 1 < n)
                v |= (unsigned)s[at + i + 1] << 8;
            if (i + 2 < n)
                v |= s[at + i + 2];
            buf_put_u8(out, (uint8_t)b64[v >> 18 & 63]);
            buf_put_u8(out, (uint8_t)b64[v >> 12 & 63]);
            buf_put_u8(out, i + 1 < n ? (uint8_t)b64[v >> 6 & 63] : '=');
            buf_put_u8(out, i + 2 < n ? (uint8_t)b64[v & 63] : '=');
        }
        buf_put_bytes(out, "?=", 2);
        at += n;
    }
}

/* A word that may stay as it is: printable ASCII, no "=?" in it. */
static int word_plain(const char *w, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c < 0x20 || c >= 0x7f || (c == '=' && i + 1 < len && w[i + 1] == '?'))
            return 0;
    }
    return 1;
}

char *rfc2047_encode(const char *utf8)
{
    struct mlm_buf out;
    buf_init(&out);
    const char *p = utf8;
    const char *run = NULL, *run_end = NULL; /* words that must be encoded */
    while (*p) {
        const char *ws = p;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        size_t wlen = (size_t)(p - w);
        if (wlen && !word_plain(w, wlen)) {
            if (run == NULL) {
                buf_put_bytes(&out, ws, (size_t)(w - ws));
                run = w;
            }
            run_end = p; /* the spaces between words of a run are encoded */
            continue;
        }
        if (run) {
            rfc2047_encode_words(run, (size_t)(run_end - run), &out);
            run = NULL;
            ws = run_end;
        }
        buf_put_bytes(&out, ws, (size_t)(p - ws));
    }
    if (run)
        rfc2047_encode_words(run, (size_t)(run_end - run), &out);
    buf_put_u8(&out, 0);
    char *r = xstrdup((const char *)out.data);
    buf_free(&out);
    return r;
}
