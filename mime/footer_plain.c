/*
 * footer_plain.c - the list footer for the common post without a MIME
 * tree: one text/plain part whose header fields say the footer fits as it
 * is (footer.c handles every other shape, and is what this must agree
 * with).
 */
#include "footer.h"
#include "footer_text.h"
#include "mime_write.h"

#include <stdlib.h>
#include <string.h>

/* A Content-Transfer-Encoding field of 7bit or 8bit (a comment may follow). */
static int plain_encoding(const char *raw, GMimeContentEncoding *enc)
{
    *enc = GMIME_CONTENT_ENCODING_DEFAULT;
    if (raw == NULL)
        return 1;
    const char *v = raw + strspn(raw, " \t\r\n");
    size_t n = strcspn(v, " \t\r\n(");
    const char *rest = v + n + strspn(v + n, " \t\r\n");
    if (n != 4 || (*rest != '\0' && *rest != '('))
        return 0;
    if (g_ascii_strncasecmp(v, "7bit", 4) == 0)
        *enc = GMIME_CONTENT_ENCODING_7BIT;
    else if (g_ascii_strncasecmp(v, "8bit", 4) == 0)
        *enc = GMIME_CONTENT_ENCODING_8BIT;
    else
        return 0;
    return 1;
}

/* The charset of a text/plain Content-Type field fit for the shortcut. */
static int plain_type(const char *raw, const char **charset,
                      GMimeContentType **ct)
{
    *charset = NULL;
    *ct = NULL;
    if (raw == NULL) /* RFC 2045: text/plain; charset=us-ascii */
        return 1;
    *ct = g_mime_content_type_parse(NULL, raw);
    if (*ct == NULL || !g_mime_content_type_is_type(*ct, "text", "plain"))
        return 0;
    GMimeParamList *pl = g_mime_content_type_get_parameters(*ct);
    for (int i = 0, n = pl ? g_mime_param_list_length(pl) : 0; i < n; i++) {
        const char *name =
            g_mime_param_get_name(g_mime_param_list_get_parameter_at(pl, i));
        if (name == NULL || strlen(name) > 64)
            return 0;
    }
    const char *format = g_mime_content_type_get_parameter(*ct, "format");
    if (format && g_ascii_strcasecmp(format, "flowed") == 0)
        return 0;
    *charset = g_mime_content_type_get_parameter(*ct, "charset");
    return 1;
}

static int not_attachment(const char *raw)
{
    if (raw == NULL)
        return 1;
    GMimeContentDisposition *d = g_mime_content_disposition_parse(NULL, raw);
    int ok = d && !g_mime_content_disposition_is_attachment(d);
    if (d)
        g_object_unref(d);
    return ok;
}

/*
 * The shortcut for the common post, one text/plain part in us-ascii or
 * UTF-8 (7bit or 8bit, not format=flowed) whose footer fits without a
 * change of charset or encoding, known from its header fields alone: the
 * same tests footer_apply makes of such a part (the footer test checks
 * both give the same bytes on every corpus case the shortcut takes).
 */
static int plain_shape(const struct plain_fields *f, const char *footer)
{
    GMimeContentEncoding enc;
    const char *charset;
    GMimeContentType *ct;
    if (f->content_types > 1 || f->encodings > 1 ||
        !plain_encoding(f->encoding, &enc) || !not_attachment(f->disposition))
        return 0;
    int ok = plain_type(f->content_type, &charset, &ct);
    int utf8 = ok && charset && (g_ascii_strcasecmp(charset, "utf-8") == 0 ||
                                 g_ascii_strcasecmp(charset, "utf8") == 0);
    int ascii_cs = ok && (charset == NULL || *charset == '\0' ||
                          g_ascii_strcasecmp(charset, "us-ascii") == 0);
    if (ct)
        g_object_unref(ct);
    if (footer_is_ascii(footer, strlen(footer)))
        return utf8 || ascii_cs;
    return utf8 && enc == GMIME_CONTENT_ENCODING_8BIT;
}

int footer_apply_plain(const struct plain_fields *fields, const uint8_t *body,
                       size_t len, const char *text, const char *out_path,
                       char *why, size_t whylen)
{
    if (text == NULL || !g_utf8_validate(text, -1, NULL))
        return 0;
    char *footer = footer_normalize(text);
    if (footer == NULL || !plain_shape(fields, footer)) {
        free(footer);
        return 0;
    }
    const uint8_t *lf = len ? memchr(body, '\n', len) : NULL;
    const char *nl = lf && !(lf > body && lf[-1] == '\r') ? "\n" : "\r\n";
    struct mlm_buf out;
    buf_init(&out);
    buf_put_bytes(&out, body, len);
    if (len && body[len - 1] != '\n')
        buf_put_bytes(&out, nl, strlen(nl));
    footer_put_lines(&out, footer, strlen(footer), nl);
    buf_put_bytes(&out, nl, strlen(nl));
    int rc = mime_write_text(out_path, out.data, out.len, why, whylen);
    buf_free(&out);
    free(footer);
    return rc == -1 ? -1 : 1;
}
