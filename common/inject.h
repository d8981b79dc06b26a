/*
 * inject.h - handing a message to the MTA through the configured
 * `sendmail` command, under a deadline. mlm-ctl (an approved post, its
 * notices) and the outbox drainer (mail the policy generated) use it; a
 * worker never does: a submission program that delivers interactively
 * (Sendmail's) comes back to mlm for a decision, which needs a worker.
 */
#ifndef MLM_INJECT_H
#define MLM_INJECT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Run command (split on blanks: no shell, no quoting) with the arguments
 * extra appended, write first_header (may be NULL) and then raw to its
 * standard input, and wait for it to exit 0, all within timeout_ms. A
 * command still running at the deadline is killed with its process
 * group. Returns 0, or -1 with a one-line reason in why (the first line
 * of what the command printed, made safe to log).
 *
 * extra is NULL or the envelope, NULL-terminated: "-f", the sender ("" or
 * "<>" for the null sender), then the recipients (inject_args builds it).
 * Every address in it must pass inject_address_ok, so that none is taken
 * for an option (an address may start with '-'); otherwise nothing is run
 * and -1 says which address.
 */
int inject_message(const char *command, const char *const *extra,
                   const char *first_header, const void *raw, size_t rawlen,
                   int64_t timeout_ms, char *why, size_t whylen);

/* The arguments for a message from sender (NULL or "": the null sender,
 * written "<>") to recipients: "-f", sender, the recipients, NULL.
 * Free the array only (the strings stay the caller's). */
const char **inject_args(const char *sender, const char *const *recipients,
                         size_t n);

/* An address safe on a command line: valid, and not an option. */
int inject_address_ok(const char *address);

#endif
