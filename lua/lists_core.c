/*
 * lists_core.c - what every lists*.c file uses: the worker's database
 * connection (opened on first use, told who the request's changes are
 * by), the list object type and the membership table. It calls none of
 * them: lists.c, lists_held.c, lists_moderate.c and lists_rows.c sit
 * above it.
 */
#include "luambind.h"
#include "db.h"
#include "lists.h"
#include "xmalloc.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

const char LIST_MT[] = "mlm.list";

static char *database_path;
static int database_timeout_s;
static struct db *worker_db;
/* Who this request's changes are by (the change log), until the next. */
static char request_actor[DB_ACTOR_MAX + 1];

void lists_db_configure(const char *path, int timeout_s)
{
    free(database_path);
    database_path = xstrdup(path);
    database_timeout_s = timeout_s;
}

void lists_shutdown(void)
{
    db_close(worker_db);
    worker_db = NULL;
}

void lists_db_request_begin(const char *actor)
{
    size_t n = strnlen(actor, DB_ACTOR_MAX);
    memcpy(request_actor, actor, n);
    request_actor[n] = '\0';
    if (worker_db) {
        db_request_begin(worker_db);
        db_set_actor(worker_db, request_actor);
    }
}

struct db *lists_db_if_open(void) { return worker_db; }

/*
 * The database, opened on first use (again at the next request when that
 * failed). A policy's own SQL (mlm.db) may reach no other file or code
 * (db_restrict_policy_sql).
 */
struct db *lua_db(lua_State *L)
{
    char why[512];
    if (worker_db == NULL) {
        if (database_path == NULL)
            luaL_error(L, "no database configured");
        struct db_options opts = {.timeout_s = database_timeout_s};
        worker_db = db_open(database_path, &opts, why, sizeof why);
        if (worker_db == NULL)
            luaL_error(L, "%s", why);
        db_set_actor(worker_db, request_actor);
        db_restrict_policy_sql(worker_db);
    }
    return worker_db;
}

/* A list object: the list_info, and its settings table once read. */
void list_push(lua_State *L, const struct list_info *info)
{
    struct list_info *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    *ud = *info;
    udata_setmetatable(L, LIST_MT);
}

struct list_info *check_list(lua_State *L, int idx)
{
    return udata_check(L, idx, LIST_MT);
}

void push_member(lua_State *L, const struct member_info *m)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, m->address);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, m->role);
    lua_setfield(L, -2, "role");
    lua_pushstring(L, m->name);
    lua_setfield(L, -2, "name");
    lua_pushboolean(L, m->moderated);
    lua_setfield(L, -2, "moderated");
    lua_pushstring(L, m->delivery);
    lua_setfield(L, -2, "delivery");
    lua_pushinteger(L, m->bounce_score);
    lua_setfield(L, -2, "bounce_score");
    lua_pushstring(L, m->last_bounce);
    lua_setfield(L, -2, "last_bounce");
    lua_pushboolean(L, m->not_me_too);
    lua_setfield(L, -2, "not_me_too");
}
