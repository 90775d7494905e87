/* bw_ring.h: a single-producer, single-consumer ring of variable-sized messages, the only link
 * between the reader and a worker (packets in) and between a worker and the writer (records out).
 * No locks: each side owns one position and publishes it with a release store; the other side
 * reads it with an acquire load, and only when its cached copy says the ring looks full or empty.
 * Messages are 8-byte aligned and never wrap: one that does not fit before the end leaves a pad.
 * The memory is one allocation made at start. A full ring refuses (the caller decides: wait or
 * count); an empty one returns NULL. */
#ifndef BW_RING_H
#define BW_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"

struct bw_ring_msg {
    uint32_t size;          /* whole message, header included, multiple of 8 */
    uint16_t type;          /* the user's; BW_RING_PAD is the ring's own */
    uint16_t aux;           /* the user's */
    uint32_t len;           /* bytes of data[] in use */
    int32_t  dlt;           /* the user's */
    uint64_t ts_us;         /* the user's */
    uint8_t  data[];
};

#define BW_RING_PAD 0xffff

struct bw_ring {
    /* producer's line */
    _Alignas(64) _Atomic uint64_t head;     /* bytes published */
    uint64_t p_head;                        /* bytes written, published or not */
    uint64_t p_tail;                        /* the consumer's position, as last read */
    uint32_t p_unpublished;                 /* messages committed since the last publication */
    /* consumer's line */
    _Alignas(64) _Atomic uint64_t tail;     /* bytes released */
    uint64_t c_tail;                        /* bytes consumed, released or not */
    uint64_t c_head;                        /* the producer's position, as last read */
    uint32_t c_unreleased;                  /* messages consumed since the last release */
    _Alignas(64) uint8_t *buf;
    size_t size;                            /* power of two */
};

/* size: bytes, rounded up to a power of two (at least 64 KiB); prefault: touch every page now
 * (live capture: no page fault on the packet path), else pages come as the ring first goes
 * round (a short file never touches most of it). Returns 0 or BW_ENOMEM. */
int  bw_ring_init(struct bw_ring *r, size_t size, bool prefault) BW_WARN_UNUSED;
void bw_ring_free(struct bw_ring *r);
/* The largest data length one message can carry. */
size_t bw_ring_max_data(const struct bw_ring *r);

/* Producer. reserve(): room for a message of len data bytes, header filled with size and len;
 * NULL while the ring is too full (nothing changed). commit() makes it the next message; the
 * consumer sees it after publish() (or the next reserve() that finds the ring full). */
struct bw_ring_msg *bw_ring_reserve(struct bw_ring *r, size_t len);
void bw_ring_commit(struct bw_ring *r, struct bw_ring_msg *m);
void bw_ring_publish(struct bw_ring *r);
/* Messages written and not yet taken by the consumer (published or not): the ring is idle at 0. */
bool bw_ring_drained(struct bw_ring *r);

/* Consumer. peek(): the oldest published message, NULL when none; valid until release().
 * release(): done with it; the room goes back to the producer in batches, so release_all()
 * before waiting. */
const struct bw_ring_msg *bw_ring_peek(struct bw_ring *r);
/* The message after m (what peek() returned, not yet released) if it was published when peek()
 * last looked, else NULL: a look ahead (to prefetch what it points at), valid as long as m. */
const struct bw_ring_msg *bw_ring_peek_next(const struct bw_ring *r, const struct bw_ring_msg *m);
void bw_ring_release(struct bw_ring *r, const struct bw_ring_msg *m);
void bw_ring_release_all(struct bw_ring *r);

#endif
