/*
 * headers_test.c - mime/headers.c against GMime: every header block the
 * split accepts must give exactly the fields GMime reads (names and raw
 * values, in order), so that header reads answer the same whichever of
 * the two a worker used; and the irregular blocks must be refused.
 *
 *   headers_test CORPUS_DIR     (the .eml files of tests/unit/footer)
 *
 * Each message is tried with LF and with CRLF line ends (mlmd spools
 * CRLF). Prints "ok NAME" or "FAIL NAME: reason"; exit 0 when all pass.
 */
#include "headers.h"
#include "proto.h"
#include "xmalloc.h"

#include <dirent.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, accepted;

/* s with CR, LF and tab shown as \\r, \\n and \\t, for messages. */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; *s && n + 3 < len; s++) {
        const char *esc = *s == '\r' ? "\\r" : *s == '\n' ? "\\n"
                          : *s == '\t' ? "\\t" : NULL;
        if (esc)
            buf[n++] = esc[0], buf[n++] = esc[1];
        else
            buf[n++] = *s;
    }
    buf[n] = '\0';
    return buf;
}

/* The header block: up to and including the first empty line. */
static size_t block_length(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' && (i == 0 || data[i - 1] == '\n' ||
                                (data[i - 1] == '\r' && i >= 2 &&
                                 data[i - 2] == '\n') ||
                                (data[i - 1] == '\r' && i == 1)))
            return i + 1;
    return 0;
}

static void report(const char *name, const char *err)
{
    if (*err) {
        failures++;
        printf("FAIL %s: %s\n", name, err);
    } else {
        printf("ok %s\n", name);
    }
}


/* Compare the split of data with GMime's reading of it; want_split: -1
 * must be refused, 1 must be accepted, 0 either. */
static void check(const char *name, const char *data, size_t len,
                  int want_split)
{
    char err[512] = "";
    size_t blen = block_length(data, len);
    struct header_block hb;
    char *copy = xmalloc(blen + 1);
    memcpy(copy, data, blen);
    int rc = blen ? header_block_split(&hb, copy, blen)
                  : (free(copy), hb = (struct header_block){0}, -1);
    if (want_split == 1 && rc != 0)
        snprintf(err, sizeof err, "the split refused a regular block");
    if (want_split == -1 && rc == 0)
        snprintf(err, sizeof err, "the split accepted an irregular block");
    if (rc == 0 && !*err) {
        accepted++;
        GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
        GMimeParser *p = g_mime_parser_new_with_stream(s);
        g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
        GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
        GMimeHeader **all = NULL;
        int n = m ? gmime_top_fields(m, &all) : -1;
        if (n != (int)hb.n)
            snprintf(err, sizeof err, "%u fields split, GMime reads %d",
                     hb.n, n);
        for (int i = 0; i < n && !*err; i++) {
            GMimeHeader *h = all[i];
            const char *gname = g_mime_header_get_name(h);
            const char *graw = g_mime_header_get_raw_value(h);
            char x[200], y[200];
            if (strcmp(gname, hb.fields[i].name) != 0 ||
                strcmp(graw ? graw : "", hb.fields[i].raw) != 0)
                snprintf(err, sizeof err,
                         "field %d: split \"%.60s\": \"%s\", GMime "
                         "\"%.60s\": \"%s\"", i + 1, hb.fields[i].name,
                         shown(hb.fields[i].raw, x, sizeof x), gname,
                         shown(graw ? graw : "", y, sizeof y));
        }
        g_free(all);
        if (m)
            g_object_unref(m);
        g_object_unref(p);
        g_object_unref(s);
    }
    header_block_free(&hb);
    report(name, err);
}

/* LF and CRLF forms of a message. */
static void check_both(const char *name, const char *lf_text, size_t len,
                       int want_split)
{
    struct mlm_buf crlf;
    buf_init(&crlf);
    for (size_t i = 0; i < len; i++) {
        if (lf_text[i] == '\n' && (i == 0 || lf_text[i - 1] != '\r'))
            buf_put_u8(&crlf, '\r');
        buf_put_u8(&crlf, (uint8_t)lf_text[i]);
    }
    char label[600];
    snprintf(label, sizeof label, "%s (LF)", name);
    check(label, lf_text, len, want_split);
    snprintf(label, sizeof label, "%s (CRLF)", name);
    check(label, (const char *)crlf.data, crlf.len, want_split);
    buf_free(&crlf);
}

static void run_corpus(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;
    while (d && (de = readdir(d)) != NULL) {
        size_t nlen = strlen(de->d_name);
        if (nlen < 5 || strcmp(de->d_name + nlen - 4, ".eml") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *fp = fopen(path, "rb");
        struct mlm_buf b;
        buf_init(&b);
        char chunk[8192];
        size_t n;
        while (fp && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
            buf_put_bytes(&b, chunk, n);
        if (fp)
            fclose(fp);
        check_both(de->d_name, (const char *)b.data, b.len, 0);
        buf_free(&b);
        files++;
    }
    if (d)
        closedir(d);
    if (files == 0) {
        printf("FAIL corpus: no .eml files in %s\n", dir);
        failures++;
    }
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name, *text;
        int want;
    } cases[] = {
        {"folded", "Subject: a long\n  subject\n\tfolded twice\nFrom: "
                   "A <a@b.example>\n\nbody\n", 1},
        {"encoded-words", "Subject: =?UTF-8?B?w6TDtsO8?= and =?ISO-8859-1?Q?"
                          "caf=E9?=\n\nx\n", 1},
        {"empty-value", "X-Empty:\nX-Space: \nTo: a@b.example\n\n", 1},
        {"trailing-space", "Subject: ends in spaces   \n\nx\n", 1},
        {"utf8-value", "Subject: Grüße\nFrom: Jürgen <j@b.example>\n\nx\n", 1},
        {"group-and-list", "To: team: a@b.example, c@d.example;, "
                           "\"Doe, J\" <j@b.example>\n\n", 1},
        {"no-colon", "Subject: x\nthis line has no colon\nFrom: a@b\n\nx\n",
         -1},
        {"space-before-colon", "Subject : x\n\nbody\n", -1},
        {"leading-fold", " folded first\nSubject: x\n\nbody\n", -1},
        {"bare-cr", "Subject: a\rb\n\nbody\n", -1},
        {"no-empty-line", "Subject: x\nFrom: a@b\n", -1},
        {"empty-block", "\nbody only\n", 0},
    };
    if (argc != 2) {
        fprintf(stderr, "usage: headers_test CORPUS_DIR\n");
        return 2;
    }
    g_mime_init();
    run_corpus(argv[1]);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_both(cases[i].name, cases[i].text, strlen(cases[i].text),
                   cases[i].want);
    if (accepted < 60) {
        printf("FAIL accepted: only %d blocks split (want most)\n", accepted);
        failures++;
    }
    g_mime_shutdown();
    return failures ? 1 : 0;
}
