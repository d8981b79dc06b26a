/*
 * lists_rows.c - rows of SQL results as Lua iterators (list:members,
 * list:recipients) and mlm.db, a policy's own SQL: exec and rows, every
 * value a bound parameter (lua_db refuses ATTACH and extensions).
 */
#include "luambind.h"
#include "lists.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

static const char ROWS_MT[] = "mlm.rows";

/*
 * Streaming iteration: a statement of its own per loop, freed when the
 * loop ends, when the iterator is collected, or by a to-be-closed variable.
 */
struct rows {
    struct dbq *st;
    enum rows_shape shape;
};

static int rows_gc(lua_State *L)
{
    struct rows *r = udata_check(L, 1, ROWS_MT);
    dbq_free(r->st);
    r->st = NULL;
    return 0;
}

static void push_column(lua_State *L, struct dbq *st, int col)
{
    size_t len;
    const void *bytes;
    switch (dbq_column_type(st, col)) {
    case DBQ_INTEGER:
        lua_pushinteger(L, dbq_int64(st, col));
        break;
    case DBQ_FLOAT:
        lua_pushnumber(L, dbq_double(st, col));
        break;
    case DBQ_NULL:
        lua_pushnil(L);
        break;
    default:
        bytes = dbq_blob(st, col, &len);
        lua_pushlstring(L, bytes ? bytes : "", len);
    }
}

static int rows_next(lua_State *L)
{
    struct rows *r = udata_check(L, lua_upvalueindex(1), ROWS_MT);
    if (r->st == NULL)
        return 0;
    int rc = dbq_step(r->st);
    if (rc == DBQ_DONE) {
        dbq_free(r->st);
        r->st = NULL;
        return 0;
    }
    if (rc != DBQ_ROW)
        return luaL_error(L, "database: %s", db_errmsg(lua_db(L)));
    if (r->shape == ROWS_FIRST_COLUMN) {
        push_column(L, r->st, 0);
        return 1;
    }
    if (r->shape == ROWS_MEMBER) {
        struct member_info m;
        member_from_row(r->st, &m);
        push_member(L, &m);
        return 1;
    }
    int n = dbq_column_count(r->st);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        push_column(L, r->st, i);
        lua_setfield(L, -2, dbq_column_name(r->st, i));
    }
    return 1;
}

/*
 * Prepare sql (one statement), bind the Lua arguments from first on; more
 * arguments than the statement has parameters is an error.
 */
struct dbq *prepare_bound(lua_State *L, const char *sql, int first)
{
    char why[512];
    struct dbq *st = db_prepare_policy(lua_db(L), sql, why, sizeof why);
    if (st == NULL)
        luaL_error(L, "%s", why);
    int top = lua_gettop(L);
    int nparams = dbq_param_count(st);
    if (top - first + 1 > nparams) {
        dbq_free(st);
        luaL_error(L, "database: bind %d: the statement has %d parameters",
                   nparams + 1, nparams);
    }
    for (int i = first; i <= top; i++) {
        int idx = i - first + 1;
        switch (lua_type(L, i)) {
        case LUA_TNIL: dbq_bind_null(st, idx); break;
        case LUA_TBOOLEAN: dbq_bind_int64(st, idx, lua_toboolean(L, i));
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, i))
                dbq_bind_int64(st, idx, lua_tointeger(L, i));
            else
                dbq_bind_double(st, idx, lua_tonumber(L, i));
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, i, &len);
            if (memchr(s, '\0', len)) { /* PostgreSQL's text holds none */
                dbq_free(st);
                luaL_error(L, "database: bind %d: text with a NUL byte", idx);
            }
            dbq_bind_text_len(st, idx, s, len);
            break;
        }
        default:
            dbq_free(st);
            luaL_error(L, "cannot bind a %s", luaL_typename(L, i));
            return NULL;
        }
    }
    return st;
}

/*
 * for x in iterator do: the rows userdata is also returned as the loop's
 * closing value, so a break finalizes the statement at once.
 */
int push_rows(lua_State *L, struct dbq *st, enum rows_shape shape)
{
    struct rows *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->st = st;
    r->shape = shape;
    udata_setmetatable(L, ROWS_MT);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, rows_next, 1);
    lua_insert(L, -2);
    lua_pushnil(L);
    lua_insert(L, -2);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 4;
}

static int l_db_exec(lua_State *L)
{
    const char *sql = luaL_checkstring(L, 2);
    struct dbq *st = prepare_bound(L, sql, 3);
    int rc = dbq_step(st);
    dbq_free(st);
    struct db *db = lua_db(L);
    if (rc == DBQ_ERROR)
        return luaL_error(L, "database: %s", db_errmsg(db));
    lua_pushinteger(L, db_changes(db));
    return 1;
}

static int l_db_rows(lua_State *L)
{
    const char *sql = luaL_checkstring(L, 2);
    return push_rows(L, prepare_bound(L, sql, 3), ROWS_TABLE);
}

void rows_register(lua_State *L)
{
    udata_newmetatable(L, ROWS_MT);
    lua_pushcfunction(L, rows_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, rows_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

/* mlm.db: a policy's own SQL, with bound values only. */
static const luaL_Reg db_functions[] = {
    {"exec", l_db_exec}, {"rows", l_db_rows}, {NULL, NULL}};

void db_module_push(lua_State *L)
{
    luaL_newlib(L, db_functions);
}
