/* bw_evidence.h: the evidence capture (-w FILE): the frames of every session that raised an
 * alert, in pcap format, with every password byte overwritten and the TCP checksums made valid
 * again, so the file opens in Wireshark/tshark with the session intact and no secret in it.
 * The writer never sees flows or facts: the pipeline hands it frames (from the hold, bw_hold.h)
 * and a mask (where the passwords and unexamined client bytes lie, by TCP sequence number). */
#ifndef BW_EVIDENCE_H
#define BW_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_facts.h"

#define BW_EVIDENCE_FILL '*'          /* what overwritten bytes read as */
#define BW_EVIDENCE_SNAPLEN 262144

/* What to overwrite in the frames of one session. Ranges are by direction (BW_DIR_*) and TCP
 * sequence number (serial arithmetic), so every copy of a byte is found: retransmissions,
 * overlaps, a password split over segments. */
struct bw_evidence_mask {
    uint8_t  ip_ver;
    uint8_t  cli[16];                 /* the client's end: its frames are BW_DIR_TOSERVER */
    uint16_t cli_port;
    const struct bw_secret_pos *pos;  /* byte ranges to overwrite */
    size_t   npos;
    bool     all[2];                  /* overwrite every payload byte of that direction */
};

struct bw_scrub_result {
    size_t masked;                    /* payload bytes overwritten in this frame */
    bool   tcp;                       /* the frame is a TCP segment of the session */
    bool   checksum_set;              /* the TCP checksum was computed anew (whole segment captured)
                                       * or updated for the overwritten bytes (cut by snaplen) */
    size_t wire_len;                  /* the frame's length on the wire by its IP header (cut by
                                       * snaplen: more than captured); 0 when not TCP */
    size_t l3_off;                    /* where its IP header begins (TCP only) */
    uint8_t ip_ver;                   /* 4 or 6 (TCP only) */
};

/* Overwrite, in place, the payload bytes of `frame` that m covers with BW_EVIDENCE_FILL, then
 * make its TCP checksum valid: computed over the whole segment when it was captured whole
 * (captures taken on the sending host carry unfinished, offloaded checksums), otherwise
 * adjusted for the bytes changed. The IP header is never touched. Frames that are not TCP are
 * left alone. */
void bw_evidence_scrub(int dlt, uint8_t *frame, size_t caplen, const struct bw_evidence_mask *m,
                       struct bw_scrub_result *out);

struct bw_evidence_stats {
    uint64_t sessions, frames, bytes;       /* written to the file */
    uint64_t frames_masked, bytes_masked;   /* frames with overwritten bytes, and those bytes */
    uint64_t sessions_total_cap;            /* sessions left out: --evidence-max-total reached */
    uint64_t frames_total_cap;              /* ... their frames */
    uint64_t frames_relinked;               /* frames of another link type than the file's,
                                             * written with the file's link header instead */
    uint64_t frames_other_link;             /* ... that the file's link type cannot hold: left out */
    uint64_t write_errors;
};

struct bw_evidence;

/* Open (or create, mode 0640) the evidence file. An existing pcap file of this format is
 * appended to (a restart or a SIGHUP keeps what is there); an empty or new one gets its header
 * with the first frame. max_total: bytes the file may grow by in this run (0 = no bound).
 * Returns NULL with one line in err (not a pcap file, cannot open). *created: the file did not
 * exist (for the hand-over to -Z USER). */
struct bw_evidence *bw_evidence_open(const char *path, uint64_t max_total, bool *created, char *err, size_t errlen);

/* The link type of the capture being read: the header of an empty file says it when no frame
 * was ever written (an empty but valid capture). */
void bw_evidence_link_hint(struct bw_evidence *w, int dlt);

/* A session of `frames` frames of link type dlt and `caplen_sum` captured bytes is about to be
 * written: false (counted) when --evidence-max-total would be passed, and then nothing of it is
 * written. Frames of another link type than the file's are counted at their largest relinked
 * size. */
bool bw_evidence_begin(struct bw_evidence *w, int dlt, uint32_t frames, uint64_t caplen_sum);
/* One frame of the session (already scrubbed). Counted; errors are remembered, not returned.
 * A frame of another link type than the file's (a second -r file) is written with the file's
 * link header in place of its own (Ethernet: zero addresses; Linux cooked: no address; BSD
 * loopback: the family; raw IP: none), the IP packet as captured, where sr (the frame's
 * scrub) says it begins; one the file's type cannot hold (IPv6 in an IPv4-only file, a link
 * type the sensor does not write, a frame that is not TCP) is left out. */
void bw_evidence_frame(struct bw_evidence *w, int dlt, uint64_t ts_us, const uint8_t *frame, size_t caplen,
                       const struct bw_scrub_result *sr);
/* End of the session: its records go to the file (whole records only). */
void bw_evidence_end(struct bw_evidence *w);

/* SIGHUP: flush to the old file, open the path anew. On failure the old file stays (nothing is
 * lost): BW_E* and one line in err. */
int  bw_evidence_reopen(struct bw_evidence *w, char *err, size_t errlen) BW_WARN_UNUSED;

/* Flush and close; returns 0 or the first error's code, with its line in err. Frees w. */
int  bw_evidence_close(struct bw_evidence *w, char *err, size_t errlen);

void bw_evidence_get_stats(const struct bw_evidence *w, struct bw_evidence_stats *out);

#endif
