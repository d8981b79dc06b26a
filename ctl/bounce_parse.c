/*
 * bounce_parse.c - mlm-ctl bounces parse FILE.eml: what the -bounces
 * address reads from one bounce, without touching the database.
 *
 * The message runs through the same Lua code the worker runs for
 * NAME-bounces@ (mlm_bounce.parse, in the same sandbox and limits): a
 * small policy written to a temporary directory calls it and hands the
 * result back as X-Mlm-Bounce header additions, one "KEY VALUE" each
 * ("format", "verdict", then per recipient "address" followed by its
 * "final", "status", "action", "verdict", "diagnostic"), which are
 * printed here as text or JSON.
 */
#include "ctl.h"
#include "policy.h"
#include "try.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PARSE_MESSAGE_MAX (64u << 20)

static const char PARSE_POLICY[] =
    "local mlm = require \"mlm\"\n"
    "local bounce = require \"mlm_bounce\"\n"
    "local function clean(s)\n"
    "  return (tostring(s or \"\"):gsub(\"%c\", \" \"):sub(1, 1000))\n"
    "end\n"
    "function filter_message(ctx)\n"
    "  local r = bounce.parse(ctx.message)\n"
    "  local function put(k, v)\n"
    "    if v and v ~= \"\" then ctx:add_header(\"X-Mlm-Bounce\", k .. \" \" .. clean(v)) end\n"
    "  end\n"
    "  put(\"format\", r.format)\n"
    "  put(\"verdict\", r.verdict)\n"
    "  put(\"envid\", r.envid)\n"
    "  for _, x in ipairs(r.recipients) do\n"
    "    put(\"address\", x.address)\n"
    "    put(\"final\", x.final)\n"
    "    put(\"status\", x.status)\n"
    "    put(\"action\", x.action)\n"
    "    put(\"verdict\", x.verdict)\n"
    "    put(\"diagnostic\", x.diagnostic)\n"
    "  end\n"
    "  return mlm.continue()\n"
    "end\n";

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    int bad = fwrite(data, 1, len, fp) != len;
    return fclose(fp) == EOF || bad ? -1 : 0;
}

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL)
        return -1;
    size_t cap = 65536, n = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= PARSE_MESSAGE_MAX)
                break;
            buf = xrealloc(buf, cap *= 2);
        }
    }
    int err = ferror(fp) || n == cap;
    if (fp != stdin)
        fclose(fp);
    if (err) {
        free(buf);
        errno = n == cap ? EFBIG : EIO;
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

static void print_text(const struct mlm_reply *rep)
{
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        const struct mlm_change *c = &rep->changes[i];
        if (c->kind != CHG_ADD_HEADER || c->value == NULL)
            continue;
        size_t k = strcspn(c->value, " ");
        char *value = safe_text(c->value[k] ? c->value + k + 1 : "", 0);
        int per_recipient = strncmp(c->value, "address ", 8) != 0 &&
                            strncmp(c->value, "format ", 7) != 0 &&
                            strncmp(c->value, "envid ", 6) != 0 &&
                            !(i < 2 && strncmp(c->value, "verdict ", 8) == 0);
        printf("%s%.*s: %s\n", per_recipient ? "  " : "", (int)k, c->value,
               value);
        free(value);
    }
}

static void print_json(const struct mlm_reply *rep)
{
    struct json j;
    int in_rcpts = 0, in_rcpt = 0;
    json_start(&j, stdout);
    json_object(&j, NULL);
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        const struct mlm_change *c = &rep->changes[i];
        if (c->kind != CHG_ADD_HEADER || c->value == NULL)
            continue;
        size_t k = strcspn(c->value, " ");
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(k < 31 ? k : 31), c->value);
        const char *value = c->value[k] ? c->value + k + 1 : "";
        if (strcmp(key, "address") == 0) {
            if (!in_rcpts) {
                json_array(&j, "recipients");
                in_rcpts = 1;
            }
            if (in_rcpt)
                json_close(&j, '}');
            json_object(&j, NULL);
            in_rcpt = 1;
        }
        json_str(&j, key, value);
    }
    if (in_rcpt)
        json_close(&j, '}');
    if (!in_rcpts)
        json_array(&j, "recipients");
    json_close(&j, ']');
    json_close(&j, '}');
    json_end(&j);
}

int cmd_bounces_parse(struct ctl_env *env, struct ctl_args *a)
{
    char why[2048], dir[4096], policy_path[4200], spool[4200];
    char *data, *wire;
    size_t len, wirelen;
    if (read_file(a->argv[0], &data, &len) == -1)
        return ctl_fail("cannot read %s: %s", a->argv[0], strerror(errno));
    wire = wire_form(data, len, &wirelen);
    free(data);

    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mlm-bounce.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        free(wire);
        return ctl_fail("cannot make a temporary directory: %s",
                        strerror(errno));
    }
    snprintf(policy_path, sizeof policy_path, "%s/parse.lua", dir);
    snprintf(spool, sizeof spool, "%s/message", dir);
    int rc = EXIT_OK;
    struct policy pol;
    int loaded = 0;
    if (write_file(policy_path, PARSE_POLICY, sizeof PARSE_POLICY - 1) == -1 ||
        write_file(spool, wire, wirelen) == -1) {
        rc = ctl_fail("cannot write in %s", dir);
    } else if (ctl_policy_load(env, &pol, policy_path, why, sizeof why) ==
               -1) {
        rc = ctl_fail("%s", why);
    } else {
        loaded = 1;
        struct mlm_request req;
        struct mlm_reply rep;
        memset(&req, 0, sizeof req);
        req.stage = STAGE_MESSAGE;
        req.qid = "mlm-bounce-parse";
        req.hostip = "127.0.0.1";
        req.hostname = "localhost";
        req.helo = "localhost";
        req.sender = "";
        req.spool_path = spool;
        req.size = wirelen;
        reply_init(&rep, ACT_CONTINUE);
        if (policy_run(&pol, &req, &rep, dir, why, sizeof why) == -1 ||
            rep.action == ACT_FAILED) {
            rc = ctl_fail("the bounce parser failed: %s", why);
        } else if (opt_flag(a, "json")) {
            print_json(&rep);
        } else {
            print_text(&rep);
        }
        reply_free(&rep);
    }
    free(wire);
    unlink(policy_path);
    unlink(spool);
    if (rmdir(dir) == -1)
        fprintf(stderr, "mlm-ctl: warning: %s is left behind: %s\n", dir,
                strerror(errno));
    if (loaded)
        ctl_policy_close(&pol);
    return rc;
}
