/*
 * db_secret.c - the installation's secret as the data layer uses it (marks
 * and tokens, db_approve.c and db_modtoken.c): on SQLite, the file
 * secret_file of this host (secret.c); on PostgreSQL, the one secret
 * every host shares, kept in the database (meta key "secret", hex), made
 * from getrandom(2) at its first use by any host. A mark or token made on
 * one host is then good on every other.
 */
#include "dbi.h"
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define SECRET_META_KEY "secret"

/* The hex of the stored secret into key; 1, 0 when none, -1 with why. */
static int secret_stored(struct db *db, struct secret *out, char *why,
                         size_t whylen)
{
    struct dbq *st = db_stmt(db, ST_META_GET, why, whylen);
    if (st == NULL)
        return -1;
    dbq_bind_text(st, 1, SECRET_META_KEY);
    int rc = dbq_step(st), found = 0;
    if (rc == DBQ_ROW) {
        const char *hex = dbq_text(st, 0);
        found = hex && strlen(hex) == 2 * SECRET_LEN;
        for (size_t i = 0; found && i < SECRET_LEN; i++) {
            unsigned byte;
            found = sscanf(hex + 2 * i, "%2x", &byte) == 1;
            out->key[i] = (unsigned char)byte;
        }
        if (!found) {
            snprintf(why, whylen, "the database's secret is damaged");
            rc = DBQ_ERROR;
        }
    } else if (rc == DBQ_ERROR) {
        db_fail(db, "secret", why, whylen);
    }
    dbq_reset(st);
    return rc == DBQ_ERROR ? -1 : found;
}

/* Store secret as the database's, unless it has one; 0 or -1 with why. */
static int secret_offer(struct db *db, const struct secret *s, char *why,
                        size_t whylen)
{
    char hex[2 * SECRET_LEN + 1];
    for (size_t i = 0; i < SECRET_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", s->key[i]);
    struct dbq *st = db_stmt(db, ST_META_INIT, why, whylen);
    int rc = -1;
    if (st) {
        dbq_bind_text(st, 1, SECRET_META_KEY);
        dbq_bind_text(st, 2, hex);
        rc = db_step_done(db, st, "secret", why, whylen);
    }
    memset(hex, 0, sizeof hex);
    return rc;
}

int db_secret_carry(struct db *src, const char *secret_file, struct db *dst,
                    char *why, size_t whylen)
{
    if (strcmp(db_backend(dst), "postgresql") != 0)
        return 0;
    struct secret s;
    if (db_secret(src, secret_file, &s, why, whylen) == -1)
        return -1;
    int rc = secret_offer(dst, &s, why, whylen);
    secret_wipe(&s);
    return rc;
}

int db_secret(struct db *db, const char *secret_file, struct secret *out,
              char *why, size_t whylen)
{
    if (strcmp(db_backend(db), "postgresql") != 0)
        return secret_load(secret_file, out, why, whylen);
    int rc = secret_stored(db, out, why, whylen);
    if (rc != 0)
        return rc == 1 ? 0 : -1;
    /* None yet: offer one; whichever host's insert came first wins. */
    if (getrandom(out->key, SECRET_LEN, 0) != SECRET_LEN) {
        snprintf(why, whylen, "getrandom: %s", strerror(errno));
        return -1;
    }
    rc = secret_offer(db, out, why, whylen);
    secret_wipe(out);
    if (rc == -1)
        return -1;
    rc = secret_stored(db, out, why, whylen);
    if (rc == 0)
        snprintf(why, whylen, "the database's secret vanished as it was made");
    return rc == 1 ? 0 : -1;
}
