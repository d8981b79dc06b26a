/*
 * log_cmd.c - mlm-ctl log LIST [--limit N] [--json]: the list's change
 * log (db.h, log_each), newest first: when, who made the change (mlm-ctl
 * by USER, or mail from ADDRESS (QUEUE-ID) for a change a mail made:
 * a confirmed subscription, a decision by reply, a bounce that disabled
 * delivery), what changed, the address or setting, the new value.
 */
#include "ctl.h"
#include "db.h"

#include <stdio.h>
#include <stdlib.h>

#define LOG_DEFAULT 100
#define LOG_MAX 100000
#define LOG_COLS 5

struct log_out {
    struct json *json;      /* NULL: columns */
    struct table *table;
};

static int log_row(const struct log_entry *e, void *arg)
{
    struct log_out *o = arg;
    char when[32];
    time_format((time_t)e->at, when, sizeof when);
    if (o->json) {
        json_object(o->json, NULL);
        json_int(o->json, "id", e->id);
        json_int(o->json, "at", e->at);
        json_str(o->json, "when", when);
        json_str(o->json, "actor", e->actor);
        json_str(o->json, "action", e->action);
        json_str(o->json, "subject", e->subject);
        json_str(o->json, "detail", e->detail);
        json_close(o->json, '}');
    } else {
        const char *cells[LOG_COLS] = {when, e->actor, e->action, e->subject,
                                       e->detail};
        table_add(o->table, cells);
    }
    return 0;
}

int cmd_log(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    long limit = LOG_DEFAULT;
    const char *opt = opt_value(a, "limit");
    if (opt) {
        char *end;
        limit = strtol(opt, &end, 10);
        if (*opt == '\0' || *end || limit < 1 || limit > LOG_MAX)
            return ctl_fail("bad --limit '%s': a number from 1 to %d", opt,
                            LOG_MAX);
    }
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    struct json j;
    struct table t;
    struct log_out o = {NULL, &t};
    if (opt_flag(a, "json")) {
        o.json = &j;
        json_start(&j, stdout);
        json_array(&j, NULL);
    } else {
        table_init(&t, LOG_COLS);
    }
    rc = log_each(env->db, &list, (int)limit, log_row, &o, why, sizeof why);
    if (o.json) {
        json_close(&j, ']');
        json_end(&j);
    } else {
        table_print(&t, stdout);
    }
    return rc == -1 ? ctl_fail("%s", why) : EXIT_OK;
}
