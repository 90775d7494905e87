/* spool.c: the append-only on-disk FIFO behind the Redis sink (see bw_spool.h for the format).
 * Owns its three files and one read buffer; never called from the capture thread (it does disk
 * I/O and fdatasync). Order is the file's order: records are only ever appended at the end and
 * consumed at the front, so whatever went in first comes out first, across restarts too. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bw_spool.h"

#define HDR_LEN 11                   /* "xxxxxxxx\tT\t" */

struct peeked { uint64_t end; char type; };   /* file offset just past the record's line */

struct bw_spool {
    char     dir[4096];
    char     log_path[4200], pos_path[4200], lock_path[4200];
    int      fd, pos_fd, lock_fd;
    uint64_t size;                   /* file size (everything appended, not cut) */
    uint64_t off;                    /* read position: records before it are consumed */
    uint64_t records, alerts, bad;
    int      last_errno;
    char    *buf;                    /* peek buffer */
    size_t   buf_cap;
    struct peeked *pk;               /* ends of the records returned by the last peek */
    size_t   pk_cap, pk_n;
};

static uint32_t crc32_ieee(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t rec_crc(char type, const char *data, size_t len)
{
    char t[2] = { type, '\t' };
    return crc32_ieee(crc32_ieee(0, t, 2), data, len);
}

/* A complete line (without its '\n') checks out: header shape and checksum. */
static bool line_ok(const char *line, size_t len, char *type, const char **data, size_t *dlen)
{
    uint32_t want = 0;
    if (len < HDR_LEN || line[8] != '\t' || line[10] != '\t') return false;
    for (int i = 0; i < 8; i++) {
        char c = line[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        want = (want << 4) | (uint32_t)v;
    }
    *type = line[9];
    *data = line + HDR_LEN;
    *dlen = len - HDR_LEN;
    return rec_crc(*type, *data, *dlen) == want;
}

static void save_pos(struct bw_spool *sp)
{
    /* Fixed width, one pwrite: a crash leaves the old or the new number, never a mix.
     * Not synced: after a power cut the position may be one batch behind, and the Redis sink's
     * delivery marker skips what was already delivered (docs/redis.md). */
    char num[24];
    snprintf(num, sizeof num, "%020" PRIu64 "\n", sp->off);
    if (pwrite(sp->pos_fd, num, 21, 0) != 21) sp->last_errno = errno;
}

static int read_all(int fd, char *buf, size_t n, uint64_t at)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(at + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? errno : EIO;
        got += (size_t)r;
    }
    return 0;
}

static int grow(struct bw_spool *sp, size_t need)
{
    if (need <= sp->buf_cap) return 0;
    size_t cap = sp->buf_cap ? sp->buf_cap : 65536;
    while (cap < need) cap *= 2;
    char *nb = realloc(sp->buf, cap);
    if (!nb) return BW_ENOMEM;
    sp->buf = nb;
    sp->buf_cap = cap;
    return 0;
}

/* Walk [off, size): count good records, count bad lines, cut a torn tail. */
static int scan(struct bw_spool *sp, char *err, size_t errlen)
{
    uint64_t at = sp->off, line_start = sp->off;
    size_t have = 0, used = 0;
    const size_t chunk = 1u << 20;
    if (grow(sp, chunk + BW_SPOOL_LINE_MAX) != 0) { snprintf(err, errlen, "out of memory"); return BW_ENOMEM; }
    for (;;) {
        /* buffer holds [line_start, line_start + have) with `used` bytes already parsed */
        if (used > 0) {
            memmove(sp->buf, sp->buf + used, have - used);
            have -= used;
            used = 0;
        }
        size_t want = (size_t)(sp->size - at < chunk ? sp->size - at : chunk);
        if (want) {
            int e = read_all(sp->fd, sp->buf + have, want, at);
            if (e) { snprintf(err, errlen, "cannot read spool '%s': %s", sp->log_path, strerror(e)); return BW_EIO; }
            have += want;
            at += want;
        }
        bool progressed = false;
        for (;;) {
            char *nl = memchr(sp->buf + used, '\n', have - used);
            if (!nl) break;
            size_t len = (size_t)(nl - (sp->buf + used));
            char type;
            const char *data;
            size_t dlen;
            if (line_ok(sp->buf + used, len, &type, &data, &dlen)) {
                sp->records++;
                if (type == 'A') sp->alerts++;
            } else {
                sp->bad++;
            }
            used += len + 1;
            line_start += len + 1;
            progressed = true;
        }
        if (at >= sp->size) break;
        if (!progressed && have - used >= BW_SPOOL_LINE_MAX) {
            /* an endless line: count it as one bad record and resynchronize after it */
            sp->bad++;
            line_start += have - used;
            used = have;
        }
    }
    if (line_start < sp->size) {
        /* Torn last line (the process died mid-append): cut it off. */
        sp->bad++;
        if (ftruncate(sp->fd, (off_t)line_start) != 0) {
            snprintf(err, errlen, "cannot repair spool '%s': %s", sp->log_path, strerror(errno));
            return BW_EIO;
        }
        sp->size = line_start;
    }
    return 0;
}

int bw_spool_open(struct bw_spool **out, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    *out = NULL;
    struct bw_spool *sp = calloc(1, sizeof *sp);
    if (!sp) { snprintf(err, errlen, "out of memory"); return BW_ENOMEM; }
    sp->fd = sp->pos_fd = sp->lock_fd = -1;
    if (strlen(dir) >= sizeof sp->dir) { snprintf(err, errlen, "--spool directory name too long"); goto fail_inval; }
    snprintf(sp->dir, sizeof sp->dir, "%s", dir);
    snprintf(sp->log_path, sizeof sp->log_path, "%s/spool.log", dir);
    snprintf(sp->pos_path, sizeof sp->pos_path, "%s/spool.pos", dir);
    snprintf(sp->lock_path, sizeof sp->lock_path, "%s/spool.lock", dir);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create spool directory '%s': %s", dir, strerror(errno));
        goto fail_io;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "spool '%s' is not a directory", dir);
        goto fail_io;
    }
    sp->lock_fd = open(sp->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->lock_fd < 0) {
        snprintf(err, errlen, "cannot use spool directory '%s': %s", dir, strerror(errno));
        goto fail_io;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "spool directory '%s' is in use by another brokerwatch", dir);
        goto fail_io;
    }
    sp->fd = open(sp->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    sp->pos_fd = open(sp->pos_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->fd < 0 || sp->pos_fd < 0) {
        snprintf(err, errlen, "cannot open spool files in '%s': %s", dir, strerror(errno));
        goto fail_io;
    }
    if (fstat(sp->fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat '%s': %s", sp->log_path, strerror(errno));
        goto fail_io;
    }
    sp->size = (uint64_t)st.st_size;
    char num[32] = "";
    ssize_t r = pread(sp->pos_fd, num, sizeof num - 1, 0);
    if (r > 0) {
        char *end;
        num[r] = '\0';
        unsigned long long v = strtoull(num, &end, 10);
        /* A position past the end, or one that is not at a line start, means the log was cut
         * or replaced: read it all again (the delivery marker skips what Redis already has). */
        if (end != num && v <= sp->size) sp->off = v;
        if (sp->off > 0) {
            char prev;
            if (read_all(sp->fd, &prev, 1, sp->off - 1) != 0 || prev != '\n') sp->off = 0;
        }
    }
    int rc = scan(sp, err, errlen);
    if (rc != 0) { bw_spool_close(sp); return rc; }
    if (sp->records == 0 && sp->size > 0) {
        /* only consumed or bad lines remain: clear */
        if (ftruncate(sp->fd, 0) == 0) { sp->size = 0; sp->off = 0; save_pos(sp); }
    }
    *out = sp;
    return 0;
fail_inval:
    bw_spool_close(sp);
    return BW_EINVAL;
fail_io:
    bw_spool_close(sp);
    return BW_EIO;
}

int bw_spool_append(struct bw_spool *sp, const struct bw_spool_rec *recs, size_t n)
{
    size_t total = 0;
    uint64_t alerts = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len + HDR_LEN + 1 > BW_SPOOL_LINE_MAX || memchr(recs[i].data, '\n', recs[i].len))
            return BW_EINVAL;
        total += recs[i].len + HDR_LEN + 1;
        if (recs[i].type == 'A') alerts++;
    }
    if (n == 0) return 0;
    sp->pk_n = 0;                               /* the peek buffer is reused below */
    if (grow(sp, total) != 0) return BW_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char hdr[HDR_LEN + 1];
        snprintf(hdr, sizeof hdr, "%08" PRIx32 "\t%c\t", rec_crc(recs[i].type, recs[i].data, recs[i].len),
                 recs[i].type);
        memcpy(sp->buf + o, hdr, HDR_LEN);
        memcpy(sp->buf + o + HDR_LEN, recs[i].data, recs[i].len);
        o += HDR_LEN + recs[i].len;
        sp->buf[o++] = '\n';
    }
    size_t done = 0;
    while (done < total) {
        ssize_t w = write(sp->fd, sp->buf + done, total - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { sp->last_errno = w < 0 ? errno : ENOSPC; goto undo; }
        done += (size_t)w;
    }
    if (fdatasync(sp->fd) != 0) { sp->last_errno = errno; goto undo; }
    sp->size += total;
    sp->records += n;
    sp->alerts += alerts;
    sp->last_errno = 0;
    return 0;
undo:
    /* All or nothing: never leave half a batch (or half a line) behind. */
    if (ftruncate(sp->fd, (off_t)sp->size) != 0) { /* the scan at the next open cuts a torn tail */ }
    return BW_EIO;
}

int bw_spool_peek(struct bw_spool *sp, size_t max_n, size_t max_bytes, struct bw_spool_rec *out, size_t *n)
{
    *n = 0;
    sp->pk_n = 0;
    if (sp->records == 0 || max_n == 0) return 0;
    if (sp->pk_cap < max_n) {
        struct peeked *np = realloc(sp->pk, max_n * sizeof *np);
        if (!np) return BW_ENOMEM;
        sp->pk = np;
        sp->pk_cap = max_n;
    }
    uint64_t left = sp->size - sp->off;
    size_t want = max_bytes + BW_SPOOL_LINE_MAX;
    if (want > left) want = (size_t)left;
    if (grow(sp, want) != 0) return BW_ENOMEM;
    int e = read_all(sp->fd, sp->buf, want, sp->off);
    if (e) { sp->last_errno = e; return BW_EIO; }
    const uint64_t base = sp->off;           /* file offset of sp->buf[0] */
    size_t used = 0, bytes = 0;
    while (*n < max_n) {
        char *nl = memchr(sp->buf + used, '\n', want - used);
        if (!nl) break;                      /* appends are whole lines; the rest is beyond want */
        size_t len = (size_t)(nl - (sp->buf + used));
        char type;
        const char *data;
        size_t dlen;
        if (!line_ok(sp->buf + used, len, &type, &data, &dlen)) {
            /* A corrupt line (counted when the spool was opened): step over it, but only at the
             * front, so the read position never jumps over a record that was not delivered. */
            if (*n > 0) break;
            used += len + 1;
            sp->off = base + used;
            save_pos(sp);
            continue;
        }
        if (*n > 0 && bytes + dlen > max_bytes) break;
        out[*n].type = type;
        out[*n].data = data;
        out[*n].len = dlen;
        sp->pk[*n].end = base + used + len + 1;
        sp->pk[*n].type = type;
        (*n)++;
        bytes += dlen;
        used += len + 1;
    }
    sp->pk_n = *n;
    return 0;
}

int bw_spool_consume(struct bw_spool *sp, size_t k)
{
    if (k == 0) return 0;
    if (k > sp->pk_n) return BW_EINVAL;
    for (size_t i = 0; i < k; i++) {
        sp->records--;
        if (sp->pk[i].type == 'A') sp->alerts--;
    }
    sp->off = sp->pk[k - 1].end;
    /* the records after k keep their ends; shift them so a second consume stays right */
    memmove(sp->pk, sp->pk + k, (sp->pk_n - k) * sizeof *sp->pk);
    sp->pk_n -= k;
    if (sp->records == 0) {
        /* Everything delivered: clear the log (bad lines left behind are dropped too). */
        if (ftruncate(sp->fd, 0) != 0) { sp->last_errno = errno; save_pos(sp); return BW_EIO; }
        sp->size = 0;
        sp->off = 0;
        sp->pk_n = 0;
    }
    save_pos(sp);
    return 0;
}

uint64_t bw_spool_records(const struct bw_spool *sp) { return sp ? sp->records : 0; }
uint64_t bw_spool_alerts(const struct bw_spool *sp) { return sp ? sp->alerts : 0; }
uint64_t bw_spool_bytes(const struct bw_spool *sp) { return sp ? sp->size - sp->off : 0; }
uint64_t bw_spool_bad(const struct bw_spool *sp) { return sp ? sp->bad : 0; }
int bw_spool_errno(const struct bw_spool *sp) { return sp ? sp->last_errno : 0; }
const char *bw_spool_dir(const struct bw_spool *sp) { return sp ? sp->dir : ""; }

void bw_spool_close(struct bw_spool *sp)
{
    if (!sp) return;
    if (sp->fd >= 0 && sp->records == 0 && sp->lock_fd >= 0) {
        /* nothing waiting: leave a clean directory (we hold the lock, so nobody else uses it) */
        unlink(sp->log_path);
        unlink(sp->pos_path);
        unlink(sp->lock_path);
    }
    if (sp->fd >= 0) close(sp->fd);
    if (sp->pos_fd >= 0) close(sp->pos_fd);
    if (sp->lock_fd >= 0) close(sp->lock_fd);
    free(sp->buf);
    free(sp->pk);
    free(sp);
}
