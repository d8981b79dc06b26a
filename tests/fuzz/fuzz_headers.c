/*
 * fuzz_headers.c - mime/headers.c against GMime, differentially: a header
 * block the split accepts must give exactly the fields GMime reads from
 * the same bytes (names and raw values, in order, the Content-* fields of
 * the top-level part merged in by offset), because header reads answer
 * from the split when it accepts and from GMime when it refuses.
 *
 * Input: a message; its header block is the bytes up to the first empty
 * line. Properties: the split accepts only blocks that end with an empty
 * line, and then agrees with GMime field for field.
 */
#include "headers.h"
#include "fuzz_check.h"

#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t block_length(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (d[i] == '\n' && (i == 0 || d[i - 1] == '\n' ||
                             (d[i - 1] == '\r' && (i == 1 || d[i - 2] == '\n'))))
            return i + 1;
    return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        g_mime_init();
        ready = 1;
    }
    size_t blen = block_length(data, len);
    if (blen == 0 || len > 65536)
        return 0;
    char *copy = malloc(blen);
    memcpy(copy, data, blen);
    struct header_block hb;
    if (header_block_split(&hb, copy, blen) == 0) {
        GMimeStream *s = g_mime_stream_mem_new_with_buffer((const char *)data,
                                                           len);
        GMimeParser *p = g_mime_parser_new_with_stream(s);
        g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
        GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
        FUZZ_CHECK(m != NULL, "split accepted what GMime cannot parse");
        GMimeHeader **all;
        int n = gmime_top_fields(m, &all);
        FUZZ_CHECK(n == (int)hb.n, "%u fields split, GMime reads %d", hb.n, n);
        for (int i = 0; i < n; i++) {
            const char *raw = g_mime_header_get_raw_value(all[i]);
            FUZZ_CHECK(strcmp(g_mime_header_get_name(all[i]),
                              hb.fields[i].name) == 0,
                       "field %d: name differs", i + 1);
            FUZZ_CHECK(strcmp(raw ? raw : "", hb.fields[i].raw) == 0,
                       "field %d (%s): raw value differs", i + 1,
                       hb.fields[i].name);
        }
        g_free(all);
        g_object_unref(m);
        g_object_unref(p);
        g_object_unref(s);
    }
    header_block_free(&hb);
    return 0;
}
