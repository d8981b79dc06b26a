/*
 * db_replies.c - the limit on what NAME-request@ sends to one address:
 * REPLY_LIMIT replies per REPLY_WINDOW seconds, across all lists and all
 * kinds of reply, counted by mailbox (address_mailbox_key: the
 * subaddresses and spellings of one address share a count), in the
 * database because the stages of one transaction, and the transactions of
 * one sender, run in any worker.
 */
#include "dbi.h"

#include <stdio.h>
#include <time.h>

int reply_quota_take(struct db *db, const char *address, char *why,
                     size_t whylen)
{
    char key[400];
    if (address_mailbox_key(address, key, sizeof key, why, whylen) == -1)
        return 0; /* nothing is sent to what is not an address */
    int64_t now = (int64_t)time(NULL);
    if (db_begin(db, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_REPLY_PURGE, why, whylen);
    if (st)
        dbq_bind_int64(st, 1, now - REPLY_WINDOW);
    int rc = st ? db_step_done(db, st, "reply purge", why, whylen) : -1;
    int sent = -1;
    if (rc == 0 && (st = db_stmt(db, ST_REPLY_COUNT, why, whylen))) {
        dbq_bind_text(st, 1, key);
        if (dbq_step(st) == DBQ_ROW)
            sent = dbq_int(st, 0);
        dbq_reset(st);
        if (sent < 0)
            rc = db_fail(db, "reply count", why, whylen);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc == 0 && sent >= REPLY_LIMIT) {
        db_rollback(db);
        snprintf(why, whylen, "%d replies were sent to %s within the last "
                 "hour", sent, key);
        return 0;
    }
    if (rc == 0 && (st = db_stmt(db, ST_REPLY_ADD, why, whylen))) {
        dbq_bind_text(st, 1, key);
        dbq_bind_int64(st, 2, now);
        rc = db_step_done(db, st, "reply add", why, whylen);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc != 0) {
        db_rollback(db);
        return -1;
    }
    return db_commit(db, why, whylen) == -1 ? -1 : 1;
}
