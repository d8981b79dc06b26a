/*
 * dns.c - libunbound with a hard time budget: questions are asked
 * asynchronously and the answer is waited for with poll() until the
 * post's budget runs out; an unanswered question is cancelled.
 */
#include "dns.h"
#include "clock.h"
#include "xmalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#define RR_TYPE_TXT 16
#define RR_CLASS_IN 1

struct dns {
    struct ub_ctx *ctx;
    int timeout_ms;
    int64_t deadline_ms; /* now_ms() when the budget runs out */
};

struct pending {
    int done;
    int err;
    struct ub_result *result;
};

struct dns *dns_open(const char *forwarders, int timeout_seconds, char *why,
                     size_t whylen)
{
    struct ub_ctx *ctx = ub_ctx_create();
    if (ctx == NULL) {
        snprintf(why, whylen, "libunbound: cannot create a context");
        return NULL;
    }
    int rc = ub_ctx_async(ctx, 1);   /* a thread, never a fork */
    if (rc == 0)
        rc = ub_ctx_set_option(ctx, "do-ip6:", "yes");
    if (rc == 0 && (forwarders == NULL || forwarders[0] == '\0')) {
        rc = ub_ctx_resolvconf(ctx, NULL);
    } else if (rc == 0) {
        char *copy = xstrdup(forwarders), *save = NULL;
        int n = 0;
        for (char *tok = strtok_r(copy, " ,\t", &save); tok && rc == 0;
             tok = strtok_r(NULL, " ,\t", &save), n++)
            rc = ub_ctx_set_fwd(ctx, tok);
        free(copy);
        if (rc == 0 && n == 0)
            rc = UB_SYNTAX;
    }
    if (rc != 0) {
        snprintf(why, whylen, "dns_resolver: %s", ub_strerror(rc));
        ub_ctx_delete(ctx);
        return NULL;
    }
    struct dns *dns = xcalloc(1, sizeof *dns);
    dns->ctx = ctx;
    dns->timeout_ms = timeout_seconds * 1000;
    dns_budget_start(dns);
    return dns;
}

void dns_close(struct dns *dns)
{
    if (dns == NULL)
        return;
    ub_ctx_delete(dns->ctx);
    free(dns);
}

void dns_budget_start(struct dns *dns)
{
    dns->deadline_ms = now_ms() + dns->timeout_ms;
}

long dns_budget_left_ms(const struct dns *dns)
{
    int64_t ms = dns->deadline_ms - now_ms();
    return ms > 0 ? (long)ms : 0;
}

static void on_answer(void *arg, int err, struct ub_result *result)
{
    struct pending *p = arg;
    p->done = 1;
    p->err = err;
    p->result = result;
}

enum dns_status dns_query(struct dns *dns, const char *name, int rrtype,
                          struct ub_result **result)
{
    struct pending p = {0};
    int id;
    *result = NULL;
    if (dns_budget_left_ms(dns) == 0)
        return DNS_TEMPFAIL;
    if (ub_resolve_async(dns->ctx, name, rrtype, RR_CLASS_IN, &p, on_answer,
                         &id) != 0)
        return DNS_TEMPFAIL;
    while (!p.done) {
        long left = dns_budget_left_ms(dns);
        if (left == 0) {
            ub_cancel(dns->ctx, id);
            return DNS_TEMPFAIL;
        }
        struct pollfd pfd = {.fd = ub_fd(dns->ctx), .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            ub_cancel(dns->ctx, id);
            return DNS_TEMPFAIL;
        }
        if (n > 0 && ub_process(dns->ctx) != 0) {
            if (!p.done)
                ub_cancel(dns->ctx, id);
            break;
        }
    }
    if (!p.done || p.err != 0 || p.result == NULL) {
        if (p.result)
            ub_resolve_free(p.result);
        return DNS_TEMPFAIL;
    }
    if (p.result->rcode == 3 /* NXDOMAIN */ ||
        (p.result->rcode == 0 && !p.result->havedata)) {
        *result = p.result;
        return DNS_NONE;
    }
    if (p.result->rcode != 0) {
        ub_resolve_free(p.result);
        return DNS_TEMPFAIL;
    }
    *result = p.result;
    return DNS_OK;
}

/* One TXT rdata: length-prefixed strings, joined; NULL if malformed. */
static char *txt_join(const unsigned char *rdata, int len)
{
    size_t cap = (size_t)len < DNS_TXT_MAX_LEN ? (size_t)len : DNS_TXT_MAX_LEN;
    char *out = xmalloc(cap + 1);
    size_t used = 0;
    int i = 0;
    while (i < len) {
        int n = rdata[i++];
        if (n > len - i) {
            free(out);
            return NULL;
        }
        for (int k = 0; k < n && used < cap; k++)
            out[used++] = rdata[i + k] ? (char)rdata[i + k] : ' ';
        i += n;
    }
    out[used] = '\0';
    return out;
}

enum dns_status dns_txt(struct dns *dns, const char *name, char **records,
                        int max_records, int *count)
{
    struct ub_result *res;
    *count = 0;
    enum dns_status st = dns_query(dns, name, RR_TYPE_TXT, &res);
    if (st != DNS_OK) {
        if (res)
            ub_resolve_free(res);
        return st;
    }
    for (int i = 0; res->data[i] && *count < max_records; i++) {
        char *rec = txt_join((const unsigned char *)res->data[i], res->len[i]);
        if (rec)
            records[(*count)++] = rec;
    }
    ub_resolve_free(res);
    return *count > 0 ? DNS_OK : DNS_NONE;
}

void dns_txt_free(char **records, int count)
{
    for (int i = 0; i < count; i++)
        free(records[i]);
}
