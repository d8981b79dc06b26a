/*
* drainer.c - the multiplexor's side of the outbox (common/outbox.h): it
 * runs the drainer, `mlm-worker -O`, one at a time and outside every
 * request: when a worker's reply says mail went to the outbox
 * (drainer_kick), at start, and whenever a look every outbox_retry seconds
 * finds mail waiting (sendmail failed, or a worker died before its reply
 * told). A drainer that outlives its own limits by a minute is killed;
 * what it did not send waits for the next one. Drainers exclude each other
 * (a lock on the outbox), so one left running by an earlier multiplexor
 * finishes its work alone.
 */
#include "drainer.h"
#include "log.h"
#include "outbox.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A drainer starts no message it could not finish within OUTBOX_RUN_MS:
 * past that and a minute it is stuck (a disk, say), not sending. */
#define DRAIN_KILL_MS(d) \
    (OUTBOX_RUN_MS + OUTBOX_SEND_TIMEOUT_MS((d)->cfg->decision_timeout) + 60000)

/* outbox_retry, at least a second: a failing drain is not run in a loop. */
static int64_t check_pause_ms(const struct drainer *d)
{
    return d->cfg->outbox_retry > 1 ? (int64_t)d->cfg->outbox_retry * 1000
                                     : 1000;
}

void drainer_kick(struct drainer *d)
{
    d->wanted = 1;
}

void drainer_tick(struct drainer *d, int64_t now, int stopping)
{
    if (d->pid > 0) {
        if (!d->killed && now - d->since_ms > DRAIN_KILL_MS(d)) {
            msg_warn("outbox: the drainer (pid %ld) runs too long: killing "
                     "it", (long)d->pid);
            kill(d->pid, SIGKILL);
            d->killed = 1;
        }
        return;
    }
    if (stopping)
        return;
    if (now >= d->check_ms) {
        /* mail that failed, or whose worker died before it could tell */
        d->check_ms = now + check_pause_ms(d);
        if (outbox_waiting(d->cfg->spool_dir) > 0)
            d->wanted = 1;
    }
    if (!d->wanted)
        return;
    pid_t pid = spawn_drainer(d->args);
    if (pid == -1)
        return; /* tried again at the next check */
    d->wanted = 0;
    d->pid = pid;
    d->since_ms = now;
    d->killed = 0;
    msg_debug("outbox: drainer started, pid %ld", (long)pid);
}

int drainer_exited(struct drainer *d, pid_t pid, int status)
{
    if (pid != d->pid || pid <= 0)
        return 0;
    d->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
        msg_warn("outbox: the drainer %s %d", WIFEXITED(status)
                                                  ? "exited with status"
                                                  : "was killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return 1;
}
