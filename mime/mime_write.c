/*
 * mime_write.c - writing a (changed) message body exactly as it came,
 * multipart structure included. Used by footer.c: GMime's own writer adds
 * a line end between an end boundary and the next boundary, which breaks
 * the signature of a multipart/signed part written back.
 */
#include "footer.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mime_write.h"

/* As deep as footer.c looks; deeper structure is written as text. */
#define MIME_WRITE_MAX_DEPTH 50

/*
 * The writer. GMime writes a part (headers and content) as it parsed it,
 * but its multipart writer adds a line end after a nested multipart whose
 * end boundary has no epilogue (Gmail writes "--inner--" right before
 * "--outer"); inside a multipart/signed that would break the signature.
 * So the multipart structure is written here, from what the parser kept:
 * prologue and epilogue NULL when there were none, "" when empty, and
 * write_end_boundary (a field GMime marks private but has no getter for)
 * FALSE when the end boundary was missing. Line ends are LF; the caller's
 * filter makes them CRLF, as it does for the bare LFs GMime keeps in a
 * prologue or epilogue. What the parser drops (padding after a boundary,
 * an empty part's missing line end) cannot be put back.
 */
static int write_content(GMimeObject *obj, GMimeFormatOptions *opts,
                         GMimeStream *out, int depth);

static int put(GMimeStream *out, const char *s)
{
    return g_mime_stream_write_string(out, s) == -1 ? -1 : 0;
}

/* A header block, fields in their original order, then the empty line. */
static int write_headers(GMimeHeaderList *a, GMimeHeaderList *b,
                         GMimeFormatOptions *opts, GMimeStream *out)
{
    int na = a ? g_mime_header_list_get_count(a) : 0;
    int nb = b ? g_mime_header_list_get_count(b) : 0;
    /* a message keeps its Content-* fields in its part: merge by offset */
    for (int i = 0, j = 0; i < na || j < nb;) {
        GMimeHeader *ha = i < na ? g_mime_header_list_get_header_at(a, i) : NULL;
        GMimeHeader *hb = j < nb ? g_mime_header_list_get_header_at(b, j) : NULL;
        int take_a = hb == NULL ||
                     (ha && g_mime_header_get_offset(ha) >= 0 &&
                      (g_mime_header_get_offset(hb) < 0 ||
                       g_mime_header_get_offset(ha) <
                           g_mime_header_get_offset(hb)));
        if (g_mime_header_write_to_stream(take_a ? ha : hb, opts, out) == -1)
            return -1;
        take_a ? i++ : j++;
    }
    return put(out, "\n");
}

/* A part as it appears inside a multipart: header block and content. */
static int write_entity(GMimeObject *obj, GMimeFormatOptions *opts,
                        GMimeStream *out, int depth)
{
    if (GMIME_IS_PART(obj))
        return g_mime_object_write_to_stream(obj, opts, out) == -1 ? -1 : 0;
    if (write_headers(g_mime_object_get_header_list(obj), NULL, opts, out))
        return -1;
    return write_content(obj, opts, out, depth);
}

/* A multipart without a boundary: its text, as the parser kept it. */
static int prologue_only(GMimeMultipart *mp, GMimeStream *out)
{
    const char *prologue = g_mime_multipart_get_prologue(mp);
    const char *epilogue = g_mime_multipart_get_epilogue(mp);
    return (prologue && put(out, prologue)) || (epilogue && put(out, epilogue))
               ? -1
               : 0;
}

static int write_content(GMimeObject *obj, GMimeFormatOptions *opts,
                         GMimeStream *out, int depth)
{
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;
        if (m == NULL)
            return 0;
        if (write_headers(g_mime_object_get_header_list(GMIME_OBJECT(m)),
                          body ? g_mime_object_get_header_list(body) : NULL,
                          opts, out))
            return -1;
        return body ? write_content(body, opts, out, depth + 1) : 0;
    }
    if (!GMIME_IS_MULTIPART(obj) || depth > 4 * MIME_WRITE_MAX_DEPTH)
        return g_mime_object_write_content_to_stream(obj, opts, out) == -1
                   ? -1
                   : 0;
    GMimeMultipart *mp = GMIME_MULTIPART(obj);
    /* not g_mime_multipart_get_boundary(): it would make one up */
    const char *boundary =
        g_mime_object_get_content_type_parameter(obj, "boundary");
    if (boundary == NULL) /* the parser kept it all as the prologue */
        return prologue_only(mp, out);
    const char *prologue = g_mime_multipart_get_prologue(mp);
    const char *epilogue = g_mime_multipart_get_epilogue(mp);
    int n = g_mime_multipart_get_count(mp);
    /* the line end before a boundary belongs to the boundary */
    if (prologue && (put(out, prologue) ||
                     ((n > 0 || mp->write_end_boundary) && put(out, "\n"))))
        return -1;
    for (int i = 0; i < n; i++) {
        int more = i + 1 < n || mp->write_end_boundary;
        if (put(out, "--") || put(out, boundary) || put(out, "\n") ||
            write_entity(g_mime_multipart_get_part(mp, i), opts, out,
                         depth + 1) ||
            (more && put(out, "\n")))
            return -1;
    }
    if (mp->write_end_boundary &&
        (put(out, "--") || put(out, boundary) || put(out, "--")))
        return -1;
    if (epilogue && (put(out, "\n") || put(out, epilogue)))
        return -1;
    return 0;
}

/*
 * Whether the body written ends right after "--boundary--": the parser
 * cannot tell whether a line end followed, and a message body has one.
 */
static int ends_at_end_boundary(GMimeObject *top)
{
    return GMIME_IS_MULTIPART(top) && GMIME_MULTIPART(top)->write_end_boundary &&
           g_mime_object_get_content_type_parameter(top, "boundary") &&
           g_mime_multipart_get_epilogue(GMIME_MULTIPART(top)) == NULL;
}

/*
 * Cut the body file to what was written when it held a longer body of an
 * earlier transaction (only then: on ext4 a truncate to the same length
 * still costs a journal update), and close it; -1 with why when anything
 * failed.
 */
static int body_file_close(int fd, const char *path, int failed, int saved,
                           char *why, size_t whylen)
{
    off_t end = failed ? 0 : lseek(fd, 0, SEEK_CUR);
    struct stat st;
    if (!failed && (end == -1 || fstat(fd, &st) == -1 ||
                    (st.st_size > end && ftruncate(fd, end) == -1)))
        failed = 1, saved = errno;
    if (close(fd) == -1 && !failed)
        failed = 1, saved = errno;
    if (failed) {
        snprintf(why, whylen, "cannot write %s: %s", path,
                 saved ? strerror(saved) : "write error");
        unlink(path);
        return -1;
    }
    return 0;
}

/* All of buf to fd. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n, len -= (size_t)n;
    }
    return 0;
}

/*
 * The common case, a single part whose new content footer.c just made:
 * that content is already encoded, in memory. Write it with bare LFs made
 * CRLF (what GMime's unix2dos filter does) in one pass: the stream and
 * filter chain cost about a tenth of a list post's work. 1 when written,
 * 0 when the part is not of that shape, -1 on a write error.
 */
/* data with each bare LF made CRLF (what GMime's unix2dos filter does). */
static int write_crlf(int fd, const uint8_t *data, size_t len)
{
    const uint8_t *end = data + len, *p, *lf;
    size_t lfs = 0;
    for (p = data; (lf = memchr(p, '\n', (size_t)(end - p))) != NULL; p = lf + 1)
        lfs++;
    uint8_t *out = xmalloc(len + lfs + 1);
    size_t n = 0;
    for (p = data; (lf = memchr(p, '\n', (size_t)(end - p))) != NULL; p = lf + 1) {
        memcpy(out + n, p, (size_t)(lf - p));
        n += (size_t)(lf - p);
        if (lf == data || lf[-1] != '\r')
            out[n++] = '\r';
        out[n++] = '\n';
    }
    memcpy(out + n, p, (size_t)(end - p));
    n += (size_t)(end - p);
    int rc = write_all(fd, out, n);
    free(out);
    return rc;
}

static int write_part_directly(GMimeObject *top, int fd)
{
    if (!GMIME_IS_PART(top))
        return 0;
    GMimePart *part = GMIME_PART(top);
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *stream = w ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (stream == NULL || !GMIME_IS_STREAM_MEM(stream) ||
        g_mime_data_wrapper_get_encoding(w) !=
            g_mime_part_get_content_encoding(part) ||
        stream->bound_start != 0 || stream->bound_end != -1)
        return 0;
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
    if (bytes == NULL)
        return 0;
    return write_crlf(fd, bytes->data, bytes->len) == -1 ? -1 : 1;
}

/*
 * Write the top-level part's content (no headers), CRLF, to path. mlmd
 * keeps the file between transactions, so it is overwritten from the
 * start and then cut to length: opening with O_TRUNC would make ext4 write
 * the old blocks out first (see mlmd/spool.c). O_NOFOLLOW: spool_dir
 * belongs to the mlm user alone, and a link there is not ours.
 */
int mime_write_body(GMimeObject *top, const char *path, char *why,
                      size_t whylen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd == -1) {
        snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    errno = 0;
    int direct = write_part_directly(top, fd);
    if (direct != 0)
        return body_file_close(fd, path, direct == -1, errno, why, whylen);
    GMimeStream *file = g_mime_stream_pipe_new(fd);
    g_mime_stream_pipe_set_owner(GMIME_STREAM_PIPE(file), FALSE);
    GMimeStream *crlf = g_mime_stream_filter_new(file);
    GMimeFilter *filter = g_mime_filter_unix2dos_new(FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(crlf), filter);
    g_object_unref(filter);
    GMimeFormatOptions *opts = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(opts, GMIME_NEWLINE_FORMAT_UNIX);

    errno = 0;
    int failed = write_content(top, opts, crlf, 0) == -1 ||
                 (ends_at_end_boundary(top) && put(crlf, "\n") == -1) ||
                 g_mime_stream_flush(crlf) == -1;
    int saved = errno;
    g_mime_format_options_free(opts);
    g_object_unref(crlf);
    g_object_unref(file);
    return body_file_close(fd, path, failed, saved, why, whylen);
}


/*
 * Whether a multipart within obj uses the boundary of a multipart around it
 * (the nboundaries in outer). RFC 2046 5.1.1 forbids it and readers split
 * such a body differently (GMime nests the inner part, Python's parser ends
 * it at the first delimiter): a footer written into one of its parts may
 * show twice, or in the wrong place.
 */
static int boundary_reused(GMimeObject *obj, const char **outer,
                           int nboundaries)
{
    while (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner =
            g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        obj = inner ? g_mime_message_get_mime_part(inner) : NULL;
    }
    if (obj == NULL || !GMIME_IS_MULTIPART(obj))
        return 0;
    if (nboundaries >= 4 * MIME_WRITE_MAX_DEPTH)
        return 1; /* deeper than the writer goes: not taken as reproduced */
    const char *boundary =
        g_mime_object_get_content_type_parameter(obj, "boundary");
    if (boundary == NULL)
        return 0; /* the parser kept it all as the prologue */
    for (int i = 0; i < nboundaries; i++)
        if (strcmp(outer[i], boundary) == 0)
            return 1;
    outer[nboundaries] = boundary;
    GMimeMultipart *mp = GMIME_MULTIPART(obj);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; i++)
        if (boundary_reused(g_mime_multipart_get_part(mp, i), outer,
                            nboundaries + 1))
            return 1;
    return 0;
}

int mime_write_reproduces(GMimeObject *top, const uint8_t *body, size_t len)
{
    const char *outer[4 * MIME_WRITE_MAX_DEPTH];
    if (boundary_reused(top, outer, 0))
        return 0;
    GMimeStream *mem = g_mime_stream_mem_new();
    GMimeStream *crlf = g_mime_stream_filter_new(mem);
    GMimeFilter *filter = g_mime_filter_unix2dos_new(FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(crlf), filter);
    g_object_unref(filter);
    GMimeFormatOptions *opts = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(opts, GMIME_NEWLINE_FORMAT_UNIX);
    int failed = write_content(top, opts, crlf, 0) == -1 ||
                 (ends_at_end_boundary(top) && put(crlf, "\n") == -1) ||
                 g_mime_stream_flush(crlf) == -1;
    g_mime_format_options_free(opts);
    GByteArray *out = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    int same = !failed && out && out->len == len &&
               (len == 0 || memcmp(out->data, body, len) == 0);
    g_object_unref(crlf);
    g_object_unref(mem);
    return same;
}

int mime_write_text(const char *path, const void *data, size_t len, char *why,
                    size_t whylen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1) {
        snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    errno = 0;
    int failed = write_crlf(fd, data, len) == -1;
    return body_file_close(fd, path, failed, errno, why, whylen);
}
