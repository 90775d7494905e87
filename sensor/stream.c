/* stream.c: TCP reassembly per direction, to the contract in bw_stream.h.
 * Owns the buffer pool (one region cut into window-sized buffers) and the bytes each direction
 * holds; delivers bytes in order and once through bw_stream_cb and reports holes as gaps.
 * Must not allocate after bw_stream_pool_init, log, keep globals, or know flows or protocols.
 * All sequence comparisons are serial: (int32_t)(a - b). */
#include <stdlib.h>
#include <string.h>
#include "bw_stream.h"

/* What is left of the segment being processed. */
struct piece {
    uint32_t seq;            /* sequence number of ptr[0] */
    const uint8_t *ptr;
    size_t n;                /* captured bytes left */
    size_t lost;             /* bytes right after them that the capture cut off */
    size_t old, fresh;       /* bytes already seen / newly taken: decide the segment counters */
    bool ooo;                /* some of it was held beyond a hole */
};

static int64_t seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

static uint8_t *dir_buf(const struct bw_stream_pool *p, const struct bw_stream_dir *d)
{
    return p->mem + (size_t)(d->buf_idx - 1) * p->window;
}

/* Offset just past the last held byte: what a compaction must keep. */
static uint32_t held_extent(const struct bw_stream_dir *d)
{
    return d->nooo ? d->ooo[d->nooo - 1].end : d->held;
}

static bool buf_get(struct bw_stream_pool *p, struct bw_stream_dir *d)
{
    if (d->buf_idx)
        return true;
    if (p->nfree == 0) {                 /* the memcap: refuse, count, let the caller degrade */
        p->st.memcap_hits++;
        return false;
    }
    d->buf_idx = p->free_idx[--p->nfree] + 1;
    d->head = 0;
    p->st.buffers_in_use++;
    if (p->st.buffers_in_use > p->st.buffers_hwm)
        p->st.buffers_hwm = p->st.buffers_in_use;
    return true;
}

static void buf_put(struct bw_stream_pool *p, struct bw_stream_dir *d)
{
    /* An index this pool never gave out (or a full stack) means the direction belongs to
     * another pool: forgetting it is safer than corrupting the free stack. */
    if (d->buf_idx && d->buf_idx <= p->nbufs && p->nfree < p->nbufs) {
        p->free_idx[p->nfree++] = d->buf_idx - 1;
        p->st.buffers_in_use--;
    }
    d->buf_idx = 0;
    d->head = 0;
    d->held = 0;
    d->nooo = 0;
}

/* Return the buffer as soon as it holds nothing. */
static void tidy(struct bw_stream_pool *p, struct bw_stream_dir *d)
{
    if (d->buf_idx && d->held == 0 && d->nooo == 0)
        buf_put(p, d);
}

/* Move the delivery point k bytes on: bytes before it are gone (consumed, skipped, dropped or
 * inside a declared hole). Held ranges shift; one that now starts at 0 becomes the in-order
 * prefix. k never exceeds the distance to data still held, so head stays inside the buffer. */
static void advance(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t k)
{
    d->next_seq += k;
    d->held = d->held > k ? d->held - k : 0;
    uint8_t n = 0;
    for (uint8_t i = 0; i < d->nooo; i++) {
        struct bw_stream_range r = d->ooo[i];
        if (r.end <= k)                  /* wholly behind the new delivery point */
            continue;
        r.start = r.start > k ? r.start - k : 0;
        r.end -= k;
        d->ooo[n++] = r;
    }
    d->nooo = n;
    if (d->held == 0 && d->nooo > 0 && d->ooo[0].start == 0) {
        d->held = d->ooo[0].end;
        memmove(&d->ooo[0], &d->ooo[1], (size_t)(d->nooo - 1) * sizeof d->ooo[0]);
        d->nooo--;
    }
    if (d->held == 0 && d->nooo == 0)
        buf_put(p, d);
    else
        d->head += k;
}

static void stop(struct bw_stream_pool *p, struct bw_stream_dir *d)
{
    uint64_t n = d->held;
    for (uint8_t i = 0; i < d->nooo; i++)
        n += d->ooo[i].end - d->ooo[i].start;
    p->st.bytes_dropped += n;
    buf_put(p, d);
    d->skip = 0;
    d->stopped = true;
}

/* A pending skip covers the next d->skip bytes whether or not they were seen, so once a byte at
 * offset `seen_end` - 1 exists, everything before min(skip, seen_end) is passed at once, holes
 * included: a hole inside a skip is no gap. */
static void swallow(struct bw_stream_pool *p, struct bw_stream_dir *d, uint64_t seen_end)
{
    uint64_t k = d->skip < seen_end ? d->skip : seen_end;
    if (k == 0)
        return;
    d->skip -= k;
    p->st.bytes_skipped += k;
    advance(p, d, (uint32_t)k);
}

/* Offer the in-order held bytes. Called only when they are new to the consumer (they grew or
 * follow a gap), then again after every call that consumed some, as the contract says. */
static void deliver(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb)
{
    while (!d->stopped && !d->hold && d->held > 0) {
        size_t len = d->held;
        size_t used = cb->data(cb->ctx, dir_buf(p, d) + d->head, len);
        if (used == BW_STREAM_STOP) {
            stop(p, d);
            return;
        }
        if (used == 0) {
            /* A full window the consumer will not take can never grow: it would wait forever. */
            if (len >= p->window) {
                p->st.window_overflows++;
                stop(p, d);
            }
            return;
        }
        if (used < len) {
            p->st.bytes_delivered += used;
            advance(p, d, (uint32_t)used);
            continue;
        }
        p->st.bytes_delivered += len;
        advance(p, d, (uint32_t)len);
        if (used > len) {
            d->skip = used - len;
            if (d->held > 0 || d->nooo > 0)  /* held data proves the skipped span was sent */
                swallow(p, d, held_extent(d));
        }
    }
}

/* Does `ack` cover a hole (held data beyond it, the ack past the in-order bytes)? */
static bool ack_covers_hole(const struct bw_stream_dir *d, uint32_t ack)
{
    return d->nooo > 0 && seq_diff(ack, d->next_seq) > (int64_t)d->held;
}

/* A hole is about to be given up, and with it the order the hold kept: offer what was held back
 * first (callers measure the hole after this). Returns false when the direction stopped. */
static bool unhold(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb)
{
    if (d->hold) {
        d->hold = false;
        if (d->held > d->hold_mark)      /* only new bytes are worth an offer */
            deliver(p, d, cb);
    }
    return !d->stopped;
}

/* Give up on the hole of g > 0 bytes that starts after the in-order held bytes. Those were
 * offered and refused (the consumer needs more, and the more is in the hole), so they go first.
 * No skip is pending here: a skip is swallowed as soon as data past it is seen (swallow()), so
 * the part of a hole inside a skip never reaches this point and only the excess is reported. */
static void declare_gap(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t g,
                        const struct bw_stream_cb *cb)
{
    if (d->held > 0) {
        if (cb->cut)
            cb->cut(cb->ctx, dir_buf(p, d) + d->head, d->held);
        p->st.bytes_dropped += d->held;
    }
    advance(p, d, d->held + g);
    p->st.gaps++;
    p->st.gap_bytes += g;
    if (d->ack_pending && !ack_covers_hole(d, d->ack_seq)) {
        d->ack_pending = false;          /* given up another way (window, memcap) during the wait */
        p->st.ack_waits_expired++;
    }
    if (!cb->gap || !cb->gap(cb->ctx, g)) {
        stop(p, d);
        return;
    }
    deliver(p, d, cb);
}

/* The first hole: up to the first held range, or up to the segment at offset `rel` when
 * nothing is held beyond a hole. */
static void resolve_hole(struct bw_stream_pool *p, struct bw_stream_dir *d, int64_t rel,
                         const struct bw_stream_cb *cb)
{
    if (!unhold(p, d, cb))
        return;
    int64_t h = d->nooo ? (int64_t)d->ooo[0].start : rel;
    if (h <= (int64_t)d->held) {         /* no hole to give up: the window is full of refused bytes */
        p->st.window_overflows++;
        stop(p, d);
        return;
    }
    declare_gap(p, d, (uint32_t)(h - d->held), cb);
}

/* Nothing held and the piece starts at the delivery point: hand the caller's bytes straight to
 * the consumer and copy only what it leaves. */
static void direct(struct bw_stream_pool *p, struct bw_stream_dir *d, struct piece *pc,
                   const struct bw_stream_cb *cb)
{
    while (pc->n > 0) {
        size_t used = cb->data(cb->ctx, pc->ptr, pc->n);
        if (used == BW_STREAM_STOP) {
            stop(p, d);
            return;
        }
        if (used == 0)
            break;
        size_t took = used < pc->n ? used : pc->n;
        p->st.bytes_delivered += took;
        pc->fresh += took;
        d->next_seq += (uint32_t)took;
        pc->seq += (uint32_t)took;
        pc->ptr += took;
        pc->n -= took;
        if (used > took) {               /* consumed all; the excess applies to bytes to come */
            d->skip = used - took;
            return;
        }
    }
    if (pc->n == 0)
        return;
    size_t n = pc->n;
    pc->fresh += n;
    pc->seq += (uint32_t)n;
    pc->ptr += n;
    pc->n = 0;
    /* The consumer needs more, but the bytes after these were cut by the capture: the coming
     * gap would drop them, so do not take a buffer for them. */
    if (pc->lost > 0) {
        if (cb->cut)
            cb->cut(cb->ctx, pc->ptr - n, n);
        p->st.bytes_dropped += n;
        d->next_seq += (uint32_t)n;
        return;
    }
    if (n >= p->window) {                /* a window or more refused: can never complete */
        p->st.window_overflows++;
        p->st.bytes_dropped += n;
        stop(p, d);
        return;
    }
    if (!buf_get(p, d)) {
        p->st.bytes_dropped += n;
        stop(p, d);
        return;
    }
    memcpy(dir_buf(p, d), pc->ptr - n, n);
    d->head = 0;
    d->held = (uint32_t)n;
}

/* Copy piece bytes [rel, rel + len) into the buffer where no earlier copy is held (first copy
 * wins; differing bytes are counted), merge the ranges, then offer new in-order bytes.
 * Returns false, changing nothing, when that needs more than BW_STREAM_RANGES_MAX ranges
 * beyond a hole. rel + len <= window. */
static bool place(struct bw_stream_pool *p, struct bw_stream_dir *d, struct piece *pc,
                  uint32_t rel, uint32_t len, const struct bw_stream_cb *cb)
{
    struct bw_stream_range have[BW_STREAM_RANGES_MAX + 1], out[BW_STREAM_RANGES_MAX + 2];
    unsigned nh = 0, no = 0, i = 0;
    if (d->held > 0)
        have[nh++] = (struct bw_stream_range){ 0, d->held };
    for (uint8_t j = 0; j < d->nooo; j++)
        have[nh++] = d->ooo[j];

    /* Insert [rel, rel + len) into the sorted list, merging what it overlaps or touches. */
    struct bw_stream_range m = { rel, rel + len };
    while (i < nh && have[i].end < m.start)
        out[no++] = have[i++];
    while (i < nh && have[i].start <= m.end) {
        if (have[i].start < m.start) m.start = have[i].start;
        if (have[i].end > m.end) m.end = have[i].end;
        i++;
    }
    out[no++] = m;
    while (i < nh)
        out[no++] = have[i++];
    unsigned first_ooo = out[0].start == 0 ? 1 : 0;
    if (no - first_ooo > BW_STREAM_RANGES_MAX)
        return false;

    if (!buf_get(p, d)) {
        stop(p, d);
        return true;
    }
    uint8_t *b = dir_buf(p, d);
    if ((uint64_t)d->head + rel + len > p->window) {   /* consumed room at the front: reclaim it */
        memmove(b, b + d->head, held_extent(d));
        d->head = 0;
    }
    b += d->head;

    /* Fill only what no range holds; compare the rest with the first copy. */
    uint32_t x = rel, end = rel + len;
    size_t covered = 0;
    for (unsigned j = 0; j < nh && x < end; j++) {
        if (have[j].end <= x)
            continue;
        if (have[j].start >= end)
            break;
        if (have[j].start > x) {
            memcpy(b + x, pc->ptr + (x - rel), have[j].start - x);
            x = have[j].start;
        }
        uint32_t stop_at = have[j].end < end ? have[j].end : end;
        for (uint32_t k = x; k < stop_at; k++)
            if (b[k] != pc->ptr[k - rel])
                p->st.overlap_conflicts++;
        covered += stop_at - x;
        x = stop_at;
    }
    if (x < end)
        memcpy(b + x, pc->ptr + (x - rel), end - x);

    uint32_t held_before = d->held;
    if (rel > held_before)
        pc->ooo = true;
    d->held = first_ooo ? out[0].end : 0;
    d->nooo = (uint8_t)(no - first_ooo);
    for (unsigned j = first_ooo; j < no; j++)
        d->ooo[j - first_ooo] = out[j];

    pc->old += covered;
    pc->fresh += len - covered;
    pc->seq += len;
    pc->ptr += len;
    pc->n -= len;
    if (d->held > held_before)           /* only new in-order bytes are worth a call */
        deliver(p, d, cb);
    return true;
}

/* Drop n bytes from the front of the piece: first captured, then cut-off ones. */
static void trim(struct piece *pc, size_t n)
{
    size_t a = n < pc->n ? n : pc->n;
    if (a > 0) {                         /* ptr may be NULL when nothing was captured */
        pc->old += a;
        pc->ptr += a;
        pc->n -= a;
    }
    pc->lost -= n - a;
    pc->seq += (uint32_t)n;
}

/* Work the piece down until it is all delivered, held, skipped, behind us, or the direction
 * stops. Every turn consumes part of the piece or moves the delivery point, so it ends. */
static void process(struct bw_stream_pool *p, struct bw_stream_dir *d, struct piece *pc,
                    const struct bw_stream_cb *cb)
{
    while (!d->stopped && pc->n + pc->lost > 0) {
        int64_t rel = seq_diff(pc->seq, d->next_seq);
        int64_t end = rel + (int64_t)pc->n + (int64_t)pc->lost;
        if (end <= 0) {                  /* all of it is before the delivery point: seen already */
            pc->old += pc->n;
            return;
        }
        if (rel < 0) {                   /* starts before the delivery point: keep the new part */
            trim(pc, (size_t)-rel);
            rel = 0;
        }
        if (d->skip > 0) {               /* nothing is held while skipping: pass what the skip covers */
            swallow(p, d, (uint64_t)end);
            continue;
        }
        if (pc->n == 0) {                /* only the cut-off tail is left */
            if (rel < (int64_t)d->held) {/* another copy of those bytes is held: not lost */
                size_t a = (size_t)((int64_t)d->held - rel);
                trim(pc, a < pc->lost ? a : pc->lost);
                continue;
            }
            if (rel > (int64_t)d->held)  /* beyond a hole: ack, window or flush resolves it */
                return;
            if (d->hold) {               /* the hole after held-back bytes: offer them first */
                unhold(p, d, cb);
                continue;
            }
            uint64_t g = pc->lost;
            if (d->nooo > 0 && d->ooo[0].start - d->held < g)
                g = d->ooo[0].start - d->held;   /* held data beyond it was seen in another copy */
            trim(pc, (size_t)g);
            declare_gap(p, d, (uint32_t)g, cb);
            continue;
        }
        if (!d->buf_idx && rel == 0 && !d->hold) {
            direct(p, d, pc, cb);
            continue;
        }
        if (rel >= (int64_t)p->window) { /* cannot be held: give up the hole before it */
            p->st.window_overflows++;
            resolve_hole(p, d, rel, cb);
            continue;
        }
        size_t room = p->window - (size_t)rel;
        size_t len = pc->n < room ? pc->n : room;
        if (!place(p, d, pc, (uint32_t)rel, (uint32_t)len, cb))
            resolve_hole(p, d, rel, cb); /* too many holes: give up the first */
    }
}

int bw_stream_pool_init(struct bw_stream_pool *p, size_t memcap, size_t window)
{
    memset(p, 0, sizeof *p);
    /* Offsets inside a window must stay far below 2^31 for serial arithmetic to hold. */
    if (window == 0 || window > BW_STREAM_WINDOW_MAX || memcap < window)
        return BW_EINVAL;
    size_t n = memcap / window;
    if (n > UINT32_MAX - 1)              /* buffer indexes are stored + 1 in 32 bits */
        n = UINT32_MAX - 1;
    if (n > SIZE_MAX / sizeof *p->free_idx)
        return BW_EINVAL;
    p->mem = malloc(n * window);         /* n * window <= memcap: no overflow */
    if (!p->mem)
        goto fail;
    p->free_idx = malloc(n * sizeof *p->free_idx);
    if (!p->free_idx)
        goto fail;
    for (size_t i = 0; i < n; i++)       /* pop order: buffer 0 first */
        p->free_idx[i] = (uint32_t)(n - 1 - i);
    p->nfree = p->nbufs = (uint32_t)n;
    p->window = (uint32_t)window;
    p->st.buffers_max = n;
    p->ack_wait_pkts = BW_STREAM_ACK_WAIT_PKTS;
    p->ack_wait_us = BW_STREAM_ACK_WAIT_US;
    return 0;
fail:
    free(p->mem);
    free(p->free_idx);
    memset(p, 0, sizeof *p);
    return BW_ENOMEM;
}

void bw_stream_pool_free(struct bw_stream_pool *p)
{
    free(p->mem);
    free(p->free_idx);
    memset(p, 0, sizeof *p);
}

void bw_stream_start(struct bw_stream_dir *d, uint32_t seq, bool syn)
{
    uint32_t idx = d->buf_idx;           /* cannot be returned without the pool: tidy() will */
    memset(d, 0, sizeof *d);
    d->buf_idx = idx;
    d->next_seq = syn ? seq + 1 : seq;
    d->init = true;
}

void bw_stream_segment(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t seq,
                       const uint8_t *data, size_t len, size_t seg_len, const struct bw_stream_cb *cb)
{
    if (seg_len < len)                   /* the captured bytes exist whatever the header says */
        seg_len = len;
    if (seg_len > BW_STREAM_SEG_MAX)     /* not a real segment; keeps offsets in serial range */
        seg_len = BW_STREAM_SEG_MAX;
    if (len > seg_len)
        len = seg_len;
    if (!d->init)                        /* midstream pickup: this segment is the start */
        bw_stream_start(d, seq, false);
    tidy(p, d);
    if (seg_len == 0)
        return;
    p->st.segments++;
    if (!d->stopped) {
        if (len < seg_len)
            p->st.truncated_segments++;
        struct piece pc = { seq, data, len, seg_len - len, 0, 0, false };
        process(p, d, &pc, cb);
        if (pc.old > 0 && pc.fresh == 0)
            p->st.retransmits++;
        else if (pc.old > 0)
            p->st.overlaps++;
        if (pc.ooo)
            p->st.ooo_segments++;
        if (d->ack_pending && !d->stopped && !ack_covers_hole(d, d->ack_seq)) {
            d->ack_pending = false;      /* the segment an ack covered came late: no gap */
            p->st.ack_waits_filled++;
        }
        tidy(p, d);
    }
    if (d->stopped) {                    /* keep tracking where the sender is */
        uint32_t e = seq + (uint32_t)seg_len;
        if (seq_diff(e, d->next_seq) > 0)
            d->next_seq = e;
    }
}

/* Give up every hole that `ack` covers. */
static void ack_declare(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t ack,
                        const struct bw_stream_cb *cb)
{
    if (!ack_covers_hole(d, ack) || !unhold(p, d, cb))
        return;
    while (!d->stopped && d->nooo > 0) {
        int64_t rel = seq_diff(ack, d->next_seq);
        /* Only an ack past the in-order bytes covers a hole: the peer got bytes we missed. */
        if (rel <= (int64_t)d->held)
            break;
        uint32_t h = rel < (int64_t)d->ooo[0].start ? (uint32_t)rel : d->ooo[0].start;
        declare_gap(p, d, h - d->held, cb);
    }
}

/* The wait for the segment an ack covered: filled (nothing left to declare), running, or over. */
static void ack_wait_check(struct bw_stream_pool *p, struct bw_stream_dir *d, uint64_t ts,
                           const struct bw_stream_cb *cb)
{
    if (!d->ack_pending)
        return;
    if (d->stopped || !ack_covers_hole(d, d->ack_seq)) {
        d->ack_pending = false;          /* the late segment came (or the direction is over) */
        if (!d->stopped)
            p->st.ack_waits_filled++;
        return;
    }
    /* Packet time only moves forward here; a file whose clock steps back ends the wait too. */
    bool late = d->ack_pkts >= p->ack_wait_pkts || ts < d->ack_ts || ts - d->ack_ts >= p->ack_wait_us;
    if (!late)
        return;
    d->ack_pending = false;
    p->st.ack_waits_expired++;
    ack_declare(p, d, d->ack_seq, cb);
}

void bw_stream_ack(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t ack, uint64_t ts,
                   const struct bw_stream_cb *cb)
{
    if (!d->init || d->stopped)
        return;
    if (p->ack_wait_pkts == 0) {
        ack_declare(p, d, ack, cb);
    } else if (ack_covers_hole(d, ack)) {
        if (!d->ack_pending) {
            d->ack_pending = true;
            d->ack_seq = ack;
            d->ack_ts = ts;
            d->ack_pkts = 0;
            p->st.ack_waits++;
        } else if (seq_diff(ack, d->ack_seq) > 0) {
            d->ack_seq = ack;            /* the wait keeps its start: later acks never extend it */
        }
        ack_wait_check(p, d, ts, cb);
    }
    tidy(p, d);
}

void bw_stream_tick(struct bw_stream_pool *p, struct bw_stream_dir *d, uint64_t ts,
                    const struct bw_stream_cb *cb)
{
    if (!d->ack_pending)
        return;
    if (d->ack_pkts < UINT8_MAX)
        d->ack_pkts++;
    ack_wait_check(p, d, ts, cb);
    tidy(p, d);
}

void bw_stream_hold(struct bw_stream_pool *p, struct bw_stream_dir *d, bool on, const struct bw_stream_cb *cb)
{
    if (d->hold == on)
        return;
    if (on) {
        d->hold = true;
        d->hold_mark = d->held;          /* offered already (and refused, or nothing) */
        return;
    }
    if (d->init && !d->stopped) {
        unhold(p, d, cb);
        tidy(p, d);
    }
    d->hold = false;
}

void bw_stream_kick(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb)
{
    if (!d->init || d->stopped) return;
    deliver(p, d, cb);
    tidy(p, d);
}

void bw_stream_flush(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb)
{
    if (d->ack_pending) {                   /* the end: every hole is given up below */
        d->ack_pending = false;
        p->st.ack_waits_expired++;
    }
    if (d->init && !d->stopped && d->hold)
        unhold(p, d, cb);                   /* bytes that came during a hold: offered as usual */
    d->hold = false;
    if (d->init && !d->stopped) {
        deliver(p, d, cb);                  /* a last offer: the consumer knows the end has come */
        while (!d->stopped && d->nooo > 0)
            declare_gap(p, d, d->ooo[0].start - d->held, cb);
        if (!d->stopped && d->held > 0) {   /* refused already, and nothing more will come */
            if (cb->cut)
                cb->cut(cb->ctx, dir_buf(p, d) + d->head, d->held);
            p->st.bytes_dropped += d->held;
            advance(p, d, d->held);
        }
    }
    buf_put(p, d);
}

void bw_stream_release(struct bw_stream_pool *p, struct bw_stream_dir *d)
{
    stop(p, d);
}
