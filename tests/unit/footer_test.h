/*
 * footer_test.h - what the parts of the footer unit test share: a case's
 * expectations, the state of one check, and the functions between them.
 *
 * footer_test.c runs the corpus (and owns the expectations' format, the
 * temporary directory and the failure count), footer_test_check.c checks
 * one footer_apply() result against its expectations, footer_test_cases.c
 * holds the generated cases that need no corpus file.
 */
#ifndef MLM_FOOTER_TEST_H
#define MLM_FOOTER_TEST_H

#include "footer.h"
#include "proto.h"

#include <stddef.h>
#include <stdint.h>

/* What a case's .expect file says (see footer_test.c for the format). */
struct expect {
    char *text;
    char *html;
    int rc;
    struct mlm_strv plain;
    struct mlm_strv htmlpart;
    struct mlm_strv flowed;
    struct mlm_strv charset; /* path, value, path, value, ... */
    struct mlm_strv cte;
    struct mlm_strv changes;
};

/* One case being checked; the first failure is kept. */
struct check {
    const struct expect *ex;
    const char *html;        /* the HTML footer expected */
    const uint8_t *orig;     /* the original message */
    size_t origlen;
    const uint8_t *full;     /* the new one */
    size_t fulllen;
    char err[1024];
    int plain_seen;
    int html_seen;
};

/* Cases that failed so far; main's exit status. */
extern int failures;
/* Where footer_apply() writes the body files. */
extern char *tmpdir;

/* footer_test.c: the corpus runner, used by the generated cases too. */
void expect_free(struct expect *ex);
int read_file(const char *path, struct mlm_buf *b);
void report(const char *name, struct check *c);
void run_case(const char *name, const struct mlm_buf *msg,
              const struct expect *ex);

/* footer_test_check.c: checking what footer_apply() did. */
void fail(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
GMimeMessage *parse(const uint8_t *data, size_t len);
void check_result(struct check *c, int rc, const char *why,
                  const char *out_path, const struct mlm_reply *rep);

/* footer_test_cases.c: cases built in code, run after the corpus. */
void case_huge(void);
void case_wide(void);
void case_errors(void);

#endif
