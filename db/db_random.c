/*
 * db_random.c - random_hex (db.h): random values for tokens and claim
 * marks, from getrandom(2). The lowest layer of db/: it calls no other
 * file of it.
 */
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int random_hex(char *out, size_t outlen, size_t len, char *why, size_t whylen)
{
    unsigned char raw[64];
    if (len > sizeof raw || outlen < 2 * len + 1) {
        snprintf(why, whylen, "random_hex: bad length");
        return -1;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(raw + got, len - got, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            snprintf(why, whylen, "getrandom: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}
