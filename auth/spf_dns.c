/*
 * spf_dns.c - a libspf2 DNS layer over our resolver, so that SPF's
 * lookups share the post's time budget (libspf2's own layer calls
 * res_query, which has no deadline). Answers are turned from wire rdata
 * into libspf2's records: A, AAAA, TXT (strings joined), MX and PTR
 * (names, uncompressed in libunbound's answers).
 */
#include "spf_dns.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

/* A wire-format name at rdata[*pos] as text into out: 0, or -1. */
static int wire_name(const unsigned char *rdata, int len, int pos, char *out,
                     size_t outlen)
{
    size_t used = 0;
    while (pos < len) {
        int n = rdata[pos++];
        if (n == 0) {
            if (used == 0 && outlen > 1)
                out[used++] = '.';
            out[used] = '\0';
            return 0;
        }
        if (n > 63 || n > len - pos || used + (size_t)n + 2 > outlen)
            return -1;
        if (used > 0)
            out[used++] = '.';
        memcpy(out + used, rdata + pos, (size_t)n);
        used += (size_t)n;
        pos += n;
    }
    return -1;
}

/* One rdata in libspf2's form into slot i: 0, or -1 to skip it. */
static int put_rr(SPF_dns_rr_t *rr, int i, ns_type type,
                  const unsigned char *rdata, int len)
{
    char text[4096];
    size_t n;
    switch (type) {
    case ns_t_a:
        if (len != 4)
            return -1;
        n = sizeof(struct in_addr);
        if (SPF_dns_rr_buf_realloc(rr, i, n) != SPF_E_SUCCESS)
            return -1;
        memcpy(&rr->rr[i]->a, rdata, 4);
        return 0;
    case ns_t_aaaa:
        if (len != 16)
            return -1;
        n = sizeof(struct in6_addr);
        if (SPF_dns_rr_buf_realloc(rr, i, n) != SPF_E_SUCCESS)
            return -1;
        memcpy(&rr->rr[i]->aaaa, rdata, 16);
        return 0;
    case ns_t_txt: {
        size_t used = 0;
        int pos = 0;
        while (pos < len) {
            int k = rdata[pos++];
            if (k > len - pos || used + (size_t)k >= sizeof text)
                return -1;
            memcpy(text + used, rdata + pos, (size_t)k);
            used += (size_t)k;
            pos += k;
        }
        text[used] = '\0';
        if (strlen(text) != used)
            return -1;   /* a NUL inside: not a record libspf2 can read */
        break;
    }
    case ns_t_mx:
        if (len < 3 || wire_name(rdata, len, 2, text, sizeof text) == -1)
            return -1;
        break;
    case ns_t_ptr:
        if (wire_name(rdata, len, 0, text, sizeof text) == -1)
            return -1;
        break;
    default:
        return -1;
    }
    n = strlen(text) + 1;
    if (SPF_dns_rr_buf_realloc(rr, i, n) != SPF_E_SUCCESS)
        return -1;
    memcpy(rr->rr[i]->txt, text, n);
    return 0;
}

static SPF_dns_rr_t *lookup(SPF_dns_server_t *server, const char *domain,
                            ns_type type, int should_cache)
{
    struct dns *dns = server->hook;
    struct ub_result *res;
    enum dns_status st = dns_query(dns, domain, (int)type, &res);
    if (st == DNS_TEMPFAIL)
        return SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
    if (st == DNS_NONE) {
        int nx = res && res->nxdomain;
        if (res)
            ub_resolve_free(res);
        return nx ? SPF_dns_rr_new_nxdomain(server, domain)
                  : SPF_dns_rr_new_init(server, domain, type, 0, NO_DATA);
    }
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(server, domain, type, res->ttl,
                                           NETDB_SUCCESS);
    if (rr == NULL) {
        ub_resolve_free(res);
        return NULL;
    }
    int n = 0;
    for (int i = 0; res->data[i] && n < SPF_DNS_MAX_RR; i++)
        if (put_rr(rr, n, type, (const unsigned char *)res->data[i],
                   res->len[i]) == 0)
            n++;
    rr->num_rr = n;
    if (n == 0)
        rr->herrno = NO_DATA;
    ub_resolve_free(res);
    return rr;
}

static void destroy(SPF_dns_server_t *server)
{
    free(server);
}

SPF_dns_server_t *spf_dns_new(struct dns *dns)
{
    SPF_dns_server_t *server = calloc(1, sizeof *server);
    if (server == NULL)
        return NULL;
    server->destroy = destroy;
    server->lookup = lookup;
    server->name = "mlm";
    server->hook = dns;
    return server;
}
