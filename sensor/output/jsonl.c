/* output/jsonl.c: JSON lines to a file or stdout, whole lines only. Records collect in a buffer
 * of complete lines and leave with one write() per batch (full buffer, flush, stats record), so a
 * reader or a crash never sees half a record from a finished write. Owns its descriptor: SIGHUP's
 * reopen() flushes, opens the path anew (log rotation) and only then lets the old one go.
 * Appending to a file whose last byte is not a newline (a crash of an earlier run, a full disk)
 * first writes one, so the next record parses. Remembers the first error (disk full, closed pipe)
 * so the run can end with one clear line instead of failing silently. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "bw_sink.h"

#define JSONL_BUF (64u << 10)        /* one write() per this much, at most */

struct jsonl {
    struct bw_sink base;             /* first: the sink pointer is the struct pointer */
    int   fd;
    bool  own, line_buffered, failed;
    bool  torn;                      /* a failed write may have left part of a line: start anew */
    const char *path;
    size_t used;
    char  buf[JSONL_BUF];
};

static void fail(struct jsonl *j, int e)
{
    if (j->failed) return;
    j->failed = true;
    snprintf(j->base.errmsg, sizeof j->base.errmsg, "cannot write alerts to '%s': %s",
             j->path, strerror(e));
}

/* All of iov, retrying short writes and EINTR. Returns 0 or the errno. */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) { left -= iov->iov_len; iov++; n--; }
        if (n > 0) { iov->iov_base = (char *)iov->iov_base + left; iov->iov_len -= left; }
    }
    return 0;
}

/* The buffer (and, when given, one more line that did not fit) in one call. */
static int emit(struct jsonl *j, const char *line, size_t len)
{
    struct iovec iov[4];
    int n = 0;
    static char nl[] = "\n";
    if (j->torn) iov[n++] = (struct iovec){ nl, 1 };
    if (j->used) iov[n++] = (struct iovec){ j->buf, j->used };
    if (line) {
        iov[n++] = (struct iovec){ (void *)line, len };
        iov[n++] = (struct iovec){ nl, 1 };
    }
    if (n == 0) return 0;
    j->used = 0;
    int e = write_all(j->fd, iov, n);
    if (e) {
        j->torn = true;              /* part of it may be in the file */
        fail(j, e);
        return BW_EIO;
    }
    j->torn = false;
    return 0;
}

static int jsonl_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *meta)
{
    struct jsonl *j = (struct jsonl *)s;
    (void)meta;
    if (len + 1 > sizeof j->buf - j->used) {
        /* Does not fit: out with what is held and this line, in one write. */
        return emit(j, line, len);
    }
    memcpy(j->buf + j->used, line, len);
    j->buf[j->used + len] = '\n';
    j->used += len + 1;
    if (j->line_buffered) return emit(j, NULL, 0);
    return 0;
}

static int jsonl_flush(struct bw_sink *s)
{
    struct jsonl *j = (struct jsonl *)s;
    return emit(j, NULL, 0);
}

/* The periodic counters are a record like any other here ("event_type":"stats"). */
static void jsonl_stats(struct bw_sink *s, const char *json, size_t len, const struct bw_stats *st)
{
    (void)st;
    if (jsonl_write(s, json, len, NULL) == 0) jsonl_flush(s);
}

/* A file that an earlier writer left without a final newline gets one. Returns 0 or errno. */
static int end_with_newline(int fd)
{
    struct stat sb;
    char last;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) return 0;
    if (pread(fd, &last, 1, sb.st_size - 1) != 1) {
        /* Write-only (a shell's `>> file`): read the same file through a descriptor of its own. */
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        int rfd = open(self, O_RDONLY | O_CLOEXEC);
        ssize_t got = rfd >= 0 ? pread(rfd, &last, 1, sb.st_size - 1) : -1;
        if (rfd >= 0) close(rfd);
        if (got != 1) return 0;                                 /* cannot tell: leave it */
    }
    if (last == '\n') return 0;
    struct iovec iov = { (char[]){ '\n' }, 1 };
    return write_all(fd, &iov, 1);
}

static int open_path(const char *path, char *err, size_t errlen)
{
    /* append: a restart never truncates earlier alerts; 0640: user names are in there */
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EACCES) fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
        return -1;
    }
    int e = end_with_newline(fd);
    if (e) {
        snprintf(err, errlen, "cannot write to '%s': %s", path, strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

static int jsonl_reopen(struct bw_sink *s, char *err, size_t errlen)
{
    struct jsonl *j = (struct jsonl *)s;
    int rc = emit(j, NULL, 0);       /* what was written so far belongs to the old file */
    if (!j->own) return rc;          /* stdout: nothing to reopen */
    int fd = open_path(j->path, err, errlen);
    if (fd < 0) return BW_EIO;       /* keep writing to the old one: nothing is lost */
    close(j->fd);
    j->fd = fd;
    j->torn = false;
    return rc;
}

static int jsonl_close(struct bw_sink *s)
{
    struct jsonl *j = (struct jsonl *)s;
    int rc = 0;
    emit(j, NULL, 0);
    if (j->own && close(j->fd) != 0) fail(j, errno);
    if (j->failed) rc = BW_EIO;
    free(j);
    return rc;
}

struct bw_sink *bw_sink_jsonl_open(const char *path, bool line_buffered, char *err, size_t errlen)
{
    struct jsonl *j = calloc(1, sizeof *j);
    if (!j) { snprintf(err, errlen, "out of memory"); return NULL; }
    j->path = path;
    j->line_buffered = line_buffered;
    if (strcmp(path, "-") == 0) {
        j->fd = STDOUT_FILENO;
        int e = end_with_newline(j->fd);      /* `>> file`: the same care as a path */
        if (e) {
            snprintf(err, errlen, "cannot write to stdout: %s", strerror(e));
            free(j);
            return NULL;
        }
    } else {
        j->fd = open_path(path, err, errlen);
        if (j->fd < 0) { free(j); return NULL; }
        j->own = true;
    }
    j->base.name = "jsonl";
    j->base.write = jsonl_write;
    j->base.flush = jsonl_flush;
    j->base.close = jsonl_close;
    j->base.stats = jsonl_stats;
    j->base.reopen = jsonl_reopen;
    return &j->base;
}
