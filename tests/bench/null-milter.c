/*
 * null-milter.c - a libmilter milter that says "continue" at every step:
 * the baseline mlm-bench measures mlmd against, so that a figure for mlmd
 * can be read as "libmilter's own cost plus mlm's".
 *
 * usage: null-milter -p SOCKET [-a N] [-N none|data|all] [-D] [-b BACKLOG]
 *
 * With -a N it does at end of message what a list manager does to a post:
 * adds 3 headers, changes the Subject, replaces the body (a fixed text
 * with a small footer), deletes the first recipient, adds N recipients and
 * changes the envelope sender. -N chooses the steps it tells the MTA it
 * will not answer (only when the MTA offers that): "data" (the default)
 * asks what mlmd asks (DATA, headers, EOH, body, unknown commands), "all"
 * adds CONNECT, HELO, MAIL and RCPT, "none" answers everything. It skips
 * no protocol step.
 *
 * libmilter does not set TCP_NODELAY, so a reply of several small action
 * packets stalls on Nagle against the MTA's delayed ACK (~40 ms). For an
 * inet: socket this sets TCP_NODELAY on the listening socket after
 * smfi_opensocket, which accepted sockets inherit on Linux; -D leaves it
 * off, to show the stall.
 *
 * Per-connection state (the negotiated flags and the first recipient)
 * hangs off smfi_setpriv and is freed at close.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

/* What -a needs the MTA to allow. */
#define LIST_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | \
                      SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM)

#define NR_DATA_STEPS (SMFIP_NR_DATA | SMFIP_NR_HDR | SMFIP_NR_EOH | \
                       SMFIP_NR_BODY | SMFIP_NR_UNKN)
#define NR_ALL_STEPS (NR_DATA_STEPS | SMFIP_NR_CONN | SMFIP_NR_HELO | \
                      SMFIP_NR_MAIL | SMFIP_NR_RCPT)

/* Set in main before smfi_main; read-only afterwards. */
static int list_rcpts = -1;          /* -a N; -1: no actions */
static unsigned long nr_wanted = NR_DATA_STEPS;

static const char new_body[] =
    "This body replaces the one the MTA sent, as a list manager that adds\r\n"
    "a footer rewrites it.\r\n"
    "\r\n"
    "-- \r\n"
    "bench mailing list - list@lists.test\r\n"
    "To unsubscribe send a message to list-request@lists.test\r\n";

struct nm_conn {
    unsigned long pflags;            /* what the negotiation settled */
    char *first_rcpt;                /* of the current message, "<a@b>" */
};

/* The connection's state, created on first use. */
static struct nm_conn *conn_get(SMFICTX *ctx)
{
    struct nm_conn *c = smfi_getpriv(ctx);
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            fprintf(stderr, "null-milter: out of memory\n");
            exit(1);
        }
        smfi_setpriv(ctx, c);
    }
    return c;
}

/* No reply at all when the milter promised none for this step. */
static sfsistat reply(SMFICTX *ctx, unsigned long nr_bit)
{
    struct nm_conn *c = smfi_getpriv(ctx);
    return c && (c->pflags & nr_bit) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* Forget the message part of the state (MAIL, end of message, abort). */
static void message_reset(struct nm_conn *c)
{
    if (c) {
        free(c->first_rcpt);
        c->first_rcpt = NULL;
    }
}

/* Ask for the actions -a needs and the no-reply steps -N names. */
static sfsistat nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3,
                             unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)f2, (void)f3;
    struct nm_conn *c = conn_get(ctx);
    unsigned long actions = list_rcpts >= 0 ? LIST_ACTIONS : 0;
    if ((f0 & actions) != actions)
        fprintf(stderr, "null-milter: the MTA offers actions 0x%lx, -a "
                "needs 0x%lx\n", f0, (unsigned long)LIST_ACTIONS);
    *pf0 = f0 & actions;
    *pf1 = f1 & nr_wanted;
    *pf2 = *pf3 = 0;
    c->pflags = *pf1;
    return SMFIS_CONTINUE;
}

/* The steps before end of message: continue, or no reply if promised. */
static sfsistat nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    (void)host, (void)sa;
    return reply(ctx, SMFIP_NR_CONN);
}

static sfsistat nm_helo(SMFICTX *ctx, char *helo)
{
    (void)helo;
    return reply(ctx, SMFIP_NR_HELO);
}

static sfsistat nm_envfrom(SMFICTX *ctx, char **argv)
{
    (void)argv;
    message_reset(smfi_getpriv(ctx));
    return reply(ctx, SMFIP_NR_MAIL);
}

static sfsistat nm_envrcpt(SMFICTX *ctx, char **argv)
{
    struct nm_conn *c = conn_get(ctx);
    if (c->first_rcpt == NULL && argv && argv[0])
        c->first_rcpt = strdup(argv[0]);
    return reply(ctx, SMFIP_NR_RCPT);
}

static sfsistat nm_data(SMFICTX *ctx)
{
    return reply(ctx, SMFIP_NR_DATA);
}

static sfsistat nm_unknown(SMFICTX *ctx, const char *cmd)
{
    (void)cmd;
    return reply(ctx, SMFIP_NR_UNKN);
}

static sfsistat nm_header(SMFICTX *ctx, char *name, char *value)
{
    (void)name, (void)value;
    return reply(ctx, SMFIP_NR_HDR);
}

static sfsistat nm_eoh(SMFICTX *ctx)
{
    return reply(ctx, SMFIP_NR_EOH);
}

static sfsistat nm_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
    (void)data, (void)len;
    return reply(ctx, SMFIP_NR_BODY);
}

/* The list actions of -a: 0, or -1 naming the call the MTA refused. */
static int list_actions(SMFICTX *ctx, struct nm_conn *c, const char **what)
{
    char rcpt[64];
    *what = "addheader";
    if (smfi_addheader(ctx, "List-Id", "<bench.lists.test>") != MI_SUCCESS ||
        smfi_addheader(ctx, "List-Post", "<mailto:list@lists.test>") !=
            MI_SUCCESS ||
        smfi_addheader(ctx, "Precedence", "list") != MI_SUCCESS)
        return -1;
    *what = "chgheader";
    if (smfi_chgheader(ctx, "Subject", 1, "[bench] mlm-bench message") !=
        MI_SUCCESS)
        return -1;
    *what = "replacebody";
    if (smfi_replacebody(ctx, (unsigned char *)new_body,
                         (int)sizeof new_body - 1) != MI_SUCCESS)
        return -1;
    *what = "delrcpt";
    if (smfi_delrcpt(ctx, c->first_rcpt ? c->first_rcpt
                                        : "<list@lists.test>") != MI_SUCCESS)
        return -1;
    *what = "addrcpt";
    for (int i = 1; i <= list_rcpts; i++) {
        snprintf(rcpt, sizeof rcpt, "<member%d@members.bench.test>", i);
        if (smfi_addrcpt(ctx, rcpt) != MI_SUCCESS)
            return -1;
    }
    *what = "chgfrom";
    if (smfi_chgfrom(ctx, "<list-bounces@lists.test>", NULL) != MI_SUCCESS)
        return -1;
    return 0;
}

/* End of message: the list actions of -a, all of them or a 451. */
static sfsistat nm_eom(SMFICTX *ctx)
{
    struct nm_conn *c = conn_get(ctx);
    sfsistat st = SMFIS_CONTINUE;
    const char *what;
    if (list_rcpts >= 0 && list_actions(ctx, c, &what) == -1) {
        fprintf(stderr, "null-milter: smfi_%s failed\n", what);
        st = SMFIS_TEMPFAIL;
    }
    message_reset(c);
    return st;
}

static sfsistat nm_abort(SMFICTX *ctx)
{
    message_reset(smfi_getpriv(ctx));
    return SMFIS_CONTINUE;
}

/* The connection is gone: free its state. */
static sfsistat nm_close(SMFICTX *ctx)
{
    struct nm_conn *c = smfi_getpriv(ctx);
    if (c) {
        message_reset(c);
        free(c);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

static struct smfiDesc nm_desc = {
    .xxfi_name = "null-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = 0,                  /* set from -a in main */
    .xxfi_connect = nm_connect,
    .xxfi_helo = nm_helo,
    .xxfi_envfrom = nm_envfrom,
    .xxfi_envrcpt = nm_envrcpt,
    .xxfi_header = nm_header,
    .xxfi_eoh = nm_eoh,
    .xxfi_body = nm_body,
    .xxfi_eom = nm_eom,
    .xxfi_abort = nm_abort,
    .xxfi_close = nm_close,
    .xxfi_unknown = nm_unknown,
    .xxfi_data = nm_data,
    .xxfi_negotiate = nm_negotiate,
};

/*
 * Find libmilter's listening TCP socket among our descriptors and set
 * TCP_NODELAY on it; returns how many sockets were changed.
 */
static int listener_nodelay(void)
{
    int changed = 0;
    for (int fd = 0; fd < 1024; fd++) {
        int on = 0, one = 1;
        socklen_t len = sizeof on;
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1 ||
            !on)
            continue;
        if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
            fprintf(stderr, "null-milter: TCP_NODELAY on fd %d: %s\n", fd,
                    strerror(errno));
        else
            changed++;
    }
    return changed;
}

/* The options, on fp. */
static void usage(FILE *fp)
{
    fprintf(fp,
"usage: null-milter -p SOCKET [-a N] [-N none|data|all] [-D] [-b BACKLOG]\n"
"  -p SOCKET  unix:/path or inet:PORT@HOST\n"
"  -a N       list actions at end of message: 3 headers added, Subject\n"
"             changed, body replaced, 1 recipient deleted, N added,\n"
"             sender changed\n"
"  -N WHICH   steps to send no reply for: none, data (DATA, headers, EOH,\n"
"             body, unknown: what mlmd asks; the default) or all\n"
"  -D         leave Nagle on for inet: sockets (shows the ~40 ms stall)\n"
"  -b N       listen backlog\n");
}

int main(int argc, char **argv)
{
    const char *spec = NULL;
    int nagle = 0, backlog = 0, opt;
    char *end;
    while ((opt = getopt(argc, argv, "p:a:N:Db:h")) != -1) {
        switch (opt) {
        case 'p': spec = optarg; break;
        case 'a':
            list_rcpts = (int)strtol(optarg, &end, 10);
            if (*end || end == optarg || list_rcpts < 0 ||
                list_rcpts > 100000) {
                fprintf(stderr, "null-milter: -a wants 0 to 100000\n");
                return 2;
            }
            break;
        case 'N':
            if (strcmp(optarg, "none") == 0)
                nr_wanted = 0;
            else if (strcmp(optarg, "data") == 0)
                nr_wanted = NR_DATA_STEPS;
            else if (strcmp(optarg, "all") == 0)
                nr_wanted = NR_ALL_STEPS;
            else {
                usage(stderr);
                return 2;
            }
            break;
        case 'D': nagle = 1; break;
        case 'b': backlog = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (spec == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (list_rcpts >= 0)
        nm_desc.xxfi_flags = LIST_ACTIONS;
    if (smfi_register(nm_desc) == MI_FAILURE) {
        fprintf(stderr, "null-milter: smfi_register failed\n");
        return 1;
    }
    if (smfi_setconn((char *)spec) == MI_FAILURE) {
        fprintf(stderr, "null-milter: bad socket %s\n", spec);
        return 1;
    }
    if (backlog > 0)
        smfi_setbacklog(backlog);
    if (smfi_opensocket(true) == MI_FAILURE) {
        fprintf(stderr, "null-milter: cannot open %s\n", spec);
        return 1;
    }
    if (!nagle && strncmp(spec, "inet", 4) == 0 && listener_nodelay() == 0)
        fprintf(stderr, "null-milter: no listening TCP socket found for "
                "TCP_NODELAY\n");
    fprintf(stderr, "null-milter: listening on %s\n", spec);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
