/*
 * mime_write.h - the body of a parsed message written back byte for byte
 * where it was not changed (see mime_write.c).
 */
#ifndef MLM_MIME_WRITE_H
#define MLM_MIME_WRITE_H

#include <gmime/gmime.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Write the content of top (no headers) with CRLF line ends to path: a
 * new file (mode 0600), or one mlmd keeps, overwritten and cut to length.
 * 0, or -1 with why (the file removed).
 */
int mime_write_body(GMimeObject *top, const char *path, char *why,
                    size_t whylen);

/*
 * Whether writing top unchanged gives back the body it was parsed from
 * (len bytes, CRLF). Not when the parser dropped or moved bytes (a part
 * whose header block has no empty line after it, text after a boundary),
 * nor when a multipart reuses the boundary of one around it (readers split
 * it differently): then a footer must not be added through this writer.
 */
int mime_write_reproduces(GMimeObject *top, const uint8_t *body, size_t len);

/* The same for len bytes of text: bare LFs become CRLF. 0 or -1. */
int mime_write_text(const char *path, const void *data, size_t len, char *why,
                    size_t whylen);

#endif
