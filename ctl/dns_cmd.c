/*
 * dns_cmd.c - mlm-ctl dns check DOMAIN: what the worker sees of a domain
 * through the configured resolver (dns_resolver, dns_timeout): its
 * organisational domain, DMARC record and policy, and SPF record.
 * Exit status 1 when a lookup failed temporarily.
 */
#include "ctl.h"
#include "dmarc_record.h"
#include "dns.h"
#include "orgdomain.h"

#include <stdio.h>
#include <string.h>

/* The one v=spf1 record of domain into out, or a word saying why none. */
static enum dns_status spf_record(struct dns *dns, const char *domain,
                                  char *out, size_t outlen)
{
    char *txt[16];
    int n, found = 0;
    enum dns_status st = dns_txt(dns, domain, txt, 16, &n);
    snprintf(out, outlen, "%s", st == DNS_TEMPFAIL ? "temperror" : "none");
    for (int i = 0; i < n; i++) {
        if (strncmp(txt[i], "v=spf1", 6) == 0 &&
            (txt[i][6] == '\0' || txt[i][6] == ' ')) {
            found++;
            snprintf(out, outlen, "%s", txt[i]);
        }
    }
    if (found > 1)
        snprintf(out, outlen, "permerror (%d SPF records)", found);
    dns_txt_free(txt, n);
    return st;
}

int cmd_dns_check(struct ctl_env *env, struct ctl_args *a)
{
    const char *domain = a->argv[0];
    char why[512], org[256], spf[DNS_TXT_MAX_LEN + 64];
    if (strlen(domain) > 253 || strchr(domain, '.') == NULL)
        return ctl_fail("'%s' is not a domain name", domain);
    struct dns *dns = dns_open(env->cfg.dns_resolver, env->cfg.dns_timeout,
                               why, sizeof why);
    if (dns == NULL)
        return ctl_fail("%s", why);
    dns_budget_start(dns);
    int failed = 0;
    printf("domain: %s\n", domain);
    if (orgdomain(domain, org, sizeof org) == 0)
        printf("organisational domain: %s\n", org);
    else
        printf("organisational domain: none (a public suffix)\n");
    struct dmarc_record rec;
    switch (dmarc_discover(dns, domain, &rec)) {
    case DMARC_FOUND:
        printf("dmarc record: %s\n", rec.text);
        printf("dmarc found at: _dmarc.%s\n", rec.found_at);
        printf("dmarc policy: %s\n", dmarc_policy_name(rec.policy));
        printf("dmarc alignment: dkim %s, spf %s\n",
               rec.strict_dkim ? "strict" : "relaxed",
               rec.strict_spf ? "strict" : "relaxed");
        break;
    case DMARC_NO_RECORD:
        printf("dmarc record: none\ndmarc policy: none\n");
        break;
    case DMARC_TEMPFAIL:
        printf("dmarc record: temperror\n");
        failed = 1;
        break;
    }
    if (spf_record(dns, domain, spf, sizeof spf) == DNS_TEMPFAIL)
        failed = 1;
    printf("spf record: %s\n", spf);
    dns_close(dns);
    return failed ? EXIT_FAILED : EXIT_OK;
}
