/*
 * fuzz_message.c - the worker's end-of-message path, as mlm-worker runs it
 * (lua/policy.h): the input is written to a spool file, and a fixed policy
 * (fuzz_message.lua) reads every header, address and MIME part through
 * ctx.message and asks for a footer, which stage.c renders into a body
 * file (CHG_REPLACE_BODY).
 *
 * Properties: a run either succeeds with a reply mlmd would accept
 * (reply_validate) or fails with ACT_FAILED and a reason; the message API
 * keeps its promises (checked in the policy, reported as FUZZ-PROPERTY);
 * a body file exists exactly when the reply names it, with CRLF line ends.
 *
 * MLM_FUZZ_POLICY and MLM_FUZZ_LUA_DIR override the policy and the shipped
 * Lua library directory compiled in from the source tree.
 */
#include "policy.h"
#include "luambind.h"
#include "mlmconf.h"
#include "proto.h"
#include "fuzz_check.h"

#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif
#ifndef FUZZ_LUA_DIR
#define FUZZ_LUA_DIR FUZZ_SRCDIR "/../../lua/lib"
#endif

static struct policy pol;
static struct mlm_config cfg;
static char tmpdir[4096];
static char spool_path[4096], body_path[4200], db_path[4096];

static void cleanup(void)
{
    unlink(body_path);
    unlink(spool_path);
    unlink(db_path);
    rmdir(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char why[2048];
    /* TMPDIR: run.sh keeps what a crashed run leaves in build/tmp */
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mlm-fuzz-message.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(spool_path, sizeof spool_path, "%s/FUZZ0001", tmpdir);
    snprintf(body_path, sizeof body_path, "%s.body", spool_path);
    snprintf(db_path, sizeof db_path, "%s/mlm.db", tmpdir);
    atexit(cleanup);

    g_mime_init();
    config_defaults(&cfg);
    if (config_set(&cfg, "database", db_path, why, sizeof why) == -1 ||
        config_set(&cfg, "spool_dir", tmpdir, why, sizeof why) == -1) {
        fprintf(stderr, "config: %s\n", why);
        exit(1);
    }
    mlm_lua_configure(&cfg);
    const char *policy = getenv("MLM_FUZZ_POLICY");
    const char *lua_dir = getenv("MLM_FUZZ_LUA_DIR");
    if (policy == NULL)
        policy = FUZZ_SRCDIR "/fuzz_message.lua";
    if (lua_dir == NULL)
        lua_dir = FUZZ_LUA_DIR;
    /* the limits of a real worker, smaller: a slow input shows sooner */
    if (policy_load(&pol, policy, lua_dir, 64u << 20, 10000000, why,
                    sizeof why) == -1) {
        fprintf(stderr, "policy: %s\n", why);
        exit(1);
    }
    if (!(pol.stages & STAGE_BIT(STAGE_MESSAGE))) {
        fprintf(stderr, "policy %s has no filter_message\n", policy);
        exit(1);
    }
    return 0;
}

static void write_spool(const uint8_t *data, size_t size)
{
    int fd = open(spool_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd != -1, "cannot create the spool file");
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        FUZZ_CHECK(n > 0, "cannot write the spool file");
        off += (size_t)n;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_spool(data, size);

    char *recipients[] = {"dev@lists.example.org"};
    char *macros[] = {"i", "FUZZ0001", "{auth_authen}", ""};
    struct mlm_request req = {
        .stage = STAGE_MESSAGE,
        .qid = "FUZZ0001",
        .hostip = "192.0.2.25",
        .hostname = "mx.example.net",
        .helo = "mx.example.net",
        .sender = "alice@example.net",
        .recipient = "",
        .spool_path = spool_path,
        .size = size,
        .recipients = {recipients, 1},
        .esmtp_args = {NULL, 0},
        .macros = {macros, 4},
    };
    struct mlm_reply rep;
    char why[4096] = "";
    int rc = policy_run(&pol, &req, &rep, tmpdir, why, sizeof why);

    FUZZ_CHECK(strstr(why, "FUZZ-PROPERTY") == NULL, "%s", why);
    int body_named = 0;
    if (rc == 0) {
        char vwhy[256];
        /* the policy continues; only a message past a MIME limit
         * (mime_limits.c) is refused, 552 5.3.4 */
        FUZZ_CHECK(rep.action == ACT_CONTINUE ||
                       (rep.action == ACT_REJECT && rep.code && rep.dsn &&
                        strcmp(rep.code, "552") == 0 &&
                        strcmp(rep.dsn, "5.3.4") == 0),
                   "action %s", action_name(rep.action));
        if (reply_validate(&rep, vwhy, sizeof vwhy) == -1) {
            for (uint32_t i = 0; i < rep.nchanges; i++)
                fprintf(stderr, "change %u: kind %d %s: [%s]\n", i,
                        (int)rep.changes[i].kind,
                        rep.changes[i].name ? rep.changes[i].name : "-",
                        rep.changes[i].value ? rep.changes[i].value : "-");
            FUZZ_CHECK(0, "reply refused by mlmd's check: %s", vwhy);
        }
        for (uint32_t i = 0; i < rep.nchanges; i++) {
            if (rep.changes[i].kind != CHG_REPLACE_BODY)
                continue;
            FUZZ_CHECK(strcmp(rep.changes[i].value, body_path) == 0,
                       "body file %s", rep.changes[i].value);
            fuzz_check_crlf_file(rep.changes[i].value);
            body_named = 1;
        }
    } else {
        FUZZ_CHECK(rc == -1 && rep.action == ACT_FAILED && rep.nchanges == 0 &&
                       rep.text != NULL,
                   "failed run: rc %d, action %s, %u changes", rc,
                   action_name(rep.action), rep.nchanges);
        if (getenv("MLM_FUZZ_VERBOSE"))
            fprintf(stderr, "policy failed: %s\n", why);
    }
    struct stat st;
    FUZZ_CHECK(body_named || lstat(body_path, &st) == -1,
               "a body file was left behind that the reply does not name");
    unlink(body_path);
    reply_free(&rep);
    /*
     * Free this run's garbage now: libFuzzer scans for leaks after every
     * input that allocated more than it freed, which costs ~20 ms.
     */
    lua_gc(pol.L, LUA_GCCOLLECT);
    return 0;
}
