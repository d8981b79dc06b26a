/*
 * templates.c - the mail templates in mlm-ctl: the commands templates,
 * template show|set|reset, and ctl_template(), which renders a template
 * for the mails mlm-ctl sends itself (held notices, the pending summary,
 * the answers to subscription requests).
 *
 * The templates are lua/lib/mlm_templates.lua, the one place of every
 * mail text: mlm-ctl loads that file (from lua_path, as text) into a bare
 * Lua state of its own, with only the base, string, table and utf8
 * libraries, and calls its names, shipped, check, text and render. A list's own
 * versions are in the database (db.h, template_get).
 */
#include "ctl.h"
#include "db.h"
#include "xmalloc.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lua_State *templates_L; /* mlm_templates' table at index 1 */

/* The state holding mlm_templates, loaded on first use; NULL with why. */
static lua_State *templates_state(struct ctl_env *env, char *why,
                                  size_t whylen)
{
    if (templates_L)
        return templates_L;
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        snprintf(why, whylen, "no memory for Lua");
        return NULL;
    }
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_settop(L, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/mlm_templates.lua", env->cfg.lua_path);
    if (luaL_loadfilex(L, path, "t") != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        snprintf(why, whylen, "the templates (%.200s): %.250s", path,
                 lua_isstring(L, -1) ? lua_tostring(L, -1) : "not a module");
        lua_close(L);
        return NULL;
    }
    templates_L = L;
    return L;
}

/* Push mlm_templates' function fn. */
static void push_fn(lua_State *L, const char *fn)
{
    lua_getfield(L, 1, fn);
}

/* Whether name is a template; -1 when the templates do not load. */
static int template_known(struct ctl_env *env, const char *name, char *why,
                          size_t whylen)
{
    lua_State *L = templates_state(env, why, whylen);
    if (L == NULL)
        return -1;
    push_fn(L, "shipped");
    lua_pushstring(L, name);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        snprintf(why, whylen, "%s", lua_tostring(L, -1));
        lua_settop(L, 1);
        return -1;
    }
    int known = !lua_isnil(L, -1); /* the body */
    lua_settop(L, 1);
    if (!known)
        snprintf(why, whylen, "no template '%s' (mlm-ctl templates LIST: "
                 "the names)", name);
    return known;
}

/* text with each LF that no CR precedes made CRLF; the caller's. */
static char *crlf(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    char *out = xmalloc(strlen(text) + n + 1), *o = out;
    for (const char *p = text; *p; p++) {
        if (*p == '\n' && (p == text || p[-1] != '\r'))
            *o++ = '\r';
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

char *ctl_template(struct ctl_env *env, const struct list_info *list,
                   const char *name, const char *const *vars,
                   char **subject)
{
    char why[512], *version = NULL;
    if (subject)
        *subject = NULL;
    lua_State *L = templates_state(env, why, sizeof why);
    if (L == NULL) {
        fprintf(stderr, "mlm-ctl: warning: %s\n", why);
        return NULL;
    }
    if (template_get(ctl_db(env), list, name, &version, why,
                     sizeof why) == -1)
        fprintf(stderr, "mlm-ctl: warning: %s: the shipped text used\n",
                why);
    push_fn(L, "render");
    lua_pushstring(L, name);
    lua_createtable(L, 0, 8);
    char addr[700];
    snprintf(addr, sizeof addr, "%s", list->address);
    lua_pushstring(L, addr);
    lua_setfield(L, -2, "list");
    static const char *const suffixes[][2] = {
        {"request", "-request"}, {"owner", "-owner"}, {"bounces", "-bounces"}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(addr, sizeof addr, "%s%s@%s", list->name, suffixes[i][1],
                 list->domain);
        lua_pushstring(L, addr);
        lua_setfield(L, -2, suffixes[i][0]);
    }
    for (size_t i = 0; vars && vars[i] && vars[i + 1]; i += 2) {
        lua_pushstring(L, vars[i + 1]);
        lua_setfield(L, -2, vars[i]);
    }
    if (version)
        lua_pushstring(L, version);
    else
        lua_pushnil(L);
    free(version);
    if (lua_pcall(L, 3, 2, 0) != LUA_OK) {
        fprintf(stderr, "mlm-ctl: warning: template %s: %s\n", name,
                lua_tostring(L, -1));
        lua_settop(L, 1);
        return NULL;
    }
    char *body = crlf(lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    if (subject && lua_isstring(L, -2))
        *subject = xstrdup(lua_tostring(L, -2));
    lua_settop(L, 1);
    return body;
}

/* Every template name, or -1 with why. */
static int template_names(struct ctl_env *env, char ***names, size_t *n,
                          char *why, size_t whylen)
{
    lua_State *L = templates_state(env, why, whylen);
    if (L == NULL)
        return -1;
    push_fn(L, "names");
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        snprintf(why, whylen, "%s", lua_tostring(L, -1));
        lua_settop(L, 1);
        return -1;
    }
    *n = (size_t)luaL_len(L, -1);
    *names = xcalloc(*n + 1, sizeof **names);
    for (size_t i = 0; i < *n; i++) {
        lua_geti(L, -1, (lua_Integer)i + 1);
        (*names)[i] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    return 0;
}

struct own_names {
    char **names;
    size_t n;
};

static void collect_own(const char *name, void *arg)
{
    struct own_names *o = arg;
    o->names = xrealloc(o->names, (o->n + 1) * sizeof *o->names);
    o->names[o->n++] = xstrdup(name);
}

/* mlm-ctl templates LIST: each name, own or shipped, what it is. */
int cmd_templates(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    struct own_names own = {NULL, 0};
    char **names = NULL, why[512];
    size_t n = 0;
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    if (template_names(env, &names, &n, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    if (templates_each(env->db, &list, collect_own, &own, why,
                       sizeof why) == -1)
        rc = ctl_fail("%s", why);
    struct table t;
    table_init(&t, 3);
    lua_State *L = templates_L;
    for (size_t i = 0; rc == EXIT_OK && i < n; i++) {
        int mine = 0;
        for (size_t j = 0; j < own.n; j++)
            mine |= strcmp(own.names[j], names[i]) == 0;
        push_fn(L, "shipped");
        lua_pushstring(L, names[i]);
        lua_call(L, 1, 3);
        const char *about = lua_tostring(L, -1);
        const char *cells[] = {names[i], mine ? "own" : "shipped",
                               about ? about : ""};
        table_add(&t, cells);
        lua_settop(L, 1);
    }
    if (rc == EXIT_OK)
        table_print(&t, stdout);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    for (size_t j = 0; j < own.n; j++)
        free(own.names[j]);
    free(own.names);
    return rc;
}

/* mlm-ctl template show LIST NAME: the list's version (else the
 * shipped text) as a file for template set holds it. */
int cmd_template_show(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512], *version = NULL;
    const char *name = a->argv[1];
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    int known = template_known(env, name, why, sizeof why);
    if (known != 1)
        return ctl_fail("%s", why);
    if (!opt_flag(a, "shipped") &&
        template_get(env->db, &list, name, &version, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    lua_State *L = templates_L;
    if (version) {
        put_message(stdout, version, strlen(version));
        free(version);
        return EXIT_OK;
    }
    push_fn(L, "shipped");
    lua_pushstring(L, name);
    lua_call(L, 1, 2);
    push_fn(L, "text");
    lua_pushstring(L, name);
    lua_pushvalue(L, -4);
    lua_pushvalue(L, -4);
    lua_call(L, 3, 1);
    const char *text = lua_tostring(L, -1);
    put_message(stdout, text, strlen(text));
    lua_settop(L, 1);
    return EXIT_OK;
}

/* The bytes of path ("-": stdin), at most max + 1; NULL with why. */
static char *read_text(const char *path, size_t max, char *why,
                       size_t whylen)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL) {
        snprintf(why, whylen, "%s: %s (read as the daemons' user; - reads "
                 "standard input)", path, strerror(errno));
        return NULL;
    }
    char *text = xmalloc(max + 2);
    size_t n = fread(text, 1, max + 1, fp);
    int failed = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    if (failed) {
        snprintf(why, whylen, "%s: read error", path);
        free(text);
        return NULL;
    }
    if (memchr(text, '\0', n)) {
        snprintf(why, whylen, "%s: holds a NUL byte", path);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* mlm-ctl template set LIST NAME FILE: the list's own version of NAME,
 * checked (mlm_templates check) and logged. */
int cmd_template_set(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    const char *name = a->argv[1];
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    lua_State *L = templates_state(env, why, sizeof why);
    if (L == NULL)
        return ctl_fail("%s", why);
    lua_getfield(L, 1, "TEXT_MAX");
    size_t max = (size_t)lua_tointeger(L, -1);
    lua_settop(L, 1);
    char *text = read_text(a->argv[2], max, why, sizeof why);
    if (text == NULL)
        return ctl_fail("%s", why);
    push_fn(L, "check");
    lua_pushstring(L, name);
    lua_pushstring(L, text);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK || !lua_toboolean(L, -2)) {
        char *safe = safe_text(lua_tostring(L, -1) ? lua_tostring(L, -1)
                                                   : "refused", 300);
        lua_settop(L, 1);
        free(text);
        rc = ctl_fail("template %s refused: %s", name, safe);
        free(safe);
        return rc;
    }
    lua_settop(L, 1);
    if (template_set(env->db, &list, name, text, why, sizeof why) != 0)
        rc = ctl_fail("%s", why);
    else
        printf("%s: template %s set (%zu bytes)\n", list.address, name,
               strlen(text));
    free(text);
    return rc;
}

/* mlm-ctl template reset LIST NAME: back to the shipped text. */
int cmd_template_reset(struct ctl_env *env, struct ctl_args *a)
{
    struct list_info list;
    char why[512];
    const char *name = a->argv[1];
    int rc = ctl_list(env, a->argv[0], &list);
    if (rc != EXIT_OK)
        return rc;
    int known = template_known(env, name, why, sizeof why);
    if (known != 1)
        return ctl_fail("%s", why);
    if (template_reset(env->db, &list, name, why, sizeof why) != 0)
        return ctl_fail("%s", why);
    printf("%s: template %s reset to the shipped text\n", list.address,
           name);
    return EXIT_OK;
}
