/*
 * sendmail.c - mlm.sendmail(from, to, message): mail that the list policy
 * generates (confirmations, notices to moderators, owner forwards) is
 * handed to the MTA through the configured `sendmail` command, never sent
 * by mlm itself. Also mlm.encode_header(text) for headers a policy builds.
 *
 * In a worker (sendmail_use_outbox) the message goes to the outbox
 * (outbox.h) and the call returns once it is on disk: a submission
 * program that delivers at once would come back to mlm for a decision
 * that needs a worker, and a worker must never wait on that. The reply of
 * the request then carries REPLY_OUTBOX (sendmail_outbox_take). Elsewhere
 * (mlm-ctl) the command runs at once, with a deadline of half
 * request_timeout (inject.h).
 *
 * A header field of the message with a line over 998 octets (a notice
 * quoting a long Subject, say) is folded again before it is written.
 */
#include "inject.h"
#include "log.h"
#include "luambind.h"
#include "mlmconf.h"
#include "outbox.h"
#include "rfc2047.h"
#include "xmalloc.h"

#include <gmime/gmime.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sendmail_command;
static int64_t sendmail_timeout_ms = 15000;
static char *outbox_spool;       /* the worker's: mail goes to the outbox */
static int outbox_written;       /* since sendmail_outbox_take() */

void sendmail_configure(const char *command, int request_timeout)
{
    free(sendmail_command);
    sendmail_command = xstrdup(command);
    sendmail_timeout_ms = request_timeout > 1 ? request_timeout * 500LL : 500;
}

void sendmail_use_outbox(const char *spool_dir)
{
    free(outbox_spool);
    outbox_spool = spool_dir ? xstrdup(spool_dir) : NULL;
}

int sendmail_outbox_take(void)
{
    int written = outbox_written;
    outbox_written = 0;
    return written;
}

/* An address safe on a command line: valid, and not an option. */
static const char *check_arg_address(lua_State *L, const char *addr)
{
    if (!inject_address_ok(addr))
        luaL_error(L, "bad address for sendmail: '%s'", addr);
    return addr;
}

/* Send or queue msg: 0, or -1 with why. */
static int send_or_queue(const char *sender, const char *const *recipients,
                         size_t n, const char *msg, size_t len, char *why,
                         size_t whylen)
{
    if (outbox_spool) {
        if (outbox_put(outbox_spool, sender, recipients, n, msg, len, why,
                       whylen) == -1)
            return -1;
        outbox_written = 1;
        return 0;
    }
    const char **args = inject_args(sender, recipients, n);
    int rc = inject_message(sendmail_command, args, NULL, msg, len,
                            sendmail_timeout_ms, why, whylen);
    free(args);
    return rc;
}

/* Recipients are limited only by what a command line can hold. */
#define RECIPIENTS_MAX 10000

static int l_sendmail(lua_State *L)
{
    const char *from = luaL_checkstring(L, 1);
    size_t len;
    const char *msg = luaL_checklstring(L, 3, &len);
    if (sendmail_command == NULL)
        return luaL_error(L, "no sendmail command configured");
    lua_Integer nrcpt = lua_istable(L, 2) ? luaL_len(L, 2) : 1;
    if (nrcpt < 1 || nrcpt > RECIPIENTS_MAX)
        return luaL_error(L, "mlm.sendmail takes 1 to %d recipients",
                          RECIPIENTS_MAX);
    /* Check everything before allocating: a Lua error must not leak. */
    if (*from)
        check_arg_address(L, from);
    for (lua_Integer i = 1; lua_istable(L, 2) && i <= nrcpt; i++) {
        lua_rawgeti(L, 2, i);
        check_arg_address(L, luaL_checkstring(L, -1));
        lua_pop(L, 1); /* the string stays alive in the table */
    }
    if (!lua_istable(L, 2))
        check_arg_address(L, luaL_checkstring(L, 2));
    const char **rcpts = xcalloc((size_t)nrcpt, sizeof *rcpts);
    for (lua_Integer i = 1; lua_istable(L, 2) && i <= nrcpt; i++) {
        lua_rawgeti(L, 2, i);
        rcpts[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    if (!lua_istable(L, 2))
        rcpts[0] = lua_tostring(L, 2);
    char why[512];
    size_t folded_len = 0; /* no header line written is over 998 octets */
    char *folded = header_block_fold(msg, len, &folded_len);
    int rc = send_or_queue(from, rcpts, (size_t)nrcpt, folded ? folded : msg,
                           folded ? folded_len : len, why, sizeof why);
    free(folded);
    free(rcpts);
    if (rc == -1)
        return luaL_error(L, "sendmail (%s) failed: %s", sendmail_command,
                          why);
    lua_pushboolean(L, 1);
    return 1;
}

int sendmail_send(const char *from, const char *to, const char *msg,
                  size_t len)
{
    if (sendmail_command == NULL || !inject_address_ok(from) ||
        !inject_address_ok(to))
        return -1;
    char why[512];
    const char *rcpts[1] = {to};
    int rc = send_or_queue(from, rcpts, 1, msg, len, why, sizeof why);
    if (rc != 0)
        msg_warn("sendmail to %s: %s", to, why);
    return rc;
}

/* RFC 2047-encode text for a header value when it is not plain ASCII. */
static int l_encode_header(lua_State *L)
{
    char *encoded = rfc2047_encode(luaL_checkstring(L, 1));
    lua_pushstring(L, encoded);
    free(encoded);
    return 1;
}

/* text as encoded words, even when it is ASCII (a prefix before others). */
static int l_encode_word(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    struct mlm_buf out;
    buf_init(&out);
    rfc2047_encode_words(text, len, &out);
    lua_pushlstring(L, out.len ? (const char *)out.data : "", out.len);
    buf_free(&out);
    return 1;
}

void sendmail_register(lua_State *L, int module_idx)
{
    module_idx = lua_absindex(L, module_idx);
    lua_pushcfunction(L, l_sendmail);
    lua_setfield(L, module_idx, "sendmail");
    lua_pushcfunction(L, l_encode_header);
    lua_setfield(L, module_idx, "encode_header");
    lua_pushcfunction(L, l_encode_word);
    lua_setfield(L, module_idx, "encode_word");
}
