/*
 * spawn.h - starting mlm-worker (spawn.c): a worker, the worker fork
 * server or the outbox drainer, forked and executed with the options the
 * multiplexor was given. Below the pool and the drainer; uses nothing of
 * the multiplexor's but its own arguments.
 */
#ifndef MLM_MUX_SPAWN_H
#define MLM_MUX_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

/* How mlm-worker is run. */
struct spawn_args {
    const char *program;         /* worker_program */
    const char *config_path;     /* passed with -C when explicit_config */
    int explicit_config;
    const char *policy;          /* -P */
    int foreground;              /* -f */
    int debug;                   /* -d */
};

enum spawn_role {
    SPAWN_WORKER,                /* serves requests on fd 0 */
    SPAWN_FORK_SERVER,           /* -Z: forks workers on request (zygote.c) */
};

/* Fork and exec mlm-worker in role on a new socketpair: its pid, and in
 * *sock the multiplexor's end (close-on-exec); -1 on failure. */
pid_t spawn_worker(const struct spawn_args *args, enum spawn_role role,
                   int *sock);
/* Fork and exec the outbox drainer (-O), stdin /dev/null: pid, or -1. */
pid_t spawn_drainer(const struct spawn_args *args);
/* A close-on-exec stream socketpair: 0, or -1 (logged). */
int pair_open(int sv[2]);
/* The pause after the nth failure in a row: first_ms doubled, up to max_ms. */
int64_t backoff_ms(int failures, int64_t first_ms, int64_t max_ms);

#endif
