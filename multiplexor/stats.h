/*
 * stats.h - request statistics (stats.c): outcomes and latencies per
 * stage, since start and over the last 10 s, 1 min and 5 min, rendered
 * as text, JSON or Prometheus with the gauges the caller passes.
 */
#ifndef MLM_MUX_STATS_H
#define MLM_MUX_STATS_H

#include "proto.h"

#include <stdint.h>

/* The worker states the statistics count, in the pool's order. */
enum { STATS_STARTING, STATS_IDLE, STATS_BUSY, STATS_RETIRING, STATS_STATES };
extern const char *const stats_state_names[STATS_STATES];

/* What the rest of the multiplexor shows beside the statistics. */
struct stats_gauges {
    int workers;                 /* not closed, every generation */
    int by_state[STATS_STATES];  /* of the serving generation */
    unsigned long long started, forked, exited;
    unsigned generation;
    int queue_depth, queue_max;
    long fork_server_pid;        /* 0: none runs */
    int fork_server_ready;
    long outbox_waiting, outbox_failed;
    long long uptime_s;
};

void stats_record(enum mlm_stage stage, enum mlm_action action,
                  int64_t latency_us, int64_t now_ms);
/* Render statistics in a format (text for one out of range); the caller
 * frees the text. */
char *stats_render(enum mlm_stats_format format, const struct stats_gauges *g,
                   int64_t now);

#endif
