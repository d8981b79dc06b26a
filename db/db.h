/*
 * db.h - the mlm database: lists, settings, members, patterns, held
 * messages, bounces, confirmation tokens.
 *
 * Shared by mlm-worker (through the Lua list API) and mlm-ctl. Two
 * backends behind one interface (dbi.h, dbq.h): SQLite, a file (the
 * default), and PostgreSQL, a libpq URI (postgresql://...), which several
 * mail hosts share. The schema carries a version and is migrated forward:
 * SQLite's at open, PostgreSQL's only by mlm-ctl db migrate (one host must
 * not change the schema under the others). Every statement is prepared
 * once per connection and takes bound parameters only. Functions return
 * 0 (or a count/id) on success and -1 with why filled on failure; "not
 * found" is a distinct result where it matters.
 */
#ifndef MLM_DB_H
#define MLM_DB_H

#include "dbq.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DB_NOT_FOUND (-2)
#define DB_EXISTS (-3)
#define DB_REFUSED (-4)   /* a list rule forbids it (a ban) */

struct db;

/* How to open the database; NULL for the defaults. */
struct db_options {
    /*
     * PostgreSQL: the bound in seconds on connecting and on each
     * statement (0: DB_TIMEOUT_DEFAULT). SQLite waits up to 10 s for a
     * lock whatever this is.
     */
    int timeout_s;
    /* PostgreSQL: migrate the schema (mlm-ctl db migrate); else an old
     * schema is an error. SQLite always migrates. */
    int migrate;
};

#define DB_TIMEOUT_DEFAULT 10

/* Whether database names a PostgreSQL database (a libpq URI). */
int db_is_postgresql(const char *database);

/*
 * Open database: a SQLite file (created with the schema when missing) or
 * a libpq URI. NULL with why.
 */
struct db *db_open(const char *database, const struct db_options *opts,
                   char *why, size_t whylen);
void db_close(struct db *db);
/* "sqlite" or "postgresql". */
const char *db_backend(const struct db *db);
/* The database's schema version (-1 with why). */
int db_schema_version(struct db *db, char *why, size_t whylen);

/*
 * One statement with ? or ?N parameters, in the backend's dialect,
 * prepared for this use only (free it with dbq_free). NULL with why.
 */
struct dbq *db_prepare(struct db *db, const char *sql, char *why,
                       size_t whylen);
/*
 * A policy's own SQL (mlm.db): db_prepare of a statement of the forms
 * sql_policy_check allows (sqlscan.h), else NULL with why.
 */
struct dbq *db_prepare_policy(struct db *db, const char *sql, char *why,
                              size_t whylen);
/* Rows changed by the last statement; the connection's last error. */
int64_t db_changes(struct db *db);
const char *db_errmsg(struct db *db);
/* A policy's SQL may reach no other file or code than the database. */
void db_restrict_policy_sql(struct db *db);
/* Many inserts follow: the backend may cache more. */
void db_bulk_load(struct db *db);

/*
 * Every row of src into dst, which must be empty (and at this mlm's
 * schema), in one transaction on dst; then the rows of each table are
 * counted on both and must agree, and src's secret (secret_file for
 * SQLite) becomes dst's when dst is PostgreSQL. report (may be NULL) is told each
 * table's count. 0, or -1 with why (dst unchanged when the copy failed).
 */
int db_copy(struct db *src, struct db *dst, const char *secret_file,
            void (*report)(const char *table, int64_t rows, void *arg),
            void *arg, char *why, size_t whylen);

/* len random bytes as 2 * len hex digits into out; -1 with why. */
int random_hex(char *out, size_t outlen, size_t len, char *why, size_t whylen);

/* Copy a text column into a fixed buffer ("" for NULL). */
void db_column_copy(struct dbq *st, int col, char *out, size_t outlen);

/* A write transaction, serialised with every other writer's. */
int db_begin(struct db *db, char *why, size_t whylen);
int db_commit(struct db *db, char *why, size_t whylen);
void db_rollback(struct db *db);

/* --- addresses --------------------------------------------------------- */

/* Bytes of the longest address stored: RFC 5321's 256-octet path less its
 * angle brackets. (A protocol or milter value may be longer, up to the
 * 998 octets of a line: validate.c's ENVELOPE_ADDRESS_MAX; such an address
 * is simply never a member.) */
#define DB_ADDRESS_MAX 254

/*
 * Normalise an address into out: the domain lower-cased and without
 * trailing dots (example.com. is example.com), the local part kept as it
 * is. Refuses empty parts, control characters, spaces outside a quoted
 * local part, and more than DB_ADDRESS_MAX bytes. 0 or -1 with why.
 */
int address_normalise(const char *addr, char *out, size_t outlen, char *why,
                      size_t whylen);

/*
 * The form in which addresses are compared where their spelling must not
 * matter (banned and accept_nonmembers patterns, the reply limit): the
 * address normalised, the quotes of a quoted local part removed, and all
 * of it lower-cased, so "Spammer"@Example.ORG and spammer@example.org are
 * one key. Not an address to send to. 0 or -1 with why.
 */
int address_key(const char *addr, char *out, size_t outlen, char *why,
                size_t whylen);

/*
 * The mailbox an address delivers to, for the reply limit: its
 * address_key with the local part cut at the first '+' (the usual
 * subaddress delimiter: victim+1@ and victim+2@ are victim@), unless the
 * '+' is the local part's first character. 0 or -1 with why.
 */
int address_mailbox_key(const char *addr, char *out, size_t outlen,
                        char *why, size_t whylen);

/* --- lists ------------------------------------------------------------- */

struct list_info {
    int64_t id;
    char name[128];       /* local part of the posting address */
    char domain[256];     /* lower-case */
    char address[400];    /* name@domain */
};

/* What an address is to mlm. */
enum address_kind {
    ADDR_NOT_OURS,        /* not in a list domain */
    ADDR_UNKNOWN,         /* a list domain, but no such list */
    ADDR_POST,            /* NAME@ */
    ADDR_REQUEST,         /* NAME-request@ */
    ADDR_OWNER,           /* NAME-owner@ */
    ADDR_BOUNCES,         /* NAME-bounces@ */
};

const char *address_kind_name(enum address_kind kind);

int list_create(struct db *db, const char *address, struct list_info *out,
                char *why, size_t whylen);
int list_delete(struct db *db, const char *address, char *why, size_t whylen);
/* 0 found, DB_NOT_FOUND, or -1. */
int list_find(struct db *db, const char *address, struct list_info *out,
              char *why, size_t whylen);
/* Classify an address; fills list when it belongs to one. -1 on error. */
int address_resolve(struct db *db, const char *address, enum address_kind *kind,
                    struct list_info *list, char *why, size_t whylen);
/* Call fn for each list, ordered by address. */
int lists_each(struct db *db, int (*fn)(const struct list_info *, void *),
               void *arg, char *why, size_t whylen);

/*
 * A new request begins (the worker calls this before each one): lookups
 * the connection keeps in memory (list addresses, recipients, whether a
 * list has patterns) check once per request that no commit happened since
 * they were read. Without it (mlm-ctl) they check at every lookup.
 */
void db_request_begin(struct db *db);

/*
 * Where the database stands: a version that moves with every commit of
 * another connection (SQLite's data_version; PostgreSQL's change counter,
 * moved on any host), and the connection's total changes for its own.
 * Data read under one stamp stays good while the stamp is the same
 * (db_cache.c; the worker's Lua side keeps list settings the same way).
 */
struct db_stamp {
    int64_t version;
    int64_t own;
};

/* The stamp now; 0 or -1 with why. */
int db_stamp_now(struct db *db, struct db_stamp *out, char *why,
                 size_t whylen);
static inline int db_stamp_same(const struct db_stamp *a,
                                const struct db_stamp *b)
{
    return a->version == b->version && a->own == b->own;
}

/* --- settings ---------------------------------------------------------- */

enum setting_type { SET_ENUM, SET_TEXT, SET_MULTILINE, SET_COUNT, SET_ADDRESS,
                    SET_PATTERNS };

struct setting_def {
    const char *key;
    enum setting_type type;
    const char *dflt;
    const char *choices;  /* SET_ENUM: "a|b|c" */
    const char *help;
    int secret;           /* shown as "(set)", never in clear */
};

/* The table of every list setting, NULL-terminated by key. */
extern const struct setting_def list_settings[];
const struct setting_def *setting_find(const char *key);

/*
 * Set a setting after checking its type. SET_PATTERNS settings
 * (accept_nonmembers, banned) take addresses and @domain patterns separated
 * by commas or spaces, and replace the whole set. -1 with why.
 */
int setting_set(struct db *db, const struct list_info *list, const char *key,
                const char *value, char *why, size_t whylen);
/* The value (or the default) into out. -1 on unknown key or error. */
int setting_get(struct db *db, const struct list_info *list, const char *key,
                char *out, size_t outlen, char *why, size_t whylen);

/*
 * Call fn with each setting stored for list (not the defaults, nor the
 * patterns): one query where setting_get makes one per key.
 */
int settings_each(struct db *db, const struct list_info *list,
                  void (*fn)(const char *key, const char *value, void *),
                  void *arg, char *why, size_t whylen);

/*
 * Whether address matches one of the list's patterns of kind, compared in
 * the address_key form (patterns are stored in it). 1/0/-1.
 */
int pattern_match(struct db *db, const struct list_info *list,
                  const char *kind, const char *address, char *why,
                  size_t whylen);

/* --- members ----------------------------------------------------------- */

struct member_info {
    char address[400];
    char role[16];
    char name[256];
    int moderated;
    char delivery[32];    /* enabled | disabled-by-user|-bounces|-admin */
    int bounce_score;
    char last_bounce[16]; /* YYYY-MM-DD or "" */
    int not_me_too;       /* no copy of the member's own posts */
};

/* The columns of a membership, in member_from_row's order. */
#define MEMBER_COLUMNS                                                      \
    "address, role, name, moderated, delivery, bounce_score, last_bounce, " \
    "not_me_too"

/* A membership from a row whose columns are MEMBER_COLUMNS. */
void member_from_row(struct dbq *st, struct member_info *m);

int role_valid(const char *role);
int delivery_valid(const char *delivery);

/* DB_EXISTS when the address already holds that role. */
int member_add(struct db *db, const struct list_info *list, const char *address,
               const char *role, const char *name, char *why, size_t whylen);
int member_remove(struct db *db, const struct list_info *list,
                  const char *address, const char *role, char *why,
                  size_t whylen);
/*
 * key: moderated (yes|no), delivery (enabled|disabled|...), not-me-too
 * (yes|no), name.
 */
int member_set(struct db *db, const struct list_info *list, const char *address,
               const char *role, const char *key, const char *value, char *why,
               size_t whylen);
/*
 * Every role address holds in list, one query: the number found (0 to 3,
 * into out[]), or -1.
 */
int member_roles(struct db *db, const struct list_info *list,
                 const char *address, struct member_info out[3], char *why,
                 size_t whylen);
/* 0 found, DB_NOT_FOUND, -1. */
int member_get(struct db *db, const struct list_info *list, const char *address,
               const char *role, struct member_info *out, char *why,
               size_t whylen);
/* Every member with role (NULL: all roles), ordered by address. */
int members_each(struct db *db, const struct list_info *list, const char *role,
                 int (*fn)(const struct member_info *, void *), void *arg,
                 char *why, size_t whylen);
/* How many addresses hold role in list; -1 on error. */
int64_t members_count(struct db *db, const struct list_info *list,
                      const char *role, char *why, size_t whylen);
/*
 * Call fn with each address that gets posts (member, delivery enabled),
 * valid ones only; served from memory while the database is unchanged.
 */
int recipients_each(struct db *db, const struct list_info *list,
                    void (*fn)(const char *address, void *), void *arg,
                    char *why, size_t whylen);

/*
 * Import addresses (one a line; blank lines and # comments skipped) as
 * members, in one transaction: one bad line refuses the whole file.
 * Returns the number added (existing members are skipped) or -1.
 */
int members_import(struct db *db, const struct list_info *list, FILE *fp,
                   char *why, size_t whylen);

/*
 * A bounce for address: recorded; scored (at most once a day) unless
 * status is 5.7.x or not permanent. Returns the new score, or DB_NOT_FOUND
 * when the address is not a member. When the score reaches the list's
 * bounce_threshold: with bounce_probe_wait 0, delivery becomes
 * disabled-by-bounces and *disabled is set; else, unless a probe is out,
 * *probe is set (the caller sends one with probe_start) and delivery
 * stays. A probe out for bounce_probe_wait days without a bounce of its
 * own is over: the score starts again from 0 before this bounce counts.
 */
int bounce_record(struct db *db, const struct list_info *list,
                  const char *address, const char *status,
                  const char *diagnostic, int *disabled, int *probe,
                  char *why, size_t whylen);

/*
 * A probe for a member: a new random single-use token (PROBE_TOKEN_LEN hex
 * digits) stored with the time. 0, DB_NOT_FOUND (no such member) or -1.
 */
#define PROBE_TOKEN_LEN 24
int probe_start(struct db *db, const struct list_info *list,
                const char *address, char *token, size_t tokenlen, char *why,
                size_t whylen);

/*
 * A bounce of the probe with this token: the token is used up and the
 * member's delivery becomes disabled-by-bounces (*disabled set when it was
 * enabled). The member's address in address. 0, DB_NOT_FOUND (no probe
 * has this token) or -1.
 */
int probe_bounced(struct db *db, const struct list_info *list,
                  const char *token, char *address, size_t addresslen,
                  int *disabled, char *why, size_t whylen);

struct bounce_info {
    char address[400];
    char status[32];
    char diagnostic[512];
    int scored;
    int64_t received;
};

/* A member's bounce state: score, delivery and the last recorded bounce. */
struct bounce_member {
    char address[400];
    int score;
    char delivery[32];
    char last_bounce[16];  /* YYYY-MM-DD of the last scored bounce, or "" */
    char last_status[32];  /* of the last recorded bounce, or "" */
    char last_diagnostic[512];
    int64_t probe_sent;    /* Unix time of the probe out, or 0 */
};

/* The members of a list with a bounce score or a recorded bounce, highest
   score first. */
int bounce_members_each(struct db *db, const struct list_info *list,
                        int (*fn)(const struct bounce_member *, void *),
                        void *arg, char *why, size_t whylen);

/* The most recent bounces of a list, newest first, at most limit. */
int bounces_each(struct db *db, const struct list_info *list, int limit,
                 int (*fn)(const struct bounce_info *, void *), void *arg,
                 char *why, size_t whylen);

/* --- held messages ----------------------------------------------------- */

struct held_info {
    int64_t id;
    char sender[400];
    char subject[512];
    char reason[256];
    int64_t received;     /* unix time */
    char state[16];       /* pending|approved|rejected|discarded */
    char decided_by[128];
    char message_id[512];
    char digest[80];
    char hold_mode[8];    /* queue|defer when held; "" if held before v2 */
    int64_t distributed_at; /* approved and distributed then; 0: not yet */
};

/* Store a held message (raw bytes); returns the id (> 0) or -1. */
int64_t held_add(struct db *db, const struct list_info *list,
                 const struct held_info *info, const void *raw, size_t rawlen,
                 char *why, size_t whylen);
int held_get(struct db *db, int64_t id, struct list_info *list,
             struct held_info *out, void **raw, size_t *rawlen, char *why,
             size_t whylen);
int held_decide(struct db *db, int64_t id, const char *state,
                const char *who, char *why, size_t whylen);
/*
 * Undo a decision (state) that could not be carried out, e.g. an approved
 * post whose re-injection failed: the message is pending again. 0,
 * DB_NOT_FOUND when it is not in that state, or -1.
 */
int held_reopen(struct db *db, int64_t id, const char *state, char *why,
                size_t whylen);
int held_each(struct db *db, const struct list_info *list, const char *state,
              int (*fn)(const struct held_info *, void *), void *arg,
              char *why, size_t whylen);
/*
 * The held post that raw (the message of a new transaction from sender)
 * retries under hold_mode defer: the newest post of list with the same
 * envelope sender, Message-ID, body and key headers (msgdigest.h; the
 * headers either has), among the HELD_RETRY_CANDIDATES newest with that
 * sender, Message-ID and body. 0, DB_NOT_FOUND or -1.
 */
#define HELD_RETRY_CANDIDATES 16
int held_find_retry(struct db *db, const struct list_info *list,
                    const char *sender, const char *message_id,
                    const char *raw, size_t rawlen, struct held_info *out,
                    char *why, size_t whylen);
/*
 * A claim of an approved post's one distribution. Its token is the
 * message's mark (held_claim_mark) and a value of the claiming call's
 * own, so that the call can tell its claim from any other after a lost
 * answer, and a copy of the same message can take over a claim whose
 * request died or failed (held_claim).
 */
#define HELD_CLAIM_MARK_HEX 64 /* a SHA-256 in hex */
#define HELD_CLAIM_TOKEN_MAX (HELD_CLAIM_MARK_HEX + 1 + 32 + 1)
struct held_claim {
    int stale_s;  /* in: age after which a claim by the same message is
                     taken over (longer than any request lives) */
    int64_t id;   /* out: the held post claimed (or tried), 0: none */
    char token[HELD_CLAIM_TOKEN_MAX]; /* out: the claimed_by written */
};
/*
 * The mark of held post id's claim by raw from sender: the same for
 * every copy of a message its sender's MTA retries (envelope sender,
 * body, key headers), different for any other message.
 */
void held_claim_mark(int64_t id, const char *sender, const char *raw,
                     size_t rawlen, char out[HELD_CLAIM_MARK_HEX + 1]);
/*
 * Claim the one distribution of approved post id for the message with
 * mark: 0 when this call got it, DB_NOT_FOUND when the post is not
 * approved or was claimed already (by a concurrent request too: the
 * claim is one UPDATE), or -1. A claim by the same mark older than
 * c->stale_s is taken over: its request ended without a distribution
 * (its MTA was answered 4xx) or a duplicate follows a distribution long
 * past; a duplicate is the rarer harm than a lost post. c->id and
 * c->token are set whatever the result; after -1 the claim may or may
 * not have committed (held_claim_settle undoes it if it did).
 */
int held_claim(struct db *db, int64_t id, const char *mark,
               struct held_claim *c, char *why, size_t whylen);
/*
 * Settle claim c when it stands. Not distributed (the request that
 * claimed did not hand the post out): undo it, the post is approved and
 * undistributed again (logged "held unclaim"). Distributed: confirm it,
 * no copy of the message takes it over any more, at any age. 0 (settled
 * or not there), or -1 with why.
 */
int held_claim_settle(struct db *db, const struct held_claim *c,
                      int distributed, char *why, size_t whylen);

/* --- subscription requests held for the owners ------------------------ */

struct request_info {
    int64_t id;
    char address[400];
    int64_t received;       /* unix time */
    char state[16];         /* pending|approved|rejected */
    char decided_by[128];
    int64_t decided_at;     /* unix time; 0 while pending */
};

/* The requests of list in state (pending when NULL), oldest first. 0, -1. */
int request_each(struct db *db, const struct list_info *list,
                 const char *state,
                 int (*fn)(const struct request_info *, void *), void *arg,
                 char *why, size_t whylen);
/* Request id with its list: 0, DB_NOT_FOUND or -1. */
int request_get(struct db *db, int64_t id, struct list_info *list,
                struct request_info *out, char *why, size_t whylen);
/*
 * Decide pending request id (state approved or rejected) by who: 0,
 * DB_NOT_FOUND when it is not pending (one UPDATE: of two concurrent
 * decisions one wins), or -1.
 */
int request_decide(struct db *db, int64_t id, const char *state,
                   const char *who, char *why, size_t whylen);
/*
 * Approve pending request id by who and make its address a member, in
 * one BEGIN IMMEDIATE transaction: list and out are filled as by
 * request_get. 0 when the member was added, DB_EXISTS when the address
 * was a member already (the request is approved all the same),
 * DB_NOT_FOUND when there is no such request or it is not pending,
 * DB_REFUSED when the address is banned from the list (compared as the
 * subscribe path compares it: pattern_match), or -1. With anything but 0
 * and DB_EXISTS nothing changed: the request stays as it was.
 */
int request_approve(struct db *db, int64_t id, const char *who,
                    struct list_info *list, struct request_info *out,
                    char *why, size_t whylen);

/* --- the change log (mlm-ctl log) --------------------------------------- */

#define DB_ACTOR_MAX 200

/*
 * Who the changes made through db are by, as the log shows it: "mlm-ctl
 * by USER", "mail from ADDRESS (QUEUE-ID)". Cut to DB_ACTOR_MAX bytes,
 * control characters replaced.
 */
void db_set_actor(struct db *db, const char *actor);

struct log_entry {
    int64_t id;
    int64_t at;             /* unix time */
    char actor[DB_ACTOR_MAX + 1];
    char action[64];        /* "member add", "setting", "held approved", ... */
    char subject[400];      /* the address, setting or id changed */
    char detail[600];       /* the new value or role */
};

/* The newest limit changes of list (all when limit <= 0), newest first. */
int log_each(struct db *db, const struct list_info *list, int limit,
             int (*fn)(const struct log_entry *, void *), void *arg,
             char *why, size_t whylen);

/* --- a list's own mail templates (mlm-ctl template) -------------------- */

/*
 * list's version of template name: 0 with *text (the caller frees it) or
 * NULL when the list has none; -1 with why. The names and the text are
 * checked by the caller (lua/lib/mlm_templates.lua, check).
 */
int template_get(struct db *db, const struct list_info *list,
                 const char *name, char **text, char *why, size_t whylen);
/* Store list's version of name, logged as "template set"; 0 or -1. */
int template_set(struct db *db, const struct list_info *list,
                 const char *name, const char *text, char *why,
                 size_t whylen);
/* Drop list's version of name, logged as "template reset": 0,
 * DB_NOT_FOUND when it had none, or -1. */
int template_reset(struct db *db, const struct list_info *list,
                   const char *name, char *why, size_t whylen);
/* fn(name, arg) for each template list has its own version of, by name. */
int templates_each(struct db *db, const struct list_info *list,
                   void (*fn)(const char *name, void *), void *arg,
                   char *why, size_t whylen);

/* --- confirmation tokens ------------------------------------------------ */

#define TOKEN_LIFETIME (3 * 24 * 3600)   /* seconds a token stays valid */
#define TOKEN_RATE_WINDOW 3600           /* one token per address per list */

/*
 * A new random token for action (subscribe, unsubscribe) on address.
 * DB_EXISTS when one was made for the same list and address within the
 * last hour: confirmation mail is rate-limited so mlm cannot be used to
 * flood an address.
 */
int token_create(struct db *db, const struct list_info *list,
                 const char *address, const char *action, char *token,
                 size_t tokenlen, char *why, size_t whylen);
/* Consume a token: 0 with its list, address and action; DB_NOT_FOUND. */
int token_take(struct db *db, const char *token, struct list_info *list,
               char *address, size_t addresslen, char *action,
               size_t actionlen, char *why, size_t whylen);

/* --- the reply limit of NAME-request@ ----------------------------------- */

#define REPLY_LIMIT 5       /* replies to one address ... */
#define REPLY_WINDOW 3600   /* ... per this many seconds, all lists together */

/*
 * Take one reply to address from its quota: 1 when the reply may be sent
 * (and is counted), 0 with why when REPLY_LIMIT replies went to the same
 * address_key within the last REPLY_WINDOW seconds (or address is none),
 * -1 on failure.
 */
int reply_quota_take(struct db *db, const char *address, char *why,
                     size_t whylen);

/* --- approvals ---------------------------------------------------------- */

/*
 * The mark mlm-ctl puts on an approved post it re-injects (hold_mode
 * queue), and the policy checks and strips: "LIST ID EXPIRES MAC". MAC is
 * the installation secret's HMAC (secret.h, purpose "mlm approval") over
 * the list, the held id, EXPIRES (unix time), the re-injection's envelope
 * sender (lower case) and the digests of the post's body and of the key
 * headers the held post has (msgdigest.h). A mark is good for that message
 * from that sender, to that list, until EXPIRES, and once.
 */
#define APPROVAL_HEADER "X-Mlm-Approved"
#define APPROVAL_LIFETIME (5 * 24 * 3600) /* an MTA's queue lifetime */

/* The mark for held post held_id (raw: its stored message); -1 with why. */
int approval_mark(struct db *db, const char *secret_file,
                  const struct list_info *list, int64_t held_id,
                  int64_t expires, const char *sender, const void *raw,
                  size_t rawlen, char *out, size_t outlen, char *why,
                  size_t whylen);

enum approval_result {
    APPROVAL_GOOD,        /* approved, and this message distributes it */
    APPROVAL_INVALID,     /* no mark of this list for this message and
                             sender, or no such held post */
    APPROVAL_EXPIRED,     /* a true mark, past its time */
    APPROVAL_USED,        /* a true mark of a post distributed already:
                             this message is a duplicate */
    APPROVAL_UNDECIDED,   /* a true mark, the post no longer approved */
};

/* The word for a result, as list:approved() returns it. */
const char *approval_result_name(enum approval_result r);

/*
 * Check value, a mark found on raw (the message of a transaction from
 * sender to list). When good, the held post's one distribution is claimed
 * (held_claim, into *claim). *held_id is set when good or used. The
 * result, or -1 with why.
 */
int approval_check(struct db *db, const char *secret_file,
                   const struct list_info *list, const char *value,
                   const char *sender, const char *raw, size_t rawlen,
                   int64_t *held_id, struct held_claim *claim, char *why,
                   size_t whylen);

/* --- moderation by reply ------------------------------------------------ */

/*
 * A moderation token, in the address NAME-request+ACTION-TOKEN@DOMAIN of a
 * held-post notice: "ID-EXPIRES-MAC", MAC the first MODTOKEN_MAC_HEX hex
 * digits of the secret's HMAC (secret.h, purpose "mlm moderation token")
 * over the list, the held id, the action (approve|reject|discard), the
 * moderator's address (lower case) and EXPIRES (unix time: the post's
 * arrival plus the list's held_expire days). Good for that moderator and
 * action on that post until EXPIRES, while the post is pending: the
 * decision it makes is its one use.
 */
#define MODTOKEN_MAC_HEX 32
#define MODTOKEN_MAX 80   /* bytes of the longest token taken */

int modtoken_action_valid(const char *action);
/* When the held post h of list expires (held_expire); -1 with why. */
int64_t modtoken_expiry(struct db *db, const struct list_info *list,
                        const struct held_info *h, char *why, size_t whylen);
/* The token for moderator to take action on held post held_id; -1. */
int modtoken_make(struct db *db, const char *secret_file,
                  const struct list_info *list, int64_t held_id,
                  const char *action, const char *moderator, char *out,
                  size_t outlen, char *why, size_t whylen);

enum modtoken_result {
    MODTOKEN_GOOD,          /* the moderator may decide the pending post */
    MODTOKEN_INVALID,       /* not a token of this list, post, action and
                               address */
    MODTOKEN_EXPIRED,       /* a true token past its time */
    MODTOKEN_USED,          /* a true token of a post decided already */
    MODTOKEN_NOT_MODERATOR, /* a true token of one no longer a moderator
                               or owner */
};
const char *modtoken_result_name(enum modtoken_result r);
/*
 * Check token for action by moderator (the reply's address) on list; the
 * result (*held_id set unless invalid), or -1 with why. Nothing changes.
 */
int modtoken_check(struct db *db, const char *secret_file,
                   const struct list_info *list, const char *token,
                   const char *action, const char *moderator,
                   int64_t *held_id, char *why, size_t whylen);

/*
 * The same for subscription requests: a token for owner to approve or
 * reject pending request request_id, expiring with the list's
 * held_expire days after the request came (another MAC purpose: no
 * held-post token is good here, nor the reverse). The check's
 * MODTOKEN_NOT_MODERATOR means the address is no longer an owner.
 */
int reqtoken_make(struct db *db, const char *secret_file,
                  const struct list_info *list, int64_t request_id,
                  const char *action, const char *owner, char *out,
                  size_t outlen, char *why, size_t whylen);
int reqtoken_check(struct db *db, const char *secret_file,
                   const struct list_info *list, const char *token,
                   const char *action, const char *owner,
                   int64_t *request_id, char *why, size_t whylen);

#endif
