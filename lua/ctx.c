/*
 * ctx.c - the ctx object handed to each filter_* function.
 *
 * Fields read the request (ctx.sender, ctx.recipients, ...); methods record
 * changes in the reply, which mlmd applies after the function returns, all
 * or nothing. Every change is checked here, so a policy that tries to put
 * CR or LF in a header, or a control character in an address, gets a Lua
 * error at its own line and nothing reaches the MTA.
 *
 * Above message.c (ctx.message is a message object): message.c does not
 * call back here; both track their request-bound userdata in udata.c.
 */
#include "luambind.h"
#include "wrap.h"
#include "xmalloc.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static const char CTX_MT[] = "mlm.ctx";

struct ctx_ud {
    struct stage_run *run;
};

/* The live run behind a ctx argument, or a Lua error. */
struct stage_run *ctx_run(lua_State *L, int idx)
{
    struct ctx_ud *ud = udata_check(L, idx, CTX_MT);
    if (ud->run == NULL)
        luaL_error(L, "ctx used after its request ended");
    return ud->run;
}

/* Changes are for end of message only: earlier the MTA cannot take them. */
static struct stage_run *ctx_changes(lua_State *L)
{
    struct stage_run *run = ctx_run(L, 1);
    if (run->req->stage != STAGE_MESSAGE)
        luaL_error(L, "message changes are only possible in filter_message, "
                   "not in %s", stage_function(run->req->stage));
    return run;
}

static const char *check_header_name(lua_State *L, int idx)
{
    const char *name = luaL_checkstring(L, idx);
    if (!header_name_valid(name))
        luaL_error(L, "bad header name '%s'", name);
    return name;
}

static const char *check_header_value(lua_State *L, int idx)
{
    const char *value = luaL_checkstring(L, idx);
    if (!header_value_valid(value))
        luaL_error(L, "header value holds CR, LF or another control "
                   "character (or is longer than 16384 bytes)");
    return value;
}

static const char *check_address(lua_State *L, int idx)
{
    size_t len;
    const char *addr = luaL_checklstring(L, idx, &len);
    if (!address_valid(addr) || strlen(addr) != len)
        luaL_error(L, "bad address: control characters or angle brackets");
    return addr;
}

static uint32_t check_index(lua_State *L, int idx)
{
    lua_Integer index = luaL_optinteger(L, idx, 1);
    luaL_argcheck(L, index >= 1 && index <= 100000, idx,
                  "index must be 1 or more");
    return (uint32_t)index;
}

/* A header change, its value folded as the MTA will write it (header_fold). */
static void header_change(struct stage_run *run, enum mlm_change_kind kind,
                          const char *name, const char *value, uint32_t index)
{
    char *folded = header_fold(name, value);
    reply_add_change(run->rep, kind, name, folded, index);
    free(folded);
}

static int l_add_header(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    const char *name = check_header_name(L, 2);
    const char *value = check_header_value(L, 3);
    header_change(run, CHG_ADD_HEADER, name, value, 0);
    return 0;
}

static int l_change_header(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    const char *name = check_header_name(L, 2);
    const char *value = check_header_value(L, 3);
    header_change(run, CHG_CHANGE_HEADER, name, value, check_index(L, 4));
    return 0;
}

static int l_delete_header(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    const char *name = check_header_name(L, 2);
    reply_add_change(run->rep, CHG_DELETE_HEADER, name, NULL,
                     check_index(L, 3));
    return 0;
}

/* Header counts past what an index may name are hostile: an error. */
static int check_count(lua_State *L, int n, const char *name)
{
    if (n > 100000)
        luaL_error(L, "more than 100000 headers called %s", name);
    return n;
}

/*
 * ctx:set_header(name, value): one header called name with value, however
 * many the message arrived with (the first changed, the rest deleted, or
 * one added). One pass over the header block instead of a Lua table of
 * every value per header set: a list post sets eight.
 */
static void set_header(lua_State *L, struct stage_run *run, const char *name,
                       const char *value)
{
    int n = check_count(L, message_count_headers(L, run, name), name);
    if (n == 0) {
        header_change(run, CHG_ADD_HEADER, name, value, 0);
        return;
    }
    header_change(run, CHG_CHANGE_HEADER, name, value, 1);
    for (int i = n; i >= 2; i--)
        reply_add_change(run->rep, CHG_DELETE_HEADER, name, NULL,
                         (uint32_t)i);
}

/* Every header called name, last first. */
static void delete_headers(lua_State *L, struct stage_run *run,
                           const char *name)
{
    int n = check_count(L, message_count_headers(L, run, name), name);
    for (int i = n; i >= 1; i--)
        reply_add_change(run->rep, CHG_DELETE_HEADER, name, NULL,
                         (uint32_t)i);
}

static int l_set_header(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    const char *name = check_header_name(L, 2);
    const char *value = check_header_value(L, 3);
    set_header(L, run, name, value);
    return 0;
}

_Static_assert(sizeof ((struct stage_run *)0)->wrap_boundary ==
                   WRAP_BOUNDARY_SIZE,
               "stage_run.wrap_boundary holds a wrap_boundary()");

/* The top-level fields that describe the old body: gone in a wrapper. */
static const char *const wrapped_fields[] = {
    "Content-Transfer-Encoding", "Content-Disposition", "Content-Description",
    "Content-ID", "Content-Language", "Content-MD5", NULL};

/*
 * ctx:wrap_message{text = ...}: the body becomes multipart/mixed with a
 * text/plain part (text, then the footer of ctx:add_footer if any) and
 * the message as it arrived attached as message/rfc822 (wrap.c); the
 * top-level Content-Type, MIME-Version and the fields of the old body
 * change now, the body file is written after the call.
 */
static int l_wrap_message(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    const char *text = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "text");
        text = luaL_optstring(L, -1, NULL);
    }
    if (run->wrap_set)
        return luaL_error(L, "wrap_message: the message is wrapped already");
    char why[256];
    if (wrap_boundary(run->wrap_boundary, why, sizeof why) == -1)
        return luaL_error(L, "wrap_message: %s", why);
    char type[WRAP_BOUNDARY_SIZE + 40];
    snprintf(type, sizeof type, "multipart/mixed; boundary=\"%s\"",
             run->wrap_boundary);
    set_header(L, run, "Content-Type", type);
    set_header(L, run, "MIME-Version", "1.0");
    for (const char *const *f = wrapped_fields; *f; f++)
        delete_headers(L, run, *f);
    run->wrap_text = text ? xstrdup(text) : NULL;
    run->wrap_set = 1;
    return 0;
}

/* ctx:delete_headers(name): every header called name, last first. */
static int l_delete_headers(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    delete_headers(L, run, check_header_name(L, 2));
    return 0;
}

static int envelope_change(lua_State *L, enum mlm_change_kind kind)
{
    struct stage_run *run = ctx_changes(L);
    reply_add_change(run->rep, kind, NULL, check_address(L, 2), 0);
    return 0;
}

static int l_add_recipient(lua_State *L)
{
    return envelope_change(L, CHG_ADD_RCPT);
}
static int l_delete_recipient(lua_State *L)
{
    return envelope_change(L, CHG_DELETE_RCPT);
}
static int l_change_sender(lua_State *L)
{
    return envelope_change(L, CHG_CHANGE_SENDER);
}

static int l_quarantine(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    const char *reason = luaL_checkstring(L, 2);
    if (!reply_text_valid(reason))
        return luaL_error(L, "quarantine reason holds control characters");
    reply_add_change(run->rep, CHG_QUARANTINE, NULL, reason, 0);
    return 0;
}

/* ctx:add_footer{text = ..., html = ...}; applied once, after the call. */
static int l_add_footer(lua_State *L)
{
    struct stage_run *run = ctx_changes(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "text");
    lua_getfield(L, 2, "html");
    const char *text = luaL_optstring(L, -2, NULL);
    const char *html = luaL_optstring(L, -1, NULL);
    if (text == NULL && html == NULL)
        return luaL_error(L, "add_footer needs text or html");
    free(run->footer_text);
    free(run->footer_html);
    run->footer_text = text ? xstrdup(text) : NULL;
    run->footer_html = html ? xstrdup(html) : NULL;
    run->footer_set = 1;
    return 0;
}

static void push_strv(lua_State *L, const struct mlm_strv *sv)
{
    lua_createtable(L, (int)sv->n, 0);
    for (uint32_t i = 0; i < sv->n; i++) {
        lua_pushstring(L, sv->v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Macros by their MTA name ("{auth_authen}") and without braces. */
static void push_macros(lua_State *L, const struct mlm_strv *sv)
{
    lua_createtable(L, 0, (int)sv->n);
    for (uint32_t i = 0; i + 1 < sv->n; i += 2) {
        const char *name = sv->v[i];
        size_t len = strlen(name);
        lua_pushstring(L, sv->v[i + 1]);
        lua_setfield(L, -2, name);
        if (len > 2 && name[0] == '{' && name[len - 1] == '}') {
            lua_pushlstring(L, name + 1, len - 2);
            lua_pushstring(L, sv->v[i + 1]);
            lua_settable(L, -3);
        }
    }
}

static void push_opt_string(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushnil(L);
}

/* ctx.message: made once per request, kept in the ctx's user value. */
static void push_message(lua_State *L, struct stage_run *run)
{
    if (lua_getiuservalue(L, 1, 1) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    message_push(L, run);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 1);
}

/* ctx's fields; their names map to these in the __index upvalue. */
enum ctx_field {
    F_QID = 1, F_HOSTIP, F_HOSTNAME, F_HELO, F_SENDER, F_RECIPIENT,
    F_RECIPIENTS, F_ESMTP_ARGS, F_MACROS, F_STAGE, F_MESSAGE, F_AUTH
};

static const char *const ctx_field_names[] = {
    [F_QID] = "qid", [F_HOSTIP] = "hostip", [F_HOSTNAME] = "hostname",
    [F_HELO] = "helo", [F_SENDER] = "sender", [F_RECIPIENT] = "recipient",
    [F_RECIPIENTS] = "recipients", [F_ESMTP_ARGS] = "esmtp_args",
    [F_MACROS] = "macros", [F_STAGE] = "stage", [F_MESSAGE] = "message",
    [F_AUTH] = "auth"};

static void push_field(lua_State *L, struct stage_run *run,
                       enum ctx_field field)
{
    const struct mlm_request *req = run->req;
    switch (field) {
    case F_QID:
        push_opt_string(L, req->qid && *req->qid ? req->qid : NULL);
        break;
    case F_HOSTIP:
        push_opt_string(L, req->hostip);
        break;
    case F_HOSTNAME:
        push_opt_string(L, req->hostname);
        break;
    case F_HELO:
        push_opt_string(L, req->helo);
        break;
    case F_SENDER:
        push_opt_string(L, req->stage >= STAGE_SENDER ? req->sender : NULL);
        break;
    case F_RECIPIENT:
        push_opt_string(L, req->stage == STAGE_RECIPIENT ? req->recipient
                                                         : NULL);
        break;
    case F_RECIPIENTS:
        push_strv(L, &req->recipients);
        break;
    case F_ESMTP_ARGS:
        push_strv(L, &req->esmtp_args);
        break;
    case F_MACROS:
        push_macros(L, &req->macros);
        break;
    case F_STAGE:
        lua_pushstring(L, stage_name(req->stage));
        break;
    case F_MESSAGE:
        push_message(L, run);
        break;
    case F_AUTH:
        auth_push(L, run);
        break;
    }
}

/*
 * ctx.field or ctx:method, from the upvalue: a method's function, or a
 * field's number. One table lookup instead of a dozen string compares; a
 * policy reads ctx some forty times a post.
 */
static int ctx_index(lua_State *L)
{
    struct stage_run *run = ctx_run(L, 1);
    lua_settop(L, 2);
    switch (lua_rawget(L, lua_upvalueindex(1))) {
    case LUA_TFUNCTION:
        return 1;
    case LUA_TNUMBER:
        push_field(L, run, (enum ctx_field)lua_tointeger(L, 2));
        return 1;
    default:
        lua_pushnil(L);
        return 1;
    }
}

static int ctx_newindex(lua_State *L)
{
    return luaL_error(L, "ctx fields are read-only; use ctx:change_sender(), "
                      "ctx:add_recipient() and the like");
}

/* The methods of ctx: the changes a policy asks for. */
static const luaL_Reg ctx_methods[] = {
    {"add_header", l_add_header},
    {"change_header", l_change_header},
    {"delete_header", l_delete_header},
    {"set_header", l_set_header},
    {"delete_headers", l_delete_headers},
    {"add_recipient", l_add_recipient},
    {"delete_recipient", l_delete_recipient},
    {"change_sender", l_change_sender},
    {"add_footer", l_add_footer},
    {"wrap_message", l_wrap_message},
    {"quarantine", l_quarantine},
    {NULL, NULL}};

void ctx_push(lua_State *L, struct stage_run *run)
{
    struct ctx_ud *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    ud->run = run;
    if (udata_newmetatable(L, CTX_MT)) {
        luaL_newlib(L, ctx_methods);
        for (int f = F_QID; f <= F_AUTH; f++) {
            lua_pushinteger(L, f);
            lua_setfield(L, -2, ctx_field_names[f]);
        }
        lua_pushcclosure(L, ctx_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ctx_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushliteral(L, "mlm.ctx");
        lua_setfield(L, -2, "__name");
        message_register(L);
    }
    lua_setmetatable(L, -2);
    live_track(L, -1);
}
