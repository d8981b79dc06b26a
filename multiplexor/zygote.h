/*
 * zygote.h - the multiplexor's side of the worker fork server (zygote.c):
 * start it, ask it for workers, read the pids it answers, forget it when
 * it misbehaves or dies. Below the pool: it knows workers only by the
 * ticket (the worker id) it was asked with, and reports what becomes of
 * each through the events the pool registers.
 */
#ifndef MLM_MUX_ZYGOTE_H
#define MLM_MUX_ZYGOTE_H

#include "loop.h"

#include <stdint.h>
#include <sys/types.h>

struct spawn_args;

/* Fork requests the fork server may have in hand; more are executed. */
#define ZYGOTE_OWES_MAX 16

/* What becomes of a worker asked for: each ticket gets exactly one of
 * forked, fork_failed or pid_lost. */
struct zygote_events {
    void *ctx;
    /* Worker ticket is process pid; exited: already reaped (its death
     * came before its pid). */
    void (*forked)(void *ctx, int ticket, pid_t pid, int exited);
    /* It could not fork worker ticket: no process. */
    void (*fork_failed)(void *ctx, int ticket);
    /* It went away owing ticket's pid: nobody will tell it. */
    void (*pid_lost)(void *ctx, int ticket);
};

struct zygote {
    const struct spawn_args *args;
    struct zygote_events events;
    int fd;                      /* its socket, -1: none runs */
    pid_t pid;
    int ready;                   /* its first word came */
    struct loop_fd watch;
    struct zygote_ask {          /* workers whose pid it owes, oldest first */
        int worker_id;
        int64_t asked_ms;
    } owes[ZYGOTE_OWES_MAX];
    int owes_n;
    uint8_t in[64];              /* its messages (zygote_proto.h) */
    size_t in_len;
    pid_t reaped[ZYGOTE_OWES_MAX]; /* children reaped before their pid
                                      came: a ring */
    unsigned reaped_next;
    int64_t next_ms;             /* when to start it, -1: never */
    int failures;
    int stopped;                 /* the multiplexor stops: no restart */
    unsigned long long forks;    /* workers it started */
};

/* As root, before privileges go. */
void zygote_nice_allow(void);
/* In the process that stays (after the daemon's fork); z zeroed but fd -1
 * and next_ms -1. */
void zygote_init(struct zygote *z, const struct spawn_args *args,
                 const struct zygote_events *events);
/* Start it when due, give up on one that does not answer. */
void zygote_tick(struct zygote *z, int64_t now);
/* Ask it for worker ticket: 0 and *sock (the pid comes later, through the
 * events), or -1: exec it. */
int zygote_spawn(struct zygote *z, int ticket, int *sock);
/* A reaped child no worker has as its pid: maybe one whose pid is owed. */
void zygote_reaped_unknown(struct zygote *z, pid_t pid);
int zygote_exited(struct zygote *z, pid_t pid);         /* 1: it was */
/* At a reload: a new mlm-worker binary takes effect. */
void zygote_restart(struct zygote *z);
void zygote_stop(struct zygote *z);

#endif
