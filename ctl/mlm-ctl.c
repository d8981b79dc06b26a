/*
 * mlm-ctl.c - the administrator's tool: the command table and dispatch.
 * Exit status: 0 done, 1 refused or failed (one line on stderr), 2 usage.
 */
#include <config.h>
#include "ctl.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name;
    ctl_fn fn;
    const char *args;
    const char *help;
};

static const struct command commands[] = {
    {"status", cmd_status, "",
     "one line per worker: id, pid, state, requests, age, current job"},
    {"stats", cmd_stats, "[--json|--prometheus]",
     "requests, outcomes and latency per stage; queue; workers"},
    {"reload", cmd_reload, "",
     "check the policy in a fresh worker, then replace every worker"},
    {"check", cmd_check, "FILE",
     "load a policy file and report its errors, without the daemons"},
    {NULL, NULL, NULL, NULL},
};

static void usage_all(FILE *fp)
{
    fprintf(fp, "usage: mlm-ctl [-C FILE] COMMAND [ARGS]\n\ncommands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(fp, "  %-8s %-24s %s\n", c->name, c->args, c->help);
}

int ctl_usage(const char *command)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, command) == 0)
            fprintf(stderr, "usage: mlm-ctl %s %s\n", c->name, c->args);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static struct ctl_env env;
    const char *config_path = config_default_path;
    int explicit_config = 0, opt;
    char why[512];

    while ((opt = getopt(argc, argv, "+C:hV")) != -1) {
        switch (opt) {
        case 'C': config_path = optarg; explicit_config = 1; break;
        case 'h': usage_all(stdout); return EXIT_OK;
        case 'V': printf("mlm-ctl %s\n", PACKAGE_VERSION); return EXIT_OK;
        default: usage_all(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage_all(stderr);
        return EXIT_USAGE;
    }
    log_open("mlm-ctl", 1);
    config_defaults(&env.cfg);
    if (config_load(&env.cfg, config_path, explicit_config, why,
                    sizeof why) == -1) {
        fprintf(stderr, "mlm-ctl: %s\n", why);
        return EXIT_FAILED;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        usage_all(stdout);
        return EXIT_OK;
    }
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0) {
            optind++;
            return c->fn(&env, argc - optind, argv + optind);
        }
    fprintf(stderr, "mlm-ctl: unknown command '%s'\n", name);
    usage_all(stderr);
    return EXIT_USAGE;
}
