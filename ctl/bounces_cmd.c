/*
 * bounces_cmd.c - mlm-ctl bounces LIST: the bounce log of a list, newest
 * first, as the -bounces@ address recorded it (bounce_record in common);
 * with --members, one member a line instead: score, delivery, the day of
 * the last scored bounce, the probe out (when it went), the last recorded
 * status and diagnostic.
 */
#include "ctl.h"
#include "db.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define BOUNCES_DEFAULT 100
#define BOUNCES_MAX 100000
#define BOUNCE_COLS 5

struct bounce_walk {
    struct bounce_info *v;
    size_t n;
};

static int collect_bounce(const struct bounce_info *b, void *arg)
{
    struct bounce_walk *w = arg;
    w->v = xrealloc(w->v, (w->n + 1) * sizeof *w->v);
    w->v[w->n++] = *b;
    return 0;
}

struct member_walk {
    struct bounce_member *v;
    size_t n;
};

static int collect_member(const struct bounce_member *b, void *arg)
{
    struct member_walk *w = arg;
    w->v = xrealloc(w->v, (w->n + 1) * sizeof *w->v);
    w->v[w->n++] = *b;
    return 0;
}

#define MEMBER_COLS 7

static int bounce_members(struct ctl_env *env, const struct list_info *list,
                          int json)
{
    struct member_walk w = {NULL, 0};
    char why[512], score[16], probe[40];
    if (bounce_members_each(env->db, list, collect_member, &w, why,
                            sizeof why) == -1) {
        free(w.v);
        return ctl_fail("%s", why);
    }
    if (json) {
        struct json j;
        json_start(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < w.n; i++) {
            const struct bounce_member *b = &w.v[i];
            json_object(&j, NULL);
            json_str(&j, "address", b->address);
            json_int(&j, "score", b->score);
            json_str(&j, "delivery", b->delivery);
            json_str(&j, "last_bounce", b->last_bounce);
            json_str(&j, "last_status", b->last_status);
            json_str(&j, "last_diagnostic", b->last_diagnostic);
            if (b->probe_sent) {
                time_format((time_t)b->probe_sent, probe, sizeof probe);
                json_str(&j, "probe_sent", probe);
            } else {
                json_str(&j, "probe_sent", "");
            }
            json_close(&j, '}');
        }
        json_close(&j, ']');
        json_end(&j);
        free(w.v);
        return EXIT_OK;
    }
    char *(*rows)[MEMBER_COLS] = xcalloc(w.n ? w.n : 1, sizeof *rows);
    size_t widths[MEMBER_COLS] = {0};
    for (size_t i = 0; i < w.n; i++) {
        const struct bounce_member *b = &w.v[i];
        snprintf(score, sizeof score, "%d", b->score);
        rows[i][0] = safe_text(b->address, 0);
        rows[i][1] = xstrdup(score);
        rows[i][2] = safe_text(b->delivery, 0);
        rows[i][3] = xstrdup(*b->last_bounce ? b->last_bounce : "-");
        if (b->probe_sent) {
            char when[32];
            time_format((time_t)b->probe_sent, when, sizeof when);
            snprintf(probe, sizeof probe, "probe:%s", when);
        } else {
            snprintf(probe, sizeof probe, "-");
        }
        rows[i][4] = xstrdup(probe);
        rows[i][5] = safe_text(*b->last_status ? b->last_status : "-", 0);
        rows[i][6] = safe_text(b->last_diagnostic, 0);
        for (int c = 0; c < MEMBER_COLS; c++)
            if (text_width(rows[i][c]) > widths[c])
                widths[c] = text_width(rows[i][c]);
    }
    for (size_t i = 0; i < w.n; i++) {
        columns_print(stdout, rows[i], MEMBER_COLS, widths);
        for (int c = 0; c < MEMBER_COLS; c++)
            free(rows[i][c]);
    }
    free(rows);
    free(w.v);
    return EXIT_OK;
}

int cmd_bounces(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct bounce_walk w = {NULL, 0};
    char why[512], when[32];
    long limit = BOUNCES_DEFAULT;
    const char *opt = opt_value(a, "limit");
    if (opt) {
        char *end;
        limit = strtol(opt, &end, 10);
        if (*opt == '\0' || *end || limit < 1 || limit > BOUNCES_MAX)
            return ctl_fail("bad --limit '%s': a number from 1 to %d", opt,
                            BOUNCES_MAX);
    }
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (opt_flag(a, "members"))
        return bounce_members(env, &list, opt_flag(a, "json"));
    if (bounces_each(env->db, &list, (int)limit, collect_bounce, &w, why,
                     sizeof why) == -1) {
        free(w.v);
        return ctl_fail("%s", why);
    }
    if (opt_flag(a, "json")) {
        struct json j;
        json_start(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < w.n; i++) {
            const struct bounce_info *b = &w.v[i];
            time_format((time_t)b->received, when, sizeof when);
            json_object(&j, NULL);
            json_str(&j, "address", b->address);
            json_str(&j, "status", b->status);
            json_bool(&j, "scored", b->scored);
            json_int(&j, "received", b->received);
            json_str(&j, "received_at", when);
            json_str(&j, "diagnostic", b->diagnostic);
            json_close(&j, '}');
        }
        json_close(&j, ']');
        json_end(&j);
        free(w.v);
        return EXIT_OK;
    }
    char *(*rows)[BOUNCE_COLS] = xcalloc(w.n ? w.n : 1, sizeof *rows);
    size_t widths[BOUNCE_COLS] = {0};
    for (size_t i = 0; i < w.n; i++) {
        const struct bounce_info *b = &w.v[i];
        time_format((time_t)b->received, when, sizeof when);
        rows[i][0] = safe_text(b->address, 0);
        rows[i][1] = safe_text(b->status, 0);
        rows[i][2] = xstrdup(b->scored ? "scored" : "-");
        rows[i][3] = xstrdup(when);
        rows[i][4] = safe_text(b->diagnostic, 0);
        for (int c = 0; c < BOUNCE_COLS; c++)
            if (text_width(rows[i][c]) > widths[c])
                widths[c] = text_width(rows[i][c]);
    }
    for (size_t i = 0; i < w.n; i++) {
        columns_print(stdout, rows[i], BOUNCE_COLS, widths);
        for (int c = 0; c < BOUNCE_COLS; c++)
            free(rows[i][c]);
    }
    free(rows);
    free(w.v);
    return EXIT_OK;
}
