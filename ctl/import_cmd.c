/*
 * import_cmd.c - mlm-ctl member import LIST FILE: addresses, one a line,
 * added as members in one transaction (members_import in common), all or
 * none.
 *
 * The whole file is read, checked and sorted before the database is
 * touched: a bad line is named without starting a transaction, and the
 * write lock (which holds off the workers' own writes: held posts,
 * bounces) lasts only as long as the inserts, however slowly the file
 * arrives on stdin. Sorted addresses go into the member index in order.
 */
#include "ctl.h"
#include "db.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct addresses {
    char **v;
    size_t n, cap;
};

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Read and normalise every address of fp (blank lines and # comments
 * skipped, as members_import does). 0, or -1 with why naming the line.
 */
static int addresses_read(FILE *fp, struct addresses *out, char *why,
                          size_t whylen)
{
    char *line = NULL, reason[256];
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, fp) != -1) {
        lineno++;
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "\r\n")] = '\0';
        for (char *end = p + strlen(p);
             end > p && (end[-1] == ' ' || end[-1] == '\t');)
            *--end = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        char norm[400];
        if (address_normalise(p, norm, sizeof norm, reason,
                              sizeof reason) == -1) {
            snprintf(why, whylen, "line %ld: %s; nothing imported", lineno,
                     reason);
            free(line);
            return -1;
        }
        if (out->n == out->cap)
            out->v = xrealloc(out->v, (out->cap = out->cap ? out->cap * 2
                                                           : 1024) *
                                          sizeof *out->v);
        out->v[out->n++] = xstrdup(norm);
    }
    free(line);
    if (ferror(fp)) {
        snprintf(why, whylen, "read error: %s; nothing imported",
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* The sorted addresses as a stream members_import can read. */
static FILE *addresses_stream(struct addresses *a, char **buf, size_t *len)
{
    FILE *mem = open_memstream(buf, len);
    if (mem == NULL)
        return NULL;
    qsort(a->v, a->n, sizeof *a->v, compare);
    for (size_t i = 0; i < a->n; i++)
        fprintf(mem, "%s\n", a->v[i]);
    if (fclose(mem) == EOF)
        return NULL;
    return fmemopen(*buf, *len ? *len : 1, "r");
}

int cmd_member_import(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct addresses addrs = {NULL, 0, 0};
    char why[512], *buf = NULL;
    size_t len = 0;
    const char *path = a->argv[1];
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (fp == NULL)
        return ctl_fail("cannot open %s: %s", path, strerror(errno));
    rc = addresses_read(fp, &addrs, why, sizeof why);
    if (fp != stdin)
        fclose(fp);
    FILE *sorted = rc == 0 ? addresses_stream(&addrs, &buf, &len) : NULL;
    if (rc == 0 && sorted == NULL)
        snprintf(why, sizeof why, "out of memory");
    if (sorted) {
        db_bulk_load(env->db);
        int added = members_import(env->db, &list, sorted, why, sizeof why);
        fclose(sorted);
        if (added >= 0)
            printf("%d added to %s\n", added, list.address);
        rc = added >= 0 ? 0 : -1;
    } else {
        rc = -1;
    }
    for (size_t i = 0; i < addrs.n; i++)
        free(addrs.v[i]);
    free(addrs.v);
    free(buf);
    return rc == 0 ? EXIT_OK : ctl_fail("%s: %s", path, why);
}
