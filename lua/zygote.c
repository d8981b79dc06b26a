/*
 * zygote.c - mlm-worker -Z: a fork server for mlm-multiplexor.
 *
 * Starting a worker with fork and exec costs milliseconds of CPU before the
 * policy is even read: the kernel maps, and the dynamic loader relocates,
 * some twenty shared libraries (GMime brings GIO, gpgme and more). The
 * zygote pays that once. The multiplexor sends it one byte with a socket
 * attached (SCM_RIGHTS) once the zygote's first word (0) said it is
 * ready; the zygote forks, and the child carries on in
 * main() as a freshly started worker with that socket on fd 0: it reads
 * the configuration, loads the policy and says READY as any worker does.
 *
 * The child is forked twice so that it is not the zygote's child: the
 * middle process writes the worker's pid to the multiplexor and exits, and
 * the worker is re-parented to the multiplexor, a child subreaper, which
 * reaps it like any worker it forked itself. The zygote waits only for the
 * middle process. The zygote holds nothing but fds 0-2: it is started
 * before anything is opened or loaded.
 */
#include <config.h>
#include "zygote.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZYGOTE_FD 0

/* One request: a byte and the worker's socket. The fd, -1 on EOF or error. */
static int request_read(void)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr hdr;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control.space,
                       .msg_controllen = sizeof control.space};
    ssize_t got;
    do
        got = recvmsg(ZYGOTE_FD, &m, MSG_CMSG_CLOEXEC);
    while (got == -1 && errno == EINTR);
    if (got <= 0)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c == NULL || c->cmsg_level != SOL_SOCKET ||
        c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* A word to the multiplexor: 0 ready, a worker's pid, or -1 (fork failed). */
static void answer(int32_t pid)
{
    ssize_t put;
    do
        put = write(ZYGOTE_FD, &pid, sizeof pid);
    while (put == -1 && errno == EINTR);
}

/*
 * In the middle process: fork the worker, tell its pid, leave. Returns
 * only in the worker, with its socket on fd 0.
 */
static void middle_fork(int worker_fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(worker_fd, ZYGOTE_FD) == -1)
            _exit(127);
        close(worker_fd);
        return;
    }
    answer(pid == -1 ? -1 : (int32_t)pid);
    _exit(0);
}

int zygote_serve(void)
{
    signal(SIGPIPE, SIG_IGN);
    answer(0); /* ready */
    for (;;) {
        int worker_fd = request_read();
        if (worker_fd == -1)
            return -1;
        pid_t middle = fork();
        if (middle == 0) {
            middle_fork(worker_fd);
            return 0; /* the worker */
        }
        close(worker_fd);
        if (middle == -1) {
            msg_warn("zygote: fork: %s", strerror(errno));
            answer(-1);
            continue;
        }
        while (waitpid(middle, NULL, 0) == -1 && errno == EINTR)
            ;
    }
}
