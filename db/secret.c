/*
 * secret.c - the installation's secret file and keyed digests made with it
 * (see secret.h).
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* len bytes from the kernel's random pool; 0 or -1 with errno. */
static int random_fill(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/*
 * A new secret file at path, written whole under a temporary name and then
 * linked into place, so that a reader never sees it half written and two
 * programs creating it at once agree on one. 0 (created, or made by
 * another meanwhile) or -1 with why.
 */
static int secret_create(const char *path, char *why, size_t whylen)
{
    unsigned char key[SECRET_LEN];
    size_t tlen = strlen(path) + 8;
    char *tmp = malloc(tlen);
    if (tmp == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    snprintf(tmp, tlen, "%s.XXXXXX", path);
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd == -1) {
        snprintf(why, whylen, "cannot create the secret file %s: %s", path,
                 strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = -1;
    if (random_fill(key, sizeof key) == -1)
        snprintf(why, whylen, "getrandom: %s", strerror(errno));
    else if (fchmod(fd, 0600) == -1 ||
             write(fd, key, sizeof key) != (ssize_t)sizeof key ||
             fsync(fd) == -1)
        snprintf(why, whylen, "cannot write the secret file %s: %s", tmp,
                 strerror(errno));
    else if (link(tmp, path) == -1 && errno != EEXIST)
        snprintf(why, whylen, "cannot create the secret file %s: %s", path,
                 strerror(errno));
    else
        rc = 0;
    memset(key, 0, sizeof key);
    close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

/* The secret from an open file (see secret_load); 0 or -1 with why. */
static int secret_read(int fd, const char *path, struct secret *out,
                       char *why, size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) == -1) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size != SECRET_LEN) {
        snprintf(why, whylen, "the secret file %s is not a file of %d bytes",
                 path, SECRET_LEN);
        return -1;
    }
    if (st.st_mode & 077) {
        if (st.st_uid != geteuid()) {
            snprintf(why, whylen, "the secret file %s may be read by others "
                     "(mode %04o): make it 0600", path,
                     (unsigned)(st.st_mode & 07777));
            return -1;
        }
        if (fchmod(fd, st.st_mode & 0700) == -1) {
            snprintf(why, whylen, "cannot make %s 0600: %s", path,
                     strerror(errno));
            return -1;
        }
    }
    size_t got = 0;
    while (got < SECRET_LEN) {
        ssize_t n = read(fd, out->key + got, SECRET_LEN - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "cannot read the secret file %s: %s", path,
                     n == 0 ? "too short" : strerror(errno));
            secret_wipe(out);
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

int secret_load(const char *path, struct secret *out, char *why,
                size_t whylen)
{
    if (path == NULL || *path == '\0') {
        snprintf(why, whylen, "no secret_file configured");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd != -1) {
            int rc = secret_read(fd, path, out, why, whylen);
            close(fd);
            return rc;
        }
        if (errno != ENOENT) {
            snprintf(why, whylen, "cannot open the secret file %s: %s", path,
                     strerror(errno));
            return -1;
        }
        if (secret_create(path, why, whylen) == -1)
            return -1;
    }
    snprintf(why, whylen, "the secret file %s vanished as it was made", path);
    return -1;
}

void secret_mac(const struct secret *s, const char *purpose, const void *data,
                size_t len, char out[SECRET_MAC_HEX + 1])
{
    GHmac *mac = g_hmac_new(G_CHECKSUM_SHA256, s->key, SECRET_LEN);
    g_hmac_update(mac, (const guchar *)purpose, (gssize)strlen(purpose) + 1);
    g_hmac_update(mac, data, (gssize)len);
    snprintf(out, SECRET_MAC_HEX + 1, "%s", g_hmac_get_string(mac));
    g_hmac_unref(mac);
}

int secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

void secret_wipe(struct secret *s)
{
    volatile unsigned char *p = s->key;
    for (size_t i = 0; i < SECRET_LEN; i++)
        p[i] = 0;
}
