/* test_known.c: the shared memory of broker servers (bw_known.h): endpoints and addresses learned,
 * IPv4 and IPv6 apart, app 0 remembered as an endpoint only, the newest server winning a slot,
 * nothing written when a server is told again (the table is shared by every worker: a write
 * takes the line from the other cores), a slot being written reading as empty, and a writer
 * and a reader on one slot at once (for ThreadSanitizer). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "bw_known.h"

enum { APP_MQTT = 1, APP_AMQP = 2 };

static struct bw_known K;

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    memset(ip, 0, 16);
    ip[0] = a; ip[1] = b; ip[2] = c; ip[3] = d;
}

static void test_learn(void)
{
    uint8_t a[16], b[16], six[16];
    bw_known_init(&K);
    v4(a, 10, 0, 0, 5);
    v4(b, 10, 0, 0, 6);
    memset(six, 0, 16);
    memcpy(six, a, 4);                                /* an IPv6 address starting like a */
    CHECK(!bw_known_endpoint(&K, 4, a, 1883));
    CHECK_EQ(bw_known_app(&K, 4, a), 0);
    bw_known_remember(&K, 4, a, 1883, APP_MQTT);
    CHECK(bw_known_endpoint(&K, 4, a, 1883));
    CHECK(!bw_known_endpoint(&K, 4, a, 1884));
    CHECK(!bw_known_endpoint(&K, 4, b, 1883));
    CHECK(!bw_known_endpoint(&K, 6, six, 1883));
    CHECK_EQ(bw_known_app(&K, 4, a), APP_MQTT);
    CHECK_EQ(bw_known_app(&K, 4, b), 0);
    CHECK_EQ(bw_known_app(&K, 6, six), 0);
    /* a protocol that is not a broker's: the endpoint only */
    bw_known_remember(&K, 6, six, 8883, 0);
    CHECK(bw_known_endpoint(&K, 6, six, 8883));
    CHECK_EQ(bw_known_app(&K, 6, six), 0);
    bw_known_remember(&K, 4, b, 5672, APP_AMQP);
    CHECK_EQ(bw_known_app(&K, 4, b), APP_AMQP);
    CHECK_EQ(bw_known_app(&K, 4, a), APP_MQTT);
}

static void seqs(uint32_t *out)
{
    for (int i = 0; i < BW_KNOWN_BROKERS; i++) {
        out[i] = atomic_load(&K.addr[i].seq);
        out[BW_KNOWN_BROKERS + i] = atomic_load(&K.ep[i].seq);
    }
}

static int changed(const uint32_t *x, const uint32_t *y)
{
    int n = 0;
    for (int i = 0; i < 2 * BW_KNOWN_BROKERS; i++) n += x[i] != y[i];
    return n;
}

/* Told again, a known server costs reads only. */
static void test_no_rewrite(void)
{
    static uint32_t before[2 * BW_KNOWN_BROKERS], after[2 * BW_KNOWN_BROKERS];
    uint8_t a[16];
    bw_known_init(&K);
    v4(a, 192, 168, 1, 20);
    bw_known_remember(&K, 4, a, 1883, APP_MQTT);
    seqs(before);
    for (int i = 0; i < 100; i++) bw_known_remember(&K, 4, a, 1883, APP_MQTT);
    seqs(after);
    CHECK_EQ(changed(before, after), 0);
    bw_known_remember(&K, 4, a, 1884, APP_MQTT);     /* another endpoint, the same address entry */
    seqs(before);
    CHECK_EQ(changed(after, before), 1);
    bw_known_remember(&K, 4, a, 1884, APP_AMQP);     /* the address now speaks AMQP: both rewritten */
    seqs(after);
    CHECK_EQ(changed(before, after), 2);
    CHECK_EQ(bw_known_app(&K, 4, a), APP_AMQP);
}

/* A slot whose writer is inside (odd sequence) reads as empty, words and all; even again, the
 * entry is back. */
static void test_writer_inside(void)
{
    uint8_t a[16];
    bw_known_init(&K);
    v4(a, 172, 16, 0, 9);
    bw_known_remember(&K, 4, a, 5672, APP_AMQP);
    int ep = -1, addr = -1;
    for (int i = 0; i < BW_KNOWN_BROKERS; i++) {
        if (atomic_load(&K.ep[i].seq)) ep = i;
        if (atomic_load(&K.addr[i].seq)) addr = i;
    }
    CHECK(ep >= 0 && addr >= 0);
    if (ep < 0 || addr < 0) return;
    uint32_t q = atomic_load(&K.ep[ep].seq);
    atomic_store(&K.ep[ep].seq, q + 1);
    atomic_store(&K.addr[addr].seq, atomic_load(&K.addr[addr].seq) + 1);
    CHECK(!bw_known_endpoint(&K, 4, a, 5672));
    CHECK_EQ(bw_known_app(&K, 4, a), 0);
    atomic_store(&K.ep[ep].seq, q + 2);
    atomic_store(&K.addr[addr].seq, atomic_load(&K.addr[addr].seq) + 1);
    CHECK(bw_known_endpoint(&K, 4, a, 5672));
    CHECK_EQ(bw_known_app(&K, 4, a), APP_AMQP);
}

/* Two endpoints in one slot (found by trying: the second evicts the first); a writer swaps them
 * while a reader asks for the two mixes that no one ever told: never seen. A torn read is rare
 * in any one run, so this is mostly for ThreadSanitizer (scripts/test runs it there), which
 * reports any access to the slot that is not atomic. */
static uint8_t ipa[16], ipb[16];
static uint16_t porta = 1883, portb;
static atomic_bool stop;

static void *writer(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !atomic_load(&stop); i++) {
        if (i & 1) bw_known_remember(&K, 4, ipa, porta, 0);
        else bw_known_remember(&K, 4, ipb, portb, 0);
    }
    return NULL;
}

static void test_torn(void)
{
    bw_known_init(&K);
    v4(ipa, 10, 1, 2, 3);
    v4(ipb, 10, 9, 8, 7);
    portb = 0;
    for (uint32_t p = 1; p < 65536 && !portb; p++) {
        bw_known_init(&K);
        bw_known_remember(&K, 4, ipa, porta, 0);
        bw_known_remember(&K, 4, ipb, (uint16_t)p, 0);
        if (p != porta && !bw_known_endpoint(&K, 4, ipa, porta)) portb = (uint16_t)p;
    }
    CHECK(portb != 0);
    if (!portb) return;
    bw_known_init(&K);
    pthread_t th;
    atomic_store(&stop, false);
    CHECK_EQ(pthread_create(&th, NULL, writer, NULL), 0);
    long mixed = 0, seen_a = 0, seen_b = 0;
    for (long i = 0; i < 2000000; i++) {
        mixed += bw_known_endpoint(&K, 4, ipa, portb) + bw_known_endpoint(&K, 4, ipb, porta);
        seen_a += bw_known_endpoint(&K, 4, ipa, porta);
        seen_b += bw_known_endpoint(&K, 4, ipb, portb);
    }
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    CHECK_EQ(mixed, 0);
    CHECK(seen_a > 0 && seen_b > 0);                  /* the reader did see the writer's work */
}

int main(void)
{
    test_learn();
    test_no_rewrite();
    test_writer_inside();
    test_torn();
    return check_summary("known");
}
