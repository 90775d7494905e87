/* bw_flow.h: the flow table. Bidirectional 5-tuple -> compact fixed-size struct bw_flow records
 * (128 bytes) held in chunked slabs (grown on demand up to max_flows, never shrunk), found through
 * a bucket array of 16-bit hash tags next to record indexes (one cache line per bucket, open
 * addressing between buckets), and kept on one LRU list per class (no payload yet, closed,
 * bypassed, probing, unconfirmed session, reset, confirmed broker) so expiry is O(1) per flow and
 * eviction takes the cheapest class first. Time is packet time. The heavier per-session state
 * (reassembly, dissector, facts) lives in a separate bounded pool (struct bw_session), attached
 * only to flows a dissector has claimed; probing state lives in bw_probe.h's slots. */
#ifndef BW_FLOW_H
#define BW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_classify.h"
#include "bw_dissector.h"
#include "bw_err.h"
#include "bw_facts.h"
#include "bw_packet.h"
#include "bw_stream.h"

enum bw_flow_state {
    BW_FLOW_PROBING = 0,   /* new: probes (and maybe nDPI) still looking */
    BW_FLOW_DISSECT,       /* a dissector owns the session */
    BW_FLOW_BYPASS,        /* not a broker: counted, nothing else */
    BW_FLOW_CLOSED,        /* FIN both ways or RST: session finished, absorbing late packets */
};

/* Timeout and eviction classes, each its own LRU list. When the table is full the oldest flow of
 * the lowest rank goes first (bw_flow_lru_rank): no payload, then closed or bypassed or holding
 * nothing, then probing or unconfirmed, then reset and waiting, then confirmed broker sessions. */
enum bw_flow_lru {
    BW_LRU_SYN = 0,        /* no payload, handshake not finished (SYN, SYN-ACK only) */
    BW_LRU_IDLE,           /* handshake finished, no payload yet */
    BW_LRU_CLOSED,         /* finished: absorbing late packets */
    BW_LRU_BYPASS,         /* not a broker */
    BW_LRU_QUIET,          /* payload seen and judged "not this side", nothing kept: waiting for the peer */
    BW_LRU_PROBE,          /* holds a probe slot: undecided or claimed, not confirmed */
    BW_LRU_UNCONF,         /* holds a session a broker has not confirmed yet */
    BW_LRU_LINGER,         /* reset seen: a short while for an answer that may follow (or FINs
                            * seen while a segment is missing: as long as the stream waits) */
    BW_LRU_CONFIRMED,      /* a confirmed broker session */
    BW_LRU_COUNT
};

/* Flow flags */
#define BW_FF_SYN_CLI       0x00000001u   /* SYN from the client seen: orientation is certain */
#define BW_FF_SYNACK        0x00000002u   /* SYN-ACK from the server seen */
#define BW_FF_FIN_CLI       0x00000004u
#define BW_FF_FIN_SRV       0x00000008u
#define BW_FF_RST           0x00000010u
#define BW_FF_ESTABLISHED   0x00000020u   /* payload or a completed handshake seen */
#define BW_FF_PAYLOAD       0x00000040u   /* payload seen */
#define BW_FF_PROBE_NO_CLI  0x00000080u   /* every probe said no to the client's first bytes */
#define BW_FF_PROBE_NO_SRV  0x00000100u
#define BW_FF_SESSION_FAIL  0x00000200u   /* the session pool was empty */
#define BW_FF_FIN_SRV_FIRST 0x00000400u   /* the broker closed before the client */
#define BW_FF_RST_SRV       0x00000800u
#define BW_FF_TOUCHED       0x00001000u   /* a packet since the flow was (re)queued on its LRU list */
#define BW_FF_SRC_COUNTED   0x00002000u   /* counted against its source's cap of unconfirmed flows */
#define BW_FF_CONFIRMED     0x00004000u   /* the broker answered: a confirmed broker session */
#define BW_FF_SYN_SEEN_CLI  0x00008000u   /* isn[TOSERVER] is valid */
#define BW_FF_SYN_SEEN_SRV  0x00010000u   /* isn[TOCLIENT] is valid */
#define BW_FF_RECLAIMED     0x00020000u   /* lost its probe slot or session to a newer flow */

struct bw_flow_key {
    uint8_t  a[16], b[16];         /* a:pa <= b:pb (byte order of address, then port) */
    uint16_t pa, pb;
    uint8_t  ip_ver;
    uint8_t  pad[3];               /* zeroed: the key is hashed and compared as words */
};

struct bw_session;

/* One flow: 128 bytes. What every packet reads (key, state, flags, last_us, counters) comes
 * first. No pointer: links are record indexes + 1. */
struct bw_flow {
    struct bw_flow_key key;
    uint32_t flags;                /* BW_FF_* */
    uint8_t  state;                /* enum bw_flow_state */
    uint8_t  lru;                  /* enum bw_flow_lru */
    bool     cli_is_a;             /* the client is key.a */
    uint8_t  linger;               /* packets still allowed after a reset (BW_LRU_LINGER) */
    uint64_t last_us;
    uint32_t pkts[2];              /* per direction (BW_DIR_TOSERVER, BW_DIR_TOCLIENT) */
    uint64_t bytes[2];
    uint32_t self;                 /* own index + 1 */
    uint32_t lprev, lnext;         /* LRU links: index + 1 (lnext: free list when free) */
    uint32_t probe;                /* probe slot index + 1, 0 = none (bw_probe.h) */
    uint32_t session;              /* session pool index + 1, 0 = none */
    uint32_t isn[2];               /* SYN sequence numbers per direction (BW_FF_SYN_SEEN_*) */
    uint32_t hold;                 /* evidence hold slot index + 1 (bw_hold.h), 0 = none */
    uint64_t id;                   /* flow_id in records */
    uint64_t first_us;
};

/* Everything that only brokers and candidates need. Fixed size, pooled. */
struct bw_session {
    struct bw_stream_dir dir[2];
    const struct bw_dissector *dis;
    const char *app;               /* app_proto when it is not the dissector's name (TLS) */
    uint64_t consumed[2];          /* bytes the dissector consumed (or skipped) per direction */
    uint32_t alerted;              /* alert kinds already raised (1 << enum bw_kind) */
    uint32_t flow_idx;             /* owner: flow index + 1 */
    bool     dir_done[2];          /* the dissector finished with this direction */
    bool     rejected[2];          /* the dissector found this direction malformed */
    bool     failure_counted;      /* this session's auth failure went to the bruteforce window */
    bool     remembered;           /* the server went into the known-broker memory */
    struct bw_dpi_flow dpi;        /* nDPI's view, while it is still asked */
    struct bw_facts facts;
    _Alignas(8) uint8_t dstate[BW_DISSECTOR_STATE_MAX];
};

struct bw_flow_stats {
    uint64_t flows_created, flows_active, flows_hwm, flows_expired, flows_evicted;
    uint64_t flows_evicted_confirmed;   /* evictions that ended a confirmed broker session */
    uint64_t flows_refused;             /* a new flow could not be tracked at all */
    uint64_t flows_closed, flows_bypassed;
    uint64_t sessions_active, sessions_hwm, sessions_max, session_memcap_hits;
    uint64_t slab_chunks, buckets, rehashes;
};

#define BW_FLOW_CHUNK  16384        /* records per slab chunk: 2 MiB, one huge page */
#define BW_BUCKET_WAYS 8            /* records per bucket */

/* One cache line: tags first (compared all at once), then indexes. */
struct bw_flow_bucket {
    uint16_t tag[BW_BUCKET_WAYS];   /* high bits of the record's hash */
    uint32_t idx[BW_BUCKET_WAYS];   /* record index + 1; 0 = empty way */
    uint32_t ovf;                   /* records that would live here or earlier, stored further on */
    uint32_t pad[3];
};

struct bw_flow_table {
    struct bw_flow  **chunks;       /* max_flows / BW_FLOW_CHUNK pointers, filled on demand */
    uint32_t  nchunks, max_flows;
    struct bw_flow_bucket *buckets;
    uint32_t  nbuckets, max_buckets;/* powers of two; the array doubles as the table fills */
    uint64_t  seed;                 /* hash seed (random per run: no chosen-key collisions) */
    uint32_t  free_head;            /* free list through lnext; index + 1 */
    uint32_t  used;                 /* records ever handed out (high-water of the slab) */
    uint32_t  lru_head[BW_LRU_COUNT], lru_tail[BW_LRU_COUNT];   /* head = most recently queued */
    uint32_t  lru_len[BW_LRU_COUNT];
    uint64_t  timeout_us[BW_LRU_COUNT];
    uint64_t  fin_wait_us;          /* BW_LRU_LINGER without BW_FF_RST: FINs waiting for a segment */
    uint64_t  next_id;
    /* session pool */
    struct bw_session **schunks;
    uint32_t  snchunks, max_sessions, sused, sfree_head;
    uint32_t *snext;                /* session free list links */
    struct bw_flow_stats st;
};

struct bw_flow_cfg {
    uint32_t max_flows;             /* --max-flows */
    uint32_t max_sessions;          /* concurrent candidate/broker sessions */
    uint64_t timeout_short_us;      /* --close-timeout: no payload yet, closed, probing, unconfirmed */
    uint64_t timeout_long_us;       /* --flow-timeout: established, bypassed, confirmed */
    uint64_t timeout_linger_us;     /* after a reset (0 = 1 s) */
    uint64_t timeout_fin_wait_us;   /* both FINs while a segment is missing (0 = the reset's) */
    uint64_t seed;                  /* hash seed; 0 = random */
};

int  bw_flow_table_init(struct bw_flow_table *t, const struct bw_flow_cfg *cfg) BW_WARN_UNUSED;
void bw_flow_table_free(struct bw_flow_table *t);

/* Build the normalized key of a packet; *from_a tells whether the packet's source is key.a. */
void bw_flow_key_of(const struct bw_packet *p, struct bw_flow_key *k, bool *from_a);

/* Hash of a key for this table (word-wise, seeded). */
uint64_t bw_flow_hash(const struct bw_flow_table *t, const struct bw_flow_key *k);

/* Find the flow of key k with hash h. NULL when there is none. */
struct bw_flow *bw_flow_find(struct bw_flow_table *t, const struct bw_flow_key *k, uint64_t h);

/* Create a flow for k (hash h) in class BW_LRU_SYN; NULL when the table is full (the caller
 * evicts bw_flow_victim() first) or a slab chunk could not be allocated (counted).
 * Orientation is decided by the caller with bw_flow_orient(). */
struct bw_flow *bw_flow_create(struct bw_flow_table *t, const struct bw_flow_key *k, uint64_t h,
                               uint64_t ts_us);

/* What the caller knows about a new flow's server before its first packet is looked at. */
enum bw_orient_hint {
    BW_ORIENT_UNKNOWN = 0,
    BW_ORIENT_SRC_IS_SERVER,        /* the packet's source is a server known in this run */
    BW_ORIENT_DST_IS_SERVER,
};

/* Decide client/server for a new flow from its first packet: SYN -> sender is client;
 * SYN+ACK -> sender is server; otherwise the endpoint already known as a broker (hint); else a
 * well-known broker port on one side; else the lower port class (well-known < 1024 < registered
 * < 32768 <= ephemeral) is the server; else the first speaker is taken as the client. */
void bw_flow_orient(struct bw_flow *f, const struct bw_packet *p, bool from_a, enum bw_orient_hint known);

/* Swap client and server of a flow whose orientation was a guess (no SYN seen) and whose bytes
 * nobody has judged yet: counters, sequence numbers and per-side flags follow. */
void bw_flow_flip(struct bw_flow *f);

/* Direction of a packet in f: BW_DIR_TOSERVER when it comes from the client. */
static inline enum bw_dir bw_flow_dir(const struct bw_flow *f, bool from_a)
{ return from_a == f->cli_is_a ? BW_DIR_TOSERVER : BW_DIR_TOCLIENT; }

/* Client / server endpoint views. */
void bw_flow_client(const struct bw_flow *f, const uint8_t **ip, uint16_t *port);
void bw_flow_server(const struct bw_flow *f, const uint8_t **ip, uint16_t *port);

/* Packet seen at ts. O(1) and touches only f: the LRU position is fixed lazily, when f reaches
 * the tail of its list. */
static inline void bw_flow_touch(struct bw_flow *f, uint64_t ts_us)
{
    if (ts_us > f->last_us) f->last_us = ts_us;    /* packet time never runs backwards here */
    f->flags |= BW_FF_TOUCHED;
}
/* Move the flow to another class (tail-to-head of that class's list). */
void bw_flow_set_lru(struct bw_flow_table *t, struct bw_flow *f, enum bw_flow_lru lru);
/* Eviction rank of a class: lower goes first. */
int bw_flow_lru_rank(enum bw_flow_lru lru);

/* The flow to evict when the table is full: the least recently used flow of the lowest rank;
 * NULL if the table is empty. */
struct bw_flow *bw_flow_victim(struct bw_flow_table *t);
/* The least recently used flow of one class, or NULL. */
struct bw_flow *bw_flow_oldest_in(struct bw_flow_table *t, enum bw_flow_lru lru);
/* A flow whose class timeout passed at now_us, or NULL. Call repeatedly; free each one. */
struct bw_flow *bw_flow_next_expired(struct bw_flow_table *t, uint64_t now_us);
/* Any flow (for the end of capture), or NULL when the table is empty. */
struct bw_flow *bw_flow_any(struct bw_flow_table *t);
/* Unlink and free a flow; its session and probe slot must have been released first. */
void bw_flow_free(struct bw_flow_table *t, struct bw_flow *f);
/* Record index + 1 -> flow (no check beyond the slab). */
struct bw_flow *bw_flow_at(const struct bw_flow_table *t, uint32_t idx1);

/* Session pool. bw_session_get() returns NULL (and counts) when the pool is full. */
struct bw_session *bw_session_get(struct bw_flow_table *t, struct bw_flow *f);
struct bw_session *bw_session_of(struct bw_flow_table *t, const struct bw_flow *f);
void bw_session_put(struct bw_flow_table *t, struct bw_flow *f);
/* The pool has no free record left (the next bw_session_get() would fail). */
bool bw_session_pool_full(const struct bw_flow_table *t);

bool bw_port_is_broker(uint16_t port);

#endif
