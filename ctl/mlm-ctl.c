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
    {"templates", NULL, cmd_templates, "LIST",
     "one mail template a line: name, own (the list's version) or "
     "shipped, what it is"},
    {"template", "show", cmd_template_show, "LIST NAME [--shipped]",
     "a template as template set reads it: the list's version, else (and "
     "with --shipped) the shipped text"},
    {"template", "set", cmd_template_set, "LIST NAME FILE",
     "the list's own version of a template, from FILE (- for stdin): "
     "\"Subject: ...\", an empty line and the body; only the template's "
     "own ${placeholders}"},
    {"template", "reset", cmd_template_reset, "LIST NAME",
     "drop the list's version: the shipped text again"},
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
    {"db", "migrate", cmd_db_migrate, "",
     "bring the database to this mlm's schema (PostgreSQL only migrates "
     "so; SQLite migrates itself, and this reports its version)"},
    {"db", "copy", cmd_db_copy, "SRC DST",
     "copy every list, member, held post and log of database SRC into the "
     "empty database DST (a SQLite file or a postgresql:// URI), then "
     "compare the rows of each table"},
    {NULL, NULL, NULL, NULL, NULL},
};

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
        ctl_command_words(c, words, sizeof words);
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
            ctl_usage_line(fp, c);
}

static void help_command(FILE *fp, const struct command *c)
{
    ctl_usage_line(fp, c);
    help_wrapped(fp, c->help, 2);
    if (c->fn == cmd_list_set)
        settings_help(fp);
}

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
        ctl_command_words(c, words, sizeof words);
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
    int rc = ctl_args_parse(&args, argc - words, argv + words);
    if (rc == 1)
        help_command(stdout, c);
    if (rc != 0) {
        ctl_args_free(&args);
        return rc == 1 ? EXIT_OK : ctl_usage(&args);
    }
    log_open("mlm-ctl", 1);
    config_defaults(&env.cfg);
    if (config_load(&env.cfg, config_path, explicit_config, why,
                    sizeof why) == -1) {
        ctl_args_free(&args);
        return ctl_fail("%s", why);
    }
    rc = c->fn(&env, &args);
    if (fflush(stdout) == EOF && rc == EXIT_OK)
        rc = ctl_fail("cannot write the output");
    db_close(env.db);
    config_free(&env.cfg);
    ctl_args_free(&args);
    return rc;
}
