/*
 * db.c - opening the mlm database: schema, migrations, connection settings
 * and the prepared-statement cache (see db.h, dbi.h).
 */
#include "dbi.h"
#include "xmalloc.h"

#include <glib.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
#define DB_FILE_MODE 0600

/*
 * A stored pattern in the address_key form, in SQL: "local"@domain
 * unquoted (not ""@domain), all lower-cased.
 */
#define PATTERN_KEY_SQL                                                     \
    "lower(CASE WHEN pattern LIKE '\"%\"@%' AND pattern NOT LIKE '\"\"@%' " \
    "THEN substr(pattern, 2, instr(pattern, '\"@') - 2) || "               \
    "substr(pattern, instr(pattern, '\"@') + 1) ELSE pattern END)"

/*
 * Each entry migrates from version i to i + 1. Never edit a released
 * entry: add a new one.
 */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE lists ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (name, domain));"
    "CREATE INDEX lists_domain ON lists (domain);"
    "CREATE TABLE settings ("
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (list_id, key)) WITHOUT ROWID;"
    "CREATE TABLE patterns ("
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('accept_nonmembers', 'banned')),"
    "  pattern TEXT NOT NULL,"
    "  PRIMARY KEY (list_id, kind, pattern)) WITHOUT ROWID;"
    "CREATE TABLE members ("
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('member', 'moderator', 'owner')),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  moderated INTEGER NOT NULL DEFAULT 0,"
    "  delivery TEXT NOT NULL DEFAULT 'enabled' CHECK (delivery IN"
    "    ('enabled', 'disabled-by-user', 'disabled-by-bounces',"
    "     'disabled-by-admin')),"
    "  bounce_score INTEGER NOT NULL DEFAULT 0,"
    "  last_bounce TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (list_id, address, role)) WITHOUT ROWID;"
    "CREATE TABLE bounces ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  diagnostic TEXT NOT NULL DEFAULT '',"
    "  scored INTEGER NOT NULL,"
    "  received INTEGER NOT NULL);"
    "CREATE INDEX bounces_list ON bounces (list_id, received);"
    "CREATE TABLE held ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  sender TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  received INTEGER NOT NULL,"
    "  message BLOB NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
    "    ('pending', 'approved', 'rejected', 'discarded')),"
    "  decided_by TEXT NOT NULL DEFAULT '',"
    "  decided_at INTEGER,"
    "  message_id TEXT NOT NULL DEFAULT '',"
    "  digest TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX held_list ON held (list_id, state);"
    "CREATE INDEX held_retry ON held (list_id, message_id, digest);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE tokens ("
    "  token TEXT PRIMARY KEY,"
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  expires INTEGER NOT NULL);",
    /*
     * 1 -> 2: the hold_mode a post was held under, so that approving it
     * does what its sender was told (250: mlm re-injects it; 450: the
     * sender's MTA retries) even when the list's hold_mode changed since.
     * '' for posts held before: they follow the list's setting.
     */
    "ALTER TABLE held ADD COLUMN hold_mode TEXT NOT NULL DEFAULT '';",
    /*
     * 2 -> 3: patterns are kept in the address_key form (lower-case, a
     * quoted local part unquoted) so that a lookup by key finds them; a
     * pattern that becomes a duplicate of another is dropped.
     */
    "UPDATE OR IGNORE patterns SET pattern = " PATTERN_KEY_SQL ";"
    "DELETE FROM patterns WHERE pattern <> " PATTERN_KEY_SQL ";",
    /*
     * 3 -> 4: the replies NAME-request@ sent, by address_key, for the
     * limit per address across all lists (reply_quota_take).
     */
    "CREATE TABLE replies ("
    "  address TEXT NOT NULL,"
    "  sent INTEGER NOT NULL);"
    "CREATE INDEX replies_address ON replies (address, sent);"
    "CREATE INDEX replies_sent ON replies (sent);",
    /*
     * 4 -> 5: an approved post is distributed once (distributed_at: when;
     * NULL: not yet), and the approval secret left the database for
     * secret_file. Posts approved before are taken as distributed when
     * they were re-injected (hold_mode queue: their marks were of the old
     * kind, no longer valid) or approved more than five days ago (no MTA
     * retries that long); a post approved under defer since may still be
     * distributed once, by its sender's retry.
     */
    "ALTER TABLE held ADD COLUMN distributed_at INTEGER;"
    "UPDATE held SET distributed_at = COALESCE(decided_at, received) "
    "  WHERE state = 'approved' AND (hold_mode = 'queue' OR "
    "  COALESCE(decided_at, 0) < strftime('%s', 'now') - 5 * 86400);"
    "DELETE FROM meta WHERE key = 'approval_secret';",
    /*
     * 5 -> 6: a member's last recorded bounce (scored or not), for
     * mlm-ctl bounces LIST --members: its status and diagnostic; the
     * probe sent before disabling a member (its token and time); and the
     * mail to NAME-bounces@ that was no bounce mlm understands, waiting
     * for the owners' hourly digest (lua/lib/mlm_bounce_digest.lua).
     */
    "ALTER TABLE members ADD COLUMN last_status TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE members ADD COLUMN last_diagnostic TEXT NOT NULL "
    "DEFAULT '';"
    "ALTER TABLE members ADD COLUMN probe_token TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE members ADD COLUMN probe_sent INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE bounce_unrecognised ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  received INTEGER NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  from_header TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  summary TEXT NOT NULL);"
    "CREATE INDEX bounce_unrecognised_list ON bounce_unrecognised "
    "(list_id, id);",
    /*
     * 6 -> 7: addresses are normalised without the trailing dots of their
     * domain (address_normalise): members and patterns stored with them
     * lose them; one that becomes a duplicate of another is dropped.
     */
    "UPDATE OR IGNORE members SET address = rtrim(address, '.') "
    "  WHERE address LIKE '%.';"
    "DELETE FROM members WHERE address LIKE '%.';"
    "UPDATE OR IGNORE patterns SET pattern = rtrim(pattern, '.') "
    "  WHERE pattern LIKE '%.';"
    "DELETE FROM patterns WHERE pattern LIKE '%.';",
    /*
     * 7 -> 8: subscription requests waiting for the owners
     * (subscription_policy moderate and confirm_then_moderate): one
     * pending request a list and address (whatever its case); decided
     * ones stay, with who
     * decided, for the record.
     */
    "CREATE TABLE requests ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  received INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
    "    ('pending', 'approved', 'rejected')),"
    "  decided_by TEXT NOT NULL DEFAULT '',"
    "  decided_at INTEGER);"
    "CREATE UNIQUE INDEX requests_pending ON requests "
    "  (list_id, lower(address)) "
    "  WHERE state = 'pending';",
    /*
     * 8 -> 9: not-me-too, a member's wish to get no copy of its own
     * posts (set by mail to NAME-request@ or with mlm-ctl member set);
     * off for every member so far.
     */
    "ALTER TABLE members ADD COLUMN not_me_too INTEGER NOT NULL DEFAULT 0;",
    /*
     * 9 -> 10: the change log (mlm-ctl log): every change of a list's
     * members, settings, held posts and requests, with who made it.
     */
    "CREATE TABLE changes ("
    "  id INTEGER PRIMARY KEY,"
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX changes_list ON changes (list_id, id);",
    /*
     * 10 -> 11: a list's own versions of the mail templates (mlm-ctl
     * template set; the shipped English is lua/lib/mlm_templates.lua).
     */
    "CREATE TABLE templates ("
    "  list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  PRIMARY KEY (list_id, name));",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static const char *const stmt_sql[ST_COUNT] = {
    [ST_LIST_INSERT] = "INSERT INTO lists (name, domain, created) "
                       "VALUES (?1, ?2, strftime('%s', 'now'))",
    [ST_LIST_DELETE] = "DELETE FROM lists WHERE name = ?1 AND domain = ?2",
    [ST_LIST_FIND] = "SELECT id, name, domain FROM lists "
                     "WHERE name = ?1 AND domain = ?2",
    [ST_LIST_DOMAIN] = "SELECT 1 FROM lists WHERE domain = ?1 LIMIT 1",
    [ST_LIST_ALL] = "SELECT id, name, domain FROM lists ORDER BY domain, name",
    [ST_SETTING_SET] = "INSERT INTO settings (list_id, key, value) "
                       "VALUES (?1, ?2, ?3) ON CONFLICT (list_id, key) "
                       "DO UPDATE SET value = excluded.value",
    [ST_SETTING_GET] = "SELECT value FROM settings "
                       "WHERE list_id = ?1 AND key = ?2",
    [ST_SETTING_ALL] = "SELECT key, value FROM settings WHERE list_id = ?1",
    [ST_PATTERN_CLEAR] = "DELETE FROM patterns WHERE list_id = ?1 "
                         "AND kind = ?2",
    [ST_PATTERN_ADD] = "INSERT OR IGNORE INTO patterns (list_id, kind, "
                       "pattern) VALUES (?1, ?2, ?3)",
    [ST_PATTERN_MATCH] = "SELECT 1 FROM patterns WHERE list_id = ?1 "
                         "AND kind = ?2 AND pattern IN (?3, ?4) LIMIT 1",
    [ST_PATTERN_LIST] = "SELECT pattern FROM patterns WHERE list_id = ?1 "
                        "AND kind = ?2 ORDER BY pattern",
    [ST_MEMBER_ADD] = "INSERT INTO members (list_id, address, role, name, "
                      "created) VALUES (?1, ?2, ?3, ?4, strftime('%s', 'now'))",
    [ST_MEMBER_REMOVE] = "DELETE FROM members WHERE list_id = ?1 "
                         "AND address = ?2 AND role = ?3",
    [ST_MEMBER_GET] = "SELECT " MEMBER_COLUMNS " FROM members "
                      "WHERE list_id = ?1 AND address = ?2 AND role = ?3",
    [ST_MEMBER_ROLES] = "SELECT " MEMBER_COLUMNS " FROM members "
                        "WHERE list_id = ?1 AND address = ?2",
    [ST_MEMBER_EACH] = "SELECT " MEMBER_COLUMNS " FROM members "
                       "WHERE list_id = ?1 ORDER BY address, role",
    [ST_MEMBER_EACH_ROLE] = "SELECT " MEMBER_COLUMNS " FROM members "
                            "WHERE list_id = ?1 AND role = ?2 "
                            "ORDER BY address",
    [ST_MEMBER_SET_MODERATED] = "UPDATE members SET moderated = ?4 "
                                "WHERE list_id = ?1 AND address = ?2 "
                                "AND role = ?3",
    /* Enabling delivery again starts the bounce score afresh. */
    [ST_MEMBER_SET_DELIVERY] = "UPDATE members SET delivery = ?4, "
                               "bounce_score = CASE WHEN ?4 = 'enabled' "
                               "THEN 0 ELSE bounce_score END "
                               "WHERE list_id = ?1 AND address = ?2 "
                               "AND role = ?3",
    [ST_MEMBER_SET_NOT_ME_TOO] = "UPDATE members SET not_me_too = ?4 "
                                 "WHERE list_id = ?1 AND address = ?2 "
                                 "AND role = ?3",
    [ST_MEMBER_SET_NAME] = "UPDATE members SET name = ?4 WHERE list_id = ?1 "
                           "AND address = ?2 AND role = ?3",
    [ST_MEMBER_BOUNCE] = "UPDATE members SET bounce_score = ?3, "
                         "last_bounce = ?4, delivery = ?5 "
                         "WHERE list_id = ?1 AND address = ?2 "
                         "AND role = 'member'",
    [ST_MEMBER_BOUNCE_LAST] = "UPDATE members SET last_status = ?3, "
                              "last_diagnostic = ?4 WHERE list_id = ?1 "
                              "AND address = ?2 AND role = 'member'",
    [ST_MEMBER_PROBE_GET] = "SELECT probe_token, probe_sent FROM members "
                            "WHERE list_id = ?1 AND address = ?2 "
                            "AND role = 'member'",
    [ST_MEMBER_PROBE_SET] = "UPDATE members SET probe_token = ?3, "
                            "probe_sent = ?4 WHERE list_id = ?1 "
                            "AND address = ?2 AND role = 'member'",
    [ST_MEMBER_PROBE_FIND] = "SELECT address FROM members WHERE list_id = ?1 "
                             "AND probe_token = ?2 AND role = 'member'",
    [ST_MEMBER_BOUNCES] = "SELECT address, bounce_score, delivery, "
                          "last_bounce, last_status, last_diagnostic, "
                          "probe_sent "
                          "FROM members WHERE list_id = ?1 "
                          "AND role = 'member' AND (bounce_score > 0 "
                          "OR last_status != '') "
                          "ORDER BY bounce_score DESC, address",
    [ST_MEMBER_COUNT] = "SELECT count(*) FROM members WHERE list_id = ?1 "
                        "AND role = ?2",
    [ST_MEMBER_RECIPIENTS] = "SELECT address FROM members WHERE list_id = ?1 "
                             "AND role = 'member' AND delivery = 'enabled'",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_PATTERN_COUNT] = "SELECT count(*) FROM patterns WHERE list_id = ?1 "
                         "AND kind = ?2",
    [ST_BOUNCE_ADD] = "INSERT INTO bounces (list_id, address, status, "
                      "diagnostic, scored, received) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, strftime('%s', 'now'))",
    [ST_BOUNCE_EACH] = "SELECT address, status, diagnostic, scored, "
                       "received FROM bounces WHERE list_id = ?1 "
                       "ORDER BY received DESC, id DESC LIMIT ?2",
    [ST_REQUEST_EACH] = "SELECT id, address, received, state, decided_by, "
                        "COALESCE(decided_at, 0) FROM requests "
                        "WHERE list_id = ?1 AND state = ?2 ORDER BY id",
    [ST_REQUEST_GET] = "SELECT r.id, r.address, r.received, r.state, "
                       "r.decided_by, COALESCE(r.decided_at, 0), l.id, "
                       "l.name, l.domain FROM requests r JOIN lists l "
                       "ON l.id = r.list_id WHERE r.id = ?1",
    [ST_TEMPLATE_GET] = "SELECT text FROM templates WHERE list_id = ?1 AND "
                        "name = ?2",
    [ST_TEMPLATE_SET] = "INSERT INTO templates (list_id, name, text) "
                        "VALUES (?1, ?2, ?3) ON CONFLICT (list_id, name) "
                        "DO UPDATE SET text = excluded.text",
    [ST_TEMPLATE_DELETE] = "DELETE FROM templates WHERE list_id = ?1 AND "
                           "name = ?2",
    [ST_TEMPLATE_EACH] = "SELECT name FROM templates WHERE list_id = ?1 "
                         "ORDER BY name",
    [ST_LOG_ADD] = "INSERT INTO changes (list_id, at, actor, action, subject, "
                   "detail) VALUES (?1, strftime('%s', 'now'), ?2, ?3, ?4, ?5)",
    [ST_LOG_ADD_HELD] = "INSERT INTO changes (list_id, at, actor, action, "
                        "subject, detail) SELECT list_id, strftime('%s', "
                        "'now'), ?2, ?3, ?4, ?5 FROM held WHERE id = ?1",
    [ST_LOG_ADD_REQUEST] = "INSERT INTO changes (list_id, at, actor, action, "
                           "subject, detail) SELECT list_id, strftime('%s', "
                           "'now'), ?2, ?3, ?4, ?5 FROM requests WHERE id = ?1",
    [ST_LOG_EACH] = "SELECT id, at, actor, action, subject, detail FROM "
                    "changes WHERE list_id = ?1 ORDER BY id DESC LIMIT ?2",
    [ST_REQUEST_DECIDE] = "UPDATE requests SET state = ?2, decided_by = ?3, "
                          "decided_at = strftime('%s', 'now') "
                          "WHERE id = ?1 AND state = 'pending'",
    [ST_HELD_ADD] = "INSERT INTO held (list_id, sender, subject, reason, "
                    "received, message, message_id, digest, hold_mode) "
                    "VALUES (?1, ?2, ?3, ?4, strftime('%s', 'now'), ?5, ?6, "
                    "?7, ?8)",
    [ST_HELD_GET] = "SELECT h.id, h.sender, h.subject, h.reason, h.received, "
                    "h.state, h.decided_by, h.message_id, h.digest, "
                    "h.distributed_at, h.message, l.id, l.name, l.domain, "
                    "h.hold_mode "
                    "FROM held h "
                    "JOIN lists l ON l.id = h.list_id WHERE h.id = ?1",
    [ST_HELD_DECIDE] = "UPDATE held SET state = ?2, decided_by = ?3, "
                       "decided_at = strftime('%s', 'now') "
                       "WHERE id = ?1 AND state = 'pending'",
    [ST_HELD_EACH] = "SELECT id, sender, subject, reason, received, state, "
                     "decided_by, message_id, digest, distributed_at "
                     "FROM held "
                     "WHERE list_id = ?1 AND state = ?2 ORDER BY id",
    [ST_HELD_RETRY] = "SELECT id, sender, subject, reason, received, state, "
                      "decided_by, message_id, digest, distributed_at, "
                      "message FROM held "
                      "WHERE list_id = ?1 AND message_id = ?2 AND digest = ?3 "
                      "AND sender = ?4 ORDER BY id DESC LIMIT ?5",
    [ST_HELD_REOPEN] = "UPDATE held SET state = 'pending', decided_by = '', "
                       "decided_at = NULL, distributed_at = NULL "
                       "WHERE id = ?1 AND state = ?2",
    [ST_HELD_CLAIM] = "UPDATE held SET distributed_at = strftime('%s', "
                      "'now') WHERE id = ?1 AND state = 'approved' "
                      "AND distributed_at IS NULL",
    [ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires < strftime('%s', "
                       "'now')",
    [ST_TOKEN_RECENT] = "SELECT count(*) FROM tokens WHERE list_id = ?1 "
                        "AND address = ?2 AND expires > ?3",
    [ST_TOKEN_ADD] = "INSERT INTO tokens (token, list_id, address, action, "
                     "expires) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_TOKEN_GET] = "SELECT t.address, t.action, l.id, l.name, l.domain "
                     "FROM tokens t JOIN lists l ON l.id = t.list_id "
                     "WHERE t.token = ?1 AND t.expires >= "
                     "strftime('%s', 'now')",
    [ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE token = ?1",
    [ST_REPLY_PURGE] = "DELETE FROM replies WHERE sent <= ?1",
    [ST_REPLY_COUNT] = "SELECT count(*) FROM replies WHERE address = ?1",
    [ST_REPLY_ADD] = "INSERT INTO replies (address, sent) VALUES (?1, ?2)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_INIT] = "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

int db_fail(struct db *db, const char *what, char *why, size_t whylen)
{
    snprintf(why, whylen, "database: %s: %s", what, sqlite3_errmsg(db->sql));
    return -1;
}

sqlite3_stmt *db_stmt(struct db *db, enum stmt_id id, char *why,
                      size_t whylen)
{
    sqlite3_stmt *st = db->stmts[id];
    if (st == NULL) {
        if (sqlite3_prepare_v3(db->sql, stmt_sql[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK) {
            db_fail(db, "prepare", why, whylen);
            return NULL;
        }
        db->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int db_step_done(struct db *db, sqlite3_stmt *st, const char *what, char *why,
                 size_t whylen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(db, what, why, whylen);
    return 0;
}

void db_column_copy(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    snprintf(out, outlen, "%s", text ? (const char *)text : "");
}

static int db_exec(struct db *db, const char *sql, char *why, size_t whylen)
{
    char *err = NULL;
    if (sqlite3_exec(db->sql, sql, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(why, whylen, "database: %s", err ? err : "exec failed");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int schema_version(struct db *db, char *why, size_t whylen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->sql, "PRAGMA user_version", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(db, "schema version", why, whylen);
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0)
                                                 : -1;
    sqlite3_finalize(st);
    return version < 0 ? db_fail(db, "schema version", why, whylen) : version;
}

/*
 * Bring the schema to SCHEMA_VERSION, one migration per transaction. The
 * version is read again inside the write transaction: a worker and
 * mlm-ctl may open an old database at the same moment, and the one that
 * waited must not run the migration a second time.
 */
static int db_migrate(struct db *db, char *why, size_t whylen)
{
    for (;;) {
        int version = schema_version(db, why, whylen);
        if (version == SCHEMA_VERSION || version < 0)
            return version < 0 ? -1 : 0;
        if (db_exec(db, "BEGIN IMMEDIATE", why, whylen) == -1)
            return -1;
        version = schema_version(db, why, whylen);
        if (version == SCHEMA_VERSION) {
            db_exec(db, "COMMIT", why, whylen);
            return 0;
        }
        if (version < 0 || version > SCHEMA_VERSION) {
            if (version > SCHEMA_VERSION)
                snprintf(why, whylen, "database schema version %d is newer "
                         "than this mlm (%d)", version, SCHEMA_VERSION);
            db_exec(db, "ROLLBACK", why, 0);
            return -1;
        }
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
        if (db_exec(db, migrations[version], why, whylen) == -1 ||
            db_exec(db, bump, why, whylen) == -1) {
            db_exec(db, "ROLLBACK", why, 0);
            return -1;
        }
        if (db_exec(db, "COMMIT", why, whylen) == -1)
            return -1;
    }
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

struct db *db_open(const char *path, char *why, size_t whylen)
{
    if (db_file_private(path, 1, why, whylen) == -1)
        return NULL;
    struct db *db = xcalloc(1, sizeof *db);
    int rc = sqlite3_open_v2(path, &db->sql,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, whylen, "database %s: %s", path,
                 db->sql ? sqlite3_errmsg(db->sql) : "cannot open");
        db_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);
    char reason[512];
    if (db_exec(db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
                    "PRAGMA synchronous = NORMAL",
                reason, sizeof reason) == -1 ||
        db_migrate(db, reason, sizeof reason) == -1) {
        snprintf(why, whylen, "%s: %s", path, reason);
        db_close(db);
        return NULL;
    }
    if (db_sidecars_private(path, why, whylen) == -1) {
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
        sqlite3_finalize(db->stmts[i]);
    free(db->recipients.addresses);
    sqlite3_close(db->sql);
    free(db);
}

sqlite3 *db_handle(struct db *db) { return db->sql; }

static int db_simple(struct db *db, enum stmt_id id, const char *what,
                     char *why, size_t whylen)
{
    sqlite3_stmt *st = db_stmt(db, id, why, whylen);
    return st ? db_step_done(db, st, what, why, whylen) : -1;
}

int db_begin(struct db *db, char *why, size_t whylen)
{
    return db_simple(db, ST_BEGIN, "begin", why, whylen);
}

int db_commit(struct db *db, char *why, size_t whylen)
{
    return db_simple(db, ST_COMMIT, "commit", why, whylen);
}

void db_rollback(struct db *db)
{
    char why[256];
    if (sqlite3_get_autocommit(db->sql) == 0)
        db_simple(db, ST_ROLLBACK, "rollback", why, sizeof why);
}
