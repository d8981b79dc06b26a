/*
 * privileges.c - giving up root (privileges.h).
 */
#include "privileges.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int user_ids(const char *user, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int privileges_switch(const char *user, char *why, size_t whylen)
{
    if (geteuid() != 0 || user == NULL || *user == '\0')
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(why, whylen, "user '%s' does not exist", user);
        return -1;
    }
    if (pw->pw_uid == 0)
        return 0; /* root already: nothing to give up */
    if (setgroups(0, NULL) == -1 || initgroups(user, pw->pw_gid) == -1 ||
        setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
        snprintf(why, whylen, "cannot become user %s: %s", user,
                 strerror(errno));
        return -1;
    }
    if (setuid(0) != -1) {
        snprintf(why, whylen, "privileges not dropped: could regain root");
        return -1;
    }
    return 1;
}

void privileges_drop(const char *user)
{
    char why[256];
    if (user == NULL || *user == '\0') {
        if (geteuid() == 0)
            msg_warn("no user configured: running as root");
        return;
    }
    if (geteuid() != 0) {
        uid_t uid;
        gid_t gid;
        if (user_ids(user, &uid, &gid) == -1)
            msg_fatal("user '%s' does not exist", user);
        if (geteuid() != uid)
            msg_warn("not root: cannot switch to user '%s', staying uid %ld",
                     user, (long)geteuid());
        return;
    }
    uid_t uid;
    gid_t gid;
    if (user_ids(user, &uid, &gid) == 0 && uid == 0)
        msg_fatal("user '%s' is root: a daemon gives up root after binding; "
                  "configure an unprivileged user", user);
    if (privileges_switch(user, why, sizeof why) == -1)
        msg_fatal("%s", why);
    msg_info("running as user %s (uid %ld)", user, (long)getuid());
}
