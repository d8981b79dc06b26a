/*
 * udata.c - typed userdata checked by the address of the type's name.
 *
 * luaL_checkudata finds a metatable by its name in the registry, a string
 * lookup that cost about 500 instructions a call; a list post makes some
 * eighty such checks. Here each state's policy (its extra space) keeps the
 * address of each type's metatable under the address of the type's name
 * (a static array, so one address per type), and a check compares two
 * pointers. The metatables are also in the registry under the same
 * address, for udata_setmetatable and for states without a policy.
 *
 * Also the request-bound userdata (ctx, message): tracked while the
 * request runs, detached from it when it ends, so a script that keeps one
 * gets an error, not freed memory. Below ctx.c and message.c.
 */
#include "luambind.h"
#include "policy.h"

#include <lauxlib.h>

int udata_newmetatable(lua_State *L, const char *tname)
{
    if (!luaL_newmetatable(L, tname))
        return 0;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, tname);
    struct policy *p = policy_of(L);
    if (p && p->udata_types < UDATA_TYPES_MAX) {
        /* Kept by the registry for the state's life: the address holds. */
        p->udata_name[p->udata_types] = tname;
        p->udata_mt[p->udata_types++] = lua_topointer(L, -1);
    }
    return 1;
}

void udata_setmetatable(lua_State *L, const char *tname)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, tname);
    lua_setmetatable(L, -2);
}

void *udata_test(lua_State *L, int idx, const char *tname)
{
    void *ud = lua_touserdata(L, idx);
    if (ud == NULL || !lua_getmetatable(L, idx))
        return NULL;
    const void *mt = lua_topointer(L, -1);
    struct policy *p = policy_of(L);
    for (int i = 0; p && i < p->udata_types; i++)
        if (p->udata_name[i] == tname) {
            lua_pop(L, 1);
            return mt == p->udata_mt[i] ? ud : NULL;
        }
    lua_rawgetp(L, LUA_REGISTRYINDEX, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? ud : NULL;
}

void *udata_check(lua_State *L, int idx, const char *tname)
{
    void *ud = udata_test(L, idx, tname);
    if (ud == NULL)
        luaL_typeerror(L, idx, tname);
    return ud;
}

static const char LIVE_KEY[] = "mlm.live";

/* Remember a request-bound userdata so ctx_detach_all can reach it. */
void live_track(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
    }
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

/*
 * The table of live userdata is emptied, not dropped: a new table per
 * request was a tenth of a short request's work.
 */
void ctx_detach_all(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = n; i >= 1; i--) {
            lua_rawgeti(L, -1, i);
            /* Both ctx and message userdata start with the run pointer. */
            struct stage_run **runp = lua_touserdata(L, -1);
            if (runp)
                *runp = NULL;
            lua_pop(L, 1);
            lua_pushnil(L);
            lua_rawseti(L, -2, i);
        }
    }
    lua_pop(L, 1);
}

/* The run of the request under way (from its live userdata), or NULL. */
struct stage_run *ctx_current(lua_State *L)
{
    struct stage_run *run = NULL;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n && run == NULL; i++) {
            lua_rawgeti(L, -1, i);
            struct stage_run **runp = lua_touserdata(L, -1);
            if (runp)
                run = *runp;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return run;
}
