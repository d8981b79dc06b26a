/*
 * pool.h - the mlm-worker processes (pool.c): start them (spawn.c, or the
 * fork server, zygote.c), hand each a request, collect its reply, replace
 * the dead, time out the stuck, retire the old.
 *
 * The pool relays request and reply frames without decoding them. It
 * knows nothing of clients or the queue above it: a request comes with an
 * opaque job pointer, and what becomes of it (replied, failed) goes back
 * up through the events the upper layer registers (Postfix's master
 * reports upward the same way).
 */
#ifndef MLM_MUX_POOL_H
#define MLM_MUX_POOL_H

#include "loop.h"
#include "mlmconf.h"
#include "proto.h"
#include "spawn.h"
#include "zygote.h"

#include <stdint.h>
#include <sys/types.h>

/* The worker's service over its socket. */
enum worker_state {
    W_STARTING,   /* loading the policy: no READY yet */
    W_IDLE,       /* ready, no request */
    W_BUSY,       /* serving a request */
    W_RETIRING,   /* serving its last request, then it is closed */
    W_CLOSED,     /* its socket is closed: it serves no more */
    W_STATES
};

/* The worker's process, apart from its socket. */
enum worker_proc {
    PROC_OWED,    /* through the fork server, which has yet to tell its pid */
    PROC_RUNNING, /* pid known, not yet collected */
    PROC_UNKNOWN, /* pid never told (fork server lost): cannot be waited for
                     by pid; counted as exited when the worker is freed */
    PROC_EXITED,  /* collected, or never forked */
};

struct pool;

struct worker {
    struct pool *pool;           /* its owner */
    int id;
    pid_t pid;                   /* 0 unless PROC_RUNNING */
    int fd;                      /* -1 once W_CLOSED */
    enum worker_state state;
    enum worker_proc proc;
    unsigned generation;
    int reload_probe;            /* started to check a new policy */
    uint32_t stages;
    unsigned requests;
    int64_t started_ms;
    int64_t state_since_ms;
    int64_t request_since_ms;    /* when its current request was sent */
    int64_t kill_at_ms;          /* SIGKILL due after SIGTERM, 0: none */
    int successor_id;            /* started to take over from this one */
    int replaces_id;             /* the worker this one takes over from */
    void *job;                   /* the request being served, or NULL */
    uint8_t stage;
    struct mlm_buf in;
    struct mlm_buf out;
    struct loop_fd watch;
    struct worker *next;
};

/* What becomes of requests and reloads, told to the layer above. */
struct pool_events {
    void *ctx;
    /* The job's reply frame (len bytes, writable), its action. */
    void (*replied)(void *ctx, void *job, uint8_t *frame, size_t len,
                    uint8_t action);
    /* The job gets no reply from a worker: why. */
    void (*failed)(void *ctx, void *job, const char *why);
    /* A reload ended: ok, and a text for whoever asked. */
    void (*reload_done)(void *ctx, int ok, const char *text);
    /* A worker's reply said mail went to the outbox. */
    void (*outbox_mail)(void *ctx);
};

struct pool {
    const struct mlm_config *cfg;
    struct spawn_args spawn;
    struct pool_events events;
    struct zygote zygote;
    struct worker *workers;
    unsigned generation;         /* the serving generation */
    unsigned last_generation;    /* the newest started, maybe a probe */
    uint32_t stages;             /* its policy's stage mask */
    int next_worker_id;
    int64_t next_start_ms;       /* pacing after failed starts */
    int start_failures;
    int stopping;                /* no more starts */
    unsigned long long started;  /* workers started, ever */
    unsigned long long exited;   /* and gone */
};

/* Before anything else: no worker, no fork server yet. */
void pool_init(struct pool *p, const struct mlm_config *cfg,
               const struct spawn_args *spawn,
               const struct pool_events *events);
/* Start using the fork server (in the process that stays). */
void pool_fork_server_init(struct pool *p);
/* Start the worker that loads the policy first; NULL on failure. */
struct worker *pool_probe_start(struct pool *p);
/* Give a job to an idle worker of the serving generation: 0, or -1 when
 * none is idle. A write error fails the job through the events. */
int pool_send(struct pool *p, void *job, const uint8_t *frame, size_t len,
              uint8_t stage);
int pool_has_idle(const struct pool *p);
/* The job's client is gone: its reply, when it comes, is dropped. */
void pool_job_drop(struct pool *p, void *job);
/* Keep the pool between workers_min and workers_max, enforce timeouts;
 * waiting: requests queued for a worker. */
void pool_tick(struct pool *p, int64_t now, int waiting);
/* A child exited: 1 if it was a worker or the fork server. */
int pool_child_exited(struct pool *p, pid_t pid, int status);
/* Free the workers that are closed and whose process is gone. */
void pool_reap(struct pool *p);
/* Check the policy on disk in a fresh worker, then switch to it: 0 (the
 * end comes through reload_done), or -1 when no worker could start. */
int pool_reload(struct pool *p);
/* Take no more requests: idle workers leave, busy ones after their reply. */
void pool_stop(struct pool *p);
/* Close every worker and wait for its exit (before the daemon's fork:
 * workers must be the daemon's children). */
void pool_abandon(struct pool *p);
/* Workers in state of the serving generation; state -1: all not closed. */
int workers_count(const struct pool *p, int state);
/* Workers with a request in hand. */
int pool_busy(const struct pool *p);
const char *worker_state_name(enum worker_state s);

#endif
