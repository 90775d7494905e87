/* sandbox.c: the seccomp allow-list of the unprivileged sensor (-Z), with libseccomp (Debian's
 * libseccomp2): it resolves call names per architecture, builds the BPF program, and loads it into
 * every thread at once (TSYNC), which a hand-written filter would have to get right by itself.
 *
 * The list below is the one place that names the system calls the sensor makes after the drop:
 * reading packets (poll, getsockopt for the kernel counters), writing and reopening its files,
 * the Redis writer thread (connect, reconnect, name lookups, the spool), timers and signals, and
 * what glibc, libpcap, nDPI, OpenSSL and hiredis do underneath. Whoever adds work after the drop
 * (worker threads, evidence captures) adds its calls here, in the group they belong to.
 *
 * Default action: kill the process (SIGSYS), not EPERM. A call outside the list means an exploit
 * or a missing entry; EPERM would leave a sensor that looks alive while failing somewhere unseen,
 * whereas a killed sensor is restarted by systemd (Restart=on-failure) and the kernel's audit line
 * names the call. `--sandbox log` allows and logs instead, for finding a missing entry. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <linux/sockios.h>
#include <seccomp.h>
#include "bw_sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define BW_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define BW_SANITIZED 1
#endif
#endif

/* Allowed with any arguments. A name this architecture does not have is skipped. */
static const char *const allowed[] = {
    /* files: JSONL and reports (write, reopen on SIGHUP, the newline check), the spool */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "fstat",
    "newfstatat", "stat", "lstat", "statx", "openat", "open", "fcntl", "dup", "dup2", "dup3",
    "ftruncate", "fsync", "fdatasync", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "getdents64", "flock", "access", "faccessat", "faccessat2",
    /* memory: malloc, thread stacks, libpcap's ring is already mapped */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    /* threads, locks, time, signals */
    "futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity",
    "gettid", "getpid", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "restart_syscall", "exit", "exit_group", "nanosleep", "clock_nanosleep", "clock_gettime",
    "clock_getres", "gettimeofday", "time", "getrandom", "sysinfo", "uname",
    "getuid", "geteuid", "getgid", "getegid",
    /* capture: waiting for the next block, the kernel's counters */
    "poll", "ppoll", "select", "pselect6",
    /* Redis (TCP or unix socket) and name lookups; socket() itself is checked below */
    "connect", "bind", "getsockname", "getpeername", "getsockopt", "setsockopt", "sendto",
    "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
};

#ifdef BW_SANITIZED
/* ASan/UBSan builds only: LeakSanitizer stops the world at exit with a ptrace-ing helper (a
 * clone without CLONE_THREAD), and reads /proc/self/maps; reports may need a few more. */
static const char *const allowed_sanitizer[] = {
    "ptrace", "wait4", "waitid", "clone", "prctl", "readlink", "readlinkat", "getppid", "kill",
    "pipe", "pipe2", "getrlimit", "prlimit64", "setrlimit", "mincore", "process_vm_readv", "getdents",
};
#endif

/* libseccomp's SCMP_An() macros leave datum_b out, which clang's -Wextra refuses. */
#define ARG(n_, op_, a_, b_) ((struct scmp_arg_cmp){ .arg = (n_), .op = (op_), .datum_a = (scmp_datum_t)(a_), \
                                                 .datum_b = (scmp_datum_t)(b_) })

static int rule(scmp_filter_ctx ctx, const char *name, size_t *n)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return 0;           /* not on this architecture */
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (rc == 0) (*n)++;
    return rc;
}

int bw_sandbox_enter(enum bw_sandbox_mode mode, size_t *ncalls, char *err, size_t errlen)
{
    size_t n = 0;
    int rc = 0;
    const char *what = "";
    if (ncalls) *ncalls = 0;
    /* No execve can ever gain privileges again (setuid binaries, file capabilities). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
        return BW_EIO;
    }
    if (mode == BW_SANDBOX_OFF) return 0;
    scmp_filter_ctx ctx = seccomp_init(mode == BW_SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
    if (!ctx) {
        snprintf(err, errlen, "cannot set up the seccomp filter: out of memory");
        return BW_EIO;
    }
    /* Every thread, the Redis writer started before the drop included. */
    what = "TSYNC";
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0) goto fail;
    what = "allow-list";
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if ((rc = rule(ctx, allowed[i], &n)) != 0) goto fail;
#ifdef BW_SANITIZED
    for (size_t i = 0; i < sizeof allowed_sanitizer / sizeof allowed_sanitizer[0]; i++)
        if ((rc = rule(ctx, allowed_sanitizer[i], &n)) != 0) goto fail;
#else
    /* Threads only (pthread_create): never a new process. glibc tries clone3 first; ENOSYS makes
     * it use clone, whose flags a filter can see (clone3 passes them in memory). */
    what = "clone";
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                               ARG(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) != 0) goto fail;
    n++;
    /* Thread names only. */
    what = "prctl";
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                               ARG(0, SCMP_CMP_EQ, PR_SET_NAME, 0))) != 0) goto fail;
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1,
                               ARG(0, SCMP_CMP_NE, PR_SET_NAME, 0))) != 0) goto fail;
    n++;
#endif
    what = "clone3";
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) != 0) goto fail;
    /* Sockets: files, TCP/UDP to Redis and resolvers, netlink for getaddrinfo. No packet socket:
     * the capture is open already, and no other one may be made. */
    what = "socket";
    static const int families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                   ARG(0, SCMP_CMP_EQ, families[i], 0))) != 0) goto fail;
    n++;
    /* ioctl: terminal checks of stdio, non-blocking sockets, interface queries; any other
     * request takes the default action: no terminal injection (TIOCSTI), no interface changes. */
    what = "ioctl";
    static const unsigned long requests[] = { TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, SIOCGIFINDEX,
                                              SIOCGIFFLAGS, SIOCGIFNAME, SIOCGIFMTU };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                   ARG(1, SCMP_CMP_EQ, requests[i], 0))) != 0) goto fail;
    n++;
    what = "load";
    if ((rc = seccomp_load(ctx)) != 0) goto fail;
    seccomp_release(ctx);
    if (ncalls) *ncalls = n;
    return 0;
fail:
    snprintf(err, errlen, "cannot install the seccomp filter (%s): %s", what, strerror(-rc));
    seccomp_release(ctx);
    return BW_EIO;
}
