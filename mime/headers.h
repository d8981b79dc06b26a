/*
 * headers.h - the top-level header block of a spooled message, split into
 * fields without GMime (see headers.c).
 */
#ifndef MLM_HEADERS_H
#define MLM_HEADERS_H

#include <stddef.h>
#include <stdint.h>

struct header_field {
    const char *name;    /* as in the message */
    const char *raw;     /* after the colon, folds and line end kept:
                            GMime's raw value */
    size_t name_len;     /* lookups compare lengths first */
};

struct header_block {
    char *data;          /* the strings above */
    struct header_field *fields;
    uint32_t n;
};

/*
 * Split data (len bytes: the header block up to and including its empty
 * line; taken over and freed) into fields. 0, or -1
 * when the block holds anything GMime might read another way (a line
 * without a colon, odd bytes in a name, a bare CR, a NUL, a fold before
 * the first field): then the caller parses with GMime instead.
 */
int header_block_split(struct header_block *hb, char *data, size_t len);
void header_block_free(struct header_block *hb);

/* The raw value of the first field called name (any case), or NULL; *count
 * is set to how many there are. */
const char *header_block_find(const struct header_block *hb, const char *name,
                              int *count);

/*
 * GMime's reading of the same fields, for the blocks the split refuses and
 * for the tests that compare the two: the top-level fields in message
 * order (GMime keeps the Content-* ones in the top part's list: merged by
 * offset). A new array in *out (g_free it), its length returned.
 */
struct _GMimeMessage;
struct _GMimeHeader;
int gmime_top_fields(struct _GMimeMessage *m, struct _GMimeHeader ***out);

/* Whether field f is called name (ASCII, any case). */
int header_block_named(const struct header_field *f, const char *name,
                       size_t name_len);

#endif
