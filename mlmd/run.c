/*
 * run.c - run libmilter's loop, and stop it as soon as SIGTERM, SIGHUP or
 * SIGINT arrives.
 *
 * libmilter stops on those signals by itself (its signal thread waits for
 * them), but its listener sees the stop only when its poll on the
 * listening socket returns: at the next connection, or after up to 5 s
 * (MI_CHK_TIME). So the loop runs in a thread of its own and the main
 * thread waits for the signals too. Linux gives a signal sent to the
 * process to its main thread first when that thread waits for it; the
 * main thread then sends the signal again, which only libmilter's thread
 * still waits for (libmilter stops as it always does: SIGINT aborts,
 * the others stop), and connects to the listening socket until the loop
 * has returned. The connection wakes the listener; libmilter closes it
 * unread and no callback sees it. Should libmilter's thread take the
 * first signal instead, the stop takes as long as libmilter makes it,
 * and is never lost. Connections in progress get a short grace period.
 *
 * Contract: milter_run_prepare() once in the main thread, after
 * smfi_opensocket (and after daemon()) and before any other thread
 * starts: the threads started after it inherit the signals blocked.
 * milter_run() then in the main thread; it returns smfi_main's result
 * once the connections in progress have closed, or STOP_GRACE_MS later.
 * milter_listen_fd(): libmilter's listening socket, the one descriptor
 * of mlmd that listens (-1 before smfi_opensocket).
 */
#include <config.h>
#include "mlmd.h"
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Where the listening socket is, to connect to: found in prepare. */
static struct sockaddr_storage listen_addr;
static socklen_t listen_addr_len;

static pthread_t main_thread;
static atomic_int loop_done;
static int loop_result;

/* The signals the main thread waits for; SIGUSR1: the loop returned. */
static void wait_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
}

int milter_listen_fd(void)
{
    for (int fd = 0; fd < 1024; fd++) {
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
            listening)
            return fd;
    }
    return -1;
}

/*
 * The listening socket's address, a wildcard address replaced by
 * loopback: 0, or -1 when there is no socket to connect to.
 */
static int find_listen_address(void)
{
    int fd = milter_listen_fd();
    listen_addr_len = sizeof listen_addr;
    if (fd == -1 ||
        getsockname(fd, (struct sockaddr *)&listen_addr, &listen_addr_len) == -1)
        return -1;
    if (listen_addr.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&listen_addr;
        if (in->sin_addr.s_addr == htonl(INADDR_ANY))
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (listen_addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&listen_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
    } else if (listen_addr.ss_family != AF_UNIX) {
        return -1;
    }
    return 0;
}

/* One connection to the listening socket, closed at once. */
static void wake_listener(void)
{
    int fd = socket(listen_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return;
    (void)connect(fd, (struct sockaddr *)&listen_addr, listen_addr_len);
    close(fd);
}

/*
 * libmilter's loop returns without waiting for its connections, and once
 * stopped its worker threads serve no further command. Give a callback
 * still running and a connection closing now up to STOP_GRACE_MS to end;
 * then mlmd exits under those still open (the MTA applies its milter
 * failure setting to their transactions; spool_pool_drain removes their
 * files).
 */
#define STOP_GRACE_MS 1000
static void wait_for_connections(void)
{
    const struct timespec pause = {0, 10 * 1000 * 1000};
    for (int waited = 0; milter_connections_open() > 0; waited += 10) {
        if (waited >= STOP_GRACE_MS) {
            msg_info("stopping with %d milter connections still open",
                     milter_connections_open());
            return;
        }
        nanosleep(&pause, NULL);
    }
}

static void *loop_main(void *arg)
{
    (void)arg;
    loop_result = smfi_main();
    atomic_store(&loop_done, 1);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

void milter_run_prepare(void)
{
    sigset_t set;
    wait_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    main_thread = pthread_self();
    if (find_listen_address() == -1)
        listen_addr_len = 0;
}

int milter_run(void)
{
    pthread_t loop;
    int rc = pthread_create(&loop, NULL, loop_main, NULL);
    if (rc != 0) {
        msg_warn("no thread for the milter loop (%s): running it here",
                 strerror(rc));
        return smfi_main();
    }
    sigset_t set;
    wait_set(&set);
    while (!atomic_load(&loop_done)) {
        int sig;
        if (sigwait(&set, &sig) != 0 || sig == SIGUSR1)
            continue;
        /* The main thread no longer waits: this one is libmilter's. */
        kill(getpid(), sig);
        const struct timespec pause = {0, 10 * 1000 * 1000};
        while (listen_addr_len > 0 && !atomic_load(&loop_done)) {
            wake_listener();
            nanosleep(&pause, NULL);
        }
        break;
    }
    pthread_join(loop, NULL);
    wait_for_connections();
    return loop_result;
}
