/*
 * auth_from.c - what the header block says to authentication: the
 * RFC5322.From domain DMARC is about, and whether any field asks for DKIM
 * verification at all.
 *
 * The header block (at most AUTH_HEADER_MAX bytes) is read into one buffer
 * and taken a whole line at a time. The From: fields are unfolded; exactly
 * one field of at most AUTH_FROM_MAX bytes holding exactly one mailbox is
 * accepted, and its domain given as DNS knows it: A-labels (RFC 5890),
 * lower case, the form DMARC looks up and aligns (auth_aligned) with DKIM
 * d= and the SPF domain.
 */
#include "auth.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* What from_field found. */
enum from_found {
    FROM_NONE,       /* no From: field */
    FROM_ONE,        /* one field, its value read whole */
    FROM_UNCHECKED,  /* several fields, a field past AUTH_FROM_MAX bytes, or
                      * a header block past AUTH_HEADER_MAX */
    FROM_UNREAD,     /* the message could not be read */
};

/* The start of the message, read as far as the lines asked for need. */
struct header_reader {
    int fd;
    char *buf;     /* bytes from offset 0 of the message */
    size_t len;    /* bytes in buf; never past AUTH_HEADER_MAX + 1 */
    size_t cap;
    size_t pos;    /* where the next line starts */
    int at_eof;    /* read gave end of file */
};

#define READ_FIRST 8192   /* most header blocks fit: one read */

/*
 * The next physical line (its line end kept) as [*line, *line + *n): 1, 0
 * at the end of the message, -1 when the line ends past AUTH_HEADER_MAX
 * bytes into the message, -2 when the message could not be read. A line
 * is never cut: a long one is read whole or refused, so no piece of it
 * can pass for a field of its own.
 */
static int header_line(struct header_reader *r, const char **line, size_t *n)
{
    for (;;) {
        const char *start = r->buf + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        if (nl != NULL) {
            *line = start;
            *n = (size_t)(nl + 1 - start);
            if (r->pos + *n > AUTH_HEADER_MAX)
                return -1;
            r->pos += *n;
            return 1;
        }
        if (r->len > AUTH_HEADER_MAX)
            return -1;
        if (r->at_eof) {
            if (r->pos == r->len)
                return 0;
            *line = start;
            *n = r->len - r->pos;
            r->pos = r->len;
            return 1;
        }
        if (r->len == r->cap) {
            size_t cap = r->cap * 2;
            if (cap > AUTH_HEADER_MAX + 1)
                cap = AUTH_HEADER_MAX + 1;
            r->buf = xrealloc(r->buf, cap);
            r->cap = cap;
        }
        ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            return -2;
        if (got == 0)
            r->at_eof = 1;
        r->len += (size_t)got;
    }
}

/*
 * Where the value of a From field starting line begins (after "From",
 * blanks and the colon: RFC 5322's obsolete syntax allows blanks before
 * the colon, and GMime and mail readers take "From :" for From), or 0.
 */
static size_t from_value_at(const char *line, size_t n)
{
    if (n < 5 || strncasecmp(line, "From", 4) != 0)
        return 0;
    size_t i = 4;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < n && line[i] == ':' ? i + 1 : 0;
}

/* A line that starts a DKIM-Signature field, or something close enough
 * that libopendkim should judge it (the name with any end). */
static int starts_dkim_signature(const char *line, size_t n)
{
    static const char name[] = "DKIM-Signature";
    return n >= sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0;
}

/*
 * The one From: field's value into value, unfolded as
 * message:raw_header gives it (line ends removed, leading and trailing
 * blanks dropped, a line's bytes from a NUL on ignored), so that
 * AUTH_FROM_MAX means the same bytes to the policy.
 *
 * *dkim_signed becomes 0 only when the whole header block was read, every
 * line of it ends in CRLF (as mlmd spools a message), and no field starts
 * with the name DKIM-Signature. libopendkim takes the line end of the
 * first line for the message's: in a CRLF message a bare LF is a byte of
 * a field, and "\n\n" no end of the header block, so a block with another
 * line end is left for it to judge.
 */
static enum from_found from_field(struct header_reader *r, GString *value,
                                  int *dkim_signed)
{
    int found = 0, whole = 0, signature = 0, crlf = 1, rc;
    size_t in_from = 0, n;
    const char *line;
    g_string_truncate(value, 0);
    while ((rc = header_line(r, &line, &n)) > 0) {
        if (n < 2 || line[n - 2] != '\r' || line[n - 1] != '\n')
            crlf = 0;
        if (line[0] == '\n' || (n == 2 && line[0] == '\r' && line[1] == '\n')) {
            whole = 1;
            break;
        }
        int continuation = line[0] == ' ' || line[0] == '\t';
        if (!continuation) {
            in_from = from_value_at(line, n);
            signature |= starts_dkim_signature(line, n);
        }
        if (!in_from)
            continue;
        if (!continuation && ++found > 1)
            break;
        const char *end = memchr(line, '\0', n);
        for (const char *v = line + (continuation ? 0 : in_from);
             v < (end ? end : line + n); v++)
            if (*v != '\r' && *v != '\n' &&
                (value->len > 0 || (*v != ' ' && *v != '\t')))
                g_string_append_c(value, *v);
    }
    if (rc == 0)
        whole = 1;
    *dkim_signed = signature || !whole || !crlf;
    if (rc == -2)
        return FROM_UNREAD;
    while (value->len > 0 && (value->str[value->len - 1] == ' ' ||
                              value->str[value->len - 1] == '\t'))
        g_string_truncate(value, value->len - 1);
    if (rc == -1 || found > 1 || value->len > AUTH_FROM_MAX)
        return FROM_UNCHECKED;
    return found == 1 ? FROM_ONE : FROM_NONE;
}

/* The domain of mb in A-labels, lower case, into out: 0, or -1 when
 * there is none, it is too long, or it has no A-label form. */
static int ascii_domain(InternetAddressMailbox *mb, char *out, size_t outlen)
{
    /* GMime gives an A-label domain back in U-labels from get_addr, and
     * converts to A-labels (IDNA2008, libidn2) in get_idn_addr; a domain
     * it cannot convert comes back as it was, and an ASCII one that it
     * can comes back equal but for case. So an ASCII domain is taken as
     * get_addr gives it: libidn2 runs only for a domain that needs it. */
    const char *addr = internet_address_mailbox_get_addr(mb);
    const char *at = addr ? strrchr(addr, '@') : NULL;
    for (const char *c = at ? at + 1 : ""; *c; c++)
        if ((unsigned char)*c >= 0x80) {
            addr = internet_address_mailbox_get_idn_addr(mb);
            at = addr ? strrchr(addr, '@') : NULL;
            break;
        }
    if (at == NULL || at[1] == '\0')
        return -1;
    size_t len = strlen(at + 1);
    if (len >= outlen || len > 253)
        return -1;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)at[1 + i];
        if (c >= 0x80)
            return -1;
        out[i] = (char)tolower(c);
    }
    return 0;
}

int auth_from_domain(const char *spool_path, char *out, size_t outlen,
                     int *dkim_signed)
{
    int signed_seen = 1;
    out[0] = '\0';
    if (dkim_signed)
        *dkim_signed = 1;
    struct header_reader r = {.fd = open(spool_path, O_RDONLY | O_CLOEXEC)};
    if (r.fd == -1)
        return -2;
    r.cap = READ_FIRST;
    r.buf = xmalloc(r.cap);
    GString *value = g_string_sized_new(256);
    enum from_found found = from_field(&r, value, &signed_seen);
    close(r.fd);
    free(r.buf);
    if (dkim_signed)
        *dkim_signed = signed_seen;
    int rc = -1;
    if (found == FROM_ONE) {
        InternetAddressList *list = internet_address_list_parse(NULL,
                                                                value->str);
        if (list && internet_address_list_length(list) == 1) {
            InternetAddress *ia = internet_address_list_get_address(list, 0);
            if (INTERNET_ADDRESS_IS_MAILBOX(ia))
                rc = ascii_domain(INTERNET_ADDRESS_MAILBOX(ia), out, outlen);
        }
        if (list)
            g_object_unref(list);
    }
    g_string_free(value, TRUE);
    if (rc == -1)
        out[0] = '\0';
    return found == FROM_UNREAD ? -2 : rc;
}
