/*
 * watch.c - the event loop's interest set, kept in epoll.
 *
 * poll() over every client and worker made the kernel visit each socket
 * twice per wakeup (about 25 with 16 mlmd connections, and it grows with
 * them), and a request wakes the loop twice: for the request, then for
 * the worker's reply. epoll keeps the set between waits; the loop tells
 * it only what changed (a client to flush, a client closing), which is
 * rare. Level-triggered, like poll, so the handlers did not change.
 *
 * An fd must leave the set before it is closed: a worker forked and not
 * yet exec'd holds copies of the multiplexor's descriptors, and epoll
 * keeps reporting a descriptor that is still open somewhere, with the
 * data of a client that may be freed. watch_forget comes before close.
 * One event loop per process, so the epoll fd is this file's own.
 */
#include "mux.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

static int epfd = -1;

void watch_open(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd == -1)
        msg_fatal("epoll_create1: %s", strerror(errno));
}

int watch_sync(struct watch *wt, int fd, uint32_t events, uint64_t tag)
{
    if (fd == -1 || (wt->on && wt->events == events))
        return 0;
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(epfd, wt->on ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) ==
        -1) {
        msg_error("epoll_ctl on fd %d: %s", fd, strerror(errno));
        return -1;
    }
    wt->on = 1;
    wt->events = events;
    return 0;
}

void watch_forget(struct watch *wt, int fd)
{
    if (!wt->on || fd == -1)
        return;
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == -1)
        msg_error("epoll_ctl DEL fd %d: %s", fd, strerror(errno));
    wt->on = 0;
    wt->events = 0;
}

int watch_wait(struct epoll_event *events, int max, int timeout_ms)
{
    int n = epoll_wait(epfd, events, max, timeout_ms);
    if (n == -1 && errno != EINTR)
        msg_fatal("epoll_wait: %s", strerror(errno));
    return n < 0 ? 0 : n;
}
