/*
 * inject.c - handing a message to the MTA through cfg.sendmail (the
 * contract is in inject.h).
 *
 * The message is written to the command's standard input while its output
 * is collected for the error message. The command runs in a process group
 * of its own, so that what it starts goes with it at the deadline.
 */
#include "inject.h"
#include "proto.h"
#include "sockio.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_KEEP 512

/* argv of command plus extra, NULL-terminated; *copy owns the strings. */
static char **command_argv(const char *command, const char *const *extra,
                           char **copy)
{
    size_t n = 0, cap = 8;
    char **argv = xmalloc(cap * sizeof *argv), *save = NULL;
    *copy = xstrdup(command);
    for (char *tok = strtok_r(*copy, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (n + 2 >= cap)
            argv = xrealloc(argv, (cap *= 2) * sizeof *argv);
        argv[n++] = tok;
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        if (n + 2 >= cap)
            argv = xrealloc(argv, (cap *= 2) * sizeof *argv);
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    return argv;
}

static void child_run(char **argv, int in, int out)
{
    setpgid(0, 0); /* its own group: the deadline kills what it started */
    if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* The first line of what the command said, for a one-line reason: at
 * most 200 bytes, anything but printable ASCII as '?'. */
static void first_line(const char *out, char *line, size_t linelen)
{
    size_t n = strcspn(out, "\r\n"), i;
    for (i = 0; i < n && i < 200 && i + 1 < linelen; i++)
        line[i] = out[i] >= 0x20 && out[i] < 0x7f ? out[i] : '?';
    if (linelen)
        line[i] = '\0';
}

const char **inject_args(const char *sender, const char *const *recipients,
                         size_t n)
{
    const char **argv = xcalloc(n + 3, sizeof *argv);
    argv[0] = "-f";
    argv[1] = sender && *sender ? sender : "<>";
    for (size_t i = 0; i < n; i++)
        argv[2 + i] = recipients[i];
    return argv;
}

int inject_address_ok(const char *address)
{
    return address_valid(address) && address[0] != '-' &&
           strpbrk(address, " \t") == NULL;
}

/*
 * extra as the envelope inject.h describes: "-f", the sender, then the
 * recipients, each address safe on a command line (inject_address_ok),
 * so that no address, wherever it came from, is taken for an option.
 * 0, or -1 with why.
 */
static int envelope_check(const char *const *extra, char *why, size_t whylen)
{
    if (extra == NULL)
        return 0;
    if (extra[0] == NULL || strcmp(extra[0], "-f") != 0 || extra[1] == NULL) {
        snprintf(why, whylen, "sendmail arguments are -f SENDER RECIPIENT...");
        return -1;
    }
    const char *sender = extra[1];
    if (*sender && strcmp(sender, "<>") != 0 && !inject_address_ok(sender)) {
        char safe[256];
        first_line(sender, safe, sizeof safe);
        snprintf(why, whylen, "bad sender address for sendmail: '%s'", safe);
        return -1;
    }
    for (size_t i = 2; extra[i]; i++) {
        if (!inject_address_ok(extra[i])) {
            char safe[256];
            first_line(extra[i], safe, sizeof safe);
            snprintf(why, whylen, "bad recipient address for sendmail: '%s'",
                     safe);
            return -1;
        }
    }
    return 0;
}

int inject_message(const char *command, const char *const *extra,
                   const char *first_header, const void *raw, size_t rawlen,
                   int64_t timeout_ms, char *why, size_t whylen)
{
    char *copy, output[OUTPUT_KEEP + 1] = "";
    size_t outlen = 0;
    if (envelope_check(extra, why, whylen) == -1)
        return -1;
    char **argv = command_argv(command, extra, &copy);
    int in[2], out[2];
    if (argv[0] == NULL) {
        free(argv);
        free(copy);
        snprintf(why, whylen, "sendmail is empty in the configuration");
        return -1;
    }
    if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        free(argv);
        free(copy);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid == 0)
        child_run(argv, in[0], out[1]);
    if (pid > 0)
        setpgid(pid, pid); /* either side may run first */
    close(in[0]);
    close(out[1]);
    if (pid == -1) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(in[1]);
        close(out[0]);
        free(argv);
        free(copy);
        return -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);

    /* Write the header line (if any), then the message; read the output
     * meanwhile. */
    const char *parts[2] = {first_header ? first_header : "", raw};
    size_t lens[2] = {first_header ? strlen(first_header) : 0, rawlen};
    size_t part = 0, done = 0;
    int writing = 1, reading = 1, broken = 0, timed_out = 0, status = 0;
    int64_t deadline = now_ms() + timeout_ms;
    int pause_ms = 1; /* it usually exits within milliseconds */
    pid_t got = 0;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    /*
     * Until it exits, not until its output ends: what it leaves running
     * in the background (a delivery) may hold the output open.
     */
    while (writing || reading) {
        while (writing && part < 2 && done == lens[part]) {
            part++;
            done = 0;
        }
        if (writing && part == 2) {
            close(in[1]);
            writing = 0;
            continue;
        }
        if (!writing && (got = waitpid(pid, &status, WNOHANG)) != 0)
            break;
        struct pollfd pfd[2];
        int n = 0;
        if (reading)
            pfd[n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
        if (writing)
            pfd[n++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int wait_ms = writing ? (int)left : (int)(left < pause_ms ? left : pause_ms);
        if (!writing && pause_ms < 50)
            pause_ms *= 2;
        if (poll(pfd, (nfds_t)n, wait_ms) == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (pfd[i].fd == out[0]) {
                char buf[4096];
                ssize_t r = read(out[0], buf, sizeof buf);
                if (r <= 0 && !(r == -1 && (errno == EINTR || errno == EAGAIN))) {
                    reading = 0;
                } else if (r > 0 && outlen < OUTPUT_KEEP) {
                    size_t keep = (size_t)r < OUTPUT_KEEP - outlen
                                      ? (size_t)r : OUTPUT_KEEP - outlen;
                    memcpy(output + outlen, buf, keep);
                    outlen += keep;
                    output[outlen] = '\0';
                }
            } else {
                ssize_t put = write(in[1], parts[part] + done,
                                    lens[part] - done);
                if (put > 0) {
                    done += (size_t)put;
                } else if (put == -1 && errno != EAGAIN && errno != EINTR) {
                    broken = 1; /* EPIPE: it stopped reading */
                    close(in[1]);
                    writing = 0;
                }
            }
        }
    }
    /* It exited: what it said before is there to be read, without waiting. */
    for (int reads = 0; got > 0 && reading && reads < 64; reads++) {
        char buf[4096];
        ssize_t r = read(out[0], buf, sizeof buf);
        if (r <= 0)
            break;
        size_t keep = (size_t)r < OUTPUT_KEEP - outlen ? (size_t)r
                                                      : OUTPUT_KEEP - outlen;
        memcpy(output + outlen, buf, keep);
        outlen += keep;
        output[outlen] = '\0';
    }
    if (writing)
        close(in[1]);
    close(out[0]);

    long pause_us = 1000;
    while (got == 0 && !timed_out && (got = waitpid(pid, &status, WNOHANG)) == 0) {
        if (now_ms() >= deadline) {
            timed_out = 1;
        } else {
            usleep((useconds_t)pause_us);
            pause_us = pause_us < 50000 ? pause_us * 2 : pause_us;
        }
    }
    if (timed_out) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
            ;
    }
    char said[256];
    first_line(output, said, sizeof said);
    int rc = -1;
    if (timed_out)
        snprintf(why, whylen, "%s did not finish within %lld ms: killed",
                 argv[0], (long long)timeout_ms);
    else if (got == -1)
        snprintf(why, whylen, "%s: %s", argv[0], strerror(errno));
    else if (WIFSIGNALED(status))
        snprintf(why, whylen, "%s was killed by signal %d", argv[0],
                 WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        snprintf(why, whylen, "%s exited with status %d%s%s", argv[0],
                 WEXITSTATUS(status), *said ? ": " : "", said);
    else if (broken)
        snprintf(why, whylen, "%s did not read the whole message", argv[0]);
    else
        rc = 0;
    free(argv);
    free(copy);
    return rc;
}
