/*
 * loop.c - the event loop: an epoll set, and per descriptor a callback and
 * its context (loop.h). Postfix's events.c is the model.
 *
 * epoll keeps the set between waits; an owner tells it only what changed
 * (a client with output to flush, a client closing), which is rare.
 * Level-triggered: what a callback leaves unread wakes the next wait.
 *
 * An fd must leave the set before it is closed: a worker forked and not
 * yet exec'd holds copies of the multiplexor's descriptors, and epoll
 * keeps reporting a descriptor that is still open somewhere, with the
 * context of an owner that may be freed. loop_forget comes before close.
 * One event loop per process, so the epoll fd is this file's own.
 *
 * Also the non-blocking reads and writes every owner of a socket uses.
 */
#include "loop.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define EVENTS_MAX 64

static int epfd = -1;

void loop_open(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd == -1)
        msg_fatal("epoll_create1: %s", strerror(errno));
}

static int loop_ctl(struct loop_fd *lf, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = lf};
    if (epoll_ctl(epfd, lf->on ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, lf->fd,
                  &ev) == -1) {
        msg_error("epoll_ctl on fd %d: %s", lf->fd, strerror(errno));
        return -1;
    }
    lf->on = 1;
    lf->events = events;
    return 0;
}

int loop_watch(struct loop_fd *lf, int fd, uint32_t events, loop_fn fn,
               void *ctx, enum loop_order order)
{
    if (lf->on && lf->fd != fd)
        loop_forget(lf);
    lf->fd = fd;
    lf->fn = fn;
    lf->ctx = ctx;
    lf->order = order;
    if (fd == -1)
        return -1;
    return loop_ctl(lf, events);
}

int loop_want(struct loop_fd *lf, uint32_t events)
{
    if (!lf->on || lf->events == events)
        return 0;
    return loop_ctl(lf, events);
}

void loop_forget(struct loop_fd *lf)
{
    if (!lf->on || lf->fd == -1)
        return;
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, lf->fd, NULL) == -1)
        msg_error("epoll_ctl DEL fd %d: %s", lf->fd, strerror(errno));
    lf->on = 0;
    lf->events = 0;
}

/*
 * In order: the workers' replies free workers for the requests read next.
 * A callback may forget another descriptor of the same batch: its event
 * is dropped (its owner is still allocated, freed only after the round).
 */
void loop_run_once(int timeout_ms)
{
    struct epoll_event ev[EVENTS_MAX];
    int n = epoll_wait(epfd, ev, EVENTS_MAX, timeout_ms);
    if (n == -1 && errno != EINTR)
        msg_fatal("epoll_wait: %s", strerror(errno));
    for (int order = LOOP_FIRST; order < LOOP_ORDERS; order++)
        for (int i = 0; i < n; i++) {
            struct loop_fd *lf = ev[i].data.ptr;
            if ((int)lf->order == order && lf->on)
                lf->fn(lf->ctx, ev[i].events);
        }
}

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
 * held: stop there rather than ask again for an EAGAIN (epoll is level
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

