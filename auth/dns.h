/*
 * dns.h - the worker's DNS through libunbound, with one time budget for
 * all the lookups of one post.
 *
 * A resolver is opened once per process (the cache lives as long); before
 * each post dns_budget_start() grants dns_timeout seconds, shared by every
 * lookup until the next start. A lookup past the budget fails at once
 * with DNS_TEMPFAIL.
 */
#ifndef MLM_DNS_H
#define MLM_DNS_H

#include <stddef.h>

enum dns_status {
    DNS_OK,         /* the name has records of the type */
    DNS_NONE,       /* NXDOMAIN or no record of the type */
    DNS_TEMPFAIL,   /* timeout, SERVFAIL, no server answered */
};

struct dns;

/*
 * forwarders: "" for /etc/resolv.conf, else addresses with optional @port
 * separated by spaces or commas. Returns NULL with why filled.
 */
struct dns *dns_open(const char *forwarders, int timeout_seconds, char *why,
                     size_t whylen);
void dns_close(struct dns *dns);

/* Grant a fresh budget of timeout_seconds to the lookups that follow. */
void dns_budget_start(struct dns *dns);

/*
 * TXT records of name, each record's strings joined (RFC 7208 3.3,
 * RFC 6376 3.6.2.2): at most max_records, each cut at 4096 bytes. The
 * strings are malloc'ed; free them with dns_txt_free().
 */
#define DNS_TXT_MAX_LEN 4096
enum dns_status dns_txt(struct dns *dns, const char *name, char **records,
                        int max_records, int *count);
void dns_txt_free(char **records, int count);

/* A and AAAA questions for libspf2 go through dns_query (raw rdata). */
struct ub_result;
enum dns_status dns_query(struct dns *dns, const char *name, int rrtype,
                          struct ub_result **result);

/* The budget left in milliseconds (0 once spent). */
long dns_budget_left_ms(const struct dns *dns);

#endif
