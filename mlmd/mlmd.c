/*
 * mlmd.c - the mlm milter: options, configuration, socket, privileges.
 *
 * mlmd binds the milter socket (as root if it must), drops to the
 * configured user, and hands the MTA's connections to libmilter, which
 * calls back into callbacks.c on one thread per SMTP connection.
 */
#include <config.h>
#include "mlmconf.h"
#include "mlmd.h"
#include "log.h"
#include "sockio.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mlmd [-f] [-d] [-C FILE] [-p MILTER_SOCKET] [-h] [-V]\n"
            "  -C FILE  configuration file (default %s)\n"
            "  -f       stay in the foreground and log to stderr\n"
            "  -d       log debug lines\n"
            "  -p SPEC  milter socket, libmilter syntax (overrides "
            "milter_socket)\n"
            "  -h       this help\n"
            "  -V       print the version\n",
            config_default_path);
}

/*
 * libmilter does not set TCP_NODELAY, and a reply of several actions then
 * stalls ~40 ms on Nagle against the MTA's delayed ACK. On Linux accepted
 * sockets inherit the option from the listening socket, so set it there.
 */
static void listener_nodelay(void)
{
    int fd = milter_listen_fd(), one = 1;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (fd == -1 || getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
        return;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
        msg_warn("TCP_NODELAY on the milter socket: %s", strerror(errno));
}

/* A unix milter socket must belong to the daemon's user, mode 0660. */
static void milter_socket_own(const struct mlm_config *cfg)
{
    const char *spec = cfg->milter_socket;
    const char *path = NULL;
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0)
        path = strchr(spec, ':') + 1;
    else if (spec[0] == '/')
        path = spec;
    if (path == NULL)
        return;
    if (chmod(path, 0660) == -1)
        msg_warn("chmod %s: %s", path, strerror(errno));
    uid_t uid;
    gid_t gid;
    if (geteuid() == 0 && *cfg->user && user_ids(cfg->user, &uid, &gid) == 0 &&
        chown(path, uid, gid) == -1)
        msg_warn("chown %s: %s", path, strerror(errno));
}

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    static struct mlm_config cfg;
    const char *config_path = config_default_path;
    const char *milter_socket = NULL;
    int foreground = 0, explicit_config = 0, debug = 0, opt;
    char why[512];

    while ((opt = getopt_long(argc, argv, "C:fdp:hV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'C': config_path = optarg; explicit_config = 1; break;
        case 'f': foreground = 1; break;
        case 'd': debug = 1; break;
        case 'p': milter_socket = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("mlmd %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open("mlmd", foreground);
    log_set_debug(debug);
    config_defaults(&cfg);
    if (config_load(&cfg, config_path, explicit_config, why, sizeof why) == -1)
        msg_fatal("%s", why);
    if (milter_socket && config_set(&cfg, "milter_socket", milter_socket, why,
                                    sizeof why) == -1)
        msg_fatal("-p: %s", why);
    mlmd_cfg = &cfg;
    mx_init(cfg.mx_socket, cfg.decision_timeout);

    /*
     * Postfix passes a header of up to header_size_limit (100 KB) in one
     * packet; libmilter's default limit (64 KB) would drop the connection.
     */
    smfi_setmaxdatasize(1024 * 1024);
    if (smfi_register(mlmd_milter) == MI_FAILURE)
        msg_fatal("smfi_register failed");
    if (smfi_setconn(cfg.milter_socket) == MI_FAILURE)
        msg_fatal("bad milter_socket '%s'", cfg.milter_socket);
    /* libmilter's own timeout covers a silent MTA, longer than ours. */
    smfi_settimeout(cfg.decision_timeout * 2 + 10);
    if (smfi_opensocket(1) == MI_FAILURE)
        msg_fatal("cannot open milter socket %s", cfg.milter_socket);
    milter_socket_own(&cfg);
    listener_nodelay();
    privileges_drop(cfg.user);

    if (!foreground && daemon(0, 0) == -1)
        msg_fatal("daemon: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    /* A full spool (RLIMIT_FSIZE) must fail the write, not kill mlmd. */
    signal(SIGXFSZ, SIG_IGN);
    milter_run_prepare();
    msg_info("mlmd %s listening on %s", PACKAGE_VERSION, cfg.milter_socket);
    spool_pool_start();
    int rc = milter_run();
    mx_shutdown();
    spool_pool_drain();
    msg_info("mlmd stopped");
    config_free(&cfg);
    return rc == MI_SUCCESS ? 0 : 1;
}
