/*
 * lists.h - what lists.c shares with lists_held.c: the worker's database
 * connection and list objects, and the moderation queue's methods.
 */
#ifndef MLM_LISTS_H
#define MLM_LISTS_H

#include "db.h"

#include <lua.h>

/* The worker's database, opened on first use; a Lua error when it fails. */
struct db *lua_db(lua_State *L);
/* The list object at idx, or a Lua error. */
struct list_info *check_list(lua_State *L, int idx);

/* lists_held.c: list:hold, list:held, list:held_retry, list:approved. */
/* Where the installation secret is (secret_file); once, at start-up. */
void held_configure(const char *secret_file);
/* A new request: no held post is claimed by it yet. */
void held_request_begin(void);
int list_hold(lua_State *L);
int list_held(lua_State *L);
int list_held_retry(lua_State *L);
int list_approved(lua_State *L);
/* The configured secret_file (NULL: the default). */
const char *held_secret_path(void);
/* A held post as the table list:held returns. */
void push_held(lua_State *L, const struct held_info *h);

/* lists_moderate.c: list:moderation_token, list:moderate. */
int list_moderation_token(lua_State *L);
int list_moderate(lua_State *L);
int list_request_token(lua_State *L);
int list_decide_request(lua_State *L);

#endif
