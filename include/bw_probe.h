/* bw_probe.h: probe slots, the cheap state of a flow that sent payload no broker has confirmed.
 * A slot keeps the first BW_PROBE_BYTES of each direction, placed by sequence number (from the
 * SYN's ISN when seen, even late; otherwise from the lowest sequence seen, moved back while no
 * probe has judged the bytes), so the dissectors' probes see the reassembled start of each
 * direction, never "the segment that arrived first". Slots come from a bounded pool sized once;
 * a per-source sketch caps how many unconfirmed flows one address may hold. Pure data
 * structures: no flows, no dissectors, no allocation after init. */
#ifndef BW_PROBE_H
#define BW_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_classify.h"
#include "bw_cursor.h"
#include "bw_err.h"

#define BW_PROBE_BYTES 128            /* first bytes kept per direction (256 per flow) */

/* bw_probe_dir.flags */
#define BW_PD_BASE  0x01              /* base is set */
#define BW_PD_ISN   0x02              /* base is the SYN's ISN + 1: it never moves */
#define BW_PD_FIXED 0x04              /* a probe judged the bytes: base never moves */
#define BW_PD_LOST  0x08              /* bytes were seen that the slot could not keep */

struct bw_probe_dir {
    uint32_t base;                    /* sequence number of data[0] */
    uint8_t  flags;                   /* BW_PD_* */
    uint8_t  len;                     /* in-order bytes from data[0] */
    uint8_t  pad[2];
    uint64_t map[2];                  /* which of data[] are filled */
    uint8_t  data[BW_PROBE_BYTES];
};

#define BW_PROBE_CLAIM_TLS 0xff       /* bw_probe.claim: the TLS dissector */

struct bw_probe {
    struct bw_probe_dir d[2];         /* per direction (BW_DIR_TOSERVER, BW_DIR_TOCLIENT) */
    struct bw_dpi_flow dpi;           /* nDPI's view, when it is asked */
    uint32_t owner;                   /* flow index + 1 */
    uint8_t  claim;                   /* dissector index + 1 whose probe claimed, 0 = none */
    uint8_t  claim_dir;               /* the direction it claimed from */
    uint8_t  claim_app;               /* BW_PROBE_CLAIM_TLS: the broker protocol (BW_APP_*) */
    uint8_t  pad;
};

struct bw_probe_stats {
    uint64_t in_use, hwm, max;        /* slots */
    uint64_t taken;                   /* slots handed out */
    uint64_t reclaimed;               /* taken back from the oldest probing flow for a newer one */
    uint64_t refused;                 /* no slot free and none to take back */
    uint64_t src_refused;             /* a source was at its cap of unconfirmed flows */
    uint64_t src_hwm;                 /* the most unconfirmed flows one source held (estimate) */
    uint64_t src_cap;
};

#define BW_SRC_CELLS 16384            /* per-source sketch: two counters per address */

struct bw_probe_pool {
    struct bw_probe **chunks;
    uint32_t  nchunks, max, used, free_head;
    uint32_t *next;                   /* free list links */
    uint32_t  src_cap;                /* unconfirmed flows per source address */
    uint32_t *src;                    /* BW_SRC_CELLS counters */
    uint64_t  src_seed;
    struct bw_probe_stats st;
};

/* Size the pool: max slots (allocated in chunks as needed), per-source cap. Returns 0,
 * BW_EINVAL (max or cap 0) or BW_ENOMEM; the pool is zeroed on failure. */
int  bw_probe_pool_init(struct bw_probe_pool *p, uint32_t max, uint32_t per_source) BW_WARN_UNUSED;
void bw_probe_pool_free(struct bw_probe_pool *p);

/* A zeroed slot owned by flow index + 1 `owner`: its index + 1, or 0 when the pool is full
 * (counted as refused; the caller may reclaim one and retry). */
uint32_t bw_probe_get(struct bw_probe_pool *p, uint32_t owner);
void bw_probe_put(struct bw_probe_pool *p, uint32_t idx1);
struct bw_probe *bw_probe_at(const struct bw_probe_pool *p, uint32_t idx1);
/* No free slot left: the next bw_probe_get() would fail. */
bool bw_probe_pool_full(const struct bw_probe_pool *p);

/* Per-source cap. take(): false (counted) when the address already holds `per_source`
 * unconfirmed flows; otherwise counts one more. release() undoes one take(). The estimate may
 * only err high for addresses sharing both counters with busy ones. */
bool bw_probe_src_take(struct bw_probe_pool *p, uint8_t ip_ver, const uint8_t ip[16]);
void bw_probe_src_release(struct bw_probe_pool *p, uint8_t ip_ver, const uint8_t ip[16]);

/* The direction's first byte is isn + 1 (its SYN was seen, maybe after its data): unless a probe
 * already judged the bytes, they move to their place under that base (bytes that no longer fit
 * are dropped and flagged lost). */
void bw_probe_dir_isn(struct bw_probe_dir *d, uint32_t isn);

/* Place a segment's captured bytes (seq of data[0]). The first one sets the base when none is
 * known; one starting earlier moves the base back unless it is fixed (ISN or judged). Bytes
 * already held keep their first copy; bytes past the slot are flagged lost. Returns true when
 * the in-order length grew. */
bool bw_probe_dir_place(struct bw_probe_dir *d, uint32_t seq, const uint8_t *data, size_t n);

/* The reassembled start of the direction for the probes, with the segment (seq, data, n) already
 * placed: the in-order bytes, continued by the segment's bytes past the slot when it carries on
 * from them, up to cap bytes. Points into the segment (all of it) when it alone is the start,
 * else into scratch (cap bytes). Empty while byte 0 is missing. */
struct bw_bytes bw_probe_view(const struct bw_probe_dir *d, uint32_t seq, const uint8_t *data, size_t n,
                              uint8_t *scratch, size_t cap);

/* True when the segment (seq, n) reaches past what the slot can keep. */
bool bw_probe_dir_overflows(const struct bw_probe_dir *d, uint32_t seq, size_t n);
/* True when a segment at seq starts inside or right after the in-order bytes (or sets the base). */
bool bw_probe_dir_continues(const struct bw_probe_dir *d, uint32_t seq);

/* Runs of held bytes in order: start with *off = 0; true with [*start, *start + *len) filled
 * (offsets from base) until none is left. */
bool bw_probe_dir_next_run(const struct bw_probe_dir *d, size_t *off, size_t *start, size_t *len);

/* Bytes held in the direction (in order or not). */
size_t bw_probe_dir_held(const struct bw_probe_dir *d);

#endif
