/*
 * policy_cmd.c - loading a policy without the daemons, for mlm-ctl check
 * and try, exactly as mlm-worker loads it: the same sandbox and limits,
 * the daemons' user, and the same configuration handed to the Lua library
 * (which opens the database itself, on the policy's first use of mlm.list).
 * A policy's os.getenv() sees only a few of mlm-ctl's environment
 * variables: a worker has its unit's, not an administrator's shell's.
 */
#include "ctl.h"
#include "luambind.h"
#include "policy.h"
#include "xmalloc.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep only PATH, TZ, LANG, LC_* and TMPDIR in the environment. */
static void policy_environment(void)
{
    static const char *const kept[] = {"PATH=", "TZ=", "LANG=", "LC_",
                                       "TMPDIR=", NULL};
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **keep = xcalloc(n + 1, sizeof *keep);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; kept[j]; j++)
            if (strncmp(environ[i], kept[j], strlen(kept[j])) == 0) {
                keep[k++] = xstrdup(environ[i]);
                break;
            }
    clearenv();
    for (size_t i = 0; i < k; i++)
        putenv(keep[i]); /* the environment owns them from now on */
    free(keep);
}

int ctl_policy_load(struct ctl_env *env, struct policy *pol,
                    const char *path, char *why, size_t whylen)
{
    memset(pol, 0, sizeof *pol);
    g_mime_init();
    mlm_lua_configure(&env->cfg);
    policy_environment();
    if (ctl_become_user(env, why, whylen) == -1 ||
        policy_load(pol, path, env->cfg.lua_path,
                    (size_t)env->cfg.lua_memory_limit,
                    env->cfg.lua_instruction_limit, why, whylen) == -1) {
        ctl_policy_close(pol);
        return -1;
    }
    return 0;
}

void ctl_policy_close(struct policy *pol)
{
    policy_close(pol);
    lists_shutdown();
    g_mime_shutdown();
}

int cmd_check(struct ctl_env *env, struct ctl_args *a)
{
    struct policy pol;
    char why[2048];
    if (ctl_policy_load(env, &pol, a->argv[0], why, sizeof why) == -1)
        return ctl_fail("%s", why);
    for (int s = 0; s < STAGE_COUNT; s++)
        if (pol.stages & STAGE_BIT(s))
            printf("%s\n", stage_function(s));
    ctl_policy_close(&pol);
    return EXIT_OK;
}
