/*
 * db_approve.c - the unforgeable mark on approved, re-injected posts (see
 * db.h). The secret is created once, at first use, from /dev/urandom.
 */
#include "dbi.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int random_hex(char *out, size_t outlen, size_t len, char *why, size_t whylen)
{
    unsigned char raw[64];
    if (len > sizeof raw || outlen < 2 * len + 1) {
        snprintf(why, whylen, "random_hex: bad length");
        return -1;
    }
    FILE *fp = fopen("/dev/urandom", "rb");
    if (fp == NULL || fread(raw, 1, len, fp) != len) {
        if (fp)
            fclose(fp);
        snprintf(why, whylen, "cannot read /dev/urandom");
        return -1;
    }
    fclose(fp);
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int secret_get(struct db *db, char *out, size_t outlen, char *why,
                      size_t whylen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        sqlite3_stmt *st = db_stmt(db, ST_META_GET, why, whylen);
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, "approval_secret", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            db_column_copy(st, 0, out, outlen);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
            return 0;
        if (rc != SQLITE_DONE)
            return db_fail(db, "secret", why, whylen);
        char hex[65];
        if (random_hex(hex, sizeof hex, 32, why, whylen) == -1)
            return -1;
        st = db_stmt(db, ST_META_INIT, why, whylen);
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, "approval_secret", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hex, -1, SQLITE_TRANSIENT);
        if (db_step_done(db, st, "secret", why, whylen) == -1)
            return -1;
    }
    snprintf(why, whylen, "no approval secret");
    return -1;
}

static int approval_hmac(struct db *db, const char *list_address,
                         int64_t held_id, char *out, size_t outlen, char *why,
                         size_t whylen)
{
    char secret[128], text[512];
    if (secret_get(db, secret, sizeof secret, why, whylen) == -1)
        return -1;
    snprintf(text, sizeof text, "%s %lld", list_address, (long long)held_id);
    gchar *mac = g_compute_hmac_for_string(G_CHECKSUM_SHA256,
                                           (const guchar *)secret,
                                           strlen(secret), text, -1);
    snprintf(out, outlen, "%s", mac);
    g_free(mac);
    return 0;
}

int approval_mark(struct db *db, const char *list_address, int64_t held_id,
                  char *out, size_t outlen, char *why, size_t whylen)
{
    char mac[80];
    if (approval_hmac(db, list_address, held_id, mac, sizeof mac, why,
                      whylen) == -1)
        return -1;
    snprintf(out, outlen, "%s %lld %s", list_address, (long long)held_id, mac);
    return 0;
}

int approval_verify(struct db *db, const char *list_address, const char *value,
                    int64_t *held_id, char *why, size_t whylen)
{
    char list[400], mac[80], expect[80];
    long long id;
    if (sscanf(value, " %399s %lld %79s", list, &id, mac) != 3 ||
        strcasecmp(list, list_address) != 0)
        return 0;
    if (approval_hmac(db, list_address, id, expect, sizeof expect, why,
                      whylen) == -1)
        return -1;
    /* Constant-time comparison: the mark is a secret-derived value. */
    size_t n = strlen(expect);
    unsigned char diff = strlen(mac) != n;
    for (size_t i = 0; i < n && mac[i]; i++)
        diff |= (unsigned char)(mac[i] ^ expect[i]);
    if (diff)
        return 0;
    *held_id = id;
    return 1;
}
