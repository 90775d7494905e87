/* privs.c: drop root once the capture handle is open (-Z USER), with libcap-ng rather than
 * hand-written setresuid/capset sequences: it orders the group, user and capability changes
 * correctly, clears the bounding set and keeps no capability in any thread. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cap-ng.h>
#include "bw_privs.h"

int bw_privs_drop(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "cannot drop privileges: no user '%s'", user);
        return BW_EINVAL;
    }
    if (geteuid() != 0) {
        snprintf(err, errlen, "cannot drop privileges to '%s': not running as root", user);
        return BW_EINVAL;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0) {
        snprintf(err, errlen, "cannot drop privileges to '%s': initgroups: %s", user, strerror(errno));
        return BW_EIO;
    }
    capng_clear(CAPNG_SELECT_BOTH);                 /* keep nothing: the socket is already open */
    int rc = capng_change_id((int)pw->pw_uid, (int)pw->pw_gid, CAPNG_CLEAR_BOUNDING);
    if (rc != 0) {
        snprintf(err, errlen, "cannot drop privileges to '%s': libcap-ng change_id failed (%d)", user, rc);
        return BW_EIO;
    }
    /* Belt and braces: a process that could regain root must not go on capturing. */
    if (setuid(0) == 0 || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
        snprintf(err, errlen, "cannot drop privileges to '%s': root could be regained", user);
        return BW_EIO;
    }
    return 0;
}
