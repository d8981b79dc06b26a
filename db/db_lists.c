/*
 * db_lists.c - lists, their settings and patterns, and what an address is
 * to mlm (posting address, -request, -owner, -bounces, unknown, not ours).
 */
#include "dbi.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct setting_def list_settings[] = {
    {"posting", SET_ENUM, "members", "members|open|moderated|announce",
     "who may post", 0},
    {"nonmember_action", SET_ENUM, "reject", "reject|hold|discard|accept",
     "what happens to a post from a non-member", 0},
    {"accept_nonmembers", SET_PATTERNS, "", NULL,
     "non-member addresses and @domain patterns whose posts are accepted", 0},
    {"banned", SET_PATTERNS, "", NULL,
     "addresses and @domain patterns refused whatever their membership", 0},
    {"subject_prefix", SET_TEXT, "", NULL, "prefix for the Subject, e.g. [dev]", 0},
    {"footer", SET_MULTILINE, "", NULL, "text added to every post", 0},
    {"max_message_size", SET_COUNT, "0", NULL, "bytes; 0 for no limit", 0},
    {"bounce_threshold", SET_COUNT, "5", NULL,
     "bounce score that disables a member's delivery", 0},
    {"bounce_probe_wait", SET_COUNT, "7", NULL,
     "days a probe waits for its bounce before the score starts again; "
     "0: disable at bounce_threshold without a probe", 0},
    {"early_reject", SET_ENUM, "none", "none|envelope",
     "refuse non-member envelope senders at RCPT", 0},
    {"hold_mode", SET_ENUM, "queue", "queue|defer",
     "held posts: stored (250) or deferred (450) until decided", 0},
    {"archive_address", SET_ADDRESS, "", NULL,
     "an address that gets a copy of every post", 0},
    {"reply_to", SET_ENUM, "none", "none|list", "set Reply-To to the list", 0},
    {"description", SET_TEXT, "", NULL, "one line about the list", 0},
    {"list_archive", SET_TEXT, "", NULL, "URL for the List-Archive header", 0},
    {"approve_password", SET_TEXT, "", NULL,
     "password in an Approved: header that approves a post", 1},
    {"emergency", SET_ENUM, "no", "no|yes", "hold every post", 0},
    {"held_expire", SET_COUNT, "14", NULL,
     "days a held post waits for a decision before it is discarded", 0},
    {"sender_authentication", SET_ENUM, "dmarc", "off|dmarc|require",
     "refuse posts failing DMARC (dmarc), and member posts without "
     "aligned DKIM or SPF (require)", 0},
    {"dmarc_mitigation", SET_ENUM, "munge_from", "none|munge_from|wrap",
     "how a post is made DMARC-safe: From set to the list (munge_from), or "
     "the post attached to a message from the list (wrap)", 0},
    {"dmarc_mitigate", SET_ENUM, "policy", "policy|always",
     "mitigate posts from domains with DMARC p=reject or p=quarantine "
     "(policy), or every post (always)", 0},
    {"subscription_policy", SET_ENUM, "confirm", "open|confirm|moderate|confirm_then_moderate",
     "subscribe requests: at once (open), after the subscriber confirms "
     "(confirm), after the owners approve (moderate), or both "
     "(confirm_then_moderate)", 0},
    {NULL, 0, NULL, NULL, NULL, 0},
};

const char *address_kind_name(enum address_kind kind)
{
    static const char *const names[] = {"not-ours", "unknown", "post",
                                        "request", "owner", "bounces"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

int address_normalise(const char *addr, char *out, size_t outlen, char *why,
                      size_t whylen)
{
    size_t len = strlen(addr);
    const char *at = strrchr(addr, '@');
    if (len == 0 || len > DB_ADDRESS_MAX || len >= outlen || at == NULL ||
        at == addr || at[1] == '\0') {
        snprintf(why, whylen, "bad address '%.100s'", addr);
        return -1;
    }
    int quoted = addr[0] == '"';
    for (const char *p = addr; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 || c == 0x7f || strchr("<>,;\\", c) != NULL) {
            if (!(quoted && p < at && c == ' ')) {
                snprintf(why, whylen, "bad address '%.100s'", addr);
                return -1;
            }
        }
        if (p > at && !(isalnum(c) || c == '.' || c == '-' || c == '_' ||
                        c == '[' || c == ']' || c == ':' || c >= 0x80)) {
            snprintf(why, whylen, "bad domain in '%.100s'", addr);
            return -1;
        }
    }
    /* a fully qualified domain's root dot names the same domain */
    while (len > 0 && addr[len - 1] == '.')
        len--;
    if (addr + len <= at + 1) {
        snprintf(why, whylen, "bad domain in '%.100s'", addr);
        return -1;
    }
    memcpy(out, addr, len);
    out[len] = '\0';
    for (char *p = out + (at - addr); *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int address_key(const char *addr, char *out, size_t outlen, char *why,
                size_t whylen)
{
    if (address_normalise(addr, out, outlen, why, whylen) == -1)
        return -1;
    char *at = strrchr(out, '@');
    if (out[0] == '"' && at - out >= 2 && at[-1] == '"') {
        /* "local"@domain: the quotes go, the rest moves two to the left */
        memmove(out, out + 1, (size_t)(at - out) - 2);
        memmove(at - 2, at, strlen(at) + 1);
    }
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (out[0] == '@') {
        snprintf(why, whylen, "bad address '%.100s'", addr);
        return -1;
    }
    return 0;
}

int address_mailbox_key(const char *addr, char *out, size_t outlen,
                        char *why, size_t whylen)
{
    if (address_key(addr, out, outlen, why, whylen) == -1)
        return -1;
    char *at = strrchr(out, '@');
    char *plus = memchr(out, '+', (size_t)(at - out));
    if (plus != NULL && plus > out)
        memmove(plus, at, strlen(at) + 1);
    return 0;
}

/*
 * Split a normalised address at its last '@'. List names are ours, and
 * compare case-insensitively as MTAs compare local mailboxes: lower-cased.
 */
static void address_split(const char *addr, char *local, size_t locallen,
                          char *domain, size_t domainlen)
{
    const char *at = strrchr(addr, '@');
    snprintf(local, locallen, "%.*s", (int)(at - addr), addr);
    for (char *p = local; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(domain, domainlen, "%s", at + 1);
}

static int list_lookup(struct db *db, const char *name, const char *domain,
                       struct list_info *out, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_LIST_FIND, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_text(st, 1, name);
    dbq_bind_text(st, 2, domain);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW && out) {
        out->id = dbq_int64(st, 0);
        db_column_copy(st, 1, out->name, sizeof out->name);
        db_column_copy(st, 2, out->domain, sizeof out->domain);
        snprintf(out->address, sizeof out->address, "%s@%s", out->name,
                 out->domain);
    }
    dbq_reset(st);
    if (rc == DBQ_ROW)
        return 0;
    if (rc == DBQ_DONE)
        return DB_NOT_FOUND;
    return db_fail(db, "list lookup", why, whylen);
}

int list_find(struct db *db, const char *address, struct list_info *out,
              char *why, size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1], name[DB_ADDRESS_MAX + 1], domain[DB_ADDRESS_MAX + 1];
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return -1;
    address_split(norm, name, sizeof name, domain, sizeof domain);
    int rc = list_lookup(db, name, domain, out, why, whylen);
    if (rc == DB_NOT_FOUND)
        snprintf(why, whylen, "no such list: %s", norm);
    return rc;
}

int list_create(struct db *db, const char *address, struct list_info *out,
                char *why, size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1], name[DB_ADDRESS_MAX + 1], domain[DB_ADDRESS_MAX + 1];
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return -1;
    address_split(norm, name, sizeof name, domain, sizeof domain);
    static const char *const suffixes[] = {"-request", "-owner", "-bounces"};
    for (size_t i = 0; i < 3; i++) {
        size_t nl = strlen(name), sl = strlen(suffixes[i]);
        if (nl > sl && strcmp(name + nl - sl, suffixes[i]) == 0) {
            snprintf(why, whylen, "a list name may not end in %s",
                     suffixes[i]);
            return -1;
        }
    }
    if (strlen(name) >= sizeof out->name) {
        snprintf(why, whylen, "list name too long");
        return -1;
    }
    struct dbq *st = db_stmt(db, ST_LIST_INSERT, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_text(st, 1, name);
    dbq_bind_text(st, 2, domain);
    if (db_step_done(db, st, "list create", why, whylen) == -1)
        return -1;
    if (db_changes(db) == 0) {
        snprintf(why, whylen, "list %s exists already", norm);
        return DB_EXISTS;
    }
    int found = list_lookup(db, name, domain, out, why, whylen);
    if (found == 0)
        db_log_change(db, out->id, "list create", out->address, "");
    return found;
}

int list_delete(struct db *db, const char *address, char *why, size_t whylen)
{
    struct list_info list;
    int rc = list_find(db, address, &list, why, whylen);
    if (rc != 0)
        return rc;
    struct dbq *st = db_stmt(db, ST_LIST_DELETE, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_text(st, 1, list.name);
    dbq_bind_text(st, 2, list.domain);
    return db_step_done(db, st, "list delete", why, whylen);
}

static int domain_has_lists(struct db *db, const char *domain, char *why,
                            size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_LIST_DOMAIN, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_text(st, 1, domain);
    int rc = dbq_step(st);
    dbq_reset(st);
    if (rc != DBQ_ROW && rc != DBQ_DONE)
        return db_fail(db, "domain lookup", why, whylen);
    return rc == DBQ_ROW;
}

static int resolve_normalised(struct db *db, const char *norm,
                              enum address_kind *kind, struct list_info *list,
                              char *why, size_t whylen);

/* Remembered per stamp (db_cache.c): RCPT and end of message ask again. */
int address_resolve(struct db *db, const char *address, enum address_kind *kind,
                    struct list_info *list, char *why, size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    struct db_stamp now;
    *kind = ADDR_NOT_OURS;
    memset(list, 0, sizeof *list);
    if (address_normalise(address, norm, sizeof norm, why, whylen) == -1)
        return 0; /* not an address we could hold: not ours */
    if (db_stamp_now(db, &now, why, whylen) == -1)
        return -1;
    if (resolve_cached(db, norm, &now, kind, list))
        return 0;
    if (resolve_normalised(db, norm, kind, list, why, whylen) == -1)
        return -1;
    resolve_remember(db, norm, &now, *kind, list);
    return 0;
}

static int resolve_normalised(struct db *db, const char *norm,
                              enum address_kind *kind, struct list_info *list,
                              char *why, size_t whylen)
{
    static const struct {
        const char *suffix;
        enum address_kind kind;
    } roles[] = {{"-request", ADDR_REQUEST},
                 {"-owner", ADDR_OWNER},
                 {"-bounces", ADDR_BOUNCES}};
    char name[DB_ADDRESS_MAX + 1], domain[DB_ADDRESS_MAX + 1];
    address_split(norm, name, sizeof name, domain, sizeof domain);
    int has = domain_has_lists(db, domain, why, whylen);
    if (has <= 0)
        return has;
    int rc = list_lookup(db, name, domain, list, why, whylen);
    if (rc == 0) {
        *kind = ADDR_POST;
        return 0;
    }
    if (rc == -1)
        return -1;
    /* NAME-bounces+ANYTHING and NAME-request+ANYTHING are those
       addresses (VERP returns, probes, commands); no other role takes a
       '+' detail. */
    char *plus = strchr(name, '+');
    if (plus) {
        *plus = '\0';
        size_t bl = strlen(name);
        if (!((bl > 8 && strcmp(name + bl - 8, "-bounces") == 0) ||
              (bl > 8 && strcmp(name + bl - 8, "-request") == 0)))
            *plus = '+';
    }
    size_t nl = strlen(name);
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        size_t sl = strlen(roles[i].suffix);
        if (nl <= sl || strcmp(name + nl - sl, roles[i].suffix) != 0)
            continue;
        if (plus && roles[i].kind == ADDR_OWNER)
            break;
        name[nl - sl] = '\0';
        rc = list_lookup(db, name, domain, list, why, whylen);
        if (rc == 0) {
            *kind = roles[i].kind;
            return 0;
        }
        if (rc == -1)
            return -1;
        break;
    }
    *kind = ADDR_UNKNOWN;
    return 0;
}

int lists_each(struct db *db, int (*fn)(const struct list_info *, void *),
               void *arg, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_LIST_ALL, why, whylen);
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        struct list_info list;
        list.id = dbq_int64(st, 0);
        db_column_copy(st, 1, list.name, sizeof list.name);
        db_column_copy(st, 2, list.domain, sizeof list.domain);
        snprintf(list.address, sizeof list.address, "%s@%s", list.name,
                 list.domain);
        if (fn(&list, arg) != 0)
            break;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "lists", why, whylen);
}

const struct setting_def *setting_find(const char *key)
{
    for (const struct setting_def *d = list_settings; d->key; d++)
        if (strcmp(d->key, key) == 0)
            return d;
    return NULL;
}

static int enum_allows(const char *choices, const char *value)
{
    size_t len = strlen(value);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0)
            return 1;
        p += n + (bar != NULL);
    }
    return 0;
}

/* Check a value against its setting's type. 0 or -1 with why. */
static int setting_check(const struct setting_def *d, const char *value,
                         char *why, size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && !(d->type == SET_MULTILINE && (*p == '\n' ||
                                                          *p == '\t'))) ||
            *p == 0x7f) {
            snprintf(why, whylen, "%s: control characters are not allowed",
                     d->key);
            return -1;
        }
    switch (d->type) {
    case SET_ENUM:
        if (enum_allows(d->choices, value))
            return 0;
        snprintf(why, whylen, "%s must be one of %s", d->key, d->choices);
        return -1;
    case SET_COUNT: {
        char *end;
        long long n = strtoll(value, &end, 10);
        if (*value && !*end && n >= 0 && n <= 1LL << 40)
            return 0;
        snprintf(why, whylen, "%s must be a number (0 or more)", d->key);
        return -1;
    }
    case SET_ADDRESS:
        if (*value == '\0' ||
            address_normalise(value, norm, sizeof norm, why, whylen) == 0)
            return 0;
        return -1;
    case SET_TEXT:
    case SET_MULTILINE:
        if (strlen(value) <= 4000)
            return 0;
        snprintf(why, whylen, "%s is too long", d->key);
        return -1;
    case SET_PATTERNS:
        return 0;
    }
    return -1;
}

static int patterns_set(struct db *db, const struct list_info *list,
                        const char *kind, const char *value, char *why,
                        size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_PATTERN_CLEAR, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, kind);
    if (db_step_done(db, st, "patterns", why, whylen) == -1)
        return -1;
    char *copy = strdup(value), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ", \t\n", &save); tok && rc == 0;
         tok = strtok_r(NULL, ", \t\n", &save)) {
        char norm[DB_ADDRESS_MAX + 2];
        if (tok[0] == '@') {
            char probe[DB_ADDRESS_MAX + 3];
            snprintf(probe, sizeof probe, "x%s", tok);
            rc = address_key(probe, norm, sizeof norm, why, whylen);
            memmove(norm, norm + 1, strlen(norm)); /* drop the probe "x" */
        } else {
            rc = address_key(tok, norm, sizeof norm, why, whylen);
        }
        if (rc == 0 && (st = db_stmt(db, ST_PATTERN_ADD, why, whylen))) {
            dbq_bind_int64(st, 1, list->id);
            dbq_bind_text(st, 2, kind);
            dbq_bind_text_copy(st, 3, norm);
            rc = db_step_done(db, st, "pattern add", why, whylen);
        } else if (rc == 0) {
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

int setting_set(struct db *db, const struct list_info *list, const char *key,
                const char *value, char *why, size_t whylen)
{
    const struct setting_def *d = setting_find(key);
    if (d == NULL) {
        snprintf(why, whylen, "unknown setting '%s'", key);
        return -1;
    }
    if (setting_check(d, value, why, whylen) == -1)
        return -1;
    if (db_begin(db, why, whylen) == -1)
        return -1;
    int rc;
    if (d->type == SET_PATTERNS) {
        rc = patterns_set(db, list, key, value, why, whylen);
    } else {
        struct dbq *st = db_stmt(db, ST_SETTING_SET, why, whylen);
        rc = st ? 0 : -1;
        if (st) {
            dbq_bind_int64(st, 1, list->id);
            dbq_bind_text(st, 2, key);
            dbq_bind_text(st, 3, value);
            rc = db_step_done(db, st, "setting", why, whylen);
        }
    }
    if (rc == 0) {
        char detail[600];
        snprintf(detail, sizeof detail, "%s", value);
        db_log_change(db, list->id, "setting", key, detail);
        return db_commit(db, why, whylen);
    }
    db_rollback(db);
    return -1;
}

static int patterns_get(struct db *db, const struct list_info *list,
                        const char *kind, char *out, size_t outlen, char *why,
                        size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_PATTERN_LIST, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, kind);
    size_t len = 0;
    out[0] = '\0';
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        const char *p = dbq_text(st, 0);
        int n = snprintf(out + len, outlen - len, "%s%s", len ? " " : "", p);
        if (n < 0 || (size_t)n >= outlen - len)
            break;
        len += (size_t)n;
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "patterns", why, whylen);
}

int setting_get(struct db *db, const struct list_info *list, const char *key,
                char *out, size_t outlen, char *why, size_t whylen)
{
    const struct setting_def *d = setting_find(key);
    if (d == NULL) {
        snprintf(why, whylen, "unknown setting '%s'", key);
        return -1;
    }
    if (d->type == SET_PATTERNS)
        return patterns_get(db, list, key, out, outlen, why, whylen);
    struct dbq *st = db_stmt(db, ST_SETTING_GET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, key);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW)
        db_column_copy(st, 0, out, outlen);
    else
        snprintf(out, outlen, "%s", d->dflt);
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "setting", why, whylen);
}

int settings_each(struct db *db, const struct list_info *list,
                  void (*fn)(const char *key, const char *value, void *),
                  void *arg, char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_SETTING_ALL, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        const char *key = dbq_text(st, 0);
        const char *value = dbq_text(st, 1);
        if (key && value)
            fn(key, value, arg);
    }
    dbq_reset(st);
    return rc == DBQ_DONE ? 0 : db_fail(db, "settings", why, whylen);
}

int pattern_match(struct db *db, const struct list_info *list,
                  const char *kind, const char *address, char *why,
                  size_t whylen)
{
    char norm[DB_ADDRESS_MAX + 1];
    if (address_key(address, norm, sizeof norm, why, whylen) == -1)
        return 0;
    int64_t count = pattern_count(db, list, kind, why, whylen);
    if (count <= 0) /* most lists have none: no query per post */
        return count == 0 ? 0 : -1;
    struct dbq *st = db_stmt(db, ST_PATTERN_MATCH, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, kind);
    dbq_bind_text(st, 3, norm);
    dbq_bind_text(st, 4, strrchr(norm, '@'));
    int rc = dbq_step(st);
    dbq_reset(st);
    if (rc != DBQ_ROW && rc != DBQ_DONE)
        return db_fail(db, "pattern", why, whylen);
    return rc == DBQ_ROW;
}

int template_get(struct db *db, const struct list_info *list,
                 const char *name, char **text, char *why, size_t whylen)
{
    *text = NULL;
    struct dbq *st = db_stmt(db, ST_TEMPLATE_GET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    dbq_bind_text(st, 2, name);
    int rc = dbq_step(st);
    if (rc == DBQ_ROW) {
        const char *p = dbq_text(st, 0);
        *text = xstrdup(p ? p : "");
    }
    dbq_reset(st);
    return rc == DBQ_ROW || rc == DBQ_DONE
               ? 0 : db_fail(db, "template", why, whylen);
}

int template_set(struct db *db, const struct list_info *list,
                 const char *name, const char *text, char *why,
                 size_t whylen)
{
    if (db_begin(db, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_TEMPLATE_SET, why, whylen);
    int rc = -1;
    if (st) {
        dbq_bind_int64(st, 1, list->id);
        dbq_bind_text(st, 2, name);
        dbq_bind_text(st, 3, text);
        rc = db_step_done(db, st, "template", why, whylen);
    }
    if (rc == 0) {
        char detail[64];
        snprintf(detail, sizeof detail, "%zu bytes", strlen(text));
        db_log_change(db, list->id, "template set", name, detail);
        return db_commit(db, why, whylen);
    }
    db_rollback(db);
    return -1;
}

int template_reset(struct db *db, const struct list_info *list,
                   const char *name, char *why, size_t whylen)
{
    if (db_begin(db, why, whylen) == -1)
        return -1;
    struct dbq *st = db_stmt(db, ST_TEMPLATE_DELETE, why, whylen);
    int rc = -1;
    if (st) {
        dbq_bind_int64(st, 1, list->id);
        dbq_bind_text(st, 2, name);
        rc = db_step_done(db, st, "template", why, whylen);
    }
    if (rc == 0 && db_changes(db) == 0) {
        snprintf(why, whylen, "%s has no version of its own of %s",
                 list->address, name);
        rc = DB_NOT_FOUND;
    }
    if (rc == 0) {
        db_log_change(db, list->id, "template reset", name, "");
        return db_commit(db, why, whylen);
    }
    db_rollback(db);
    return rc;
}

int templates_each(struct db *db, const struct list_info *list,
                   void (*fn)(const char *name, void *), void *arg,
                   char *why, size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_TEMPLATE_EACH, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_int64(st, 1, list->id);
    int rc;
    while ((rc = dbq_step(st)) == DBQ_ROW) {
        const char *name = dbq_text(st, 0);
        if (name)
            fn(name, arg);
    }
    dbq_reset(st);
    return rc == DBQ_DONE ? 0 : db_fail(db, "templates", why, whylen);
}
