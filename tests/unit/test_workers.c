/* test_workers.c: the message ring (order, wrap with pads, full and empty, batches of release,
 * its pages touched at once only for live capture),
 * the choice of a worker (both directions of a pair alike, spread over the workers), the
 * report merge (two halves of a run give the whole run's report), the stats sum, and live
 * workers handing records on while the run goes on (a worker that has had no packet does not
 * hold back another's records), and each worker's nDPI memory counted as its own. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#include "check.h"
#include "bw_config.h"
#include "bw_packet.h"
#include "bw_sink.h"
#include "frames.h"
#include "toy_dissector.h"
#include "bw_report.h"
#include "bw_ring.h"
#include "bw_stats.h"
#include "bw_workers.h"

static void test_ring_order_and_wrap(void)
{
    struct bw_ring r;
    CHECK_EQ(bw_ring_init(&r, 1, false), 0);
    CHECK_EQ(r.size, 65536);
    CHECK(bw_ring_peek(&r) == NULL);
    /* many rounds through the buffer with sizes that leave every kind of tail (pad or none) */
    uint32_t next_w = 0, next_r = 0;
    int bad = 0, looked = 0;
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round * 37) % 3000;
        struct bw_ring_msg *m = bw_ring_reserve(&r, len);
        if (!m) {                             /* full: the consumer takes everything */
            bw_ring_publish(&r);
            const struct bw_ring_msg *c;
            while ((c = bw_ring_peek(&r)) != NULL) {
                uint32_t v;
                memcpy(&v, c->data, 4);
                if (v != next_r || c->type != 7 || c->ts_us != v) bad++;
                for (size_t i = 4; i < c->len; i++) if (c->data[i] != (uint8_t)(v + i)) { bad++; break; }
                /* the look ahead: the next one, past a pad, until the last published */
                const struct bw_ring_msg *nx = bw_ring_peek_next(&r, c);
                uint32_t nv = 0;
                if (nx) memcpy(&nv, nx->data, 4);
                if (nx ? nv != v + 1 || nx->type != 7 : v + 1 != next_w) bad++;
                looked += nx != NULL;
                next_r++;
                bw_ring_release(&r, c);
            }
            bw_ring_release_all(&r);
            CHECK(bw_ring_drained(&r));
            m = bw_ring_reserve(&r, len < 4 ? 4 : len);
            CHECK(m != NULL);
            if (!m) break;
        }
        if (m->len < 4) {                      /* every message carries its number */
            bw_ring_publish(&r);
            m = bw_ring_reserve(&r, 4);
            if (!m) { round--; continue; }
        }
        m->type = 7;
        m->ts_us = next_w;
        memcpy(m->data, &next_w, 4);
        for (size_t i = 4; i < m->len; i++) m->data[i] = (uint8_t)(next_w + i);
        bw_ring_commit(&r, m);
        next_w++;
    }
    bw_ring_publish(&r);
    const struct bw_ring_msg *c;
    while ((c = bw_ring_peek(&r)) != NULL) {
        uint32_t v;
        memcpy(&v, c->data, 4);
        if (v != next_r) bad++;
        next_r++;
        bw_ring_release(&r, c);
    }
    bw_ring_release_all(&r);
    CHECK_EQ(bad, 0);
    CHECK(looked > 10000);
    CHECK_EQ(next_r, next_w);
    CHECK(next_w > 20000 / 2);
    /* unpublished messages are not seen; too big a message is refused outright */
    struct bw_ring_msg *m = bw_ring_reserve(&r, 8);
    CHECK(m != NULL);
    bw_ring_commit(&r, m);
    CHECK(bw_ring_peek(&r) == NULL);
    CHECK(!bw_ring_drained(&r));
    bw_ring_publish(&r);
    CHECK(bw_ring_peek(&r) != NULL);
    CHECK(bw_ring_reserve(&r, bw_ring_max_data(&r) + 1) == NULL);
    bw_ring_free(&r);
}

/* Pages [p, p + len) spans, and how many of them are in memory now. */
static size_t resident_pages(const void *p, size_t len, size_t *spanned)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
    size_t np = (len + ((uintptr_t)p - a) + pg - 1) / pg;
    unsigned char *v = malloc(np);
    if (v && mincore((void *)a, np * pg, v) == 0)
        for (size_t i = 0; i < np; i++) n += v[i] & 1;
    free(v);
    *spanned = np;
    return n;
}

/* A live capture's rings are in memory before the first packet; a file's come as used. */
static void test_ring_prefault(void)
{
    struct bw_ring r;
    size_t pages;
    CHECK_EQ(bw_ring_init(&r, 8u << 20, false), 0);
    size_t in = resident_pages(r.buf, r.size, &pages);
    CHECK(in < pages / 8);
    CHECK(pages >= 2048);
    struct bw_ring_msg *m = bw_ring_reserve(&r, 100);
    CHECK(m != NULL);
    if (m) { m->type = 1; bw_ring_commit(&r, m); bw_ring_publish(&r); }
    CHECK(bw_ring_peek(&r) == m);
    bw_ring_free(&r);
    CHECK_EQ(bw_ring_init(&r, 8u << 20, true), 0);
    in = resident_pages(r.buf, r.size, &pages);
    CHECK_EQ(in, pages);
    bw_ring_free(&r);
}

static void test_pick(void)
{
    uint8_t a[16] = { 10, 0, 0, 1 }, b[16] = { 192, 168, 7, 9 };
    unsigned count[4] = { 0 };
    for (unsigned n = 1; n <= 16; n++) CHECK_EQ(bw_workers_pick(4, a, b, n), bw_workers_pick(4, b, a, n));
    uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, b6[16] = { 0xfe, 0x80, [15] = 2 };
    CHECK_EQ(bw_workers_pick(6, a6, b6, 5), bw_workers_pick(6, b6, a6, 5));
    CHECK_EQ(bw_workers_pick(4, a, b, 1), 0);
    for (int i = 0; i < 4000; i++) {           /* 4000 clients of one broker: all workers busy */
        uint8_t c[16] = { 10, 1, (uint8_t)(i >> 8), (uint8_t)i };
        unsigned w = bw_workers_pick(4, c, b, 4);
        CHECK(w < 4);
        if (w < 4) count[w]++;
    }
    for (int w = 0; w < 4; w++) CHECK(count[w] > 800 && count[w] < 1200);
}

static void add_session(struct bw_report *r, uint8_t last, uint16_t port, const char *ver, uint32_t seen,
                        const char *user, uint8_t client, uint64_t t)
{
    struct bw_facts f;
    memset(&f, 0, sizeof f);
    f.seen = seen | BW_FACT_CONFIRMED;
    memcpy(f.version, ver, strlen(ver) + 1);
    if (user) { f.user.len = (uint16_t)strlen(user); memcpy(f.user.s, user, f.user.len); }
    uint8_t sip[16] = { 10, 0, 0, last }, cip[16] = { 10, 9, 9, client };
    struct bw_report_session s = { .ip_ver = 4, .server_ip = sip, .client_ip = cip, .server_port = port,
                                   .app = "mqtt", .facts = &f, .first_us = t, .last_us = t + 5 };
    bw_report_session(r, &s);
    bw_report_alert(r, BW_KIND_PLAINTEXT_SESSION, 4, sip, port, t);
}

static void test_report_merge(void)
{
    struct bw_report *whole = bw_report_new(64), *a = bw_report_new(64), *b = bw_report_new(64),
                     *m = bw_report_new(64);
    CHECK(whole && a && b && m);
    if (!whole || !a || !b || !m) return;
    struct { uint8_t last; uint16_t port; const char *ver; uint32_t seen; const char *user; uint8_t cl; uint64_t t; } ss[] = {
        { 1, 1883, "3.1.1", BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, "alice", 1, 1000000 },
        { 1, 1883, "5.0", BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK, NULL, 2, 9000000 },
        { 2, 1883, "3.1.1", BW_FACT_AUTH_FAILED | BW_FACT_CREDS_USER, "bob", 1, 3000000 },
        { 1, 1883, "3.1.1", BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS, "carol", 3, 600000000 },
        { 3, 8883, "5.0", BW_FACT_TLS, NULL, 4, 2000000 },
    };
    for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++) {
        add_session(whole, ss[i].last, ss[i].port, ss[i].ver, ss[i].seen, ss[i].user, ss[i].cl, ss[i].t);
        add_session(i % 2 ? b : a, ss[i].last, ss[i].port, ss[i].ver, ss[i].seen, ss[i].user, ss[i].cl, ss[i].t);
    }
    CHECK_EQ(bw_report_copy(m, a), 0);
    CHECK_EQ(bw_report_merge(m, b), 0);
    struct bw_report_totals tw, tm;
    bw_report_totals(whole, &tw);
    bw_report_totals(m, &tm);
    CHECK_MEM(&tw, &tm, sizeof tw);
    CHECK_EQ(bw_report_brokers(m), 3);
    size_t nw, nm;
    const struct bw_report_row **rw = bw_report_sorted(whole, &nw), **rm = bw_report_sorted(m, &nm);
    CHECK_EQ(nw, nm);
    for (size_t i = 0; rw && rm && i < nw && i < nm; i++) {
        CHECK_EQ(rw[i]->sessions, rm[i]->sessions);
        CHECK_EQ(rw[i]->nclients, rm[i]->nclients);
        CHECK_EQ(rw[i]->nusers, rm[i]->nusers);
        CHECK_EQ(rw[i]->nversions, rm[i]->nversions);
        CHECK_EQ(rw[i]->first_us, rm[i]->first_us);
        CHECK_EQ(rw[i]->last_us, rm[i]->last_us);
        CHECK_EQ(rw[i]->anonymous_accepted, rm[i]->anonymous_accepted);
        CHECK_MEM(rw[i]->versions, rm[i]->versions, sizeof rw[i]->versions);
        CHECK_MEM(rw[i]->alerts, rm[i]->alerts, sizeof rw[i]->alerts);
    }
    free(rw);
    free(rm);
    struct bw_report_timeline lw, lm;
    bw_report_timeline(whole, 1000000, 600000005, &lw);
    bw_report_timeline(m, 1000000, 600000005, &lm);
    CHECK_MEM(&lw, &lm, sizeof lw);
    bw_report_free(whole);
    bw_report_free(a);
    bw_report_free(b);
    bw_report_free(m);
}

static void test_stats_add(void)
{
    struct bw_stats a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.pipe.packets = 10; b.pipe.packets = 5;
    a.pipe.alerts_by_kind[BW_KIND_COUNT - 1] = 2; b.pipe.alerts_by_kind[BW_KIND_COUNT - 1] = 3;
    a.flow.flows_hwm = 7; b.flow.flows_hwm = 9;
    a.dpi.slot_bytes = 900; b.dpi.slot_bytes = 900;
    a.probe.src_cap = 4096; b.probe.src_cap = 4096;
    a.start_us = 50; b.start_us = 40;
    a.now_us = 100; b.now_us = 90;
    bw_stats_add(&a, &b);
    CHECK_EQ(a.pipe.packets, 15);
    CHECK_EQ(a.pipe.alerts_by_kind[BW_KIND_COUNT - 1], 5);
    CHECK_EQ(a.flow.flows_hwm, 16);
    CHECK_EQ(a.dpi.slot_bytes, 900);
    CHECK_EQ(a.probe.src_cap, 4096);
    CHECK_EQ(a.start_us, 40);
    CHECK_EQ(a.now_us, 100);
}

/* ---- live workers: records leave before the end ---- */

struct countsink {
    struct bw_sink base;
    int alerts, records;
};

static int cs_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *m)
{
    struct countsink *cs = (struct countsink *)s;
    (void)m;
    cs->records++;
    if (memmem(line, len, "\"event_type\":\"alert\"", 20)) cs->alerts++;
    return 0;
}
static int cs_flush(struct bw_sink *s) { (void)s; return 0; }
static int cs_close(struct bw_sink *s) { (void)s; return 0; }

static const struct bw_dissector *const toy_tab[] = { &toy_dissector };

static void feed(struct bw_workers *ws, uint64_t *ts, const struct tcp_ep *s, const struct tcp_ep *d,
                 uint32_t seq, uint32_t ack, uint8_t fl, const char *data)
{
    static uint8_t fr[2048];
    size_t len = frame_tcp(fr, sizeof fr, s, d, seq, ack, fl, data, data ? strlen(data) : 0);
    *ts += 1000;
    bw_workers_packet(ws, BW_DLT_EN10MB, fr, len, *ts);
}

/* A configuration with small caps, for a few sessions. */
static void small_config(struct bw_config *cfg)
{
    char err[256];
    char *argv[] = { "brokerwatch", "-r", "x", "--sensor-name", "t", NULL };
    CHECK_EQ(bw_config_parse(cfg, 5, argv, err, sizeof err), BW_CONFIG_RUN);
    cfg->max_flows = cfg->max_sessions = cfg->max_probes = cfg->max_probes_per_source = cfg->dpi_slots = 256;
    cfg->stream_memcap = 1u << 20;
}

static void test_live_records_leave(void)
{
    struct bw_config cfg;
    small_config(&cfg);
    cfg.stream_window = 4096;
    struct bw_workers *ws = NULL;
    CHECK_EQ(bw_workers_new(&ws, &cfg, 2, true, toy_tab, 1), 0);
    if (!ws) { bw_config_free(&cfg); return; }
    struct countsink sink = { .base = { .name = "count", .write = cs_write, .flush = cs_flush, .close = cs_close } };
    CHECK_EQ(bw_workers_add_sink(ws, &sink.base), 0);
    CHECK_EQ(bw_workers_start(ws), 0);
    /* one session, left open: all of it goes to one worker, the other sees nothing but clocks */
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40000), srv = ep4(10, 0, 0, 1, 7777);
    uint64_t ts = 1764000000000000ULL;
    const char *login = "TOY1 alice Sup3rSecret\n";
    feed(ws, &ts, &cli, &srv, 1000, 0, BW_TCP_SYN, NULL);
    feed(ws, &ts, &srv, &cli, 5000, 1001, BW_TCP_SYN | BW_TCP_ACK, NULL);
    feed(ws, &ts, &cli, &srv, 1001, 5001, BW_TCP_ACK, NULL);
    feed(ws, &ts, &cli, &srv, 1001, 5001, BW_TCP_PSH | BW_TCP_ACK, login);
    feed(ws, &ts, &srv, &cli, 5001, 1001 + (uint32_t)strlen(login), BW_TCP_PSH | BW_TCP_ACK, "OK\n");
    /* a quiet link: the wall clock every 5 ms, as the live read loop gives it */
    for (int i = 0; i < 400 && sink.alerts < 2; i++) {
        struct timespec nap = { 0, 5000000 };
        nanosleep(&nap, NULL);
        ts += 5000;
        bw_workers_clock(ws, ts);
    }
    CHECK_EQ(sink.alerts, 2);                   /* plaintext_session, cleartext_credentials */
    bw_workers_finish(ws);
    CHECK_EQ(sink.alerts, 2);
    bw_workers_free(ws);
    bw_config_free(&cfg);
}

/* ---- each worker's nDPI memory is its own ---- */

static uint64_t ndpi_bytes_of(unsigned n, const struct bw_config *cfg)
{
    struct bw_workers *ws = NULL;
    struct bw_stats st;
    CHECK_EQ(bw_workers_new(&ws, cfg, n, false, toy_tab, 1), 0);
    if (!ws) return 0;
    CHECK_EQ(bw_workers_start(ws), 0);
    bw_workers_stats(ws, &st);
    bw_workers_finish(ws);
    bw_workers_free(ws);
    return st.dpi.ndpi_bytes;
}

static void test_ndpi_memory(void)
{
    struct bw_config cfg;
    small_config(&cfg);
    uint64_t one = ndpi_bytes_of(1, &cfg);
    CHECK(one > 1000000);                       /* nDPI 4.2 makes some 4.6 MB per module */
    /* the stats sum the workers' parts: each part is its own module's, not the process's */
    CHECK_EQ(ndpi_bytes_of(2, &cfg), 2 * one);
    CHECK_EQ(ndpi_bytes_of(3, &cfg), 3 * one);
    CHECK_EQ(ndpi_bytes_of(1, &cfg), one);      /* the modules before gave all of it back */
    bw_config_free(&cfg);
}

int main(void)
{
    test_ring_order_and_wrap();
    test_ring_prefault();
    test_pick();
    test_report_merge();
    test_stats_add();
    test_live_records_leave();
    test_ndpi_memory();
    return check_summary("workers");
}
