/*
 * msgdigest.h - what identifies a held post: SHA-256 digests of its body
 * and of its key headers, over the raw message (CRLF wire form, as spooled
 * and stored).
 *
 * The key headers are those a genuine retry by the sender's MTA resends
 * unchanged and that a stranger would change to pass a post off as
 * another's: From, Sender, Reply-To, To, Cc, Subject, Message-ID,
 * In-Reply-To, References, MIME-Version, Content-Type and
 * Content-Transfer-Encoding. Not Date: an MTA adds one to a message
 * without it (Postfix for local clients), anew at each attempt. Which of
 * them a digest covers is a mask
 * (MSGDIGEST_ALL, or those a stored post had, see message_header_mask):
 * every occurrence of a covered header counts, in order, each in DKIM's
 * "relaxed" form (name in lower case, folding and runs of blanks made one
 * space, blanks at the ends dropped), so that an MTA's refolding does not
 * matter and an added From: does.
 */
#ifndef MLM_MSGDIGEST_H
#define MLM_MSGDIGEST_H

#include <stddef.h>

#define MSGDIGEST_HEX 64
#define MSGDIGEST_ALL 0xfffu
/* The bits of To and Message-ID (their places among the key headers). */
#define MSGDIGEST_TO (1u << 3)
#define MSGDIGEST_MESSAGE_ID (1u << 6)

/* The key headers present in the message, as a mask. */
unsigned message_header_mask(const char *raw, size_t len);

/* SHA-256 of the body: everything after the first CRLF CRLF (hex). */
void message_body_digest(const char *raw, size_t len,
                         char out[MSGDIGEST_HEX + 1]);

/*
 * The same without the empty lines at the body's end (as DKIM's
 * canonicalisations): for a copy that went through a submission program,
 * which may add some.
 */
void message_body_digest_relaxed(const char *raw, size_t len,
                                 char out[MSGDIGEST_HEX + 1]);

/* SHA-256 of the key headers in mask (hex). */
void message_header_digest(const char *raw, size_t len, unsigned mask,
                           char out[MSGDIGEST_HEX + 1]);

#endif
