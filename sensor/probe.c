/* probe.c: probe slots and the per-source cap (see bw_probe.h).
 * Owns the slot chunks and the sketch counters, both sized at init (chunks filled on demand up to
 * the bound). Places bytes by sequence number with serial arithmetic, keeps the first copy of a
 * byte, never reads or writes outside a slot. Knows nothing of flows or protocols. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "bw_probe.h"

#define SLOT_CHUNK 1024

/* ---- pool ---- */

int bw_probe_pool_init(struct bw_probe_pool *p, uint32_t max, uint32_t per_source)
{
    memset(p, 0, sizeof *p);
    if (max == 0 || per_source == 0) return BW_EINVAL;
    p->max = max;
    p->nchunks = (max + SLOT_CHUNK - 1) / SLOT_CHUNK;
    p->chunks = calloc(p->nchunks, sizeof *p->chunks);
    p->next = calloc(max, sizeof *p->next);
    p->src = calloc(BW_SRC_CELLS, sizeof *p->src);
    if (!p->chunks || !p->next || !p->src) {
        bw_probe_pool_free(p);
        return BW_ENOMEM;
    }
    p->src_cap = per_source;
    if (getrandom(&p->src_seed, sizeof p->src_seed, GRND_NONBLOCK) != (ssize_t)sizeof p->src_seed)
        p->src_seed = 0x3c6ef372fe94f82bULL ^ (uint64_t)(uintptr_t)p;
    p->st.max = max;
    p->st.src_cap = per_source;
    return 0;
}

void bw_probe_pool_free(struct bw_probe_pool *p)
{
    if (p->chunks)
        for (uint32_t i = 0; i < p->nchunks; i++) free(p->chunks[i]);
    free(p->chunks);
    free(p->next);
    free(p->src);
    memset(p, 0, sizeof *p);
}

struct bw_probe *bw_probe_at(const struct bw_probe_pool *p, uint32_t idx1)
{
    uint32_t i = idx1 - 1;
    return &p->chunks[i / SLOT_CHUNK][i % SLOT_CHUNK];
}

bool bw_probe_pool_full(const struct bw_probe_pool *p)
{
    return !p->free_head && p->used >= p->max;
}

uint32_t bw_probe_get(struct bw_probe_pool *p, uint32_t owner)
{
    uint32_t idx;
    if (p->free_head) {
        idx = p->free_head;
        p->free_head = p->next[idx - 1];
    } else {
        if (p->used >= p->max) { p->st.refused++; return 0; }
        uint32_t c = p->used / SLOT_CHUNK;
        if (!p->chunks[c]) {
            /* One chunk at a time: a run that never probes much never pays for the bound. */
            p->chunks[c] = malloc(SLOT_CHUNK * sizeof(struct bw_probe));
            if (!p->chunks[c]) { p->st.refused++; return 0; }
        }
        idx = ++p->used;
    }
    struct bw_probe *s = bw_probe_at(p, idx);
    memset(s, 0, sizeof *s);
    s->owner = owner;
    p->st.taken++;
    p->st.in_use++;
    if (p->st.in_use > p->st.hwm) p->st.hwm = p->st.in_use;
    return idx;
}

void bw_probe_put(struct bw_probe_pool *p, uint32_t idx1)
{
    if (!idx1 || idx1 > p->used) return;
    p->next[idx1 - 1] = p->free_head;
    p->free_head = idx1;
    p->st.in_use--;
}

/* ---- per-source sketch: two counters per address, the smaller is the estimate ---- */

static void src_cells(const struct bw_probe_pool *p, uint8_t ip_ver, const uint8_t ip[16],
                      uint32_t *c1, uint32_t *c2)
{
    uint64_t w0, w1;
    memcpy(&w0, ip, 8);
    memcpy(&w1, ip + 8, 8);
    unsigned __int128 r = (unsigned __int128)(w0 ^ p->src_seed ^ ip_ver) * (w1 ^ 0x9e3779b97f4a7c15ULL);
    uint64_t h = (uint64_t)r ^ (uint64_t)(r >> 64);
    *c1 = (uint32_t)h % BW_SRC_CELLS;
    *c2 = (uint32_t)(h >> 32) % BW_SRC_CELLS;
    if (*c2 == *c1) *c2 = (*c1 + 1) % BW_SRC_CELLS;
}

bool bw_probe_src_take(struct bw_probe_pool *p, uint8_t ip_ver, const uint8_t ip[16])
{
    uint32_t a, b;
    src_cells(p, ip_ver, ip, &a, &b);
    uint32_t est = p->src[a] < p->src[b] ? p->src[a] : p->src[b];
    if (est >= p->src_cap) { p->st.src_refused++; return false; }
    p->src[a]++;
    p->src[b]++;
    if (est + 1 > p->st.src_hwm) p->st.src_hwm = est + 1;
    return true;
}

void bw_probe_src_release(struct bw_probe_pool *p, uint8_t ip_ver, const uint8_t ip[16])
{
    uint32_t a, b;
    src_cells(p, ip_ver, ip, &a, &b);
    if (p->src[a]) p->src[a]--;
    if (p->src[b]) p->src[b]--;
}

/* ---- one direction's first bytes ---- */

static inline bool bit(const struct bw_probe_dir *d, size_t i)
{
    return (d->map[i >> 6] >> (i & 63)) & 1u;
}

static inline void set_bit(struct bw_probe_dir *d, size_t i)
{
    d->map[i >> 6] |= (uint64_t)1 << (i & 63);
}

/* Bits [a, b) of the 64-bit word holding offsets [base, base + 64). */
static uint64_t range_mask(size_t base, size_t a, size_t b)
{
    size_t lo = a > base ? a - base : 0, hi = b > base ? b - base : 0;
    if (hi > 64) hi = 64;
    if (lo >= hi) return 0;
    uint64_t upto = hi == 64 ? ~(uint64_t)0 : ((uint64_t)1 << hi) - 1;
    return upto & ~(((uint64_t)1 << lo) - 1);
}

static uint8_t in_order_len(const struct bw_probe_dir *d)
{
    if (~d->map[0]) return (uint8_t)__builtin_ctzll(~d->map[0]);
    if (~d->map[1]) return (uint8_t)(64 + __builtin_ctzll(~d->map[1]));
    return BW_PROBE_BYTES;
}

size_t bw_probe_dir_held(const struct bw_probe_dir *d)
{
    return (size_t)__builtin_popcountll(d->map[0]) + (size_t)__builtin_popcountll(d->map[1]);
}

/* Move every held byte k places: later (k > 0) or earlier (k < 0). Bytes pushed out are lost. */
static void shift(struct bw_probe_dir *d, int64_t k)
{
    struct bw_probe_dir old = *d;
    d->map[0] = d->map[1] = 0;
    for (size_t i = 0; i < BW_PROBE_BYTES; i++) {
        if (!bit(&old, i)) continue;
        int64_t j = (int64_t)i + k;
        if (j < 0 || j >= BW_PROBE_BYTES) { d->flags |= BW_PD_LOST; continue; }
        d->data[j] = old.data[i];
        set_bit(d, (size_t)j);
    }
    d->len = in_order_len(d);
}

void bw_probe_dir_isn(struct bw_probe_dir *d, uint32_t isn)
{
    uint32_t nb = isn + 1;
    if (!(d->flags & BW_PD_BASE)) {
        d->base = nb;
        d->flags |= BW_PD_BASE | BW_PD_ISN;
        return;
    }
    if (d->flags & (BW_PD_ISN | BW_PD_FIXED)) {
        d->flags |= BW_PD_ISN;              /* judged bytes stay where the probe saw them */
        return;
    }
    int64_t k = (int32_t)(d->base - nb);    /* > 0: the held bytes start after the first byte */
    if (k != 0) shift(d, k);
    d->base = nb;
    d->flags |= BW_PD_ISN;
}

bool bw_probe_dir_place(struct bw_probe_dir *d, uint32_t seq, const uint8_t *data, size_t n)
{
    if (n == 0) return false;
    if (!(d->flags & BW_PD_BASE)) {
        d->base = seq;
        d->flags |= BW_PD_BASE;
    }
    int64_t rel = (int32_t)(seq - d->base);
    if (rel < 0) {
        if (!(d->flags & (BW_PD_ISN | BW_PD_FIXED))) {
            shift(d, -rel);                 /* an earlier segment: it becomes the start */
            d->base = seq;
            rel = 0;
        } else {
            /* Before a fixed start: a retransmission, or bytes nobody will look at again. */
            if ((uint64_t)-rel >= n) return false;
            data += (size_t)-rel;
            n -= (size_t)-rel;
            rel = 0;
        }
    }
    if (rel >= BW_PROBE_BYTES) {
        d->flags |= BW_PD_LOST;
        return false;
    }
    size_t end = (size_t)rel + n;
    if (end > BW_PROBE_BYTES) {
        d->flags |= BW_PD_LOST;
        end = BW_PROBE_BYTES;
    }
    size_t a = (size_t)rel;
    uint64_t m[2] = { range_mask(0, a, end), range_mask(64, a, end) };
    if (!(d->map[0] & m[0]) && !(d->map[1] & m[1])) {
        memcpy(d->data + a, data, end - a);  /* nothing held there yet: the usual case */
        d->map[0] |= m[0];
        d->map[1] |= m[1];
    } else {
        for (size_t i = a; i < end; i++) {
            if (bit(d, i)) continue;        /* the first copy wins, as in the stream layer */
            d->data[i] = data[i - a];
            set_bit(d, i);
        }
    }
    uint8_t before = d->len;
    d->len = in_order_len(d);
    return d->len > before;
}

bool bw_probe_dir_overflows(const struct bw_probe_dir *d, uint32_t seq, size_t n)
{
    if (!(d->flags & BW_PD_BASE)) return n > BW_PROBE_BYTES;
    int64_t end = (int64_t)(int32_t)(seq - d->base) + (int64_t)n;
    return end > BW_PROBE_BYTES;
}

bool bw_probe_dir_continues(const struct bw_probe_dir *d, uint32_t seq)
{
    if (!(d->flags & BW_PD_BASE)) return true;
    return (int32_t)(seq - d->base) <= (int32_t)d->len;
}

struct bw_bytes bw_probe_view(const struct bw_probe_dir *d, uint32_t seq, const uint8_t *data, size_t n,
                              uint8_t *scratch, size_t cap)
{
    struct bw_bytes v = { NULL, 0 };
    size_t have = d->len;
    if (!(d->flags & BW_PD_BASE) || have == 0 || cap == 0) return v;
    int64_t rel = (int32_t)(seq - d->base);
    if (rel == 0 && n >= have && data) {    /* the segment is the start: no copy, all of it */
        v.ptr = data;
        v.len = n;
        return v;
    }
    size_t k = have < cap ? have : cap;
    memcpy(scratch, d->data, k);
    if (data && rel >= 0 && (uint64_t)rel <= have && (uint64_t)rel + n > have && k == have) {
        size_t from = have - (size_t)rel, more = n - from;   /* the segment carries on */
        if (more > cap - k) more = cap - k;
        memcpy(scratch + k, data + from, more);
        k += more;
    }
    v.ptr = scratch;
    v.len = k;
    return v;
}

bool bw_probe_dir_next_run(const struct bw_probe_dir *d, size_t *off, size_t *start, size_t *len)
{
    size_t i = *off;
    while (i < BW_PROBE_BYTES && !bit(d, i)) i++;
    if (i >= BW_PROBE_BYTES) { *off = i; return false; }
    size_t j = i;
    while (j < BW_PROBE_BYTES && bit(d, j)) j++;
    *start = i;
    *len = j - i;
    *off = j;
    return true;
}
