/*
 * held_cmd.c - the moderation queue: mlm-ctl held LIST, held show ID and
 * held approve|reject|discard ID.
 *
 * Approving a post held under hold_mode defer (the mode is recorded with
 * the post; for posts held before it was, the list's current mode) only
 * records the decision: the sender's MTA, answered 450, retries and the
 * policy then accepts the retry (re-injecting too would deliver the post
 * twice).
 * Otherwise approving records the decision first and then re-injects the
 * post through cfg.sendmail to the list's own address, with the list's
 * -bounces address as envelope sender and an X-Mlm-Approved mark (see
 * db.h: bound to this message and sender, good once, for
 * APPROVAL_LIFETIME) as its first header, so the list policy distributes
 * it like any accepted post. The decision is committed before injection because the
 * MTA may run the policy on the re-injected post before sendmail returns,
 * and the policy must then see the post approved. If injection fails the
 * decision is undone (the post is pending again) and mlm-ctl exits 1.
 * Reject and discard only record the decision; telling the sender is the
 * list policy's business.
 */
#include "ctl.h"
#include "db.h"
#include "rfc2047.h"
#include "xmalloc.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUBJECT_SHOWN 60
#define INJECT_TIMEOUT_MS 120000

static int state_valid(const char *s)
{
    return strcmp(s, "pending") == 0 || strcmp(s, "approved") == 0 ||
           strcmp(s, "rejected") == 0 || strcmp(s, "discarded") == 0;
}

#define HELD_COLS 5

struct held_walk {
    char *(*rows)[HELD_COLS];
    struct held_info *infos;
    size_t n;
};

static int collect_held(const struct held_info *h, void *arg)
{
    struct held_walk *w = arg;
    w->infos = xrealloc(w->infos, (w->n + 1) * sizeof *w->infos);
    w->infos[w->n++] = *h;
    return 0;
}

static void held_json(const struct held_info *h, struct json *j, time_t now)
{
    char when[32], age[32];
    time_format((time_t)h->received, when, sizeof when);
    age_format((time_t)h->received, now, age, sizeof age);
    json_int(j, "id", h->id);
    json_str(j, "sender", h->sender);
    json_str(j, "subject", h->subject);
    json_str(j, "reason", h->reason);
    json_int(j, "received", h->received);
    json_str(j, "received_at", when);
    json_str(j, "age", age);
    json_str(j, "state", h->state);
    json_str(j, "decided_by", h->decided_by);
    json_str(j, "message_id", h->message_id);
}

int cmd_held(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct held_walk w = {NULL, NULL, 0};
    char why[512];
    const char *state = opt_value(a, "state");
    time_t now = time(NULL);
    if (state && !state_valid(state))
        return ctl_fail("bad state '%s': pending, approved, rejected or "
                        "discarded", state);
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (held_each(env->db, &list, state ? state : "pending", collect_held,
                  &w, why, sizeof why) == -1) {
        free(w.infos);
        return ctl_fail("%s", why);
    }
    if (opt_flag(a, "json")) {
        struct json j;
        json_start(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < w.n; i++) {
            json_object(&j, NULL);
            held_json(&w.infos[i], &j, now);
            json_close(&j, '}');
        }
        json_close(&j, ']');
        json_end(&j);
        free(w.infos);
        return EXIT_OK;
    }
    size_t widths[HELD_COLS] = {0};
    w.rows = xcalloc(w.n ? w.n : 1, sizeof *w.rows);
    for (size_t i = 0; i < w.n; i++) {
        char id[32], age[32];
        const struct held_info *h = &w.infos[i];
        snprintf(id, sizeof id, "%lld", (long long)h->id);
        age_format((time_t)h->received, now, age, sizeof age);
        w.rows[i][0] = xstrdup(id);
        w.rows[i][1] = safe_text(*h->sender ? h->sender : "<>", 0);
        w.rows[i][2] = safe_text(*h->subject ? h->subject : "(no subject)",
                                 SUBJECT_SHOWN);
        w.rows[i][3] = safe_text(h->reason, 0);
        w.rows[i][4] = xstrdup(age);
        for (int c = 0; c < HELD_COLS; c++)
            if (text_width(w.rows[i][c]) > widths[c])
                widths[c] = text_width(w.rows[i][c]);
    }
    for (size_t i = 0; i < w.n; i++) {
        columns_print(stdout, w.rows[i], HELD_COLS, widths);
        for (int c = 0; c < HELD_COLS; c++)
            free(w.rows[i][c]);
    }
    free(w.rows);
    free(w.infos);
    return EXIT_OK;
}

/* Look up a held message by its id argument; 0, or an exit status. */
static int held_lookup(struct ctl_env *env, const char *arg, int64_t *id,
                       struct list_info *list, struct held_info *h,
                       void **raw, size_t *rawlen)
{
    char why[512];
    if (parse_id(arg, id) == -1)
        return ctl_fail("no held message '%s' (an id is a number)", arg);
    struct db *db = ctl_db(env);
    if (db == NULL)
        return EXIT_FAILED;
    if (held_get(db, *id, list, h, raw, rawlen, why, sizeof why) != 0)
        return ctl_fail("%s", why);
    return EXIT_OK;
}

static void show_field(const char *key, const char *value)
{
    char *safe = safe_text(value, 0);
    printf("%-11s %s\n", key, safe);
    free(safe);
}

int cmd_held_show(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct held_info h;
    void *raw = NULL;
    size_t rawlen = 0;
    int64_t id;
    time_t now = time(NULL);
    int rc = held_lookup(env, a->argv[0], &id, &list, &h, &raw, &rawlen);
    if (rc != EXIT_OK)
        return rc;
    if (opt_flag(a, "json")) {
        struct json j;
        json_start(&j, stdout);
        json_object(&j, NULL);
        json_str(&j, "list", list.address);
        held_json(&h, &j, now);
        json_int(&j, "size", (long long)rawlen);
        json_strn(&j, "message", raw, rawlen);
        json_close(&j, '}');
        json_end(&j);
        free(raw);
        return EXIT_OK;
    }
    char buf[128], when[32], age[32];
    snprintf(buf, sizeof buf, "%lld", (long long)h.id);
    show_field("id", buf);
    show_field("list", list.address);
    show_field("state", h.state);
    if (*h.decided_by)
        show_field("decided by", h.decided_by);
    show_field("sender", *h.sender ? h.sender : "<>");
    show_field("subject", h.subject);
    show_field("reason", h.reason);
    time_format((time_t)h.received, when, sizeof when);
    age_format((time_t)h.received, now, age, sizeof age);
    snprintf(buf, sizeof buf, "%s (%s ago)", when, age);
    show_field("received", buf);
    if (*h.message_id)
        show_field("message-id", h.message_id);
    snprintf(buf, sizeof buf, "%zu bytes", rawlen);
    show_field("size", buf);
    putchar('\n');
    put_message(stdout, raw, rawlen);
    free(raw);
    return EXIT_OK;
}

/* Who decides: --by, else the user behind sudo, else the login name. */
void ctl_decider(const struct ctl_args *a, char *out, size_t outlen)
{
    const char *by = opt_value(a, "by");
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    if (by)
        snprintf(out, outlen, "%s", by);
    else if (getuid() == 0 && sudo && *sudo)
        snprintf(out, outlen, "%s", sudo);
    else
        snprintf(out, outlen, "%s", pw ? pw->pw_name : "mlm-ctl");
}

/* Re-inject an approved post from sender; 0 or -1 with why. */
static int held_inject(struct ctl_env *env, const struct list_info *list,
                       const char *sender, const char *mark, const char *raw,
                       size_t rawlen, char *why, size_t whylen)
{
    char header[1024];
    size_t first = strcspn(raw, "\n");
    /* The mark's line ends as the stored message's lines do. */
    const char *eol = first < rawlen && first > 0 && raw[first - 1] == '\r'
                          ? "\r\n" : "\n";
    snprintf(header, sizeof header, "%s: %s%s", APPROVAL_HEADER, mark, eol);
    const char *extra[] = {"-f", sender, list->address, NULL};
    return inject_message(env->cfg.sendmail, extra, header, raw, rawlen,
                          INJECT_TIMEOUT_MS, why, whylen);
}

struct notice_to {
    char **addrs;
    size_t n;
};

static int collect_notice(const struct member_info *m, void *arg)
{
    struct notice_to *to = arg;
    if (to->n < 200) {
        to->addrs = xrealloc(to->addrs, (to->n + 1) * sizeof *to->addrs);
        to->addrs[to->n++] = xstrdup(m->address);
    }
    return 0;
}

/* Send one generated notice from LIST-owner@ through sendmail, to the
 * addresses of to that sendmail can take (inject_address_ok: none that
 * would read as an option); the others are left out with a warning. */
void notice_send(struct ctl_env *env, const struct list_info *list,
                        char **to, size_t nto, const char *subject,
                        const char *text)
{
    char bounces[600], owner[600], why[512];
    snprintf(bounces, sizeof bounces, "%s-bounces@%s", list->name,
             list->domain);
    snprintf(owner, sizeof owner, "%s-owner@%s", list->name, list->domain);
    const char **extra = xcalloc(nto + 3, sizeof *extra);
    size_t n = 2;
    extra[0] = "-f";
    extra[1] = bounces;
    for (size_t i = 0; i < nto; i++) {
        if (inject_address_ok(to[i])) {
            extra[n++] = to[i];
        } else {
            char *safe = safe_text(to[i], 0);
            fprintf(stderr, "mlm-ctl: warning: notice \"%s\" not sent to "
                    "'%s': not an address sendmail can take\n", subject,
                    safe);
            free(safe);
        }
    }
    if (n == 2) {
        free(extra);
        return;
    }
    /* the subject is one line (ctl_template): encoded, it is one header */
    char *encoded = rfc2047_encode(subject);
    size_t len = strlen(encoded) + strlen(text) + 2 * strlen(owner) + 512;
    char *msg = xmalloc(len);
    snprintf(msg, len, "From: %s\r\nTo: %s\r\nSubject: %s\r\n"
             "Auto-Submitted: auto-generated\r\nPrecedence: bulk\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
             owner, owner, encoded, text);
    free(encoded);
    if (inject_message(env->cfg.sendmail, extra, NULL, msg, strlen(msg),
                       INJECT_TIMEOUT_MS, why, sizeof why) == -1)
        fprintf(stderr, "mlm-ctl: warning: notice \"%s\" not sent: %s\n",
                subject, why);
    free(msg);
    free(extra);
}

/*
 * After a decision: the moderators (or, without any, the owners) learn
 * who decided what; on a rejection the sender is told only when a member
 * of the list: a non-member's address may be forged (no backscatter).
 */
static void held_notify(struct ctl_env *env, const struct list_info *list,
                        const struct held_info *h, const char *state,
                        const char *who)
{
    struct notice_to to = {NULL, 0};
    char why[512], id[32];
    members_each(env->db, list, "moderator", collect_notice, &to, why,
                 sizeof why);
    if (to.n == 0)
        members_each(env->db, list, "owner", collect_notice, &to, why,
                     sizeof why);
    char *shown = safe_text(*h->subject ? h->subject : "(no subject)", 300);
    char *via = ctl_template(env, list, "via-ctl", NULL, NULL);
    snprintf(id, sizeof id, "%lld", (long long)h->id);
    const char *vars[] = {"id", id, "state", state, "decided_by", who,
                          "sender", *h->sender ? h->sender : "<>",
                          "subject", shown, "reason", h->reason,
                          "via", via ? via : "", NULL};
    char *subject = NULL, *text = NULL;
    if (to.n &&
        (text = ctl_template(env, list, "held-decided", vars, &subject)) &&
        subject)
        notice_send(env, list, to.addrs, to.n, subject, text);
    free(subject);
    free(text);
    subject = text = NULL;
    if (strcmp(state, "rejected") == 0 && *h->sender &&
        member_get(env->db, list, h->sender, "member", NULL, why,
                   sizeof why) == 0 &&
        (text = ctl_template(env, list, "post-rejected", vars, &subject)) &&
        subject) {
        char *sender = xstrdup(h->sender);
        notice_send(env, list, &sender, 1, subject, text);
        free(sender);
    }
    free(subject);
    free(text);
    free(via);
    free(shown);
    for (size_t i = 0; i < to.n; i++)
        free(to.addrs[i]);
    free(to.addrs);
}

int cmd_held_decide(struct ctl_env *env, struct ctl_args *a)
{
    const char *verb = a->cmd->sub;            /* approve|reject|discard */
    const char *state = strcmp(verb, "approve") == 0  ? "approved"
                        : strcmp(verb, "reject") == 0 ? "rejected"
                                                      : "discarded";
    int approve = strcmp(state, "approved") == 0, inject = 0;
    struct list_info list;
    struct held_info h;
    void *raw = NULL;
    size_t rawlen = 0;
    int64_t id;
    char who[128], why[1024], mark[700], mode[32] = "", bounces[600];
    ctl_decider(a, who, sizeof who);
    if (strpbrk(who, "\r\n"))
        return ctl_fail("--by may not hold CR or LF");
    int rc = held_lookup(env, a->argv[0], &id, &list, &h,
                         approve ? &raw : NULL, &rawlen);
    if (rc != EXIT_OK)
        return rc;
    if (strcmp(h.state, "pending") != 0)
        rc = ctl_fail("held message %lld is already %s%s%s", (long long)id,
                      h.state, *h.decided_by ? " by " : "", h.decided_by);
    else if (approve && *h.hold_mode) /* the mode it was held under */
        snprintf(mode, sizeof mode, "%s", h.hold_mode);
    else if (approve && setting_get(env->db, &list, "hold_mode", mode,
                                    sizeof mode, why, sizeof why) == -1)
        rc = ctl_fail("%s", why);
    inject = approve && rc == EXIT_OK && strcmp(mode, "defer") != 0;
    /* The mark first: it may create the secret file, which must exist
     * before a policy checks the mark. It is good for this message from
     * the -bounces address, once, for APPROVAL_LIFETIME. */
    snprintf(bounces, sizeof bounces, "%s-bounces@%s", list.name,
             list.domain);
    if (inject && approval_mark(env->db, env->cfg.secret_file, &list, id,
                                (int64_t)time(NULL) + APPROVAL_LIFETIME,
                                bounces, raw, rawlen, mark, sizeof mark, why,
                                sizeof why) == -1)
        rc = ctl_fail("%s", why);
    if (rc == EXIT_OK &&
        held_decide(env->db, id, state, who, why, sizeof why) != 0)
        rc = ctl_fail("%s", why);
    if (rc == EXIT_OK && inject &&
        held_inject(env, &list, bounces, mark, raw, rawlen, why,
                    sizeof why) == -1) {
        char undo[512];
        if (held_reopen(env->db, id, "approved", undo, sizeof undo) != 0)
            rc = ctl_fail("held message %lld: re-injection failed (%s), and "
                          "it stays approved: %s", (long long)id, why, undo);
        else
            rc = ctl_fail("held message %lld: re-injection failed: %s; it "
                          "is pending again", (long long)id, why);
    }
    free(raw);
    if (rc != EXIT_OK)
        return rc;
    held_notify(env, &list, &h, state, who);
    if (inject)
        printf("approved held message %lld: sent to %s\n", (long long)id,
               list.address);
    else if (approve)
        printf("approved held message %lld of %s: delivered when the "
               "sender's MTA retries (hold_mode defer)\n", (long long)id,
               list.address);
    else
        printf("%s held message %lld of %s\n", state, (long long)id,
               list.address);
    return EXIT_OK;
}
