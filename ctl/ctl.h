/*
 * ctl.h - mlm-ctl's commands. One table (mlm-ctl.c) maps each command to
 * its function, usage line and help, so they cannot drift apart.
 */
#ifndef MLM_CTL_H
#define MLM_CTL_H

#include "mlmconf.h"

/* Exit statuses of DESIGN.md. */
#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

struct ctl_env {
    struct mlm_config cfg;
};

typedef int (*ctl_fn)(struct ctl_env *env, int argc, char **argv);

/* daemon.c: status, stats, reload (the control socket). */
int cmd_status(struct ctl_env *env, int argc, char **argv);
int cmd_stats(struct ctl_env *env, int argc, char **argv);
int cmd_reload(struct ctl_env *env, int argc, char **argv);

/* policy_cmd.c: check (no daemons). */
int cmd_check(struct ctl_env *env, int argc, char **argv);

/* Print the usage of one command to stderr and return EXIT_USAGE. */
int ctl_usage(const char *command);

#endif
