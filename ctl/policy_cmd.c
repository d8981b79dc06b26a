/*
 * policy_cmd.c - loading a policy without the daemons, for mlm-ctl check
 * and try, exactly as mlm-worker loads it: the same sandbox and limits,
 * and the same configuration handed to the Lua library (which opens the
 * database itself, on the policy's first use of mlm.list).
 */
#include "ctl.h"
#include "luambind.h"
#include "policy.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>

int ctl_policy_load(struct ctl_env *env, struct policy *pol,
                    const char *path, char *why, size_t whylen)
{
    memset(pol, 0, sizeof *pol);
    g_mime_init();
    mlm_lua_configure(&env->cfg);
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
