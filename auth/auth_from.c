/*
 * auth_from.c - the RFC5322.From domain DMARC is about: read the header
 * block (at most AUTH_HEADER_MAX bytes) a whole line at a time, unfold
 * the From: fields, accept exactly one field of at most AUTH_FROM_MAX
 * bytes holding exactly one mailbox, and give its domain as DNS knows it:
 * A-labels (RFC 5890), lower case, the form DMARC looks up and aligns
 * (auth_aligned) with DKIM d= and the SPF domain.
 */
#include "auth.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What from_field found. */
enum from_found {
    FROM_NONE,       /* no From: field */
    FROM_ONE,        /* one field, its value read whole */
    FROM_UNCHECKED,  /* several fields, a field past AUTH_FROM_MAX bytes, or
                      * a header block past AUTH_HEADER_MAX */
};

/*
 * One physical line of the header block into line (its line end kept):
 * its length, 0 at end of file, -1 when the line would take the block
 * past *budget bytes. A line is never cut: a long one is read whole or
 * refused, so no piece of it can pass for a field of its own.
 */
static long header_line(FILE *fp, GString *line, size_t *budget)
{
    int c;
    g_string_truncate(line, 0);
    while ((c = getc_unlocked(fp)) != EOF) { /* fp is this call's own */
        if (*budget == 0)
            return -1;
        (*budget)--;
        g_string_append_c(line, (char)c);
        if (c == '\n')
            break;
    }
    return (long)line->len;
}

/* A header line that starts a field named From. */
/*
 * Where the value of a From field starting line begins (after "From",
 * blanks and the colon: RFC 5322's obsolete syntax allows blanks before
 * the colon, and GMime and mail readers take "From :" for From), or 0.
 */
static size_t from_value_at(const GString *line)
{
    if (line->len < 5 || strncasecmp(line->str, "From", 4) != 0)
        return 0;
    size_t i = 4;
    while (i < line->len && (line->str[i] == ' ' || line->str[i] == '\t'))
        i++;
    return i < line->len && line->str[i] == ':' ? i + 1 : 0;
}

/*
 * The one From: field's value into value, unfolded as
 * message:raw_header gives it (line ends removed, leading and trailing
 * blanks dropped), so that AUTH_FROM_MAX means the same bytes to the
 * policy.
 */
static enum from_found from_field(FILE *fp, GString *value)
{
    GString *line = g_string_sized_new(256);
    size_t budget = AUTH_HEADER_MAX;
    int found = 0, in_from = 0;
    enum from_found result = FROM_NONE;
    long n;
    g_string_truncate(value, 0);
    while ((n = header_line(fp, line, &budget)) > 0) {
        if (line->str[0] == '\n' ||
            (line->str[0] == '\r' && line->str[1] == '\n'))
            break;
        int continuation = line->str[0] == ' ' || line->str[0] == '\t';
        if (!continuation)
            in_from = from_value_at(line);
        if (!in_from)
            continue;
        if (!continuation && ++found > 1)
            break;
        for (const char *v = line->str + (continuation ? 0 : in_from); *v; v++)
            if (*v != '\r' && *v != '\n' &&
                (value->len > 0 || (*v != ' ' && *v != '\t')))
                g_string_append_c(value, *v);
    }
    while (value->len > 0 && (value->str[value->len - 1] == ' ' ||
                              value->str[value->len - 1] == '\t'))
        g_string_truncate(value, value->len - 1);
    if (n == -1 || found > 1 || value->len > AUTH_FROM_MAX)
        result = FROM_UNCHECKED;
    else if (found == 1)
        result = FROM_ONE;
    g_string_free(line, TRUE);
    return result;
}

/* The domain of mb in A-labels, lower case, into out: 0, or -1 when
 * there is none, it is too long, or it has no A-label form. */
static int ascii_domain(InternetAddressMailbox *mb, char *out, size_t outlen)
{
    /* GMime gives an A-label domain back in U-labels from get_addr, and
     * converts to A-labels (IDNA2008, libidn2) in get_idn_addr; a domain
     * it cannot convert comes back as it was. */
    const char *addr = internet_address_mailbox_get_idn_addr(mb);
    const char *at = addr ? strrchr(addr, '@') : NULL;
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

int auth_from_domain(const char *spool_path, char *out, size_t outlen)
{
    out[0] = '\0';
    FILE *fp = fopen(spool_path, "re");
    if (fp == NULL)
        return -1;
    GString *value = g_string_sized_new(256);
    enum from_found found = from_field(fp, value);
    fclose(fp);
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
    return rc;
}
