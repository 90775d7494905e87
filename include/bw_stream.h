/* bw_stream.h: TCP reassembly, one struct bw_stream_dir per direction of a flow.
 * Delivers bytes in sequence order, once, through a callback; holds out-of-order data in a
 * fixed-size window taken from a memcap-bounded pool; reports holes it will never fill as gaps.
 * It knows nothing of flows, dissectors or protocols. No allocation after bw_stream_pool_init. */
#ifndef BW_STREAM_H
#define BW_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"

#define BW_STREAM_RANGES_MAX 8        /* out-of-order holes tracked per direction */
#define BW_STREAM_WINDOW_MAX (1u << 30)   /* keeps every offset far inside serial-number range */
#define BW_STREAM_SEG_MAX    (1u << 30)   /* a longer seg_len is cut to this: no real segment is */
/* An ack covering a hole gives it up only after this many more packets of the flow or this much
 * packet time, whichever comes first: a mirror port may deliver the acked segment after the ack. */
#define BW_STREAM_ACK_WAIT_PKTS 16
#define BW_STREAM_ACK_WAIT_US   200000u

/* What the consumer said about the bytes it was given. */
#define BW_STREAM_STOP ((size_t)-1)   /* consumer is done with this direction: drop everything after */

/* Callbacks into the consumer (the pipeline). `buf`/`len` are borrowed for the call.
 * data(): return how many bytes were consumed. 0 = need more (the bytes are kept and offered
 *   again, with more appended, once more arrive); a value > len = consume len and skip the
 *   excess of bytes still to come without delivering them; BW_STREAM_STOP = stop.
 *   The stream calls data() again while bytes remain and the last call consumed some.
 *   If the window fills with bytes the consumer keeps answering 0 to, nothing can ever be
 *   appended, so the direction stops as if it had returned BW_STREAM_STOP (window_overflows).
 * gap(): `len` bytes will never be delivered (0 = unknown; this stream always knows it);
 *   the next data() call starts after them. Bytes offered before the hole and not consumed
 *   (the consumer asked for more, and the more is in the hole) are dropped first, so after
 *   gap(len) the stream resumes len bytes past the end of the last buffer it offered.
 *   Return false to stop the direction. NULL behaves as returning false.
 * cut(): the in-order bytes `buf`/`len` were offered, the consumer asked for more, and the more
 *   will never come (a hole follows them, or the direction is being flushed): a last look at an
 *   incomplete message before the bytes are dropped. Called before the gap() it precedes. NULL =
 *   no last look.
 * No callback may call back into the stream for the same direction. */
struct bw_stream_cb {
    size_t (*data)(void *ctx, const uint8_t *buf, size_t len);
    bool   (*gap)(void *ctx, uint64_t len);
    void   *ctx;
    void   (*cut)(void *ctx, const uint8_t *buf, size_t len);
};

struct bw_stream_stats {
    uint64_t segments;           /* segments with payload offered */
    uint64_t bytes_delivered;    /* bytes consumed by data() (each byte once) */
    uint64_t bytes_skipped;      /* bytes passed over because the consumer asked to skip them */
    uint64_t bytes_dropped;      /* bytes held and discarded: refused before a hole, at flush, at stop */
    uint64_t retransmits;        /* segments carrying no new byte (before the delivery point or held) */
    uint64_t overlaps;           /* segments carrying new bytes and some already delivered or held */
    uint64_t overlap_conflicts;  /* overlapping bytes that differ from the held first copy (first wins) */
    uint64_t ooo_segments;       /* segments held out of order */
    uint64_t gaps;               /* holes declared */
    uint64_t gap_bytes;          /* bytes inside declared holes, when known */
    uint64_t memcap_hits;        /* a buffer was needed and the pool was empty: direction stopped */
    uint64_t window_overflows;   /* data beyond the per-direction window forced a gap, or the window
                                  * filled with bytes the consumer would not take: direction stopped */
    uint64_t truncated_segments; /* payload cut by snaplen: its tail is a hole */
    uint64_t ack_waits;          /* acks that covered a hole: its segment was waited for */
    uint64_t ack_waits_filled;   /* ...and it came within the wait (mirror-port reordering) */
    uint64_t ack_waits_expired;  /* ...and it did not: the hole became a gap */
    uint64_t buffers_in_use;     /* gauge */
    uint64_t buffers_hwm;        /* high-water mark */
    uint64_t buffers_max;        /* memcap / window */
};

/* The global buffer pool: memcap / window buffers of `window` bytes each. */
struct bw_stream_pool {
    uint8_t  *mem;               /* one region, allocated once */
    uint32_t *free_idx;          /* stack of free buffer indexes */
    uint32_t  nfree, nbufs;
    uint32_t  window;            /* bytes per buffer = per-direction memcap */
    uint32_t  ack_wait_pkts;     /* BW_STREAM_ACK_WAIT_PKTS after init; 0 = a covering ack is final */
    uint64_t  ack_wait_us;       /* BW_STREAM_ACK_WAIT_US after init */
    struct bw_stream_stats st;
};

struct bw_stream_range { uint32_t start, end; };   /* [start, end) as offsets from next_seq */

/* Per-direction state; zeroed memory is a valid "nothing seen" state.
 * The byte at offset x from next_seq lives at buffer[head + x]; the buffer is held exactly
 * while held > 0 or nooo > 0. While skip > 0 nothing is held. */
struct bw_stream_dir {
    uint32_t next_seq;           /* sequence number of the first byte not yet consumed */
    uint32_t buf_idx;            /* pool buffer index + 1; 0 = none */
    uint32_t head;               /* buffer offset of the byte at next_seq */
    uint32_t held;               /* offsets [0, held) are in order, offered, and not yet consumed */
    uint64_t skip;               /* bytes still to discard before delivering */
    struct bw_stream_range ooo[BW_STREAM_RANGES_MAX];  /* held data beyond a hole: sorted,
                                                          * disjoint, not adjacent, start > held */
    uint8_t  nooo;
    uint8_t  ack_pkts;           /* packets seen since ack_seq first covered a hole */
    bool     ack_pending;        /* ack_seq covers a hole not yet given up */
    bool     hold;               /* deliver nothing yet: these bytes answer the other direction's
                                  * bytes that are still awaited (bw_stream_hold) */
    uint32_t hold_mark;          /* held when the hold began: bytes offered already */
    uint32_t ack_seq;            /* highest such ack */
    uint64_t ack_ts;             /* packet time it first did */
    bool     init;               /* next_seq is known */
    bool     stopped;            /* consumer said stop, or the pool refused: only seq is tracked */
    bool     fin;                /* FIN or RST seen in this direction (set by the caller) */
};

/* Allocate the pool: memcap / window buffers. 0 < window <= BW_STREAM_WINDOW_MAX,
 * memcap >= window. Returns 0, BW_EINVAL (p zeroed) or BW_ENOMEM (p zeroed). */
int  bw_stream_pool_init(struct bw_stream_pool *p, size_t memcap, size_t window) BW_WARN_UNUSED;
/* Free the region. Every direction must have been released or flushed first. Safe on a
 * zeroed pool and safe to call twice. */
void bw_stream_pool_free(struct bw_stream_pool *p);

/* First sight of a direction. `syn` = the segment carries SYN (data starts at seq + 1).
 * Resets everything but a buffer still attached, which the next call finding it empty returns. */
void bw_stream_start(struct bw_stream_dir *d, uint32_t seq, bool syn);

/* Offer one segment: `seq` of its first payload byte (a SYN's seq + 1), captured `data`/`len`,
 * and `seg_len` >= len as the IP header says (the missing tail of a snaplen-cut segment becomes
 * a gap; a smaller seg_len is raised to len). A direction never started starts here (midstream
 * pickup). May call cb->data and cb->gap. A stopped direction only moves next_seq forward. */
void bw_stream_segment(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t seq,
                       const uint8_t *data, size_t len, size_t seg_len, const struct bw_stream_cb *cb);

/* The peer acknowledged up to `ack` at packet time `ts`: bytes before it were sent, so held data
 * beyond a hole that the ack covers will be completed only by a segment the capture saw late (a
 * mirror port copies each direction on its own, and may copy a segment after the ack of it). The
 * hole is waited for: once the pool's ack_wait_pkts more packets of the flow (bw_stream_tick) or
 * ack_wait_us of packet time have passed without it, it is declared a gap and delivery goes on;
 * an ack covering only part of a hole declares that part. With ack_wait_pkts 0 that happens at
 * once. Nothing happens unless out-of-order data is held: an ack seen before its data is
 * harmless. */
void bw_stream_ack(struct bw_stream_pool *p, struct bw_stream_dir *d, uint32_t ack, uint64_t ts,
                   const struct bw_stream_cb *cb);

/* One more packet of the flow (either direction) at packet time ts: a hole an ack covered and
 * that is still open after the wait is declared a gap (see bw_stream_ack). */
void bw_stream_tick(struct bw_stream_pool *p, struct bw_stream_dir *d, uint64_t ts,
                    const struct bw_stream_cb *cb);

/* Hold (on) or resume (off) delivery of this direction. While held, segments are placed but not
 * offered: the pipeline holds a direction whose packets acknowledge bytes of the other direction
 * that the stream still waits for, so an answer is never read before its request. Resuming
 * offers what is held when bytes came during the hold (bytes refused before it wait for more, as
 * ever). A flush resumes first. */
void bw_stream_hold(struct bw_stream_pool *p, struct bw_stream_dir *d, bool on, const struct bw_stream_cb *cb);

/* The consumer's state changed (a dissector was chosen from the other direction's bytes):
 * offer the held in-order bytes of this direction again. */
void bw_stream_kick(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb);

/* End of the direction (FIN/RST/timeout/eviction/end of capture): deliver held data across any
 * holes (gap, then data; a pending ack wait ends here), then release the buffer. In-order bytes the consumer already refused
 * are dropped. The direction stays usable (later segments are handled as usual). */
void bw_stream_flush(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb);

/* Release the buffer without delivering (bypass / flow freed) and stop the direction.
 * Safe to call twice. */
void bw_stream_release(struct bw_stream_pool *p, struct bw_stream_dir *d);

#endif
