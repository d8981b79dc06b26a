/*
 * mux.h - the top of mlm-multiplexor: its connections (clients.c) and the
 * control commands (control.c) over the layers below, all run by the one
 * event loop in main.c.
 *
 *   main.c                  options, sockets, signals, the loop's rounds
 *   control.c, clients.c    commands from mlm-ctl; connections of mlmd
 *                           and mlm-ctl (clients.c does not call control.c:
 *                           main hands it the command handler)
 *   queue.c, stats.c        requests waiting for a worker; statistics
 *   pool.c, drainer.c       the workers; the outbox drainer
 *   zygote.c                the worker fork server
 *   spawn.c                 fork and exec mlm-worker
 *   loop.c                  epoll: a callback and a context per fd
 *
 * Each file calls only the layers below it (tests/doc/layers.sh checks);
 * the pool reports upward through struct pool_events.
 *
 * A request travels: client (mlmd) -> queue -> idle worker -> reply ->
 * client. The multiplexor relays request and reply frames without decoding
 * them; it reads only the fixed payload header (stage, action) and stamps
 * the current policy's stage mask into the reply's flags byte, so mlmd
 * learns of a reload that changed the stages.
 */
#ifndef MLM_MUX_H
#define MLM_MUX_H

#include "drainer.h"
#include "loop.h"
#include "mlmconf.h"
#include "pool.h"
#include "proto.h"
#include "queue.h"
#include "spawn.h"

#include <stdint.h>
#include <sys/types.h>

enum client_kind { CLIENT_MLMD, CLIENT_CTL };

struct mux;

struct client {
    struct mux *mx;              /* its owner */
    int fd;
    enum client_kind kind;
    uid_t uid;                   /* the peer (SO_PEERCRED), for ctl checks */
    struct mlm_buf in;
    struct mlm_buf out;
    struct job job;              /* its request, waiting or being served */
    int closing;                 /* close once out is flushed */
    int reload_waiting;          /* ctl: answer when the reload ends */
    struct loop_fd watch;
    struct client *next;
};

/* A control frame from mlm-ctl (main sets control_command). */
typedef void (*control_fn)(struct mux *mx, struct client *c,
                           const uint8_t *payload, size_t len);

struct mux {
    const struct mlm_config *cfg;
    struct spawn_args spawn;
    uid_t own_uid;
    struct pool pool;
    struct queue queue;
    struct drainer drainer;
    struct client *clients;
    control_fn control;
    struct loop_fd signal_watch;     /* the signalfd */
    struct loop_fd mx_listen_watch;  /* mx_socket: left when stopping */
    struct loop_fd ctl_listen_watch; /* ctl_socket */
    int stopping;
    int64_t stop_deadline_ms;
    int64_t started_ms;
};

/* clients.c */
/* Accept a connection on listen_fd and watch it. */
void client_accept(struct mux *mx, int listen_fd, enum client_kind kind);
/* Queue b (a frame) for the client and write what the socket takes. */
void client_send(struct client *c, const struct mlm_buf *b);
/* Answer the client's request with ACT_FAILED: mlmd applies
 * failure_action. */
void client_fail(struct client *c, const char *why);
/* The pool's events, for main to register. */
void clients_job_replied(void *ctx, void *job, uint8_t *frame, size_t len,
                         uint8_t action);
void clients_job_failed(void *ctx, void *job, const char *why);
/* Requests that waited longer than queue_timeout fail. */
void clients_queue_tick(struct mux *mx);
/* Free clients that are closing and have nothing left to send. */
void clients_reap(struct mux *mx);

/* control.c */
void control_command(struct mux *mx, struct client *c, const uint8_t *payload,
                     size_t len);
/* The pool's reload_done event: every mlm-ctl waiting learns how it ended. */
void control_reload_done(void *ctx, int ok, const char *text);

#endif
