/* bw_sandbox.h: confine the sensor once it runs as the unprivileged user (-Z): no new privileges
 * (PR_SET_NO_NEW_PRIVS) and a seccomp allow-list of system calls, in every thread. sandbox.c is
 * the only libseccomp user, and its allow-list is the one place that says which calls the
 * sensor makes after the privilege drop. */
#ifndef BW_SANDBOX_H
#define BW_SANDBOX_H

#include <stddef.h>
#include "bw_err.h"

enum bw_sandbox_mode {
    BW_SANDBOX_KILL = 0,   /* default: a call outside the list ends the process (SIGSYS) */
    BW_SANDBOX_LOG  = 1,   /* a call outside the list is allowed and logged by the kernel */
    BW_SANDBOX_OFF  = 2,   /* no seccomp filter (PR_SET_NO_NEW_PRIVS is still set) */
};

/* Set PR_SET_NO_NEW_PRIVS, then (unless mode is OFF) load the allow-list into every thread of the
 * process (threads started earlier included, SECCOMP_FILTER_FLAG_TSYNC). Call after the privilege
 * drop and after everything that opens sockets of other families or needs privilege.
 * *ncalls (may be NULL) gets the number of system calls allowed. Returns 0, or BW_EIO with one
 * line in err. */
int bw_sandbox_enter(enum bw_sandbox_mode mode, size_t *ncalls, char *err, size_t errlen) BW_WARN_UNUSED;

#endif
