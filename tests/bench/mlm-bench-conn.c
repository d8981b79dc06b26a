/*
 * mlm-bench-conn.c - the milter connection: packets built and buffered
 * out, read and split in, each wait bounded by the -T timeout.
 *
 * Every packet is a 4-byte big-endian length, one command byte and its
 * data (constants in <libmilter/mfdef.h>). Owns nothing shared: each
 * thread has its own struct mconn.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mlm-bench.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PACKET (16u * 1024 * 1024)  /* larger than any negotiable size */

/* A closed connection with empty buffers. */
void mconn_init(struct mconn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->state = CS_CLOSED;
}

/* Drop the socket and whatever was buffered; the buffers stay allocated. */
void mconn_close(struct mconn *c)
{
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
    c->state = CS_CLOSED;
    c->out_len = c->in_off = c->in_len = 0;
}

/* Close and release the buffers. */
void mconn_free(struct mconn *c)
{
    mconn_close(c);
    free(c->out);
    free(c->in);
}

/* Record why the connection failed; always -1. */
int fail(struct mconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* Room for more bytes in the output buffer. */
static void out_reserve(struct mconn *c, size_t more)
{
    if (c->out_len + more <= c->out_cap)
        return;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + more)
        cap *= 2;
    c->out = xrealloc(c->out, cap);
    c->out_cap = cap;
}

/* Start a packet in the output buffer; returns its offset for pkt_end. */
size_t pkt_begin(struct mconn *c, char cmd)
{
    out_reserve(c, 5);
    size_t at = c->out_len;
    c->out[at + 4] = (unsigned char)cmd;
    c->out_len += 5;
    return at;
}

/* Append raw bytes to the packet being built. */
void pkt_bytes(struct mconn *c, const void *data, size_t len)
{
    out_reserve(c, len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* A NUL-terminated string, as most milter arguments are. */
void pkt_str(struct mconn *c, const char *s)
{
    pkt_bytes(c, s, strlen(s) + 1);
}

/* Fill in the length of the packet begun at offset at. */
void pkt_end(struct mconn *c, size_t at)
{
    put_u32(c->out + at, (uint32_t)(c->out_len - at - 4));
}

/* A data-less command. */
void pkt_simple(struct mconn *c, char cmd)
{
    pkt_end(c, pkt_begin(c, cmd));
}

/* SMFIC_MACRO for command cmd: name, value, name, value, ..., NULL. */
void pkt_macros(struct mconn *c, char cmd, ...)
{
    va_list ap;
    size_t at = pkt_begin(c, SMFIC_MACRO);
    pkt_bytes(c, &cmd, 1);
    va_start(ap, cmd);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        pkt_str(c, s);
    va_end(ap);
    pkt_end(c, at);
}

/* Wait until fd is ready for events or the deadline passes; 0 or -1. */
static int wait_fd(struct mconn *c, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_us();
        if (left <= 0)
            return fail(c, "timed out after %d s", opt.timeout_s);
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return fail(c, "poll: %s", strerror(errno));
        if (n > 0)
            return 0;
    }
}

/* Write everything buffered; 0 or -1 with c->why. */
int mconn_flush(struct mconn *c)
{
    size_t done = 0;
    int64_t deadline = now_us() + (int64_t)opt.timeout_s * 1000000;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done,
                         MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c, POLLOUT, deadline) == -1)
                return -1;
        } else if (n == -1 && errno != EINTR) {
            c->out_len = 0;
            return fail(c, "write: %s", strerror(errno));
        }
    }
    c->out_len = 0;
    return 0;
}

/*
 * Read one packet before the deadline. *data points into the connection's
 * buffer and stays valid until the next read. 0 or -1 with c->why.
 */
int mconn_read(struct mconn *c, int64_t deadline, char *cmd,
               const unsigned char **data, size_t *len)
{
    for (;;) {
        size_t have = c->in_len - c->in_off;
        if (have >= 4) {
            uint32_t plen = get_u32(c->in + c->in_off);
            if (plen == 0 || plen > MAX_PACKET)
                return fail(c, "bad packet length %u from the milter", plen);
            if (have >= 4 + (size_t)plen) {
                *cmd = (char)c->in[c->in_off + 4];
                *data = c->in + c->in_off + 5;
                *len = plen - 1;
                c->in_off += 4 + (size_t)plen;
                return 0;
            }
            if (c->in_cap < 4 + (size_t)plen) {
                size_t cap = c->in_cap;
                while (cap < 4 + (size_t)plen)
                    cap *= 2;
                c->in = xrealloc(c->in, cap);
                c->in_cap = cap;
            }
        }
        if (c->in_cap == 0) {
            c->in_cap = 65536;
            c->in = xmalloc(c->in_cap);
        }
        if (c->in_off > 0) { /* keep the partial packet at the start */
            memmove(c->in, c->in + c->in_off, have);
            c->in_off = 0;
            c->in_len = have;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
        } else if (n == 0) {
            return fail(c, "the milter closed the connection");
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_fd(c, POLLIN, deadline) == -1)
                return -1;
        } else if (errno != EINTR) {
            return fail(c, "read: %s", strerror(errno));
        }
    }
}

/* Connect to the milter; the socket is non-blocking afterwards. */
int mconn_connect(struct mconn *c)
{
    mconn_close(c);
    int fd = socket(tgt.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return fail(c, "socket: %s", strerror(errno));
    /* A blocking connect bounded by SO_SNDTIMEO: a non-blocking one on a
     * unix socket fails at once with EAGAIN when the backlog is full. */
    struct timeval tv = {.tv_sec = opt.timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&tgt.addr, tgt.addrlen) == -1) {
        int e = errno;
        close(fd);
        if (e == EINPROGRESS || e == EAGAIN)
            return fail(c, "connect: timed out after %d s", opt.timeout_s);
        return fail(c, "connect %s: %s", opt.socket_spec, strerror(e));
    }
    if (!tgt.is_unix && !opt.nagle) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
        close(fd);
        return fail(c, "fcntl: %s", strerror(errno));
    }
    c->fd = fd;
    c->state = CS_OPEN;
    return 0;
}
