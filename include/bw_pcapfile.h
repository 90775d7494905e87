/* bw_pcapfile.h: the records of a classic pcap file (format 2.4, microsecond or nanosecond magic,
 * either byte order), parsed from bytes the caller has read. capture.c reads regular files this
 * way: from its own large buffer, without libpcap's two copies of every packet (into stdio's
 * buffer, then into its packet buffer). The checks, the cut to the snapshot length and the error
 * texts are libpcap's (1.10), so a file reads the same either way; tests/unit/test_capture.c and
 * the pcapfile fuzz harness compare the two. */
#ifndef BW_PCAPFILE_H
#define BW_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_PCAPFILE_HDR     24u
#define BW_PCAPFILE_RECHDR  16u
#define BW_PCAPFILE_MAXSNAP 262144u     /* libpcap's largest sane caplen for the link types read */

struct bw_pcapfile_fmt {
    bool swapped;                       /* written in the other byte order */
    bool nano;                          /* nanosecond time stamps (given here in microseconds) */
    uint32_t snapshot;                  /* the file's snapshot length as libpcap adjusted it */
};

struct bw_pcaprec {
    int64_t ts_sec, ts_usec;            /* as libpcap gives them (see pcapfile.c), usec scaled
                                         * from nanoseconds; usec is not checked to be < 10^6 */
    uint32_t caplen, len;               /* caplen cut to the snapshot length */
    const uint8_t *data;                /* caplen bytes, inside the caller's buffer */
    size_t size;                        /* bytes the record takes in the file */
};

enum bw_pcaprec_res {
    BW_PCAPREC_OK,                      /* *rec filled */
    BW_PCAPREC_MORE,                    /* not all of it is in the buffer: at least *need bytes */
    BW_PCAPREC_END,                     /* eof and nothing left */
    BW_PCAPREC_BAD,                     /* err filled (libpcap's words) */
};

/* The 24-byte file header: true for the format read here, fmt->swapped and ->nano set (snapshot
 * left to the caller). Anything else (pcapng, other versions, modified formats) is libpcap's. */
bool bw_pcapfile_header(const uint8_t *p, size_t n, struct bw_pcapfile_fmt *fmt);

/* The record at the start of p[0..n). eof: no more bytes will come after n. */
enum bw_pcaprec_res bw_pcapfile_record(const struct bw_pcapfile_fmt *fmt, const uint8_t *p, size_t n, bool eof,
                                       struct bw_pcaprec *rec, size_t *need, char *err, size_t errlen);

#endif
