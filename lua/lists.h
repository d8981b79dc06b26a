/*
 * lists.h - what the lists*.c files share: lists_core.c at the bottom (the
 * worker's database connection, list objects, membership tables), the
 * methods of lists_held.c, lists_moderate.c and lists_rows.c above it, and
 * lists.c, which registers them all, on top.
 */
#ifndef MLM_LISTS_H
#define MLM_LISTS_H

#include "db.h"

#include <lua.h>

/* lists_core.c, below the other lists*.c files. */
/* The list objects' metatable name. */
extern const char LIST_MT[];
/* Where the database is (the configured `database`); once, at start-up. */
/* The database the worker opens at first use, and the bound in seconds
 * on connecting to it and on each statement (PostgreSQL). */
void lists_db_configure(const char *path, int timeout_s);
/* A new request: its changes are by actor (the change log). */
void lists_db_request_begin(const char *actor);
/* The worker's database if it is open, else NULL (never opens it). */
struct db *lists_db_if_open(void);
/* The worker's database, opened on first use; a Lua error when it fails. */
struct db *lua_db(lua_State *L);
/* A new list object for info on the stack. */
void list_push(lua_State *L, const struct list_info *info);
/* The list object at idx, or a Lua error. */
struct list_info *check_list(lua_State *L, int idx);

/* lists_held.c: list:hold, list:held, list:held_retry, list:approved. */
/*
 * Where the installation secret is (secret_file), and request_timeout
 * (how long before a claim of a request that did not end is stale);
 * once, at start-up.
 */
void held_configure(const char *secret_file, int request_timeout);
/* A new request: no held post is claimed by it yet. */
void held_request_begin(void);
/*
 * The request ended, having distributed its message or not: a claim it
 * made without distributing, and one left by an earlier request, is
 * undone on db (NULL: not open; kept for the next request).
 */
void held_request_end(struct db *db, int distributed);
int list_hold(lua_State *L);
int list_held(lua_State *L);
int list_held_retry(lua_State *L);
int list_approved(lua_State *L);
/* The configured secret_file (NULL: the default). */
const char *held_secret_path(void);
/* A held post as the table list:held returns. */
void push_held(lua_State *L, const struct held_info *h);

/* A membership as the table list:member returns (lists_core.c). */
void push_member(lua_State *L, const struct member_info *m);

/* lists_rows.c: SQL rows as iterators, and mlm.db. */
enum rows_shape {
    ROWS_FIRST_COLUMN,      /* each row as its first column's value */
    ROWS_TABLE,             /* each row as a table by column name */
    ROWS_MEMBER,            /* each row as a membership table */
};
/* sql prepared with the Lua values from index first on bound; a Lua
 * error when it fails. */
struct dbq *prepare_bound(lua_State *L, const char *sql, int first);
/* The generic-for values iterating st's rows as shape (4 values). */
int push_rows(lua_State *L, struct dbq *st, enum rows_shape shape);
/* The rows' metatable, once per state; the mlm.db table on the stack. */
void rows_register(lua_State *L);
void db_module_push(lua_State *L);

/* lists_moderate.c: list:moderation_token, list:moderate. */
int list_moderation_token(lua_State *L);
int list_moderate(lua_State *L);
int list_request_token(lua_State *L);
int list_decide_request(lua_State *L);

#endif
