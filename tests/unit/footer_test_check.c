/*
 * footer_test_check.c - checking one footer_apply() result against its
 * .expect: the body file re-spliced under the original header block with
 * the reported changes, re-parsed and compared with the original part by
 * part (the rules are in footer_test.c's opening comment).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "footer_test.h"
#include "xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void fail(struct check *c, const char *fmt, ...)
{
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

static int strv_has(const struct mlm_strv *sv, const char *s)
{
    for (uint32_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return 1;
    return 0;
}

static const char *strv_pair(const struct mlm_strv *sv, const char *key)
{
    for (uint32_t i = 0; i + 1 < sv->n; i += 2)
        if (strcmp(sv->v[i], key) == 0)
            return sv->v[i + 1];
    return NULL;
}

/* A message from memory; NULL when GMime cannot make one of it. */
GMimeMessage *parse(const uint8_t *data, size_t len)
{
    GMimeStream *s = g_mime_stream_mem_new_with_buffer((const char *)data, len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    return m;
}

/* An object as GMime writes it (headers and content), CRLF. */
static void serialize(GMimeObject *obj, struct mlm_buf *out)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GMimeStream *f = g_mime_stream_filter_new(mem);
    GMimeFilter *crlf = g_mime_filter_unix2dos_new(FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), crlf);
    g_object_unref(crlf);
    g_mime_object_write_to_stream(obj, NULL, f);
    g_mime_stream_flush(f);
    GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    buf_put_bytes(out, a->data, a->len);
    g_object_unref(f);
    g_object_unref(mem);
}

/* A part's content with its transfer encoding undone. */
static void decoded(GMimePart *part, struct mlm_buf *out)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (w == NULL)
        return;
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, mem);
    GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    buf_put_bytes(out, a->data, a->len);
    g_object_unref(mem);
}

/* A text part's text as UTF-8, CRLF made LF, NUL-terminated. */
static char *text_of(GMimeObject *obj)
{
    if (!GMIME_IS_TEXT_PART(obj))
        return xstrdup("");
    char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
    char *r = xstrdup(t ? t : ""), *w = r;
    for (const char *p = r; *p; p++)
        if (!(p[0] == '\r' && p[1] == '\n'))
            *w++ = *p;
    *w = '\0';
    g_free(t);
    return r;
}

/* HTML with numeric character references turned into UTF-8. */
static char *unescape_refs(const char *s)
{
    struct mlm_buf b;
    buf_init(&b);
    for (const char *p = s; *p;) {
        if (p[0] == '&' && p[1] == '#') {
            int hex = p[2] == 'x' || p[2] == 'X';
            char *end;
            unsigned long c = strtoul(p + 2 + hex, &end, hex ? 16 : 10);
            if (end > p + 2 + hex && *end == ';' && c > 0 && c < 0x110000) {
                char u[8];
                int n = g_unichar_to_utf8((gunichar)c, u);
                buf_put_bytes(&b, u, (size_t)n);
                p = end + 1;
                continue;
            }
        }
        buf_put_u8(&b, (uint8_t)*p++);
    }
    buf_put_u8(&b, '\0');
    return (char *)b.data;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += len)
        n++;
    return n;
}

static char *without_newlines(const char *s)
{
    char *r = xstrdup(s), *w = r;
    for (const char *p = s; *p; p++)
        if (*p != '\n')
            *w++ = *p;
    *w = '\0';
    return r;
}

static const char *last_close_body(const char *s)
{
    const char *last = NULL;
    for (const char *p = s; *p; p++)
        if (g_ascii_strncasecmp(p, "</body", 6) == 0)
            last = p;
    return last;
}

/* A text/plain part meant to carry the footer: old text, then the footer. */
static void check_plain(struct check *c, GMimeObject *a, GMimeObject *n,
                        const char *path)
{
    const char *footer = c->ex->text;
    char *ta = text_of(a), *tn = text_of(n);
    size_t la = strlen(ta);
    while (la && ta[la - 1] == '\n')
        la--;
    int want_nl = strv_has(&c->ex->flowed, path) ? 2 : (la ? 1 : 0);
    const char *rest = tn + la;
    if (footer == NULL) {
        fail(c, "part %s: no text footer given", path);
    } else if (count_of(tn, footer) != 1) {
        fail(c, "part %s: footer found %d times in \"%s\"", path,
             count_of(tn, footer), tn);
    } else if (strncmp(tn, ta, la) != 0) {
        fail(c, "part %s: old text not kept: \"%s\"", path, tn);
    } else if ((int)strspn(rest, "\n") != want_nl) {
        fail(c, "part %s: %d line ends before the footer, want %d", path,
             (int)strspn(rest, "\n"), want_nl);
    } else {
        rest += want_nl;
        size_t fl = strlen(footer);
        if (strncmp(rest, footer, fl) != 0 ||
            !(rest[fl] == '\0' || strcmp(rest + fl, "\n") == 0))
            fail(c, "part %s: footer not at the end: \"%s\"", path, tn);
    }
    c->plain_seen++;
    free(ta);
    free(tn);
}

/* A text/html part meant to carry the footer: inserted once, before </body>. */
static void check_html(struct check *c, GMimeObject *a, GMimeObject *n,
                       const char *path)
{
    char *ta0 = text_of(a), *tn0 = text_of(n);
    char *ta = unescape_refs(ta0), *tn = unescape_refs(tn0);
    char *want = unescape_refs(c->html);
    char *hit = strstr(tn, want);
    if (count_of(tn, want) != 1) {
        fail(c, "part %s: HTML footer found %d times in \"%s\"", path,
             count_of(tn, want), tn);
    } else {
        const char *body_a = last_close_body(ta), *body_n = last_close_body(tn);
        if (body_a && (body_n == NULL || body_n < hit))
            fail(c, "part %s: HTML footer not before </body>: \"%s\"", path,
                 tn);
        /* the rest must be the old HTML, line ends aside */
        size_t wl = strlen(want);
        memmove(hit, hit + wl, strlen(hit + wl) + 1);
        char *xa = without_newlines(ta), *xn = without_newlines(tn);
        if (strcmp(xa, xn) != 0)
            fail(c, "part %s: old HTML not kept: \"%s\"", path, tn);
        free(xa);
        free(xn);
    }
    c->html_seen++;
    free(ta0), free(tn0), free(ta), free(tn), free(want);
}

static int is_sealed(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    return g_mime_content_type_is_type(ct, "multipart", "signed") ||
           g_mime_content_type_is_type(ct, "multipart", "encrypted") ||
           g_mime_content_type_is_type(ct, "application", "pkcs7-mime");
}

static int same_bytes(const struct mlm_buf *x, const struct mlm_buf *y)
{
    return x->len == y->len && (x->len == 0 || !memcmp(x->data, y->data, x->len));
}

/*
 * Where a multipart's inside is in a whole message: from its first
 * boundary line to the end of its end boundary. Found by the boundary
 * alone, so the check does not depend on any MIME writer.
 */
static int multipart_region(const uint8_t *msg, size_t len,
                            const char *boundary, struct mlm_buf *out)
{
    char open[512], close[512];
    snprintf(open, sizeof open, "--%s\r\n", boundary);
    snprintf(close, sizeof close, "\r\n--%s--", boundary);
    const uint8_t *p = msg, *end = msg + len;
    while ((p = memmem(p, (size_t)(end - p), open, strlen(open))) != NULL &&
           p != msg && p[-1] != '\n')
        p++;
    if (p == NULL)
        return -1;
    const uint8_t *q = memmem(p, (size_t)(end - p), close, strlen(close));
    if (q == NULL)
        return -1;
    buf_put_bytes(out, p, (size_t)(q - p) + strlen(close));
    return 0;
}

/* Whether a footer part lies at or below path. */
static int holds_footer(const struct expect *ex, const char *path)
{
    const struct mlm_strv *lists[] = {&ex->plain, &ex->htmlpart};
    size_t len = strlen(path);
    for (int l = 0; l < 2; l++)
        for (uint32_t i = 0; i < lists[l]->n; i++)
            if (len == 0 || (strncmp(lists[l]->v[i], path, len) == 0 &&
                             (lists[l]->v[i][len] == '\0' ||
                              lists[l]->v[i][len] == '.')))
                return 1;
    return 0;
}

/* Compare the original tree a with the new tree n, part by part. */
static void compare(struct check *c, GMimeObject *a, GMimeObject *n,
                    const char *path)
{
    char *ma = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(a));
    char *mn = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(n));
    int same_type = g_ascii_strcasecmp(ma, mn) == 0;
    if (!same_type)
        fail(c, "part %s: type %s became %s", path, ma, mn);
    g_free(ma);
    g_free(mn);
    if (!same_type || G_OBJECT_TYPE(a) != G_OBJECT_TYPE(n)) {
        fail(c, "part %s: structure changed", path);
        return;
    }

    struct mlm_buf sa, sn;
    buf_init(&sa), buf_init(&sn);
    if (GMIME_IS_MULTIPART(a) && !holds_footer(c->ex, path)) {
        /* untouched, signed or not: the very same bytes */
        const char *b = g_mime_multipart_get_boundary(GMIME_MULTIPART(a));
        if (multipart_region(c->orig, c->origlen, b, &sa) == -1 ||
            multipart_region(c->full, c->fulllen, b, &sn) == -1)
            fail(c, "part %s: boundary %s not found", path, b);
        else if (!same_bytes(&sa, &sn))
            fail(c, "part %s: untouched %s part not byte-identical", path,
                 is_sealed(a) ? "signed/encrypted" : "multipart");
        buf_reset(&sa), buf_reset(&sn);
    }
    if (is_sealed(a) || GMIME_IS_MESSAGE_PART(a)) {
        serialize(a, &sa);
        serialize(n, &sn);
        if (!same_bytes(&sa, &sn))
            fail(c, "part %s: signed/encrypted/attached message changed", path);
    } else if (GMIME_IS_MULTIPART(a)) {
        int na = g_mime_multipart_get_count(GMIME_MULTIPART(a));
        if (na != g_mime_multipart_get_count(GMIME_MULTIPART(n)))
            fail(c, "part %s: number of parts changed", path);
        for (int i = 0; i < na && !c->err[0]; i++) {
            char sub[1024];
            snprintf(sub, sizeof sub, "%s%s%d", path, *path ? "." : "", i + 1);
            compare(c, g_mime_multipart_get_part(GMIME_MULTIPART(a), i),
                    g_mime_multipart_get_part(GMIME_MULTIPART(n), i), sub);
        }
    } else if (GMIME_IS_PART(a)) {
        const char *leaf = *path ? path : "1";
        if (strv_has(&c->ex->plain, leaf)) {
            check_plain(c, a, n, leaf);
        } else if (strv_has(&c->ex->htmlpart, leaf)) {
            check_html(c, a, n, leaf);
        } else {
            /* untouched: same bytes, and so the same decoded content */
            serialize(a, &sa);
            serialize(n, &sn);
            if (!same_bytes(&sa, &sn))
                fail(c, "part %s: changed though it carries no footer", leaf);
            buf_reset(&sa), buf_reset(&sn);
            decoded(GMIME_PART(a), &sa);
            decoded(GMIME_PART(n), &sn);
            if (!same_bytes(&sa, &sn))
                fail(c, "part %s: decodes to other bytes", leaf);
        }
        const char *want = strv_pair(&c->ex->charset, leaf);
        const char *got = g_mime_object_get_content_type_parameter(n, "charset");
        if (want && (got == NULL || g_ascii_strcasecmp(want, got) != 0))
            fail(c, "part %s: charset %s, want %s", leaf, got ? got : "(none)",
                 want);
        want = strv_pair(&c->ex->cte, leaf);
        GMimeContentEncoding enc = g_mime_part_get_content_encoding(GMIME_PART(n));
        got = enc == GMIME_CONTENT_ENCODING_DEFAULT
                  ? "7bit"
                  : g_mime_content_encoding_to_string(enc);
        if (want && g_ascii_strcasecmp(want, got) != 0)
            fail(c, "part %s: transfer encoding %s, want %s", leaf, got, want);
    }
    buf_free(&sa), buf_free(&sn);
}

/* A change as an .expect file writes it: "KIND Name: value". */
static void change_line(const struct mlm_change *ch, char *out, size_t len)
{
    snprintf(out, len, "%s %s: %s",
             ch->kind == CHG_CHANGE_HEADER ? "CHANGE"
             : ch->kind == CHG_ADD_HEADER  ? "ADD"
                                           : "OTHER",
             ch->name ? ch->name : "", ch->value ? ch->value : "");
}

/* The changes reported must be exactly those the .expect file lists. */
static void check_changes(struct check *c, const struct mlm_reply *rep)
{
    char got[2048];
    if (rep->nchanges != c->ex->changes.n) {
        char all[900] = "";
        for (uint32_t i = 0; i < rep->nchanges; i++) {
            change_line(&rep->changes[i], got, sizeof got);
            snprintf(all + strlen(all), sizeof all - strlen(all), " [%.200s]",
                     got);
        }
        fail(c, "%u header changes reported, want %u:%s", rep->nchanges,
             c->ex->changes.n, all);
        return;
    }
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        const struct mlm_change *ch = &rep->changes[i];
        change_line(ch, got, sizeof got);
        if (strcmp(got, c->ex->changes.v[i]) != 0)
            fail(c, "change %u is \"%s\", want \"%s\"", i + 1, got,
                 c->ex->changes.v[i]);
        if (ch->kind == CHG_CHANGE_HEADER && ch->index != 1)
            fail(c, "change %u has index %u", i + 1, ch->index);
        if (!header_value_valid(ch->value) || !header_name_valid(ch->name))
            fail(c, "change %u is not a valid header", i + 1);
    }
}

static int field_is(const char *field, size_t len, const char *name)
{
    size_t nl = strlen(name);
    return len > nl && g_ascii_strncasecmp(field, name, nl) == 0 &&
           (field[nl] == ':' || field[nl] == ' ' || field[nl] == '\t');
}

/* The new message: orig's header block with rep's changes, CRLF, body. */
static void splice_message(const uint8_t *orig, size_t olen,
                   const struct mlm_reply *rep, const struct mlm_buf *body,
                   struct mlm_buf *out)
{
    const uint8_t *end = memmem(orig, olen, "\r\n\r\n", 4);
    size_t hlen = end ? (size_t)(end - orig) + 2 : olen;
    if (olen >= 2 && orig[0] == '\r' && orig[1] == '\n')
        hlen = 0;
    /* the header block as fields, continuation lines included */
    struct mlm_strv fields = {0};
    for (size_t i = 0; i < hlen;) {
        size_t j = i;
        do {
            const uint8_t *lf = memchr(orig + j, '\n', hlen - j);
            j = lf ? (size_t)(lf - orig) + 1 : hlen;
        } while (j < hlen && (orig[j] == ' ' || orig[j] == '\t'));
        char *f = xstrndup((const char *)orig + i, j - i);
        strv_push(&fields, f);
        free(f);
        i = j;
    }
    for (uint32_t k = 0; k < rep->nchanges; k++) {
        const struct mlm_change *ch = &rep->changes[k];
        char line[20000];
        snprintf(line, sizeof line, "%s: %s\r\n", ch->name, ch->value);
        uint32_t seen = 0, done = 0;
        for (uint32_t i = 0; i < fields.n && ch->kind == CHG_CHANGE_HEADER;
             i++) {
            if (field_is(fields.v[i], strlen(fields.v[i]), ch->name) &&
                ++seen == ch->index) {
                free(fields.v[i]);
                fields.v[i] = xstrdup(line);
                done = 1;
                break;
            }
        }
        if (!done)
            strv_push(&fields, line);
    }
    for (uint32_t i = 0; i < fields.n; i++)
        buf_put_bytes(out, fields.v[i], strlen(fields.v[i]));
    buf_put_bytes(out, "\r\n", 2);
    buf_put_bytes(out, body->data, body->len);
    strv_free(&fields);
}

/*
 * What footer_apply() returned (rc, why), the body file it left at
 * out_path and the changes in rep, against c->ex; the first failure is
 * kept in c->err.
 */
void check_result(struct check *c, int rc, const char *why,
                  const char *out_path, const struct mlm_reply *rep)
{
    struct stat st;
    int exists = stat(out_path, &st) == 0;
    if (rc != c->ex->rc) {
        fail(c, "footer_apply returned %d, want %d (%s)", rc, c->ex->rc,
             rc == -1 ? why : "");
        return;
    }
    if (rc != 1) {
        if (exists && rc == 0)
            fail(c, "%s exists after returning %d", out_path, rc);
        if (rep->nchanges)
            fail(c, "header changes reported with %d", rc);
        if (rc == -1 && why[0] == '\0')
            fail(c, "-1 without a reason");
        return;
    }
    if (!exists) {
        fail(c, "no body file written");
        return;
    }
    if ((st.st_mode & 07777) != 0600)
        fail(c, "body file mode %o, want 600", st.st_mode & 07777);
    check_changes(c, rep);

    struct mlm_buf body, full;
    buf_init(&body), buf_init(&full);
    read_file(out_path, &body);
    for (size_t i = 0; i < body.len; i++)
        if (body.data[i] == '\n' && (i == 0 || body.data[i - 1] != '\r')) {
            fail(c, "bare LF at body offset %zu", i);
            break;
        }
    splice_message(c->orig, c->origlen, rep, &body, &full);
    c->full = full.data;
    c->fulllen = full.len;
    GMimeMessage *a = parse(c->orig, c->origlen);
    GMimeMessage *n = parse(full.data, full.len);
    if (a == NULL || n == NULL) {
        fail(c, "cannot parse the result");
    } else {
        compare(c, g_mime_message_get_mime_part(a),
                g_mime_message_get_mime_part(n), "");
        if (c->plain_seen != (int)c->ex->plain.n)
            fail(c, "%d of %u text footer parts found", c->plain_seen,
                 c->ex->plain.n);
        if (c->html_seen != (int)c->ex->htmlpart.n)
            fail(c, "%d of %u HTML footer parts found", c->html_seen,
                 c->ex->htmlpart.n);
    }
    if (a)
        g_object_unref(a);
    if (n)
        g_object_unref(n);
    buf_free(&body), buf_free(&full);
}
