/*
 * db_cmd.c - mlm-ctl db migrate: bring the configured database to this
 * mlm's schema (PostgreSQL is migrated only so, never by a worker: one
 * host must not change the schema under the others; SQLite migrates
 * itself at open, and this only reports); mlm-ctl db copy SRC DST: move
 * an installation between backends, every row, verified by counts.
 */
#include "ctl.h"
#include "db.h"

#include <stdio.h>
#include <stdlib.h>

/* Long enough for a migration of a big table. */
#define MIGRATE_TIMEOUT_S 600

int cmd_db_migrate(struct ctl_env *env, struct ctl_args *a)
{
    (void)a;
    char why[512];
    if (ctl_become_user(env, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    struct db_options opts = {.timeout_s = MIGRATE_TIMEOUT_S, .migrate = 1};
    struct db *db = db_open(env->cfg.database, &opts, why, sizeof why);
    if (db == NULL)
        return ctl_fail("%s", why);
    int version = db_schema_version(db, why, sizeof why);
    if (version >= 0)
        printf("%s database at schema version %d\n", db_backend(db),
               version);
    db_close(db);
    return version < 0 ? ctl_fail("%s", why) : EXIT_OK;
}

static void copy_report(const char *table, int64_t rows, void *arg)
{
    (void)arg;
    printf("%s: %lld\n", table, (long long)rows);
}

int cmd_db_copy(struct ctl_env *env, struct ctl_args *a)
{
    char why[512];
    if (ctl_become_user(env, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    struct db_options src_opts = {.timeout_s = MIGRATE_TIMEOUT_S};
    struct db_options dst_opts = {.timeout_s = MIGRATE_TIMEOUT_S,
                                  .migrate = 1};
    struct db *src = db_open(a->argv[0], &src_opts, why, sizeof why);
    if (src == NULL)
        return ctl_fail("source: %s", why);
    struct db *dst = db_open(a->argv[1], &dst_opts, why, sizeof why);
    if (dst == NULL) {
        db_close(src);
        return ctl_fail("destination: %s", why);
    }
    int rc = db_copy(src, dst, env->cfg.secret_file, copy_report, NULL, why,
                     sizeof why);
    db_close(dst);
    db_close(src);
    return rc == -1 ? ctl_fail("%s", why) : EXIT_OK;
}
