/*
 * orgdomain.c - organisational domain: the public suffix plus one label,
 * as libpsl's registrable domain. The distribution's list is preferred to
 * the one built into libpsl (it is updated with the publicsuffix package).
 */
#include "orgdomain.h"

#include <ctype.h>
#include <libpsl.h>
#include <stdio.h>
#include <string.h>

static const psl_ctx_t *psl_list(void)
{
    static const psl_ctx_t *psl;
    if (psl == NULL)
        psl = psl_latest(NULL);
    if (psl == NULL)
        psl = psl_builtin();
    return psl;
}

int orgdomain(const char *domain, char *out, size_t outlen)
{
    char lower[256];
    size_t n = strlen(domain);
    if (n == 0 || n >= sizeof lower)
        return -1;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)domain[i]);
    if (lower[n - 1] == '.')
        lower[n - 1] = '\0';
    const psl_ctx_t *psl = psl_list();
    if (psl == NULL)
        return -1;
    const char *reg = psl_registrable_domain(psl, lower);
    if (reg == NULL || strlen(reg) >= outlen)
        return -1;
    memcpy(out, reg, strlen(reg) + 1);
    return 0;
}
