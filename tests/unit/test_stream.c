/* test_stream.c: TCP reassembly (sensor/stream.c) against the contract in bw_stream.h.
 * A recording consumer collects consumed bytes and gaps and follows a script (consume k, need
 * more, skip, stop). One case per rule, then a seeded randomized reorder/duplicate/overlap run.
 * Every case ends with all buffers back in the pool. */
#include <stdlib.h>
#include "bw_stream.h"
#include "check.h"

enum act { A_ALL, A_K, A_ZERO, A_SKIP, A_STOP, A_NEED };
struct step { enum act a; size_t v; };

struct rec {
    uint8_t  out[8192];          /* consumed bytes, in order */
    size_t   nout;
    uint64_t gaps[16];
    size_t   gap_at[16];         /* nout when each gap came */
    int      ngaps;
    int      calls;
    size_t   lens[64];           /* len offered by each data() call */
    const uint8_t *last_ptr;
    const struct step *steps;    /* used in order, then dflt */
    int      nsteps, istep;
    struct step dflt;
    uint8_t  cut[8192];          /* bytes given a last look (cut callback), in order */
    size_t   ncut;
    int      ncuts;
    size_t   cut_at_gaps[16];    /* ngaps when each cut came */
    bool     gap_ret;
    bool     stopped, called_after_stop;
};

static size_t rec_data(void *ctx, const uint8_t *buf, size_t len)
{
    struct rec *r = ctx;
    if (r->stopped)
        r->called_after_stop = true;
    if (r->calls < 64)
        r->lens[r->calls] = len;
    r->calls++;
    r->last_ptr = buf;
    struct step s = r->istep < r->nsteps ? r->steps[r->istep++] : r->dflt;
    size_t used = 0;
    switch (s.a) {
    case A_ALL:  used = len; break;
    case A_K:    used = s.v < len ? s.v : len; break;
    case A_ZERO: used = 0; break;
    case A_SKIP: used = len + s.v; break;
    case A_STOP: r->stopped = true; return BW_STREAM_STOP;
    case A_NEED: used = len >= s.v ? s.v : 0; break;
    }
    size_t take = used < len ? used : len;
    if (r->nout + take <= sizeof r->out) {
        memcpy(r->out + r->nout, buf, take);
        r->nout += take;
    }
    return used;
}

static bool rec_gap(void *ctx, uint64_t len)
{
    struct rec *r = ctx;
    if (r->ngaps < 16) {
        r->gaps[r->ngaps] = len;
        r->gap_at[r->ngaps] = r->nout;
    }
    r->ngaps++;
    if (!r->gap_ret)
        r->stopped = true;
    return r->gap_ret;
}

static void rec_cut(void *ctx, const uint8_t *buf, size_t len)
{
    struct rec *r = ctx;
    if (r->ncuts < 16)
        r->cut_at_gaps[r->ncuts] = (size_t)r->ngaps;
    r->ncuts++;
    if (r->ncut + len <= sizeof r->cut) {
        memcpy(r->cut + r->ncut, buf, len);
        r->ncut += len;
    }
}

static void rec_init(struct rec *r, struct step dflt)
{
    memset(r, 0, sizeof *r);
    r->dflt = dflt;
    r->gap_ret = true;
}

static struct bw_stream_cb cb_for(struct rec *r)
{
    struct bw_stream_cb cb = { rec_data, rec_gap, r, rec_cut };
    return cb;
}

static uint8_t ref[4096];        /* the sender's byte stream; offsets index it */
static uint8_t ref2[4096];       /* a second copy, altered where a test wants conflicts */

static uint64_t rng_state;
static uint64_t rnd(void)        /* xorshift64*: deterministic */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Offer ref[off, off + len) at sequence base + off through an exact-size copy. */
static void seg_from(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb,
                     const uint8_t *src, uint32_t base, size_t off, size_t len, size_t seg_len)
{
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, src + off, len);
    bw_stream_segment(p, d, base + (uint32_t)off, b, len, seg_len, cb);
    free(b);
}
static void seg(struct bw_stream_pool *p, struct bw_stream_dir *d, const struct bw_stream_cb *cb,
                uint32_t base, size_t off, size_t len)
{
    seg_from(p, d, cb, ref, base, off, len, len);
}

static void pool(struct bw_stream_pool *p, size_t memcap, size_t window)
{
    int rc = bw_stream_pool_init(p, memcap, window);
    CHECK_EQ(rc, 0);
}

static void pool_done(struct bw_stream_pool *p)
{
    CHECK_EQ(p->st.buffers_in_use, 0);
    CHECK_EQ(p->nfree, p->nbufs);
    bw_stream_pool_free(p);
}

static void test_pool_init(void)
{
    struct bw_stream_pool p;
    CHECK_EQ(bw_stream_pool_init(&p, 100, 0), BW_EINVAL);
    CHECK_EQ(bw_stream_pool_init(&p, 100, 200), BW_EINVAL);
    CHECK_EQ(bw_stream_pool_init(&p, (size_t)BW_STREAM_WINDOW_MAX * 2, (size_t)BW_STREAM_WINDOW_MAX + 1), BW_EINVAL);
    CHECK(p.mem == NULL && p.nbufs == 0);
    pool(&p, 1000, 300);
    CHECK_EQ(p.nbufs, 3);
    CHECK_EQ(p.st.buffers_max, 3);
    CHECK_EQ(p.window, 300);
    pool_done(&p);
    bw_stream_pool_free(&p);      /* twice is harmless */
}

static void test_in_order(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    uint32_t isn = 1000;
    bw_stream_start(&d, isn, true);
    CHECK_EQ(d.next_seq, isn + 1);
    seg(&p, &d, &cb, isn + 1, 0, 100);
    seg(&p, &d, &cb, isn + 1, 100, 150);
    seg(&p, &d, &cb, isn + 1, 250, 150);
    CHECK_EQ(r.nout, 400);
    CHECK_MEM(r.out, ref, 400);
    CHECK_EQ(r.ngaps, 0);
    CHECK_EQ(r.calls, 3);
    CHECK_EQ(d.next_seq, isn + 401);
    CHECK_EQ(p.st.buffers_hwm, 0);          /* consumed at once: never took a buffer */
    CHECK_EQ(p.st.bytes_delivered, 400);
    CHECK_EQ(p.st.segments, 3);
    bw_stream_flush(&p, &d, &cb);
    pool_done(&p);
}

static void test_midstream_and_empty(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_segment(&p, &d, 5000, NULL, 0, 0, &cb);   /* a pure ack starts it too */
    CHECK(d.init);
    CHECK_EQ(d.next_seq, 5000);
    CHECK_EQ(p.st.segments, 0);
    struct bw_stream_dir e = { 0 };
    seg(&p, &e, &cb, 77777, 10, 20);                   /* first sight carries data */
    CHECK(e.init);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out, ref + 10, 20);
    CHECK_EQ(e.next_seq, 77777 + 30);
    pool_done(&p);
}

static void test_zero_copy(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_NEED, 150 });
    struct bw_stream_cb cb = cb_for(&r);
    uint8_t *a = malloc(100), *b = malloc(100), *c = malloc(100);
    memcpy(a, ref, 100); memcpy(b, ref + 100, 100); memcpy(c, ref + 200, 100);
    bw_stream_start(&d, 0, false);
    bw_stream_segment(&p, &d, 0, a, 100, 100, &cb);
    CHECK(r.last_ptr == a);                 /* nothing held: the caller's memory */
    CHECK_EQ(p.st.buffers_in_use, 1);       /* refused: the remainder was copied */
    bw_stream_segment(&p, &d, 100, b, 100, 100, &cb);
    CHECK(r.last_ptr != b);                 /* held bytes first: from the buffer */
    CHECK_EQ(r.nout, 150);
    CHECK_EQ(d.held, 50);
    bw_stream_segment(&p, &d, 200, c, 100, 100, &cb);
    CHECK_EQ(r.nout, 300);
    CHECK_MEM(r.out, ref, 300);
    CHECK_EQ(p.st.buffers_in_use, 0);       /* returned as soon as empty */
    r.dflt = (struct step){ A_ALL, 0 };
    bw_stream_segment(&p, &d, 300, a, 100, 100, &cb);
    CHECK(r.last_ptr == a);                 /* back on the fast path */
    CHECK_EQ(p.st.buffers_hwm, 1);
    free(a); free(b); free(c);
    pool_done(&p);
}

static void test_need_more(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_NEED, 10 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 9, true);
    seg(&p, &d, &cb, 10, 0, 4);
    seg(&p, &d, &cb, 10, 4, 4);
    CHECK_EQ(r.nout, 0);
    seg(&p, &d, &cb, 10, 8, 4);
    CHECK_EQ(r.nout, 10);
    CHECK_MEM(r.out, ref, 10);
    /* offered 4 (no), 8 (no), 12 (take 10), then the 2 left (no) */
    CHECK_EQ(r.calls, 4);
    CHECK_EQ(r.lens[0], 4); CHECK_EQ(r.lens[1], 8); CHECK_EQ(r.lens[2], 12); CHECK_EQ(r.lens[3], 2);
    CHECK_EQ(d.held, 2);
    CHECK_EQ(d.next_seq, 20);               /* the first byte not consumed */
    bw_stream_kick(&p, &d, &cb);            /* the consumer changed its mind? offered again */
    CHECK_EQ(r.calls, 5);
    CHECK_EQ(r.lens[4], 2);
    CHECK_EQ(d.held, 2);
    bw_stream_flush(&p, &d, &cb);           /* a last offer, then refused bytes end with the stream */
    CHECK_EQ(r.calls, 6);
    CHECK_EQ(r.lens[5], 2);
    CHECK_EQ(p.st.bytes_dropped, 2);
    CHECK_EQ(r.ngaps, 0);
    pool_done(&p);
}

static void test_ooo_permutations(void)
{
    static const int perm[6][3] = { {0,1,2}, {0,2,1}, {1,0,2}, {1,2,0}, {2,0,1}, {2,1,0} };
    static const size_t off[3] = { 0, 100, 180 }, len[3] = { 100, 80, 120 };
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 6; i++) {
            struct bw_stream_pool p; pool(&p, 4096, 1024);
            struct bw_stream_dir d = { 0 };
            struct rec r; rec_init(&r, k ? (struct step){ A_K, 13 } : (struct step){ A_ALL, 0 });
            struct bw_stream_cb cb = cb_for(&r);
            bw_stream_start(&d, 3000, false);
            for (int j = 0; j < 3; j++)
                seg(&p, &d, &cb, 3000, off[perm[i][j]], len[perm[i][j]]);
            CHECK_EQ(r.nout, 300);
            CHECK_MEM(r.out, ref, 300);
            CHECK_EQ(r.ngaps, 0);
            CHECK_EQ(p.st.retransmits, 0);
            CHECK_EQ(d.next_seq, 3300);
            if (i > 0)
                CHECK(p.st.ooo_segments > 0);
            pool_done(&p);                  /* everything delivered: buffer back without flush */
        }
    }
}

static void test_retransmission(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 100);
    seg(&p, &d, &cb, 0, 100, 100);
    seg(&p, &d, &cb, 0, 0, 100);            /* resent */
    seg(&p, &d, &cb, 0, 50, 150);           /* resent, resegmented */
    CHECK_EQ(r.nout, 200);
    CHECK_EQ(r.calls, 2);
    CHECK_EQ(p.st.retransmits, 2);
    /* resending bytes held and refused offers nothing new: no call */
    r.dflt = (struct step){ A_NEED, 500 };
    seg(&p, &d, &cb, 0, 200, 100);
    int calls = r.calls;
    seg(&p, &d, &cb, 0, 200, 100);
    seg(&p, &d, &cb, 0, 220, 30);
    CHECK_EQ(r.calls, calls);
    CHECK_EQ(p.st.retransmits, 4);
    CHECK_EQ(p.st.overlap_conflicts, 0);
    bw_stream_release(&p, &d);
    CHECK(d.stopped);
    bw_stream_release(&p, &d);              /* twice is harmless */
    pool_done(&p);
}

static void test_exact_duplicates(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0xABCD0000u, false);
    static const size_t off[] = { 0, 200, 100, 300 }, len[] = { 100, 100, 100, 50 };
    for (int i = 0; i < 4; i++) {           /* a mirror port sends every packet twice */
        seg(&p, &d, &cb, 0xABCD0000u, off[i], len[i]);
        seg(&p, &d, &cb, 0xABCD0000u, off[i], len[i]);
    }
    CHECK_EQ(r.nout, 350);
    CHECK_MEM(r.out, ref, 350);
    CHECK_EQ(p.st.retransmits, 4);
    CHECK_EQ(p.st.overlap_conflicts, 0);
    CHECK_EQ(p.st.bytes_delivered, 350);
    pool_done(&p);
}

static void test_partial_overlap(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 100);
    seg(&p, &d, &cb, 0, 50, 100);           /* half delivered already */
    seg(&p, &d, &cb, 0, 200, 100);          /* held */
    seg(&p, &d, &cb, 0, 180, 70);           /* overlaps the held range's front */
    seg(&p, &d, &cb, 0, 140, 50);           /* fills the hole, overlaps both sides */
    CHECK_EQ(r.nout, 300);
    CHECK_MEM(r.out, ref, 300);
    CHECK_EQ(r.ngaps, 0);
    CHECK_EQ(p.st.overlaps, 3);
    CHECK_EQ(p.st.overlap_conflicts, 0);
    pool_done(&p);
}

static void test_conflicting_overlap(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    memcpy(ref2, ref, sizeof ref2);
    for (int i = 120; i < 140; i++) ref2[i] ^= 0x5A;
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 100, 100);                          /* first copy, held out of order */
    seg_from(&p, &d, &cb, ref2, 0, 0, 150, 150);            /* second copy differs in 20 bytes */
    CHECK_EQ(r.nout, 200);
    CHECK_MEM(r.out, ref, 200);                             /* first copy won */
    CHECK_EQ(p.st.overlap_conflicts, 20);
    /* same for in-order bytes held because the consumer asked for more */
    struct bw_stream_dir e = { 0 };
    struct rec s; rec_init(&s, (struct step){ A_NEED, 150 });
    struct bw_stream_cb cb2 = cb_for(&s);
    for (int i = 60; i < 70; i++) ref2[i] ^= 0xFF;
    bw_stream_start(&e, 0, false);
    seg(&p, &e, &cb2, 0, 0, 100);
    seg_from(&p, &e, &cb2, ref2, 0, 50, 100, 100);
    CHECK_EQ(s.nout, 150);
    CHECK_MEM(s.out, ref, 100);
    CHECK_MEM(s.out + 100, ref2 + 100, 50);
    CHECK_EQ(p.st.overlap_conflicts, 30);
    pool_done(&p);
}

static void test_wraparound(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    const uint32_t isn = 0xFFFFFFF0u;
    p.ack_wait_pkts = 0;                    /* a covering ack is final (the wait: test_ack_wait) */
    bw_stream_start(&d, isn, false);
    seg(&p, &d, &cb, isn, 0, 10);           /* up to 0xFFFFFFFA */
    seg(&p, &d, &cb, isn, 30, 20);          /* past zero, held */
    seg(&p, &d, &cb, isn, 10, 20);          /* crosses zero */
    CHECK_EQ(r.nout, 50);
    CHECK_MEM(r.out, ref, 50);
    CHECK_EQ(d.next_seq, 0x22u);
    seg(&p, &d, &cb, isn, 0, 20);           /* old bytes from before the wrap */
    CHECK_EQ(r.nout, 50);
    CHECK_EQ(p.st.retransmits, 1);
    seg(&p, &d, &cb, isn, 60, 10);          /* held beyond a hole [50, 60) */
    bw_stream_ack(&p, &d, isn + 40, 0, &cb);   /* old ack: nothing */
    CHECK_EQ(r.ngaps, 0);
    bw_stream_ack(&p, &d, isn + 65, 0, &cb);
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 10);
    CHECK_EQ(r.nout, 60);
    CHECK_MEM(r.out + 50, ref + 60, 10);
    pool_done(&p);
}

static void test_gap_window(void)
{
    struct bw_stream_pool p; pool(&p, 256, 64);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);
    seg(&p, &d, &cb, 0, 100, 10);           /* 90 past the delivery point: out of a 64-byte window */
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 90);
    CHECK_EQ(r.gap_at[0], 10);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out + 10, ref + 100, 10);
    CHECK_EQ(p.st.window_overflows, 1);
    /* held data first, then a far segment: hole, held data, second hole, the segment */
    seg(&p, &d, &cb, 0, 130, 10);           /* held: hole [110, 130) */
    seg(&p, &d, &cb, 0, 300, 10);
    CHECK_EQ(r.ngaps, 3);
    CHECK_EQ(r.gaps[1], 20);
    CHECK_EQ(r.gap_at[1], 20);
    CHECK_EQ(r.gaps[2], 160);
    CHECK_EQ(r.gap_at[2], 30);
    CHECK_EQ(r.nout, 40);
    CHECK_MEM(r.out + 20, ref + 130, 10);
    CHECK_MEM(r.out + 30, ref + 300, 10);
    CHECK_EQ(p.st.gaps, 3);
    CHECK_EQ(p.st.gap_bytes, 270);
    /* a segment that only partly fits beyond a hole: the part inside is held, then the hole goes */
    seg(&p, &d, &cb, 0, 330, 60);           /* hole [310, 330), 20 + 60 > 64 */
    CHECK_EQ(r.ngaps, 4);
    CHECK_EQ(r.gaps[3], 20);
    CHECK_EQ(r.nout, 100);
    CHECK_MEM(r.out + 40, ref + 330, 60);
    pool_done(&p);
}

static void test_window_full_refused(void)
{
    struct bw_stream_pool p; pool(&p, 256, 64);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_NEED, 100 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 40);
    seg(&p, &d, &cb, 0, 40, 40);            /* 64 fit, all refused: can never complete */
    CHECK_EQ(r.calls, 2);
    CHECK_EQ(r.lens[1], 64);
    CHECK(d.stopped);
    CHECK_EQ(p.st.window_overflows, 1);
    CHECK_EQ(p.st.buffers_in_use, 0);
    seg(&p, &d, &cb, 0, 80, 40);
    CHECK_EQ(r.calls, 2);
    CHECK_EQ(d.next_seq, 120);              /* still tracked */
    /* a single segment larger than the window, refused on the fast path */
    struct bw_stream_dir e = { 0 };
    seg(&p, &e, &cb, 0, 0, 80);
    CHECK(e.stopped);
    CHECK_EQ(p.st.window_overflows, 2);
    CHECK_EQ(p.st.buffers_hwm, 1);
    pool_done(&p);
}

static void test_gap_ack(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    p.ack_wait_pkts = 0;                    /* a covering ack is final (the wait: test_ack_wait) */
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 500, false);
    bw_stream_ack(&p, &d, 600, 0, &cb);        /* ack ahead of its data, nothing held: harmless */
    CHECK_EQ(r.ngaps, 0);
    seg(&p, &d, &cb, 500, 0, 10);
    seg(&p, &d, &cb, 500, 20, 10);          /* hole [10, 20) */
    bw_stream_ack(&p, &d, 510, 0, &cb);        /* acks only what was delivered */
    CHECK_EQ(r.ngaps, 0);
    bw_stream_ack(&p, &d, 515, 0, &cb);        /* covers half the hole: that half is gone */
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 5);
    CHECK_EQ(r.nout, 10);
    bw_stream_ack(&p, &d, 530, 0, &cb);
    CHECK_EQ(r.ngaps, 2);
    CHECK_EQ(r.gaps[1], 5);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out + 10, ref + 20, 10);
    /* an ack over two holes gives both up; in-order bytes refused before the first hole go too */
    r.dflt = (struct step){ A_NEED, 20 };
    seg(&p, &d, &cb, 500, 30, 10);          /* refused, held */
    seg(&p, &d, &cb, 500, 50, 10);
    seg(&p, &d, &cb, 500, 70, 30);
    bw_stream_ack(&p, &d, 600, 0, &cb);
    CHECK_EQ(r.ngaps, 4);
    CHECK_EQ(r.gaps[2], 10);
    CHECK_EQ(r.gaps[3], 10);
    CHECK_EQ(r.nout, 40);                   /* [70, 90) taken, [90, 100) refused */
    CHECK_MEM(r.out + 20, ref + 70, 20);
    CHECK_EQ(p.st.bytes_dropped, 10 + 10);  /* [30, 40) and [50, 60): refused, then a hole */
    CHECK_EQ(r.ncuts, 2);                   /* each got a last look before its hole */
    CHECK_EQ(r.cut_at_gaps[0], 2);
    CHECK_EQ(r.cut_at_gaps[1], 3);
    CHECK_MEM(r.cut, ref + 30, 10);
    CHECK_MEM(r.cut + 10, ref + 50, 10);
    bw_stream_flush(&p, &d, &cb);
    CHECK_EQ(r.nout, 40);
    CHECK_EQ(p.st.bytes_dropped, 30);
    CHECK_EQ(r.ncuts, 3);                   /* [90, 100): refused, and the end has come */
    CHECK_EQ(r.ncut, 30);
    CHECK_MEM(r.cut + 20, ref + 90, 10);
    pool_done(&p);
}

static void test_gap_flush(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);
    seg(&p, &d, &cb, 0, 40, 10);
    seg(&p, &d, &cb, 0, 20, 10);
    CHECK_EQ(p.st.buffers_in_use, 1);
    bw_stream_flush(&p, &d, &cb);
    CHECK_EQ(r.ngaps, 2);
    CHECK_EQ(r.gaps[0], 10); CHECK_EQ(r.gap_at[0], 10);
    CHECK_EQ(r.gaps[1], 10); CHECK_EQ(r.gap_at[1], 20);
    CHECK_EQ(r.nout, 30);
    CHECK_MEM(r.out, ref, 10);
    CHECK_MEM(r.out + 10, ref + 20, 10);
    CHECK_EQ(d.next_seq, 50);
    seg(&p, &d, &cb, 0, 50, 10);            /* usable after a flush */
    CHECK_EQ(r.nout, 40);
    pool_done(&p);
}

static void test_gap_refused(void)
{
    struct bw_stream_pool p; pool(&p, 256, 64);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    r.gap_ret = false;
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);
    seg(&p, &d, &cb, 0, 20, 10);
    bw_stream_flush(&p, &d, &cb);
    CHECK_EQ(r.ngaps, 1);
    CHECK(d.stopped);
    CHECK_EQ(r.nout, 10);
    CHECK(!r.called_after_stop);
    pool_done(&p);
}

static void test_skip(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    static const struct step sk[] = { { A_SKIP, 25 } };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    r.steps = sk; r.nsteps = 1;
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);             /* consume 10, skip [10, 35) */
    seg(&p, &d, &cb, 0, 10, 10);
    seg(&p, &d, &cb, 0, 20, 10);
    CHECK_EQ(r.calls, 1);
    seg(&p, &d, &cb, 0, 30, 15);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out + 10, ref + 35, 10);
    CHECK_EQ(p.st.bytes_skipped, 25);
    CHECK_EQ(r.ngaps, 0);
    /* skip set while out-of-order data is held: the held data inside the skip is passed */
    struct bw_stream_dir e = { 0 };
    struct rec s; rec_init(&s, (struct step){ A_ALL, 0 });
    static const struct step sk2[] = { { A_SKIP, 15 } };
    s.steps = sk2; s.nsteps = 1;
    struct bw_stream_cb cb2 = cb_for(&s);
    bw_stream_start(&e, 0, false);
    seg(&p, &e, &cb2, 0, 20, 20);           /* held, hole [0, 20) */
    seg(&p, &e, &cb2, 0, 0, 10);            /* skip [10, 25): swallows hole [10, 20) */
    CHECK_EQ(s.ngaps, 0);
    CHECK_EQ(s.nout, 25);
    CHECK_MEM(s.out + 10, ref + 25, 15);
    CHECK_EQ(e.next_seq, 40);
    pool_done(&p);
}

static void test_skip_swallows_gap(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    static const struct step sk[] = { { A_SKIP, 30 } };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    r.steps = sk; r.nsteps = 1;
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);             /* skip [10, 40) */
    seg(&p, &d, &cb, 0, 25, 25);            /* hole [10, 25) lies inside the skip */
    CHECK_EQ(r.ngaps, 0);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out + 10, ref + 40, 10);
    CHECK_EQ(p.st.gaps, 0);
    CHECK_EQ(p.st.bytes_skipped, 30);
    /* a hole longer than the skip: only the excess is a gap */
    struct bw_stream_dir e = { 0 };
    static const struct step sk2[] = { { A_SKIP, 10 } };
    struct rec s; rec_init(&s, (struct step){ A_ALL, 0 });
    s.steps = sk2; s.nsteps = 1;
    struct bw_stream_cb cb2 = cb_for(&s);
    bw_stream_start(&e, 0, false);
    seg(&p, &e, &cb2, 0, 0, 10);            /* skip [10, 20) */
    seg(&p, &e, &cb2, 0, 30, 10);           /* hole [10, 30): 10 skipped, [20, 30) missing */
    CHECK_EQ(s.ngaps, 0);
    bw_stream_flush(&p, &e, &cb2);
    CHECK_EQ(s.ngaps, 1);
    CHECK_EQ(s.gaps[0], 10);
    CHECK_EQ(s.nout, 20);
    CHECK_MEM(s.out + 10, ref + 30, 10);
    pool_done(&p);
}

static void test_snaplen(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg_from(&p, &d, &cb, ref, 0, 0, 12, 20);   /* 8 bytes cut by the capture */
    CHECK_EQ(r.nout, 12);
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 8);
    CHECK_EQ(r.gap_at[0], 12);
    CHECK_EQ(p.st.truncated_segments, 1);
    seg(&p, &d, &cb, 0, 20, 10);
    CHECK_EQ(r.nout, 22);
    CHECK_MEM(r.out + 12, ref + 20, 10);
    /* cut segment held out of order: its lost tail stays a hole until something gives it up */
    seg_from(&p, &d, &cb, ref, 0, 40, 5, 10);  /* [40, 45) + lost [45, 50) */
    seg(&p, &d, &cb, 0, 55, 5);
    seg(&p, &d, &cb, 0, 30, 10);
    CHECK_EQ(r.nout, 37);
    CHECK_MEM(r.out + 22, ref + 30, 15);
    bw_stream_flush(&p, &d, &cb);
    CHECK_EQ(r.ngaps, 2);
    CHECK_EQ(r.gaps[1], 10);                /* [45, 55): lost tail plus a hole */
    CHECK_EQ(r.nout, 42);
    /* the consumer refused the captured part: no buffer is taken for bytes the gap drops */
    struct bw_stream_pool q; pool(&q, 4096, 1024);
    struct bw_stream_dir e = { 0 };
    struct rec s; rec_init(&s, (struct step){ A_NEED, 100 });
    struct bw_stream_cb cb2 = cb_for(&s);
    bw_stream_start(&e, 0, false);
    seg_from(&q, &e, &cb2, ref, 0, 0, 10, 20);
    CHECK_EQ(s.ngaps, 1);
    CHECK_EQ(s.gaps[0], 10);
    CHECK_EQ(q.st.buffers_hwm, 0);
    CHECK_EQ(q.st.bytes_dropped, 10);
    CHECK_EQ(e.next_seq, 20);
    CHECK_EQ(s.ncuts, 1);                   /* the captured part got its last look, then the gap */
    CHECK_EQ(s.cut_at_gaps[0], 0);
    CHECK_EQ(s.ncut, 10);
    CHECK_MEM(s.cut, ref, 10);
    pool_done(&q);
    /* a skip covering the lost tail: no gap */
    struct bw_stream_dir f = { 0 };
    static const struct step sk[] = { { A_SKIP, 25 } };
    struct rec t; rec_init(&t, (struct step){ A_ALL, 0 });
    t.steps = sk; t.nsteps = 1;
    struct bw_stream_cb cb3 = cb_for(&t);
    bw_stream_start(&f, 0, false);
    seg_from(&p, &f, &cb3, ref, 0, 0, 10, 30); /* skip [10, 35) covers lost [10, 30) */
    CHECK_EQ(t.ngaps, 0);
    CHECK_EQ(t.ncuts, 0);                   /* nothing was refused */
    seg(&p, &f, &cb3, 0, 30, 10);
    CHECK_EQ(t.nout, 15);
    CHECK_MEM(t.out + 10, ref + 35, 5);
    CHECK_EQ(p.st.truncated_segments, 3);
    pool_done(&p);
}

static void test_memcap(void)
{
    struct bw_stream_pool p; pool(&p, 2 * 512, 512);
    CHECK_EQ(p.nbufs, 2);
    struct bw_stream_dir d[3] = { { 0 } };
    struct rec r[3];
    struct bw_stream_cb cb[3];
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], (struct step){ A_ALL, 0 });
        cb[i] = cb_for(&r[i]);
        bw_stream_start(&d[i], 0, false);
        seg(&p, &d[i], &cb[i], 0, 10, 10);  /* out of order: needs a buffer */
    }
    CHECK_EQ(p.st.buffers_in_use, 2);
    CHECK_EQ(p.st.buffers_hwm, 2);
    CHECK_EQ(p.st.memcap_hits, 1);
    CHECK(!d[0].stopped && !d[1].stopped && d[2].stopped);
    for (int i = 0; i < 3; i++)
        seg(&p, &d[i], &cb[i], 0, 0, 10);
    CHECK_EQ(r[0].nout, 20);
    CHECK_EQ(r[1].nout, 20);
    CHECK_EQ(r[2].nout, 0);                 /* degraded, not blocked */
    CHECK_EQ(p.st.buffers_in_use, 0);
    /* a refused remainder also needs a buffer */
    struct bw_stream_dir e[3] = { { 0 } };
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], (struct step){ A_NEED, 50 });
        seg(&p, &e[i], &cb[i], 0, 0, 10);
    }
    CHECK_EQ(p.st.memcap_hits, 2);
    CHECK(e[2].stopped);
    for (int i = 0; i < 3; i++)
        bw_stream_release(&p, &e[i]);
    pool_done(&p);
}

static void test_stop(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    static const struct step st[] = { { A_ALL, 0 }, { A_STOP, 0 } };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    r.steps = st; r.nsteps = 2;
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);
    seg(&p, &d, &cb, 0, 10, 10);
    CHECK(d.stopped);
    seg(&p, &d, &cb, 0, 20, 10);
    seg(&p, &d, &cb, 0, 40, 10);
    bw_stream_ack(&p, &d, 100, 0, &cb);
    bw_stream_flush(&p, &d, &cb);
    CHECK_EQ(r.calls, 2);
    CHECK(!r.called_after_stop);
    CHECK_EQ(d.next_seq, 50);               /* seq still tracked */
    /* stop while bytes are held: the buffer goes back */
    struct bw_stream_dir e = { 0 };
    static const struct step st2[] = { { A_ZERO, 0 }, { A_STOP, 0 } };
    struct rec s; rec_init(&s, (struct step){ A_ALL, 0 });
    s.steps = st2; s.nsteps = 2;
    struct bw_stream_cb cb2 = cb_for(&s);
    bw_stream_start(&e, 0, false);
    seg(&p, &e, &cb2, 0, 0, 10);
    seg(&p, &e, &cb2, 0, 30, 10);
    CHECK_EQ(p.st.buffers_in_use, 1);
    seg(&p, &e, &cb2, 0, 10, 10);
    CHECK(e.stopped);
    CHECK_EQ(p.st.buffers_in_use, 0);
    CHECK_EQ(p.st.bytes_dropped, 30);
    pool_done(&p);
}

/* Consumed bytes leave room at the buffer's front; data placed past its end must move the
 * held bytes down first, not land on top of them. */
static void test_compaction(void)
{
    struct bw_stream_pool p; pool(&p, 256, 64);
    struct bw_stream_dir d = { 0 };
    static const struct step st[] = { { A_ZERO, 0 }, { A_K, 30 }, { A_ZERO, 0 } };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    r.steps = st; r.nsteps = 3;
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 20);             /* refused: held at buffer offset 0 */
    seg(&p, &d, &cb, 0, 20, 20);            /* 30 taken: [30, 40) left at offset 30 */
    CHECK_EQ(d.head, 30);
    CHECK_EQ(d.held, 10);
    seg(&p, &d, &cb, 0, 60, 30);            /* offsets [30, 60) from here: past the buffer end */
    CHECK_EQ(d.head, 0);
    seg(&p, &d, &cb, 0, 40, 20);            /* fills the hole */
    CHECK_EQ(r.nout, 90);
    CHECK_MEM(r.out, ref, 90);
    CHECK_EQ(r.ngaps, 0);
    pool_done(&p);
}

static void test_too_many_ranges(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    for (int i = 0; i <= BW_STREAM_RANGES_MAX; i++)    /* one more range than fits */
        seg(&p, &d, &cb, 0, (size_t)(20 * i + 10), 10);
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 10);
    CHECK_EQ(r.nout, 10);
    CHECK_MEM(r.out, ref + 10, 10);
    CHECK_EQ(d.nooo, BW_STREAM_RANGES_MAX);
    bw_stream_flush(&p, &d, &cb);
    CHECK_EQ(r.ngaps, 1 + BW_STREAM_RANGES_MAX);
    CHECK_EQ(r.nout, 10 * (1 + BW_STREAM_RANGES_MAX));
    pool_done(&p);
}

/* Random consumer for the property run: takes random amounts, sometimes asks for more, sometimes
 * skips, and checks every consumed byte against its position in the original stream. */
struct prop {
    const uint8_t *src;
    size_t total, pos;
    bool bad, gap_seen;
};

static size_t prop_data(void *ctx, const uint8_t *buf, size_t len)
{
    struct prop *c = ctx;
    size_t left = c->total - c->pos;
    if (len > left) { c->bad = true; return BW_STREAM_STOP; }
    size_t used;
    uint64_t x = rnd() % 10;
    if (len == left && x < 7)
        used = len;                          /* knows where the stream ends: never strands bytes */
    else if (x < 2 && len < left)
        used = 0;
    else if (x < 3 && len < left)
        used = len + 1 + rnd_below(left - len);   /* skip some of what follows */
    else
        used = 1 + rnd_below(len);
    if (used == 0 && len == left)
        used = len;
    if (memcmp(buf, c->src + c->pos, used < len ? used : len) != 0)
        c->bad = true;
    c->pos += used;
    return used;
}

static bool prop_gap(void *ctx, uint64_t len)
{
    struct prop *c = ctx;
    (void)len;
    c->gap_seen = true;
    return true;
}

static void test_property(void)
{
    enum { N = 3000, SEGS = 200 };
    static uint8_t src[N];
    struct { size_t off, len; } segs[SEGS * 3];
    uint64_t seen_ooo = 0, seen_overlap = 0, seen_dup = 0, seen_skip = 0, seen_buf = 0;
    for (int iter = 0; iter < 300; iter++) {
        rng_state = 0x9E3779B97F4A7C15ull + (uint64_t)iter * 7919;
        for (size_t i = 0; i < N; i++) src[i] = (uint8_t)rnd();
        size_t ns = 0;
        for (size_t off = 0; off < N; ) {   /* a cut of the whole stream */
            size_t len = 1 + rnd_below(120);
            if (len > N - off) len = N - off;
            segs[ns].off = off; segs[ns].len = len; ns++;
            off += len;
        }
        size_t base_ns = ns;
        for (size_t i = 0; i < base_ns / 3; i++) {   /* overlaps and exact duplicates */
            size_t j = rnd_below(base_ns);
            if (rnd() & 1) {
                segs[ns++] = segs[j];
            } else {
                size_t off = rnd_below(N), len = 1 + rnd_below(200);
                if (len > N - off) len = N - off;
                segs[ns].off = off; segs[ns].len = len; ns++;
            }
        }
        /* order by offset with jitter: bounded reordering keeps holes within the range limit */
        for (size_t i = 0; i < ns; i++) {
            size_t best = i;
            for (size_t j = i + 1; j < ns; j++)
                if (segs[j].off < segs[best].off) best = j;
            size_t t0 = segs[i].off, t1 = segs[i].len;
            segs[i] = segs[best]; segs[best].off = t0; segs[best].len = t1;
        }
        for (size_t i = 0; i + 1 < ns; i++) {
            size_t j = i + 1 + rnd_below(3);
            if (j < ns && (rnd() % 3) == 0) {
                size_t t0 = segs[i].off, t1 = segs[i].len;
                segs[i] = segs[j]; segs[j].off = t0; segs[j].len = t1;
            }
        }
        struct bw_stream_pool p; pool(&p, 4 * 8192, 8192);
        struct bw_stream_dir d = { 0 };
        struct prop c = { src, N, 0, false, false };
        struct bw_stream_cb cb = { prop_data, prop_gap, &c, NULL };
        uint32_t isn = (uint32_t)rnd();
        bw_stream_start(&d, isn, true);
        for (size_t i = 0; i < ns; i++) {
            uint8_t *b = malloc(segs[i].len);
            memcpy(b, src + segs[i].off, segs[i].len);
            bw_stream_segment(&p, &d, isn + 1 + (uint32_t)segs[i].off, b, segs[i].len, segs[i].len, &cb);
            free(b);
        }
        CHECK(!c.bad);
        CHECK(!c.gap_seen);
        CHECK_EQ(c.pos, N);
        CHECK_EQ(p.st.bytes_delivered + p.st.bytes_skipped, N);
        CHECK_EQ(p.st.overlap_conflicts, 0);
        CHECK_EQ(d.next_seq, isn + 1 + N);
        bw_stream_flush(&p, &d, &cb);
        seen_ooo += p.st.ooo_segments;
        seen_overlap += p.st.overlaps;
        seen_dup += p.st.retransmits;
        seen_skip += p.st.bytes_skipped;
        seen_buf += p.st.buffers_hwm;
        pool_done(&p);
        if (c.bad || c.gap_seen || c.pos != N) {
            fprintf(stderr, "property: iteration %d failed\n", iter);
            break;
        }
    }
    /* the run exercised what it claims to */
    CHECK(seen_ooo > 0 && seen_overlap > 0 && seen_dup > 0 && seen_skip > 0 && seen_buf > 0);
}

/* An ack covering a hole waits for the late segment (a mirror port copies directions apart):
 * it arrives within the wait and every byte is delivered once, in order, no gap. */
static void test_ack_wait_filled(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    CHECK_EQ(p.ack_wait_pkts, BW_STREAM_ACK_WAIT_PKTS);
    bw_stream_start(&d, 1000, false);
    seg(&p, &d, &cb, 1000, 10, 20);             /* second half first: hole [0, 10) */
    bw_stream_ack(&p, &d, 1030, 5000, &cb);     /* the peer acks all of it */
    CHECK_EQ(r.ngaps, 0);
    CHECK(d.ack_pending);
    bw_stream_tick(&p, &d, 5100, &cb);          /* a packet later: still waiting */
    CHECK_EQ(r.ngaps, 0);
    seg(&p, &d, &cb, 1000, 0, 10);              /* the late first half */
    CHECK_EQ(r.ngaps, 0);
    CHECK_EQ(r.nout, 30);
    CHECK_MEM(r.out, ref, 30);
    CHECK(!d.ack_pending);
    CHECK_EQ(p.st.ack_waits, 1);
    CHECK_EQ(p.st.ack_waits_filled, 1);
    CHECK_EQ(p.st.ack_waits_expired, 0);
    bw_stream_flush(&p, &d, &cb);
    pool_done(&p);
}

/* The wait is bounded: BW_STREAM_ACK_WAIT_PKTS packets, or BW_STREAM_ACK_WAIT_US of packet time,
 * whichever comes first; later acks never extend it; a partial ack declares only what it covers. */
static void test_ack_wait_expires(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    seg(&p, &d, &cb, 0, 0, 10);
    seg(&p, &d, &cb, 0, 20, 10);                /* hole [10, 20) */
    bw_stream_ack(&p, &d, 15, 1000, &cb);       /* covers half of it */
    for (int i = 0; i < BW_STREAM_ACK_WAIT_PKTS - 1; i++) {
        bw_stream_tick(&p, &d, 1000 + (uint64_t)i, &cb);
        bw_stream_ack(&p, &d, 15, 1000 + (uint64_t)i, &cb);  /* repeated: no new wait */
    }
    CHECK_EQ(r.ngaps, 0);
    CHECK_EQ(r.nout, 10);
    bw_stream_tick(&p, &d, 2000, &cb);          /* the last packet of the wait */
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 5);                     /* only what the ack covered */
    CHECK_EQ(r.nout, 10);
    CHECK_EQ(p.st.ack_waits, 1);
    CHECK_EQ(p.st.ack_waits_expired, 1);
    /* packet time alone ends a wait too */
    bw_stream_ack(&p, &d, 30, 10000, &cb);
    bw_stream_tick(&p, &d, 10000 + BW_STREAM_ACK_WAIT_US - 1, &cb);
    CHECK_EQ(r.ngaps, 1);
    bw_stream_tick(&p, &d, 10000 + BW_STREAM_ACK_WAIT_US, &cb);
    CHECK_EQ(r.ngaps, 2);
    CHECK_EQ(r.gaps[1], 5);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out + 10, ref + 20, 10);
    CHECK_EQ(p.st.ack_waits, 2);
    CHECK_EQ(p.st.ack_waits_expired, 2);
    bw_stream_flush(&p, &d, &cb);
    pool_done(&p);
}

/* A held direction places bytes but offers none until resumed; giving up a hole (or a flush)
 * resumes it first, so held-back bytes are offered before the gap. */
static void test_hold(void)
{
    struct bw_stream_pool p; pool(&p, 4096, 1024);
    struct bw_stream_dir d = { 0 };
    struct rec r; rec_init(&r, (struct step){ A_ALL, 0 });
    struct bw_stream_cb cb = cb_for(&r);
    bw_stream_start(&d, 0, false);
    bw_stream_hold(&p, &d, true, &cb);
    seg(&p, &d, &cb, 0, 0, 10);
    seg(&p, &d, &cb, 0, 10, 10);
    CHECK_EQ(r.calls, 0);
    bw_stream_hold(&p, &d, false, &cb);
    CHECK_EQ(r.nout, 20);
    CHECK_MEM(r.out, ref, 20);
    bw_stream_hold(&p, &d, true, &cb);
    seg(&p, &d, &cb, 0, 20, 10);
    seg(&p, &d, &cb, 0, 40, 10);                /* hole [30, 40) */
    CHECK_EQ(r.nout, 20);
    p.ack_wait_pkts = 0;
    bw_stream_ack(&p, &d, 50, 0, &cb);          /* the hole is given up: [20, 30) goes first */
    CHECK(!d.hold);
    CHECK_EQ(r.ngaps, 1);
    CHECK_EQ(r.gaps[0], 10);
    CHECK_EQ(r.nout, 40);
    CHECK_MEM(r.out + 20, ref + 20, 10);
    CHECK_MEM(r.out + 30, ref + 40, 10);
    bw_stream_hold(&p, &d, true, &cb);
    seg(&p, &d, &cb, 0, 50, 5);
    bw_stream_flush(&p, &d, &cb);               /* the end resumes */
    CHECK_EQ(r.nout, 45);
    pool_done(&p);

    /* bytes refused before a hold are not offered again on resume unless more came */
    struct bw_stream_pool p2; pool(&p2, 4096, 1024);
    struct bw_stream_dir e = { 0 };
    struct rec r2; rec_init(&r2, (struct step){ A_NEED, 0 });
    struct bw_stream_cb cb2 = cb_for(&r2);
    bw_stream_start(&e, 0, false);
    seg(&p2, &e, &cb2, 0, 0, 10);               /* refused: kept */
    CHECK_EQ(r2.calls, 1);
    bw_stream_hold(&p2, &e, true, &cb2);
    bw_stream_hold(&p2, &e, false, &cb2);
    CHECK_EQ(r2.calls, 1);
    bw_stream_hold(&p2, &e, true, &cb2);
    seg(&p2, &e, &cb2, 0, 10, 5);
    CHECK_EQ(r2.calls, 1);
    r2.dflt = (struct step){ A_ALL, 0 };
    bw_stream_hold(&p2, &e, false, &cb2);       /* more came: one offer of all of it */
    CHECK_EQ(r2.calls, 2);
    CHECK_EQ(r2.nout, 15);
    bw_stream_flush(&p2, &e, &cb2);
    pool_done(&p2);
}

int main(void)
{
    rng_state = 42;
    for (size_t i = 0; i < sizeof ref; i++) ref[i] = (uint8_t)rnd();
    test_pool_init();
    test_in_order();
    test_midstream_and_empty();
    test_zero_copy();
    test_need_more();
    test_ooo_permutations();
    test_retransmission();
    test_exact_duplicates();
    test_partial_overlap();
    test_conflicting_overlap();
    test_wraparound();
    test_gap_window();
    test_window_full_refused();
    test_gap_ack();
    test_gap_flush();
    test_gap_refused();
    test_skip();
    test_skip_swallows_gap();
    test_snaplen();
    test_memcap();
    test_stop();
    test_compaction();
    test_too_many_ranges();
    test_property();
    test_ack_wait_filled();
    test_ack_wait_expires();
    test_hold();
    return check_summary("stream");
}
