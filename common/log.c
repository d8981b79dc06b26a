/*
 * log.c - the one place where mlm programs write diagnostics.
 *
 * Messages are single lines: any CR, LF or other control character in a
 * formatted message (it may carry an SMTP client's data) is replaced by '?'
 * so a hostile address cannot forge extra log lines.
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

/* Replace what could break a log line; tabs and newlines become spaces. */
static void neutralise(char *text)
{
    for (unsigned char *p = (unsigned char *)text; *p; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
        else if (*p < 0x20 || *p == 0x7f)
            *p = '?';
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
