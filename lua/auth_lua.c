/*
 * auth_lua.c - ctx.auth: the sender authentication of the post, computed
 * on first read at end of message (a policy that never reads it makes no
 * DNS lookup) and kept for the rest of the request. The worker's
 * resolver is opened on first use and lives as long as the worker.
 */
#include "auth.h"
#include "policy.h"
#include "luambind.h"
#include "mlmconf.h"
#include "xmalloc.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dns_forwarders;
static int dns_timeout_seconds = 5;
static char authserv_id[256];
static struct dns *worker_dns;
static int worker_dns_failed;

void auth_configure(const struct mlm_config *cfg)
{
    free(dns_forwarders);
    dns_forwarders = xstrdup(cfg->dns_resolver ? cfg->dns_resolver : "");
    dns_timeout_seconds = cfg->dns_timeout > 0 ? cfg->dns_timeout : 5;
    if (cfg->authserv_id && cfg->authserv_id[0])
        snprintf(authserv_id, sizeof authserv_id, "%s", cfg->authserv_id);
    else if (gethostname(authserv_id, sizeof authserv_id) != 0)
        snprintf(authserv_id, sizeof authserv_id, "localhost");
    authserv_id[sizeof authserv_id - 1] = '\0';
}

void auth_run_free(struct stage_run *run)
{
    free(run->auth);
    run->auth = NULL;
}

/* The Authentication-Results value of the last post whose ctx.auth was
 * computed in this process (by compute(), which every request that reads
 * ctx.auth runs first): ctx.auth.results, and what mlm-ctl try prints;
 * "" after auth_results_forget. */
static char last_results[AUTH_RESULTS_MAX];

/*
 * d when it is a domain name that can stand as an RFC 8601 property value
 * (letters, digits, '-', '_' and '.', at most 253 bytes), else NULL. The
 * envelope domain and the HELO are the client's words: "x; dkim=pass"
 * would add a result under our authserv-id.
 */
static const char *value_domain(const char *d)
{
    size_t n = strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-_.");
    return n > 0 && n <= 253 && d[n] == '\0' ? d : NULL;
}

/* The Authentication-Results value (RFC 8601) for the results, cut to
 * outlen - 1 bytes (it fits: an authserv-id and four domains of at most
 * 255 bytes each, and fixed words). A domain that is no plain domain name
 * is left out with its property. */
static void results_format(const struct auth_result *r, char *out,
                           size_t outlen)
{
    const char *dkim_d = r->n_dkim_domains > 0 ?
        value_domain(r->dkim_domains[0]) : NULL;
    const char *spf_d = value_domain(r->spf_domain);
    const char *from_d = value_domain(r->from_domain);
    snprintf(out, outlen, "%s; dkim=%s%s%s; spf=%s%s%s; dmarc=%s%s%s%s%s",
             authserv_id, auth_status_name(r->dkim),
             dkim_d ? " header.d=" : "", dkim_d ? dkim_d : "",
             auth_status_name(r->spf),
             spf_d ? " smtp.mailfrom=" : "", spf_d ? spf_d : "",
             auth_status_name(r->dmarc),
             r->have_policy ? " policy.dmarc=" : "",
             r->have_policy ? dmarc_policy_name(r->policy) : "",
             from_d ? " header.from=" : "", from_d ? from_d : "");
}

const char *auth_results_last(void)
{
    return last_results;
}

void auth_results_forget(void)
{
    last_results[0] = '\0';
}

static void compute(struct stage_run *run)
{
    const struct mlm_request *req = run->req;
    struct auth_result *r = xcalloc(1, sizeof *r);
    run->auth = r;
    if (worker_dns == NULL && !worker_dns_failed) {
        char why[256];
        worker_dns = dns_open(dns_forwarders ? dns_forwarders : "",
                              dns_timeout_seconds, why, sizeof why);
        if (worker_dns == NULL) {
            fprintf(stderr, "mlm-worker: %s\n", why);
            worker_dns_failed = 1;
        }
    }
    if (worker_dns == NULL) {
        r->dkim = r->spf = r->dmarc = AUTH_TEMPERROR;
        auth_from_domain(req->spool_path, r->from_domain,
                         sizeof r->from_domain, NULL);
        results_format(r, last_results, sizeof last_results);
        return;
    }
    dns_budget_start(worker_dns);
    struct auth_input in = {.spool_path = req->spool_path,
                            .hostip = req->hostip,
                            .helo = req->helo,
                            .sender = req->sender};
    auth_check(worker_dns, &in, r);
    results_format(r, last_results, sizeof last_results);
}

void auth_push(lua_State *L, struct stage_run *run)
{
    if (run->req->stage != STAGE_MESSAGE || run->req->spool_path == NULL) {
        lua_pushnil(L);
        return;
    }
    if (run->auth == NULL)
        compute(run);
    const struct auth_result *r = run->auth;
    lua_createtable(L, 0, 9);
    lua_pushstring(L, auth_status_name(r->dkim));
    lua_setfield(L, -2, "dkim");
    lua_pushstring(L, auth_status_name(r->spf));
    lua_setfield(L, -2, "spf");
    lua_pushstring(L, auth_status_name(r->dmarc));
    lua_setfield(L, -2, "dmarc");
    if (r->from_domain[0]) {
        lua_pushstring(L, r->from_domain);
        lua_setfield(L, -2, "from_domain");
    }
    if (r->have_policy) {
        lua_pushstring(L, dmarc_policy_name(r->policy));
        lua_setfield(L, -2, "policy");
    }
    lua_pushboolean(L, r->aligned);
    lua_setfield(L, -2, "aligned");
    lua_createtable(L, r->n_dkim_domains, 0);
    for (int i = 0; i < r->n_dkim_domains; i++) {
        lua_pushstring(L, r->dkim_domains[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "dkim_domains");
    if (r->spf_domain[0]) {
        lua_pushstring(L, r->spf_domain);
        lua_setfield(L, -2, "spf_domain");
    }
    lua_pushstring(L, authserv_id);
    lua_setfield(L, -2, "authserv_id");
    /* compute() formatted it for this request: formatted once a post */
    lua_pushstring(L, last_results);
    lua_setfield(L, -2, "results");
}
