/* output/jsonl.c: JSON lines to a file or stdout. Owns its FILE. Remembers the first write error
 * (disk full, closed pipe) so the run can end with one clear line instead of failing silently. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_sink.h"

struct jsonl {
    struct bw_sink base;             /* first: the sink pointer is the struct pointer */
    FILE *fp;
    bool  own, line_buffered, failed;
    const char *path;
};

static void fail(struct jsonl *j, int e)
{
    if (j->failed) return;
    j->failed = true;
    snprintf(j->base.errmsg, sizeof j->base.errmsg, "cannot write alerts to '%s': %s",
             j->path, strerror(e));
}

static int jsonl_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *meta)
{
    struct jsonl *j = (struct jsonl *)s;
    (void)meta;
    if (fwrite(line, 1, len, j->fp) != len || fputc('\n', j->fp) == EOF) { fail(j, errno); return BW_EIO; }
    if (j->line_buffered && fflush(j->fp) != 0) { fail(j, errno); return BW_EIO; }
    return 0;
}

static int jsonl_flush(struct bw_sink *s)
{
    struct jsonl *j = (struct jsonl *)s;
    if (fflush(j->fp) != 0) { fail(j, errno); return BW_EIO; }
    return 0;
}

static int jsonl_close(struct bw_sink *s)
{
    struct jsonl *j = (struct jsonl *)s;
    int rc = 0;
    if (fflush(j->fp) != 0) fail(j, errno);
    if (j->own && fclose(j->fp) != 0) fail(j, errno);
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
        j->fp = stdout;
    } else {
        j->fp = fopen(path, "a");    /* append: a restart never truncates earlier alerts */
        if (!j->fp) {
            snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
            free(j);
            return NULL;
        }
        j->own = true;
    }
    j->base.name = "jsonl";
    j->base.write = jsonl_write;
    j->base.flush = jsonl_flush;
    j->base.close = jsonl_close;
    return &j->base;
}
