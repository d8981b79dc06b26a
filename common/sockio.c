/*
 * sockio.c - see sockio.h.
 */
#include "sockio.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int unix_addr(struct sockaddr_un *sun, const char *path, char *why,
                     size_t whylen)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        snprintf(why, whylen, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

int unix_connect(const char *path, char *why, size_t whylen)
{
    struct sockaddr_un sun;
    if (unix_addr(&sun, path, why, whylen) == -1)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
        snprintf(why, whylen, "connect %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int unix_listen(const char *path, mode_t mode, char *why, size_t whylen)
{
    struct sockaddr_un sun;
    if (unix_addr(&sun, path, why, whylen) == -1)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    /* Bind with a tight umask so the socket is never briefly open to all. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc == -1 || chmod(path, mode) == -1 || listen(fd, 128) == -1) {
        snprintf(why, whylen, "listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
        if (rc == -1 && errno == EINTR)
            continue;
        if (rc != 0)
            return rc > 0 ? 1 : -1;
    }
}

/* Try the socket first; wait only when it would block (saves a poll). */
int frame_write(int fd, const struct mlm_buf *buf, int64_t deadline,
                char *why, size_t whylen)
{
    size_t off = 0;
    while (off < buf->len) {
        ssize_t n = send(fd, buf->data + off, buf->len - off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno != EAGAIN) {
            snprintf(why, whylen, "write: %s", strerror(errno));
            return -1;
        }
        int ready = wait_fd(fd, POLLOUT, deadline);
        if (ready <= 0) {
            snprintf(why, whylen, ready == 0 ? "write timed out" : "poll: %s",
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Room for a small frame whole (a request or a short reply). */
#define FRAME_READ_MIN 4096

int frame_read(int fd, struct mlm_buf *in, int64_t deadline,
               const uint8_t **payload, size_t *payload_len, char *why,
               size_t whylen)
{
    size_t frame_len = 0;
    buf_reset(in);
    /*
     * Wait first: an answer is never there the moment we ask, and a recv
     * would only say EAGAIN. Without a deadline (a worker waiting for its
     * next request) a blocking recv does the waiting: one call, not two.
     */
    int blocking = deadline == DEADLINE_NONE;
    int ready = blocking ? 1 : wait_fd(fd, POLLIN, deadline);
    for (;;) {
        if (ready <= 0) {
            snprintf(why, whylen, ready == 0 ? "timed out waiting for an answer"
                                             : "poll: %s",
                     strerror(errno));
            return -1;
        }
        int state = frame_complete(in->data, in->len, &frame_len);
        if (state == -1) {
            snprintf(why, whylen, "frame length out of bounds");
            return -1;
        }
        if (state == 1)
            break;
        /*
         * Read what fits, not only what the frame still needs: a small
         * frame then takes one recv instead of two (its header, then its
         * payload). Every peer of frame_read sends one frame and waits for
         * the answer, so bytes past the frame are a broken peer (below).
         */
        size_t want = in->len < MLM_FRAME_HDR
                          ? MLM_FRAME_HDR - in->len
                          : MLM_FRAME_HDR + frame_payload_len(in->data) -
                                in->len;
        buf_reserve(in, want > FRAME_READ_MIN ? want : FRAME_READ_MIN);
        want = in->cap - in->len;
        ssize_t n = recv(fd, in->data + in->len, want,
                         blocking ? 0 : MSG_DONTWAIT);
        if (n > 0) {
            in->len += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == 0 || errno != EAGAIN) {
            snprintf(why, whylen, n == 0 ? "peer closed the connection"
                                         : "read: %s",
                     strerror(errno));
            return -1;
        }
        ready = wait_fd(fd, POLLIN, deadline);
    }
    if (in->len > frame_len) {
        snprintf(why, whylen, "%zu unexpected bytes after a frame",
                 in->len - frame_len);
        return -1;
    }
    *payload = in->data + MLM_FRAME_HDR;
    *payload_len = frame_len - MLM_FRAME_HDR;
    return 0;
}
