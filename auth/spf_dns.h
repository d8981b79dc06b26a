/*
 * spf_dns.h - libspf2's DNS through our resolver and its time budget.
 */
#ifndef MLM_SPF_DNS_H
#define MLM_SPF_DNS_H

#include "dns.h"

#include <netinet/in.h>
#include <spf2/spf.h>

#define SPF_DNS_MAX_RR 32   /* records of one answer handed to libspf2 */

/* A DNS layer for SPF_server_new_dns(); freed with the server. */
SPF_dns_server_t *spf_dns_new(struct dns *dns);

#endif
