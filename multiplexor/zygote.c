/*
 * zygote.c - the multiplexor's side of the worker fork server (mlm-worker
 * -Z, lua/zygote.c): start it, ask it for a worker, forget it when it
 * misbehaves or dies.
 *
 * Why: a worker started with fork and exec spends about 2 ms of CPU in the
 * kernel and the dynamic loader before it reads the policy, and on a
 * 2-core machine running at full load that burst, every
 * worker_max_requests requests, shows in the latency of the requests
 * around it. A worker forked from the zygote has its libraries loaded
 * already.
 *
 * The zygote is a helper, never a dependency: when it is not there (not
 * started yet, restarting after a failure, no child subreaper) or does not
 * answer within ZYGOTE_ANSWER_MS, or has not said it is ready yet, the
 * pool forks and execs the worker as before. Workers it forks are re-parented to the multiplexor (a child
 * subreaper), so they are reaped and counted like any other. A reload
 * restarts it, so a new mlm-worker binary takes effect.
 */
#include "mux.h"
#include "log.h"
#include "sockio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* It answers in well under a millisecond; the loop waits no longer than this. */
#define ZYGOTE_ANSWER_MS 200
#define ZYGOTE_BACKOFF_MAX_MS 60000

/* In the process that stays (after the daemon's fork: not inherited). */
void zygote_init(struct mux *mx)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
        msg_warn("no child subreaper (%s): workers are started without the "
                 "fork server", strerror(errno));
        return;
    }
    mx->zygote_next_ms = 0;
}

/* Stop using the zygote; it exits at the end of its socket (or is killed). */
static void zygote_forget(struct mux *mx, int kill_it)
{
    if (mx->zygote_fd != -1)
        close(mx->zygote_fd);
    if (kill_it && mx->zygote_pid > 0)
        kill(mx->zygote_pid, SIGKILL);
    mx->zygote_fd = -1;
    mx->zygote_ready = 0;
    mx->zygote_pid = 0; /* reaped later as a child the pool does not know */
}

static void zygote_lost(struct mux *mx, const char *why)
{
    msg_warn("worker fork server: %s; starting workers with exec until it "
             "is back", why);
    zygote_forget(mx, 1);
    mx->zygote_next_ms = now_ms() + backoff_ms(++mx->zygote_failures, 1000,
                                               ZYGOTE_BACKOFF_MAX_MS);
}

void zygote_tick(struct mux *mx, int64_t now)
{
    if (mx->zygote_fd != -1 || mx->zygote_next_ms < 0 || mx->stopping ||
        now < mx->zygote_next_ms)
        return;
    int sock;
    pid_t pid = worker_spawn(mx, 1, &sock);
    if (pid == -1) {
        mx->zygote_next_ms = now + ZYGOTE_BACKOFF_MAX_MS;
        return;
    }
    mx->zygote_fd = sock;
    mx->zygote_pid = pid;
    msg_debug("worker fork server started, pid %ld", (long)pid);
}

/* Hand the worker's end of its socket to the zygote. 0, or -1. */
static int request_send(int zygote_fd, int worker_sock)
{
    char byte = 'W';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr hdr;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control.space,
                       .msg_controllen = sizeof control.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &worker_sock, sizeof worker_sock);
    ssize_t put;
    do
        put = sendmsg(zygote_fd, &m, MSG_NOSIGNAL);
    while (put == -1 && errno == EINTR);
    return put == 1 ? 0 : -1;
}

/* The zygote's answer: a pid, 0 when its fork failed, -1 when it is lost. */
static pid_t answer_read(struct mux *mx)
{
    int64_t deadline = now_ms() + ZYGOTE_ANSWER_MS;
    struct pollfd p = {.fd = mx->zygote_fd, .events = POLLIN};
    int32_t pid;
    for (;;) {
        int64_t left = deadline - now_ms();
        int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (ready == -1 && errno == EINTR)
            continue;
        if (ready != 1)
            return -1;
        ssize_t got = recv(mx->zygote_fd, &pid, sizeof pid, MSG_WAITALL);
        if (got == -1 && errno == EINTR)
            continue;
        if (got != (ssize_t)sizeof pid)
            return -1;
        return pid > 0 ? (pid_t)pid : 0;
    }
}

/*
 * Its first word says it is ready to fork. Until it came, workers are
 * executed: the loop never waits for the fork server's own start.
 */
static int zygote_is_ready(struct mux *mx)
{
    if (mx->zygote_ready)
        return 1;
    int32_t word;
    ssize_t got = recv(mx->zygote_fd, &word, sizeof word, MSG_DONTWAIT);
    if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (got != (ssize_t)sizeof word || word != 0) {
        zygote_lost(mx, got == 0 ? "exited while starting" : "bad first word");
        return 0;
    }
    mx->zygote_ready = 1;
    return 1;
}

pid_t zygote_spawn(struct mux *mx, int worker_sock)
{
    if (mx->zygote_fd == -1 || !zygote_is_ready(mx))
        return -1;
    if (request_send(mx->zygote_fd, worker_sock) == -1) {
        zygote_lost(mx, "cannot write to it");
        return -1;
    }
    pid_t pid = answer_read(mx);
    if (pid == -1) {
        zygote_lost(mx, "no answer");
        return -1;
    }
    if (pid == 0)
        return -1; /* its fork failed: exec this one */
    mx->zygote_failures = 0;
    mx->zygote_forks++;
    return pid;
}

int zygote_exited(struct mux *mx, pid_t pid)
{
    if (pid != mx->zygote_pid || pid <= 0)
        return 0;
    mx->zygote_pid = 0; /* reaped: not to be killed */
    zygote_lost(mx, "exited");
    return 1;
}

void zygote_restart(struct mux *mx)
{
    if (mx->zygote_fd == -1)
        return;
    zygote_forget(mx, 0);
    mx->zygote_failures = 0;
    mx->zygote_next_ms = 0;
    zygote_tick(mx, now_ms());
}

void zygote_stop(struct mux *mx)
{
    zygote_forget(mx, 0);
    mx->zygote_next_ms = -1;
}
