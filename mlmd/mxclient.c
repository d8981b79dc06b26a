/*
 * mxclient.c - mlmd's persistent connections to mlm-multiplexor.
 *
 * libmilter runs one thread per SMTP connection; each question takes an
 * idle connection from a small pool (or opens one), asks, and puts it back.
 * A connection that failed in any way is closed, never reused. Opening a
 * connection includes the MSG_HELLO exchange, which checks the protocol
 * version and tells which stages the loaded policy defines.
 */
#include "mlmd.h"
#include "log.h"
#include "sockio.h"
#include "xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_MAX 64

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_fds[POOL_MAX];
static int pool_count;
static uint32_t policy_stages = STAGE_MASK_ALL;
static int policy_stages_known;
static const char *mx_path;
static int mx_timeout_ms;

void mx_init(const char *socket_path, int timeout_seconds)
{
    mx_path = socket_path;
    mx_timeout_ms = timeout_seconds * 1000;
}

/* A fresh connection with the hello exchange done; -1 with why. */
static int mx_connect(char *why, size_t whylen)
{
    int fd = unix_connect(mx_path, why, whylen);
    if (fd == -1)
        return -1;
    struct mlm_buf out, in;
    buf_init(&out);
    buf_init(&in);
    hello_encode(&out);
    int64_t deadline = now_ms() + mx_timeout_ms;
    const uint8_t *payload;
    size_t len;
    struct mlm_hello_ok ok;
    char *refusal;
    int rc = -1;
    if (frame_write(fd, &out, deadline, why, whylen) == 0 &&
        frame_read(fd, &in, deadline, &payload, &len, why, whylen) == 0) {
        if (payload_type(payload) == MSG_ERROR &&
            error_decode(&refusal, payload, len, why, whylen) == 0) {
            snprintf(why, whylen, "multiplexor refused: %s", refusal);
            free(refusal);
        } else if (payload_type(payload) != MSG_ERROR &&
                   hello_ok_decode(&ok, payload, len, why, whylen) == 0) {
            /* generation: logged by the multiplexor */
            pthread_mutex_lock(&pool_lock);
            policy_stages = ok.stages;
            policy_stages_known = 1;
            pthread_mutex_unlock(&pool_lock);
            rc = 0;
        }
    }
    buf_free(&out);
    buf_free(&in);
    if (rc == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

static int pool_take(void)
{
    int fd = -1;
    pthread_mutex_lock(&pool_lock);
    if (pool_count > 0)
        fd = pool_fds[--pool_count];
    pthread_mutex_unlock(&pool_lock);
    return fd;
}

static void pool_put(int fd)
{
    pthread_mutex_lock(&pool_lock);
    if (pool_count < POOL_MAX) {
        pool_fds[pool_count++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&pool_lock);
    if (fd != -1)
        close(fd);
}

uint32_t mx_stage_mask(void)
{
    char why[256];
    pthread_mutex_lock(&pool_lock);
    int known = policy_stages_known;
    pthread_mutex_unlock(&pool_lock);
    if (!known) {
        int fd = mx_connect(why, sizeof why);
        if (fd == -1)
            msg_warn("multiplexor: %s; asking the MTA for every stage", why);
        else
            pool_put(fd);
    }
    pthread_mutex_lock(&pool_lock);
    uint32_t mask = policy_stages;
    pthread_mutex_unlock(&pool_lock);
    return mask;
}

/*
 * One exchange on fd. Returns 0, -1 on failure, or -2 when the connection
 * turned out dead before any answer byte came (safe to retry once: a
 * multiplexor restart leaves pooled connections closed).
 */
static int mx_exchange(int fd, const struct mlm_buf *out, struct mlm_reply *rep,
                       char *why, size_t whylen)
{
    struct mlm_buf in;
    const uint8_t *payload;
    size_t len;
    int64_t deadline = now_ms() + mx_timeout_ms;
    buf_init(&in);
    int rc = frame_write(fd, out, deadline, why, whylen);
    if (rc == 0)
        rc = frame_read(fd, &in, deadline, &payload, &len, why, whylen);
    if (rc == -1) {
        rc = in.len == 0 && strstr(why, "timed out") == NULL ? -2 : -1;
    } else {
        rc = reply_decode(rep, payload, len, why, whylen);
        /* The multiplexor stamps the current policy's stages on replies. */
        pthread_mutex_lock(&pool_lock);
        policy_stages = reply_flags(payload) & STAGE_MASK_ALL;
        policy_stages_known = 1;
        pthread_mutex_unlock(&pool_lock);
    }
    buf_free(&in);
    return rc;
}

int mx_ask(const struct mlm_request *req, struct mlm_reply *rep, char *why,
           size_t whylen)
{
    struct mlm_buf out;
    buf_init(&out);
    buf_reserve(&out, 2048); /* most requests: one allocation, no regrowth */
    request_encode(&out, req);
    reply_init(rep, ACT_FAILED);
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
        int pooled = attempt == 0 ? pool_take() : -1;
        int fd = pooled != -1 ? pooled : mx_connect(why, whylen);
        if (fd == -1)
            break;
        rc = mx_exchange(fd, &out, rep, why, whylen);
        if (rc == 0)
            pool_put(fd);
        else
            close(fd);
        if (rc == -1 || pooled == -1)
            break;
    }
    buf_free(&out);
    if (rc != 0)
        rep->action = ACT_FAILED;
    return rc == 0 ? 0 : -1;
}

void mx_shutdown(void)
{
    pthread_mutex_lock(&pool_lock);
    while (pool_count > 0)
        close(pool_fds[--pool_count]);
    pthread_mutex_unlock(&pool_lock);
}
