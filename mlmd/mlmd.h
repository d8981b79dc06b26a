/*
 * mlmd.h - what the parts of mlmd share: the read-only configuration, the
 * connection to the multiplexor, the spool and the milter callbacks.
 */
#ifndef MLMD_H
#define MLMD_H

#include "mlmconf.h"
#include "proto.h"

#include <libmilter/mfapi.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* params.c: set once in main before smfi_main; read-only afterwards. */
extern const struct mlm_config *mlmd_cfg;

/* The milter description (callbacks.c). */
extern struct smfiDesc mlmd_milter;
/* Connections between their first callback and xxfi_close (callbacks.c). */
int milter_connections_open(void);

/* --- run.c: libmilter's loop, stopped at once by SIGTERM, SIGHUP, SIGINT --- */
int milter_listen_fd(void);
void milter_run_prepare(void);
int milter_run(void);

/* --- mxclient.c: persistent connections to the multiplexor --- */
void mx_init(const char *socket_path, int timeout_seconds);
/* Ask for a decision. 0 with rep filled, -1 with why (rep is ACT_FAILED). */
int mx_ask(const struct mlm_request *req, struct mlm_reply *rep, char *why,
           size_t whylen);
/* Stages the loaded policy defines; every stage when unknown. */
uint32_t mx_stage_mask(void);
void mx_shutdown(void);

/* --- macros.c: ctx.macros, each read once per connection, message or RCPT --- */
#define MACROS_CONN 7        /* j, _, {daemon_*}, {client_*} */
#define MACROS_MSG 5         /* {auth_type}, {auth_authen}, TLS, {mail_addr} */
#define MACROS_SCOPE_MAX 7   /* the larger of the two */
struct macro_cache {
    char *value[MACROS_SCOPE_MAX]; /* copies; NULL: the MTA did not send it */
    int filled;
};
struct macro_scopes {
    struct macro_cache *conn;
    struct macro_cache *msg;       /* NULL before MAIL */
    const char *qid;               /* "i", when known */
};
void macros_fill(SMFICTX *ctx, const struct macro_scopes *scopes,
                 enum mlm_stage stage, struct mlm_strv *out);
void macro_cache_clear(struct macro_cache *cache);

/* --- spool.c: one file per transaction under spool_dir, reused --- */
struct spool {
    FILE *fp;
    char *path;
    char *body_path;     /* path + ".body": where the worker writes a new body */
    uint64_t size;       /* bytes of this transaction's message */
    uint64_t file_size;  /* bytes in the file, from an earlier one if reused */
    time_t idle_since;   /* in the pool since (monotonic seconds) */
    int failed;          /* a write failed: the message gets failure_action */
    int in_doubt;        /* a worker may still read or write it: never reuse */
};
int spool_open(struct spool *sp, const char *dir, const char *qid);
void spool_header(struct spool *sp, const char *name, const char *value);
void spool_end_of_headers(struct spool *sp);
void spool_body(struct spool *sp, const unsigned char *data, size_t len);
int spool_finish(struct spool *sp);          /* flush; 0 or -1 */
/* The transaction is over: empty the files for reuse, or remove them. */
void spool_remove(struct spool *sp);
void spool_pool_start(void);                 /* the janitor of idle files */
void spool_pool_drain(void);                 /* at exit: remove pooled files */

/* --- esmtp.c: DSN parameters of envelope changes (new strings) --- */
/* "ORCPT=rfc822;MEMBER"; NULL when the address cannot be given as one. */
char *esmtp_rcpt_args(const char *member);
/* "RET=HDRS ENVID=QID", or "RET=HDRS" while the queue id is unknown. */
char *esmtp_sender_args(const char *qid);

/* --- apply.c: turn a reply into milter actions --- */
/* Which envelope changes get DSN parameters (esmtp.c). */
enum dsn_use {
    DSN_NONE,       /* dsn_parameters no, or auto with another MTA */
    DSN_SENDER,     /* RET and ENVID only: SMFIF_ADDRCPT_PAR not agreed */
    DSN_ALL,        /* and ORCPT on each recipient added */
};
/* body_path: the only file a body change may name (NULL before EOM). */
sfsistat apply_reply(SMFICTX *ctx, const char *qid, enum mlm_stage stage,
                     const struct mlm_reply *rep, const char *body_path,
                     enum dsn_use dsn);
sfsistat apply_failure(SMFICTX *ctx, const char *qid, enum mlm_stage stage,
                       const char *why);

#endif
