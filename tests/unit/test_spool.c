/* test_spool.c: the on-disk FIFO: order across peeks, consumes and reopenings; clearing when
 * drained; counts by type; a torn last line and a corrupt line skipped and counted; a failed append
 * (file size limit standing in for a full disk) leaves nothing behind; the directory lock. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "bw_spool.h"

static char dir[256];
static char err[256];

static struct bw_spool_rec rec(char type, const char *s)
{
    struct bw_spool_rec r = { type, s, strlen(s) };
    return r;
}

static off_t file_size(const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Peek everything and check it is exactly want[0..n) in order. */
static void expect_all(struct bw_spool *sp, const char *const *want, size_t n)
{
    struct bw_spool_rec out[64];
    size_t got = 0;
    CHECK_EQ(bw_spool_peek(sp, 64, 1 << 20, out, &got), 0);
    CHECK_EQ(got, n);
    for (size_t i = 0; i < got && i < n; i++) {
        CHECK_EQ(out[i].len, strlen(want[i]));
        CHECK(out[i].len == strlen(want[i]) && memcmp(out[i].data, want[i], out[i].len) == 0);
    }
}

int main(void)
{
    struct bw_spool *sp, *sp2;
    struct bw_spool_rec out[64];
    size_t n;
    snprintf(dir, sizeof dir, "/tmp/bw-test-spool.%d", (int)getpid());

    /* open creates the directory; empty to begin with */
    CHECK_EQ(bw_spool_open(&sp, dir, err, sizeof err), 0);
    CHECK_EQ(bw_spool_records(sp), 0);
    CHECK_EQ(bw_spool_peek(sp, 10, 1000, out, &n), 0);
    CHECK_EQ(n, 0);

    /* a second process (or run) cannot use the same directory */
    CHECK(bw_spool_open(&sp2, dir, err, sizeof err) != 0);
    CHECK(strstr(err, "in use") != NULL);

    struct bw_spool_rec b1[3] = { rec('A', "one"), rec('S', "two\tsession"), rec('A', "three") };
    CHECK_EQ(bw_spool_append(sp, b1, 3), 0);
    struct bw_spool_rec b2[2] = { rec('A', "four"), rec('A', "") };
    CHECK_EQ(bw_spool_append(sp, b2, 2), 0);
    CHECK_EQ(bw_spool_records(sp), 5);
    CHECK_EQ(bw_spool_alerts(sp), 4);
    struct bw_spool_rec bad = rec('A', "has\nnewline");
    CHECK_EQ(bw_spool_append(sp, &bad, 1), BW_EINVAL);
    CHECK_EQ(bw_spool_records(sp), 5);

    /* peek limits: by count, and by bytes (but always at least one record) */
    CHECK_EQ(bw_spool_peek(sp, 2, 1 << 20, out, &n), 0);
    CHECK_EQ(n, 2);
    CHECK(out[0].type == 'A' && out[0].len == 3 && memcmp(out[0].data, "one", 3) == 0);
    CHECK(out[1].type == 'S');
    CHECK_EQ(bw_spool_peek(sp, 10, 1, out, &n), 0);
    CHECK_EQ(n, 1);

    /* consume in two steps from one peek */
    CHECK_EQ(bw_spool_peek(sp, 10, 1 << 20, out, &n), 0);
    CHECK_EQ(n, 5);
    CHECK_EQ(bw_spool_consume(sp, 1), 0);
    CHECK_EQ(bw_spool_consume(sp, 1), 0);
    CHECK_EQ(bw_spool_records(sp), 3);
    CHECK_EQ(bw_spool_alerts(sp), 3);
    CHECK_EQ(bw_spool_consume(sp, 9), BW_EINVAL);         /* more than peeked */
    const char *left3[] = { "three", "four", "" };
    expect_all(sp, left3, 3);

    /* reopen: the position survives, later appends go behind the old records */
    bw_spool_close(sp);
    CHECK_EQ(bw_spool_open(&sp, dir, err, sizeof err), 0);
    CHECK_EQ(bw_spool_records(sp), 3);
    struct bw_spool_rec b3 = rec('A', "five");
    CHECK_EQ(bw_spool_append(sp, &b3, 1), 0);
    const char *left4[] = { "three", "four", "", "five" };
    expect_all(sp, left4, 4);

    /* drained: cleared to zero bytes; closing an empty spool leaves no files */
    CHECK_EQ(bw_spool_peek(sp, 64, 1 << 20, out, &n), 0);
    CHECK_EQ(bw_spool_consume(sp, n), 0);
    CHECK_EQ(bw_spool_records(sp), 0);
    CHECK_EQ(bw_spool_bytes(sp), 0);
    CHECK_EQ(file_size("spool.log"), 0);
    bw_spool_close(sp);
    CHECK_EQ(file_size("spool.log"), -1);

    /* a torn last line (crash mid-append) is cut at the next open and counted */
    CHECK_EQ(bw_spool_open(&sp, dir, err, sizeof err), 0);
    struct bw_spool_rec b4[2] = { rec('A', "keep1"), rec('A', "keep2") };
    CHECK_EQ(bw_spool_append(sp, b4, 2), 0);
    bw_spool_close(sp);
    char p[512];
    snprintf(p, sizeof p, "%s/spool.log", dir);
    FILE *f = fopen(p, "a");
    CHECK(f != NULL);
    if (f) { fputs("0123abcd\tA\thalf a rec", f); fclose(f); }
    CHECK_EQ(bw_spool_open(&sp, dir, err, sizeof err), 0);
    CHECK_EQ(bw_spool_records(sp), 2);
    CHECK_EQ(bw_spool_bad(sp), 1);
    const char *keep[] = { "keep1", "keep2" };
    expect_all(sp, keep, 2);
    bw_spool_close(sp);

    /* a corrupt line in the middle (bit rot): skipped, counted, order of the rest kept */
    f = fopen(p, "r+");
    CHECK(f != NULL);
    if (f) { fseek(f, 12, SEEK_SET); fputc('X', f); fclose(f); }   /* first record's data */
    CHECK_EQ(bw_spool_open(&sp, dir, err, sizeof err), 0);
    CHECK_EQ(bw_spool_records(sp), 1);
    CHECK_EQ(bw_spool_bad(sp), 1);
    const char *keep2[] = { "keep2" };
    expect_all(sp, keep2, 1);

    /* a failed append (file size limit: EFBIG, as a full disk gives ENOSPC) is all or nothing */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    off_t before = file_size("spool.log");
    lim = old;
    lim.rlim_cur = (rlim_t)before + 40;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct bw_spool_rec b5[2] = { rec('A', "small"), rec('A', big) };
    CHECK_EQ(bw_spool_append(sp, b5, 2), BW_EIO);
    CHECK_EQ(bw_spool_errno(sp), EFBIG);
    CHECK_EQ(file_size("spool.log"), before);           /* nothing half-written stays */
    CHECK_EQ(bw_spool_records(sp), 1);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ(bw_spool_append(sp, b5, 2), 0);            /* room again: works */
    const char *keep3[] = { "keep2", "small", big };
    expect_all(sp, keep3, 3);
    CHECK_EQ(bw_spool_peek(sp, 64, 1 << 20, out, &n), 0);
    CHECK_EQ(bw_spool_consume(sp, n), 0);
    bw_spool_close(sp);

    /* a file where the directory should be */
    char fpath[300];
    snprintf(fpath, sizeof fpath, "%s/afile", dir);
    f = fopen(fpath, "w");
    if (f) fclose(f);
    CHECK(bw_spool_open(&sp, fpath, err, sizeof err) != 0);
    CHECK(strstr(err, "afile") != NULL);
    unlink(fpath);
    CHECK(bw_spool_open(&sp, "/nonexistent-parent/x/y", err, sizeof err) != 0);
    CHECK(strstr(err, "/nonexistent-parent/x/y") != NULL);

    rmdir(dir);
    return check_summary("spool");
}
