/*
 * lists.c - the list database from Lua.
 *
 *   mlm.list(address)           a list object, or nil
 *   mlm.resolve(address)        kind, list: kind is "post", "request",
 *                               "owner", "bounces", "unknown" (a list
 *                               domain, no such list) or nil (not ours)
 *   list.address .name .domain  and every setting by name (list.posting)
 *   list:member(addr [, role])  the membership as a table, or nil
 *   list:roles(addr)            {member = true, owner = true, ...} or nil
 *   list:memberships(addr)      {member = <membership>, ...} or nil: every
 *                               role in one query
 *   list:recipients()           iterator over the addresses that get posts
 *   list:add_recipients(ctx [, skip])  add them all to the message's
 *                               envelope (in C: no Lua string per
 *                               member), but those in the array skip;
 *                               the count
 *   list:members([role])        iterator over membership tables
 *   list:accepts_nonmember(a)   a's address or @domain is accept_nonmembers
 *   list:is_banned(a)           ... is banned (both by address_key)
 *   list:hold(ctx, reason)      store the post for the moderators: its id
 *   list:held(id)               a held message's state, or nil
 *   list:held_retry(ctx)        the held post this one retries, or nil
 *                               (an approved one is claimed: see
 *                               lists_held.c)
 *   list:approved(value [, ctx])  the held id an X-Mlm-Approved value on
 *                               this message proves (claimed), or nil
 *                               and why
 *   list:record_bounce(addr, status [, diagnostic])  new score, disabled,
 *                               probe (send one: list:start_probe)
 *   list:start_probe(addr)      a new probe token for the member, or nil
 *   list:probe_bounced(token)   address, disabled; nil for no such probe
 *   list:add_member(addr [, role [, name]])   true, or nil and why
 *   list:remove_member(addr [, role])         true, or nil and why
 *   list:set_member(addr, key, value [, role])  as mlm-ctl member set
 *                               (moderated, delivery, not-me-too, name):
 *                               true, or nil and why (no such member)
 *   list:token(addr, action)    a confirmation token, or nil and why
 *                               (one per address and list an hour)
 *   mlm.take_token(token)       list, address, action, once; or nil
 *   mlm.reply_quota(address)    true when NAME-request@ may send address
 *                               one more reply (it is counted), or false
 *                               and why: REPLY_LIMIT an hour, all lists
 *   mlm.db:exec(sql, ...)       admins' own SQL, bound parameters only
 *   mlm.db:rows(sql, ...)       iterator over result rows (tables)
 *
 * The worker opens the database on first use; any database failure is a
 * Lua error, which makes the request fail with failure_action. The
 * moderation queue's methods (hold, held, held_retry, approved) are in
 * lists_held.c.
 */
#include "luambind.h"
#include "db.h"
#include "lists.h"
#include "mlmconf.h"
#include "xmalloc.h"

#include <errno.h>
#include <glib.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mlm_lua_configure(const struct mlm_config *cfg)
{
    /* connecting, a statement, and the one retry of both end within
       the decision's time */
    long db_timeout = cfg->decision_timeout / 5;
    lists_db_configure(cfg->database, db_timeout < 1 ? 1 : (int)db_timeout);
    held_configure(cfg->secret_file, cfg->request_timeout);
    sendmail_configure(cfg->sendmail, cfg->request_timeout);
    mime_limits_configure(cfg->mime_max_parts, cfg->mime_max_depth,
                          cfg->mime_max_headers);
    auth_configure(cfg);
}

void lists_request_begin(const char *actor)
{
    held_request_begin();
    lists_db_request_begin(actor);
}

void lists_request_end(int distributed)
{
    held_request_end(lists_db_if_open(), distributed);
}

static int l_list(lua_State *L)
{
    const char *address = luaL_checkstring(L, 1);
    struct list_info info;
    char why[512];
    int rc = list_find(lua_db(L), address, &info, why, sizeof why);
    if (rc == -1 && strncmp(why, "bad address", 11) != 0)
        return luaL_error(L, "%s", why);
    if (rc != 0)
        lua_pushnil(L);
    else
        list_push(L, &info);
    return 1;
}

static int l_resolve(lua_State *L)
{
    const char *address = luaL_checkstring(L, 1);
    struct list_info info;
    enum address_kind kind;
    char why[512];
    if (address_resolve(lua_db(L), address, &kind, &info, why, sizeof why) ==
        -1)
        return luaL_error(L, "%s", why);
    if (kind == ADDR_NOT_OURS) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, address_kind_name(kind));
    if (kind == ADDR_UNKNOWN)
        return 1;
    list_push(L, &info);
    const char *at = strrchr(address, '@');
    const char *plus = strchr(address, '+');
    if ((kind == ADDR_REQUEST || kind == ADDR_BOUNCES) && plus && at &&
        plus < at) {
        lua_pushlstring(L, plus + 1, (size_t)(at - plus - 1));
        return 3;
    }
    return 2;
}

#define STORED_SETTINGS_MAX 64

struct stored_settings {
    const char *key[STORED_SETTINGS_MAX];   /* list_settings[] names */
    char *value[STORED_SETTINGS_MAX];
    int n;
};

static void stored_add(const char *key, const char *value, void *arg)
{
    struct stored_settings *ss = arg;
    const struct setting_def *d = setting_find(key);
    if (d && ss->n < STORED_SETTINGS_MAX) {
        ss->key[ss->n] = d->key;
        ss->value[ss->n++] = xstrdup(value);
    }
}

/*
 * A list's fields: address, name, domain, id and every setting but the
 * pattern ones, typed (counts as integers, defaults filled in), read in
 * one query. A post reads about a dozen; one query each was a sixth of
 * the worker's work, and one query per list object still a twentieth.
 * So the tables are kept in the registry (FIELDS_KEY) for as long as the
 * database stamp holds, at most FIELDS_KEPT lists, and a list object keeps
 * its table in its user value for the rest of its request.
 */
static const char FIELDS_KEY[] = "mlm.list_fields";
#define FIELDS_KEPT 64
enum { FIELDS_VERSION = -1, FIELDS_OWN = -2, FIELDS_COUNT = -3 };

static void push_new_fields(lua_State *L, const struct list_info *list)
{
    struct stored_settings ss = {.n = 0};
    char why[512];
    int rc = settings_each(lua_db(L), list, stored_add, &ss, why, sizeof why);
    /* Copied first: a Lua error while pushing must not leave a query open. */
    lua_createtable(L, 0, 32);
    for (int i = 0; i < ss.n; i++) {
        lua_pushstring(L, ss.value[i]);
        free(ss.value[i]);
        lua_setfield(L, -2, ss.key[i]);
    }
    if (rc == -1)
        luaL_error(L, "%s", why);
    for (const struct setting_def *d = list_settings; d->key; d++) {
        if (d->type == SET_PATTERNS)
            continue;
        if (lua_getfield(L, -1, d->key) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushstring(L, d->dflt);
        }
        if (d->type == SET_COUNT) {
            long long count = strtoll(lua_tostring(L, -1), NULL, 10);
            lua_pop(L, 1);
            lua_pushinteger(L, count);
        }
        lua_setfield(L, -2, d->key);
    }
    lua_pushstring(L, list->address);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, list->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, list->domain);
    lua_setfield(L, -2, "domain");
    lua_pushinteger(L, list->id);
    lua_setfield(L, -2, "id");
}

/* The registry's table of kept fields, emptied when the stamp moved. */
static void push_fields_kept(lua_State *L)
{
    struct db_stamp now;
    char why[512];
    if (db_stamp_now(lua_db(L), &now, why, sizeof why) == -1)
        luaL_error(L, "%s", why);
    if (lua_getfield(L, LUA_REGISTRYINDEX, FIELDS_KEY) == LUA_TTABLE) {
        lua_rawgeti(L, -1, FIELDS_VERSION);
        lua_rawgeti(L, -2, FIELDS_OWN);
        lua_rawgeti(L, -3, FIELDS_COUNT);
        int same = lua_tointeger(L, -3) == now.version &&
                   lua_tointeger(L, -2) == now.own &&
                   lua_tointeger(L, -1) < FIELDS_KEPT;
        lua_pop(L, 3);
        if (same)
            return;
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, now.version);
    lua_rawseti(L, -2, FIELDS_VERSION);
    lua_pushinteger(L, now.own);
    lua_rawseti(L, -2, FIELDS_OWN);
    lua_pushinteger(L, 0);
    lua_rawseti(L, -2, FIELDS_COUNT);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, FIELDS_KEY);
}

/* Push the fields table of the list object at list_idx. */
static void push_list_fields(lua_State *L, int list_idx)
{
    list_idx = lua_absindex(L, list_idx);
    if (lua_getiuservalue(L, list_idx, 1) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    const struct list_info *list = lua_touserdata(L, list_idx);
    push_fields_kept(L);
    if (lua_rawgeti(L, -1, list->id) != LUA_TTABLE) {
        lua_pop(L, 1);
        push_new_fields(L, list);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, list->id);
        lua_rawgeti(L, -2, FIELDS_COUNT);
        lua_Integer count = lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_pushinteger(L, count + 1);
        lua_rawseti(L, -3, FIELDS_COUNT);
    }
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, list_idx, 1);
}

/* A pattern setting as an array of patterns. */
static void push_patterns(lua_State *L, struct list_info *list,
                          const struct setting_def *d)
{
    char value[8192], why[512];
    if (setting_get(lua_db(L), list, d->key, value, sizeof value, why,
                    sizeof why) == -1)
        luaL_error(L, "%s", why);
    lua_newtable(L);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(value, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        lua_pushstring(L, tok);
        lua_rawseti(L, -2, ++n);
    }
}

static int l_member(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    const char *role = luaL_optstring(L, 3, "member");
    struct member_info m;
    char why[512];
    if (!role_valid(role))
        return luaL_argerror(L, 3, "member, moderator or owner");
    int rc = member_get(lua_db(L), list, address, role, &m, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc == DB_NOT_FOUND)
        lua_pushnil(L);
    else
        push_member(L, &m);
    return 1;
}

/*
 * The roles address holds, from one query: the table on top gets, for each,
 * role = true (as_tables 0) or role = its membership table (as_tables 1).
 * Pushes nil instead when it holds none.
 */
static int push_roles(lua_State *L, int as_tables)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    struct member_info held[3];
    char why[512];
    int n = member_roles(lua_db(L), list, address, held, why, sizeof why);
    if (n == -1)
        return luaL_error(L, "%s", why);
    if (n == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        if (as_tables)
            push_member(L, &held[i]);
        else
            lua_pushboolean(L, 1);
        lua_setfield(L, -2, held[i].role);
    }
    return 1;
}

static int l_roles(lua_State *L) { return push_roles(L, 0); }
static int l_memberships(lua_State *L) { return push_roles(L, 1); }

static int pattern_check(lua_State *L, const char *kind)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    char why[512];
    int rc = pattern_match(lua_db(L), list, kind, address, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    lua_pushboolean(L, rc);
    return 1;
}

static int l_accepts_nonmember(lua_State *L)
{
    return pattern_check(L, "accept_nonmembers");
}
static int l_banned(lua_State *L) { return pattern_check(L, "banned"); }

static int l_recipients(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    lua_settop(L, 1);
    lua_pushinteger(L, list->id);
    struct dbq *st = prepare_bound(
        L, "SELECT address FROM members WHERE list_id = ? AND role = 'member' "
           "AND delivery = 'enabled' ORDER BY address", 2);
    return push_rows(L, st, ROWS_FIRST_COLUMN);
}

/* At most this many addresses are left out of one expansion. */
#define EXPANSION_SKIP_MAX 8

struct expansion {
    struct mlm_reply *rep;
    lua_Integer added;
    const char *skip[EXPANSION_SKIP_MAX]; /* stored addresses left out */
    int nskip;
};

static void expansion_add(const char *address, void *arg)
{
    struct expansion *x = arg;
    for (int i = 0; i < x->nskip; i++)
        if (strcmp(address, x->skip[i]) == 0)
            return;
    /* recipients_each hands out valid addresses only */
    reply_add_change(x->rep, CHG_ADD_RCPT, NULL, address, 0);
    x->added++;
}

/*
 * list:add_recipients(ctx [, skip]): skip, an array of member addresses
 * as the database holds them (membership.address), the first
 * EXPANSION_SKIP_MAX of which are left out (a poster's not-me-too).
 */
static int l_add_recipients(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    struct stage_run *run = ctx_run(L, 2);
    char why[512];
    if (run->req->stage != STAGE_MESSAGE)
        return luaL_error(L, "list:add_recipients() is for filter_message");
    struct expansion x = {.rep = run->rep};
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        for (lua_Integer i = 1; x.nskip < EXPANSION_SKIP_MAX; i++) {
            /* the strings stay referenced by the table at index 3 */
            if (lua_rawgeti(L, 3, i) != LUA_TSTRING) {
                lua_pop(L, 1);
                break;
            }
            x.skip[x.nskip++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    if (recipients_each(lua_db(L), list, expansion_add, &x, why,
                        sizeof why) == -1)
        return luaL_error(L, "%s", why);
    lua_pushinteger(L, x.added);
    return 1;
}

static int l_members(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *role = luaL_optstring(L, 2, NULL);
    if (role && !role_valid(role))
        return luaL_argerror(L, 2, "member, moderator or owner");
    lua_settop(L, 2);
    lua_pushinteger(L, list->id);
    lua_insert(L, 2);
    struct dbq *st = prepare_bound(
        L, role ? "SELECT " MEMBER_COLUMNS " FROM members "
                  "WHERE list_id = ? AND role = ? ORDER BY address"
                : "SELECT " MEMBER_COLUMNS " FROM members "
                  "WHERE list_id = ? ORDER BY address, role",
        2);
    return push_rows(L, st, ROWS_MEMBER);
}

static int l_record_bounce(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    const char *status = luaL_checkstring(L, 3);
    const char *diagnostic = luaL_optstring(L, 4, "");
    int disabled, probe;
    char why[512];
    int score = bounce_record(lua_db(L), list, address, status, diagnostic,
                              &disabled, &probe, why, sizeof why);
    if (score == -1)
        return luaL_error(L, "%s", why);
    if (score == DB_NOT_FOUND) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, score);
    lua_pushboolean(L, disabled);
    lua_pushboolean(L, probe);
    return 3;
}

static int l_start_probe(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    char token[PROBE_TOKEN_LEN + 8], why[512];
    int rc = probe_start(lua_db(L), list, address, token, sizeof token, why,
                         sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc == DB_NOT_FOUND)
        lua_pushnil(L);
    else
        lua_pushstring(L, token);
    return 1;
}

static int l_probe_bounced(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *token = luaL_checkstring(L, 2);
    char address[400], why[512]; /* member_info.address */
    int disabled;
    int rc = probe_bounced(lua_db(L), list, token, address, sizeof address,
                           &disabled, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc == DB_NOT_FOUND) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, address);
    lua_pushboolean(L, disabled);
    return 2;
}

/* Expected refusals come back as nil, why; failures are Lua errors. */
static int soft_result(lua_State *L, int rc, const char *why)
{
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (rc == -1 && strncmp(why, "bad address", 11) != 0)
        return luaL_error(L, "%s", why);
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

static int l_add_member(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    const char *role = luaL_optstring(L, 3, "member");
    const char *name = luaL_optstring(L, 4, "");
    char why[512];
    if (!role_valid(role))
        return luaL_argerror(L, 3, "member, moderator or owner");
    return soft_result(L, member_add(lua_db(L), list, address, role, name,
                                     why, sizeof why), why);
}

static int l_remove_member(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    const char *role = luaL_optstring(L, 3, "member");
    char why[512];
    if (!role_valid(role))
        return luaL_argerror(L, 3, "member, moderator or owner");
    return soft_result(L, member_remove(lua_db(L), list, address, role, why,
                                        sizeof why), why);
}

static int l_set_member(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    const char *key = luaL_checkstring(L, 3);
    const char *value = luaL_checkstring(L, 4);
    const char *role = luaL_optstring(L, 5, "member");
    char why[512];
    if (!role_valid(role))
        return luaL_argerror(L, 5, "member, moderator or owner");
    /* a bad key or value is the caller's error: raised, as failures are */
    return soft_result(L, member_set(lua_db(L), list, address, role, key,
                                     value, why, sizeof why), why);
}

static int l_token(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    const char *address = luaL_checkstring(L, 2);
    const char *action = luaL_checkstring(L, 3);
    char token[64], why[512];
    int rc = token_create(lua_db(L), list, address, action, token,
                          sizeof token, why, sizeof why);
    if (rc != 0)
        return soft_result(L, rc, why);
    lua_pushstring(L, token);
    return 1;
}

static int l_take_token(lua_State *L)
{
    const char *token = luaL_checkstring(L, 1);
    struct list_info list;
    /* an owner command's action holds an address and a name */
    char address[400], action[700], why[512];
    if (strspn(token, "0123456789abcdef") != strlen(token) ||
        strlen(token) != 32) {
        lua_pushnil(L);
        return 1;
    }
    int rc = token_take(lua_db(L), token, &list, address, sizeof address,
                        action, sizeof action, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    if (rc != 0) {
        lua_pushnil(L);
        return 1;
    }
    list_push(L, &list);
    lua_pushstring(L, address);
    lua_pushstring(L, action);
    return 3;
}

static int l_reply_quota(lua_State *L)
{
    const char *address = luaL_checkstring(L, 1);
    char why[512];
    int rc = reply_quota_take(lua_db(L), address, why, sizeof why);
    if (rc == -1)
        return luaL_error(L, "%s", why);
    lua_pushboolean(L, rc);
    if (rc == 1)
        return 1;
    lua_pushstring(L, why);
    return 2;
}

/* list.field or list:method: methods first (see ctx_index), then fields. */
static int list_index(lua_State *L)
{
    struct list_info *list = check_list(L, 1);
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    push_list_fields(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
        return 1;
    const struct setting_def *d;
    if (lua_type(L, 2) == LUA_TSTRING &&
        (d = setting_find(lua_tostring(L, 2))) != NULL &&
        d->type == SET_PATTERNS) {
        push_patterns(L, list, d);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

static int list_tostring(lua_State *L)
{
    lua_pushfstring(L, "list %s", check_list(L, 1)->address);
    return 1;
}

static int list_eq(lua_State *L)
{
    lua_pushboolean(L, check_list(L, 1)->id == check_list(L, 2)->id);
    return 1;
}

/* What lists add to the `mlm` module. */
static const luaL_Reg module_functions[] = {
    {"list", l_list},
    {"resolve", l_resolve},
    {"take_token", l_take_token},
    {"reply_quota", l_reply_quota},
    {NULL, NULL}};

/* The methods of a list object (lists_held.c and lists_moderate.c hold
 * the moderation ones). */
static const luaL_Reg list_methods[] = {
    {"member", l_member},
    {"roles", l_roles},
    {"memberships", l_memberships},
    {"recipients", l_recipients},
    {"add_recipients", l_add_recipients},
    {"members", l_members},
    {"accepts_nonmember", l_accepts_nonmember},
    {"is_banned", l_banned},
    {"hold", list_hold},
    {"held", list_held},
    {"held_retry", list_held_retry},
    {"approved", list_approved},
    {"moderation_token", list_moderation_token},
    {"moderate", list_moderate},
    {"request_token", list_request_token},
    {"decide_request", list_decide_request},
    {"record_bounce", l_record_bounce},
    {"start_probe", l_start_probe},
    {"probe_bounced", l_probe_bounced},
    {"add_member", l_add_member},
    {"remove_member", l_remove_member},
    {"set_member", l_set_member},
    {"token", l_token},
    {NULL, NULL}};

void lists_register(lua_State *L, int module_idx)
{
    module_idx = lua_absindex(L, module_idx);
    udata_newmetatable(L, LIST_MT);
    luaL_newlib(L, list_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "methods");
    lua_pushcclosure(L, list_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, list_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, list_eq);
    lua_setfield(L, -2, "__eq");
    lua_pop(L, 1);
    rows_register(L);
    lua_pushvalue(L, module_idx);
    luaL_setfuncs(L, module_functions, 0);
    lua_pop(L, 1);
    db_module_push(L);
    lua_setfield(L, module_idx, "db");
}
