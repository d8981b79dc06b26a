/*
 * callbacks.c - mlmd's libmilter callbacks.
 *
 * Connection state (struct conn) and message state (struct msg) are
 * separate, hung off smfi_setpriv: abort resets the message only, close
 * frees everything, and every callback copes with missing state (the MTA
 * may call close without connect, or abort twice). Each stage the policy
 * defines becomes one request to the multiplexor; the others are skipped,
 * and the MTA is asked not to send what nothing needs.
 */
#include "mlmd.h"
#include "log.h"
#include "sockio.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

struct msg {
    char *qid;
    char *sender;
    struct mlm_strv esmtp_args;     /* MAIL FROM parameters */
    struct mlm_strv recipients;     /* accepted so far, without brackets */
    struct spool spool;
    int spooling;                   /* a spool file was opened */
    int headers_ended;              /* its empty line after the headers */
    struct macro_cache macros;      /* TLS, AUTH, MAIL FROM */
};

struct conn {
    char *hostip;
    char *hostname;
    char *helo;
    uint32_t stages;                /* the policy's stages, at negotiation */
    unsigned long protocol;         /* SMFIP_* flags agreed with the MTA */
    unsigned long actions;          /* SMFIF_* actions agreed with the MTA */
    int dsn;                        /* give envelope changes DSN parameters */
    struct macro_cache macros;      /* the client's and server's identity */
    struct msg *msg;
};

/* Connections with state: from their first callback to cb_close. */
static atomic_int connections_open;

int milter_connections_open(void)
{
    return atomic_load(&connections_open);
}

static struct conn *conn_get(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c == NULL) {
        atomic_fetch_add(&connections_open, 1);
        c = xcalloc(1, sizeof *c);
        c->stages = mx_stage_mask();
        smfi_setpriv(ctx, c);
    }
    return c;
}

static void msg_free(struct msg *m)
{
    if (m == NULL)
        return;
    if (m->spooling)
        spool_remove(&m->spool);
    free(m->qid);
    free(m->sender);
    strv_free(&m->esmtp_args);
    strv_free(&m->recipients);
    macro_cache_clear(&m->macros);
    free(m);
}

static struct msg *msg_get(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    if (c->msg == NULL)
        c->msg = xcalloc(1, sizeof *c->msg);
    return c->msg;
}

/*
 * The queue id: Sendmail sends "i" from MAIL on (its default
 * Milter.macros.envfrom); Postfix only once its queue file is open, which
 * by default (smtpd_delay_open_until_valid_rcpt) is after the first RCPT
 * it accepts, so not at MAIL nor at that first RCPT. Until then NOQUEUE.
 */
static const char *msg_qid(SMFICTX *ctx, struct msg *m)
{
    if (m->qid == NULL) {
        const char *i = smfi_getsymval(ctx, "i");
        if (i && *i)
            m->qid = xstrdup(i);
    }
    return m->qid ? m->qid : "NOQUEUE";
}

/* "<a@b>" -> "a@b"; the MTA hands envelope addresses bracketed. */
static char *address_strip(const char *arg)
{
    size_t len = strlen(arg);
    if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>')
        return xstrndup(arg + 1, len - 2);
    return xstrdup(arg);
}

static void request_fill(SMFICTX *ctx, struct conn *c,
                         struct mlm_request *req, enum mlm_stage stage)
{
    memset(req, 0, sizeof *req);
    req->stage = stage;
    req->hostip = c->hostip;
    req->hostname = c->hostname;
    req->helo = c->helo;
    if (c->msg) {
        req->qid = (char *)msg_qid(ctx, c->msg);
        req->sender = c->msg->sender;
        req->recipients = c->msg->recipients;
        req->esmtp_args = c->msg->esmtp_args;
    }
    struct macro_scopes scopes = {&c->macros, NULL, NULL};
    if (c->msg) {
        scopes.msg = &c->msg->macros;
        scopes.qid = c->msg->qid; /* set by msg_qid when the MTA sent it */
    }
    macros_fill(ctx, &scopes, stage, &req->macros);
}

/*
 * One info line per decision: every end of message, and any earlier stage
 * that did more than continue; with -d the other answers too, as debug
 * lines. Nothing per recipient added (a list post to 100,000 members is
 * one line); why a request failed is logged where it failed.
 */
static void decision_log(const struct mlm_request *req,
                         const struct mlm_reply *rep, int64_t started_us)
{
    int quiet = rep->action == ACT_FAILED ||
                (rep->action == ACT_CONTINUE && req->stage != STAGE_MESSAGE);
    if (quiet && !log_debug_enabled())
        return;
    unsigned added = 0;
    for (uint32_t i = 0; i < rep->nchanges; i++)
        added += rep->changes[i].kind == CHG_ADD_RCPT;
    (quiet ? msg_debug : msg_info)("%s: %s: from=<%s> rcpt=%s nrcpt=%u action=%s%s%s%s%s "
             "changes=%u added=%u reason=\"%s\" ms=%.1f",
             req->qid ? req->qid : "NOQUEUE", stage_name(req->stage),
             req->sender ? req->sender : "",
             req->recipient ? req->recipient : "-", req->recipients.n,
             action_name(rep->action), rep->code ? " code=" : "",
             rep->code ? rep->code : "", rep->dsn ? " dsn=" : "",
             rep->dsn ? rep->dsn : "", rep->nchanges, added,
             rep->text ? rep->text : "",
             (double)(now_us() - started_us) / 1000.0);
}

/* Whether the spool file may be reused after this end-of-message reply. */
static void spool_note_reply(struct spool *sp, const struct mlm_reply *rep)
{
    /* A failed request may have a worker still busy with the files. */
    sp->in_doubt = rep->action == ACT_FAILED;
}

/*
 * Ask about one stage and turn the answer into a milter status; sp is the
 * message's spool at end of message, else NULL.
 */
static sfsistat ask(SMFICTX *ctx, struct conn *c, struct mlm_request *req,
                    struct spool *sp)
{
    struct mlm_reply rep;
    char why[512];
    const char *qid = req->qid ? req->qid : "NOQUEUE";
    int64_t started = now_us();
    sfsistat st;
    if (mx_ask(req, &rep, why, sizeof why) == -1)
        st = apply_failure(ctx, qid, req->stage, why);
    else
        st = apply_reply(ctx, qid, req->stage, &rep,
                         sp ? sp->body_path : NULL,
                         !c->dsn                              ? DSN_NONE
                         : (c->actions & SMFIF_ADDRCPT_PAR) != 0 ? DSN_ALL
                                                                 : DSN_SENDER);
    if (sp)
        spool_note_reply(sp, &rep);
    decision_log(req, &rep, started);
    int big = rep.nchanges > 10000;
    reply_free(&rep);
    /*
     * glibc keeps freed memory in per-thread arenas: after the reply of a
     * big list expansion, give it back so mlmd does not grow per thread.
     */
    if (big)
        malloc_trim(0);
    return st; /* the request owns nothing: its macros are borrowed */
}

static int wants(struct conn *c, enum mlm_stage stage)
{
    return (c->stages & STAGE_BIT(stage)) != 0;
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3,
                             unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    struct conn *c = conn_get(ctx);
    unsigned long actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY |
                            SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM |
                            SMFIF_QUARANTINE;
    unsigned long skip = SMFIP_NOUNKNOWN | SMFIP_NODATA;
    int message = wants(c, STAGE_MESSAGE);
    if (!message)
        skip |= SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY;
    if (!message && !wants(c, STAGE_RECIPIENT))
        skip |= SMFIP_NORCPT;
    if (!message && !wants(c, STAGE_RECIPIENT) && !wants(c, STAGE_SENDER))
        skip |= SMFIP_NOMAIL;
    /* Headers and body are only spooled: the MTA need not wait for a reply. */
    unsigned long no_reply = SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY |
                             SMFIP_NR_UNKN | SMFIP_NR_DATA;
    /* optional: without it, added recipients go without ORCPT */
    *pf0 = (actions | SMFIF_ADDRCPT_PAR) & f0;
    c->actions = *pf0;
    *pf1 = (skip | no_reply) & f1;
    c->protocol = *pf1;
    *pf2 = *pf3 = 0;
    if ((f0 & actions) != actions)
        msg_warn("the MTA does not offer every action mlm needs "
                 "(offered 0x%lx, wanted 0x%lx)", f0, actions);
    return SMFIS_CONTINUE;
}

/*
 * dsn_parameters auto: only for Postfix (its connect macro "v" names it),
 * which stores ORCPT, RET and ENVID and warns about a bad one. Sendmail
 * with PrivacyOptions noreceipts (part of goaway) refuses ORCPT on an
 * added recipient and then silently adds no recipient at all: a post
 * answered 250 and delivered to nobody. yes: whatever the MTA.
 */
static int dsn_wanted(const char *mta_version)
{
    if (mlmd_cfg->dsn_parameters != DSN_AUTO)
        return mlmd_cfg->dsn_parameters == DSN_YES;
    return mta_version && strncmp(mta_version, "Postfix", 7) == 0;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *addr)
{
    struct conn *c = conn_get(ctx);
    char ip[INET6_ADDRSTRLEN] = "";
    if (addr && addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)addr)->sin_addr, ip,
                  sizeof ip);
    else if (addr && addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)addr)->sin6_addr, ip,
                  sizeof ip);
    free(c->hostip);
    free(c->hostname);
    macro_cache_clear(&c->macros); /* a new connection's macros follow */
    c->dsn = dsn_wanted(smfi_getsymval(ctx, "v"));
    c->hostip = xstrdup(ip);
    c->hostname = xstrdup(hostname ? hostname : "");
    if (!wants(c, STAGE_RELAY))
        return SMFIS_CONTINUE;
    struct mlm_request req;
    request_fill(ctx, c, &req, STAGE_RELAY);
    return ask(ctx, c, &req, NULL);
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
    struct conn *c = conn_get(ctx);
    free(c->helo);
    c->helo = xstrdup(helo ? helo : "");
    if (!wants(c, STAGE_HELO))
        return SMFIS_CONTINUE;
    struct mlm_request req;
    request_fill(ctx, c, &req, STAGE_HELO);
    return ask(ctx, c, &req, NULL);
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = conn_get(ctx);
    msg_free(c->msg); /* a new transaction replaces any leftover */
    c->msg = NULL;
    struct msg *m = msg_get(ctx);
    m->sender = address_strip(argv && argv[0] ? argv[0] : "");
    for (int i = 1; argv && argv[i]; i++)
        strv_push(&m->esmtp_args, argv[i]);
    if (!wants(c, STAGE_SENDER))
        return SMFIS_CONTINUE;
    struct mlm_request req;
    request_fill(ctx, c, &req, STAGE_SENDER);
    return ask(ctx, c, &req, NULL);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = conn_get(ctx);
    struct msg *m = msg_get(ctx);
    char *rcpt = address_strip(argv && argv[0] ? argv[0] : "");
    sfsistat st = SMFIS_CONTINUE;
    if (wants(c, STAGE_RECIPIENT)) {
        struct mlm_request req;
        request_fill(ctx, c, &req, STAGE_RECIPIENT);
        req.recipient = rcpt;
        st = ask(ctx, c, &req, NULL);
    }
    /* ctx.recipients holds the recipients the MTA will deliver to. */
    if (st == SMFIS_CONTINUE || st == SMFIS_ACCEPT)
        strv_push(&m->recipients, rcpt);
    free(rcpt);
    return st;
}

/*
 * Where the MTA agreed not to wait for our reply, libmilter expects
 * SMFIS_NOREPLY (anything else is logged as a protocol error).
 */
static sfsistat no_reply(struct conn *c, unsigned long flag)
{
    return c->protocol & flag ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/*
 * The spool opens at the first event that carries message content: a
 * header, the end of the headers or a body chunk. A message with no header
 * field starts at its end of headers (or, from an MTA that skips that
 * event, at its first body chunk), so nothing it sends is dropped.
 */
static void spool_start(SMFICTX *ctx, struct msg *m)
{
    if (m->spooling)
        return;
    m->spooling = 1;
    spool_open(&m->spool, mlmd_cfg->spool_dir, msg_qid(ctx, m));
}

static void spool_end_headers(SMFICTX *ctx, struct msg *m)
{
    spool_start(ctx, m);
    if (!m->headers_ended) {
        m->headers_ended = 1;
        spool_end_of_headers(&m->spool);
    }
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = conn_get(ctx);
    struct msg *m = msg_get(ctx);
    if (!wants(c, STAGE_MESSAGE))
        return no_reply(c, SMFIP_NR_HDR);
    spool_start(ctx, m);
    spool_header(&m->spool, name ? name : "", value ? value : "");
    return no_reply(c, SMFIP_NR_HDR);
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    struct msg *m = msg_get(ctx);
    if (wants(c, STAGE_MESSAGE))
        spool_end_headers(ctx, m);
    return no_reply(c, SMFIP_NR_EOH);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
    struct conn *c = conn_get(ctx);
    struct msg *m = msg_get(ctx);
    if (wants(c, STAGE_MESSAGE)) {
        spool_end_headers(ctx, m);
        spool_body(&m->spool, data, len);
    }
    return no_reply(c, SMFIP_NR_BODY);
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    struct msg *m = msg_get(ctx);
    sfsistat st = SMFIS_CONTINUE;
    if (wants(c, STAGE_MESSAGE)) {
        spool_end_headers(ctx, m); /* an empty message: no other event */
        if (spool_finish(&m->spool) == -1) {
            st = apply_failure(ctx, msg_qid(ctx, m), STAGE_MESSAGE,
                               "the message could not be spooled");
        } else {
            struct mlm_request req;
            request_fill(ctx, c, &req, STAGE_MESSAGE);
            req.spool_path = m->spool.path;
            req.size = m->spool.size;
            st = ask(ctx, c, &req, &m->spool);
        }
    }
    msg_free(c->msg);
    c->msg = NULL;
    return st;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c) {
        msg_free(c->msg);
        c->msg = NULL;
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c == NULL)
        return SMFIS_CONTINUE;
    msg_free(c->msg);
    free(c->hostip);
    free(c->hostname);
    free(c->helo);
    macro_cache_clear(&c->macros);
    free(c);
    smfi_setpriv(ctx, NULL);
    atomic_fetch_sub(&connections_open, 1);
    return SMFIS_CONTINUE;
}

struct smfiDesc mlmd_milter = {
    .xxfi_name = "mlmd",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY |
                  SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM |
                  SMFIF_QUARANTINE | SMFIF_ADDRCPT_PAR,
    .xxfi_connect = cb_connect,
    .xxfi_helo = cb_helo,
    .xxfi_envfrom = cb_envfrom,
    .xxfi_envrcpt = cb_envrcpt,
    .xxfi_header = cb_header,
    .xxfi_eoh = cb_eoh,
    .xxfi_body = cb_body,
    .xxfi_eom = cb_eom,
    .xxfi_abort = cb_abort,
    .xxfi_close = cb_close,
    .xxfi_negotiate = cb_negotiate,
};
