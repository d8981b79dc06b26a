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
    ST_MEMBER_EACH,
    ST_MEMBER_EACH_ROLE,
    ST_MEMBER_SET_MODERATED,
    ST_MEMBER_SET_DELIVERY,
    ST_MEMBER_SET_NAME,
    ST_MEMBER_BOUNCE,
    ST_MEMBER_COUNT,
    ST_MEMBER_RECIPIENTS,
    ST_DATA_VERSION,
    ST_BOUNCE_ADD,
    ST_BOUNCE_EACH,
    ST_HELD_ADD,
    ST_HELD_GET,
    ST_HELD_DECIDE,
    ST_HELD_EACH,
    ST_HELD_RETRY,
    ST_HELD_REOPEN,
    ST_TOKEN_PURGE,
    ST_TOKEN_RECENT,
    ST_TOKEN_ADD,
    ST_TOKEN_GET,
    ST_TOKEN_DELETE,
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
    int64_t data_version;   /* PRAGMA data_version: other connections' commits */
    int64_t own_changes;    /* sqlite3_total_changes64: this connection's */
    char *addresses;
    size_t len, cap;
    uint32_t count;
    int valid;
};

struct db {
    sqlite3 *sql;
    sqlite3_stmt *stmts[ST_COUNT];
    struct recipients_cache recipients;
};

/* The prepared statement for id, reset and unbound; NULL with why. */
sqlite3_stmt *db_stmt(struct db *db, enum stmt_id id, char *why,
                      size_t whylen);
/* Report the connection's last error into why; returns -1. */
int db_fail(struct db *db, const char *what, char *why, size_t whylen);
/* Step a statement that returns no rows; 0 or -1. */
int db_step_done(struct db *db, sqlite3_stmt *st, const char *what, char *why,
                 size_t whylen);

#endif
