/* hold.c: the evidence hold pool (bw_hold.h). Fixed slots, one region allocated at init, a free
 * list through the slot records; frames are appended as (header, bytes) records aligned to 8.
 * Owns the pool's memory; never allocates after init; never reads the frames it keeps. */
#include <stdlib.h>
#include <string.h>
#include "bw_hold.h"

struct rec { uint64_t ts_us; uint32_t caplen; int32_t dlt; };   /* then caplen bytes, padded */

static size_t rec_size(size_t caplen)
{
    return (sizeof(struct rec) + caplen + 7u) & ~(size_t)7u;
}

int bw_hold_pool_init(struct bw_hold_pool *p, uint64_t memcap, uint32_t slot_bytes, uint32_t max_pkts)
{
    memset(p, 0, sizeof *p);
    if (slot_bytes < 256 || memcap < slot_bytes || max_pkts == 0) return BW_EINVAL;
    uint64_t n = memcap / slot_bytes;
    if (n > UINT32_MAX - 1) n = UINT32_MAX - 1;
    p->slot_bytes = (slot_bytes + 7u) & ~7u;
    p->mem = malloc((size_t)n * p->slot_bytes);
    p->slots = calloc((size_t)n, sizeof *p->slots);
    if (!p->mem || !p->slots) {
        bw_hold_pool_free(p);
        return BW_ENOMEM;
    }
    p->nslots = (uint32_t)n;
    p->max_pkts = max_pkts;
    for (uint32_t i = 0; i < p->nslots; i++) p->slots[i].next_free = i + 2 <= p->nslots ? i + 2 : 0;
    p->free_head = 1;
    p->st.max = n;
    return 0;
}

void bw_hold_pool_free(struct bw_hold_pool *p)
{
    free(p->mem);
    free(p->slots);
    memset(p, 0, sizeof *p);
}

struct bw_hold_slot *bw_hold_at(const struct bw_hold_pool *p, uint32_t idx)
{
    return idx && idx <= p->nslots ? &p->slots[idx - 1] : NULL;
}

uint32_t bw_hold_get(struct bw_hold_pool *p, uint32_t owner)
{
    uint32_t idx = p->free_head;
    if (!idx) return 0;
    struct bw_hold_slot *s = &p->slots[idx - 1];
    p->free_head = s->next_free;
    memset(s, 0, sizeof *s);
    s->owner = owner;
    if (++p->st.in_use > p->st.hwm) p->st.hwm = p->st.in_use;
    return idx;
}

void bw_hold_put(struct bw_hold_pool *p, uint32_t idx)
{
    struct bw_hold_slot *s = bw_hold_at(p, idx);
    if (!s || !s->owner) return;
    s->owner = 0;
    s->next_free = p->free_head;
    p->free_head = idx;
    p->st.in_use--;
}

bool bw_hold_add(struct bw_hold_pool *p, uint32_t idx, int dlt, uint64_t ts_us, const uint8_t *data, size_t caplen)
{
    struct bw_hold_slot *s = bw_hold_at(p, idx);
    if (!s) return false;
    size_t need = rec_size(caplen);
    /* compare lengths: the slot has slot_bytes - used bytes left */
    if (s->npkts >= p->max_pkts || need > (size_t)(p->slot_bytes - s->used)) {
        if (!s->capped) p->st.session_caps++;
        s->capped = true;
        p->st.frames_capped++;
        return false;
    }
    uint8_t *at = p->mem + (size_t)(idx - 1) * p->slot_bytes + s->used;
    struct rec r = { ts_us, (uint32_t)caplen, dlt };
    memcpy(at, &r, sizeof r);
    if (caplen) memcpy(at + sizeof r, data, caplen);
    s->used += (uint32_t)need;
    s->npkts++;
    if (s->alerted) s->after++;
    return true;
}

bool bw_hold_next(const struct bw_hold_pool *p, uint32_t idx, size_t *off, struct bw_hold_frame *out)
{
    const struct bw_hold_slot *s = bw_hold_at(p, idx);
    if (!s || *off >= s->used) return false;
    uint8_t *at = p->mem + (size_t)(idx - 1) * p->slot_bytes + *off;
    struct rec r;
    memcpy(&r, at, sizeof r);
    out->ts_us = r.ts_us;
    out->dlt = r.dlt;
    out->data = at + sizeof r;
    out->caplen = r.caplen;
    *off += rec_size(r.caplen);
    return true;
}

void bw_hold_unexamined(struct bw_hold_pool *p, uint32_t idx, uint32_t seq, uint32_t len)
{
    struct bw_hold_slot *s = bw_hold_at(p, idx);
    if (!s || len == 0 || s->unexamined_all) return;
    if (s->nmask >= BW_HOLD_MASKS) {
        s->unexamined_all = true;          /* cannot say which bytes: all of them */
        return;
    }
    s->mask[s->nmask++] = (struct bw_secret_pos){ .seq = seq, .len = len, .dir = 0 };
}

uint32_t bw_hold_pool_scan(struct bw_hold_pool *p, uint32_t tries,
                           bool (*can_take)(void *ctx, const struct bw_hold_slot *s), void *ctx)
{
    for (uint32_t i = 0; i < tries && i < p->nslots; i++) {
        uint32_t k = p->hand;
        p->hand = p->hand + 1 < p->nslots ? p->hand + 1 : 0;
        if (p->slots[k].owner && can_take(ctx, &p->slots[k])) return k + 1;
    }
    return 0;
}
