/* test_capture.c: a capture file reads the same through bw_capture as through libpcap's own
 * pcap_next_ex: every bundled capture and every classic pcap among the peer captures (with and
 * without a filter), and files made from a real capture here: cut at every point of its first
 * records and of its last one, written in the other byte order, with nanosecond times, with a
 * snapshot length shorter than its packets, with a capture length past libpcap's limit, with
 * times past 2038 and fractions past a second. A pcapng file stays libpcap's. Kept packets
 * (bw_capture_keep, for the workers) stay as they were until their chunk is released, over a
 * file of many chunks made from a real capture. The live fanout group's program (run here by
 * libpcap's interpreter on raw IP headers) picks the same socket for both directions of a pair,
 * spreads pairs evenly, and sends what is not IP to the first socket. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "pcap_compare.h"
#include "slurp.h"

#ifndef BW_SOURCE_DIR
#define BW_SOURCE_DIR "."
#endif

static char tmpdir[] = "/tmp/bw_test_capture.XXXXXX";

static void same_as(const char *path, const char *bpf, bool own, bool keep)
{
    struct pcap_cmp c;
    int rc = pcap_compare(path, bpf, keep, &c);
    /* neither opening it (a cut inside the file header) is the same too, but not for a whole file */
    bool whole = own || strstr(path, tmpdir) != path;
    if (rc > 0 || (rc < 0 && whole))
        fprintf(stderr, "%s%s%s: %s\n", path, bpf ? " filter " : "", bpf ? bpf : "", rc < 0 ? "opened by neither" : c.why);
    CHECK(rc == 0 || (rc < 0 && !whole));
    if (own) CHECK(c.own_read);
}

/* read by the sensor packet by packet, and read ahead in kept chunks (as with workers) */
static void same(const char *path, const char *bpf, bool own)
{
    same_as(path, bpf, own, false);
    same_as(path, bpf, own, true);
}

static const char *put(const char *name, const uint8_t *b, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) { fwrite(b, 1, n, f); fclose(f); }
    return path;
}

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void set32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* the offsets of a little-endian file's records */
static size_t records(const uint8_t *b, size_t n, size_t *off, size_t max)
{
    size_t k = 0, o = 24;
    while (o + 16 <= n && k < max) {
        off[k++] = o;
        o += 16 + get32(b + o + 8);
    }
    return k;
}

static void derived(void)
{
    size_t n;
    uint8_t *orig = slurp(BW_SOURCE_DIR "/pcaps/mqtt_creds.pcap", &n);
    CHECK(orig != NULL && n > 200 && get32(orig) == 0xa1b2c3d4u);
    if (!orig) return;
    size_t off[4096];
    size_t k = records(orig, n, off, 4096);
    CHECK(k > 4);
    uint8_t *b = malloc(n + 64);
    if (!b) { free(orig); return; }

    /* cut anywhere in the first three records and in the last one: the same packets, the same
     * "truncated dump file" line (or the end, on a record boundary) */
    unsigned cuts = 0;
    for (size_t cut = 0; cut <= off[3]; cut++, cuts++) same(put("cut.pcap", orig, cut), NULL, false);
    for (size_t cut = off[k - 1]; cut < n; cut++, cuts++) same(put("cut.pcap", orig, cut), NULL, false);
    CHECK(cuts > 100);

    /* the other byte order, every header field swapped */
    memcpy(b, orig, n);
    set32(b, __builtin_bswap32(get32(b)));
    b[4] = 0; b[5] = 2; b[6] = 0; b[7] = 4;
    for (int f = 8; f < 24; f += 4) set32(b + f, __builtin_bswap32(get32(b + f)));
    for (size_t i = 0; i < k; i++)
        for (int f = 0; f < 16; f += 4) set32(b + off[i] + f, __builtin_bswap32(get32(b + off[i] + f)));
    same(put("swapped.pcap", b, n), NULL, true);
    same(put("swapped.pcap", b, n - 7), NULL, false);

    /* nanosecond times */
    memcpy(b, orig, n);
    set32(b, 0xa1b23c4du);
    for (size_t i = 0; i < k; i++) set32(b + off[i] + 4, get32(b + off[i] + 4) * 1000u + 999u);
    same(put("nano.pcap", b, n), NULL, true);

    /* times that would be negative as signed fields, and a fraction past a second */
    memcpy(b, orig, n);
    set32(b + off[0], 0x80000001u);
    set32(b + off[1] + 4, 0xfffffff0u);
    set32(b + off[2] + 4, 2500000u);
    same(put("times.pcap", b, n), NULL, true);

    /* a snapshot length shorter than the packets: each cut to it, the rest skipped; then cut
     * inside a packet's skipped part and inside its kept part */
    memcpy(b, orig, n);
    set32(b + 16, 60);
    same(put("snap.pcap", b, n), NULL, false);
    same(put("snap.pcap", b, off[2] + 16 + 30), NULL, false);
    same(put("snap.pcap", b, off[2] + 16 + 61), NULL, false);

    /* a capture length past libpcap's limit (262144), with the file's snapshot length above and
     * below it */
    memcpy(b, orig, n);
    set32(b + off[1] + 8, 262145u);
    same(put("huge.pcap", b, n), NULL, false);
    set32(b + 16, 300000u);
    same(put("huge.pcap", b, n), NULL, false);
    set32(b + off[1] + 8, 0xffffffffu);
    same(put("huge.pcap", b, n), NULL, false);

    /* a version other than 2.4, and a file that is only a header */
    memcpy(b, orig, n);
    b[6] = 3;
    same(put("v23.pcap", b, n), NULL, false);
    same(put("empty.pcap", orig, 24), NULL, false);
    free(b);
    free(orig);
}

/* A file of many chunks (a real capture's records over and over, the header once), read with
 * bw_capture_keep: every packet is libpcap's, and every packet of a chunk not yet released is
 * still intact whenever the capture says all its buffers are held; then only the oldest chunk
 * is released. */
static void kept(void)
{
    size_t n;
    uint8_t *orig = slurp(BW_SOURCE_DIR "/pcaps/mqtt_large_connect.pcap", &n);
    CHECK(orig != NULL && n > 1000 && get32(orig) == 0xa1b2c3d4u);
    if (!orig) return;
    size_t want = (size_t)(BW_CAPTURE_CHUNKS + 4) * 512u * 1024u, len = 24;
    uint8_t *big = malloc(want + n);
    CHECK(big != NULL);
    if (!big) { free(orig); return; }
    memcpy(big, orig, 24);
    while (len < want) { memcpy(big + len, orig + 24, n - 24); len += n - 24; }
    /* the same read kept against libpcap, whole and cut inside its last record (the error comes
     * in a later chunk than the first) */
    same_as(put("kept-cut.pcap", big, len - 7), NULL, true, true);
    const char *path = put("kept.pcap", big, len);
    same_as(path, NULL, true, true);
    free(orig);
    free(big);

    char err[512], perr[PCAP_ERRBUF_SIZE];
    pcap_t *ref = pcap_open_offline(path, perr);
    struct bw_capture *cap = NULL;
    CHECK(ref != NULL && bw_capture_open_file(&cap, path, NULL, NULL, err, sizeof err) == 0);
    if (!ref || !cap) { if (ref) pcap_close(ref); bw_capture_close(cap); return; }
    CHECK(bw_capture_keep(cap));
    enum { MAXP = 200000 };
    struct kp { const uint8_t *data; uint8_t *copy; size_t len; uint64_t chunk; } *kp = calloc(MAXP, sizeof *kp);
    CHECK(kp != NULL);
    size_t np = 0, oldest = 0, held = 0, broken = 0;
    uint64_t released = 0, last_chunk = 0;
    for (;;) {
        const uint8_t *data;
        size_t caplen;
        uint64_t ts;
        int r = bw_capture_next(cap, &data, &caplen, &ts, err, sizeof err);
        if (r == 3) {
            held++;
            for (size_t i = oldest; i < np; i++)
                if (kp[i].chunk >= released && memcmp(kp[i].data, kp[i].copy, kp[i].len) != 0) broken++;
            uint64_t h = bw_capture_held(cap);
            CHECK(h >= released);
            released = h + 1;                          /* the oldest one only */
            bw_capture_release(cap, released);
            while (oldest < np && kp[oldest].chunk < released) { free(kp[oldest].copy); kp[oldest++].copy = NULL; }
            continue;
        }
        struct pcap_pkthdr *ph;
        const u_char *pd;
        int r1 = pcap_next_ex(ref, &ph, &pd);
        if (r != 1) { CHECK(r == 0 && r1 == -2); break; }
        CHECK(r1 == 1 && ph->caplen == caplen && memcmp(pd, data, caplen) == 0);
        CHECK(bw_capture_chunk(cap) >= last_chunk);
        last_chunk = bw_capture_chunk(cap);
        if (!kp || np >= MAXP || r1 != 1) break;
        kp[np] = (struct kp){ data, malloc(caplen ? caplen : 1), caplen, last_chunk };
        if (kp[np].copy) memcpy(kp[np].copy, data, caplen);
        np++;
    }
    CHECK(broken == 0);
    CHECK(held >= 4);                                  /* the buffers went round */
    CHECK(last_chunk >= BW_CAPTURE_CHUNKS + 3);
    for (size_t i = oldest; i < np; i++) free(kp[i].copy);
    free(kp);
    pcap_close(ref);
    bw_capture_close(cap);
}

/* ---- the fanout program ---- */

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;
static uint32_t rnd32(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)(rnd_state >> 16);
}

static unsigned run_prog(const struct bw_bpf_insn *prog, const uint8_t *pkt, size_t len)
{
    return bpf_filter((const struct bpf_insn *)prog, pkt, (u_int)len, (u_int)len);
}

/* a raw IP header (no payload needed: the program reads addresses only) */
static size_t ip_header(uint8_t *p, int ver, const uint8_t *src, const uint8_t *dst)
{
    memset(p, 0, 40);
    if (ver == 4) {
        p[0] = 0x45;
        p[9] = 6;
        memcpy(p + 12, src, 4);
        memcpy(p + 16, dst, 4);
        return 20;
    }
    p[0] = 0x60;
    p[6] = 6;
    memcpy(p + 8, src, 16);
    memcpy(p + 24, dst, 16);
    return 40;
}

static void fanout_prog(void)
{
    struct bw_bpf_insn prog[BW_CAPTURE_FANOUT_INSNS];
    size_t n = bw_capture_fanout_prog(prog, 0);
    CHECK(n > 0 && n <= BW_CAPTURE_FANOUT_INSNS);
    CHECK(bpf_validate((const struct bpf_insn *)prog, (int)n));
    uint8_t fwd[40], rev[40];
    unsigned mod2[2] = { 0, 0 }, mod3[3] = { 0, 0, 0 }, seq2[2] = { 0, 0 };
    bool differ = false;
    for (int ver = 4; ver <= 6; ver += 2) {
        size_t alen = ver == 4 ? 4 : 16;
        for (int i = 0; i < 10000; i++) {
            uint8_t a[16], b[16];
            for (size_t k = 0; k < alen; k += 4) {
                uint32_t x = rnd32(), y = rnd32();
                memcpy(a + k, &x, 4);
                memcpy(b + k, &y, 4);
            }
            size_t len = ip_header(fwd, ver, a, b);
            ip_header(rev, ver, b, a);
            unsigned h = run_prog(prog, fwd, len), g = run_prog(prog, rev, len);
            CHECK(h == g);                        /* both directions: one socket */
            if (i == 0 && h == 0) fprintf(stderr, "fanout: a pair hashed to 0\n");
            mod2[h % 2]++;
            mod3[h % 3]++;
            /* another pair sharing one address hashes apart now and then */
            ip_header(rev, ver, a, a);
            if (run_prog(prog, rev, len) != h) differ = true;
        }
    }
    CHECK(differ);
    /* random pairs: within 3 % of even */
    CHECK(mod2[0] > 9400 && mod2[1] > 9400);
    CHECK(mod3[0] > 6200 && mod3[1] > 6200 && mod3[2] > 6200);
    /* clients numbered in a row, one broker: spread too */
    uint8_t broker[4] = { 10, 0, 0, 1 };
    for (unsigned c = 0; c < 2000; c++) {
        uint8_t cli[4] = { 10, 1, (uint8_t)(c >> 8), (uint8_t)c };
        size_t len = ip_header(fwd, 4, cli, broker);
        seq2[run_prog(prog, fwd, len) % 2]++;
    }
    CHECK(seq2[0] > 800 && seq2[1] > 800);
    /* not IP, or too short to hold the addresses: the first socket */
    uint8_t other[40] = { 0x50 };
    CHECK(run_prog(prog, other, sizeof other) == 0);
    ip_header(fwd, 4, broker, broker);
    CHECK(run_prog(prog, fwd, 16) == 0);
    ip_header(fwd, 6, (const uint8_t *)"0123456789abcdef", (const uint8_t *)"fedcba9876543210");
    CHECK(run_prog(prog, fwd, 30) == 0);
}

static void directory(const char *dir, const char *bpf, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) { if (depth < 4) directory(path, bpf, depth + 1); continue; }
        size_t len = strlen(e->d_name);
        bool cap = (len > 5 && strcmp(e->d_name + len - 5, ".pcap") == 0) ||
                   (len > 7 && strcmp(e->d_name + len - 7, ".pcapng") == 0) ||
                   (len > 4 && strcmp(e->d_name + len - 4, ".cap") == 0);
        if (!cap) continue;
        uint8_t magic[4] = { 0 };
        FILE *f = fopen(path, "rb");
        if (f) { if (fread(magic, 1, 4, f) != 4) memset(magic, 0, 4); fclose(f); }
        bool classic = get32(magic) == 0xa1b2c3d4u || get32(magic) == 0xd4c3b2a1u ||
                       get32(magic) == 0xa1b23c4du || get32(magic) == 0x4d3cb2a1u;
        same(path, bpf, classic && get32(magic) != 0xd4c3b2a1u);
    }
    closedir(d);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    fanout_prog();
    derived();
    kept();
    directory(BW_SOURCE_DIR "/pcaps", NULL, 0);
    directory(BW_SOURCE_DIR "/pcaps", "tcp port 1883", 0);
    directory(BW_SOURCE_DIR "/../shared/pcaps/peers", NULL, 0);   /* when they are there */
    directory(BW_SOURCE_DIR "/../shared/pcaps/peers", "tcp", 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary("capture");
}
