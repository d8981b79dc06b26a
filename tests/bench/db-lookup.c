/*
 * db-lookup.c - database figures for tests/bench/db-bench.sh: member
 * lookups (what the list policy does for each post's sender), address
 * resolution (each RCPT), and streaming a list's recipients (each accepted
 * post), through the same db/db.h calls the worker uses.
 *
 *   db-lookup DATABASE LIST ADDRESS-FILE
 *
 * ADDRESS-FILE holds the addresses to look up, one a line (members, so
 * every lookup finds its row). Prints one figure a line.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_member(const struct member_info *m, void *arg)
{
    (void)m;
    (*(long *)arg)++;
    return 0;
}

int main(int argc, char **argv)
{
    char why[512], line[512];
    struct list_info list;
    if (argc != 4) {
        fprintf(stderr, "usage: db-lookup DATABASE LIST ADDRESS-FILE\n");
        return 2;
    }
    struct db *db = db_open(argv[1], NULL, why, sizeof why);
    if (db == NULL || list_find(db, argv[2], &list, why, sizeof why) != 0) {
        fprintf(stderr, "db-lookup: %s\n", why);
        return 1;
    }
    FILE *fp = fopen(argv[3], "r");
    if (fp == NULL) {
        perror(argv[3]);
        return 1;
    }
    size_t n = 0, cap = 1024;
    char **addrs = malloc(cap * sizeof *addrs);
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (n == cap)
            addrs = realloc(addrs, (cap *= 2) * sizeof *addrs);
        addrs[n++] = strdup(line);
    }
    fclose(fp);

    struct member_info m;
    long found = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++)
        found += member_get(db, &list, addrs[i], "member", &m, why,
                            sizeof why) == 0;
    double t1 = now_s();
    printf("member lookups: %zu (%ld found), %.1f us per lookup\n", n, found,
           (t1 - t0) * 1e6 / (double)(n ? n : 1));

    enum address_kind kind;
    struct list_info resolved;
    t0 = now_s();
    for (size_t i = 0; i < n; i++)
        address_resolve(db, list.address, &kind, &resolved, why, sizeof why);
    t1 = now_s();
    printf("address resolutions (list address): %.1f us each\n",
           (t1 - t0) * 1e6 / (double)(n ? n : 1));

    long count = 0;
    t0 = now_s();
    if (members_each(db, &list, "member", count_member, &count, why,
                     sizeof why) == -1) {
        fprintf(stderr, "db-lookup: %s\n", why);
        return 1;
    }
    t1 = now_s();
    printf("recipients streamed: %ld in %.3f s, %.0f addresses/s\n", count,
           t1 - t0, (double)count / (t1 - t0));

    t0 = now_s();
    int64_t total = members_count(db, &list, "member", why, sizeof why);
    t1 = now_s();
    printf("member count: %lld in %.1f ms\n", (long long)total,
           (t1 - t0) * 1e3);
    for (size_t i = 0; i < n; i++)
        free(addrs[i]);
    free(addrs);
    db_close(db);
    return 0;
}
