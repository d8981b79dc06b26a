/*
 * db_cache.c - what a worker keeps in memory between requests, and when it
 * must read again.
 *
 * A post used to make about twenty queries, each a read transaction with
 * its own lock and unlock system calls: the list an address names, whether
 * the list has banned or accepted patterns (most have none), its members.
 * Those answers change only when something commits, so they are stamped
 * with where the database stood (struct db_stamp) and served again while
 * the stamp is the same. The stamp costs one query per request
 * (db_request_begin: SQLite's data_version, PostgreSQL's change counter);
 * the connection's own changes are seen at once through its count of
 * changes.
 */
#include "dbi.h"

#include <string.h>

void db_request_begin(struct db *db)
{
    /* a transaction a failed request left open is not the next one's */
    db_rollback(db);
    db->per_request = 1;
    db->version_known = 0;
}

int db_stamp_now(struct db *db, struct db_stamp *out, char *why,
                 size_t whylen)
{
    if (!db->version_known) {
        struct dbq *st = db_stmt(db, ST_DATA_VERSION, why, whylen);
        if (st == NULL)
            return -1;
        int rc = dbq_step(st);
        if (rc == DBQ_ROW)
            db->data_version = dbq_int64(st, 0);
        dbq_reset(st);
        if (rc != DBQ_ROW)
            return db_fail(db, "data_version", why, whylen);
        db->version_known = db->per_request;
    }
    out->version = db->data_version;
    out->own = db->driver->total_changes(db);
    return 0;
}

int resolve_cached(struct db *db, const char *norm, const struct db_stamp *now,
                   enum address_kind *kind, struct list_info *list)
{
    for (unsigned i = 0; i < RESOLVE_CACHE_SIZE; i++) {
        const struct resolve_entry *e = &db->resolved[i];
        if (db_stamp_same(&e->stamp, now) && strcmp(e->address, norm) == 0) {
            *kind = e->kind;
            *list = e->list;
            return 1;
        }
    }
    return 0;
}

void resolve_remember(struct db *db, const char *norm,
                      const struct db_stamp *now, enum address_kind kind,
                      const struct list_info *list)
{
    if (strlen(norm) >= sizeof db->resolved[0].address)
        return;
    struct resolve_entry *e = &db->resolved[db->resolved_next++ %
                                            RESOLVE_CACHE_SIZE];
    strcpy(e->address, norm);
    e->kind = kind;
    e->list = *list;
    e->stamp = *now;
}

int64_t pattern_count(struct db *db, const struct list_info *list,
                      const char *kind, char *why, size_t whylen)
{
    struct db_stamp now;
    if (db_stamp_now(db, &now, why, whylen) == -1)
        return -1;
    for (unsigned i = 0; i < PATTERN_CACHE_SIZE; i++) {
        const struct pattern_count *e = &db->patterns[i];
        if (e->list_id == list->id && strcmp(e->kind, kind) == 0 &&
            db_stamp_same(&e->stamp, &now))
            return e->count;
    }
    struct dbq *st = db_stmt(db, ST_PATTERN_COUNT, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, kind);
    int rc = dbq_step(st);
    int64_t count = rc == DBQ_ROW ? dbq_int64(st, 0) : -1;
    dbq_reset(st);
    if (rc != DBQ_ROW)
        return db_fail(db, "pattern count", why, whylen);
    if (strlen(kind) < sizeof db->patterns[0].kind) {
        struct pattern_count *e = &db->patterns[db->patterns_next++ %
                                                PATTERN_CACHE_SIZE];
        e->list_id = list->id;
        strcpy(e->kind, kind);
        e->count = count;
        e->stamp = now;
    }
    return count;
}
