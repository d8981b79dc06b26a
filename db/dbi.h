/*
 * dbi.h - internals shared by the db_*.c files: the connection struct and
 * the prepared-statement cache. Not for callers outside common/.
 */
#ifndef MLM_DBI_H
#define MLM_DBI_H

#include "db.h"

enum stmt_id {
    ST_LIST_INSERT,
    ST_LIST_DELETE,
    ST_LIST_FIND,
    ST_LIST_DOMAIN,
    ST_LIST_ALL,
    ST_SETTING_SET,
    ST_SETTING_GET,
    ST_SETTING_ALL,
    ST_PATTERN_CLEAR,
    ST_PATTERN_ADD,
    ST_PATTERN_MATCH,
    ST_PATTERN_LIST,
    ST_MEMBER_ADD,
    ST_MEMBER_REMOVE,
    ST_MEMBER_GET,
    ST_MEMBER_ROLES,
    ST_MEMBER_EACH,
    ST_MEMBER_EACH_ROLE,
    ST_MEMBER_SET_MODERATED,
    ST_MEMBER_SET_DELIVERY,
    ST_MEMBER_SET_NOT_ME_TOO,
    ST_MEMBER_SET_NAME,
    ST_MEMBER_BOUNCE,
    ST_MEMBER_BOUNCE_LAST,
    ST_MEMBER_PROBE_GET,
    ST_MEMBER_PROBE_SET,
    ST_MEMBER_PROBE_FIND,
    ST_MEMBER_BOUNCES,
    ST_MEMBER_COUNT,
    ST_MEMBER_RECIPIENTS,
    ST_DATA_VERSION,
    ST_PATTERN_COUNT,
    ST_BOUNCE_ADD,
    ST_BOUNCE_EACH,
    ST_HELD_ADD,
    ST_HELD_GET,
    ST_HELD_DECIDE,
    ST_HELD_EACH,
    ST_HELD_RETRY,
    ST_HELD_REOPEN,
    ST_HELD_CLAIM,
    ST_REQUEST_EACH,
    ST_REQUEST_GET,
    ST_REQUEST_DECIDE,
    ST_TOKEN_PURGE,
    ST_TOKEN_RECENT,
    ST_TOKEN_ADD,
    ST_TOKEN_GET,
    ST_TOKEN_DELETE,
    ST_REPLY_PURGE,
    ST_REPLY_COUNT,
    ST_REPLY_ADD,
    ST_LOG_ADD,
    ST_LOG_ADD_HELD,
    ST_LOG_ADD_REQUEST,
    ST_LOG_EACH,
    ST_TEMPLATE_GET,
    ST_TEMPLATE_SET,
    ST_TEMPLATE_DELETE,
    ST_TEMPLATE_EACH,
    ST_META_GET,
    ST_META_INIT,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

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
    sqlite3 *sql;
    sqlite3_stmt *stmts[ST_COUNT];
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

/* The prepared statement for id, reset and unbound; NULL with why. */
sqlite3_stmt *db_stmt(struct db *db, enum stmt_id id, char *why,
                      size_t whylen);
/* Report the connection's last error into why; returns -1. */
int db_fail(struct db *db, const char *what, char *why, size_t whylen);
/* Step a statement that returns no rows; 0 or -1. */
int db_step_done(struct db *db, sqlite3_stmt *st, const char *what, char *why,
                 size_t whylen);

#endif
