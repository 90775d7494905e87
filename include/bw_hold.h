/* bw_hold.h: the evidence hold. While a verdict is pending, the captured frames of a flow wait in
 * one fixed-size slot of a pool sized once at startup (--evidence-memcap / --evidence-bytes slots
 * of --evidence-bytes each): no allocation per packet, and a full pool refuses (counted). A slot
 * also keeps the client-direction ranges whose content nobody examined (gaps, cut messages), so
 * the writer can overwrite them. It knows nothing of flows, dissectors or files: pipeline.c
 * decides who gets a slot and when its frames go to the writer (sensor/output/evidence.c). */
#ifndef BW_HOLD_H
#define BW_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_facts.h"

#define BW_HOLD_MASKS 4               /* unexamined client ranges kept per slot; more = mask all */

struct bw_hold_slot {
    uint32_t owner;                   /* flow index + 1; 0 = free */
    uint32_t next_free;               /* free list link: slot index + 1 */
    uint32_t used;                    /* bytes of records in the slot's buffer */
    uint32_t npkts;                   /* frames held */
    uint32_t after;                   /* frames held since the first alert */
    bool     alerted;                 /* the flow raised an alert: its frames are evidence */
    bool     capped;                  /* the per-session cap refused a frame (counted once) */
    bool     unexamined_all;          /* too many ranges: every client byte is unexamined */
    uint8_t  nmask;
    struct bw_secret_pos mask[BW_HOLD_MASKS];
};

struct bw_hold_stats {
    uint64_t in_use, hwm, max;        /* slots */
    uint64_t refused;                 /* a flow found the pool full and nothing to take back */
    uint64_t reclaimed;               /* slots taken back from flows no dissector claimed */
    uint64_t session_caps;            /* sessions whose frames passed --evidence-packets/-bytes */
    uint64_t frames_capped;           /* frames refused by those caps */
};

struct bw_hold_pool {
    uint8_t *mem;                     /* nslots * slot_bytes, allocated once */
    struct bw_hold_slot *slots;
    uint32_t nslots, slot_bytes, free_head;
    uint32_t max_pkts;                /* frames per slot (--evidence-packets) */
    uint32_t hand;                    /* clock hand for bw_hold_pool_scan */
    struct bw_hold_stats st;
};

/* One held frame, as bw_hold_next() returns it. data is writable (the writer masks in place)
 * and valid until the slot is released. */
struct bw_hold_frame { uint64_t ts_us; int dlt; uint8_t *data; size_t caplen; };

/* Pool of memcap / slot_bytes slots (at least one) of slot_bytes each. Returns 0, BW_EINVAL
 * (slot_bytes < 256 or memcap < slot_bytes; p zeroed) or BW_ENOMEM (p zeroed). */
int  bw_hold_pool_init(struct bw_hold_pool *p, uint64_t memcap, uint32_t slot_bytes, uint32_t max_pkts) BW_WARN_UNUSED;
/* Free everything; safe on a zeroed pool and twice. */
void bw_hold_pool_free(struct bw_hold_pool *p);

/* A slot for owner (flow index + 1): its index + 1, or 0 when the pool is full (not counted:
 * the caller may take one back first, then counts the refusal). */
uint32_t bw_hold_get(struct bw_hold_pool *p, uint32_t owner);
/* Release slot idx (index + 1); 0 is ignored. */
void bw_hold_put(struct bw_hold_pool *p, uint32_t idx);
struct bw_hold_slot *bw_hold_at(const struct bw_hold_pool *p, uint32_t idx);

/* Copy one captured frame into the slot. Returns false when the slot's packet or byte cap
 * refused it (counted: frames_capped, and session_caps the first time). After an alert,
 * slot->after counts the frames held since. */
bool bw_hold_add(struct bw_hold_pool *p, uint32_t idx, int dlt, uint64_t ts_us, const uint8_t *data, size_t caplen);

/* Walk the slot's frames in arrival order: *off = 0 first; true and *out filled per frame. */
bool bw_hold_next(const struct bw_hold_pool *p, uint32_t idx, size_t *off, struct bw_hold_frame *out);

/* Remember that client bytes [seq, seq + len) were never examined (a gap, a cut message): the
 * writer overwrites them. A full list makes every client byte count as unexamined. */
void bw_hold_unexamined(struct bw_hold_pool *p, uint32_t idx, uint32_t seq, uint32_t len);

/* Up to `tries` slots from the clock hand on: the first whose owner `can_take` allows, as its
 * index + 1 (the caller releases it), or 0. Bounded work whatever the pool size. */
uint32_t bw_hold_pool_scan(struct bw_hold_pool *p, uint32_t tries,
                           bool (*can_take)(void *ctx, const struct bw_hold_slot *s), void *ctx);

#endif
