/*
 * mlm-bench-milter.c - the MTA's side of the protocol over a struct mconn:
 * option negotiation, sessions (CONNECT, HELO), transactions (MAIL to end
 * of message, ABORT between them with -r), and each reply checked as an
 * MTA would check it.
 *
 * The bench offers every action and protocol flag, then follows what the
 * milter answers: the steps it asks to skip (SMFIP_NO*) are not sent, the
 * replies it says it will not send (SMFIP_NR_*) are not awaited. Packets
 * that need no reply are buffered and go out with the next one that does,
 * so the bench's own cost stays small next to the milter's.
 *
 * Owns: the negotiation the first connection saw (nego_*).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mlm-bench.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define OFFER_VERSION 6
#define OFFER_ACTIONS SMFI_CURR_ACTS
#define OFFER_PROTOCOL SMFI_CURR_PROT
#define FLUSH_AT (64u * 1024)           /* buffered no-reply data */

/* The final reply to one command, as the MTA acts on it. */
enum reply_kind {
    RK_CONTINUE, RK_ACCEPT, RK_REJECT, RK_TEMPFAIL, RK_DISCARD, RK_SKIP,
    RK_ERROR
};

static pthread_mutex_t nego_lock = PTHREAD_MUTEX_INITIALIZER;
int nego_seen;
uint32_t nego_version, nego_actions, nego_pflags;

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
void session_close(struct mconn *c)
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
 * Run transaction txno, counted in st: on a fresh connection, or with -r
 * on the thread's open session c (opened first if needed).
 */
enum outcome tx_run(struct stats *st, struct mconn *c, long txno)
{
    char qid[32];
    int done = 0, session_decided = 0;
    snprintf(qid, sizeof qid, "B%07lX", (unsigned long)txno + 1);
    int64_t t0 = now_us();
    enum outcome out = OUT_CONTINUE;
    if (!opt.reuse || c->state != CS_IN_SESSION) {
        session_close(c);
        out = session_open(c, st);
        session_decided = out != OUT_CONTINUE;
    }
    if (!session_decided)
        out = transaction_run(c, st, qid, &done);
    if (out == OUT_ERROR) {
        tx_error(txno, qid, c->why);
        mconn_close(c);
        return out;
    }
    hist_add(&st->lat[LAT_TX], now_us() - t0);
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
