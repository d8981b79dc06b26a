/*
 * ctl.h - mlm-ctl's commands and the small library they share.
 *
 * One table (mlm-ctl.c) maps each command ("status", "list create", ...)
 * to its function and its usage line. The usage line is also the grammar:
 * the dispatcher derives each command's options and argument count from
 * it, so usage, help, parsing and dispatch cannot drift apart.
 *
 * Layers, each using only those below it (tests/doc/layers.sh checks):
 *   mlm-ctl.c                  the command table, help and main
 *   *_cmd.c, daemon.c, try*.c  the commands (a command may use another's
 *                              helper: requests_cmd.c uses held_cmd.c's)
 *   args.c, out.c, db_env.c    the library: arguments, safe output, the
 *                              database and the user it is opened as
 */
#ifndef MLM_CTL_H
#define MLM_CTL_H

#include "mlmconf.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Exit statuses of the contract: 0 done, 1 refused or failed, 2 bad usage. */
#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

struct db;
struct list_info;
struct ctl_args;

struct ctl_env {
    struct mlm_config cfg;
    struct db *db;           /* opened on first use by ctl_db() */
};

typedef int (*ctl_fn)(struct ctl_env *env, struct ctl_args *args);

struct command {
    const char *name;        /* first word */
    const char *sub;         /* second word, or NULL */
    ctl_fn fn;
    const char *args;        /* usage after the words: the grammar */
    const char *help;
};

#define CTL_OPTS_MAX 12

/* One option of a command, as its usage line declares it. */
struct ctl_opt {
    char name[32];           /* without the leading "--" */
    int takes_value;
    int repeatable;
    int count;               /* how many times it was given */
    char **values;           /* each value given (takes_value) */
};

/* A command line parsed against its command's usage line. */
struct ctl_args {
    const struct command *cmd;
    int argc;                /* positional arguments */
    char **argv;
    struct ctl_opt opts[CTL_OPTS_MAX];
    int nopts;
};

/* args.c: a command line parsed against its command's usage line. */
/* Fill a (a->cmd set) from argv, the words after the command's: 0; 1
 * for -h or --help (the caller prints the help); -1 when it printed a usage error. */
int ctl_args_parse(struct ctl_args *a, int argc, char **argv);
void ctl_args_free(struct ctl_args *a);
/* "list create": the words of a command. */
void ctl_command_words(const struct command *c, char *out, size_t outlen);
/* "usage: mlm-ctl WORDS ARGS" and a newline. */
void ctl_usage_line(FILE *fp, const struct command *c);
/* The options parsed. */
const char *opt_value(const struct ctl_args *a, const char *name);
char **opt_values(const struct ctl_args *a, const char *name, int *count);
int opt_flag(const struct ctl_args *a, const char *name);
/* Print the usage line of a's command to stderr; returns EXIT_USAGE. */
int ctl_usage(const struct ctl_args *a);
/* One line on stderr ("mlm-ctl: ..."); returns EXIT_FAILED. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* db_env.c: the database, opened once (as cfg.user when run as root). */
/* Become cfg.user when running as root (no-op otherwise); 0 or -1. */
int ctl_become_user(struct ctl_env *env, char *why, size_t whylen);
struct db *ctl_db(struct ctl_env *env);
/* Find a list or say why not on stderr: 0, or an exit status. */
int ctl_list(struct ctl_env *env, const char *address,
             struct list_info *out);
/* A held message id: 1..INT64_MAX, decimal. 0 or -1. */
int parse_id(const char *s, int64_t *id);

/* out.c: output that is safe for a terminal and for scripts. Text from
 * mail, from the database or from the daemons is printed only through
 * these. */
#define TEXT_LINES 1 /* keep TAB and LF (CRLF becomes LF): a multi-line text */
/* The n bytes at s with what a terminal could act on shown as escapes:
 * C0 (but TAB and LF with TEXT_LINES), DEL and bytes that are not UTF-8
 * as \xNN, C1 controls and bidi overrides/isolates as \u{N}; at most max
 * characters (0: no limit), "..." marking a cut. Owned by the caller. */
char *safe_textn(const char *s, size_t n, size_t max, int flags);
/* safe_textn() of a string, as one line. */
char *safe_text(const char *s, size_t max);
/* Characters (code points) in a UTF-8 string. */
size_t text_width(const char *s);
/* Write s (already safe) and pad it with spaces to width. */
void put_padded(FILE *fp, const char *s, size_t width);
/* Print rows of ncols safe cells in columns two spaces apart. */
void columns_print(FILE *fp, char **cells, size_t ncols,
                   const size_t *widths);
/* Rows of cells printed in aligned columns: each cell made safe
 * (safe_text) as it is added; table_print prints and frees them all. */
struct table {
    size_t ncols, nrows, cap;
    char **cells;           /* nrows * ncols, row by row */
    size_t *widths;
};
void table_init(struct table *t, size_t ncols);
void table_add(struct table *t, const char *const *cells);
void table_print(struct table *t, FILE *fp);
/* "45s", "12m", "5h", "3d": the age of a unix time. */
void age_format(time_t when, time_t now, char *out, size_t outlen);
/* "2026-11-21T23:47:00Z". */
void time_format(time_t when, char *out, size_t outlen);
/* Print len bytes of text (a message: any bytes) with TEXT_LINES
 * escaping, ending with a newline. */
void put_message(FILE *fp, const char *text, size_t len);
/* put_message() of a string. */
void put_lines(FILE *fp, const char *text);

/* A streaming JSON writer: valid JSON whatever the stored data holds. */
struct json {
    FILE *fp;
    int depth;
    int count[16];           /* elements written at each depth */
};
void json_start(struct json *j, FILE *fp);
void json_end(struct json *j);                 /* final newline */
void json_object(struct json *j, const char *key);  /* key NULL: in array */
void json_array(struct json *j, const char *key);
void json_close(struct json *j, char bracket); /* '}' or ']' */
void json_str(struct json *j, const char *key, const char *value);
void json_strn(struct json *j, const char *key, const char *value,
               size_t len);
void json_int(struct json *j, const char *key, long long value);
void json_bool(struct json *j, const char *key, int value);

/* common/inject.c hands a message to cfg.sendmail. */
#include "inject.h"

/* daemon.c: status, stats, reload (the control socket). */
int cmd_status(struct ctl_env *env, struct ctl_args *a);
int cmd_stats(struct ctl_env *env, struct ctl_args *a);
int cmd_reload(struct ctl_env *env, struct ctl_args *a);

/* policy_cmd.c: check (no daemons), and loading a policy for check/try. */
struct policy;
/* Load path as a worker would (as cfg.user); on -1 nothing is left open. */
int ctl_policy_load(struct ctl_env *env, struct policy *pol,
                    const char *path, char *why, size_t whylen);
void ctl_policy_close(struct policy *pol);
int cmd_check(struct ctl_env *env, struct ctl_args *a);

/* try.c */
int cmd_try(struct ctl_env *env, struct ctl_args *a);

/* lists_cmd.c */
int cmd_list_create(struct ctl_env *env, struct ctl_args *a);
int cmd_list_show(struct ctl_env *env, struct ctl_args *a);
int cmd_list_delete(struct ctl_env *env, struct ctl_args *a);
int cmd_list_set(struct ctl_env *env, struct ctl_args *a);
int cmd_lists(struct ctl_env *env, struct ctl_args *a);
/* The settings table, for "help list set". */
void settings_help(FILE *fp);

/* members_cmd.c */
int cmd_member_add(struct ctl_env *env, struct ctl_args *a);
int cmd_member_remove(struct ctl_env *env, struct ctl_args *a);
int cmd_member_set(struct ctl_env *env, struct ctl_args *a);
int cmd_member_import(struct ctl_env *env, struct ctl_args *a);
int cmd_members(struct ctl_env *env, struct ctl_args *a);

/* held_cmd.c */
int cmd_held(struct ctl_env *env, struct ctl_args *a);
int cmd_held_show(struct ctl_env *env, struct ctl_args *a);
int cmd_held_decide(struct ctl_env *env, struct ctl_args *a);
/* One generated notice from LIST-owner@ to to[] through sendmail; a
 * failure is a warning on stderr. */
void notice_send(struct ctl_env *env, const struct list_info *list,
                 char **to, size_t nto, const char *subject,
                 const char *text);
/* Who decides: --by, else the user behind sudo, else the login name. */
void ctl_decider(const struct ctl_args *a, char *out, size_t outlen);
/* requests_cmd.c */
int cmd_requests(struct ctl_env *env, struct ctl_args *a);
int cmd_requests_decide(struct ctl_env *env, struct ctl_args *a);
/* held_notify.c */
int cmd_held_notify(struct ctl_env *env, struct ctl_args *a);

/* templates.c: the mail templates (lua/lib/mlm_templates.lua). */
/* Template name of list rendered with vars (name, value, ..., NULL) and
 * the list's addresses (${list}, ${request}, ${owner}, ${bounces}): the
 * body, and the subject in *subject (NULL for a fragment) when subject is
 * not NULL; both the caller's. NULL with a warning on stderr when the
 * templates cannot be read. */
char *ctl_template(struct ctl_env *env, const struct list_info *list,
                   const char *name, const char *const *vars,
                   char **subject);
int cmd_templates(struct ctl_env *env, struct ctl_args *a);
int cmd_template_show(struct ctl_env *env, struct ctl_args *a);
int cmd_template_set(struct ctl_env *env, struct ctl_args *a);
int cmd_template_reset(struct ctl_env *env, struct ctl_args *a);

/* bounces_cmd.c */
int cmd_bounces(struct ctl_env *env, struct ctl_args *a);
int cmd_log(struct ctl_env *env, struct ctl_args *a);
int cmd_bounces_parse(struct ctl_env *env, struct ctl_args *a);

/* dns_cmd.c */
int cmd_dns_check(struct ctl_env *env, struct ctl_args *a);
/* db_cmd.c */
int cmd_db_migrate(struct ctl_env *env, struct ctl_args *a);
int cmd_db_copy(struct ctl_env *env, struct ctl_args *a);

/* dkim_record.c */
int cmd_dns_dkim_record(struct ctl_env *env, struct ctl_args *a);

#endif
