/*
 * footer_text.h - the footer text helpers footer.c and footer_plain.c
 * share.
 */
#ifndef MLM_FOOTER_TEXT_H
#define MLM_FOOTER_TEXT_H

#include "proto.h"

#include <stddef.h>

/* Footer text with CR LF and CR made LF and final line ends dropped;
 * NULL for NULL or an empty footer. */
char *footer_normalize(const char *s);
/* Append s (len bytes) to b, writing each LF in it as nl. */
void footer_put_lines(struct mlm_buf *b, const void *s, size_t len,
                      const char *nl);
int footer_is_ascii(const void *data, size_t len);

#endif
