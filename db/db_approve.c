/*
 * db_approve.c - the mark on approved, re-injected posts (see db.h): made
 * by mlm-ctl, checked against the held post and claimed once by the
 * policy.
 */
#include "dbi.h"
#include "msgdigest.h"
#include "secret.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define APPROVAL_PURPOSE "mlm approval"

/*
 * The MAC of a mark. mask: the key headers it covers (see approval_check);
 * the body without its trailing empty lines (a submission program may add
 * some).
 */
static void approval_mac(const struct secret *s, const char *list_address,
                         int64_t held_id, int64_t expires, const char *sender,
                         const char *raw, size_t rawlen, unsigned mask,
                         char out[SECRET_MAC_HEX + 1])
{
    char body[MSGDIGEST_HEX + 1], headers[MSGDIGEST_HEX + 1];
    message_body_digest_relaxed(raw, rawlen, body);
    message_header_digest(raw, rawlen, mask, headers);
    gchar *who = g_ascii_strdown(sender, -1);
    gchar *lst = g_ascii_strdown(list_address, -1);
    gchar *text = g_strdup_printf("%s\n%lld\n%lld\n%s\n%s\n%s", lst,
                                  (long long)held_id, (long long)expires, who,
                                  body, headers);
    secret_mac(s, APPROVAL_PURPOSE, text, strlen(text), out);
    g_free(text);
    g_free(lst);
    g_free(who);
}

int approval_mark(struct db *db, const char *secret_file, const struct list_info *list,
                  int64_t held_id, int64_t expires, const char *sender,
                  const void *raw, size_t rawlen, char *out, size_t outlen,
                  char *why, size_t whylen)
{
    struct secret s;
    char mac[SECRET_MAC_HEX + 1];
    if (db_secret(db, secret_file, &s, why, whylen) == -1)
        return -1;
    approval_mac(&s, list->address, held_id, expires, sender, raw, rawlen,
                 message_header_mask(raw, rawlen), mac);
    secret_wipe(&s);
    snprintf(out, outlen, "%s %lld %lld %s", list->address,
             (long long)held_id, (long long)expires, mac);
    return 0;
}

const char *approval_result_name(enum approval_result r)
{
    switch (r) {
    case APPROVAL_GOOD:
        return "good";
    case APPROVAL_EXPIRED:
        return "expired";
    case APPROVAL_USED:
        return "used";
    case APPROVAL_UNDECIDED:
        return "not approved";
    case APPROVAL_INVALID:
        break;
    }
    return "invalid";
}

int approval_check(struct db *db, const char *secret_file,
                   const struct list_info *list, const char *value,
                   const char *sender, const char *raw, size_t rawlen,
                   int64_t *held_id, struct held_claim *claim, char *why,
                   size_t whylen)
{
    char address[400], mac[SECRET_MAC_HEX + 2], expect[SECRET_MAC_HEX + 1];
    long long id, expires;
    int end = 0;
    if (sscanf(value, " %399s %lld %lld %65s %n", address, &id, &expires,
               mac, &end) != 4 || value[end] != '\0' ||
        strlen(mac) != SECRET_MAC_HEX || id <= 0 ||
        strcasecmp(address, list->address) != 0)
        return APPROVAL_INVALID;

    struct list_info owner;
    struct held_info h;
    void *stored = NULL;
    size_t storedlen = 0;
    int rc = held_get(db, id, &owner, &h, &stored, &storedlen, why, whylen);
    if (rc == DB_NOT_FOUND)
        return APPROVAL_INVALID;
    if (rc != 0)
        return -1;
    /*
     * The key headers of either message, so that one added to the marked
     * copy (Reply-To, Cc, Sender) tells it from the post approved; but not
     * the two an MTA adds to a message that lacks them on re-injection
     * (Message-ID, To) when the held post had none.
     */
    unsigned mask = message_header_mask(stored, storedlen) |
                    (message_header_mask(raw, rawlen) &
                     ~(unsigned)(MSGDIGEST_TO | MSGDIGEST_MESSAGE_ID));
    free(stored);
    if (owner.id != list->id)
        return APPROVAL_INVALID;

    struct secret s;
    if (db_secret(db, secret_file, &s, why, whylen) == -1)
        return -1;
    approval_mac(&s, list->address, id, expires, sender, raw, rawlen, mask,
                 expect);
    secret_wipe(&s);
    if (!secret_equal(mac, expect))
        return APPROVAL_INVALID;
    if (expires < (long long)time(NULL))
        return APPROVAL_EXPIRED;
    if (strcmp(h.state, "approved") != 0)
        return APPROVAL_UNDECIDED;
    /* distributed already: claimed again only by this message's own
       copy, after its claim went stale (held_claim) */
    char mark[HELD_CLAIM_MARK_HEX + 1];
    held_claim_mark(id, sender, raw, rawlen, mark);
    *held_id = id;
    rc = held_claim(db, id, mark, claim, why, whylen);
    if (rc == DB_NOT_FOUND)
        return APPROVAL_USED;
    return rc == 0 ? APPROVAL_GOOD : -1;
}
