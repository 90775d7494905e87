/* known.c: the run's memory of broker servers (bw_known.h), shared by the workers. Each slot is a
 * seqlock: a writer makes the sequence odd, stores the words, makes it even again; a reader takes
 * the words between two equal even sequence reads (Boehm's fence placement, all accesses atomic),
 * and treats a slot it could not read cleanly in a few tries as empty. Owns nothing else. */
#include "bw_known.h"

#include <string.h>

static uint32_t ep_hash(uint8_t ver, const uint8_t *ip, uint32_t port)
{
    uint32_t h = 2166136261u ^ ver;
    for (int i = 0; i < 16; i++) h = (h ^ ip[i]) * 16777619u;
    h = (h ^ (port & 0xff)) * 16777619u;
    return (h ^ (port >> 8)) * 16777619u;
}

static void pack(uint8_t ver, const uint8_t *ip, uint16_t port, uint8_t app, uint64_t w[3])
{
    memcpy(&w[0], ip, 8);
    memcpy(&w[1], ip + 8, 8);
    w[2] = (uint64_t)ver | (uint64_t)app << 8 | (uint64_t)port << 16;
}

static bool slot_get(const struct bw_known_slot *s, uint64_t w[3])
{
    for (int tries = 0; tries < 4; tries++) {
        uint32_t a = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (a & 1) continue;
        for (int i = 0; i < 3; i++) w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);  /* the words before the second look */
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == a) return true;
    }
    return false;
}

/* Store w, unless the slot holds it already: a server told again (every confirmed session of a
 * known broker) costs a read, not a write that takes the line from every core reading it. */
static void slot_put(struct bw_known_slot *s, const uint64_t w[3])
{
    uint64_t cur[3];
    if (slot_get(s, cur) && cur[0] == w[0] && cur[1] == w[1] && cur[2] == w[2]) return;
    uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    for (;;) {                                     /* writers are rare; two at once take turns */
        if (!(q & 1) && atomic_compare_exchange_weak_explicit(&s->seq, &q, q + 1, memory_order_relaxed,
                                                              memory_order_relaxed))
            break;
        q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_release);     /* the odd sequence before any word */
    for (int i = 0; i < 3; i++) atomic_store_explicit(&s->w[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 2, memory_order_release);
}

void bw_known_init(struct bw_known *k)
{
    memset(k, 0, sizeof *k);
}

void bw_known_remember(struct bw_known *k, uint8_t ip_ver, const uint8_t *ip, uint16_t port, uint8_t app)
{
    uint64_t w[3];
    pack(ip_ver, ip, port, app, w);
    slot_put(&k->ep[ep_hash(ip_ver, ip, port) % BW_KNOWN_BROKERS], w);
    if (!app) return;
    pack(ip_ver, ip, 0, app, w);                   /* by address: any port of it is the same entry */
    slot_put(&k->addr[ep_hash(ip_ver, ip, 0x10000) % BW_KNOWN_BROKERS], w);
}

bool bw_known_endpoint(const struct bw_known *k, uint8_t ip_ver, const uint8_t *ip, uint16_t port)
{
    uint64_t w[3], want[3];
    if (!slot_get(&k->ep[ep_hash(ip_ver, ip, port) % BW_KNOWN_BROKERS], w)) return false;
    pack(ip_ver, ip, port, 0, want);
    /* ip_ver 0: an empty slot never matches */
    return w[0] == want[0] && w[1] == want[1] && (w[2] & ~(uint64_t)0xff00) == want[2];
}

uint8_t bw_known_app(const struct bw_known *k, uint8_t ip_ver, const uint8_t *ip)
{
    uint64_t w[3], want[3];
    if (!slot_get(&k->addr[ep_hash(ip_ver, ip, 0x10000) % BW_KNOWN_BROKERS], w)) return 0;
    pack(ip_ver, ip, 0, 0, want);
    if (w[0] != want[0] || w[1] != want[1] || (w[2] & 0xff) != ip_ver) return 0;
    return (uint8_t)(w[2] >> 8);
}
