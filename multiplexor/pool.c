/*
 * pool.c - the mlm-worker processes: start, hand out requests, collect
 * replies, replace the dead, time out the stuck, retire the old.
 *
 * Workers belong to a generation (one loaded policy). A reload starts a
 * probe worker with the policy as it is now on disk; only when it says
 * READY does its generation start serving, and the old generation's workers
 * retire (idle ones at once, busy ones after their current request). If
 * the probe fails, the running generation stays.
 */
#include "mux.h"
#include "log.h"
#include "sockio.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_GRACE_MS 2000
#define START_BACKOFF_MAX_MS 30000
/* a successor starts this fraction of worker_max_requests ahead */
#define SUCCESSOR_LEAD_DIV 10

static const char *const state_names[] = {"starting", "idle", "busy",
                                          "retiring", "dead"};

static void worker_set_state(struct worker *w, enum worker_state state)
{
    if (w->state != state)
        msg_debug("worker %d (pid %ld): %s -> %s", w->id, (long)w->pid,
                  state_names[w->state], state_names[state]);
    w->state = state;
    w->state_since_ms = now_ms();
}

const char *worker_state_name(enum worker_state s) { return state_names[s]; }

/* The child side of a fork: fd 0 is the socket, then exec the worker. */
static void worker_exec(struct mux *mx, int sock, int zygote)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(sock, 0) == -1 || dup2(2, 1) == -1)
        _exit(127);
    const char *argv[9];
    int argc = 0;
    argv[argc++] = mx->cfg->worker_program;
    if (mx->explicit_config) {
        argv[argc++] = "-C";
        argv[argc++] = mx->config_path;
    }
    argv[argc++] = "-P";
    argv[argc++] = mx->cfg->policy;
    if (mx->foreground)
        argv[argc++] = "-f";
    if (mx->debug)
        argv[argc++] = "-d";
    if (zygote)
        argv[argc++] = "-Z";
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

pid_t worker_spawn(struct mux *mx, int zygote, int *sock)
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
        worker_exec(mx, sv[1], zygote);
    }
    close(sv[1]);
    *sock = sv[0];
    return pid;
}

/*
 * Through the fork server first. Its answer, the pid, comes later
 * (zygote_readable): the event loop does not wait for a fork on a machine
 * whose CPUs are busy with the requests it should be relaying.
 */
struct worker *worker_start(struct mux *mx, unsigned generation, int probe)
{
    int sock;
    pid_t pid = 0;
    if (zygote_spawn(mx, mx->next_worker_id + 1, &sock) == -1 &&
        (pid = worker_spawn(mx, 0, &sock)) == -1)
        return NULL;
    fcntl(sock, F_SETFL, O_NONBLOCK);
    struct worker *w = xcalloc(1, sizeof *w);
    w->id = ++mx->next_worker_id;
    w->pid = pid;
    w->pid_owed = pid == 0;
    w->fd = sock;
    w->generation = generation;
    w->reload_probe = probe;
    w->started_ms = now_ms();
    worker_set_state(w, W_STARTING);
    w->next = mx->workers;
    mx->workers = w;
    stats_worker_started();
    msg_debug("worker %d started, %s, generation %u", w->id,
              pid ? "executed" : "through the fork server", generation);
    return w;
}

int64_t backoff_ms(int failures, int64_t first_ms, int64_t max_ms)
{
    int64_t pause = first_ms << (failures < 7 ? failures : 7);
    return pause < max_ms ? pause : max_ms;
}

int workers_count(struct mux *mx, int state)
{
    int n = 0;
    for (struct worker *w = mx->workers; w; w = w->next)
        if (state == -1 ? w->state != W_DEAD
                        : (int)w->state == state &&
                              w->generation == mx->generation)
            n++;
    return n;
}

/* Tell a worker to leave: closing its socket ends its read loop. */
static void worker_retire(struct worker *w)
{
    if (w->fd != -1) {
        watch_forget(&w->watch, w->fd);
        close(w->fd);
        w->fd = -1;
    }
    worker_set_state(w, W_DEAD);
}

static void worker_kill(struct worker *w, const char *why)
{
    msg_warn("worker %d (pid %ld): %s: killing it", w->id, (long)w->pid, why);
    if (w->pid > 0) /* else its fork server never told: it goes at EOF */
        kill(w->pid, SIGTERM);
    w->kill_at_ms = now_ms() + KILL_GRACE_MS;
    worker_retire(w);
}

/* Tell every mlm-ctl waiting for a reload how it ended. */
static void reload_answer(struct mux *mx, int ok, const char *text)
{
    for (struct client *c = mx->clients; c; c = c->next)
        if (c->reload_waiting) {
            c->reload_waiting = 0;
            control_answer(mx, c, ok, text);
        }
}

/* The worker failed mid-request or died: answer its client, drop it. */
void worker_lost(struct mux *mx, struct worker *w, const char *why)
{
    if (w->client) {
        w->client->worker = NULL;
        client_fail(mx, w->client, why);
        w->client = NULL;
    }
    if (w->state == W_STARTING && w->reload_probe)
        reload_answer(mx, 0, why);
    if (w->state == W_STARTING)
        mx->next_start_ms = now_ms() + backoff_ms(++mx->start_failures, 250,
                                                  START_BACKOFF_MAX_MS);
    if (w->state != W_DEAD)
        msg_warn("worker %d (pid %ld) lost: %s", w->id, (long)w->pid, why);
    worker_retire(w);
}

static void worker_send(struct mux *mx, struct worker *w, struct client *c)
{
    w->client = c;
    c->worker = w;
    w->stage = c->stage;
    w->requests++;
    w->request_since_ms = now_ms();
    worker_set_state(w, W_BUSY);
    buf_put_bytes(&w->out, c->request.data, c->request.len);
    if (fd_flush(w->fd, &w->out) == -1)
        worker_lost(mx, w, "cannot write to the worker");
}

static struct worker *idle_worker(struct mux *mx)
{
    for (struct worker *w = mx->workers; w; w = w->next)
        if (w->state == W_IDLE && w->generation == mx->generation)
            return w;
    return NULL;
}

void pool_dispatch(struct mux *mx)
{
    struct worker *w;
    while (mx->queue_head && (w = idle_worker(mx)) != NULL)
        worker_send(mx, w, queue_pop(mx));
}

void worker_pid_told(struct worker *w, pid_t pid)
{
    if (w->pid != 0 || w->reaped || pid <= 0)
        return;
    w->pid = pid;
    w->pid_unknown = 0;
}

struct worker *worker_find(struct mux *mx, int id)
{
    for (struct worker *w = mx->workers; w; w = w->next)
        if (w->id == id)
            return w;
    return NULL;
}

static int starting_count(struct mux *mx)
{
    int n = 0;
    for (struct worker *w = mx->workers; w; w = w->next)
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
static void successor_start(struct mux *mx, struct worker *w)
{
    unsigned limit = (unsigned)mx->cfg->worker_max_requests;
    unsigned lead = limit / SUCCESSOR_LEAD_DIV;
    if (lead == 0 || w->successor_id || w->requests + lead < limit ||
        mx->stopping || w->generation != mx->generation ||
        now_ms() < mx->next_start_ms || starting_count(mx) > 0)
        return;
    struct worker *s = worker_start(mx, w->generation, 0);
    if (s == NULL)
        return;
    s->replaces_id = w->id;
    w->successor_id = s->id;
}

/* The successor is ready: its predecessor leaves, now or after its request. */
static void predecessor_leave(struct mux *mx, struct worker *s)
{
    struct worker *w = worker_find(mx, s->replaces_id);
    s->replaces_id = 0;
    if (w == NULL)
        return; /* it left at the limit before this one was ready */
    if (w->state == W_IDLE)
        worker_retire(w);
    else if (w->state == W_BUSY)
        worker_set_state(w, W_RETIRING);
}

static void worker_ready(struct mux *mx, struct worker *w, uint32_t stages)
{
    w->stages = stages;
    mx->start_failures = 0;
    if (w->replaces_id)
        predecessor_leave(mx, w);
    if (w->reload_probe) {
        w->reload_probe = 0;
        mx->generation = w->generation;
        mx->stages = stages;
        msg_info("policy %s loaded: generation %u serves now", mx->cfg->policy,
                 mx->generation);
        for (struct worker *o = mx->workers; o; o = o->next) {
            if (o->generation == w->generation || o->state == W_DEAD)
                continue;
            if (o->state == W_BUSY)
                worker_set_state(o, W_RETIRING);
            else
                worker_retire(o);
        }
        reload_answer(mx, 1, "reloaded");
    } else if (w->generation == mx->generation) {
        mx->stages = stages;
    }
    worker_set_state(w, W_IDLE);
}

static void worker_load_failed(struct mux *mx, struct worker *w,
                               const char *why)
{
    msg_error("policy %s did not load: %s", mx->cfg->policy, why);
    if (w->reload_probe)
        reload_answer(mx, 0, why);
    worker_lost(mx, w, "policy did not load");
}

static void worker_reply(struct mux *mx, struct worker *w, uint8_t *frame,
                         size_t len, uint8_t action)
{
    struct client *c = w->client;
    w->client = NULL;
    if (c) {
        stats_record(c->stage, action, now_us() - c->queued_us, now_ms());
        client_reply(mx, c, frame, len);
    }
    if (w->state == W_RETIRING ||
        w->requests >= (unsigned)mx->cfg->worker_max_requests ||
        w->generation != mx->generation) {
        worker_retire(w);
        return;
    }
    worker_set_state(w, W_IDLE);
    successor_start(mx, w);
}

static void worker_frame(struct mux *mx, struct worker *w, uint8_t *frame,
                         size_t len)
{
    struct mlm_reader r;
    uint8_t type, sub;
    char why[512];
    if (payload_open(&r, frame + MLM_FRAME_HDR, len - MLM_FRAME_HDR, &type,
                     &sub, why, sizeof why) == -1) {
        worker_lost(mx, w, why);
        return;
    }
    if (type == MSG_READY && w->state == W_STARTING) {
        struct mlm_ready ready;
        if (ready_decode(&ready, frame + MLM_FRAME_HDR, len - MLM_FRAME_HDR,
                         why, sizeof why) == -1) {
            worker_lost(mx, w, why);
            return;
        }
        worker_pid_told(w, (pid_t)ready.pid);
        worker_ready(mx, w, ready.stages);
    } else if (type == MSG_LOAD_ERROR && w->state == W_STARTING) {
        struct mlm_load_error failed;
        if (load_error_decode(&failed, frame + MLM_FRAME_HDR,
                              len - MLM_FRAME_HDR, why, sizeof why) == -1) {
            worker_lost(mx, w, why);
            return;
        }
        worker_pid_told(w, (pid_t)failed.pid);
        worker_load_failed(mx, w, failed.reason);
        load_error_free(&failed);
    } else if (type == MSG_REPLY) {
        if (reply_flags(frame + MLM_FRAME_HDR) & REPLY_OUTBOX)
            outbox_kick(mx);
        worker_reply(mx, w, frame, len, sub); /* its client may be gone */
    } else {
        worker_lost(mx, w, "unexpected frame from the worker");
    }
}

/*
 * Frames first, then the end of the stream: a worker that cannot load the
 * policy writes MSG_LOAD_ERROR and exits at once, and both arrive in the
 * same read.
 */
void worker_readable(struct mux *mx, struct worker *w)
{
    int gone = fd_fill(w->fd, &w->in) == -1;
    size_t frame_len;
    int state;
    while (w->fd != -1 &&
           (state = frame_complete(w->in.data, w->in.len, &frame_len)) != 0) {
        if (state == -1) {
            worker_lost(mx, w, "bad frame length from the worker");
            return;
        }
        worker_frame(mx, w, w->in.data, frame_len);
        if (w->fd != -1)
            buf_consume(&w->in, frame_len);
    }
    if (gone && w->fd != -1)
        worker_lost(mx, w, w->state == W_STARTING ? "exited while starting"
                                                  : "exited");
}

void worker_flush(struct mux *mx, struct worker *w)
{
    if (fd_flush(w->fd, &w->out) == -1)
        worker_lost(mx, w, "cannot write to the worker");
}

/*
 * Free workers that are gone; collect exited children first when a SIGCHLD
 * came (children_exited), not at every round of the loop.
 */
void workers_reap(struct mux *mx, int children_exited)
{
    int status;
    pid_t pid;
    while (children_exited && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (zygote_exited(mx, pid) || outbox_exited(mx, pid, status))
            continue;
        int known = 0;
        for (struct worker *w = mx->workers; w; w = w->next) {
            if (w->pid != pid)
                continue;
            known = 1;
            if (w->state != W_DEAD)
                worker_lost(mx, w, WIFSIGNALED(status) ? "killed by a signal"
                                                       : "exited");
            w->pid = 0;
            w->reaped = 1;
            stats_worker_exited();
        }
        if (!known)
            zygote_reaped_unknown(mx, pid);
    }
    struct worker **pp = &mx->workers;
    while (*pp) {
        struct worker *w = *pp;
        if (w->state == W_DEAD && w->pid == 0 && !w->pid_owed) {
            if (w->pid_unknown)
                stats_worker_exited(); /* not reaped by pid: counted here */
            *pp = w->next;
            buf_free(&w->in);
            buf_free(&w->out);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* Keep the pool between workers_min and workers_max, enforce timeouts. */
void pool_tick(struct mux *mx, int64_t now)
{
    const struct mlm_config *cfg = mx->cfg;
    for (struct worker *w = mx->workers; w; w = w->next) {
        if (w->state == W_DEAD && w->kill_at_ms && now >= w->kill_at_ms &&
            w->pid > 0) {
            kill(w->pid, SIGKILL);
            w->kill_at_ms = 0;
        } else if ((w->state == W_BUSY || w->state == W_RETIRING) &&
                   now - w->request_since_ms >
                       (int64_t)cfg->request_timeout * 1000) {
            /* With or without a client: one that gave up waiting
             * (decision_timeout) leaves the worker running all the same. */
            const char *why = w->client ? "request_timeout reached"
                                        : "request_timeout reached (its "
                                          "client had stopped waiting)";
            worker_lost(mx, w, why);
            worker_kill(w, why);
        } else if (w->state == W_STARTING &&
                   now - w->state_since_ms > (int64_t)cfg->request_timeout *
                                                 1000) {
            worker_lost(mx, w, "policy load took longer than request_timeout");
            worker_kill(w, "loading too long");
        } else if (w->state == W_IDLE &&
                   workers_count(mx, -1) > cfg->workers_min &&
                   now - w->state_since_ms >
                       (int64_t)cfg->worker_idle_timeout * 1000) {
            worker_retire(w);
        }
    }
    if (mx->stopping || now < mx->next_start_ms)
        return;
    int serving = 0;
    for (struct worker *w = mx->workers; w; w = w->next)
        serving += w->state != W_DEAD && w->generation == mx->generation &&
                   !w->reload_probe;
    int want = cfg->workers_min;
    /* Grow by one at a time while requests wait and nobody is starting. */
    if (mx->queue_len > 0 && workers_count(mx, W_IDLE) == 0 &&
        starting_count(mx) == 0)
        want = serving + 1;
    if (want > cfg->workers_max)
        want = cfg->workers_max;
    for (int i = serving; i < want; i++)
        worker_start(mx, mx->generation, 0);
}

void pool_reload(struct mux *mx, struct client *requester)
{
    for (struct worker *w = mx->workers; w; w = w->next)
        if (w->reload_probe && w->state == W_STARTING) {
            if (requester)
                requester->reload_waiting = 1;
            return; /* a reload is already on its way */
        }
    if (requester)
        requester->reload_waiting = 1;
    zygote_restart(mx); /* a new mlm-worker binary takes effect */
    msg_info("reload: checking policy %s", mx->cfg->policy);
    if (worker_start(mx, ++mx->last_generation, 1) == NULL) {
        if (requester) {
            requester->reload_waiting = 0;
            control_answer(mx, requester, 0, "cannot start a worker");
        }
    }
}

void pool_stop(struct mux *mx)
{
    zygote_stop(mx);
    for (struct worker *w = mx->workers; w; w = w->next)
        if (w->state == W_IDLE || w->state == W_STARTING)
            worker_retire(w);
        else if (w->state == W_BUSY)
            worker_set_state(w, W_RETIRING);
}
