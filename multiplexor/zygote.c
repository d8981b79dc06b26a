/*
 * zygote.c - the multiplexor's side of the worker fork server (mlm-worker
 * -Z, worker/zygote.c): start it, ask it for workers, read the pids it
 * answers, forget it when it misbehaves or dies.
 *
 * Why: a worker started with fork and exec spends about 2 ms of CPU in the
 * kernel and the dynamic loader before it reads the policy, and on a
 * 2-core machine running at full load that burst, every
 * worker_max_requests requests, shows in the latency of the requests
 * around it. A worker forked from the zygote has its libraries loaded
 * already.
 *
 * The event loop never waits for it. A request (ZY_FORK with the worker's
 * socket, common/zygote_proto.h) is sent, the worker joins the pool at
 * once with its pid owed, and the answer, read when the zygote's socket is
 * readable, fills it in (struct zygote_events: the pool's callbacks).
 * Waiting for the answer instead held every request in the loop for the
 * fork, about a millisecond on a busy machine (0.99 ms median, 1.9 ms
 * at most, measured over 74 starts at 4,400 transactions a second).
 * Answers come in the order of the requests.
 *
 * The zygote is a helper, never a dependency: when it is not there (not
 * started yet, restarting after a failure) or has not said it is ready
 * yet, the pool forks and execs the worker as before. One that does not
 * answer within ZYGOTE_ANSWER_MS is killed; the workers it owes start
 * again by exec when their sockets close. Workers it forks are the
 * multiplexor's children (worker/zygote.c), reaped and counted like any
 * other. A reload restarts it, so a new mlm-worker binary takes effect.
 */
#include "zygote.h"
#include "log.h"
#include "spawn.h"
#include "zygote_proto.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * It answers in a few milliseconds, at the lowest priority: 2 ms median,
 * 21 ms at p99 with 64 connections on 2 CPUs; 47 and 210 ms with four
 * busy loops on them as well. One that takes longer is taken for hung.
 */
#define ZYGOTE_ANSWER_MS 1000
/* At a reload or stop, the loop waits this long for answers still owed. */
#define ZYGOTE_DRAIN_MS 100
#define ZYGOTE_BACKOFF_MAX_MS 60000

/*
 * As root, before privileges are dropped: let the workers the zygote
 * forks at the lowest priority come back to the multiplexor's own
 * (worker/zygote.c). RLIMIT_NICE is raised to that, never beyond: no worker
 * can run ahead of the multiplexor.
 */
void zygote_nice_allow(void)
{
    struct rlimit limit;
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    if (geteuid() != 0 || errno != 0 || getrlimit(RLIMIT_NICE, &limit) == -1)
        return;
    rlim_t need = (rlim_t)(20 - base);
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= need)
        return;
    limit.rlim_cur = need;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < need)
        limit.rlim_max = need;
    if (setrlimit(RLIMIT_NICE, &limit) == -1) /* CAP_SYS_NICE may do */
        msg_debug("setrlimit RLIMIT_NICE: %s", strerror(errno));
}

/* In the process that stays (after the daemon's fork: not inherited). */
void zygote_init(struct zygote *z, const struct spawn_args *args,
                 const struct zygote_events *events)
{
    z->args = args;
    z->events = *events;
    /* For a zygote that cannot fork workers as the multiplexor's own
     * children and forks twice instead (worker/zygote.c): without it they
     * would go to init, never reaped here. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
        msg_warn("no child subreaper (%s): workers are started without the "
                 "fork server", strerror(errno));
        return;
    }
    z->next_ms = 0;
}

static void reaped_clear(struct zygote *z);

/* The pids it still owes when it is gone: nobody will tell them. */
static void owed_forget(struct zygote *z)
{
    for (int i = 0; i < z->owes_n; i++)
        z->events.pid_lost(z->events.ctx, z->owes[i].worker_id);
    z->owes_n = 0;
    reaped_clear(z);
}

static int answers_take(struct zygote *z, char *why, size_t whylen);

/* Read answers until none is owed, an error, or wait_ms passed. */
static void answers_drain(struct zygote *z, int wait_ms)
{
    int64_t deadline = now_ms() + wait_ms;
    struct pollfd p = {.fd = z->fd, .events = POLLIN};
    char why[256];
    while (z->owes_n > 0 && answers_take(z, why, sizeof why) == 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || (poll(&p, 1, (int)left) == -1 && errno != EINTR))
            break;
    }
}

/*
 * Stop using the zygote; it exits at the end of its socket (or is killed).
 * The answers it wrote before are read first: a pid owed and never read
 * is a worker that cannot be killed by pid.
 */
static void zygote_forget(struct zygote *z, int kill_it)
{
    if (z->fd != -1) {
        answers_drain(z, kill_it ? 0 : ZYGOTE_DRAIN_MS);
        kill_it |= z->owes_n > 0; /* hung: it would fork unnamed */
        loop_forget(&z->watch);
        close(z->fd);
    }
    owed_forget(z);
    z->in_len = 0;
    if (kill_it && z->pid > 0)
        kill(z->pid, SIGKILL);
    z->fd = -1;
    z->ready = 0;
    z->pid = 0; /* reaped later as a child the pool does not know */
}

static void zygote_lost(struct zygote *z, const char *why)
{
    msg_warn("worker fork server: %s; starting workers with exec until it "
             "is back", why);
    zygote_forget(z, 1);
    z->next_ms =
        now_ms() + backoff_ms(++z->failures, 1000, ZYGOTE_BACKOFF_MAX_MS);
}

static void zygote_event(void *ctx, uint32_t events);

void zygote_tick(struct zygote *z, int64_t now)
{
    if (z->owes_n > 0 && now - z->owes[0].asked_ms > ZYGOTE_ANSWER_MS)
        zygote_lost(z, "no answer");
    if (z->fd != -1 || z->next_ms < 0 || z->stopped || now < z->next_ms)
        return;
    int sock;
    pid_t pid = spawn_worker(z->args, SPAWN_FORK_SERVER, &sock);
    if (pid == -1) {
        z->next_ms = now + ZYGOTE_BACKOFF_MAX_MS;
        return;
    }
    z->fd = sock;
    z->pid = pid;
    if (loop_watch(&z->watch, sock, EPOLLIN, zygote_event, z, LOOP_LAST) == -1)
        zygote_lost(z, "cannot watch its socket");
    msg_debug("worker fork server started, pid %ld", (long)pid);
}

/* Hand the worker's end of its socket to the zygote. 0, or -1. */
static int request_send(int zygote_fd, int worker_id, int worker_sock)
{
    uint8_t msg[ZY_MSG_LEN];
    zy_encode(msg, ZY_FORK, (uint32_t)worker_id, 0);
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof msg};
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
    return put == (ssize_t)sizeof msg ? 0 : -1;
}

/*
 * A worker may load, fail and exit, and be reaped, before the zygote's
 * answer with its pid is read (the zygote runs at the lowest priority):
 * children reaped that were no known worker are kept a while for that.
 */
void zygote_reaped_unknown(struct zygote *z, pid_t pid)
{
    if (z->owes_n > 0) /* else it cannot be a worker's: ignored */
        z->reaped[z->reaped_next++ % ZYGOTE_OWES_MAX] = pid;
}

/* Nothing owed, nothing to remember: a pid kept longer could come back. */
static void reaped_clear(struct zygote *z)
{
    memset(z->reaped, 0, sizeof z->reaped);
    z->reaped_next = 0;
}

static int reaped_before(struct zygote *z, pid_t pid)
{
    for (int i = 0; i < ZYGOTE_OWES_MAX; i++)
        if (z->reaped[i] == pid) {
            z->reaped[i] = 0;
            return 1;
        }
    return 0;
}

/*
 * One message: its first says it is ready, each next answers the oldest
 * worker asked for (its ticket), with its pid or the fork's failure. -1,
 * with why, when the message makes no sense.
 */
static int answer(struct zygote *z, const uint8_t *data, char *why,
                  size_t whylen)
{
    struct zy_msg m;
    if (zy_decode(&m, data, ZY_MSG_LEN, why, whylen) == -1)
        return -1;
    if (!z->ready) {
        z->ready = m.type == ZY_READY && m.value == (uint32_t)z->pid;
        if (!z->ready)
            snprintf(why, whylen, "unexpected first message (type %u, pid "
                     "%u)", m.type, m.value);
        return z->ready ? 0 : -1;
    }
    if ((m.type != ZY_FORKED && m.type != ZY_FORK_FAILED) || z->owes_n == 0 ||
        m.ticket != (uint32_t)z->owes[0].worker_id) {
        snprintf(why, whylen, "unexpected answer (type %u, worker %u)",
                 m.type, m.ticket);
        return -1;
    }
    int id = z->owes[0].worker_id;
    z->owes_n--;
    memmove(z->owes, z->owes + 1, (size_t)z->owes_n * sizeof z->owes[0]);
    if (m.type == ZY_FORKED) {
        pid_t pid = (pid_t)m.value;
        z->failures = 0;
        z->forks++;
        msg_debug("worker %d is pid %ld", id, (long)pid);
        z->events.forked(z->events.ctx, id, pid, reaped_before(z, pid));
    } else {
        msg_debug("worker %d: the fork server could not fork it: %s", id,
                  strerror((int)m.value));
        z->events.fork_failed(z->events.ctx, id);
    }
    if (z->owes_n == 0)
        reaped_clear(z);
    return 0;
}

/*
 * The messages there are, without waiting. 0; -1 at EOF; -2 error or
 * nonsense (why).
 */
static int answers_take(struct zygote *z, char *why, size_t whylen)
{
    ssize_t got;
    do
        got = recv(z->fd, z->in + z->in_len,
                   sizeof z->in - z->in_len, MSG_DONTWAIT);
    while (got == -1 && errno == EINTR);
    if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (got <= 0) {
        snprintf(why, whylen, "%s",
                 got == 0 ? "exited (end of its socket)" : strerror(errno));
        return got == 0 ? -1 : -2;
    }
    z->in_len += (size_t)got;
    size_t used = 0;
    int bad = 0;
    while (!bad && z->in_len - used >= ZY_MSG_LEN) {
        bad = answer(z, z->in + used, why, whylen) == -1;
        used += ZY_MSG_LEN;
    }
    memmove(z->in, z->in + used, z->in_len - used);
    z->in_len -= used;
    return bad ? -2 : 0;
}

/* Its socket is readable (the loop's callback). */
static void zygote_event(void *ctx, uint32_t events)
{
    struct zygote *z = ctx;
    (void)events;
    char why[256];
    int taken = z->fd == -1 ? 0 : answers_take(z, why, sizeof why);
    if (taken < 0)
        zygote_lost(z, why);
}

int zygote_spawn(struct zygote *z, int worker_id, int *sock)
{
    int sv[2];
    if (z->fd == -1 || !z->ready || z->owes_n == ZYGOTE_OWES_MAX ||
        pair_open(sv) == -1)
        return -1;
    int sent = request_send(z->fd, worker_id, sv[1]);
    close(sv[1]);
    if (sent == -1) {
        close(sv[0]); /* not reused: the zygote may have it all the same */
        zygote_lost(z, "cannot write to it");
        return -1;
    }
    z->owes[z->owes_n++] =
        (struct zygote_ask){.worker_id = worker_id, .asked_ms = now_ms()};
    *sock = sv[0];
    return 0;
}

int zygote_exited(struct zygote *z, pid_t pid)
{
    if (pid != z->pid || pid <= 0)
        return 0;
    z->pid = 0; /* reaped: not to be killed */
    zygote_lost(z, "exited");
    return 1;
}

void zygote_restart(struct zygote *z)
{
    if (z->fd == -1)
        return;
    zygote_forget(z, 0);
    z->failures = 0;
    z->next_ms = 0;
    zygote_tick(z, now_ms());
}

void zygote_stop(struct zygote *z)
{
    zygote_forget(z, 0);
    z->next_ms = -1;
    z->stopped = 1;
}
