/*
 * auth_from_test.c - auth/auth_from.c: the From domain DMARC is about,
 * and when a post may be taken as unsigned (auth_check then leaves
 * libopendkim out and says dkim=none).
 *
 * Each case is a message written to a file, with the return value, the
 * domain and the "signed" verdict it must give. Every "unsigned" verdict
 * is also checked against libopendkim itself, fed as auth_dkim.c feeds it:
 * it must find no DKIM-Signature there. Prints "ok NAME" or "FAIL NAME:
 * reason"; exit 0 when all pass.
 */
#include "auth.h"
#include "opendkim_count.h"

#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; " \
            "h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hMuFU=; " \
            "b=dGVzdA==\r\n"

struct test_case {
    const char *name;
    const char *text;       /* the message; NULL: see pad_lines */
    int pad_lines;          /* 200 header lines of 75 bytes before SIG */
    int rc;                 /* auth_from_domain's return */
    const char *domain;
    int dkim_signed;
};

static const struct test_case cases[] = {
    {"CRLF, unsigned: the domain in lower case, unsigned",
     "From: A <a@Example.COM>\r\nTo: l@x\r\n\r\nbody\r\n", 0, 0,
     "example.com", 0},
    {"CRLF, signed", "From: a@example.com\r\n" SIG "\r\nbody\r\n", 0, 0,
     "example.com", 1},
    {"a signature named in lower case",
     "dkim-signature: v=1; d=example.com\r\nFrom: a@example.com\r\n\r\nb\r\n",
     0, 0, "example.com", 1},
    {"a bare LF in a CRLF block: libopendkim reads on past it",
     "From: a@example.com\r\nX-A: b\n\nY: z\r\n" SIG "\r\nbody\r\n", 0, 0,
     "example.com", 1},
    {"LF line ends: left to libopendkim",
     "From: a@example.com\nTo: l@x\n\nbody\n", 0, 0, "example.com", 1},
    {"no blank line, the last line without its end: left to libopendkim",
     "From: a@example.com\r\nSubject: s", 0, 0, "example.com", 1},
    {"no blank line, every line ends in CRLF: unsigned",
     "From: a@example.com\r\nSubject: s\r\n", 0, 0, "example.com", 0},
    {"no header at all: no From, unsigned", "\r\nbody\r\n", 0, -1, "", 0},
    {"a folded From with blanks before the colon",
     "To: l@x\r\nFrom :\r\n \"A B\"\r\n\t<a@sub.example.org>\r\n\r\nb\r\n", 0,
     0, "sub.example.org", 0},
    {"two From fields: not checked, left to libopendkim",
     "From: a@example.com\r\nFrom: b@example.net\r\n\r\nb\r\n", 0, -1, "", 1},
    {"a U-label domain: in A-labels",
     "From: a@b\xc3\xbc" "cher.example\r\n\r\nb\r\n", 0, 0,
     "xn--bcher-kva.example", 0},
    {"an A-label domain: as it is",
     "From: a@XN--BCHER-KVA.example\r\n\r\nb\r\n", 0, 0,
     "xn--bcher-kva.example", 0},
    {"a signature after 15 KB of fields (past the first read)", NULL, 200,
     0, "example.com", 1},
};

static int failures;

static void fail(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failures++;
    printf("FAIL %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* The DKIM-Signature fields libopendkim registers in the file. */
static int opendkim_signatures(const char *path)
{
    gchar *data;
    gsize size;
    if (!g_file_get_contents(path, &data, &size, NULL))
        return -1;
    int n = opendkim_count((const unsigned char *)data, size);
    g_free(data);
    return n;
}

/* path opened for writing; the test ends when it cannot be. */
static FILE *create(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    return fp;
}

static void write_case(const char *path, const struct test_case *c)
{
    FILE *fp = create(path);
    if (c->text) {
        fputs(c->text, fp);
    } else {
        fputs("From: a@example.com\r\n", fp);
        for (int i = 0; i < c->pad_lines; i++)
            fprintf(fp, "X-Pad-%03d: %063d\r\n", i, 0);
        fputs(SIG "\r\nbody\r\n", fp);
    }
    fclose(fp);
}

/* auth_from_domain on path against what is wanted. */
static void check(const char *name, const char *path, int rc_want,
                  const char *domain_want, int signed_want)
{
    char domain[256];
    int dkim_signed = -1;
    int rc = auth_from_domain(path, domain, sizeof domain, &dkim_signed);
    int before = failures;
    if (rc != rc_want)
        fail(name, "returned %d, not %d", rc, rc_want);
    if (strcmp(domain, domain_want) != 0)
        fail(name, "domain '%s', not '%s'", domain, domain_want);
    if (dkim_signed != signed_want)
        fail(name, "dkim_signed %d, not %d", dkim_signed, signed_want);
    if (dkim_signed == 0 && opendkim_signatures(path) != 0)
        fail(name, "unsigned, but libopendkim finds %d signature(s)",
             opendkim_signatures(path));
    if (failures == before)
        printf("ok %s\n", name);
}

int main(void)
{
    g_mime_init();
    char dir[] = "/tmp/auth_from_test.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/msg", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_case(path, &cases[i]);
        check(cases[i].name, path, cases[i].rc, cases[i].domain,
              cases[i].dkim_signed);
    }
    /* A header block past AUTH_HEADER_MAX: not checked, left to
     * libopendkim. */
    FILE *fp = create(path);
    for (int i = 0; i < AUTH_HEADER_MAX / 70 + 10; i++)
        fprintf(fp, "X-Pad: %061d\r\n", i);
    fputs("From: a@example.com\r\n\r\nbody\r\n", fp);
    fclose(fp);
    check("a header block past 256 KB", path, -1, "", 1);
    unlink(path);
    /* Unreadable: a read error (a directory) and a missing file give -2,
     * and leave the post to libopendkim (which reports its own error). */
    check("a read error", dir, -2, "", 1);
    /* DKIM over a message it cannot read: temperror, not the verdict on
     * whatever part was read. */
    struct auth_result res = {0};
    auth_dkim(NULL, dir, &res);
    if (res.dkim != AUTH_TEMPERROR)
        fail("auth_dkim, a read error", "dkim %s, not temperror",
             auth_status_name(res.dkim));
    else
        printf("ok auth_dkim, a read error: temperror\n");
    check("no such file", path, -2, "", 1);
    rmdir(dir);
    printf("%d failed\n", failures);
    return failures != 0;
}
