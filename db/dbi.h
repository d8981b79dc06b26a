/*
 * dbi.h - internals shared by the db_*.c files: the connection struct and
 * the prepared-statement cache, the backends' interface. Not for callers
 * outside db/.
 */
#ifndef MLM_DBI_H
#define MLM_DBI_H

#include "db.h"

enum stmt_id {
#define STMT(id, sql) id,
#define STMT_DIALECT(id, sqlite, pg) id,
#include "statements.h"
#undef STMT
#undef STMT_DIALECT
    ST_COUNT
};

/* The number of migrations in schema.h: the schema version they reach. */
extern const int db_schema_latest;

/*
 * A backend: how to connect, prepare, run scripts and transactions.
 * Statements are prepared from the backend's own texts of statements.h
 * (by id) or from a policy's SQL (id ST_COUNT, sql given).
 */
struct db_driver {
    const char *name;                    /* "sqlite", "postgresql" */
    const char *const *migrations;       /* db_schema_latest scripts */
    int migrates_on_open;                /* else only when asked to */
    int (*open)(struct db *db, const char *target, int timeout_s, char *why,
                size_t whylen);
    void (*close)(struct db *db);
    struct dbq *(*prepare)(struct db *db, enum stmt_id id, const char *sql,
                           char *why, size_t whylen);
    /* A script of statements without parameters or rows. */
    int (*exec)(struct db *db, const char *script, char *why, size_t whylen);
    /* A write transaction, serialised with every other writer's. */
    int (*begin)(struct db *db, char *why, size_t whylen);
    int (*commit)(struct db *db, char *why, size_t whylen);
    void (*rollback)(struct db *db);
    int (*schema_version)(struct db *db, char *why, size_t whylen);
    int (*set_schema_version)(struct db *db, int version, char *why,
                              size_t whylen);
    int64_t (*changes)(struct db *db);       /* by the last statement */
    int64_t (*total_changes)(struct db *db); /* by this connection */
    const char *(*errmsg)(struct db *db);
    /* A policy's own SQL may reach no other file or code (mlm.db). */
    void (*restrict_policy_sql)(struct db *db);
    /* Many inserts follow (mlm-ctl import). */
    void (*bulk_load)(struct db *db);
};

extern const struct db_driver db_driver_sqlite;
extern const struct db_driver db_driver_pg;


/*
 * The recipients of the list expanded last, kept while the database is
 * unchanged (see recipients_each): NUL-separated addresses in one block.
 */
struct recipients_cache {
    int64_t list_id;
    struct db_stamp stamp;
    char *addresses;
    size_t len, cap;
    uint32_t count;
    int valid;
};

/* What address_resolve found for a normalised address. */
struct resolve_entry {
    char address[256];
    enum address_kind kind;
    struct list_info list;
    struct db_stamp stamp;
};

/* How many patterns of a kind a list has (most have none). */
struct pattern_count {
    int64_t list_id;
    char kind[32];
    int64_t count;
    struct db_stamp stamp;
};

#define RESOLVE_CACHE_SIZE 8
#define PATTERN_CACHE_SIZE 8

struct db {
    const struct db_driver *driver;
    void *conn;             /* the driver's connection */
    struct dbq *stmts[ST_COUNT];
    int per_request;        /* db_request_begin was called: see db_stamp_now */
    int version_known;      /* data_version read in this request */
    int64_t data_version;
    struct recipients_cache recipients;
    struct resolve_entry resolved[RESOLVE_CACHE_SIZE];
    unsigned resolved_next;
    struct pattern_count patterns[PATTERN_CACHE_SIZE];
    unsigned patterns_next;
    char actor[DB_ACTOR_MAX + 1];  /* who the changes are by: db_set_actor */
};

/*
 * Record a change of list (or of the list of held post or request id) in
 * the change log, by db->actor: after the change, in the same
 * transaction when there is one. A failure is logged as a warning, never
 * undoes the change.
 */
void db_log_change(struct db *db, int64_t list_id, const char *action,
                   const char *subject, const char *detail);
void db_log_held(struct db *db, int64_t held_id, const char *action,
                 const char *detail);
void db_log_request(struct db *db, int64_t request_id, const char *action,
                    const char *detail);

/* address_resolve's memory: 1 and *kind, *list filled when known. */
int resolve_cached(struct db *db, const char *norm, const struct db_stamp *now,
                   enum address_kind *kind, struct list_info *list);
void resolve_remember(struct db *db, const char *norm,
                      const struct db_stamp *now, enum address_kind kind,
                      const struct list_info *list);
/* The number of list's patterns of kind, counted once per stamp; -1. */
int64_t pattern_count(struct db *db, const struct list_info *list,
                      const char *kind, char *why, size_t whylen);

struct secret;
/*
 * The installation's secret (db_secret.c): secret_file's on SQLite, the
 * one every host shares in the database on PostgreSQL. 0 or -1 with why.
 */
int db_secret(struct db *db, const char *secret_file, struct secret *out,
              char *why, size_t whylen);
/* src's secret made dst's when dst is PostgreSQL and has none (db copy:
 * marks and tokens mailed before the move stay good). 0 or -1. */
int db_secret_carry(struct db *src, const char *secret_file, struct db *dst,
                    char *why, size_t whylen);

/* The prepared statement for id, reset and unbound; NULL with why. */
struct dbq *db_stmt(struct db *db, enum stmt_id id, char *why,
                      size_t whylen);
/* Report the connection's last error into why; returns -1. */
int db_fail(struct db *db, const char *what, char *why, size_t whylen);
/* Step a statement that returns no rows; 0 or -1. */
int db_step_done(struct db *db, struct dbq *st, const char *what, char *why,
                 size_t whylen);

#endif
