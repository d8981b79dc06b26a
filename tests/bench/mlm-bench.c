/*
 * mlm-bench.c - a load generator that plays the MTA's side of the milter
 * protocol (version 6), to drive any milter (mlmd, null-milter, another
 * libmilter filter) through its socket and measure it.
 *
 * Each of -c threads owns one milter connection at a time and claims
 * transactions from a shared counter until -n are done. A transaction is
 * what Postfix sends for one SMTP transaction: by default on a new milter
 * connection (option negotiation, CONNECT, HELO, MAIL, RCPT..., DATA,
 * headers, EOH, body, EOM, QUIT), since Postfix does not reuse milter
 * connections; with -r one connection carries many transactions, as one
 * SMTP session with several messages does, with ABORT between them.
 *
 * The protocol: every packet is a 4-byte big-endian length, one command
 * byte and its data (constants in <libmilter/mfdef.h>). The bench offers
 * every action and protocol flag, then follows what the milter answers:
 * the steps it asks to skip (SMFIP_NO*) are not sent, the replies it says
 * it will not send (SMFIP_NR_*) are not awaited. Packets that need no
 * reply are buffered and go out with the next one that does, so the
 * bench's own cost stays small next to the milter's.
 *
 * Output: human-readable lines, then one line "RESULT key=value ..." for
 * scripts (see usage()). Each transaction ends with one outcome: continue
 * (it got through end of message), accept, reject, tempfail, discard
 * (the milter's first decision that ended it) or error (I/O, protocol
 * violation, timeout). Exit status 0 when there was no error, 1 otherwise,
 * 2 on bad usage.
 *
 * Owns: the read-only options and message template, the transaction
 * counter, and each thread's statistics (merged after the threads end).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#define OFFER_VERSION 6
#define OFFER_ACTIONS SMFI_CURR_ACTS
#define OFFER_PROTOCOL SMFI_CURR_PROT
#define MAX_PACKET (16u * 1024 * 1024)  /* larger than any negotiable size */
#define FLUSH_AT (64u * 1024)           /* buffered no-reply data */
#define MAX_ERROR_LINES 10

/* ---------------------------------------------------------------------- */
/* Stages, latency slots and outcomes                                      */
/* ---------------------------------------------------------------------- */

/* What --stages selects: the SMTP commands whose milter steps are sent. */
enum smtp_stage { SS_CONNECT, SS_HELO, SS_MAIL, SS_RCPT, SS_DATA, SS__COUNT };
static const char *const smtp_stage_names[SS__COUNT] = {
    "connect", "helo", "mail", "rcpt", "data"};
#define SS_BIT(s) (1u << (s))
#define SS_ALL ((1u << SS__COUNT) - 1)

/* One latency histogram per milter command (and per transaction). */
enum lat_slot {
    LAT_OPTNEG, LAT_CONNECT, LAT_HELO, LAT_MAIL, LAT_RCPT, LAT_DATA,
    LAT_HEADER, LAT_EOH, LAT_BODY, LAT_EOM, LAT_TX, LAT__COUNT
};
static const char *const lat_names[LAT__COUNT] = {
    "optneg", "connect", "helo", "mail", "rcpt", "data",
    "header", "eoh", "body", "eom", "tx"};

enum outcome {
    OUT_CONTINUE, OUT_ACCEPT, OUT_REJECT, OUT_TEMPFAIL, OUT_DISCARD,
    OUT_ERROR, OUT__COUNT
};
static const char *const outcome_names[OUT__COUNT] = {
    "continue", "accept", "reject", "tempfail", "discard", "errors"};

/* The final reply to one command, as the MTA acts on it. */
enum reply_kind {
    RK_CONTINUE, RK_ACCEPT, RK_REJECT, RK_TEMPFAIL, RK_DISCARD, RK_SKIP,
    RK_ERROR
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

static struct bench_opts opt = {
    .concurrency = 1,
    .transactions = 1000,
    .body_size = 2000,
    .recipients = 1,
    .first_rcpt = "list@lists.test",
    .sender = "sender@bench.test",
    .stages = SS_ALL,
    .timeout_s = 30,
    .client_ip = "192.0.2.10",
    .client_name = "client.bench.test",
    .helo = "client.bench.test",
};
static struct target tgt;
static struct header *headers;       /* the fixed part of every message */
static size_t nheaders;
static int headers_have_msgid;
static unsigned char *body;
static char **rcpt_addrs;            /* "<addr>" for each RCPT */

static long next_tx;                 /* claimed with __atomic_fetch_add */
static int error_lines;              /* printed so far, atomically */

/* Negotiation as the first connection saw it, for the report. */
static pthread_mutex_t nego_lock = PTHREAD_MUTEX_INITIALIZER;
static int nego_seen;
static uint32_t nego_version, nego_actions, nego_pflags;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

static void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mlm-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* Allocation failure ends the program here, not at every call site. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        fatal("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        fatal("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Big-endian 32-bit integers, as the protocol has them. */
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---------------------------------------------------------------------- */
/* Latency histograms: exact below 256 us, then 128 buckets per octave    */
/* (under 1% error), so millions of samples cost a few kilobytes.          */
/* ---------------------------------------------------------------------- */

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
static void hist_add(struct hist *h, int64_t us)
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

/* ---------------------------------------------------------------------- */
/* Per-thread statistics                                                   */
/* ---------------------------------------------------------------------- */

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

struct worker {
    int id;
    pthread_t thread;
    struct stats st;
};

/* A thread's failure: counted always, printed for the first few. */
static void tx_error(long txno, const char *qid, const char *why)
{
    int n = __atomic_fetch_add(&error_lines, 1, __ATOMIC_RELAXED);
    if (n < MAX_ERROR_LINES)
        fprintf(stderr, "mlm-bench: tx %ld (%s): %s\n", txno + 1, qid, why);
}

/* ---------------------------------------------------------------------- */
/* The milter connection: buffered packets out, parsed packets in          */
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

/* A closed connection with empty buffers. */
static void mconn_init(struct mconn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->state = CS_CLOSED;
}

/* Drop the socket and whatever was buffered; the buffers stay allocated. */
static void mconn_close(struct mconn *c)
{
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
    c->state = CS_CLOSED;
    c->out_len = c->in_off = c->in_len = 0;
}

/* Close and release the buffers. */
static void mconn_free(struct mconn *c)
{
    mconn_close(c);
    free(c->out);
    free(c->in);
}

/* Record why the connection failed; always -1. */
static int fail(struct mconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* Room for more bytes in the output buffer. */
static void out_reserve(struct mconn *c, size_t more)
{
    if (c->out_len + more <= c->out_cap)
        return;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + more)
        cap *= 2;
    c->out = xrealloc(c->out, cap);
    c->out_cap = cap;
}

/* Start a packet in the output buffer; returns its offset for pkt_end. */
static size_t pkt_begin(struct mconn *c, char cmd)
{
    out_reserve(c, 5);
    size_t at = c->out_len;
    c->out[at + 4] = (unsigned char)cmd;
    c->out_len += 5;
    return at;
}

/* Append raw bytes to the packet being built. */
static void pkt_bytes(struct mconn *c, const void *data, size_t len)
{
    out_reserve(c, len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* A NUL-terminated string, as most milter arguments are. */
static void pkt_str(struct mconn *c, const char *s)
{
    pkt_bytes(c, s, strlen(s) + 1);
}

/* Fill in the length of the packet begun at offset at. */
static void pkt_end(struct mconn *c, size_t at)
{
    put_u32(c->out + at, (uint32_t)(c->out_len - at - 4));
}

/* A data-less command. */
static void pkt_simple(struct mconn *c, char cmd)
{
    pkt_end(c, pkt_begin(c, cmd));
}

/* SMFIC_MACRO for command cmd: name, value, name, value, ..., NULL. */
static void pkt_macros(struct mconn *c, char cmd, ...)
{
    va_list ap;
    size_t at = pkt_begin(c, SMFIC_MACRO);
    pkt_bytes(c, &cmd, 1);
    va_start(ap, cmd);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        pkt_str(c, s);
    va_end(ap);
    pkt_end(c, at);
}

/* Wait until fd is ready for events or the deadline passes; 0 or -1. */
static int wait_fd(struct mconn *c, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_us();
        if (left <= 0)
            return fail(c, "timed out after %d s", opt.timeout_s);
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return fail(c, "poll: %s", strerror(errno));
        if (n > 0)
            return 0;
    }
}

/* Write everything buffered; 0 or -1 with c->why. */
static int mconn_flush(struct mconn *c)
{
    size_t done = 0;
    int64_t deadline = now_us() + (int64_t)opt.timeout_s * 1000000;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done,
                         MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c, POLLOUT, deadline) == -1)
                return -1;
        } else if (n == -1 && errno != EINTR) {
            c->out_len = 0;
            return fail(c, "write: %s", strerror(errno));
        }
    }
    c->out_len = 0;
    return 0;
}

/*
 * Read one packet before the deadline. *data points into the connection's
 * buffer and stays valid until the next read. 0 or -1 with c->why.
 */
static int mconn_read(struct mconn *c, int64_t deadline, char *cmd,
                      const unsigned char **data, size_t *len)
{
    for (;;) {
        size_t have = c->in_len - c->in_off;
        if (have >= 4) {
            uint32_t plen = get_u32(c->in + c->in_off);
            if (plen == 0 || plen > MAX_PACKET)
                return fail(c, "bad packet length %u from the milter", plen);
            if (have >= 4 + (size_t)plen) {
                *cmd = (char)c->in[c->in_off + 4];
                *data = c->in + c->in_off + 5;
                *len = plen - 1;
                c->in_off += 4 + (size_t)plen;
                return 0;
            }
            if (c->in_cap < 4 + (size_t)plen) {
                size_t cap = c->in_cap;
                while (cap < 4 + (size_t)plen)
                    cap *= 2;
                c->in = xrealloc(c->in, cap);
                c->in_cap = cap;
            }
        }
        if (c->in_cap == 0) {
            c->in_cap = 65536;
            c->in = xmalloc(c->in_cap);
        }
        if (c->in_off > 0) { /* keep the partial packet at the start */
            memmove(c->in, c->in + c->in_off, have);
            c->in_off = 0;
            c->in_len = have;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
        } else if (n == 0) {
            return fail(c, "the milter closed the connection");
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_fd(c, POLLIN, deadline) == -1)
                return -1;
        } else if (errno != EINTR) {
            return fail(c, "read: %s", strerror(errno));
        }
    }
}

/* Connect to the milter; the socket is non-blocking afterwards. */
static int mconn_connect(struct mconn *c)
{
    mconn_close(c);
    int fd = socket(tgt.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return fail(c, "socket: %s", strerror(errno));
    /* A blocking connect bounded by SO_SNDTIMEO: a non-blocking one on a
     * unix socket fails at once with EAGAIN when the backlog is full. */
    struct timeval tv = {.tv_sec = opt.timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&tgt.addr, tgt.addrlen) == -1) {
        int e = errno;
        close(fd);
        if (e == EINPROGRESS || e == EAGAIN)
            return fail(c, "connect: timed out after %d s", opt.timeout_s);
        return fail(c, "connect %s: %s", opt.socket_spec, strerror(e));
    }
    if (!tgt.is_unix && !opt.nagle) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
        close(fd);
        return fail(c, "fcntl: %s", strerror(errno));
    }
    c->fd = fd;
    c->state = CS_OPEN;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */
/* ---------------------------------------------------------------------- */

/* The data is exactly min..max NUL-terminated strings; their count or -1. */
static int strings_count(const unsigned char *p, size_t len, int min, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        const unsigned char *z = memchr(p + i, '\0', len - i);
        if (z == NULL)
            return -1;
        i = (size_t)(z - p) + 1;
        n++;
    }
    return n >= min && n <= max ? n : -1;
}

/* CR or LF not followed by a space or tab would start a new header line. */
static int header_value_safe(const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            p++;
        if ((*p == '\r' || *p == '\n') && p[1] != ' ' && p[1] != '\t')
            return 0;
    }
    return 1;
}

/* An envelope address in an action: non-empty, no control characters. */
static int address_safe(const char *a)
{
    if (*a == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/*
 * Check one end-of-message modification action as an MTA would: it must
 * have been negotiated and be well formed. 0 or -1 with c->why.
 */
static int action_check(struct mconn *c, struct stats *st, char cmd,
                        const unsigned char *d, size_t len)
{
    static const struct {
        char cmd;
        uint32_t flag;
        int min, max, skip;    /* strings; bytes of index before them */
    } table[] = {
        {SMFIR_ADDHEADER, SMFIF_ADDHDRS, 2, 2, 0},
        {SMFIR_INSHEADER, SMFIF_ADDHDRS, 2, 2, 4},
        {SMFIR_CHGHEADER, SMFIF_CHGHDRS, 2, 2, 4},
        {SMFIR_ADDRCPT, SMFIF_ADDRCPT, 1, 1, 0},
        {SMFIR_ADDRCPT_PAR, SMFIF_ADDRCPT_PAR, 1, 2, 0},
        {SMFIR_DELRCPT, SMFIF_DELRCPT, 1, 1, 0},
        {SMFIR_CHGFROM, SMFIF_CHGFROM, 1, 2, 0},
        {SMFIR_QUARANTINE, SMFIF_QUARANTINE, 1, 1, 0},
        {SMFIR_REPLBODY, SMFIF_CHGBODY, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].cmd != cmd)
            continue;
        if ((c->actions & table[i].flag) == 0)
            return fail(c, "action '%c' that was not negotiated", cmd);
        if (cmd == SMFIR_REPLBODY)
            return 0;
        if (len < (size_t)table[i].skip ||
            strings_count(d + table[i].skip, len - (size_t)table[i].skip,
                          table[i].min, table[i].max) == -1)
            return fail(c, "malformed action '%c' (%zu bytes)", cmd, len);
        const char *s1 = (const char *)d + table[i].skip;
        const char *s2 = s1 + strlen(s1) + 1;
        switch (cmd) {
        case SMFIR_ADDHEADER:
        case SMFIR_INSHEADER:
        case SMFIR_CHGHEADER:
            if (*s1 == '\0' || strpbrk(s1, ": \t\r\n") != NULL)
                return fail(c, "action '%c' with bad header name \"%s\"",
                            cmd, s1);
            if (!header_value_safe(s2))
                return fail(c, "action '%c' for %s: a CR or LF in the value "
                            "would start a new header", cmd, s1);
            break;
        case SMFIR_ADDRCPT:
        case SMFIR_ADDRCPT_PAR:
            st->rcpt_added++;
            /* fall through */
        case SMFIR_DELRCPT:
        case SMFIR_CHGFROM:
            if (!address_safe(s1))
                return fail(c, "action '%c' with a bad address", cmd);
            break;
        }
        return 0;
    }
    return fail(c, "unexpected reply '%c' (0x%02x)", cmd, (unsigned char)cmd);
}

/*
 * Wait for the final reply to the command just sent at t0 and record its
 * latency in slot lat. At end of message the modification actions before
 * it are checked and counted. Progress packets restart the timeout, as
 * they do in the MTA. RK_ERROR leaves the reason in c->why.
 */
static enum reply_kind reply_await(struct mconn *c, struct stats *st,
                                   enum lat_slot lat, int64_t t0)
{
    int64_t deadline = now_us() + (int64_t)opt.timeout_s * 1000000;
    for (;;) {
        char cmd;
        const unsigned char *d;
        size_t len;
        if (mconn_read(c, deadline, &cmd, &d, &len) == -1)
            return RK_ERROR;
        enum reply_kind rk;
        switch (cmd) {
        case SMFIR_PROGRESS:
            deadline = now_us() + (int64_t)opt.timeout_s * 1000000;
            continue;
        case SMFIR_CONTINUE: rk = RK_CONTINUE; break;
        case SMFIR_ACCEPT: rk = RK_ACCEPT; break;
        case SMFIR_REJECT: rk = RK_REJECT; break;
        case SMFIR_TEMPFAIL: rk = RK_TEMPFAIL; break;
        case SMFIR_DISCARD: rk = RK_DISCARD; break;
        case SMFIR_SHUTDOWN:   /* 421, the MTA ends the session */
        case SMFIR_CONN_FAIL:
            rk = RK_TEMPFAIL;
            c->state = CS_OPEN; /* no more transactions on it */
            break;
        case SMFIR_REPLYCODE:
            if (len < 4 || d[len - 1] != '\0' || memchr(d, '\0', len) !=
                d + len - 1 || (d[0] != '4' && d[0] != '5') ||
                d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' ||
                (d[3] != ' ' && d[3] != '-' && d[3] != '\0')) {
                fail(c, "malformed reply code \"%.*s\"", (int)(len < 40 ? len
                     : 40), (const char *)d);
                return RK_ERROR;
            }
            rk = d[0] == '4' ? RK_TEMPFAIL : RK_REJECT;
            break;
        case SMFIR_SKIP:
            if (lat != LAT_BODY || (c->pflags & SMFIP_SKIP) == 0) {
                fail(c, "SKIP in reply to %s", lat_names[lat]);
                return RK_ERROR;
            }
            rk = RK_SKIP;
            break;
        default:
            if (lat != LAT_EOM) {
                fail(c, "reply '%c' (0x%02x) to %s", cmd, (unsigned char)cmd,
                     lat_names[lat]);
                return RK_ERROR;
            }
            if (action_check(c, st, cmd, d, len) == -1)
                return RK_ERROR;
            st->actions++;
            st->action_kind[(unsigned char)cmd]++;
            continue;
        }
        hist_add(&st->lat[lat], now_us() - t0);
        return rk;
    }
}

/*
 * Send what is buffered for one command and wait for its reply, unless the
 * milter declared with nr_bit that it sends none: then the packets stay
 * buffered (up to FLUSH_AT) and the answer is "continue".
 */
static enum reply_kind step(struct mconn *c, struct stats *st,
                            enum lat_slot lat, uint32_t nr_bit)
{
    st->sent_steps[lat]++;
    if (nr_bit && (c->pflags & nr_bit)) {
        if (c->out_len >= FLUSH_AT && mconn_flush(c) == -1)
            return RK_ERROR;
        return RK_CONTINUE;
    }
    int64_t t0 = now_us();
    if (mconn_flush(c) == -1)
        return RK_ERROR;
    return reply_await(c, st, lat, t0);
}

/* ---------------------------------------------------------------------- */
/* Sessions and transactions                                               */
/* ---------------------------------------------------------------------- */

/* Whether --stages selected SMTP stage s. */
static int stage_on(enum smtp_stage s)
{
    return (opt.stages & SS_BIT(s)) != 0;
}

/* How a reply that ends a transaction is counted. */
static enum outcome outcome_of(enum reply_kind rk)
{
    switch (rk) {
    case RK_ACCEPT: return OUT_ACCEPT;
    case RK_REJECT: return OUT_REJECT;
    case RK_TEMPFAIL: return OUT_TEMPFAIL;
    case RK_DISCARD: return OUT_DISCARD;
    case RK_ERROR: return OUT_ERROR;
    default: return OUT_CONTINUE;
    }
}

/* Option negotiation: offer everything, check and keep the answer. */
static int negotiate(struct mconn *c, struct stats *st)
{
    unsigned char o[12];
    put_u32(o, OFFER_VERSION);
    put_u32(o + 4, OFFER_ACTIONS);
    put_u32(o + 8, OFFER_PROTOCOL);
    size_t at = pkt_begin(c, SMFIC_OPTNEG);
    pkt_bytes(c, o, sizeof o);
    pkt_end(c, at);
    st->sent_steps[LAT_OPTNEG]++;
    int64_t t0 = now_us();
    if (mconn_flush(c) == -1)
        return -1;
    char cmd;
    const unsigned char *d;
    size_t len;
    if (mconn_read(c, t0 + (int64_t)opt.timeout_s * 1000000, &cmd, &d, &len)
        == -1)
        return -1;
    if (cmd != SMFIC_OPTNEG || len < 12)
        return fail(c, "negotiation answered with '%c', %zu bytes", cmd, len);
    c->version = get_u32(d);
    c->actions = get_u32(d + 4);
    c->pflags = get_u32(d + 8);
    if (c->version < 2 || c->version > OFFER_VERSION)
        return fail(c, "the milter answered protocol version %u",
                    c->version);
    if (c->actions & ~(uint32_t)OFFER_ACTIONS)
        return fail(c, "the milter wants actions 0x%x, offered 0x%x",
                    c->actions, (unsigned)OFFER_ACTIONS);
    if (c->pflags & ~(uint32_t)OFFER_PROTOCOL)
        return fail(c, "the milter wants protocol flags 0x%x, offered 0x%x",
                    c->pflags, (unsigned)OFFER_PROTOCOL);
    /* Macro lists the milter asks for: (stage, "names") pairs. */
    for (size_t i = 12; i < len;) {
        const unsigned char *z = len - i > 4 ? memchr(d + i + 4, '\0',
                                                      len - i - 4) : NULL;
        if (z == NULL)
            return fail(c, "malformed macro list in the negotiation");
        i = (size_t)(z - d) + 1;
    }
    hist_add(&st->lat[LAT_OPTNEG], now_us() - t0);
    pthread_mutex_lock(&nego_lock);
    if (!nego_seen) {
        nego_seen = 1;
        nego_version = c->version;
        nego_actions = c->actions;
        nego_pflags = c->pflags;
    }
    pthread_mutex_unlock(&nego_lock);
    return 0;
}

/*
 * Open a session on c: connect, negotiate, CONNECT and HELO. Returns
 * OUT_CONTINUE when transactions may follow; any other outcome ended the
 * session (the milter decided, or an error in c->why).
 */
static enum outcome session_open(struct mconn *c, struct stats *st)
{
    if (mconn_connect(c) == -1)
        return OUT_ERROR;
    st->connections++;
    if (negotiate(c, st) == -1)
        return OUT_ERROR;
    c->state = CS_IN_SESSION;
    if (stage_on(SS_CONNECT) && !(c->pflags & SMFIP_NOCONNECT)) {
        pkt_macros(c, SMFIC_CONNECT, "j", "mx.bench.test",
                   "{daemon_name}", "mlm-bench", "{client_addr}",
                   opt.client_ip, "{client_name}", opt.client_name, NULL);
        size_t at = pkt_begin(c, SMFIC_CONNECT);
        pkt_str(c, opt.client_name);
        unsigned char fam = strchr(opt.client_ip, ':') ? SMFIA_INET6
                                                       : SMFIA_INET;
        unsigned char port[2] = {0xc3, 0x50};  /* 50000 */
        pkt_bytes(c, &fam, 1);
        pkt_bytes(c, port, 2);
        pkt_str(c, opt.client_ip);
        pkt_end(c, at);
        enum reply_kind rk = step(c, st, LAT_CONNECT, SMFIP_NR_CONN);
        if (rk != RK_CONTINUE)
            return outcome_of(rk);
    }
    if (stage_on(SS_HELO) && !(c->pflags & SMFIP_NOHELO)) {
        size_t at = pkt_begin(c, SMFIC_HELO);
        pkt_str(c, opt.helo);
        pkt_end(c, at);
        enum reply_kind rk = step(c, st, LAT_HELO, SMFIP_NR_HELO);
        if (rk != RK_CONTINUE)
            return outcome_of(rk);
    }
    return OUT_CONTINUE;
}

/* The value to send for a header: libmilter strips one leading space
 * unless the milter asked for SMFIP_HDR_LEADSPC. */
static const char *header_value(const struct mconn *c, const char *raw)
{
    if (!(c->pflags & SMFIP_HDR_LEADSPC) && *raw == ' ')
        return raw + 1;
    return raw;
}

/* One SMFIC_HEADER. */
static enum reply_kind header_send(struct mconn *c, struct stats *st,
                                   const char *name, const char *value)
{
    size_t at = pkt_begin(c, SMFIC_HEADER);
    pkt_str(c, name);
    pkt_str(c, value);
    pkt_end(c, at);
    return step(c, st, LAT_HEADER, SMFIP_NR_HDR);
}

/* DATA, headers, EOH, body chunks and end of message. */
static enum reply_kind message_send(struct mconn *c, struct stats *st,
                                    const char *qid)
{
    enum reply_kind rk;
    if (!(c->pflags & SMFIP_NODATA)) {
        pkt_simple(c, SMFIC_DATA);
        if ((rk = step(c, st, LAT_DATA, SMFIP_NR_DATA)) != RK_CONTINUE)
            return rk;
    }
    if (!(c->pflags & SMFIP_NOHDRS)) {
        for (size_t i = 0; i < nheaders; i++) {
            rk = header_send(c, st, headers[i].name,
                             header_value(c, headers[i].raw_value));
            if (rk != RK_CONTINUE)
                return rk;
        }
        if (!headers_have_msgid) {
            char msgid[128];
            snprintf(msgid, sizeof msgid, "<%s.bench@bench.test>", qid);
            if ((rk = header_send(c, st, "Message-ID", msgid)) != RK_CONTINUE)
                return rk;
        }
    }
    if (!(c->pflags & SMFIP_NOEOH)) {
        pkt_simple(c, SMFIC_EOH);
        if ((rk = step(c, st, LAT_EOH, SMFIP_NR_EOH)) != RK_CONTINUE)
            return rk;
    }
    if (!(c->pflags & SMFIP_NOBODY)) {
        for (size_t off = 0; off < opt.body_size;) {
            size_t n = opt.body_size - off;
            if (n > MILTER_CHUNK_SIZE)
                n = MILTER_CHUNK_SIZE;
            size_t at = pkt_begin(c, SMFIC_BODY);
            pkt_bytes(c, body + off, n);
            pkt_end(c, at);
            off += n;
            rk = step(c, st, LAT_BODY, SMFIP_NR_BODY);
            if (rk == RK_SKIP) {
                st->body_skipped++;
                break;
            }
            if (rk != RK_CONTINUE)
                return rk;
        }
    }
    pkt_macros(c, SMFIC_BODYEOB, "i", qid, NULL);
    pkt_simple(c, SMFIC_BODYEOB);
    return step(c, st, LAT_EOM, 0);
}

/*
 * One transaction, MAIL to end of message, on an open session. Returns
 * its outcome; *done says whether it reached the end of message (else
 * the milter must be told ABORT).
 */
static enum outcome transaction_run(struct mconn *c, struct stats *st,
                                    const char *qid, int *done)
{
    enum reply_kind rk;
    *done = 0;
    c->state = CS_IN_TX;
    if (stage_on(SS_MAIL) && !(c->pflags & SMFIP_NOMAIL)) {
        char from[1024], size[32];
        snprintf(from, sizeof from, "<%s>", opt.sender);
        snprintf(size, sizeof size, "SIZE=%zu", opt.body_size);
        pkt_macros(c, SMFIC_MAIL, "i", qid, "{mail_addr}", opt.sender, NULL);
        size_t at = pkt_begin(c, SMFIC_MAIL);
        pkt_str(c, from);
        pkt_str(c, size);
        pkt_end(c, at);
        if ((rk = step(c, st, LAT_MAIL, SMFIP_NR_MAIL)) != RK_CONTINUE)
            return outcome_of(rk);
    }
    if (stage_on(SS_RCPT) && !(c->pflags & SMFIP_NORCPT)) {
        int accepted = 0, tempfailed = 0;
        for (int i = 0; i < opt.recipients; i++) {
            const char *r = rcpt_addrs[i];
            char bare[1024];
            snprintf(bare, sizeof bare, "%.*s", (int)strlen(r) - 2, r + 1);
            pkt_macros(c, SMFIC_RCPT, "{rcpt_addr}", bare, NULL);
            size_t at = pkt_begin(c, SMFIC_RCPT);
            pkt_str(c, r);
            pkt_end(c, at);
            rk = step(c, st, LAT_RCPT, SMFIP_NR_RCPT);
            if (rk == RK_CONTINUE) {
                accepted++;
            } else if (rk == RK_REJECT || rk == RK_TEMPFAIL) {
                /* This recipient only; the transaction goes on. */
                st->rcpt_rejected++;
                tempfailed += rk == RK_TEMPFAIL;
            } else {
                return outcome_of(rk);
            }
        }
        if (accepted == 0) /* no DATA without a recipient */
            return tempfailed ? OUT_TEMPFAIL : OUT_REJECT;
    }
    if (stage_on(SS_DATA)) {
        rk = message_send(c, st, qid);
        if (rk != RK_ERROR && rk != RK_SKIP)
            *done = 1;
        if (rk == RK_SKIP) {
            fail(c, "SKIP in reply to end of message");
            rk = RK_ERROR;
        }
        return outcome_of(rk);
    }
    return OUT_CONTINUE;
}

/* End the session politely: ABORT if a transaction is open, then QUIT
 * (not after a 421 shutdown, when only the socket is left to close). */
static void session_close(struct mconn *c)
{
    if (c->fd == -1)
        return;
    if (c->state == CS_IN_TX)
        pkt_simple(c, SMFIC_ABORT);
    if (c->state != CS_OPEN)
        pkt_simple(c, SMFIC_QUIT);
    mconn_flush(c);
    mconn_close(c);
}

/*
 * Run transaction txno on thread w: on a fresh connection, or with -r on
 * the thread's open session (opened first if needed).
 */
static enum outcome tx_run(struct worker *w, struct mconn *c, long txno)
{
    char qid[32];
    int done = 0, session_decided = 0;
    snprintf(qid, sizeof qid, "B%07lX", (unsigned long)txno + 1);
    int64_t t0 = now_us();
    enum outcome out = OUT_CONTINUE;
    if (!opt.reuse || c->state != CS_IN_SESSION) {
        session_close(c);
        out = session_open(c, &w->st);
        session_decided = out != OUT_CONTINUE;
    }
    if (!session_decided)
        out = transaction_run(c, &w->st, qid, &done);
    if (out == OUT_ERROR) {
        tx_error(txno, qid, c->why);
        mconn_close(c);
        return out;
    }
    hist_add(&w->st.lat[LAT_TX], now_us() - t0);
    if (done && c->state == CS_IN_TX)
        c->state = CS_IN_SESSION;
    if (opt.reuse && !session_decided && c->state != CS_OPEN) {
        pkt_simple(c, SMFIC_ABORT); /* goes out with the next MAIL */
        c->state = CS_IN_SESSION;
    } else {
        session_close(c);
    }
    return out;
}

/* A thread: claim transactions until -n are taken, then QUIT. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct mconn c;
    mconn_init(&c);
    for (;;) {
        long txno = __atomic_fetch_add(&next_tx, 1, __ATOMIC_RELAXED);
        if (txno >= opt.transactions)
            break;
        w->st.outcome[tx_run(w, &c, txno)]++;
    }
    session_close(&c);
    mconn_free(&c);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Set-up: socket spec, message, options                                   */
/* ---------------------------------------------------------------------- */

/* libmilter syntax: unix:/path, local:/path, /path, inet:PORT@HOST,
 * inet6:PORT@HOST (HOST defaults to localhost). */
static void target_parse(const char *spec)
{
    memset(&tgt, 0, sizeof tgt);
    const char *path = NULL;
    if (strncmp(spec, "unix:", 5) == 0)
        path = spec + 5;
    else if (strncmp(spec, "local:", 6) == 0)
        path = spec + 6;
    else if (spec[0] == '/')
        path = spec;
    if (path) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&tgt.addr;
        if (strlen(path) >= sizeof sun->sun_path)
            fatal("socket path too long: %s", path);
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, path);
        tgt.addrlen = sizeof *sun;
        tgt.family = AF_UNIX;
        tgt.is_unix = 1;
        return;
    }
    int family;
    const char *rest;
    if (strncmp(spec, "inet:", 5) == 0)
        family = AF_INET, rest = spec + 5;
    else if (strncmp(spec, "inet6:", 6) == 0)
        family = AF_INET6, rest = spec + 6;
    else
        fatal("bad socket \"%s\": want unix:/path or inet:PORT@HOST", spec);
    char port[32];
    const char *at = strchr(rest, '@');
    const char *host = at ? at + 1 : (family == AF_INET ? "127.0.0.1" : "::1");
    size_t plen = at ? (size_t)(at - rest) : strlen(rest);
    if (plen == 0 || plen >= sizeof port)
        fatal("bad port in \"%s\"", spec);
    memcpy(port, rest, plen);
    port[plen] = '\0';
    if (host[0] == '[') { /* inet6:PORT@[::1] */
        static char h[256];
        snprintf(h, sizeof h, "%s", host + 1);
        char *e = strchr(h, ']');
        if (e)
            *e = '\0';
        host = h;
    }
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        fatal("cannot resolve %s port %s: %s", host, port, gai_strerror(rc));
    memcpy(&tgt.addr, ai->ai_addr, ai->ai_addrlen);
    tgt.addrlen = ai->ai_addrlen;
    tgt.family = ai->ai_family;
    freeaddrinfo(ai);
}

/* Append one header to the message template. */
static void header_push(const char *name, const char *raw)
{
    headers = xrealloc(headers, (nheaders + 1) * sizeof *headers);
    headers[nheaders].name = xstrdup(name);
    headers[nheaders].raw_value = xstrdup(raw);
    if (strcasecmp(name, "Message-ID") == 0)
        headers_have_msgid = 1;
    nheaders++;
}

/* Headers from FILE ("Name: value", folded lines kept with LF), up to the
 * first empty line. Without FILE: a plain list post. */
static void headers_load(const char *file)
{
    if (file == NULL) {
        char buf[1100];
        snprintf(buf, sizeof buf, " Bench Sender <%s>", opt.sender);
        header_push("From", buf);
        snprintf(buf, sizeof buf, " <%s>", opt.first_rcpt);
        header_push("To", buf);
        header_push("Subject", " mlm-bench message");
        header_push("Date", " Mon, 1 Jan 2024 00:00:00 +0000");
        header_push("MIME-Version", " 1.0");
        header_push("Content-Type", " text/plain; charset=us-ascii");
        return;
    }
    FILE *fp = fopen(file, "r");
    if (fp == NULL)
        fatal("%s: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&line, &cap, fp)) != -1) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            if (nheaders == 0)
                fatal("%s:%d: continuation line before any header", file,
                      lineno);
            struct header *h = &headers[nheaders - 1];
            size_t old = strlen(h->raw_value);
            h->raw_value = xrealloc(h->raw_value, old + 1 + (size_t)n + 1);
            h->raw_value[old] = '\n';
            memcpy(h->raw_value + old + 1, line, (size_t)n + 1);
            continue;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line)
            fatal("%s:%d: not a header line", file, lineno);
        *colon = '\0';
        header_push(line, colon + 1);
    }
    free(line);
    fclose(fp);
    if (nheaders == 0)
        fatal("%s: no headers", file);
}

/* A body of exactly opt.body_size bytes of CRLF-ended text lines. */
static void body_build(void)
{
    body = xmalloc(opt.body_size);
    size_t off = 0;
    for (unsigned line = 1; off < opt.body_size; line++) {
        char buf[100];
        int n = snprintf(buf, sizeof buf, "Line %06u of the mlm-bench body: "
                         "the quick brown fox jumps over the lazy dog.\r\n",
                         line);
        size_t take = opt.body_size - off < (size_t)n ? opt.body_size - off
                                                      : (size_t)n;
        memcpy(body + off, buf, take);
        off += take;
    }
    if (opt.body_size >= 2)
        memcpy(body + opt.body_size - 2, "\r\n", 2);
}

/* "<first>" from -t, then "<memberN@bench.test>" up to -R addresses. */
static void recipients_build(void)
{
    rcpt_addrs = xmalloc((size_t)opt.recipients * sizeof *rcpt_addrs);
    for (int i = 0; i < opt.recipients; i++) {
        char buf[1100];
        if (i == 0)
            snprintf(buf, sizeof buf, "<%s>", opt.first_rcpt);
        else
            snprintf(buf, sizeof buf, "<member%d@bench.test>", i);
        rcpt_addrs[i] = xstrdup(buf);
    }
}

/* Release the message template (at exit, for leak checkers). */
static void template_free(void)
{
    for (size_t i = 0; i < nheaders; i++) {
        free(headers[i].name);
        free(headers[i].raw_value);
    }
    free(headers);
    for (int i = 0; i < opt.recipients; i++)
        free(rcpt_addrs[i]);
    free(rcpt_addrs);
    free(body);
}

/* "connect,helo,..." to a mask of SS_BIT()s; bad names are fatal. */
static unsigned stages_parse(const char *list)
{
    unsigned mask = 0;
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            mask |= SS_ALL;
            continue;
        }
        int found = 0;
        for (int s = 0; s < SS__COUNT; s++)
            if (strcmp(tok, smtp_stage_names[s]) == 0)
                mask |= SS_BIT(s), found = 1;
        if (!found)
            fatal("unknown stage \"%s\" (connect, helo, mail, rcpt, data)",
                  tok);
    }
    free(copy);
    if (mask == 0)
        fatal("--stages: no stage");
    return mask;
}

/* A decimal option value within min..max; anything else is fatal. */
static long number(const char *s, const char *what, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        fatal("%s: \"%s\" is not a number from %ld to %ld", what, s, min,
              max);
    return v;
}

/* The options and the RESULT keys, on fp. */
static void usage(FILE *fp)
{
    fprintf(fp,
"usage: mlm-bench -s SOCKET [options]\n"
"Plays the MTA side of the milter protocol (v6) against SOCKET.\n"
"  -s SOCKET     unix:/path or inet:PORT@HOST (libmilter syntax)\n"
"  -c K          concurrent milter connections, one thread each [1]\n"
"  -n T          transactions in all [1000]\n"
"  -r            reuse each thread's connection: one session, ABORT between\n"
"                transactions (default: a new connection per transaction,\n"
"                as Postfix does)\n"
"  -m BYTES      message body size [2000]\n"
"  -R N          recipients per transaction [1]\n"
"  -t ADDR       first recipient [list@lists.test]; the others are\n"
"                member1@bench.test, member2@bench.test, ...\n"
"  -f ADDR       envelope sender [sender@bench.test]\n"
"  -H FILE       message headers (\"Name: value\" lines) instead of the\n"
"                built-in ones; a Message-ID is added when FILE has none\n"
"  -T SECONDS    timeout for each reply [30]\n"
"  --stages=LIST which SMTP stages to send: connect,helo,mail,rcpt,data\n"
"                (data = DATA, headers, EOH, body, end of message) [all]\n"
"  --client=IP   client address for CONNECT [192.0.2.10]\n"
"  --helo=NAME   HELO name [client.bench.test]\n"
"  --nagle       leave Nagle on for inet: sockets (default TCP_NODELAY)\n"
"  -h            this help\n"
"Output ends with one line for scripts:\n"
"  RESULT tx= seconds= tx_per_s= <step>_p50_ms= <step>_p99_ms= ...\n"
"         continue= accept= reject= tempfail= discard= errors= actions=\n"
"         rcpt_added= rcpt_rejected=\n"
"where each step that got replies has its latency (optneg, connect, helo,\n"
"mail, rcpt, data, header, eoh, body, eom, and tx for a whole\n"
"transaction), and the counts are each transaction's outcome: the\n"
"milter's first decision that ended it, continue if none did.\n"
"Exit status: 0 without errors (rejects are not errors), 1 with, 2 usage.\n");
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
static void report(const struct stats *t, double seconds)
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

int main(int argc, char **argv)
{
    enum { OPT_STAGES = 256, OPT_CLIENT, OPT_HELO, OPT_NAGLE };
    static const struct option longopts[] = {
        {"stages", required_argument, NULL, OPT_STAGES},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"helo", required_argument, NULL, OPT_HELO},
        {"nagle", no_argument, NULL, OPT_NAGLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "s:c:n:rm:R:t:f:H:T:h", longopts,
                            NULL)) != -1) {
        switch (o) {
        case 's': opt.socket_spec = optarg; break;
        case 'c': opt.concurrency = (int)number(optarg, "-c", 1, 1024); break;
        case 'n': opt.transactions = number(optarg, "-n", 1, 1L << 40); break;
        case 'r': opt.reuse = 1; break;
        case 'm': opt.body_size = (size_t)number(optarg, "-m", 0, 1L << 30);
                  break;
        case 'R': opt.recipients = (int)number(optarg, "-R", 1, 100000); break;
        case 't': opt.first_rcpt = optarg; break;
        case 'f': opt.sender = optarg; break;
        case 'H': opt.header_file = optarg; break;
        case 'T': opt.timeout_s = (int)number(optarg, "-T", 1, 86400); break;
        case OPT_STAGES: opt.stages = stages_parse(optarg); break;
        case OPT_CLIENT: opt.client_ip = optarg; break;
        case OPT_HELO: opt.helo = optarg; break;
        case OPT_NAGLE: opt.nagle = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || opt.socket_spec == NULL) {
        usage(stderr);
        return 2;
    }
    if (strlen(opt.sender) > 900 || strlen(opt.first_rcpt) > 900)
        fatal("address too long");
    target_parse(opt.socket_spec);
    headers_load(opt.header_file);
    body_build();
    recipients_build();
    signal(SIGPIPE, SIG_IGN);
    if (opt.concurrency > opt.transactions)
        opt.concurrency = (int)opt.transactions;

    printf("mlm-bench: %s, %d connection%s, %ld transactions (%s), body %zu "
           "bytes, %d recipient%s, stages", opt.socket_spec, opt.concurrency,
           opt.concurrency == 1 ? "" : "s", opt.transactions,
           opt.reuse ? "reused connections, ABORT between transactions"
                     : "a new milter connection each",
           opt.body_size, opt.recipients, opt.recipients == 1 ? "" : "s");
    for (int s = 0; s < SS__COUNT; s++)
        if (stage_on((enum smtp_stage)s))
            printf(" %s", smtp_stage_names[s]);
    printf("\n");
    fflush(stdout);

    struct worker *w = xmalloc((size_t)opt.concurrency * sizeof *w);
    int64_t t0 = now_us();
    for (int i = 0; i < opt.concurrency; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        int rc = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
        if (rc != 0)
            fatal("pthread_create: %s", strerror(rc));
    }
    for (int i = 0; i < opt.concurrency; i++)
        pthread_join(w[i].thread, NULL);
    double seconds = (double)(now_us() - t0) / 1e6;

    struct stats *total = xmalloc(sizeof *total);
    memset(total, 0, sizeof *total);
    for (int i = 0; i < opt.concurrency; i++) {
        const struct stats *s = &w[i].st;
        for (int l = 0; l < LAT__COUNT; l++) {
            hist_merge(&total->lat[l], &s->lat[l]);
            total->sent_steps[l] += s->sent_steps[l];
        }
        for (int k = 0; k < OUT__COUNT; k++)
            total->outcome[k] += s->outcome[k];
        for (int k = 0; k < 256; k++)
            total->action_kind[k] += s->action_kind[k];
        total->actions += s->actions;
        total->rcpt_added += s->rcpt_added;
        total->rcpt_rejected += s->rcpt_rejected;
        total->body_skipped += s->body_skipped;
        total->connections += s->connections;
    }
    if (error_lines > MAX_ERROR_LINES)
        fprintf(stderr, "mlm-bench: ... and %d more errors\n",
                error_lines - MAX_ERROR_LINES);
    report(total, seconds);
    int rc = total->outcome[OUT_ERROR] ? 1 : 0;
    free(total);
    free(w);
    template_free();
    return rc;
}
