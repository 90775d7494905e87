/* capture.c: libpcap behind bw_capture.h; the only <pcap.h> user.
 * Offline files (pcap and pcapng, "-" = stdin) and live interfaces (promiscuous, immediate mode,
 * kernel buffer). Every failure becomes one line that names the file or interface and the cause. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>
#include "bw_capture.h"

struct bw_capture {
    pcap_t *pc;
    const char *name;
    bool live;
};

static int apply_bpf(struct bw_capture *c, const char *bpf, char *err, size_t errlen)
{
    if (!bpf || !*bpf) return 0;
    struct bpf_program prog;
    if (pcap_compile(c->pc, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "invalid filter expression '%s': %s", bpf, pcap_geterr(c->pc));
        return BW_EINVAL;
    }
    int rc = pcap_setfilter(c->pc, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot set filter: %s", c->name, pcap_geterr(c->pc));
        return BW_EIO;
    }
    return 0;
}

int bw_capture_open_file(struct bw_capture **out, const char *path, const char *bpf, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct bw_capture *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) { snprintf(err, errlen, "out of memory"); return BW_ENOMEM; }
    c->name = path;
    c->pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (!c->pc) {
        snprintf(err, errlen, "cannot read capture '%s': %s", path, perr);
        free(c);
        return BW_EIO;
    }
    int rc = apply_bpf(c, bpf, err, errlen);
    if (rc) { bw_capture_close(c); return rc; }
    *out = c;
    return 0;
}

int bw_capture_open_live(struct bw_capture **out, const char *iface, int snaplen, int buffer_mib,
                         const char *bpf, char *err, size_t errlen)
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
    pcap_set_immediate_mode(c->pc, 1);         /* no batching delay: alerts leave promptly */
    pcap_set_timeout(c->pc, 100);              /* wake up to run timers even when idle */
    pcap_set_buffer_size(c->pc, buffer_mib * 1024 * 1024);
    int rc = pcap_activate(c->pc);
    if (rc < 0) {
        const char *why = rc == PCAP_ERROR ? pcap_geterr(c->pc) : pcap_statustostr(rc);
        snprintf(err, errlen, "cannot capture on interface '%s': %s", iface, why);
        bw_capture_close(c);
        return BW_EIO;
    }
    rc = apply_bpf(c, bpf, err, errlen);
    if (rc) { bw_capture_close(c); return rc; }
    *out = c;
    return 0;
}

int bw_capture_next(struct bw_capture *c, const uint8_t **data, size_t *caplen, uint64_t *ts_us,
                    char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc = pcap_next_ex(c->pc, &h, &d);
    if (rc == 1) {
        *data = d;
        *caplen = h->caplen;
        /* Negative or absurd times in a hostile file are clamped, never trusted for arithmetic. */
        uint64_t sec = h->ts.tv_sec < 0 ? 0 : (uint64_t)h->ts.tv_sec;
        uint64_t usec = h->ts.tv_usec < 0 ? 0 : (uint64_t)h->ts.tv_usec % 1000000u;
        *ts_us = sec * 1000000u + usec;
        return 1;
    }
    if (rc == 0) return 2;                         /* live timeout */
    if (rc == PCAP_ERROR_BREAK) return 0;          /* end of file, or bw_capture_break() */
    snprintf(err, errlen, "%s '%s': %s", c->live ? "capture failed on interface" : "cannot read capture",
             c->name, pcap_geterr(c->pc));
    return BW_EIO;
}

int bw_capture_dlt(const struct bw_capture *c) { return pcap_datalink(c->pc); }

uint64_t bw_capture_offset(struct bw_capture *c)
{
    if (c->live) return 0;
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

void bw_capture_break(struct bw_capture *c) { if (c && c->pc) pcap_breakloop(c->pc); }

void bw_capture_close(struct bw_capture *c)
{
    if (!c) return;
    if (c->pc) pcap_close(c->pc);
    free(c);
}
