/*
 * main.c - mlm-multiplexor: options, sockets, privileges and the event
 * loop. One thread; epoll (watch.c) over the request socket, the control
 * socket, every client and every worker, plus a signalfd for SIGCHLD,
 * SIGHUP (reload) and SIGTERM/SIGINT (stop after answering what is in
 * flight).
 */
#include <config.h>
#include "mux.h"
#include "log.h"
#include "outbox.h"
#include "sockio.h"
#include "xmalloc.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
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

static void signals_read(struct mux *mx, int sfd)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            workers_reap(mx, 1);
            break;
        case SIGHUP:
            pool_reload(mx, NULL);
            break;
        default:
            if (!mx->stopping) {
                msg_info("stopping: answering requests in flight");
                mx->stopping = 1;
                mx->stop_deadline_ms =
                    now_ms() + (int64_t)mx->cfg->request_timeout * 1000;
                pool_stop(mx);
            }
        }
    }
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

/* Load the policy once before serving: a broken policy stops start-up. */
static void policy_check_at_start(struct mux *mx, int sfd)
{
    struct worker *probe = worker_start(mx, ++mx->last_generation, 1);
    if (probe == NULL)
        msg_fatal("cannot start a worker");
    while (probe->state == W_STARTING) {
        struct pollfd pfd[2] = {{probe->fd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(pfd, 2, TICK_MS) == -1 && errno != EINTR)
            msg_fatal("poll: %s", strerror(errno));
        if (pfd[0].revents)
            worker_readable(mx, probe);
        if (now_ms() - probe->started_ms >
            (int64_t)mx->cfg->request_timeout * 1000)
            msg_fatal("policy %s: loading took longer than request_timeout",
                      mx->cfg->policy);
    }
    if (probe->state != W_IDLE)
        msg_fatal("policy %s did not load; not starting", mx->cfg->policy);
}

/* What an epoll event's data says: a fixed fd, or a client or a worker. */
enum { TAG_SIGNALS = 1, TAG_MX_LISTEN, TAG_CTL_LISTEN, TAG_ZYGOTE, TAG_LAST };
#define TAG_WORKER_BIT 1u /* set on a worker's address; clients' are bare */
#define EVENTS_MAX 64

/*
 * Bring the epoll set up to date: new clients and workers join, a client
 * with output waiting asks for EPOLLOUT, a closing one for nothing more
 * (EPOLLHUP and EPOLLERR still come), the request socket leaves when the
 * multiplexor stops taking requests.
 */
static void watch_update(struct mux *mx, int sfd)
{
    static struct watch sig_watch, mx_watch, ctl_watch;
    watch_sync(&sig_watch, sfd, EPOLLIN, TAG_SIGNALS);
    watch_sync(&ctl_watch, mx->ctl_listen_fd, EPOLLIN, TAG_CTL_LISTEN);
    if (mx->stopping)
        watch_forget(&mx_watch, mx->mx_listen_fd);
    else
        watch_sync(&mx_watch, mx->mx_listen_fd, EPOLLIN, TAG_MX_LISTEN);
    watch_sync(&mx->zygote_watch, mx->zygote_fd, EPOLLIN, TAG_ZYGOTE);
    for (struct client *c = mx->clients; c; c = c->next) {
        uint32_t want = (c->closing ? 0 : EPOLLIN) | (c->out.len ? EPOLLOUT : 0);
        if (watch_sync(&c->watch, c->fd, want, (uintptr_t)c) == -1)
            c->closing = 1, c->out.len = 0;
    }
    for (struct worker *w = mx->workers; w; w = w->next) {
        uint32_t want = EPOLLIN | (w->out.len ? EPOLLOUT : 0);
        if (watch_sync(&w->watch, w->fd, want,
                       (uintptr_t)w | TAG_WORKER_BIT) == -1)
            worker_lost(mx, w, "cannot watch its socket");
    }
}

static void worker_event(struct mux *mx, struct worker *w, uint32_t events)
{
    if (w->fd == -1)
        return;
    if (events & EPOLLOUT)
        worker_flush(mx, w);
    if (w->fd != -1 && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        worker_readable(mx, w);
}

static void client_event(struct mux *mx, struct client *c, uint32_t events)
{
    if (events & EPOLLOUT)
        client_flush(mx, c);
    if (!c->closing && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        client_readable(mx, c);
    else if (events & (EPOLLHUP | EPOLLERR))
        c->closing = 1, c->out.len = 0;
}

static void loop_once(struct mux *mx, int sfd)
{
    struct epoll_event ev[EVENTS_MAX];
    watch_update(mx, sfd);
    int n = watch_wait(ev, EVENTS_MAX, TICK_MS);
    /*
     * Workers first: replies free workers for the requests read below.
     * Clients and workers are freed only by reaping, which runs after
     * their events (SIGCHLD comes in the last pass), so every address in
     * this batch stays valid while it is used.
     */
    for (int i = 0; i < n; i++)
        if (ev[i].data.u64 >= TAG_LAST && ev[i].data.u64 & TAG_WORKER_BIT)
            worker_event(mx,
                         (struct worker *)(uintptr_t)(ev[i].data.u64 &
                                                      ~(uint64_t)TAG_WORKER_BIT),
                         ev[i].events);
    for (int i = 0; i < n; i++)
        if (ev[i].data.u64 >= TAG_LAST && !(ev[i].data.u64 & TAG_WORKER_BIT))
            client_event(mx, (struct client *)(uintptr_t)ev[i].data.u64,
                         ev[i].events);
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u64 == TAG_SIGNALS)
            signals_read(mx, sfd);
        else if (ev[i].data.u64 == TAG_MX_LISTEN && !mx->stopping)
            client_accept(mx, mx->mx_listen_fd, CLIENT_MLMD);
        else if (ev[i].data.u64 == TAG_CTL_LISTEN)
            client_accept(mx, mx->ctl_listen_fd, CLIENT_CTL);
        else if (ev[i].data.u64 == TAG_ZYGOTE)
            zygote_readable(mx);
    }
    int64_t now = now_ms();
    queue_tick(mx, now);
    zygote_tick(mx, now);
    outbox_tick(mx, now);
    pool_tick(mx, now);
    pool_dispatch(mx);
    workers_reap(mx, 0);
    clients_reap(mx);
}

static int busy_workers(struct mux *mx)
{
    int n = 0;
    for (struct worker *w = mx->workers; w; w = w->next)
        n += w->client != NULL;
    return n;
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

    mx.config_path = config_default_path;
    mx.zygote_fd = -1;
    mx.zygote_next_ms = -1; /* none until zygote_init */
    while ((opt = getopt_long(argc, argv, "C:fdhV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'C': mx.config_path = optarg; mx.explicit_config = 1; break;
        case 'f': mx.foreground = 1; break;
        case 'd': mx.debug = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("mlm-multiplexor %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open("mlm-multiplexor", mx.foreground);
    log_set_debug(mx.debug);
    config_defaults(&cfg);
    if (config_load(&cfg, mx.config_path, mx.explicit_config, why,
                    sizeof why) == -1)
        msg_fatal("%s", why);
    mx.cfg = &cfg;
    mx.started_ms = now_ms();

    mx.mx_listen_fd = listen_owned(cfg.mx_socket, &cfg);
    mx.ctl_listen_fd = listen_owned(cfg.ctl_socket, &cfg);
    spool_dir_prepare(&cfg);
    zygote_nice_allow();
    privileges_drop(cfg.user);
    mx.own_uid = geteuid();

    int sfd = signals_open();
    policy_check_at_start(&mx, sfd);
    if (!mx.foreground) {
        /* Workers must be the daemon's children: start them after the fork. */
        for (struct worker *w = mx.workers; w; w = w->next) {
            close(w->fd);
            w->fd = -1;
            w->state = W_DEAD;
            waitpid(w->pid, NULL, 0);
            w->pid = 0;
        }
        workers_reap(&mx, 1);
        pid_t pid = fork();
        if (pid == -1)
            msg_fatal("fork: %s", strerror(errno));
        if (pid > 0)
            _exit(0);
        setsid();
    }
    watch_open(); /* after the fork: the daemon's own epoll set */
    zygote_init(&mx);
    msg_info("mlm-multiplexor %s serving on %s, policy %s", PACKAGE_VERSION,
             cfg.mx_socket, cfg.policy);

    while (!mx.stopping || ((mx.queue_head || busy_workers(&mx)) &&
                            now_ms() < mx.stop_deadline_ms))
        loop_once(&mx, sfd);
    for (struct client *c = mx.clients; c; c = c->next)
        if (c->pending)
            client_fail(&mx, c, "the multiplexor stopped");
    pool_stop(&mx);
    unlink(cfg.mx_socket);
    unlink(cfg.ctl_socket);
    msg_info("mlm-multiplexor stopped");
    return 0;
}
