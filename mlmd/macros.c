/*
 * macros.c - the MTA macros a policy sees as ctx.macros, and when mlmd
 * reads them.
 *
 * smfi_getsymval searches every macro the MTA sent, stage by stage, with
 * up to three strcmp per entry, and an absent macro costs a full search:
 * looking up all fourteen names on every request was a fifth of mlmd's
 * work on a short transaction. A macro's value cannot change before the
 * SMTP state it belongs to does, so each is read once per scope: the
 * client's and the server's identity once per connection, TLS, AUTH and
 * MAIL FROM once per message (at its first request, MAIL when the policy
 * has filter_sender), {rcpt_addr} at each RCPT, and "i" from the queue id
 * the caller keeps. Values are copied: libmilter frees a stage's macros
 * when the MTA sends new ones.
 *
 * What this means for an admin: a macro must reach mlmd no later than the
 * first request of its scope (the MTA's defaults send each one there:
 * Postfix's milter_connect_macros, milter_helo_macros, milter_mail_macros
 * and milter_rcpt_macros, Sendmail's Milter.macros.*).
 */
#include "mlmd.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

static const char *const conn_names[MACROS_CONN] = {
    "j", "_", "{daemon_name}", "{daemon_addr}", "{client_addr}",
    "{client_name}", "{client_port}"};
static const char *const msg_names[MACROS_MSG] = {
    "{auth_type}", "{auth_authen}", "{tls_version}", "{cipher}",
    "{mail_addr}"};

_Static_assert(MACROS_CONN <= MACROS_SCOPE_MAX && MACROS_MSG <= MACROS_SCOPE_MAX,
               "a macro cache holds either scope");

/* name and value pairs of ctx.macros: "i", the scoped ones, {rcpt_addr} */
#define MACRO_PAIRS_MAX (2 * (1 + MACROS_CONN + MACROS_MSG + 1))

/* Copy each macro of names the MTA has sent into cache, once. */
static void cache_fill(SMFICTX *ctx, struct macro_cache *cache,
                       const char *const *names, size_t n)
{
    if (cache->filled)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *v = smfi_getsymval(ctx, (char *)names[i]);
        cache->value[i] = v ? xstrdup(v) : NULL;
    }
    cache->filled = 1;
}

void macro_cache_clear(struct macro_cache *cache)
{
    for (size_t i = 0; i < MACROS_SCOPE_MAX; i++) {
        free(cache->value[i]);
        cache->value[i] = NULL;
    }
    cache->filled = 0;
}

static void push(struct mlm_strv *out, const char *name, const char *value)
{
    if (value == NULL)
        return;
    out->v[out->n++] = (char *)name;
    out->v[out->n++] = (char *)value;
}

static void push_cache(struct mlm_strv *out, const struct macro_cache *cache,
                       const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        push(out, names[i], cache->value[i]);
}

void macros_fill(SMFICTX *ctx, const struct macro_scopes *scopes,
                 enum mlm_stage stage, struct mlm_strv *out)
{
    /*
     * The pairs point into the caches and libmilter's own buffers: the
     * request they go into lives no longer than the callback (each thread
     * serves one connection, one request at a time).
     */
    static __thread char *pairs[MACRO_PAIRS_MAX];
    out->v = pairs;
    out->n = 0;
    if (scopes->qid)
        push(out, "i", scopes->qid);
    cache_fill(ctx, scopes->conn, conn_names, MACROS_CONN);
    push_cache(out, scopes->conn, conn_names, MACROS_CONN);
    if (scopes->msg) {
        cache_fill(ctx, scopes->msg, msg_names, MACROS_MSG);
        push_cache(out, scopes->msg, msg_names, MACROS_MSG);
    } else { /* before MAIL (connect, HELO): nothing to keep them in */
        for (size_t i = 0; i < MACROS_MSG; i++)
            push(out, msg_names[i], smfi_getsymval(ctx, (char *)msg_names[i]));
    }
    if (stage == STAGE_RECIPIENT)
        push(out, "{rcpt_addr}", smfi_getsymval(ctx, "{rcpt_addr}"));
}
