/*
 * mlm-bench-stats.c - the latency histograms, the per-thread statistics
 * merged into one, and the report printed from them: human-readable lines,
 * then "RESULT key=value ..." for scripts (the keys are in usage()).
 */
#include "mlm-bench.h"

#include <stdio.h>

const char *const lat_names[LAT__COUNT] = {
    "optneg", "connect", "helo", "mail", "rcpt", "data",
    "header", "eoh", "body", "eom", "tx"};

static const char *const outcome_names[OUT__COUNT] = {
    "continue", "accept", "reject", "tempfail", "discard", "errors"};

/* ---------------------------------------------------------------------- */
/* Latency histograms (struct hist in mlm-bench.h)                        */
/* ---------------------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* >= SUB_BITS + 1 */
    unsigned shift = e - HIST_SUB_BITS;
    unsigned idx = 2 * HIST_SUB + (e - HIST_SUB_BITS - 1) * HIST_SUB +
                   (unsigned)((v >> shift) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The middle of a bucket, in microseconds. */
static double hist_value(unsigned idx)
{
    if (idx < 2 * HIST_SUB)
        return idx;
    unsigned rel = idx - 2 * HIST_SUB;
    unsigned e = rel / HIST_SUB + HIST_SUB_BITS + 1;
    unsigned shift = e - HIST_SUB_BITS;
    double lo = (double)((uint64_t)(HIST_SUB + rel % HIST_SUB) << shift);
    return lo + (double)((uint64_t)1 << shift) / 2.0;
}

/* Count one sample of us microseconds. */
void hist_add(struct hist *h, int64_t us)
{
    uint64_t v = us < 0 ? 0 : (uint64_t)us;
    h->n++;
    h->sum_us += v;
    if (v > h->max_us)
        h->max_us = v;
    h->bucket[hist_index(v)]++;
}

/* Add a thread's histogram to the total. */
static void hist_merge(struct hist *into, const struct hist *from)
{
    into->n += from->n;
    into->sum_us += from->sum_us;
    if (from->max_us > into->max_us)
        into->max_us = from->max_us;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
}

/* The q-quantile (0..1) in milliseconds. */
static double hist_quantile_ms(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            double v = hist_value(i);
            if (v > (double)h->max_us)
                v = (double)h->max_us;
            return v / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* Add a thread's statistics to the total. */
void stats_merge(struct stats *into, const struct stats *from)
{
    for (int l = 0; l < LAT__COUNT; l++) {
        hist_merge(&into->lat[l], &from->lat[l]);
        into->sent_steps[l] += from->sent_steps[l];
    }
    for (int k = 0; k < OUT__COUNT; k++)
        into->outcome[k] += from->outcome[k];
    for (int k = 0; k < 256; k++)
        into->action_kind[k] += from->action_kind[k];
    into->actions += from->actions;
    into->rcpt_added += from->rcpt_added;
    into->rcpt_rejected += from->rcpt_rejected;
    into->body_skipped += from->body_skipped;
    into->connections += from->connections;
}

/* ---------------------------------------------------------------------- */
/* Report                                                                  */
/* ---------------------------------------------------------------------- */

/* One line naming the bits of v that are set. */
static void flags_print(const char *label, uint32_t v,
                        const uint32_t *bits, const char *const *names,
                        size_t n)
{
    printf("%s", label);
    int any = 0;
    for (size_t i = 0; i < n; i++)
        if (v & bits[i]) {
            printf("%s%s", any ? "," : " ", names[i]);
            any = 1;
        }
    printf("%s\n", any ? "" : " none");
}

/* What the first negotiation settled, decoded. */
static void negotiation_print(void)
{
    static const uint32_t skip_bits[] = {
        SMFIP_NOCONNECT, SMFIP_NOHELO, SMFIP_NOMAIL, SMFIP_NORCPT,
        SMFIP_NODATA, SMFIP_NOHDRS, SMFIP_NOEOH, SMFIP_NOBODY,
        SMFIP_NOUNKNOWN};
    static const char *const skip_names[] = {
        "connect", "helo", "mail", "rcpt", "data", "headers", "eoh", "body",
        "unknown"};
    static const uint32_t nr_bits[] = {
        SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT,
        SMFIP_NR_DATA, SMFIP_NR_HDR, SMFIP_NR_EOH, SMFIP_NR_BODY,
        SMFIP_NR_UNKN};
    static const uint32_t other_bits[] = {
        SMFIP_SKIP, SMFIP_RCPT_REJ, SMFIP_HDR_LEADSPC};
    static const char *const other_names[] = {
        "skip", "rcpt_rej", "hdr_leadspc"};
    static const uint32_t act_bits[] = {
        SMFIF_ADDHDRS, SMFIF_CHGHDRS, SMFIF_CHGBODY, SMFIF_ADDRCPT,
        SMFIF_ADDRCPT_PAR, SMFIF_DELRCPT, SMFIF_CHGFROM, SMFIF_QUARANTINE,
        SMFIF_SETSYMLIST};
    static const char *const act_names[] = {
        "addhdrs", "chghdrs", "chgbody", "addrcpt", "addrcpt_par", "delrcpt",
        "chgfrom", "quarantine", "setsymlist"};
    if (!nego_seen) {
        printf("negotiation: never completed\n");
        return;
    }
    printf("negotiated: version %u, actions 0x%x, protocol 0x%x\n",
           nego_version, nego_actions, nego_pflags);
    flags_print("  actions:", nego_actions, act_bits, act_names, 9);
    flags_print("  skipped steps:", nego_pflags, skip_bits, skip_names, 9);
    flags_print("  steps without reply:", nego_pflags, nr_bits, skip_names,
                9);
    flags_print("  other:", nego_pflags, other_bits, other_names, 3);
}

/* The human-readable summary, then the RESULT line. */
void report(const struct stats *t, double seconds)
{
    long tx = opt.transactions;
    double rate = seconds > 0 ? (double)tx / seconds : 0;
    negotiation_print();
    printf("elapsed %.3f s: %ld transactions, %.1f tx/s, %llu milter "
           "connections\n", seconds, tx, rate,
           (unsigned long long)t->connections);
    printf("outcomes:");
    for (int o = 0; o < OUT__COUNT; o++)
        printf(" %s %llu", outcome_names[o],
               (unsigned long long)t->outcome[o]);
    printf("\n");
    printf("recipients refused %llu; body chunks skipped %llu\n",
           (unsigned long long)t->rcpt_rejected,
           (unsigned long long)t->body_skipped);
    printf("actions %llu:", (unsigned long long)t->actions);
    static const struct { char c; const char *name; } kinds[] = {
        {SMFIR_ADDHEADER, "addheader"}, {SMFIR_INSHEADER, "insheader"},
        {SMFIR_CHGHEADER, "chgheader"}, {SMFIR_ADDRCPT, "addrcpt"},
        {SMFIR_ADDRCPT_PAR, "addrcpt_par"}, {SMFIR_DELRCPT, "delrcpt"},
        {SMFIR_CHGFROM, "chgfrom"}, {SMFIR_REPLBODY, "replbody"},
        {SMFIR_QUARANTINE, "quarantine"}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (t->action_kind[(unsigned char)kinds[i].c])
            printf(" %s %llu", kinds[i].name, (unsigned long long)
                   t->action_kind[(unsigned char)kinds[i].c]);
    printf("\n");
    printf("%-8s %10s %10s %9s %9s %9s %9s\n", "step", "sent", "replies",
           "avg_ms", "p50_ms", "p99_ms", "max_ms");
    for (int l = 0; l < LAT__COUNT; l++) {
        const struct hist *h = &t->lat[l];
        uint64_t sent = l == LAT_TX ? (uint64_t)tx : t->sent_steps[l];
        if (sent == 0 && h->n == 0)
            continue;
        if (h->n == 0) {
            printf("%-8s %10llu %10s   (the milter sends no reply)\n",
                   lat_names[l], (unsigned long long)sent, "-");
            continue;
        }
        printf("%-8s %10llu %10llu %9.3f %9.3f %9.3f %9.3f\n", lat_names[l],
               (unsigned long long)sent, (unsigned long long)h->n,
               (double)h->sum_us / (double)h->n / 1000.0,
               hist_quantile_ms(h, 0.50), hist_quantile_ms(h, 0.99),
               (double)h->max_us / 1000.0);
    }
    printf("RESULT tx=%ld seconds=%.3f tx_per_s=%.1f", tx, seconds, rate);
    for (int l = 0; l < LAT__COUNT; l++)
        if (t->lat[l].n)
            printf(" %s_p50_ms=%.3f %s_p99_ms=%.3f", lat_names[l],
                   hist_quantile_ms(&t->lat[l], 0.50), lat_names[l],
                   hist_quantile_ms(&t->lat[l], 0.99));
    for (int o = 0; o < OUT__COUNT; o++)
        printf(" %s=%llu", outcome_names[o],
               (unsigned long long)t->outcome[o]);
    printf(" actions=%llu rcpt_added=%llu rcpt_rejected=%llu\n",
           (unsigned long long)t->actions,
           (unsigned long long)t->rcpt_added,
           (unsigned long long)t->rcpt_rejected);
}
