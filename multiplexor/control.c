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
 */
#include "mux.h"
#include "log.h"
#include "outbox.h"
#include "sockio.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void control_answer(struct mux *mx, struct client *c, int ok, const char *text)
{
    struct mlm_buf b;
    buf_init(&b);
    ctl_reply_encode(&b, ok, text);
    client_send(mx, c, &b);
    buf_free(&b);
}

/* What a worker's status line says after its job, or NULL. */
static const char *worker_note(const struct mux *mx, const struct worker *w,
                               char *buf, size_t buflen)
{
    if (w->generation != mx->generation)
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
    for (struct worker *w = mx->workers; w; w = w->next) {
        if (w->state == W_DEAD)
            continue;
        char job[96] = "-";
        if (w->state == W_BUSY || (w->state == W_RETIRING && w->client))
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
             total, busy, idle, requests, mx->queue_len, mx->generation);
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
    for (struct worker *w = mx->workers; w; w = w->next) {
        if (w->state == W_DEAD)
            continue;
        int has_job = w->state == W_BUSY || (w->state == W_RETIRING && w->client);
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
                       total, busy, idle, requests, mx->queue_len,
                       mx->generation,
                       (long)(mx->zygote_fd != -1 ? mx->zygote_pid : 0),
                       mx->zygote_fd != -1 && mx->zygote_ready ? "true"
                                                               : "false",
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
        control_answer(mx, c, 0, why);
        return;
    }
    msg_debug("control: %s %s from uid %ld", ctl_verb_name(cmd.verb),
              cmd.verb == CTL_STATS ? stats_format_name(cmd.arg) : "",
              (long)c->uid);
    switch (cmd.verb) {
    case CTL_STATUS: {
        char *text = cmd.arg == STATS_JSON ? status_render_json(mx, now_ms())
                                           : status_render(mx, now_ms());
        control_answer(mx, c, 1, text);
        free(text);
        break;
    }
    case CTL_STATS: {
        char *text = stats_render(mx, cmd.arg, now_ms());
        control_answer(mx, c, 1, text);
        free(text);
        break;
    }
    case CTL_RELOAD:
        if (c->uid != 0 && c->uid != mx->own_uid) {
            msg_warn("reload refused to uid %ld", (long)c->uid);
            control_answer(mx, c, 0, "permission denied: reload is for root "
                                     "and the daemon's user");
        } else {
            pool_reload(mx, c);
        }
        break;
    case CTL_VERB_COUNT: /* ctl_decode refuses it */
        break;
    }
}
