/*
 * fuzz_dsn.c - the bounce parser of the shipped list policy:
 * lua/lib/mlm_bounce.lua's read_text(text), which runs the RFC 3464 report
 * reader and every text detector (lua/lib/mlm_bounce_text.lua) of mail
 * sent to NAME-bounces@ on a text.
 *
 * The Makefile wraps both modules verbatim into build/dsn_recipients.lua
 * (mlm_bounce_text preloaded for mlm_bounce's require), which returns
 * read_text; this harness runs it in a plain lua_State on
 * each input. Lua errors are fine (the request fails
 * with failure_action); what must not happen is an explosion: more than
 * INSN_LIMIT VM instructions, more than MEM_LIMIT bytes, or more CPU time
 * than a linear parser needs: MLM_FUZZ_DSN_MAX_MS (default 20) plus 3 ms
 * per KiB of input, 212 ms for 64 KiB (the costliest linear input found,
 * 64 KiB of empty blocks, takes ~90 ms here under ASan), measured twice so
 * a busy machine does not raise false alarms. Tight on purpose: a
 * quadratic pattern then shows with runs of a few hundred bytes, which the
 * mutators build, rather than only with the many KiB it needs to last
 * minutes. The time bound matters: Lua's count hook never fires
 * inside one C call such as string.gmatch, so the worker's instruction
 * limit cannot stop a pattern that backtracks for minutes.
 *
 * liblua5.4 is not instrumented, so libFuzzer is given other things to
 * steer by: branches on the shape of the result; on the CPU time an input
 * costs (SlowFuzz's idea: a slower input is a new feature, kept and mutated
 * further); and on the longest run of one character class the patterns
 * use (%w, -, %s, digits), the shape that makes a Lua pattern backtrack.
 */
#include "fuzz_check.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef DSN_CHUNK
#define DSN_CHUNK "build/dsn_recipients.lua"
#endif

#define INSN_LIMIT 20000000L
#define MEM_LIMIT ((size_t)256 << 20)

static lua_State *L;
static int fn_ref;
static long insns;
static size_t mem_used;
static long max_ms = 20;
static volatile unsigned sink;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && mem_used + (nsize - osize) > MEM_LIMIT)
        return NULL; /* a memory error in Lua: fine, and bounded */
    void *np = realloc(ptr, nsize);
    if (np)
        mem_used += nsize - osize;
    return np;
}

static void count_hook(lua_State *l, lua_Debug *ar)
{
    (void)ar;
    insns += 1000;
    FUZZ_CHECK(insns <= INSN_LIMIT, "more than %ld Lua instructions",
               INSN_LIMIT);
    (void)l;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *chunk = getenv("MLM_FUZZ_DSN_CHUNK");
    const char *ms = getenv("MLM_FUZZ_DSN_MAX_MS");
    if (ms)
        max_ms = atol(ms);
    L = lua_newstate(counting_alloc, NULL);
    luaL_openlibs(L);
    if (luaL_loadfilex(L, chunk ? chunk : DSN_CHUNK, "t") != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "cannot load %s: %s\n", chunk ? chunk : DSN_CHUNK,
                lua_tostring(L, -1));
        exit(1);
    }
    fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* CPU time in microseconds: other processes on the machine do not count. */
static long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/*
 * One branch per power of two of n. A macro: each use must be its own code,
 * since coverage is counted per branch in the binary, not per call.
 */
#define STEER_LOG2(n)                                                          \
    do {                                                                       \
        size_t v_ = (n);                                                       \
        int b_ = 0;                                                            \
        while (v_ > 1 && b_ < 16)                                              \
            v_ >>= 1, b_++;                                                    \
        switch (b_) {                                                          \
        case 0: sink += 1; break;                                              \
        case 1: sink += 2; break;                                              \
        case 2: sink += 3; break;                                              \
        case 3: sink += 4; break;                                              \
        case 4: sink += 5; break;                                              \
        case 5: sink += 6; break;                                              \
        case 6: sink += 7; break;                                              \
        case 7: sink += 8; break;                                              \
        case 8: sink += 9; break;                                              \
        case 9: sink += 10; break;                                             \
        case 10: sink += 11; break;                                            \
        case 11: sink += 12; break;                                            \
        case 12: sink += 13; break;                                            \
        case 13: sink += 14; break;                                            \
        case 14: sink += 15; break;                                            \
        case 15: sink += 16; break;                                            \
        default: sink += 17; break;                                            \
        }                                                                      \
    } while (0)

/* A costlier input is "new": one branch per power of two of microseconds. */
static void steer_cost(long us) { STEER_LOG2((size_t)(us > 0 ? us : 0)); }

/* Longest runs of the classes the parser's patterns repeat. */
static void steer_runs(const uint8_t *data, size_t size)
{
    size_t word = 0, space = 0, digit = 0, wmax = 0, smax = 0, dmax = 0;
    for (size_t i = 0; i < size; i++) {
        int c = data[i];
        word = isalnum(c) || c == '-' ? word + 1 : 0;
        space = c == ' ' || c == '\t' ? space + 1 : 0;
        digit = isdigit(c) || c == '.' ? digit + 1 : 0;
        wmax = word > wmax ? word : wmax;
        smax = space > smax ? space : smax;
        dmax = digit > dmax ? digit : dmax;
    }
    STEER_LOG2(wmax);
    STEER_LOG2(smax);
    STEER_LOG2(dmax);
}

/* Run the function on data; the result (or error) is left on the stack. */
static int run_once(const uint8_t *data, size_t size, long *took)
{
    lua_settop(L, 0);
    insns = 0;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
    lua_pushlstring(L, (const char *)data, size);
    long t0 = now_us();
    int rc = lua_pcall(L, 1, 1, 0);
    *took = now_us() - t0;
    lua_sethook(L, NULL, 0, 0);
    return rc;
}

static const char *field(lua_State *l, int idx, const char *name, size_t *len)
{
    lua_getfield(l, idx, name);
    const char *s = lua_tolstring(l, -1, len);
    lua_pop(l, 1);
    return s;
}

/* Branch on the shape of the result, as the list policy would use it. */
static void steer(lua_State *l)
{
    lua_Integer n = luaL_len(l, -1);
    sink += n == 0 ? 1 : n == 1 ? 2 : n < 4 ? 3 : 4;
    for (lua_Integer i = 1; i <= n && i <= 8; i++) {
        lua_rawgeti(l, -1, i);
        FUZZ_CHECK(lua_istable(l, -1), "entry %lld is not a table",
                   (long long)i);
        int t = lua_gettop(l);
        size_t alen = 0, aclen = 0, slen = 0, dlen = 0;
        const char *address = field(l, t, "address", &alen);
        const char *action = field(l, t, "action", &aclen);
        const char *status = field(l, t, "status", &slen);
        const char *diag = field(l, t, "diagnostic", &dlen);
        FUZZ_CHECK(address && action && status && diag,
                   "entry %lld lacks a field", (long long)i);
        if (strcmp(action, "failed") == 0)
            sink += 1;
        else if (strcmp(action, "delayed") == 0)
            sink += 2;
        else if (strcmp(action, "delivered") == 0)
            sink += 3;
        if (slen > 2 && status[0] == '5')
            sink += status[2] == '7' ? 4 : 5;
        if (alen == 0)
            sink += 6;
        else if (memchr(address, '@', alen))
            sink += 7;
        if (alen && address[0] == '<')
            sink += 8;
        if (dlen > 400)
            sink += 9;
        lua_pop(l, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long took, again, budget = (max_ms + (long)(size * 3 / 1024)) * 1000;
    int rc = run_once(data, size, &took);
    if (took > budget) {
        run_once(data, size, &again); /* the slower run may have been noise */
        if (again < took)
            took = again;
    }
    FUZZ_CHECK(took <= budget,
               "dsn_recipients took %ld ms of CPU on %zu bytes (budget %ld "
               "ms): worse than linear", took / 1000, size, budget / 1000);
    steer_cost(took);
    steer_runs(data, size);
    if (rc == LUA_OK)
        steer(L);
    else
        sink += 100;
    lua_settop(L, 0);
    /* no garbage left over: libFuzzer's per-input leak scan stays off */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
