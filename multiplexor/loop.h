/*
 * loop.h - the multiplexor's event loop (loop.c): one epoll set, and per
 * descriptor a callback and its context, run when the descriptor is
 * ready. The bottom layer: it knows no worker, client or request.
 *
 * A struct loop_fd lives inside its owner (a worker, a client, the fork
 * server), and the owner is freed only after the round of callbacks that
 * may name it; loop_forget comes before close.
 */
#ifndef MLM_MUX_LOOP_H
#define MLM_MUX_LOOP_H

#include "sockio.h"

#include <stdint.h>
#include <sys/epoll.h>

/* Callbacks run in rounds: every LOOP_FIRST one of a wakeup before every
 * LOOP_NEXT one, and those before LOOP_LAST. */
enum loop_order { LOOP_FIRST, LOOP_NEXT, LOOP_LAST, LOOP_ORDERS };

typedef void (*loop_fn)(void *ctx, uint32_t events);

struct loop_fd {
    int fd;
    loop_fn fn;
    void *ctx;
    enum loop_order order;
    uint32_t events;             /* EPOLLIN, EPOLLOUT as registered */
    int on;                      /* in the set */
};

/* Once per process, in the process that runs the loop. */
void loop_open(void);
/* Watch fd for events, calling fn(ctx, events) when ready: 0, or -1. */
int loop_watch(struct loop_fd *lf, int fd, uint32_t events, loop_fn fn,
               void *ctx, enum loop_order order);
/* Change what a watched fd waits for: 0, or -1. */
int loop_want(struct loop_fd *lf, uint32_t events);
/* Stop watching (before the fd is closed); nothing if not watched. */
void loop_forget(struct loop_fd *lf);
/* Wait up to timeout_ms and run the callbacks of what is ready. */
void loop_run_once(int timeout_ms);

/* Non-blocking write of as much of b as the socket takes. -1 on error. */
int fd_flush(int fd, struct mlm_buf *b);
/* Read what is there into b. 0 ok, -1 EOF or error. */
int fd_fill(int fd, struct mlm_buf *b);

#endif
