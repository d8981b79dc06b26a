/*
 * fuzz_dmarc.c - the DMARC record parser (auth/dmarc_record.h) on
 * arbitrary TXT text, as a remote domain publishes it, and the From-domain
 * reader (auth/auth.h) on an arbitrary header block. Properties: a parsed
 * record has a known policy, pct in 0..100 and its text kept; a found From
 * domain is non-empty, lower case and without '@'; a message in which
 * libopendkim finds a DKIM-Signature is never taken for an unsigned one.
 */
#include "auth.h"
#include "dmarc_record.h"
#include "fuzz_check.h"
#include "../unit/opendkim_count.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_mime_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char txt[DNS_TXT_MAX_LEN + 1];
    size_t n = size < DNS_TXT_MAX_LEN ? size : DNS_TXT_MAX_LEN;
    memcpy(txt, data, n);
    txt[n] = '\0';
    struct dmarc_record rec;
    for (int at_org = 0; at_org <= 1; at_org++) {
        if (dmarc_record_parse(txt, &rec, at_org) == 0) {
            FUZZ_CHECK(rec.policy == DMARC_P_NONE ||
                           rec.policy == DMARC_P_QUARANTINE ||
                           rec.policy == DMARC_P_REJECT,
                       "policy %d", (int)rec.policy);
            FUZZ_CHECK(rec.pct >= 0 && rec.pct <= 100, "pct %d", rec.pct);
            FUZZ_CHECK(strcmp(rec.text, txt) == 0, "record text changed");
        }
    }

    char path[] = "/tmp/fuzz_dmarc.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    char domain[256];
    int dkim_signed;
    if (auth_from_domain(path, domain, sizeof domain, &dkim_signed) == 0) {
        FUZZ_CHECK(domain[0] != '\0' && strchr(domain, '@') == NULL,
                   "bad From domain '%s'", domain);
        for (const char *p = domain; *p; p++)
            FUZZ_CHECK(!isupper((unsigned char)*p), "upper case in '%s'",
                       domain);
    }
    if (!dkim_signed)
        FUZZ_CHECK(opendkim_count(data, size) == 0,
                   "libopendkim finds a signature in a post taken as unsigned");
    unlink(path);
    return 0;
}
