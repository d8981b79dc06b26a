/*
 * try_msg.c - the message of "mlm-ctl try": its wire form (what mlmd
 * spools), its header list, and the header changes of filter_message
 * applied as Postfix and Sendmail apply milter actions: add_header
 * appends, change_header replaces the INDEXth header of that name (or
 * appends when there is none), delete_header removes it (or does nothing).
 */
#include "try.h"
#include "ctl.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where Postfix's is_header() sees a header line: the label's length, or 0. */
static size_t header_label(const char *line, size_t len)
{
    size_t label = 0, i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == ':')
            return label;
        if (c == ' ' || c == '\t') {
            if (label == 0)
                return 0;
            continue;
        }
        if (c < 0x21 || c > 0x7e || label != i)
            return 0; /* a control, 8-bit or a label with a space inside */
        label++;
    }
    return 0;
}

/* Append len bytes to the growing buffer *out of capacity *cap at *at. */
static void out_put(char **out, size_t *cap, size_t *at, const char *data,
                    size_t len)
{
    if (*at + len + 1 > *cap) {
        while (*at + len + 1 > *cap)
            *cap *= 2;
        *out = xrealloc(*out, *cap);
    }
    memcpy(*out + *at, data, len);
    *at += len;
}

/*
 * The header block as Postfix hands it to mlmd and mlmd spools it: the
 * block ends at an empty line (dropped) or at the first line that is
 * neither a header nor a continuation line (it starts the body); each
 * header becomes "Name: value" with the value's leading blanks skipped and
 * its continuation lines kept; then the empty line and the body as is.
 */
static char *spool_form(const char *wire, size_t len, size_t *outlen)
{
    size_t cap = len + 64, at = 0;
    char *out = xmalloc(cap);
    const char *p = wire, *end = wire + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl + 1 : end;
        size_t line_len = (size_t)(eol - p);
        size_t text_len = line_len;
        while (text_len && (p[text_len - 1] == '\n' || p[text_len - 1] == '\r'))
            text_len--;
        if (text_len == 0 && nl) { /* the empty line */
            p = eol;
            break;
        }
        size_t label = header_label(p, text_len);
        if (label == 0)
            break; /* the body starts here */
        const char *value = memchr(p, ':', text_len) + 1;
        while (value < p + text_len && (*value == ' ' || *value == '\t'))
            value++;
        out_put(&out, &cap, &at, p, label);
        out_put(&out, &cap, &at, ": ", 2);
        out_put(&out, &cap, &at, value, (size_t)(p + text_len - value));
        out_put(&out, &cap, &at, "\r\n", 2);
        p = eol;
        while (p < end && (*p == ' ' || *p == '\t')) { /* continuation lines */
            nl = memchr(p, '\n', (size_t)(end - p));
            eol = nl ? nl + 1 : end;
            text_len = (size_t)(eol - p);
            while (text_len && (p[text_len - 1] == '\n' || p[text_len - 1] == '\r'))
                text_len--;
            out_put(&out, &cap, &at, p, text_len);
            out_put(&out, &cap, &at, "\r\n", 2);
            p = eol;
        }
    }
    out_put(&out, &cap, &at, "\r\n", 2);
    out_put(&out, &cap, &at, p, (size_t)(end - p));
    out[at] = '\0';
    *outlen = at;
    return out;
}

char *wire_form(const char *data, size_t len, size_t *outlen)
{
    /* An mbox "From " line is not part of the message. */
    if (len >= 5 && memcmp(data, "From ", 5) == 0) {
        const char *nl = memchr(data, '\n', len);
        size_t skip = nl ? (size_t)(nl - data) + 1 : len;
        data += skip;
        len -= skip;
    }
    size_t lf = 0;
    for (size_t i = 0; i < len; i++)
        lf += data[i] == '\n';
    char *crlf = xmalloc(len + lf + 1), *q = crlf;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
            *q++ = '\r';
        *q++ = data[i];
    }
    *q = '\0';
    char *out = spool_form(crlf, (size_t)(q - crlf), outlen);
    free(crlf);
    return out;
}

static void header_push(struct try_message *m, char *name, char *value)
{
    m->h = xrealloc(m->h, (m->n + 1) * sizeof *m->h);
    m->h[m->n].name = name;
    m->h[m->n].value = value;
    m->n++;
}

void try_message_parse(const char *wire, size_t len, struct try_message *m)
{
    const char *p = wire, *end = wire + len;
    memset(m, 0, sizeof *m);
    while (p < end) {
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            p += 2;                               /* end of the headers */
            break;
        }
        /* One header: its first line and every continuation line. */
        const char *start = p;
        do {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl + 1 : end;
        } while (p < end && (*p == ' ' || *p == '\t'));
        size_t hlen = (size_t)(p - start);
        while (hlen && (start[hlen - 1] == '\n' || start[hlen - 1] == '\r'))
            hlen--;
        const char *colon = memchr(start, ':', hlen);
        const char *nl = memchr(start, '\n', hlen);
        if (colon && (nl == NULL || colon < nl) && colon > start) {
            size_t nlen = (size_t)(colon - start);
            while (nlen && (start[nlen - 1] == ' ' || start[nlen - 1] == '\t'))
                nlen--;
            header_push(m, xstrndup(start, nlen),
                        xstrndup(colon + 1, hlen - (size_t)(colon + 1 -
                                                             start)));
        } else {
            header_push(m, NULL, xstrndup(start, hlen)); /* not a header */
        }
    }
    m->body = xmalloc((size_t)(end - p) + 1);
    memcpy(m->body, p, (size_t)(end - p));
    m->body[end - p] = '\0';
    m->bodylen = (size_t)(end - p);
}

/* The position of the index-th (1-based) header called name, or -1. */
static long header_find(const struct try_message *m, const char *name,
                        uint32_t index)
{
    uint32_t seen = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->h[i].name && strcasecmp(m->h[i].name, name) == 0 &&
            ++seen == index)
            return (long)i;
    return -1;
}

const char *try_header(const struct try_message *m, const char *name)
{
    long i = header_find(m, name, 1);
    return i < 0 ? NULL : m->h[i].value;
}

static char *value_with_space(const char *value)
{
    size_t len = strlen(value);
    char *v = xmalloc(len + 2);
    v[0] = ' ';
    memcpy(v + 1, value, len + 1);
    return v;
}

void try_message_apply(struct try_message *m, const struct mlm_change *c)
{
    long i;
    switch (c->kind) {
    case CHG_ADD_HEADER:
        header_push(m, xstrdup(c->name), value_with_space(c->value));
        break;
    case CHG_CHANGE_HEADER:
        i = header_find(m, c->name, c->index ? c->index : 1);
        if (i < 0) {
            header_push(m, xstrdup(c->name), value_with_space(c->value));
        } else { /* the MTA writes the name as the change spells it */
            free(m->h[i].name);
            m->h[i].name = xstrdup(c->name);
            free(m->h[i].value);
            m->h[i].value = value_with_space(c->value);
        }
        break;
    case CHG_DELETE_HEADER:
        i = header_find(m, c->name, c->index ? c->index : 1);
        if (i >= 0) {
            free(m->h[i].name);
            free(m->h[i].value);
            memmove(&m->h[i], &m->h[i + 1],
                    (m->n - (size_t)i - 1) * sizeof *m->h);
            m->n--;
        }
        break;
    default:
        break; /* envelope and body changes are not header changes */
    }
}

void try_message_print(FILE *fp, const struct try_message *m,
                       const char *body, size_t bodylen)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->h[i].name) {
            char *name = safe_text(m->h[i].name, 0);
            fprintf(fp, "%s:", name);
            free(name);
        }
        if (*m->h[i].value)
            put_message(fp, m->h[i].value, strlen(m->h[i].value));
        else
            putc('\n', fp);
    }
    putc('\n', fp);
    put_message(fp, body, bodylen);
}

/* len bytes of text with CRLF as LF and a line end at the end, unescaped. */
static int put_raw(FILE *fp, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') {
            if (fwrite(text + start, 1, i - start, fp) != i - start)
                return -1;
            start = i + 1;
        }
    if (fwrite(text + start, 1, len - start, fp) != len - start)
        return -1;
    return (len == 0 || text[len - 1] != '\n') && putc('\n', fp) == EOF
               ? -1
               : 0;
}

int try_message_write(FILE *fp, const struct try_message *m, const char *body,
                      size_t bodylen)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->h[i].name && fprintf(fp, "%s:", m->h[i].name) < 0)
            return -1;
        if (put_raw(fp, m->h[i].value, strlen(m->h[i].value)) == -1)
            return -1;
    }
    if (putc('\n', fp) == EOF)
        return -1;
    return put_raw(fp, body, bodylen);
}

void try_message_free(struct try_message *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->h[i].name);
        free(m->h[i].value);
    }
    free(m->h);
    free(m->body);
    memset(m, 0, sizeof *m);
}
