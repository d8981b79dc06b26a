/*
 * footer.c - the list footer, added MIME-aware (see footer.h).
 *
 * A walk over the parsed message picks the parts: never inside
 * multipart/signed, multipart/encrypted or application/pkcs7-mime, never an
 * attachment or an attached message, at most FOOTER_MAX_DEPTH levels down.
 * Each chosen part is decoded, gets the footer in its own charset (or is
 * converted to UTF-8 when the footer does not fit in it) and is re-encoded
 * with its own transfer encoding; only a 7bit part that comes to hold
 * non-ASCII becomes quoted-printable. Every other part is written back as
 * it was parsed, which for an unchanged part is its original bytes (see
 * the writer below), and the whole body goes out with CRLF line ends.
 *
 * The parts that get the footer are changed in the GMimeMessage itself.
 *
 * Work is linear in the size of the message: each part is visited at most
 * once and a chosen part is copied a bounded number of times.
 */
#include "footer.h"
#include "footer_text.h"
#include "xmalloc.h"
#include "mime_write.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOOTER_MAX_DEPTH 50
#define FOOTER_MAX_CHANGES 3

enum footer_kind { KIND_TEXT, KIND_HTML };

/* How a part's declared charset relates to the footer's UTF-8. */
enum cs_class {
    CS_UTF8,    /* UTF-8: the footer goes in as it is */
    CS_ASCII,   /* us-ascii, or no charset parameter at all */
    CS_COMPAT,  /* iconv knows it, and ASCII bytes are ASCII in it */
    CS_FOREIGN, /* iconv knows it, but ASCII is not a subset (UTF-16, ...) */
    CS_UNKNOWN, /* iconv does not know it */
};

/* A change to the top-level header block, handed to rep on success only. */
struct header_change {
    enum mlm_change_kind kind;
    const char *name;
    char *value;
};

/* One footer_apply() call. */
struct footer_run {
    char *text;          /* UTF-8, LF line ends, no final LF; or NULL */
    char *html;          /* likewise */
    GMimeObject *msg;    /* holds the non-MIME top-level headers */
    GMimeObject *top;    /* the top-level part: Content-* headers */
    struct header_change chg[FOOTER_MAX_CHANGES];
    int nchg;
    int failed;
    char *why;
    size_t whylen;
};

static void buf_put_s(struct mlm_buf *b, const char *s)
{
    buf_put_bytes(b, s, strlen(s));
}

/* A NUL-terminated copy of b's bytes (b may hold NULs: callers know). */
static char *buf_strdup(const struct mlm_buf *b)
{
    return xstrndup(b->len ? (const char *)b->data : "", b->len);
}

int footer_is_ascii(const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        if (p[i] >= 0x80)
            return 0;
    return 1;
}

void footer_put_lines(struct mlm_buf *b, const void *s, size_t len,
                      const char *nl)
{
    const char *p = s, *end = p + len;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        size_t n = lf ? (size_t)(lf - p) : (size_t)(end - p);
        buf_put_bytes(b, p, n);
        if (lf == NULL)
            break;
        buf_put_s(b, nl);
        p = lf + 1;
    }
}

/*
 * Convert len bytes between charsets, failing on any character the target
 * cannot hold (no transliteration). 0, -1 when it cannot be converted, -2
 * when iconv does not know one of the charsets. out is appended to.
 */
static int convert_strict(const char *to, const char *from, const void *in,
                          size_t len, struct mlm_buf *out)
{
    iconv_t cd = g_mime_iconv_open(to, from);
    if (cd == (iconv_t)-1)
        return -2;
    iconv(cd, NULL, NULL, NULL, NULL);
    char *inp = (char *)in;
    size_t inleft = len;
    int rc = 0;
    for (int flushing = 0;;) {
        buf_reserve(out, inleft + inleft / 2 + 64); /* E2BIG asks for more */
        char *outp = (char *)out->data + out->len;
        size_t outleft = out->cap - out->len;
        size_t r = flushing ? iconv(cd, NULL, NULL, &outp, &outleft)
                            : iconv(cd, &inp, &inleft, &outp, &outleft);
        out->len = (size_t)((uint8_t *)outp - out->data);
        if (r == (size_t)-1 && errno == E2BIG)
            continue;
        if (r == (size_t)-1 || r > 0) {
            /* r > 0: glibc replaced a character it could not convert */
            rc = -1;
            break;
        }
        if (flushing)
            break;
        flushing = 1; /* back to the initial shift state (ISO-2022-JP) */
    }
    g_mime_iconv_close(cd);
    return rc;
}

static enum cs_class charset_class(const char *charset)
{
    static const char probe[] = "\t\n\r !\"#&'()*+,-./0123456789:;<=>?@"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_"
                                "abcdefghijklmnopqrstuvwxyz{|}";
    if (charset == NULL || *charset == '\0')
        return CS_ASCII;
    const char *canon = g_mime_charset_canon_name(charset);
    if (g_ascii_strcasecmp(canon, "utf-8") == 0 ||
        g_ascii_strcasecmp(canon, "utf8") == 0)
        return CS_UTF8;
    if (g_ascii_strcasecmp(canon, "us-ascii") == 0 ||
        g_ascii_strcasecmp(canon, "ascii") == 0 ||
        g_ascii_strcasecmp(canon, "ansi_x3.4-1968") == 0)
        return CS_ASCII;
    struct mlm_buf out;
    buf_init(&out);
    int rc = convert_strict(charset, "UTF-8", probe, sizeof probe - 1, &out);
    enum cs_class cls = rc == -2 ? CS_UNKNOWN
                        : rc == 0 && out.len == sizeof probe - 1 &&
                                memcmp(out.data, probe, out.len) == 0
                            ? CS_COMPAT
                            : CS_FOREIGN;
    buf_free(&out);
    return cls;
}

char *footer_normalize(const char *s)
{
    if (s == NULL)
        return NULL;
    struct mlm_buf b;
    buf_init(&b);
    for (const char *p = s; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue;
        buf_put_u8(&b, *p == '\r' ? '\n' : (uint8_t)*p);
    }
    while (b.len && b.data[b.len - 1] == '\n')
        b.len--;
    char *r = b.len ? buf_strdup(&b) : NULL;
    buf_free(&b);
    return r;
}

/* The HTML footer derived from the text one: escaped, lines <br>, in a <p>. */
static char *html_from_text(const char *text)
{
    struct mlm_buf b;
    buf_init(&b);
    buf_put_s(&b, "<p>");
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': buf_put_s(&b, "&amp;"); break;
        case '<': buf_put_s(&b, "&lt;"); break;
        case '>': buf_put_s(&b, "&gt;"); break;
        case '"': buf_put_s(&b, "&quot;"); break;
        case '\n': buf_put_s(&b, "<br>\n"); break;
        default: buf_put_u8(&b, (uint8_t)*p);
        }
    }
    buf_put_s(&b, "</p>");
    char *r = buf_strdup(&b);
    buf_free(&b);
    return r;
}

/* UTF-8 as ASCII HTML: every other character a numeric reference. */
static void put_html_refs(struct mlm_buf *b, const char *utf8)
{
    for (const char *p = utf8; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c < 0x80) {
            buf_put_u8(b, (uint8_t)c);
        } else {
            char ref[16];
            int n = snprintf(ref, sizeof ref, "&#%u;", (unsigned)c);
            buf_put_bytes(b, ref, (size_t)n);
        }
    }
}

/*
 * The text footer for a format=flowed part (RFC 3676): no trailing spaces
 * (they would join lines) and lines space-stuffed where needed. The
 * signature separator "-- " keeps its space (section 4.3: it is never a
 * flowed line).
 */
static char *flowed_footer(const char *text)
{
    struct mlm_buf b;
    buf_init(&b);
    for (const char *p = text;;) {
        size_t n = strcspn(p, "\n");
        size_t keep = n;
        int separator = n == 3 && strncmp(p, "-- ", 3) == 0;
        while (keep && p[keep - 1] == ' ' && !separator)
            keep--;
        if (*p == ' ' || *p == '>' || strncmp(p, "From ", 5) == 0)
            buf_put_u8(&b, ' ');
        buf_put_bytes(&b, p, keep);
        if (p[n] == '\0')
            break;
        buf_put_u8(&b, '\n');
        p += n + 1;
    }
    char *r = buf_strdup(&b);
    buf_free(&b);
    return r;
}

static int is_type(GMimeObject *obj, const char *type, const char *subtype)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    return ct && g_mime_content_type_is_type(ct, type, subtype);
}

/* A part mlm must never change: a signature or encryption covers it. */
static int is_sealed(GMimeObject *obj)
{
    return GMIME_IS_MULTIPART_SIGNED(obj) ||
           GMIME_IS_MULTIPART_ENCRYPTED(obj) ||
           GMIME_IS_APPLICATION_PKCS7_MIME(obj) ||
           is_type(obj, "multipart", "signed") ||
           is_type(obj, "multipart", "encrypted") ||
           is_type(obj, "application", "pkcs7-mime") ||
           is_type(obj, "application", "x-pkcs7-mime");
}

static int is_attachment(GMimeObject *obj)
{
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
    return d && g_mime_content_disposition_is_attachment(d);
}

/* How many header fields called name obj has. */
static int header_count(GMimeObject *obj, const char *name)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
    int n = 0, count = hl ? g_mime_header_list_get_count(hl) : 0;
    for (int i = 0; i < count; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0)
            n++;
    }
    return n;
}

/*
 * Whether the Content-Transfer-Encoding field is one we can re-encode:
 * absent, 7bit, 8bit, binary, base64 or quoted-printable. GMime maps an
 * unknown one to "default", which would pass it off as 7bit.
 */
static int cte_supported(GMimeObject *obj)
{
    static const char *const known[] = {"7bit", "8bit", "binary", "base64",
                                        "quoted-printable"};
    if (header_count(obj, "Content-Transfer-Encoding") > 1)
        return 0;
    const char *v = g_mime_object_get_header(obj, "Content-Transfer-Encoding");
    if (v == NULL)
        return 1;
    v += strspn(v, " \t\r\n");
    size_t n = strcspn(v, " \t\r\n(");
    const char *rest = v + n + strspn(v + n, " \t\r\n");
    if (*rest != '\0' && *rest != '(')
        return 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (n == strlen(known[i]) && g_ascii_strncasecmp(v, known[i], n) == 0)
            return 1;
    return 0;
}

/* Where an HTML footer goes: before the last </body>, else </html>. */
static size_t html_insert_at(const struct mlm_buf *b)
{
    static const char *const tags[] = {"body", "html"};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = b->len; i-- > 0;) {
            const char *p = (const char *)b->data + i;
            size_t left = b->len - i;
            if (*p != '<' || left < 7 || p[1] != '/' ||
                g_ascii_strncasecmp(p + 2, tags[t], 4) != 0)
                continue;
            if (p[6] == '>' || p[6] == ' ' || p[6] == '\t' || p[6] == '\r' ||
                p[6] == '\n')
                return i;
        }
    }
    return b->len;
}

/* Decode a part's content (transfer encoding undone) into out: 0 or -1. */
static int part_decode(GMimePart *part, struct mlm_buf *out)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (w == NULL)
        return 0;
    GMimeStream *mem = g_mime_stream_mem_new();
    if (g_mime_data_wrapper_write_to_stream(w, mem) == -1) {
        g_object_unref(mem);
        return -1;
    }
    /* take the bytes over rather than copy them: parts can be large */
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_object_unref(mem);
    gsize len = 0;
    buf_free(out);
    out->data = g_byte_array_steal(a, &len);
    out->len = out->cap = len;
    g_byte_array_unref(a);
    return 0;
}

/* Encode content for a transfer encoding into out (LF line ends). */
static void encode_content(GMimeContentEncoding enc, const struct mlm_buf *in,
                           struct mlm_buf *out)
{
    if (enc != GMIME_CONTENT_ENCODING_BASE64 &&
        enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
        buf_put_bytes(out, in->data, in->len);
        return;
    }
    /* a QP hard line break is the canonical CRLF: encode the lines as LF */
    struct mlm_buf lf;
    buf_init(&lf);
    const struct mlm_buf *src = in;
    if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
        buf_reserve(&lf, in->len);
        for (size_t i = 0; i < in->len; i++)
            if (!(in->data[i] == '\r' && i + 1 < in->len &&
                  in->data[i + 1] == '\n'))
                lf.data[lf.len++] = in->data[i];
        src = &lf;
    }
    GMimeEncoding state;
    g_mime_encoding_init_encode(&state, enc);
    buf_reserve(out, g_mime_encoding_outlen(&state, src->len));
    out->len += g_mime_encoding_flush(&state, (const char *)src->data, src->len,
                                      (char *)out->data + out->len);
    buf_free(&lf);
}

/* Convert body from charset to UTF-8 in place: 0, or -1 when it will not. */
static int body_to_utf8(const char *charset, struct mlm_buf *body)
{
    struct mlm_buf utf8;
    buf_init(&utf8);
    if (convert_strict("UTF-8", charset, body->data, body->len, &utf8) != 0) {
        buf_free(&utf8);
        return -1;
    }
    buf_free(body);
    *body = utf8;
    return 0;
}

/*
 * Put footer (UTF-8) into add in the charset of body. When the footer does
 * not fit in that charset, body is converted to UTF-8 (*converted) and the
 * part must be relabelled (*relabel). An HTML footer never forces that: a
 * character the charset lacks, or a non-ASCII one in a 7bit part
 * (seven_bit), becomes a numeric character reference instead.
 * 0, or -1 when this part cannot take the footer.
 */
static int fit_charset(const char *charset, enum footer_kind kind,
                       int seven_bit, const char *footer, struct mlm_buf *body,
                       struct mlm_buf *add, int *relabel, int *converted)
{
    size_t flen = strlen(footer);
    enum cs_class cls = charset_class(charset);

    if (cls == CS_FOREIGN) {
        /* ASCII bytes are not ASCII text here: work in UTF-8 */
        if (body_to_utf8(charset, body) == -1)
            return -1;
        *relabel = *converted = 1;
        buf_put_bytes(add, footer, flen);
        return 0;
    }
    if (footer_is_ascii(footer, flen)) {
        buf_put_bytes(add, footer, flen);
        return 0;
    }
    if (kind == KIND_HTML) {
        if (cls == CS_UTF8 && !seven_bit) {
            buf_put_bytes(add, footer, flen);
            return 0;
        }
        if (cls == CS_COMPAT &&
            convert_strict(charset, "UTF-8", footer, flen, add) == 0 &&
            (!seven_bit || footer_is_ascii(add->data, add->len)))
            return 0;
        buf_reset(add);
        put_html_refs(add, footer);
        return 0;
    }
    switch (cls) {
    case CS_UTF8:
        buf_put_bytes(add, footer, flen);
        return 0;
    case CS_ASCII:
        /* us-ascii text is UTF-8 already; mislabelled 8-bit may be too */
        if (body->len && !g_utf8_validate((const char *)body->data,
                                          (gssize)body->len, NULL))
            return -1;
        *relabel = 1;
        buf_put_bytes(add, footer, flen);
        return 0;
    case CS_COMPAT:
        if (convert_strict(charset, "UTF-8", footer, flen, add) == 0)
            return 0;
        buf_reset(add);
        if (body_to_utf8(charset, body) == -1)
            return -1;
        *relabel = *converted = 1;
        buf_put_bytes(add, footer, flen);
        return 0;
    default: /* CS_UNKNOWN: nothing to convert with */
        return -1;
    }
}

/* The top-level Content-Type as one unfolded line, for CHG_CHANGE_HEADER. */
static char *content_type_value(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    char *mime_type = g_mime_content_type_get_mime_type(ct);
    GString *s = g_string_new(mime_type);
    g_mime_param_list_encode(g_mime_content_type_get_parameters(ct), NULL,
                             FALSE, s);
    g_free(mime_type);
    struct mlm_buf b;
    buf_init(&b);
    for (const char *p = s->str; *p; p++) {
        if (*p == '\r' || (*p == '\n' && (p[1] == ' ' || p[1] == '\t')))
            continue;
        buf_put_u8(&b, (uint8_t)*p < 0x20 || *p == 0x7f ? ' ' : (uint8_t)*p);
    }
    g_string_free(s, TRUE);
    char *r = buf_strdup(&b);
    buf_free(&b);
    return r;
}

static void change_add(struct footer_run *run, const char *name, char *value,
                       int present)
{
    struct header_change *c = &run->chg[run->nchg++];
    c->kind = present ? CHG_CHANGE_HEADER : CHG_ADD_HEADER;
    c->name = name;
    c->value = value;
}

/*
 * Whether GMime can re-encode obj's Content-Type. GMime before 3.2.15 loops
 * forever, allocating, in g_mime_param_list_encode() when an RFC 2231 value
 * has a parameter name of 70 to 72 bytes (gmime issue #165); no real
 * parameter name is longer than a few dozen bytes.
 */
static int params_encodable(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    GMimeParamList *pl = ct ? g_mime_content_type_get_parameters(ct) : NULL;
    int n = pl ? g_mime_param_list_length(pl) : 0;
    for (int i = 0; i < n; i++) {
        const char *name =
            g_mime_param_get_name(g_mime_param_list_get_parameter_at(pl, i));
        if (name == NULL || strlen(name) > 64)
            return 0;
    }
    return 1;
}

/*
 * Add the footer to one text/plain or text/html part. 1 done, 0 when this
 * part cannot take it, -1 on error (why filled).
 */
static int part_add_footer(struct footer_run *run, GMimePart *part,
                           enum footer_kind kind)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    const char *footer = kind == KIND_TEXT ? run->text : run->html;
    GMimeContentEncoding enc = g_mime_part_get_content_encoding(part);
    /* two Content-Type fields: who knows which one a reader believes */
    if (footer == NULL || !cte_supported(obj) || !params_encodable(obj) ||
        header_count(obj, "Content-Type") > 1 ||
        enc == GMIME_CONTENT_ENCODING_UUENCODE)
        return 0;
    int seven_bit = enc == GMIME_CONTENT_ENCODING_DEFAULT ||
                    enc == GMIME_CONTENT_ENCODING_7BIT;
    const char *charset =
        g_mime_object_get_content_type_parameter(obj, "charset");
    const char *format =
        g_mime_object_get_content_type_parameter(obj, "format");
    int flowed = kind == KIND_TEXT && format &&
                 g_ascii_strcasecmp(format, "flowed") == 0;

    struct mlm_buf body, add, text, coded;
    buf_init(&body), buf_init(&add), buf_init(&text), buf_init(&coded);
    char *ffooter = flowed ? flowed_footer(footer) : NULL;
    int relabel = 0, converted = 0, rc = 0;
    if (part_decode(part, &body) == -1) {
        snprintf(run->why, run->whylen, "cannot decode a %s part",
                 kind == KIND_TEXT ? "text/plain" : "text/html");
        rc = -1;
        goto out;
    }
    if (fit_charset(charset, kind, seven_bit, ffooter ? ffooter : footer,
                    &body, &add, &relabel, &converted) == -1)
        goto out;
    GMimeContentEncoding new_enc = enc;
    if (seven_bit && (!footer_is_ascii(add.data, add.len) ||
                      (converted && !footer_is_ascii(body.data, body.len))))
        new_enc = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;

    int is_top = obj == run->top;
    /* whether the top-level fields exist, before GMime adds them below */
    int had_ct = header_count(obj, "Content-Type");
    int had_cte = header_count(obj, "Content-Transfer-Encoding");

    /* the new text: the old, a line end if it lacks one, the footer */
    const uint8_t *lf = body.len ? memchr(body.data, '\n', body.len) : NULL;
    const char *nl = lf && !(lf > body.data && lf[-1] == '\r') ? "\n" : "\r\n";
    size_t at = kind == KIND_HTML ? html_insert_at(&body) : body.len;
    buf_put_bytes(&text, body.data, at);
    if (at < body.len) {
        if (at > 0 && body.data[at - 1] != '\n')
            buf_put_s(&text, nl);
        footer_put_lines(&text, add.data, add.len, nl);
        buf_put_s(&text, nl);
        buf_put_bytes(&text, body.data + at, body.len - at);
    } else {
        int ends_nl = body.len == 0 || body.data[body.len - 1] == '\n';
        if (!ends_nl)
            buf_put_s(&text, nl);
        if (flowed && body.len) {
            /* a last line ending in a space would flow into the footer */
            size_t e = body.len;
            while (e && (body.data[e - 1] == '\n' || body.data[e - 1] == '\r'))
                e--;
            if (e && body.data[e - 1] == ' ')
                buf_put_s(&text, nl);
        }
        footer_put_lines(&text, add.data, add.len, nl);
        /*
         * In a multipart the CRLF before the boundary belongs to the
         * boundary, so a part's text rarely ends in one: keep that shape.
         * A whole message body ends with one.
         */
        if (ends_nl || is_top)
            buf_put_s(&text, nl);
    }
    encode_content(new_enc, &text, &coded);
    buf_free(&body), buf_free(&text);

    /* the stream takes the encoded bytes over */
    GByteArray *bytes = g_byte_array_new_take(coded.data, coded.len);
    buf_init(&coded);
    GMimeStream *stream = g_mime_stream_mem_new_with_byte_array(bytes);
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(stream, new_enc);
    g_mime_part_set_content(part, w);
    g_object_unref(w);
    g_object_unref(stream);
    if (new_enc != enc)
        g_mime_part_set_content_encoding(part, new_enc);
    if (relabel)
        g_mime_object_set_content_type_parameter(obj, "charset", "utf-8");

    if (is_top && (relabel || new_enc != enc)) {
        if (relabel)
            change_add(run, "Content-Type", content_type_value(obj), had_ct);
        if (new_enc != enc)
            change_add(run, "Content-Transfer-Encoding",
                       xstrdup("quoted-printable"), had_cte);
        if (header_count(run->msg, "MIME-Version") == 0)
            change_add(run, "MIME-Version", xstrdup("1.0"), 0);
    }
    rc = 1;
out:
    free(ffooter);
    buf_free(&body), buf_free(&add), buf_free(&text), buf_free(&coded);
    return rc;
}

/* The root of a multipart/related: the start parameter's part, or the first. */
static GMimeObject *related_root(GMimeMultipart *mp)
{
    int n = g_mime_multipart_get_count(mp);
    const char *start = g_mime_object_get_content_type_parameter(
        GMIME_OBJECT(mp), "start");
    if (start) {
        size_t len = strlen(start);
        if (len >= 2 && start[0] == '<' && start[len - 1] == '>')
            start++, len -= 2;
        for (int i = 0; i < n; i++) {
            GMimeObject *child = g_mime_multipart_get_part(mp, i);
            const char *cid = g_mime_object_get_content_id(child);
            if (cid && strlen(cid) == len && strncmp(cid, start, len) == 0)
                return child;
        }
    }
    return n > 0 ? g_mime_multipart_get_part(mp, 0) : NULL;
}

/* Place the footer in obj or below it; how many parts took it. */
static int place(struct footer_run *run, GMimeObject *obj, int depth)
{
    if (obj == NULL || run->failed || depth > FOOTER_MAX_DEPTH ||
        is_sealed(obj))
        return 0;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp), placed = 0;
        if (is_type(obj, "multipart", "alternative")) {
            /* every rendering of the text gets its footer */
            for (int i = 0; i < n && !run->failed; i++)
                placed += place(run, g_mime_multipart_get_part(mp, i),
                                depth + 1);
            return placed;
        }
        if (is_type(obj, "multipart", "related"))
            return place(run, related_root(mp), depth + 1);
        /* mixed and the rest: the first part that takes it */
        for (int i = 0; i < n && !placed && !run->failed; i++)
            placed = place(run, g_mime_multipart_get_part(mp, i), depth + 1);
        return placed;
    }
    if (!GMIME_IS_PART(obj) || is_attachment(obj))
        return 0;
    int rc = 0;
    if (is_type(obj, "text", "plain"))
        rc = part_add_footer(run, GMIME_PART(obj), KIND_TEXT);
    else if (is_type(obj, "text", "html"))
        rc = part_add_footer(run, GMIME_PART(obj), KIND_HTML);
    if (rc == -1)
        run->failed = 1;
    return rc == 1;
}

int footer_apply(GMimeMessage *msg, const char *text, const char *html,
                 const char *out_path, struct mlm_reply *rep, char *why,
                 size_t whylen)
{
    struct footer_run run = {.why = why, .whylen = whylen};
    int rc = 0;
    if (msg == NULL || !GMIME_IS_MESSAGE(msg) || out_path == NULL ||
        rep == NULL) {
        snprintf(why, whylen, "footer_apply: no message, path or reply");
        return -1;
    }
    if ((text && !g_utf8_validate(text, -1, NULL)) ||
        (html && !g_utf8_validate(html, -1, NULL))) {
        snprintf(why, whylen, "footer is not valid UTF-8");
        return -1;
    }
    run.text = footer_normalize(text);
    run.html = footer_normalize(html);
    if (run.html == NULL && run.text)
        run.html = html_from_text(run.text);
    run.msg = GMIME_OBJECT(msg);
    run.top = g_mime_message_get_mime_part(msg);
    if (run.html == NULL || run.top == NULL)
        goto out;

    int placed = place(&run, run.top, 0);
    if (run.failed) {
        rc = -1;
    } else if (placed > 0) {
        rc = mime_write_body(run.top, out_path, why, whylen) == -1 ? -1 : 1;
    }
    for (int i = 0; rc == 1 && i < run.nchg; i++)
        if (!header_value_valid(run.chg[i].value)) {
            unlink(out_path); /* mlmd would refuse it: no footer instead */
            rc = 0;
        }
    if (rc == 1)
        for (int i = 0; i < run.nchg; i++) {
            char *folded = header_fold(run.chg[i].name, run.chg[i].value);
            reply_add_change(rep, run.chg[i].kind, run.chg[i].name, folded,
                             run.chg[i].kind == CHG_CHANGE_HEADER ? 1 : 0);
            free(folded);
        }
out:
    for (int i = 0; i < run.nchg; i++)
        free(run.chg[i].value);
    free(run.text);
    free(run.html);
    return rc;
}
