/*
 * rfc2047.h - RFC 2047 encoded words (rfc2047.c).
 */
#ifndef MLM_RFC2047_H
#define MLM_RFC2047_H

#include "proto.h"

#include <stddef.h>

/*
 * Unstructured header text (unfolded) with its encoded words decoded:
 * adjacent words with only whitespace between them join, the bytes of
 * adjacent words in one charset are converted together. Text outside
 * encoded words is kept as it is. Not necessarily valid UTF-8 (an unknown
 * charset's bytes are kept). Linear: only the first 16 KB of text are
 * decoded and only words in its first 4 distinct charsets; other words
 * and the rest are kept as they are. Owned by the caller (free).
 */
char *rfc2047_decode(const char *text);

/* UTF-8 text as "=?UTF-8?B?...?=" words of at most 75 characters each,
 * separated by single spaces, appended to out; when out is empty (the words
 * start a value), the first of at most 60, so that it fits on the field's
 * first line within 78. */
void rfc2047_encode_words(const char *utf8, size_t len, struct mlm_buf *out);

/*
 * UTF-8 text for a header: words of printable ASCII stay as they are,
 * each run of other words becomes encoded words (rfc2047_encode_words).
 * Owned by the caller (free).
 */
char *rfc2047_encode(const char *utf8);

#endif
