/* bw_flow.h: the flow table. Bidirectional 5-tuple -> fixed-size struct bw_flow records held in
 * chunked slabs (grown on demand up to max_flows, never shrunk), a hash of bucket heads, and two
 * LRU lists ordered by last packet time (one per timeout class) so expiry is O(1) per flow.
 * Time is packet time. The heavier per-session state (reassembly, dissector, facts) lives in a
 * separate bounded pool (struct bw_session) attached only to flows that may be brokers. */
#ifndef BW_FLOW_H
#define BW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_dissector.h"
#include "bw_err.h"
#include "bw_facts.h"
#include "bw_packet.h"
#include "bw_stream.h"

enum bw_flow_state {
    BW_FLOW_PROBING = 0,   /* new: nDPI and probes still looking */
    BW_FLOW_DISSECT,       /* a dissector owns the session */
    BW_FLOW_BYPASS,        /* not a broker: counted, nothing else */
    BW_FLOW_CLOSED,        /* FIN both ways or RST: session finished, absorbing late packets */
};

enum bw_flow_lru { BW_LRU_SHORT = 0, BW_LRU_LONG = 1, BW_LRU_COUNT };

/* Flow flags */
#define BW_FF_SYN_CLI      0x0001   /* SYN from the client seen: orientation is certain */
#define BW_FF_SYNACK       0x0002
#define BW_FF_FIN_CLI      0x0004
#define BW_FF_FIN_SRV      0x0008
#define BW_FF_RST          0x0010
#define BW_FF_ESTABLISHED  0x0020   /* payload or a completed handshake seen */
#define BW_FF_DPI_DONE     0x0040   /* nDPI decided or gave up */
#define BW_FF_PROBE_NO_CLI 0x0080   /* every probe said no to the client's first bytes */
#define BW_FF_PROBE_NO_SRV 0x0100
#define BW_FF_SESSION_FAIL 0x0200   /* the session pool was empty */
#define BW_FF_FIN_SRV_FIRST 0x0400  /* the broker closed before the client */
#define BW_FF_RST_SRV      0x0800

struct bw_flow_key {
    uint8_t  a[16], b[16];         /* a:pa <= b:pb (byte order of address, then port) */
    uint16_t pa, pb;
    uint8_t  ip_ver;
    uint8_t  pad[3];               /* zeroed: the key is hashed and compared as bytes */
};

struct bw_session;

/* Broker application protocols, for hints and the known-broker memory. */
enum bw_app { BW_APP_NONE = 0, BW_APP_MQTT, BW_APP_AMQP };
const char *bw_app_name(enum bw_app a);

struct bw_flow {
    struct bw_flow_key key;
    bool     cli_is_a;             /* the client is key.a */
    uint8_t  state;                /* enum bw_flow_state */
    uint8_t  lru;                  /* enum bw_flow_lru */
    uint8_t  dpi_pkts;             /* packets shown to nDPI */
    uint16_t flags;                /* BW_FF_* */
    uint16_t dpi_proto;            /* nDPI's protocol id (app, else master), 0 unknown */
    uint8_t  tls_hint;             /* TLS only: BW_APP_* that SNI/ALPN point to (classify.c) */
    uint32_t self;                 /* own index + 1 */
    uint32_t hnext;                /* hash chain: index + 1, 0 = end */
    uint32_t lprev, lnext;         /* LRU links: index + 1 */
    uint32_t session;              /* session pool index + 1, 0 = none */
    uint32_t dpi_idx;              /* nDPI flow slot + 1, 0 = none (owned by classify.c) */
    uint64_t id;                   /* flow_id in records */
    uint64_t first_us, last_us;
    uint64_t pkts[2], bytes[2];    /* per direction (BW_DIR_TOSERVER, BW_DIR_TOCLIENT) */
    uint32_t isn[2];               /* SYN sequence numbers per direction, valid with syn_seen */
    bool     syn_seen[2];
};

/* Everything that only brokers and candidates need. Fixed size, pooled. */
struct bw_session {
    struct bw_stream_dir dir[2];
    const struct bw_dissector *dis;
    const char *app;               /* app_proto when it is not the dissector's name (TLS) */
    uint32_t alerted;              /* alert kinds already raised (1 << enum bw_kind) */
    uint32_t flow_idx;             /* owner: flow index + 1 */
    bool     dir_done[2];          /* the dissector finished with this direction */
    bool     failure_counted;      /* this session's auth failure went to the bruteforce window */
    bool     remembered;           /* the server went into the known-broker memory */
    uint8_t  dpi_hint;             /* dissector index + 1 suggested by nDPI */
    struct bw_facts facts;
    _Alignas(8) uint8_t dstate[BW_DISSECTOR_STATE_MAX];
};

struct bw_flow_stats {
    uint64_t flows_created, flows_active, flows_hwm, flows_expired, flows_evicted;
    uint64_t flows_closed, flows_bypassed;
    uint64_t sessions_active, sessions_hwm, sessions_max, session_memcap_hits;
    uint64_t slab_chunks;
};

#define BW_FLOW_CHUNK 4096          /* records per slab chunk */

struct bw_flow_table {
    struct bw_flow  **chunks;       /* max_flows / BW_FLOW_CHUNK pointers, filled on demand */
    uint32_t  nchunks, max_flows;
    uint32_t *buckets;              /* index + 1 */
    uint32_t  nbuckets;             /* power of two */
    uint32_t  free_head;            /* free list through hnext; index + 1 */
    uint32_t  used;                 /* records ever handed out (high-water of the slab) */
    uint32_t  lru_head[BW_LRU_COUNT], lru_tail[BW_LRU_COUNT];   /* head = most recent */
    uint64_t  timeout_us[BW_LRU_COUNT];
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
    uint64_t timeout_short_us;      /* new, closing, closed, bypassed-and-idle */
    uint64_t timeout_long_us;       /* established */
};

int  bw_flow_table_init(struct bw_flow_table *t, const struct bw_flow_cfg *cfg) BW_WARN_UNUSED;
void bw_flow_table_free(struct bw_flow_table *t);

/* Build the normalized key of a packet; *from_a tells whether the packet's source is key.a. */
void bw_flow_key_of(const struct bw_packet *p, struct bw_flow_key *k, bool *from_a);

/* Find the packet's flow. NULL when there is none. */
struct bw_flow *bw_flow_find(struct bw_flow_table *t, const struct bw_flow_key *k);

/* Create a flow for k; NULL when the table is full (the caller evicts bw_flow_oldest() first).
 * Orientation is decided by the caller with bw_flow_orient(). */
struct bw_flow *bw_flow_create(struct bw_flow_table *t, const struct bw_flow_key *k, uint64_t ts_us);

/* Decide client/server for a new flow from its first packet: SYN -> sender is client;
 * SYN+ACK -> sender is server; otherwise a well-known broker port on one side marks the
 * server, else the first speaker is taken as the client. */
void bw_flow_orient(struct bw_flow *f, const struct bw_packet *p, bool from_a);

/* Direction of a packet in f: BW_DIR_TOSERVER when it comes from the client. */
static inline enum bw_dir bw_flow_dir(const struct bw_flow *f, bool from_a)
{ return from_a == f->cli_is_a ? BW_DIR_TOSERVER : BW_DIR_TOCLIENT; }

/* Client / server endpoint views. */
void bw_flow_client(const struct bw_flow *f, const uint8_t **ip, uint16_t *port);
void bw_flow_server(const struct bw_flow *f, const uint8_t **ip, uint16_t *port);

/* Packet seen at ts: move to the head of its LRU list. */
void bw_flow_touch(struct bw_flow_table *t, struct bw_flow *f, uint64_t ts_us);
/* Put the flow in the short or long timeout class. */
void bw_flow_set_lru(struct bw_flow_table *t, struct bw_flow *f, enum bw_flow_lru lru);

/* The least recently used flow of either list (for eviction); NULL if empty. */
struct bw_flow *bw_flow_oldest(struct bw_flow_table *t);
/* A flow whose timeout passed at now_us, or NULL. Call repeatedly; free each one. */
struct bw_flow *bw_flow_next_expired(struct bw_flow_table *t, uint64_t now_us);
/* Any flow (for the end of capture), or NULL when the table is empty. */
struct bw_flow *bw_flow_any(struct bw_flow_table *t);
/* Unlink and free a flow; its session must have been released first. */
void bw_flow_free(struct bw_flow_table *t, struct bw_flow *f);

/* Session pool. bw_session_get() returns NULL (and counts) when the pool is full. */
struct bw_session *bw_session_get(struct bw_flow_table *t, struct bw_flow *f);
struct bw_session *bw_session_of(struct bw_flow_table *t, const struct bw_flow *f);
void bw_session_put(struct bw_flow_table *t, struct bw_flow *f);

bool bw_port_is_broker(uint16_t port);

#endif
