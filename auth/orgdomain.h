/*
 * orgdomain.h - the organisational domain of RFC 7489 3.2 from the Public
 * Suffix List (libpsl, the publicsuffix package's list, loaded once).
 */
#ifndef MLM_ORGDOMAIN_H
#define MLM_ORGDOMAIN_H

#include <stddef.h>

/*
 * Write the organisational domain of domain (lower case) into out.
 * Returns 0, or -1 if domain is a public suffix itself or not a name.
 */
int orgdomain(const char *domain, char *out, size_t outlen);

#endif
