/*
 * wrap.h - a post wrapped in a new message (ctx:wrap_message, wrap.c).
 */
#ifndef MLM_WRAP_H
#define MLM_WRAP_H

#include <stddef.h>

/* Bytes of a boundary made by wrap_boundary, with its NUL. */
#define WRAP_BOUNDARY_SIZE 48

/* A fresh MIME boundary of 128 random bits, written to out. 0, or -1 with
 * why (no randomness). */
int wrap_boundary(char out[WRAP_BOUNDARY_SIZE], char *why, size_t whylen);

/*
 * Write the body of the wrapper to out_path (mode 0600, created, or one
 * mlmd keeps, overwritten and cut to length): a multipart/mixed body with
 * boundary, its first part text/plain UTF-8 holding text and then footer
 * (either may be NULL; line ends made CRLF), its second part
 * message/rfc822 holding the spooled message at spool_path byte for byte.
 * The caller sets the top-level Content-Type with the same boundary.
 * 0, or -1 with why (out_path removed).
 */
int wrap_write(const char *spool_path, const char *boundary, const char *text,
               const char *footer, const char *out_path, char *why,
               size_t whylen);

#endif
