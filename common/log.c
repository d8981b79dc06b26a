/*
 * log.c - the one place where mlm programs write diagnostics.
 *
 * Messages are single lines: any CR, LF or other control character in a
 * formatted message (it may carry an SMTP client's data) is replaced by '?'
 * so a hostile address cannot forge extra log lines; so are C1 controls
 * (U+0080..U+009F), bidi overrides and isolates, and bytes that are not
 * UTF-8 (a raw 8-bit CSI), which a terminal showing the log would obey.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_progname = "mlm";
static int log_to_stderr = 1;
static int log_debug_on;

void log_open(const char *progname, int to_stderr)
{
    log_progname = progname;
    log_to_stderr = to_stderr;
    if (!to_stderr)
        openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_debug(int enabled) { log_debug_on = enabled; }
int log_debug_enabled(void) { return log_debug_on; }

/* The code point of the UTF-8 sequence at p and its length, or -1. */
static long utf8_at(const unsigned char *p, size_t *len)
{
    size_t need;
    long cp, min;
    if (*p >= 0xc2 && *p <= 0xdf)
        need = 1, cp = *p & 0x1f, min = 0x80;
    else if (*p >= 0xe0 && *p <= 0xef)
        need = 2, cp = *p & 0x0f, min = 0x800;
    else if (*p >= 0xf0 && *p <= 0xf4)
        need = 3, cp = *p & 0x07, min = 0x10000;
    else
        return -1;
    for (size_t i = 1; i <= need; i++) { /* a NUL stops this too */
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *len = need + 1;
    return cp;
}

/* Replace what could break a log line or act on a terminal, in place, a
 * '?' a byte; tabs and newlines become spaces. */
static void neutralise(char *text)
{
    unsigned char *p = (unsigned char *)text;
    while (*p) {
        size_t len = 1;
        if (*p == '\t' || *p == '\n') {
            *p = ' ';
        } else if (*p < 0x20 || *p == 0x7f) {
            *p = '?';
        } else if (*p >= 0x80) {
            long cp = utf8_at(p, &len);
            if (cp < 0)
                len = 1;
            if (cp < 0 || cp <= 0x9f || (cp >= 0x202a && cp <= 0x202e) ||
                (cp >= 0x2066 && cp <= 0x2069))
                memset(p, '?', len);
        }
        p += len;
    }
}

/*
 * Format one line, neutralise control characters, send it to the sink.
 * On stderr the line is built whole and written with one write(2), so
 * lines from concurrent threads or processes never interleave.
 */
static void log_emit(int priority, const char *label, const char *fmt,
                     va_list ap)
{
    char line[2048];
    if (!log_to_stderr) {
        vsnprintf(line, sizeof line, fmt, ap);
        neutralise(line);
        syslog(priority, "%s%s", label, line);
        return;
    }
    int head = snprintf(line, sizeof line, "%s[%ld]: %s", log_progname,
                        (long)getpid(), label);
    if (head < 0 || (size_t)head >= sizeof line / 2)
        head = 0;
    int body = vsnprintf(line + head, sizeof line - (size_t)head - 1, fmt, ap);
    neutralise(line + head);
    size_t len = (size_t)head;
    if (body > 0)
        len += (size_t)body < sizeof line - (size_t)head - 1
                   ? (size_t)body
                   : sizeof line - (size_t)head - 2;
    line[len++] = '\n';
    if (write(2, line, len) == -1) {
        /* nowhere left to report it */
    }
}

#define LOG_BODY(prio, label)                                                  \
    do {                                                                       \
        va_list ap;                                                            \
        va_start(ap, fmt);                                                     \
        log_emit(prio, label, fmt, ap);                                        \
        va_end(ap);                                                            \
    } while (0)

void msg_debug(const char *fmt, ...)
{
    if (log_debug_on)
        LOG_BODY(LOG_DEBUG, "debug: ");
}
void msg_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, ""); }
void msg_warn(const char *fmt, ...) { LOG_BODY(LOG_WARNING, "warning: "); }
void msg_error(const char *fmt, ...) { LOG_BODY(LOG_ERR, "error: "); }

/* Fatal errors also reach a terminal: start-up errors must be seen. */
void msg_fatal(const char *fmt, ...)
{
    LOG_BODY(LOG_CRIT, "fatal: ");
    if (!log_to_stderr && isatty(2)) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: fatal: ", log_progname);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    exit(1);
}

void msg_panic(const char *fmt, ...)
{
    LOG_BODY(LOG_CRIT, "panic: ");
    abort();
}
