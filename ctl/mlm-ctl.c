/*
 * mlm-ctl.c - the administrator's tool: the command table and dispatch.
 *
 * Each command is a row of one table: its words ("list" "create"), its
 * function, its usage line and a line of help. The usage line is the
 * grammar too: "[--owner ADDR]..." declares a repeatable option taking a
 * value, "[--json]" a flag, "ADDRESS" a required argument, "[ADDRESS]" an
 * optional one, "FILE..." any number. Commands sharing a first word form a
 * group ("mlm-ctl member" shows the group's usage lines); a row without a
 * second word ("held LIST") takes what is not one of its group's words.
 *
 * Exit status: 0 done, 1 refused or failed (one line on stderr), 2 usage.
 */
#include <config.h>
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "xmalloc.h"

#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct command commands[] = {
    {"status", NULL, cmd_status, "[--json]",
     "one line per worker: id, pid, state, requests, age, current job"},
    {"stats", NULL, cmd_stats, "[--json|--prometheus]",
     "requests, outcomes and latency per stage; queue; workers"},
    {"reload", NULL, cmd_reload, "",
     "check the policy in a fresh worker, then replace every worker"},
    {"check", NULL, cmd_check, "FILE",
     "load a policy file and report its errors, without the daemons"},
    {"try", NULL, cmd_try,
     "[--from A] [--to B]... [--client IP] [--helo H] [--hostname NAME] "
     "[--policy FILE] [--output FILE] FILE.eml",
     "run a message through the policy with no MTA: each stage's reply, the "
     "changes and the resulting message (sender and recipients default to "
     "the message's From and To/Cc; --output also writes it unescaped to "
     "FILE); exit 0 when it would be delivered"},
    {"list", "create", cmd_list_create,
     "ADDRESS [--posting P] [--owner ADDR]... [--prefix TEXT]",
     "create a list, optionally with its posting policy, owners and "
     "subject prefix"},
    {"list", "show", cmd_list_show, "ADDRESS [--json]",
     "every setting of a list, its owners and moderators, member count"},
    {"list", "delete", cmd_list_delete, "ADDRESS",
     "delete a list with its members, held messages and bounces"},
    {"list", "set", cmd_list_set, "ADDRESS KEY VALUE",
     "change one setting of a list (mlm-ctl help list set: the settings)"},
    {"lists", NULL, cmd_lists, "[--json]",
     "one list a line: address, members, posting"},
    {"member", "add", cmd_member_add,
     "LIST ADDRESS [--role member|moderator|owner] [--name NAME]",
     "give an address a role (default member) on a list"},
    {"member", "remove", cmd_member_remove,
     "LIST ADDRESS [--role member|moderator|owner] [--name NAME]",
     "take a role (default member) away from an address (--name is "
     "accepted, as in member add, and ignored)"},
    {"member", "set", cmd_member_set,
     "LIST ADDRESS KEY VALUE [--role member|moderator|owner]",
     "moderated yes|no, delivery enabled|disabled, not-me-too yes|no, or "
     "name TEXT"},
    {"member", "import", cmd_member_import, "LIST FILE",
     "add the addresses of FILE (one a line, - for stdin) as members, all "
     "or none"},
    {"members", NULL, cmd_members,
     "LIST [--role member|moderator|owner] [--json]",
     "one member a line: address, role, delivery, bounce score, flags "
     "(moderated, not-me-too), name"},
    {"held", NULL, cmd_held,
     "LIST [--state pending|approved|rejected|discarded] [--json]",
     "one held message a line: id, sender, subject, reason, age"},
    {"held", "show", cmd_held_show, "ID [--json]",
     "a held message's metadata and the message itself"},
    {"held", "approve", cmd_held_decide, "ID [--by WHO]",
     "distribute a held post: re-injected through sendmail to its list "
     "(in hold_mode defer only recorded: the sender's retry delivers it)"},
    {"held", "reject", cmd_held_decide, "ID [--by WHO]",
     "refuse a held post (the list policy may tell the sender)"},
    {"held", "discard", cmd_held_decide, "ID [--by WHO]",
     "drop a held post silently"},
    {"held", "notify", cmd_held_notify, "",
     "discard held posts past held_expire, then mail each list's "
     "moderators one summary of its pending posts with the reply addresses"},
    {"requests", NULL, cmd_requests,
     "LIST [--state pending|approved|rejected] [--json]",
     "one subscription request held for the owners a line: id, address, "
     "when, state"},
    {"requests", "approve", cmd_requests_decide, "ID [--by WHO]",
     "subscribe the requesting address and send it a welcome"},
    {"requests", "reject", cmd_requests_decide, "ID [--by WHO]",
     "drop a subscription request; the address is told politely"},
    {"log", NULL, cmd_log, "LIST [--limit N] [--json]",
     "the list's changes, newest first: when, who (mlm-ctl by USER, or "
     "mail from ADDRESS), what, the address or setting, the new value"},
    {"bounces", NULL, cmd_bounces, "LIST [--members] [--limit N] [--json]",
     "recent bounces, newest first: address, status, scored, when, "
     "diagnostic; with --members one member a line: score, delivery, day "
     "of the last scored bounce, last status and diagnostic"},
    {"bounces", "parse", cmd_bounces_parse, "FILE.eml [--json]",
     "what NAME-bounces@ reads from one bounce (format, addresses, status, "
     "action, verdict), through the worker's Lua code; changes nothing"},
    {"dns", "check", cmd_dns_check, "DOMAIN",
     "what mlm sees of a domain: organisational domain, DMARC record and "
     "policy, SPF record"},
    {"dns", "dkim-record", cmd_dns_dkim_record, "SELECTOR DOMAIN KEYFILE",
     "the TXT record that publishes the public half of a DKIM key (RSA or "
     "Ed25519, private or public, PEM or DER; - for stdin) as "
     "SELECTOR._domainkey.DOMAIN, in a zone file's syntax"},
    {NULL, NULL, NULL, NULL, NULL},
};

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

static void command_words(const struct command *c, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s%s", c->name, c->sub ? " " : "",
             c->sub ? c->sub : "");
}

static void usage_line(FILE *fp, const struct command *c)
{
    char words[64];
    command_words(c, words, sizeof words);
    fprintf(fp, "usage: mlm-ctl %s%s%s\n", words, *c->args ? " " : "",
            c->args);
}

int ctl_usage(const struct ctl_args *a)
{
    usage_line(stderr, a->cmd);
    return EXIT_USAGE;
}

/* Help text in lines of at most 78 columns, indented. */
static void help_wrapped(FILE *fp, const char *text, int indent)
{
    const char *p = text;
    while (*p) {
        size_t room = (size_t)(78 - indent), n = strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(p, " ");
        }
        fprintf(fp, "%*s%.*s\n", indent, "", (int)n, p);
        p += n;
        p += strspn(p, " ");
    }
}

static void usage_all(FILE *fp)
{
    fprintf(fp, "usage: mlm-ctl [-C FILE] COMMAND [ARGS]\n"
                "       mlm-ctl help [COMMAND]\n\ncommands:\n");
    for (const struct command *c = commands; c->name; c++) {
        char words[64];
        command_words(c, words, sizeof words);
        fprintf(fp, "  %s%s%s\n", words, *c->args ? " " : "", c->args);
        help_wrapped(fp, c->help, 8);
    }
    fprintf(fp, "\n-C FILE selects the configuration (default %s).\n"
                "Exit status: 0 done, 1 refused or failed, 2 bad usage.\n",
            config_default_path);
}

/* Every usage line of a group ("mlm-ctl member"). */
static void usage_group(FILE *fp, const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            usage_line(fp, c);
}

static void help_command(FILE *fp, const struct command *c)
{
    usage_line(fp, c);
    help_wrapped(fp, c->help, 2);
    if (c->fn == cmd_list_set)
        settings_help(fp);
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
 * 1 when it printed help, else 0.
 */
static int args_parse(struct ctl_args *a, int argc, char **argv)
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
            help_command(stdout, a->cmd);
            return 1;
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

static void args_free(struct ctl_args *a)
{
    for (int i = 0; i < a->nopts; i++)
        free(a->opts[i].values);
    free(a->argv);
}

/* --- dispatch -------------------------------------------------------------- */

static int is_group(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (c->sub && strcmp(c->name, name) == 0)
            return 1;
    return 0;
}

/*
 * The command named by argv[0] (and argv[1] in a group); *words says how
 * many words it took. NULL when there is none.
 */
static const struct command *command_find(int argc, char **argv, int *words)
{
    const struct command *bare = NULL;
    for (const struct command *c = commands; c->name; c++) {
        if (strcmp(c->name, argv[0]) != 0)
            continue;
        if (c->sub == NULL)
            bare = c;
        else if (argc > 1 && strcmp(c->sub, argv[1]) == 0) {
            *words = 2;
            return c;
        }
    }
    *words = 1;
    /* "held" alone is the group's usage, not "held LIST" missing LIST. */
    if (bare && is_group(bare->name) && argc == 1)
        return NULL;
    return bare;
}

/*
 * Print the words of one usage line: its arguments (options == 0: "LIST",
 * "ADDRESS", "FILE...", an optional one without its brackets) or its
 * options (options == 1: "--json", "--role=member|moderator|owner",
 * "--owner=ADDR"), separated by blanks.
 */
static void usage_words(FILE *fp, const char *p, int options)
{
    const char *sep = "";
    while (*p) {
        p += strspn(p, " ");
        if (*p == '\0')
            break;
        if (*p != '[') {
            size_t n = strcspn(p, " ");
            if (!options)
                fprintf(fp, "%s%.*s", sep, (int)n, p), sep = " ";
            p += n;
            continue;
        }
        const char *end = strchr(p, ']');
        if (end == NULL)
            return; /* grammar_read refuses it when the command runs */
        const char *in = p + 1;
        p = end + 1 + (strncmp(end + 1, "...", 3) == 0 ? 3 : 0);
        if (strncmp(in, "--", 2) != 0) {
            if (!options)
                fprintf(fp, "%s%.*s", sep, (int)(end - in), in), sep = " ";
            continue;
        }
        if (!options)
            continue;
        const char *space = memchr(in, ' ', (size_t)(end - in));
        if (space) {
            fprintf(fp, "%s%.*s=%.*s", sep, (int)(space - in), in,
                    (int)(end - space - 1), space + 1);
            sep = " ";
            continue;
        }
        while (in < end) {
            const char *bar = memchr(in, '|', (size_t)(end - in));
            const char *stop = bar ? bar : end;
            fprintf(fp, "%s%.*s", sep, (int)(stop - in), in);
            sep = " ";
            in = stop + 1;
        }
    }
}

/*
 * "mlm-ctl help --complete": the command table for completion/mlm-ctl,
 * which reads it at completion time and keeps a copy made from it at
 * build time. One command a line, three fields separated by a tab: its
 * words, its arguments, its options (usage_words).
 */
static void complete_table(FILE *fp)
{
    char words[64];
    for (const struct command *c = commands; c->name; c++) {
        command_words(c, words, sizeof words);
        fprintf(fp, "%s\t", words);
        usage_words(fp, c->args, 0);
        fputc('\t', fp);
        usage_words(fp, c->args, 1);
        fputc('\n', fp);
    }
}

static int help(int argc, char **argv)
{
    int words;
    if (argc == 0) {
        usage_all(stdout);
        return EXIT_OK;
    }
    if (argc == 1 && strcmp(argv[0], "--complete") == 0) {
        complete_table(stdout);
        return EXIT_OK;
    }
    const struct command *c = command_find(argc, argv, &words);
    if (c && words == argc) {
        help_command(stdout, c);
        return EXIT_OK;
    }
    if (argc == 1 && is_group(argv[0])) {
        usage_group(stdout, argv[0]);
        return EXIT_OK;
    }
    fprintf(stderr, "mlm-ctl: no command '%s%s%s'\n", argv[0],
            argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    return EXIT_USAGE;
}

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    static struct ctl_env env;
    const char *config_path = config_default_path;
    int explicit_config = 0, opt, words;
    char why[512];

    while ((opt = getopt_long(argc, argv, "+C:hV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'C': config_path = optarg; explicit_config = 1; break;
        case 'h': usage_all(stdout); return EXIT_OK;
        case 'V': printf("mlm-ctl %s\n", PACKAGE_VERSION); return EXIT_OK;
        default: usage_all(stderr); return EXIT_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc == 0) {
        usage_all(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "help") == 0)
        return help(argc - 1, argv + 1);
    const struct command *c = command_find(argc, argv, &words);
    if (c == NULL) {
        if (is_group(argv[0])) {
            if (argc > 1)
                fprintf(stderr, "mlm-ctl: unknown command '%s %s'\n",
                        argv[0], argv[1]);
            usage_group(stderr, argv[0]);
        } else {
            fprintf(stderr, "mlm-ctl: unknown command '%s'\n"
                            "usage: mlm-ctl [-C FILE] COMMAND [ARGS] "
                            "(mlm-ctl help lists the commands)\n", argv[0]);
        }
        return EXIT_USAGE;
    }
    struct ctl_args args = {.cmd = c};
    int rc = args_parse(&args, argc - words, argv + words);
    if (rc != 0) {
        args_free(&args);
        return rc == 1 ? EXIT_OK : ctl_usage(&args);
    }
    log_open("mlm-ctl", 1);
    config_defaults(&env.cfg);
    if (config_load(&env.cfg, config_path, explicit_config, why,
                    sizeof why) == -1) {
        args_free(&args);
        return ctl_fail("%s", why);
    }
    rc = c->fn(&env, &args);
    if (fflush(stdout) == EOF && rc == EXIT_OK)
        rc = ctl_fail("cannot write the output");
    db_close(env.db);
    config_free(&env.cfg);
    args_free(&args);
    return rc;
}
