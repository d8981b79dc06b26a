/*
 * message.c - ctx.message: the spooled message, read on first use (a
 * policy that never reads the message never pays for it). Header reads
 * use the header block split by headers.c; GMime parses the whole message
 * for parts(), for footers on anything but one plain-text part, and for
 * header blocks the split refuses.
 *
 *   message:header(name)     first value, RFC 2047-decoded to UTF-8, or nil
 *   message:headers(name)    every value, same decoding
 *   message:raw_header(name) first value unfolded, not decoded, or nil
 *   message:addresses(name)  the addr-specs of every such header
 *   message.size             bytes, as received
 *   message:parts([nested])  iterator over MIME leaves; each part has
 *                            content_type, filename, charset, size, depth,
 *                            :text([max]); nested also visits the leaves
 *                            of attached messages (message/rfc822), at most
 *                            NEST_MAX deep, depth counting the enclosures
 *
 * Header names compare case-insensitively. Text handed to Lua is valid
 * UTF-8 whatever the message holds (invalid bytes are replaced).
 */
#include "luambind.h"
#include "footer.h"
#include "headers.h"
#include "mime_write.h"
#include "rfc2047.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PARTS_MAX 10000
#define NEST_MAX 8
#define ADDRESS_SETS_MAX 4
#define ADDRESS_SET_KEPT_MAX 64   /* a longer list is parsed again when asked:
                                   * the copies stay small, outside Lua's
                                   * memory limit */
#define ADDRESS_NAME_KEPT_MAX 998 /* a field name longer than a line is not */

static const char MESSAGE_MT[] = "mlm.message";
static const char PART_MT[] = "mlm.part";

struct message {
    char *path;
    int fd;                    /* the spooled message, opened on first read */
    uint64_t size;
    GMimeMessage *gm;          /* the whole message, parsed */
    struct header_block fields; /* the header block split without GMime */
    int fields_state;          /* 0 not tried, 1 split, -1 GMime must */
    int64_t body_offset;       /* where the body starts, once split */
    struct leaves {
        GMimeObject **v;
        uint8_t *depth;        /* message/rfc822 enclosures of each */
        uint32_t n;
        int done;
    } top, nested;             /* parts(), parts(true) */
    char *mime_refused;        /* past a MIME limit: why (mime_limits.c) */
    /* addresses(name) of the first ADDRESS_SETS_MAX names asked, kept:
     * the message does not change, and a list post asks for From's
     * three times (GMime's address parser is the dear part). */
    struct address_set {
        char *name;
        char **v;
        size_t n;
    } address_sets[ADDRESS_SETS_MAX];
    int n_address_sets;
};

/* Userdata: both start with the run pointer (see ctx_detach_all). */
struct message_ud {
    struct stage_run *run;
};

struct part_ud {
    struct stage_run *run;
    uint32_t index;
    int nested;                /* an index into m->nested, else m->top */
};

struct message *message_new(const char *path, uint64_t size)
{
    struct message *m = xcalloc(1, sizeof *m);
    m->path = xstrdup(path ? path : "");
    m->size = size;
    m->fd = -1;
    return m;
}

void message_free(struct message *m)
{
    if (m == NULL)
        return;
    if (m->gm)
        g_object_unref(m->gm);
    if (m->fd != -1)
        close(m->fd);
    header_block_free(&m->fields);
    free(m->top.v);
    free(m->top.depth);
    free(m->nested.v);
    free(m->nested.depth);
    free(m->mime_refused);
    for (int i = 0; i < m->n_address_sets; i++) {
        struct address_set *set = &m->address_sets[i];
        for (size_t k = 0; k < set->n; k++)
            free(set->v[k]);
        free(set->v);
        free(set->name);
    }
    free(m->path);
    free(m);
}

void *message_gmime(struct message *m, char *why, size_t whylen)
{
    if (m->gm)
        return m->gm;
    if (m->mime_refused) {
        snprintf(why, whylen, "%s", m->mime_refused);
        return NULL;
    }
    int over = mime_limits_check(m->path, why, whylen);
    if (over == 1)
        m->mime_refused = xstrdup(why);
    if (over != 0)
        return NULL;
    GError *err = NULL;
    GMimeStream *stream = g_mime_stream_fs_open(m->path, O_RDONLY, 0, &err);
    if (stream == NULL) {
        snprintf(why, whylen, "cannot open the spooled message: %s",
                 err ? err->message : "?");
        g_clear_error(&err);
        return NULL;
    }
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    m->gm = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (m->gm == NULL)
        snprintf(why, whylen, "the message could not be parsed");
    return m->gm;
}

const char *message_mime_refusal(const struct message *m)
{
    return m->mime_refused;
}

/* Header blocks longer than this are parsed with the whole message. */
#define HEAD_SCAN_MAX (256 * 1024)

/*
 * Read the header block of the spooled message, up to and including its
 * empty line, into *block: its length, or -1 when there is none within
 * HEAD_SCAN_MAX (or the file cannot be read).
 */
static int64_t header_block_read(int fd, char **block)
{
    size_t cap = 8192, at = 0;
    char *buf = xmalloc(cap);
    int last = '\n', before = 0; /* the two bytes before buf[i] */
    while (at < HEAD_SCAN_MAX) {
        if (at == cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t n = pread(fd, buf + at, cap - at, (off_t)at);
        if (n <= 0)
            break;
        for (size_t i = at; i < at + (size_t)n; i++) {
            int c = (unsigned char)buf[i];
            /* "\n\n", or "\n\r\n"; a message may start with its empty line */
            if (c == '\n' && (last == '\n' || (last == '\r' && before == '\n'))) {
                *block = buf;
                return (int64_t)i + 1;
            }
            before = last;
            last = c;
        }
        at += (size_t)n;
    }
    free(buf);
    return -1;
}

/* The spooled message open for reading (once per request), or -1. */
static int message_fd(struct message *m)
{
    if (m->fd == -1)
        m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
    return m->fd;
}

/*
 * The header block split into fields without GMime (headers.c): what
 * header reads and the plain-text footer need. 1, or 0 when the block is
 * not regular enough (or too long) and GMime must parse the message.
 */
static int message_fields(struct message *m)
{
    if (m->fields_state)
        return m->fields_state == 1;
    m->fields_state = -1;
    int fd = message_fd(m);
    if (fd == -1)
        return 0;
    char *block = NULL;
    int64_t end = header_block_read(fd, &block);
    if (end < 0)
        return 0;
    if (header_block_split(&m->fields, block, (size_t)end) == -1) {
        header_block_free(&m->fields);
        return 0;
    }
    m->fields_state = 1;
    m->body_offset = end;
    return 1;
}

/* The raw body of the spooled message (body_offset known): 0 or -1. */
static int read_body(struct message *m, uint8_t **body, size_t *len)
{
    int fd = message_fd(m);
    if (fd == -1)
        return -1;
    size_t cap = m->size > (uint64_t)m->body_offset
                     ? (size_t)(m->size - (uint64_t)m->body_offset) + 1 : 4096;
    uint8_t *buf = xmalloc(cap);
    size_t n = 0;
    ssize_t got;
    while ((got = pread(fd, buf + n, cap - n,
                        (off_t)((size_t)m->body_offset + n))) > 0) {
        n += (size_t)got;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    if (got == -1) {
        free(buf);
        return -1;
    }
    *body = buf;
    *len = n;
    return 0;
}

int message_footer_plain(struct message *m, const char *text,
                         const char *out_path, char *why, size_t whylen)
{
    if (m->gm || !message_fields(m))
        return 0; /* the whole tree is there, or needed: footer_apply */
    struct plain_fields f;
    f.content_type = header_block_find(&m->fields, "Content-Type",
                                       &f.content_types);
    f.encoding = header_block_find(&m->fields, "Content-Transfer-Encoding",
                                   &f.encodings);
    int dispositions;
    f.disposition = header_block_find(&m->fields, "Content-Disposition",
                                      &dispositions);
    if (dispositions > 1)
        return 0;
    uint8_t *body;
    size_t len;
    if (read_body(m, &body, &len) == -1)
        return 0;
    int rc = footer_apply_plain(&f, body, len, text, out_path, why, whylen);
    free(body);
    return rc;
}

int message_body_reproducible(struct message *m, void *top)
{
    uint8_t *body;
    size_t len;
    if (!message_fields(m) || read_body(m, &body, &len) == -1)
        return 0; /* what cannot be compared is not taken as reproduced */
    int same = mime_write_reproduces(top, body, len);
    free(body);
    return same;
}

/* What a Lua call on a message needs parsed. */
enum need { NEED_NOTHING, NEED_HEADERS, NEED_ALL };

/* m parsed as far as need asks, or a Lua error. */
static struct message *message_need(lua_State *L, struct message *m,
                                    enum need need)
{
    char why[256];
    if ((need == NEED_ALL && message_gmime(m, why, sizeof why) == NULL) ||
        (need == NEED_HEADERS && !message_fields(m) &&
         message_gmime(m, why, sizeof why) == NULL))
        luaL_error(L, "%s", why);
    return m;
}

/* The message behind a userdata argument, parsed as needed, or a Lua error. */
static struct message *check_message(lua_State *L, int idx, enum need need)
{
    struct message_ud *ud = udata_check(L, idx, MESSAGE_MT);
    if (ud->run == NULL || ud->run->message == NULL)
        luaL_error(L, "message used after its request ended");
    return message_need(L, ud->run->message, need);
}

/* Push s as valid UTF-8 (invalid bytes replaced). */
static void push_utf8(lua_State *L, const char *s, size_t len)
{
    if (g_utf8_validate(s, (gssize)len, NULL)) {
        lua_pushlstring(L, s, len);
        return;
    }
    char *valid = g_utf8_make_valid(s, (gssize)len);
    lua_pushstring(L, valid);
    g_free(valid);
}

/*
 * A raw value unfolded (RFC 5322 2.2.3: the line ends go, the blanks stay),
 * without its leading blanks and final line end. Owned by the caller.
 */
static char *value_unfold(const char *raw)
{
    const char *v = raw ? raw : "";
    while (*v == ' ' || *v == '\t')
        v++;
    char *out = xmalloc(strlen(v) + 1), *q = out;
    for (; *v; v++)
        if (*v != '\r' && *v != '\n')
            *q++ = *v;
    while (q > out && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    *q = '\0';
    return out;
}

/* A header's value unfolded and RFC 2047-decoded (rfc2047.c, not GMime). */
static void push_header_value(lua_State *L, const char *raw)
{
    char *unfolded = value_unfold(raw);
    char *decoded = rfc2047_decode(unfolded);
    push_utf8(L, decoded, strlen(decoded));
    free(decoded);
    free(unfolded);
}

/* A header's value unfolded, not decoded: the bytes as received. */
static void push_raw_value(lua_State *L, const char *raw)
{
    char *unfolded = value_unfold(raw);
    lua_pushstring(L, unfolded);
    free(unfolded);
}

/*
 * Walk the top-level headers named name, from the split block or from
 * GMime's parse; for each, call fn with its raw value (the same bytes
 * either way). fn returns 0 to stop. Returns the number of matches seen.
 */
static int headers_each(const struct message *m, const char *name,
                        int (*fn)(lua_State *, const char *, int),
                        lua_State *L)
{
    int seen = 0;
    if (m->fields_state == 1) {
        size_t name_len = strlen(name);
        for (uint32_t i = 0; i < m->fields.n; i++)
            if (header_block_named(&m->fields.fields[i], name, name_len) &&
                !fn(L, m->fields.fields[i].raw, ++seen))
                break;
        return seen;
    }
    GMimeHeader **fields;
    int count = gmime_top_fields(m->gm, &fields);
    for (int i = 0; i < count; i++) {
        if (g_ascii_strcasecmp(g_mime_header_get_name(fields[i]), name) != 0)
            continue;
        const char *raw = g_mime_header_get_raw_value(fields[i]);
        if (!fn(L, raw ? raw : "", ++seen))
            break;
    }
    g_free(fields);
    return seen;
}

static int push_first(lua_State *L, const char *raw, int n)
{
    (void)n;
    push_header_value(L, raw);
    return 0;
}

static int push_first_raw(lua_State *L, const char *raw, int n)
{
    (void)n;
    push_raw_value(L, raw);
    return 0;
}

static int push_into_table(lua_State *L, const char *raw, int n)
{
    push_header_value(L, raw);
    lua_rawseti(L, -2, n);
    return 1;
}

static int l_header(lua_State *L)
{
    struct message *m = check_message(L, 1, NEED_HEADERS);
    const char *name = luaL_checkstring(L, 2);
    if (headers_each(m, name, push_first, L) == 0)
        lua_pushnil(L);
    return 1;
}

static int l_raw_header(lua_State *L)
{
    struct message *m = check_message(L, 1, NEED_HEADERS);
    const char *name = luaL_checkstring(L, 2);
    if (headers_each(m, name, push_first_raw, L) == 0)
        lua_pushnil(L);
    return 1;
}

static int l_headers(lua_State *L)
{
    struct message *m = check_message(L, 1, NEED_HEADERS);
    const char *name = luaL_checkstring(L, 2);
    lua_newtable(L);
    headers_each(m, name, push_into_table, L);
    return 1;
}

static int count_only(lua_State *L, const char *raw, int n)
{
    (void)L, (void)raw, (void)n;
    return 1;
}

struct message *run_message(struct stage_run *run)
{
    if (run->message == NULL)
        run->message = message_new(run->req->spool_path, run->req->size);
    return run->message;
}

int message_count_headers(lua_State *L, struct stage_run *run,
                          const char *name)
{
    struct message *m = message_need(L, run_message(run), NEED_HEADERS);
    return headers_each(m, name, count_only, L);
}

/* Append the mailboxes of list (groups flattened) to the table on top. */
static void push_mailboxes(lua_State *L, InternetAddressList *list, int depth)
{
    int count = internet_address_list_length(list);
    for (int i = 0; i < count; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(
                INTERNET_ADDRESS_MAILBOX(ia));
            if (addr && *addr) {
                push_utf8(L, addr, strlen(addr));
                lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
            }
        } else if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < 4) {
            push_mailboxes(L,
                           internet_address_group_get_members(
                               INTERNET_ADDRESS_GROUP(ia)),
                           depth + 1);
        }
    }
}

/* The mailboxes of one field; a value past the bounds of
 * address_value_refused yields none (GMime's parser would recurse once per
 * group). */
static int push_addresses_of(lua_State *L, const char *raw, int n)
{
    (void)n;
    if (address_value_refused(raw))
        return 1;
    InternetAddressList *list = internet_address_list_parse(NULL, raw);
    if (list) {
        push_mailboxes(L, list, 0);
        g_object_unref(list);
    }
    return 1;
}

/* The addresses of name kept by an earlier call, or NULL. */
static const struct address_set *address_set_find(const struct message *m,
                                                   const char *name)
{
    for (int i = 0; i < m->n_address_sets; i++)
        if (g_ascii_strcasecmp(m->address_sets[i].name, name) == 0)
            return &m->address_sets[i];
    return NULL;
}

/* Keep the addresses in the table on top of L as name's, while there is
 * room and they are few. */
static void address_set_keep(lua_State *L, struct message *m,
                             const char *name)
{
    if (m->n_address_sets == ADDRESS_SETS_MAX ||
        lua_rawlen(L, -1) > ADDRESS_SET_KEPT_MAX ||
        strlen(name) > ADDRESS_NAME_KEPT_MAX)
        return;
    struct address_set *set = &m->address_sets[m->n_address_sets++];
    set->name = xstrdup(name);
    set->n = lua_rawlen(L, -1);
    set->v = xcalloc(set->n ? set->n : 1, sizeof *set->v);
    for (size_t i = 0; i < set->n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        set->v[i] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

/* A new table each call: a script may change the one it was given. */
static int l_addresses(lua_State *L)
{
    struct message *m = check_message(L, 1, NEED_HEADERS);
    const char *name = luaL_checkstring(L, 2);
    const struct address_set *set = address_set_find(m, name);
    if (set != NULL) {
        lua_createtable(L, (int)set->n, 0);
        for (size_t i = 0; i < set->n; i++) {
            lua_pushstring(L, set->v[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 1;
    }
    lua_newtable(L);
    headers_each(m, name, push_addresses_of, L);
    address_set_keep(L, m, name);
    return 1;
}

static void leaf_add(struct leaves *l, GMimeObject *part, int depth)
{
    if (l->n >= PARTS_MAX)
        return;
    if ((l->n & (l->n - 1)) == 0) {
        size_t cap = l->n ? (size_t)l->n * 2 : 1;
        l->v = xrealloc(l->v, cap * sizeof *l->v);
        l->depth = xrealloc(l->depth, cap * sizeof *l->depth);
    }
    l->v[l->n] = part;
    l->depth[l->n++] = (uint8_t)depth;
}

static void leaves_walk(struct leaves *l, GMimeObject *obj, int depth,
                        int nested);

/* A leaf, then with nested the leaves of the message it attaches. */
static void leaf_visit(struct leaves *l, GMimeObject *leaf, int depth,
                       int nested)
{
    leaf_add(l, leaf, depth);
    if (!nested || depth >= NEST_MAX || !GMIME_IS_MESSAGE_PART(leaf))
        return;
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(leaf));
    if (inner)
        leaves_walk(l, g_mime_message_get_mime_part(inner), depth + 1,
                    nested);
}

/*
 * The leaves under obj, depth first (GMime has parsed everything; this
 * only walks). Multiparts are walked with an explicit stack of
 * MULTIPART_DEPTH_MAX levels, GMime's own nesting limit, so every part
 * GMime built is visited (mime_max_depth refuses deep mail before this);
 * the recursion per attached message stops at NEST_MAX, so the C stack is
 * bounded whatever the message (the stack here is 12 KB).
 */
#define MULTIPART_DEPTH_MAX 1024
static void leaves_walk(struct leaves *l, GMimeObject *obj, int depth,
                        int nested)
{
    GMimeMultipart *mp[MULTIPART_DEPTH_MAX];
    int next[MULTIPART_DEPTH_MAX];
    int sp = 0;
    if (obj == NULL)
        return;
    if (!GMIME_IS_MULTIPART(obj)) {
        leaf_visit(l, obj, depth, nested);
        return;
    }
    mp[sp] = GMIME_MULTIPART(obj);
    next[sp++] = 0;
    while (sp > 0 && l->n < PARTS_MAX) {
        GMimeMultipart *cur = mp[sp - 1];
        if (next[sp - 1] >= g_mime_multipart_get_count(cur)) {
            sp--;
            continue;
        }
        GMimeObject *child = g_mime_multipart_get_part(cur, next[sp - 1]++);
        if (!GMIME_IS_MULTIPART(child)) {
            leaf_visit(l, child, depth, nested);
        } else if (sp < MULTIPART_DEPTH_MAX) {
            mp[sp] = GMIME_MULTIPART(child);
            next[sp++] = 0;
        }
    }
}

static struct leaves *message_leaves(struct message *m, int nested)
{
    struct leaves *l = nested ? &m->nested : &m->top;
    if (l->done)
        return l;
    l->done = 1;
    leaves_walk(l, g_mime_message_get_mime_part(m->gm), 0, nested);
    return l;
}

static GMimeObject *check_part(lua_State *L, int idx)
{
    struct part_ud *ud = udata_check(L, idx, PART_MT);
    if (ud->run == NULL || ud->run->message == NULL)
        luaL_error(L, "part used after its request ended");
    struct message *m = ud->run->message;
    const struct leaves *l = ud->nested ? &m->nested : &m->top;
    if (ud->index >= l->n)
        luaL_error(L, "no such part");
    return l->v[ud->index];
}

/* The decoded content of a leaf part, optionally converted to UTF-8. */
static GByteArray *part_content(GMimeObject *obj, int to_utf8)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GMimeDataWrapper *content =
        GMIME_IS_PART(obj) ? g_mime_part_get_content(GMIME_PART(obj)) : NULL;
    if (content) {
        GMimeStream *out = mem;
        const char *charset =
            g_mime_object_get_content_type_parameter(obj, "charset");
        GMimeFilter *conv = NULL;
        if (to_utf8 && charset && g_ascii_strcasecmp(charset, "utf-8") != 0)
            conv = g_mime_filter_charset_new(charset, "UTF-8");
        if (conv) {
            out = g_mime_stream_filter_new(mem);
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(out), conv);
            g_object_unref(conv);
        }
        g_mime_data_wrapper_write_to_stream(content, out);
        g_mime_stream_flush(out);
        if (out != mem)
            g_object_unref(out);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner =
            g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner)
            g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
    }
    GByteArray *bytes = g_byte_array_new();
    GByteArray *owned = g_mime_stream_mem_get_byte_array(
        GMIME_STREAM_MEM(mem));
    g_byte_array_append(bytes, owned->data, owned->len);
    g_object_unref(mem);
    return bytes;
}

/* The report parts a bounce parser reads as text, besides the text type. */
static int report_type(GMimeContentType *ct)
{
    static const char *const subtypes[] = {
        "delivery-status", "global-delivery-status", "feedback-report",
        "disposition-notification", "global-disposition-notification",
        "rfc822-headers", "global-headers"};
    for (size_t i = 0; i < sizeof subtypes / sizeof subtypes[0]; i++)
        if (g_mime_content_type_is_type(ct, "message", subtypes[i]))
            return 1;
    return 0;
}

/* part:text([max]): at most max bytes of the decoded content. */
static int l_part_text(lua_State *L)
{
    GMimeObject *obj = check_part(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, -1);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    if (ct == NULL ||
        (g_ascii_strcasecmp(g_mime_content_type_get_media_type(ct), "text") !=
             0 &&
         !report_type(ct))) {
        lua_pushnil(L);
        return 1;
    }
    GByteArray *bytes = part_content(obj, 1);
    size_t len = bytes->len;
    if (max >= 0 && (lua_Unsigned)max < len)
        len = (size_t)max;
    push_utf8(L, (const char *)bytes->data, len);
    g_byte_array_unref(bytes);
    return 1;
}

static int part_index(lua_State *L)
{
    GMimeObject *obj = check_part(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "content_type") == 0) {
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        /* get_mime_type returns a newly allocated string */
        char *mime = ct ? g_mime_content_type_get_mime_type(ct)
                        : g_strdup("text/plain");
        char *type = g_ascii_strdown(mime, -1);
        lua_pushstring(L, type);
        g_free(type);
        g_free(mime);
    } else if (strcmp(key, "filename") == 0) {
        const char *f = GMIME_IS_PART(obj)
                            ? g_mime_part_get_filename(GMIME_PART(obj))
                            : NULL;
        if (f)
            push_utf8(L, f, strlen(f));
        else
            lua_pushnil(L);
    } else if (strcmp(key, "charset") == 0) {
        const char *c = g_mime_object_get_content_type_parameter(obj,
                                                                 "charset");
        if (c)
            push_utf8(L, c, strlen(c));
        else
            lua_pushnil(L);
    } else if (strcmp(key, "size") == 0) {
        GByteArray *bytes = part_content(obj, 0);
        lua_pushinteger(L, (lua_Integer)bytes->len);
        g_byte_array_unref(bytes);
    } else if (strcmp(key, "depth") == 0) {
        struct part_ud *ud = lua_touserdata(L, 1);
        struct message *m = ud->run->message;
        lua_pushinteger(L, ud->nested ? m->nested.depth[ud->index]
                                      : m->top.depth[ud->index]);
    } else if (strcmp(key, "text") == 0) {
        lua_pushcfunction(L, l_part_text);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static void part_push(lua_State *L, struct stage_run *run, uint32_t index,
                      int nested);

/* for part in message:parts([nested]) do ... end */
static int parts_next(lua_State *L)
{
    struct message_ud *ud = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2));
    int nested = lua_toboolean(L, lua_upvalueindex(3));
    if (ud->run == NULL || ud->run->message == NULL)
        return luaL_error(L, "message used after its request ended");
    struct message *m = ud->run->message;
    if ((uint32_t)i >= (nested ? m->nested.n : m->top.n))
        return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(2));
    part_push(L, ud->run, (uint32_t)i, nested);
    return 1;
}

static int l_parts(lua_State *L)
{
    struct message *m = check_message(L, 1, NEED_ALL);
    int nested = lua_toboolean(L, 2);
    message_leaves(m, nested);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    lua_pushboolean(L, nested);
    lua_pushcclosure(L, parts_next, 3);
    return 1;
}

static int message_index(lua_State *L)
{
    struct message *m = check_message(L, 1, NEED_NOTHING);
    const char *key = luaL_checkstring(L, 2);
    lua_pushvalue(L, 2); /* methods, from the upvalue */
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (strcmp(key, "size") == 0)
        lua_pushinteger(L, (lua_Integer)m->size);
    else
        lua_pushnil(L);
    return 1;
}

/* The methods of ctx.message. */
static const luaL_Reg message_methods[] = {
    {"header", l_header},
    {"headers", l_headers},
    {"raw_header", l_raw_header},
    {"addresses", l_addresses},
    {"parts", l_parts},
    {NULL, NULL}};

void message_register(lua_State *L)
{
    udata_newmetatable(L, MESSAGE_MT);
    luaL_newlib(L, message_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "methods");
    lua_pushcclosure(L, message_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "mlm.message");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    udata_newmetatable(L, PART_MT);
    lua_pushcfunction(L, part_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "mlm.part");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

static void part_push(lua_State *L, struct stage_run *run, uint32_t index,
                      int nested)
{
    struct part_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->run = run;
    ud->index = index;
    ud->nested = nested;
    udata_setmetatable(L, PART_MT);
    live_track(L, -1);
}

void message_push(lua_State *L, struct stage_run *run)
{
    if (run->req->stage != STAGE_MESSAGE) {
        lua_pushnil(L);
        return;
    }
    run_message(run);
    struct message_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->run = run;
    udata_setmetatable(L, MESSAGE_MT);
    live_track(L, -1);
}
