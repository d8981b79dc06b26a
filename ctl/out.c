/*
 * out.c - mlm-ctl's output: text safe for a terminal, aligned columns,
 * ages and dates, and a small streaming JSON writer.
 *
 * Stored data (subjects, names, diagnostics, held messages) and whatever a
 * policy or the daemons answer come from strangers. Everything mlm-ctl
 * prints of it goes through safe_textn() (safe_text, put_message), which
 * lets printable UTF-8 through and shows all a terminal could act on as a
 * visible escape: C0 controls, DEL and bytes that are not UTF-8 (a raw
 * 8-bit CSI, 0x9b, too) as \xNN; C1 controls (U+0080..U+009F) and the
 * bidi embeddings, overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069) as \u{N}. A backslash is not doubled: the escapes are
 * for reading, not for decoding back. JSON escapes the same code points
 * as \u00XX / \u202E and replaces invalid UTF-8 with U+FFFD, so the
 * output always parses.
 */
#include "ctl.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Decode the UTF-8 sequence at s (at most n bytes): its code point and
 * length, or -1 for a byte that does not start a valid sequence.
 */
static long utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char c = s[0];
    size_t need;
    long cp, min;
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c >= 0xc2 && c <= 0xdf)
        need = 1, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, cp = c & 0x07, min = 0x10000;
    else
        return -1;
    if (n < need + 1)
        return -1;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *len = need + 1;
    return cp;
}

static int is_control(long cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Bidi embeddings, overrides and isolates: they reorder what follows. */
static int is_bidi_control(long cp)
{
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

char *safe_textn(const char *s, size_t n, size_t max, int flags)
{
    /* The longest escape is 4 bytes a byte in ("\xNN"): room for all of
     * it, and "..." and the NUL. */
    char *out = xmalloc(n * 4 + 4), *q = out;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t chars = 0;
    while (p < end) {
        size_t len = 1, shown = 0; /* shown: characters it takes; 0: as many
                                       as its bytes */
        char esc[24];
        if (*p >= 0x20 && *p < 0x7f) { /* the common case: printable ASCII */
            esc[0] = (char)*p;
            esc[1] = '\0';
        } else if ((flags & TEXT_LINES) && (*p == '\n' || *p == '\t')) {
            esc[0] = (char)*p;
            esc[1] = '\0';
        } else if ((flags & TEXT_LINES) && *p == '\r' && p + 1 < end &&
                   p[1] == '\n') {
            p++; /* CRLF shown as LF */
            continue;
        } else {
            long cp = utf8_decode(p, (size_t)(end - p), &len);
            if (cp < 0 || cp < 0x80) { /* invalid UTF-8, C0, DEL */
                len = 1;
                snprintf(esc, sizeof esc, "\\x%02x", *p);
            } else if (is_control(cp) || is_bidi_control(cp)) {
                snprintf(esc, sizeof esc, "\\u{%lx}", cp);
            } else {
                memcpy(esc, p, len);
                esc[len] = '\0';
                shown = 1;
            }
        }
        size_t elen = strlen(esc);
        if (shown == 0)
            shown = elen;
        if (max && chars + shown > max) {
            memcpy(q, "...", 3);
            q += 3;
            break;
        }
        memcpy(q, esc, elen);
        q += elen;
        chars += shown;
        p += len;
    }
    *q = '\0';
    return out;
}

char *safe_text(const char *s, size_t max)
{
    return safe_textn(s, strlen(s), max, 0);
}

size_t text_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += (*p & 0xc0) != 0x80;
    return w;
}

void put_padded(FILE *fp, const char *s, size_t width)
{
    fputs(s, fp);
    for (size_t w = text_width(s); w < width; w++)
        putc(' ', fp);
}

void columns_print(FILE *fp, char **cells, size_t ncols,
                   const size_t *widths)
{
    /* The last non-empty cell is not padded: no trailing blanks. */
    size_t last = ncols;
    while (last > 1 && *cells[last - 1] == '\0')
        last--;
    for (size_t i = 0; i < last; i++) {
        if (i + 1 < last) {
            put_padded(fp, cells[i], widths[i]);
            fputs("  ", fp);
        } else {
            fputs(cells[i], fp);
        }
    }
    putc('\n', fp);
}

void table_init(struct table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->widths = xcalloc(ncols, sizeof *t->widths);
}

void table_add(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    char **row = t->cells + t->nrows++ * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = safe_text(cells[c] ? cells[c] : "", 0);
        if (text_width(row[c]) > t->widths[c])
            t->widths[c] = text_width(row[c]);
    }
}

void table_print(struct table *t, FILE *fp)
{
    for (size_t r = 0; r < t->nrows; r++) {
        columns_print(fp, t->cells + r * t->ncols, t->ncols, t->widths);
        for (size_t c = 0; c < t->ncols; c++)
            free(t->cells[r * t->ncols + c]);
    }
    free(t->cells);
    free(t->widths);
    memset(t, 0, sizeof *t);
}

void age_format(time_t when, time_t now, char *out, size_t outlen)
{
    long long age = now > when ? (long long)(now - when) : 0;
    if (age < 120)
        snprintf(out, outlen, "%llds", age);
    else if (age < 2 * 3600)
        snprintf(out, outlen, "%lldm", age / 60);
    else if (age < 2 * 86400)
        snprintf(out, outlen, "%lldh", age / 3600);
    else
        snprintf(out, outlen, "%lldd", age / 86400);
}

void time_format(time_t when, char *out, size_t outlen)
{
    struct tm tm;
    if (gmtime_r(&when, &tm) == NULL ||
        strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "%lld", (long long)when);
}

void put_message(FILE *fp, const char *text, size_t len)
{
    char *safe = safe_textn(text, len, 0, TEXT_LINES);
    size_t n = strlen(safe);
    fputs(safe, fp);
    if (n == 0 || safe[n - 1] != '\n')
        putc('\n', fp);
    free(safe);
}

void put_lines(FILE *fp, const char *text)
{
    put_message(fp, text, strlen(text));
}

/* --- JSON ------------------------------------------------------------------ */

void json_start(struct json *j, FILE *fp)
{
    memset(j, 0, sizeof *j);
    j->fp = fp;
}

void json_end(struct json *j)
{
    putc('\n', j->fp);
}

static void json_quote(FILE *fp, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    putc('"', fp);
    while (p < end) {
        size_t len, run = 0;
        while (p + run < end && p[run] >= 0x20 && p[run] < 0x7f &&
               p[run] != '"' && p[run] != '\\')
            run++;
        if (run) { /* plain ASCII goes out in one piece */
            fwrite(p, 1, run, fp);
            p += run;
            continue;
        }
        long cp = utf8_decode(p, (size_t)(end - p), &len);
        if (cp < 0) {
            fputs("\\ufffd", fp);
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(fp, "\\%c", (int)cp);
        else if (cp == '\n')
            fputs("\\n", fp);
        else if (cp == '\r')
            fputs("\\r", fp);
        else if (cp == '\t')
            fputs("\\t", fp);
        else if (is_control(cp) || is_bidi_control(cp))
            fprintf(fp, "\\u%04lx", cp);
        else
            fwrite(p, 1, len, fp);
        p += len;
    }
    putc('"', fp);
}

/* A comma when needed, a line break between top-level elements, the key. */
static void json_member(struct json *j, const char *key)
{
    if (j->count[j->depth]++)
        putc(',', j->fp);
    if (j->depth == 1)
        fputs("\n ", j->fp);
    if (key) {
        json_quote(j->fp, key, strlen(key));
        putc(':', j->fp);
    }
}

static void json_open(struct json *j, const char *key, char bracket)
{
    json_member(j, key);
    putc(bracket, j->fp);
    if (j->depth < 15)
        j->depth++;
    j->count[j->depth] = 0;
}

void json_object(struct json *j, const char *key)
{
    json_open(j, key, '{');
}

void json_array(struct json *j, const char *key)
{
    json_open(j, key, '[');
}

void json_close(struct json *j, char bracket)
{
    if (j->depth == 1 && j->count[1])
        putc('\n', j->fp);
    if (j->depth > 0)
        j->depth--;
    putc(bracket, j->fp);
}

void json_strn(struct json *j, const char *key, const char *value,
               size_t len)
{
    json_member(j, key);
    json_quote(j->fp, value, len);
}

void json_str(struct json *j, const char *key, const char *value)
{
    value = value ? value : "";
    json_strn(j, key, value, strlen(value));
}

void json_int(struct json *j, const char *key, long long value)
{
    json_member(j, key);
    fprintf(j->fp, "%lld", value);
}

void json_bool(struct json *j, const char *key, int value)
{
    json_member(j, key);
    fputs(value ? "true" : "false", j->fp);
}
