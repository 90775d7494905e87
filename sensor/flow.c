/* flow.c: the flow table and the session pool (see bw_flow.h).
 * Owns the slabs, the bucket array and the LRU lists. Allocates only whole chunks of records and
 * a doubling bucket array, on demand, up to the configured bounds, so the hot path never calls
 * malloc per packet. A lookup reads one bucket line and the matching record; touching a flow
 * writes only that record. It never looks at payload and never calls another stage. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include "bw_cursor.h"
#include "bw_flow.h"

_Static_assert(sizeof(struct bw_flow) == 128, "a flow record is two cache lines");
_Static_assert(sizeof(struct bw_flow_bucket) == 64, "a bucket is one cache line");
_Static_assert(sizeof(struct bw_flow_key) == 40, "the key is five words");

#define SESSION_CHUNK 1024
#define BUCKETS_MIN   256u
#define LAZY_REQUEUE_MAX 256        /* touched tails moved to the head per look at one list */

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n && p < (1u << 30)) p <<= 1;
    return p;
}

/* Every packet's lookup lands at random in the bucket array and then in a record: with 100 k
 * flows open, 2 MiB of buckets and 13 MB of records, one TLB entry per 4 KiB page no longer
 * covers them and each packet walks the page tables twice. Slabs and bucket arrays of 2 MiB or
 * more are therefore aligned to 2 MiB and offered to the kernel as transparent huge pages
 * (MADV_HUGEPAGE: used where the system's setting allows, "madvise" or "always"; else nothing
 * changes). Smaller ones (a small --max-flows, the first bucket arrays) stay in small pages. */
#define BW_FLOW_HUGE (2u << 20)

static void *table_alloc(size_t n)
{
    if (n < BW_FLOW_HUGE) return aligned_alloc(64, (n + 63) & ~(size_t)63);
    n = (n + BW_FLOW_HUGE - 1) & ~(size_t)(BW_FLOW_HUGE - 1);
    void *p = aligned_alloc(BW_FLOW_HUGE, n);
    if (p) (void)madvise(p, n, MADV_HUGEPAGE);   /* advice: refused, it is small pages */
    return p;
}

static struct bw_flow_bucket *buckets_new(uint32_t n)
{
    size_t sz = (size_t)n * sizeof(struct bw_flow_bucket);
    if (sz < BW_FLOW_HUGE) return calloc(n, sizeof(struct bw_flow_bucket));   /* pages as touched */
    struct bw_flow_bucket *b = table_alloc(sz);
    if (b) memset(b, 0, sz);               /* grow() fills nearly every bucket at once anyway */
    return b;
}

int bw_flow_table_init(struct bw_flow_table *t, const struct bw_flow_cfg *cfg)
{
    memset(t, 0, sizeof *t);
    if (cfg->max_flows == 0 || cfg->max_sessions == 0) return BW_EINVAL;
    t->max_flows = cfg->max_flows;
    t->nchunks = (cfg->max_flows + BW_FLOW_CHUNK - 1) / BW_FLOW_CHUNK;
    t->chunks = calloc(t->nchunks, sizeof *t->chunks);
    /* At most 50 % of the ways in use at max_flows: short probe runs even when full. */
    t->max_buckets = pow2_at_least((cfg->max_flows + BW_BUCKET_WAYS / 2 - 1) / (BW_BUCKET_WAYS / 2));
    if (t->max_buckets < BUCKETS_MIN) t->max_buckets = BUCKETS_MIN;
    t->nbuckets = BUCKETS_MIN;
    t->buckets = buckets_new(t->nbuckets);
    t->max_sessions = cfg->max_sessions;
    t->snchunks = (cfg->max_sessions + SESSION_CHUNK - 1) / SESSION_CHUNK;
    t->schunks = calloc(t->snchunks, sizeof *t->schunks);
    t->snext = calloc(cfg->max_sessions, sizeof *t->snext);
    if (!t->chunks || !t->buckets || !t->schunks || !t->snext) goto fail;
    for (int l = 0; l < BW_LRU_COUNT; l++) t->timeout_us[l] = cfg->timeout_short_us;
    t->timeout_us[BW_LRU_IDLE] = cfg->timeout_long_us;
    t->timeout_us[BW_LRU_BYPASS] = cfg->timeout_long_us;
    t->timeout_us[BW_LRU_CONFIRMED] = cfg->timeout_long_us;
    t->timeout_us[BW_LRU_LINGER] = cfg->timeout_linger_us ? cfg->timeout_linger_us : 1000000u;
    t->fin_wait_us = cfg->timeout_fin_wait_us ? cfg->timeout_fin_wait_us : t->timeout_us[BW_LRU_LINGER];
    t->seed = cfg->seed;
    if (!t->seed && getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != (ssize_t)sizeof t->seed)
        t->seed = 0x6a09e667f3bcc909ULL ^ (uint64_t)(uintptr_t)t;   /* no entropy yet: still varies */
    t->seed |= 1;
    t->next_id = 1;
    t->st.sessions_max = cfg->max_sessions;
    t->st.buckets = t->nbuckets;
    return 0;
fail:
    bw_flow_table_free(t);
    return BW_ENOMEM;
}

void bw_flow_table_free(struct bw_flow_table *t)
{
    if (t->chunks)
        for (uint32_t i = 0; i < t->nchunks; i++) free(t->chunks[i]);
    if (t->schunks)
        for (uint32_t i = 0; i < t->snchunks; i++) free(t->schunks[i]);
    free(t->chunks);
    free(t->buckets);
    free(t->schunks);
    free(t->snext);
    memset(t, 0, sizeof *t);
}

static inline struct bw_flow *at(const struct bw_flow_table *t, uint32_t idx1)
{
    uint32_t i = idx1 - 1;
    return &t->chunks[i / BW_FLOW_CHUNK][i % BW_FLOW_CHUNK];
}

struct bw_flow *bw_flow_at(const struct bw_flow_table *t, uint32_t idx1)
{
    return at(t, idx1);
}

/* memcmp's order of two addresses, without a call per packet */
static inline int addr_cmp(const uint8_t *x, const uint8_t *y, bool v4)
{
    uint64_t a, b;
    if (v4) {
        a = bw_be32(x);
        b = bw_be32(y);
    } else {
        a = bw_be64(x);
        b = bw_be64(y);
        if (a == b) { a = bw_be64(x + 8); b = bw_be64(y + 8); }
    }
    return (a > b) - (a < b);
}

void bw_flow_key_of(const struct bw_packet *p, struct bw_flow_key *k, bool *from_a)
{
    int c = addr_cmp(p->src, p->dst, p->ip_ver == 4);
    bool src_first = c < 0 || (c == 0 && p->sport <= p->dport);
    k->ip_ver = p->ip_ver;
    k->pad[0] = k->pad[1] = k->pad[2] = 0;
    if (src_first) {
        memcpy(k->a, p->src, 16); memcpy(k->b, p->dst, 16);
        k->pa = p->sport; k->pb = p->dport;
    } else {
        memcpy(k->a, p->dst, 16); memcpy(k->b, p->src, 16);
        k->pa = p->dport; k->pb = p->sport;
    }
    *from_a = src_first;
}

/* ---- hashing and key compare: five 64-bit words ---- */

static inline void key_words(const struct bw_flow_key *k, uint64_t w[5])
{
    memcpy(w, k, 40);                       /* compiles to five loads */
}

/* 64x64 -> 128 multiply folded to 64 bits: every input bit reaches every output bit. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t words_hash(const uint64_t w[5], uint64_t seed)
{
    /* The key is normalized (a <= b), so the hash is the same for both directions. */
    uint64_t h = mix(w[0] ^ 0xa0761d6478bd642fULL ^ seed, w[1] ^ 0xe7037ed1a0b428dbULL);
    h ^= mix(w[2] ^ 0x8ebc6af09c88c6e3ULL, w[3] ^ seed);
    return mix(h ^ w[4], 0x589965cc75374cc3ULL ^ seed);
}

uint64_t bw_flow_hash(const struct bw_flow_table *t, const struct bw_flow_key *k)
{
    uint64_t w[5];
    key_words(k, w);
    return words_hash(w, t->seed);
}

static inline bool key_eq(const struct bw_flow_key *x, const struct bw_flow_key *y)
{
    uint64_t a[5], b[5];
    key_words(x, a);
    key_words(y, b);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

static inline uint16_t tag_of(uint64_t h) { return (uint16_t)(h >> 48); }

struct bw_flow *bw_flow_find(struct bw_flow_table *t, const struct bw_flow_key *k, uint64_t h)
{
    uint32_t mask = t->nbuckets - 1, i = (uint32_t)h & mask;
    uint16_t tag = tag_of(h);
    for (uint32_t n = 0; n < t->nbuckets; n++) {
        const struct bw_flow_bucket *b = &t->buckets[i];
        for (int w = 0; w < BW_BUCKET_WAYS; w++) {
            if (b->tag[w] != tag || !b->idx[w]) continue;
            struct bw_flow *f = at(t, b->idx[w]);
            if (key_eq(&f->key, k)) return f;
        }
        if (!b->ovf) return NULL;           /* nothing that started here or earlier went on */
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Put idx into the first free way from h's home bucket on, counting the overflow on the way. */
static void bucket_insert(struct bw_flow_bucket *bk, uint32_t nb, uint64_t h, uint32_t idx)
{
    uint32_t mask = nb - 1, i = (uint32_t)h & mask;
    for (;;) {
        struct bw_flow_bucket *b = &bk[i];
        for (int w = 0; w < BW_BUCKET_WAYS; w++) {
            if (!b->idx[w]) { b->idx[w] = idx; b->tag[w] = tag_of(h); return; }
        }
        b->ovf++;                          /* at most half the ways are used: a free one exists */
        i = (i + 1) & mask;
    }
}

static void bucket_remove(struct bw_flow_table *t, uint64_t h, uint32_t idx)
{
    uint32_t mask = t->nbuckets - 1, i = (uint32_t)h & mask;
    for (uint32_t n = 0; n < t->nbuckets; n++) {
        struct bw_flow_bucket *b = &t->buckets[i];
        for (int w = 0; w < BW_BUCKET_WAYS; w++) {
            if (b->idx[w] == idx) { b->idx[w] = 0; b->tag[w] = 0; goto undo; }
        }
        i = (i + 1) & mask;
    }
    return;                                /* not found: nothing to undo (cannot happen) */
undo:
    /* Buckets passed on the way were counted as overflowed by this record's insertion. */
    for (uint32_t j = (uint32_t)h & mask; j != i; j = (j + 1) & mask)
        t->buckets[j].ovf--;
}

/* Double the bucket array (rarely: log2(max/256) times a run) and re-place every live record. */
static void grow(struct bw_flow_table *t)
{
    uint32_t nb = t->nbuckets * 2;
    struct bw_flow_bucket *bk = buckets_new(nb);
    if (!bk) return;                       /* stay at this size: longer runs, still correct */
    for (uint32_t i = 1; i <= t->used; i++) {
        struct bw_flow *f = at(t, i);
        if (f->self) bucket_insert(bk, nb, bw_flow_hash(t, &f->key), i);
    }
    free(t->buckets);
    t->buckets = bk;
    t->nbuckets = nb;
    t->st.buckets = nb;
    t->st.rehashes++;
}

/* ---- LRU lists ---- */

static const int8_t lru_rank[BW_LRU_COUNT] = {
    [BW_LRU_SYN] = 0, [BW_LRU_IDLE] = 0,
    [BW_LRU_CLOSED] = 1, [BW_LRU_BYPASS] = 1, [BW_LRU_QUIET] = 1,
    [BW_LRU_PROBE] = 2, [BW_LRU_UNCONF] = 2,
    [BW_LRU_LINGER] = 3,
    [BW_LRU_CONFIRMED] = 4,
};

int bw_flow_lru_rank(enum bw_flow_lru lru)
{
    return (unsigned)lru < BW_LRU_COUNT ? lru_rank[lru] : 0;
}

static void lru_unlink(struct bw_flow_table *t, struct bw_flow *f)
{
    uint8_t l = f->lru;
    uint32_t idx = f->self;
    if (f->lprev) at(t, f->lprev)->lnext = f->lnext; else if (t->lru_head[l] == idx) t->lru_head[l] = f->lnext;
    if (f->lnext) at(t, f->lnext)->lprev = f->lprev; else if (t->lru_tail[l] == idx) t->lru_tail[l] = f->lprev;
    f->lprev = f->lnext = 0;
    t->lru_len[l]--;
}

static void lru_push_head(struct bw_flow_table *t, struct bw_flow *f)
{
    uint8_t l = f->lru;
    uint32_t idx = f->self;
    f->lprev = 0;
    f->lnext = t->lru_head[l];
    if (t->lru_head[l]) at(t, t->lru_head[l])->lprev = idx;
    t->lru_head[l] = idx;
    if (!t->lru_tail[l]) t->lru_tail[l] = idx;
    t->lru_len[l]++;
    f->flags &= ~BW_FF_TOUCHED;            /* its position now says when it was last seen */
}

/* The tail of list l once touched tails have been moved to the head: the flow seen least
 * recently. Each flow is moved at most once per trip down its list, so this is O(1) amortized
 * per packet; the bound keeps one call short. */
static struct bw_flow *settled_tail(struct bw_flow_table *t, int l)
{
    for (int n = 0; t->lru_tail[l]; n++) {
        struct bw_flow *f = at(t, t->lru_tail[l]);
        if (!(f->flags & BW_FF_TOUCHED) || n >= LAZY_REQUEUE_MAX) return f;
        lru_unlink(t, f);
        lru_push_head(t, f);
    }
    return NULL;
}

struct bw_flow *bw_flow_create(struct bw_flow_table *t, const struct bw_flow_key *k, uint64_t h,
                               uint64_t ts_us)
{
    uint32_t idx;
    if (t->free_head) {
        idx = t->free_head;
        t->free_head = at(t, idx)->lnext;
    } else {
        if (t->used >= t->max_flows) return NULL;       /* full: the caller evicts */
        uint32_t c = t->used / BW_FLOW_CHUNK;
        if (!t->chunks[c]) {
            /* Grow by one chunk: at most max_flows / BW_FLOW_CHUNK allocations in a whole
             * run; the last one holds only what max_flows leaves (a small table stays small). */
            uint32_t n = t->max_flows - c * BW_FLOW_CHUNK;
            if (n > BW_FLOW_CHUNK) n = BW_FLOW_CHUNK;
            t->chunks[c] = table_alloc((size_t)n * sizeof(struct bw_flow));
            if (!t->chunks[c]) { t->st.flows_refused++; return NULL; }
            t->st.slab_chunks++;
        }
        idx = ++t->used;
        at(t, idx)->self = 0;              /* not live yet: grow() below must skip it */
    }
    /* Keep at most half the ways in use: probe runs stay one or two buckets long. */
    if ((uint64_t)(t->st.flows_active + 1) * 2 > (uint64_t)t->nbuckets * BW_BUCKET_WAYS &&
        t->nbuckets < t->max_buckets)
        grow(t);
    struct bw_flow *f = at(t, idx);
    if (t->st.flows_active + 1 > (uint64_t)t->nbuckets * BW_BUCKET_WAYS - 1) {
        /* The array could not grow and every way is taken: refuse rather than loop. */
        f->self = 0;
        f->lnext = t->free_head;
        t->free_head = idx;
        t->st.flows_refused++;
        return NULL;
    }
    memset(f, 0, sizeof *f);
    f->self = idx;
    f->key = *k;
    f->first_us = f->last_us = ts_us;
    /* flow_id: deterministic for a replay (not the seeded hash), unique within a run, below 2^53
     * for JSON readers. */
    uint64_t w[5];
    key_words(k, w);
    f->id = ((words_hash(w, 0) << 20) ^ (t->next_id++)) & ((1ULL << 53) - 1);
    bucket_insert(t->buckets, t->nbuckets, h, idx);
    f->lru = BW_LRU_SYN;
    lru_push_head(t, f);
    t->st.flows_created++;
    t->st.flows_active++;
    if (t->st.flows_active > t->st.flows_hwm) t->st.flows_hwm = t->st.flows_active;
    return f;
}

bool bw_port_is_broker(uint16_t port)
{
    switch (port) {
    case 1883: case 8883: case 8884: case 5672: case 5671: case 8083: case 8084:
    case 61613: case 61614: case 61616: case 15675: case 5552:
        return true;
    default:
        return false;
    }
}

/* 0: well-known (< 1024), 1: registered, 2: ephemeral (>= 32768: Linux 32768-60999, IANA and
 * Windows 49152-65535, the BSDs). Services listen on the lower classes. */
static int port_class(uint16_t port)
{
    return port < 1024 ? 0 : port < 32768 ? 1 : 2;
}

void bw_flow_orient(struct bw_flow *f, const struct bw_packet *p, bool from_a, enum bw_orient_hint known)
{
    bool sender_is_client;
    uint8_t fl = p->tcp_flags & (BW_TCP_SYN | BW_TCP_ACK);
    if (fl == BW_TCP_SYN) {
        sender_is_client = true;
        f->flags |= BW_FF_SYN_CLI;
    } else if (fl == (BW_TCP_SYN | BW_TCP_ACK)) {
        sender_is_client = false;
    } else if (known != BW_ORIENT_UNKNOWN) {
        sender_is_client = known == BW_ORIENT_DST_IS_SERVER;   /* a broker seen earlier in this run */
    } else if (bw_port_is_broker(p->sport) != bw_port_is_broker(p->dport)) {
        sender_is_client = bw_port_is_broker(p->dport);
    } else if (port_class(p->sport) != port_class(p->dport)) {
        sender_is_client = port_class(p->dport) < port_class(p->sport);
    } else {
        sender_is_client = true;                   /* whoever speaks first asks */
    }
    f->cli_is_a = sender_is_client ? from_a : !from_a;
}

static uint32_t swap_bits(uint32_t v, uint32_t x, uint32_t y)
{
    uint32_t hx = v & x, hy = v & y;
    v &= ~(x | y);
    if (hx) v |= y;
    if (hy) v |= x;
    return v;
}

void bw_flow_flip(struct bw_flow *f)
{
    f->cli_is_a = !f->cli_is_a;
    uint32_t t32 = f->pkts[0]; f->pkts[0] = f->pkts[1]; f->pkts[1] = t32;
    uint64_t t64 = f->bytes[0]; f->bytes[0] = f->bytes[1]; f->bytes[1] = t64;
    t32 = f->isn[0]; f->isn[0] = f->isn[1]; f->isn[1] = t32;
    uint32_t v = f->flags;
    v = swap_bits(v, BW_FF_FIN_CLI, BW_FF_FIN_SRV);
    v = swap_bits(v, BW_FF_PROBE_NO_CLI, BW_FF_PROBE_NO_SRV);
    v = swap_bits(v, BW_FF_SYN_SEEN_CLI, BW_FF_SYN_SEEN_SRV);
    f->flags = v;
}

void bw_flow_client(const struct bw_flow *f, const uint8_t **ip, uint16_t *port)
{
    *ip = f->cli_is_a ? f->key.a : f->key.b;
    *port = f->cli_is_a ? f->key.pa : f->key.pb;
}

void bw_flow_server(const struct bw_flow *f, const uint8_t **ip, uint16_t *port)
{
    *ip = f->cli_is_a ? f->key.b : f->key.a;
    *port = f->cli_is_a ? f->key.pb : f->key.pa;
}

void bw_flow_set_lru(struct bw_flow_table *t, struct bw_flow *f, enum bw_flow_lru lru)
{
    if (f->lru == lru) return;
    lru_unlink(t, f);
    f->lru = (uint8_t)lru;
    lru_push_head(t, f);
}

struct bw_flow *bw_flow_oldest_in(struct bw_flow_table *t, enum bw_flow_lru lru)
{
    return settled_tail(t, (int)lru);
}

struct bw_flow *bw_flow_victim(struct bw_flow_table *t)
{
    for (int rank = 0; rank <= 4; rank++) {
        struct bw_flow *best = NULL;
        for (int l = 0; l < BW_LRU_COUNT; l++) {
            if (lru_rank[l] != rank || !t->lru_tail[l]) continue;
            struct bw_flow *f = settled_tail(t, l);
            if (f && (!best || f->last_us < best->last_us)) best = f;
        }
        if (best) return best;
    }
    return NULL;
}

struct bw_flow *bw_flow_next_expired(struct bw_flow_table *t, uint64_t now_us)
{
    for (int l = 0; l < BW_LRU_COUNT; l++) {
        if (!t->lru_tail[l]) continue;
        struct bw_flow *f = at(t, t->lru_tail[l]);
        /* An untouched tail that has not expired means nothing behind it has either. */
        if (f->flags & BW_FF_TOUCHED) f = settled_tail(t, l);
        if (!f) continue;
        /* One list holds both kinds of lingering flow: a FIN-waiting tail not due yet holds
         * back the resets behind it, at most its own (longer) wait. */
        uint64_t to = l == BW_LRU_LINGER && !(f->flags & BW_FF_RST) ? t->fin_wait_us : t->timeout_us[l];
        if (now_us > f->last_us && now_us - f->last_us > to) return f;
    }
    return NULL;
}

struct bw_flow *bw_flow_any(struct bw_flow_table *t)
{
    for (int l = 0; l < BW_LRU_COUNT; l++)
        if (t->lru_tail[l]) return at(t, t->lru_tail[l]);
    return NULL;
}

void bw_flow_free(struct bw_flow_table *t, struct bw_flow *f)
{
    uint32_t idx = f->self;
    bucket_remove(t, bw_flow_hash(t, &f->key), idx);
    lru_unlink(t, f);
    memset(f, 0, sizeof *f);               /* self = 0: free */
    f->lnext = t->free_head;
    t->free_head = idx;
    t->st.flows_active--;
}

/* ---- session pool ---- */

static inline struct bw_session *sat(const struct bw_flow_table *t, uint32_t idx1)
{
    uint32_t i = idx1 - 1;
    return &t->schunks[i / SESSION_CHUNK][i % SESSION_CHUNK];
}

bool bw_session_pool_full(const struct bw_flow_table *t)
{
    return !t->sfree_head && t->sused >= t->max_sessions;
}

struct bw_session *bw_session_get(struct bw_flow_table *t, struct bw_flow *f)
{
    uint32_t idx;
    if (f->session) return sat(t, f->session);
    if (t->sfree_head) {
        idx = t->sfree_head;
        t->sfree_head = t->snext[idx - 1];
    } else {
        if (t->sused >= t->max_sessions) { t->st.session_memcap_hits++; return NULL; }
        uint32_t c = t->sused / SESSION_CHUNK;
        if (!t->schunks[c]) {
            t->schunks[c] = calloc(SESSION_CHUNK, sizeof(struct bw_session));
            if (!t->schunks[c]) { t->st.session_memcap_hits++; return NULL; }
        }
        idx = ++t->sused;
    }
    struct bw_session *s = sat(t, idx);
    memset(s, 0, sizeof *s);
    bw_facts_init(&s->facts);
    s->flow_idx = f->self;
    f->session = idx;
    t->st.sessions_active++;
    if (t->st.sessions_active > t->st.sessions_hwm) t->st.sessions_hwm = t->st.sessions_active;
    return s;
}

struct bw_session *bw_session_of(struct bw_flow_table *t, const struct bw_flow *f)
{
    return f->session ? sat(t, f->session) : NULL;
}

void bw_session_put(struct bw_flow_table *t, struct bw_flow *f)
{
    if (!f->session) return;
    t->snext[f->session - 1] = t->sfree_head;
    t->sfree_head = f->session;
    f->session = 0;
    t->st.sessions_active--;
}
