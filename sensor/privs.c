/* privs.c: drop root once the capture handle is open (-Z USER), with libcap-ng rather than
 * hand-written setresuid/capset sequences: it orders the group, user and capability changes
 * correctly, clears the bounding set and keeps no capability in any thread. Also the checks
 * around the drop: files made as root handed to USER, and what USER must still be able to reach
 * (the spool directory, a Redis unix socket), refused at start rather than failing later. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
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

int bw_privs_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "cannot drop privileges: no user '%s'", user);
        return BW_EINVAL;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int bw_privs_give(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    /* never follow a link: only the file or directory this run made or owns is handed over */
    if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        snprintf(err, errlen, "cannot hand '%s' to uid %u: %s", path, (unsigned)uid, strerror(errno));
        return BW_EIO;
    }
    return 0;
}

int bw_privs_check_dir(const char *dir, const char *user, char *err, size_t errlen)
{
    /* access() checks the real ids: after the drop those are USER's, ACLs included */
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "--spool %s: user '%s' cannot create and remove files there (%s); "
                 "chown it to %s or choose another directory", dir, user, strerror(errno), user);
        return BW_EINVAL;
    }
    return 0;
}

int bw_privs_check_unix_socket(const char *path, const char *user, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) return 0;       /* the URL parser refused it already */
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;                                   /* not a permission question */
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    /* Missing or refused: Redis is down and may come back. Permission: it never will for USER. */
    if (rc != 0 && (e == EACCES || e == EPERM)) {
        snprintf(err, errlen, "--redis unix://%s: user '%s' may not connect to the socket (%s); "
                 "add %s to the socket's group or use another -Z user", path, user, strerror(e), user);
        return BW_EINVAL;
    }
    return 0;
}
