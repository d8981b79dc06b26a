/*
 * daemon.c - mlm-ctl commands answered by mlm-multiplexor over ctl_socket.
 */
#include "ctl.h"
#include "proto.h"
#include "sockio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 60000

/* Send one command, print the answer. Returns an exit status. */
static int ctl_call(struct ctl_env *env, const char *cmd, const char *arg)
{
    char why[512];
    int fd = unix_connect(env->cfg.ctl_socket, why, sizeof why);
    if (fd == -1) {
        fprintf(stderr, "mlm-ctl: %s (is mlm-multiplexor running?)\n", why);
        return EXIT_FAILED;
    }
    struct mlm_buf out, in;
    buf_init(&out);
    buf_init(&in);
    frame_begin(&out, MSG_CTL, 0);
    buf_put_str(&out, cmd);
    buf_put_str(&out, arg);
    frame_finish(&out);
    int64_t deadline = now_ms() + CTL_TIMEOUT_MS;
    const uint8_t *payload;
    size_t len;
    struct mlm_reader r;
    uint8_t type, sub;
    int rc = EXIT_FAILED;
    if (frame_write(fd, &out, deadline, why, sizeof why) == 0 &&
        frame_read(fd, &in, deadline, &payload, &len, why, sizeof why) == 0 &&
        payload_open(&r, payload, len, &type, &sub, why, sizeof why) == 0) {
        uint8_t ok = reader_u8(&r);
        char *text = reader_str(&r);
        if (type != MSG_CTL_REPLY || reader_end(&r) == -1) {
            fprintf(stderr, "mlm-ctl: malformed answer\n");
        } else if (ok) {
            /* The answer quotes policy errors and worker state: text a
             * policy, and through it a sender, may have written. */
            if (*text)
                put_lines(stdout, text);
            rc = EXIT_OK;
        } else {
            ctl_fail("%s: %s", cmd, text);
        }
        free(text);
    } else {
        fprintf(stderr, "mlm-ctl: %s: %s\n", cmd, why);
    }
    buf_free(&out);
    buf_free(&in);
    close(fd);
    return rc;
}

int cmd_status(struct ctl_env *env, struct ctl_args *a)
{
    (void)a;
    return ctl_call(env, "status", "");
}

int cmd_stats(struct ctl_env *env, struct ctl_args *a)
{
    int json = opt_flag(a, "json"), prometheus = opt_flag(a, "prometheus");
    if (json && prometheus) {
        fprintf(stderr, "mlm-ctl: --json or --prometheus, not both\n");
        return ctl_usage(a);
    }
    return ctl_call(env, "stats", json ? "json" : prometheus ? "prometheus"
                                                             : "text");
}

int cmd_reload(struct ctl_env *env, struct ctl_args *a)
{
    (void)a;
    return ctl_call(env, "reload", "");
}
