/* flow.c: the flow table and the session pool (see bw_flow.h).
 * Owns the slabs, the hash and the LRU lists. Allocates only whole chunks of records, on demand,
 * up to the configured bounds, so the hot path never calls malloc per packet. It never looks at
 * payload and never calls another stage. */
#include <stdlib.h>
#include <string.h>
#include "bw_flow.h"

#define SESSION_CHUNK 1024

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1024;
    while (p < n && p < (1u << 30)) p <<= 1;
    return p;
}

int bw_flow_table_init(struct bw_flow_table *t, const struct bw_flow_cfg *cfg)
{
    memset(t, 0, sizeof *t);
    if (cfg->max_flows == 0 || cfg->max_sessions == 0) return BW_EINVAL;
    t->max_flows = cfg->max_flows;
    t->nchunks = (cfg->max_flows + BW_FLOW_CHUNK - 1) / BW_FLOW_CHUNK;
    t->chunks = calloc(t->nchunks, sizeof *t->chunks);
    t->nbuckets = pow2_at_least(cfg->max_flows);
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    t->max_sessions = cfg->max_sessions;
    t->snchunks = (cfg->max_sessions + SESSION_CHUNK - 1) / SESSION_CHUNK;
    t->schunks = calloc(t->snchunks, sizeof *t->schunks);
    t->snext = calloc(cfg->max_sessions, sizeof *t->snext);
    if (!t->chunks || !t->buckets || !t->schunks || !t->snext) goto fail;
    t->timeout_us[BW_LRU_SHORT] = cfg->timeout_short_us;
    t->timeout_us[BW_LRU_LONG] = cfg->timeout_long_us;
    t->next_id = 1;
    t->st.sessions_max = cfg->max_sessions;
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

static inline uint32_t idx_of(const struct bw_flow_table *t, const struct bw_flow *f)
{
    (void)t;
    return f->self;
}

void bw_flow_key_of(const struct bw_packet *p, struct bw_flow_key *k, bool *from_a)
{
    size_t alen = p->ip_ver == 4 ? 4 : 16;
    int c = memcmp(p->src, p->dst, alen);
    bool src_first = c < 0 || (c == 0 && p->sport <= p->dport);
    memset(k, 0, sizeof *k);
    k->ip_ver = p->ip_ver;
    if (src_first) {
        memcpy(k->a, p->src, 16); memcpy(k->b, p->dst, 16);
        k->pa = p->sport; k->pb = p->dport;
    } else {
        memcpy(k->a, p->dst, 16); memcpy(k->b, p->src, 16);
        k->pa = p->dport; k->pb = p->sport;
    }
    *from_a = src_first;
}

/* FNV-1a over the key, folded: the key is already symmetric, so the hash is too. */
static uint32_t key_hash(const struct bw_flow_key *k)
{
    const uint8_t *b = (const uint8_t *)k;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof *k; i++) { h ^= b[i]; h *= 1099511628211ULL; }
    return (uint32_t)(h ^ (h >> 32));
}

struct bw_flow *bw_flow_find(struct bw_flow_table *t, const struct bw_flow_key *k)
{
    uint32_t b = key_hash(k) & (t->nbuckets - 1);
    for (uint32_t i = t->buckets[b]; i; ) {
        struct bw_flow *f = at(t, i);
        if (memcmp(&f->key, k, sizeof *k) == 0) return f;
        i = f->hnext;
    }
    return NULL;
}

static void lru_unlink(struct bw_flow_table *t, struct bw_flow *f, uint32_t idx)
{
    uint8_t l = f->lru;
    if (f->lprev) at(t, f->lprev)->lnext = f->lnext; else if (t->lru_head[l] == idx) t->lru_head[l] = f->lnext;
    if (f->lnext) at(t, f->lnext)->lprev = f->lprev; else if (t->lru_tail[l] == idx) t->lru_tail[l] = f->lprev;
    f->lprev = f->lnext = 0;
}

static void lru_push_head(struct bw_flow_table *t, struct bw_flow *f, uint32_t idx)
{
    uint8_t l = f->lru;
    f->lprev = 0;
    f->lnext = t->lru_head[l];
    if (t->lru_head[l]) at(t, t->lru_head[l])->lprev = idx;
    t->lru_head[l] = idx;
    if (!t->lru_tail[l]) t->lru_tail[l] = idx;
}

struct bw_flow *bw_flow_create(struct bw_flow_table *t, const struct bw_flow_key *k, uint64_t ts_us)
{
    uint32_t idx;
    if (t->free_head) {
        idx = t->free_head;
        t->free_head = at(t, idx)->hnext;
    } else {
        if (t->used >= t->max_flows) return NULL;       /* full: the caller evicts */
        uint32_t c = t->used / BW_FLOW_CHUNK;
        if (!t->chunks[c]) {
            /* Grow by one chunk: at most max_flows / 4096 allocations in a whole run. */
            t->chunks[c] = calloc(BW_FLOW_CHUNK, sizeof(struct bw_flow));
            if (!t->chunks[c]) return NULL;
            t->st.slab_chunks++;
        }
        idx = ++t->used;
    }
    struct bw_flow *f = at(t, idx);
    memset(f, 0, sizeof *f);
    f->self = idx;
    f->key = *k;
    f->first_us = f->last_us = ts_us;
    /* flow_id: deterministic for a replay, unique within a run, below 2^53 for JSON readers. */
    f->id = (((uint64_t)key_hash(k) << 20) ^ (t->next_id++)) & ((1ULL << 53) - 1);
    uint32_t b = key_hash(k) & (t->nbuckets - 1);
    f->hnext = t->buckets[b];
    t->buckets[b] = idx;
    f->lru = BW_LRU_SHORT;
    lru_push_head(t, f, idx);
    t->st.flows_created++;
    t->st.flows_active++;
    if (t->st.flows_active > t->st.flows_hwm) t->st.flows_hwm = t->st.flows_active;
    return f;
}

const char *bw_app_name(enum bw_app a)
{
    return a == BW_APP_MQTT ? "mqtt" : a == BW_APP_AMQP ? "amqp" : NULL;
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

void bw_flow_orient(struct bw_flow *f, const struct bw_packet *p, bool from_a)
{
    bool sender_is_client;
    uint8_t fl = p->tcp_flags & (BW_TCP_SYN | BW_TCP_ACK);
    if (fl == BW_TCP_SYN) {
        sender_is_client = true;
        f->flags |= BW_FF_SYN_CLI;
    } else if (fl == (BW_TCP_SYN | BW_TCP_ACK)) {
        sender_is_client = false;
    } else if (bw_port_is_broker(p->sport) != bw_port_is_broker(p->dport)) {
        sender_is_client = bw_port_is_broker(p->dport);
    } else if (p->sport != p->dport && (p->sport < 1024) != (p->dport < 1024)) {
        sender_is_client = p->dport < 1024;        /* the privileged port is the service */
    } else {
        sender_is_client = true;                   /* whoever speaks first asks */
    }
    f->cli_is_a = sender_is_client ? from_a : !from_a;
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

void bw_flow_touch(struct bw_flow_table *t, struct bw_flow *f, uint64_t ts_us)
{
    if (ts_us > f->last_us) f->last_us = ts_us;    /* packet time never runs backwards here */
    uint32_t idx = idx_of(t, f);
    if (t->lru_head[f->lru] == idx) return;
    lru_unlink(t, f, idx);
    lru_push_head(t, f, idx);
}

void bw_flow_set_lru(struct bw_flow_table *t, struct bw_flow *f, enum bw_flow_lru lru)
{
    if (f->lru == lru) return;
    uint32_t idx = idx_of(t, f);
    lru_unlink(t, f, idx);
    f->lru = (uint8_t)lru;
    lru_push_head(t, f, idx);
}

struct bw_flow *bw_flow_oldest(struct bw_flow_table *t)
{
    struct bw_flow *best = NULL;
    for (int l = 0; l < BW_LRU_COUNT; l++) {
        if (!t->lru_tail[l]) continue;
        struct bw_flow *f = at(t, t->lru_tail[l]);
        if (!best || f->last_us < best->last_us) best = f;
    }
    return best;
}

struct bw_flow *bw_flow_next_expired(struct bw_flow_table *t, uint64_t now_us)
{
    for (int l = 0; l < BW_LRU_COUNT; l++) {
        if (!t->lru_tail[l]) continue;
        struct bw_flow *f = at(t, t->lru_tail[l]);
        if (now_us > f->last_us && now_us - f->last_us > t->timeout_us[l]) return f;
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
    uint32_t idx = idx_of(t, f);
    uint32_t b = key_hash(&f->key) & (t->nbuckets - 1);
    for (uint32_t *pp = &t->buckets[b]; *pp; pp = &at(t, *pp)->hnext) {
        if (*pp == idx) { *pp = f->hnext; break; }
    }
    lru_unlink(t, f, idx);
    memset(f, 0, sizeof *f);
    f->hnext = t->free_head;
    t->free_head = idx;
    t->st.flows_active--;
}

/* ---- session pool ---- */

static inline struct bw_session *sat(const struct bw_flow_table *t, uint32_t idx1)
{
    uint32_t i = idx1 - 1;
    return &t->schunks[i / SESSION_CHUNK][i % SESSION_CHUNK];
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
    s->flow_idx = idx_of(t, f);
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
