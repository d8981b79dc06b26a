/*
 * auth_spf.c - SPF (RFC 7208) with libspf2 for the client address and the
 * envelope sender's domain (the HELO name for the null sender). Lookups go
 * through spf_dns.c (the post's budget); libspf2 stops after 10 DNS
 * mechanisms (max_dns_mech, RFC 7208 4.6.4). A loopback client gets no
 * result (none), never libspf2's free pass for localhost.
 */
#include "auth.h"
#include "spf_dns.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SPF_MAX_DNS_MECH 10

static SPF_server_t *spf_server(struct dns *dns)
{
    static SPF_server_t *server;
    static struct dns *server_dns;
    if (server && server_dns == dns)
        return server;
    if (server)
        SPF_server_free(server);
    SPF_dns_server_t *layer = spf_dns_new(dns);
    server = layer ? SPF_server_new_dns(layer, 0) : NULL;
    server_dns = server ? dns : NULL;
    if (server)
        SPF_server_set_max_dns_mech(server, SPF_MAX_DNS_MECH);
    return server;
}

static enum auth_status status_of(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_PASS: return AUTH_PASS;
    case SPF_RESULT_FAIL: return AUTH_FAIL;
    case SPF_RESULT_SOFTFAIL: return AUTH_SOFTFAIL;
    case SPF_RESULT_NEUTRAL: return AUTH_NEUTRAL;
    case SPF_RESULT_TEMPERROR: return AUTH_TEMPERROR;
    case SPF_RESULT_PERMERROR: return AUTH_PERMERROR;
    default: return AUTH_NONE;
    }
}

void auth_spf(struct dns *dns, const struct auth_input *in,
              struct auth_result *res)
{
    const char *at = in->sender ? strrchr(in->sender, '@') : NULL;
    const char *domain = at ? at + 1 : in->helo;
    snprintf(res->spf_domain, sizeof res->spf_domain, "%s",
             domain ? domain : "");
    res->spf = AUTH_NONE;
    char ip[64];
    if (in->hostip == NULL || res->spf_domain[0] == '\0' ||
        snprintf(ip, sizeof ip, "%s", in->hostip) >= (int)sizeof ip)
        return;
    /* Postfix and Sendmail may bracket the address, or prefix IPv6:. */
    char *addr = ip;
    if (*addr == '[') {
        addr++;
        addr[strcspn(addr, "]")] = '\0';
    }
    if (strncasecmp(addr, "IPv6:", 5) == 0)
        addr += 5;
    SPF_server_t *server = spf_server(dns);
    if (server == NULL) {
        res->spf = AUTH_TEMPERROR;
        return;
    }
    SPF_request_t *req = SPF_request_new(server);
    SPF_response_t *resp = NULL;
    int bad = strchr(addr, ':') ? SPF_request_set_ipv6_str(req, addr)
                                : SPF_request_set_ipv4_str(req, addr);
    if (bad == SPF_E_SUCCESS && in->helo && in->helo[0])
        SPF_request_set_helo_dom(req, in->helo);
    if (bad == SPF_E_SUCCESS && in->sender && in->sender[0])
        bad = SPF_request_set_env_from(req, in->sender);
    if (bad == SPF_E_SUCCESS) {
        SPF_request_query_mailfrom(req, &resp);
        /*
         * libspf2 passes a loopback client whatever the domain publishes
         * ("localhost is always allowed"): that vouches for no domain.
         */
        if (resp && SPF_response_reason(resp) != SPF_REASON_LOCALHOST)
            res->spf = status_of(SPF_response_result(resp));
    }
    if (resp)
        SPF_response_free(resp);
    SPF_request_free(req);
}
