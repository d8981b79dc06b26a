/*
 * secret.h - the installation's secret: SECRET_LEN random bytes in a file
 * only mlm's user reads (config key secret_file), and keyed digests made
 * with it (approval marks; moderation tokens).
 *
 * The file is created on first use from getrandom(2), mode 0600, owned by
 * whoever creates it (the workers and mlm-ctl run as mlm's user). It is
 * read afresh at each use, so replacing it takes effect at once: every
 * mark made with the old secret is then invalid.
 */
#ifndef MLM_SECRET_H
#define MLM_SECRET_H

#include <stddef.h>

#define SECRET_LEN 32
#define SECRET_MAC_HEX 64   /* hex digits of an HMAC-SHA256 */

struct secret {
    unsigned char key[SECRET_LEN];
};

/*
 * Read the secret at path into out, creating the file when it is missing.
 * A file that is not a regular file of SECRET_LEN bytes is refused; one
 * that others may read is made 0600 when it is ours, refused when not.
 * 0, or -1 with why.
 */
int secret_load(const char *path, struct secret *out, char *why,
                size_t whylen);

/*
 * HMAC-SHA256 under the secret of purpose, a NUL and data, as lower-case
 * hex into out (SECRET_MAC_HEX + 1 bytes). Each use of the secret names
 * its own purpose, so a value made for one use is never valid for another.
 */
void secret_mac(const struct secret *s, const char *purpose, const void *data,
                size_t len, char out[SECRET_MAC_HEX + 1]);

/* Whether two strings are equal, in time independent of where they differ. */
int secret_equal(const char *a, const char *b);

/* Overwrite the key in memory. */
void secret_wipe(struct secret *s);

#endif
