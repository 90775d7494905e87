/* ring.c: the single-producer, single-consumer message ring (bw_ring.h). Positions grow without
 * wrapping (64 bits); a position's place in the buffer is its low bits. Each side keeps a private
 * copy of the other's position and reads the shared one only when that copy says full or empty,
 * and publishes its own in batches, so the two cores rarely touch the same cache line. Owns its
 * buffer; knows nothing of what the messages mean. */
#include "bw_ring.h"

#include <stdlib.h>
#include <string.h>

#define HDR sizeof(struct bw_ring_msg)
#define BATCH 32                          /* messages between two publications, at most */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

int bw_ring_init(struct bw_ring *r, size_t size, bool prefault)
{
    size_t s = 65536;
    memset(r, 0, sizeof *r);
    while (s < size && s < ((size_t)1 << 30)) s <<= 1;
    r->buf = aligned_alloc(64, s);
    if (!r->buf) return BW_ENOMEM;
    if (prefault) memset(r->buf, 0, s);    /* every page now, none on the packet path */
    r->size = s;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void bw_ring_free(struct bw_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->size = 0;
}

size_t bw_ring_max_data(const struct bw_ring *r)
{
    return r->size / 4 - HDR;             /* a quarter: a full ring still takes the next one soon */
}

/* Bytes before the buffer's end from position pos; fewer than a header cannot hold one (both
 * sides then skip to the start). */
static size_t room_to_end(const struct bw_ring *r, uint64_t pos)
{
    return r->size - (size_t)(pos & (r->size - 1));
}

struct bw_ring_msg *bw_ring_reserve(struct bw_ring *r, size_t len)
{
    if (len > bw_ring_max_data(r)) return NULL;
    size_t need = align8(HDR + len);
    size_t end = room_to_end(r, r->p_head);
    size_t pad = end < need ? end : 0;
    if (r->size - (size_t)(r->p_head - r->p_tail) < pad + need) {
        r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->size - (size_t)(r->p_head - r->p_tail) < pad + need) {
            bw_ring_publish(r);            /* let the consumer see what there is */
            return NULL;
        }
    }
    if (pad) {
        if (pad >= HDR) {
            struct bw_ring_msg *m = (struct bw_ring_msg *)(r->buf + (r->p_head & (r->size - 1)));
            m->size = (uint32_t)pad;
            m->type = BW_RING_PAD;
        }
        r->p_head += pad;
    }
    struct bw_ring_msg *m = (struct bw_ring_msg *)(r->buf + (r->p_head & (r->size - 1)));
    m->size = (uint32_t)need;
    m->len = (uint32_t)len;
    m->type = 0;
    m->aux = 0;
    return m;
}

void bw_ring_commit(struct bw_ring *r, struct bw_ring_msg *m)
{
    r->p_head += m->size;
    if (++r->p_unpublished >= BATCH) bw_ring_publish(r);   /* the consumer takes a batch at once */
}

void bw_ring_publish(struct bw_ring *r)
{
    r->p_unpublished = 0;
    atomic_store_explicit(&r->head, r->p_head, memory_order_release);
}

bool bw_ring_drained(struct bw_ring *r)
{
    r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    return r->p_tail == r->p_head;
}

const struct bw_ring_msg *bw_ring_peek(struct bw_ring *r)
{
    for (;;) {
        if (r->c_tail == r->c_head) {
            r->c_head = atomic_load_explicit(&r->head, memory_order_acquire);
            if (r->c_tail == r->c_head) return NULL;
        }
        size_t end = room_to_end(r, r->c_tail);
        if (end < HDR) { r->c_tail += end; continue; }
        const struct bw_ring_msg *m = (const struct bw_ring_msg *)(r->buf + (r->c_tail & (r->size - 1)));
        if (m->type == BW_RING_PAD) { r->c_tail += m->size; continue; }
        return m;
    }
}

const struct bw_ring_msg *bw_ring_peek_next(const struct bw_ring *r, const struct bw_ring_msg *m)
{
    uint64_t pos = r->c_tail + m->size;
    for (int i = 0; i < 2; i++) {          /* past one pad at most */
        if (pos >= r->c_head) return NULL; /* as far as peek() last saw published */
        size_t end = room_to_end(r, pos);
        if (end < HDR) { pos += end; continue; }
        const struct bw_ring_msg *n = (const struct bw_ring_msg *)(r->buf + (pos & (r->size - 1)));
        if (n->type == BW_RING_PAD) { pos += n->size; continue; }
        return n;
    }
    return NULL;
}

void bw_ring_release(struct bw_ring *r, const struct bw_ring_msg *m)
{
    r->c_tail += m->size;
    if (++r->c_unreleased >= BATCH) bw_ring_release_all(r);
}

void bw_ring_release_all(struct bw_ring *r)
{
    r->c_unreleased = 0;
    atomic_store_explicit(&r->tail, r->c_tail, memory_order_release);
}
