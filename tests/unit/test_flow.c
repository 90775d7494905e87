/* test_flow.c: flow keys, orientation (SYN, known broker, ports, first speaker), the bucket
 * table (lookup, growth, removal inside overflow runs), lazy LRU expiry on packet time, eviction
 * by class, the bounded session pool, and where the table's memory lies (huge pages). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "bw_flow.h"

static struct bw_packet pkt(uint8_t a, uint16_t sp, uint8_t b, uint16_t dp, uint8_t flags)
{
    struct bw_packet p;
    memset(&p, 0, sizeof p);
    p.ip_ver = 4;
    p.src[0] = 10; p.src[3] = a;
    p.dst[0] = 10; p.dst[3] = b;
    p.sport = sp;
    p.dport = dp;
    p.tcp_flags = flags;
    return p;
}

static struct bw_flow_cfg cfg_of(uint32_t flows, uint32_t sessions)
{
    struct bw_flow_cfg c = { flows, sessions, 30000000, 600000000, 1000000, 0, 42 };
    return c;
}

static struct bw_flow *add(struct bw_flow_table *t, const struct bw_packet *p, uint64_t ts)
{
    struct bw_flow_key k;
    bool a;
    bw_flow_key_of(p, &k, &a);
    struct bw_flow *f = bw_flow_create(t, &k, bw_flow_hash(t, &k), ts);
    if (f) bw_flow_orient(f, p, a, BW_ORIENT_UNKNOWN);
    return f;
}

static struct bw_flow *lookup(struct bw_flow_table *t, const struct bw_packet *p)
{
    struct bw_flow_key k;
    bool a;
    bw_flow_key_of(p, &k, &a);
    return bw_flow_find(t, &k, bw_flow_hash(t, &k));
}

static void test_keys_and_orientation(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(100, 10);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_packet fwd = pkt(5, 40000, 1, 1883, BW_TCP_SYN), rev = pkt(1, 1883, 5, 40000, BW_TCP_SYN | BW_TCP_ACK);
    struct bw_flow_key k1, k2;
    bool a1, a2;
    bw_flow_key_of(&fwd, &k1, &a1);
    bw_flow_key_of(&rev, &k2, &a2);
    CHECK(memcmp(&k1, &k2, sizeof k1) == 0);       /* both directions share one key */
    CHECK(a1 != a2);
    CHECK(bw_flow_hash(&t, &k1) == bw_flow_hash(&t, &k2));
    struct bw_flow *f = add(&t, &fwd, 1);
    CHECK(f != NULL);
    CHECK(f->flags & BW_FF_SYN_CLI);
    CHECK(lookup(&t, &rev) == f);
    CHECK_EQ(bw_flow_dir(f, a1), BW_DIR_TOSERVER);
    CHECK_EQ(bw_flow_dir(f, a2), BW_DIR_TOCLIENT);
    const uint8_t *ip;
    uint16_t port;
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 1883);
    CHECK_EQ(ip[3], 1);
    /* SYN+ACK first: its sender is the server */
    struct bw_packet sa = pkt(7, 5672, 8, 50000, BW_TCP_SYN | BW_TCP_ACK);
    f = add(&t, &sa, 1);
    bw_flow_client(f, &ip, &port);
    CHECK_EQ(port, 50000);
    /* midstream, no SYN: the broker port decides, whichever side speaks first */
    struct bw_packet mid = pkt(9, 1883, 10, 45000, BW_TCP_ACK);
    f = add(&t, &mid, 1);
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 1883);
    CHECK_EQ(ip[3], 9);
    /* no broker port: the registered port is the service, the ephemeral one the client, even
     * when the service speaks first (a broker pushing PUBLISH to a subscriber) */
    struct bw_packet mid2 = pkt(11, 17501, 12, 53524, BW_TCP_ACK | BW_TCP_PSH);
    f = add(&t, &mid2, 1);
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 17501);
    CHECK_EQ(ip[3], 11);
    /* a privileged port is the service */
    struct bw_packet mid3 = pkt(13, 20000, 14, 80, BW_TCP_ACK);
    f = add(&t, &mid3, 1);
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 80);
    /* both ephemeral: the first speaker is the client */
    struct bw_packet mid4 = pkt(15, 45001, 16, 45002, BW_TCP_ACK);
    f = add(&t, &mid4, 1);
    bw_flow_client(f, &ip, &port);
    CHECK_EQ(port, 45001);
    /* ...unless the other end is a broker known in this run: that beats every port rule */
    struct bw_packet mid5 = pkt(17, 45003, 18, 1883, BW_TCP_ACK);
    struct bw_flow_key k;
    bool a;
    bw_flow_key_of(&mid5, &k, &a);
    f = bw_flow_create(&t, &k, bw_flow_hash(&t, &k), 1);
    bw_flow_orient(f, &mid5, a, BW_ORIENT_SRC_IS_SERVER);
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 45003);
    CHECK_EQ(ip[3], 17);
    /* a SYN still wins over the memory */
    struct bw_packet syn = pkt(19, 45004, 20, 1883, BW_TCP_SYN);
    bw_flow_key_of(&syn, &k, &a);
    f = bw_flow_create(&t, &k, bw_flow_hash(&t, &k), 1);
    bw_flow_orient(f, &syn, a, BW_ORIENT_DST_IS_SERVER);
    bw_flow_client(f, &ip, &port);
    CHECK_EQ(port, 45004);
    /* flip: client and server swap with their counters */
    f->pkts[BW_DIR_TOSERVER] = 3;
    f->bytes[BW_DIR_TOCLIENT] = 99;
    f->flags |= BW_FF_PROBE_NO_CLI | BW_FF_SYN_SEEN_SRV;
    f->isn[BW_DIR_TOCLIENT] = 777;
    bw_flow_flip(f);
    bw_flow_client(f, &ip, &port);
    CHECK_EQ(port, 1883);
    CHECK_EQ(f->pkts[BW_DIR_TOCLIENT], 3);
    CHECK_EQ(f->bytes[BW_DIR_TOSERVER], 99);
    CHECK_EQ(f->isn[BW_DIR_TOSERVER], 777);
    CHECK(f->flags & BW_FF_PROBE_NO_SRV);
    CHECK(!(f->flags & BW_FF_PROBE_NO_CLI));
    CHECK(f->flags & BW_FF_SYN_SEEN_CLI);
    bw_flow_table_free(&t);
}

/* Many flows: every one is found, the bucket array grew, and removing flows from the middle of
 * overflow runs leaves the others findable. */
static void test_table(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(20000, 16);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    uint32_t n0 = t.nbuckets;
    int missing = 0;
    for (int i = 0; i < 20000; i++) {
        struct bw_packet p = pkt((uint8_t)(i & 255), (uint16_t)(1000 + i / 256), 200, 1883, BW_TCP_SYN);
        if (!add(&t, &p, (uint64_t)i)) missing++;
    }
    CHECK_EQ(missing, 0);
    CHECK(t.nbuckets > n0);
    CHECK(t.nbuckets <= t.max_buckets);
    CHECK_EQ(t.st.flows_active, 20000);
    struct bw_packet full = pkt(1, 1, 2, 2, BW_TCP_SYN);
    CHECK(add(&t, &full, 1) == NULL);              /* at max_flows: the caller evicts */
    for (int i = 0; i < 20000; i += 3) {           /* a third of them go */
        struct bw_packet p = pkt((uint8_t)(i & 255), (uint16_t)(1000 + i / 256), 200, 1883, BW_TCP_SYN);
        struct bw_flow *f = lookup(&t, &p);
        CHECK(f != NULL);
        if (f) bw_flow_free(&t, f);
    }
    int found = 0, gone = 0;
    for (int i = 0; i < 20000; i++) {
        struct bw_packet p = pkt((uint8_t)(i & 255), (uint16_t)(1000 + i / 256), 200, 1883, BW_TCP_SYN);
        struct bw_flow *f = lookup(&t, &p);
        if (i % 3 == 0) gone += f == NULL;
        else found += f != NULL;
    }
    CHECK_EQ(gone, 6667);
    CHECK_EQ(found, 20000 - 6667);
    uint64_t ovf = 0;
    for (uint32_t b = 0; b < t.nbuckets; b++) ovf += t.buckets[b].ovf;
    /* every overflow mark belongs to a live record stored past its home bucket */
    uint64_t away = 0;
    for (uint32_t b = 0; b < t.nbuckets; b++)
        for (int w = 0; w < BW_BUCKET_WAYS; w++) {
            uint32_t idx = t.buckets[b].idx[w];
            if (!idx) continue;
            uint32_t home = (uint32_t)bw_flow_hash(&t, &bw_flow_at(&t, idx)->key) & (t.nbuckets - 1);
            away += (b - home) & (t.nbuckets - 1);
        }
    CHECK_EQ(ovf, away);
    bw_flow_table_free(&t);
}

static void test_lru_expiry(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(64, 16);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_flow *fl[64];
    for (int i = 0; i < 64; i++) {
        struct bw_packet p = pkt((uint8_t)i, 1000, 200, 1883, BW_TCP_SYN);
        fl[i] = add(&t, &p, 1000000ULL * (uint64_t)i);
        CHECK(fl[i] != NULL);
    }
    CHECK(bw_flow_victim(&t) == fl[0]);
    bw_flow_touch(fl[0], 100000000ULL);            /* activity makes it the youngest */
    CHECK(bw_flow_victim(&t) == fl[1]);            /* found lazily: fl[0] was requeued */
    bw_flow_set_lru(&t, fl[5], BW_LRU_CONFIRMED);
    /* at 40 s, SYN-only flows last seen before 10 s are past the 30 s timeout */
    int expired = 0;
    struct bw_flow *e;
    while ((e = bw_flow_next_expired(&t, 40000000ULL)) != NULL) { bw_flow_free(&t, e); expired++; }
    CHECK_EQ(expired, 8);                          /* 1..9 but 5 (confirmed: 600 s); 0 was touched */
    CHECK_EQ(t.st.flows_active, 56);
    CHECK(bw_flow_find(&t, &fl[5]->key, bw_flow_hash(&t, &fl[5]->key)) == fl[5]);
    /* freed records are reused */
    struct bw_packet p = pkt(250, 1000, 200, 1883, BW_TCP_SYN);
    CHECK(add(&t, &p, 41000000ULL) != NULL);
    int n = 0;
    while ((e = bw_flow_any(&t)) != NULL) { bw_flow_free(&t, e); n++; }
    CHECK_EQ(n, 57);
    CHECK_EQ(t.st.flows_active, 0);
    bw_flow_table_free(&t);
}

/* One LINGER list, two waits: a flow lingering after its reset is due after the linger, one
 * lingering after both FINs (a segment missing) only after the longer FIN wait; a FIN-waiting tail
 * not due yet holds back the resets queued behind it. */
static void test_linger_waits(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(64, 16);
    cfg.timeout_linger_us = 30000;
    cfg.timeout_fin_wait_us = 200000;
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_packet p1 = pkt(1, 1000, 200, 1883, BW_TCP_SYN), p2 = pkt(2, 1000, 200, 1883, BW_TCP_SYN),
                     p3 = pkt(3, 1000, 200, 1883, BW_TCP_SYN);
    struct bw_flow *rst = add(&t, &p1, 1000000), *fin = add(&t, &p2, 1000000), *rst2 = add(&t, &p3, 1000000);
    CHECK(rst && fin && rst2);
    if (!rst || !fin || !rst2) { bw_flow_table_free(&t); return; }
    rst->flags |= BW_FF_RST;
    rst2->flags |= BW_FF_RST;
    bw_flow_set_lru(&t, rst, BW_LRU_LINGER);
    bw_flow_set_lru(&t, fin, BW_LRU_LINGER);
    bw_flow_set_lru(&t, rst2, BW_LRU_LINGER);
    CHECK(bw_flow_next_expired(&t, 1000000 + 30000) == NULL);      /* not past the linger yet */
    struct bw_flow *e = bw_flow_next_expired(&t, 1000000 + 30001);
    CHECK(e == rst);
    if (e) bw_flow_free(&t, e);
    CHECK(bw_flow_next_expired(&t, 1000000 + 100000) == NULL);     /* the FIN wait holds on */
    e = bw_flow_next_expired(&t, 1000000 + 200001);
    CHECK(e == fin);
    if (e) bw_flow_free(&t, e);
    e = bw_flow_next_expired(&t, 1000000 + 200001);
    CHECK(e == rst2);
    if (e) bw_flow_free(&t, e);
    CHECK(bw_flow_next_expired(&t, 1000000 + 200001) == NULL);
    bw_flow_table_free(&t);
}

/* When full, the cheapest class goes first, oldest first within it; a confirmed broker session
 * only when nothing else is left. */
static void test_eviction_order(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(64, 16);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    static const enum bw_flow_lru cls[] = {
        BW_LRU_CONFIRMED, BW_LRU_UNCONF, BW_LRU_PROBE, BW_LRU_LINGER, BW_LRU_BYPASS, BW_LRU_CLOSED,
        BW_LRU_QUIET, BW_LRU_IDLE, BW_LRU_SYN,
    };
    struct bw_flow *fl[9][2];
    for (int c = 0; c < 9; c++)
        for (int i = 0; i < 2; i++) {
            /* the confirmed ones are the oldest of all */
            struct bw_packet p = pkt((uint8_t)(c * 2 + i + 1), 1000, 200, 1883, BW_TCP_SYN);
            fl[c][i] = add(&t, &p, 1000ULL * (uint64_t)(c * 2 + i + 1));
            bw_flow_set_lru(&t, fl[c][i], cls[c]);
        }
    /* rank 0 (no payload): SYN and IDLE, the older first, whatever their list */
    static const int order[][2] = {
        { 7, 0 }, { 7, 1 }, { 8, 0 }, { 8, 1 },           /* IDLE (older), SYN */
        { 4, 0 }, { 4, 1 }, { 5, 0 }, { 5, 1 }, { 6, 0 }, { 6, 1 },   /* bypassed, closed, quiet */
        { 1, 0 }, { 1, 1 }, { 2, 0 }, { 2, 1 },           /* unconfirmed session, probing */
        { 3, 0 }, { 3, 1 },                               /* after a reset */
        { 0, 0 }, { 0, 1 },                               /* confirmed broker sessions last */
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        struct bw_flow *v = bw_flow_victim(&t);
        CHECK(v == fl[order[i][0]][order[i][1]]);
        if (!v) break;
        bw_flow_free(&t, v);
    }
    CHECK(bw_flow_victim(&t) == NULL);
    bw_flow_table_free(&t);
}

static void test_session_pool(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(100, 2);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_flow *f[3];
    for (int i = 0; i < 3; i++) {
        struct bw_packet p = pkt((uint8_t)i, 1000, 200, 1883, BW_TCP_SYN);
        f[i] = add(&t, &p, 1);
    }
    struct bw_session *s0 = bw_session_get(&t, f[0]);
    CHECK(s0 != NULL);
    CHECK(bw_session_get(&t, f[0]) == s0);         /* idempotent */
    CHECK(bw_session_of(&t, f[0]) == s0);
    CHECK_EQ(s0->facts.result_code, -1);
    CHECK(!bw_session_pool_full(&t));
    CHECK(bw_session_get(&t, f[1]) != NULL);
    CHECK(bw_session_pool_full(&t));
    CHECK(bw_session_get(&t, f[2]) == NULL);       /* pool of 2: refused and counted */
    CHECK_EQ(t.st.session_memcap_hits, 1);
    bw_session_put(&t, f[0]);
    CHECK(bw_session_get(&t, f[2]) != NULL);       /* a freed record comes back */
    CHECK_EQ(t.st.sessions_active, 2);
    CHECK_EQ(t.st.sessions_hwm, 2);
    bw_flow_table_free(&t);
}

/* The THPeligible field of /proc/self/smaps for the mapping holding p: 1 when the kernel may
 * back it with huge pages, 0 when not, -1 when the kernel does not say. */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    bool in = false;
    int v = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (in && sscanf(line, "THPeligible: %d", &v) == 1) break;
    }
    fclose(f);
    return v;
}

/* Whether this system lets madvise'd memory have transparent huge pages. */
static bool thp_for_madvise(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char buf[128] = "";
    if (!f) return false;
    bool ok = fgets(buf, sizeof buf, f) && !strstr(buf, "[never]");
    fclose(f);
    return ok;
}

/* Slabs and bucket arrays of 2 MiB and more are 2 MiB-aligned and offered as huge pages; a
 * small table's one slab holds only its records. */
static void test_huge_pages(void)
{
    const uintptr_t huge = 2u << 20;
    bool thp = thp_for_madvise();
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = cfg_of(200000, 16);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    int missing = 0;
    for (int i = 0; i < 70000; i++) {
        struct bw_packet p = pkt((uint8_t)(i & 255), (uint16_t)(1000 + i / 256), 200, 1883, BW_TCP_SYN);
        if (!add(&t, &p, (uint64_t)i)) missing++;
    }
    CHECK_EQ(missing, 0);
    CHECK(t.nbuckets * sizeof(struct bw_flow_bucket) >= huge);
    const struct bw_flow *rec[2] = { bw_flow_at(&t, 1), bw_flow_at(&t, BW_FLOW_CHUNK + 1) };
    for (int i = 0; i < 2; i++) {
        CHECK_EQ((uintptr_t)rec[i] & (huge - 1), 0);
        if (thp) CHECK_EQ(thp_eligible(rec[i]), 1);
    }
    CHECK_EQ((uintptr_t)t.buckets & (huge - 1), 0);
    if (thp) CHECK_EQ(thp_eligible(t.buckets), 1);
    bw_flow_table_free(&t);

    cfg = cfg_of(64, 16);
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_packet p = pkt(1, 1000, 2, 1883, BW_TCP_SYN);
    CHECK(add(&t, &p, 1) != NULL);
    size_t slab = malloc_usable_size(bw_flow_at(&t, 1));
    CHECK(slab >= 64 * sizeof(struct bw_flow));
    CHECK(slab < 64 * sizeof(struct bw_flow) + 4096);
    bw_flow_table_free(&t);
}

int main(void)
{
    test_keys_and_orientation();
    test_table();
    test_lru_expiry();
    test_linger_waits();
    test_eviction_order();
    test_session_pool();
    test_huge_pages();
    return check_summary("flow");
}
