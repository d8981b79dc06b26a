/*
 * fuzz_footer.c - footer_apply (mime/footer.h) on whatever message GMime
 * makes of the input: the MIME walk, charset fitting, re-encoding and the
 * body writer all see the sender's structure and bytes.
 *
 * Input: one byte choosing the footer pair (text only, HTML only, both,
 * non-ASCII or not), then the message as spooled. Properties: the body
 * file exists exactly when footer_apply says 1, is mode 0600 and has CRLF
 * line ends only; the header changes it reports pass reply_validate (mlmd
 * refuses the whole reply otherwise); an error or "no place" leaves no
 * file and no change behind.
 */
#include "footer.h"
#include "proto.h"
#include "fuzz_check.h"

#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char body_path[4096];
static char tmpdir[4096];

static const struct {
    const char *text, *html;
} footers[] = {
    {"-- \ndev mailing list\nhttps://lists.example.org/dev\n", NULL},
    {"-- \nListe « dev » — désabonnement: dev-request@example.org",
     "<p>Liste <b>dev</b> — désabonnement</p>"},
    {NULL, "<div class=\"footer\">dev &amp; friends ü</div>"},
    {"footer ü€ 日本語\r\nsecond line\r\n", "<p>footer ü</p>\n"},
};

static void cleanup(void)
{
    unlink(body_path);
    rmdir(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    g_mime_init();
    /* TMPDIR: run.sh keeps what a crashed run leaves in build/tmp */
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mlm-fuzz-footer.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(body_path, sizeof body_path, "%s/body", tmpdir);
    atexit(cleanup);
    return 0;
}

/* The body file: every LF must come after a CR. */
static void check_body_file(void)
{
    struct stat st;
    FUZZ_CHECK(lstat(body_path, &st) == 0, "footer_apply said 1, no file");
    FUZZ_CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
               "body file mode %o", (unsigned)st.st_mode);
    fuzz_check_crlf_file(body_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % (sizeof footers / sizeof footers[0]);
    GMimeStream *stream =
        g_mime_stream_mem_new_with_buffer((const char *)data + 1, size - 1);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (msg == NULL)
        return 0;

    struct mlm_reply rep;
    char why[512] = "";
    reply_init(&rep, ACT_CONTINUE);
    int rc = footer_apply(msg, footers[which].text, footers[which].html,
                          body_path, &rep, why, sizeof why);
    if (rc == 1) {
        check_body_file();
        FUZZ_CHECK(rep.nchanges <= 3, "%u header changes", rep.nchanges);
        char vwhy[256];
        if (reply_validate(&rep, vwhy, sizeof vwhy) == -1) {
            for (uint32_t i = 0; i < rep.nchanges; i++)
                fprintf(stderr, "change %u: kind %d %s: [%s]\n", i,
                        (int)rep.changes[i].kind,
                        rep.changes[i].name ? rep.changes[i].name : "-",
                        rep.changes[i].value ? rep.changes[i].value : "-");
            FUZZ_CHECK(0, "footer changes refused by mlmd's check: %s", vwhy);
        }
    } else {
        struct stat st;
        FUZZ_CHECK(rc == 0 || rc == -1, "footer_apply returned %d", rc);
        FUZZ_CHECK(lstat(body_path, &st) == -1,
                   "footer_apply returned %d and left a body file", rc);
        FUZZ_CHECK(rep.nchanges == 0, "footer_apply returned %d with %u "
                   "changes", rc, rep.nchanges);
        FUZZ_CHECK(rc == 0 || why[0] != '\0', "error without a reason");
    }
    unlink(body_path);
    reply_free(&rep);
    g_object_unref(msg);
    return 0;
}
