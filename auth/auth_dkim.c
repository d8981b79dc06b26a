/*
 * auth_dkim.c - DKIM verification with libopendkim. Keys are fetched
 * through our resolver (its budget applies); at most AUTH_DKIM_MAX_SIGS
 * signatures are verified, the others are ignored before any lookup. A
 * message that cannot be read whole is temperror.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <opendkim/dkim.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static DKIM_LIB *dkim_lib(void)
{
    static DKIM_LIB *lib;
    if (lib == NULL) {
        lib = dkim_init(NULL, NULL);
        if (lib == NULL)
            return NULL;
        unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
    }
    return lib;
}

static DKIM_CBSTAT limit_signatures(DKIM *dkim, DKIM_SIGINFO **sigs,
                                    int nsigs)
{
    for (int i = AUTH_DKIM_MAX_SIGS; i < nsigs; i++)
        dkim_sig_ignore(sigs[i]);
    return DKIM_CBSTAT_CONTINUE;
}

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf,
                              size_t buflen)
{
    struct dns *dns = dkim_get_user_context(dkim);
    const char *selector = (const char *)dkim_sig_getselector(sig);
    const char *domain = (const char *)dkim_sig_getdomain(sig);
    char name[512], *txt[4];
    int n;
    if (dns == NULL || selector == NULL || domain == NULL ||
        (size_t)snprintf(name, sizeof name, "%s._domainkey.%s", selector,
                         domain) >= sizeof name)
        return DKIM_CBSTAT_ERROR;
    switch (dns_txt(dns, name, txt, 4, &n)) {
    case DNS_NONE:
        return DKIM_CBSTAT_NOTFOUND;
    case DNS_TEMPFAIL:
        return DKIM_CBSTAT_TRYAGAIN;
    case DNS_OK:
        break;
    }
    /* RFC 6376 3.6.2.2: several key records are ambiguous; use the first. */
    snprintf((char *)buf, buflen, "%s", txt[0]);
    dns_txt_free(txt, n);
    return DKIM_CBSTAT_CONTINUE;
}

/*
 * RFC 8301 3.1: verifiers must not take an rsa-sha1 signature as valid;
 * a true one counts as a failed signature.
 */
static int weak_algorithm(DKIM_SIGINFO *sig)
{
    dkim_alg_t alg;
    return dkim_sig_getsignalg(sig, &alg) != DKIM_STAT_OK ||
           alg == DKIM_SIGN_RSASHA1;
}

void auth_dkim(struct dns *dns, const char *spool_path,
               struct auth_result *res)
{
    DKIM_LIB *lib = dkim_lib();
    DKIM_STAT st;
    res->dkim = AUTH_TEMPERROR;
    res->n_dkim_domains = 0;
    if (lib == NULL)
        return;
    dkim_set_prescreen(lib, limit_signatures);
    dkim_set_key_lookup(lib, key_lookup);
    DKIM *dkim = dkim_verify(lib, (const unsigned char *)"mlm", NULL, &st);
    if (dkim == NULL)
        return;
    dkim_set_user_context(dkim, dns);
    int fd = open(spool_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dkim_free(dkim);
        return;
    }
    unsigned char chunk[65536];
    ssize_t got = 0;
    st = DKIM_STAT_OK;
    while (st == DKIM_STAT_OK &&
           ((got = read(fd, chunk, sizeof chunk)) > 0 ||
            (got == -1 && errno == EINTR)))
        if (got > 0)
            st = dkim_chunk(dkim, chunk, (size_t)got);
    close(fd);
    if (got == -1) {   /* a cut message would read as a failed signature */
        dkim_free(dkim);
        return;
    }
    if (st == DKIM_STAT_OK)
        st = dkim_chunk(dkim, NULL, 0);
    if (st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG)
        st = dkim_eom(dkim, NULL);

    DKIM_SIGINFO **sigs;
    int nsigs = 0, failed = 0, temp = 0;
    if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK)
        nsigs = 0;
    for (int i = 0; i < nsigs; i++) {
        if (dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE)
            continue;
        const char *d = (const char *)dkim_sig_getdomain(sigs[i]);
        if (DKIM_SIG_CHECK(sigs[i]) && d && !weak_algorithm(sigs[i]) &&
            res->n_dkim_domains < AUTH_DKIM_MAX_SIGS) {
            snprintf(res->dkim_domains[res->n_dkim_domains++],
                     sizeof res->dkim_domains[0], "%s", d);
        } else if (dkim_sig_geterror(sigs[i]) == DKIM_SIGERROR_KEYFAIL) {
            temp++;
        } else {
            failed++;
        }
    }
    dkim_free(dkim);
    res->dkim = res->n_dkim_domains > 0 ? AUTH_PASS
              : temp > 0 ? AUTH_TEMPERROR
              : failed > 0 ? AUTH_FAIL : AUTH_NONE;
}
