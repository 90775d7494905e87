/* test_flow.c: flow keys, orientation, lookup, LRU expiry on packet time, eviction order,
 * and the bounded session pool. */
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

static void test_keys_and_orientation(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = { 100, 10, 30000000, 600000000 };
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_packet fwd = pkt(5, 40000, 1, 1883, BW_TCP_SYN), rev = pkt(1, 1883, 5, 40000, BW_TCP_SYN | BW_TCP_ACK);
    struct bw_flow_key k1, k2;
    bool a1, a2;
    bw_flow_key_of(&fwd, &k1, &a1);
    bw_flow_key_of(&rev, &k2, &a2);
    CHECK(memcmp(&k1, &k2, sizeof k1) == 0);       /* both directions share one key */
    CHECK(a1 != a2);
    struct bw_flow *f = bw_flow_create(&t, &k1, 1);
    CHECK(f != NULL);
    bw_flow_orient(f, &fwd, a1);
    CHECK(bw_flow_find(&t, &k2) == f);
    CHECK_EQ(bw_flow_dir(f, a1), BW_DIR_TOSERVER);
    CHECK_EQ(bw_flow_dir(f, a2), BW_DIR_TOCLIENT);
    const uint8_t *ip;
    uint16_t port;
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 1883);
    CHECK_EQ(ip[3], 1);
    /* SYN+ACK first: its sender is the server */
    struct bw_packet sa = pkt(7, 5672, 8, 50000, BW_TCP_SYN | BW_TCP_ACK);
    bw_flow_key_of(&sa, &k1, &a1);
    f = bw_flow_create(&t, &k1, 1);
    bw_flow_orient(f, &sa, a1);
    bw_flow_client(f, &ip, &port);
    CHECK_EQ(port, 50000);
    /* midstream, no SYN: the broker port decides, whichever side speaks first */
    struct bw_packet mid = pkt(9, 1883, 10, 45000, BW_TCP_ACK);
    bw_flow_key_of(&mid, &k1, &a1);
    f = bw_flow_create(&t, &k1, 1);
    bw_flow_orient(f, &mid, a1);
    bw_flow_server(f, &ip, &port);
    CHECK_EQ(port, 1883);
    CHECK_EQ(ip[3], 9);
    /* midstream with no known port: the first speaker is the client */
    struct bw_packet mid2 = pkt(11, 45001, 12, 45002, BW_TCP_ACK);
    bw_flow_key_of(&mid2, &k1, &a1);
    f = bw_flow_create(&t, &k1, 1);
    bw_flow_orient(f, &mid2, a1);
    bw_flow_client(f, &ip, &port);
    CHECK_EQ(port, 45001);
    bw_flow_table_free(&t);
}

static void test_lru_expiry_eviction(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = { 64, 16, 30000000, 600000000 };
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_flow *fl[64];
    for (int i = 0; i < 64; i++) {
        struct bw_packet p = pkt((uint8_t)i, 1000, 200, 1883, BW_TCP_SYN);
        struct bw_flow_key k;
        bool a;
        bw_flow_key_of(&p, &k, &a);
        fl[i] = bw_flow_create(&t, &k, 1000000ULL * (uint64_t)i);
        CHECK(fl[i] != NULL);
    }
    struct bw_packet p = pkt(250, 1000, 200, 1883, BW_TCP_SYN);
    struct bw_flow_key k;
    bool a;
    bw_flow_key_of(&p, &k, &a);
    CHECK(bw_flow_create(&t, &k, 100) == NULL);     /* full: the caller must evict */
    CHECK(bw_flow_oldest(&t) == fl[0]);
    bw_flow_touch(&t, fl[0], 100000000ULL);          /* activity makes it the youngest */
    CHECK(bw_flow_oldest(&t) == fl[1]);
    bw_flow_set_lru(&t, fl[5], BW_LRU_LONG);
    /* at 40 s, flows last seen before 10 s are past the 30 s short timeout */
    int expired = 0;
    struct bw_flow *e;
    while ((e = bw_flow_next_expired(&t, 40000000ULL)) != NULL) { bw_flow_free(&t, e); expired++; }
    CHECK_EQ(expired, 8);                            /* 1..9 but 5 (long list); 0 was touched */
    CHECK_EQ(t.st.flows_active, 56);
    CHECK(bw_flow_find(&t, &fl[5]->key) == fl[5]);
    /* freed records are reused */
    CHECK(bw_flow_create(&t, &k, 41000000ULL) != NULL);
    int n = 0;
    while ((e = bw_flow_any(&t)) != NULL) { bw_flow_free(&t, e); n++; }
    CHECK_EQ(n, 57);
    CHECK_EQ(t.st.flows_active, 0);
    bw_flow_table_free(&t);
}

static void test_session_pool(void)
{
    struct bw_flow_table t;
    struct bw_flow_cfg cfg = { 100, 2, 30000000, 600000000 };
    CHECK_EQ(bw_flow_table_init(&t, &cfg), 0);
    struct bw_flow *f[3];
    for (int i = 0; i < 3; i++) {
        struct bw_packet p = pkt((uint8_t)i, 1000, 200, 1883, BW_TCP_SYN);
        struct bw_flow_key k;
        bool a;
        bw_flow_key_of(&p, &k, &a);
        f[i] = bw_flow_create(&t, &k, 1);
    }
    struct bw_session *s0 = bw_session_get(&t, f[0]);
    CHECK(s0 != NULL);
    CHECK(bw_session_get(&t, f[0]) == s0);           /* idempotent */
    CHECK(bw_session_of(&t, f[0]) == s0);
    CHECK_EQ(s0->facts.result_code, -1);
    CHECK(bw_session_get(&t, f[1]) != NULL);
    CHECK(bw_session_get(&t, f[2]) == NULL);         /* pool of 2: refused and counted */
    CHECK_EQ(t.st.session_memcap_hits, 1);
    bw_session_put(&t, f[0]);
    CHECK(bw_session_get(&t, f[2]) != NULL);         /* a freed record comes back */
    CHECK_EQ(t.st.sessions_active, 2);
    CHECK_EQ(t.st.sessions_hwm, 2);
    bw_flow_table_free(&t);
}

int main(void)
{
    test_keys_and_orientation();
    test_lru_expiry_eviction();
    test_session_pool();
    return check_summary("flow");
}
