/*
 * db_modtoken.c - the tokens of moderation by reply (see db.h): made for
 * one moderator, one held post and one action, checked against the held
 * post when the moderator's reply arrives; and the same for an owner, a
 * subscription request and approve or reject (a MAC of another purpose,
 * so that no token of one kind is good for the other).
 */
#include "dbi.h"
#include "secret.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MODTOKEN_PURPOSE "mlm moderation token"
#define REQTOKEN_PURPOSE "mlm subscription request token"

int modtoken_action_valid(const char *action)
{
    return strcmp(action, "approve") == 0 || strcmp(action, "reject") == 0 ||
           strcmp(action, "discard") == 0;
}

/* The MAC part of a token: MODTOKEN_MAC_HEX digits of the HMAC. */
static void modtoken_mac(const struct secret *s, const char *purpose,
                         const char *list_address, int64_t held_id,
                         const char *action, const char *moderator,
                         int64_t expires, char out[MODTOKEN_MAC_HEX + 1])
{
    char full[SECRET_MAC_HEX + 1];
    gchar *who = g_ascii_strdown(moderator, -1);
    gchar *lst = g_ascii_strdown(list_address, -1);
    gchar *text = g_strdup_printf("%s\n%lld\n%s\n%s\n%lld", lst,
                                  (long long)held_id, action, who,
                                  (long long)expires);
    secret_mac(s, purpose, text, strlen(text), full);
    memcpy(out, full, MODTOKEN_MAC_HEX);
    out[MODTOKEN_MAC_HEX] = '\0';
    g_free(text);
    g_free(lst);
    g_free(who);
}

/* received plus the list's held_expire days; -1 with why. */
static int64_t expiry_after(struct db *db, const struct list_info *list,
                            int64_t received, char *why, size_t whylen)
{
    char days[32];
    if (setting_get(db, list, "held_expire", days, sizeof days, why,
                    whylen) == -1)
        return -1;
    return received + (int64_t)strtoll(days, NULL, 10) * 24 * 3600;
}

int64_t modtoken_expiry(struct db *db, const struct list_info *list,
                        const struct held_info *h, char *why, size_t whylen)
{
    return expiry_after(db, list, h->received, why, whylen);
}

/* "ID-EXPIRES-MAC" of purpose for who to take action on id; 0 or -1. */
static int token_format(struct db *db, const char *secret_file, const char *purpose,
                        const struct list_info *list, int64_t id,
                        const char *action, const char *who, int64_t expires,
                        char *out, size_t outlen, char *why, size_t whylen)
{
    struct secret s;
    char mac[MODTOKEN_MAC_HEX + 1];
    if (db_secret(db, secret_file, &s, why, whylen) == -1)
        return -1;
    modtoken_mac(&s, purpose, list->address, id, action, who, expires, mac);
    secret_wipe(&s);
    snprintf(out, outlen, "%lld-%lld-%s", (long long)id, (long long)expires,
             mac);
    return 0;
}

/* Whether mac is the token MAC of these; 1, 0, or -1 with why. */
static int token_mac_good(struct db *db, const char *secret_file, const char *purpose,
                          const struct list_info *list, int64_t id,
                          const char *action, const char *who,
                          int64_t expires, const char *mac, char *why,
                          size_t whylen)
{
    struct secret s;
    char expect[MODTOKEN_MAC_HEX + 1];
    if (db_secret(db, secret_file, &s, why, whylen) == -1)
        return -1;
    modtoken_mac(&s, purpose, list->address, id, action, who, expires,
                 expect);
    secret_wipe(&s);
    return secret_equal(mac, expect);
}

int modtoken_make(struct db *db, const char *secret_file,
                  const struct list_info *list, int64_t held_id,
                  const char *action, const char *moderator, char *out,
                  size_t outlen, char *why, size_t whylen)
{
    struct list_info owner;
    struct held_info h;
    if (!modtoken_action_valid(action)) {
        snprintf(why, whylen, "no moderation action '%.40s'", action);
        return -1;
    }
    int rc = held_get(db, held_id, &owner, &h, NULL, NULL, why, whylen);
    if (rc != 0)
        return -1;
    if (owner.id != list->id) {
        snprintf(why, whylen, "held post %lld is not of %s",
                 (long long)held_id, list->address);
        return -1;
    }
    int64_t expires = modtoken_expiry(db, list, &h, why, whylen);
    if (expires < 0)
        return -1;
    return token_format(db, secret_file, MODTOKEN_PURPOSE, list, held_id, action,
                        moderator, expires, out, outlen, why, whylen);
}

const char *modtoken_result_name(enum modtoken_result r)
{
    switch (r) {
    case MODTOKEN_GOOD:
        return "good";
    case MODTOKEN_EXPIRED:
        return "expired";
    case MODTOKEN_USED:
        return "used";
    case MODTOKEN_NOT_MODERATOR:
        return "not a moderator";
    case MODTOKEN_INVALID:
        break;
    }
    return "invalid";
}

/* "DIGITS-DIGITS-HEX" of the right lengths, nothing else; the numbers. */
static int modtoken_parse(const char *token, long long *id, long long *expires,
                          char mac[MODTOKEN_MAC_HEX + 1])
{
    size_t len = strnlen(token, MODTOKEN_MAX + 1);
    if (len > MODTOKEN_MAX)
        return -1;
    const char *p = token;
    long long nums[2];
    for (int i = 0; i < 2; i++) {
        size_t n = strspn(p, "0123456789");
        if (n == 0 || n > 18 || p[n] != '-')
            return -1;
        nums[i] = strtoll(p, NULL, 10);
        p += n + 1;
    }
    if (strspn(p, "0123456789abcdef") != MODTOKEN_MAC_HEX ||
        p[MODTOKEN_MAC_HEX] != '\0' || nums[0] <= 0)
        return -1;
    memcpy(mac, p, MODTOKEN_MAC_HEX + 1);
    *id = nums[0];
    *expires = nums[1];
    return 0;
}

int modtoken_check(struct db *db, const char *secret_file,
                   const struct list_info *list, const char *token,
                   const char *action, const char *moderator,
                   int64_t *held_id, char *why, size_t whylen)
{
    long long id, expires;
    char mac[MODTOKEN_MAC_HEX + 1];
    if (!modtoken_action_valid(action) ||
        modtoken_parse(token, &id, &expires, mac) == -1)
        return MODTOKEN_INVALID;
    struct list_info owner;
    struct held_info h;
    int rc = held_get(db, id, &owner, &h, NULL, NULL, why, whylen);
    if (rc == DB_NOT_FOUND)
        return MODTOKEN_INVALID;
    if (rc != 0)
        return -1;
    if (owner.id != list->id)
        return MODTOKEN_INVALID;
    int good = token_mac_good(db, secret_file, MODTOKEN_PURPOSE, list, id, action,
                              moderator, expires, mac, why, whylen);
    if (good != 1)
        return good == -1 ? -1 : MODTOKEN_INVALID;
    *held_id = id;
    if (expires < (long long)time(NULL))
        return MODTOKEN_EXPIRED;
    if (strcmp(h.state, "pending") != 0)
        return MODTOKEN_USED;
    int mod = member_get(db, list, moderator, "moderator", NULL, why, whylen);
    if (mod == DB_NOT_FOUND)
        mod = member_get(db, list, moderator, "owner", NULL, why, whylen);
    if (mod == -1)
        return -1;
    return mod == 0 ? MODTOKEN_GOOD : MODTOKEN_NOT_MODERATOR;
}

static int reqtoken_action_valid(const char *action)
{
    return strcmp(action, "approve") == 0 || strcmp(action, "reject") == 0;
}

int reqtoken_make(struct db *db, const char *secret_file,
                  const struct list_info *list, int64_t request_id,
                  const char *action, const char *owner, char *out,
                  size_t outlen, char *why, size_t whylen)
{
    struct list_info of;
    struct request_info r;
    if (!reqtoken_action_valid(action)) {
        snprintf(why, whylen, "no request action '%.40s'", action);
        return -1;
    }
    if (request_get(db, request_id, &of, &r, why, whylen) != 0)
        return -1;
    if (of.id != list->id) {
        snprintf(why, whylen, "request %lld is not of %s",
                 (long long)request_id, list->address);
        return -1;
    }
    /* a subscription request expires with held_expire, as a post */
    int64_t expires = expiry_after(db, list, r.received, why, whylen);
    if (expires < 0)
        return -1;
    return token_format(db, secret_file, REQTOKEN_PURPOSE, list, request_id,
                        action, owner, expires, out, outlen, why, whylen);
}

int reqtoken_check(struct db *db, const char *secret_file,
                   const struct list_info *list, const char *token,
                   const char *action, const char *owner,
                   int64_t *request_id, char *why, size_t whylen)
{
    long long id, expires;
    char mac[MODTOKEN_MAC_HEX + 1];
    if (!reqtoken_action_valid(action) ||
        modtoken_parse(token, &id, &expires, mac) == -1)
        return MODTOKEN_INVALID;
    struct list_info of;
    struct request_info r;
    int rc = request_get(db, id, &of, &r, why, whylen);
    if (rc == DB_NOT_FOUND)
        return MODTOKEN_INVALID;
    if (rc != 0)
        return -1;
    if (of.id != list->id)
        return MODTOKEN_INVALID;
    int good = token_mac_good(db, secret_file, REQTOKEN_PURPOSE, list, id, action,
                              owner, expires, mac, why, whylen);
    if (good != 1)
        return good == -1 ? -1 : MODTOKEN_INVALID;
    *request_id = id;
    if (expires < (long long)time(NULL))
        return MODTOKEN_EXPIRED;
    if (strcmp(r.state, "pending") != 0)
        return MODTOKEN_USED;
    rc = member_get(db, list, owner, "owner", NULL, why, whylen);
    if (rc == -1)
        return -1;
    return rc == 0 ? MODTOKEN_GOOD : MODTOKEN_NOT_MODERATOR;
}
