/* split.c: the chain of chunks the workers read themselves (bw_split.h). Shared between the
 * workers: the buffers and their lists, written by the walker of a chunk before it publishes
 * the chunk (a release store of its number, read with acquire by the others); the reader's state
 * (bw_split_clock), written only by the walker of the chunk at hand, whose walk begins after the
 * walk before it was published, so the walks are one after the other; and each worker's count
 * of chunks done. Owns the buffers; the capture is the caller's. */
#include "bw_split.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bw_pcapfile.h"
#include "bw_stats.h"
#include "bw_workers.h"

#define CHUNK     (512u * 1024u)          /* larger than the largest record (16 + 262144 bytes) */
#define AHEAD     6                       /* chunks a worker reads beyond the one it works on */
#define CLOCK_US  10000u                  /* every worker's clock, 100 times a second of packets */
/* Buffers: a chunk may be read while no worker is more than AHEAD + N chunks behind it (each
 * reads at most AHEAD beyond its own work, and the walks take turns), and one more. */
#define BUFS(n)   ((n) + AHEAD + 2)
#define MAX_ENTRIES (CHUNK / BW_PCAPFILE_RECHDR + 1)

/* An entry of a worker's list of a chunk: the record's offset in the buffer, whether it is a
 * clock (for every worker: the record's time) or a stats point rather than the worker's packet,
 * and the record's number in the whole run (the writer's order, bw_split_item.seq). */
#define E_OFF       0x000fffffu
#define E_CLOCK     (1u << 20)
#define E_STATS     (1u << 21)
#define E_SEQ_SHIFT 22
#define ENTRY(seq, flags, off) (((uint64_t)(seq) << E_SEQ_SHIFT) | (flags) | (uint64_t)(off))

struct slot {
    uint8_t *buf;
    size_t have;
    uint64_t *ent[BW_WORKERS_MAX];        /* each worker's list: its records, and the clocks */
    uint32_t nent[BW_WORKERS_MAX];
    uint64_t end;                         /* file offset where the chunk's last whole record ends */
    uint64_t end_seq;                     /* the number the next chunk's first record gets */
    _Atomic int64_t chunk;                /* the chunk whose list this is, once walked; -1 */
};

struct bw_split {
    struct bw_capture *cap;
    struct bw_capture_records src;
    int dlt;
    unsigned n, nslots;
    uint64_t flow_timeout_us, stats_iv_us;
    struct slot *slot;
    _Atomic int64_t nchunks;              /* how many chunks there are (end, error or stop); -1 */
    _Atomic int stop;
    _Atomic int64_t done[BW_WORKERS_MAX]; /* chunks below it each worker is done with */
    struct bw_split_clock rd;             /* the reader's state: the walker at hand's (see above) */
    /* what anyone may read of it meanwhile: as of the last chunk walked */
    _Atomic uint64_t packets, earliest_us, latest_us, now_us, next_clock_us, next_stats_us, offset;
    uint64_t first_seq;                   /* the first record's number */
    char err[512];
};

struct bw_split *bw_split_new(struct bw_capture *cap, int dlt, unsigned n, uint64_t flow_timeout_us,
                              uint64_t stats_iv_us, const struct bw_split_clock *from)
{
    struct bw_split *sp = calloc(1, sizeof *sp);
    if (!sp || n < 1 || n > BW_WORKERS_MAX || !bw_capture_records(cap, &sp->src)) { free(sp); return NULL; }
    sp->cap = cap;
    sp->dlt = dlt;
    sp->n = n;
    sp->nslots = BUFS(n);
    sp->flow_timeout_us = flow_timeout_us;
    sp->stats_iv_us = stats_iv_us;
    if (!(sp->slot = calloc(sp->nslots, sizeof *sp->slot))) { free(sp); return NULL; }
    for (unsigned i = 0; i < sp->nslots; i++) {
        struct slot *s = &sp->slot[i];
        atomic_init(&s->chunk, -1);
        if (!(s->buf = malloc(CHUNK))) { bw_split_free(sp); return NULL; }
        /* each record, maybe a clock before it and a stats point after it (pages come as a list
         * grows) */
        for (unsigned w = 0; w < n; w++)
            if (!(s->ent[w] = malloc(3 * MAX_ENTRIES * sizeof *s->ent[w]))) { bw_split_free(sp); return NULL; }
    }
    atomic_init(&sp->nchunks, -1);
    atomic_init(&sp->stop, 0);
    for (unsigned i = 0; i < BW_WORKERS_MAX; i++) atomic_init(&sp->done[i], 0);
    sp->rd = *from;
    atomic_init(&sp->packets, from->packets);
    atomic_init(&sp->earliest_us, from->earliest_us);
    atomic_init(&sp->latest_us, from->latest_us);
    atomic_init(&sp->now_us, from->now_us);
    atomic_init(&sp->next_clock_us, from->next_clock_us);
    atomic_init(&sp->next_stats_us, from->next_stats_us);
    atomic_init(&sp->offset, sp->src.start);
    sp->first_seq = from->packets;
    return sp;
}

void bw_split_free(struct bw_split *sp)
{
    if (!sp) return;
    for (unsigned i = 0; sp->slot && i < sp->nslots; i++) {
        free(sp->slot[i].buf);
        for (unsigned w = 0; w < sp->n; w++) free(sp->slot[i].ent[w]);
    }
    free(sp->slot);
    free(sp);
}

struct bw_split_pos bw_split_start(const struct bw_split *sp, unsigned id)
{
    (void)sp;
    return (struct bw_split_pos){ id, id, 0, 0 };
}

#define LOAD(x)     atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* The walk of one record: the reader's step (as bw_workers' reader takes it), then the entries:
 * a clock for every worker when one is due, the record for its worker, and a stats point for
 * every worker after it when one is due (as the read loop has them). */
static void walk_record(struct bw_split *sp, struct slot *s, size_t off, const struct bw_pcaprec *rec)
{
    uint64_t ts = bw_capture_ts(rec->ts_sec, rec->ts_usec), seq = sp->rd.packets;
    if (bw_split_step(&sp->rd, ts, sp->flow_timeout_us, CLOCK_US) && sp->n > 1)
        for (unsigned i = 0; i < sp->n; i++) s->ent[i][s->nent[i]++] = ENTRY(seq, E_CLOCK, off);
    unsigned w = sp->n > 1 ? bw_workers_pick_frame(sp->dlt, rec->data, rec->caplen, ts, sp->n) : 0;
    s->ent[w][s->nent[w]++] = ENTRY(seq, 0u, off);
    if (sp->stats_iv_us && bw_stats_due(&sp->rd.next_stats_us, sp->rd.now_us, sp->stats_iv_us))
        for (unsigned i = 0; i < sp->n; i++) s->ent[i][s->nent[i]++] = ENTRY(seq, E_STATS, off);
}

/* Read chunk c from `start` into its slot and walk it; then publish it. */
static void read_walk(struct bw_split *sp, int64_t c, uint64_t start)
{
    struct slot *s = &sp->slot[c % sp->nslots];
    size_t n = 0;
    bool eof = false, failed = false;
    while (n < CHUNK) {
        ssize_t r = pread(sp->src.fd, s->buf + n, CHUNK - n, (off_t)(start + n));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(sp->err, sizeof sp->err, "cannot read capture '%s': error reading dump file: %s",
                     sp->src.name, strerror(errno));
            failed = true;
            break;
        }
        if (r == 0) { eof = true; break; }
        n += (size_t)r;
    }
    size_t off = 0;
    for (unsigned i = 0; i < sp->n; i++) s->nent[i] = 0;
    while (!failed) {
        struct bw_pcaprec rec;
        size_t need;
        char why[160];
        enum bw_pcaprec_res r = bw_pcapfile_record(sp->src.fmt, s->buf + off, n - off, eof, &rec, &need, why,
                                                   sizeof why);
        if (r == BW_PCAPREC_MORE || r == BW_PCAPREC_END) break;
        if (r == BW_PCAPREC_BAD) {
            snprintf(sp->err, sizeof sp->err, "cannot read capture '%s': %s", sp->src.name, why);
            failed = true;
            break;
        }
        if (bw_capture_keeps(sp->cap, &rec)) walk_record(sp, s, off, &rec);
        off += rec.size;
    }
    s->have = n;
    s->end = start + off;
    s->end_seq = sp->rd.packets;
    STORE(sp->packets, sp->rd.packets);
    STORE(sp->earliest_us, sp->rd.earliest_us);
    STORE(sp->latest_us, sp->rd.latest_us);
    STORE(sp->now_us, sp->rd.now_us);
    STORE(sp->next_clock_us, sp->rd.next_clock_us);
    STORE(sp->next_stats_us, sp->rd.next_stats_us);
    STORE(sp->offset, start + off);
    if (eof || failed || atomic_load_explicit(&sp->stop, memory_order_relaxed))
        atomic_store_explicit(&sp->nchunks, c + 1, memory_order_release);
    atomic_store_explicit(&s->chunk, c, memory_order_release);
}

bool bw_split_read(struct bw_split *sp, struct bw_split_pos *pos)
{
    int64_t c = pos->next_read;
    if (atomic_load_explicit(&sp->nchunks, memory_order_acquire) >= 0) return false;
    if (c - pos->next_work >= AHEAD) return false;
    uint64_t start = sp->src.start;
    if (c > 0) {
        struct slot *prev = &sp->slot[(c - 1) % sp->nslots];
        if (atomic_load_explicit(&prev->chunk, memory_order_acquire) != c - 1) return false;
        start = prev->end;
        /* the walk before this one may have been the last */
        if (atomic_load_explicit(&sp->nchunks, memory_order_acquire) >= 0) return false;
    }
    /* the slot's chunk before, c - nslots, must be done with by every worker */
    for (unsigned i = 0; i < sp->n && c >= (int64_t)sp->nslots; i++)
        if (atomic_load_explicit(&sp->done[i], memory_order_acquire) <= c - (int64_t)sp->nslots) return false;
    if (atomic_load_explicit(&sp->stop, memory_order_relaxed)) {
        /* nothing more: the chunks before this one are all there is */
        atomic_store_explicit(&sp->nchunks, c, memory_order_release);
        return false;
    }
    read_walk(sp, c, start);
    pos->next_read += sp->n;
    return true;
}

int bw_split_next(struct bw_split *sp, struct bw_split_pos *pos, struct bw_split_item *it, uint64_t *next_seq)
{
    for (;;) {
        int64_t c = pos->next_work;
        int64_t nchunks = atomic_load_explicit(&sp->nchunks, memory_order_acquire);
        if (nchunks >= 0 && c >= nchunks) return -1;
        struct slot *s = &sp->slot[c % sp->nslots];
        if (atomic_load_explicit(&s->chunk, memory_order_acquire) != c) {
            /* every chunk before c was walked (this worker is done with them): what comes has
             * numbers from the end of c - 1 on */
            *next_seq = c == 0 ? sp->first_seq : sp->slot[(c - 1) % sp->nslots].end_seq;
            return 0;
        }
        const uint64_t *ent = s->ent[pos->id];
        uint32_t nent = s->nent[pos->id];
        while (pos->at < nent) {
            uint64_t e = ent[pos->at++];
            /* the next record was read in by whichever core read this chunk: its header comes
             * in meanwhile */
            if (pos->at < nent) __builtin_prefetch(s->buf + (ent[pos->at] & E_OFF));
            struct bw_pcaprec rec;
            size_t need, off = e & E_OFF;
            char why[8];
            /* walked already: a whole record */
            if (bw_pcapfile_record(sp->src.fmt, s->buf + off, s->have - off, true, &rec, &need, why, sizeof why) !=
                BW_PCAPREC_OK)
                continue;
            it->kind = (e & E_CLOCK) ? BW_SPLIT_CLOCK : (e & E_STATS) ? BW_SPLIT_STATS : BW_SPLIT_PACKET;
            it->seq = e >> E_SEQ_SHIFT;
            it->data = rec.data;
            it->caplen = rec.caplen;
            it->ts = bw_capture_ts(rec.ts_sec, rec.ts_usec);
            return 1;
        }
        pos->next_work = c + 1;
        pos->at = 0;
        atomic_store_explicit(&sp->done[pos->id], c + 1, memory_order_release);
    }
}

void bw_split_stop(struct bw_split *sp) { atomic_store_explicit(&sp->stop, 1, memory_order_relaxed); }

uint64_t bw_split_offset(const struct bw_split *sp) { return LOAD(sp->offset); }

void bw_split_clock_get(const struct bw_split *sp, struct bw_split_clock *out)
{
    out->packets = LOAD(sp->packets);
    out->earliest_us = LOAD(sp->earliest_us);
    out->latest_us = LOAD(sp->latest_us);
    out->now_us = LOAD(sp->now_us);
    out->next_clock_us = LOAD(sp->next_clock_us);
    out->next_stats_us = LOAD(sp->next_stats_us);
}

const char *bw_split_error(const struct bw_split *sp) { return sp->err; }
