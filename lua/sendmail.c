/*
 * sendmail.c - mlm.sendmail(from, to, message): mail that the list policy
 * generates (confirmations, notices to moderators, owner forwards) is
 * handed to the MTA through the configured `sendmail` command, never sent
 * by mlm itself. Also mlm.encode_header(text) for headers a policy builds.
 *
 * The command gets a deadline, half of request_timeout: a sendmail that
 * does not read its input or does not exit by then is killed (its whole
 * process group) and the call fails with a Lua error, so the request ends
 * before the multiplexor would kill the worker for it.
 *
 * A header field of the message with a line over 998 octets (a notice
 * quoting a long Subject, say) is folded again before it is written.
 */
#include "log.h"
#include "luambind.h"
#include "mlmconf.h"
#include "rfc2047.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *sendmail_command;
static int64_t sendmail_timeout_ms = 15000;

void sendmail_configure(const char *command, int request_timeout)
{
    free(sendmail_command);
    sendmail_command = xstrdup(command);
    sendmail_timeout_ms = request_timeout > 1 ? request_timeout * 500LL : 500;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write msg to fd (non-blocking) before deadline: 0, or -1. */
static int write_until(int fd, const char *msg, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, msg + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno != EAGAIN)
            return -1;
        int64_t left = deadline - monotonic_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
            return -1;
    }
    return 0;
}

/*
 * Wait for pid until deadline: its status, or -1 after killing its
 * process group (it timed out). Polls with a growing pause; sendmail
 * usually exits within milliseconds.
 */
static int wait_until(pid_t pid, int64_t deadline)
{
    int status;
    long pause_us = 1000;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return status;
        if (got == -1 && errno != EINTR)
            return -1;
        if (monotonic_ms() >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
                ;
            return -1;
        }
        struct timespec ts = {0, pause_us * 1000};
        nanosleep(&ts, NULL);
        if (pause_us < 50000)
            pause_us *= 2;
    }
}

/* An address safe on a command line: valid, and not an option. */
static const char *check_arg_address(lua_State *L, const char *addr)
{
    if (!address_valid(addr) || addr[0] == '-' || strchr(addr, ' '))
        luaL_error(L, "bad address for sendmail: '%s'", addr);
    return addr;
}

/* Run argv with msg on its stdin, within the deadline: 0, or -1 with why. */
static int run_sendmail(const char **argv, const char *msg, size_t len,
                        char *why, size_t whylen)
{
    int fds[2];
    if (pipe(fds) == -1) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == -1) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0); /* its own group: a timeout kills what it started */
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull != -1)
            dup2(devnull, 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid); /* either side may run first */
    close(fds[0]);
    int64_t deadline = monotonic_ms() + sendmail_timeout_ms;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    int written = write_until(fds[1], msg, len, deadline);
    close(fds[1]);
    signal(SIGPIPE, old);
    int status = wait_until(pid, deadline);
    if (status == -1) {
        snprintf(why, whylen, "did not finish within %lld ms: killed",
                 (long long)sendmail_timeout_ms);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, whylen, "exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return -1;
    }
    if (written == -1) {
        snprintf(why, whylen, "did not read the whole message");
        return -1;
    }
    return 0;
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
    char why[128];
    size_t folded_len = 0; /* no header line written is over 998 octets */
    char *folded = header_block_fold(msg, len, &folded_len);
    int rc = run_sendmail(argv, folded ? folded : msg, folded ? folded_len : len,
                          why, sizeof why);
    free(folded);
    free(argv);
    free(copy);
    if (rc == -1)
        return luaL_error(L, "sendmail (%s) failed: %s", sendmail_command,
                          why);
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
    char why[256];
    int rc = run_sendmail(argv, msg, len, why, sizeof why);
    if (rc != 0)
        msg_warn("sendmail to %s: %s", to, why);
    free(argv);
    free(copy);
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
