/*
 * outbox.c - the outbox of generated mail (the contract is in outbox.h).
 */
#include "outbox.h"
#include "inject.h"
#include "log.h"
#include "proto.h"
#include "sockio.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUTBOX_MAGIC "mlm-outbox 1"
#define RETRY_MAX_S 3600

static void path_of(char *out, size_t outlen, const char *spool_dir,
                    const char *sub, const char *name)
{
    snprintf(out, outlen, "%s/outbox%s%s%s%s", spool_dir, sub ? "/" : "",
             sub ? sub : "", name ? "/" : "", name ? name : "");
}

/*
 * mkdir NAME in parent (an fd) unless it is there, then own it: through an
 * fd opened without following a link, so that a link planted by the
 * daemons' user (spool_dir is theirs) never hands root's chown elsewhere.
 * The new directory's fd, or -1 with why.
 */
static int dir_own(int parent, const char *name, uid_t uid, gid_t gid,
                   char *why, size_t whylen)
{
    if (mkdirat(parent, name, 0700) == -1 && errno != EEXIST) {
        snprintf(why, whylen, "outbox/%s: %s", name, strerror(errno));
        return -1;
    }
    int fd = openat(parent, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1 || (geteuid() == 0 && fchown(fd, uid, gid) == -1) ||
        fchmod(fd, 0700) == -1) {
        snprintf(why, whylen, "%s: %s (not a directory of its own?)", name,
                 strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    return fd;
}

int outbox_prepare(const char *spool_dir, uid_t uid, gid_t gid, char *why,
                   size_t whylen)
{
    static const char *const subs[] = {"tmp", "new", "cur", "failed"};
    int spool = open(spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (spool == -1) {
        snprintf(why, whylen, "%s: %s", spool_dir, strerror(errno));
        return -1;
    }
    int box = dir_own(spool, "outbox", uid, gid, why, whylen);
    close(spool);
    if (box == -1)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof subs / sizeof *subs; i++) {
        int fd = dir_own(box, subs[i], uid, gid, why, whylen);
        rc = fd == -1 ? -1 : close(fd);
    }
    close(box);
    return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sync a directory, so that a rename into it survives a crash. */
static int dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/*
 * Give the written file tmp its name in new/: a link, never a rename, so
 * that a name already there (a pid reused within a second) is not
 * replaced; then the next free SEQ is taken. 0, or -1 with errno.
 */
static int link_new(const char *tmp, const char *spool_dir, const char *name,
                    char *final, size_t finallen)
{
    char *last_dot = strrchr(name, '.');
    unsigned long seq = strtoul(last_dot + 1, NULL, 10);
    for (int tries = 0; tries < 100; tries++, seq++) {
        char other[96];
        snprintf(other, sizeof other, "%.*s.%lu", (int)(last_dot - name), name,
                 seq);
        path_of(final, finallen, spool_dir, "new", other);
        if (link(tmp, final) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

int outbox_put(const char *spool_dir, const char *sender,
               const char *const *recipients, size_t n, const char *msg,
               size_t len, char *why, size_t whylen)
{
    static unsigned seq;
    if (n < 1 || n > OUTBOX_RCPT_MAX) {
        snprintf(why, whylen, "1 to %d recipients", OUTBOX_RCPT_MAX);
        return -1;
    }
    if (len > OUTBOX_FILE_MAX / 2) {
        snprintf(why, whylen, "a message of %zu bytes: at most %u", len,
                 OUTBOX_FILE_MAX / 2);
        return -1;
    }
    char name[96], tmp[4096], final[4096], newdir[4096];
    snprintf(name, sizeof name, "%lld.%ld.%u", (long long)time(NULL),
             (long)getpid(), seq++);
    path_of(tmp, sizeof tmp, spool_dir, "tmp", name);
    path_of(final, sizeof final, spool_dir, "new", name);
    path_of(newdir, sizeof newdir, spool_dir, "new", NULL);

    struct mlm_buf head;
    buf_init(&head);
    buf_put_bytes(&head, OUTBOX_MAGIC "\n", strlen(OUTBOX_MAGIC) + 1);
    buf_put_bytes(&head, "sender ", 7);
    buf_put_bytes(&head, sender ? sender : "", sender ? strlen(sender) : 0);
    buf_put_u8(&head, '\n');
    for (size_t i = 0; i < n; i++) {
        buf_put_bytes(&head, "recipient ", 10);
        buf_put_bytes(&head, recipients[i], strlen(recipients[i]));
        buf_put_u8(&head, '\n');
    }
    buf_put_u8(&head, '\n');

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    int rc = -1;
    if (fd == -1) {
        snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
    } else if (write_all(fd, (const char *)head.data, head.len) == -1 ||
               write_all(fd, msg, len) == -1 || fsync(fd) == -1) {
        snprintf(why, whylen, "writing %s: %s", tmp, strerror(errno));
    } else if (close(fd) == -1 || (fd = -1, link_new(tmp, spool_dir, name,
                                                      final, sizeof final) == -1)) {
        snprintf(why, whylen, "%s: %s", final, strerror(errno));
    } else if (dir_sync(newdir) == -1) {
        snprintf(why, whylen, "syncing %s: %s", newdir, strerror(errno));
        rc = 0; /* it is in new/: sent later, even if not yet durable */
    } else {
        rc = 0;
    }
    if (fd != -1)
        close(fd);
    unlink(tmp); /* sent or not, its name in new/ is the one that counts */
    buf_free(&head);
    return rc;
}

/* Files of an outbox folder, dot files left out, sorted by name. */
static int not_dot(const struct dirent *d) { return d->d_name[0] != '.'; }

long outbox_count(const char *spool_dir, const char *sub)
{
    char dir[4096];
    path_of(dir, sizeof dir, spool_dir, sub, NULL);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += not_dot(e);
    closedir(d);
    return n;
}

long outbox_waiting(const char *spool_dir)
{
    long fresh = outbox_count(spool_dir, "new");
    long sending = outbox_count(spool_dir, "cur");
    return fresh < 0 ? fresh : fresh + (sending > 0 ? sending : 0);
}

/* One line of the envelope at *p (below end) that starts with key: the
 * rest of the line (NUL-terminated in place), or NULL. */
static char *envelope_line(char **p, char *end, const char *key)
{
    size_t klen = strlen(key);
    char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL || (size_t)(nl - *p) < klen || memcmp(*p, key, klen) != 0)
        return NULL;
    char *value = *p + klen;
    *nl = '\0';
    *p = nl + 1;
    return value;
}

struct outbox_file {
    char *data;            /* the whole file, envelope cut into strings */
    const char *sender;
    const char **recipients;
    size_t n;
    const char *msg;
    size_t len;
};

/*
 * Read and check one file: 0; -1 with why when it can never be sent; -2
 * with why when reading failed for now (descriptors, memory, I/O).
 */
static int file_read(int dirfd, const char *name, struct outbox_file *f,
                     char *why, size_t whylen)
{
    memset(f, 0, sizeof *f);
    int fd = openat(dirfd, name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd == -1) {
        int permanent = errno == ELOOP || errno == ENOENT || errno == EACCES;
        snprintf(why, whylen, "cannot open it: %s", strerror(errno));
        return permanent ? -1 : -2;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        st.st_size > (off_t)OUTBOX_FILE_MAX) {
        snprintf(why, whylen, "not a regular file, or over %u bytes",
                 OUTBOX_FILE_MAX);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    f->data = xmalloc(size + 1);
    while (got < size) {
        ssize_t r = read(fd, f->data + got, size - got);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        snprintf(why, whylen, "read %zu of %zu bytes", got, size);
        return -2;
    }
    f->data[got] = '\0';
    char *p = f->data, *end = f->data + got;
    f->recipients = xcalloc(OUTBOX_RCPT_MAX, sizeof *f->recipients);
    const char *magic;
    if ((magic = envelope_line(&p, end, OUTBOX_MAGIC)) == NULL || *magic ||
        (f->sender = envelope_line(&p, end, "sender ")) == NULL ||
        (*f->sender && !inject_address_ok(f->sender))) {
        snprintf(why, whylen, "no outbox envelope");
        return -1;
    }
    const char *rcpt;
    while ((rcpt = envelope_line(&p, end, "recipient ")) != NULL) {
        if (!inject_address_ok(rcpt) || f->n == OUTBOX_RCPT_MAX) {
            snprintf(why, whylen, "a bad recipient, or too many");
            return -1;
        }
        f->recipients[f->n++] = rcpt;
    }
    const char *blank = envelope_line(&p, end, "");
    if (f->n == 0 || blank == NULL || *blank) {
        snprintf(why, whylen, "no recipient, or no end of the envelope");
        return -1;
    }
    f->msg = p;
    f->len = (size_t)(end - p);
    return 0;
}

static void file_free(struct outbox_file *f)
{
    free(f->data);
    free(f->recipients);
}

/* Move a file that will not be sent from sub/ to failed/ and say so. */
static void file_give_up(int box, const char *sub, const char *name,
                         const char *why)
{
    char from[512], to[512];
    snprintf(from, sizeof from, "%s/%s", sub, name);
    snprintf(to, sizeof to, "failed/%s", name);
    if (renameat(box, from, box, to) == -1)
        msg_error("outbox: %s: %s, and cannot move it to failed/: %s", name,
                  why, strerror(errno));
    else
        msg_error("outbox: %s: %s: moved to outbox/failed", name, why);
}

/*
 * Due now? A file never tried has its mtime from when it was written, the
 * second of its name or the next; a failed attempt sets the mtime, and
 * the next one waits for the file's age then (retry_s to RETRY_MAX_S).
 */
static int file_due(long long made, long long tried, time_t now, int retry_s)
{
    if (tried - made <= 1)
        return 1;
    long long pause = tried - made;
    if (pause < retry_s)
        pause = retry_s;
    if (pause > RETRY_MAX_S)
        pause = RETRY_MAX_S;
    return (long long)now - tried >= pause;
}

/* The names in box's sub/, dot files left out, sorted; -1 on error. */
static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_of(int box, const char *sub, char ***names)
{
    int fd = openat(box, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd == -1 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd != -1)
            close(fd);
        return -1;
    }
    size_t n = 0, cap = 16;
    *names = xmalloc(cap * sizeof **names);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!not_dot(e))
            continue;
        if (n == cap)
            *names = xrealloc(*names, (cap *= 2) * sizeof **names);
        (*names)[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(*names, n, sizeof **names, by_name);
    return (int)n;
}

static void names_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * Before a drain: what a drain that stopped while sending left in cur/
 * goes back to new/ (it may be sent twice: at least once, never lost),
 * and what a worker killed while writing left in tmp/ for a day goes.
 */
static void outbox_recover(int box)
{
    char **names;
    int n = names_of(box, "cur", &names);
    for (int i = 0; i < n; i++) {
        char from[512], to[512];
        snprintf(from, sizeof from, "cur/%s", names[i]);
        snprintf(to, sizeof to, "new/%s", names[i]);
        if (renameat(box, from, box, to) == 0)
            msg_warn("outbox: %s: an earlier drain stopped while sending it: "
                     "sent again, perhaps twice", names[i]);
    }
    if (n >= 0)
        names_free(names, n);
    n = names_of(box, "tmp", &names);
    time_t now = time(NULL);
    for (int i = 0; i < n; i++) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "tmp/%s", names[i]);
        if (fstatat(box, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - st.st_mtime > 86400)
            unlinkat(box, path, 0);
    }
    if (n >= 0)
        names_free(names, n);
}

int outbox_drain(const char *spool_dir, const char *command,
                 int64_t send_timeout_ms, int retry_s)
{
    char dir[4096];
    path_of(dir, sizeof dir, spool_dir, NULL, NULL);
    int box = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (box == -1) {
        msg_error("outbox: %s: %s", dir, strerror(errno));
        return -1;
    }
    if (flock(box, LOCK_EX | LOCK_NB) == -1) {
        msg_debug("outbox: another drain runs");
        close(box);
        return 1;
    }
    outbox_recover(box);
    char **names;
    int count = names_of(box, "new", &names);
    if (count == -1) {
        msg_error("outbox: %s/new: %s", dir, strerror(errno));
        close(box);
        return -1;
    }
    int64_t run_end = now_ms() + OUTBOX_RUN_MS;
    int waiting = 0, stop = 0;
    for (int i = 0; i < count && !stop; i++) {
        const char *name = names[i];
        char why[512], in_new[512], in_cur[512];
        snprintf(in_new, sizeof in_new, "new/%s", name);
        snprintf(in_cur, sizeof in_cur, "cur/%s", name);
        struct stat st;
        time_t now = time(NULL);
        long long made = strtoll(name, NULL, 10);
        if (fstatat(box, in_new, &st, AT_SYMLINK_NOFOLLOW) == -1)
            continue; /* gone */
        long long tried = (long long)st.st_mtime;
        if (!S_ISREG(st.st_mode)) {
            file_give_up(box, "new", name, "not a regular file");
            continue;
        }
        if (tried - made > OUTBOX_GIVE_UP_S) {
            file_give_up(box, "new", name, "still not sent 5 days after it "
                                           "was made");
            continue;
        }
        if (now_ms() + send_timeout_ms > run_end ||
            !file_due(made, tried, now, retry_s)) {
            waiting++;
            continue;
        }
        /* Claimed in cur/ while it is sent: an outbox that cannot be
         * written sends nothing (it could never be emptied). */
        if (renameat(box, in_new, box, in_cur) == -1) {
            msg_error("outbox: %s: cannot claim it (%s): nothing more sent "
                      "until the outbox is writable", name, strerror(errno));
            return names_free(names, count), close(box), -1;
        }
        struct outbox_file f;
        int rc = file_read(box, in_cur, &f, why, sizeof why);
        if (rc == -1) {
            file_give_up(box, "cur", name, why);
        } else if (rc == -2) {
            msg_warn("outbox: %s: %s; tried again later", name, why);
            waiting++;
            stop = renameat(box, in_cur, box, in_new) == -1;
        } else {
            const char **args = inject_args(f.sender, f.recipients, f.n);
            if (inject_message(command, args, NULL, f.msg, f.len,
                               send_timeout_ms, why, sizeof why) == 0) {
                msg_info("outbox: %s: sent from <%s> to %zu recipient%s",
                         name, f.sender, f.n, f.n == 1 ? "" : "s");
                stop = unlinkat(box, in_cur, 0) == -1;
            } else {
                msg_warn("outbox: %s: sendmail (%s) failed: %s; tried again "
                         "later", name, command, why);
                waiting++;
                stop = renameat(box, in_cur, box, in_new) == -1 ||
                       utimensat(box, in_new, NULL, AT_SYMLINK_NOFOLLOW) == -1;
            }
            free(args);
        }
        file_free(&f);
        if (stop)
            msg_error("outbox: %s: cannot move it on (%s): nothing more sent "
                      "until the outbox is writable", name, strerror(errno));
    }
    names_free(names, count);
    close(box);
    return stop ? -1 : waiting > 0;
}
