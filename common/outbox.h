/*
 * outbox.h - mail the policy generated, kept on disk until the MTA took it.
 *
 * A worker never runs the sendmail command itself (inject.h says why).
 * mlm.sendmail in a worker writes the message and its envelope to a file
 * in the outbox, SPOOL_DIR/outbox, and the worker's reply carries
 * REPLY_OUTBOX; the multiplexor then runs `mlm-worker -O`, which hands the
 * files to sendmail outside any request (outbox_drain), and runs it again
 * every outbox_retry seconds (config) while files wait.
 *
 * A file is written in tmp/, synced and linked into new/ (never over
 * another), so every file in new/ is complete. A drain holds a lock on the
 * outbox (one at a time) and moves each file to cur/ while sendmail runs:
 * removed once sendmail took it, back to new/ when it refused. A file
 * still refused 5 days after it was made, or that cannot be read as an
 * outbox file, moves to failed/ and an error is logged; nothing is deleted
 * unsent. A failed attempt is retried after a pause as long as the file's
 * age, at least outbox_retry and at most an hour. Delivery is at least
 * once: what a drain that was killed while sending left in cur/ goes back
 * to new/ and is sent again. An outbox that cannot be written sends
 * nothing (the drain stops) rather than the same mail at every run.
 *
 * File format: "mlm-outbox 1\n", "sender ADDRESS\n" (empty for the null
 * sender), one "recipient ADDRESS\n" per recipient (1 to OUTBOX_RCPT_MAX),
 * "\n", then the message as sendmail is to read it. The name,
 * SECONDS.PID.SEQ, sorts in the order the files were made.
 */
#ifndef MLM_OUTBOX_H
#define MLM_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OUTBOX_GIVE_UP_S (5 * 86400)     /* as an MTA's queue lifetime */
#define OUTBOX_RCPT_MAX 10000
#define OUTBOX_FILE_MAX (128u << 20)      /* bytes in one outbox file */
#define OUTBOX_RUN_MS 300000              /* one drain: the rest waits */

/* Create SPOOL_DIR/outbox and its tmp/, new/, failed/ (mode 0700, owned by
 * uid:gid when run as root). 0, or -1 with why. */
int outbox_prepare(const char *spool_dir, uid_t uid, gid_t gid, char *why,
                   size_t whylen);

/* Put one message in the outbox (durably: synced before it is in new/).
 * Addresses must pass inject_address_ok(); sender may be "" (null).
 * 0, or -1 with why (nothing left behind). */
int outbox_put(const char *spool_dir, const char *sender,
               const char *const *recipients, size_t n, const char *msg,
               size_t len, char *why, size_t whylen);

/*
 * Hand every file that is due to `command`, oldest first, each within
 * send_timeout_ms, the whole run within OUTBOX_RUN_MS; retry_s is the
 * least pause after a failed attempt. Logs each file's fate. 0: the
 * outbox is empty; 1: files wait (failed or not yet due); -1: the outbox
 * cannot be read.
 */
int outbox_drain(const char *spool_dir, const char *command,
                 int64_t send_timeout_ms, int retry_s);

/*
 * The deadline of one submission: a submission program that delivers at
 * once waits for mlm's own decision on the message (decision_timeout),
 * in the worst case for each of the two stages that may wait on it.
 */
#define OUTBOX_SEND_TIMEOUT_MS(decision_timeout) \
    (((int64_t)(decision_timeout) * 2 + 10) * 1000)

/* Files in SPOOL_DIR/outbox/SUB ("new", "cur" or "failed"); -1: cannot
 * read. */
long outbox_count(const char *spool_dir, const char *sub);
/* Mail not yet taken by sendmail: new/ and cur/ (being sent). */
long outbox_waiting(const char *spool_dir);

#endif
