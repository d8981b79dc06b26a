/*
 * unescape-fail.c - preloaded (LD_PRELOAD) in front of libpq:
 * PQunescapeBytea fails as libpq's does when it is out of memory (NULL,
 * *retbuflen untouched). Test-only (tests/pg/bytea-oom.sh).
 */
#include <stddef.h>

unsigned char *PQunescapeBytea(const unsigned char *strtext,
                               size_t *retbuflen);

unsigned char *PQunescapeBytea(const unsigned char *strtext,
                               size_t *retbuflen)
{
    (void)strtext;
    (void)retbuflen;
    return NULL;
}
