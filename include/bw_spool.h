/* bw_spool.h: an append-only on-disk FIFO of records (--spool DIR), for records a sink could not
 * deliver yet. One text line per record, "<crc32 hex>\t<type>\t<data>\n", in DIR/spool.log; the
 * read position in DIR/spool.pos; DIR/spool.lock keeps a second process out. Appends are synced
 * (fdatasync) per batch; a failed append (disk full) is cut back so no torn record stays. When
 * everything has been consumed the log is truncated to zero (cleared). Single-threaded: the owner
 * (the Redis writer thread) calls everything. Records never contain '\n'. */
#ifndef BW_SPOOL_H
#define BW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"

#define BW_SPOOL_LINE_MAX (64u << 10)   /* longer lines are corrupt by definition */

struct bw_spool;

/* One record: type 'A' (an alert) or any other printable byte; data borrowed, no '\n'. */
struct bw_spool_rec {
    char        type;
    const char *data;
    size_t      len;
};

/* Open (creating DIR, one level, mode 0700, if missing), lock, and check what an earlier run left:
 * records after the saved read position are counted and their checksums verified; a torn last
 * line (a crash mid-write) is cut off and counted as bad. Returns 0, or BW_EIO / BW_ENOMEM with
 * one line in err (missing parent, not a directory, no permission, locked by another process). */
int bw_spool_open(struct bw_spool **out, const char *dir, char *err, size_t errlen) BW_WARN_UNUSED;

/* Append n records behind everything already spooled, then fdatasync. All or nothing: on failure
 * the file is cut back to its size before the call and BW_EIO is returned (bw_spool_errno says
 * why, e.g. ENOSPC); BW_EINVAL when a record holds '\n' or is too long. */
int bw_spool_append(struct bw_spool *sp, const struct bw_spool_rec *recs, size_t n) BW_WARN_UNUSED;

/* The oldest records, in order, without removing them: at most max_n records and, beyond the
 * first, at most about max_bytes of data. out[i].data points into the spool's own buffer, valid
 * until the next call on sp. Corrupt lines are skipped (and counted). *n = 0 when empty.
 * Returns 0 or BW_EIO (read error) / BW_ENOMEM. */
int bw_spool_peek(struct bw_spool *sp, size_t max_n, size_t max_bytes,
                  struct bw_spool_rec *out, size_t *n) BW_WARN_UNUSED;

/* Remove the first k records of the last peek (k <= what it returned) and save the position;
 * when nothing is left the log is truncated to zero. Returns 0 or BW_EIO. */
int bw_spool_consume(struct bw_spool *sp, size_t k) BW_WARN_UNUSED;

uint64_t    bw_spool_records(const struct bw_spool *sp);   /* records waiting */
uint64_t    bw_spool_alerts(const struct bw_spool *sp);    /* of which type 'A' */
uint64_t    bw_spool_bytes(const struct bw_spool *sp);     /* bytes waiting in the log */
uint64_t    bw_spool_bad(const struct bw_spool *sp);       /* corrupt lines skipped so far */
int         bw_spool_errno(const struct bw_spool *sp);     /* errno of the last failure */
const char *bw_spool_dir(const struct bw_spool *sp);

/* Release the lock and the memory; an empty spool leaves no files behind (the directory stays). */
void bw_spool_close(struct bw_spool *sp);

#endif
