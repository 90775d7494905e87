/* pcap_compare.h: read one capture file twice, through bw_capture (which reads a classic pcap file
 * itself) and through libpcap's own pcap_next_ex, and say where they differ: a packet's bytes,
 * length or time, the number of packets, or how the file ends (its end, or the same error).
 * For tests/unit/test_capture.c and the pcapfile fuzz harness. */
#ifndef BW_PCAP_COMPARE_H
#define BW_PCAP_COMPARE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <pcap/pcap.h>
#include "bw_capture.h"

struct pcap_cmp {
    unsigned long packets;          /* read alike */
    bool own_read;                  /* bw_capture read the records itself (not libpcap) */
    bool error;                     /* both ended with the same error */
    char why[512];                  /* empty when both read the same */
};

/* 0 = the same, 1 = they differ (c->why), -1 = neither opened it (not a file either reads).
 * keep: bw_capture keeps the packets (bw_capture_keep: read ahead in chunks), each chunk released
 * when the next is wanted. */
static inline int pcap_compare(const char *path, const char *bpf, bool keep, struct pcap_cmp *c)
{
    char err[512] = "", perr[PCAP_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof *c);
    pcap_t *ref = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    struct bw_capture *cap = NULL;
    int orc = bw_capture_open_file(&cap, path, bpf, NULL, err, sizeof err);
    if (!ref || orc != 0) {
        if (ref) pcap_close(ref);
        bw_capture_close(cap);
        if (!ref && orc != 0) return -1;
        snprintf(c->why, sizeof c->why, "only one opened it: libpcap %s, bw_capture %s", ref ? "yes" : perr,
                 orc == 0 ? "yes" : err);
        return 1;
    }
    if (bpf) {
        struct bpf_program prog;
        if (pcap_compile(ref, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(ref, &prog) != 0) {
            snprintf(c->why, sizeof c->why, "filter: %s", pcap_geterr(ref));
            pcap_close(ref);
            bw_capture_close(cap);
            return 1;
        }
        pcap_freecode(&prog);
    }
    c->own_read = bw_capture_reads_records(cap);
    if (keep && c->own_read && !bw_capture_keep(cap)) {
        snprintf(c->why, sizeof c->why, "bw_capture_keep refused a file it reads itself");
        pcap_close(ref);
        bw_capture_close(cap);
        return 1;
    }
    int rc = 0;
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *d;
        int r1 = pcap_next_ex(ref, &h, &d);
        const uint8_t *data;
        size_t caplen;
        uint64_t ts;
        err[0] = '\0';
        int r2;
        while ((r2 = bw_capture_next(cap, &data, &caplen, &ts, err, sizeof err)) == 3)
            bw_capture_release(cap, bw_capture_chunk(cap));
        if (r1 == 1 && r2 == 1) {
            uint64_t sec = h->ts.tv_sec < 0 ? 0 : (uint64_t)h->ts.tv_sec;
            uint64_t usec = h->ts.tv_usec < 0 ? 0 : (uint64_t)h->ts.tv_usec % 1000000u;
            if (caplen != h->caplen || memcmp(data, d, caplen) != 0 || ts != sec * 1000000u + usec) {
                snprintf(c->why, sizeof c->why, "packet %lu: caplen %zu/%u, time %llu/%llu", c->packets + 1,
                         caplen, h->caplen, (unsigned long long)ts, (unsigned long long)(sec * 1000000u + usec));
                rc = 1;
                break;
            }
            c->packets++;
            continue;
        }
        if (r1 == PCAP_ERROR_BREAK && r2 == 0) break;              /* both at the end */
        if (r1 == PCAP_ERROR && r2 < 0) {
            const char *ours = strstr(err, "': ");
            if (!ours || strcmp(ours + 3, pcap_geterr(ref)) != 0) {
                snprintf(c->why, sizeof c->why, "after %lu packets, different errors: libpcap '%s', bw_capture '%s'",
                         c->packets, pcap_geterr(ref), err);
                rc = 1;
            }
            c->error = true;
            break;
        }
        snprintf(c->why, sizeof c->why, "after %lu packets: libpcap %d (%s), bw_capture %d (%s)", c->packets, r1,
                 r1 == PCAP_ERROR ? pcap_geterr(ref) : "", r2, err);
        rc = 1;
        break;
    }
    pcap_close(ref);
    bw_capture_close(cap);
    return rc;
}

#endif
