/*
 * auth_from.c - the RFC5322.From domain DMARC is about: read the header
 * block (at most AUTH_HEADER_MAX bytes), unfold the From: fields, accept
 * exactly one field holding exactly one mailbox, and give its domain as
 * DNS knows it: A-labels (RFC 5890), lower case, the form DMARC looks up
 * and aligns (auth_aligned) with DKIM d= and the SPF domain.
 */
#include "auth.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The unfolded value of the one From: field into out: 1, 0 when there is
 * none, -1 when there are several or the header block is too long. */
static int from_field(FILE *fp, char *out, size_t outlen)
{
    char line[4096];
    size_t total = 0, used = 0;
    int found = 0, in_from = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        total += n;
        if (total > AUTH_HEADER_MAX)
            return -1;
        if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))
            break;
        int continuation = line[0] == ' ' || line[0] == '\t';
        if (!continuation)
            in_from = strncasecmp(line, "From:", 5) == 0;
        if (!in_from)
            continue;
        if (!continuation && ++found > 1)
            return -1;
        const char *v = continuation ? line : line + 5;
        for (; *v && used + 1 < outlen; v++)
            if (*v != '\r' && *v != '\n')
                out[used++] = *v;
        out[used] = '\0';
    }
    return found;
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
    char value[8192];
    out[0] = '\0';
    FILE *fp = fopen(spool_path, "re");
    if (fp == NULL)
        return -1;
    int found = from_field(fp, value, sizeof value);
    fclose(fp);
    if (found != 1)
        return -1;
    InternetAddressList *list = internet_address_list_parse(NULL, value);
    int rc = -1;
    if (list && internet_address_list_length(list) == 1) {
        InternetAddress *ia = internet_address_list_get_address(list, 0);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            rc = ascii_domain(INTERNET_ADDRESS_MAILBOX(ia), out, outlen);
    }
    if (rc == -1)
        out[0] = '\0';
    if (list)
        g_object_unref(list);
    return rc;
}
