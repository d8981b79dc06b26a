/*
 * mlm-bench.h - internals shared by the mlm-bench*.c files. Not for other
 * programs.
 *
 * mlm-bench.c is the driver (options, threads, the report's start and end);
 * mlm-bench-setup.c turns the options into the socket address and the
 * message template; mlm-bench-conn.c is the milter connection (packets
 * built and buffered out, parsed in); mlm-bench-milter.c speaks the
 * protocol over it (negotiation, sessions, transactions, replies checked
 * as an MTA would); mlm-bench-stats.c holds the latency histograms, the
 * per-thread statistics and the report printed from them.
 */
#ifndef MLM_BENCH_H
#define MLM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

/* ---------------------------------------------------------------------- */
/* Stages, latency slots and outcomes                                      */
/* ---------------------------------------------------------------------- */

/* What --stages selects: the SMTP commands whose milter steps are sent. */
enum smtp_stage { SS_CONNECT, SS_HELO, SS_MAIL, SS_RCPT, SS_DATA, SS__COUNT };
extern const char *const smtp_stage_names[SS__COUNT];
#define SS_BIT(s) (1u << (s))
#define SS_ALL ((1u << SS__COUNT) - 1)

/* One latency histogram per milter command (and per transaction). */
enum lat_slot {
    LAT_OPTNEG, LAT_CONNECT, LAT_HELO, LAT_MAIL, LAT_RCPT, LAT_DATA,
    LAT_HEADER, LAT_EOH, LAT_BODY, LAT_EOM, LAT_TX, LAT__COUNT
};
extern const char *const lat_names[LAT__COUNT];

enum outcome {
    OUT_CONTINUE, OUT_ACCEPT, OUT_REJECT, OUT_TEMPFAIL, OUT_DISCARD,
    OUT_ERROR, OUT__COUNT
};

/* ---------------------------------------------------------------------- */
/* Options and the message template (read-only once threads start)        */
/* ---------------------------------------------------------------------- */

struct header {
    char *name;
    char *raw_value;   /* everything after the colon, leading space kept */
};

struct bench_opts {
    const char *socket_spec;
    int concurrency;
    long transactions;
    size_t body_size;
    int recipients;
    const char *first_rcpt;
    const char *sender;
    const char *header_file;
    const char *message_file;
    unsigned stages;
    int timeout_s;
    int reuse;
    const char *client_ip;
    const char *client_name;
    const char *helo;
    int nagle;
};

struct target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
    int is_unix;
};

extern struct bench_opts opt;        /* mlm-bench.c */
extern struct target tgt;            /* the rest: mlm-bench-setup.c */
extern struct header *headers;       /* the fixed part of every message */
extern size_t nheaders;
extern int headers_have_msgid;
extern unsigned char *body;
extern char **rcpt_addrs;            /* "<addr>" for each RCPT */

/* Negotiation as the first connection saw it, for the report; written
 * under a lock by mlm-bench-milter.c, read after the threads end. */
extern int nego_seen;
extern uint32_t nego_version, nego_actions, nego_pflags;

/* Whether --stages selected SMTP stage s. */
static inline int stage_on(enum smtp_stage s)
{
    return (opt.stages & SS_BIT(s)) != 0;
}

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

/* A message on stderr, then exit status 2. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* Allocation failure ends the program here, not at every call site. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

static inline int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Big-endian 32-bit integers, as the protocol has them. */
static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A thread's failure: counted always, printed for the first few. */
void tx_error(long txno, const char *qid, const char *why);

/* ---------------------------------------------------------------------- */
/* Statistics (mlm-bench-stats.c)                                          */
/* ---------------------------------------------------------------------- */

/* Latency histograms: exact below 256 us, then 128 buckets per octave
 * (under 1% error), so millions of samples cost a few kilobytes. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_OCTAVES 30
#define HIST_BUCKETS (2 * HIST_SUB + HIST_OCTAVES * HIST_SUB)

struct hist {
    uint64_t n;
    uint64_t sum_us;
    uint64_t max_us;
    uint32_t bucket[HIST_BUCKETS];
};

/* Per-thread statistics, merged after the threads end. */
struct stats {
    struct hist lat[LAT__COUNT];
    uint64_t outcome[OUT__COUNT];
    uint64_t actions;          /* modification actions at end of message */
    uint64_t action_kind[256];
    uint64_t rcpt_added;
    uint64_t rcpt_rejected;    /* single RCPTs refused by the milter */
    uint64_t body_skipped;     /* SMFIR_SKIP answers to body chunks */
    uint64_t connections;
    uint64_t sent_steps[LAT__COUNT]; /* commands sent, replied to or not */
};

/* Count one sample of us microseconds. */
void hist_add(struct hist *h, int64_t us);
/* Add a thread's statistics to the total. */
void stats_merge(struct stats *into, const struct stats *from);
/* The human-readable summary, then the RESULT line. */
void report(const struct stats *t, double seconds);

/* ---------------------------------------------------------------------- */
/* The milter connection (mlm-bench-conn.c)                                */
/* ---------------------------------------------------------------------- */

enum conn_state { CS_CLOSED, CS_OPEN, CS_IN_SESSION, CS_IN_TX };

struct mconn {
    int fd;
    enum conn_state state;
    uint32_t version, actions, pflags;      /* negotiated */
    unsigned char *out;
    size_t out_len, out_cap;
    unsigned char *in;
    size_t in_off, in_len, in_cap;
    char why[256];
};

void mconn_init(struct mconn *c);
void mconn_close(struct mconn *c);
void mconn_free(struct mconn *c);
/* Record why the connection failed; always -1. */
int fail(struct mconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mconn_connect(struct mconn *c);
int mconn_flush(struct mconn *c);
int mconn_read(struct mconn *c, int64_t deadline, char *cmd,
               const unsigned char **data, size_t *len);

/* Packets are built in the output buffer: pkt_begin, the data, pkt_end. */
size_t pkt_begin(struct mconn *c, char cmd);
void pkt_bytes(struct mconn *c, const void *data, size_t len);
void pkt_str(struct mconn *c, const char *s);
void pkt_end(struct mconn *c, size_t at);
void pkt_simple(struct mconn *c, char cmd);
void pkt_macros(struct mconn *c, char cmd, ...);

/* ---------------------------------------------------------------------- */
/* The protocol (mlm-bench-milter.c)                                       */
/* ---------------------------------------------------------------------- */

/* Run transaction txno with st, on a fresh connection or (-r) on c's open
 * session; its outcome. */
enum outcome tx_run(struct stats *st, struct mconn *c, long txno);
/* End c's session politely (ABORT, QUIT) and close it. */
void session_close(struct mconn *c);

/* ---------------------------------------------------------------------- */
/* Set-up from the options (mlm-bench-setup.c); failures are fatal         */
/* ---------------------------------------------------------------------- */

void target_parse(const char *spec);
void headers_load(const char *file);
void body_build(void);
void body_load(const char *file);
void recipients_build(void);
void template_free(void);
unsigned stages_parse(const char *list);

#endif
