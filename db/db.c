/*
 * db.c - opening the mlm database on its backend (a SQLite file or a
 * PostgreSQL URI), migrating its schema, the prepared-statement cache and
 * transactions (see db.h, dbi.h). The backends are driver_sqlite.c and
 * driver_pg.c.
 */
#include "dbi.h"
#include "sqlscan.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The number of migrations, counted from one backend's table. */
#define MIGRATION(sql) 1 +
#define MIGRATION_DIALECT(sqlite, pg) 1 +
#define SQL_ID ""
#define SQL_INT ""
#define SQL_BLOB ""
#define SQL_WITHOUT_ROWID ""
#define SQL_NOW ""
const int db_schema_latest =
#include "schema.h"
    0;
#undef MIGRATION
#undef MIGRATION_DIALECT
#undef SQL_ID
#undef SQL_INT
#undef SQL_BLOB
#undef SQL_WITHOUT_ROWID
#undef SQL_NOW

int db_is_postgresql(const char *database)
{
    return strncasecmp(database, "postgresql://", 13) == 0 ||
           strncasecmp(database, "postgres://", 11) == 0;
}

int db_fail(struct db *db, const char *what, char *why, size_t whylen)
{
    snprintf(why, whylen, "database: %s: %s", what, db_errmsg(db));
    return -1;
}

const char *db_errmsg(struct db *db) { return db->driver->errmsg(db); }

int64_t db_changes(struct db *db) { return db->driver->changes(db); }

const char *db_backend(const struct db *db) { return db->driver->name; }

int db_schema_version(struct db *db, char *why, size_t whylen)
{
    return db->driver->schema_version(db, why, whylen);
}

void db_restrict_policy_sql(struct db *db)
{
    db->driver->restrict_policy_sql(db);
}

void db_bulk_load(struct db *db) { db->driver->bulk_load(db); }

struct dbq *db_stmt(struct db *db, enum stmt_id id, char *why, size_t whylen)
{
    struct dbq *st = db->stmts[id];
    if (st == NULL) {
        st = db->driver->prepare(db, id, NULL, why, whylen);
        if (st == NULL)
            return NULL;
        db->stmts[id] = st;
    }
    dbq_reset(st);
    dbq_unbind(st);
    return st;
}

struct dbq *db_prepare(struct db *db, const char *sql, char *why,
                       size_t whylen)
{
    return db->driver->prepare(db, ST_COUNT, sql, why, whylen);
}

struct dbq *db_prepare_policy(struct db *db, const char *sql, char *why,
                              size_t whylen)
{
    if (sql_policy_check(sql, why, whylen) == -1)
        return NULL;
    return db_prepare(db, sql, why, whylen);
}

void dbq_bind_text(struct dbq *q, int idx, const char *text)
{
    q->ops->bind_text(q, idx, text, strlen(text), 0);
}

void dbq_bind_text_copy(struct dbq *q, int idx, const char *text)
{
    q->ops->bind_text(q, idx, text, strlen(text), 1);
}

int db_step_done(struct db *db, struct dbq *st, const char *what, char *why,
                 size_t whylen)
{
    int rc = dbq_step(st);
    if (rc == DBQ_ERROR)
        db_fail(db, what, why, whylen);
    dbq_reset(st);
    return rc == DBQ_ERROR ? -1 : 0;
}

void db_column_copy(struct dbq *st, int col, char *out, size_t outlen)
{
    const char *text = dbq_text(st, col);
    if (outlen == 0)
        return;
    size_t len = text ? strnlen(text, outlen - 1) : 0;
    memcpy(out, text ? text : "", len);   /* cut as snprintf would */
    out[len] = '\0';
}

/*
 * Bring the schema to db_schema_latest, one migration per transaction.
 * The version is read again inside the write transaction: a worker and
 * mlm-ctl may open an old database at the same moment, and the one that
 * waited must not run the migration a second time.
 */
static int db_migrate(struct db *db, char *why, size_t whylen)
{
    const struct db_driver *d = db->driver;
    for (;;) {
        int version = d->schema_version(db, why, whylen);
        if (version == db_schema_latest || version < 0)
            return version < 0 ? -1 : 0;
        if (d->begin(db, why, whylen) == -1)
            return -1;
        version = d->schema_version(db, why, whylen);
        if (version == db_schema_latest)
            return d->commit(db, why, whylen);
        if (version < 0 || version > db_schema_latest) {
            if (version > db_schema_latest)
                snprintf(why, whylen, "database schema version %d is newer "
                         "than this mlm (%d)", version, db_schema_latest);
            d->rollback(db);
            return -1;
        }
        if (d->exec(db, d->migrations[version], why, whylen) == -1 ||
            d->set_schema_version(db, version + 1, why, whylen) == -1) {
            d->rollback(db);
            return -1;
        }
        if (d->commit(db, why, whylen) == -1)
            return -1;
    }
}

/* The schema must be this mlm's, when the backend does not migrate. */
static int db_schema_check(struct db *db, char *why, size_t whylen)
{
    int version = db->driver->schema_version(db, why, whylen);
    if (version < 0)
        return -1;
    if (version != db_schema_latest) {
        snprintf(why, whylen, "database schema version %d, this mlm needs "
                 "%d: run mlm-ctl db migrate", version, db_schema_latest);
        return -1;
    }
    return 0;
}

struct db *db_open(const char *database, const struct db_options *opts,
                   char *why, size_t whylen)
{
    struct db_options dflt = {0};
    if (opts == NULL)
        opts = &dflt;
    struct db *db = xcalloc(1, sizeof *db);
    db->driver = db_is_postgresql(database) ? &db_driver_pg
                                            : &db_driver_sqlite;
    int timeout = opts->timeout_s > 0 ? opts->timeout_s : DB_TIMEOUT_DEFAULT;
    if (db->driver->open(db, database, timeout, why, whylen) == -1) {
        db_close(db);
        return NULL;
    }
    char reason[512];
    int rc = db->driver->migrates_on_open || opts->migrate
                 ? db_migrate(db, reason, sizeof reason)
                 : db_schema_check(db, reason, sizeof reason);
    if (rc == -1) {
        if (db_is_postgresql(database))
            snprintf(why, whylen, "%s", reason);
        else
            snprintf(why, whylen, "%s: %s", database, reason);
        db_close(db);
        return NULL;
    }
    return db;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        dbq_free(db->stmts[i]);
    free(db->recipients.addresses);
    if (db->conn)
        db->driver->close(db);
    free(db);
}

int db_begin(struct db *db, char *why, size_t whylen)
{
    return db->driver->begin(db, why, whylen);
}

int db_commit(struct db *db, char *why, size_t whylen)
{
    return db->driver->commit(db, why, whylen);
}

void db_rollback(struct db *db) { db->driver->rollback(db); }
