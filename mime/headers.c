/*
 * headers.c - splitting a header block into fields, without GMime.
 *
 * GMime builds an object per header field and a MIME tree around them:
 * about 20,000 instructions a field to build and free again, a quarter of
 * a worker's work on a list post, where the policy only reads values. The
 * header block mlmd spools is regular (it writes each field as the MTA
 * handed it, CRLF line ends, an empty line after), so it is split here, and
 * the values are given to the same GMime functions (unfold, RFC 2047,
 * address lists) as before. Anything irregular is refused and GMime parses
 * the block as it did; tests/unit/headers_test.c checks that every field
 * split here is what GMime reads, name and raw value, byte for byte.
 */
#include "headers.h"
#include "xmalloc.h"

#include <gmime/gmime.h>

#include <stdlib.h>
#include <string.h>

#define FIELD_NAME_MAX 998

static int name_ok(const char *p, size_t len)
{
    if (len == 0 || len > FIELD_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126)
            return 0;
    return 1;
}

/* Copy the field name[..colon) and its value (colon, end) into hb. */
static void field_add(struct header_block *hb, uint32_t *cap, char **outp,
                      const char *name, const char *colon, const char *end)
{
    if (hb->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        hb->fields = xrealloc(hb->fields, *cap * sizeof *hb->fields);
    }
    char *out = *outp;
    hb->fields[hb->n].name = out;
    hb->fields[hb->n].name_len = (size_t)(colon - name);
    memcpy(out, name, (size_t)(colon - name));
    out += colon - name;
    *out++ = '\0';
    hb->fields[hb->n++].raw = out;
    memcpy(out, colon + 1, (size_t)(end - colon - 1));
    out += end - colon - 1;
    *out++ = '\0';
    *outp = out;
}

/*
 * The raw values keep their folds and their final line end, as GMime's
 * do; names and values are copied into strings of their own (the block
 * leaves no room for the NULs), at most two bytes more per line.
 */
int header_block_split(struct header_block *hb, char *data, size_t len)
{
    uint32_t cap = 0;
    *hb = (struct header_block){.data = xmalloc(2 * len + 2)};
    char *out = hb->data;
    int ok = -1;
    const char *p = data, *end = data + len, *name = NULL, *colon = NULL;
    if (memchr(data, '\0', len) != NULL)
        p = end; /* refused */
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf == NULL)
            break;
        const char *line_end = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
        if (memchr(p, '\r', (size_t)(line_end - p)) != NULL)
            break; /* a bare CR */
        int fold = *p == ' ' || *p == '\t';
        if (!fold && name) /* the field before is complete */
            field_add(hb, &cap, &out, name, colon, p);
        if (line_end == p) { /* the empty line: the block ends */
            ok = lf + 1 == end ? 0 : -1;
            break;
        }
        if (fold && name == NULL)
            break;
        if (!fold) {
            colon = memchr(p, ':', (size_t)(line_end - p));
            if (colon == NULL || !name_ok(p, (size_t)(colon - p)))
                break;
            name = p;
        }
        p = lf + 1;
    }
    free(data);
    return ok;
}

void header_block_free(struct header_block *hb)
{
    free(hb->data);
    free(hb->fields);
    *hb = (struct header_block){0};
}

/* ASCII case-insensitive equality, whatever the locale. */
static int name_is(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

const char *header_block_find(const struct header_block *hb, const char *name,
                              int *count)
{
    const char *first = NULL;
    size_t len = strlen(name);
    *count = 0;
    for (uint32_t i = 0; i < hb->n; i++)
        if (header_block_named(&hb->fields[i], name, len) && (*count)++ == 0)
            first = hb->fields[i].raw;
    return first;
}

int header_block_named(const struct header_field *f, const char *name,
                       size_t name_len)
{
    return f->name_len == name_len && name_is(f->name, name);
}

int gmime_top_fields(GMimeMessage *m, GMimeHeader ***out)
{
    GMimeObject *top = g_mime_message_get_mime_part(m);
    GMimeHeaderList *a = g_mime_object_get_header_list(GMIME_OBJECT(m));
    GMimeHeaderList *b = top ? g_mime_object_get_header_list(top) : NULL;
    int na = a ? g_mime_header_list_get_count(a) : 0;
    int nb = b ? g_mime_header_list_get_count(b) : 0, n = 0;
    *out = g_new(GMimeHeader *, na + nb + 1);
    for (int i = 0, j = 0; i < na || j < nb;) {
        GMimeHeader *ha = i < na ? g_mime_header_list_get_header_at(a, i) : NULL;
        GMimeHeader *hb = j < nb ? g_mime_header_list_get_header_at(b, j) : NULL;
        int take_a = hb == NULL || (ha && g_mime_header_get_offset(ha) <
                                              g_mime_header_get_offset(hb));
        (*out)[n++] = take_a ? ha : hb;
        take_a ? i++ : j++;
    }
    return n;
}
