/*
 * args.c - mlm-ctl's command lines: a command's arguments parsed against
 * its usage line (the grammar, see ctl.h), the options read back, and the
 * one-line failure and usage messages every command prints.
 *
 * Below the commands and mlm-ctl.c: it knows struct command, not the
 * table of commands.
 */
#include "ctl.h"
#include "log.h"
#include "xmalloc.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_fail(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    msg[strcspn(msg, "\r\n")] = '\0'; /* one line: a traceback stays out */
    char *safe = safe_text(msg, 0); /* reasons quote what users typed */
    fprintf(stderr, "mlm-ctl: %s\n", safe);
    free(safe);
    return EXIT_FAILED;
}

void ctl_command_words(const struct command *c, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s%s", c->name, c->sub ? " " : "",
             c->sub ? c->sub : "");
}

void ctl_usage_line(FILE *fp, const struct command *c)
{
    char words[64];
    ctl_command_words(c, words, sizeof words);
    fprintf(fp, "usage: mlm-ctl %s%s%s\n", words, *c->args ? " " : "",
            c->args);
}

int ctl_usage(const struct ctl_args *a)
{
    ctl_usage_line(stderr, a->cmd);
    return EXIT_USAGE;
}

/* --- the grammar of a usage line ------------------------------------------ */

static struct ctl_opt *opt_declare(struct ctl_args *a, const char *name,
                                   size_t len, int takes_value, int repeatable)
{
    if (a->nopts == CTL_OPTS_MAX || len == 0 ||
        len >= sizeof a->opts[0].name)
        msg_panic("usage line of %s: too many or bad options", a->cmd->name);
    struct ctl_opt *o = &a->opts[a->nopts++];
    memcpy(o->name, name, len);
    o->name[len] = '\0';
    o->takes_value = takes_value;
    o->repeatable = repeatable;
    return o;
}

/* Read the options and argument counts that cmd's usage line declares. */
static void grammar_read(struct ctl_args *a, int *min_args, int *max_args)
{
    const char *p = a->cmd->args;
    *min_args = *max_args = 0;
    while (*p) {
        p += strspn(p, " ");
        if (*p == '\0')
            break;
        if (*p == '[') {
            const char *end = strchr(p, ']');
            if (end == NULL)
                msg_panic("usage line of %s: unbalanced [", a->cmd->name);
            const char *in = p + 1;
            size_t inlen = (size_t)(end - in);
            int repeat = strncmp(end + 1, "...", 3) == 0;
            p = end + 1 + (repeat ? 3 : 0);
            if (strncmp(in, "--", 2) != 0) {        /* [ARG] */
                *max_args = repeat ? INT_MAX : *max_args + 1;
                continue;
            }
            const char *space = memchr(in, ' ', inlen);
            if (space) {                            /* [--name VALUE] */
                opt_declare(a, in + 2, (size_t)(space - in - 2), 1, repeat);
                continue;
            }
            while (in < end) {                      /* [--a|--b] */
                const char *bar = memchr(in, '|', (size_t)(end - in));
                const char *stop = bar ? bar : end;
                opt_declare(a, in + 2, (size_t)(stop - in - 2), 0, 0);
                in = stop + 1;
            }
            continue;
        }
        size_t n = strcspn(p, " ");                 /* ARG or ARG... */
        int variadic = n > 3 && strncmp(p + n - 3, "...", 3) == 0;
        (*min_args)++;
        *max_args = variadic ? INT_MAX : *max_args + 1;
        p += n;
    }
}

static struct ctl_opt *opt_find(const struct ctl_args *a, const char *name,
                                size_t len)
{
    for (int i = 0; i < a->nopts; i++)
        if (strlen(a->opts[i].name) == len &&
            strncmp(a->opts[i].name, name, len) == 0)
            return (struct ctl_opt *)&a->opts[i];
    return NULL;
}

const char *opt_value(const struct ctl_args *a, const char *name)
{
    struct ctl_opt *o = opt_find(a, name, strlen(name));
    return o && o->count ? o->values[o->count - 1] : NULL;
}

char **opt_values(const struct ctl_args *a, const char *name, int *count)
{
    struct ctl_opt *o = opt_find(a, name, strlen(name));
    *count = o ? o->count : 0;
    return o ? o->values : NULL;
}

int opt_flag(const struct ctl_args *a, const char *name)
{
    struct ctl_opt *o = opt_find(a, name, strlen(name));
    return o && o->count > 0;
}

/*
 * "--name", "--name=value" or "-x": anything else is an argument, so a
 * footer starting "-- " or a value "-" needs no "--" before it.
 */
static int looks_like_option(const char *arg)
{
    if (arg[0] != '-')
        return 0;
    if (arg[1] != '-')
        return isalpha((unsigned char)arg[1]) && arg[2] == '\0';
    size_t n = strspn(arg + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
    return arg[2 + n] == '\0' || arg[2 + n] == '=';
}

/*
 * Parse argv (after the command words) against the grammar. Options may
 * come anywhere; "--" ends them. Returns -1 when it printed a usage error,
 * 1 for -h or --help (nothing printed), else 0.
 */
int ctl_args_parse(struct ctl_args *a, int argc, char **argv)
{
    int min_args, max_args, only_args = 0;
    grammar_read(a, &min_args, &max_args);
    a->argv = xcalloc((size_t)argc + 1, sizeof *a->argv);
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (only_args || !looks_like_option(arg)) {
            a->argv[a->argc++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_args = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            return 1; /* the caller prints the help */
        }
        const char *name = arg + 2, *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        struct ctl_opt *o = arg[1] == '-' ? opt_find(a, name, len) : NULL;
        if (o == NULL) {
            fprintf(stderr, "mlm-ctl: unknown option '%.*s'\n",
                    (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
            return -1;
        }
        if (o->count && !o->repeatable) {
            fprintf(stderr, "mlm-ctl: --%s given twice\n", o->name);
            return -1;
        }
        if (!o->takes_value && eq) {
            fprintf(stderr, "mlm-ctl: --%s takes no value\n", o->name);
            return -1;
        }
        if (o->takes_value) {
            char *value = eq ? (char *)eq + 1 : i + 1 < argc ? argv[++i]
                                                             : NULL;
            if (value == NULL) {
                fprintf(stderr, "mlm-ctl: --%s needs a value\n", o->name);
                return -1;
            }
            o->values = xrealloc(o->values,
                                 ((size_t)o->count + 1) * sizeof *o->values);
            o->values[o->count] = value;
        }
        o->count++;
    }
    if (a->argc < min_args || a->argc > max_args) {
        fprintf(stderr, "mlm-ctl: %s arguments\n",
                a->argc < min_args ? "missing" : "too many");
        return -1;
    }
    return 0;
}

void ctl_args_free(struct ctl_args *a)
{
    for (int i = 0; i < a->nopts; i++)
        free(a->opts[i].values);
    free(a->argv);
}

/* --- dispatch -------------------------------------------------------------- */
