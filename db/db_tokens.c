/*
 * db_tokens.c - confirmation tokens for NAME-request@ subscribe and
 * unsubscribe: random, single-use, expiring, rate-limited per address.
 */
#include "dbi.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int token_create(struct db *db, const struct list_info *list,
                 const char *address, const char *action, char *token,
                 size_t tokenlen, char *why, size_t whylen)
{
    char norm[400];
    int64_t expires = (int64_t)time(NULL) + TOKEN_LIFETIME;
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1 ||
        random_hex(token, tokenlen, 16, why, whylen) == -1)
        return -1;
    if (db_begin(db, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_TOKEN_PURGE, why, whylen);
    int rc = st ? db_step_done(db, st, "token purge", why, whylen) : -1;
    if (rc == 0 && (st = db_stmt(db, ST_TOKEN_RECENT, why, whylen))) {
        dbq_bind_int64(st, 1, list->id);
        dbq_bind_text(st, 2, norm);
        dbq_bind_int64(st, 3, expires - TOKEN_RATE_WINDOW);
        int step = dbq_step(st);
        int recent = step == DBQ_ROW ? dbq_int(st, 0) : -1;
        dbq_reset(st);
        if (recent < 0)
            rc = db_fail(db, "token", why, whylen);
        else if (recent > 0) {
            snprintf(why, whylen, "a confirmation was sent to %s within the "
                     "last hour", norm);
            rc = DB_EXISTS;
        }
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc == 0 && (st = db_stmt(db, ST_TOKEN_ADD, why, whylen))) {
        dbq_bind_text(st, 1, token);
        dbq_bind_int64(st, 2, list->id);
        dbq_bind_text(st, 3, norm);
        dbq_bind_text(st, 4, action);
        dbq_bind_int64(st, 5, expires);
        rc = db_step_done(db, st, "token add", why, whylen);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc != 0) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db, why, whylen);
}

int token_take(struct db *db, const char *token, struct list_info *list,
               char *address, size_t addresslen, char *action,
               size_t actionlen, char *why, size_t whylen)
{
    if (db_begin(db, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_TOKEN_GET, why, whylen);
    if (st == NULL) {
        db_rollback(db);
        return -1;
    }
    dbq_bind_text(st, 1, token);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW) {
        db_column_copy(st, 0, address, addresslen);
        db_column_copy(st, 1, action, actionlen);
        list->id = dbq_int64(st, 2);
        db_column_copy(st, 3, list->name, sizeof list->name);
        db_column_copy(st, 4, list->domain, sizeof list->domain);
        snprintf(list->address, sizeof list->address, "%s@%s", list->name,
                 list->domain);
    }
    dbq_reset(st);
    if (rc != DBQ_ROW) {
        db_rollback(db);
        if (rc == DBQ_DONE) {
            snprintf(why, whylen, "unknown or expired token");
            return DB_NOT_FOUND;
        }
        return db_fail(db, "token", why, whylen);
    }
    st = db_stmt(db, ST_TOKEN_DELETE, why, whylen);
    if (st)
        dbq_bind_text(st, 1, token);
    if (st == NULL || db_step_done(db, st, "token take", why, whylen) == -1) {
        db_rollback(db);
        return -1;
    }
    return db_commit(db, why, whylen);
}
