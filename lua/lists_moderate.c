/*
 * lists_moderate.c - moderation by reply from Lua (see lists.c for the
 * whole list API):
 *
 *   list:moderation_token(id, action, moderator)  the token (db.h,
 *       modtoken_make) for moderator to take action on held post id
 *   list:moderate(action, token, moderator)  check the token against
 *       moderator (the reply's address) and, when good, decide: the held
 *       post's table (as list:held returns it, state decided, decided_by
 *       the moderator); else nil and why ("invalid", "expired", "used",
 *       "not a moderator", or "failed: ..." when approving could not
 *       re-inject the post: it is pending again).
 *
 *   list:request_token(id, action, owner)  the token (db.h, reqtoken_make)
 *       for owner to approve or reject subscription request id
 *   list:decide_request(action, token, owner)  check the token against
 *       owner and, when good, decide as mlm-ctl requests approve|reject
 *       does (approve: the member added in the same transaction):
 *       {id =, address =, state =, decided_by =, added = (false when the
 *       address was a member already)}; else nil and why ("invalid",
 *       "expired", "used", "not a moderator" (here: no longer an owner),
 *       or "banned": the request stays pending).
 *
 * Approving does what mlm-ctl held approve does (ctl/held_cmd.c): under
 * hold_mode defer it only records the decision; else the decision is
 * recorded first and the post re-injected to the list from its -bounces
 * address with an X-Mlm-Approved mark, undone when that fails.
 */
#include "luambind.h"
#include "db.h"
#include "lists.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The refusal's two values: nil and why. */
static int nil_and(lua_State *L, const char *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

int list_moderation_token(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    const char *action = luaL_checkstring(L, 3);
    const char *moderator = luaL_checkstring(L, 4);
    char token[MODTOKEN_MAX + 1], why[512];
    if (modtoken_make(lua_db(L), held_secret_path(), list, id, action,
                      moderator, token, sizeof token, why, sizeof why) == -1)
        return luaL_error(L, "%s", why);
    lua_pushstring(L, token);
    return 1;
}

/* Re-inject approved post id (raw) with its mark; 0 or -1 with why. */
static int moderate_inject(struct db *db, const struct list_info *list,
                           int64_t id, const char *raw, size_t rawlen,
                           char *why, size_t whylen)
{
    char bounces[600], mark[700];
    snprintf(bounces, sizeof bounces, "%s-bounces@%s", list->name,
             list->domain);
    if (approval_mark(db, held_secret_path(), list, id,
                      (int64_t)time(NULL) + APPROVAL_LIFETIME, bounces, raw,
                      rawlen, mark, sizeof mark, why, whylen) == -1)
        return -1;
    size_t first = strcspn(raw, "\n");
    const char *eol = first < rawlen && first > 0 && raw[first - 1] == '\r'
                          ? "\r\n" : "\n";
    size_t hlen = strlen(APPROVAL_HEADER) + 2 + strlen(mark) + strlen(eol);
    char *msg = malloc(hlen + rawlen + 1);
    if (msg == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    snprintf(msg, hlen + 1, "%s: %s%s", APPROVAL_HEADER, mark, eol);
    memcpy(msg + hlen, raw, rawlen);
    int rc = sendmail_send(bounces, list->address, msg, hlen + rawlen);
    free(msg);
    if (rc == -1)
        snprintf(why, whylen, "the sendmail command failed");
    return rc;
}

int list_moderate(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *action = luaL_checkstring(L, 2);
    const char *token = luaL_checkstring(L, 3);
    const char *moderator = luaL_checkstring(L, 4);
    struct db *db = lua_db(L);
    int64_t id = 0;
    char why[1024];
    int rc = modtoken_check(db, held_secret_path(), list, token, action,
                            moderator, &id, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc != MODTOKEN_GOOD)
        return nil_and(L, modtoken_result_name(rc));
    const char *state = strcmp(action, "approve") == 0  ? "approved"
                        : strcmp(action, "reject") == 0 ? "rejected"
                                                        : "discarded";
    int approve = *state == 'a';
    struct list_info owner;
    struct held_info h;
    void *raw = NULL;
    size_t rawlen = 0;
    char mode[32] = "";
    if (held_get(db, id, &owner, &h, approve ? &raw : NULL, &rawlen, why,
                 sizeof why) != 0)
        return luaL_error(L, "%s", why);
    if (approve && *h.hold_mode)
        snprintf(mode, sizeof mode, "%s", h.hold_mode);
    else if (approve && setting_get(db, list, "hold_mode", mode, sizeof mode,
                                    why, sizeof why) == -1) {
        free(raw);
        return luaL_error(L, "%s", why);
    }
    rc = held_decide(db, id, state, moderator, why, sizeof why);
    if (rc == DB_NOT_FOUND) { /* decided meanwhile by another reply */
        free(raw);
        return nil_and(L, "used");
    }
    if (rc != 0) {
        free(raw);
        return luaL_error(L, "%s", why);
    }
    if (approve && strcmp(mode, "defer") != 0 &&
        moderate_inject(db, list, id, raw, rawlen, why, sizeof why) == -1) {
        char undo[512];
        free(raw);
        if (held_reopen(db, id, "approved", undo, sizeof undo) != 0)
            return luaL_error(L, "held post %lld approved but not re-injected "
                              "(%s), and not reopened: %s", (long long)id,
                              why, undo);
        lua_pushnil(L);
        lua_pushfstring(L, "failed: %s", why);
        return 2;
    }
    free(raw);
    snprintf(h.state, sizeof h.state, "%s", state);
    snprintf(h.decided_by, sizeof h.decided_by, "%s", moderator);
    push_held(L, &h);
    return 1;
}

int list_request_token(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    const char *action = luaL_checkstring(L, 3);
    const char *owner = luaL_checkstring(L, 4);
    char token[MODTOKEN_MAX + 1], why[512];
    if (reqtoken_make(lua_db(L), held_secret_path(), list, id, action, owner,
                      token, sizeof token, why, sizeof why) == -1)
        return luaL_error(L, "%s", why);
    lua_pushstring(L, token);
    return 1;
}

int list_decide_request(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *action = luaL_checkstring(L, 2);
    const char *token = luaL_checkstring(L, 3);
    const char *owner = luaL_checkstring(L, 4);
    struct db *db = lua_db(L);
    int64_t id = 0;
    char why[1024];
    int rc = reqtoken_check(db, held_secret_path(), list, token, action,
                            owner, &id, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc != MODTOKEN_GOOD)
        return nil_and(L, modtoken_result_name(rc));
    struct list_info of;
    struct request_info r;
    int added = 1;
    if (strcmp(action, "approve") == 0) {
        rc = request_approve(db, id, owner, &of, &r, why, sizeof why);
        if (rc == DB_EXISTS)
            added = 0;
        else if (rc != 0) {
            if (rc == -1)
                return luaL_error(L, "%s", why);
            return nil_and(L, rc == DB_REFUSED ? "banned" : "used");
        }
    } else {
        rc = request_decide(db, id, "rejected", owner, why, sizeof why);
        if (rc == DB_NOT_FOUND) /* decided meanwhile */
            return nil_and(L, "used");
        if (rc != 0 || request_get(db, id, &of, &r, why, sizeof why) != 0)
            return luaL_error(L, "%s", why);
        added = 0;
    }
    /* request_approve read the row before deciding it */
    snprintf(r.state, sizeof r.state, "%s",
             *action == 'a' ? "approved" : "rejected");
    snprintf(r.decided_by, sizeof r.decided_by, "%s", owner);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)r.id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, r.address);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, r.state);
    lua_setfield(L, -2, "state");
    lua_pushstring(L, r.decided_by);
    lua_setfield(L, -2, "decided_by");
    lua_pushboolean(L, added);
    lua_setfield(L, -2, "added");
    return 1;
}
