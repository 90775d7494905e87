/* bw_privs.h: give up root after the capture is open. privs.c is the only libcap-ng user. */
#ifndef BW_PRIVS_H
#define BW_PRIVS_H

#include <stddef.h>
#include "bw_err.h"

/* Switch to `user` (its uid, gid and supplementary groups) and keep no capability at all, in
 * every thread. Returns 0, or BW_EINVAL / BW_EIO with err saying why. */
int bw_privs_drop(const char *user, char *err, size_t errlen) BW_WARN_UNUSED;

#endif
