/*
 * luambind.h - the Lua side of mlm: the `mlm` module (replies, logging),
 * the ctx object handed to each filter_* function, and ctx.message.
 *
 * ctx and message objects live for one request. Their userdata point at a
 * struct stage_run owned by C; when the request ends the run is detached
 * and any object a policy kept raises "used after its request ended".
 */
#ifndef MLM_LUAMBIND_H
#define MLM_LUAMBIND_H

#include "mime_limits.h"
#include "proto.h"

#include <lua.h>

struct message;
struct mlm_config;

/* Everything one filter_* call may read and change. */
struct stage_run {
    const struct mlm_request *req;
    struct mlm_reply *rep;
    struct message *message;     /* parsed lazily, on first use */
    char *footer_text;           /* ctx:add_footer, applied after the call */
    char *footer_html;
    int footer_set;
    struct auth_result *auth;    /* ctx.auth, computed on first read */
    char *wrap_text;             /* ctx:wrap_message, applied after the call */
    int wrap_set;
    char wrap_boundary[48];      /* WRAP_BOUNDARY_SIZE */
};

int luaopen_mlm(lua_State *L);

/* auth_lua.c: ctx.auth. */
struct auth_result;
void auth_configure(const struct mlm_config *cfg);
void auth_push(lua_State *L, struct stage_run *run);
void auth_run_free(struct stage_run *run);

/*
 * udata.c: userdata types found by the address of their name (a static
 * array): like luaL_newmetatable, luaL_setmetatable, luaL_testudata and
 * luaL_checkudata, without a string lookup per call.
 */
int udata_newmetatable(lua_State *L, const char *tname);
void udata_setmetatable(lua_State *L, const char *tname);
void *udata_test(lua_State *L, int idx, const char *tname);
void *udata_check(lua_State *L, int idx, const char *tname);
/* print(), sent to the log. */
int mlm_print(lua_State *L);

/* The live run behind a ctx argument, or a Lua error. */
struct stage_run *ctx_run(lua_State *L, int idx);
/*
 * udata.c: the run of the request in progress (the one whose ctx or message
 * objects are live), or NULL: for list methods a policy may call without
 * its ctx.
 */
struct stage_run *ctx_current(lua_State *L);

/* lists.c: mlm.list, mlm.resolve, mlm.db and list objects. */
struct mlm_config;
/* Where the database is; called once before any policy loads. */
void mlm_lua_configure(const struct mlm_config *cfg);
void lists_register(lua_State *L, int module_idx);
/* A request begins: what the connection remembers is checked again. */
/* A request begins: actor is who its database changes are by. */
void lists_request_begin(const char *actor);
/*
 * A request ended: distributed when its message goes on to the list
 * (continue or accept); a held post's claim is undone when it did not.
 */
void lists_request_end(int distributed);
/* Close the worker's database connection (at exit). */
void lists_shutdown(void);

/* sendmail.c: mlm.sendmail and mlm.encode_header. */
/* The command, and request_timeout: its deadline is half of that. */
void sendmail_configure(const char *command, int request_timeout);
/* In a worker: generated mail goes to SPOOL_DIR's outbox (outbox.h). */
void sendmail_use_outbox(const char *spool_dir);
/* Whether mail went to the outbox since the last call. */
int sendmail_outbox_take(void);
void sendmail_register(lua_State *L, int module_idx);
/* msg to one recipient through the sendmail command: 0, or -1. */
int sendmail_send(const char *from, const char *to, const char *msg,
                  size_t len);

/* Push a new ctx for run. */
void ctx_push(lua_State *L, struct stage_run *run);
/* udata.c: remember a request-bound userdata (its first field is the run
 * pointer). */
void live_track(lua_State *L, int idx);
/* udata.c: detach every ctx/message userdata from the run that just ended. */
void ctx_detach_all(lua_State *L);

/*
 * Read a filter's return value at idx into rep (nil: continue). Returns 0,
 * or -1 with why when it is not a reply made by mlm.*().
 */
int reply_from_lua(lua_State *L, int idx, struct mlm_reply *rep, char *why,
                   size_t whylen);

/* message.c */
struct message *message_new(const char *path, uint64_t size);
/* The message of a run at end of message, made on first use. */
struct message *run_message(struct stage_run *run);
void message_free(struct message *m);
void message_push(lua_State *L, struct stage_run *run);
void message_register(lua_State *L);
/*
 * How many top-level headers called name the message of run (end of
 * message) arrived with; a Lua error when it cannot be read.
 */
int message_count_headers(lua_State *L, struct stage_run *run,
                          const char *name);
/*
 * The parsed message (GMimeMessage *), or NULL with why. A message over
 * mime_max_parts, mime_max_depth or mime_max_headers is not parsed: NULL, and
 * message_mime_refusal says why from then on.
 */
void *message_gmime(struct message *m, char *why, size_t whylen);
/* Why the message's MIME structure was refused, or NULL. */
const char *message_mime_refusal(const struct message *m);

/*
 * Add a text footer without parsing the whole message when it is one plain
 * text part (footer_apply_plain): 1 written, 0 use footer_apply, -1 error.
 */
int message_footer_plain(struct message *m, const char *text,
                         const char *out_path, char *why, size_t whylen);

/*
 * Whether the body of m, written back from its parse (top: the top-level
 * part of message_gmime's message, unchanged), is byte for byte the body
 * received; 0 also when the body cannot be read.
 */
int message_body_reproducible(struct message *m, void *top);

int policy_pcall(lua_State *L, int nargs, int nresults, char *why,
                 size_t whylen);

#endif
