/*
 * statements.h - every statement of the data layer, once, for both
 * backends. An X-macro list: the includer defines
 *   STMT(id, sql)                    the same text for both backends
 *   STMT_DIALECT(id, sqlite, pg)     a text for each, where SQL differs
 * and the dialect macros SQL_NOW (the time in Unix seconds). Parameters
 * are written ?1, ?2...; the PostgreSQL driver sends them as $1, $2.
 * Inserts that may meet an existing row use ON CONFLICT DO NOTHING (both
 * understand it, SQLite since 3.24) and count the rows changed: a
 * PostgreSQL transaction cannot go on after a failed statement. dbi.h
 * makes enum stmt_id from this list.
 */
STMT(ST_LIST_INSERT,
     "INSERT INTO lists (name, domain, created) VALUES (?1, ?2, " SQL_NOW ") "
     "ON CONFLICT DO NOTHING")
STMT(ST_LIST_DELETE,
     "DELETE FROM lists WHERE name = ?1 AND domain = ?2")
STMT(ST_LIST_FIND,
     "SELECT id, name, domain FROM lists WHERE name = ?1 AND "
     "domain = ?2")
STMT(ST_LIST_DOMAIN,
     "SELECT 1 FROM lists WHERE domain = ?1 LIMIT 1")
STMT(ST_LIST_ALL,
     "SELECT id, name, domain FROM lists ORDER BY domain, name")
STMT(ST_SETTING_SET,
     "INSERT INTO settings (list_id, key, value) VALUES (?1, ?2,"
     " ?3) ON CONFLICT (list_id, key) DO UPDATE SET value = "
     "excluded.value")
STMT(ST_SETTING_GET,
     "SELECT value FROM settings WHERE list_id = ?1 AND key = ?2")
STMT(ST_SETTING_ALL,
     "SELECT key, value FROM settings WHERE list_id = ?1")
STMT(ST_PATTERN_CLEAR,
     "DELETE FROM patterns WHERE list_id = ?1 AND kind = ?2")
STMT(ST_PATTERN_ADD,
     "INSERT INTO patterns (list_id, kind, pattern) VALUES (?1, "
     "?2, ?3) ON CONFLICT DO NOTHING")
STMT(ST_PATTERN_MATCH,
     "SELECT 1 FROM patterns WHERE list_id = ?1 AND kind = ?2 "
     "AND pattern IN (?3, ?4) LIMIT 1")
STMT(ST_PATTERN_LIST,
     "SELECT pattern FROM patterns WHERE list_id = ?1 AND kind ="
     " ?2 ORDER BY pattern")
STMT(ST_MEMBER_ADD,
     "INSERT INTO members (list_id, address, role, name, "
     "created) VALUES (?1, ?2, ?3, ?4, " SQL_NOW ") ON CONFLICT DO NOTHING")
STMT(ST_MEMBER_REMOVE,
     "DELETE FROM members WHERE list_id = ?1 AND address = ?2 "
     "AND role = ?3")
STMT(ST_MEMBER_GET,
     "SELECT " MEMBER_COLUMNS
     " FROM members WHERE list_id = ?1 AND address = ?2 AND role"
     " = ?3")
STMT(ST_MEMBER_ROLES,
     "SELECT " MEMBER_COLUMNS
     " FROM members WHERE list_id = ?1 AND address = ?2")
STMT(ST_MEMBER_EACH,
     "SELECT " MEMBER_COLUMNS
     " FROM members WHERE list_id = ?1 ORDER BY address, role")
STMT(ST_MEMBER_EACH_ROLE,
     "SELECT " MEMBER_COLUMNS
     " FROM members WHERE list_id = ?1 AND role = ?2 ORDER BY "
     "address")
STMT(ST_MEMBER_SET_MODERATED,
     "UPDATE members SET moderated = ?4 WHERE list_id = ?1 AND "
     "address = ?2 AND role = ?3")
/* Enabling delivery again starts the bounce score afresh. */
STMT(ST_MEMBER_SET_DELIVERY,
     "UPDATE members SET delivery = ?4, bounce_score = CASE WHEN"
     " ?4 = 'enabled' THEN 0 ELSE bounce_score END WHERE list_id"
     " = ?1 AND address = ?2 AND role = ?3")
STMT(ST_MEMBER_SET_NOT_ME_TOO,
     "UPDATE members SET not_me_too = ?4 WHERE list_id = ?1 AND "
     "address = ?2 AND role = ?3")
STMT(ST_MEMBER_SET_NAME,
     "UPDATE members SET name = ?4 WHERE list_id = ?1 AND "
     "address = ?2 AND role = ?3")
STMT(ST_MEMBER_BOUNCE,
     "UPDATE members SET bounce_score = ?3, last_bounce = ?4, "
     "delivery = ?5 WHERE list_id = ?1 AND address = ?2 AND role"
     " = 'member'")
STMT(ST_MEMBER_BOUNCE_LAST,
     "UPDATE members SET last_status = ?3, last_diagnostic = ?4 "
     "WHERE list_id = ?1 AND address = ?2 AND role = 'member'")
STMT(ST_MEMBER_PROBE_GET,
     "SELECT probe_token, probe_sent FROM members WHERE list_id "
     "= ?1 AND address = ?2 AND role = 'member'")
STMT(ST_MEMBER_PROBE_SET,
     "UPDATE members SET probe_token = ?3, probe_sent = ?4 WHERE"
     " list_id = ?1 AND address = ?2 AND role = 'member'")
STMT(ST_MEMBER_PROBE_FIND,
     "SELECT address FROM members WHERE list_id = ?1 AND "
     "probe_token = ?2 AND role = 'member'")
STMT(ST_MEMBER_BOUNCES,
     "SELECT address, bounce_score, delivery, last_bounce, "
     "last_status, last_diagnostic, probe_sent FROM members "
     "WHERE list_id = ?1 AND role = 'member' AND (bounce_score >"
     " 0 OR last_status != '') ORDER BY bounce_score DESC, "
     "address")
STMT(ST_MEMBER_COUNT,
     "SELECT count(*) FROM members WHERE list_id = ?1 AND role ="
     " ?2")
STMT(ST_MEMBER_RECIPIENTS,
     "SELECT address FROM members WHERE list_id = ?1 AND role = "
     "'member' AND delivery = 'enabled'")
/*
 * Where the database stands (db_stamp_now): SQLite moves data_version at
 * every commit of another connection; PostgreSQL keeps a counter that
 * triggers move at every change of what workers cache (schema 12).
 */
STMT_DIALECT(ST_DATA_VERSION, "PRAGMA data_version",
             "SELECT n FROM change_counter")
STMT(ST_PATTERN_COUNT,
     "SELECT count(*) FROM patterns WHERE list_id = ?1 AND kind "
     "= ?2")
STMT(ST_BOUNCE_ADD,
     "INSERT INTO bounces (list_id, address, status, diagnostic,"
     " scored, received) VALUES (?1, ?2, ?3, ?4, ?5, " SQL_NOW ")")
STMT(ST_BOUNCE_EACH,
     "SELECT address, status, diagnostic, scored, received FROM "
     "bounces WHERE list_id = ?1 ORDER BY received DESC, id DESC"
     " LIMIT ?2")
STMT(ST_REQUEST_EACH,
     "SELECT id, address, received, state, decided_by, "
     "COALESCE(decided_at, 0) FROM requests WHERE list_id = ?1 "
     "AND state = ?2 ORDER BY id")
STMT(ST_REQUEST_GET,
     "SELECT r.id, r.address, r.received, r.state, r.decided_by,"
     " COALESCE(r.decided_at, 0), l.id, l.name, l.domain FROM "
     "requests r JOIN lists l ON l.id = r.list_id WHERE r.id = "
     "?1")
STMT(ST_TEMPLATE_GET,
     "SELECT text FROM templates WHERE list_id = ?1 AND name = "
     "?2")
STMT(ST_TEMPLATE_SET,
     "INSERT INTO templates (list_id, name, text) VALUES (?1, "
     "?2, ?3) ON CONFLICT (list_id, name) DO UPDATE SET text = "
     "excluded.text")
STMT(ST_TEMPLATE_DELETE,
     "DELETE FROM templates WHERE list_id = ?1 AND name = ?2")
STMT(ST_TEMPLATE_EACH,
     "SELECT name FROM templates WHERE list_id = ?1 ORDER BY "
     "name")
STMT(ST_LOG_ADD,
     "INSERT INTO changes (list_id, at, actor, action, subject, "
     "detail) VALUES (?1, " SQL_NOW ", ?2, ?3, ?4, ?5)")
STMT(ST_LOG_ADD_HELD,
     "INSERT INTO changes (list_id, at, actor, action, subject, "
     "detail) SELECT list_id, " SQL_NOW ", ?2, ?3, ?4, ?5 "
     "FROM held WHERE id = ?1")
STMT(ST_LOG_ADD_REQUEST,
     "INSERT INTO changes (list_id, at, actor, action, subject, "
     "detail) SELECT list_id, " SQL_NOW ", ?2, ?3, ?4, ?5 "
     "FROM requests WHERE id = ?1")
STMT(ST_LOG_EACH,
     "SELECT id, at, actor, action, subject, detail FROM changes"
     " WHERE list_id = ?1 ORDER BY id DESC LIMIT ?2")
STMT(ST_REQUEST_DECIDE,
     "UPDATE requests SET state = ?2, decided_by = ?3, "
     "decided_at = " SQL_NOW " WHERE id = ?1 AND state = 'pending'")
STMT(ST_HELD_ADD,
     "INSERT INTO held (list_id, sender, subject, reason, "
     "received, message, message_id, digest, hold_mode) VALUES "
     "(?1, ?2, ?3, ?4, " SQL_NOW ", ?5, ?6, ?7, ?8) RETURNING id")
STMT(ST_HELD_GET,
     "SELECT h.id, h.sender, h.subject, h.reason, h.received, "
     "h.state, h.decided_by, h.message_id, h.digest, "
     "h.distributed_at, h.message, l.id, l.name, l.domain, "
     "h.hold_mode FROM held h JOIN lists l ON l.id = h.list_id "
     "WHERE h.id = ?1")
STMT(ST_HELD_DECIDE,
     "UPDATE held SET state = ?2, decided_by = ?3, decided_at = "
     SQL_NOW " WHERE id = ?1 AND state = 'pending'")
STMT(ST_HELD_EACH,
     "SELECT id, sender, subject, reason, received, state, "
     "decided_by, message_id, digest, distributed_at FROM held "
     "WHERE list_id = ?1 AND state = ?2 ORDER BY id")
STMT(ST_HELD_RETRY,
     "SELECT id, sender, subject, reason, received, state, "
     "decided_by, message_id, digest, distributed_at "
     "FROM held WHERE list_id = ?1 AND message_id = ?2 AND "
     "digest = ?3 AND sender = ?4 ORDER BY id DESC LIMIT ?5")
STMT(ST_HELD_REOPEN,
     "UPDATE held SET state = 'pending', decided_by = '', "
     "decided_at = NULL, distributed_at = NULL WHERE id = ?1 AND"
     " state = ?2")
STMT(ST_HELD_MESSAGE,
     "SELECT message FROM held WHERE id = ?1")
STMT(ST_HELD_CLAIM,
     "UPDATE held SET distributed_at = " SQL_NOW ", claimed_by = ?2 "
     "WHERE id = ?1 AND state = 'approved' AND (distributed_at IS NULL "
     "OR (substr(claimed_by, 1, ?4) = ?3 AND distributed_at < "
     SQL_NOW " - ?5))")
STMT(ST_HELD_UNCLAIM,
     "UPDATE held SET distributed_at = NULL, claimed_by = '' "
     "WHERE id = ?1 AND claimed_by = ?2")
STMT(ST_HELD_CONFIRM,
     "UPDATE held SET claimed_by = 'distributed' "
     "WHERE id = ?1 AND claimed_by = ?2")
STMT(ST_HELD_CLAIMED_BY,
     "SELECT claimed_by FROM held WHERE id = ?1")
STMT(ST_TOKEN_PURGE,
     "DELETE FROM tokens WHERE expires < "
     SQL_NOW)
STMT(ST_TOKEN_RECENT,
     "SELECT count(*) FROM tokens WHERE list_id = ?1 AND address"
     " = ?2 AND expires > ?3")
STMT(ST_TOKEN_ADD,
     "INSERT INTO tokens (token, list_id, address, action, "
     "expires) VALUES (?1, ?2, ?3, ?4, ?5)")
STMT(ST_TOKEN_GET,
     "SELECT t.address, t.action, l.id, l.name, l.domain FROM "
     "tokens t JOIN lists l ON l.id = t.list_id WHERE t.token = "
     "?1 AND t.expires >= "
     SQL_NOW)
STMT(ST_TOKEN_DELETE,
     "DELETE FROM tokens WHERE token = ?1")
STMT(ST_REPLY_PURGE,
     "DELETE FROM replies WHERE sent <= ?1")
STMT(ST_REPLY_COUNT,
     "SELECT count(*) FROM replies WHERE address = ?1")
STMT(ST_REPLY_ADD,
     "INSERT INTO replies (address, sent) VALUES (?1, ?2)")
STMT(ST_META_GET,
     "SELECT value FROM meta WHERE key = ?1")
STMT(ST_META_INIT,
     "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT "
     "DO NOTHING")
