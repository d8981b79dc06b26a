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
static int ctl_call(struct ctl_env *env, enum mlm_ctl_verb verb, uint8_t arg)
{
    char why[512];
    const char *name = ctl_verb_name(verb);
    int fd = unix_connect(env->cfg.ctl_socket, why, sizeof why);
    if (fd == -1) {
        fprintf(stderr, "mlm-ctl: %s (is mlm-multiplexor running?)\n", why);
        return EXIT_FAILED;
    }
    struct mlm_buf out, in;
    buf_init(&out);
    buf_init(&in);
    ctl_encode(&out, verb, arg);
    int64_t deadline = now_ms() + CTL_TIMEOUT_MS;
    const uint8_t *payload;
    size_t len;
    struct mlm_ctl_reply answer;
    char *refusal;
    int rc = EXIT_FAILED;
    if (frame_write(fd, &out, deadline, why, sizeof why) == -1 ||
        frame_read(fd, &in, deadline, &payload, &len, why, sizeof why) == -1) {
        fprintf(stderr, "mlm-ctl: %s: %s\n", name, why);
    } else if (payload_type(payload) == MSG_ERROR &&
               error_decode(&refusal, payload, len, why, sizeof why) == 0) {
        ctl_fail("%s: %s", name, refusal);
        free(refusal);
    } else if (payload_type(payload) == MSG_ERROR ||
               ctl_reply_decode(&answer, payload, len, why, sizeof why) == -1) {
        fprintf(stderr, "mlm-ctl: %s: %s\n", name, why);
    } else {
        if (answer.ok) {
            /* The answer quotes policy errors and worker state: text a
             * policy, and through it a sender, may have written. */
            if (*answer.text)
                put_lines(stdout, answer.text);
            rc = EXIT_OK;
        } else {
            ctl_fail("%s: %s", name, answer.text);
        }
        ctl_reply_free(&answer);
    }
    buf_free(&out);
    buf_free(&in);
    close(fd);
    return rc;
}

int cmd_status(struct ctl_env *env, struct ctl_args *a)
{
    return ctl_call(env, CTL_STATUS,
                    opt_flag(a, "json") ? STATS_JSON : STATS_TEXT);
}

int cmd_stats(struct ctl_env *env, struct ctl_args *a)
{
    int json = opt_flag(a, "json"), prometheus = opt_flag(a, "prometheus");
    if (json && prometheus) {
        fprintf(stderr, "mlm-ctl: --json or --prometheus, not both\n");
        return ctl_usage(a);
    }
    return ctl_call(env, CTL_STATS, json         ? STATS_JSON
                                    : prometheus ? STATS_PROMETHEUS
                                                 : STATS_TEXT);
}

int cmd_reload(struct ctl_env *env, struct ctl_args *a)
{
    (void)a;
    return ctl_call(env, CTL_RELOAD, 0);
}
