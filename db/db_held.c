/*
 * db_held.c - the moderation queue (held messages) and the bounce log.
 */
#include "dbi.h"
#include "msgdigest.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t held_add(struct db *db, const struct list_info *list,
                 const struct held_info *info, const void *raw, size_t rawlen,
                 char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_ADD, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, info->sender);
    dbq_bind_text(st, 3, info->subject);
    dbq_bind_text(st, 4, info->reason);
    dbq_bind_blob(st, 5, raw, rawlen);
    dbq_bind_text(st, 6, info->message_id);
    dbq_bind_text(st, 7, info->digest);
    dbq_bind_text(st, 8, info->hold_mode);
    int64_t id = dbq_step(st) == DBQ_ROW ? dbq_int64(st, 0) : -1;
    if (id == -1)
        db_fail(db, "hold", why, whylen);
    dbq_reset(st);
    return id;
}

static void held_row(struct dbq *st, struct held_info *h)
{
    h->id = dbq_int64(st, 0);
    db_column_copy(st, 1, h->sender, sizeof h->sender);
    db_column_copy(st, 2, h->subject, sizeof h->subject);
    db_column_copy(st, 3, h->reason, sizeof h->reason);
    h->received = dbq_int64(st, 4);
    db_column_copy(st, 5, h->state, sizeof h->state);
    db_column_copy(st, 6, h->decided_by, sizeof h->decided_by);
    db_column_copy(st, 7, h->message_id, sizeof h->message_id);
    db_column_copy(st, 8, h->digest, sizeof h->digest);
    h->distributed_at = dbq_int64(st, 9);
    h->hold_mode[0] = '\0'; /* only held_get reads it */
}

/* A copy of blob column col, NUL-terminated (the caller frees *raw). */
static int blob_copy(struct dbq *st, int col, void **raw, size_t *rawlen,
                     char *why, size_t whylen)
{
    const void *stored = dbq_blob(st, col, rawlen);
    *raw = malloc(*rawlen + 1);
    if (*raw == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (*rawlen)
        memcpy(*raw, stored, *rawlen);
    ((char *)*raw)[*rawlen] = '\0';
    return 0;
}

int held_get(struct db *db, int64_t id, struct list_info *list,
             struct held_info *out, void **raw, size_t *rawlen, char *why,
             size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_GET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW) {
        held_row(st, out);
        if (raw && blob_copy(st, 10, raw, rawlen, why, whylen) == -1) {
            dbq_reset(st);
            return -1;
        }
        list->id = dbq_int64(st, 11);
        db_column_copy(st, 12, list->name, sizeof list->name);
        db_column_copy(st, 13, list->domain, sizeof list->domain);
        db_column_copy(st, 14, out->hold_mode, sizeof out->hold_mode);
        snprintf(list->address, sizeof list->address, "%s@%s", list->name,
                 list->domain);
    }
    dbq_reset(st);
    if (rc == DBQ_ROW)
        return 0;
    if (rc == DBQ_DONE) {
        snprintf(why, whylen, "no held message %lld", (long long)id);
        return DB_NOT_FOUND;
    }
    return db_fail(db, "held", why, whylen);
}

int held_decide(struct db *db, int64_t id, const char *state,
                const char *who, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_DECIDE, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    dbq_bind_text(st, 2, state);
    dbq_bind_text(st, 3, who ? who : "");
    if (db_step_done(db, st, "held decide", why, whylen) == -1)
        return -1;
    if (db_changes(db) == 0) {
        snprintf(why, whylen, "held message %lld is not pending",
                 (long long)id);
        return DB_NOT_FOUND;
    }
    db_log_held(db, id, "held decide", state);
    return 0;
}

int held_reopen(struct db *db, int64_t id, const char *state, char *why,
                size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_REOPEN, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    dbq_bind_text(st, 2, state);
    if (db_step_done(db, st, "held reopen", why, whylen) == -1)
        return -1;
    if (db_changes(db) == 0) {
        snprintf(why, whylen, "held message %lld is not %s", (long long)id,
                 state);
        return DB_NOT_FOUND;
    }
    db_log_held(db, id, "held reopen", "pending");
    return 0;
}

int held_each(struct db *db, const struct list_info *list, const char *state,
              int (*fn)(const struct held_info *, void *), void *arg,
              char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_EACH, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, state ? state : "pending");
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        struct held_info h;
        held_row(st, &h);
        if (fn(&h, arg) != 0)
            break;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "held", why, whylen);
}

/*
 * Whether a stored post and a new message agree in their key headers:
 * those either has, so that a header added or changed on the way tells
 * them apart.
 */
static int same_key_headers(const void *stored, size_t storedlen,
                            const char *raw, size_t rawlen, unsigned mask)
{
    char a[MSGDIGEST_HEX + 1], b[MSGDIGEST_HEX + 1];
    mask |= message_header_mask(stored, storedlen);
    message_header_digest(stored, storedlen, mask, a);
    message_header_digest(raw, rawlen, mask, b);
    return strcmp(a, b) == 0;
}

/* The stored message of held post id (caller frees); 0, DB_NOT_FOUND or -1. */
static int held_message(struct db *db, int64_t id, void **raw, size_t *rawlen,
                        char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_MESSAGE, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW && blob_copy(st, 0, raw, rawlen, why, whylen) == -1) {
        dbq_reset(st);
        return -1;
    }
    dbq_reset(st);
    if (rc == DBQ_ROW)
        return 0;
    return rc == DBQ_DONE ? DB_NOT_FOUND : db_fail(db, "held", why, whylen);
}

/*
 * The candidates' rows come first, without their messages; then the
 * messages one at a time, newest first, until one matches: one stored
 * message in memory at a time (the usual retry reads one).
 */
int held_find_retry(struct db *db, const struct list_info *list,
                    const char *sender, const char *message_id,
                    const char *raw, size_t rawlen, struct held_info *out,
                    char *why, size_t whylen)
{
    char digest[MSGDIGEST_HEX + 1];
    message_body_digest(raw, rawlen, digest);
    unsigned mask = message_header_mask(raw, rawlen);
    struct dbq *st = db_stmt(db, ST_HELD_RETRY, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, message_id);
    dbq_bind_text(st, 3, digest);
    dbq_bind_text(st, 4, sender);
    dbq_bind_int64(st, 5, HELD_RETRY_CANDIDATES);
    struct held_info *cand = malloc(HELD_RETRY_CANDIDATES * sizeof *cand);
    if (cand == NULL) {
        dbq_reset(st);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int n = 0, rc = DBQ_DONE;
    while (n < HELD_RETRY_CANDIDATES && (rc = dbq_step(st)) == DBQ_ROW)
        held_row(st, &cand[n++]);
    if (n == HELD_RETRY_CANDIDATES)
        rc = DBQ_DONE;
    dbq_reset(st);
    if (rc == DBQ_ERROR) {
        free(cand);
        return db_fail(db, "held", why, whylen);
    }
    int found = DB_NOT_FOUND;
    for (int i = 0; i < n && found == DB_NOT_FOUND; i++) {
        void *stored = NULL;
        size_t storedlen = 0;
        int got = held_message(db, cand[i].id, &stored, &storedlen, why,
                               whylen);
        if (got == -1) {
            found = -1;
            break;
        }
        if (got == 0 &&
            same_key_headers(stored, storedlen, raw, rawlen, mask)) {
            *out = cand[i];
            found = 0;
        }
        free(stored);
    }
    free(cand);
    return found;
}

void held_claim_mark(int64_t id, const char *sender, const char *raw,
                     size_t rawlen, char out[HELD_CLAIM_MARK_HEX + 1])
{
    _Static_assert(HELD_CLAIM_MARK_HEX == MSGDIGEST_HEX, "a SHA-256");
    char body[MSGDIGEST_HEX + 1], headers[MSGDIGEST_HEX + 1];
    message_body_digest(raw, rawlen, body);
    message_header_digest(raw, rawlen, MSGDIGEST_ALL, headers);
    gchar *who = g_ascii_strdown(sender, -1);
    gchar *text = g_strdup_printf("mlm claim\n%lld\n%s\n%s\n%s",
                                  (long long)id, who, body, headers);
    gchar *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
    snprintf(out, HELD_CLAIM_MARK_HEX + 1, "%s", hex);
    g_free(hex);
    g_free(text);
    g_free(who);
}

/* Whether held post id was claimed with token; 1, 0, or -1 with why. */
static int claimed_with(struct db *db, int64_t id, const char *token,
                        char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_HELD_CLAIMED_BY, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, id);
    int rc = dbq_step(st);
    const char *by = rc == DBQ_ROW ? dbq_text(st, 0) : NULL;
    int mine = by && strcmp(by, token) == 0;
    if (rc == DBQ_ERROR)
        db_fail(db, "held claim", why, whylen);
    dbq_reset(st);
    return rc == DBQ_ERROR ? -1 : mine;
}

/*
 * When the claim's answer is lost (a PostgreSQL connection cut after the
 * commit), reading the token back tells whether it took, so a post this
 * call claimed is not taken for one claimed by another.
 */
int held_claim(struct db *db, int64_t id, const char *mark,
               struct held_claim *c, char *why, size_t whylen)
{
    char nonce[2 * 16 + 1];
    c->id = 0;
    c->token[0] = '\0';
    if (random_hex(nonce, sizeof nonce, 16, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_HELD_CLAIM, why, whylen);
    if (st == NULL)
        return -1;
    c->id = id;
    snprintf(c->token, sizeof c->token, "%s.%s", mark, nonce);
    dbq_bind_int64(st, 1, id);
    dbq_bind_text(st, 2, c->token);
    dbq_bind_text(st, 3, mark);
    dbq_bind_int64(st, 4, (int64_t)strlen(mark));
    dbq_bind_int64(st, 5, c->stale_s);
    if (db_step_done(db, st, "held claim", why, whylen) == -1) {
        char ignored[256];
        return claimed_with(db, id, c->token, ignored, sizeof ignored) == 1
                   ? 0 : -1;
    }
    return db_changes(db) == 1 ? 0 : DB_NOT_FOUND;
}

int held_claim_settle(struct db *db, const struct held_claim *c,
                      int distributed, char *why, size_t whylen)
{
    const char *what = distributed ? "held confirm" : "held unclaim";
    struct dbq *st = db_stmt(db, distributed ? ST_HELD_CONFIRM
                                             : ST_HELD_UNCLAIM, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, c->id);
    dbq_bind_text(st, 2, c->token);
    if (db_step_done(db, st, what, why, whylen) == -1)
        return -1;
    if (!distributed && db_changes(db) == 1)
        db_log_held(db, c->id, what, "approved");
    return 0;
}

int bounce_members_each(struct db *db, const struct list_info *list,
                        int (*fn)(const struct bounce_member *, void *),
                        void *arg, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_MEMBER_BOUNCES, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        struct bounce_member b;
        db_column_copy(st, 0, b.address, sizeof b.address);
        b.score = dbq_int(st, 1);
        db_column_copy(st, 2, b.delivery, sizeof b.delivery);
        db_column_copy(st, 3, b.last_bounce, sizeof b.last_bounce);
        db_column_copy(st, 4, b.last_status, sizeof b.last_status);
        db_column_copy(st, 5, b.last_diagnostic, sizeof b.last_diagnostic);
        b.probe_sent = dbq_int64(st, 6);
        if (fn(&b, arg) != 0)
            break;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "bounces", why, whylen);
}

int bounces_each(struct db *db, const struct list_info *list, int limit,
                 int (*fn)(const struct bounce_info *, void *), void *arg,
                 char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_BOUNCE_EACH, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_int64(st, 2, limit);
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        struct bounce_info b;
        db_column_copy(st, 0, b.address, sizeof b.address);
        db_column_copy(st, 1, b.status, sizeof b.status);
        db_column_copy(st, 2, b.diagnostic, sizeof b.diagnostic);
        b.scored = dbq_int(st, 3);
        b.received = dbq_int64(st, 4);
        if (fn(&b, arg) != 0)
            break;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "bounces", why, whylen);
}
