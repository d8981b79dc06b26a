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

/* Set once in main before smfi_main; read-only afterwards. */
extern const struct mlm_config *mlmd_cfg;

/* The milter description (callbacks.c). */
extern struct smfiDesc mlmd_milter;

/* --- mxclient.c: persistent connections to the multiplexor --- */
void mx_init(const char *socket_path, int timeout_seconds);
/* Ask for a decision. 0 with rep filled, -1 with why (rep is ACT_FAILED). */
int mx_ask(const struct mlm_request *req, struct mlm_reply *rep, char *why,
           size_t whylen);
/* Stages the loaded policy defines; every stage when unknown. */
uint32_t mx_stage_mask(void);
void mx_shutdown(void);

/* --- spool.c: one file per transaction under spool_dir --- */
struct spool {
    FILE *fp;
    char *path;
    uint64_t size;
    int failed;          /* a write failed: the message gets failure_action */
};
int spool_open(struct spool *sp, const char *dir, const char *qid);
void spool_header(struct spool *sp, const char *name, const char *value);
void spool_end_of_headers(struct spool *sp);
void spool_body(struct spool *sp, const unsigned char *data, size_t len);
int spool_finish(struct spool *sp);          /* flush; 0 or -1 */
void spool_remove(struct spool *sp);         /* unlink and forget */

/* --- apply.c: turn a reply into milter actions --- */
sfsistat apply_reply(SMFICTX *ctx, const char *qid, enum mlm_stage stage,
                     const struct mlm_reply *rep);
sfsistat apply_failure(SMFICTX *ctx, const char *qid, enum mlm_stage stage,
                       const char *why);

#endif
