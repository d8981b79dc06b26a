/*
 * schema.h - the schema, as the list of migrations from version i to
 * i + 1, for both backends. An X-macro list: the includer defines
 *   MIGRATION(sql)                   the same script for both backends
 *   MIGRATION_DIALECT(sqlite, pg)    a script for each, where SQL differs
 * and the dialect macros
 *   SQL_ID    an integer primary key the database numbers
 *   SQL_INT   a 64-bit integer
 *   SQL_BLOB  bytes
 *   SQL_WITHOUT_ROWID  SQLite's table without rowid ("" elsewhere)
 *   SQL_NOW   the time in Unix seconds.
 * Never edit a released entry: add a new one.
 *
 * PostgreSQL databases begin at this mlm, so a migration that only fixes
 * rows older SQLite versions stored has nothing to fix there and is an
 * empty script for PostgreSQL.
 */

/* 0 -> 1 */
MIGRATION(
    "CREATE TABLE lists ("
    "  id " SQL_ID ","
    "  name TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  created " SQL_INT " NOT NULL,"
    "  UNIQUE (name, domain));"
    "CREATE INDEX lists_domain ON lists (domain);"
    "CREATE TABLE settings ("
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (list_id, key))" SQL_WITHOUT_ROWID ";"
    "CREATE TABLE patterns ("
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('accept_nonmembers', 'banned')),"
    "  pattern TEXT NOT NULL,"
    "  PRIMARY KEY (list_id, kind, pattern))" SQL_WITHOUT_ROWID ";"
    "CREATE TABLE members ("
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('member', 'moderator', 'owner')),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  moderated " SQL_INT " NOT NULL DEFAULT 0,"
    "  delivery TEXT NOT NULL DEFAULT 'enabled' CHECK (delivery IN"
    "    ('enabled', 'disabled-by-user', 'disabled-by-bounces',"
    "     'disabled-by-admin')),"
    "  bounce_score " SQL_INT " NOT NULL DEFAULT 0,"
    "  last_bounce TEXT NOT NULL DEFAULT '',"
    "  created " SQL_INT " NOT NULL,"
    "  PRIMARY KEY (list_id, address, role))" SQL_WITHOUT_ROWID ";"
    "CREATE TABLE bounces ("
    "  id " SQL_ID ","
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  diagnostic TEXT NOT NULL DEFAULT '',"
    "  scored " SQL_INT " NOT NULL,"
    "  received " SQL_INT " NOT NULL);"
    "CREATE INDEX bounces_list ON bounces (list_id, received);"
    "CREATE TABLE held ("
    "  id " SQL_ID ","
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  sender TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  received " SQL_INT " NOT NULL,"
    "  message " SQL_BLOB " NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
    "    ('pending', 'approved', 'rejected', 'discarded')),"
    "  decided_by TEXT NOT NULL DEFAULT '',"
    "  decided_at " SQL_INT ","
    "  message_id TEXT NOT NULL DEFAULT '',"
    "  digest TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX held_list ON held (list_id, state);"
    "CREATE INDEX held_retry ON held (list_id, message_id, digest);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE tokens ("
    "  token TEXT PRIMARY KEY,"
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  expires " SQL_INT " NOT NULL);")
/*
 * 1 -> 2: the hold_mode a post was held under, so that approving it
 * does what its sender was told (250: mlm re-injects it; 450: the
 * sender's MTA retries) even when the list's hold_mode changed since.
 * '' for posts held before: they follow the list's setting.
 */
MIGRATION("ALTER TABLE held ADD COLUMN hold_mode TEXT NOT NULL DEFAULT '';")
/*
 * 2 -> 3: patterns are kept in the address_key form (lower-case, a
 * quoted local part unquoted) so that a lookup by key finds them; a
 * pattern that becomes a duplicate of another is dropped.
 */
#define PATTERN_KEY_SQL                                                     \
    "lower(CASE WHEN pattern LIKE '\"%\"@%' AND pattern NOT LIKE '\"\"@%' " \
    "THEN substr(pattern, 2, instr(pattern, '\"@') - 2) || "               \
    "substr(pattern, instr(pattern, '\"@') + 1) ELSE pattern END)"
MIGRATION_DIALECT(
    "UPDATE OR IGNORE patterns SET pattern = " PATTERN_KEY_SQL ";"
    "DELETE FROM patterns WHERE pattern <> " PATTERN_KEY_SQL ";",
    "")
#undef PATTERN_KEY_SQL
/*
 * 3 -> 4: the replies NAME-request@ sent, by address_key, for the
 * limit per address across all lists (reply_quota_take).
 */
MIGRATION(
    "CREATE TABLE replies ("
    "  address TEXT NOT NULL,"
    "  sent " SQL_INT " NOT NULL);"
    "CREATE INDEX replies_address ON replies (address, sent);"
    "CREATE INDEX replies_sent ON replies (sent);")
/*
 * 4 -> 5: an approved post is distributed once (distributed_at: when;
 * NULL: not yet), and the approval secret left the database for
 * secret_file. Posts approved before are taken as distributed when
 * they were re-injected (hold_mode queue: their marks were of the old
 * kind, no longer valid) or approved more than five days ago (no MTA
 * retries that long); a post approved under defer since may still be
 * distributed once, by its sender's retry.
 */
MIGRATION(
    "ALTER TABLE held ADD COLUMN distributed_at " SQL_INT ";"
    "UPDATE held SET distributed_at = COALESCE(decided_at, received) "
    "  WHERE state = 'approved' AND (hold_mode = 'queue' OR "
    "  COALESCE(decided_at, 0) < " SQL_NOW " - 5 * 86400);"
    "DELETE FROM meta WHERE key = 'approval_secret';")
/*
 * 5 -> 6: a member's last recorded bounce (scored or not), for
 * mlm-ctl bounces LIST --members: its status and diagnostic; the
 * probe sent before disabling a member (its token and time); and the
 * mail to NAME-bounces@ that was no bounce mlm understands, waiting
 * for the owners' hourly digest (lua/lib/mlm_bounce_digest.lua).
 */
MIGRATION(
    "ALTER TABLE members ADD COLUMN last_status TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE members ADD COLUMN last_diagnostic TEXT NOT NULL "
    "DEFAULT '';"
    "ALTER TABLE members ADD COLUMN probe_token TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE members ADD COLUMN probe_sent " SQL_INT
    " NOT NULL DEFAULT 0;"
    "CREATE TABLE bounce_unrecognised ("
    "  id " SQL_ID ","
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  received " SQL_INT " NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  from_header TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  size " SQL_INT " NOT NULL,"
    "  summary TEXT NOT NULL);"
    "CREATE INDEX bounce_unrecognised_list ON bounce_unrecognised "
    "(list_id, id);")
/*
 * 6 -> 7: addresses are normalised without the trailing dots of their
 * domain (address_normalise): members and patterns stored with them
 * lose them; one that becomes a duplicate of another is dropped.
 */
MIGRATION_DIALECT(
    "UPDATE OR IGNORE members SET address = rtrim(address, '.') "
    "  WHERE address LIKE '%.';"
    "DELETE FROM members WHERE address LIKE '%.';"
    "UPDATE OR IGNORE patterns SET pattern = rtrim(pattern, '.') "
    "  WHERE pattern LIKE '%.';"
    "DELETE FROM patterns WHERE pattern LIKE '%.';",
    "")
/*
 * 7 -> 8: subscription requests waiting for the owners
 * (subscription_policy moderate and confirm_then_moderate): one
 * pending request a list and address (whatever its case); decided
 * ones stay, with who decided, for the record.
 */
MIGRATION(
    "CREATE TABLE requests ("
    "  id " SQL_ID ","
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL,"
    "  received " SQL_INT " NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
    "    ('pending', 'approved', 'rejected')),"
    "  decided_by TEXT NOT NULL DEFAULT '',"
    "  decided_at " SQL_INT ");"
    "CREATE UNIQUE INDEX requests_pending ON requests "
    "  (list_id, lower(address)) "
    "  WHERE state = 'pending';")
/*
 * 8 -> 9: not-me-too, a member's wish to get no copy of its own
 * posts (set by mail to NAME-request@ or with mlm-ctl member set);
 * off for every member so far.
 */
MIGRATION("ALTER TABLE members ADD COLUMN not_me_too " SQL_INT
          " NOT NULL DEFAULT 0;")
/*
 * 9 -> 10: the change log (mlm-ctl log): every change of a list's
 * members, settings, held posts and requests, with who made it.
 */
MIGRATION(
    "CREATE TABLE changes ("
    "  id " SQL_ID ","
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  at " SQL_INT " NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX changes_list ON changes (list_id, id);")
/*
 * 10 -> 11: a list's own versions of the mail templates (mlm-ctl
 * template set; the shipped English is lua/lib/mlm_templates.lua).
 */
MIGRATION(
    "CREATE TABLE templates ("
    "  list_id " SQL_INT " NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  PRIMARY KEY (list_id, name));")
/*
 * 11 -> 12: PostgreSQL's stand-in for SQLite's data_version, which
 * tells a worker that what it keeps in memory (lists, settings,
 * patterns, members, templates) may be stale: one counter, moved by
 * every statement that changes those tables, on any host.
 */
MIGRATION_DIALECT(
    "",
    "CREATE TABLE change_counter (n BIGINT NOT NULL);"
    "INSERT INTO change_counter VALUES (0);"
    "CREATE FUNCTION mlm_count_change() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN UPDATE change_counter SET n = n + 1; RETURN NULL; END $$;"
    "CREATE TRIGGER lists_changed AFTER INSERT OR UPDATE OR DELETE "
    "ON lists FOR EACH STATEMENT EXECUTE FUNCTION mlm_count_change();"
    "CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE "
    "ON settings FOR EACH STATEMENT EXECUTE FUNCTION mlm_count_change();"
    "CREATE TRIGGER patterns_changed AFTER INSERT OR UPDATE OR DELETE "
    "ON patterns FOR EACH STATEMENT EXECUTE FUNCTION mlm_count_change();"
    "CREATE TRIGGER members_changed AFTER INSERT OR UPDATE OR DELETE "
    "ON members FOR EACH STATEMENT EXECUTE FUNCTION mlm_count_change();"
    "CREATE TRIGGER templates_changed AFTER INSERT OR UPDATE OR DELETE "
    "ON templates FOR EACH STATEMENT EXECUTE FUNCTION mlm_count_change();")
/*
 * 12 -> 13: the change counter moves once per transaction, at its first
 * change (a transaction-local setting remembers it): a transaction of
 * many statements (mlm-ctl member import) no longer rewrites the one row
 * at each, which made it quadratic and left as many dead rows for every
 * request's read of the counter to scan. Other hosts see the counter
 * moved when the transaction commits, with all its changes.
 */
MIGRATION_DIALECT(
    "",
    "CREATE OR REPLACE FUNCTION mlm_count_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF coalesce(current_setting('mlm.change_counted', true), '') <> 'y' "
    "THEN UPDATE change_counter SET n = n + 1; "
    "PERFORM set_config('mlm.change_counted', 'y', true); END IF; "
    "RETURN NULL; END $$;")
/*
 * 13 -> 14: who claimed an approved post's distribution (a random value
 * of the request that did), so that a request whose claim committed but
 * whose answer was lost with its connection (PostgreSQL) finds the claim
 * its own and distributes the post, instead of taking it as distributed
 * already and dropping it.
 */
MIGRATION("ALTER TABLE held ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';")
