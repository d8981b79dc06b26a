/*
 * policy.h - one loaded policy file in one lua_State, with the sandbox and
 * the per-request limits. Used by mlm-worker (one per process, long-lived)
 * and by mlm-ctl check/try.
 */
#ifndef MLM_POLICY_H
#define MLM_POLICY_H

#include "proto.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#define LIMIT_MEMORY 1
#define LIMIT_INSTRUCTIONS 2
/* The instruction hook runs every HOOK_EVERY Lua instructions: the
 * instruction limit is counted, and checked, in steps of this many. */
#define HOOK_EVERY 1000
#define UDATA_TYPES_MAX 8

struct policy {
    lua_State *L;
    char *path;
    uint32_t stages;        /* STAGE_BIT of each filter_* function defined */
    size_t mem_used;
    size_t mem_limit;       /* 0: no limit */
    long insn_limit;        /* instructions per request; 0: no limit */
    long insn_count;
    int limit_hit;          /* LIMIT_MEMORY or LIMIT_INSTRUCTIONS hit in
                               this request, or 0 */
    int worn_out;           /* too much memory held between requests: the
                               worker should be replaced */
    int in_request;         /* limits are enforced only while set */
    /* udata.c: each userdata type's metatable, by its name's address */
    const char *udata_name[UDATA_TYPES_MAX];
    const void *udata_mt[UDATA_TYPES_MAX];
    int udata_types;
};

/*
 * Create the state and load path (text only, never bytecode), run it, and
 * init() when defined. lua_dir holds the shipped Lua library (require).
 * Returns 0, or -1 with the Lua error (file:line: message) in why.
 */
int policy_load(struct policy *p, const char *path, const char *lua_dir,
                size_t mem_limit, long insn_limit, char *why, size_t whylen);

/*
 * Run the stage function for req. Fills rep with the decision and any
 * changes; a Lua error, a bad return value or a limit gives ACT_FAILED with
 * the reason in rep->text and in why. At the message stage the spooled
 * message must be in spool_dir (spool_path_check), or the request fails
 * before the policy runs. Returns 0 or -1.
 */
int policy_run(struct policy *p, const struct mlm_request *req,
               struct mlm_reply *rep, const char *spool_dir, char *why,
               size_t whylen);

void policy_close(struct policy *p);

/*
 * spool_check.c: whether path is a regular file (not a symbolic link)
 * directly in spool_dir, both resolved. 0, or -1 with why.
 */
int spool_path_check(const char *path, const char *spool_dir, char *why,
                     size_t whylen);

/* The policy behind a lua_State (kept in its extra space). Inline: the
 * userdata helpers below policy.c (udata.c) read it without calling up. */
static inline struct policy *policy_of(lua_State *L)
{
    return *(struct policy **)lua_getextraspace(L);
}

/* auth_lua.c. Bytes of an Authentication-Results value mlm writes, with its NUL. */
#define AUTH_RESULTS_MAX 2048
/* The Authentication-Results value of the last post whose ctx.auth was
 * read in this process ("" when none since auth_results_forget): what
 * mlm-ctl try prints. */
const char *auth_results_last(void);
void auth_results_forget(void);

#endif
