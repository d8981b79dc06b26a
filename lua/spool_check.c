/*
 * spool_check.c - a request's spool path confined to spool_dir.
 *
 * Whoever can write a request names the file the worker reads (and writes
 * its replaced body beside, path + ".body"). The worker takes only a
 * regular file, not a symbolic link, whose directory is spool_dir itself
 * once both are resolved (symbolic links, "..", "//"); anything else fails
 * the request. Called by policy_run for the message stage.
 */
#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int spool_path_check(const char *path, const char *spool_dir, char *why,
                     size_t whylen)
{
    struct stat st;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (path == NULL || *path == '\0' || slash == NULL || slash[1] == '\0') {
        snprintf(why, whylen, "no spool file named in the request");
        return -1;
    }
    if (lstat(path, &st) == -1) {
        snprintf(why, whylen, "spool file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "spool file %s is not a regular file", path);
        return -1;
    }
    char dir[PATH_MAX], real_dir[PATH_MAX], real_spool[PATH_MAX];
    size_t dir_len = (size_t)(slash - path);
    if (dir_len >= sizeof dir) {
        snprintf(why, whylen, "spool path too long");
        return -1;
    }
    memcpy(dir, path, dir_len);
    dir[dir_len] = '\0';
    /* Named as spool_dir itself (as mlmd names every spool file): in it
     * by definition, whatever links spool_dir's path goes through. */
    if (strcmp(dir, spool_dir) == 0)
        return 0;
    if (realpath(dir_len ? dir : "/", real_dir) == NULL ||
        realpath(spool_dir, real_spool) == NULL ||
        strcmp(real_dir, real_spool) != 0) {
        snprintf(why, whylen, "spool file %s is not in spool_dir %s", path,
                 spool_dir);
        return -1;
    }
    return 0;
}
