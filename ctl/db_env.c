/*
 * db_env.c - the database for mlm-ctl's list, member, held and bounce
 * commands: opened once per run, as the daemons' user.
 *
 * Run as root, mlm-ctl first becomes cfg.user (as the daemons do after
 * binding): a database, or its -wal and -shm files, created by root would
 * lock the workers out of their own database. check and try become it
 * too, so the policy runs as it runs in a worker.
 */
#include "ctl.h"
#include "db.h"
#include "privileges.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ctl_become_user(struct ctl_env *env, char *why, size_t whylen)
{
    return privileges_switch(env->cfg.user, why, whylen) == -1 ? -1 : 0;
}

struct db *ctl_db(struct ctl_env *env)
{
    char why[1024];
    if (env->db)
        return env->db;
    /* the change log names who ran mlm-ctl (sudo's caller when root),
     * known only before becoming the daemons' user */
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    char actor[DB_ACTOR_MAX + 1];
    snprintf(actor, sizeof actor, "mlm-ctl by %s",
             getuid() == 0 && sudo && *sudo ? sudo
             : pw ? pw->pw_name : "uid?");
    if (ctl_become_user(env, why, sizeof why) == -1) {
        ctl_fail("%s", why);
        return NULL;
    }
    env->db = db_open(env->cfg.database, NULL, why, sizeof why);
    if (env->db == NULL) {
        ctl_fail("%s", why);
        return NULL;
    }
    db_set_actor(env->db, actor);
    return env->db;
}

int ctl_list(struct ctl_env *env, const char *address, struct list_info *out)
{
    char why[512];
    struct db *db = ctl_db(env);
    if (db == NULL)
        return EXIT_FAILED;
    if (list_find(db, address, out, why, sizeof why) != 0)
        return ctl_fail("%s", why);
    return EXIT_OK;
}

int parse_id(const char *s, int64_t *id)
{
    char *end;
    if (*s < '1' || *s > '9')
        return -1;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno || *end || n <= 0)
        return -1;
    *id = n;
    return 0;
}
