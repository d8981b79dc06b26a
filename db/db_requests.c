/*
 * db_requests.c - subscription requests waiting for the owners' decision
 * (subscription_policy moderate and confirm_then_moderate). The list
 * policy adds them; mlm-ctl requests lists and decides them. An approval
 * checks the ban, decides and adds the member in one transaction.
 */
#include "dbi.h"

#include <stdio.h>
#include <string.h>

static void request_row(struct dbq *st, struct request_info *r)
{
    memset(r, 0, sizeof *r);
    r->id = dbq_int64(st, 0);
    db_column_copy(st, 1, r->address, sizeof r->address);
    r->received = dbq_int64(st, 2);
    db_column_copy(st, 3, r->state, sizeof r->state);
    db_column_copy(st, 4, r->decided_by, sizeof r->decided_by);
    r->decided_at = dbq_int64(st, 5);
}

int request_each(struct db *db, const struct list_info *list,
                 const char *state,
                 int (*fn)(const struct request_info *, void *), void *arg,
                 char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_REQUEST_EACH, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, state ? state : "pending");
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        struct request_info r;
        request_row(st, &r);
        if (fn(&r, arg) != 0)
            break;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "requests", why, whylen);
}

int request_get(struct db *db, int64_t id, struct list_info *list,
                struct request_info *out, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_REQUEST_GET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW) {
        request_row(st, out);
        list->id = dbq_int64(st, 6);
        db_column_copy(st, 7, list->name, sizeof list->name);
        db_column_copy(st, 8, list->domain, sizeof list->domain);
        snprintf(list->address, sizeof list->address, "%s@%s", list->name,
                 list->domain);
    }
    dbq_reset(st);
    if (rc == DBQ_DONE) {
        snprintf(why, whylen, "no subscription request %lld", (long long)id);
        return DB_NOT_FOUND;
    }
    return rc == DBQ_ROW ? 0 : db_fail(db, "request", why, whylen);
}

int request_decide(struct db *db, int64_t id, const char *state,
                   const char *who, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_REQUEST_DECIDE, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    dbq_bind_text(st, 2, state);
    dbq_bind_text(st, 3, who ? who : "");
    if (db_step_done(db, st, "request decide", why, whylen) == -1)
        return -1;
    if (db_changes(db) == 0) {
        snprintf(why, whylen, "subscription request %lld is not pending",
                 (long long)id);
        return DB_NOT_FOUND;
    }
    db_log_request(db, id, "request decide", state);
    return 0;
}

/* The approval's steps, inside the caller's transaction. */
static int approve_steps(struct db *db, int64_t id, const char *who,
                         struct list_info *list, struct request_info *out,
                         char *why, size_t whylen)
{
    int rc = request_get(db, id, list, out, why, whylen);
    if (rc != 0)
        return rc;
    if (strcmp(out->state, "pending") != 0) {
        snprintf(why, whylen, "subscription request %lld is already %s%s%s",
                 (long long)id, out->state, *out->decided_by ? " by " : "",
                 out->decided_by);
        return DB_NOT_FOUND;
    }
    int banned = pattern_match(db, list, "banned", out->address, why, whylen);
    if (banned == -1)
        return -1;
    if (banned) {
        snprintf(why, whylen, "%s is banned from %s: subscription request "
                 "%lld stays pending (lift the ban, or reject the request)",
                 out->address, list->address, (long long)id);
        return DB_REFUSED;
    }
    rc = request_decide(db, id, "approved", who, why, whylen);
    if (rc != 0)
        return rc;
    return member_add(db, list, out->address, "member", "", why, whylen);
}

int request_approve(struct db *db, int64_t id, const char *who,
                    struct list_info *list, struct request_info *out,
                    char *why, size_t whylen)
{
    if (db_begin(db, why, whylen) == -1)
        return -1;
    int rc = approve_steps(db, id, who, list, out, why, whylen);
    if ((rc == 0 || rc == DB_EXISTS) && db_commit(db, why, whylen) == -1)
        rc = -1;
    if (rc != 0 && rc != DB_EXISTS)
        db_rollback(db);
    return rc;
}
