/*
 * footer.h - adding a list footer to a parsed message, MIME-aware.
 *
 * The worker (stage.c) calls footer_apply() after a policy asked for
 * ctx:add_footer{}; the body file it writes is handed to mlmd as a
 * CHG_REPLACE_BODY change. Placement: text/plain gets the text footer,
 * text/html the HTML one (before </body>), multipart/alternative both,
 * multipart/mixed its first text part; never anything inside a signed or
 * encrypted part.
 */
#ifndef MLM_FOOTER_H
#define MLM_FOOTER_H

#include <stddef.h>

#include <gmime/gmime.h>

#include "proto.h"

/*
 * Add a footer to msg. text: the plain-text footer (UTF-8, may be NULL);
 * html: the HTML footer (UTF-8, may be NULL: then one is derived from text,
 * HTML-escaped, in a <p>). The parts that get the footer are changed in
 * place in msg. The new message body (everything after the top-level
 * header block, CRLF line ends) is written to out_path (created mode 0600,
 * or overwritten and cut to length: mlmd reuses body files). Changes the top-level header block needs (Content-Type
 * charset, Content-Transfer-Encoding, and MIME-Version when the message has
 * none) are appended to rep: CHG_CHANGE_HEADER index 1 for a field that is
 * there, CHG_ADD_HEADER for one that is not; values folded (header_fold).
 * No other header is touched.
 *
 * Returns 1 when a footer was added, 0 when the message has no place for
 * one (nothing written, msg and rep untouched), -1 on error with why filled
 * (out_path removed, rep untouched; msg may be partly changed).
 */
int footer_apply(GMimeMessage *msg, const char *text, const char *html,
                 const char *out_path, struct mlm_reply *rep, char *why,
                 size_t whylen);

/* The top-level fields that say whether a message is one plain-text part:
 * raw values (NULL when absent) and how many of each there are. */
struct plain_fields {
    const char *content_type;
    int content_types;
    const char *encoding;       /* Content-Transfer-Encoding */
    int encodings;
    const char *disposition;    /* Content-Disposition */
};

/*
 * The same for a message known by its top-level fields and its raw body,
 * when it is one plain-text part that takes the footer without any header
 * change: 1 written to out_path, 0 when the message is of another shape
 * (nothing written: use footer_apply), -1 on error.
 */
int footer_apply_plain(const struct plain_fields *fields, const uint8_t *body,
                       size_t len, const char *text, const char *out_path,
                       char *why, size_t whylen);

#endif
