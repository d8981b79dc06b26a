/*
 * dmarc_record.c - DMARC record parsing and discovery. The parser takes
 * the record as tag=value pairs separated by ';' (RFC 7489 6.4); unknown
 * tags are ignored, a first tag other than v=DMARC1 or a bad p= makes the
 * record invalid (and, with no other valid record, none is published).
 */
#include "dmarc_record.h"
#include "orgdomain.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *dmarc_policy_name(enum dmarc_policy p)
{
    return p == DMARC_P_REJECT ? "reject"
         : p == DMARC_P_QUARANTINE ? "quarantine" : "none";
}

static int policy_value(const char *v, enum dmarc_policy *out)
{
    if (strcasecmp(v, "none") == 0)
        *out = DMARC_P_NONE;
    else if (strcasecmp(v, "quarantine") == 0)
        *out = DMARC_P_QUARANTINE;
    else if (strcasecmp(v, "reject") == 0)
        *out = DMARC_P_REJECT;
    else
        return -1;
    return 0;
}

/* Trim spaces around s in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int dmarc_record_parse(const char *txt, struct dmarc_record *rec,
                       int at_org_domain)
{
    char buf[DNS_TXT_MAX_LEN + 1];
    snprintf(buf, sizeof buf, "%s", txt);
    int have_p = 0, have_sp = 0, first = 1;
    enum dmarc_policy p = DMARC_P_NONE, sp = DMARC_P_NONE;
    rec->strict_dkim = rec->strict_spf = 0;
    rec->pct = 100;
    char *save = NULL;
    for (char *pair = strtok_r(buf, ";", &save); pair;
         pair = strtok_r(NULL, ";", &save), first = 0) {
        char *eq = strchr(pair, '=');
        if (eq == NULL) {
            if (first || *trim(pair) != '\0')
                return -1;
            continue;
        }
        *eq = '\0';
        char *tag = trim(pair), *val = trim(eq + 1);
        if (first) {
            if (strcmp(tag, "v") != 0 || strcmp(val, "DMARC1") != 0)
                return -1;
        } else if (strcasecmp(tag, "p") == 0) {
            if (policy_value(val, &p) == -1)
                return -1;
            have_p = 1;
        } else if (strcasecmp(tag, "sp") == 0) {
            have_sp = policy_value(val, &sp) == 0;
        } else if (strcasecmp(tag, "adkim") == 0) {
            rec->strict_dkim = strcasecmp(val, "s") == 0;
        } else if (strcasecmp(tag, "aspf") == 0) {
            rec->strict_spf = strcasecmp(val, "s") == 0;
        } else if (strcasecmp(tag, "pct") == 0) {
            char *end;
            long n = strtol(val, &end, 10);
            if (end != val && *end == '\0' && n >= 0 && n <= 100)
                rec->pct = (int)n;
        }
    }
    if (!have_p)
        return -1;
    rec->policy = at_org_domain && have_sp ? sp : p;
    snprintf(rec->text, sizeof rec->text, "%s", txt);
    return 0;
}

/* The one valid record at _dmarc.domain (RFC 7489 6.6.3: several valid
 * ones count as none). */
static enum dmarc_found lookup(struct dns *dns, const char *domain,
                               struct dmarc_record *rec, int at_org_domain)
{
    char name[300], *txt[16];
    int n, valid = 0;
    snprintf(name, sizeof name, "_dmarc.%s", domain);
    enum dns_status st = dns_txt(dns, name, txt, 16, &n);
    if (st == DNS_TEMPFAIL)
        return DMARC_TEMPFAIL;
    struct dmarc_record candidate;
    for (int i = 0; i < n; i++) {
        if (strncmp(txt[i], "v=DMARC1", 8) != 0)
            continue;
        if (dmarc_record_parse(txt[i], &candidate, at_org_domain) == 0) {
            valid++;
            char org[256];
            memcpy(org, rec->org_domain, sizeof org);
            *rec = candidate;
            memcpy(rec->org_domain, org, sizeof org);
        }
    }
    dns_txt_free(txt, n);
    if (valid != 1)
        return DMARC_NO_RECORD;
    snprintf(rec->found_at, sizeof rec->found_at, "%s", domain);
    return DMARC_FOUND;
}

enum dmarc_found dmarc_discover(struct dns *dns, const char *from_domain,
                                struct dmarc_record *rec)
{
    memset(rec, 0, sizeof *rec);
    if (orgdomain(from_domain, rec->org_domain, sizeof rec->org_domain) == -1)
        snprintf(rec->org_domain, sizeof rec->org_domain, "%s", from_domain);
    enum dmarc_found f = lookup(dns, from_domain, rec, 0);
    if (f != DMARC_NO_RECORD || strcasecmp(rec->org_domain, from_domain) == 0)
        return f;
    return lookup(dns, rec->org_domain, rec, 1);
}
