/* test_evidence.c: evidence masking on real frame bytes: a password split over two segments,
 * retransmitted, overlapping, across the 2^32 sequence wrap, in IPv6, in a frame cut by the
 * snaplen; only the client's direction; the TCP checksum valid afterwards (verified by summing,
 * not by recomputing). Also where dissectors say a password lies, the hold pool's caps, and the
 * whole path: an MQTT session through the pipeline with its CONNECT split inside the password,
 * reordered and retransmitted, written by -w and read back. Ranges behind a WebSocket mask, and
 * frames of another link type than the file's. */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "bw_config.h"
#include "bw_dissector.h"
#include "bw_evidence.h"
#include "bw_hold.h"
#include "bw_mqtt.h"
#include "bw_packet.h"
#include "bw_pipeline.h"
#include "frames.h"

#define ETH 14

static struct tcp_ep cli, srv;

/* One's-complement sum of the segment with its pseudo-header: 0xffff when the checksum is right. */
static int tcp_checksum_ok(const uint8_t *fr, size_t len)
{
    const uint8_t *ip = fr + ETH;
    uint32_t acc = 0;
    size_t tcp_off, tcp_len, alen;
    const uint8_t *src, *dst;
    if ((ip[0] >> 4) == 4) {
        tcp_off = ETH + (size_t)(ip[0] & 15) * 4;
        tcp_len = (size_t)((ip[2] << 8) | ip[3]) - (size_t)(ip[0] & 15) * 4;
        src = ip + 12; dst = ip + 16; alen = 4;
    } else {
        tcp_off = ETH + 40;
        tcp_len = (size_t)((ip[4] << 8) | ip[5]);
        src = ip + 8; dst = ip + 24; alen = 16;
    }
    if (tcp_off + tcp_len > len) return -1;
    for (size_t i = 0; i < alen; i += 2) acc += (uint32_t)((src[i] << 8) | src[i + 1]) + (uint32_t)((dst[i] << 8) | dst[i + 1]);
    acc += 6 + (uint32_t)tcp_len;
    const uint8_t *t = fr + tcp_off;
    for (size_t i = 0; i + 1 < tcp_len; i += 2) acc += (uint32_t)((t[i] << 8) | t[i + 1]);
    if (tcp_len & 1) acc += (uint32_t)(t[tcp_len - 1] << 8);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc == 0xffff;
}

static size_t mk(uint8_t *out, const struct tcp_ep *a, const struct tcp_ep *b, uint32_t seq, const char *pl)
{
    return frame_tcp(out, 2048, a, b, seq, 1, BW_TCP_ACK | BW_TCP_PSH, pl, strlen(pl));
}

static struct bw_evidence_mask mask_for(const struct bw_secret_pos *pos, size_t n)
{
    struct bw_evidence_mask m;
    memset(&m, 0, sizeof m);
    m.ip_ver = (uint8_t)cli.ver;
    memcpy(m.cli, cli.ip, 16);
    m.cli_port = cli.port;
    m.pos = pos;
    m.npos = n;
    return m;
}

static const uint8_t *payload_of(const uint8_t *fr, size_t len, size_t *plen)
{
    struct bw_packet pk;
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    if (bw_decode_packet(BW_DLT_EN10MB, fr, len, 0, &pk, &st) != BW_DEC_TCP) return NULL;
    *plen = pk.payload_len;
    return pk.payload;
}

/* An evidence writer on a new file in /tmp; its path in path (at least 40 bytes). */
static struct bw_evidence *new_evidence(char *path)
{
    static const char tmpl[] = "/tmp/bw_test_evidence_XXXXXX";
    memcpy(path, tmpl, sizeof tmpl);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    close(fd);
    unlink(path);
    char err[512];
    struct bw_evidence *w = bw_evidence_open(path, 0, NULL, err, sizeof err);
    CHECK(w != NULL);
    return w;
}

/* "user=alice pass=" then the password "SecretPw" split as "Secr" | "etPw", then " end". */
static void test_split_and_retransmit(uint32_t base)
{
    uint8_t a[2048], b[2048], r[2048], s2c[2048];
    const char *p1 = "user=alice pass=Secr", *p2 = "etPw end", *rt = "ss=SecretPw e";
    size_t la = mk(a, &cli, &srv, base, p1);
    size_t lb = mk(b, &cli, &srv, base + (uint32_t)strlen(p1), p2);
    size_t lr = mk(r, &cli, &srv, base + 13, rt);        /* a retransmission overlapping both */
    size_t ls = mk(s2c, &srv, &cli, base + 16, "SecretPw from the server side");
    struct bw_secret_pos pw = { .seq = base + 16, .len = 8, .dir = BW_DIR_TOSERVER };
    struct bw_evidence_mask m = mask_for(&pw, 1);
    struct bw_scrub_result sr;
    size_t n;
    const uint8_t *p;

    CHECK_EQ(tcp_checksum_ok(a, la), 0);                 /* the builder leaves it zero */
    bw_evidence_scrub(BW_DLT_EN10MB, a, la, &m, &sr);
    CHECK(sr.tcp && sr.checksum_set);
    CHECK_EQ(sr.masked, 4);
    p = payload_of(a, la, &n);
    CHECK(p && n == 20 && memcmp(p, "user=alice pass=****", 20) == 0);
    CHECK_EQ(tcp_checksum_ok(a, la), 1);

    bw_evidence_scrub(BW_DLT_EN10MB, b, lb, &m, &sr);
    CHECK_EQ(sr.masked, 4);
    p = payload_of(b, lb, &n);
    CHECK(p && n == 8 && memcmp(p, "**** end", 8) == 0);
    CHECK_EQ(tcp_checksum_ok(b, lb), 1);

    bw_evidence_scrub(BW_DLT_EN10MB, r, lr, &m, &sr);
    CHECK_EQ(sr.masked, 8);
    p = payload_of(r, lr, &n);
    CHECK(p && n == 13 && memcmp(p, "ss=******** e", 13) == 0);
    CHECK_EQ(tcp_checksum_ok(r, lr), 1);

    /* The same sequence numbers the other way are other bytes: left alone, checksum fixed. */
    bw_evidence_scrub(BW_DLT_EN10MB, s2c, ls, &m, &sr);
    CHECK_EQ(sr.masked, 0);
    p = payload_of(s2c, ls, &n);
    CHECK(p && memcmp(p, "SecretPw from", 13) == 0);
    CHECK_EQ(tcp_checksum_ok(s2c, ls), 1);
}

static void test_all_and_ranges(void)
{
    uint8_t a[2048], s2c[2048];
    size_t la = mk(a, &cli, &srv, 1000, "0123456789");
    size_t ls = mk(s2c, &srv, &cli, 5000, "abcdef");
    struct bw_secret_pos two[2] = { { .seq = 1002, .len = 2, .dir = BW_DIR_TOSERVER },
                                     { .seq = 1003, .len = 4, .dir = BW_DIR_TOSERVER } };
    struct bw_evidence_mask m = mask_for(two, 2);
    struct bw_scrub_result sr;
    size_t n;
    const uint8_t *p;
    bw_evidence_scrub(BW_DLT_EN10MB, a, la, &m, &sr);    /* overlapping ranges: counted once */
    CHECK_EQ(sr.masked, 5);
    p = payload_of(a, la, &n);
    CHECK(p && memcmp(p, "01*****789", 10) == 0);
    m.npos = 0;
    m.all[BW_DIR_TOSERVER] = true;
    la = mk(a, &cli, &srv, 1000, "0123456789");
    bw_evidence_scrub(BW_DLT_EN10MB, a, la, &m, &sr);
    CHECK_EQ(sr.masked, 10);
    p = payload_of(a, la, &n);
    CHECK(p && memcmp(p, "**********", 10) == 0);
    CHECK_EQ(tcp_checksum_ok(a, la), 1);
    bw_evidence_scrub(BW_DLT_EN10MB, s2c, ls, &m, &sr);
    CHECK_EQ(sr.masked, 0);
    /* Not examined yet: everything from a sequence number on (a half-space range). */
    struct bw_secret_pos front = { .seq = 1005, .len = 0x80000000u, .dir = BW_DIR_TOSERVER };
    m = mask_for(&front, 1);
    la = mk(a, &cli, &srv, 1000, "0123456789");
    bw_evidence_scrub(BW_DLT_EN10MB, a, la, &m, &sr);
    p = payload_of(a, la, &n);
    CHECK(p && memcmp(p, "01234*****", 10) == 0);
    la = mk(a, &cli, &srv, 990, "0123456789");            /* wholly before it: kept */
    bw_evidence_scrub(BW_DLT_EN10MB, a, la, &m, &sr);
    CHECK_EQ(sr.masked, 0);
}

/* A range read through a WebSocket mask is written so that it unmasks to '*', whatever part
 * of it a segment holds; other ranges of the frame are plain '*'. Checksums stay valid. */
static void test_masked_range(void)
{
    static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    const char *pl = "abcdefghijklmnopqrstuvwxyz";
    struct bw_secret_pos pos[2] = {
        { .seq = 500 + 4, .len = 9, .dir = BW_DIR_TOSERVER, .key_off = 3, .key = { 0x12, 0x34, 0x56, 0x78 } },
        { .seq = 500 + 20, .len = 2, .dir = BW_DIR_TOSERVER },
    };
    struct bw_evidence_mask m = mask_for(pos, 2);
    struct bw_scrub_result sr;
    for (uint32_t start = 500; start <= 510; start += 5) {   /* the segment begins before, inside */
        uint8_t fr[2048];
        size_t lf = mk(fr, &cli, &srv, start, pl + (start - 500));
        bw_evidence_scrub(BW_DLT_EN10MB, fr, lf, &m, &sr);
        size_t n;
        const uint8_t *p = payload_of(fr, lf, &n);
        CHECK(p != NULL);
        if (!p) continue;
        size_t masked = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t sq = start + (uint32_t)i;
            if (sq >= 504 && sq < 513) {
                CHECK_EQ(p[i] ^ key[(3 + sq - 504) & 3], '*');
                masked++;
            } else if (sq >= 520 && sq < 522) {
                CHECK_EQ(p[i], '*');
                masked++;
            } else {
                CHECK_EQ(p[i], (uint8_t)pl[sq - 500]);
            }
        }
        CHECK_EQ(sr.masked, masked);
        CHECK_EQ(tcp_checksum_ok(fr, lf), 1);
    }
}

/* A frame cut by the snaplen: the checksum is adjusted for the changed bytes only, and equals
 * the one computed over the whole segment. Odd offsets and lengths on purpose. */
static void test_cut_frame(void)
{
    uint8_t whole[2048], cut[2048];
    const char *pl = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t lw = mk(whole, &cli, &srv, 77, pl);
    struct bw_secret_pos pw = { .seq = 77 + 3, .len = 7, .dir = BW_DIR_TOSERVER };
    struct bw_evidence_mask m = mask_for(&pw, 1);
    struct bw_scrub_result sr;
    struct bw_evidence_mask none = mask_for(NULL, 0);
    bw_evidence_scrub(BW_DLT_EN10MB, whole, lw, &none, &sr);   /* make the original valid */
    CHECK_EQ(tcp_checksum_ok(whole, lw), 1);
    memcpy(cut, whole, lw);
    bw_evidence_scrub(BW_DLT_EN10MB, whole, lw, &m, &sr);
    CHECK_EQ(sr.masked, 7);
    CHECK_EQ(tcp_checksum_ok(whole, lw), 1);
    CHECK_EQ(sr.wire_len, lw);
    bw_evidence_scrub(BW_DLT_EN10MB, cut, lw - 11, &m, &sr);  /* 11 payload bytes not captured */
    CHECK(sr.checksum_set);
    CHECK_EQ(sr.masked, 7);
    CHECK_MEM(cut, whole, lw - 11);                           /* same bytes, same checksum */
    CHECK_EQ(sr.wire_len, lw);                                /* by the IP header: cut, not short */

    /* In the evidence file the record says so: captured lw - 11 of lw bytes. */
    char path[64], err[512];
    struct bw_evidence *w = new_evidence(path);
    if (!w) return;
    CHECK(bw_evidence_begin(w, BW_DLT_EN10MB, 1, lw - 11));
    bw_evidence_frame(w, BW_DLT_EN10MB, 1000001, cut, lw - 11, &sr);
    bw_evidence_end(w);
    CHECK_EQ(bw_evidence_close(w, err, sizeof err), 0);
    FILE *f = fopen(path, "rb");
    uint8_t hdr[24 + 16];
    CHECK(f && fread(hdr, 1, sizeof hdr, f) == sizeof hdr);
    if (f) fclose(f);
    uint32_t caplen, len;
    memcpy(&caplen, hdr + 24 + 8, 4);
    memcpy(&len, hdr + 24 + 12, 4);
    CHECK_EQ(caplen, lw - 11);
    CHECK_EQ(len, lw);
    unlink(path);
}

/* Frames of other link types than the file's: written with the file's link header and the IP
 * packet as captured, the record lengths following; one the file cannot hold is left out. */
struct relink_case { int from; size_t l2; int file; size_t hlen; const char *hdr; };

static void link_counts(const struct bw_evidence *w, uint64_t frames, uint64_t relinked, uint64_t other)
{
    struct bw_evidence_stats st;
    bw_evidence_get_stats(w, &st);
    CHECK_EQ(st.frames, frames);
    CHECK_EQ(st.frames_relinked, relinked);
    CHECK_EQ(st.frames_other_link, other);
}

static void test_relink(void)
{
    static const struct relink_case cases[] = {
        /* a Linux cooked frame into an Ethernet file: zero addresses, IPv4's ethertype */
        { BW_DLT_LINUX_SLL, 16, BW_DLT_EN10MB, 14, "\0\0\0\0\0\0\0\0\0\0\0\0\x08\x00" },
        /* Ethernet into Linux cooked: to us, ARPHRD_ETHER, no address */
        { BW_DLT_EN10MB, 14, BW_DLT_LINUX_SLL, 16, "\0\0\0\x01\0\0\0\0\0\0\0\0\0\0\x08\x00" },
        { BW_DLT_EN10MB, 14, BW_DLT_LINUX_SLL2, 20, "\x08\x00\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\0\0\0" },
        { BW_DLT_EN10MB, 14, BW_DLT_LOOP, 4, "\0\0\0\x02" },
        { BW_DLT_EN10MB, 14, BW_DLT_RAW101, 0, "" },
        { BW_DLT_RAW, 0, BW_DLT_EN10MB, 14, "\0\0\0\0\0\0\0\0\0\0\0\0\x08\x00" },
    };
    uint8_t eth[2048], fr[2048];
    size_t le = mk(eth, &cli, &srv, 4000, "CONNECT bytes");
    struct bw_evidence_mask none = mask_for(NULL, 0);
    struct bw_scrub_result sr;
    bw_evidence_scrub(BW_DLT_EN10MB, eth, le, &none, &sr);   /* its checksum valid, as written */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct relink_case *k = &cases[c];
        /* the frame in its own link type: the same IP packet behind that link's header */
        size_t lf = 0;
        if (k->from == BW_DLT_LINUX_SLL) {
            static const uint8_t sll[16] = { 0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00 };
            memcpy(fr, sll, 16);
            lf = 16;
        } else if (k->from == BW_DLT_EN10MB) {
            memcpy(fr, eth, ETH);
            lf = ETH;
        }
        memcpy(fr + lf, eth + ETH, le - ETH);
        lf += le - ETH;
        char path[64], err[512];
        struct bw_evidence *w = new_evidence(path);
        if (!w) return;
        bw_evidence_link_hint(w, k->file);
        /* the file gets its link type from its first frame: an empty record of it */
        uint8_t first[64];
        memset(first, 0, sizeof first);
        CHECK(bw_evidence_begin(w, k->file, 2, sizeof first + lf));
        bw_evidence_frame(w, k->file, 1, first, sizeof first, NULL);
        bw_evidence_scrub(k->from, fr, lf, &none, &sr);     /* where its IP header begins */
        CHECK(sr.tcp);
        CHECK_EQ(sr.l3_off, k->l2);
        sr.wire_len += 9;                                   /* as if cut by the snaplen */
        bw_evidence_frame(w, k->from, 2, fr, lf, &sr);
        bw_evidence_end(w);
        link_counts(w, 2, 1, 0);
        CHECK_EQ(bw_evidence_close(w, err, sizeof err), 0);
        static uint8_t file[8192];
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(file, 1, sizeof file, f) : 0;
        if (f) fclose(f);
        unlink(path);
        uint32_t lt, caplen, len;
        memcpy(&lt, file + 20, 4);
        CHECK_EQ(lt, (uint32_t)k->file);
        size_t at = 24 + 16 + sizeof first;                 /* the second record */
        CHECK(n >= at + 16);
        if (n < at + 16) continue;
        memcpy(&caplen, file + at + 8, 4);
        memcpy(&len, file + at + 12, 4);
        CHECK_EQ(caplen, k->hlen + le - ETH);
        CHECK_EQ(len, k->hlen + le - ETH + 9);
        CHECK_EQ(n, at + 16 + caplen);
        CHECK_MEM(file + at + 16, k->hdr, k->hlen);
        CHECK_MEM(file + at + 16 + k->hlen, eth + ETH, le - ETH);
        if (k->file != BW_DLT_RAW101) {                     /* and the sensor's decoder reads it back */
            struct bw_packet pk;
            struct bw_decode_stats ds;
            memset(&ds, 0, sizeof ds);
            CHECK_EQ(bw_decode_packet(k->file, file + at + 16, caplen, 0, &pk, &ds), BW_DEC_TCP);
        }
    }
    /* IPv6 cannot go into an IPv4-only file: left out, counted */
    struct tcp_ep c6 = { .ver = 6, .port = 40000 }, s6 = { .ver = 6, .port = 1883 };
    c6.ip[0] = 0xfd; c6.ip[15] = 1;
    s6.ip[0] = 0xfd; s6.ip[15] = 2;
    size_t l6 = frame_tcp(fr, sizeof fr, &c6, &s6, 1, 1, BW_TCP_ACK, "x", 1);
    char path[64], err[512];
    struct bw_evidence *w = new_evidence(path);
    if (!w) return;
    CHECK(bw_evidence_begin(w, BW_DLT_IPV4, 2, 2 * l6));
    bw_evidence_frame(w, BW_DLT_IPV4, 1, eth + ETH, le - ETH, NULL);
    bw_evidence_scrub(BW_DLT_EN10MB, fr, l6, &none, &sr);
    CHECK(sr.tcp && sr.ip_ver == 6);
    bw_evidence_frame(w, BW_DLT_EN10MB, 2, fr, l6, &sr);
    bw_evidence_end(w);
    link_counts(w, 1, 0, 1);
    CHECK_EQ(bw_evidence_close(w, err, sizeof err), 0);
    unlink(path);
}

static void test_ipv6(void)
{
    struct tcp_ep c6 = { .ver = 6, .port = 40000 }, s6 = { .ver = 6, .port = 1883 };
    c6.ip[0] = 0xfd; c6.ip[15] = 1;
    s6.ip[0] = 0xfd; s6.ip[15] = 2;
    struct tcp_ep save = cli;
    cli = c6;
    uint8_t a[2048];
    size_t la = mk(a, &c6, &s6, 0xfffffffeu, "pw:XYZW!");    /* the password spans the wrap */
    struct bw_secret_pos pw = { .seq = 0xfffffffeu + 3, .len = 4, .dir = BW_DIR_TOSERVER };
    struct bw_evidence_mask m = mask_for(&pw, 1);
    struct bw_scrub_result sr;
    size_t n;
    bw_evidence_scrub(BW_DLT_EN10MB, a, la, &m, &sr);
    const uint8_t *p = payload_of(a, la, &n);
    CHECK(p && memcmp(p, "pw:****!", 8) == 0);
    CHECK_EQ(tcp_checksum_ok(a, la), 1);
    cli = save;
}

/* The dissector says where the password lies: stream position of the buffer + its offset. */
static void test_mqtt_position(void)
{
    static const uint8_t connect[] = {
        0x10, 25, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 60,
        0, 1, 'c', 0, 5, 'a', 'l', 'i', 'c', 'e', 0, 3, 'p', 'w', 'd',
    };
    _Alignas(8) uint8_t st[BW_DISSECTOR_STATE_MAX];
    struct bw_facts f;
    size_t used = 0;
    memset(st, 0, sizeof st);
    bw_facts_init(&f);
    if (bw_dissector_mqtt.reset) bw_dissector_mqtt.reset(st);
    uint8_t *copy = malloc(sizeof connect);                   /* exact size: ASan sees overreads */
    memcpy(copy, connect, sizeof connect);
    f.feed = (struct bw_feed){ copy, sizeof connect, 0xfffffff0u, BW_DIR_TOSERVER };
    CHECK_EQ(bw_dissector_mqtt.parse(st, BW_DIR_TOSERVER, copy, sizeof connect, &used, &f), BW_PARSE_OK);
    CHECK_EQ(used, sizeof connect);
    CHECK_EQ(f.nsecrets, 1);
    CHECK(!f.secret_unplaced);
    CHECK_EQ(f.secret[0].seq, 0xfffffff0u + 24);
    CHECK_EQ(f.secret[0].len, 3);
    CHECK_EQ(f.secret[0].dir, BW_DIR_TOSERVER);
    free(copy);

    /* Outside the feed (a decoded copy), or no feed at all: placed nowhere, said so. */
    uint8_t other[4] = { 0 };
    bw_facts_init(&f);
    f.feed = (struct bw_feed){ connect, sizeof connect, 100, BW_DIR_TOSERVER };
    bw_facts_secret(&f, other, 3);
    CHECK(f.secret_unplaced);
    CHECK_EQ(f.nsecrets, 0);
    bw_facts_init(&f);
    bw_facts_secret(&f, connect + 24, 3);
    CHECK(f.secret_unplaced);
    bw_facts_init(&f);
    f.feed = (struct bw_feed){ connect, sizeof connect, 100, BW_DIR_TOSERVER };
    bw_facts_secret(&f, connect + 24, 4);                     /* one past the end: a lie */
    CHECK(f.secret_unplaced);
    bw_facts_init(&f);
    f.feed = (struct bw_feed){ connect, sizeof connect, 100, BW_DIR_TOSERVER };
    for (int i = 0; i < BW_FACTS_SECRETS_MAX; i++) bw_facts_secret(&f, connect + 24, 3);
    CHECK(!f.secret_unplaced);
    bw_facts_secret(&f, connect + 24, 3);
    CHECK(f.secret_unplaced);
}

static void test_hold(void)
{
    struct bw_hold_pool p;
    uint8_t fr[600];
    memset(fr, 0xab, sizeof fr);
    CHECK_EQ(bw_hold_pool_init(&p, 4096, 1024, 3), 0);
    CHECK_EQ(p.nslots, 4);
    uint32_t s[5];
    for (int i = 0; i < 4; i++) CHECK((s[i] = bw_hold_get(&p, (uint32_t)i + 10)) != 0);
    CHECK_EQ(bw_hold_get(&p, 99), 0);                         /* full: refused */
    CHECK(bw_hold_add(&p, s[0], 1, 5, fr, 100));
    CHECK(bw_hold_add(&p, s[0], 1, 6, fr, 100));
    CHECK(!bw_hold_add(&p, s[0], 1, 7, fr, 900));             /* past --evidence-bytes */
    CHECK(bw_hold_add(&p, s[0], 1, 8, fr, 200));
    CHECK(!bw_hold_add(&p, s[0], 1, 9, fr, 10));              /* past --evidence-packets */
    CHECK_EQ(p.st.session_caps, 1);                           /* one session, counted once */
    CHECK_EQ(p.st.frames_capped, 2);
    size_t off = 0, k = 0;
    struct bw_hold_frame f;
    uint64_t ts[3] = { 5, 6, 8 };
    size_t len[3] = { 100, 100, 200 };
    while (bw_hold_next(&p, s[0], &off, &f)) {
        CHECK(k < 3 && f.ts_us == ts[k] && f.caplen == len[k] && f.dlt == 1 && f.data[0] == 0xab);
        k++;
    }
    CHECK_EQ(k, 3);
    for (int i = 0; i < BW_HOLD_MASKS; i++) bw_hold_unexamined(&p, s[1], (uint32_t)i * 10, 5);
    CHECK(!bw_hold_at(&p, s[1])->unexamined_all);
    bw_hold_unexamined(&p, s[1], 100, 5);
    CHECK(bw_hold_at(&p, s[1])->unexamined_all);
    bw_hold_put(&p, s[2]);
    CHECK_EQ(p.st.in_use, 3);
    s[4] = bw_hold_get(&p, 50);
    CHECK_EQ(s[4], s[2]);
    CHECK_EQ(bw_hold_at(&p, s[4])->npkts, 0);                 /* a taken slot starts empty */
    CHECK_EQ(p.st.hwm, 4);
    bw_hold_pool_free(&p);
    CHECK_EQ(bw_hold_pool_init(&p, 100, 1024, 3), BW_EINVAL);
}

/* ---- the whole path ---- */

static uint64_t now_us = 1764000000000000ULL;

static void feed(struct bw_pipeline *pl, const struct tcp_ep *a, const struct tcp_ep *b, uint32_t seq,
                 uint32_t ack, uint8_t fl, const void *data, size_t n)
{
    uint8_t fr[2048];
    size_t len = frame_tcp(fr, sizeof fr, a, b, seq, ack, fl, data, n);
    uint8_t *copy = malloc(len);                              /* exact size for ASan */
    memcpy(copy, fr, len);
    now_us += 1000;
    bw_pipeline_packet(pl, BW_DLT_EN10MB, copy, len, now_us);
    free(copy);
}

/* Read a pcap back: every frame's checksum valid; the client's payload bytes by sequence
 * number into out (first copy wins; each later copy must be identical). Returns frames. */
static int read_back(const char *path, uint32_t base, uint8_t *out, size_t cap, int *bad_ck, int *conflicts)
{
    FILE *fp = fopen(path, "rb");
    uint8_t hdr[24], rh[16], fr[4096];
    bool have[256] = { false };
    int n = 0;
    *bad_ck = *conflicts = 0;
    if (!fp || fread(hdr, 1, 24, fp) != 24) { if (fp) fclose(fp); return -1; }
    while (fread(rh, 1, 16, fp) == 16) {
        uint32_t cl;
        memcpy(&cl, rh + 8, 4);
        if (cl > sizeof fr || fread(fr, 1, cl, fp) != cl) break;
        n++;
        if (tcp_checksum_ok(fr, cl) != 1) (*bad_ck)++;
        struct bw_packet pk;
        struct bw_decode_stats st;
        memset(&st, 0, sizeof st);
        if (bw_decode_packet(BW_DLT_EN10MB, fr, cl, 0, &pk, &st) != BW_DEC_TCP || pk.sport != cli.port) continue;
        for (size_t i = 0; i < pk.payload_len; i++) {
            uint32_t at = pk.seq + (uint32_t)i - base;
            if (at >= cap) continue;
            if (have[at] && out[at] != pk.payload[i]) (*conflicts)++;
            out[at] = pk.payload[i];
            have[at] = true;
        }
    }
    fclose(fp);
    return n;
}

static void test_pipeline_session(void)
{
    static const uint8_t connect[] = {
        0x10, 36, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 60,
        0, 1, 'c', 0, 5, 'a', 'l', 'i', 'c', 'e', 0, 14,
        'S', 'e', 'c', 'r', 'e', 't', 'P', 'a', 's', 's', 'w', 'o', 'r', 'd',
    };
    static const uint8_t connack[] = { 0x20, 2, 0, 0 };
    const size_t split = 30;                                  /* inside the password (24..38) */
    char path[] = "/tmp/bw_test_evidence_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    static struct bw_config cfg;
    static struct bw_pipeline pl;
    char err[4200];
    char *argv[] = { "brokerwatch", "-r", "x", "-w", path, NULL };
    CHECK_EQ(bw_config_parse(&cfg, 5, argv, err, sizeof err), BW_CONFIG_RUN);
    cfg.max_flows = cfg.max_sessions = cfg.max_probes = cfg.max_probes_per_source = cfg.dpi_slots = 64;
    cfg.stream_memcap = 1u << 20;
    cfg.evidence_memcap = 1u << 20;
    CHECK_EQ(bw_pipeline_init(&pl, &cfg, bw_dissectors, bw_dissectors_count), 0);
    pl.evidence = bw_evidence_open(path, 0, NULL, err, sizeof err);
    CHECK(pl.evidence != NULL);
    uint32_t cs = 70000, ss = 9000, c1 = cs + 1, end = c1 + (uint32_t)sizeof connect;
    feed(&pl, &cli, &srv, cs, 0, BW_TCP_SYN, NULL, 0);
    feed(&pl, &srv, &cli, ss, cs + 1, BW_TCP_SYN | BW_TCP_ACK, NULL, 0);
    feed(&pl, &cli, &srv, c1, ss + 1, BW_TCP_ACK, NULL, 0);
    /* the second half first, then the first, then the second again */
    feed(&pl, &cli, &srv, c1 + (uint32_t)split, ss + 1, BW_TCP_ACK | BW_TCP_PSH, connect + split, sizeof connect - split);
    feed(&pl, &cli, &srv, c1, ss + 1, BW_TCP_ACK | BW_TCP_PSH, connect, split);
    feed(&pl, &cli, &srv, c1 + (uint32_t)split, ss + 1, BW_TCP_ACK | BW_TCP_PSH, connect + split, sizeof connect - split);
    feed(&pl, &srv, &cli, ss + 1, end, BW_TCP_ACK | BW_TCP_PSH, connack, sizeof connack);
    feed(&pl, &cli, &srv, end, ss + 5, BW_TCP_FIN | BW_TCP_ACK, NULL, 0);
    feed(&pl, &srv, &cli, ss + 5, end + 1, BW_TCP_FIN | BW_TCP_ACK, NULL, 0);
    bw_pipeline_finish(&pl);
    CHECK(pl.cnt.alerts >= 2);                                /* plaintext + cleartext credentials */
    struct bw_evidence_stats es;
    bw_evidence_get_stats(pl.evidence, &es);
    CHECK_EQ(es.sessions, 1);
    CHECK_EQ(es.frames, 9);
    CHECK_EQ(es.bytes_masked, 6 + 8 + 8);                     /* [24, 30) once, [30, 38) twice */
    CHECK_EQ(bw_evidence_close(pl.evidence, err, sizeof err), 0);
    pl.evidence = NULL;
    uint8_t got[64];
    int bad_ck, conflicts;
    memset(got, 0, sizeof got);
    CHECK_EQ(read_back(path, c1, got, sizeof got, &bad_ck, &conflicts), 9);
    CHECK_EQ(bad_ck, 0);
    CHECK_EQ(conflicts, 0);                                   /* the retransmission masked alike */
    CHECK_MEM(got, connect, 24);                              /* everything up to the password */
    CHECK_MEM(got + 24, "**************", 14);                /* the password, both segments */
    bw_pipeline_free(&pl);
    bw_config_free(&cfg);
    unlink(path);
}

int main(void)
{
    cli = ep4(10, 0, 0, 1, 51000);
    srv = ep4(10, 0, 0, 2, 1883);
    test_split_and_retransmit(1000);
    test_split_and_retransmit(0xfffffff8u);                   /* the password crosses 2^32 */
    test_all_and_ranges();
    test_cut_frame();
    test_masked_range();
    test_relink();
    test_ipv6();
    test_mqtt_position();
    test_hold();
    test_pipeline_session();
    return check_summary("evidence");
}
