/*
 * stats.c - request statistics of the multiplexor.
 *
 * Per stage: a count per outcome and a latency histogram (microseconds,
 * four buckets per power of two, so a percentile is within ~19%), kept
 * since start and in one slot per second for the last 300 seconds, from
 * which the 10 s, 1 min and 5 min windows are summed when asked.
 *
 * A leaf: the clients record outcomes, control asks for a rendering and
 * passes the gauges of the pool, queue and outbox (stats.h) it shows too.
 */
#include "stats.h"
#include "xmalloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 112          /* 4 per power of two, up to 2^28 us */
#define SLOTS 300

struct stage_stats {
    uint64_t outcomes[ACT_COUNT];
    uint64_t latency_sum_us;
    uint64_t hist[BUCKETS];
};

struct slot {
    int64_t second;
    struct stage_stats stages[STAGE_COUNT];
};

static struct stage_stats since_start[STAGE_COUNT];
static struct slot slots[SLOTS];

static int bucket_of(int64_t us)
{
    if (us < 1)
        us = 1;
    int b = (int)(4.0 * log2((double)us));
    return b < 0 ? 0 : b >= BUCKETS ? BUCKETS - 1 : b;
}

/* The upper edge of a bucket, in milliseconds. */
static double bucket_ms(int b) { return pow(2.0, (b + 1) / 4.0) / 1000.0; }

const char *const stats_state_names[STATS_STATES] = {"starting", "idle",
                                                      "busy", "retiring"};

static void stage_add(struct stage_stats *st, enum mlm_action action,
                      int64_t us)
{
    st->outcomes[action]++;
    st->latency_sum_us += (uint64_t)(us > 0 ? us : 0);
    st->hist[bucket_of(us)]++;
}

void stats_record(enum mlm_stage stage, enum mlm_action action,
                  int64_t latency_us, int64_t now)
{
    if ((unsigned)stage >= STAGE_COUNT || (unsigned)action >= ACT_COUNT)
        return;
    int64_t second = now / 1000;
    struct slot *sl = &slots[second % SLOTS];
    if (sl->second != second) {
        memset(sl, 0, sizeof *sl);
        sl->second = second;
    }
    stage_add(&since_start[stage], action, latency_us);
    stage_add(&sl->stages[stage], action, latency_us);
}

/* Sum the slots of the last `seconds` seconds into out. */
static void window_sum(struct stage_stats out[STAGE_COUNT], int seconds,
                       int64_t now)
{
    int64_t second = now / 1000;
    memset(out, 0, sizeof(struct stage_stats) * STAGE_COUNT);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].second <= second - seconds || slots[i].second > second)
            continue;
        for (int s = 0; s < STAGE_COUNT; s++) {
            const struct stage_stats *in = &slots[i].stages[s];
            for (int a = 0; a < ACT_COUNT; a++)
                out[s].outcomes[a] += in->outcomes[a];
            out[s].latency_sum_us += in->latency_sum_us;
            for (int b = 0; b < BUCKETS; b++)
                out[s].hist[b] += in->hist[b];
        }
    }
}

static uint64_t stage_requests(const struct stage_stats *st)
{
    uint64_t n = 0;
    for (int a = 0; a < ACT_COUNT; a++)
        n += st->outcomes[a];
    return n;
}

static double stage_percentile(const struct stage_stats *st, double q)
{
    uint64_t total = stage_requests(st), seen = 0;
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)total);
    for (int b = 0; b < BUCKETS; b++) {
        seen += st->hist[b];
        if (seen >= rank)
            return bucket_ms(b);
    }
    return bucket_ms(BUCKETS - 1);
}

static double stage_avg(const struct stage_stats *st)
{
    uint64_t n = stage_requests(st);
    return n ? (double)st->latency_sum_us / 1000.0 / (double)n : 0;
}

/* A growing string for the renderers. */
struct out {
    char *s;
    size_t len, cap;
};

static void out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        o->s = xrealloc(o->s, o->cap);
    }
}

static void json_stage(struct out *o, const struct stage_stats *st)
{
    out_printf(o, "{\"requests\": %llu", (unsigned long long)stage_requests(st));
    for (int a = 0; a < ACT_COUNT; a++)
        out_printf(o, ", \"%s\": %llu", action_name(a),
                   (unsigned long long)st->outcomes[a]);
    out_printf(o, ", \"latency_ms\": {\"avg\": %.3f, \"p50\": %.3f, "
                  "\"p99\": %.3f}}",
               stage_avg(st), stage_percentile(st, 0.5),
               stage_percentile(st, 0.99));
}

static void json_stages(struct out *o, const struct stage_stats *sts)
{
    for (int s = 0; s < STAGE_COUNT; s++) {
        out_printf(o, "%s\"%s\": ", s ? ", " : "", stage_name(s));
        json_stage(o, &sts[s]);
    }
}

static const struct {
    const char *name;
    int seconds;
} windows[] = {{"10s", 10}, {"1m", 60}, {"5m", 300}};

static void render_json(struct out *o, const struct stats_gauges *g,
                        int64_t now)
{
    struct stage_stats win[STAGE_COUNT];
    out_printf(o, "{");
    json_stages(o, since_start);
    out_printf(o, ", \"windows\": {");
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        window_sum(win, windows[i].seconds, now);
        out_printf(o, "%s\"%s\": {", i ? ", " : "", windows[i].name);
        json_stages(o, win);
        out_printf(o, "}");
    }
    out_printf(o, "}, \"workers\": {\"total\": %d, \"idle\": %d, "
                  "\"busy\": %d, \"starting\": %d, \"started\": %llu, "
                  "\"forked\": %llu, \"exited\": %llu, \"generation\": %u}",
               g->workers, g->by_state[STATS_IDLE], g->by_state[STATS_BUSY],
               g->by_state[STATS_STARTING], g->started, g->forked, g->exited,
               g->generation);
    out_printf(o, ", \"queue\": {\"depth\": %d, \"max\": %d}",
               g->queue_depth, g->queue_max);
    /* pid 0: none runs; ready: its first word came, it forks workers */
    out_printf(o, ", \"fork_server\": {\"pid\": %ld, \"ready\": %s}",
               g->fork_server_pid, g->fork_server_ready ? "true" : "false");
    out_printf(o, ", \"outbox\": {\"waiting\": %ld, \"failed\": %ld}",
               g->outbox_waiting, g->outbox_failed);
    out_printf(o, ", \"uptime_s\": %lld}\n", g->uptime_s);
}

static void render_prometheus(struct out *o, const struct stats_gauges *g)
{
    out_printf(o, "# HELP mlm_requests_total Requests answered, by stage "
                  "and outcome.\n# TYPE mlm_requests_total counter\n");
    for (int s = 0; s < STAGE_COUNT; s++)
        for (int a = 0; a < ACT_COUNT; a++)
            out_printf(o, "mlm_requests_total{stage=\"%s\",outcome=\"%s\"} "
                          "%llu\n", stage_name(s), action_name(a),
                       (unsigned long long)since_start[s].outcomes[a]);
    out_printf(o, "# HELP mlm_request_latency_ms Request latency since "
                  "start.\n# TYPE mlm_request_latency_ms summary\n");
    for (int s = 0; s < STAGE_COUNT; s++) {
        const struct stage_stats *st = &since_start[s];
        out_printf(o, "mlm_request_latency_ms{stage=\"%s\",quantile=\"0.5\"} "
                      "%.3f\n", stage_name(s), stage_percentile(st, 0.5));
        out_printf(o, "mlm_request_latency_ms{stage=\"%s\",quantile=\"0.99\"} "
                      "%.3f\n", stage_name(s), stage_percentile(st, 0.99));
        out_printf(o, "mlm_request_latency_ms_sum{stage=\"%s\"} %.3f\n",
                   stage_name(s), (double)st->latency_sum_us / 1000.0);
        out_printf(o, "mlm_request_latency_ms_count{stage=\"%s\"} %llu\n",
                   stage_name(s), (unsigned long long)stage_requests(st));
    }
    out_printf(o, "# TYPE mlm_workers gauge\n");
    for (int state = 0; state < STATS_STATES; state++)
        out_printf(o, "mlm_workers{state=\"%s\"} %d\n",
                   stats_state_names[state], g->by_state[state]);
    out_printf(o, "# TYPE mlm_worker_starts_total counter\n"
                  "mlm_worker_starts_total %llu\n"
                  "# TYPE mlm_worker_exits_total counter\n"
                  "mlm_worker_exits_total %llu\n"
                  "# TYPE mlm_queue_depth gauge\nmlm_queue_depth %d\n",
               g->started, g->exited, g->queue_depth);
}

static void text_block(struct out *o, const char *title,
                       const struct stage_stats *sts)
{
    out_printf(o, "%-8s %-10s %9s %9s %8s %8s %9s %8s %7s %9s %9s %9s\n",
               title, "stage", "requests", "continue", "accept", "reject",
               "tempfail", "discard", "failed", "avg_ms", "p50_ms", "p99_ms");
    for (int s = 0; s < STAGE_COUNT; s++) {
        const struct stage_stats *st = &sts[s];
        const uint64_t *n = st->outcomes;
        out_printf(o, "%-8s %-10s %9llu %9llu %8llu %8llu %9llu %8llu %7llu "
                      "%9.3f %9.3f %9.3f\n", "", stage_name(s),
                   (unsigned long long)stage_requests(st),
                   (unsigned long long)n[ACT_CONTINUE],
                   (unsigned long long)n[ACT_ACCEPT],
                   (unsigned long long)n[ACT_REJECT],
                   (unsigned long long)n[ACT_TEMPFAIL],
                   (unsigned long long)n[ACT_DISCARD],
                   (unsigned long long)n[ACT_FAILED], stage_avg(st),
                   stage_percentile(st, 0.5), stage_percentile(st, 0.99));
    }
}

static void render_text(struct out *o, const struct stats_gauges *g,
                        int64_t now)
{
    struct stage_stats win[STAGE_COUNT];
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        window_sum(win, windows[i].seconds, now);
        text_block(o, windows[i].name, win);
    }
    text_block(o, "total", since_start);
    out_printf(o, "workers: %d (idle %d, busy %d, starting %d); started %llu, "
                  "exited %llu (%llu started by the fork server); "
                  "generation %u\nqueue: %d waiting (max %d)\n",
               g->workers, g->by_state[STATS_IDLE], g->by_state[STATS_BUSY],
               g->by_state[STATS_STARTING], g->started, g->exited, g->forked,
               g->generation, g->queue_depth, g->queue_max);
}

char *stats_render(enum mlm_stats_format format, const struct stats_gauges *g,
                   int64_t now)
{
    struct out o = {xmalloc(4096), 0, 4096};
    o.s[0] = '\0';
    switch (format) {
    case STATS_JSON: render_json(&o, g, now); break;
    case STATS_PROMETHEUS: render_prometheus(&o, g); break;
    default: render_text(&o, g, now); break;
    }
    return o.s;
}
