/*
 * config.h - mlm.conf, read by every mlm program.
 *
 * One `key = value` per line, `#` starts a comment. Unknown keys and bad
 * values are errors naming the file, the line and the key. The parsed
 * struct is read-only after start-up (shared by mlmd's threads).
 */
#ifndef MLM_CONFIG_H
#define MLM_CONFIG_H

#include <stddef.h>

enum failure_action { FAILURE_TEMPFAIL, FAILURE_ACCEPT };
/* dsn_parameters: ORCPT, RET and ENVID on envelope changes (mlmd/esmtp.c) */
enum dsn_parameters { DSN_AUTO, DSN_YES, DSN_NO };

struct mlm_config {
    char *milter_socket;
    char *mx_socket;
    char *ctl_socket;
    char *spool_dir;
    char *database;
    char *secret_file;         /* the installation secret (secret.h) */
    char *policy;
    char *lua_path;            /* directory of the shipped Lua library */
    char *worker_program;      /* the mlm-worker binary the pool starts */
    char *sendmail;
    char *user;
    int workers_min;
    int workers_max;
    int worker_max_requests;
    int worker_idle_timeout;   /* seconds */
    int request_timeout;       /* seconds */
    int decision_timeout;      /* seconds mlmd waits for one answer */
    int outbox_retry;          /* seconds before generated mail that
                                  sendmail refused is tried again */
    int queue_max;
    int queue_timeout;         /* seconds */
    long lua_instruction_limit;
    long lua_memory_limit;     /* bytes */
    long worker_memory_limit;  /* bytes of address space (RLIMIT_AS), 0 none */
    long mime_max_parts;       /* MIME entities in one message, 0 no limit */
    long mime_max_depth;       /* multipart/message nesting, 0 no limit */
    long mime_max_headers;     /* header fields, all parts, 0 no limit */
    enum failure_action failure_action;
    long expand_max;           /* recipients one reply may add, 0 no limit */
    enum dsn_parameters dsn_parameters; /* auto: for Postfix only */
    int spool_idle_timeout;    /* seconds a kept spool file may stay idle */
    char *dns_resolver;        /* "": /etc/resolv.conf; else forwarders */
    int dns_timeout;           /* seconds for all DNS of one post */
    char *authserv_id;         /* "": the host name */
};

/* SYSCONFDIR/mlm/mlm.conf, fixed at build time. */
extern const char *const config_default_path;

/* Fill cfg with the defaults of the contract (doc/ARCHITECTURE.md). */
void config_defaults(struct mlm_config *cfg);

/*
 * Read path over the defaults. A missing file is an error only when
 * must_exist (an explicit -C). Returns 0, or -1 with why filled.
 */
int config_load(struct mlm_config *cfg, const char *path, int must_exist,
                char *why, size_t whylen);

/* The same over text in memory (tests, fuzzing); name labels errors. */
int config_load_buffer(struct mlm_config *cfg, const char *text, size_t len,
                       const char *name, char *why, size_t whylen);

/* Set one key as if read from a file (command-line overrides). */
int config_set(struct mlm_config *cfg, const char *key, const char *value,
               char *why, size_t whylen);

void config_free(struct mlm_config *cfg);

#endif
