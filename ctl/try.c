/*
 * try.c - mlm-ctl try: one SMTP transaction through the policy, with no
 * MTA and no daemons.
 *
 * The stages the policy defines are asked in the order an MTA asks them
 * (relay, helo, sender, each recipient, message), with requests built as
 * mlmd builds them, and each answer is judged as mlmd and the MTA would
 * judge it: a refusal at connect, HELO or MAIL ends the transaction, a
 * refused recipient is dropped and the others go on, accept skips the
 * remaining stages, discard drops the message, a failure becomes
 * failure_action. Then the changes of filter_message are listed and
 * applied to a copy of the message, which is printed with its envelope.
 *
 * Exit 0 when the message would be accepted for delivery (quarantine
 * included), 1 when it would be refused, discarded or failed.
 */
#include "ctl.h"
#include "policy.h"
#include "try.h"
#include "xmalloc.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRY_QID "mlm-try"
#define MESSAGE_MAX (256u << 20)

enum verdict { GO_ON, ACCEPT_ALL, REFUSED, DISCARDED };

struct try_run {
    struct ctl_env *env;
    struct policy pol;
    int loaded;
    char *client, *hostname, *helo, *sender;
    struct mlm_strv rcpts;       /* asked for */
    struct mlm_strv accepted;    /* the MTA would deliver to */
    char dir[4096];              /* temporary spool directory */
    char spool[4200];
    char *wire;
    size_t wirelen;
    char outcome[600];           /* why it was not accepted */
    const char *output;          /* --output: the message written raw here */
    int output_failed;
};

static int read_all(const char *path, char **data, size_t *len, char *why,
                    size_t whylen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, n = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= MESSAGE_MAX) {
                snprintf(why, whylen, "%s is larger than %u MB", path,
                         MESSAGE_MAX >> 20);
                fclose(fp);
                free(buf);
                return -1;
            }
            buf = xrealloc(buf, cap *= 2);
        }
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        snprintf(why, whylen, "cannot read %s", path);
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* The addr-specs of a header of the message (for --from/--to defaults). */
static void header_addresses(const struct try_message *m, const char *name,
                             struct mlm_strv *out)
{
    const char *raw = try_header(m, name);
    if (raw == NULL)
        return;
    char *value = xstrdup(raw);
    for (char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    InternetAddressList *list = internet_address_list_parse(NULL, value);
    free(value);
    if (list == NULL)
        return;
    int count = internet_address_list_length(list);
    for (int i = 0; i < count; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(
                INTERNET_ADDRESS_MAILBOX(ia));
            if (addr && *addr && address_valid(addr))
                strv_push(out, addr);
        }
    }
    g_object_unref(list);
}

/* A request as mlmd fills one (see mlmd/callbacks.c). */
static void request_build(struct try_run *t, struct mlm_request *req,
                          enum mlm_stage stage, const char *rcpt)
{
    memset(req, 0, sizeof *req);
    req->stage = stage;
    req->qid = TRY_QID;
    req->hostip = t->client;
    req->hostname = t->hostname;
    req->helo = stage >= STAGE_HELO ? t->helo : NULL;
    if (stage >= STAGE_SENDER) {
        req->sender = t->sender;
        req->recipients = t->accepted;
    }
    req->recipient = (char *)rcpt;
    const char *macros[][2] = {
        {"i", TRY_QID},
        {"j", "mlm-try"},
        {"{client_addr}", t->client},
        {"{client_name}", t->hostname},
        {"{mail_addr}", stage >= STAGE_SENDER ? t->sender : NULL},
        {"{rcpt_addr}", rcpt},
    };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (macros[i][1]) {
            strv_push(&req->macros, macros[i][0]);
            strv_push(&req->macros, macros[i][1]);
        }
}

/* Print one stage's answer; say what the MTA would make of it. */
static enum verdict judge(struct try_run *t, enum mlm_stage stage,
                          const char *rcpt, struct mlm_reply *rep)
{
    char why[512];
    /* mlmd's own checks: an unsafe reply, or changes too early, fail. */
    if (rep->action != ACT_FAILED &&
        (reply_validate(rep, why, sizeof why) == -1 ||
         (rep->nchanges && stage != STAGE_MESSAGE &&
          snprintf(why, sizeof why, "changes requested before end of "
                   "message")))) {
        free(rep->text);
        rep->text = xstrdup(why);
        rep->action = ACT_FAILED;
    }
    char label[600];
    snprintf(label, sizeof label, "%s%s%s", stage_name(stage),
             rcpt ? " " : "", rcpt ? rcpt : "");
    char *safe_label = safe_text(label, 0);
    printf("%s: ", safe_label);
    free(safe_label);

    enum mlm_action action = rep->action;
    const char *code = rep->code, *dsn = rep->dsn, *text = rep->text;
    if (action == ACT_FAILED) {
        char *safe = safe_text(text ? text : "policy failed", 0);
        int accept = t->env->cfg.failure_action == FAILURE_ACCEPT;
        printf("failed (%s); failure_action %s", safe,
               accept ? "accept: continue" : "tempfail: ");
        free(safe);
        if (accept) {
            putchar('\n');
            return GO_ON;
        }
        action = ACT_TEMPFAIL;
        code = "451";
        dsn = "4.3.0";
        text = "Temporary failure in mailing list processing, try again "
               "later";
    } else {
        printf("%s", action_name(action));
        if (action == ACT_REJECT || action == ACT_TEMPFAIL)
            putchar(' ');
    }
    if (action == ACT_REJECT || action == ACT_TEMPFAIL) {
        int reject = action == ACT_REJECT;
        code = code ? code : reject ? "550" : "451";
        dsn = dsn ? dsn : reject ? "5.7.1" : "4.3.0";
        text = text ? text : reject ? "Rejected by policy" : "Try again later";
        char *safe = safe_text(text, 0);
        printf("%s %s %s\n", code, dsn, safe);
        snprintf(t->outcome, sizeof t->outcome, "%s at %s: %s %s %s",
                 reject ? "rejected" : "tempfailed", stage_name(stage), code,
                 dsn, safe);
        free(safe);
        return REFUSED;
    }
    putchar('\n');
    if (action == ACT_DISCARD) {
        snprintf(t->outcome, sizeof t->outcome, "discarded at %s",
                 stage_name(stage));
        return DISCARDED;
    }
    return action == ACT_ACCEPT ? ACCEPT_ALL : GO_ON;
}

/* Ask one stage (when the policy has it). */
static enum verdict ask(struct try_run *t, enum mlm_stage stage,
                        const char *rcpt, struct mlm_reply *rep)
{
    struct mlm_request req;
    char why[2048];
    reply_init(rep, ACT_CONTINUE);
    if (!(t->pol.stages & STAGE_BIT(stage)))
        return GO_ON;
    request_build(t, &req, stage, rcpt);
    if (stage == STAGE_MESSAGE) {
        req.spool_path = t->spool;
        req.size = t->wirelen;
        auth_results_forget();
    }
    policy_run(&t->pol, &req, rep, t->dir, why, sizeof why);
    strv_free(&req.macros);
    if (stage == STAGE_MESSAGE && *auth_results_last()) {
        char *safe = safe_text(auth_results_last(), 0);
        printf("authentication: %s\n", safe);
        free(safe);
    }
    return judge(t, stage, rcpt, rep);
}

static void change_print(const struct mlm_change *c)
{
    static const char *const names[] = {
        [CHG_ADD_HEADER] = "add_header",
        [CHG_CHANGE_HEADER] = "change_header",
        [CHG_DELETE_HEADER] = "delete_header",
        [CHG_ADD_RCPT] = "add_recipient",
        [CHG_DELETE_RCPT] = "delete_recipient",
        [CHG_CHANGE_SENDER] = "change_sender",
        [CHG_REPLACE_BODY] = "replace_body",
        [CHG_QUARANTINE] = "quarantine",
    };
    char *name = safe_text(c->name ? c->name : "", 0);
    char *value = safe_text(c->value ? c->value : "", 0);
    printf("change: %s", names[c->kind]);
    switch (c->kind) {
    case CHG_ADD_HEADER:
        printf(" %s: %s\n", name, value);
        break;
    case CHG_CHANGE_HEADER:
        printf(" %s[%u]: %s\n", name, c->index, value);
        break;
    case CHG_DELETE_HEADER:
        printf(" %s[%u]\n", name, c->index);
        break;
    case CHG_REPLACE_BODY: {
        struct stat st;
        if (stat(c->value, &st) == 0)
            printf(" (%lld bytes)\n", (long long)st.st_size);
        else
            printf(" (unreadable)\n");
        break;
    }
    default:
        printf(" %s\n", value);
        break;
    }
    free(name);
    free(value);
}

static void strv_remove(struct mlm_strv *sv, const char *s)
{
    for (uint32_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0) {
            free(sv->v[i]);
            memmove(&sv->v[i], &sv->v[i + 1],
                    (sv->n - i - 1) * sizeof *sv->v);
            sv->n--;
            return;
        }
}

/* The message, byte for byte, to the file --output names. 0 or -1 (said). */
static int try_output(struct try_run *t, const struct try_message *m,
                      const char *body, size_t bodylen)
{
    FILE *fp = fopen(t->output, "wb");
    int e = 0;
    if (fp == NULL || try_message_write(fp, m, body, bodylen) == -1)
        e = errno;
    if (fp && fclose(fp) == EOF && e == 0)
        e = errno;
    if (fp == NULL || e) {
        char *safe = safe_text(t->output, 0);
        fprintf(stderr, "mlm-ctl: cannot write %s: %s\n", safe,
                strerror(e ? e : EIO));
        free(safe);
        return -1;
    }
    return 0;
}

/* The changes, the envelope and the message as the MTA would queue it. */
static void result_print(struct try_run *t, const struct mlm_reply *rep)
{
    struct try_message m;
    char *body = NULL, why[256];
    size_t bodylen = 0;
    const char *quarantine = NULL;
    try_message_parse(t->wire, t->wirelen, &m);
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        const struct mlm_change *c = &rep->changes[i];
        change_print(c);
        try_message_apply(&m, c);
        if (c->kind == CHG_CHANGE_SENDER) {
            free(t->sender);
            t->sender = xstrdup(c->value);
        } else if (c->kind == CHG_ADD_RCPT) {
            strv_push(&t->accepted, c->value);
        } else if (c->kind == CHG_DELETE_RCPT) {
            strv_remove(&t->accepted, c->value);
        } else if (c->kind == CHG_QUARANTINE) {
            quarantine = c->value;
        } else if (c->kind == CHG_REPLACE_BODY) {
            free(body);
            body = NULL;
            if (read_all(c->value, &body, &bodylen, why, sizeof why) == -1)
                printf("change: replace_body: %s\n", why);
        }
    }
    char *safe = quarantine ? safe_text(quarantine, 0) : NULL;
    printf("result: accepted%s%s%s\n", safe ? " (quarantined: " : "",
           safe ? safe : "", safe ? ")" : "");
    free(safe);
    safe = safe_text(t->sender, 0);
    printf("envelope sender: <%s>\n", safe);
    free(safe);
    for (uint32_t i = 0; i < t->accepted.n; i++) {
        safe = safe_text(t->accepted.v[i], 0);
        printf("envelope recipient: <%s>\n", safe);
        free(safe);
    }
    putchar('\n');
    try_message_print(stdout, &m, body ? body : m.body,
                      body ? bodylen : m.bodylen);
    if (t->output && try_output(t, &m, body ? body : m.body,
                                body ? bodylen : m.bodylen) == -1)
        t->output_failed = 1;
    free(body);
    try_message_free(&m);
}

/* The transaction; returns an exit status. */
static int try_transaction(struct try_run *t)
{
    struct mlm_reply rep;
    enum verdict v = ask(t, STAGE_RELAY, NULL, &rep);
    reply_free(&rep);
    if (v == GO_ON) {
        v = ask(t, STAGE_HELO, NULL, &rep);
        reply_free(&rep);
    }
    if (v == GO_ON) {
        v = ask(t, STAGE_SENDER, NULL, &rep);
        reply_free(&rep);
    }
    for (uint32_t i = 0; i < t->rcpts.n && v != REFUSED && v != DISCARDED;
         i++) {
        const char *rcpt = t->rcpts.v[i];
        enum verdict rv = v == ACCEPT_ALL ? GO_ON
                                          : ask(t, STAGE_RECIPIENT, rcpt,
                                                &rep);
        if (v != ACCEPT_ALL)
            reply_free(&rep);
        if (rv == REFUSED)
            continue;             /* this recipient only */
        if (rv == DISCARDED)
            v = DISCARDED;
        else if (rv == ACCEPT_ALL)
            v = ACCEPT_ALL;
        strv_push(&t->accepted, rcpt);
    }
    if (v != REFUSED && v != DISCARDED && t->accepted.n == 0) {
        snprintf(t->outcome, sizeof t->outcome,
                 "refused at recipient: no recipient accepted");
        v = REFUSED;
    }
    if (v == GO_ON)
        v = ask(t, STAGE_MESSAGE, NULL, &rep);
    else
        reply_init(&rep, ACT_CONTINUE);
    int rc = EXIT_FAILED;
    if (v == GO_ON || v == ACCEPT_ALL) {
        result_print(t, &rep);
        rc = t->output_failed ? EXIT_FAILED : EXIT_OK;
    } else {
        printf("result: %s\n", t->outcome);
        ctl_fail("the message would not be delivered: %s", t->outcome);
    }
    for (uint32_t i = 0; i < rep.nchanges; i++)
        if (rep.changes[i].kind == CHG_REPLACE_BODY)
            unlink(rep.changes[i].value);
    reply_free(&rep);
    return rc;
}

/* Defaults, the temporary spool, the policy. 0, or an exit status. */
static int try_setup(struct try_run *t, struct ctl_args *a)
{
    struct try_message m;
    char why[2048], *data;
    size_t len;
    int nto;
    char **to = opt_values(a, "to", &nto);
    const char *from = opt_value(a, "from");
    if (read_all(a->argv[0], &data, &len, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    t->wire = wire_form(data, len, &t->wirelen);
    free(data);

    const char *policy = opt_value(a, "policy");
    if (ctl_policy_load(t->env, &t->pol, policy ? policy : t->env->cfg.policy,
                        why, sizeof why) == -1)
        return ctl_fail("%s", why);
    t->loaded = 1;

    try_message_parse(t->wire, t->wirelen, &m);
    if (from == NULL) {
        struct mlm_strv f = {NULL, 0};
        header_addresses(&m, "From", &f);
        t->sender = xstrdup(f.n ? f.v[0] : "");
        strv_free(&f);
    } else {
        t->sender = xstrdup(from);
    }
    for (int i = 0; i < nto; i++)
        strv_push(&t->rcpts, to[i]);
    if (nto == 0) {
        header_addresses(&m, "To", &t->rcpts);
        header_addresses(&m, "Cc", &t->rcpts);
    }
    try_message_free(&m);
    if (!address_valid(t->sender))
        return ctl_fail("bad sender address (control characters or angle "
                        "brackets)");
    for (uint32_t i = 0; i < t->rcpts.n; i++)
        if (!address_valid(t->rcpts.v[i]) || *t->rcpts.v[i] == '\0')
            return ctl_fail("bad recipient address '%s'", t->rcpts.v[i]);
    if (t->rcpts.n == 0)
        return ctl_fail("no recipients: give --to (the message has no To or "
                        "Cc)");

    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/mlm-try.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(t->dir) == NULL) {
        int e = errno;
        t->dir[0] = '\0';
        return ctl_fail("cannot make a temporary directory: %s", strerror(e));
    }
    snprintf(t->spool, sizeof t->spool, "%s/message", t->dir);
    FILE *fp = fopen(t->spool, "wb");
    if (fp == NULL || fwrite(t->wire, 1, t->wirelen, fp) != t->wirelen ||
        fclose(fp) == EOF)
        return ctl_fail("cannot write %s", t->spool);
    return EXIT_OK;
}

int cmd_try(struct ctl_env *env, struct ctl_args *a)
{
    struct try_run t = {.env = env};
    const char *client = opt_value(a, "client");
    const char *hostname = opt_value(a, "hostname");
    const char *helo = opt_value(a, "helo");
    char bracketed[128];
    if (client && (strlen(client) > 64 || !address_valid(client)))
        return ctl_fail("bad --client '%s'", client);
    snprintf(bracketed, sizeof bracketed, "[%s]", client ? client : "");
    t.client = xstrdup(client ? client : "127.0.0.1");
    t.hostname = xstrdup(hostname ? hostname : client ? bracketed
                                                      : "localhost");
    t.helo = xstrdup(helo ? helo : hostname ? hostname : "localhost");
    t.output = opt_value(a, "output");

    int rc = try_setup(&t, a);
    if (rc == EXIT_OK)
        rc = try_transaction(&t);

    if (*t.spool)
        unlink(t.spool);
    if (*t.dir && rmdir(t.dir) == -1)
        fprintf(stderr, "mlm-ctl: warning: %s is left behind: %s\n", t.dir,
                strerror(errno));
    if (t.loaded)
        ctl_policy_close(&t.pol);
    free(t.client);
    free(t.hostname);
    free(t.helo);
    free(t.sender);
    free(t.wire);
    strv_free(&t.rcpts);
    strv_free(&t.accepted);
    return rc;
}
