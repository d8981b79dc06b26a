/*
 * policy.c - loading a policy into a sandboxed lua_State, and the limits.
 *
 * The sandbox: only the base, string, table, math, utf8 and coroutine
 * libraries and a trimmed os (time, clock, date, difftime, getenv); no io,
 * no debug, no package table, no dofile/loadfile, no string.dump,
 * collectgarbage for collect/count/step/isrunning only, load() for text
 * only. require() is our own: it returns the libraries above as the
 * policy sees them (never the full ones Lua keeps in the registry), "mlm",
 * and text files from the shipped library directory; never a C module.
 * Memory is capped by a counting allocator, CPU by an instruction-count
 * hook that, once over the limit, fires on every instruction so a pcall
 * in the policy cannot swallow it.
 */
#include "policy.h"
#include "luambind.h"
#include "log.h"
#include "sockio.h"
#include "xmalloc.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static void *policy_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct policy *p = ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        p->mem_used -= osize;
        return NULL;
    }
    if (p->mem_limit && nsize > osize &&
        p->mem_used + (nsize - osize) > p->mem_limit) {
        if (p->in_request)
            p->limit_hit = LIMIT_MEMORY;
        return NULL;
    }
    void *np = realloc(ptr, nsize);
    if (np != NULL)
        p->mem_used += nsize - osize;
    return np;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct policy *p = policy_of(L);
    (void)ar;
    if (!p->in_request || !p->insn_limit)
        return;
    p->insn_count += HOOK_EVERY;
    if (p->insn_count > p->insn_limit || p->limit_hit == LIMIT_INSTRUCTIONS) {
        /* From now on fire at every instruction until the request ends. */
        p->limit_hit = LIMIT_INSTRUCTIONS;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
        /* Level 0 inside a hook is the running function: name its line. */
        luaL_where(L, 0);
        lua_pushfstring(L, "instruction limit (%I) exceeded",
                        (lua_Integer)p->insn_limit);
        lua_concat(L, 2);
        lua_error(L);
    }
}

/* load() for text chunks only: bytecode can crash the VM. */
static int safe_load(lua_State *L)
{
    int nargs = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    while (nargs < 3) {
        lua_pushnil(L);
        nargs++;
    }
    lua_settop(L, 4);
    lua_pushliteral(L, "t");
    lua_replace(L, 4); /* the mode argument, whatever the caller said */
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Replace the global lib by a table holding only its functions in keep. */
static void sandbox_trim(lua_State *L, const char *lib,
                         const char *const *keep)
{
    lua_getglobal(L, lib);
    lua_newtable(L);
    for (int i = 0; keep[i]; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, lib);
    lua_pop(L, 1);
}

/* collectgarbage() without the options that stop or retune the collector:
 * a policy that stopped it would fill lua_memory_limit for every request. */
static int safe_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "count", "step",
                                          "isrunning", NULL};
    const char *opt = luaL_optstring(L, 1, "collect");
    for (int i = 0; allowed[i]; i++)
        if (strcmp(opt, allowed[i]) == 0) {
            lua_pushvalue(L, lua_upvalueindex(1));
            lua_insert(L, 1);
            lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
            return lua_gettop(L);
        }
    return luaL_error(L, "collectgarbage(\"%s\") is not allowed in a policy",
                      opt);
}

/*
 * A module name require() accepts: letters, digits, '_' and '-', with
 * single dots between parts (a dot is a subdirectory). Nothing that could
 * name a file outside lua_dir.
 */
static int module_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '.' || name[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '.' ? name[i + 1] == '.'
                     : !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/*
 * require(name) in the sandbox. Upvalues: 1 the modules loaded so far (the
 * sandbox's libraries to start with), 2 the functions that open built-in
 * modules on first use ("mlm"), 3 lua_dir. Otherwise lua_dir/NAME.lua,
 * loaded as text and run once with (name, path) like Lua's own require;
 * its result (true when it returns nothing) is kept for the next call.
 */
static int sandbox_require(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    if (strlen(name) != len)
        return luaL_error(L, "module name with a NUL byte");
    lua_getfield(L, lua_upvalueindex(1), name);
    if (lua_toboolean(L, -1))
        return 1;
    lua_pop(L, 1);
    if (lua_getfield(L, lua_upvalueindex(2), name) == LUA_TFUNCTION) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 1);
    } else {
        lua_pop(L, 1);
        if (!module_name_ok(name))
            return luaL_error(L, "module '%s' not found: not a module name",
                              name);
        luaL_gsub(L, name, ".", "/");
        const char *path = lua_pushfstring(L, "%s/%s.lua",
                                           lua_tostring(L, lua_upvalueindex(3)),
                                           lua_tostring(L, -1));
        int rc = luaL_loadfilex(L, path, "t");
        if (rc == LUA_ERRFILE)
            return luaL_error(L, "module '%s' not found in lua_path", name);
        if (rc != LUA_OK)
            return lua_error(L);
        lua_pushvalue(L, 1);
        lua_pushvalue(L, -3); /* the path */
        lua_call(L, 2, 1);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, lua_upvalueindex(1), name);
    return 1;
}

/* The require() above, knowing the sandbox's libraries as their globals. */
static void sandbox_require_open(lua_State *L, const char *lua_dir)
{
    static const char *const libs[] = {
        LUA_GNAME,      LUA_COLIBNAME,   LUA_TABLIBNAME, LUA_STRLIBNAME,
        LUA_MATHLIBNAME, LUA_UTF8LIBNAME, LUA_OSLIBNAME,  NULL};
    lua_newtable(L);
    for (int i = 0; libs[i]; i++) {
        lua_getglobal(L, libs[i]);
        lua_setfield(L, -2, libs[i]);
    }
    lua_newtable(L);
    lua_pushcfunction(L, luaopen_mlm);
    lua_setfield(L, -2, "mlm");
    lua_pushstring(L, lua_dir);
    lua_pushcclosure(L, sandbox_require, 3);
    lua_setglobal(L, "require");
}

/*
 * Lua seeds math.random from the time and the state's address, and
 * workers forked by the fork server in the same second have the same
 * address: they drew the same numbers (3 sequences among 62 workers).
 */
static void random_seed(lua_State *L)
{
    lua_Integer seed[2];
    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        seed[0] = (lua_Integer)time(NULL);
        seed[1] = (lua_Integer)getpid() ^ (lua_Integer)now_us();
    }
    lua_getglobal(L, LUA_MATHLIBNAME);
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, seed[0]);
    lua_pushinteger(L, seed[1]);
    lua_call(L, 2, 0);
    lua_pop(L, 1);
}

static void sandbox_open(lua_State *L, const char *lua_dir)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_OSLIBNAME, luaopen_os},
        {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},    {NULL, NULL}};
    static const char *const os_kept[] = {"time", "clock", "date",
                                          "difftime", "getenv", NULL};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* The registry's LOADED table keeps the full os: only our require()
     * below is given to policies, and it never looks there. */
    sandbox_trim(L, LUA_OSLIBNAME, os_kept);
    random_seed(L);

    /* string.dump is also reachable as ("").dump: the same table. */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_pushcfunction(L, mlm_print);
    lua_setglobal(L, "print");
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    lua_getglobal(L, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setglobal(L, "load");
    lua_getglobal(L, "collectgarbage");
    lua_pushcclosure(L, safe_collectgarbage, 1);
    lua_setglobal(L, "collectgarbage");
    sandbox_require_open(L, lua_dir);
}

/* Message handler: the error with a traceback, for the log. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)",
                              luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Call the function below nargs arguments on the stack, protected. */
int policy_pcall(lua_State *L, int nargs, int nresults, char *why,
                 size_t whylen)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc != LUA_OK) {
        const char *err = lua_tostring(L, -1);
        snprintf(why, whylen, "%s", err ? err : "unknown Lua error");
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *why,
                     size_t whylen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(why, whylen, "cannot open policy %s: %m", path);
        return -1;
    }
    size_t cap = 8192, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        snprintf(why, whylen, "cannot read policy %s", path);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

static void policy_find_stages(struct policy *p)
{
    p->stages = 0;
    for (int s = 0; s < STAGE_COUNT; s++) {
        lua_getglobal(p->L, stage_function(s));
        if (lua_isfunction(p->L, -1))
            p->stages |= STAGE_BIT(s);
        lua_pop(p->L, 1);
    }
}

int policy_load(struct policy *p, const char *path, const char *lua_dir,
                size_t mem_limit, long insn_limit, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    p->path = xstrdup(path);
    p->mem_limit = mem_limit;
    p->insn_limit = insn_limit;
    p->L = lua_newstate(policy_alloc, p);
    if (p->L == NULL)
        msg_fatal("cannot create a Lua state");
    *(struct policy **)lua_getextraspace(p->L) = p;
    lua_sethook(p->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    sandbox_open(p->L, lua_dir);

    char *text, chunkname[4200];
    size_t len;
    if (read_file(path, &text, &len, why, whylen) == -1)
        return -1;
    snprintf(chunkname, sizeof chunkname, "@%s", path);
    /* Loading runs under the limits too: a policy may loop at top level. */
    p->in_request = 1;
    int rc = luaL_loadbufferx(p->L, text, len, chunkname, "t");
    free(text);
    if (rc != LUA_OK) {
        snprintf(why, whylen, "%s", lua_tostring(p->L, -1));
        lua_pop(p->L, 1);
    } else {
        rc = policy_pcall(p->L, 0, 0, why, whylen);
    }
    if (rc == 0) {
        lua_getglobal(p->L, "init");
        if (lua_isfunction(p->L, -1))
            rc = policy_pcall(p->L, 0, 0, why, whylen);
        else
            lua_pop(p->L, 1);
    }
    p->in_request = 0;
    policy_find_stages(p);
    return rc == 0 ? 0 : -1;
}

void policy_close(struct policy *p)
{
    if (p->L)
        lua_close(p->L);
    free(p->path);
    memset(p, 0, sizeof *p);
}
