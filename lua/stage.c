/*
 * stage.c - running one filter_* function for one request.
 *
 * The function gets a fresh ctx; its return value becomes the reply; a
 * footer it asked for is rendered after it returns (into a body file next
 * to the spooled message, applied by mlmd). Any Lua error, bad return value
 * or limit turns the whole reply into ACT_FAILED: nothing half-done leaves.
 */
#include "policy.h"
#include "footer.h"
#include "wrap.h"
#include "db.h"
#include "luambind.h"
#include "log.h"
#include "xmalloc.h"

#include <gmime/gmime.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* s, at most max bytes of it, copied to p; the end of the copy. */
static char *put(char *p, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    memcpy(p, s, n);
    return p + n;
}

/* Who a request's changes are by, for the change log: "mail from <SENDER>
 * (QUEUE-ID)", the sender cut to 120 bytes and the queue id to 40 (within
 * DB_ACTOR_MAX). Put together by hand: it runs for every request. */
static void actor_of_mail(char out[DB_ACTOR_MAX + 1], const char *sender,
                          const char *qid)
{
    char *p = put(out, "mail from <", 11);
    p = put(p, sender ? sender : "", 120);
    p = put(p, "> (", 3);
    p = put(p, qid ? qid : "NOQUEUE", 40);
    *p++ = ')';
    *p = '\0';
}

/* Render ctx:add_footer into a body file; 0 or -1 with why. */
static int footer_render(struct stage_run *run, char *why, size_t whylen)
{
    struct message *m = run_message(run);
    char path[4200];
    snprintf(path, sizeof path, "%s.body", run->req->spool_path);
    int rc = message_footer_plain(m, run->footer_text, path, why, whylen);
    if (rc == 0) {
        GMimeMessage *gm = message_gmime(m, why, whylen);
        if (gm == NULL)
            return -1;
        GMimeObject *top = g_mime_message_get_mime_part(gm);
        /* a part the writer cannot give back as it came: no footer */
        if (top == NULL || !message_body_reproducible(m, top)) {
            msg_info("%s: no footer: the message's MIME structure is not "
                     "one mlm can write back unchanged", run->req->qid ?
                     run->req->qid : "NOQUEUE");
            return 0;
        }
        rc = footer_apply(gm, run->footer_text, run->footer_html, path,
                          run->rep, why, whylen);
    }
    if (rc == 1)
        reply_add_change(run->rep, CHG_REPLACE_BODY, NULL, path, 0);
    return rc == -1 ? -1 : 0;
}

/* Render ctx:wrap_message into a body file (the footer goes into its text
 * part); 0 or -1 with why. */
static int wrap_render(struct stage_run *run, char *why, size_t whylen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s.body", run->req->spool_path);
    if (wrap_write(run->req->spool_path, run->wrap_boundary, run->wrap_text,
                   run->footer_set ? run->footer_text : NULL, path, why,
                   whylen) == -1)
        return -1;
    reply_add_change(run->rep, CHG_REPLACE_BODY, NULL, path, 0);
    return 0;
}

/* The first line of a Lua error (file:line: message), for replies. */
static char *first_line(const char *s)
{
    return xstrndup(s, strcspn(s, "\n"));
}

/* Drop the changes, and the body file a footer may have written. */
static void reply_discard(struct mlm_reply *rep, enum mlm_action action)
{
    for (uint32_t i = 0; i < rep->nchanges; i++)
        if (rep->changes[i].kind == CHG_REPLACE_BODY)
            unlink(rep->changes[i].value);
    reply_free(rep);
    reply_init(rep, action);
}

/*
 * The message went past a MIME limit (mime_limits.c) when something
 * needed its MIME tree: it is refused (a permanent property of the
 * message: 552 5.3.4, as for a size limit) whatever the policy made of
 * the error, unless the policy itself discarded or rejected it (nothing
 * is delivered then either: NAME-bounces@ drops a hostile "bounce" with
 * 250, as it drops every mail it cannot read).
 */
static void mime_refuse(const struct mlm_request *req, struct mlm_reply *rep,
                        const char *refusal)
{
    msg_warn("%s: message refused: %s", req->qid && *req->qid ? req->qid
                                                                : "NOQUEUE",
             refusal);
    reply_discard(rep, ACT_REJECT);
    rep->code = xstrdup("552");
    rep->dsn = xstrdup("5.3.4");
    char text[256];
    snprintf(text, sizeof text, "Message refused: %s", refusal);
    rep->text = xstrdup(text);
}

static void run_end(struct policy *p, struct stage_run *run)
{
    p->in_request = 0;
    lua_sethook(p->L, lua_gethook(p->L), LUA_MASKCOUNT,
                HOOK_EVERY);
    ctx_detach_all(p->L);
    message_free(run->message);
    free(run->footer_text);
    free(run->wrap_text);
    auth_run_free(run);
    free(run->footer_html);
    lua_settop(p->L, 0);
    /*
     * After a memory limit, collect now; if the policy still holds more
     * than half its allowance (in globals), the next request would fail
     * too: the worker asks to be replaced.
     */
    if (p->limit_hit == LIMIT_MEMORY && p->mem_limit) {
        lua_gc(p->L, LUA_GCCOLLECT);
        p->worn_out = p->mem_used > p->mem_limit / 2;
    }
}

int policy_run(struct policy *p, const struct mlm_request *req,
               struct mlm_reply *rep, const char *spool_dir, char *why,
               size_t whylen)
{
    struct stage_run run = {.req = req, .rep = rep};
    int rc = 0;
    reply_init(rep, ACT_CONTINUE);
    lua_settop(p->L, 0);
    if (lua_getglobal(p->L, stage_function(req->stage)) != LUA_TFUNCTION) {
        lua_pop(p->L, 1);
        return 0; /* nothing to ask: continue */
    }
    if (req->stage == STAGE_MESSAGE &&
        spool_path_check(req->spool_path, spool_dir, why, whylen) == -1) {
        lua_pop(p->L, 1);
        reply_init(rep, ACT_FAILED);
        rep->text = first_line(why);
        return -1;
    }
    p->insn_count = 0;
    p->limit_hit = 0;
    p->in_request = 1;
    char actor[DB_ACTOR_MAX + 1];
    actor_of_mail(actor, req->sender, req->qid);
    lists_request_begin(actor);
    ctx_push(p->L, &run);
    rc = policy_pcall(p->L, 1, 1, why, whylen);
    if (rc == 0 && reply_from_lua(p->L, -1, rep, why, whylen) == -1) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s %s", p->path,
                 stage_function(req->stage), why);
        snprintf(why, whylen, "%s", msg);
        rc = -1;
    }
    /*
     * A limit fails the request even when the policy caught the error.
     * The instruction limit's own error already names file and line; a
     * memory error carries no position, so name the policy and stage.
     */
    if (p->limit_hit == LIMIT_MEMORY ||
        (p->limit_hit == LIMIT_INSTRUCTIONS && rc == 0)) {
        snprintf(why, whylen, "%s: %s: %s limit (%ld) exceeded", p->path,
                 stage_function(req->stage),
                 p->limit_hit == LIMIT_INSTRUCTIONS ? "instruction" : "memory",
                 p->limit_hit == LIMIT_INSTRUCTIONS ? p->insn_limit
                                                    : (long)p->mem_limit);
        rc = -1;
    }
    if (rc == 0 && run.wrap_set && rep->action <= ACT_ACCEPT)
        rc = wrap_render(&run, why, whylen);
    else if (rc == 0 && run.footer_set && rep->action <= ACT_ACCEPT)
        rc = footer_render(&run, why, whylen);
    const char *refusal = run.message ? message_mime_refusal(run.message)
                                      : NULL;
    int refused = refusal != NULL &&
                  !(rc == 0 && (rep->action == ACT_DISCARD ||
                                rep->action == ACT_REJECT));
    if (refused)
        mime_refuse(req, rep, refusal);
    else if (refusal)
        msg_info("%s: past a MIME limit (%s): the policy's %s stands",
                 req->qid && *req->qid ? req->qid : "NOQUEUE", refusal,
                 action_name(rep->action));
    run_end(p, &run);
    lists_request_end(!refused && rc == 0 && rep->action <= ACT_ACCEPT);
    if (refused)
        return 0;
    if (rc == -1) {
        reply_discard(rep, ACT_FAILED);
        rep->text = first_line(why);
    }
    return rc;
}
