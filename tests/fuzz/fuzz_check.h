/*
 * fuzz_check.h - what the fuzz targets share: a property check that stops
 * the fuzzer like a crash does (abort, so libFuzzer saves the input), with
 * a line saying which promise the code under test broke.
 */
#ifndef MLM_FUZZ_CHECK_H
#define MLM_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FUZZ PROPERTY FAILED at %s:%d: ", __FILE__,       \
                    __LINE__);                                                 \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A body file mlm wrote: every LF must come after a CR. */
static inline void fuzz_check_crlf_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    FUZZ_CHECK(fp != NULL, "cannot read body file %s", path);
    int c, prev = -1;
    long off = 0;
    while ((c = getc(fp)) != EOF) {
        FUZZ_CHECK(c != '\n' || prev == '\r', "bare LF at offset %ld", off);
        prev = c, off++;
    }
    fclose(fp);
}

#endif
