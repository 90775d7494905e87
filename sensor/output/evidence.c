/* evidence.c: the evidence capture (-w FILE, bw_evidence.h): masking, checksums, pcap records.
 * Writes the classic pcap format itself (24-byte header, 16-byte records, microseconds, native
 * byte order as libpcap does), through one descriptor and a buffer of whole records: no stdio,
 * nothing but open/write/close after the start, which the sandbox allows. Owns its buffer and
 * descriptor; never sees flows or facts, and never writes a byte a mask covers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bw_dissector.h"
#include "bw_evidence.h"
#include "bw_packet.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define BUF_BYTES (256u << 10)
#define LINK_HDR_MAX 20u               /* the longest link header a frame is given (SLL2) */

struct pcap_hdr { uint32_t magic; uint16_t major, minor; int32_t zone; uint32_t sigfigs, snaplen, linktype; };
struct pcap_rec { uint32_t sec, usec, caplen, len; };

struct bw_evidence {
    /* Several workers write sessions: begin() takes the lock for the whole session, end() (or a
     * refusing begin) gives it back; stats and reopen take it too. Sessions with an alert are
     * few, so the lock is off the packet path. */
    pthread_mutex_t lock;
    char     path[4096];
    int      fd;
    int      dlt;                 /* the file's link type; -1 = no header yet */
    int      hint_dlt;
    uint64_t max_total, grown;    /* --evidence-max-total and what this run added */
    bool     failed;              /* a write failed: nothing more is written */
    int      err_code;
    char     errmsg[4200];
    size_t   blen;
    struct bw_evidence_stats st;
    uint8_t  buf[BUF_BYTES];
};

/* ---- masking and checksums ---- */

static uint64_t sum_bytes(const uint8_t *p, size_t n, uint64_t acc)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2) acc += (uint32_t)((p[i] << 8) | p[i + 1]);
    if (i < n) acc += (uint32_t)(p[i] << 8);
    return acc;
}

static uint16_t fold(uint64_t acc)
{
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)acc;
}

/* The TCP header that ends where the payload starts: its data offset, ports and sequence number
 * must agree with what decode read (decode checked the header lies wholly in the capture). */
static const uint8_t *tcp_header(const uint8_t *frame, const struct bw_packet *pk)
{
    size_t at = (size_t)(pk->payload - frame), l3 = (size_t)(pk->l3 - frame);
    for (size_t doff = 20; doff <= 60; doff += 4) {
        if (doff > at - l3) break;
        const uint8_t *t = pk->payload - doff;
        uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
        if ((size_t)(t[12] >> 4) * 4 == doff && ((t[0] << 8) | t[1]) == pk->sport &&
            ((t[2] << 8) | t[3]) == pk->dport && seq == pk->seq)
            return t;
    }
    return NULL;
}

static uint64_t pseudo_sum(const struct bw_packet *pk, uint32_t tcp_len)
{
    uint64_t acc = 0;
    size_t alen = pk->ip_ver == 4 ? 4 : 16;
    acc = sum_bytes(pk->src, alen, acc);
    acc = sum_bytes(pk->dst, alen, acc);
    acc += 6;                                       /* protocol */
    acc += (tcp_len >> 16) + (tcp_len & 0xffff);    /* IPv4: 16-bit length; IPv6: 32-bit */
    return acc;
}

/* Payload bytes [*a, *a + *n) of a segment starting at sequence s with plen bytes that the range
 * r covers; false when none. */
static bool overlap(uint32_t s, size_t plen, const struct bw_secret_pos *r, size_t *a, size_t *n)
{
    uint32_t into = s - r->seq;                     /* how far the segment starts inside r */
    if (into < r->len) {
        uint64_t left = (uint64_t)r->len - into;
        *a = 0;
        *n = left < plen ? (size_t)left : plen;
        return *n > 0;
    }
    uint32_t ahead = r->seq - s;                    /* r starts this far into the segment */
    if (ahead >= plen) return false;
    uint64_t room = plen - ahead;
    *a = ahead;
    *n = r->len < room ? r->len : (size_t)room;
    return *n > 0;
}

void bw_evidence_scrub(int dlt, uint8_t *frame, size_t caplen, const struct bw_evidence_mask *m,
                       struct bw_scrub_result *out)
{
    struct bw_packet pk;
    struct bw_decode_stats ds;
    memset(out, 0, sizeof *out);
    memset(&ds, 0, sizeof ds);
    if (bw_decode_packet(dlt, frame, caplen, 0, &pk, &ds) != BW_DEC_TCP) return;
    uint8_t *tcp = (uint8_t *)(uintptr_t)tcp_header(frame, &pk);
    if (!tcp) return;
    out->tcp = true;
    /* what the frame was on the wire by its IP header, so that one cut by the snaplen shows as cut */
    out->wire_len = (size_t)(pk.l3 - frame) + pk.ip_len;
    out->l3_off = (size_t)(pk.l3 - frame);
    out->ip_ver = pk.ip_ver;
    size_t alen = pk.ip_ver == 4 ? 4 : 16;
    bool from_cli = pk.ip_ver == m->ip_ver && memcmp(pk.src, m->cli, alen) == 0 && pk.sport == m->cli_port;
    uint8_t dir = from_cli ? BW_DIR_TOSERVER : BW_DIR_TOCLIENT;
    uint8_t *pay = frame + (pk.payload - frame);
    size_t plen = pk.payload_len;
    uint32_t s = pk.seq + ((pk.tcp_flags & BW_TCP_SYN) ? 1u : 0u);
    /* The covered payload intervals, merged: [iv[k].a, iv[k].b). More ranges than the array
     * holds (never from the pipeline) overwrite the whole span they cover: more, never less. */
    struct { size_t a, b; } iv[16];
    size_t niv = 0, lo = plen, hi = 0;              /* lo/hi: span of the overwritten bytes */
    bool spill = false;
    if (plen && m->all[dir]) {
        iv[niv].a = lo = 0;
        iv[niv++].b = hi = plen;
    }
    for (size_t i = 0; plen && i < m->npos && !m->all[dir]; i++) {
        size_t a, n;
        if (m->pos[i].dir != dir || !overlap(s, plen, &m->pos[i], &a, &n)) continue;
        if (a < lo) lo = a;
        if (a + n > hi) hi = a + n;
        if (niv == sizeof iv / sizeof iv[0]) { spill = true; continue; }
        size_t k = niv++;
        for (; k > 0 && iv[k - 1].a > a; k--) iv[k] = iv[k - 1];   /* insertion: sorted by start */
        iv[k].a = a;
        iv[k].b = a + n;
    }
    if (spill) {
        iv[0].a = lo;
        iv[0].b = hi;
        niv = 1;
    }
    size_t doff = (size_t)(pay - tcp);
    bool whole = pk.payload_len == pk.seg_len;
    uint64_t before = 0;
    size_t ws = 0, we = 0;                          /* even-aligned word span, from the TCP header */
    if (lo < hi && !whole) {
        ws = (doff + lo) & ~(size_t)1;
        we = doff + hi;
        before = sum_bytes(tcp + ws, we - ws, 0);
    }
    for (size_t k = 0, end = 0; k < niv; k++) {      /* merged: each byte counted once */
        size_t from = iv[k].a > end ? iv[k].a : end;
        if (iv[k].b <= from) continue;
        memset(pay + from, BW_EVIDENCE_FILL, iv[k].b - from);
        out->masked += iv[k].b - from;
        end = iv[k].b;
    }
    /* A range read through a WebSocket mask: its bytes (overwritten above) written again so
     * that they unmask to the fill, as a dissector of the file reads them. */
    for (size_t i = 0; plen && i < m->npos && !m->all[dir]; i++) {
        const struct bw_secret_pos *r = &m->pos[i];
        size_t a, n;
        if (r->dir != dir || !(r->key[0] | r->key[1] | r->key[2] | r->key[3]) || !overlap(s, plen, r, &a, &n))
            continue;
        uint32_t into = s + (uint32_t)a - r->seq;    /* offset of pay[a] in the range */
        for (size_t j = 0; j < n; j++)
            pay[a + j] = (uint8_t)(BW_EVIDENCE_FILL ^ r->key[(r->key_off + into + j) & 3]);
    }
    if (whole) {
        /* The whole segment is here: compute the checksum afresh (RFC 793 pseudo-header). */
        uint32_t tcp_len = (uint32_t)(doff + pk.seg_len);
        tcp[16] = tcp[17] = 0;
        uint16_t ck = (uint16_t)~fold(sum_bytes(tcp, tcp_len, pseudo_sum(&pk, tcp_len)));
        tcp[16] = (uint8_t)(ck >> 8);
        tcp[17] = (uint8_t)ck;
        out->checksum_set = true;
    } else if (lo < hi) {
        /* Cut by snaplen: adjust for the changed words only (RFC 1624, eqn. 3). */
        uint64_t after = sum_bytes(tcp + ws, we - ws, 0);
        uint16_t hc = (uint16_t)((tcp[16] << 8) | tcp[17]);
        uint16_t ck = (uint16_t)~fold((uint64_t)(uint16_t)~hc + (uint16_t)~fold(before) + fold(after));
        tcp[16] = (uint8_t)(ck >> 8);
        tcp[17] = (uint8_t)ck;
        out->checksum_set = true;
    }
}

/* ---- the file ---- */

static void fail(struct bw_evidence *w, int e)
{
    if (w->failed) return;
    w->failed = true;
    w->err_code = BW_EIO;
    snprintf(w->errmsg, sizeof w->errmsg, "cannot write evidence to '%s': %s", w->path, strerror(e));
}

static void drain(struct bw_evidence *w)
{
    size_t off = 0;
    while (!w->failed && off < w->blen) {
        ssize_t n = write(w->fd, w->buf + off, w->blen - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fail(w, n < 0 ? errno : ENOSPC);
            w->st.write_errors++;
            break;
        }
        off += (size_t)n;
    }
    w->blen = 0;
}

static void put(struct bw_evidence *w, const void *p, size_t n)
{
    if (w->failed) return;
    if (n > sizeof w->buf - w->blen) drain(w);
    if (n > sizeof w->buf) {                        /* larger than the buffer: straight out */
        size_t off = 0;
        while (!w->failed && off < n) {
            ssize_t k = write(w->fd, (const uint8_t *)p + off, n - off);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) { fail(w, k < 0 ? errno : ENOSPC); w->st.write_errors++; break; }
            off += (size_t)k;
        }
        return;
    }
    memcpy(w->buf + w->blen, p, n);
    w->blen += n;
}

static void put_header(struct bw_evidence *w, int dlt)
{
    struct pcap_hdr h = { PCAP_MAGIC_US, 2, 4, 0, 0, BW_EVIDENCE_SNAPLEN, (uint32_t)dlt };
    put(w, &h, sizeof h);
    w->dlt = dlt;
}

/* Open path for appending; *dlt: the link type of the pcap already there, -1 when it is empty. */
static int open_file(const char *path, int *fd_out, int *dlt, bool *created, char *err, size_t errlen)
{
    struct stat sb;
    bool existed = lstat(path, &sb) == 0;
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write evidence to '%s': %s", path, strerror(errno));
        return BW_EIO;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "cannot write evidence to '%s': not a regular file", path);
        close(fd);
        return BW_EIO;
    }
    *dlt = -1;
    if (sb.st_size > 0) {
        struct pcap_hdr h;
        if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != PCAP_MAGIC_US || h.major != 2) {
            snprintf(err, errlen, "'%s' is not a pcap file (microseconds, this byte order) that evidence can be "
                     "appended to: give -w a new file", path);
            close(fd);
            return BW_EINVAL;
        }
        *dlt = (int)h.linktype;
    }
    if (created) *created = !existed;
    *fd_out = fd;
    return 0;
}

struct bw_evidence *bw_evidence_open(const char *path, uint64_t max_total, bool *created, char *err, size_t errlen)
{
    if (strlen(path) >= sizeof ((struct bw_evidence *)0)->path) {
        snprintf(err, errlen, "-w: path too long");
        return NULL;
    }
    struct bw_evidence *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "-w: out of memory");
        return NULL;
    }
    if (open_file(path, &w->fd, &w->dlt, created, err, errlen) != 0) {
        free(w);
        return NULL;
    }
    memcpy(w->path, path, strlen(path) + 1);
    pthread_mutex_init(&w->lock, NULL);
    w->hint_dlt = BW_DLT_EN10MB;
    w->max_total = max_total;
    return w;
}

void bw_evidence_link_hint(struct bw_evidence *w, int dlt)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->hint_dlt = dlt;
    pthread_mutex_unlock(&w->lock);
}

bool bw_evidence_begin(struct bw_evidence *w, int dlt, uint32_t frames, uint64_t caplen_sum)
{
    pthread_mutex_lock(&w->lock);
    uint64_t need = (uint64_t)frames * sizeof(struct pcap_rec) + caplen_sum +
                    (w->dlt < 0 ? sizeof(struct pcap_hdr) : 0);
    if (w->dlt >= 0 && dlt != w->dlt) need += (uint64_t)frames * LINK_HDR_MAX;   /* relinked */
    if (w->max_total && (w->grown > w->max_total || need > w->max_total - w->grown)) {
        w->st.sessions_total_cap++;
        w->st.frames_total_cap += frames;
        pthread_mutex_unlock(&w->lock);
        return false;
    }
    return true;
}

/* The link header a frame of IP version ip_ver gets in a file of link type to, written to hdr;
 * its length, or -1 when that file cannot hold it. */
static int link_header(int to, uint8_t ip_ver, uint8_t hdr[LINK_HDR_MAX])
{
    uint16_t et = ip_ver == 4 ? 0x0800 : 0x86dd;
    uint32_t af = ip_ver == 4 ? 2 : 24;             /* AF_INET; AF_INET6 as NetBSD and OpenBSD */
    memset(hdr, 0, LINK_HDR_MAX);
    switch (to) {
    case BW_DLT_EN10MB:                             /* no addresses known: zero */
        hdr[12] = (uint8_t)(et >> 8), hdr[13] = (uint8_t)et;
        return 14;
    case BW_DLT_LINUX_SLL:                          /* to us, ARPHRD_ETHER, no address */
        hdr[3] = 1;
        hdr[14] = (uint8_t)(et >> 8), hdr[15] = (uint8_t)et;
        return 16;
    case BW_DLT_LINUX_SLL2:
        hdr[0] = (uint8_t)(et >> 8), hdr[1] = (uint8_t)et;
        hdr[9] = 1;
        return 20;
    case BW_DLT_NULL:                               /* the family in this host's byte order */
        memcpy(hdr, &af, 4);
        return 4;
    case BW_DLT_LOOP:                               /* ... in network byte order */
        hdr[3] = (uint8_t)af;
        return 4;
    case BW_DLT_RAW: case BW_DLT_RAW_ALT: case BW_DLT_RAW101:
        return 0;
    case BW_DLT_IPV4: return ip_ver == 4 ? 0 : -1;
    case BW_DLT_IPV6: return ip_ver == 6 ? 0 : -1;
    default: return -1;
    }
}

void bw_evidence_frame(struct bw_evidence *w, int dlt, uint64_t ts_us, const uint8_t *frame, size_t caplen,
                       const struct bw_scrub_result *sr)
{
    if (w->failed) return;
    if (w->dlt < 0) {
        put_header(w, dlt);
        w->grown += sizeof(struct pcap_hdr);
    }
    size_t len = sr && sr->wire_len > caplen ? sr->wire_len : caplen;   /* as captured: cut or not */
    uint8_t hdr[LINK_HDR_MAX];
    size_t hlen = 0;
    if (dlt != w->dlt) {                            /* one link type per pcap file: relink */
        int h = sr && sr->tcp && sr->l3_off <= caplen ? link_header(w->dlt, sr->ip_ver, hdr) : -1;
        if (h < 0) { w->st.frames_other_link++; return; }
        size_t l2 = sr->l3_off;
        /* begin() counted the session at its first frame's link type: a later frame of
         * another one (a flow that goes on in the next file) may still not fit */
        if (w->max_total && w->grown + sizeof(struct pcap_rec) + (size_t)h + caplen - l2 > w->max_total) {
            w->st.frames_total_cap++;
            return;
        }
        hlen = (size_t)h;
        frame += l2;
        caplen -= l2;
        len = len - l2 + hlen;
        w->st.frames_relinked++;
    }
    if (caplen + hlen > BW_EVIDENCE_SNAPLEN) caplen = BW_EVIDENCE_SNAPLEN - hlen;
    if (len > UINT32_MAX) len = UINT32_MAX;
    struct pcap_rec r = { (uint32_t)(ts_us / 1000000u), (uint32_t)(ts_us % 1000000u), (uint32_t)(hlen + caplen),
                          (uint32_t)len };
    put(w, &r, sizeof r);
    if (hlen) put(w, hdr, hlen);
    put(w, frame, caplen);
    caplen += hlen;
    w->grown += sizeof r + caplen;
    w->st.frames++;
    w->st.bytes += sizeof r + caplen;
    if (sr && sr->masked) {
        w->st.frames_masked++;
        w->st.bytes_masked += sr->masked;
    }
}

void bw_evidence_end(struct bw_evidence *w)
{
    w->st.sessions++;
    drain(w);
    pthread_mutex_unlock(&w->lock);
}

int bw_evidence_reopen(struct bw_evidence *w, char *err, size_t errlen)
{
    int fd, dlt;
    pthread_mutex_lock(&w->lock);
    drain(w);
    if (open_file(w->path, &fd, &dlt, NULL, err, errlen) != 0) {
        pthread_mutex_unlock(&w->lock);
        return BW_EIO;
    }
    close(w->fd);
    w->fd = fd;
    w->dlt = dlt;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int bw_evidence_close(struct bw_evidence *w, char *err, size_t errlen)
{
    if (!w) return 0;
    if (w->dlt < 0 && !w->failed) put_header(w, w->hint_dlt);   /* an empty, valid capture */
    drain(w);
    if (close(w->fd) != 0 && !w->failed) fail(w, errno);
    int rc = w->failed ? w->err_code : 0;
    if (rc && err) snprintf(err, errlen, "%s", w->errmsg);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return rc;
}

void bw_evidence_get_stats(const struct bw_evidence *w, struct bw_evidence_stats *out)
{
    if (!w) { memset(out, 0, sizeof *out); return; }
    pthread_mutex_t *lock = (pthread_mutex_t *)&w->lock;   /* reading takes it too */
    pthread_mutex_lock(lock);
    *out = w->st;
    pthread_mutex_unlock(lock);
}
