/*
 * mime_write.h - the body of a parsed message written back byte for byte
 * where it was not changed (see mime_write.c).
 */
#ifndef MLM_MIME_WRITE_H
#define MLM_MIME_WRITE_H

#include <gmime/gmime.h>
#include <stddef.h>

/*
 * Write the content of top (no headers) with CRLF line ends to a new file
 * at path (mode 0600, O_EXCL). 0, or -1 with why (the file removed).
 */
int mime_write_body(GMimeObject *top, const char *path, char *why,
                    size_t whylen);

#endif
