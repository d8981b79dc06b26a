/*
 * auth_dmarc.c - DMARC evaluation (RFC 7489 3.1, 6.6): DMARC passes when
 * a passing DKIM signature's d= or the SPF-authenticated MAIL FROM domain
 * is aligned with the From domain, relaxed (same organisational domain)
 * or strict (equal) as the record says. pct= is not applied: a post either
 * passes or it does not, and the policy decides.
 */
#include "auth.h"
#include "orgdomain.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *auth_status_name(enum auth_status s)
{
    static const char *const names[] = {
        [AUTH_NONE] = "none", [AUTH_PASS] = "pass", [AUTH_FAIL] = "fail",
        [AUTH_SOFTFAIL] = "softfail", [AUTH_NEUTRAL] = "neutral",
        [AUTH_TEMPERROR] = "temperror", [AUTH_PERMERROR] = "permerror"};
    return names[s];
}

int auth_aligned(const char *a, const char *b, int strict)
{
    if (strcasecmp(a, b) == 0)
        return 1;
    if (strict)
        return 0;
    char oa[256], ob[256];
    return orgdomain(a, oa, sizeof oa) == 0 &&
           orgdomain(b, ob, sizeof ob) == 0 && strcasecmp(oa, ob) == 0;
}

/* A passing DKIM signature or SPF check aligned with the From domain. */
static int aligned_pass(const struct auth_result *res, int strict_dkim,
                        int strict_spf)
{
    for (int i = 0; i < res->n_dkim_domains; i++)
        if (auth_aligned(res->dkim_domains[i], res->from_domain, strict_dkim))
            return 1;
    return res->spf == AUTH_PASS &&
           auth_aligned(res->spf_domain, res->from_domain, strict_spf);
}

void auth_check(struct dns *dns, const struct auth_input *in,
                struct auth_result *res)
{
    memset(res, 0, sizeof *res);
    res->spf = AUTH_NONE;
    int dkim_signed;
    int from_found = auth_from_domain(in->spool_path, res->from_domain,
                                      sizeof res->from_domain, &dkim_signed);
    if (dkim_signed)
        auth_dkim(dns, in->spool_path, res);
    else
        res->dkim = AUTH_NONE;   /* what libopendkim finds in such a post */
    auth_spf(dns, in, res);
    if (from_found == -2) {
        /* The spool could not be read: a retry may tell. */
        res->dmarc = AUTH_TEMPERROR;
        return;
    }
    if (from_found == -1) {
        /* No From, or several: nothing DMARC can be about (RFC 7489 6.6.1
         * lets a receiver refuse such mail; the list policy decides). */
        res->from_domain[0] = '\0';
        res->dmarc = AUTH_PERMERROR;
        return;
    }
    struct dmarc_record rec;
    enum dmarc_found found = dmarc_discover(dns, res->from_domain, &rec);
    res->aligned = aligned_pass(res, found == DMARC_FOUND && rec.strict_dkim,
                                found == DMARC_FOUND && rec.strict_spf);
    switch (found) {
    case DMARC_NO_RECORD:
        res->dmarc = AUTH_NONE;
        return;
    case DMARC_TEMPFAIL:
        res->dmarc = AUTH_TEMPERROR;
        return;
    case DMARC_FOUND:
        break;
    }
    res->have_policy = 1;
    res->policy = rec.policy;
    if (res->aligned) {
        res->dmarc = AUTH_PASS;
        return;
    }
    /* A failure that a retry could turn into a pass is not a failure. */
    res->dmarc = res->dkim == AUTH_TEMPERROR || res->spf == AUTH_TEMPERROR
               ? AUTH_TEMPERROR : AUTH_FAIL;
}
