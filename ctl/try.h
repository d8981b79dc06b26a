/*
 * try.h - the message model of "mlm-ctl try" (try_msg.c), used by try.c.
 */
#ifndef MLM_CTL_TRY_H
#define MLM_CTL_TRY_H

#include "proto.h"

#include <stddef.h>
#include <stdio.h>

struct try_header {
    char *name;      /* NULL for a line in the header block that is not one */
    char *value;     /* after the colon, as received: folds kept, CRLF */
};

struct try_message {
    struct try_header *h;
    size_t n;
    char *body;
    size_t bodylen;
};

/* A file's bytes as mlmd spools them from Postfix: CRLF line ends, no mbox
 * From line, the header block split from the body where Postfix splits it
 * and written as mlmd writes it. Owned by the caller. */
char *wire_form(const char *data, size_t len, size_t *outlen);
void try_message_parse(const char *wire, size_t len, struct try_message *m);
/* The raw value of the first header called name, or NULL. */
const char *try_header(const struct try_message *m, const char *name);
/* Apply one header change (others are ignored). */
void try_message_apply(struct try_message *m, const struct mlm_change *c);
/* The headers, a blank line and body, with LF line ends, made safe. */
void try_message_print(FILE *fp, const struct try_message *m,
                       const char *body, size_t bodylen);
/* The same bytes, not made safe: what the MTA would queue, with LF line
 * ends. 0, or -1 on a write error. */
int try_message_write(FILE *fp, const struct try_message *m, const char *body,
                      size_t bodylen);
void try_message_free(struct try_message *m);

#endif
