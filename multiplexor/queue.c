/*
 * queue.c - the FIFO of requests waiting for an idle worker (queue.h).
 * Between the clients, which push and drop jobs, and the pool, which
 * takes them one per idle worker.
 */
#include "queue.h"

void queue_push(struct queue *q, struct job *j)
{
    j->next = NULL;
    j->state = JOB_QUEUED;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->len++;
}

static struct job *queue_pop(struct queue *q)
{
    struct job *j = q->head;
    if (j) {
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->len--;
        j->next = NULL;
        j->state = JOB_NONE;
    }
    return j;
}

static void queue_remove(struct queue *q, struct job *gone)
{
    struct job **pp = &q->head, *prev = NULL;
    while (*pp && *pp != gone)
        prev = *pp, pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    *pp = gone->next;
    if (q->tail == gone)
        q->tail = prev;
    q->len--;
    gone->next = NULL;
    gone->state = JOB_NONE;
}

struct job *queue_expired(struct queue *q, int64_t limit_us)
{
    if (q->head && now_us() - q->head->queued_us > limit_us)
        return queue_pop(q);
    return NULL;
}

void queue_dispatch(struct queue *q, struct pool *p)
{
    while (q->head && pool_has_idle(p)) {
        struct job *j = queue_pop(q);
        j->state = JOB_AT_WORKER;
        /* a write error fails it at once, through the pool's events */
        pool_send(p, j, j->request.data, j->request.len, j->stage);
    }
}

void job_drop(struct queue *q, struct pool *p, struct job *j)
{
    if (j->state == JOB_QUEUED)
        queue_remove(q, j);
    else if (j->state == JOB_AT_WORKER)
        pool_job_drop(p, j);
    j->state = JOB_NONE;
}
