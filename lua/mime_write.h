/*
 * mime_write.h - the body of a parsed message written back byte for byte
 * where it was not changed (see mime_write.c).
 */
#ifndef MLM_MIME_WRITE_H
#define MLM_MIME_WRITE_H

#include <gmime/gmime.h>
#include <stddef.h>

/*
 * Write the content of top (no headers) with CRLF line ends to path: a
 * new file (mode 0600), or one mlmd keeps, overwritten and cut to length.
 * 0, or -1 with why (the file removed).
 */
int mime_write_body(GMimeObject *top, const char *path, char *why,
                    size_t whylen);

/* The same for len bytes of text: bare LFs become CRLF. 0 or -1. */
int mime_write_text(const char *path, const void *data, size_t len, char *why,
                    size_t whylen);

#endif
