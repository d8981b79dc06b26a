/*
 * lists_rows.c - rows of SQL results as Lua iterators (list:members,
 * list:recipients) and mlm.db, a policy's own SQL: exec and rows, every
 * value a bound parameter (lua_db refuses ATTACH and extensions).
 */
#include "luambind.h"
#include "lists.h"

#include <lauxlib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char ROWS_MT[] = "mlm.rows";

/*
 * Streaming iteration: a statement of its own per loop, finalized when the
 * loop ends, when the iterator is collected, or by a to-be-closed variable.
 */
struct rows {
    sqlite3_stmt *st;
    enum rows_shape shape;
};

static int rows_gc(lua_State *L)
{
    struct rows *r = udata_check(L, 1, ROWS_MT);
    if (r->st) {
        sqlite3_finalize(r->st);
        r->st = NULL;
    }
    return 0;
}

static void push_column(lua_State *L, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        lua_pushinteger(L, sqlite3_column_int64(st, col));
        break;
    case SQLITE_FLOAT:
        lua_pushnumber(L, sqlite3_column_double(st, col));
        break;
    case SQLITE_NULL:
        lua_pushnil(L);
        break;
    default:
        lua_pushlstring(L, (const char *)sqlite3_column_blob(st, col),
                        (size_t)sqlite3_column_bytes(st, col));
    }
}

static int rows_next(lua_State *L)
{
    struct rows *r = udata_check(L, lua_upvalueindex(1), ROWS_MT);
    if (r->st == NULL)
        return 0;
    int rc = sqlite3_step(r->st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(r->st);
        r->st = NULL;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return luaL_error(L, "database: %s",
                          sqlite3_errmsg(db_handle(lua_db(L))));
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
    int n = sqlite3_column_count(r->st);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        push_column(L, r->st, i);
        lua_setfield(L, -2, sqlite3_column_name(r->st, i));
    }
    return 1;
}

/* Prepare sql (one statement), bind the Lua arguments from first on. */
sqlite3_stmt *prepare_bound(lua_State *L, const char *sql, int first)
{
    sqlite3 *h = db_handle(lua_db(L));
    sqlite3_stmt *st;
    const char *tail;
    if (sqlite3_prepare_v2(h, sql, -1, &st, &tail) != SQLITE_OK)
        luaL_error(L, "database: %s", sqlite3_errmsg(h));
    if (tail && tail[strspn(tail, " \t\r\n;")] != '\0') {
        sqlite3_finalize(st);
        luaL_error(L, "one SQL statement at a time");
    }
    int top = lua_gettop(L);
    for (int i = first; i <= top; i++) {
        int idx = i - first + 1, rc;
        switch (lua_type(L, i)) {
        case LUA_TNIL: rc = sqlite3_bind_null(st, idx); break;
        case LUA_TBOOLEAN: rc = sqlite3_bind_int(st, idx, lua_toboolean(L, i));
            break;
        case LUA_TNUMBER:
            rc = lua_isinteger(L, i)
                     ? sqlite3_bind_int64(st, idx, lua_tointeger(L, i))
                     : sqlite3_bind_double(st, idx, lua_tonumber(L, i));
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, i, &len);
            rc = sqlite3_bind_text(st, idx, s, (int)len, SQLITE_TRANSIENT);
            break;
        }
        default:
            sqlite3_finalize(st);
            luaL_error(L, "cannot bind a %s", luaL_typename(L, i));
            return NULL;
        }
        if (rc != SQLITE_OK) {
            sqlite3_finalize(st);
            luaL_error(L, "database: bind %d: %s", idx, sqlite3_errstr(rc));
        }
    }
    return st;
}

/*
 * for x in iterator do: the rows userdata is also returned as the loop's
 * closing value, so a break finalizes the statement at once.
 */
int push_rows(lua_State *L, sqlite3_stmt *st, enum rows_shape shape)
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
    sqlite3_stmt *st = prepare_bound(L, sql, 3);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3 *h = db_handle(lua_db(L));
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return luaL_error(L, "database: %s", sqlite3_errmsg(h));
    lua_pushinteger(L, sqlite3_changes(h));
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
