/* test_probe.c: probe slots. Bytes placed by sequence number whatever the arrival order
 * (swapped segments, SYN-ACK after the data, an earlier segment after a later one), first copy
 * kept, the slot's bound, the view the probes get, replay runs, the pool's bound and the
 * per-source cap. */
#include <string.h>
#include "check.h"
#include "bw_probe.h"

static const uint8_t msg[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

static struct bw_bytes view(const struct bw_probe_dir *d, uint32_t seq, const uint8_t *p, size_t n)
{
    static uint8_t scratch[2048];
    return bw_probe_view(d, seq, p, n, scratch, sizeof scratch);
}

/* The first two segments swapped, with the ISN known: nothing to probe until byte 0 is there,
 * then the reassembled start. */
static void test_swapped_with_isn(void)
{
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    bw_probe_dir_isn(&d, 999);                      /* data starts at 1000 */
    CHECK(!bw_probe_dir_place(&d, 1010, msg + 10, 10));
    CHECK_EQ(d.len, 0);
    CHECK_EQ(view(&d, 1010, msg + 10, 10).len, 0);  /* byte 0 missing: nothing for the probes */
    CHECK(bw_probe_dir_place(&d, 1000, msg, 10));
    CHECK_EQ(d.len, 20);
    struct bw_bytes v = view(&d, 1000, msg, 10);
    CHECK_EQ(v.len, 20);
    CHECK_MEM(v.ptr, msg, 20);
    CHECK_EQ(bw_probe_dir_held(&d), 20);
}

/* No SYN seen: the lowest sequence so far is the start, and an earlier segment moves it back
 * while nobody has judged the bytes. */
static void test_rebase_midstream(void)
{
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    bw_probe_dir_place(&d, 5010, msg + 10, 10);
    CHECK_EQ(d.base, 5010);
    CHECK_EQ(d.len, 10);
    bw_probe_dir_place(&d, 5000, msg, 10);          /* the earlier one, captured later */
    CHECK_EQ(d.base, 5000);
    CHECK_EQ(d.len, 20);
    CHECK_MEM(d.data, msg, 20);
    /* once judged, the start is fixed: an earlier segment is ignored */
    d.flags |= BW_PD_FIXED;
    bw_probe_dir_place(&d, 4990, msg, 10);
    CHECK_EQ(d.base, 5000);
    CHECK_MEM(d.data, msg, 20);
}

/* The SYN-ACK arrives after the server's first data: the bytes move under the ISN base. */
static void test_late_isn(void)
{
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    bw_probe_dir_place(&d, 7005, msg + 5, 5);       /* second segment, first captured */
    CHECK_EQ(d.base, 7005);
    bw_probe_dir_isn(&d, 6999);                     /* data starts at 7000 */
    CHECK_EQ(d.base, 7000);
    CHECK(d.flags & BW_PD_ISN);
    CHECK_EQ(d.len, 0);                             /* bytes 0..4 still missing */
    CHECK_EQ(bw_probe_dir_held(&d), 5);
    bw_probe_dir_place(&d, 7000, msg, 5);
    CHECK_EQ(d.len, 10);
    CHECK_MEM(d.data, msg, 10);
    /* with the ISN fixed, data before it is not moved in */
    bw_probe_dir_place(&d, 6990, msg, 12);
    CHECK_EQ(d.base, 7000);
    CHECK_MEM(d.data, msg, 10);
    /* an ISN that says the held bytes started later than thought moves them on */
    struct bw_probe_dir e;
    memset(&e, 0, sizeof e);
    bw_probe_dir_place(&e, 100, msg, 8);
    bw_probe_dir_isn(&e, 97);                       /* data starts at 98: two bytes missing */
    CHECK_EQ(e.len, 0);
    CHECK_EQ(bw_probe_dir_held(&e), 8);
    CHECK_MEM(e.data + 2, msg, 8);
}

/* Overlaps keep the first copy, as the stream layer does. */
static void test_first_copy_wins(void)
{
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    bw_probe_dir_isn(&d, 0);
    bw_probe_dir_place(&d, 1, (const uint8_t *)"AAAA", 4);
    CHECK(!bw_probe_dir_place(&d, 1, (const uint8_t *)"BBBB", 4));   /* retransmission: no growth */
    bw_probe_dir_place(&d, 3, (const uint8_t *)"CCCC", 4);
    CHECK_EQ(d.len, 6);
    CHECK_MEM(d.data, "AAAACC", 6);
}

/* The slot's bound: bytes past BW_PROBE_BYTES are flagged lost; a segment that carries on from
 * the in-order bytes is visible to the probes (and says it overflows). */
static void test_bound_and_view(void)
{
    uint8_t big[600];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    bw_probe_dir_isn(&d, 9);
    CHECK(!bw_probe_dir_overflows(&d, 10, 100));
    bw_probe_dir_place(&d, 10, big, 100);
    CHECK(bw_probe_dir_overflows(&d, 110, 100));
    bw_probe_dir_place(&d, 110, big + 100, 100);
    CHECK_EQ(d.len, BW_PROBE_BYTES);
    CHECK(d.flags & BW_PD_LOST);
    struct bw_bytes v = view(&d, 110, big + 100, 100);
    CHECK_EQ(v.len, 200);                           /* slot + the rest of the segment */
    CHECK_MEM(v.ptr, big, 200);
    /* one segment from byte 0: the view is the segment itself, all of it */
    struct bw_probe_dir e;
    memset(&e, 0, sizeof e);
    bw_probe_dir_place(&e, 50, big, 600);
    v = view(&e, 50, big, 600);
    CHECK(v.ptr == big);
    CHECK_EQ(v.len, 600);
    /* the view is capped when assembled */
    uint8_t small[16];
    struct bw_bytes w = bw_probe_view(&d, 110, big + 100, 100, small, sizeof small);
    CHECK_EQ(w.len, 16);
    CHECK_MEM(w.ptr, big, 16);
}

/* Runs for the replay, in offset order. */
static void test_runs(void)
{
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    bw_probe_dir_isn(&d, 0);
    bw_probe_dir_place(&d, 21, msg + 20, 5);
    bw_probe_dir_place(&d, 1, msg, 4);
    bw_probe_dir_place(&d, 11, msg + 10, 3);
    size_t off = 0, start, len, n = 0;
    size_t want[3][2] = { { 0, 4 }, { 10, 3 }, { 20, 5 } };
    while (bw_probe_dir_next_run(&d, &off, &start, &len)) {
        CHECK(n < 3);
        if (n < 3) { CHECK_EQ(start, want[n][0]); CHECK_EQ(len, want[n][1]); }
        n++;
    }
    CHECK_EQ(n, 3);
}

static void test_pool_and_source_cap(void)
{
    struct bw_probe_pool p;
    CHECK_EQ(bw_probe_pool_init(&p, 3, 2), 0);
    uint32_t a = bw_probe_get(&p, 1), b = bw_probe_get(&p, 2), c = bw_probe_get(&p, 3);
    CHECK(a && b && c && a != b && b != c);
    CHECK(bw_probe_pool_full(&p));
    CHECK_EQ(bw_probe_get(&p, 4), 0);
    CHECK_EQ(p.st.refused, 1);
    CHECK_EQ(bw_probe_at(&p, b)->owner, 2);
    bw_probe_put(&p, b);
    CHECK(!bw_probe_pool_full(&p));
    uint32_t d = bw_probe_get(&p, 5);
    CHECK_EQ(d, b);                                 /* the freed slot, zeroed for its new owner */
    CHECK_EQ(bw_probe_at(&p, d)->owner, 5);
    CHECK_EQ(p.st.hwm, 3);

    uint8_t ip1[16] = { 192, 0, 2, 1 }, ip2[16] = { 192, 0, 2, 2 };
    CHECK(bw_probe_src_take(&p, 4, ip1));
    CHECK(bw_probe_src_take(&p, 4, ip1));
    CHECK(!bw_probe_src_take(&p, 4, ip1));          /* at its cap of 2 */
    CHECK_EQ(p.st.src_refused, 1);
    CHECK(bw_probe_src_take(&p, 4, ip2));           /* another address is not affected */
    bw_probe_src_release(&p, 4, ip1);
    CHECK(bw_probe_src_take(&p, 4, ip1));           /* room again */
    CHECK_EQ(p.st.src_hwm, 2);
    bw_probe_pool_free(&p);
}

int main(void)
{
    test_swapped_with_isn();
    test_rebase_midstream();
    test_late_isn();
    test_first_copy_wins();
    test_bound_and_view();
    test_runs();
    test_pool_and_source_cap();
    return check_summary("probe");
}
