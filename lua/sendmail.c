/*
 * sendmail.c - mlm.sendmail(from, to, message): mail that the list policy
 * generates (confirmations, notices to moderators, owner forwards) is
 * handed to the MTA through the configured `sendmail` command, never sent
 * by mlm itself. Also mlm.encode_header(text) for headers a policy builds.
 */
#include "luambind.h"
#include "mlmconf.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *sendmail_command;

void sendmail_configure(const char *command)
{
    free(sendmail_command);
    sendmail_command = xstrdup(command);
}

/* An address safe on a command line: valid, and not an option. */
static const char *check_arg_address(lua_State *L, const char *addr)
{
    if (!address_valid(addr) || addr[0] == '-' || strchr(addr, ' '))
        luaL_error(L, "bad address for sendmail: '%s'", addr);
    return addr;
}

static int run_sendmail(const char **argv, const char *msg, size_t len)
{
    int fds[2];
    if (pipe(fds) == -1)
        return -1;
    pid_t pid = fork();
    if (pid == -1) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull != -1)
            dup2(devnull, 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fds[1], msg + off, len - off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fds[1]);
    signal(SIGPIPE, old);
    int status;
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        ;
    return off == len && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0
                                                                       : -1;
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
    const char *sender = *from ? check_arg_address(L, from) : "<>";
    for (lua_Integer i = 1; lua_istable(L, 2) && i <= nrcpt; i++) {
        lua_rawgeti(L, 2, i);
        check_arg_address(L, luaL_checkstring(L, -1));
        lua_pop(L, 1); /* the string stays alive in the table */
    }
    if (!lua_istable(L, 2))
        check_arg_address(L, luaL_checkstring(L, 2));
    size_t words = 1;
    for (const char *p = sendmail_command; *p; p++)
        words += *p == ' ' || *p == '\t';
    const char **argv = xcalloc(words + 3 + (size_t)nrcpt + 1, sizeof *argv);
    int argc = 0;
    char *copy = xstrdup(sendmail_command), *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    argv[argc++] = "-f";
    argv[argc++] = sender;
    for (lua_Integer i = 1; lua_istable(L, 2) && i <= nrcpt; i++) {
        lua_rawgeti(L, 2, i);
        argv[argc++] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    if (!lua_istable(L, 2))
        argv[argc++] = lua_tostring(L, 2);
    argv[argc] = NULL;
    int rc = run_sendmail(argv, msg, len);
    free(argv);
    free(copy);
    if (rc == -1)
        return luaL_error(L, "sendmail (%s) failed", sendmail_command);
    lua_pushboolean(L, 1);
    return 1;
}

int sendmail_send(const char *from, const char *to, const char *msg,
                  size_t len)
{
    if (sendmail_command == NULL || !address_valid(from) || from[0] == '-' ||
        !address_valid(to) || to[0] == '-')
        return -1;
    size_t words = 1;
    for (const char *p = sendmail_command; *p; p++)
        words += *p == ' ' || *p == '\t';
    const char **argv = xcalloc(words + 5, sizeof *argv);
    int argc = 0;
    char *copy = xstrdup(sendmail_command), *save = NULL;
    for (char *tok = strtok_r(copy, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    argv[argc++] = "-f";
    argv[argc++] = from;
    argv[argc++] = to;
    argv[argc] = NULL;
    int rc = run_sendmail(argv, msg, len);
    free(argv);
    free(copy);
    return rc;
}

/* RFC 2047-encode text for a header value when it is not plain ASCII. */
static int l_encode_header(lua_State *L)
{
    const char *text = luaL_checkstring(L, 1);
    char *encoded = g_mime_utils_header_encode_text(NULL, text, "UTF-8");
    lua_pushstring(L, encoded ? encoded : text);
    g_free(encoded);
    return 1;
}

void sendmail_register(lua_State *L, int module_idx)
{
    module_idx = lua_absindex(L, module_idx);
    lua_pushcfunction(L, l_sendmail);
    lua_setfield(L, module_idx, "sendmail");
    lua_pushcfunction(L, l_encode_header);
    lua_setfield(L, module_idx, "encode_header");
}
