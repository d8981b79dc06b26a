/*
 * db_log.c - the change log (see db.h): one row per change of a list's
 * members, settings, held posts and subscription requests, with who made
 * it (db_set_actor) and when; read by mlm-ctl log.
 */
#include "dbi.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* Set for every request a worker runs, logged only when it changes
 * something: kept as given here, made printable when a row is written. */
void db_set_actor(struct db *db, const char *actor)
{
    size_t n = actor ? strnlen(actor, DB_ACTOR_MAX) : 0;
    memcpy(db->actor, actor ? actor : "", n);
    db->actor[n] = '\0';
}

static void log_insert(struct db *db, enum stmt_id id, int64_t key,
                       const char *action, const char *subject,
                       const char *detail)
{
    char why[512], actor[DB_ACTOR_MAX + 1];
    size_t n = 0;
    for (const char *p = db->actor; *p; p++)
        actor[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    actor[n] = '\0';
    struct dbq *st = db_stmt(db, id, why, sizeof why);
    if (st != NULL) {
        dbq_bind_int64(st, 1, key);
        dbq_bind_text_copy(st, 2, n ? actor : "unknown");
        dbq_bind_text(st, 3, action);
        dbq_bind_text(st, 4, subject ? subject : "");
        dbq_bind_text(st, 5, detail ? detail : "");
        if (db_step_done(db, st, "change log", why, sizeof why) == 0)
            return;
    }
    msg_warn("%s (%s) not recorded in the change log: %s", action,
             subject ? subject : "", why);
}

void db_log_change(struct db *db, int64_t list_id, const char *action,
                   const char *subject, const char *detail)
{
    log_insert(db, ST_LOG_ADD, list_id, action, subject, detail);
}

void db_log_held(struct db *db, int64_t held_id, const char *action,
                 const char *detail)
{
    char subject[32];
    snprintf(subject, sizeof subject, "held %lld", (long long)held_id);
    log_insert(db, ST_LOG_ADD_HELD, held_id, action, subject, detail);
}

void db_log_request(struct db *db, int64_t request_id, const char *action,
                    const char *detail)
{
    char subject[32];
    snprintf(subject, sizeof subject, "request %lld", (long long)request_id);
    log_insert(db, ST_LOG_ADD_REQUEST, request_id, action, subject, detail);
}

int log_each(struct db *db, const struct list_info *list, int limit,
             int (*fn)(const struct log_entry *, void *), void *arg,
             char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_LOG_EACH, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_int64(st, 2, limit > 0 ? limit : -1);
    int rc, stop = 0;
    while (!stop && (rc = dbq_step(st)) == DBQ_ROW) {
        struct log_entry e;
        e.id = dbq_int64(st, 0);
        e.at = dbq_int64(st, 1);
        db_column_copy(st, 2, e.actor, sizeof e.actor);
        db_column_copy(st, 3, e.action, sizeof e.action);
        db_column_copy(st, 4, e.subject, sizeof e.subject);
        db_column_copy(st, 5, e.detail, sizeof e.detail);
        stop = fn(&e, arg) != 0;
    }
    if (stop)
        rc = DBQ_DONE;
    dbq_reset(st);
    return rc == DBQ_DONE ? 0 : db_fail(db, "change log", why, whylen);
}
