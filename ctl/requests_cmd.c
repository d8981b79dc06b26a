/*
 * requests_cmd.c - subscription requests held for the owners
 * (subscription_policy moderate, confirm_then_moderate): mlm-ctl requests
 * LIST and requests approve|reject ID.
 *
 * A decision is one UPDATE of a pending request (db_requests.c), so a
 * replayed or concurrent decision fails cleanly and changes nothing. The
 * record keeps who decided and when. Approving checks that the address
 * is not banned, decides and adds the member in one transaction
 * (request_approve), then sends a welcome; a banned address's request is
 * refused and stays pending. Rejecting tells the address politely. Both go
 * from NAME-request@ only to the requesting address: the list policy holds
 * no request from a robot (RFC 3834), so none is answered here either.
 */
#include "ctl.h"
#include "db.h"
#include "inject.h"
#include "rfc2047.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQUEST_COLS 4

static int state_valid(const char *s)
{
    return strcmp(s, "pending") == 0 || strcmp(s, "approved") == 0 ||
           strcmp(s, "rejected") == 0;
}

struct request_walk {
    struct request_info *infos;
    size_t n;
};

static int collect_request(const struct request_info *r, void *arg)
{
    struct request_walk *w = arg;
    w->infos = xrealloc(w->infos, (w->n + 1) * sizeof *w->infos);
    w->infos[w->n++] = *r;
    return 0;
}

int cmd_requests(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct request_walk w = {NULL, 0};
    char why[512];
    const char *state = opt_value(a, "state");
    time_t now = time(NULL);
    if (state && !state_valid(state))
        return ctl_fail("bad state '%s': pending, approved or rejected",
                        state);
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (request_each(env->db, &list, state ? state : "pending",
                     collect_request, &w, why, sizeof why) == -1) {
        free(w.infos);
        return ctl_fail("%s", why);
    }
    if (opt_flag(a, "json")) {
        struct json j;
        json_start(&j, stdout);
        json_array(&j, NULL);
        for (size_t i = 0; i < w.n; i++) {
            const struct request_info *r = &w.infos[i];
            char when[32], age[32];
            time_format((time_t)r->received, when, sizeof when);
            age_format((time_t)r->received, now, age, sizeof age);
            json_object(&j, NULL);
            json_int(&j, "id", r->id);
            json_str(&j, "address", r->address);
            json_int(&j, "received", r->received);
            json_str(&j, "received_at", when);
            json_str(&j, "age", age);
            json_str(&j, "state", r->state);
            json_str(&j, "decided_by", r->decided_by);
            json_close(&j, '}');
        }
        json_close(&j, ']');
        json_end(&j);
        free(w.infos);
        return EXIT_OK;
    }
    size_t widths[REQUEST_COLS] = {0};
    char *(*rows)[REQUEST_COLS] = xcalloc(w.n ? w.n : 1, sizeof *rows);
    for (size_t i = 0; i < w.n; i++) {
        const struct request_info *r = &w.infos[i];
        char id[32], when[32];
        snprintf(id, sizeof id, "%lld", (long long)r->id);
        time_format((time_t)r->received, when, sizeof when);
        rows[i][0] = xstrdup(id);
        rows[i][1] = safe_text(r->address, 0);
        rows[i][2] = xstrdup(when);
        rows[i][3] = xstrdup(r->state);
        for (int c = 0; c < REQUEST_COLS; c++)
            if (text_width(rows[i][c]) > widths[c])
                widths[c] = text_width(rows[i][c]);
    }
    for (size_t i = 0; i < w.n; i++) {
        columns_print(stdout, rows[i], REQUEST_COLS, widths);
        for (int c = 0; c < REQUEST_COLS; c++)
            free(rows[i][c]);
    }
    free(rows);
    free(w.infos);
    return EXIT_OK;
}

#define TELL_TIMEOUT_MS 120000

/*
 * The subscriber learns the decision: one mail from NAME-request@ to the
 * address alone (envelope sender NAME-bounces@), through cfg.sendmail. A
 * failure is a warning: the decision stands.
 */
static void request_tell(struct ctl_env *env, const struct list_info *list,
                         const char *address, int approved)
{
    char request[600], bounces[600], why[512];
    snprintf(request, sizeof request, "%s-request@%s", list->name,
             list->domain);
    snprintf(bounces, sizeof bounces, "%s-bounces@%s", list->name,
             list->domain);
    /* address came from the database as the policy stored it: no CR/LF
     * reaches the header (checked again, the database is not trusted). */
    if (strpbrk(address, "\r\n")) {
        fprintf(stderr, "mlm-ctl: warning: no mail to a bad address\n");
        return;
    }
    char *raw_subject = NULL;
    char *text = ctl_template(env, list, approved ? "welcome"
                              : "request-rejected", NULL, &raw_subject);
    if (text == NULL) {
        free(raw_subject);
        return;
    }
    char *subject = rfc2047_encode(raw_subject ? raw_subject : "");
    free(raw_subject);
    size_t len = strlen(address) + strlen(request) + strlen(subject) +
                 strlen(text) + 512;
    char *msg = xmalloc(len);
    snprintf(msg, len, "From: %s\r\nTo: %s\r\nSubject: %s\r\n"
             "Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
             request, address, subject, text);
    const char *extra[] = {"-f", bounces, address, NULL};
    if (inject_message(env->cfg.sendmail, extra, NULL, msg, strlen(msg),
                       TELL_TIMEOUT_MS, why, sizeof why) == -1)
        fprintf(stderr, "mlm-ctl: warning: \"%s\" not sent to %s: %s\n",
                subject, address, why);
    free(msg);
    free(subject);
    free(text);
}

int cmd_requests_decide(struct ctl_env *env, struct ctl_args *a)
{
    int approve = strcmp(a->cmd->sub, "approve") == 0;
    const char *state = approve ? "approved" : "rejected";
    struct list_info list;
    struct request_info r;
    int64_t id;
    char who[128], why[512];
    ctl_decider(a, who, sizeof who);
    if (strpbrk(who, "\r\n"))
        return ctl_fail("--by may not hold CR or LF");
    if (parse_id(a->argv[0], &id) == -1)
        return ctl_fail("no subscription request '%s' (an id is a number)",
                        a->argv[0]);
    struct db *db = ctl_db(env);
    if (db == NULL)
        return EXIT_FAILED;
    if (approve) {
        int added = request_approve(db, id, who, &list, &r, why, sizeof why);
        if (added == DB_EXISTS) {
            printf("approved subscription request %lld: %s is already a "
                   "member of %s\n", (long long)id, r.address, list.address);
            return EXIT_OK;
        }
        if (added != 0)
            return ctl_fail("%s", why);
    } else {
        if (request_get(db, id, &list, &r, why, sizeof why) != 0)
            return ctl_fail("%s", why);
        if (strcmp(r.state, "pending") != 0)
            return ctl_fail("subscription request %lld is already %s%s%s",
                            (long long)id, r.state,
                            *r.decided_by ? " by " : "", r.decided_by);
        if (request_decide(db, id, state, who, why, sizeof why) != 0)
            return ctl_fail("%s", why);
    }
    request_tell(env, &list, r.address, approve);
    printf("%s subscription request %lld: %s %s %s by %s\n", state,
           (long long)id, r.address, approve ? "joined" : "not added to",
           list.address, who);
    return EXIT_OK;
}
