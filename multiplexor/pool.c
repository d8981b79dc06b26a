/*
 * pool.c - the mlm-worker processes (pool.h): start, hand out requests,
 * collect replies, replace the dead, time out the stuck, retire the old.
 *
 * Workers belong to a generation (one loaded policy). A reload starts a
 * probe worker with the policy as it is now on disk; only when it says
 * READY does its generation start serving, and the old generation's workers
 * retire (idle ones at once, busy ones after their current request). If
 * the probe fails, the running generation stays.
 *
 * Each worker has two states: its service (worker_state, over its socket)
 * and its process (worker_proc). A worker is freed when it serves no more
 * and its process is collected (or can no longer be).
 */
#include "pool.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_GRACE_MS 2000
#define START_BACKOFF_MAX_MS 30000
/* a successor starts this fraction of worker_max_requests ahead */
#define SUCCESSOR_LEAD_DIV 10

static const char *const state_names[W_STATES] = {"starting", "idle", "busy",
                                                  "retiring", "closed"};

const char *worker_state_name(enum worker_state s) { return state_names[s]; }

static void worker_set_state(struct worker *w, enum worker_state state)
{
    if (w->state != state)
        msg_debug("worker %d (pid %ld): %s -> %s", w->id, (long)w->pid,
                  state_names[w->state], state_names[state]);
    w->state = state;
    w->state_since_ms = now_ms();
}

/* Its process is gone for good (collected, or never forked). */
static void worker_exited(struct pool *p, struct worker *w)
{
    w->pid = 0;
    w->proc = PROC_EXITED;
    p->exited++;
}

static struct worker *worker_find(const struct pool *p, int id)
{
    for (struct worker *w = p->workers; w; w = w->next)
        if (w->id == id)
            return w;
    return NULL;
}

/* Serve no more: closing its socket ends its read loop. */
static void worker_close(struct worker *w)
{
    if (w->fd != -1) {
        loop_forget(&w->watch);
        close(w->fd);
        w->fd = -1;
    }
    worker_set_state(w, W_CLOSED);
}

static void worker_kill(struct worker *w, const char *why)
{
    msg_warn("worker %d (pid %ld): %s: killing it", w->id, (long)w->pid, why);
    if (w->proc == PROC_RUNNING) /* else its fork server never told: it
                                    goes at EOF */
        kill(w->pid, SIGTERM);
    w->kill_at_ms = now_ms() + KILL_GRACE_MS;
    worker_close(w);
}

/* The worker failed mid-request or died: fail its job, close it. */
static void worker_lost(struct pool *p, struct worker *w, const char *why)
{
    if (w->job) {
        void *job = w->job;
        w->job = NULL;
        p->events.failed(p->events.ctx, job, why);
    }
    if (w->state == W_STARTING && w->reload_probe)
        p->events.reload_done(p->events.ctx, 0, why);
    if (w->state == W_STARTING)
        p->next_start_ms = now_ms() + backoff_ms(++p->start_failures, 250,
                                                 START_BACKOFF_MAX_MS);
    if (w->state != W_CLOSED)
        msg_warn("worker %d (pid %ld) lost: %s", w->id, (long)w->pid, why);
    worker_close(w);
}

/* Ask for output to be flushed when the socket takes it. */
static void worker_want(struct pool *p, struct worker *w)
{
    if (w->fd != -1 &&
        loop_want(&w->watch, EPOLLIN | (w->out.len ? EPOLLOUT : 0)) == -1)
        worker_lost(p, w, "cannot watch its socket");
}

static void worker_event(void *ctx, uint32_t events);

/* The fork server's answers about the workers it was asked for. */
static void zygote_forked(void *ctx, int ticket, pid_t pid, int exited)
{
    struct pool *p = ctx;
    struct worker *w = worker_find(p, ticket);
    if (w == NULL || w->proc != PROC_OWED)
        return; /* freed, or its READY told the pid first */
    if (exited) {
        worker_exited(p, w);
    } else {
        w->pid = pid;
        w->proc = PROC_RUNNING;
    }
}

static void zygote_fork_failed(void *ctx, int ticket)
{
    struct pool *p = ctx;
    struct worker *w = worker_find(p, ticket);
    if (w == NULL)
        return;
    worker_exited(p, w); /* never was */
    if (w->state != W_CLOSED)
        worker_lost(p, w, "the fork server could not fork it");
}

/* Workers whose pid it still owes when it is gone live or leave by their
 * socket (a worker never forked sees its end closed with the fork
 * server), and cannot be killed by pid. */
static void zygote_pid_lost(void *ctx, int ticket)
{
    struct pool *p = ctx;
    struct worker *w = worker_find(p, ticket);
    if (w == NULL || w->proc != PROC_OWED)
        return;
    w->proc = PROC_UNKNOWN;
    msg_warn("worker %d: its fork server did not say its pid; it will, when "
             "it is ready", w->id);
}

void pool_init(struct pool *p, const struct mlm_config *cfg,
               const struct spawn_args *spawn,
               const struct pool_events *events)
{
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->spawn = *spawn;
    p->events = *events;
    p->zygote.fd = -1;
    p->zygote.next_ms = -1; /* none until pool_fork_server_init */
}

void pool_fork_server_init(struct pool *p)
{
    const struct zygote_events ze = {p, zygote_forked, zygote_fork_failed,
                                     zygote_pid_lost};
    zygote_init(&p->zygote, &p->spawn, &ze);
}

/*
 * Through the fork server first. Its answer, the pid, comes later
 * (zygote_forked): the event loop does not wait for a fork on a machine
 * whose CPUs are busy with the requests it should be relaying.
 */
static struct worker *worker_start(struct pool *p, unsigned generation,
                                   int probe)
{
    int sock;
    pid_t pid = 0;
    if (zygote_spawn(&p->zygote, p->next_worker_id + 1, &sock) == -1 &&
        (pid = spawn_worker(&p->spawn, SPAWN_WORKER, &sock)) == -1)
        return NULL;
    fcntl(sock, F_SETFL, O_NONBLOCK);
    struct worker *w = xcalloc(1, sizeof *w);
    w->pool = p;
    w->id = ++p->next_worker_id;
    w->pid = pid;
    w->proc = pid ? PROC_RUNNING : PROC_OWED;
    w->fd = sock;
    w->generation = generation;
    w->reload_probe = probe;
    w->started_ms = now_ms();
    worker_set_state(w, W_STARTING);
    w->next = p->workers;
    p->workers = w;
    p->started++;
    msg_debug("worker %d started, %s, generation %u", w->id,
              pid ? "executed" : "through the fork server", generation);
    if (loop_watch(&w->watch, sock, EPOLLIN, worker_event, w, LOOP_FIRST) ==
        -1)
        worker_lost(p, w, "cannot watch its socket");
    return w;
}

struct worker *pool_probe_start(struct pool *p)
{
    return worker_start(p, ++p->last_generation, 1);
}

int workers_count(const struct pool *p, int state)
{
    int n = 0;
    for (const struct worker *w = p->workers; w; w = w->next)
        if (state == -1 ? w->state != W_CLOSED
                        : (int)w->state == state &&
                              w->generation == p->generation)
            n++;
    return n;
}

int pool_busy(const struct pool *p)
{
    int n = 0;
    for (const struct worker *w = p->workers; w; w = w->next)
        n += w->job != NULL;
    return n;
}

static struct worker *idle_worker(const struct pool *p)
{
    for (struct worker *w = p->workers; w; w = w->next)
        if (w->state == W_IDLE && w->generation == p->generation)
            return w;
    return NULL;
}

int pool_has_idle(const struct pool *p) { return idle_worker(p) != NULL; }

int pool_send(struct pool *p, void *job, const uint8_t *frame, size_t len,
              uint8_t stage)
{
    struct worker *w = idle_worker(p);
    if (w == NULL)
        return -1;
    w->job = job;
    w->stage = stage;
    w->requests++;
    w->request_since_ms = now_ms();
    worker_set_state(w, W_BUSY);
    buf_put_bytes(&w->out, frame, len);
    if (fd_flush(w->fd, &w->out) == -1)
        worker_lost(p, w, "cannot write to the worker");
    else
        worker_want(p, w);
    return 0;
}

void pool_job_drop(struct pool *p, void *job)
{
    for (struct worker *w = p->workers; w; w = w->next)
        if (w->job == job)
            w->job = NULL;
}

static int starting_count(const struct pool *p)
{
    int n = 0;
    for (const struct worker *w = p->workers; w; w = w->next)
        n += w->state == W_STARTING && !w->reload_probe;
    return n;
}

/*
 * A worker near worker_max_requests gets its successor started while it
 * still serves, and leaves when the successor is ready (or at the limit,
 * whichever comes first). Replacing it only after it left would take a
 * worker out of the pool for the successor's start, milliseconds of
 * contended CPU in which requests queue. One successor starts at a time;
 * with a limit under SUCCESSOR_LEAD_DIV there is no head start.
 */
static void successor_start(struct pool *p, struct worker *w)
{
    unsigned limit = (unsigned)p->cfg->worker_max_requests;
    unsigned lead = limit / SUCCESSOR_LEAD_DIV;
    if (lead == 0 || w->successor_id || w->requests + lead < limit ||
        p->stopping || w->generation != p->generation ||
        now_ms() < p->next_start_ms || starting_count(p) > 0)
        return;
    struct worker *s = worker_start(p, w->generation, 0);
    if (s == NULL)
        return;
    s->replaces_id = w->id;
    w->successor_id = s->id;
}

/* The successor is ready: its predecessor leaves, now or after its request. */
static void predecessor_leave(struct pool *p, struct worker *s)
{
    struct worker *w = worker_find(p, s->replaces_id);
    s->replaces_id = 0;
    if (w == NULL)
        return; /* it left at the limit before this one was ready */
    if (w->state == W_IDLE)
        worker_close(w);
    else if (w->state == W_BUSY)
        worker_set_state(w, W_RETIRING);
}

static void worker_ready(struct pool *p, struct worker *w, uint32_t stages)
{
    w->stages = stages;
    p->start_failures = 0;
    if (w->replaces_id)
        predecessor_leave(p, w);
    if (w->reload_probe) {
        w->reload_probe = 0;
        p->generation = w->generation;
        p->stages = stages;
        msg_info("policy %s loaded: generation %u serves now", p->cfg->policy,
                 p->generation);
        for (struct worker *o = p->workers; o; o = o->next) {
            if (o->generation == w->generation || o->state == W_CLOSED)
                continue;
            if (o->state == W_BUSY)
                worker_set_state(o, W_RETIRING);
            else
                worker_close(o);
        }
        p->events.reload_done(p->events.ctx, 1, "reloaded");
    } else if (w->generation == p->generation) {
        p->stages = stages;
    }
    worker_set_state(w, W_IDLE);
}

static void worker_load_failed(struct pool *p, struct worker *w,
                               const char *why)
{
    msg_error("policy %s did not load: %s", p->cfg->policy, why);
    if (w->reload_probe)
        p->events.reload_done(p->events.ctx, 0, why);
    worker_lost(p, w, "policy did not load");
}

static void worker_reply(struct pool *p, struct worker *w, uint8_t *frame,
                         size_t len, uint8_t action)
{
    void *job = w->job;
    w->job = NULL;
    if (job) /* else its client is gone */
        p->events.replied(p->events.ctx, job, frame, len, action);
    if (w->state == W_RETIRING ||
        w->requests >= (unsigned)p->cfg->worker_max_requests ||
        w->generation != p->generation) {
        worker_close(w);
        return;
    }
    worker_set_state(w, W_IDLE);
    successor_start(p, w);
}

/* The pid a worker told itself (READY, LOAD_ERROR), unless known. */
static void worker_pid_told(struct worker *w, pid_t pid)
{
    if (pid <= 0 || (w->proc != PROC_OWED && w->proc != PROC_UNKNOWN))
        return;
    w->pid = pid;
    w->proc = PROC_RUNNING;
}

static void worker_frame(struct pool *p, struct worker *w, uint8_t *frame,
                         size_t len)
{
    struct mlm_reader r;
    uint8_t type, sub;
    char why[512];
    if (payload_open(&r, frame + MLM_FRAME_HDR, len - MLM_FRAME_HDR, &type,
                     &sub, why, sizeof why) == -1) {
        worker_lost(p, w, why);
        return;
    }
    if (type == MSG_READY && w->state == W_STARTING) {
        struct mlm_ready ready;
        if (ready_decode(&ready, frame + MLM_FRAME_HDR, len - MLM_FRAME_HDR,
                         why, sizeof why) == -1) {
            worker_lost(p, w, why);
            return;
        }
        worker_pid_told(w, (pid_t)ready.pid);
        worker_ready(p, w, ready.stages);
    } else if (type == MSG_LOAD_ERROR && w->state == W_STARTING) {
        struct mlm_load_error failed;
        if (load_error_decode(&failed, frame + MLM_FRAME_HDR,
                              len - MLM_FRAME_HDR, why, sizeof why) == -1) {
            worker_lost(p, w, why);
            return;
        }
        worker_pid_told(w, (pid_t)failed.pid);
        worker_load_failed(p, w, failed.reason);
        load_error_free(&failed);
    } else if (type == MSG_REPLY) {
        if (reply_flags(frame + MLM_FRAME_HDR) & REPLY_OUTBOX)
            p->events.outbox_mail(p->events.ctx);
        worker_reply(p, w, frame, len, sub);
    } else {
        worker_lost(p, w, "unexpected frame from the worker");
    }
}

/*
 * Frames first, then the end of the stream: a worker that cannot load the
 * policy writes MSG_LOAD_ERROR and exits at once, and both arrive in the
 * same read.
 */
static void worker_readable(struct pool *p, struct worker *w)
{
    int gone = fd_fill(w->fd, &w->in) == -1;
    size_t frame_len;
    int state;
    while (w->fd != -1 &&
           (state = frame_complete(w->in.data, w->in.len, &frame_len)) != 0) {
        if (state == -1) {
            worker_lost(p, w, "bad frame length from the worker");
            return;
        }
        worker_frame(p, w, w->in.data, frame_len);
        if (w->fd != -1)
            buf_consume(&w->in, frame_len);
    }
    if (gone && w->fd != -1)
        worker_lost(p, w, w->state == W_STARTING ? "exited while starting"
                                                 : "exited");
}

/* Its socket is ready (the loop's callback). */
static void worker_event(void *ctx, uint32_t events)
{
    struct worker *w = ctx;
    struct pool *p = w->pool;
    if (w->fd == -1)
        return;
    if (events & EPOLLOUT) {
        if (fd_flush(w->fd, &w->out) == -1)
            worker_lost(p, w, "cannot write to the worker");
        else
            worker_want(p, w);
    }
    if (w->fd != -1 && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        worker_readable(p, w);
}

int pool_child_exited(struct pool *p, pid_t pid, int status)
{
    if (zygote_exited(&p->zygote, pid))
        return 1;
    for (struct worker *w = p->workers; w; w = w->next) {
        if (w->proc != PROC_RUNNING || w->pid != pid)
            continue;
        if (w->state != W_CLOSED)
            worker_lost(p, w, WIFSIGNALED(status) ? "killed by a signal"
                                                  : "exited");
        worker_exited(p, w);
        return 1;
    }
    zygote_reaped_unknown(&p->zygote, pid);
    return 0;
}

void pool_reap(struct pool *p)
{
    struct worker **pp = &p->workers;
    while (*pp) {
        struct worker *w = *pp;
        if (w->state == W_CLOSED &&
            (w->proc == PROC_EXITED || w->proc == PROC_UNKNOWN)) {
            if (w->proc == PROC_UNKNOWN)
                p->exited++; /* not collected by pid: counted here */
            *pp = w->next;
            buf_free(&w->in);
            buf_free(&w->out);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

void pool_tick(struct pool *p, int64_t now, int waiting)
{
    const struct mlm_config *cfg = p->cfg;
    zygote_tick(&p->zygote, now);
    for (struct worker *w = p->workers; w; w = w->next) {
        if (w->state == W_CLOSED && w->kill_at_ms && now >= w->kill_at_ms &&
            w->proc == PROC_RUNNING) {
            kill(w->pid, SIGKILL);
            w->kill_at_ms = 0;
        } else if ((w->state == W_BUSY || w->state == W_RETIRING) &&
                   now - w->request_since_ms >
                       (int64_t)cfg->request_timeout * 1000) {
            /* With or without a job: one whose client gave up waiting
             * (decision_timeout) leaves the worker running all the same. */
            const char *why = w->job ? "request_timeout reached"
                                     : "request_timeout reached (its "
                                       "client had stopped waiting)";
            worker_lost(p, w, why);
            worker_kill(w, why);
        } else if (w->state == W_STARTING &&
                   now - w->state_since_ms > (int64_t)cfg->request_timeout *
                                                 1000) {
            worker_lost(p, w, "policy load took longer than request_timeout");
            worker_kill(w, "loading too long");
        } else if (w->state == W_IDLE &&
                   workers_count(p, -1) > cfg->workers_min &&
                   now - w->state_since_ms >
                       (int64_t)cfg->worker_idle_timeout * 1000) {
            worker_close(w);
        }
    }
    if (p->stopping || now < p->next_start_ms)
        return;
    int serving = 0;
    for (struct worker *w = p->workers; w; w = w->next)
        serving += w->state != W_CLOSED && w->generation == p->generation &&
                   !w->reload_probe;
    int want = cfg->workers_min;
    /* Grow by one at a time while requests wait and nobody is starting. */
    if (waiting > 0 && workers_count(p, W_IDLE) == 0 && starting_count(p) == 0)
        want = serving + 1;
    if (want > cfg->workers_max)
        want = cfg->workers_max;
    for (int i = serving; i < want; i++)
        worker_start(p, p->generation, 0);
}

int pool_reload(struct pool *p)
{
    for (struct worker *w = p->workers; w; w = w->next)
        if (w->reload_probe && w->state == W_STARTING)
            return 0; /* a reload is already on its way */
    zygote_restart(&p->zygote); /* a new mlm-worker binary takes effect */
    msg_info("reload: checking policy %s", p->cfg->policy);
    return worker_start(p, ++p->last_generation, 1) ? 0 : -1;
}

void pool_stop(struct pool *p)
{
    p->stopping = 1;
    zygote_stop(&p->zygote);
    for (struct worker *w = p->workers; w; w = w->next)
        if (w->state == W_IDLE || w->state == W_STARTING)
            worker_close(w);
        else if (w->state == W_BUSY)
            worker_set_state(w, W_RETIRING);
}

void pool_abandon(struct pool *p)
{
    for (struct worker *w = p->workers; w; w = w->next) {
        worker_close(w);
        if (w->proc == PROC_RUNNING)
            waitpid(w->pid, NULL, 0);
        worker_exited(p, w);
    }
    pool_reap(p);
}
