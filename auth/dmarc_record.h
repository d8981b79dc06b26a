/*
 * dmarc_record.h - DMARC policy discovery (RFC 7489 6.6.3): the record at
 * _dmarc.FROM-DOMAIN, else at _dmarc.ORGANISATIONAL-DOMAIN (whose sp= then
 * applies), parsed into the tags mlm uses.
 */
#ifndef MLM_DMARC_RECORD_H
#define MLM_DMARC_RECORD_H

#include "dns.h"

enum dmarc_policy { DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT };

enum dmarc_found {
    DMARC_FOUND,       /* rec is filled */
    DMARC_NO_RECORD,   /* none published: no DMARC for this domain */
    DMARC_TEMPFAIL,    /* a lookup failed or ran out of time */
};

struct dmarc_record {
    enum dmarc_policy policy;   /* p=, or sp= when found at the org domain */
    int strict_dkim;            /* adkim=s */
    int strict_spf;             /* aspf=s */
    int pct;                    /* 0..100 */
    char org_domain[256];       /* organisational domain of the From domain */
    char found_at[256];         /* the domain whose record applies */
    char text[DNS_TXT_MAX_LEN + 1];   /* the record as published */
};

/* Parse one TXT record; 0, or -1 if it is not a valid DMARC record. */
int dmarc_record_parse(const char *txt, struct dmarc_record *rec,
                       int at_org_domain);

enum dmarc_found dmarc_discover(struct dns *dns, const char *from_domain,
                                struct dmarc_record *rec);

const char *dmarc_policy_name(enum dmarc_policy p);

#endif
