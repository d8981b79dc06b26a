/*
 * apply.c - turns a worker's reply into milter return codes and actions.
 *
 * The changes of one end of message go out together or not at all: the
 * whole reply is validated before the first action is sent, and if the MTA
 * refuses one action mid-way the message is answered 451 4.3.0, which makes
 * the MTA drop every change already made (failure_action accept would keep
 * a half-changed message, so it does not apply here).
 */
#include "mlmd.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_CHUNK 65536

/* libmilter treats '%' in reply text as a format character: double it. */
static char *reply_escape(const char *text)
{
    size_t len = strlen(text), extra = 0;
    for (const char *p = text; *p; p++)
        extra += *p == '%';
    char *out = xmalloc(len + extra + 1), *q = out;
    for (const char *p = text; *p; p++) {
        *q++ = *p;
        if (*p == '%')
            *q++ = '%';
    }
    *q = '\0';
    return out;
}

static void set_reply(SMFICTX *ctx, const char *code, const char *dsn,
                      const char *text)
{
    char *escaped = reply_escape(text);
    if (smfi_setreply(ctx, (char *)code, (char *)dsn, escaped) != MI_SUCCESS)
        msg_warn("MTA refused reply %s %s %s", code, dsn, text);
    free(escaped);
}

static sfsistat tempfail_451(SMFICTX *ctx)
{
    set_reply(ctx, "451", "4.3.0",
              "Temporary failure in mailing list processing, try again later");
    return SMFIS_TEMPFAIL;
}

sfsistat apply_failure(SMFICTX *ctx, const char *qid, enum mlm_stage stage,
                       const char *why)
{
    int accept = mlmd_cfg->failure_action == FAILURE_ACCEPT;
    msg_error("%s: %s stage failed: %s; answering %s", qid ? qid : "NOQUEUE",
              stage_name(stage), why, accept ? "accept" : "451 4.3.0");
    return accept ? SMFIS_CONTINUE : tempfail_451(ctx);
}

static int replace_body(SMFICTX *ctx, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        msg_error("cannot open new body %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *chunk = xmalloc(BODY_CHUNK);
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = read(fd, chunk, BODY_CHUNK)) > 0)
        rc = smfi_replacebody(ctx, chunk, (int)n) == MI_SUCCESS ? 0 : -1;
    if (n == -1)
        rc = -1;
    free(chunk);
    close(fd); /* the spool empties or removes it with the message */
    return rc;
}

/*
 * "<addr>": the form both Sendmail and Postfix expect in envelope actions.
 * In the caller's buffer: reply_validate bounds an address far below it.
 */
static char *bracketed(const char *addr, char *out, size_t outlen)
{
    size_t len = strnlen(addr, outlen - 3);
    out[0] = '<';
    memcpy(out + 1, addr, len);
    memcpy(out + 1 + len, ">", 2);
    return out;
}

static int add_recipient(SMFICTX *ctx, const char *member, char *addr,
                         size_t addrlen, enum dsn_use dsn)
{
    char *args = dsn == DSN_ALL ? esmtp_rcpt_args(member) : NULL;
    int rc = args ? smfi_addrcpt_par(ctx, bracketed(member, addr, addrlen),
                                     args)
                  : smfi_addrcpt(ctx, bracketed(member, addr, addrlen));
    free(args);
    return rc;
}

static int change_sender(SMFICTX *ctx, const char *qid, const char *sender,
                         char *addr, size_t addrlen, enum dsn_use dsn)
{
    char *args = dsn != DSN_NONE ? esmtp_sender_args(qid) : NULL;
    int rc = smfi_chgfrom(ctx, bracketed(sender, addr, addrlen), args);
    free(args);
    return rc;
}

static int apply_change(SMFICTX *ctx, const char *qid,
                        const struct mlm_change *c, enum dsn_use dsn)
{
    char addr[1100];
    int rc = MI_FAILURE;
    switch (c->kind) {
    case CHG_ADD_HEADER:
        rc = smfi_addheader(ctx, c->name, c->value);
        break;
    case CHG_CHANGE_HEADER:
        rc = smfi_chgheader(ctx, c->name, (int)c->index, c->value);
        break;
    case CHG_DELETE_HEADER:
        rc = smfi_chgheader(ctx, c->name, (int)c->index, NULL);
        break;
    case CHG_ADD_RCPT:
        rc = add_recipient(ctx, c->value, addr, sizeof addr, dsn);
        break;
    case CHG_DELETE_RCPT:
        rc = smfi_delrcpt(ctx, bracketed(c->value, addr, sizeof addr));
        break;
    case CHG_CHANGE_SENDER:
        rc = change_sender(ctx, qid, c->value, addr, sizeof addr, dsn);
        break;
    case CHG_REPLACE_BODY:
        rc = replace_body(ctx, c->value) == 0 ? MI_SUCCESS : MI_FAILURE;
        break;
    case CHG_QUARANTINE:
        rc = smfi_quarantine(ctx, c->value);
        break;
    }
    return rc == MI_SUCCESS ? 0 : -1;
}

static sfsistat apply_changes(SMFICTX *ctx, const char *qid,
                              const struct mlm_reply *rep, enum dsn_use dsn)
{
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        if (apply_change(ctx, qid, &rep->changes[i], dsn) == -1) {
            msg_error("%s: the MTA refused change %u of %u; answering "
                      "451 4.3.0 so that none of them is kept",
                      qid, i + 1, rep->nchanges);
            return tempfail_451(ctx);
        }
    }
    return SMFIS_CONTINUE;
}

/*
 * expand_max: more recipients than the MTA adds within its end-of-message
 * timeout would have it give up on every attempt, the post never passing
 * and the client trying for days. Refused before the first action, 451
 * (the sender's MTA keeps the post while the admin raises the limit or
 * the MTA's timeout), and logged as an error for the admin.
 */
static int expansion_too_big(const char *qid, const struct mlm_reply *rep)
{
    if (mlmd_cfg->expand_max <= 0)
        return 0;
    long added = 0;
    for (uint32_t i = 0; i < rep->nchanges; i++)
        added += rep->changes[i].kind == CHG_ADD_RCPT;
    if (added <= mlmd_cfg->expand_max)
        return 0;
    msg_error("%s: the policy adds %ld recipients, more than expand_max "
              "(%ld): answering 451 4.3.0; raise expand_max if the MTA adds "
              "that many within its end-of-message timeout", qid, added,
              mlmd_cfg->expand_max);
    return 1;
}

static sfsistat expansion_refused(SMFICTX *ctx)
{
    set_reply(ctx, "451", "4.3.0",
              "Too many list members to expand here, try again later");
    return SMFIS_TEMPFAIL;
}

/*
 * A body change must name the transaction's own body file: the worker
 * cannot make mlmd read (or the spool empty) any other file.
 */
static int body_misplaced(const struct mlm_reply *rep, const char *body_path,
                          char *why, size_t whylen)
{
    for (uint32_t i = 0; i < rep->nchanges; i++)
        if (rep->changes[i].kind == CHG_REPLACE_BODY &&
            (body_path == NULL || strcmp(rep->changes[i].value, body_path) != 0))
            return snprintf(why, whylen, "change %u names a foreign body file",
                            i), 1;
    return 0;
}

/* Changes belong to end of message only; the MTA refuses them earlier. */
static int reply_misplaced(char *why, size_t whylen)
{
    snprintf(why, whylen, "changes requested before end of message");
    return 1;
}

sfsistat apply_reply(SMFICTX *ctx, const char *qid, enum mlm_stage stage,
                     const struct mlm_reply *rep, const char *body_path,
                     enum dsn_use dsn)
{
    char why[256];
    qid = qid ? qid : "NOQUEUE";
    if (rep->action == ACT_FAILED)
        return apply_failure(ctx, qid, stage, rep->text ? rep->text
                                                        : "policy failed");
    if (reply_validate(rep, why, sizeof why) == -1 ||
        (rep->nchanges && stage != STAGE_MESSAGE &&
         reply_misplaced(why, sizeof why)) ||
        body_misplaced(rep, body_path, why, sizeof why))
        return apply_failure(ctx, qid, stage, why);
    switch (rep->action) {
    case ACT_REJECT:
    case ACT_TEMPFAIL:
        set_reply(ctx, rep->code ? rep->code
                  : rep->action == ACT_REJECT ? "550" : "451",
                  rep->dsn ? rep->dsn
                  : rep->action == ACT_REJECT ? "5.7.1" : "4.3.0",
                  rep->text ? rep->text
                  : rep->action == ACT_REJECT ? "Rejected by policy"
                                              : "Try again later");
        return rep->action == ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    case ACT_DISCARD:
        return SMFIS_DISCARD;
    case ACT_ACCEPT:
    case ACT_CONTINUE: {
        if (expansion_too_big(qid, rep))
            return expansion_refused(ctx);
        sfsistat st = apply_changes(ctx, qid, rep, dsn);
        if (st != SMFIS_CONTINUE)
            return st;
        return rep->action == ACT_ACCEPT ? SMFIS_ACCEPT : SMFIS_CONTINUE;
    }
    default:
        return apply_failure(ctx, qid, stage, "unknown action");
    }
}
