/*
 * footer_test.c - footer_apply() over a corpus of MIME shapes.
 *
 * Usage: footer_test CORPUS_DIR. Each NAME.eml there (CRLF, as mlmd spools
 * it; bare LFs are made CRLF on loading) comes with NAME.expect:
 *
 *     # comment
 *     text: a line of the text footer      (repeat for more lines; none: NULL)
 *     html: a line of the HTML footer      (none: NULL, derived from text)
 *     rc: 1                                (what footer_apply returns)
 *     plain: 1.1 2                         (parts that carry the text footer)
 *     htmlpart: 1.2                        (parts that carry the HTML footer)
 *     flowed: 1                            (plain parts where the footer
 *                                           follows an empty line)
 *     charset: 1.1=utf-8                   (charset afterwards)
 *     cte: 1.1=quoted-printable            (transfer encoding afterwards)
 *     change: CHANGE Name: value           (the header changes reported,
 *                                           all of them, in order)
 *
 * Part numbers are IMAP sections: the children of the top-level multipart
 * are 1, 2, ...; a top-level leaf is 1. The check re-parses the result: the
 * original header block with the reported changes applied, CRLF, and the
 * body written, and then compares it with the original part by part. A
 * footer part must hold its old text and the footer exactly once after it
 * (an HTML one before </body>); every multipart without a footer part in
 * it, signed or not, must be byte for byte what it was in the original
 * (found by its boundary, so no MIME writer is trusted for this); every
 * other part must serialize as before and decode to the same bytes. The
 * body file must be mode 0600 and CRLF only. A few generated cases (a huge
 * part, many parts, error paths) follow the corpus.
 *
 * With FOOTER_TEST_KEEP set in the environment the body files are kept
 * (in a /tmp/footer_test.* directory) for a look.
 *
 * Prints "ok NAME" or "FAIL NAME: reason" per case; exit 0 when all pass.
 *
 * This file reads the corpus and runs each case; footer_test_check.c does
 * the checking, footer_test_cases.c holds the generated cases.
 */
#include "footer_test.h"
#include "luambind.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int failures;
char *tmpdir;

void expect_free(struct expect *ex)
{
    free(ex->text);
    free(ex->html);
    strv_free(&ex->plain);
    strv_free(&ex->htmlpart);
    strv_free(&ex->flowed);
    strv_free(&ex->charset);
    strv_free(&ex->cte);
    strv_free(&ex->changes);
}

int read_file(const char *path, struct mlm_buf *b)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_put_bytes(b, chunk, n);
    int bad = ferror(fp);
    fclose(fp);
    return bad ? -1 : 0;
}

/* A bare LF becomes CRLF: the corpus stays editable, the input is wire form. */
static void to_crlf(const struct mlm_buf *in, struct mlm_buf *out)
{
    for (size_t i = 0; i < in->len; i++) {
        if (in->data[i] == '\n' && (i == 0 || in->data[i - 1] != '\r'))
            buf_put_u8(out, '\r');
        buf_put_u8(out, in->data[i]);
    }
}

static void append_line(char **dst, const char *line)
{
    size_t old = *dst ? strlen(*dst) : 0, len = strlen(line);
    *dst = xrealloc(*dst, old + len + 2);
    if (old)
        (*dst)[old++] = '\n';
    memcpy(*dst + old, line, len + 1);
}

static void split_words(struct mlm_strv *sv, const char *s, int pairs)
{
    char *copy = xstrdup(s), *save = NULL;
    for (char *w = strtok_r(copy, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (pairs) {
            char *eq = strchr(w, '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            strv_push(sv, w);
            strv_push(sv, eq + 1);
        } else {
            strv_push(sv, w);
        }
    }
    free(copy);
}

static int expect_load(const char *path, struct expect *ex, char *why,
                       size_t whylen)
{
    struct mlm_buf b;
    buf_init(&b);
    memset(ex, 0, sizeof *ex);
    ex->rc = -2;
    if (read_file(path, &b) == -1) {
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
        buf_free(&b);
        return -1;
    }
    buf_put_u8(&b, '\0');
    char *save = NULL;
    for (char *line = strtok_r((char *)b.data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, "\r")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            snprintf(why, whylen, "%s: line without a key", path);
            buf_free(&b);
            expect_free(ex);
            return -1;
        }
        *colon = '\0';
        char *v = colon + 1 + (colon[1] == ' ');
        if (strcmp(line, "text") == 0)
            append_line(&ex->text, v);
        else if (strcmp(line, "html") == 0)
            append_line(&ex->html, v);
        else if (strcmp(line, "rc") == 0)
            ex->rc = atoi(v);
        else if (strcmp(line, "plain") == 0)
            split_words(&ex->plain, v, 0);
        else if (strcmp(line, "htmlpart") == 0)
            split_words(&ex->htmlpart, v, 0);
        else if (strcmp(line, "flowed") == 0)
            split_words(&ex->flowed, v, 0);
        else if (strcmp(line, "charset") == 0)
            split_words(&ex->charset, v, 1);
        else if (strcmp(line, "cte") == 0)
            split_words(&ex->cte, v, 1);
        else if (strcmp(line, "change") == 0)
            strv_push(&ex->changes, v);
        else {
            snprintf(why, whylen, "%s: unknown key \"%.40s\"", path, line);
            buf_free(&b);
            expect_free(ex);
            return -1;
        }
    }
    buf_free(&b);
    if (ex->rc == -2) {
        snprintf(why, whylen, "%s: no rc line", path);
        return -1;
    }
    return 0;
}

/* The HTML footer_apply derives from a text one (footer.c's format). */
static char *derived_html(const char *text)
{
    struct mlm_buf b;
    buf_init(&b);
    buf_put_bytes(&b, "<p>", 3);
    for (const char *p = text; *p; p++) {
        const char *s = *p == '&'    ? "&amp;"
                        : *p == '<'  ? "&lt;"
                        : *p == '>'  ? "&gt;"
                        : *p == '"'  ? "&quot;"
                        : *p == '\n' ? "<br>\n"
                                     : NULL;
        if (s)
            buf_put_bytes(&b, s, strlen(s));
        else
            buf_put_u8(&b, (uint8_t)*p);
    }
    buf_put_bytes(&b, "</p>", 5);
    return (char *)b.data;
}

void report(const char *name, struct check *c)
{
    if (c->err[0]) {
        failures++;
        printf("FAIL %s: %s\n", name, c->err);
    } else {
        printf("ok %s\n", name);
    }
    fflush(stdout);
}

/* Cases where the worker's shortcut (message_footer_plain) applied. */
static int plain_cases;

/*
 * The shortcut must write exactly what footer_apply writes, with no header
 * change, whenever it applies: run it on the message as a spool file.
 */
static void check_plain(struct check *c, const char *name,
                        const struct mlm_buf *msg, const struct expect *ex,
                        int full_rc, const char *full_path,
                        const struct mlm_reply *full_rep)
{
    char spool[4096], out[4200], why[512] = "";
    snprintf(spool, sizeof spool, "%s/%s.spool", tmpdir, name);
    snprintf(out, sizeof out, "%s.plain", spool);
    FILE *fp = fopen(spool, "wb");
    if (fp == NULL || fwrite(msg->data, 1, msg->len, fp) != msg->len ||
        fclose(fp) != 0) {
        fail(c, "cannot write %s", spool);
        return;
    }
    struct message *m = message_new(spool, msg->len);
    int rc = message_footer_plain(m, ex->text, out, why, sizeof why);
    message_free(m);
    if (rc == 1) {
        plain_cases++;
        printf("# %s: the plain-text shortcut applies\n", name);
        struct mlm_buf a, b;
        buf_init(&a), buf_init(&b);
        if (full_rc != 1 || full_rep->nchanges != 0)
            fail(c, "the shortcut applied where footer_apply returned %d "
                 "with %u header changes", full_rc, full_rep->nchanges);
        else if (read_file(out, &a) == -1 || read_file(full_path, &b) == -1 ||
                 a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            fail(c, "the shortcut wrote %zu bytes that differ from "
                 "footer_apply's %zu", a.len, b.len);
        buf_free(&a), buf_free(&b);
    } else if (rc == -1) {
        fail(c, "the shortcut failed: %s", why);
    }
    unlink(spool);
    unlink(out);
}

/* Run footer_apply on one message and check what it did. */
void run_case(const char *name, const struct mlm_buf *msg,
              const struct expect *ex)
{
    struct check c = {.ex = ex, .orig = msg->data, .origlen = msg->len};
    char out_path[4096], why[512] = "";
    snprintf(out_path, sizeof out_path, "%s/%s.body", tmpdir, name);
    char *derived = ex->html ? NULL : ex->text ? derived_html(ex->text) : NULL;
    c.html = ex->html ? ex->html : derived;

    struct mlm_reply rep;
    reply_init(&rep, ACT_CONTINUE);
    GMimeMessage *m = parse(msg->data, msg->len);
    if (m == NULL) {
        fail(&c, "the input does not parse");
    } else {
        int rc = footer_apply(m, ex->text, ex->html, out_path, &rep, why,
                              sizeof why);
        check_result(&c, rc, why, out_path, &rep);
        g_object_unref(m);
        check_plain(&c, name, msg, ex, rc, out_path, &rep);
    }
    if (getenv("FOOTER_TEST_KEEP") == NULL)
        unlink(out_path);
    reply_free(&rep);
    free(derived);
    report(name, &c);
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void run_corpus(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        printf("FAIL corpus: cannot open %s: %s\n", dir, strerror(errno));
        failures++;
        return;
    }
    struct mlm_strv names = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".eml") == 0) {
            char *base = xstrndup(de->d_name, len - 4);
            strv_push(&names, base);
            free(base);
        }
    }
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof *names.v, by_name);
    if (names.n == 0) {
        printf("FAIL corpus: no .eml files in %s\n", dir);
        failures++;
    }
    for (uint32_t i = 0; i < names.n; i++) {
        char path[4096], why[4200];
        struct mlm_buf raw, msg;
        struct expect ex;
        buf_init(&raw), buf_init(&msg);
        snprintf(path, sizeof path, "%s/%s.eml", dir, names.v[i]);
        int ok = read_file(path, &raw) == 0;
        snprintf(path, sizeof path, "%s/%s.expect", dir, names.v[i]);
        if (!ok) {
            printf("FAIL %s: cannot read the .eml\n", names.v[i]);
            failures++;
        } else if (expect_load(path, &ex, why, sizeof why) == -1) {
            printf("FAIL %s: %s\n", names.v[i], why);
            failures++;
        } else {
            to_crlf(&raw, &msg);
            run_case(names.v[i], &msg, &ex);
            expect_free(&ex);
        }
        buf_free(&raw), buf_free(&msg);
    }
    strv_free(&names);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: footer_test CORPUS_DIR\n");
        return 2;
    }
    g_mime_init();
    char tmpl[] = "/tmp/footer_test.XXXXXX";
    tmpdir = mkdtemp(tmpl);
    if (tmpdir == NULL) {
        perror("mkdtemp");
        return 1;
    }
    run_corpus(argv[1]);
    /* the shortcut must be exercised, not only skipped */
    if (plain_cases < 5) {
        printf("FAIL plain-shortcut: applied to %d corpus cases\n",
               plain_cases);
        failures++;
    } else {
        printf("ok plain-shortcut: applied to %d corpus cases, each the "
               "same bytes as footer_apply\n", plain_cases);
    }
    case_huge();
    case_wide();
    case_errors();
    rmdir(tmpdir);
    g_mime_shutdown();
    return failures ? 1 : 0;
}
