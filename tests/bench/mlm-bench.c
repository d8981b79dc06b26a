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
 * every action and protocol flag, then follows what the milter answers
 * (mlm-bench-milter.c); mlm-bench.h says which file does what.
 *
 * Output: human-readable lines, then one line "RESULT key=value ..." for
 * scripts (see usage()). Each transaction ends with one outcome: continue
 * (it got through end of message), accept, reject, tempfail, discard
 * (the milter's first decision that ended it) or error (I/O, protocol
 * violation, timeout). Exit status 0 when there was no error, 1 otherwise,
 * 2 on bad usage.
 *
 * This file is the driver. Owns: the read-only options, the transaction
 * counter, and each thread's statistics (merged after the threads end).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mlm-bench.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERROR_LINES 10

struct bench_opts opt = {
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

static long next_tx;                 /* claimed with __atomic_fetch_add */
static int error_lines;              /* printed so far, atomically */

void fatal(const char *fmt, ...)
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
void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        fatal("out of memory");
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        fatal("out of memory");
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

struct worker {
    int id;
    pthread_t thread;
    struct stats st;
};

/* A thread's failure: counted always, printed for the first few. */
void tx_error(long txno, const char *qid, const char *why)
{
    int n = __atomic_fetch_add(&error_lines, 1, __ATOMIC_RELAXED);
    if (n < MAX_ERROR_LINES)
        fprintf(stderr, "mlm-bench: tx %ld (%s): %s\n", txno + 1, qid, why);
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
        w->st.outcome[tx_run(&w->st, &c, txno)]++;
    }
    session_close(&c);
    mconn_free(&c);
    return NULL;
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
"  -M FILE       the whole message from FILE: headers as for -H, then after\n"
"                the first empty line the body, its lines sent CRLF-ended\n"
"                (for posts that must arrive as they are, e.g. DKIM-signed;\n"
"                replaces -H and -m)\n"
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
    while ((o = getopt_long(argc, argv, "s:c:n:rm:R:t:f:H:M:T:h", longopts,
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
        case 'M': opt.message_file = optarg; break;
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
    if (opt.message_file) {
        headers_load(opt.message_file);
        body_load(opt.message_file);
    } else {
        headers_load(opt.header_file);
        body_build();
    }
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
    for (int i = 0; i < opt.concurrency; i++)
        stats_merge(total, &w[i].st);
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
