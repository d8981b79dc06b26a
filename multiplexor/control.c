/*
 * control.c - commands from mlm-ctl on the control socket.
 *
 *   CTL_STATUS FORMAT  one line per worker, then totals (STATS_TEXT), or
 *                      the same as one JSON object (STATS_JSON)
 *   CTL_STATS FORMAT   STATS_TEXT | STATS_JSON | STATS_PROMETHEUS
 *   CTL_RELOAD         check the policy in a fresh worker, then switch
 *
 * ctl_decode (common/proto.c) refuses unknown verbs and arguments.
 *
 * The socket is mode 0660; reload is refused unless the peer (SO_PEERCRED)
 * is root or the daemon's own user.
 *
 * The top of the multiplexor with main.c: it reads the pool, the queue and
 * the outbox, renders statistics (stats.c) and answers through clients.c.
 */
#include "mux.h"
#include "log.h"
#include "outbox.h"
#include "stats.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void control_answer(struct client *c, int ok, const char *text)
{
    struct mlm_buf b;
    buf_init(&b);
    ctl_reply_encode(&b, ok, text);
    client_send(c, &b);
    buf_free(&b);
}

void control_reload_done(void *ctx, int ok, const char *text)
{
    struct mux *mx = ctx;
    for (struct client *c = mx->clients; c; c = c->next)
        if (c->reload_waiting) {
            c->reload_waiting = 0;
            control_answer(c, ok, text);
        }
}

/* The fork server's pid, 0 when none runs. */
static long fork_server_pid(const struct mux *mx)
{
    return mx->pool.zygote.fd != -1 ? (long)mx->pool.zygote.pid : 0;
}

static int fork_server_ready(const struct mux *mx)
{
    return mx->pool.zygote.fd != -1 && mx->pool.zygote.ready;
}

static void gauges_read(const struct mux *mx, struct stats_gauges *g,
                        int64_t now)
{
    const struct pool *p = &mx->pool;
    g->workers = workers_count(p, -1);
    g->by_state[STATS_STARTING] = workers_count(p, W_STARTING);
    g->by_state[STATS_IDLE] = workers_count(p, W_IDLE);
    g->by_state[STATS_BUSY] = workers_count(p, W_BUSY);
    g->by_state[STATS_RETIRING] = workers_count(p, W_RETIRING);
    g->started = p->started;
    g->forked = p->zygote.forks;
    g->exited = p->exited;
    g->generation = p->generation;
    g->queue_depth = mx->queue.len;
    g->queue_max = mx->cfg->queue_max;
    g->fork_server_pid = fork_server_pid(mx);
    g->fork_server_ready = fork_server_ready(mx);
    g->outbox_waiting = outbox_waiting(mx->cfg->spool_dir);
    g->outbox_failed = outbox_count(mx->cfg->spool_dir, "failed");
    g->uptime_s = (now - mx->started_ms) / 1000;
}

/* What a worker's status line says after its job, or NULL. */
static const char *worker_note(const struct mux *mx, const struct worker *w,
                               char *buf, size_t buflen)
{
    if (w->generation != mx->pool.generation)
        return w->reload_probe ? "reload probe" : "old generation";
    if (w->replaces_id) {
        snprintf(buf, buflen, "to replace worker %d", w->replaces_id);
        return buf;
    }
    return NULL;
}

static char *status_render(struct mux *mx, int64_t now)
{
    size_t cap = 4096, len = 0;
    char *s = xmalloc(cap);
    int total = 0, busy = 0, idle = 0;
    unsigned long requests = 0;
    len += (size_t)snprintf(s, cap, "%-4s %-8s %-9s %9s %8s  %s\n", "id",
                            "pid", "state", "requests", "age", "job");
    for (struct worker *w = mx->pool.workers; w; w = w->next) {
        if (w->state == W_CLOSED)
            continue;
        char job[96] = "-";
        if (w->state == W_BUSY || (w->state == W_RETIRING && w->job))
            snprintf(job, sizeof job, "%s for %lld ms", stage_name(w->stage),
                     (long long)(now - w->state_since_ms));
        char note[64] = "", buf[48];
        const char *why = worker_note(mx, w, buf, sizeof buf);
        if (why)
            snprintf(note, sizeof note, " (%s)", why);
        if (cap - len < 256)
            s = xrealloc(s, cap *= 2);
        len += (size_t)snprintf(s + len, cap - len,
                                "%-4d %-8ld %-9s %9u %7llds  %s%s\n", w->id,
                                (long)w->pid, worker_state_name(w->state),
                                w->requests,
                                (long long)((now - w->started_ms) / 1000), job,
                                note);
        total++;
        busy += w->state == W_BUSY;
        idle += w->state == W_IDLE;
        requests += w->requests;
    }
    if (cap - len < 256)
        s = xrealloc(s, cap += 256);
    snprintf(s + len, cap - len,
             "total: %d workers, %d busy, %d idle; %lu requests served by "
             "these workers; queue %d; generation %u\n",
             total, busy, idle, requests, mx->queue.len, mx->pool.generation);
    return s;
}

/*
 * The status as one JSON object: "workers" (id, pid, state, requests,
 * age_s, stage and busy_ms of the current job or null, note or null),
 * "totals", "queue", "generation", "fork_server" and "outbox". Every
 * string is one of mlm's own names: nothing to escape.
 */
static char *status_render_json(struct mux *mx, int64_t now)
{
    struct mlm_buf b;
    buf_init(&b);
    char line[512], note[48];
    int total = 0, busy = 0, idle = 0, n = 0;
    unsigned long requests = 0;
    buf_put_bytes(&b, "{\"workers\": [", 13);
    for (struct worker *w = mx->pool.workers; w; w = w->next) {
        if (w->state == W_CLOSED)
            continue;
        int has_job = w->state == W_BUSY || (w->state == W_RETIRING && w->job);
        const char *why = worker_note(mx, w, note, sizeof note);
        char job[96] = "\"stage\": null, \"busy_ms\": null";
        if (has_job)
            snprintf(job, sizeof job, "\"stage\": \"%s\", \"busy_ms\": %lld",
                     stage_name(w->stage), (long long)(now - w->state_since_ms));
        int len = snprintf(line, sizeof line,
                           "%s{\"id\": %d, \"pid\": %ld, \"state\": \"%s\", "
                           "\"requests\": %u, \"age_s\": %lld, %s, "
                           "\"note\": %s%s%s}",
                           n++ ? ", " : "", w->id, (long)w->pid,
                           worker_state_name(w->state), w->requests,
                           (long long)((now - w->started_ms) / 1000), job,
                           why ? "\"" : "", why ? why : "null", why ? "\"" : "");
        buf_put_bytes(&b, line, (size_t)len);
        total++;
        busy += w->state == W_BUSY;
        idle += w->state == W_IDLE;
        requests += w->requests;
    }
    int len = snprintf(line, sizeof line,
                       "], \"totals\": {\"workers\": %d, \"busy\": %d, "
                       "\"idle\": %d, \"requests\": %lu}, \"queue\": %d, "
                       "\"generation\": %u, \"fork_server\": {\"pid\": %ld, "
                       "\"ready\": %s}, \"outbox\": {\"waiting\": %ld, "
                       "\"failed\": %ld}}\n",
                       total, busy, idle, requests, mx->queue.len,
                       mx->pool.generation, fork_server_pid(mx),
                       fork_server_ready(mx) ? "true" : "false",
                       outbox_waiting(mx->cfg->spool_dir),
                       outbox_count(mx->cfg->spool_dir, "failed"));
    buf_put_bytes(&b, line, (size_t)len);
    buf_put_u8(&b, '\0');
    return (char *)b.data;
}

void control_command(struct mux *mx, struct client *c, const uint8_t *payload,
                     size_t len)
{
    struct mlm_ctl cmd;
    char why[256];
    if (ctl_decode(&cmd, payload, len, why, sizeof why) == -1) {
        control_answer(c, 0, why);
        return;
    }
    msg_debug("control: %s %s from uid %ld", ctl_verb_name(cmd.verb),
              cmd.verb == CTL_STATS ? stats_format_name(cmd.arg) : "",
              (long)c->uid);
    switch (cmd.verb) {
    case CTL_STATUS: {
        char *text = cmd.arg == STATS_JSON ? status_render_json(mx, now_ms())
                                           : status_render(mx, now_ms());
        control_answer(c, 1, text);
        free(text);
        break;
    }
    case CTL_STATS: {
        struct stats_gauges g;
        gauges_read(mx, &g, now_ms());
        char *text = stats_render(cmd.arg, &g, now_ms());
        control_answer(c, 1, text);
        free(text);
        break;
    }
    case CTL_RELOAD:
        if (c->uid != 0 && c->uid != mx->own_uid) {
            msg_warn("reload refused to uid %ld", (long)c->uid);
            control_answer(c, 0, "permission denied: reload is for root "
                                     "and the daemon's user");
        } else {
            c->reload_waiting = 1; /* answered by control_reload_done */
            if (pool_reload(&mx->pool) == -1) {
                c->reload_waiting = 0;
                control_answer(c, 0, "cannot start a worker");
            }
        }
        break;
    case CTL_VERB_COUNT: /* ctl_decode refuses it */
        break;
    }
}
