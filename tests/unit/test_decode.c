/* test_decode.c: decode stage on crafted frames, one case per rule (link types, VLAN stacks,
 * IPv4 options and fragments, IPv6 extension headers, lying lengths, padding, snaplen cuts).
 * Every frame is decoded from an exact-size heap copy so ASan sees any read past caplen, and
 * every valid frame is also decoded at each of its prefix lengths. */
#include <stdlib.h>

#include "bw_packet.h"
#include "check.h"

#define TS 1700000000123456ull

/* The session every builder uses: 192.0.2.1:51000 -> 198.51.100.7:1883 (or 2001:db8::1/::7). */
static const uint8_t SRC4[4] = { 192, 0, 2, 1 };
static const uint8_t DST4[4] = { 198, 51, 100, 7 };
static const uint8_t SRC6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x01 };
static const uint8_t DST6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x07 };
static const uint8_t ZERO[16];
static const uint8_t PL[10] = { 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02 };
#define SPORT 51000
#define DPORT 1883
#define SEQ   0x01020304u
#define ACK   0xa0b0c0d0u
#define WIN   0x1234

struct frame { uint8_t b[2048]; size_t n; };

static void put(struct frame *f, const void *p, size_t n) { memcpy(f->b + f->n, p, n); f->n += n; }
static void put8(struct frame *f, unsigned v) { f->b[f->n++] = (uint8_t)v; }
static void put16(struct frame *f, unsigned v) { put8(f, v >> 8); put8(f, v & 0xff); }
static void put32(struct frame *f, uint32_t v) { put16(f, v >> 16); put16(f, v & 0xffff); }
static void put_le32(struct frame *f, uint32_t v)
{ put8(f, v & 0xff); put8(f, (v >> 8) & 0xff); put8(f, (v >> 16) & 0xff); put8(f, v >> 24); }
static void fill(struct frame *f, unsigned byte, size_t n) { memset(f->b + f->n, (int)byte, n); f->n += n; }

static void eth(struct frame *f, unsigned type)
{
    static const uint8_t macs[12] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                      0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb };
    put(f, macs, sizeof macs);
    put16(f, type);
}

static void tag(struct frame *f, unsigned tci, unsigned next) { put16(f, tci); put16(f, next); }

static void sll(struct frame *f, unsigned proto)
{
    put16(f, 0);            /* packet to us */
    put16(f, 1);            /* ARPHRD_ETHER */
    put16(f, 6);            /* address length */
    fill(f, 0xab, 8);       /* address, padded to 8 */
    put16(f, proto);
}

static void sll2(struct frame *f, unsigned proto)
{
    put16(f, proto);
    put16(f, 0);            /* reserved */
    put32(f, 3);            /* interface index */
    put16(f, 1);            /* ARPHRD_ETHER */
    put8(f, 4);             /* outgoing */
    put8(f, 6);             /* address length */
    fill(f, 0xcd, 8);
}

/* IPv4 header of ihl_words 32-bit words (options are NOPs). */
static void ipv4(struct frame *f, unsigned ihl_words, unsigned total, unsigned frag, unsigned proto)
{
    put8(f, 0x40 | ihl_words);
    put8(f, 0);
    put16(f, total);
    put16(f, 0x4242);
    put16(f, frag);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0xdead);       /* wrong checksum on purpose: never verified */
    put(f, SRC4, 4);
    put(f, DST4, 4);
    if (ihl_words > 5)
        fill(f, 0x01, (ihl_words - 5) * 4);
}

static void ipv6(struct frame *f, unsigned plen, unsigned nh)
{
    put32(f, 0x60012345);
    put16(f, plen);
    put8(f, nh);
    put8(f, 64);
    put(f, SRC6, 16);
    put(f, DST6, 16);
}

/* Hop-by-hop / routing / destination options header of 8 * (len8 + 1) bytes. */
static void ext(struct frame *f, unsigned next, unsigned len8)
{
    put8(f, next);
    put8(f, len8);
    fill(f, 0x00, 6 + 8 * len8);    /* Pad1/PadN content is never interpreted */
}

static void frag6(struct frame *f, unsigned next, unsigned offset8, unsigned more)
{
    put8(f, next);
    put8(f, 0);
    put16(f, (offset8 << 3) | more);
    put32(f, 0x77777777);
}

static void tcp(struct frame *f, unsigned doff_words, unsigned flags)
{
    put16(f, SPORT);
    put16(f, DPORT);
    put32(f, SEQ);
    put32(f, ACK);
    put8(f, doff_words << 4);
    put8(f, flags);
    put16(f, WIN);
    put16(f, 0xbeef);       /* checksum, wrong on purpose */
    put16(f, 0);
    if (doff_words > 5)
        fill(f, 0x01, (doff_words - 5) * 4);
}

static void v4_tcp(struct frame *f)      /* 20 + 20 + 10 bytes */
{
    ipv4(f, 5, 50, 0x4000, 6);
    tcp(f, 5, BW_TCP_PSH | BW_TCP_ACK);
    put(f, PL, sizeof PL);
}

static void v6_tcp(struct frame *f)      /* 40 + 20 + 10 bytes */
{
    ipv6(f, 30, 6);
    tcp(f, 5, BW_TCP_PSH | BW_TCP_ACK);
    put(f, PL, sizeof PL);
}

/* Result of one decode; pointers are turned into offsets before the buffer is freed. */
struct res {
    enum bw_decode_res r;
    struct bw_packet p;
    size_t l3_off, pl_off;
};

static unsigned pairs_tried, pairs_found;

static struct res run_st(int dlt, const uint8_t *bytes, size_t len, struct bw_decode_stats *st)
{
    struct res r;
    memset(&r, 0, sizeof r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) { CHECK(!"malloc"); return r; }
    if (len)
        memcpy(buf, bytes, len);
    r.r = bw_decode_packet(dlt, buf, len, TS, &r.p, st);
    if (r.r == BW_DEC_TCP) {
        r.l3_off = (size_t)(r.p.l3 - buf);
        r.pl_off = (size_t)(r.p.payload - buf);
        /* The views stay inside the capture, the payload inside the IP packet. */
        CHECK(r.l3_off + r.p.l3_len <= len);
        CHECK(r.pl_off >= r.l3_off);
        CHECK(r.pl_off + r.p.payload_len <= r.l3_off + r.p.l3_len);
        CHECK(r.pl_off + r.p.payload_len <= len);
        CHECK(r.p.payload_len <= r.p.seg_len);
        /* the IP length per the header: what was captured of it and more, headers and payload */
        CHECK(r.p.ip_len >= r.p.l3_len);
        if (!r.p.tcp_options_cut) CHECK_EQ(r.pl_off - r.l3_off + r.p.seg_len, r.p.ip_len);
        CHECK_EQ(r.p.ts_us, TS);
    }
    /* The reader's quick look at every frame decoded here: when it finds a pair, a full decode
     * finds TCP with the same pair, or a TCP header it cannot read (the packet is then counted
     * by another worker, nothing else changes); and plain TCP over Ethernet it always finds. */
    uint8_t ver = 0;
    const uint8_t *pa = NULL, *pb = NULL;
    bool quick = bw_decode_pair(dlt, buf, len, &ver, &pa, &pb);
    pairs_tried++;
    if (quick) {
        pairs_found++;
        CHECK(pa >= buf && pb >= buf && pb + (ver == 4 ? 4 : 16) <= buf + len);
        CHECK(r.r == BW_DEC_TCP || r.r == BW_DEC_MALFORMED || r.r == BW_DEC_TRUNCATED);
        if (r.r == BW_DEC_TCP) {
            CHECK_EQ(ver, r.p.ip_ver);
            CHECK(memcmp(pa, r.p.src, ver == 4 ? 4 : 16) == 0 && memcmp(pb, r.p.dst, ver == 4 ? 4 : 16) == 0);
        }
    } else if (r.r == BW_DEC_TCP && dlt == BW_DLT_EN10MB && r.p.ip_ver == 4) {
        CHECK(!"an Ethernet IPv4 TCP packet the quick look missed");
    }
    free(buf);
    r.p.l3 = NULL;
    r.p.payload = NULL;
    return r;
}

static struct res run(int dlt, const struct frame *f)
{
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    return run_st(dlt, f->b, f->n, &st);
}

/* Asserts the standard session at the given offsets; names the case when anything fails. */
static void expect_tcp(const char *what, struct res r, const uint8_t *frame, int ver,
                       size_t l3_off, size_t l3_len, size_t pl_off, size_t pl_len, size_t seg_len)
{
    int before = check_fail_;
    CHECK_EQ(r.r, BW_DEC_TCP);
    CHECK_EQ(r.p.ip_ver, ver);
    if (ver == 4) {
        CHECK_MEM(r.p.src, SRC4, 4);
        CHECK_MEM(r.p.dst, DST4, 4);
        CHECK_MEM(r.p.src + 4, ZERO, 12);
        CHECK_MEM(r.p.dst + 4, ZERO, 12);
    } else {
        CHECK_MEM(r.p.src, SRC6, 16);
        CHECK_MEM(r.p.dst, DST6, 16);
    }
    CHECK_EQ(r.p.sport, SPORT);
    CHECK_EQ(r.p.dport, DPORT);
    CHECK_EQ(r.p.seq, SEQ);
    CHECK_EQ(r.p.ack, ACK);
    CHECK_EQ(r.p.win, WIN);
    CHECK_EQ(r.l3_off, l3_off);
    CHECK_EQ(r.p.l3_len, l3_len);
    CHECK_EQ(r.pl_off, pl_off);
    CHECK_EQ(r.p.payload_len, pl_len);
    CHECK_EQ(r.p.seg_len, seg_len);
    if (r.r == BW_DEC_TCP && pl_len <= sizeof PL && r.p.payload_len == pl_len)
        CHECK_MEM(frame + pl_off, PL, pl_len);
    if (check_fail_ != before)
        fprintf(stderr, "  ... in case: %s\n", what);
}

/* Every prefix of a valid frame: headers cut -> TRUNCATED, but TCP options (the last `opts`
 * bytes of the headers) cut -> TCP with nothing of the payload; otherwise TCP with exactly the
 * captured part of the payload and the full segment length. */
static void sweep_opts(const char *what, int dlt, const struct frame *f, size_t hdr_len, size_t seg_len,
                       size_t opts)
{
    int before = check_fail_;
    for (size_t k = 0; k <= f->n; k++) {
        struct res r = run_st(dlt, f->b, k, NULL);
        if (k < hdr_len - opts) {
            CHECK_EQ(r.r, BW_DEC_TRUNCATED);
        } else if (k < hdr_len) {
            CHECK_EQ(r.r, BW_DEC_TCP);
            CHECK(r.p.tcp_options_cut);
            CHECK_EQ(r.p.payload_len, 0);
            CHECK_EQ(r.p.seg_len, seg_len);
        } else {
            CHECK(!r.p.tcp_options_cut);
            CHECK_EQ(r.r, BW_DEC_TCP);
            CHECK_EQ(r.pl_off, hdr_len);
            CHECK_EQ(r.p.payload_len, k - hdr_len);
            CHECK_EQ(r.p.seg_len, seg_len);
        }
        if (check_fail_ != before) {
            fprintf(stderr, "  ... in sweep: %s, prefix %zu of %zu\n", what, k, f->n);
            return;
        }
    }
}

static void sweep(const char *what, int dlt, const struct frame *f, size_t hdr_len, size_t seg_len)
{
    sweep_opts(what, dlt, f, hdr_len, seg_len, 0);
}

/* ---- a literal frame, independent of the builders ---- */

static void test_literal_frame(void)
{
    static const uint8_t f[60] = {
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
        0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,     /* total 44 */
        0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07,
        0xc7, 0x38, 0x07, 0x5b, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0,
        0x50, 0x18, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00,
        'p', 'i', 'n', 'g',
        0xee, 0xee,                                                              /* padding */
    };
    struct res r = run_st(BW_DLT_EN10MB, f, sizeof f, NULL);
    CHECK_EQ(r.r, BW_DEC_TCP);
    CHECK_EQ(r.p.ip_ver, 4);
    CHECK_MEM(r.p.src, SRC4, 4);
    CHECK_MEM(r.p.dst, DST4, 4);
    CHECK_EQ(r.p.sport, 51000);
    CHECK_EQ(r.p.dport, 1883);
    CHECK_EQ(r.p.seq, 0x01020304u);
    CHECK_EQ(r.p.ack, 0xa0b0c0d0u);
    CHECK_EQ(r.p.tcp_flags, BW_TCP_PSH | BW_TCP_ACK);
    CHECK_EQ(r.p.win, 0x1234);
    CHECK_EQ(r.p.ts_us, TS);
    CHECK_EQ(r.p.vlan_depth, 0);
    CHECK_EQ(r.p.vlan_id, 0);
    CHECK_EQ(r.l3_off, 14);
    CHECK_EQ(r.p.l3_len, 44);
    CHECK_EQ(r.pl_off, 54);
    CHECK_EQ(r.p.payload_len, 4);      /* the two padding bytes are not payload */
    CHECK_EQ(r.p.seg_len, 4);
    CHECK_MEM(f + r.pl_off, "ping", 4);
}

/* ---- link types ---- */

static void test_ethernet(void)
{
    struct frame f = { .n = 0 };
    eth(&f, 0x0800);
    v4_tcp(&f);
    struct res r = run(BW_DLT_EN10MB, &f);
    expect_tcp("ethernet ipv4", r, f.b, 4, 14, 50, 54, 10, 10);
    CHECK_EQ(r.p.tcp_flags, BW_TCP_PSH | BW_TCP_ACK);
    sweep("ethernet ipv4", BW_DLT_EN10MB, &f, 54, 10);

    f.n = 0;
    eth(&f, 0x86dd);
    v6_tcp(&f);
    expect_tcp("ethernet ipv6", run(BW_DLT_EN10MB, &f), f.b, 6, 14, 70, 74, 10, 10);
    sweep("ethernet ipv6", BW_DLT_EN10MB, &f, 74, 10);
}

static void test_vlan(void)
{
    struct bw_decode_stats st;
    struct frame f = { .n = 0 };
    eth(&f, 0x8100);
    tag(&f, 0x2064, 0x0800);           /* PCP 1, VID 100 */
    v4_tcp(&f);
    memset(&st, 0, sizeof st);
    struct res r = run_st(BW_DLT_EN10MB, f.b, f.n, &st);
    expect_tcp("802.1Q", r, f.b, 4, 18, 50, 58, 10, 10);
    CHECK_EQ(r.p.vlan_depth, 1);
    CHECK_EQ(r.p.vlan_id, 100);
    CHECK_EQ(st.vlan_tagged, 1);
    sweep("802.1Q", BW_DLT_EN10MB, &f, 58, 10);

    f.n = 0;                           /* QinQ: outer S-tag 200, inner C-tag 100 */
    eth(&f, 0x88a8);
    tag(&f, 200, 0x8100);
    tag(&f, 100, 0x86dd);
    v6_tcp(&f);
    r = run(BW_DLT_EN10MB, &f);
    expect_tcp("QinQ", r, f.b, 6, 22, 70, 82, 10, 10);
    CHECK_EQ(r.p.vlan_depth, 2);
    CHECK_EQ(r.p.vlan_id, 200);
    sweep("QinQ", BW_DLT_EN10MB, &f, 82, 10);

    f.n = 0;                           /* exactly BW_VLAN_MAX tags, all three TPIDs */
    eth(&f, 0x9100);
    tag(&f, 0xf001, 0x88a8);           /* DEI and PCP bits are not part of the id */
    tag(&f, 2, 0x8100);
    tag(&f, 3, 0x8100);
    tag(&f, 4, 0x0800);
    v4_tcp(&f);
    r = run(BW_DLT_EN10MB, &f);
    expect_tcp("4 tags", r, f.b, 4, 30, 50, 70, 10, 10);
    CHECK_EQ(r.p.vlan_depth, 4);
    CHECK_EQ(r.p.vlan_id, 1);

    f.n = 0;                           /* one tag too many */
    eth(&f, 0x8100);
    for (unsigned i = 0; i < BW_VLAN_MAX; i++)
        tag(&f, 10 + i, 0x8100);
    tag(&f, 99, 0x0800);
    v4_tcp(&f);
    memset(&st, 0, sizeof st);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_UNSUPPORTED);
    CHECK_EQ(st.unsupported, 1);
    CHECK_EQ(st.vlan_tagged, 1);

    f.n = 0;                           /* tag cut in half */
    eth(&f, 0x8100);
    put8(&f, 0);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_TRUNCATED);
}

static void test_sll(void)
{
    struct frame f = { .n = 0 };
    sll(&f, 0x0800);
    v4_tcp(&f);
    expect_tcp("SLL ipv4", run(BW_DLT_LINUX_SLL, &f), f.b, 4, 16, 50, 56, 10, 10);
    sweep("SLL ipv4", BW_DLT_LINUX_SLL, &f, 56, 10);

    f.n = 0;
    sll(&f, 0x86dd);
    v6_tcp(&f);
    expect_tcp("SLL ipv6", run(BW_DLT_LINUX_SLL, &f), f.b, 6, 16, 70, 76, 10, 10);

    f.n = 0;                           /* libpcap puts a stripped tag back after the cooked header */
    sll(&f, 0x8100);
    tag(&f, 7, 0x0800);
    v4_tcp(&f);
    struct res r = run(BW_DLT_LINUX_SLL, &f);
    expect_tcp("SLL vlan", r, f.b, 4, 20, 50, 60, 10, 10);
    CHECK_EQ(r.p.vlan_id, 7);

    f.n = 0;
    sll(&f, 0x0806);                   /* ARP over "any" */
    fill(&f, 0, 28);
    CHECK_EQ(run(BW_DLT_LINUX_SLL, &f).r, BW_DEC_NOT_IP);

    f.n = 0;
    sll2(&f, 0x86dd);
    v6_tcp(&f);
    expect_tcp("SLL2 ipv6", run(BW_DLT_LINUX_SLL2, &f), f.b, 6, 20, 70, 80, 10, 10);
    sweep("SLL2 ipv6", BW_DLT_LINUX_SLL2, &f, 80, 10);

    f.n = 0;
    sll2(&f, 0x0800);
    v4_tcp(&f);
    expect_tcp("SLL2 ipv4", run(BW_DLT_LINUX_SLL2, &f), f.b, 4, 20, 50, 60, 10, 10);
}

static void test_null_loop(void)
{
    static const uint32_t v6fams[] = { 10, 24, 28, 30 };
    struct frame f = { .n = 0 };
    put_le32(&f, 2);                   /* AF_INET, written by a little-endian host */
    v4_tcp(&f);
    expect_tcp("NULL le AF_INET", run(BW_DLT_NULL, &f), f.b, 4, 4, 50, 44, 10, 10);
    sweep("NULL le AF_INET", BW_DLT_NULL, &f, 44, 10);

    f.n = 0;
    put32(&f, 2);                      /* the same from a big-endian host */
    v4_tcp(&f);
    expect_tcp("NULL be AF_INET", run(BW_DLT_NULL, &f), f.b, 4, 4, 50, 44, 10, 10);

    for (size_t i = 0; i < sizeof v6fams / sizeof v6fams[0]; i++) {
        for (int be = 0; be < 2; be++) {
            f.n = 0;
            if (be)
                put32(&f, v6fams[i]);
            else
                put_le32(&f, v6fams[i]);
            v6_tcp(&f);
            expect_tcp("NULL AF_INET6", run(BW_DLT_NULL, &f), f.b, 6, 4, 70, 64, 10, 10);
            expect_tcp("LOOP AF_INET6", run(BW_DLT_LOOP, &f), f.b, 6, 4, 70, 64, 10, 10);
        }
    }

    f.n = 0;
    put32(&f, 2);                      /* DLT_LOOP is network byte order */
    v4_tcp(&f);
    expect_tcp("LOOP AF_INET", run(BW_DLT_LOOP, &f), f.b, 4, 4, 50, 44, 10, 10);
    sweep("LOOP AF_INET", BW_DLT_LOOP, &f, 44, 10);

    f.n = 0;
    put_le32(&f, 7);                   /* some other family */
    v4_tcp(&f);
    CHECK_EQ(run(BW_DLT_NULL, &f).r, BW_DEC_NOT_IP);

    f.n = 0;
    put_le32(&f, 2);                   /* family says IPv4, packet is IPv6 */
    v6_tcp(&f);
    CHECK_EQ(run(BW_DLT_NULL, &f).r, BW_DEC_MALFORMED);
}

static void test_raw(void)
{
    static const int raws[] = { BW_DLT_RAW, BW_DLT_RAW_ALT, BW_DLT_RAW101 };
    struct frame f4 = { .n = 0 }, f6 = { .n = 0 };
    v4_tcp(&f4);
    v6_tcp(&f6);
    for (size_t i = 0; i < 3; i++) {
        expect_tcp("RAW v4", run(raws[i], &f4), f4.b, 4, 0, 50, 40, 10, 10);
        expect_tcp("RAW v6", run(raws[i], &f6), f6.b, 6, 0, 70, 60, 10, 10);
        sweep("RAW v4", raws[i], &f4, 40, 10);
        sweep("RAW v6", raws[i], &f6, 60, 10);
        CHECK_EQ(run_st(raws[i], f4.b, 0, NULL).r, BW_DEC_TRUNCATED);
    }
    expect_tcp("IPV4", run(BW_DLT_IPV4, &f4), f4.b, 4, 0, 50, 40, 10, 10);
    expect_tcp("IPV6", run(BW_DLT_IPV6, &f6), f6.b, 6, 0, 70, 60, 10, 10);
    sweep("IPV4", BW_DLT_IPV4, &f4, 40, 10);
    sweep("IPV6", BW_DLT_IPV6, &f6, 60, 10);
    /* The link type names the version: the other one is a lie. */
    CHECK_EQ(run(BW_DLT_IPV4, &f6).r, BW_DEC_MALFORMED);
    CHECK_EQ(run(BW_DLT_IPV6, &f4).r, BW_DEC_MALFORMED);

    struct frame bad = f4;
    bad.b[0] = 0x55;                   /* version 5 */
    CHECK_EQ(run(BW_DLT_RAW, &bad).r, BW_DEC_MALFORMED);
}

static void test_dlt_supported(void)
{
    static const int yes[] = { 0, 1, 12, 14, 101, 108, 113, 228, 229, 276 };
    static const int no[] = { -1, 2, 105, 127, 192, 230, 275, 277 };
    struct frame f = { .n = 0 };
    v4_tcp(&f);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(bw_decode_dlt_supported(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        CHECK(!bw_decode_dlt_supported(no[i]));
        CHECK_EQ(run(no[i], &f).r, BW_DEC_UNSUPPORTED);
    }
}

/* ---- IPv4 ---- */

static void test_ipv4_options(void)
{
    struct bw_decode_stats st;
    struct frame f = { .n = 0 };
    eth(&f, 0x0800);
    ipv4(&f, 8, 32 + 20 + 10, 0, 6);  /* 12 bytes of options */
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    memset(&st, 0, sizeof st);
    struct res r = run_st(BW_DLT_EN10MB, f.b, f.n, &st);
    expect_tcp("ipv4 options", r, f.b, 4, 14, 62, 66, 10, 10);
    CHECK_EQ(st.ip_options, 1);
    sweep("ipv4 options", BW_DLT_EN10MB, &f, 66, 10);

    f.n = 0;                           /* maximal IHL 15 */
    eth(&f, 0x0800);
    ipv4(&f, 15, 60 + 20 + 10, 0, 6);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("ipv4 ihl 15", run(BW_DLT_EN10MB, &f), f.b, 4, 14, 90, 94, 10, 10);
}

static void test_ipv4_fragments(void)
{
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    static const unsigned frags[] = {
        0x2000,                        /* first: MF, offset 0 */
        0x2000 | 185,                  /* middle: MF, offset 1480 */
        185,                           /* last: offset only */
        0x4000 | 0x2000,               /* DF and MF together still means a fragment */
    };
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        struct frame f = { .n = 0 };
        eth(&f, 0x0800);
        ipv4(&f, 5, 50, frags[i], 6);
        tcp(&f, 5, BW_TCP_ACK);
        put(&f, PL, sizeof PL);
        CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_FRAGMENT);
    }
    CHECK_EQ(st.fragments, 4);
    CHECK_EQ(st.malformed + st.truncated + st.not_tcp, 0);

    struct frame f = { .n = 0 };       /* a UDP fragment is a fragment too */
    eth(&f, 0x0800);
    ipv4(&f, 5, 28, 0x2000, 17);
    fill(&f, 0, 8);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_FRAGMENT);

    f.n = 0;                           /* DF alone or the reserved bit: whole packet */
    eth(&f, 0x0800);
    ipv4(&f, 5, 50, 0x8000, 6);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("reserved bit", run(BW_DLT_EN10MB, &f), f.b, 4, 14, 50, 54, 10, 10);
}

/* ---- IPv6 extension headers ---- */

static void test_ipv6_ext(void)
{
    struct bw_decode_stats st;
    struct frame f = { .n = 0 };
    eth(&f, 0x86dd);
    ipv6(&f, 8 + 16 + 30, 0);          /* hop-by-hop (8) -> destination options (16) -> TCP */
    ext(&f, 60, 0);
    ext(&f, 6, 1);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    memset(&st, 0, sizeof st);
    struct res r = run_st(BW_DLT_EN10MB, f.b, f.n, &st);
    expect_tcp("hbh + dstopts", r, f.b, 6, 14, 94, 98, 10, 10);
    CHECK_EQ(st.ipv6, 1);
    CHECK_EQ(st.ipv6_ext, 1);
    sweep("hbh + dstopts", BW_DLT_EN10MB, &f, 98, 10);

    f.n = 0;                           /* routing (24) -> AH with length field 4: (4+2)*4 = 24 */
    eth(&f, 0x86dd);
    ipv6(&f, 24 + 24 + 30, 43);
    ext(&f, 51, 2);
    put8(&f, 6);
    put8(&f, 4);
    fill(&f, 0x5a, 22);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("routing + AH", run(BW_DLT_EN10MB, &f), f.b, 6, 14, 118, 122, 10, 10);
    sweep("routing + AH", BW_DLT_EN10MB, &f, 122, 10);

    f.n = 0;                           /* hop-by-hop anywhere but first */
    eth(&f, 0x86dd);
    ipv6(&f, 8 + 8 + 30, 60);
    ext(&f, 0, 0);
    ext(&f, 6, 0);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);

    f.n = 0;                           /* BW_IPV6_EXT_MAX headers are followed ... */
    eth(&f, 0x86dd);
    ipv6(&f, 8 * BW_IPV6_EXT_MAX + 30, 60);
    for (unsigned i = 0; i < BW_IPV6_EXT_MAX; i++)
        ext(&f, i + 1 < BW_IPV6_EXT_MAX ? 60 : 6, 0);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("ext max", run(BW_DLT_EN10MB, &f), f.b, 6, 14, 70 + 8 * BW_IPV6_EXT_MAX,
               74 + 8 * BW_IPV6_EXT_MAX, 10, 10);

    f.n = 0;                           /* ... one more is not */
    eth(&f, 0x86dd);
    ipv6(&f, 8 * (BW_IPV6_EXT_MAX + 1) + 30, 60);
    for (unsigned i = 0; i <= BW_IPV6_EXT_MAX; i++)
        ext(&f, i < BW_IPV6_EXT_MAX ? 60 : 6, 0);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_UNSUPPORTED);

    f.n = 0;                           /* extension header longer than the payload length */
    eth(&f, 0x86dd);
    ipv6(&f, 16, 60);
    ext(&f, 6, 2);                     /* 24 bytes */
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);
    f.n -= 10;                         /* within the payload length but cut by snaplen */
    f.b[14 + 5] = 24;
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_TRUNCATED);

    f.n = 0;                           /* ESP hides the rest */
    eth(&f, 0x86dd);
    ipv6(&f, 16, 50);
    fill(&f, 0x33, 16);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_NOT_TCP);

    f.n = 0;                           /* no next header */
    eth(&f, 0x86dd);
    ipv6(&f, 8, 0);
    ext(&f, 59, 0);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_NOT_TCP);
}

static void test_ipv6_fragment(void)
{
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    static const unsigned cases[][2] = { { 0, 1 }, { 185, 1 }, { 185, 0 } };   /* offset8, M */
    for (size_t i = 0; i < 3; i++) {
        struct frame f = { .n = 0 };
        eth(&f, 0x86dd);
        ipv6(&f, 8 + 30, 44);
        frag6(&f, 6, cases[i][0], cases[i][1]);
        tcp(&f, 5, BW_TCP_ACK);
        put(&f, PL, sizeof PL);
        CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_FRAGMENT);
    }
    CHECK_EQ(st.fragments, 3);
    CHECK_EQ(st.ipv6_ext, 3);

    struct frame f = { .n = 0 };       /* atomic fragment (RFC 6946): a whole packet */
    eth(&f, 0x86dd);
    ipv6(&f, 8 + 30, 44);
    frag6(&f, 6, 0, 0);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("atomic fragment", run(BW_DLT_EN10MB, &f), f.b, 6, 14, 78, 82, 10, 10);
    sweep("atomic fragment", BW_DLT_EN10MB, &f, 82, 10);
}

/* ---- lying lengths, padding, snaplen ---- */

static void test_lying_ip_length(void)
{
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    static const unsigned cases[][2] = {  /* ihl_words, total length */
        { 5, 19 },                         /* total below the header */
        { 6, 22 },                         /* total below the header with options */
        { 4, 50 }, { 0, 50 },              /* IHL below the minimum */
        { 5, 30 }, { 5, 39 },              /* the TCP header would end past the packet */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct frame f = { .n = 0 };
        eth(&f, 0x0800);
        ipv4(&f, 5, cases[i][1], 0, 6);
        f.b[14] = (uint8_t)(0x40 | cases[i][0]);
        tcp(&f, 5, BW_TCP_ACK);
        put(&f, PL, sizeof PL);
        CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_MALFORMED);
    }
    CHECK_EQ(st.malformed, 6);

    /* Total length 0: a segmentation-offload capture; the captured bytes give the length. */
    {
        struct frame f0 = { .n = 0 };
        eth(&f0, 0x0800);
        ipv4(&f0, 5, 0, 0, 6);
        tcp(&f0, 5, BW_TCP_ACK);
        put(&f0, PL, sizeof PL);
        memset(&st, 0, sizeof st);
        struct bw_packet pk;
        CHECK_EQ(bw_decode_packet(BW_DLT_EN10MB, f0.b, f0.n, 1, &pk, &st), BW_DEC_TCP);
        CHECK_EQ(pk.payload_len, sizeof PL);
        CHECK_EQ(pk.seg_len, sizeof PL);
        CHECK_EQ(st.ip_len_zero, 1);
        /* ... but never with a header shorter than the minimum */
        f0.b[14] = 0x44;
        CHECK_EQ(bw_decode_packet(BW_DLT_EN10MB, f0.b, f0.n, 1, &pk, &st), BW_DEC_MALFORMED);
    }

    struct frame f = { .n = 0 };       /* total covers 5 of the 10 bytes: the rest is not ours */
    eth(&f, 0x0800);
    ipv4(&f, 5, 45, 0, 6);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("short total", run(BW_DLT_EN10MB, &f), f.b, 4, 14, 45, 54, 5, 5);

    f.n = 0;                           /* IPv6 payload length shorter than the TCP header */
    eth(&f, 0x86dd);
    ipv6(&f, 10, 6);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);

    f.n = 0;                           /* IPv4 version nibble under an IPv4 ethertype must be 4 */
    eth(&f, 0x0800);
    v6_tcp(&f);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);
}

static void test_tcp_offset(void)
{
    struct frame f = { .n = 0 };
    for (unsigned doff = 0; doff < 5; doff++) {   /* data offset inside the fixed header */
        f.n = 0;
        eth(&f, 0x0800);
        ipv4(&f, 5, 50, 0, 6);
        tcp(&f, 5, BW_TCP_ACK);
        f.b[14 + 20 + 12] = (uint8_t)(doff << 4);
        put(&f, PL, sizeof PL);
        CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);
    }

    f.n = 0;                           /* 60-byte TCP header in a 50-byte packet */
    eth(&f, 0x0800);
    ipv4(&f, 5, 50, 0, 6);
    tcp(&f, 5, BW_TCP_ACK);
    f.b[14 + 20 + 12] = 0xf0;
    put(&f, PL, sizeof PL);
    fill(&f, 0, 40);                   /* bytes are captured; the IP length still says no */
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);

    f.n = 0;                           /* same over IPv6 */
    eth(&f, 0x86dd);
    ipv6(&f, 30, 6);
    tcp(&f, 5, BW_TCP_ACK);
    f.b[14 + 40 + 12] = 0xf0;
    put(&f, PL, sizeof PL);
    fill(&f, 0, 40);
    CHECK_EQ(run(BW_DLT_EN10MB, &f).r, BW_DEC_MALFORMED);

    f.n = 0;                           /* 60-byte TCP header inside the packet, cut by snaplen */
    eth(&f, 0x0800);
    ipv4(&f, 5, 20 + 60 + 10, 0, 6);
    tcp(&f, 15, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    /* snaplen inside the options (-s 96 with SACK blocks): still TCP, all payload missing */
    struct bw_decode_stats ost = { 0 };
    struct res cutr = run_st(BW_DLT_EN10MB, f.b, 14 + 20 + 40, &ost);
    CHECK_EQ(cutr.r, BW_DEC_TCP);
    CHECK(cutr.p.tcp_options_cut);
    CHECK_EQ(cutr.p.payload_len, 0);
    CHECK_EQ(cutr.p.seg_len, 10);
    CHECK_EQ(cutr.p.seq, SEQ);
    CHECK_EQ(ost.tcp_options_cut, 1);
    CHECK_EQ(ost.truncated, 0);
    expect_tcp("tcp options", run(BW_DLT_EN10MB, &f), f.b, 4, 14, 90, 94, 10, 10);
    sweep_opts("tcp options", BW_DLT_EN10MB, &f, 94, 10, 40);

    f.n = 0;                           /* every flag bit comes through */
    eth(&f, 0x0800);
    ipv4(&f, 5, 40, 0, 6);
    tcp(&f, 5, 0xff);
    struct res r = run(BW_DLT_EN10MB, &f);
    CHECK_EQ(r.r, BW_DEC_TCP);
    CHECK_EQ(r.p.tcp_flags, 0xff);
    CHECK_EQ(r.p.payload_len, 0);
    CHECK_EQ(r.p.seg_len, 0);
}

static void test_padding(void)
{
    struct frame f = { .n = 0 };       /* a bare SYN padded to the Ethernet minimum */
    eth(&f, 0x0800);
    ipv4(&f, 5, 40, 0x4000, 6);
    tcp(&f, 5, BW_TCP_SYN);
    fill(&f, 0xaa, 6);
    struct res r = run(BW_DLT_EN10MB, &f);
    expect_tcp("padded SYN", r, f.b, 4, 14, 40, 54, 0, 0);
    CHECK_EQ(r.p.tcp_flags, BW_TCP_SYN);

    f.n = 0;                           /* 2 bytes of payload, then padding and an FCS */
    eth(&f, 0x0800);
    ipv4(&f, 5, 42, 0, 6);
    tcp(&f, 5, BW_TCP_PSH | BW_TCP_ACK);
    put(&f, PL, 2);
    fill(&f, 0xaa, 4 + 4);
    expect_tcp("padded data", run(BW_DLT_EN10MB, &f), f.b, 4, 14, 42, 54, 2, 2);

    f.n = 0;                           /* IPv6: bytes after the payload length are not payload */
    eth(&f, 0x86dd);
    v6_tcp(&f);
    fill(&f, 0xaa, 4);
    expect_tcp("ipv6 trailer", run(BW_DLT_EN10MB, &f), f.b, 6, 14, 70, 74, 10, 10);
}

static void test_snaplen_cut(void)
{
    struct frame f = { .n = 0 };       /* 100-byte segment, 30 bytes captured */
    eth(&f, 0x0800);
    ipv4(&f, 5, 140, 0, 6);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    fill(&f, 0x42, 20);
    struct res r = run(BW_DLT_EN10MB, &f);
    expect_tcp("snaplen v4", r, f.b, 4, 14, 70, 54, 30, 100);

    f.n = 0;
    eth(&f, 0x86dd);
    ipv6(&f, 20 + 1000, 6);
    tcp(&f, 5, BW_TCP_ACK);
    put(&f, PL, sizeof PL);
    expect_tcp("snaplen v6", run(BW_DLT_EN10MB, &f), f.b, 6, 14, 70, 74, 10, 1000);
}

/* ---- not TCP, not IP ---- */

static void test_not_tcp(void)
{
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    struct frame f = { .n = 0 };
    eth(&f, 0x0800);                   /* UDP */
    ipv4(&f, 5, 28, 0, 17);
    put16(&f, 5353);
    put16(&f, 5353);
    put16(&f, 8);
    put16(&f, 0);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_NOT_TCP);

    f.n = 0;                           /* ICMPv6 */
    eth(&f, 0x86dd);
    ipv6(&f, 8, 58);
    fill(&f, 0x80, 8);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_NOT_TCP);

    f.n = 0;                           /* ARP request, padded */
    eth(&f, 0x0806);
    put16(&f, 1);
    put16(&f, 0x0800);
    put8(&f, 6);
    put8(&f, 4);
    put16(&f, 1);
    fill(&f, 0x11, 20);
    fill(&f, 0, 18);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_NOT_IP);

    f.n = 0;                           /* 802.3 frame: a length where the type would be */
    eth(&f, 0x0026);
    fill(&f, 0x42, 46);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_NOT_IP);

    f.n = 0;                           /* MPLS carries IP we do not peel */
    eth(&f, 0x8847);
    put32(&f, 0x00001140);
    v4_tcp(&f);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_UNSUPPORTED);

    f.n = 0;                           /* a frame shorter than the Ethernet header */
    fill(&f, 0, 13);
    CHECK_EQ(run_st(BW_DLT_EN10MB, f.b, f.n, &st).r, BW_DEC_TRUNCATED);

    /* One counter per result. */
    CHECK_EQ(st.not_tcp, 2);
    CHECK_EQ(st.not_ip, 2);
    CHECK_EQ(st.unsupported, 1);
    CHECK_EQ(st.truncated, 1);
    CHECK_EQ(st.ipv6, 1);
    CHECK_EQ(st.fragments + st.malformed + st.vlan_tagged + st.ip_options + st.ipv6_ext, 0);
}

/* A result that is not TCP leaves no stale field from an earlier call. */
static void test_out_cleared(void)
{
    struct frame f = { .n = 0 };
    eth(&f, 0x0800);
    v4_tcp(&f);
    struct bw_packet p;
    memset(&p, 0x5a, sizeof p);
    CHECK_EQ(bw_decode_packet(BW_DLT_EN10MB, f.b, 20, 7, &p, NULL), BW_DEC_TRUNCATED);
    CHECK(p.payload == NULL);
    CHECK_EQ(p.payload_len, 0);
    CHECK_EQ(p.ts_us, 7);
}

int main(void)
{
    test_literal_frame();
    test_ethernet();
    test_vlan();
    test_sll();
    test_null_loop();
    test_raw();
    test_dlt_supported();
    test_ipv4_options();
    test_ipv4_fragments();
    test_ipv6_ext();
    test_ipv6_fragment();
    test_lying_ip_length();
    test_tcp_offset();
    test_padding();
    test_snaplen_cut();
    test_not_tcp();
    test_out_cleared();
    printf("quick look: a pair in %u of %u frames\n", pairs_found, pairs_tried);
    CHECK(pairs_found > 100 && pairs_found < pairs_tried);
    return check_summary("decode");
}
