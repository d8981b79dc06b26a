/*
 * main.c - mlm-multiplexor: options, sockets, privileges and the rounds of
 * the event loop. One thread; epoll (loop.c) over the request socket, the
 * control socket, every client and every worker, plus a signalfd for
 * SIGCHLD, SIGHUP (reload) and SIGTERM/SIGINT (stop after answering what
 * is in flight). The top layer (mux.h): it wires the pool's events to the
 * clients and control.
 */
#include <config.h>
#include "mux.h"
#include "log.h"
#include "outbox.h"
#include "xmalloc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TICK_MS 100

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mlm-multiplexor [-f] [-d] [-C FILE] [-h] [-V]\n"
            "  -C FILE  configuration file (default %s)\n"
            "  -f       stay in the foreground and log to stderr\n"
            "  -d       log debug lines\n"
            "  -h       this help\n"
            "  -V       print the version\n",
            config_default_path);
}

static int signals_open(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd == -1)
        msg_fatal("signalfd: %s", strerror(errno));
    return fd;
}

/* Collect the children that exited: workers, the fork server, the
 * drainer. */
static void children_reap(struct mux *mx)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        if (!drainer_exited(&mx->drainer, pid, status))
            pool_child_exited(&mx->pool, pid, status);
}

static void mux_stop(struct mux *mx)
{
    if (mx->stopping)
        return;
    msg_info("stopping: answering requests in flight");
    mx->stopping = 1;
    mx->stop_deadline_ms = now_ms() + (int64_t)mx->cfg->request_timeout * 1000;
    loop_forget(&mx->mx_listen_watch); /* no more requests */
    pool_stop(&mx->pool);
}

static void signals_event(void *ctx, uint32_t events)
{
    struct mux *mx = ctx;
    struct signalfd_siginfo si;
    (void)events;
    while (read(mx->signal_watch.fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            children_reap(mx);
            break;
        case SIGHUP:
            pool_reload(&mx->pool);
            break;
        default:
            mux_stop(mx);
        }
    }
}

static void mx_listen_event(void *ctx, uint32_t events)
{
    struct mux *mx = ctx;
    (void)events;
    if (!mx->stopping)
        client_accept(mx, mx->mx_listen_watch.fd, CLIENT_MLMD);
}

static void ctl_listen_event(void *ctx, uint32_t events)
{
    struct mux *mx = ctx;
    (void)events;
    client_accept(mx, mx->ctl_listen_watch.fd, CLIENT_CTL);
}

/* Sockets are bound as root (if started so) and handed to the user. */
static int listen_owned(const char *path, const struct mlm_config *cfg)
{
    char why[512];
    int fd = unix_listen(path, 0660, why, sizeof why);
    if (fd == -1)
        msg_fatal("%s", why);
    uid_t uid;
    gid_t gid;
    if (geteuid() == 0 && *cfg->user && user_ids(cfg->user, &uid, &gid) == 0 &&
        chown(path, uid, gid) == -1)
        msg_fatal("chown %s: %s", path, strerror(errno));
    return fd;
}

/* The spool: created if missing, mode 0700, owned by the daemons' user. */
static void spool_dir_prepare(const struct mlm_config *cfg)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (mkdir(cfg->spool_dir, 0700) == -1 && errno != EEXIST)
        msg_fatal("spool_dir %s: %s", cfg->spool_dir, strerror(errno));
    if (geteuid() == 0 && *cfg->user && user_ids(cfg->user, &uid, &gid) == 0 &&
        chown(cfg->spool_dir, uid, gid) == -1)
        msg_fatal("chown %s: %s", cfg->spool_dir, strerror(errno));
    if (chmod(cfg->spool_dir, 0700) == -1)
        msg_fatal("chmod %s: %s", cfg->spool_dir, strerror(errno));
    char why[512];
    if (outbox_prepare(cfg->spool_dir, uid, gid, why, sizeof why) == -1)
        msg_fatal("outbox: %s", why);
}

/* Load the policy once before serving: a broken policy stops start-up.
 * Only the probe is in the loop yet. */
static void policy_check_at_start(struct mux *mx)
{
    struct worker *probe = pool_probe_start(&mx->pool);
    if (probe == NULL)
        msg_fatal("cannot start a worker");
    while (probe->state == W_STARTING) {
        loop_run_once(TICK_MS);
        if (now_ms() - probe->started_ms >
            (int64_t)mx->cfg->request_timeout * 1000)
            msg_fatal("policy %s: loading took longer than request_timeout",
                      mx->cfg->policy);
    }
    if (probe->state != W_IDLE)
        msg_fatal("policy %s did not load; not starting", mx->cfg->policy);
}

/* One round: callbacks of what is ready, then deadlines, then the
 * requests waiting get the workers that came free, then what is closed is
 * freed (after the callbacks that may have named it). */
static void loop_round(struct mux *mx)
{
    loop_run_once(TICK_MS);
    int64_t now = now_ms();
    clients_queue_tick(mx);
    drainer_tick(&mx->drainer, now, mx->stopping);
    pool_tick(&mx->pool, now, mx->queue.len);
    queue_dispatch(&mx->queue, &mx->pool);
    pool_reap(&mx->pool);
    clients_reap(mx);
}

static void outbox_mail(void *ctx)
{
    struct mux *mx = ctx;
    drainer_kick(&mx->drainer);
}

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    static struct mlm_config cfg;
    static struct mux mx;
    int opt;
    char why[512];

    mx.spawn.config_path = config_default_path;
    while ((opt = getopt_long(argc, argv, "C:fdhV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'C':
            mx.spawn.config_path = optarg;
            mx.spawn.explicit_config = 1;
            break;
        case 'f': mx.spawn.foreground = 1; break;
        case 'd': mx.spawn.debug = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("mlm-multiplexor %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open("mlm-multiplexor", mx.spawn.foreground);
    log_set_debug(mx.spawn.debug);
    config_defaults(&cfg);
    if (config_load(&cfg, mx.spawn.config_path, mx.spawn.explicit_config, why,
                    sizeof why) == -1)
        msg_fatal("%s", why);
    mx.cfg = &cfg;
    mx.started_ms = now_ms();
    mx.spawn.program = cfg.worker_program;
    mx.spawn.policy = cfg.policy;
    mx.control = control_command;
    const struct pool_events events = {&mx, clients_job_replied,
                                       clients_job_failed, control_reload_done,
                                       outbox_mail};
    pool_init(&mx.pool, &cfg, &mx.spawn, &events);
    mx.drainer.cfg = &cfg;
    mx.drainer.args = &mx.spawn;

    int mx_listen_fd = listen_owned(cfg.mx_socket, &cfg);
    int ctl_listen_fd = listen_owned(cfg.ctl_socket, &cfg);
    spool_dir_prepare(&cfg);
    zygote_nice_allow();
    privileges_drop(cfg.user);
    mx.own_uid = geteuid();

    int sfd = signals_open();
    loop_open(); /* kept by the daemon after its fork, the parent exits */
    policy_check_at_start(&mx);
    if (!mx.spawn.foreground) {
        /* Workers must be the daemon's children: start them after the fork. */
        pool_abandon(&mx.pool);
        pid_t pid = fork();
        if (pid == -1)
            msg_fatal("fork: %s", strerror(errno));
        if (pid > 0)
            _exit(0);
        setsid();
    }
    if (loop_watch(&mx.signal_watch, sfd, EPOLLIN, signals_event, &mx,
                   LOOP_LAST) == -1 ||
        loop_watch(&mx.mx_listen_watch, mx_listen_fd, EPOLLIN,
                   mx_listen_event, &mx, LOOP_LAST) == -1 ||
        loop_watch(&mx.ctl_listen_watch, ctl_listen_fd, EPOLLIN,
                   ctl_listen_event, &mx, LOOP_LAST) == -1)
        msg_fatal("cannot watch the sockets");
    pool_fork_server_init(&mx.pool);
    msg_info("mlm-multiplexor %s serving on %s, policy %s", PACKAGE_VERSION,
             cfg.mx_socket, cfg.policy);

    while (!mx.stopping || ((mx.queue.len || pool_busy(&mx.pool)) &&
                            now_ms() < mx.stop_deadline_ms))
        loop_round(&mx);
    for (struct client *c = mx.clients; c; c = c->next)
        if (c->job.state != JOB_NONE)
            client_fail(c, "the multiplexor stopped");
    pool_stop(&mx.pool);
    unlink(cfg.mx_socket);
    unlink(cfg.ctl_socket);
    msg_info("mlm-multiplexor stopped");
    return 0;
}
