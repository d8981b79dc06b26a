/*
 * mlmlib.c - the `mlm` Lua module: reply constructors and logging.
 *
 *   mlm.continue()  mlm.accept()  mlm.discard()
 *   mlm.reject(text [, code [, dsn]])    default 550 5.7.1
 *   mlm.tempfail(text [, code [, dsn]])  default 451 4.3.0
 *   mlm.log(level, message)              level: debug|info|warning|error
 *
 * A reply is a table with a private metatable, so a policy cannot forge one
 * by returning a plain table. Codes and DSNs of the wrong class, and text
 * holding CR or LF, are Lua errors at the line that built them.
 */
#include <config.h>
#include "luambind.h"
#include "log.h"
#include "xmalloc.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

static const char REPLY_MT[] = "mlm.reply";

static int reply_push(lua_State *L, enum mlm_action action, const char *code,
                      const char *dsn, const char *text)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, action_name(action));
    lua_setfield(L, -2, "action");
    if (code) {
        lua_pushstring(L, code);
        lua_setfield(L, -2, "code");
    }
    if (dsn) {
        lua_pushstring(L, dsn);
        lua_setfield(L, -2, "dsn");
    }
    if (text) {
        lua_pushstring(L, text);
        lua_setfield(L, -2, "text");
    }
    udata_setmetatable(L, REPLY_MT);
    return 1;
}

static int l_continue(lua_State *L)
{
    return reply_push(L, ACT_CONTINUE, NULL, NULL, NULL);
}
static int l_accept(lua_State *L)
{
    return reply_push(L, ACT_ACCEPT, NULL, NULL, NULL);
}
static int l_discard(lua_State *L)
{
    return reply_push(L, ACT_DISCARD, NULL, NULL, NULL);
}

/* reject/tempfail: check every argument against its class. */
static int refusal(lua_State *L, enum mlm_action action, char klass,
                   const char *dflt_code, const char *dflt_dsn,
                   const char *dflt_text)
{
    const char *text = luaL_optstring(L, 1, dflt_text);
    const char *code = luaL_optstring(L, 2, dflt_code);
    const char *dsn = luaL_optstring(L, 3, NULL);
    if (!smtp_code_valid(code, klass))
        return luaL_error(L, "bad reply code '%s' for %s (need %cXX)", code,
                          action_name(action), klass);
    if (dsn == NULL)
        dsn = code[0] == dflt_code[0] ? dflt_dsn : NULL;
    if (dsn && !smtp_dsn_valid(dsn, klass))
        return luaL_error(L, "bad enhanced status code '%s' for %s (need "
                          "%c.X.X)", dsn, action_name(action), klass);
    if (!reply_text_valid(text))
        return luaL_error(L, "reply text must be at most 450 characters "
                          "without CR, LF or control characters");
    return reply_push(L, action, code, dsn, text);
}

static int l_reject(lua_State *L)
{
    return refusal(L, ACT_REJECT, '5', "550", "5.7.1", "Rejected by policy");
}

static int l_tempfail(lua_State *L)
{
    return refusal(L, ACT_TEMPFAIL, '4', "451", "4.3.0",
                   "Temporary failure, try again later");
}

static int l_log(lua_State *L)
{
    static const char *const levels[] = {"debug", "info", "warning", "error",
                                         NULL};
    int level = luaL_checkoption(L, 1, NULL, levels);
    const char *text = luaL_checkstring(L, 2);
    lua_Debug ar;
    char where[256] = "policy";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
        snprintf(where, sizeof where, "%s:%d", ar.short_src, ar.currentline);
    switch (level) {
    case 0: msg_debug("%s: %s", where, text); break;
    case 1: msg_info("%s: %s", where, text); break;
    case 2: msg_warn("%s: %s", where, text); break;
    default: msg_error("%s: %s", where, text); break;
    }
    return 0;
}

/* print() goes to the log: the worker's stdout is not a terminal. */
int mlm_print(lua_State *L)
{
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    msg_info("policy: %s", lua_tostring(L, -1));
    return 0;
}

static int is_reply(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, REPLY_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

int reply_from_lua(lua_State *L, int idx, struct mlm_reply *rep, char *why,
                   size_t whylen)
{
    if (lua_isnoneornil(L, idx)) {
        rep->action = ACT_CONTINUE;
        return 0;
    }
    if (!is_reply(L, idx)) {
        snprintf(why, whylen, "returned a %s; a filter returns nil or "
                 "mlm.continue(), accept(), reject(), tempfail(), discard()",
                 luaL_typename(L, idx));
        return -1;
    }
    static const char *const fields[] = {"code", "dsn", "text"};
    char **slots[] = {&rep->code, &rep->dsn, &rep->text};
    lua_getfield(L, idx, "action");
    const char *action = lua_tostring(L, -1);
    rep->action = ACT_FAILED;
    for (int a = 0; a < ACT_FAILED; a++)
        if (action && strcmp(action, action_name(a)) == 0)
            rep->action = a;
    lua_pop(L, 1);
    if (rep->action == ACT_FAILED) {
        snprintf(why, whylen, "returned a reply with a changed action");
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, idx, fields[i]);
        if (lua_isstring(L, -1))
            *slots[i] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return 0;
}

/* The functions of the `mlm` module written here; lists.c and sendmail.c
 * add theirs. */
static const luaL_Reg mlm_functions[] = {
    {"continue", l_continue}, {"accept", l_accept},
    {"discard", l_discard},   {"reject", l_reject},
    {"tempfail", l_tempfail}, {"log", l_log},
    {NULL, NULL}};

int luaopen_mlm(lua_State *L)
{
    udata_newmetatable(L, REPLY_MT);
    lua_pushliteral(L, "mlm.reply");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    luaL_newlib(L, mlm_functions);
    lists_register(L, -1);
    sendmail_register(L, -1);
    lua_pushliteral(L, PACKAGE_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
