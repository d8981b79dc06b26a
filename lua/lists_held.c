/*
 * lists_held.c - the moderation queue from Lua: list:hold(ctx, reason),
 * list:held(id), list:held_retry(ctx) and list:approved(value [, ctx])
 * (see lists.c for the whole list API).
 *
 * An approved post is distributed once. list:held_retry and list:approved
 * each claim that one distribution when they find an approved post not
 * yet distributed (held_claim: one UPDATE, so of two concurrent retries
 * one wins); the post is then shown as "distributed", and later retries
 * and marks of it are duplicates. Within the request that claimed it the
 * post stays "approved" (a policy may check a mark, then hand the message
 * to the shipped policy, which checks it again).
 *
 * A request that claimed a post and did not distribute it (it failed, or
 * answered anything but continue or accept) undoes its claim at its end
 * (held_request_end), or at the end of a later request of this worker if
 * the database failed then; one that distributed confirms it the same
 * way, and a confirmed claim stands for good (a later copy, the retry of
 * an MTA that lost the 250, is a duplicate). A claim neither undone nor
 * confirmed (a worker killed, the database gone for both) is taken over
 * by the next copy of the same message once older than twice
 * request_timeout (held_claim).
 */
#include "luambind.h"
#include "log.h"
#include "db.h"
#include "lists.h"
#include "msgdigest.h"
#include "xmalloc.h"

#include <glib.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *secret_path;
static int claim_stale_s;
/* The claim this request made (id 0: none). */
static struct held_claim claimed;
/* A claim of an earlier request that did not distribute, not undone yet
   (id 0: none). */
static struct held_claim undo_pending;
/* A claim of an earlier request that distributed, not confirmed yet. */
static struct held_claim confirm_pending;

void held_configure(const char *secret_file, int request_timeout)
{
    free(secret_path);
    secret_path = secret_file ? xstrdup(secret_file) : NULL;
    /* a request is killed two seconds after request_timeout */
    claim_stale_s = request_timeout > 5 ? 2 * request_timeout : 10;
}

const char *held_secret_path(void)
{
    return secret_path;
}

void held_request_begin(void)
{
    claimed.id = 0;
}

/* Settle a pending claim (undo or confirm): 0, or -1 (logged). */
static int claim_settle(struct db *db, struct held_claim *c, int distributed)
{
    char why[512];
    if (held_claim_settle(db, c, distributed, why, sizeof why) == -1) {
        msg_warn("cannot %s the claim of held post %lld (tried again "
                 "after the next request): %s",
                 distributed ? "confirm" : "undo",
                 (long long)c->id, why);
        return -1;
    }
    c->id = 0;
    return 0;
}

/* Settle the pending claims, confirm first. */
static void claims_settle(struct db *db)
{
    if (db != NULL && confirm_pending.id != 0)
        claim_settle(db, &confirm_pending, 1);
    if (db != NULL && undo_pending.id != 0)
        claim_settle(db, &undo_pending, 0);
}

void held_request_end(struct db *db, int distributed)
{
    if (claimed.id != 0) {
        struct held_claim *slot = distributed ? &confirm_pending
                                              : &undo_pending;
        if (slot->id != 0)
            claims_settle(db); /* an older one first, not overwritten */
        if (slot->id != 0)
            msg_warn("the claim of held post %lld stays unsettled (taken "
                     "over once stale)", (long long)slot->id);
        *slot = claimed;
        claimed.id = 0;
    }
    claims_settle(db);
}

/* A claim for this request: its token is kept for held_request_end. */
static struct held_claim *claim_slot(struct held_claim *scratch)
{
    memset(scratch, 0, sizeof *scratch);
    scratch->stale_s = claim_stale_s;
    return scratch;
}

/*
 * After a claim: one this request holds (got, or -1: it may have
 * committed) is remembered for held_request_end.
 */
static void claim_done(int rc, const struct held_claim *c)
{
    if (rc == 0 || (rc == -1 && c->id != 0))
        claimed = *c;
}

/* The spooled message of a ctx: raw bytes (caller frees). */
static char *spool_slurp(lua_State *L, const char *path, size_t *len)
{
    gchar *data = NULL;
    gsize n = 0;
    GError *err = NULL;
    if (!g_file_get_contents(path, &data, &n, &err)) {
        lua_pushfstring(L, "cannot read the spooled message: %s",
                        err ? err->message : "?");
        g_clear_error(&err);
        lua_error(L);
    }
    *len = n;
    return data;
}

/* The first value of a header in the message on ctx, as a string or "". */
static void message_header(lua_State *L, int ctx_idx, const char *name,
                           char *out, size_t outlen)
{
    out[0] = '\0';
    lua_getfield(L, ctx_idx, "message");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "header");
    lua_pushvalue(L, -2);
    lua_pushstring(L, name);
    lua_call(L, 2, 1);
    if (lua_isstring(L, -1)) {
        snprintf(out, outlen, "%s", lua_tostring(L, -1));
        for (char *p = out; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = ' ';
    }
    lua_pop(L, 2);
}

static void held_fill(lua_State *L, struct held_info *h, const char *raw,
                      size_t len)
{
    struct stage_run *run = ctx_run(L, 2);
    memset(h, 0, sizeof *h);
    snprintf(h->sender, sizeof h->sender, "%s",
             run->req->sender ? run->req->sender : "");
    message_header(L, 2, "Subject", h->subject, sizeof h->subject);
    message_header(L, 2, "Message-ID", h->message_id, sizeof h->message_id);
    message_body_digest(raw, len, h->digest);
}

int list_hold(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    struct stage_run *run = ctx_run(L, 2);
    const char *reason = luaL_checkstring(L, 3);
    if (run->req->stage != STAGE_MESSAGE || run->req->spool_path == NULL)
        return luaL_error(L, "list:hold() needs the message (filter_message)");
    size_t len;
    char *raw = spool_slurp(L, run->req->spool_path, &len);
    struct held_info h;
    char why[512];
    held_fill(L, &h, raw, len);
    snprintf(h.reason, sizeof h.reason, "%s", reason);
    /* recorded: approving must do what the sender was told (250 or 450) */
    if (setting_get(lua_db(L), list, "hold_mode", h.hold_mode,
                    sizeof h.hold_mode, why, sizeof why) == -1) {
        g_free(raw);
        return luaL_error(L, "%s", why);
    }
    int64_t id = held_add(lua_db(L), list, &h, raw, len, why, sizeof why);
    g_free(raw);
    if (id < 0)
        return luaL_error(L, "%s", why);
    lua_pushinteger(L, id);
    return 1;
}

/*
 * The state a policy sees: "distributed" for an approved post sent once,
 * by another request than this one.
 */
static const char *held_state(const struct held_info *h)
{
    if (strcmp(h->state, "approved") == 0 && h->distributed_at != 0 &&
        h->id != claimed.id)
        return "distributed";
    return h->state;
}

void push_held(lua_State *L, const struct held_info *h)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, h->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, held_state(h));
    lua_setfield(L, -2, "state");
    lua_pushstring(L, h->sender);
    lua_setfield(L, -2, "sender");
    lua_pushstring(L, h->subject);
    lua_setfield(L, -2, "subject");
    lua_pushstring(L, h->reason);
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, h->decided_by);
    lua_setfield(L, -2, "decided_by");
    lua_pushinteger(L, h->received);
    lua_setfield(L, -2, "received");
}

int list_held(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    struct list_info owner;
    struct held_info h;
    char why[512];
    int rc = held_get(lua_db(L), id, &owner, &h, NULL, NULL, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc != 0 || owner.id != list->id)
        lua_pushnil(L);
    else
        push_held(L, &h);
    return 1;
}

/*
 * The held post this message retries (same envelope sender, Message-ID,
 * body and key headers: held_find_retry). An approved one not yet
 * distributed is claimed here and returned as "approved": the caller
 * distributes this message. Every later retry sees "distributed".
 */
int list_held_retry(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    struct stage_run *run = ctx_run(L, 2);
    if (run->req->stage != STAGE_MESSAGE || run->req->spool_path == NULL)
        return luaL_error(L, "list:held_retry() needs filter_message");
    size_t len;
    char *raw = spool_slurp(L, run->req->spool_path, &len);
    struct held_info probe, h;
    char why[512];
    held_fill(L, &probe, raw, len);
    struct db *db = lua_db(L);
    int rc = held_find_retry(db, list, probe.sender, probe.message_id, raw,
                             len, &h, why, sizeof why);
    char mark[HELD_CLAIM_MARK_HEX + 1];
    if (rc == 0)
        held_claim_mark(h.id, probe.sender, raw, len, mark);
    g_free(raw);
    /* distributed already: claimed again only by this message's own
       copy, after its claim went stale (held_claim) */
    if (rc == 0 && strcmp(h.state, "approved") == 0 && h.id != claimed.id) {
        struct list_info owner;
        struct held_claim c;
        int claim = held_claim(db, h.id, mark, claim_slot(&c), why,
                               sizeof why);
        claim_done(claim, &c);
        if (claim == DB_NOT_FOUND) /* distributed or reopened meanwhile */
            claim = held_get(db, h.id, &owner, &h, NULL, NULL, why,
                             sizeof why);
        if (claim == -1)
            return luaL_error(L, "%s", why);
    }
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc != 0)
        lua_pushnil(L);
    else
        push_held(L, &h);
    return 1;
}

/*
 * list:approved(value [, ctx]): the held id when value is a good mark for
 * this message (approval_check; the distribution is claimed), else nil
 * and why: "invalid", "expired", "used" (a duplicate of a post already
 * distributed) or "not approved". Without ctx, the request in progress.
 */
int list_approved(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *value = luaL_checkstring(L, 2);
    struct stage_run *run = lua_isnoneornil(L, 3) ? ctx_current(L)
                                                  : ctx_run(L, 3);
    if (run == NULL || run->req->stage != STAGE_MESSAGE ||
        run->req->spool_path == NULL)
        return luaL_error(L, "list:approved() needs the message "
                          "(filter_message)");
    size_t len;
    char *raw = spool_slurp(L, run->req->spool_path, &len);
    int64_t id = 0;
    char why[512];
    struct held_claim c;
    int rc = approval_check(lua_db(L), secret_path, list, value,
                            run->req->sender ? run->req->sender : "", raw,
                            len, &id, claim_slot(&c), why, sizeof why);
    g_free(raw);
    claim_done(rc == APPROVAL_GOOD ? 0 : rc, &c);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc == APPROVAL_GOOD || (rc == APPROVAL_USED && id == claimed.id)) {
        lua_pushinteger(L, id);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, approval_result_name(rc));
    return 2;
}
