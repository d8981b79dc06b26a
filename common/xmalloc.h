/*
 * xmalloc.h - allocation that cannot fail: out of memory is fatal, in one
 * place, instead of a NULL check after every call.
 */
#ifndef MLM_XMALLOC_H
#define MLM_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);

#endif
