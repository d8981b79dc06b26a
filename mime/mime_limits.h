/*
 * mime_limits.h - the MIME structure of a spooled message counted before
 * GMime builds it (mime_limits.c), and the bounds on one header field.
 */
#ifndef MLM_MIME_LIMITS_H
#define MLM_MIME_LIMITS_H

#include <stddef.h>

/* Set the configured limits: mime_max_parts, mime_max_depth, mime_max_headers. */
void mime_limits_configure(long max_parts, long max_depth, long max_headers);
/*
 * Count the parts, their nesting and their header fields in the message
 * in path, in constant memory: 0 within the limits, 1 past one (why says
 * which), -1 unreadable.
 */
int mime_limits_check(const char *path, char *why, size_t whylen);
/*
 * Bounds on one header field of any entity, checked by mime_limits_check
 * whatever the configuration: its bytes (lines and line ends; below the
 * scan's 16 KB line, so every byte counted is seen), and an address
 * field's group colons (GMime nests groups on the C stack).
 */
#define MIME_FIELD_MAX 16384
#define MIME_GROUPS_MAX 100
/* "=?" in the header fields of all entities together, however configured. */
#define MIME_WORDS_MAX 10000
/* Colons outside quoted strings, counted across the lines of a field. */
struct group_colons {
    int in_quote, escaped;
    long count;
};
void group_colons_add(struct group_colons *gc, const char *s, size_t len);
/* 1 when an address field's value is past either bound: never to be
 * handed to GMime's address parser. */
int address_value_refused(const char *value);

#endif
