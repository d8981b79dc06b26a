/*
 * wrap.c - the body of a message that carries a post as an attachment:
 * the DMARC mitigation "wrap" of the shipped list policy, through
 * ctx:wrap_message (ctx.c records it, stage.c renders it after the
 * policy returns, as it does a footer).
 *
 * The post goes into the message/rfc822 part exactly as it was spooled
 * (CRLF wire form), so the author's DKIM signature still verifies inside
 * it. The boundary holds 128 random bits: no sender can make the post
 * contain it.
 */
#include "wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int wrap_boundary(char out[WRAP_BOUNDARY_SIZE], char *why, size_t whylen)
{
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        snprintf(why, whylen, "no random bytes for a MIME boundary: %s",
                 strerror(errno));
        return -1;
    }
    int n = snprintf(out, WRAP_BOUNDARY_SIZE, "=_mlm_wrap_");
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(out + n, (size_t)(WRAP_BOUNDARY_SIZE - n), "%02x", r[i]);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_str(int fd, const char *s)
{
    return write_all(fd, s, strlen(s));
}

/* text with every line end (CRLF, LF or CR) written as CRLF, and a CRLF
 * after a last line without one. */
static int write_text_crlf(int fd, const char *text)
{
    const char *start = text, *p = text;
    for (; *p; p++) {
        if (*p != '\r' && *p != '\n')
            continue;
        if (write_all(fd, start, (size_t)(p - start)) == -1 ||
            write_all(fd, "\r\n", 2) == -1)
            return -1;
        if (*p == '\r' && p[1] == '\n')
            p++;
        start = p + 1;
    }
    if (p > start &&
        (write_all(fd, start, (size_t)(p - start)) == -1 ||
         write_all(fd, "\r\n", 2) == -1))
        return -1;
    return 0;
}

/* The spooled message at path, byte for byte, to fd. */
static int copy_file(int fd, const char *path)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in == -1)
        return -1;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(in, chunk, sizeof chunk);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(fd, chunk, (size_t)n) == -1) {
            int saved = errno;
            close(in);
            errno = saved;
            return n == 0 ? 0 : -1;
        }
    }
}

int wrap_write(const char *spool_path, const char *boundary, const char *text,
               const char *footer, const char *out_path, char *why,
               size_t whylen)
{
    int fd = open(out_path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd == -1) {
        snprintf(why, whylen, "cannot create %s: %s", out_path,
                 strerror(errno));
        return -1;
    }
    char delimiter[WRAP_BOUNDARY_SIZE + 8];
    snprintf(delimiter, sizeof delimiter, "--%s\r\n", boundary);
    int failed =
        write_str(fd, delimiter) == -1 ||
        write_str(fd, "Content-Type: text/plain; charset=UTF-8\r\n"
                      "Content-Transfer-Encoding: 8bit\r\n"
                      "Content-Disposition: inline\r\n\r\n") == -1 ||
        (text && write_text_crlf(fd, text) == -1) ||
        (footer && write_text_crlf(fd, footer) == -1) ||
        write_str(fd, "\r\n") == -1 || write_str(fd, delimiter) == -1 ||
        write_str(fd, "Content-Type: message/rfc822\r\n"
                      "Content-Disposition: inline\r\n\r\n") == -1 ||
        copy_file(fd, spool_path) == -1 ||
        write_str(fd, "\r\n--") == -1 || write_str(fd, boundary) == -1 ||
        write_str(fd, "--\r\n") == -1;
    int saved = errno;
    off_t end = failed ? 0 : lseek(fd, 0, SEEK_CUR);
    struct stat st;
    if (!failed && (end == -1 || fstat(fd, &st) == -1 ||
                    (st.st_size > end && ftruncate(fd, end) == -1)))
        failed = 1, saved = errno;
    if (close(fd) == -1 && !failed)
        failed = 1, saved = errno;
    if (failed) {
        snprintf(why, whylen, "cannot write %s: %s", out_path,
                 saved ? strerror(saved) : "write error");
        unlink(out_path);
        return -1;
    }
    return 0;
}
