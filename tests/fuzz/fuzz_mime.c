/*
 * fuzz_mime.c - mime/mime_limits.c against GMime, differentially: the
 * count made before parsing must never be lower than what GMime then
 * builds, or a message could pass mime_max_parts or mime_max_depth and
 * still cost its tree.
 *
 * Input: a message as spooled. GMime parses it as the worker does; its
 * parts (every MIME object: the top one, each child of a multipart, the
 * body of each enclosed message) and their deepest nesting are counted.
 * Properties: with mime_max_parts one below GMime's count the scan says
 * "over", and the same with mime_max_depth; with the limits at GMime's
 * counts the scan never fails to read.
 */
#include "luambind.h"
#include "fuzz_check.h"

#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void count(GMimeObject *o, long depth, long *parts, long *deepest)
{
    ++*parts;
    if (depth > *deepest)
        *deepest = depth;
    if (GMIME_IS_MULTIPART(o)) {
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
        for (int i = 0; i < n; i++)
            count(g_mime_multipart_get_part(GMIME_MULTIPART(o), i), depth + 1,
                  parts, deepest);
    } else if (GMIME_IS_MESSAGE_PART(o)) {
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
        GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
        if (body)
            count(body, depth + 1, parts, deepest);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        g_mime_init();
        snprintf(path, sizeof path, "/tmp/fuzz-mime.%ld", (long)getpid());
        ready = 1;
    }
    if (len > 262144)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd != -1, "cannot write %s", path);
    FUZZ_CHECK(write(fd, data, len) == (ssize_t)len, "short write");
    close(fd);

    GMimeStream *s = g_mime_stream_fs_open(path, O_RDONLY, 0, NULL);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    long parts = 0, deepest = 0;
    GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
    if (body)
        count(body, 0, &parts, &deepest);
    if (m)
        g_object_unref(m);
    g_object_unref(p);
    g_object_unref(s);

    char why[256];
    mime_limits_configure(parts, deepest, 0);
    FUZZ_CHECK(mime_limits_check(path, why, sizeof why) != -1, "%s", why);
    if (parts > 1) {
        mime_limits_configure(parts - 1, 0, 0);
        FUZZ_CHECK(mime_limits_check(path, why, sizeof why) == 1,
                   "GMime built %ld parts, the scan stayed within %ld",
                   parts, parts - 1);
    }
    if (deepest > 1) {
        mime_limits_configure(0, deepest - 1, 0);
        FUZZ_CHECK(mime_limits_check(path, why, sizeof why) == 1,
                   "GMime nested %ld deep, the scan stayed within %ld",
                   deepest, deepest - 1);
    }
    return 0;
}
