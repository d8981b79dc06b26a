/*
 * driver_sqlite.c - the SQLite backend: a file beside mlm, WAL, a busy
 * timeout, foreign keys; the schema version is PRAGMA user_version and a
 * write transaction is BEGIN IMMEDIATE. Statements are SQLite's own
 * prepared statements behind struct dbq.
 */
#include "dbi.h"
#include "xmalloc.h"

#include <glib.h>
#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
#define DB_FILE_MODE 0600

#define SQL_ID "INTEGER PRIMARY KEY"
#define SQL_INT "INTEGER"
#define SQL_BLOB "BLOB"
#define SQL_WITHOUT_ROWID " WITHOUT ROWID"
#define SQL_NOW "strftime('%s', 'now')"

static const char *const sqlite_migrations[] = {
#define MIGRATION(sql) sql,
#define MIGRATION_DIALECT(sqlite, pg) sqlite,
#include "schema.h"
#undef MIGRATION
#undef MIGRATION_DIALECT
};

static const char *const sqlite_stmt_sql[ST_COUNT] = {
#define STMT(id, sql) [id] = sql,
#define STMT_DIALECT(id, sqlite, pg) [id] = sqlite,
#include "statements.h"
#undef STMT
#undef STMT_DIALECT
};

/* The connection: SQLite's, and its transaction statements. */
struct sqlite_conn {
    sqlite3 *sql;
    sqlite3_stmt *begin, *commit, *rollback;
};

struct sqlite_stmt {
    struct dbq base;
    sqlite3_stmt *st;
};

static sqlite3 *conn_of(struct db *db)
{
    return ((struct sqlite_conn *)db->conn)->sql;
}

static sqlite3_stmt *st_of(struct dbq *q)
{
    return ((struct sqlite_stmt *)q)->st;
}

static void q_bind_int64(struct dbq *q, int idx, int64_t value)
{
    sqlite3_bind_int64(st_of(q), idx, value);
}

static void q_bind_double(struct dbq *q, int idx, double value)
{
    sqlite3_bind_double(st_of(q), idx, value);
}

static void q_bind_text(struct dbq *q, int idx, const char *text, size_t len,
                        int copy)
{
    sqlite3_bind_text64(st_of(q), idx, text, len,
                        copy ? SQLITE_TRANSIENT : SQLITE_STATIC, SQLITE_UTF8);
}

static void q_bind_blob(struct dbq *q, int idx, const void *data, size_t len)
{
    sqlite3_bind_blob64(st_of(q), idx, data, len, SQLITE_STATIC);
}

static void q_bind_null(struct dbq *q, int idx)
{
    sqlite3_bind_null(st_of(q), idx);
}

static int q_step(struct dbq *q)
{
    switch (sqlite3_step(st_of(q))) {
    case SQLITE_ROW: return DBQ_ROW;
    case SQLITE_DONE: return DBQ_DONE;
    default: return DBQ_ERROR;
    }
}

static void q_reset(struct dbq *q) { sqlite3_reset(st_of(q)); }

static void q_unbind(struct dbq *q) { sqlite3_clear_bindings(st_of(q)); }

static int q_param_count(struct dbq *q)
{
    return sqlite3_bind_parameter_count(st_of(q));
}

static int64_t q_int64(struct dbq *q, int col)
{
    return sqlite3_column_int64(st_of(q), col);
}

static double q_double(struct dbq *q, int col)
{
    return sqlite3_column_double(st_of(q), col);
}

static const char *q_text(struct dbq *q, int col)
{
    return (const char *)sqlite3_column_text(st_of(q), col);
}

static const void *q_blob(struct dbq *q, int col, size_t *len)
{
    const void *data = sqlite3_column_blob(st_of(q), col);
    *len = (size_t)sqlite3_column_bytes(st_of(q), col);
    return data;
}

static enum dbq_type q_type(struct dbq *q, int col)
{
    switch (sqlite3_column_type(st_of(q), col)) {
    case SQLITE_INTEGER: return DBQ_INTEGER;
    case SQLITE_FLOAT: return DBQ_FLOAT;
    case SQLITE_BLOB: return DBQ_BLOB;
    case SQLITE_NULL: return DBQ_NULL;
    default: return DBQ_TEXT;
    }
}

static int q_count(struct dbq *q) { return sqlite3_column_count(st_of(q)); }

static const char *q_name(struct dbq *q, int col)
{
    return sqlite3_column_name(st_of(q), col);
}

static void q_free(struct dbq *q)
{
    sqlite3_finalize(st_of(q));
    free(q);
}

static const struct dbq_ops sqlite_ops = {
    .bind_int64 = q_bind_int64,   .bind_double = q_bind_double,
    .bind_text = q_bind_text,     .bind_blob = q_bind_blob,
    .bind_null = q_bind_null,     .step = q_step,
    .reset = q_reset,             .unbind = q_unbind,
    .param_count = q_param_count, .column_int64 = q_int64,
    .column_double = q_double,    .column_text = q_text,
    .column_blob = q_blob,        .column_type = q_type,
    .column_count = q_count,      .column_name = q_name,
    .free = q_free,
};

static const char *sqlite_errmsg(struct db *db)
{
    return sqlite3_errmsg(conn_of(db));
}

/* The connection's last error into why, as db_fail words it; -1. */
static int sqlite_fail(struct db *db, const char *what, char *why,
                       size_t whylen)
{
    snprintf(why, whylen, "database: %s: %s", what, sqlite_errmsg(db));
    return -1;
}

/* Whether what follows a statement holds no other (spaces, ;, comments). */
static int tail_empty(sqlite3 *conn, const char *tail)
{
    while (tail && tail[strspn(tail, " \t\r\n;")] != '\0') {
        sqlite3_stmt *next = NULL;
        const char *rest = NULL;
        if (sqlite3_prepare_v3(conn, tail, -1, 0, &next, &rest) !=
                SQLITE_OK ||
            next != NULL) {
            sqlite3_finalize(next);
            return 0;
        }
        if (rest == tail)
            return 0;
        tail = rest;
    }
    return 1;
}

/*
 * A statement of statements.h (persistent: kept for the connection's
 * life) or one policy statement, which must be a single statement.
 */
static struct dbq *sqlite_prepare(struct db *db, enum stmt_id id,
                                  const char *sql, char *why, size_t whylen)
{
    sqlite3_stmt *st;
    const char *tail = NULL;
    unsigned flags = id < ST_COUNT ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(conn_of(db), id < ST_COUNT ? sqlite_stmt_sql[id]
                                                      : sql,
                           -1, flags, &st, &tail) != SQLITE_OK) {
        sqlite_fail(db, "prepare", why, whylen);
        return NULL;
    }
    if (st == NULL || !tail_empty(conn_of(db), tail)) {
        sqlite3_finalize(st);
        snprintf(why, whylen, "database: one SQL statement at a time");
        return NULL;
    }
    struct sqlite_stmt *q = xcalloc(1, sizeof *q);
    q->base.ops = &sqlite_ops;
    q->st = st;
    return &q->base;
}

static int sqlite_exec(struct db *db, const char *script, char *why,
                       size_t whylen)
{
    char *err = NULL;
    if (sqlite3_exec(conn_of(db), script, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(why, whylen, "database: %s", err ? err : "exec failed");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Step one of the connection's transaction statements. */
static int sqlite_tx(struct db *db, sqlite3_stmt **slot, const char *sql,
                     const char *what, char *why, size_t whylen)
{
    if (*slot == NULL &&
        sqlite3_prepare_v3(conn_of(db), sql, -1, SQLITE_PREPARE_PERSISTENT,
                           slot, NULL) != SQLITE_OK)
        return sqlite_fail(db, what, why, whylen);
    int rc = sqlite3_step(*slot);
    sqlite3_reset(*slot);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(db, what, why, whylen);
}

static int sqlite_begin(struct db *db, char *why, size_t whylen)
{
    struct sqlite_conn *c = db->conn;
    return sqlite_tx(db, &c->begin, "BEGIN IMMEDIATE", "begin", why, whylen);
}

static int sqlite_commit(struct db *db, char *why, size_t whylen)
{
    struct sqlite_conn *c = db->conn;
    return sqlite_tx(db, &c->commit, "COMMIT", "commit", why, whylen);
}

static void sqlite_rollback(struct db *db)
{
    struct sqlite_conn *c = db->conn;
    char why[256];
    if (sqlite3_get_autocommit(c->sql) == 0)
        sqlite_tx(db, &c->rollback, "ROLLBACK", "rollback", why, sizeof why);
}

static int sqlite_schema_version(struct db *db, char *why, size_t whylen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(conn_of(db), "PRAGMA user_version", -1, &st,
                           NULL) != SQLITE_OK)
        return sqlite_fail(db, "schema version", why, whylen);
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0)
                                                 : -1;
    sqlite3_finalize(st);
    return version < 0 ? sqlite_fail(db, "schema version", why, whylen)
                       : version;
}

static int sqlite_set_schema_version(struct db *db, int version, char *why,
                                     size_t whylen)
{
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version);
    return sqlite_exec(db, bump, why, whylen);
}

static int64_t sqlite_changes(struct db *db)
{
    return sqlite3_changes64(conn_of(db));
}

static int64_t sqlite_total_changes(struct db *db)
{
    return sqlite3_total_changes64(conn_of(db));
}

/* No ATTACH, no VACUUM INTO (both attach), no load_extension(). */
static void sqlite_restrict_policy_sql(struct db *db)
{
    sqlite3_limit(conn_of(db), SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(conn_of(db), SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
                      NULL);
}

/* About 256 MB of page cache for an import. */
static void sqlite_bulk_load(struct db *db)
{
    char why[128];
    sqlite_exec(db, "PRAGMA cache_size = -262144", why, sizeof why);
}

/*
 * The database file (with create, made when missing: an empty file is an
 * empty SQLite database) or one of its -wal and -shm files: when it exists
 * and is ours, made DB_FILE_MODE whatever the umask or an older version
 * made it. Files of another user are left as they are (root running
 * mlm-ctl with an empty `user`). By path only: closing a descriptor of a
 * file SQLite has open in this process would drop its POSIX locks on it
 * (the -shm file's are the WAL's locks). 0, or -1 with why.
 */
static int db_file_private(const char *path, int create, char *why,
                           size_t whylen)
{
    struct stat st;
    if (lstat(path, &st) == -1) {
        if (errno != ENOENT) {
            snprintf(why, whylen, "database %s: %s", path, strerror(errno));
            return -1;
        }
        if (!create)
            return 0;
        /* Missing, so no connection of ours has it open. */
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
                      O_CLOEXEC, DB_FILE_MODE);
        if (fd == -1 && errno != EEXIST) {
            snprintf(why, whylen, "database %s: %s", path, strerror(errno));
            return -1;
        }
        if (fd != -1) {
            int rc = fchmod(fd, DB_FILE_MODE); /* against an odd umask */
            close(fd);
            if (rc == -1) {
                snprintf(why, whylen, "database %s: %s", path,
                         strerror(errno));
                return -1;
            }
            return 0;
        }
        if (lstat(path, &st) == -1) { /* made by another meanwhile */
            snprintf(why, whylen, "database %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        (st.st_mode & 0777) != DB_FILE_MODE &&
        chmod(path, DB_FILE_MODE) == -1) {
        snprintf(why, whylen, "database %s: cannot make it %04o: %s", path,
                 DB_FILE_MODE, strerror(errno));
        return -1;
    }
    return 0;
}

/* The -wal and -shm files beside the database, made private like it. */
static int db_sidecars_private(const char *path, char *why, size_t whylen)
{
    static const char *const suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        char *side = g_strconcat(path, suffixes[i], NULL);
        int rc = db_file_private(side, 0, why, whylen);
        g_free(side);
        if (rc == -1)
            return -1;
    }
    return 0;
}

static int sqlite_open(struct db *db, const char *path, int timeout_s,
                       char *why, size_t whylen)
{
    (void)timeout_s;
    if (db_file_private(path, 1, why, whylen) == -1)
        return -1;
    struct sqlite_conn *c = xcalloc(1, sizeof *c);
    db->conn = c;
    int rc = sqlite3_open_v2(path, &c->sql,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, whylen, "database %s: %s", path,
                 c->sql ? sqlite3_errmsg(c->sql) : "cannot open");
        return -1;
    }
    sqlite3_busy_timeout(c->sql, BUSY_TIMEOUT_MS);
    char reason[512];
    if (sqlite_exec(db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
                        "PRAGMA synchronous = NORMAL",
                    reason, sizeof reason) == -1) {
        snprintf(why, whylen, "%s: %s", path, reason);
        return -1;
    }
    return db_sidecars_private(path, why, whylen);
}

static void sqlite_close(struct db *db)
{
    struct sqlite_conn *c = db->conn;
    sqlite3_finalize(c->begin);
    sqlite3_finalize(c->commit);
    sqlite3_finalize(c->rollback);
    sqlite3_close(c->sql);
    free(c);
    db->conn = NULL;
}

const struct db_driver db_driver_sqlite = {
    .name = "sqlite",
    .migrations = sqlite_migrations,
    .migrates_on_open = 1,
    .open = sqlite_open,
    .close = sqlite_close,
    .prepare = sqlite_prepare,
    .exec = sqlite_exec,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .schema_version = sqlite_schema_version,
    .set_schema_version = sqlite_set_schema_version,
    .changes = sqlite_changes,
    .total_changes = sqlite_total_changes,
    .errmsg = sqlite_errmsg,
    .restrict_policy_sql = sqlite_restrict_policy_sql,
    .bulk_load = sqlite_bulk_load,
};
