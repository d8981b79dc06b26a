/*
 * footer_test_cases.c - the cases built in code rather than read from the
 * corpus: sizes no corpus file should hold, and error paths checked
 * directly.
 */
#include "footer_test.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void put_s(struct mlm_buf *b, const char *s)
{
    buf_put_bytes(b, s, strlen(s));
}

static const char HEADERS[] = "From: a@example.org\r\nTo: dev@lists.example\r\n"
                              "Subject: generated\r\nMIME-Version: 1.0\r\n";

/* A text part of several megabytes, base64: linear work, correct result. */
void case_huge(void)
{
    struct mlm_buf msg, text;
    buf_init(&msg), buf_init(&text);
    put_s(&msg, HEADERS);
    put_s(&msg, "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n");
    for (int i = 0; i < 60000; i++)
        put_s(&text, "Eine Zeile Text mit Umlauten: äöü ÄÖÜ ß, Nummer 12345\r\n");
    gchar *b64 = g_base64_encode(text.data, text.len);
    for (size_t i = 0, n = strlen(b64); i < n; i += 76) {
        buf_put_bytes(&msg, b64 + i, n - i < 76 ? n - i : 76);
        put_s(&msg, "\r\n");
    }
    g_free(b64);
    struct expect ex = {.text = xstrdup("Liste für Entwickler — ünïcode"),
                        .rc = 1};
    strv_push(&ex.plain, "1");
    strv_push(&ex.cte, "1");
    strv_push(&ex.cte, "base64");
    clock_t t0 = clock();
    run_case("generated-huge-part", &msg, &ex);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (secs > 120) {
        printf("FAIL generated-huge-part-time: %.1f s for %zu bytes\n", secs,
               msg.len);
        failures++;
    }
    expect_free(&ex);
    buf_free(&msg), buf_free(&text);
}

/* Thousands of parts before the text part: each is looked at once. */
void case_wide(void)
{
    struct mlm_buf msg;
    buf_init(&msg);
    put_s(&msg, HEADERS);
    put_s(&msg, "Content-Type: multipart/mixed; boundary=w\r\n\r\n");
    for (int i = 0; i < 5000; i++)
        put_s(&msg, "--w\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n");
    put_s(&msg, "--w\r\nContent-Type: text/plain\r\n\r\nthe text\r\n--w--\r\n");
    struct expect ex = {.text = xstrdup("dev mailing list"), .rc = 1};
    strv_push(&ex.plain, "5001");
    run_case("generated-5000-parts", &msg, &ex);
    expect_free(&ex);
    buf_free(&msg);
}

/*
 * Error paths and degenerate footers, checked directly; and a body file
 * left by an earlier, longer body (mlmd reuses them): overwritten and cut.
 */
void case_errors(void)
{
    static const char plain[] = "From: a@example.org\r\nSubject: e\r\n\r\nhi\r\n";
    struct {
        const char *name, *text, *html;
        int precreate, bad_dir, want;
    } cases[] = {
        {"reused-out-path", "footer", NULL, 1, 0, 1},
        {"error-no-such-directory", "footer", NULL, 0, 1, -1},
        {"error-footer-not-utf8", "bad \xff\xfe footer", NULL, 0, 0, -1},
        {"no-footer-given", NULL, NULL, 0, 0, 0},
        {"empty-footer", "\r\n\n", "", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct check c = {0};
        char path[4096], why[512] = "";
        snprintf(path, sizeof path, "%s%s/%s.body", tmpdir,
                 cases[i].bad_dir ? "/no/such/dir" : "", cases[i].name);
        if (cases[i].precreate) {
            FILE *fp = fopen(path, "w");
            for (int line = 0; line < 50; line++)
                fputs("a longer body of an earlier transaction\r\n", fp);
            fclose(fp);
        }
        struct mlm_reply rep;
        reply_init(&rep, ACT_CONTINUE);
        GMimeMessage *m = parse((const uint8_t *)plain, sizeof plain - 1);
        int rc = footer_apply(m, cases[i].text, cases[i].html, path, &rep, why,
                              sizeof why);
        g_object_unref(m);
        if (rc != cases[i].want)
            fail(&c, "returned %d, want %d (%s)", rc, cases[i].want, why);
        if (rc == -1 && why[0] == '\0')
            fail(&c, "-1 without a reason");
        if (rep.nchanges)
            fail(&c, "header changes reported");
        struct mlm_buf b;
        buf_init(&b);
        int exists = read_file(path, &b) == 0;
        static const char reused[] = "hi\r\nfooter\r\n";
        if (cases[i].precreate &&
            !(exists && b.len == sizeof reused - 1 &&
              memcmp(b.data, reused, b.len) == 0))
            fail(&c, "the reused out_path holds %zu bytes, not the new body",
                 exists ? b.len : 0);
        if (!cases[i].precreate && exists)
            fail(&c, "out_path exists after %d", rc);
        buf_free(&b);
        unlink(path);
        reply_free(&rep);
        report(cases[i].name, &c);
    }
}
