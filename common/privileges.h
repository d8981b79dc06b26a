/*
 * privileges.h - giving up root for the configured `user`: the daemons
 * after binding their sockets, mlm-ctl before it opens the database or
 * loads a policy. One way, checked: once switched, root cannot be regained.
 */
#ifndef MLM_PRIVILEGES_H
#define MLM_PRIVILEGES_H

#include <stddef.h>
#include <sys/types.h>

/* The uid/gid of user, for chown of sockets before dropping. 0 or -1. */
int user_ids(const char *user, uid_t *uid, gid_t *gid);

/*
 * Become user (its groups, gid, uid) when running as root; as anyone else,
 * with no user, or when user is root itself, nothing changes. 1 switched, 0 nothing to do, -1 with
 * why (no such user, a call failed, or root could be regained).
 */
int privileges_switch(const char *user, char *why, size_t whylen);

/* privileges_switch for a daemon: fatal on error, and a warning when it
 * stays root (no user) or stays another user than the configured one. */
void privileges_drop(const char *user);

#endif
