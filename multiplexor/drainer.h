/*
 * drainer.h - the outbox drainer, `mlm-worker -O` (drainer.c): run one at a
 * time, outside every request, when mail is waiting in the outbox
 * (common/outbox.h). Beside the pool, below main: it knows no worker.
 */
#ifndef MLM_MUX_DRAINER_H
#define MLM_MUX_DRAINER_H

#include "mlmconf.h"

#include <stdint.h>
#include <sys/types.h>

struct spawn_args;

struct drainer {
    const struct mlm_config *cfg;
    const struct spawn_args *args;
    pid_t pid;                   /* the drainer running, or 0 */
    int64_t since_ms;            /* when it started */
    int killed;                  /* it outlived its limit and was killed */
    int wanted;                  /* a worker left mail: drain at once */
    int64_t check_ms;            /* when to look for mail waiting */
};

/* A worker left mail in the outbox. */
void drainer_kick(struct drainer *d);
/* Start one when wanted or mail waits; kill one that runs too long. */
void drainer_tick(struct drainer *d, int64_t now, int stopping);
/* A child exited: 1 if it was the drainer. */
int drainer_exited(struct drainer *d, pid_t pid, int status);

#endif
