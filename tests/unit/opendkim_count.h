/*
 * opendkim_count.h - the oracle of the tests of "unsigned"
 * (auth_from.c): how many DKIM-Signature fields libopendkim registers in
 * a message, fed whole as auth_dkim.c feeds it (dkim_chunk,
 * DKIM_LIBFLAGS_FIXCRLF). No key is looked up. Used by
 * tests/unit/auth_from_test.c and tests/fuzz/fuzz_dmarc.c.
 */
#ifndef MLM_TEST_OPENDKIM_COUNT_H
#define MLM_TEST_OPENDKIM_COUNT_H

#include <opendkim/dkim.h>
#include <stddef.h>

static DKIM_CBSTAT opendkim_count_no_key(DKIM *dkim, DKIM_SIGINFO *sig,
                                         u_char *buf, size_t buflen)
{
    (void)dkim, (void)sig, (void)buf, (void)buflen;
    return DKIM_CBSTAT_NOTFOUND;
}

/* The signatures registered in the size bytes at data; -1 when libopendkim
 * could not start. */
static int opendkim_count(const unsigned char *data, size_t size)
{
    static DKIM_LIB *lib;
    if (lib == NULL) {
        lib = dkim_init(NULL, NULL);
        if (lib == NULL)
            return -1;
        unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
                     sizeof flags);
        dkim_set_key_lookup(lib, opendkim_count_no_key);
    }
    DKIM_STAT st;
    DKIM *dkim = dkim_verify(lib, (const unsigned char *)"test", NULL, &st);
    if (dkim == NULL)
        return -1;
    if (dkim_chunk(dkim, (unsigned char *)data, size) == DKIM_STAT_OK)
        dkim_chunk(dkim, NULL, 0);
    DKIM_SIGINFO **sigs;
    int n = 0;
    if (dkim_getsiglist(dkim, &sigs, &n) != DKIM_STAT_OK)
        n = 0;
    dkim_free(dkim);
    return n;
}

#endif
