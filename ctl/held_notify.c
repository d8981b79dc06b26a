/*
 * held_notify.c - mlm-ctl held notify: the daily pass over every list's
 * moderation queue (systemd/mlm-held-notify.timer runs it).
 *
 * First each pending post older than its list's held_expire days is
 * discarded (decided by "held_expire", one line on stdout each). Then each
 * list with pending or just expired posts gets one summary per moderator
 * (or, without any, per owner): the expired posts, and for each pending
 * post its sender, subject and the moderator's own reply addresses
 * NAME-request+ACTION-TOKEN@ (db.h, modtoken_make). Sending failures are
 * warnings; the exit status is 1 only when the database fails.
 */
#include "ctl.h"
#include "db.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUMMARY_POSTS_MAX 200  /* posts listed in one summary */
#define SUBJECT_SHOWN 80

struct list_walk {
    struct list_info *lists;
    size_t n;
};

static int collect_list(const struct list_info *l, void *arg)
{
    struct list_walk *w = arg;
    w->lists = xrealloc(w->lists, (w->n + 1) * sizeof *w->lists);
    w->lists[w->n++] = *l;
    return 0;
}

struct held_list {
    struct held_info *h;
    size_t n;
};

static int collect_pending(const struct held_info *h, void *arg)
{
    struct held_list *w = arg;
    w->h = xrealloc(w->h, (w->n + 1) * sizeof *w->h);
    w->h[w->n++] = *h;
    return 0;
}

struct addr_list {
    char **a;
    size_t n;
};

static int collect_addr(const struct member_info *m, void *arg)
{
    struct addr_list *to = arg;
    if (to->n < 200) {
        to->a = xrealloc(to->a, (to->n + 1) * sizeof *to->a);
        to->a[to->n++] = xstrdup(m->address);
    }
    return 0;
}

/* Fragment name of list with vars appended to f (nothing when the
 * templates cannot be read: warned). */
static void put_fragment(struct ctl_env *env, const struct list_info *list,
                         FILE *f, const char *name, const char *const *vars)
{
    char *text = ctl_template(env, list, name, vars, NULL);
    if (text)
        fputs(text, f);
    free(text);
}

/* The body of list's summary for moderator, from the templates
 * held-summary-*; the caller frees it. */
static char *summary_text(struct ctl_env *env, const struct list_info *list,
                          const struct held_list *pending,
                          const struct held_list *expired,
                          const char *moderator, char **subject)
{
    static const char *const actions[] = {"approve", "reject", "discard"};
    char *parts[3] = {NULL, NULL, NULL}; /* expired, pending, more */
    size_t lens[3] = {0, 0, 0};
    char count[32], id[32];
    FILE *f = open_memstream(&parts[0], &lens[0]);
    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < expired->n && i < SUMMARY_POSTS_MAX; i++) {
        char *shown = safe_text(expired->h[i].subject, SUBJECT_SHOWN);
        snprintf(id, sizeof id, "%lld", (long long)expired->h[i].id);
        const char *vars[] = {"id", id, "sender", *expired->h[i].sender
                              ? expired->h[i].sender : "<>",
                              "subject", shown, NULL};
        put_fragment(env, list, f, "held-summary-expired-item", vars);
        free(shown);
    }
    fclose(f);
    char *items = parts[0];
    parts[0] = NULL;
    if (expired->n) {
        const char *vars[] = {"items", items, NULL};
        parts[0] = ctl_template(env, list, "held-summary-expired", vars,
                                NULL);
    }
    free(items);
    items = NULL;
    f = open_memstream(&items, &lens[1]);
    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < pending->n && i < SUMMARY_POSTS_MAX; i++) {
        const struct held_info *h = &pending->h[i];
        char *shown = safe_text(*h->subject ? h->subject : "(no subject)",
                                SUBJECT_SHOWN);
        char *reason = safe_text(h->reason, 0);
        char addrs[3][MODTOKEN_MAX + 700];
        for (size_t a = 0; a < 3; a++) {
            char token[MODTOKEN_MAX + 1], why[512];
            addrs[a][0] = '\0';
            if (modtoken_make(env->db, env->cfg.secret_file, list, h->id,
                              actions[a], moderator, token, sizeof token,
                              why, sizeof why) == -1) {
                fprintf(stderr, "mlm-ctl: warning: %s\n", why);
                continue;
            }
            snprintf(addrs[a], sizeof addrs[a], "%s-request+%s-%s@%s",
                     list->name, actions[a], token, list->domain);
        }
        snprintf(id, sizeof id, "%lld", (long long)h->id);
        const char *vars[] = {"id", id, "sender", *h->sender ? h->sender
                              : "<>", "subject", shown, "reason", reason,
                              "approve_address", addrs[0],
                              "reject_address", addrs[1],
                              "discard_address", addrs[2], NULL};
        put_fragment(env, list, f, "held-summary-post", vars);
        free(shown);
        free(reason);
    }
    fclose(f);
    snprintf(count, sizeof count, "%zu", pending->n);
    if (pending->n) {
        const char *vars[] = {"count", count, "moderator", moderator,
                              "items", items, NULL};
        parts[1] = ctl_template(env, list, "held-summary-pending", vars,
                                NULL);
    }
    free(items);
    if (pending->n > SUMMARY_POSTS_MAX) {
        char more[32];
        snprintf(more, sizeof more, "%zu", pending->n - SUMMARY_POSTS_MAX);
        const char *vars[] = {"count", more, NULL};
        parts[2] = ctl_template(env, list, "held-summary-more", vars, NULL);
    }
    const char *vars[] = {"count", count, "moderator", moderator,
                          "expired", parts[0] ? parts[0] : "",
                          "pending", parts[1] ? parts[1] : "",
                          "more", parts[2] ? parts[2] : "", NULL};
    char *text = ctl_template(env, list, "held-summary", vars, subject);
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    return text;
}

static int list_pass(struct ctl_env *env, const struct list_info *list,
                     time_t now)
{
    struct held_list all = {NULL, 0}, pending = {NULL, 0},
                     expired = {NULL, 0};
    char why[512];
    if (held_each(env->db, list, "pending", collect_pending, &all, why,
                  sizeof why) == -1) {
        free(all.h);
        return ctl_fail("%s", why);
    }
    for (size_t i = 0; i < all.n; i++) {
        int64_t expires = modtoken_expiry(env->db, list, &all.h[i], why,
                                          sizeof why);
        struct held_list *into = &pending;
        if (expires == -1) {
            free(all.h);
            free(pending.h);
            free(expired.h);
            return ctl_fail("%s", why);
        }
        if (expires < (int64_t)now) {
            int rc = held_decide(env->db, all.h[i].id, "discarded",
                                 "held_expire", why, sizeof why);
            if (rc == -1) {
                free(all.h);
                free(pending.h);
                free(expired.h);
                return ctl_fail("%s", why);
            }
            if (rc != 0)
                continue; /* decided meanwhile */
            printf("expired held message %lld of %s: discarded\n",
                   (long long)all.h[i].id, list->address);
            into = &expired;
        }
        collect_pending(&all.h[i], into);
    }
    free(all.h);
    if (pending.n || expired.n) {
        struct addr_list to = {NULL, 0};
        members_each(env->db, list, "moderator", collect_addr, &to, why,
                     sizeof why);
        if (to.n == 0)
            members_each(env->db, list, "owner", collect_addr, &to, why,
                         sizeof why);
        for (size_t i = 0; i < to.n; i++) {
            char *subject = NULL;
            char *text = summary_text(env, list, &pending, &expired,
                                      to.a[i], &subject);
            if (text && subject)
                notice_send(env, list, &to.a[i], 1, subject, text);
            free(subject);
            free(text);
            free(to.a[i]);
        }
        free(to.a);
        printf("%s: %zu pending, %zu expired, summary to %zu\n",
               list->address, pending.n, expired.n, to.n);
    }
    free(pending.h);
    free(expired.h);
    return EXIT_OK;
}

int cmd_held_notify(struct ctl_env *env, struct ctl_args *a)
{
    (void)a;
    struct list_walk w = {NULL, 0};
    char why[512];
    int rc = EXIT_OK;
    time_t now = time(NULL);
    if (ctl_db(env) == NULL)
        return EXIT_FAILED;
    if (lists_each(env->db, collect_list, &w, why, sizeof why) == -1) {
        free(w.lists);
        return ctl_fail("%s", why);
    }
    for (size_t i = 0; i < w.n; i++)
        if (list_pass(env, &w.lists[i], now) != EXIT_OK)
            rc = EXIT_FAILED;
    free(w.lists);
    return rc;
}
