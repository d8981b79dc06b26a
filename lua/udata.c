/*
 * udata.c - typed userdata checked by the address of the type's name.
 *
 * luaL_checkudata finds a metatable by its name in the registry, a string
 * lookup that cost about 500 instructions a call; a list post makes some
 * eighty such checks. Here each metatable is also stored under the address
 * of its name (a static array, so one address per type), and a check is a
 * pointer-keyed lookup and a comparison.
 */
#include "luambind.h"

#include <lauxlib.h>

int udata_newmetatable(lua_State *L, const char *tname)
{
    if (!luaL_newmetatable(L, tname))
        return 0;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, tname);
    return 1;
}

void udata_setmetatable(lua_State *L, const char *tname)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, tname);
    lua_setmetatable(L, -2);
}

void *udata_test(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);
    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}

void *udata_check(lua_State *L, int idx, const char *tname)
{
    void *p = udata_test(L, idx, tname);
    if (p == NULL)
        luaL_typeerror(L, idx, tname);
    return p;
}
