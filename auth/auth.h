/*
 * auth.h - sender authentication of one post at end of message: DKIM
 * (libopendkim), SPF (libspf2) and DMARC (RFC 7489) over the spooled
 * message, all DNS within the resolver's budget for the post.
 */
#ifndef MLM_AUTH_H
#define MLM_AUTH_H

#include "dmarc_record.h"
#include "dns.h"

enum auth_status {
    AUTH_NONE, AUTH_PASS, AUTH_FAIL, AUTH_SOFTFAIL, AUTH_NEUTRAL,
    AUTH_TEMPERROR, AUTH_PERMERROR,
};

#define AUTH_DKIM_MAX_SIGS 5      /* signatures verified per post */
#define AUTH_HEADER_MAX (256 * 1024)   /* header block read for From: and
                                        * DKIM-Signature: */
/* Bytes of the From value checked (unfolded, without the blanks around it,
 * as message:raw_header gives it); a longer From is not checked (DMARC
 * permerror). The shipped policy refuses such a post: FROM_CHECKED_MAX in
 * lua/lib/mlm_dmarc.lua is the same number. */
#define AUTH_FROM_MAX 4000

struct auth_input {
    const char *spool_path;   /* the whole message */
    const char *hostip;       /* the client's address, may be NULL */
    const char *helo;         /* may be NULL */
    const char *sender;       /* envelope sender, "" for the null sender */
};

struct auth_result {
    char from_domain[256];            /* A-labels, lower case; "" when From
                                       * has not one address DMARC can check */
    enum auth_status dkim;            /* pass when one signature passed */
    char dkim_domains[AUTH_DKIM_MAX_SIGS][256];   /* d= of passing ones */
    int n_dkim_domains;
    enum auth_status spf;
    char spf_domain[256];             /* MAIL FROM's domain, else HELO */
    enum auth_status dmarc;
    int aligned;                      /* an aligned DKIM or SPF pass */
    int have_policy;                  /* a DMARC record applies */
    enum dmarc_policy policy;
};

const char *auth_status_name(enum auth_status s);

/* The domain of the message's one From address, in A-labels and lower
 * case: 0, -1 when there is not one (no From, several, a From longer
 * than AUTH_FROM_MAX, no domain, or a domain without an A-label form), -2
 * when the message could not be read. *dkim_signed (unless NULL) is set
 * to 0 only when the whole header block was read, all its lines end in
 * CRLF, and no field in it starts with the name DKIM-Signature: then DKIM
 * has nothing to verify (auth_check skips libopendkim). */
int auth_from_domain(const char *spool_path, char *out, size_t outlen,
                     int *dkim_signed);

/* DKIM over the spooled message. */
void auth_dkim(struct dns *dns, const char *spool_path,
               struct auth_result *res);

/* SPF for the client address and envelope sender (HELO for <>). */
void auth_spf(struct dns *dns, const struct auth_input *in,
              struct auth_result *res);

/* Everything: From domain, DKIM, SPF, then DMARC on top. */
void auth_check(struct dns *dns, const struct auth_input *in,
                struct auth_result *res);

/* Relaxed (same organisational domain) or strict (equal) alignment of two
 * domains as DNS names: ASCII, case ignored. A domain in U-labels (a DKIM
 * d= or an SMTPUTF8 envelope domain as given) is not converted: it was
 * authenticated under that name, not under its A-label form. */
int auth_aligned(const char *a, const char *b, int strict);

#endif
