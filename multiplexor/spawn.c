/*
 * spawn.c - fork and exec mlm-worker (spawn.h): the argument vector from
 * the multiplexor's own options, the signal mask reset, fd 0 the socket
 * (or /dev/null for the drainer) and fd 1 the log's stderr.
 */
#include "spawn.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The child side of a fork: stdin is in_fd, then exec. Never returns. */
static void program_exec(const struct spawn_args *args, int in_fd,
                         const char *mode, int with_policy)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in_fd, 0) == -1 || dup2(2, 1) == -1)
        _exit(127);
    const char *argv[10];
    int argc = 0;
    argv[argc++] = args->program;
    if (mode && !with_policy)
        argv[argc++] = mode; /* the drainer: -O first */
    if (args->explicit_config) {
        argv[argc++] = "-C";
        argv[argc++] = args->config_path;
    }
    if (with_policy) {
        argv[argc++] = "-P";
        argv[argc++] = args->policy;
    }
    if (args->foreground)
        argv[argc++] = "-f";
    if (args->debug)
        argv[argc++] = "-d";
    if (mode && with_policy)
        argv[argc++] = mode; /* the fork server: -Z last */
    argv[argc] = NULL;
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "mlm-worker: cannot run %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
}

int pair_open(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        msg_error("socketpair: %s", strerror(errno));
        return -1;
    }
    return 0;
}

pid_t spawn_worker(const struct spawn_args *args, enum spawn_role role,
                   int *sock)
{
    int sv[2];
    if (pair_open(sv) == -1)
        return -1;
    pid_t pid = fork();
    if (pid == -1) {
        msg_error("fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        program_exec(args, sv[1], role == SPAWN_FORK_SERVER ? "-Z" : NULL, 1);
    }
    close(sv[1]);
    *sock = sv[0];
    return pid;
}

pid_t spawn_drainer(const struct spawn_args *args)
{
    pid_t pid = fork();
    if (pid != 0) {
        if (pid == -1)
            msg_error("outbox: fork: %s", strerror(errno));
        return pid;
    }
    int null = open("/dev/null", O_RDONLY);
    if (null == -1)
        _exit(127);
    program_exec(args, null, "-O", 0);
    return -1; /* not reached */
}

int64_t backoff_ms(int failures, int64_t first_ms, int64_t max_ms)
{
    int64_t pause = first_ms << (failures < 7 ? failures : 7);
    return pause < max_ms ? pause : max_ms;
}
