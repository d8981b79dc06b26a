/*
 * clients.c - connections from mlmd (requests) and mlm-ctl (commands):
 * HELLO, requests accepted into the queue or refused, replies relayed.
 *
 * An mlmd connection carries one request at a time; mlmd opens more
 * connections for concurrency. Every queued request ends in exactly one
 * reply: the worker's, or a failure (queue full, queue timeout, worker
 * lost, shutdown), so mlmd never waits for nothing.
 *
 * Above the queue and the pool: a client's request is a job (queue.h) the
 * pool serves; its outcome comes back through the pool's events
 * (clients_job_replied, clients_job_failed). Control frames go to the
 * handler main set (mx->control): this file does not know the commands.
 */
#include "mux.h"
#include "log.h"
#include "stats.h"
#include "xmalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void client_event(void *ctx, uint32_t events);

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
    c->mx = mx;
    c->fd = fd;
    c->kind = kind;
    c->uid = uid;
    if (loop_watch(&c->watch, fd, EPOLLIN, client_event, c, LOOP_NEXT) ==
        -1) {
        close(fd);
        free(c);
        return;
    }
    c->next = mx->clients;
    mx->clients = c;
}

/* Wait for what the client needs: input unless it is closing, output
 * while some waits (EPOLLHUP and EPOLLERR come all the same). */
static void client_interest(struct client *c)
{
    uint32_t want = (c->closing ? 0 : EPOLLIN) | (c->out.len ? EPOLLOUT : 0);
    if (loop_want(&c->watch, want) == -1)
        c->closing = 1, c->out.len = 0;
}

void client_send(struct client *c, const struct mlm_buf *b)
{
    buf_put_bytes(&c->out, b->data, b->len);
    if (fd_flush(c->fd, &c->out) == -1)
        c->closing = 1, c->out.len = 0;
    client_interest(c);
}

/* A reply frame for the client's request, stamped with the serving stage
 * mask. */
static void client_reply(struct client *c, uint8_t *frame, size_t len)
{
    struct mlm_buf b = {frame, len, len};
    c->job.state = JOB_NONE;
    reply_flags_set(frame + MLM_FRAME_HDR, (uint8_t)c->mx->pool.stages);
    client_send(c, &b);
}

void client_fail(struct client *c, const char *why)
{
    struct mlm_reply rep;
    struct mlm_buf b;
    reply_init(&rep, ACT_FAILED);
    rep.text = xstrdup(why);
    buf_init(&b);
    reply_encode(&b, &rep);
    stats_record(c->job.stage, ACT_FAILED, now_us() - c->job.queued_us,
                 now_ms());
    client_reply(c, b.data, b.len);
    buf_free(&b);
    reply_free(&rep);
}

static struct client *job_client(void *job)
{
    return (struct client *)((char *)job - offsetof(struct client, job));
}

void clients_job_replied(void *ctx, void *job, uint8_t *frame, size_t len,
                         uint8_t action)
{
    struct client *c = job_client(job);
    (void)ctx;
    stats_record(c->job.stage, action, now_us() - c->job.queued_us, now_ms());
    client_reply(c, frame, len);
}

void clients_job_failed(void *ctx, void *job, const char *why)
{
    (void)ctx;
    client_fail(job_client(job), why);
}

void clients_queue_tick(struct mux *mx)
{
    int64_t limit_us = (int64_t)mx->cfg->queue_timeout * 1000000;
    struct job *j;
    while ((j = queue_expired(&mx->queue, limit_us)) != NULL) {
        msg_warn("a %s request waited %d s for a worker: failing it",
                 stage_name(j->stage), mx->cfg->queue_timeout);
        client_fail(job_client(j), "no worker became free within "
                                   "queue_timeout");
    }
}

static void error_answer(struct client *c, const char *why)
{
    struct mlm_buf b;
    buf_init(&b);
    error_encode(&b, why);
    client_send(c, &b);
    buf_free(&b);
    c->closing = 1;
    client_interest(c);
}

static void hello_answer(struct mux *mx, struct client *c,
                         const uint8_t *payload, size_t len)
{
    char why[256];
    if (hello_decode(payload, len, why, sizeof why) == -1) {
        error_answer(c, why);
        return;
    }
    struct mlm_buf b;
    buf_init(&b);
    hello_ok_encode(&b, mx->pool.stages, mx->pool.generation);
    client_send(c, &b);
    buf_free(&b);
}

static void request_accept(struct mux *mx, struct client *c,
                           const uint8_t *frame, size_t len, uint8_t stage)
{
    char why[256];
    if (c->job.state != JOB_NONE) {
        error_answer(c, "protocol error: second request in flight");
        return;
    }
    /* A frame no worker could decode is refused here, at no worker's cost. */
    if (request_check(frame + MLM_FRAME_HDR, len - MLM_FRAME_HDR, why,
                      sizeof why) == -1) {
        msg_warn("client (uid %ld): %s: closing", (long)c->uid, why);
        error_answer(c, why);
        return;
    }
    buf_reset(&c->job.request);
    buf_put_bytes(&c->job.request, frame, len);
    c->job.stage = stage;
    c->job.queued_us = now_us();
    if (mx->stopping) {
        client_fail(c, "the multiplexor is shutting down");
        return;
    }
    if (mx->queue.len >= mx->cfg->queue_max) {
        msg_warn("request queue full (%d): failing a %s request",
                 mx->queue.len, stage_name(stage));
        client_fail(c, "request queue full");
        return;
    }
    queue_push(&mx->queue, &c->job);
    queue_dispatch(&mx->queue, &mx->pool);
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
        error_answer(c, why);
        return;
    }
    if (type == MSG_HELLO)
        hello_answer(mx, c, payload, plen);
    else if (type == MSG_REQUEST && c->kind == CLIENT_MLMD)
        request_accept(mx, c, frame, len, sub);
    else if (type == MSG_CTL && c->kind == CLIENT_CTL)
        mx->control(mx, c, payload, plen);
    else
        error_answer(c, "unexpected message type on this socket");
}

/* A control command is a word and an argument: no frame needs more. */
#define CTL_FRAME_MAX 65536

static void client_readable(struct mux *mx, struct client *c)
{
    if (fd_fill(c->fd, &c->in) == -1) {
        c->closing = 1;
        c->out.len = 0;
        return;
    }
    /* Anyone in the socket's group reaches ctl_socket: no 64 MB frames. */
    if (c->kind == CLIENT_CTL && c->in.len >= MLM_FRAME_HDR &&
        frame_payload_len(c->in.data) > CTL_FRAME_MAX) {
        error_answer(c, "control frame too long");
        c->in.len = 0;
        return;
    }
    size_t frame_len;
    int state;
    while (!c->closing &&
           (state = frame_complete(c->in.data, c->in.len, &frame_len)) != 0) {
        if (state == -1) {
            error_answer(c, "frame length out of bounds");
            break;
        }
        client_frame(mx, c, c->in.data, frame_len);
        buf_consume(&c->in, frame_len);
    }
}

/* Its socket is ready (the loop's callback). */
static void client_event(void *ctx, uint32_t events)
{
    struct client *c = ctx;
    if (events & EPOLLOUT && fd_flush(c->fd, &c->out) == -1)
        c->closing = 1, c->out.len = 0;
    if (!c->closing && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        client_readable(c->mx, c);
    else if (events & (EPOLLHUP | EPOLLERR))
        c->closing = 1, c->out.len = 0;
    client_interest(c);
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
        job_drop(&mx->queue, &mx->pool, &c->job); /* a reply is dropped */
        loop_forget(&c->watch);
        close(c->fd);
        buf_free(&c->in);
        buf_free(&c->out);
        buf_free(&c->job.request);
        free(c);
    }
}
