/*
 * policy_cmd.c - mlm-ctl commands that load a policy without the daemons.
 */
#include "ctl.h"
#include "policy.h"
#include "luambind.h"

#include <gmime/gmime.h>
#include <stdio.h>

int cmd_check(struct ctl_env *env, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage("check");
    struct policy pol;
    char why[2048];
    g_mime_init();
    mlm_lua_configure(&env->cfg);
    int rc = policy_load(&pol, argv[0], env->cfg.lua_path,
                         (size_t)env->cfg.lua_memory_limit,
                         env->cfg.lua_instruction_limit, why, sizeof why);
    if (rc == -1)
        fprintf(stderr, "mlm-ctl: %s\n", why);
    else
        for (int s = 0; s < STAGE_COUNT; s++)
            if (pol.stages & STAGE_BIT(s))
                printf("%s\n", stage_function(s));
    policy_close(&pol);
    g_mime_shutdown();
    return rc == -1 ? EXIT_FAILED : EXIT_OK;
}
