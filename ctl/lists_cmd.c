/*
 * lists_cmd.c - mlm-ctl list create|show|delete|set and mlm-ctl lists.
 *
 * Settings come from common's list_settings[] table: show prints every
 * one of them (the default when unset), set checks keys and values there.
 */
#include "ctl.h"
#include "db.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

void settings_help(FILE *fp)
{
    fprintf(fp, "\nsettings (default in brackets):\n");
    for (const struct setting_def *d = list_settings; d->key; d++) {
        const char *kind = d->type == SET_ENUM        ? d->choices
                           : d->type == SET_COUNT     ? "number"
                           : d->type == SET_ADDRESS   ? "address"
                           : d->type == SET_PATTERNS  ? "addresses, @domains"
                           : d->type == SET_MULTILINE ? "text, lines"
                                                      : "text";
        fprintf(fp, "  %-18s %s [%s]\n  %-18s   %s\n", d->key, kind, d->dflt,
                "", d->help);
    }
}

/* Undo a half-made list; the reason of the first failure is kept. */
static int create_undo(struct db *db, const char *address, const char *why)
{
    char ignored[256];
    list_delete(db, address, ignored, sizeof ignored);
    return ctl_fail("%s; list not created", why);
}

int cmd_list_create(struct ctl_env *env, struct ctl_args *a)
{
    struct db *db = ctl_db(env);
    struct list_info list;
    char why[512];
    int nowners;
    char **owners = opt_values(a, "owner", &nowners);
    if (db == NULL)
        return EXIT_FAILED;
    if (list_create(db, a->argv[0], &list, why, sizeof why) != 0)
        return ctl_fail("%s", why);
    const char *posting = opt_value(a, "posting");
    const char *prefix = opt_value(a, "prefix");
    if (posting && setting_set(db, &list, "posting", posting, why,
                               sizeof why) == -1)
        return create_undo(db, list.address, why);
    if (prefix && setting_set(db, &list, "subject_prefix", prefix, why,
                              sizeof why) == -1)
        return create_undo(db, list.address, why);
    for (int i = 0; i < nowners; i++) {
        int rc = member_add(db, &list, owners[i], "owner", NULL, why,
                            sizeof why);
        if (rc != 0 && rc != DB_EXISTS) /* --owner x --owner x is fine */
            return create_undo(db, list.address, why);
    }
    printf("created list %s\n", list.address);
    return EXIT_OK;
}

struct addr_vec {
    char **v;
    size_t n;
};

static int collect_address(const struct member_info *m, void *arg)
{
    struct addr_vec *av = arg;
    av->v = xrealloc(av->v, (av->n + 1) * sizeof *av->v);
    av->v[av->n++] = xstrdup(m->address);
    return 0;
}

static void addr_vec_free(struct addr_vec *av)
{
    for (size_t i = 0; i < av->n; i++)
        free(av->v[i]);
    free(av->v);
}

/* One "key  value" line, or several for a value of several lines. */
static void show_line(size_t width, const char *key, const char *value)
{
    char *copy = xstrdup(value), *save = NULL;
    const char *k = key;
    int any = 0;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *safe = safe_text(line, 0);
        put_padded(stdout, k, width);
        printf("  %s\n", safe);
        free(safe);
        k = "";
        any = 1;
    }
    if (!any)
        printf("%s\n", key);
    free(copy);
}

/* A setting's value for display: secrets are never printed. */
static const char *setting_shown(const struct setting_def *d,
                                 const char *value)
{
    return d->secret && *value ? "(set)" : value;
}

static void show_json(struct db *db, const struct list_info *list,
                      int64_t members, const struct addr_vec *roles)
{
    static const char *const role_keys[] = {"owners", "moderators"};
    char value[8192], why[256];
    struct json j;
    json_start(&j, stdout);
    json_object(&j, NULL);
    json_str(&j, "address", list->address);
    json_str(&j, "name", list->name);
    json_str(&j, "domain", list->domain);
    json_int(&j, "members", members);
    for (int r = 0; r < 2; r++) {
        json_array(&j, role_keys[r]);
        for (size_t i = 0; i < roles[r].n; i++)
            json_str(&j, NULL, roles[r].v[i]);
        json_close(&j, ']');
    }
    json_object(&j, "settings");
    for (const struct setting_def *d = list_settings; d->key; d++) {
        if (setting_get(db, list, d->key, value, sizeof value, why,
                        sizeof why) == -1)
            value[0] = '\0';
        if (d->type == SET_COUNT) {
            json_int(&j, d->key, strtoll(value, NULL, 10));
        } else if (d->type == SET_PATTERNS) {
            json_array(&j, d->key);
            for (char *save = NULL, *tok = strtok_r(value, " ", &save); tok;
                 tok = strtok_r(NULL, " ", &save))
                json_str(&j, NULL, tok);
            json_close(&j, ']');
        } else {
            json_str(&j, d->key, setting_shown(d, value));
        }
    }
    json_close(&j, '}');
    json_close(&j, '}');
    json_end(&j);
}

int cmd_list_show(struct ctl_env *env, struct ctl_args *a)
{
    static const char *const roles[] = {"owner", "moderator"};
    struct list_info list;
    struct addr_vec found[2] = {{NULL, 0}, {NULL, 0}};
    char why[512], value[8192], count[32];
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    int64_t members = members_count(env->db, &list, "member", why,
                                    sizeof why);
    for (int r = 0; r < 2 && members >= 0; r++)
        if (members_each(env->db, &list, roles[r], collect_address,
                         &found[r], why, sizeof why) == -1)
            members = -1;
    /* Every setting is read before the first line goes out. */
    for (const struct setting_def *d = list_settings; d->key && members >= 0;
         d++)
        if (setting_get(env->db, &list, d->key, value, sizeof value, why,
                        sizeof why) == -1)
            members = -1;
    if (members < 0) {
        rc = ctl_fail("%s", why);
    } else if (opt_flag(a, "json")) {
        show_json(env->db, &list, members, found);
    } else {
        size_t width = strlen("moderator");
        for (const struct setting_def *d = list_settings; d->key; d++)
            if (strlen(d->key) > width)
                width = strlen(d->key);
        show_line(width, "list", list.address);
        snprintf(count, sizeof count, "%lld", (long long)members);
        show_line(width, "members", count);
        for (int r = 0; r < 2; r++)
            for (size_t i = 0; i < found[r].n; i++)
                show_line(width, roles[r], found[r].v[i]);
        for (const struct setting_def *d = list_settings; d->key; d++) {
            setting_get(env->db, &list, d->key, value, sizeof value, why,
                        sizeof why);
            show_line(width, d->key, setting_shown(d, value));
        }
    }
    addr_vec_free(&found[0]);
    addr_vec_free(&found[1]);
    return rc;
}

int cmd_list_delete(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (list_delete(env->db, list.address, why, sizeof why) != 0)
        return ctl_fail("%s", why);
    printf("deleted list %s\n", list.address);
    return EXIT_OK;
}

int cmd_list_set(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    const char *key = a->argv[1], *value = a->argv[2];
    /* An unknown key is refused before the list is even looked up. */
    if (setting_find(key) == NULL)
        return ctl_fail("unknown setting '%s' (mlm-ctl help list set)", key);
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (setting_set(env->db, &list, key, value, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    printf("%s: %s set\n", list.address, key);
    return EXIT_OK;
}

struct lists_row {
    char *cells[3];
};

struct lists_walk {
    struct db *db;
    struct lists_row *rows;
    size_t n;
    int failed;
    char why[512];
};

static int collect_list(const struct list_info *list, void *arg)
{
    struct lists_walk *w = arg;
    char posting[64], count[32];
    int64_t members = members_count(w->db, list, "member", w->why,
                                    sizeof w->why);
    if (members < 0 || setting_get(w->db, list, "posting", posting,
                                   sizeof posting, w->why,
                                   sizeof w->why) == -1) {
        w->failed = 1;
        return 1;
    }
    snprintf(count, sizeof count, "%lld", (long long)members);
    w->rows = xrealloc(w->rows, (w->n + 1) * sizeof *w->rows);
    struct lists_row *r = &w->rows[w->n++];
    r->cells[0] = safe_text(list->address, 0);
    r->cells[1] = xstrdup(count);
    r->cells[2] = safe_text(posting, 0);
    return 0;
}

int cmd_lists(struct ctl_env *env, struct ctl_args *a)
{
    struct lists_walk w = {.db = ctl_db(env)};
    if (w.db == NULL)
        return EXIT_FAILED;
    if (lists_each(w.db, collect_list, &w, w.why, sizeof w.why) == -1)
        w.failed = 1;
    int rc = w.failed ? ctl_fail("%s", w.why) : EXIT_OK;
    if (rc == EXIT_OK && opt_flag(a, "json")) {
        struct json j;
        json_start(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < w.n; i++) {
            json_object(&j, NULL);
            json_str(&j, "address", w.rows[i].cells[0]);
            json_int(&j, "members", strtoll(w.rows[i].cells[1], NULL, 10));
            json_str(&j, "posting", w.rows[i].cells[2]);
            json_close(&j, '}');
        }
        json_close(&j, ']');
        json_end(&j);
    } else if (rc == EXIT_OK) {
        size_t widths[3] = {0, 0, 0};
        for (size_t i = 0; i < w.n; i++)
            for (int c = 0; c < 3; c++)
                if (text_width(w.rows[i].cells[c]) > widths[c])
                    widths[c] = text_width(w.rows[i].cells[c]);
        for (size_t i = 0; i < w.n; i++)
            columns_print(stdout, w.rows[i].cells, 3, widths);
    }
    for (size_t i = 0; i < w.n; i++)
        for (int c = 0; c < 3; c++)
            free(w.rows[i].cells[c]);
    free(w.rows);
    return rc;
}
