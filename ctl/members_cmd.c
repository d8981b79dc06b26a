/*
 * members_cmd.c - mlm-ctl member add|remove|set and mlm-ctl members.
 *
 * Addresses compare as db/db.c normalises them: the domain without
 * regard to case, the local part exactly. "members" streams: a million
 * members are printed in two passes over the database (widths, then
 * lines), never held in memory.
 */
#include "ctl.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

/* --role, checked; "member" when not given. NULL after a message. */
static const char *role_option(const struct ctl_args *a)
{
    const char *role = opt_value(a, "role");
    if (role == NULL)
        return "member";
    if (!role_valid(role)) {
        ctl_fail("bad role '%s': member, moderator or owner", role);
        return NULL;
    }
    return role;
}

/* The list (first argument) and --role of a member command. */
static int member_target(struct ctl_env *env, const struct ctl_args *a,
                         struct list_info *list, const char **role)
{
    *role = role_option(a);
    if (*role == NULL)
        return EXIT_FAILED;
    return ctl_list(env, a->argv[0], list);
}

int cmd_member_add(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    const char *role;
    int rc = member_target(env, a, &list, &role);
    if (rc != EXIT_OK)
        return rc;
    if (member_add(env->db, &list, a->argv[1], role, opt_value(a, "name"),
                   why, sizeof why) != 0)
        return ctl_fail("%s", why);
    char *safe = safe_text(a->argv[1], 0);
    printf("added %s as %s of %s\n", safe, role, list.address);
    free(safe);
    return EXIT_OK;
}

int cmd_member_remove(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    const char *role;
    int rc = member_target(env, a, &list, &role);
    if (rc != EXIT_OK)
        return rc;
    if (member_remove(env->db, &list, a->argv[1], role, why,
                      sizeof why) != 0)
        return ctl_fail("%s", why);
    char *safe = safe_text(a->argv[1], 0);
    printf("removed %s as %s of %s\n", safe, role, list.address);
    free(safe);
    return EXIT_OK;
}

int cmd_member_set(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    const char *role;
    int rc = member_target(env, a, &list, &role);
    if (rc != EXIT_OK)
        return rc;
    if (member_set(env->db, &list, a->argv[1], role, a->argv[2], a->argv[3],
                   why, sizeof why) != 0)
        return ctl_fail("%s", why);
    char *safe = safe_text(a->argv[1], 0);
    printf("%s (%s of %s): %s set\n", safe, role, list.address, a->argv[2]);
    free(safe);
    return EXIT_OK;
}

/* --- members --------------------------------------------------------------- */

#define MEMBER_COLS 6

struct members_walk {
    size_t widths[MEMBER_COLS];
    int measure;             /* first pass: widths only */
    struct json *json;
};

static void member_cells(const struct member_info *m, char **cells,
                         char *score, size_t scorelen)
{
    snprintf(score, scorelen, "%d", m->bounce_score);
    cells[0] = safe_text(m->address, 0);
    cells[1] = (char *)m->role;
    cells[2] = (char *)m->delivery;
    cells[3] = score;
    cells[4] = m->moderated && m->not_me_too ? "moderated,not-me-too"
               : m->moderated                 ? "moderated"
               : m->not_me_too                ? "not-me-too"
                                              : "-";
    cells[5] = safe_text(m->name, 0);
}

static int member_line(const struct member_info *m, void *arg)
{
    struct members_walk *w = arg;
    if (w->json) {
        json_object(w->json, NULL);
        json_str(w->json, "address", m->address);
        json_str(w->json, "role", m->role);
        json_str(w->json, "delivery", m->delivery);
        json_int(w->json, "bounce_score", m->bounce_score);
        json_bool(w->json, "moderated", m->moderated);
        json_bool(w->json, "not_me_too", m->not_me_too);
        json_str(w->json, "name", m->name);
        json_str(w->json, "last_bounce", m->last_bounce);
        json_close(w->json, '}');
        return 0;
    }
    char *cells[MEMBER_COLS], score[16];
    member_cells(m, cells, score, sizeof score);
    if (w->measure) {
        for (int c = 0; c < MEMBER_COLS; c++)
            if (text_width(cells[c]) > w->widths[c])
                w->widths[c] = text_width(cells[c]);
    } else {
        columns_print(stdout, cells, MEMBER_COLS, w->widths);
    }
    free(cells[0]);
    free(cells[5]);
    return 0;
}

int cmd_members(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct members_walk w = {.measure = 1};
    struct json j;
    char why[512];
    const char *role = opt_value(a, "role");
    if (role && !role_valid(role))
        return ctl_fail("bad role '%s': member, moderator or owner", role);
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (opt_flag(a, "json")) {
        json_start(&j, stdout);
        json_array(&j, NULL);
        w.json = &j;
        rc = members_each(env->db, &list, role, member_line, &w, why,
                          sizeof why);
        json_close(&j, ']');
        json_end(&j);
    } else {
        rc = members_each(env->db, &list, role, member_line, &w, why,
                          sizeof why);
        w.measure = 0;
        if (rc == 0)
            rc = members_each(env->db, &list, role, member_line, &w, why,
                              sizeof why);
    }
    return rc == 0 ? EXIT_OK : ctl_fail("%s", why);
}
