/*
 * outbox.c - the multiplexor's side of the outbox (common/outbox.h): it
 * runs the drainer, `mlm-worker -O`, one at a time and outside every
 * request: when a worker's reply says mail went to the outbox
 * (outbox_kick), at start, and whenever a look every outbox_retry seconds
 * finds mail waiting (sendmail failed, or a worker died before its reply
 * told). A drainer that outlives its own limits by a minute is killed;
 * what it did not send waits for the next one. Drainers exclude each other
 * (a lock on the outbox), so one left running by an earlier multiplexor
 * finishes its work alone.
 */
#include "mux.h"
#include "log.h"
#include "outbox.h"
#include "sockio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A drainer starts no message it could not finish within OUTBOX_RUN_MS:
 * past that and a minute it is stuck (a disk, say), not sending. */
#define DRAIN_KILL_MS(mx) \
    (OUTBOX_RUN_MS + OUTBOX_SEND_TIMEOUT_MS((mx)->cfg->decision_timeout) + 60000)

/* outbox_retry, at least a second: a failing drain is not run in a loop. */
static int64_t check_pause_ms(const struct mux *mx)
{
    return mx->cfg->outbox_retry > 1 ? (int64_t)mx->cfg->outbox_retry * 1000
                                     : 1000;
}

void outbox_kick(struct mux *mx)
{
    mx->outbox_wanted = 1;
}

static pid_t drainer_spawn(struct mux *mx)
{
    pid_t pid = fork();
    if (pid != 0) {
        if (pid == -1)
            msg_error("outbox: fork: %s", strerror(errno));
        return pid;
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDONLY);
    if (null == -1 || dup2(null, 0) == -1 || dup2(2, 1) == -1)
        _exit(127);
    const char *argv[8];
    int argc = 0;
    argv[argc++] = mx->cfg->worker_program;
    argv[argc++] = "-O";
    if (mx->explicit_config) {
        argv[argc++] = "-C";
        argv[argc++] = mx->config_path;
    }
    if (mx->foreground)
        argv[argc++] = "-f";
    if (mx->debug)
        argv[argc++] = "-d";
    argv[argc] = NULL;
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "mlm-worker: cannot run %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
}

void outbox_tick(struct mux *mx, int64_t now)
{
    if (mx->outbox_pid > 0) {
        if (!mx->outbox_killed && now - mx->outbox_since_ms > DRAIN_KILL_MS(mx)) {
            msg_warn("outbox: the drainer (pid %ld) runs too long: killing "
                     "it", (long)mx->outbox_pid);
            kill(mx->outbox_pid, SIGKILL);
            mx->outbox_killed = 1;
        }
        return;
    }
    if (mx->stopping)
        return;
    if (now >= mx->outbox_check_ms) {
        /* mail that failed, or whose worker died before it could tell */
        mx->outbox_check_ms = now + check_pause_ms(mx);
        if (outbox_waiting(mx->cfg->spool_dir) > 0)
            mx->outbox_wanted = 1;
    }
    if (!mx->outbox_wanted)
        return;
    pid_t pid = drainer_spawn(mx);
    if (pid == -1)
        return; /* tried again at the next check */
    mx->outbox_wanted = 0;
    mx->outbox_pid = pid;
    mx->outbox_since_ms = now;
    mx->outbox_killed = 0;
    msg_debug("outbox: drainer started, pid %ld", (long)pid);
}

int outbox_exited(struct mux *mx, pid_t pid, int status)
{
    if (pid != mx->outbox_pid || pid <= 0)
        return 0;
    mx->outbox_pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
        msg_warn("outbox: the drainer %s %d", WIFEXITED(status)
                                                  ? "exited with status"
                                                  : "was killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return 1;
}
