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
 * socket, common/zygote_proto.h) is sent, the worker joins the pool at once with its pid owed,
 * and the answer, read when the zygote's socket is readable, fills it in.
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
#include "mux.h"
#include "log.h"
#include "sockio.h"
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
void zygote_init(struct mux *mx)
{
    /* For a zygote that cannot fork workers as the multiplexor's own
     * children and forks twice instead (worker/zygote.c): without it they
     * would go to init, never reaped here. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
        msg_warn("no child subreaper (%s): workers are started without the "
                 "fork server", strerror(errno));
        return;
    }
    mx->zygote_next_ms = 0;
}

static void reaped_clear(struct mux *mx);

/*
 * Workers whose pid it still owes when it is gone: they live or leave by
 * their socket (a worker never forked sees its end closed with the
 * zygote), and cannot be killed by pid.
 */
static void owed_forget(struct mux *mx)
{
    for (int i = 0; i < mx->zygote_owes_n; i++) {
        struct worker *w = worker_find(mx, mx->zygote_owes[i].worker_id);
        if (w == NULL)
            continue;
        w->pid_owed = 0;
        w->pid_unknown = w->pid == 0 && !w->reaped;
        if (w->pid_unknown)
            msg_warn("worker %d: its fork server did not say its pid; it "
                     "will, when it is ready", w->id);
    }
    mx->zygote_owes_n = 0;
    reaped_clear(mx);
}

static int answers_take(struct mux *mx, char *why, size_t whylen);

/* Read answers until none is owed, an error, or wait_ms passed. */
static void answers_drain(struct mux *mx, int wait_ms)
{
    int64_t deadline = now_ms() + wait_ms;
    struct pollfd p = {.fd = mx->zygote_fd, .events = POLLIN};
    char why[256];
    while (mx->zygote_owes_n > 0 && answers_take(mx, why, sizeof why) == 0) {
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
static void zygote_forget(struct mux *mx, int kill_it)
{
    if (mx->zygote_fd != -1) {
        answers_drain(mx, kill_it ? 0 : ZYGOTE_DRAIN_MS);
        kill_it |= mx->zygote_owes_n > 0; /* hung: it would fork unnamed */
        watch_forget(&mx->zygote_watch, mx->zygote_fd);
        close(mx->zygote_fd);
    }
    owed_forget(mx);
    mx->zygote_in_len = 0;
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
    if (mx->zygote_owes_n > 0 &&
        now - mx->zygote_owes[0].asked_ms > ZYGOTE_ANSWER_MS)
        zygote_lost(mx, "no answer");
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
void zygote_reaped_unknown(struct mux *mx, pid_t pid)
{
    if (mx->zygote_owes_n > 0) /* else it cannot be a worker's: ignored */
        mx->zygote_reaped[mx->zygote_reaped_next++ % ZYGOTE_OWES_MAX] = pid;
}

/* Nothing owed, nothing to remember: a pid kept longer could come back. */
static void reaped_clear(struct mux *mx)
{
    memset(mx->zygote_reaped, 0, sizeof mx->zygote_reaped);
    mx->zygote_reaped_next = 0;
}

static int reaped_before(struct mux *mx, pid_t pid)
{
    for (int i = 0; i < ZYGOTE_OWES_MAX; i++)
        if (mx->zygote_reaped[i] == pid) {
            mx->zygote_reaped[i] = 0;
            return 1;
        }
    return 0;
}

/*
 * One message: its first says it is ready, each next answers the oldest
 * worker asked for (its ticket), with its pid or the fork's failure. -1,
 * with why, when the message makes no sense.
 */
static int answer(struct mux *mx, const uint8_t *data, char *why,
                  size_t whylen)
{
    struct zy_msg m;
    if (zy_decode(&m, data, ZY_MSG_LEN, why, whylen) == -1)
        return -1;
    if (!mx->zygote_ready) {
        mx->zygote_ready = m.type == ZY_READY && m.value ==
                                                     (uint32_t)mx->zygote_pid;
        if (!mx->zygote_ready)
            snprintf(why, whylen, "unexpected first message (type %u, pid "
                     "%u)", m.type, m.value);
        return mx->zygote_ready ? 0 : -1;
    }
    if ((m.type != ZY_FORKED && m.type != ZY_FORK_FAILED) ||
        mx->zygote_owes_n == 0 ||
        m.ticket != (uint32_t)mx->zygote_owes[0].worker_id) {
        snprintf(why, whylen, "unexpected answer (type %u, worker %u)",
                 m.type, m.ticket);
        return -1;
    }
    int id = mx->zygote_owes[0].worker_id;
    mx->zygote_owes_n--;
    memmove(mx->zygote_owes, mx->zygote_owes + 1,
            (size_t)mx->zygote_owes_n * sizeof mx->zygote_owes[0]);
    struct worker *w = worker_find(mx, id);
    if (w == NULL)
        return 0; /* cannot be: a worker is freed only once its pid came */
    w->pid_owed = 0;
    if (m.type == ZY_FORKED) {
        pid_t pid = (pid_t)m.value;
        mx->zygote_failures = 0;
        mx->zygote_forks++;
        if (reaped_before(mx, pid)) {
            w->reaped = 1; /* pid stays 0: freed once lost */
            stats_worker_exited();
        } else if (!w->reaped && w->pid == 0) {
            w->pid = pid; /* unless its READY told it already */
            w->pid_unknown = 0;
        }
        msg_debug("worker %d is pid %ld", w->id, (long)pid);
    } else {
        msg_debug("worker %d: the fork server could not fork it: %s", w->id,
                 strerror((int)m.value));
        stats_worker_exited(); /* never was */
        w->reaped = 1;
        if (w->state != W_DEAD)
            worker_lost(mx, w, "the fork server could not fork it");
    }
    if (mx->zygote_owes_n == 0)
        reaped_clear(mx);
    return 0;
}

/*
 * The messages there are, without waiting. 0; -1 at EOF; -2 error or
 * nonsense (why).
 */
static int answers_take(struct mux *mx, char *why, size_t whylen)
{
    ssize_t got;
    do
        got = recv(mx->zygote_fd, mx->zygote_in + mx->zygote_in_len,
                   sizeof mx->zygote_in - mx->zygote_in_len, MSG_DONTWAIT);
    while (got == -1 && errno == EINTR);
    if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (got <= 0) {
        snprintf(why, whylen, "%s",
                 got == 0 ? "exited (end of its socket)" : strerror(errno));
        return got == 0 ? -1 : -2;
    }
    mx->zygote_in_len += (size_t)got;
    size_t used = 0;
    int bad = 0;
    while (!bad && mx->zygote_in_len - used >= ZY_MSG_LEN) {
        bad = answer(mx, mx->zygote_in + used, why, whylen) == -1;
        used += ZY_MSG_LEN;
    }
    memmove(mx->zygote_in, mx->zygote_in + used, mx->zygote_in_len - used);
    mx->zygote_in_len -= used;
    return bad ? -2 : 0;
}

void zygote_readable(struct mux *mx)
{
    char why[256];
    int taken = mx->zygote_fd == -1 ? 0 : answers_take(mx, why, sizeof why);
    if (taken < 0)
        zygote_lost(mx, why);
}

int zygote_spawn(struct mux *mx, int worker_id, int *sock)
{
    int sv[2];
    if (mx->zygote_fd == -1 || !mx->zygote_ready ||
        mx->zygote_owes_n == ZYGOTE_OWES_MAX || pair_open(sv) == -1)
        return -1;
    int sent = request_send(mx->zygote_fd, worker_id, sv[1]);
    close(sv[1]);
    if (sent == -1) {
        close(sv[0]); /* not reused: the zygote may have it all the same */
        zygote_lost(mx, "cannot write to it");
        return -1;
    }
    mx->zygote_owes[mx->zygote_owes_n++] =
        (struct zygote_ask){.worker_id = worker_id, .asked_ms = now_ms()};
    *sock = sv[0];
    return 0;
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
