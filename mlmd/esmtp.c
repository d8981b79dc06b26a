/*
 * esmtp.c - the DSN parameters (RFC 3461) of mlmd's envelope changes, so
 * that a delivery report names the member and the post:
 *   each recipient added:  ORCPT=rfc822;MEMBER
 *   a changed sender:      RET=HDRS ENVID=QUEUE-ID
 * RET=HDRS: a report carries the post's header, never its body, back to
 * NAME-bounces@. Values are xtext: "+", "=" and every byte outside
 * '!'..'~' as "+HH".
 */
#include "mlmd.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3461 4.2 and 4.4: the longest ORCPT and ENVID values allowed. */
#define ORCPT_MAX 500
#define ENVID_MAX 100

/*
 * value as xtext after prefix, in a new string; NULL when the encoded
 * parameter would pass max bytes or value is not ASCII (a UTF-8 address
 * would need the utf-8 address type, which the next hop takes only with
 * SMTPUTF8: such a member is added without ORCPT).
 */
static char *xtext_param(const char *prefix, const char *value, size_t max)
{
    size_t plen = strlen(prefix), len = plen;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p >= 0x80)
            return NULL;
        len += (*p < '!' || *p > '~' || *p == '+' || *p == '=') ? 3 : 1;
        if (len > max)
            return NULL;
    }
    char *out = xmalloc(len + 1), *q = out + plen;
    memcpy(out, prefix, plen);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p < '!' || *p > '~' || *p == '+' || *p == '=')
            q += sprintf(q, "+%02X", *p);
        else
            *q++ = (char)*p;
    }
    *q = '\0';
    return out;
}

char *esmtp_rcpt_args(const char *member)
{
    /* ORCPT's limit counts the value (type and address) */
    return xtext_param("ORCPT=rfc822;", member, ORCPT_MAX + 6);
}

char *esmtp_sender_args(const char *qid)
{
    char *envid = NULL;
    if (qid && *qid && strcmp(qid, "NOQUEUE") != 0)
        envid = xtext_param("ENVID=", qid, ENVID_MAX + 6);
    if (envid == NULL)
        return xstrdup("RET=HDRS");
    char *out = xmalloc(strlen(envid) + sizeof "RET=HDRS ");
    sprintf(out, "RET=HDRS %s", envid);
    free(envid);
    return out;
}
