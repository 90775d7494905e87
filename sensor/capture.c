/* capture.c: libpcap behind bw_capture.h; the only <pcap.h> user.
 * Offline files (pcap and pcapng, "-" = stdin; a regular classic pcap file's records are read by
 * pcapfile.c after libpcap opened it) and live interfaces (promiscuous, TPACKET_V3 blocks
 * retired by the kernel after at most BW_CAPTURE_BLOCK_MS, a ring of -B MiB). Every failure becomes
 * one line that names the file or interface and the cause. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <pcap/pcap.h>
#include "bw_capture.h"
#include "bw_pcapfile.h"

struct bw_capture {
    pcap_t *pc;
    const char *name;
    bool live;
    int fd;                        /* live: the packet socket, polled while no block is ready;
                                    * own reading: libpcap's descriptor of the file (pread at fpos) */
    int idle_ms;                   /* live: how long bw_capture_next waits before returning 2 */
    char *iobuf;                   /* a file's stdio buffer (freed after pcap_close closed the FILE) */
    /* A regular file in classic pcap format is read here (pcapfile.c), not by pcap_next_ex: */
    bool own;
    struct bw_pcapfile_fmt fmt;
    uint8_t *buf;                  /* BW_CAPTURE_READ_BUF bytes: [off, have) not yet taken */
    size_t have, off;
    /* Kept packets (bw_capture_keep): buf is one of nchunks buffers, each holding one chunk of
     * the file in turn; chunk `gen` is in buf, and a buffer is filled again only when the chunk
     * it holds is released (below `released`). */
    uint8_t *chunk[BW_CAPTURE_CHUNKS];
    unsigned nchunks;
    uint64_t gen, released;
    uint64_t fpos;                 /* file offset of buf + have */
    bool eof;
    bool filtered;                 /* prog holds the BPF filter */
    struct bpf_program prog;
    volatile sig_atomic_t brk;     /* bw_capture_break */
};

/* A file is read through a buffer of this size instead of stdio's st_blksize (4 KiB): one read(2)
 * per 256 KiB rather than one per page. */
#define BW_CAPTURE_FILE_BUF (256u * 1024u)

/* Own reads: one pread(2) per 512 KiB into a buffer the packets are handed out from, so every
 * packet is copied once (by the kernel) instead of three times (into stdio's buffer, libpcap's,
 * then the caller's use). Larger than the largest record (16 + 262144 bytes); small enough to
 * stay in the core's cache while its packets are used (1 MiB was slower here). */
#define BW_CAPTURE_READ_BUF (512u * 1024u)
#define BW_CAPTURE_HELD 3              /* bw_capture_next's "every buffer held" */

/* A regular file of classic pcap records is read by the sensor itself, after libpcap has opened
 * it and checked its header (link type, snapshot length). A byte-swapped file only when its link
 * type has no pseudo-header libpcap would swap. Anything else stays libpcap's. */
static void own_reading(struct bw_capture *c)
{
    FILE *f = pcap_file(c->pc);
    struct stat st;
    uint8_t hdr[BW_PCAPFILE_HDR];
    int fd = f ? fileno(f) : -1;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || !bw_pcapfile_header(hdr, sizeof hdr, &c->fmt))
        return;
    int dlt = pcap_datalink(c->pc);
    if (c->fmt.swapped && dlt != DLT_EN10MB && dlt != DLT_RAW && dlt != DLT_IPV4 && dlt != DLT_IPV6) return;
    int snap = pcap_snapshot(c->pc);
    if (snap <= 0 || (unsigned)snap > BW_PCAPFILE_MAXSNAP) return;
    if (!(c->buf = c->chunk[0] = malloc(BW_CAPTURE_READ_BUF))) return;
    c->nchunks = 1;
    c->gen = c->released = 0;
    c->fmt.snapshot = (uint32_t)snap;
    c->fd = fd;
    c->fpos = BW_PCAPFILE_HDR;
    c->own = true;
}

/* More of the file into the buffer, after what is left of it. Kept: into the next buffer, where
 * the record begun in this one is copied first; BW_CAPTURE_HELD while that buffer's chunk is
 * not released. */
static int own_fill(struct bw_capture *c, char *err, size_t errlen)
{
    if (c->nchunks > 1 && c->fpos > BW_PCAPFILE_HDR) {
        uint64_t next = c->gen + 1;
        if (next >= c->released + c->nchunks) return BW_CAPTURE_HELD;
        uint8_t *nb = c->chunk[next % c->nchunks];
        memcpy(nb, c->buf + c->off, c->have - c->off);
        c->have -= c->off;
        c->off = 0;
        c->buf = nb;
        c->gen = next;
    } else if (c->off) {
        memmove(c->buf, c->buf + c->off, c->have - c->off);
        c->have -= c->off;
        c->off = 0;
    }
    while (c->have < BW_CAPTURE_READ_BUF) {
        ssize_t r = pread(c->fd, c->buf + c->have, BW_CAPTURE_READ_BUF - c->have, (off_t)c->fpos);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read capture '%s': error reading dump file: %s", c->name, strerror(errno));
            return BW_EIO;
        }
        if (r == 0) { c->eof = true; break; }
        c->have += (size_t)r;
        c->fpos += (uint64_t)r;
    }
    return 0;
}

static int own_next(struct bw_capture *c, const uint8_t **data, size_t *caplen, int64_t *sec, int64_t *usec,
                    char *err, size_t errlen)
{
    for (;;) {
        if (c->brk) return 0;
        struct bw_pcaprec rec;
        size_t need;
        char why[160];
        enum bw_pcaprec_res r = bw_pcapfile_record(&c->fmt, c->buf + c->off, c->have - c->off, c->eof, &rec,
                                                   &need, why, sizeof why);
        if (r == BW_PCAPREC_MORE) {
            int rc = own_fill(c, err, errlen);
            if (rc) return rc;
            continue;
        }
        if (r == BW_PCAPREC_END) return 0;
        if (r == BW_PCAPREC_BAD) {
            snprintf(err, errlen, "cannot read capture '%s': %s", c->name, why);
            return BW_EIO;
        }
        c->off += rec.size;
        if (!bw_capture_keeps(c, &rec)) continue;
        *data = rec.data;
        *caplen = rec.caplen;
        *sec = rec.ts_sec;
        *usec = rec.ts_usec;
        return 1;
    }
}

/* pcap_open_offline, with the file opened here so that it gets the larger buffer; "-" stays
 * libpcap's (stdin). An unopenable file is said as libpcap says it: "PATH: strerror". */
static pcap_t *open_offline(struct bw_capture *c, const char *path, char *perr)
{
    if (strcmp(path, "-") == 0)
        return pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(perr, PCAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
        return NULL;
    }
    c->iobuf = malloc(BW_CAPTURE_FILE_BUF);
    if (c->iobuf) setvbuf(f, c->iobuf, _IOFBF, BW_CAPTURE_FILE_BUF);
    pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (!pc) {
        fclose(f);
        free(c->iobuf);
        c->iobuf = NULL;
    }
    return pc;
}

static int apply_bpf(struct bw_capture *c, const char *bpf, char *err, size_t errlen)
{
    if (!bpf || !*bpf) return 0;
    struct bpf_program prog;
    if (pcap_compile(c->pc, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "invalid filter expression '%s': %s", bpf, pcap_geterr(c->pc));
        return BW_EINVAL;
    }
    if (c->own) {                  /* run by own_next, as libpcap runs it on a file */
        c->prog = prog;
        c->filtered = true;
        return 0;
    }
    int rc = pcap_setfilter(c->pc, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot set filter: %s", c->name, pcap_geterr(c->pc));
        return BW_EIO;
    }
    return 0;
}

/* "IEEE802_11_RADIO (802.11 plus radiotap header)", or the number when libpcap has no name. */
static const char *dlt_describe(int dlt, char *buf, size_t len)
{
    const char *name = pcap_datalink_val_to_name(dlt);
    const char *desc = pcap_datalink_val_to_description(dlt);
    if (name && desc) snprintf(buf, len, "%s (%s)", name, desc);
    else snprintf(buf, len, "%d", dlt);
    return buf;
}

/* Live: an interface may offer several link types (a Wi-Fi card in monitor mode: radiotap, and
 * sometimes plain 802.11 or Ethernet); take the first one decode knows, else refuse. */
static int choose_dlt(struct bw_capture *c, bool (*dlt_ok)(int), char *err, size_t errlen)
{
    int dlt = pcap_datalink(c->pc);
    if (!dlt_ok || dlt_ok(dlt)) return 0;
    int *list = NULL;
    int n = pcap_list_datalinks(c->pc, &list);
    for (int i = 0; i < n; i++) {
        if (dlt_ok(list[i]) && pcap_set_datalink(c->pc, list[i]) == 0) {
            pcap_free_datalinks(list);
            return 0;
        }
    }
    if (n >= 0) pcap_free_datalinks(list);
    char what[128];
    snprintf(err, errlen, "cannot capture on interface '%s': link type %s, which brokerwatch does not "
             "decode (%s)", c->name, dlt_describe(dlt, what, sizeof what), BW_CAPTURE_DLTS_KNOWN);
    return BW_EINVAL;
}

int bw_capture_open_file(struct bw_capture **out, const char *path, const char *bpf, bool (*dlt_ok)(int),
                         char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct bw_capture *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) { snprintf(err, errlen, "out of memory"); return BW_ENOMEM; }
    c->name = path;
    c->pc = open_offline(c, path, perr);
    if (!c->pc) {
        snprintf(err, errlen, "cannot read capture '%s': %s", path, perr);
        free(c);
        return BW_EIO;
    }
    int dlt = pcap_datalink(c->pc);
    if (dlt_ok && !dlt_ok(dlt)) {
        /* A file of 802.11 radio frames, USB packets, ...: say so, rather than read it all and
         * report nothing, as if the capture held no broker traffic. */
        char what[128];
        snprintf(err, errlen, "cannot read capture '%s': link type %s, which brokerwatch does not decode "
                 "(%s)", path, dlt_describe(dlt, what, sizeof what), BW_CAPTURE_DLTS_KNOWN);
        bw_capture_close(c);
        return BW_EINVAL;
    }
    if (strcmp(path, "-") != 0) own_reading(c);  /* stdin may not start at its offset 0 */
    int rc = apply_bpf(c, bpf, err, errlen);
    if (rc) { bw_capture_close(c); return rc; }
    *out = c;
    return 0;
}

int bw_capture_open_live(struct bw_capture **out, const char *iface, int snaplen, int buffer_mib,
                         const char *bpf, bool (*dlt_ok)(int), char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct bw_capture *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) { snprintf(err, errlen, "out of memory"); return BW_ENOMEM; }
    c->name = iface;
    c->live = true;
    c->pc = pcap_create(iface, perr);
    if (!c->pc) { snprintf(err, errlen, "cannot open interface '%s': %s", iface, perr); free(c); return BW_EIO; }
    pcap_set_snaplen(c->pc, snaplen);
    pcap_set_promisc(c->pc, 1);
    /* No immediate mode: libpcap then uses TPACKET_V3, where the kernel fills whole blocks of the
     * ring and wakes the sensor once per block, or after BW_CAPTURE_BLOCK_MS when a block has
     * packets but is not full; so a busy link costs one wake-up per block, not per packet, and
     * an alert is at most that late. The ring (-B) is mapped page by page at activation
     * (vm_insert_page), so reading it never page-faults. */
    pcap_set_immediate_mode(c->pc, 0);
    pcap_set_timeout(c->pc, BW_CAPTURE_BLOCK_MS);
    pcap_set_buffer_size(c->pc, buffer_mib * 1024 * 1024);
    int rc = pcap_activate(c->pc);
    if (rc < 0) {
        const char *why = rc == PCAP_ERROR ? pcap_geterr(c->pc) : pcap_statustostr(rc);
        snprintf(err, errlen, "cannot capture on interface '%s': %s", iface, why);
        bw_capture_close(c);
        return BW_EIO;
    }
    /* The link type first: an interface we cannot decode is refused for that reason. */
    rc = choose_dlt(c, dlt_ok, err, errlen);
    if (rc) { bw_capture_close(c); return rc; }
    /* With a block timeout, libpcap's own wait on TPACKET_V3 blocks forever while the link is
     * quiet (the kernel retires only blocks that hold packets). Non-blocking reads and our own
     * poll() with a timeout let the caller run its timers (stats, reports, signals) anyway. */
    c->fd = pcap_get_selectable_fd(c->pc);
    c->idle_ms = BW_CAPTURE_IDLE_MS;
    if (c->fd < 0 || pcap_setnonblock(c->pc, 1, perr) != 0) {
        snprintf(err, errlen, "cannot capture on interface '%s': no pollable descriptor (%s)", iface,
                 perr[0] ? perr : "pcap_get_selectable_fd");
        bw_capture_close(c);
        return BW_EIO;
    }
    rc = apply_bpf(c, bpf, err, errlen);
    if (rc) { bw_capture_close(c); return rc; }
    *out = c;
    return 0;
}

void bw_capture_set_idle(struct bw_capture *c, int ms)
{
    if (ms > 0) c->idle_ms = ms;
}

/* Negative or absurd times in a hostile file are clamped, never trusted for arithmetic. */
uint64_t bw_capture_ts(int64_t sec, int64_t usec)
{
    return (uint64_t)(sec < 0 ? 0 : sec) * 1000000u + (uint64_t)(usec < 0 ? 0 : usec) % 1000000u;
}

int bw_capture_next(struct bw_capture *c, const uint8_t **data, size_t *caplen, uint64_t *ts_us,
                    char *err, size_t errlen)
{
    if (c->own) {
        int64_t sec, usec;
        int rc = own_next(c, data, caplen, &sec, &usec, err, errlen);
        if (rc == 1) *ts_us = bw_capture_ts(sec, usec);
        return rc;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc = pcap_next_ex(c->pc, &h, &d);
    if (rc == 0 && c->live) {
        /* No block ready: wait for the next one, at most idle_ms (a signal ends the wait too). */
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int pr = poll(&pfd, 1, c->idle_ms);
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "capture failed on interface '%s': poll: %s", c->name, strerror(errno));
            return BW_EIO;
        }
        if (pr <= 0) return 2;
        rc = pcap_next_ex(c->pc, &h, &d);
    }
    if (rc == 1) {
        *data = d;
        *caplen = h->caplen;
        *ts_us = bw_capture_ts(h->ts.tv_sec, h->ts.tv_usec);
        return 1;
    }
    if (rc == 0) return 2;                         /* live timeout */
    if (rc == PCAP_ERROR_BREAK) return 0;          /* end of file, or bw_capture_break() */
    snprintf(err, errlen, "%s '%s': %s", c->live ? "capture failed on interface" : "cannot read capture",
             c->name, pcap_geterr(c->pc));
    return BW_EIO;
}

/* ---- live fanout ---- */

_Static_assert(sizeof(struct bw_bpf_insn) == sizeof(struct sock_filter), "one classic BPF instruction");
_Static_assert(sizeof(struct bw_bpf_insn) == sizeof(struct bpf_insn), "libpcap's layout too");

static struct bw_bpf_insn insn(uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    return (struct bw_bpf_insn){ code, jt, jf, k };
}

size_t bw_capture_fanout_prog(struct bw_bpf_insn *o, int32_t base)
{
    size_t n = 0;
    uint32_t b = (uint32_t)base;
    /* the IP version, from the network header's first byte */
    o[n++] = insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, b);
    o[n++] = insn(BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4);
    o[n++] = insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 4);           /* 4: next block */
    o[n++] = insn(BPF_JMP | BPF_JEQ | BPF_K, 5, 32, 6);          /* 6: the IPv6 block; else 0 */
    /* IPv4: source + destination */
    o[n++] = insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, b + 12);
    o[n++] = insn(BPF_MISC | BPF_TAX, 0, 0, 0);
    o[n++] = insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, b + 16);
    o[n++] = insn(BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0);
    o[n++] = insn(BPF_JMP | BPF_JA, 0, 0, 22);                   /* to the mix */
    /* IPv6: the eight words of source and destination (bytes 8 to 39) */
    o[n++] = insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, b + 8);
    o[n++] = insn(BPF_MISC | BPF_TAX, 0, 0, 0);
    for (uint32_t off = 12; off < 40; off += 4) {
        o[n++] = insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, b + off);
        o[n++] = insn(BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0);
        if (off < 36) o[n++] = insn(BPF_MISC | BPF_TAX, 0, 0, 0);
    }
    /* the mix: multiplied by an odd constant, the high half folded onto the low one */
    o[n++] = insn(BPF_ALU | BPF_MUL | BPF_K, 0, 0, 0x9e3779b1u);
    o[n++] = insn(BPF_MISC | BPF_TAX, 0, 0, 0);
    o[n++] = insn(BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16);
    o[n++] = insn(BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
    o[n++] = insn(BPF_RET | BPF_A, 0, 0, 0);
    o[n++] = insn(BPF_RET | BPF_K, 0, 0, 0);                     /* neither IPv4 nor IPv6 */
    return n;
}

int bw_capture_fanout(struct bw_capture *c, uint32_t *group, char *err, size_t errlen)
{
    /* PACKET_FANOUT's argument: the group id in the low 16 bits, mode and flags above */
    uint32_t arg = *group ? (*group & 0xffffu) | ((uint32_t)PACKET_FANOUT_CBPF << 16)
                          : (uint32_t)(PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
    if (setsockopt(c->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
        snprintf(err, errlen, "interface '%s': cannot join a PACKET_FANOUT group: %s", c->name, strerror(errno));
        return BW_EIO;
    }
    if (*group) return 0;
    uint32_t got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(c->fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) {
        snprintf(err, errlen, "interface '%s': cannot read the PACKET_FANOUT group: %s", c->name, strerror(errno));
        return BW_EIO;
    }
    struct bw_bpf_insn prog[BW_CAPTURE_FANOUT_INSNS];
    struct sock_fprog fp = { .len = (unsigned short)bw_capture_fanout_prog(prog, SKF_NET_OFF),
                             .filter = (struct sock_filter *)prog };
    if (setsockopt(c->fd, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof fp) != 0) {
        snprintf(err, errlen, "interface '%s': cannot set the PACKET_FANOUT program: %s", c->name, strerror(errno));
        return BW_EIO;
    }
    *group = (got & 0xffffu) | 0x10000u;           /* never 0 once made */
    return 0;
}

int bw_capture_dlt(const struct bw_capture *c) { return pcap_datalink(c->pc); }

bool bw_capture_reads_records(const struct bw_capture *c) { return c->own; }

uint64_t bw_capture_offset(struct bw_capture *c)
{
    if (c->live) return 0;
    if (c->own) return c->fpos - (c->have - c->off);
    FILE *f = pcap_file(c->pc);
    long off = f ? ftell(f) : -1;
    return off > 0 ? (uint64_t)off : 0;
}

int bw_capture_stats(struct bw_capture *c, struct bw_capture_stats *st)
{
    struct pcap_stat ps;
    memset(st, 0, sizeof *st);
    if (!c->live || pcap_stats(c->pc, &ps) != 0) return BW_EIO;
    st->received = ps.ps_recv;
    st->dropped = ps.ps_drop;
    st->if_dropped = ps.ps_ifdrop;
    return 0;
}

int bw_capture_list(FILE *out, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    if (pcap_findalldevs(&all, perr) != 0) {
        snprintf(err, errlen, "cannot list capture interfaces: %s", perr);
        return BW_EIO;
    }
    int n = 0;
    for (pcap_if_t *d = all; d; d = d->next) {
        /* tcpdump -D's shape: number, name, description, state */
        bpf_u_int32 fl = d->flags;
        const char *conn = "";
        switch (fl & PCAP_IF_CONNECTION_STATUS) {
        case PCAP_IF_CONNECTION_STATUS_CONNECTED: conn = ", Connected"; break;
        case PCAP_IF_CONNECTION_STATUS_DISCONNECTED: conn = ", Disconnected"; break;
        default: break;
        }
        fprintf(out, "%d.%s%s%s%s [%s%s%s%s]\n", ++n, d->name, d->description ? " (" : "",
                d->description ? d->description : "", d->description ? ")" : "",
                (fl & PCAP_IF_UP) ? "Up" : "Down", (fl & PCAP_IF_RUNNING) ? ", Running" : "",
                (fl & PCAP_IF_LOOPBACK) ? ", Loopback" : "", conn);
    }
    pcap_freealldevs(all);
    if (n == 0) {
        snprintf(err, errlen, "no capture interfaces found (capturing needs root or CAP_NET_RAW)");
        return BW_EIO;
    }
    return fflush(out) == 0 ? 0 : BW_EIO;
}

void bw_capture_break(struct bw_capture *c)
{
    if (!c) return;
    c->brk = 1;
    if (c->pc) pcap_breakloop(c->pc);
}

bool bw_capture_keep(struct bw_capture *c)
{
    if (!c->own) return false;
    if (c->nchunks > 1) return true;
    for (unsigned i = 1; i < BW_CAPTURE_CHUNKS; i++)
        if (!(c->chunk[i] = malloc(BW_CAPTURE_READ_BUF))) {
            while (--i) { free(c->chunk[i]); c->chunk[i] = NULL; }
            return false;
        }
    c->nchunks = BW_CAPTURE_CHUNKS;
    return true;
}

bool bw_capture_records(const struct bw_capture *c, struct bw_capture_records *out)
{
    if (!c->own || c->live) return false;
    *out = (struct bw_capture_records){ c->fd, &c->fmt, BW_PCAPFILE_HDR, c->name };
    return true;
}

bool bw_capture_keeps(const struct bw_capture *c, const struct bw_pcaprec *rec)
{
    if (!c->filtered) return true;
    struct pcap_pkthdr h = { .caplen = rec->caplen, .len = rec->len };   /* the filter reads lengths only */
    return pcap_offline_filter(&c->prog, &h, rec->data) != 0;
}

void bw_capture_consumed(struct bw_capture *c, uint64_t end)
{
    c->fpos = end;
    c->have = c->off = 0;
}

uint64_t bw_capture_chunk(const struct bw_capture *c) { return c->gen; }
uint64_t bw_capture_held(const struct bw_capture *c) { return c->gen + 1 - c->nchunks; }

void bw_capture_release(struct bw_capture *c, uint64_t below)
{
    if (below > c->released) c->released = below > c->gen ? c->gen : below;
}

void bw_capture_close(struct bw_capture *c)
{
    if (!c) return;
    if (c->filtered) pcap_freecode(&c->prog);
    if (c->pc) pcap_close(c->pc);
    for (unsigned i = 0; i < BW_CAPTURE_CHUNKS; i++) free(c->chunk[i]);
    free(c->iobuf);
    free(c);
}
