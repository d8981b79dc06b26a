/*
 * db_members.c - list memberships (member, moderator, owner are separate
 * rows, as in Mailman 3), bulk import, and bounce scoring.
 */
#include "dbi.h"
#include "xmalloc.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int role_valid(const char *role)
{
    return role && (strcmp(role, "member") == 0 ||
                    strcmp(role, "moderator") == 0 ||
                    strcmp(role, "owner") == 0);
}

int delivery_valid(const char *d)
{
    return d && (strcmp(d, "enabled") == 0 ||
                 strcmp(d, "disabled-by-user") == 0 ||
                 strcmp(d, "disabled-by-bounces") == 0 ||
                 strcmp(d, "disabled-by-admin") == 0);
}

static void member_bind_key(struct dbq *st, const struct list_info *list,
                            const char *address, const char *role)
{
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text_copy(st, 2, address);
    dbq_bind_text(st, 3, role);
}

/* Add one member inside the caller's transaction (or none). */
static int member_insert(struct db *db, const struct list_info *list,
                         const char *norm, const char *role, const char *name,
                         char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_MEMBER_ADD, why, whylen);
    if (st == NULL)
        return -1;
    member_bind_key(st, list, norm, role);
    dbq_bind_text(st, 4, name ? name : "");
    if (db_step_done(db, st, "member add", why, whylen) == -1)
        return -1;
    if (db_changes(db) == 0) {
        snprintf(why, whylen, "%s is already a %s of %s", norm, role,
                 list->address);
        return DB_EXISTS;
    }
    db_log_change(db, list->id, "member add", norm, role);
    return 0;
}

int member_add(struct db *db, const struct list_info *list, const char *address,
               const char *role, const char *name, char *why, size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    if (!role_valid(role)) {
        snprintf(why, whylen, "role must be member, moderator or owner");
        return -1;
    }
    if (name && strpbrk(name, "\r\n")) {
        snprintf(why, whylen, "a name may not hold CR or LF");
        return -1;
    }
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return -1;
    return member_insert(db, list, norm, role, name, why, whylen);
}

static int member_changes(struct db *db, struct dbq *st, const char *what,
                          const char *norm, char *why, size_t whylen)
{
    if (db_step_done(db, st, what, why, whylen) == -1)
        return -1;
    if (db_changes(db) == 0) {
        snprintf(why, whylen, "%s is not on the list in that role", norm);
        return DB_NOT_FOUND;
    }
    return 0;
}

int member_remove(struct db *db, const struct list_info *list,
                  const char *address, const char *role, char *why,
                  size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_MEMBER_REMOVE, why, whylen);
    if (st == NULL)
        return -1;
    member_bind_key(st, list, norm, role ? role : "member");
    int rc = member_changes(db, st, "member remove", norm, why, whylen);
    if (rc == 0)
        db_log_change(db, list->id, "member remove", norm,
                      role ? role : "member");
    return rc;
}

int member_set(struct db *db, const struct list_info *list, const char *address,
               const char *role, const char *key, const char *value, char *why,
               size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return -1;
    enum stmt_id id;
    const char *bound = value;
    if (strcmp(key, "moderated") == 0) {
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
            snprintf(why, whylen, "moderated must be yes or no");
            return -1;
        }
        id = ST_MEMBER_SET_MODERATED;
        bound = strcmp(value, "yes") == 0 ? "1" : "0";
    } else if (strcmp(key, "delivery") == 0) {
        if (strcmp(value, "disabled") == 0)
            bound = "disabled-by-admin";
        if (!delivery_valid(bound)) {
            snprintf(why, whylen, "delivery must be enabled, disabled, "
                     "disabled-by-user, disabled-by-bounces or "
                     "disabled-by-admin");
            return -1;
        }
        id = ST_MEMBER_SET_DELIVERY;
    } else if (strcmp(key, "not-me-too") == 0) {
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
            snprintf(why, whylen, "not-me-too must be yes or no");
            return -1;
        }
        id = ST_MEMBER_SET_NOT_ME_TOO;
        bound = strcmp(value, "yes") == 0 ? "1" : "0";
    } else if (strcmp(key, "name") == 0) {
        if (strpbrk(value, "\r\n")) {
            snprintf(why, whylen, "a name may not hold CR or LF");
            return -1;
        }
        id = ST_MEMBER_SET_NAME;
    } else {
        snprintf(why, whylen, "unknown member setting '%s' (moderated, "
                 "delivery, not-me-too, name)", key);
        return -1;
    }
    struct dbq *st = db_stmt(db, id, why, whylen);
    if (st == NULL)
        return -1;
    member_bind_key(st, list, norm, role ? role : "member");
    if (id == ST_MEMBER_SET_MODERATED || id == ST_MEMBER_SET_NOT_ME_TOO)
        dbq_bind_int64(st, 4, atoi(bound));
    else
        dbq_bind_text(st, 4, bound);
    int rc = member_changes(db, st, "member set", norm, why, whylen);
    if (rc == 0) {
        char detail[600];
        snprintf(detail, sizeof detail, "%s %s", key,
                 id == ST_MEMBER_SET_MODERATED ? value : bound);
        db_log_change(db, list->id, "member set", norm, detail);
    }
    return rc;
}

void member_from_row(struct dbq *st, struct member_info *m)
{
    db_column_copy(st, 0, m->address, sizeof m->address);
    db_column_copy(st, 1, m->role, sizeof m->role);
    db_column_copy(st, 2, m->name, sizeof m->name);
    m->moderated = dbq_int(st, 3);
    db_column_copy(st, 4, m->delivery, sizeof m->delivery);
    m->bounce_score = dbq_int(st, 5);
    db_column_copy(st, 6, m->last_bounce, sizeof m->last_bounce);
    m->not_me_too = dbq_int(st, 7);
}

int member_get(struct db *db, const struct list_info *list, const char *address,
               const char *role, struct member_info *out, char *why,
               size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return DB_NOT_FOUND; /* nobody can hold an invalid address */
    struct dbq *st = db_stmt(db, ST_MEMBER_GET, why, whylen);
    if (st == NULL)
        return -1;
    member_bind_key(st, list, norm, role ? role : "member");
    int rc = dbq_step(st);
    if (rc == DBQ_ROW && out)
        member_from_row(st, out);
    dbq_reset(st);
    if (rc == DBQ_ROW)
        return 0;
    return rc == DBQ_DONE ? DB_NOT_FOUND
                             : db_fail(db, "member lookup", why, whylen);
}

int member_roles(struct db *db, const struct list_info *list,
                 const char *address, struct member_info out[3], char *why,
                 size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return 0; /* nobody can hold an invalid address */
    struct dbq *st = db_stmt(db, ST_MEMBER_ROLES, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, norm);
    int n = 0, rc;
    while ((rc = dbq_step(st)) == DBQ_ROW && n < 3)
        member_from_row(st, &out[n++]);
    dbq_reset(st);
    if (rc != DBQ_ROW && rc != DBQ_DONE)
        return db_fail(db, "member lookup", why, whylen);
    return n;
}

int members_each(struct db *db, const struct list_info *list, const char *role,
                 int (*fn)(const struct member_info *, void *), void *arg,
                 char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, role ? ST_MEMBER_EACH_ROLE : ST_MEMBER_EACH,
                               why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    if (role)
        dbq_bind_text(st, 2, role);
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        struct member_info m;
        member_from_row(st, &m);
        if (fn(&m, arg) != 0)
            break;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "members", why, whylen);
}

int64_t members_count(struct db *db, const struct list_info *list,
                      const char *role, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_MEMBER_COUNT, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, role ? role : "member");
    int rc = dbq_step(st);
    int64_t n = rc == DBQ_ROW ? dbq_int64(st, 0) : -1;
    dbq_reset(st);
    return rc == DBQ_ROW ? n : db_fail(db, "member count", why, whylen);
}

/* Lists up to this size are kept in memory between posts. */
#define RECIPIENTS_CACHE_MAX_BYTES (1024 * 1024)

/* Copy an address into the cache being filled; *keep 0 when too big. */
static void cache_append(struct recipients_cache *c, const char *address,
                         int *keep)
{
    size_t len = strlen(address) + 1;
    if (!*keep)
        return;
    if (c->len + len > RECIPIENTS_CACHE_MAX_BYTES) {
        *keep = 0; /* too big to keep: the next post streams again */
        return;
    }
    if (c->len + len > c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        while (c->cap < c->len + len)
            c->cap *= 2;
        c->addresses = xrealloc(c->addresses, c->cap);
    }
    memcpy(c->addresses + c->len, address, len);
    c->len += len;
    c->count++;
}

/*
 * The recipients of a list. Reading them costs about a thousand
 * instructions a row in SQLite, which was a fifth of a worker's work on a
 * post to 100 members, so the last list read is kept in memory and served
 * again while the database stamp (db_cache.c) is the same. The stamp is
 * read before the rows, so a commit in between only makes the copy look
 * older than it is. Only valid addresses (address_valid) are handed to fn.
 */
int recipients_each(struct db *db, const struct list_info *list,
                    void (*fn)(const char *address, void *), void *arg,
                    char *why, size_t whylen)
{
    struct recipients_cache *c = &db->recipients;
    struct db_stamp now;
    if (db_stamp_now(db, &now, why, whylen) == -1)
        return -1;
    if (c->valid && c->list_id == list->id && db_stamp_same(&c->stamp, &now)) {
        const char *p = c->addresses;
        for (uint32_t i = 0; i < c->count; i++, p += strlen(p) + 1)
            fn(p, arg);
        return 0;
    }
    struct dbq *st = db_stmt(db, ST_MEMBER_RECIPIENTS, why, whylen);
    if (st == NULL)
        return -1;
    /* Not valid until every row is in: fn might never return. */
    *c = (struct recipients_cache){.list_id = list->id, .stamp = now,
                                   .addresses = c->addresses, .cap = c->cap};
    dbq_bind_int64(st, 1, list->id);
    int rc, keep = 1;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        const char *address = dbq_text(st, 0);
        /* Stored addresses were checked; still, nothing unsafe leaves. */
        if (address == NULL || !address_valid(address))
            continue;
        cache_append(c, address, &keep);
        fn(address, arg);
    }
    dbq_reset(st);
    c->valid = keep && rc == DBQ_DONE;
    if (!c->valid && c->cap > RECIPIENTS_CACHE_MAX_BYTES / 4) {
        free(c->addresses); /* do not keep a big block for nothing */
        c->addresses = NULL;
        c->len = c->cap = 0;
    }
    return rc == DBQ_DONE ? 0 : db_fail(db, "recipients", why, whylen);
}

int members_import(struct db *db, const struct list_info *list, FILE *fp,
                   char *why, size_t whylen)
{
    char line[1024], norm[DB_ADDRESS_MAX + 1], reason[256];
    int lineno = 0, added = 0;
    if (db_begin(db, why, whylen) == -1)
        return -1;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "\r\n")] = '\0';
        for (char *end = p + strlen(p); end > p && (end[-1] == ' ' ||
                                                    end[-1] == '\t');)
            *--end = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        int rc = address_normalise(p, norm, sizeof norm, reason,
                                   sizeof reason);
        if (rc == 0)
            rc = member_insert(db, list, norm, "member", "", reason,
                               sizeof reason);
        if (rc == DB_EXISTS)
            continue;
        if (rc != 0) {
            snprintf(why, whylen, "line %d: %s; nothing imported", lineno,
                     reason);
            db_rollback(db);
            return -1;
        }
        added++;
    }
    if (db_commit(db, why, whylen) == -1) {
        db_rollback(db);
        return -1;
    }
    return added;
}

/* A permanent failure that is not a policy refusal (5.7.x) scores. */
static int status_scores(const char *status)
{
    return status[0] == '5' && strncmp(status, "5.7.", 4) != 0;
}

/* A member's probe: its token ("" when none is out) and when it went. */
static int probe_get(struct db *db, const struct list_info *list,
                     const char *address, char *token, size_t tokenlen,
                     int64_t *sent, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_MEMBER_PROBE_GET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, address);
    int rc = dbq_step(st);
    *token = '\0';
    *sent = 0;
    if (rc == DBQ_ROW) {
        db_column_copy(st, 0, token, tokenlen);
        *sent = dbq_int64(st, 1);
    }
    dbq_reset(st);
    return rc == DBQ_ROW    ? 0
           : rc == DBQ_DONE ? DB_NOT_FOUND
                               : db_fail(db, "probe", why, whylen);
}

static int probe_set(struct db *db, const struct list_info *list,
                     const char *address, const char *token, int64_t sent,
                     char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_MEMBER_PROBE_SET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, address);
    dbq_bind_text(st, 3, token);
    dbq_bind_int64(st, 4, sent);
    return db_step_done(db, st, "probe", why, whylen);
}

static int member_bounce_set(struct db *db, const struct list_info *list,
                             const struct member_info *m, const char *day,
                             const char *delivery, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_MEMBER_BOUNCE, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, m->address);
    dbq_bind_int64(st, 3, m->bounce_score);
    dbq_bind_text(st, 4, day);
    dbq_bind_text(st, 5, delivery);
    int rc = db_step_done(db, st, "bounce score", why, whylen);
    if (rc == 0 && strcmp(delivery, m->delivery) != 0)
        db_log_change(db, list->id, "member set", m->address,
                      strcmp(delivery, "enabled") == 0 ? "delivery enabled"
                                                        : "delivery "
                                                          "disabled-by-bounces");
    return rc;
}

static int setting_int(struct db *db, const struct list_info *list,
                       const char *key, int *value, char *why, size_t whylen)
{
    char text[32];
    if (setting_get(db, list, key, text, sizeof text, why, whylen) == -1)
        return -1;
    *value = atoi(text);
    return 0;
}

int bounce_record(struct db *db, const struct list_info *list,
                  const char *address, const char *status,
                  const char *diagnostic, int *disabled, int *probe,
                  char *why, size_t whylen)
{
    struct member_info m;
    char today[16], token[PROBE_TOKEN_LEN + 8];
    int64_t sent = 0;
    int limit = 0, wait_days = 0;
    time_t now = time(NULL);
    struct tm tm;
    strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
    *disabled = *probe = 0;
    if (db_begin(db, why, whylen) == -1)
        return -1;
    int rc = member_get(db, list, address, "member", &m, why, whylen);
    if (rc == 0)
        rc = probe_get(db, list, m.address, token, sizeof token, &sent, why,
                       whylen);
    if (rc == 0)
        rc = setting_int(db, list, "bounce_threshold", &limit, why, whylen);
    if (rc == 0)
        rc = setting_int(db, list, "bounce_probe_wait", &wait_days, why,
                         whylen);
    /* A probe that went unbounced for bounce_probe_wait days: the member
       is reachable, the score starts again. */
    if (rc == 0 && *token && strcmp(m.delivery, "enabled") == 0 &&
        (int64_t)now - sent >= (int64_t)wait_days * 86400) {
        m.bounce_score = 0;
        m.last_bounce[0] = '\0';
        *token = '\0';
        rc = probe_set(db, list, m.address, "", 0, why, whylen);
        if (rc == 0)
            rc = member_bounce_set(db, list, &m, "", m.delivery, why, whylen);
    }
    int scored = rc == 0 && status_scores(status) &&
                 strcmp(m.last_bounce, today) != 0;
    struct dbq *st = rc == 0 ? db_stmt(db, ST_BOUNCE_ADD, why, whylen) : NULL;
    if (st) {
        dbq_bind_int64(st, 1, list->id);
        dbq_bind_text(st, 2, m.address);
        dbq_bind_text(st, 3, status);
        dbq_bind_text(st, 4, diagnostic ? diagnostic : "");
        dbq_bind_int64(st, 5, scored);
        rc = db_step_done(db, st, "bounce", why, whylen);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc == 0) {
        st = db_stmt(db, ST_MEMBER_BOUNCE_LAST, why, whylen);
        rc = st ? 0 : -1;
        if (st) {
            dbq_bind_int64(st, 1, list->id);
            dbq_bind_text(st, 2, m.address);
            dbq_bind_text(st, 3, status);
            dbq_bind_text(st, 4, diagnostic ? diagnostic : "");
            rc = db_step_done(db, st, "bounce", why, whylen);
        }
    }
    if (rc == 0 && scored) {
        m.bounce_score++;
        const char *delivery = m.delivery;
        if (limit > 0 && m.bounce_score >= limit &&
            strcmp(m.delivery, "enabled") == 0) {
            if (wait_days <= 0) {
                delivery = "disabled-by-bounces";
                *disabled = 1;
            } else if (*token == '\0') {
                *probe = 1;
            }
        }
        rc = member_bounce_set(db, list, &m, today, delivery, why, whylen);
    }
    if (rc != 0) {
        db_rollback(db);
        return rc;
    }
    if (db_commit(db, why, whylen) == -1) {
        db_rollback(db);
        return -1;
    }
    return m.bounce_score;
}

int probe_start(struct db *db, const struct list_info *list,
                const char *address, char *token, size_t tokenlen, char *why,
                size_t whylen)
{
    struct member_info m;
    if (random_hex(token, tokenlen, PROBE_TOKEN_LEN / 2, why, whylen) == -1)
        return -1;
    if (db_begin(db, why, whylen) == -1)
        return -1;
    int rc = member_get(db, list, address, "member", &m, why, whylen);
    if (rc == 0)
        rc = probe_set(db, list, m.address, token, (int64_t)time(NULL), why,
                       whylen);
    if (rc != 0) {
        db_rollback(db);
        return rc;
    }
    if (db_commit(db, why, whylen) == -1) {
        db_rollback(db);
        return -1;
    }
    return 0;
}

int probe_bounced(struct db *db, const struct list_info *list,
                  const char *token, char *address, size_t addresslen,
                  int *disabled, char *why, size_t whylen)
{
    struct member_info m;
    *disabled = 0;
    if (*token == '\0')
        return DB_NOT_FOUND;
    if (db_begin(db, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_MEMBER_PROBE_FIND, why, whylen);
    int rc = st ? 0 : -1;
    if (st) {
        dbq_bind_int64(st, 1, list->id);
        dbq_bind_text(st, 2, token);
        int step = dbq_step(st);
        if (step == DBQ_ROW)
            db_column_copy(st, 0, address, addresslen);
        dbq_reset(st);
        rc = step == DBQ_ROW    ? 0
             : step == DBQ_DONE ? DB_NOT_FOUND
                                   : db_fail(db, "probe", why, whylen);
    }
    if (rc == 0)
        rc = member_get(db, list, address, "member", &m, why, whylen);
    if (rc == 0)
        rc = probe_set(db, list, m.address, "", 0, why, whylen);
    if (rc == 0 && strcmp(m.delivery, "enabled") == 0) {
        char today[16];
        time_t now = time(NULL);
        struct tm tm;
        strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
        rc = member_bounce_set(db, list, &m, today, "disabled-by-bounces", why,
                               whylen);
        *disabled = rc == 0;
    }
    if (rc != 0) {
        db_rollback(db);
        return rc;
    }
    if (db_commit(db, why, whylen) == -1) {
        db_rollback(db);
        return -1;
    }
    return 0;
}
