/*
 * queue.h - the requests waiting for an idle worker (queue.c), first in
 * first out, and their hand-over to the pool. A job is one request of a
 * client: the layer above embeds it in its client and knows the rest.
 */
#ifndef MLM_MUX_QUEUE_H
#define MLM_MUX_QUEUE_H

#include "pool.h"

#include <stdint.h>

enum job_state {
    JOB_NONE,                    /* no request in flight */
    JOB_QUEUED,                  /* waiting for an idle worker */
    JOB_AT_WORKER,               /* sent to a worker, reply not yet come */
};

struct job {
    enum job_state state;
    struct mlm_buf request;      /* the frame */
    uint8_t stage;
    int64_t queued_us;           /* when it came, for latency */
    struct job *next;            /* JOB_QUEUED: the next in the queue */
};

struct queue {
    struct job *head, *tail;
    int len;
};

void queue_push(struct queue *q, struct job *j);
/* The oldest job waiting longer than limit_us, taken off the queue (its
 * state JOB_NONE), or NULL. */
struct job *queue_expired(struct queue *q, int64_t limit_us);
/* Hand waiting jobs to idle workers, oldest first. */
void queue_dispatch(struct queue *q, struct pool *p);
/* The job's client is gone: off the queue, or its reply dropped. */
void job_drop(struct queue *q, struct pool *p, struct job *j);

#endif
