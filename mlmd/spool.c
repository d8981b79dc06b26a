/*
 * spool.c - the per-transaction copy of a message that the worker parses.
 *
 * mlmd writes the headers and body as the MTA streams them, in wire form
 * with CRLF line ends, to a file of mode 0600 in spool_dir. Creating and
 * removing a file per transaction costs a journalled directory update on
 * ext4 (measured at about a sixth of mlm's CPU per list post), so files
 * are kept in a pool once the transaction ends and the next transaction
 * overwrites one from the start, then cuts it to its own length. Never to
 * length zero: ext4 (auto_da_alloc) writes out a file's blocks when it is
 * truncated to zero, which blocked each transaction on the disk (measured:
 * 510 instead of 1,600 posts/s).
 *
 * A file is never reused while a worker may still hold it (the request
 * failed or timed out), nor kept once it held more than
 * SPOOL_KEEP_MAX_BYTES: such files are removed. A janitor thread removes
 * files idle for spool_idle_seconds(), so the pool shrinks after a peak and
 * a message stays on disk at most that long after its transaction
 * (spool_idle_timeout in the configuration, 60 s by default);
 * mlmd removes the rest when it stops, also the files of transactions
 * still open then (a file is named mlmd.TAG.XXXXXX, TAG random to the
 * process that made it, so mlmd instances may share spool_dir).
 *
 * The worker writes a replaced body to path + ".body" the same way; that
 * file lives and goes with its spool file.
 */
#include "mlmd.h"
#include "clock.h"
#include "log.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Enough for the usual peak of concurrent transactions; more are removed. */
#define SPOOL_POOL_MAX 256
/* spool_idle_timeout, at least 2 s (the janitor looks every half). */
static time_t spool_idle_seconds(void)
{
    return mlmd_cfg->spool_idle_timeout > 2 ? mlmd_cfg->spool_idle_timeout : 2;
}
/*
 * Files that held more are removed at once: creating one costs little next
 * to writing a message that size, and a burst of big posts must not leave
 * the disk filled for a minute.
 */
#define SPOOL_KEEP_MAX_BYTES (1024 * 1024)

/* A stack: the most recently used file is reused first, the oldest ages. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_stop = PTHREAD_COND_INITIALIZER;
static struct spool pool[SPOOL_POOL_MAX];
static int pool_count;
static int janitor_running, janitor_stopping;
static pthread_t janitor;

static time_t monotonic_seconds(void)
{
    return (time_t)(now_ms() / 1000);
}

static int pool_take(struct spool *sp)
{
    pthread_mutex_lock(&pool_lock);
    int found = pool_count > 0;
    if (found)
        *sp = pool[--pool_count];
    pthread_mutex_unlock(&pool_lock);
    return found;
}

static int pool_give(const struct spool *sp)
{
    pthread_mutex_lock(&pool_lock);
    int kept = pool_count < SPOOL_POOL_MAX;
    if (kept) {
        pool[pool_count] = *sp;
        pool[pool_count++].idle_since = monotonic_seconds();
    }
    pthread_mutex_unlock(&pool_lock);
    return kept;
}

/*
 * This process's part of its spool file names, random (set before the
 * first transaction by spool_pool_start): mlmd instances sharing
 * spool_dir, even in PID namespaces of their own, never take each
 * other's files for theirs.
 */
static char spool_tag[17] = "0000000000000000";

static void spool_tag_make(void)
{
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* no entropy yet: the pid and the clock tell instances apart */
        uint64_t v = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms();
        memcpy(r, &v, sizeof r);
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(spool_tag + 2 * i, 3, "%02x", r[i]);
}

static int spool_create(struct spool *sp, const char *dir, const char *qid)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mlmd.%s.XXXXXX", dir, spool_tag);
    /* mkstemp creates mode 0600 itself: no umask games between threads. */
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd == -1 || (sp->fp = fdopen(fd, "w")) == NULL) {
        msg_error("%s: cannot create spool file in %s: %s", qid, dir,
                  strerror(errno));
        if (fd != -1)
            close(fd), unlink(path);
        return -1;
    }
    sp->path = xstrdup(path);
    size_t len = strlen(path) + sizeof ".body";
    sp->body_path = xmalloc(len);
    snprintf(sp->body_path, len, "%s.body", path);
    return 0;
}

int spool_open(struct spool *sp, const char *dir, const char *qid)
{
    memset(sp, 0, sizeof *sp);
    if (pool_take(sp))
        return 0;
    if (spool_create(sp, dir, qid && *qid ? qid : "NOQUEUE") == 0)
        return 0;
    memset(sp, 0, sizeof *sp);
    sp->failed = 1;
    return -1;
}

/*
 * A spool file belongs to one transaction, so to one thread, at a time
 * (the pool hands it over under its mutex): stdio's per-call lock is not
 * needed.
 */
static void spool_write(struct spool *sp, const void *data, size_t len)
{
    if (sp->fp == NULL || sp->failed)
        return;
    if (fwrite_unlocked(data, 1, len, sp->fp) != len) {
        msg_error("spool %s: write failed: %s", sp->path, strerror(errno));
        sp->failed = 1;
        return;
    }
    sp->size += len;
}

/* Header values come folded with bare LF or CRLF: store CRLF only. */
void spool_header(struct spool *sp, const char *name, const char *value)
{
    spool_write(sp, name, strlen(name));
    spool_write(sp, ": ", 2);
    const char *start = value;
    for (const char *p = value; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            spool_write(sp, start, (size_t)(p - start));
            if (*p == '\n')
                spool_write(sp, "\r\n", 2);
            start = p + 1;
        }
    }
    spool_write(sp, start, strlen(start));
    spool_write(sp, "\r\n", 2);
}

void spool_end_of_headers(struct spool *sp) { spool_write(sp, "\r\n", 2); }

void spool_body(struct spool *sp, const unsigned char *data, size_t len)
{
    spool_write(sp, data, len);
}

int spool_finish(struct spool *sp)
{
    if (sp->fp == NULL || sp->failed)
        return -1;
    /* A reused file may hold a longer message: cut its tail (size > 0). */
    if (fflush_unlocked(sp->fp) == EOF ||
        (sp->file_size > sp->size &&
         ftruncate(fileno(sp->fp), (off_t)sp->size) == -1)) {
        msg_error("spool %s: %s", sp->path, strerror(errno));
        sp->failed = 1;
        return -1;
    }
    sp->file_size = sp->size;
    return 0;
}

static void spool_unlink(struct spool *sp)
{
    if (sp->fp)
        fclose(sp->fp);
    if (sp->path && unlink(sp->path) == -1 && errno != ENOENT)
        msg_warn("cannot remove %s: %s", sp->path, strerror(errno));
    if (sp->body_path)
        unlink(sp->body_path);
    free(sp->path);
    free(sp->body_path);
}

/* Ready the file for the next transaction, which writes from the start. */
static int spool_rewind(struct spool *sp)
{
    __fpurge(sp->fp); /* an aborted transaction may leave buffered bytes */
    if (fseek(sp->fp, 0, SEEK_SET) == -1)
        return -1;
    if (sp->size > sp->file_size)
        sp->file_size = sp->size; /* aborted: written but never cut */
    sp->size = 0;
    return 0;
}

void spool_remove(struct spool *sp)
{
    if (sp->fp && !sp->failed && !sp->in_doubt &&
        sp->size <= SPOOL_KEEP_MAX_BYTES &&
        sp->file_size <= SPOOL_KEEP_MAX_BYTES && spool_rewind(sp) == 0 &&
        pool_give(sp)) {
        memset(sp, 0, sizeof *sp);
        return;
    }
    spool_unlink(sp);
    memset(sp, 0, sizeof *sp);
}

/* Remove files idle too long, oldest (bottom of the stack) first. */
static void pool_expire(time_t now)
{
    for (;;) {
        struct spool sp;
        pthread_mutex_lock(&pool_lock);
        int expired = pool_count > 0 &&
                      now - pool[0].idle_since >= spool_idle_seconds();
        if (expired) {
            sp = pool[0];
            memmove(pool, pool + 1, (size_t)--pool_count * sizeof pool[0]);
        }
        pthread_mutex_unlock(&pool_lock);
        if (!expired)
            return;
        spool_unlink(&sp);
    }
}

static void *janitor_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool_lock);
    while (!janitor_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += spool_idle_seconds() / 2;
        pthread_cond_timedwait(&pool_stop, &pool_lock, &until);
        pthread_mutex_unlock(&pool_lock);
        pool_expire(monotonic_seconds());
        pthread_mutex_lock(&pool_lock);
    }
    pthread_mutex_unlock(&pool_lock);
    return NULL;
}

void spool_pool_start(void)
{
    spool_tag_make();
    /*
     * libmilter's signal thread waits for SIGTERM with sigwait; a thread
     * that left it unblocked would take the signal and die with mlmd.
     */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&janitor, NULL, janitor_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        msg_warn("no spool janitor thread (%s): idle spool files stay "
                 "until mlmd stops", strerror(rc));
    janitor_running = rc == 0;
}

/*
 * Remove the files of this process's transactions still open: libmilter
 * stops serving its connections when it stops, and their files would
 * stay. Their names start with "mlmd.TAG." (spool_tag).
 */
static void spool_remove_open(const char *dir)
{
    char prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "mlmd.%s.", spool_tag);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)plen) == 0 &&
            unlinkat(dirfd(d), e->d_name, 0) == 0 &&
            strstr(e->d_name, ".body") == NULL)
            removed++;
    }
    closedir(d);
    if (removed > 0)
        msg_info("removed the spool files of %d transactions left open",
                 removed);
}

void spool_pool_drain(void)
{
    if (janitor_running) {
        pthread_mutex_lock(&pool_lock);
        janitor_stopping = 1;
        pthread_cond_signal(&pool_stop);
        pthread_mutex_unlock(&pool_lock);
        pthread_join(janitor, NULL);
        janitor_running = 0;
    }
    struct spool sp;
    while (pool_take(&sp))
        spool_unlink(&sp);
    spool_remove_open(mlmd_cfg->spool_dir);
}
