/*
 * fuzz_address.c - the address and header checks that stand between a
 * remote client's text and the database or the MTA: address_normalise
 * (db/db.h; every member and list lookup goes through it) and the
 * validators of common/proto.h (header_value_valid, address_valid, ...).
 *
 * Input: the text (up to its first NUL). Output buffers are allocated to
 * the exact size given to the function, so ASan sees any write past it.
 * Properties: a normalised address keeps its length and local part, has a
 * lower-case domain, is itself valid (address_valid) and normalises to
 * itself; what a validator accepts holds no CR or LF.
 */
#include "db.h"
#include "proto.h"
#include "fuzz_check.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int normalise_into(const char *addr, size_t outlen, char **out)
{
    char *buf = malloc(outlen ? outlen : 1);
    size_t whylen = 1 + strlen(addr) % 97; /* short reason buffers too */
    char *why = malloc(whylen);
    int rc = address_normalise(addr, buf, outlen, why, whylen);
    FUZZ_CHECK(rc == 0 || memchr(why, '\0', whylen) != NULL,
               "reason not terminated");
    free(why);
    if (rc == 0 && out)
        *out = buf;
    else
        free(buf);
    return rc;
}

static void check_normalise(const char *s, size_t len)
{
    char *out = NULL;
    int rc = normalise_into(s, 1024, &out);
    /* the tightest buffer that fits, and one byte less */
    int tight = normalise_into(s, len + 1, NULL);
    FUZZ_CHECK(len >= 1024 || tight == rc,
               "outlen %zu gives %d, outlen 1024 gives %d", len + 1, tight,
               rc);
    FUZZ_CHECK(normalise_into(s, len, NULL) == -1,
               "accepted with no room for the terminating NUL");
    if (rc == -1)
        return;
    /* the domain's trailing (root) dots go, nothing else */
    size_t want = len;
    while (want > 0 && s[want - 1] == '.')
        want--;
    FUZZ_CHECK(strlen(out) == want, "length changed");
    const char *at = strrchr(s, '@');
    FUZZ_CHECK(at != NULL && at > s, "accepted without a local part");
    size_t local = (size_t)(at - s);
    FUZZ_CHECK(want > local + 1, "accepted with an empty domain");
    FUZZ_CHECK(memcmp(out, s, local) == 0, "local part changed");
    for (size_t i = local; i < want; i++)
        FUZZ_CHECK(out[i] == (char)tolower((unsigned char)s[i]),
                   "domain byte %zu not lower-cased", i);
    FUZZ_CHECK(address_valid(out), "normalised address '%s' is not valid",
               out);
    char *again = NULL;
    FUZZ_CHECK(normalise_into(out, 1024, &again) == 0 &&
                   strcmp(again, out) == 0,
               "normalising is not idempotent for '%s'", out);
    free(again);
    free(out);
}

static int has_crlf(const char *s) { return strpbrk(s, "\r\n") != NULL; }

static void check_validators(const char *s, size_t len)
{
    if (header_value_valid(s))
        FUZZ_CHECK(!has_crlf(s) && len <= 16384, "header value accepted");
    if (header_name_valid(s))
        FUZZ_CHECK(len > 0 && strpbrk(s, ": \t\r\n") == NULL,
                   "header name accepted");
    if (address_valid(s))
        FUZZ_CHECK(!has_crlf(s) && strpbrk(s, "<>") == NULL,
                   "address accepted");
    if (reply_text_valid(s))
        FUZZ_CHECK(!has_crlf(s), "reply text accepted");
    static const char klasses[] = {0, '2', '4', '5'};
    for (size_t i = 0; i < sizeof klasses; i++) {
        char k = klasses[i];
        if (smtp_code_valid(s, k))
            FUZZ_CHECK(len == 3 && (k == 0 || s[0] == k),
                       "reply code '%s' accepted for class %d", s, k);
        if (smtp_dsn_valid(s, k))
            FUZZ_CHECK(len >= 5 && len <= 9 && (k == 0 || s[0] == k) &&
                           !has_crlf(s),
                       "enhanced code '%s' accepted for class %d", s, k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    size_t len = strlen(s);
    check_normalise(s, len);
    check_validators(s, len);
    free(s);
    return 0;
}
