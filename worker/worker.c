/*
 * worker.c - mlm-worker: one single-threaded Lua policy runner.
 *
 * Started by mlm-multiplexor with a socketpair on fd 0. It loads the policy
 * once, says MSG_READY (with the stages the policy defines) or
 * MSG_LOAD_ERROR, then answers one MSG_REQUEST at a time until the
 * multiplexor closes the socket. Its stdout is not the socket: print() in a
 * policy goes to the log. With -Z it is the multiplexor's fork server
 * (zygote.c), and each worker it forks goes on from there. With -O it
 * hands the outbox to sendmail once and exits (outbox.h): 0 when the
 * outbox is empty, 1 when mail waits, 2 when it cannot be read.
 */
#include <config.h>
#include "mlmconf.h"
#include "log.h"
#include "outbox.h"
#include "policy.h"
#include "luambind.h"
#include "sockio.h"
#include "xmalloc.h"
#include "zygote.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MX_FD 0

/* AddressSanitizer reserves terabytes of address space for its shadow. */
#if defined(__SANITIZE_ADDRESS__)
#define ADDRESS_SPACE_RESERVED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADDRESS_SPACE_RESERVED 1
#endif
#endif

/*
 * worker_memory_limit as RLIMIT_AS, before the policy loads: whatever
 * allocates (Lua, GMime, SQLite), no request takes the worker past it. An
 * allocation over it fails: a Lua error, or the worker's death (GLib
 * aborts), and in both cases the request gets failure_action.
 */
static void memory_limit_set(long bytes)
{
    if (bytes <= 0)
        return;
#ifdef ADDRESS_SPACE_RESERVED
    msg_warn("worker_memory_limit ignored: built with AddressSanitizer");
#else
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == -1)
        return;
    rlim_t want = (rlim_t)bytes;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_AS, &rl) == -1)
        msg_warn("worker_memory_limit: setrlimit: %s", strerror(errno));
#endif
}

static void send_frame(struct mlm_buf *out)
{
    char why[256];
    if (frame_write(MX_FD, out, now_ms() + 10000, why, sizeof why) == -1)
        msg_fatal("cannot write to the multiplexor: %s", why);
    buf_reset(out);
}

static void serve(struct policy *pol, const struct mlm_config *cfg)
{
    struct mlm_buf in, out;
    buf_init(&in);
    buf_init(&out);
    for (;;) {
        const uint8_t *payload;
        size_t len;
        char why[2048];
        if (frame_read(MX_FD, &in, DEADLINE_NONE, &payload, &len,
                       why, sizeof why) == -1) {
            msg_debug("leaving: %s", why);
            break;
        }
        struct mlm_request req;
        struct mlm_reply rep;
        if (request_decode(&req, payload, len, why, sizeof why) == -1) {
            /* The multiplexor checks frames; answer rather than die. */
            msg_error("bad request from the multiplexor: %s", why);
            reply_init(&rep, ACT_FAILED);
            rep.text = xstrdup("malformed request");
        } else if (policy_run(pol, &req, &rep, cfg->spool_dir, why,
                              sizeof why) == -1)
            msg_error("%s: %s failed: %s", req.qid && *req.qid ? req.qid
                                                                : "NOQUEUE",
                      stage_function(req.stage), why);
        reply_encode(&out, &rep);
        if (sendmail_outbox_take())
            reply_flags_set(out.data + MLM_FRAME_HDR, REPLY_OUTBOX);
        send_frame(&out);
        reply_free(&rep);
        request_free(&req);
        if (pol->worn_out) {
            msg_warn("policy holds %zu bytes after a memory limit: "
                     "leaving to be replaced", pol->mem_used);
            break;
        }
    }
    buf_free(&in);
    buf_free(&out);
}

int main(int argc, char **argv)
{
    static struct mlm_config cfg;
    const char *config_path = config_default_path;
    const char *policy_path = NULL;
    int foreground = 0, explicit_config = 0, zygote = 0, drain = 0, opt;
    char why[2048];

    while ((opt = getopt(argc, argv, "C:P:fdhVZO")) != -1) {
        switch (opt) {
        case 'C': config_path = optarg; explicit_config = 1; break;
        case 'P': policy_path = optarg; break;
        case 'f': foreground = 1; break;
        case 'd': log_set_debug(1); break;
        case 'V': printf("mlm-worker %s\n", PACKAGE_VERSION); return 0;
        case 'Z': zygote = 1; break;
        case 'O': drain = 1; break;
        case 'h':
            printf("usage: mlm-worker [-f] [-d] [-Z|-O] [-C FILE] [-P POLICY]\n"
                   "Runs the policy for mlm-multiplexor, which starts it "
                   "with its socket on fd 0.\n"
                   "-O: hand the outbox to sendmail once and exit.\n");
            return 0;
        default:
            fprintf(stderr, "usage: mlm-worker [-f] [-d] [-Z|-O] [-C FILE] [-P POLICY]"
                            " (started by mlm-multiplexor)\n");
            return 2;
        }
    }
    log_open("mlm-worker", foreground);
    signal(SIGPIPE, SIG_IGN);
    if (zygote) {
        if (zygote_serve() == -1)
            return 0; /* the multiplexor closed the zygote's socket */
        /* A worker now: ps should not show it as the fork server. */
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "-Z") == 0)
                memset(argv[i], 0, 2);
    }
    config_defaults(&cfg);
    if (config_load(&cfg, config_path, explicit_config, why, sizeof why) == -1)
        msg_fatal("%s", why);
    if (drain) {
        int rc = outbox_drain(cfg.spool_dir, cfg.sendmail,
                              OUTBOX_SEND_TIMEOUT_MS(cfg.decision_timeout),
                              cfg.outbox_retry);
        config_free(&cfg);
        return rc == -1 ? 2 : rc;
    }
    if (policy_path)
        config_set(&cfg, "policy", policy_path, why, sizeof why);
    memory_limit_set(cfg.worker_memory_limit);
    g_mime_init();
    mlm_lua_configure(&cfg);
    sendmail_use_outbox(cfg.spool_dir);

    struct policy pol;
    struct mlm_buf out;
    buf_init(&out);
    if (policy_load(&pol, cfg.policy, cfg.lua_path,
                    (size_t)cfg.lua_memory_limit, cfg.lua_instruction_limit,
                    why, sizeof why) == -1) {
        load_error_encode(&out, why, (uint32_t)getpid());
        send_frame(&out);
        msg_error("policy %s did not load: %s", cfg.policy, why);
        return 1;
    }
    zygote_worker_loaded();
    /* Its pid, for a multiplexor that has not learned it from the fork
     * server: a worker it cannot name it cannot kill. */
    ready_encode(&out, pol.stages, (uint32_t)getpid());
    send_frame(&out);
    buf_free(&out);
    serve(&pol, &cfg);
    /* Freeing and unmapping it all is nobody's wait: yield to the workers
     * serving. */
    setpriority(PRIO_PROCESS, 0, 19);
    policy_close(&pol);
    lists_shutdown();
    g_mime_shutdown();
    config_free(&cfg);
    return 0;
}
