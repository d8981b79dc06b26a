/*
 * auth_spf.c - SPF (RFC 7208) for the client address and the envelope
 * sender's domain (the HELO name for the null sender).
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>

void auth_spf(struct dns *dns, const struct auth_input *in,
              struct auth_result *res)
{
    const char *at = in->sender ? strrchr(in->sender, '@') : NULL;
    const char *domain = at ? at + 1 : in->helo;
    snprintf(res->spf_domain, sizeof res->spf_domain, "%s",
             domain ? domain : "");
    res->spf = AUTH_NONE;
}
