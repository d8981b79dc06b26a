/*
 * clients.c - connections from mlmd (requests) and mlm-ctl (commands),
 * and the FIFO queue of requests waiting for an idle worker.
 *
 * An mlmd connection carries one request at a time; mlmd opens more
 * connections for concurrency. Every queued request ends in exactly one
 * reply: the worker's, or a failure (queue full, queue timeout, worker
 * lost, shutdown), so mlmd never waits for nothing.
 */
#include "mux.h"
#include "log.h"
#include "sockio.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int fd_flush(int fd, struct mlm_buf *b)
{
    while (b->len > 0) {
        ssize_t n = send(fd, b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            return 0;
        if (n == -1)
            return -1;
        buf_consume(b, (size_t)n);
    }
    return 0;
}

/*
 * A read that did not fill the room offered took everything the socket
 * held: stop there rather than ask again for an EAGAIN (poll is level
 * triggered, so anything arriving later is seen at the next round). Two
 * system calls fewer per request, of some ten.
 */
int fd_fill(int fd, struct mlm_buf *b)
{
    for (;;) {
        buf_reserve(b, 65536);
        size_t room = b->cap - b->len;
        ssize_t n = recv(fd, b->data + b->len, room, MSG_DONTWAIT);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        b->len += (size_t)n;
        if ((size_t)n < room ||
            b->len >= MLM_FRAME_HDR + (size_t)MLM_FRAME_MAX)
            return 0; /* the caller finds a bad frame */
    }
}

void client_accept(struct mux *mx, int listen_fd, enum client_kind kind)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd == -1) {
        if (errno != EAGAIN && errno != EINTR)
            msg_warn("accept: %s", strerror(errno));
        return;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    uid_t uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0
                    ? cred.uid
                    : (uid_t)-1;
    /*
     * Requests carry a spool path and get answers about lists and members:
     * they are for mlmd, which runs as the daemons' user (or root). The
     * socket's group is not enough.
     */
    if (kind == CLIENT_MLMD && uid != 0 && uid != mx->own_uid) {
        static int64_t warned_ms; /* a flood of them logs once a second */
        if (now_ms() - warned_ms >= 1000 && (warned_ms = now_ms()))
            msg_warn("%s: connection from uid %ld refused: only root and the "
                     "daemons' user (uid %ld) may send requests",
                     mx->cfg->mx_socket, (long)uid, (long)mx->own_uid);
        close(fd);
        return;
    }
    struct client *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->kind = kind;
    c->uid = uid;
    c->next = mx->clients;
    mx->clients = c;
}

void client_send(struct mux *mx, struct client *c, const struct mlm_buf *b)
{
    (void)mx;
    if (c->closing && c->fd == -1)
        return;
    buf_put_bytes(&c->out, b->data, b->len);
    if (fd_flush(c->fd, &c->out) == -1)
        c->closing = 1, c->out.len = 0;
}

/* A reply frame from a worker, stamped with the serving stage mask. */
void client_reply(struct mux *mx, struct client *c, const uint8_t *frame,
                  size_t len)
{
    struct mlm_buf b = {(uint8_t *)frame, len, len};
    c->pending = 0;
    c->worker = NULL;
    reply_flags_set((uint8_t *)frame + MLM_FRAME_HDR, (uint8_t)mx->stages);
    client_send(mx, c, &b);
}

/* Answer the client's request with ACT_FAILED: mlmd applies failure_action. */
void client_fail(struct mux *mx, struct client *c, const char *why)
{
    struct mlm_reply rep;
    struct mlm_buf b;
    reply_init(&rep, ACT_FAILED);
    rep.text = xstrdup(why);
    buf_init(&b);
    reply_encode(&b, &rep);
    stats_record(c->stage, ACT_FAILED, now_us() - c->queued_us, now_ms());
    client_reply(mx, c, b.data, b.len);
    buf_free(&b);
    reply_free(&rep);
}

static void queue_push(struct mux *mx, struct client *c)
{
    c->queue_next = NULL;
    if (mx->queue_tail)
        mx->queue_tail->queue_next = c;
    else
        mx->queue_head = c;
    mx->queue_tail = c;
    mx->queue_len++;
}

struct client *queue_pop(struct mux *mx)
{
    struct client *c = mx->queue_head;
    if (c) {
        mx->queue_head = c->queue_next;
        if (mx->queue_head == NULL)
            mx->queue_tail = NULL;
        mx->queue_len--;
        c->queue_next = NULL;
    }
    return c;
}

static void queue_remove(struct mux *mx, struct client *gone)
{
    struct client **pp = &mx->queue_head, *prev = NULL;
    while (*pp && *pp != gone)
        prev = *pp, pp = &(*pp)->queue_next;
    if (*pp == NULL)
        return;
    *pp = gone->queue_next;
    if (mx->queue_tail == gone)
        mx->queue_tail = prev;
    mx->queue_len--;
}

/* Requests that waited longer than queue_timeout fail. */
void queue_tick(struct mux *mx, int64_t now)
{
    int64_t limit_us = (int64_t)mx->cfg->queue_timeout * 1000000;
    (void)now;
    while (mx->queue_head && now_us() - mx->queue_head->queued_us > limit_us) {
        struct client *c = queue_pop(mx);
        msg_warn("a %s request waited %d s for a worker: failing it",
                 stage_name(c->stage), mx->cfg->queue_timeout);
        client_fail(mx, c, "no worker became free within queue_timeout");
    }
}

static void error_answer(struct mux *mx, struct client *c, const char *why)
{
    struct mlm_buf b;
    buf_init(&b);
    error_encode(&b, why);
    client_send(mx, c, &b);
    buf_free(&b);
    c->closing = 1;
}

static void hello_answer(struct mux *mx, struct client *c,
                         const uint8_t *payload, size_t len)
{
    char why[256];
    if (hello_decode(payload, len, why, sizeof why) == -1) {
        error_answer(mx, c, why);
        return;
    }
    struct mlm_buf b;
    buf_init(&b);
    hello_ok_encode(&b, mx->stages, mx->generation);
    client_send(mx, c, &b);
    buf_free(&b);
}

static void request_accept(struct mux *mx, struct client *c,
                           const uint8_t *frame, size_t len, uint8_t stage)
{
    char why[256];
    if (c->pending) {
        error_answer(mx, c, "protocol error: second request in flight");
        return;
    }
    /* A frame no worker could decode is refused here, at no worker's cost. */
    if (request_check(frame + MLM_FRAME_HDR, len - MLM_FRAME_HDR, why,
                      sizeof why) == -1) {
        msg_warn("client (uid %ld): %s: closing", (long)c->uid, why);
        error_answer(mx, c, why);
        return;
    }
    buf_reset(&c->request);
    buf_put_bytes(&c->request, frame, len);
    c->pending = 1;
    c->stage = stage;
    c->queued_us = now_us();
    if (mx->stopping) {
        client_fail(mx, c, "the multiplexor is shutting down");
        return;
    }
    if (mx->queue_len >= mx->cfg->queue_max) {
        msg_warn("request queue full (%d): failing a %s request",
                 mx->queue_len, stage_name(stage));
        client_fail(mx, c, "request queue full");
        return;
    }
    queue_push(mx, c);
    pool_dispatch(mx);
}

/* One complete frame from a client. */
static void client_frame(struct mux *mx, struct client *c, const uint8_t *frame,
                         size_t len)
{
    const uint8_t *payload = frame + MLM_FRAME_HDR;
    size_t plen = len - MLM_FRAME_HDR;
    struct mlm_reader r;
    uint8_t type, sub;
    char why[256];
    if (payload_open(&r, payload, plen, &type, &sub, why, sizeof why) == -1) {
        msg_error("client: %s", why);
        error_answer(mx, c, why);
        return;
    }
    if (type == MSG_HELLO)
        hello_answer(mx, c, payload, plen);
    else if (type == MSG_REQUEST && c->kind == CLIENT_MLMD)
        request_accept(mx, c, frame, len, sub);
    else if (type == MSG_CTL && c->kind == CLIENT_CTL)
        control_command(mx, c, payload, plen);
    else
        error_answer(mx, c, "unexpected message type on this socket");
}

/* A control command is a word and an argument: no frame needs more. */
#define CTL_FRAME_MAX 65536

void client_readable(struct mux *mx, struct client *c)
{
    if (fd_fill(c->fd, &c->in) == -1) {
        c->closing = 1;
        c->out.len = 0;
        return;
    }
    /* Anyone in the socket's group reaches ctl_socket: no 64 MB frames. */
    if (c->kind == CLIENT_CTL && c->in.len >= MLM_FRAME_HDR &&
        frame_payload_len(c->in.data) > CTL_FRAME_MAX) {
        error_answer(mx, c, "control frame too long");
        c->in.len = 0;
        return;
    }
    size_t frame_len;
    int state;
    while (!c->closing &&
           (state = frame_complete(c->in.data, c->in.len, &frame_len)) != 0) {
        if (state == -1) {
            error_answer(mx, c, "frame length out of bounds");
            break;
        }
        client_frame(mx, c, c->in.data, frame_len);
        buf_consume(&c->in, frame_len);
    }
}

void client_flush(struct mux *mx, struct client *c)
{
    (void)mx;
    if (fd_flush(c->fd, &c->out) == -1)
        c->closing = 1, c->out.len = 0;
}

/* Free clients that are closing and have nothing left to send. */
void clients_reap(struct mux *mx)
{
    struct client **pp = &mx->clients;
    while (*pp) {
        struct client *c = *pp;
        if (!c->closing || c->out.len > 0) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        if (c->pending && c->worker)
            c->worker->client = NULL; /* the reply will be dropped */
        else if (c->pending)
            queue_remove(mx, c);
        watch_forget(&c->watch, c->fd);
        close(c->fd);
        buf_free(&c->in);
        buf_free(&c->out);
        buf_free(&c->request);
        free(c);
    }
}
