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

int outbox_prepare(const char *spool_dir, uid_t uid, gid_t gid, char *why,
                   size_t whylen)
{
    static const char *const subs[] = {NULL, "tmp", "new", "failed"};
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        char path[4096];
        path_of(path, sizeof path, spool_dir, subs[i], NULL);
        if (mkdir(path, 0700) == -1 && errno != EEXIST) {
            snprintf(why, whylen, "%s: %s", path, strerror(errno));
            return -1;
        }
        if ((geteuid() == 0 && chown(path, uid, gid) == -1) ||
            chmod(path, 0700) == -1) {
            snprintf(why, whylen, "%s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
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

int outbox_put(const char *spool_dir, const char *sender,
               const char *const *recipients, size_t n, const char *msg,
               size_t len, char *why, size_t whylen)
{
    static unsigned seq;
    if (n < 1 || n > OUTBOX_RCPT_MAX) {
        snprintf(why, whylen, "1 to %d recipients", OUTBOX_RCPT_MAX);
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
    } else if (close(fd) == -1 || (fd = -1, rename(tmp, final) == -1)) {
        snprintf(why, whylen, "%s: %s", final, strerror(errno));
    } else if (dir_sync(newdir) == -1) {
        snprintf(why, whylen, "syncing %s: %s", newdir, strerror(errno));
        rc = 0; /* it is in new/: sent later, even if not yet durable */
    } else {
        rc = 0;
    }
    if (fd != -1)
        close(fd);
    if (rc == -1)
        unlink(tmp);
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

/* Read and check one file: 0, or -1 with why (it cannot ever be sent). */
static int file_read(int dirfd, const char *name, struct outbox_file *f,
                     char *why, size_t whylen)
{
    memset(f, 0, sizeof *f);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        st.st_size > (off_t)OUTBOX_FILE_MAX) {
        snprintf(why, whylen, "not a readable outbox file");
        if (fd != -1)
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
    f->data[got] = '\0';
    char *p = f->data, *end = f->data + got;
    f->recipients = xcalloc(OUTBOX_RCPT_MAX, sizeof *f->recipients);
    const char *magic;
    if (got != size || (magic = envelope_line(&p, end, OUTBOX_MAGIC)) == NULL ||
        *magic ||
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

/* Move a file that will not be sent to failed/ and say so. */
static void file_give_up(const char *spool_dir, const char *name,
                         const char *why)
{
    char from[4096], to[4096];
    path_of(from, sizeof from, spool_dir, "new", name);
    path_of(to, sizeof to, spool_dir, "failed", name);
    if (rename(from, to) == -1)
        msg_error("outbox: %s: %s, and cannot move it to failed/: %s", name,
                  why, strerror(errno));
    else
        msg_error("outbox: %s: %s: moved to %s", name, why, to);
}

/*
 * Due now? A file never tried has its mtime from when it was written, the
 * second of its name or the next; a failed attempt sets the mtime, and
 * the next one waits for the file's age then (retry_s to RETRY_MAX_S).
 */
static int file_due(long long made, const struct stat *st, time_t now,
                    int retry_s)
{
    long long tried = (long long)st->st_mtime;
    if (tried - made <= 1)
        return 1;
    long long pause = tried - made;
    if (pause < retry_s)
        pause = retry_s;
    if (pause > RETRY_MAX_S)
        pause = RETRY_MAX_S;
    return (long long)now - tried >= pause;
}

int outbox_drain(const char *spool_dir, const char *command,
                 int64_t send_timeout_ms, int retry_s)
{
    char dir[4096];
    path_of(dir, sizeof dir, spool_dir, "new", NULL);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent **names = NULL;
    int count = dirfd == -1 ? -1 : scandir(dir, &names, not_dot, alphasort);
    if (count == -1) {
        msg_error("outbox: %s: %s", dir, strerror(errno));
        if (dirfd != -1)
            close(dirfd);
        return -1;
    }
    int64_t run_end = now_ms() + OUTBOX_RUN_MS;
    int waiting = 0;
    for (int i = 0; i < count; i++) {
        const char *name = names[i]->d_name;
        char why[512];
        struct stat st;
        time_t now = time(NULL);
        long long made = strtoll(name, NULL, 10);
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            continue; /* gone: another drain took it */
        } else if (now - made > OUTBOX_GIVE_UP_S) {
            file_give_up(spool_dir, name, "not sent within 5 days");
            continue;
        } else if (now_ms() > run_end || !file_due(made, &st, now, retry_s)) {
            waiting++;
            continue;
        }
        struct outbox_file f;
        if (file_read(dirfd, name, &f, why, sizeof why) == -1) {
            file_give_up(spool_dir, name, why);
            file_free(&f);
            continue;
        }
        const char **args = inject_args(f.sender, f.recipients, f.n);
        if (inject_message(command, args, NULL, f.msg, f.len,
                           send_timeout_ms, why, sizeof why) == 0) {
            unlinkat(dirfd, name, 0);
            msg_info("outbox: %s: sent from <%s> to %zu recipient%s", name,
                     f.sender, f.n, f.n == 1 ? "" : "s");
        } else {
            waiting++;
            utimensat(dirfd, name, NULL, AT_SYMLINK_NOFOLLOW);
            msg_warn("outbox: %s: sendmail (%s) failed: %s; tried again "
                     "later", name, command, why);
        }
        free(args);
        file_free(&f);
    }
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    close(dirfd);
    return waiting > 0;
}
