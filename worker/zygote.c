/*
 * zygote.c - mlm-worker -Z: a fork server for mlm-multiplexor.
 *
 * Starting a worker with fork and exec costs milliseconds of CPU before the
 * policy is even read: the kernel maps, and the dynamic loader relocates,
 * some twenty shared libraries (GMime brings GIO, gpgme and more). The
 * zygote pays that once. The multiplexor sends it ZY_FORK with a socket
 * attached (SCM_RIGHTS, common/zygote_proto.h) once the zygote's ZY_READY
 * said it is ready; the zygote forks, and the child carries on in
 * main() as a freshly started worker with that socket on fd 0: it reads
 * the configuration, loads the policy and says READY as any worker does.
 *
 * The worker must be the multiplexor's child, reaped and counted like a
 * worker it executed itself. clone3 with CLONE_PARENT makes it so in one
 * fork. Where the kernel refuses clone3 (before Linux 5.3, a seccomp
 * filter, valgrind), the zygote forks twice instead: the middle process
 * writes the worker's pid and exits, and the worker is re-parented to the
 * multiplexor, a child subreaper. The middle process, a fork and an
 * exit more per worker, took 22% of the CPU samples of all mlm-worker
 * processes in a perf profile of 1,000 starts. The zygote writes its answers
 * in the order of the requests. It holds nothing but fds 0-2: it is
 * started before anything is opened or loaded.
 *
 * A worker's start is a burst of CPU (the fork, page faults, the policy)
 * that, on a small machine at full load, took a CPU from the requests in
 * flight for about a millisecond: most of the RCPT replies slower than
 * 2 ms came within milliseconds of a start. So the zygote runs at the
 * lowest priority (nice 19), its workers inherit it while they load, and
 * each comes back to the zygote's first priority before it says READY.
 * Coming back is raising a priority, allowed as far as RLIMIT_NICE goes
 * (the multiplexor, as root, sets it to its own priority, no further);
 * where it does not go that far the zygote keeps its priority.
 */
#include <config.h>
#include "zygote.h"
#include "log.h"
#include "zygote_proto.h"

#include <errno.h>
#include <linux/sched.h> /* struct clone_args */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZYGOTE_FD 0

static int nice_base;    /* the zygote's priority as started */
static int nice_lowered; /* it runs at 19; its workers are to come back */

/* Could a process come back from 19 to base? Asked of a throwaway child:
 * RLIMIT_NICE or CAP_SYS_NICE may allow it. */
static int nice_can_return(int base)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(setpriority(PRIO_PROCESS, 0, 19) == 0 &&
                      setpriority(PRIO_PROCESS, 0, base) == 0
                  ? 0
                  : 1);
    int status;
    if (pid == -1)
        return 0;
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void nice_lower(void)
{
    errno = 0;
    nice_base = getpriority(PRIO_PROCESS, 0);
    if (errno != 0 || nice_base >= 19)
        return;
    if (!nice_can_return(nice_base)) {
        msg_info("zygote: workers load at priority %d: they could not come "
                 "back from 19 (RLIMIT_NICE)", nice_base);
        return;
    }
    nice_lowered = setpriority(PRIO_PROCESS, 0, 19) == 0;
}

void zygote_worker_loaded(void)
{
    if (nice_lowered && setpriority(PRIO_PROCESS, 0, nice_base) == -1)
        msg_warn("cannot return to priority %d: %s", nice_base,
                 strerror(errno));
    nice_lowered = 0;
}

/*
 * One request: ZY_FORK and the worker's socket. The fd, and *ticket to
 * answer with; -1 on EOF, an error, or a request that is not ZY_FORK of
 * our version (logged: the zygote leaves, the multiplexor execs).
 */
static int request_read(uint32_t *ticket)
{
    uint8_t msg[ZY_MSG_LEN];
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof msg};
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
    int fd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c != NULL && c->cmsg_level == SOL_SOCKET &&
        c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
    /* The rest of a message the stream cut (it never is, at 12 bytes). */
    while (got > 0 && (size_t)got < sizeof msg) {
        ssize_t more = read(ZYGOTE_FD, msg + got, sizeof msg - (size_t)got);
        if (more == -1 && errno == EINTR)
            continue;
        got = more <= 0 ? -1 : got + more;
    }
    struct zy_msg req;
    char why[256];
    int ok = got == (ssize_t)sizeof msg &&
             zy_decode(&req, msg, sizeof msg, why, sizeof why) == 0;
    if (ok && (req.type != ZY_FORK || fd == -1)) {
        snprintf(why, sizeof why, "%s", fd == -1 ? "a request without a socket"
                                                 : "not a fork request");
        ok = 0;
    }
    if (!ok) {
        if (got == (ssize_t)sizeof msg)
            msg_error("zygote: %s", why);
        if (fd != -1)
            close(fd);
        return -1;
    }
    *ticket = req.ticket;
    return fd;
}

/* To the multiplexor: ready, a worker's pid, or a fork's failure. */
static void answer(enum zy_type type, uint32_t ticket, uint32_t value)
{
    uint8_t msg[ZY_MSG_LEN];
    zy_encode(msg, type, ticket, value);
    ssize_t put;
    do
        put = write(ZYGOTE_FD, msg, sizeof msg);
    while (put == -1 && errno == EINTR);
}

/* The answer to a fork: its pid, or its errno. */
static void answer_fork(uint32_t ticket, pid_t pid, int err)
{
    if (pid > 0)
        answer(ZY_FORKED, ticket, (uint32_t)pid);
    else
        answer(ZY_FORK_FAILED, ticket, (uint32_t)err);
}

/*
 * A child of the zygote's parent (CLONE_PARENT). glibc has no wrapper for
 * clone3. What its fork() does besides the system call (atfork handlers,
 * locks reset in the child) is for processes with threads, and the
 * zygote has one thread and holds no lock while it waits. It must stay
 * so: nothing may start a thread in it (g_mime_init and the policy come
 * after the fork, in the worker). The thread id
 * glibc keeps stays the zygote's in the child, which only tags the owner
 * of a recursive mutex within the process (raise() asks the kernel).
 * exit_signal must be 0 with CLONE_PARENT: the child's is the zygote's,
 * SIGCHLD. -1 and errno as fork(2).
 */
static pid_t fork_sibling(void)
{
#ifdef SYS_clone3
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PARENT;
    return (pid_t)syscall(SYS_clone3, &args, sizeof args);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* Put the worker's socket on fd 0. In the worker, after its fork. */
static void worker_socket(int worker_fd)
{
    if (dup2(worker_fd, ZYGOTE_FD) == -1)
        _exit(127);
    close(worker_fd);
}

/*
 * In the middle process of a double fork: fork the worker, tell its pid,
 * leave. Returns only in the worker.
 */
static void middle_fork(int worker_fd, uint32_t ticket)
{
    pid_t pid = fork();
    if (pid == 0) {
        worker_socket(worker_fd);
        return;
    }
    answer_fork(ticket, pid, errno);
    _exit(0);
}

/* The double fork; 0 in the worker, 1 in the zygote. */
static int fork_twice(int worker_fd, uint32_t ticket)
{
    pid_t middle = fork();
    if (middle == 0) {
        middle_fork(worker_fd, ticket);
        return 0;
    }
    if (middle == -1) {
        int err = errno;
        msg_warn("zygote: fork: %s", strerror(err));
        answer_fork(ticket, -1, err);
        return 1;
    }
    while (waitpid(middle, NULL, 0) == -1 && errno == EINTR)
        ;
    return 1;
}

/*
 * Fork the worker and answer its pid: by clone3 while the kernel takes
 * it, by the double fork once it refused. 0 in the worker, 1 in the
 * zygote.
 */
static int fork_worker(int worker_fd, uint32_t ticket, int *sibling)
{
    if (*sibling) {
        pid_t pid = fork_sibling();
        if (pid == 0) {
            worker_socket(worker_fd);
            return 0;
        }
        int err = errno;
        if (pid > 0 || (err != ENOSYS && err != EPERM && err != EINVAL)) {
            if (pid == -1)
                msg_warn("zygote: clone3: %s", strerror(err));
            answer_fork(ticket, pid, err);
            return 1;
        }
        msg_info("zygote: clone3: %s: forking twice", strerror(err));
        *sibling = 0;
    }
    return fork_twice(worker_fd, ticket);
}

int zygote_serve(void)
{
    int sibling = 1; /* clone3 works, until it says otherwise */
    signal(SIGPIPE, SIG_IGN);
    nice_lower();
    answer(ZY_READY, 0, (uint32_t)getpid());
    for (;;) {
        uint32_t ticket;
        int worker_fd = request_read(&ticket);
        if (worker_fd == -1)
            return -1;
        if (fork_worker(worker_fd, ticket, &sibling) == 0)
            return 0; /* the worker */
        close(worker_fd);
    }
}
