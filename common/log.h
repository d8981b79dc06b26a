/*
 * log.h - diagnostics with fixed meanings, shared by every mlm program.
 *
 * msg_info/msg_warn go on; msg_error reports a failed operation and goes on;
 * msg_fatal exits cleanly (status 1); msg_panic reports a bug and aborts.
 * Output goes to stderr (foreground, tools) or syslog (detached daemons).
 */
#ifndef MLM_LOG_H
#define MLM_LOG_H

#include <stdarg.h>

/* Where log lines go: chosen once at start-up, before threads exist. */
void log_open(const char *progname, int to_stderr);
void log_set_debug(int enabled);
int log_debug_enabled(void);

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void msg_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
