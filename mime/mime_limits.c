/*
 * mime_limits.c - the MIME structure of a spooled message counted before
 * GMime builds it: mime_max_parts, mime_max_depth and mime_max_headers.
 *
 * GMime builds the whole tree in memory, outside the Lua allocator's
 * limit, at some kilobytes per part and some hundred bytes per header
 * field: ten megabytes of empty parts were two gigabytes of tree, ten
 * megabytes of header lines in one part 840 MB. So message.c asks here first, and a message over
 * a limit is never handed to GMime.
 *
 * The scan reads the file once, line by line, in constant memory (one
 * kept line, one Content-Type field, a stack of open boundaries no deeper
 * than mime_max_depth), and follows GMime's parser where it decides the
 * shape of the tree, so that what it counts is never less than what GMime
 * would build:
 *   - an entity's headers end at an empty line, at a boundary line of any
 *     enclosing multipart (the entity is then what its headers say, and
 *     the line is matched again), or at the end of the file; the last
 *     Content-Type field counts, read by GMime's own functions as its
 *     parser reads it (the type from the raw field; the boundary from the
 *     field unfolded, RFC 2047 words decoded, RFC 2231 parameters and
 *     all); without one, a child of multipart/digest is message/rfc822,
 *     anything else text/plain;
 *   - a boundary line is "--" BOUNDARY, or "--" BOUNDARY "--" for the
 *     end, followed by nothing but blanks, for the boundary of any open
 *     multipart, the innermost first; it closes everything inside that
 *     multipart;
 *   - message/rfc822 (rfc2822, global, news) holds a message whose headers
 *     follow at once (an encoded one is counted as if it did: more, never
 *     less).
 * Parts are counted as entities: the message, each entity after a
 * boundary line (empty ones too), each enclosed message. Header fields
 * are counted as the lines that start one (not folded), in every entity,
 * invalid ones too. Depth is the
 * number of multipart and message containers around an entity: a plain
 * message is 0, a part of a multipart/mixed 1.
 *
 * Three bounds on the header fields of every entity hold whatever the
 * configuration says, for what GMime does with a field as it builds the
 * tree: a field (its lines and line ends together) longer than
 * MIME_FIELD_MAX is refused, as GMime's search for the end of an encoded
 * word is quadratic in a field's length; an address field with more than
 * MIME_GROUPS_MAX group colons is refused, as GMime parses each group
 * nested in the one before on the C stack; and a message whose header
 * fields (all entities) hold more than MIME_WORDS_MAX "=?" is refused, as
 * GMime opens a charset converter for each encoded word it decodes
 * (microseconds each).
 */
#include "mime_limits.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Bytes of a Content-Type field kept, folded lines included. */
#define FIELD_KEEP 16384
/* Bytes of a line kept: room for "--" BOUNDARY "--" of the longest kept. */
#define LINE_KEEP (FIELD_KEEP + 64)
#define READ_CHUNK 65536
/*
 * Multiparts open at once, whatever mime_max_depth says: GMime nests no
 * deeper than 1024, and each line is compared with each open boundary.
 */
#define OPEN_MAX 1024

static long max_parts = 10000, max_depth = 100, max_headers = 50000;

/* Header fields GMime (or msg:addresses) parses as address lists. */
static const char *const address_fields[] = {
    "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
    "Resent-From", "Resent-Sender", "Resent-Reply-To", "Resent-To",
    "Resent-Cc", "Resent-Bcc", "Mail-Followup-To", "Mail-Reply-To",
    "Disposition-Notification-To", "Return-Receipt-To",
};

static int is_address_field(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof address_fields / sizeof *address_fields; i++)
        if (strlen(address_fields[i]) == len &&
            strncasecmp(name, address_fields[i], len) == 0)
            return 1;
    return 0;
}

void group_colons_add(struct group_colons *gc, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (gc->escaped)
            gc->escaped = 0;
        else if (c == '\\')
            gc->escaped = 1;
        else if (c == '"')
            gc->in_quote = !gc->in_quote;
        else if (c == ':' && !gc->in_quote)
            gc->count++;
    }
}

int address_value_refused(const char *value)
{
    size_t len = strlen(value);
    if (len > MIME_FIELD_MAX)
        return 1;
    struct group_colons gc = {0};
    group_colons_add(&gc, value, len);
    return gc.count > MIME_GROUPS_MAX;
}

void mime_limits_configure(long parts, long depth, long headers)
{
    max_parts = parts;
    max_depth = depth;
    max_headers = headers;
}

struct boundary {
    char *text;      /* the boundary parameter */
    size_t len;
    int prefix_only; /* cut to FIELD_KEEP: any line starting so matches */
    int digest;      /* multipart/digest: children default to messages */
    long depth;      /* of the multipart */
};

struct scan {
    long parts;
    long fields;                  /* header fields, all entities */
    struct boundary *open;        /* the stack, innermost last */
    size_t nopen, capopen;
    int in_headers;
    long depth;                   /* of the entity being read */
    int in_digest;                /* its parent is multipart/digest */
    int in_content_type;          /* the field being read is Content-Type */
    int have_content_type;
    int in_address;               /* the field being read is an address */
    size_t field_len;             /* bytes of the field being read */
    struct group_colons colons;   /* of the address field being read */
    long words;                   /* "=?" in header lines, all entities */
    char *content_type;           /* FIELD_KEEP + 1 */
    size_t content_type_len;
    char *line;                   /* LINE_KEEP */
    size_t line_len;
    size_t line_full_len;         /* with what was cut */
    int line_cut;                 /* longer than LINE_KEEP */
    int tail_blank;               /* what was cut is all blanks */
    char *why;
    size_t whylen;
};

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\r'; }

static int all_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_blank((unsigned char)s[i]))
            return 0;
    return 1;
}

static void boundaries_pop(struct scan *sc, size_t keep)
{
    while (sc->nopen > keep)
        free(sc->open[--sc->nopen].text);
}

/* A new entity at depth: 0, or 1 past a limit (why filled). */
static int entity_begin(struct scan *sc, long depth, int in_digest)
{
    sc->parts++;
    if (max_parts > 0 && sc->parts > max_parts) {
        snprintf(sc->why, sc->whylen,
                 "more than %ld MIME parts (mime_max_parts)", max_parts);
        return 1;
    }
    if (max_depth > 0 && depth > max_depth) {
        snprintf(sc->why, sc->whylen,
                 "MIME parts nested deeper than %ld (mime_max_depth)",
                 max_depth);
        return 1;
    }
    sc->depth = depth;
    sc->in_digest = in_digest;
    sc->in_headers = 1;
    sc->in_content_type = 0;
    sc->have_content_type = 0;
    sc->content_type_len = 0;
    sc->in_address = 0;
    sc->field_len = 0;
    return 0;
}

/*
 * Whether the current line is a boundary line of an open multipart: the
 * index of the innermost one it belongs to, with *end set for "--B--";
 * or -1.
 */
static long boundary_line(const struct scan *sc, int *end)
{
    const char *l = sc->line;
    size_t len = sc->line_len;
    if (len < 2 || l[0] != '-' || l[1] != '-')
        return -1;
    for (size_t i = sc->nopen; i-- > 0;) {
        const struct boundary *b = &sc->open[i];
        if (len - 2 < b->len || memcmp(l + 2, b->text, b->len) != 0)
            continue;
        if (b->prefix_only) {
            *end = 0;
            return (long)i;
        }
        const char *rest = l + 2 + b->len;
        size_t rest_len = len - 2 - b->len;
        if (sc->line_cut && !sc->tail_blank)
            continue;
        if (rest_len >= 2 && rest[0] == '-' && rest[1] == '-' &&
            all_blank(rest + 2, rest_len - 2)) {
            *end = 1;
            return (long)i;
        }
        if (all_blank(rest, rest_len)) {
            *end = 0;
            return (long)i;
        }
    }
    return -1;
}

static int subtype_is_message(const char *subtype)
{
    return strcasecmp(subtype, "rfc822") == 0 ||
           strcasecmp(subtype, "rfc2822") == 0 ||
           strcasecmp(subtype, "global") == 0 ||
           strcasecmp(subtype, "news") == 0;
}

/* The headers of the entity ended: what its body holds. 0 or 1. */
static int entity_body(struct scan *sc)
{
    sc->in_headers = 0;
    int multipart = 0, message = sc->in_digest, digest = 0;
    const char *boundary = NULL;
    GMimeContentType *shape = NULL, *params = NULL;
    if (sc->have_content_type) {
        /*
         * Read twice, as GMime does: its parser takes the type from the
         * raw field, the boundary from the field unfolded and RFC 2047
         * decoded.
         */
        sc->content_type[sc->content_type_len] = '\0';
        shape = g_mime_content_type_parse(NULL, sc->content_type);
        char *unfolded = g_mime_utils_header_unfold(sc->content_type);
        char *decoded = g_mime_utils_header_decode_text(NULL, unfolded);
        params = g_mime_content_type_parse(NULL, decoded ? decoded : unfolded);
        g_free(decoded);
        g_free(unfolded);
    }
    if (shape) {
        const char *type = g_mime_content_type_get_media_type(shape);
        const char *subtype = g_mime_content_type_get_media_subtype(shape);
        type = type ? type : "text";
        subtype = subtype ? subtype : "plain";
        multipart = strcasecmp(type, "multipart") == 0;
        digest = multipart && strcasecmp(subtype, "digest") == 0;
        /* What GMime could not parse it takes for the default (in a
         * digest: a message); the parse here calls that octet-stream. */
        message = (strcasecmp(type, "message") == 0 &&
                   subtype_is_message(subtype)) ||
                  (sc->in_digest &&
                   g_mime_content_type_is_type(shape, "application",
                                               "octet-stream"));
    }
    if (params)
        boundary = g_mime_content_type_get_parameter(params, "boundary");
    int rc = 0;
    if (multipart && boundary && sc->nopen >= OPEN_MAX) {
        snprintf(sc->why, sc->whylen,
                 "MIME parts nested deeper than %d", OPEN_MAX);
        rc = 1;
    } else if (multipart && boundary) {
        if (sc->nopen == sc->capopen) {
            sc->capopen = sc->capopen ? sc->capopen * 2 : 8;
            sc->open = xrealloc(sc->open, sc->capopen * sizeof *sc->open);
        }
        struct boundary *b = &sc->open[sc->nopen++];
        b->len = strlen(boundary);
        b->prefix_only = sc->content_type_len >= FIELD_KEEP;
        b->text = xstrndup(boundary, b->len);
        b->digest = digest;
        b->depth = sc->depth;
    } else if (message) {
        rc = entity_begin(sc, sc->depth + 1, 0);
    }
    if (shape)
        g_object_unref(shape);
    if (params)
        g_object_unref(params);
    return rc;
}

/*
 * A header line (not the empty one), full_len bytes long of which
 * sc->line holds the first: count the fields, bound each field's length
 * and an address field's groups, and keep what belongs to Content-Type,
 * byte for byte as GMime keeps the field (after the colon, each line with
 * its line end). 0, or 1 past mime_max_headers or a field bound.
 */
static int header_line(struct scan *sc, size_t full_len)
{
    const char *l = sc->line;
    size_t len = sc->line_len;
    int folded = len > 0 && (l[0] == ' ' || l[0] == '\t');
    sc->field_len = (folded ? sc->field_len : 0) + full_len + 1;
    if (sc->field_len > MIME_FIELD_MAX) {
        snprintf(sc->why, sc->whylen,
                 "a header field longer than %d bytes", MIME_FIELD_MAX);
        return 1;
    }
    if (!folded) {
        const char *colon = memchr(l, ':', len);
        size_t name_len = colon ? (size_t)(colon - l) : 0;
        while (name_len > 0 && (l[name_len - 1] == ' ' || l[name_len - 1] == '\t'))
            name_len--;
        sc->in_address = colon && is_address_field(l, name_len);
        memset(&sc->colons, 0, sizeof sc->colons);
        if (sc->in_address)
            group_colons_add(&sc->colons, colon + 1, len - (size_t)(colon + 1 - l));
    } else if (sc->in_address) {
        group_colons_add(&sc->colons, l, len);
    }
    for (const char *w = l; (w = memchr(w, '=', len - (size_t)(w - l))) != NULL; w++)
        if (w + 1 < l + len && w[1] == '?')
            sc->words++;
    if (sc->words > MIME_WORDS_MAX) {
        snprintf(sc->why, sc->whylen,
                 "more than %d encoded words in header fields", MIME_WORDS_MAX);
        return 1;
    }
    if (sc->in_address && sc->colons.count > MIME_GROUPS_MAX) {
        snprintf(sc->why, sc->whylen,
                 "an address field with more than %d groups", MIME_GROUPS_MAX);
        return 1;
    }
    if (folded) {
        if (!sc->in_content_type)
            return 0; /* folded, of another field */
    } else {
        if (max_headers > 0 && ++sc->fields > max_headers) {
            snprintf(sc->why, sc->whylen,
                     "more than %ld header fields (mime_max_headers)",
                     max_headers);
            return 1;
        }
        const char *colon = memchr(l, ':', len);
        size_t name_len = colon ? (size_t)(colon - l) : 0;
        while (name_len > 0 && (l[name_len - 1] == ' ' || l[name_len - 1] == '\t'))
            name_len--;
        sc->in_content_type = colon && name_len == 12 &&
                              strncasecmp(l, "Content-Type", 12) == 0;
        if (!sc->in_content_type)
            return 0;
        sc->have_content_type = 1; /* the last one counts, as in GMime */
        sc->content_type_len = 0;
        len -= (size_t)(colon + 1 - l);
        l = colon + 1;
    }
    size_t room = FIELD_KEEP - sc->content_type_len;
    size_t take = len < room ? len : room;
    memcpy(sc->content_type + sc->content_type_len, l, take);
    sc->content_type_len += take;
    if (sc->content_type_len < FIELD_KEEP)
        sc->content_type[sc->content_type_len++] = '\n';
    return 0;
}

/* One whole line in sc->line: 0, or 1 past a limit. */
static int line_done(struct scan *sc)
{
    int end;
    long at = boundary_line(sc, &end);
    if (at >= 0 && sc->in_headers) {
        /* Headers ended by a boundary line: GMime still makes the entity
         * what they say, a multipart maybe, whose own boundary the line
         * may be; so the line is matched again. */
        int rc = entity_body(sc);
        if (rc)
            return rc;
        at = boundary_line(sc, &end);
    }
    if (at >= 0) {
        if (end) {
            boundaries_pop(sc, (size_t)at);
            sc->in_headers = 0;
            return 0;
        }
        boundaries_pop(sc, (size_t)at + 1);
        return entity_begin(sc, sc->open[at].depth + 1, sc->open[at].digest);
    }
    if (!sc->in_headers)
        return 0;
    if (sc->line_len == 0 || (sc->line_len == 1 && sc->line[0] == '\r'))
        return entity_body(sc);
    return header_line(sc, sc->line_full_len);
}

/* Add bytes of the current line (no newline among them). */
static void line_add(struct scan *sc, const char *p, size_t n)
{
    size_t room = LINE_KEEP - sc->line_len;
    size_t take = n < room ? n : room;
    memcpy(sc->line + sc->line_len, p, take);
    sc->line_len += take;
    sc->line_full_len += n;
    if (take < n) {
        if (!sc->line_cut)
            sc->tail_blank = 1;
        sc->line_cut = 1;
        if (sc->tail_blank)
            sc->tail_blank = all_blank(p + take, n - take);
    }
}

int mime_limits_check(const char *path, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        snprintf(why, whylen, "cannot open the spooled message: %s",
                 strerror(errno));
        return -1;
    }
    struct scan sc = {0};
    sc.why = why;
    sc.whylen = whylen;
    sc.line = xmalloc(LINE_KEEP);
    sc.content_type = xmalloc(FIELD_KEEP + 1);
    char *chunk = xmalloc(READ_CHUNK);
    int rc = entity_begin(&sc, 0, 0);
    ssize_t n;
    while (rc == 0 && (n = read(fd, chunk, READ_CHUNK)) != 0) {
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            snprintf(why, whylen, "cannot read the spooled message: %s",
                     strerror(errno));
            rc = -1;
            break;
        }
        const char *p = chunk, *end = chunk + n;
        while (rc == 0 && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            line_add(&sc, p, (size_t)((nl ? nl : end) - p));
            if (nl == NULL)
                break;
            rc = line_done(&sc);
            sc.line_len = 0;
            sc.line_full_len = 0;
            sc.line_cut = 0;
            p = nl + 1;
        }
    }
    if (rc == 0 && (sc.line_len > 0 || sc.line_cut))
        rc = line_done(&sc); /* the last line, without its newline */
    close(fd);
    boundaries_pop(&sc, 0);
    free(sc.open);
    free(sc.line);
    free(sc.content_type);
    free(chunk);
    return rc;
}
