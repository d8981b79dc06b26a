/*
 * config.c - the mlm.conf parser. One table describes every key: its
 * type, where it lives in struct mlm_config and its default, so parsing,
 * defaults and error messages cannot drift apart.
 */
#include "mlmconf.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MLM_SYSCONFDIR
#define MLM_SYSCONFDIR "/etc"
#endif
#ifndef MLM_LUADIR
#define MLM_LUADIR "/usr/share/mlm/lua"
#endif
#ifndef MLM_WORKER
#define MLM_WORKER "/usr/lib/mlm/mlm-worker"
#endif

const char *const config_default_path = MLM_SYSCONFDIR "/mlm/mlm.conf";

enum key_type {
    KEY_STRING,
    KEY_COUNT,      /* a plain number (int) */
    KEY_LIMIT,      /* a plain number (long), 0 meaning no limit */
    KEY_SECONDS,    /* s, m or h */
    KEY_BYTES,      /* K, M or G: powers of 1024 */
    KEY_FAILURE,
    KEY_DSN,
};

struct key_def {
    const char *name;
    enum key_type type;
    size_t offset;
    const char *dflt;
};

#define OFF(field) offsetof(struct mlm_config, field)

static const struct key_def key_defs[] = {
    {"milter_socket", KEY_STRING, OFF(milter_socket),
     "unix:/run/mlm/milter.sock"},
    {"mx_socket", KEY_STRING, OFF(mx_socket), "/run/mlm/mx.sock"},
    {"ctl_socket", KEY_STRING, OFF(ctl_socket), "/run/mlm/ctl.sock"},
    {"spool_dir", KEY_STRING, OFF(spool_dir), "/var/spool/mlm"},
    {"database", KEY_STRING, OFF(database), "/var/lib/mlm/mlm.db"},
    {"secret_file", KEY_STRING, OFF(secret_file), "/var/lib/mlm/secret"},
    {"policy", KEY_STRING, OFF(policy), MLM_SYSCONFDIR "/mlm/policy.lua"},
    {"lua_path", KEY_STRING, OFF(lua_path), MLM_LUADIR},
    {"worker_program", KEY_STRING, OFF(worker_program), MLM_WORKER},
    {"sendmail", KEY_STRING, OFF(sendmail), "/usr/sbin/sendmail -i"},
    {"outbox_retry", KEY_SECONDS, OFF(outbox_retry), "60"},
    {"user", KEY_STRING, OFF(user), "mlm"},
    {"workers_min", KEY_COUNT, OFF(workers_min), "2"},
    {"workers_max", KEY_COUNT, OFF(workers_max), "8"},
    {"worker_max_requests", KEY_COUNT, OFF(worker_max_requests), "1000"},
    {"worker_idle_timeout", KEY_SECONDS, OFF(worker_idle_timeout), "300"},
    {"request_timeout", KEY_SECONDS, OFF(request_timeout), "30"},
    {"decision_timeout", KEY_SECONDS, OFF(decision_timeout), "25"},
    {"queue_max", KEY_COUNT, OFF(queue_max), "200"},
    {"queue_timeout", KEY_SECONDS, OFF(queue_timeout), "10"},
    {"lua_instruction_limit", KEY_LIMIT, OFF(lua_instruction_limit),
     "100000000"},
    {"lua_memory_limit", KEY_BYTES, OFF(lua_memory_limit), "256M"},
    {"worker_memory_limit", KEY_BYTES, OFF(worker_memory_limit), "1G"},
    {"mime_max_parts", KEY_LIMIT, OFF(mime_max_parts), "10000"},
    {"mime_max_depth", KEY_LIMIT, OFF(mime_max_depth), "100"},
    {"mime_max_headers", KEY_LIMIT, OFF(mime_max_headers), "50000"},
    {"failure_action", KEY_FAILURE, OFF(failure_action), "tempfail"},
    {"expand_max", KEY_LIMIT, OFF(expand_max), "0"},
    {"dsn_parameters", KEY_DSN, OFF(dsn_parameters), "auto"},
    {"spool_idle_timeout", KEY_SECONDS, OFF(spool_idle_timeout), "60"},
    {"dns_resolver", KEY_STRING, OFF(dns_resolver), ""},
    {"dns_timeout", KEY_SECONDS, OFF(dns_timeout), "5"},
    {"authserv_id", KEY_STRING, OFF(authserv_id), ""},
};

#define NKEYS (sizeof key_defs / sizeof key_defs[0])

static const struct key_def *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(key_defs[i].name, name) == 0)
            return &key_defs[i];
    return NULL;
}

/* A non-negative integer with an optional unit suffix from units. */
static int parse_scaled(const char *value, const char *units,
                        const long *scales, long *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*value))
        return -1;
    long long n = strtoll(value, &end, 10);
    if (errno || n < 0)
        return -1;
    long scale = 1;
    if (*end) {
        const char *u = strchr(units, *end);
        if (u == NULL || end[1] != '\0')
            return -1;
        scale = scales[u - units];
    }
    if (n > LONG_MAX / scale)
        return -1;
    *out = (long)(n * scale);
    return 0;
}

static int key_apply(struct mlm_config *cfg, const struct key_def *k,
                     const char *value)
{
    static const long time_scales[] = {1, 60, 3600};
    static const long byte_scales[] = {1024, 1024 * 1024, 1024L * 1024 * 1024};
    void *field = (char *)cfg + k->offset;
    long n;

    switch (k->type) {
    case KEY_STRING:
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case KEY_COUNT:
        if (parse_scaled(value, "", NULL, &n) == -1 || n > INT_MAX)
            return -1;
        *(int *)field = (int)n;
        return 0;
    case KEY_LIMIT:
        if (parse_scaled(value, "", NULL, &n) == -1)
            return -1;
        *(long *)field = n;
        return 0;
    case KEY_SECONDS:
        if (parse_scaled(value, "smh", time_scales, &n) == -1 || n > INT_MAX)
            return -1;
        *(int *)field = (int)n;
        return 0;
    case KEY_BYTES:
        if (parse_scaled(value, "KMG", byte_scales, &n) == -1)
            return -1;
        *(long *)field = n;
        return 0;
    case KEY_FAILURE:
        if (strcmp(value, "tempfail") == 0)
            cfg->failure_action = FAILURE_TEMPFAIL;
        else if (strcmp(value, "accept") == 0)
            cfg->failure_action = FAILURE_ACCEPT;
        else
            return -1;
        return 0;
    case KEY_DSN:
        if (strcmp(value, "auto") == 0)
            cfg->dsn_parameters = DSN_AUTO;
        else if (strcmp(value, "yes") == 0)
            cfg->dsn_parameters = DSN_YES;
        else if (strcmp(value, "no") == 0)
            cfg->dsn_parameters = DSN_NO;
        else
            return -1;
        return 0;
    }
    return -1;
}

void config_defaults(struct mlm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++)
        if (key_apply(cfg, &key_defs[i], key_defs[i].dflt) == -1)
            abort(); /* a bad default is a bug in the table above */
}

int config_set(struct mlm_config *cfg, const char *key, const char *value,
               char *why, size_t whylen)
{
    const struct key_def *k = key_find(key);
    if (k == NULL) {
        snprintf(why, whylen, "unknown key '%s'", key);
        return -1;
    }
    if (key_apply(cfg, k, value) == -1) {
        snprintf(why, whylen, "bad value '%s' for key '%s'", value, key);
        return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One line of the file: blank, comment, or key = value. */
static int config_line(struct mlm_config *cfg, char *line, char *why,
                       size_t whylen)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *s = trim(line);
    if (*s == '\0')
        return 0;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        snprintf(why, whylen, "expected 'key = value'");
        return -1;
    }
    *eq = '\0';
    return config_set(cfg, trim(s), trim(eq + 1), why, whylen);
}

/* Values that parse but would make every request fail. */
static int config_checks(const struct mlm_config *cfg, char *why,
                         size_t whylen)
{
    if (cfg->workers_min < 1 || cfg->workers_max < cfg->workers_min) {
        snprintf(why, whylen, "need 1 <= workers_min <= workers_max");
        return -1;
    }
    if (cfg->request_timeout < 1 || cfg->decision_timeout < 1 ||
        cfg->queue_timeout < 1 || cfg->worker_max_requests < 1) {
        snprintf(why, whylen, "request_timeout, decision_timeout, "
                 "queue_timeout and worker_max_requests must be 1 or more");
        return -1;
    }
    return 0;
}

/* Parse lines from fp; name is the file name for messages. */
static int config_parse(struct mlm_config *cfg, FILE *fp, const char *name,
                        char *why, size_t whylen)
{
    char line[4096], reason[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, fp)) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            snprintf(why, whylen, "%s:%d: line too long", name, lineno);
            rc = -1;
        } else if (config_line(cfg, line, reason, sizeof reason) == -1) {
            snprintf(why, whylen, "%s:%d: %s", name, lineno, reason);
            rc = -1;
        }
    }
    if (rc == 0 && config_checks(cfg, reason, sizeof reason) == -1) {
        snprintf(why, whylen, "%s: %s", name, reason);
        rc = -1;
    }
    return rc;
}

int config_load(struct mlm_config *cfg, const char *path, int must_exist,
                char *why, size_t whylen)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        if (!must_exist && errno == ENOENT)
            return config_checks(cfg, why, whylen);
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = config_parse(cfg, fp, path, why, whylen);
    fclose(fp);
    return rc;
}

int config_load_buffer(struct mlm_config *cfg, const char *text, size_t len,
                       const char *name, char *why, size_t whylen)
{
    FILE *fp = fmemopen((void *)text, len, "r");
    if (fp == NULL) {
        snprintf(why, whylen, "%s: %s", name, strerror(errno));
        return -1;
    }
    int rc = config_parse(cfg, fp, name, why, whylen);
    fclose(fp);
    return rc;
}

void config_free(struct mlm_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (key_defs[i].type == KEY_STRING)
            free(*(char **)((char *)cfg + key_defs[i].offset));
    memset(cfg, 0, sizeof *cfg);
}
