/*
 * spool.c - the per-transaction copy of a message that the worker parses.
 *
 * mlmd writes the headers and body as the MTA streams them, in wire form
 * with CRLF line ends; the file is created mode 0600 in spool_dir and
 * removed when the transaction ends (end of message, abort or close).
 */
#include "mlmd.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int spool_open(struct spool *sp, const char *dir, const char *qid)
{
    char path[4096], safe_qid[64];
    size_t n = 0;
    /* The queue id names the file for the admin, but only its safe part. */
    for (const char *p = qid && *qid ? qid : "msg"; *p && n < 40; p++)
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9'))
            safe_qid[n++] = *p;
    safe_qid[n] = '\0';
    snprintf(path, sizeof path, "%s/%s.XXXXXX", dir, n ? safe_qid : "msg");
    memset(sp, 0, sizeof *sp);
    /* mkstemp creates mode 0600 itself: no umask games between threads. */
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd == -1 || (sp->fp = fdopen(fd, "w")) == NULL) {
        msg_error("%s: cannot create spool file in %s: %s",
                  qid ? qid : "NOQUEUE", dir, strerror(errno));
        if (fd != -1)
            close(fd), unlink(path);
        sp->failed = 1;
        return -1;
    }
    sp->path = xstrdup(path);
    return 0;
}

static void spool_write(struct spool *sp, const void *data, size_t len)
{
    if (sp->fp == NULL || sp->failed)
        return;
    if (fwrite(data, 1, len, sp->fp) != len) {
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
    if (fflush(sp->fp) == EOF) {
        msg_error("spool %s: %s", sp->path, strerror(errno));
        sp->failed = 1;
        return -1;
    }
    return 0;
}

void spool_remove(struct spool *sp)
{
    if (sp->fp)
        fclose(sp->fp);
    if (sp->path && unlink(sp->path) == -1 && errno != ENOENT)
        msg_warn("cannot remove %s: %s", sp->path, strerror(errno));
    if (sp->path) {
        /* The worker's new body, if it wrote one that was not applied. */
        char body[4200];
        snprintf(body, sizeof body, "%s.body", sp->path);
        unlink(body);
    }
    free(sp->path);
    memset(sp, 0, sizeof *sp);
}
