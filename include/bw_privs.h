/* bw_privs.h: give up root after the capture is open. privs.c is the only libcap-ng user. */
#ifndef BW_PRIVS_H
#define BW_PRIVS_H

#include <stddef.h>
#include <sys/types.h>
#include "bw_err.h"

/* Switch to `user` (its uid, gid and supplementary groups) and keep no capability at all, in
 * every thread. Returns 0, or BW_EINVAL / BW_EIO with err saying why. */
int bw_privs_drop(const char *user, char *err, size_t errlen) BW_WARN_UNUSED;

/* USER's uid and primary gid. Returns 0 or BW_EINVAL (no such user). */
int bw_privs_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen) BW_WARN_UNUSED;
/* Before the drop: make a file or directory this run created belong to uid:gid (links are not
 * followed). Returns 0 or BW_EIO. */
int bw_privs_give(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen) BW_WARN_UNUSED;
/* After the drop: can this process (now USER) create and remove files in dir? 0 or BW_EINVAL. */
int bw_privs_check_dir(const char *dir, const char *user, char *err, size_t errlen) BW_WARN_UNUSED;
/* After the drop: refuse a unix socket USER has no permission to connect to (BW_EINVAL); a missing
 * socket or a refused connection is Redis being down, which is not an error (0). */
int bw_privs_check_unix_socket(const char *path, const char *user, char *err, size_t errlen) BW_WARN_UNUSED;

#endif
