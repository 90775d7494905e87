/* bw_capture.h: packets in, from pcap/pcapng files (or stdin) or a live interface.
 * capture.c is the only user of <pcap.h>. Errors come back as one line naming the source. */
#ifndef BW_CAPTURE_H
#define BW_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "bw_err.h"

struct bw_capture;

#define BW_CAPTURE_BLOCK_MS 50     /* live: the kernel hands over a block after at most this */
#define BW_CAPTURE_IDLE_MS  100    /* live: bw_capture_next returns 2 after this without packets */
#define BW_CAPTURE_IDLE_WORKERS_MS 5  /* ... with workers, whose records the reader hands on */

struct bw_capture_stats { uint64_t received, dropped, if_dropped; };

/* The link types decode.c reads, for the refusal line. */
#define BW_CAPTURE_DLTS_KNOWN "it reads Ethernet, Linux cooked SLL and SLL2, raw IPv4/IPv6 and BSD loopback"

/* Open a capture file ("-" = stdin) and apply the BPF expression (NULL = none). dlt_ok (NULL =
 * accept any) says which link types the caller can decode: a file of another one is refused.
 * Returns 0, BW_EIO (unreadable) or BW_EINVAL (bad filter, link type refused) with err filled. */
int bw_capture_open_file(struct bw_capture **out, const char *path, const char *bpf, bool (*dlt_ok)(int),
                         char *err, size_t errlen) BW_WARN_UNUSED;
/* Open a live interface: promiscuous, TPACKET_V3 blocks of at most BW_CAPTURE_BLOCK_MS,
 * buffer_mib of ring, snaplen. When its link type fails dlt_ok, the first one it offers that
 * passes is chosen; none: refused with BW_EINVAL before a packet is read. */
int bw_capture_open_live(struct bw_capture **out, const char *iface, int snaplen, int buffer_mib,
                         const char *bpf, bool (*dlt_ok)(int), char *err, size_t errlen) BW_WARN_UNUSED;

/* Live with workers: one socket per worker, all in one PACKET_FANOUT group of the interface
 * whose classic BPF program (PACKET_FANOUT_CBPF) picks the socket by a symmetric hash of the
 * packet's address pair, so both directions of every session between two hosts reach one
 * worker. bw_capture_fanout joins c (opened by bw_capture_open_live) to the group `*group`:
 * with *group 0 the kernel makes a new group of a unique id, sets the program and stores the
 * id in *group for the next sockets. Returns 0, or BW_EIO with err filled (the kernel refused:
 * the caller falls back to one socket). */
int bw_capture_fanout(struct bw_capture *c, uint32_t *group, char *err, size_t errlen) BW_WARN_UNUSED;
/* The group's program, one instruction per element (the layout of struct sock_filter and of
 * libpcap's struct bpf_insn), its loads relative to base: SKF_NET_OFF for the kernel (the
 * network header, wherever the link header ends), 0 to run it on a raw IP packet (tests).
 * IPv4: the sum of the two addresses; IPv6: of their eight 32-bit words; then multiplied and
 * folded (the kernel takes the result modulo the group's size). Anything else: 0. Returns the
 * number of instructions (at most BW_CAPTURE_FANOUT_INSNS). */
struct bw_bpf_insn { uint16_t code; uint8_t jt, jf; uint32_t k; };
#define BW_CAPTURE_FANOUT_INSNS 40
size_t bw_capture_fanout_prog(struct bw_bpf_insn *out, int32_t base);

/* Next packet: 1 = a packet (views valid until the next call, or kept: see below), 0 = end of
 * file (or bw_capture_break), 2 = live and no packet for BW_CAPTURE_IDLE_MS or a signal arrived
 * (call again), 3 = kept and every buffer still held (release, then call again), negative =
 * error (err filled). */
int bw_capture_next(struct bw_capture *c, const uint8_t **data, size_t *caplen, uint64_t *ts_us,
                    char *err, size_t errlen);
int  bw_capture_dlt(const struct bw_capture *c);
/* Files: true when the sensor reads the records itself (a regular classic pcap file), false when
 * libpcap does (pcapng, stdin, other formats, live). */
bool bw_capture_reads_records(const struct bw_capture *c);
/* Files the sensor reads itself: packets stay valid past the next call, so that others (the
 * workers) may read them where they are, without a copy. The file is read in chunks, one per
 * buffer of BW_CAPTURE_CHUNKS in turn, numbered from 0 (bw_capture_chunk: the last packet's); a
 * packet stays valid until its chunk is released, and bw_capture_next returns 3 when the next
 * buffer still holds chunk bw_capture_held(). Returns false when this capture cannot keep
 * (libpcap reads it, or no memory): its packets are valid until the next call, as always. */
#define BW_CAPTURE_CHUNKS 8
bool bw_capture_keep(struct bw_capture *c);
uint64_t bw_capture_chunk(const struct bw_capture *c);
uint64_t bw_capture_held(const struct bw_capture *c);
/* Every chunk below `below` may be overwritten. */
void bw_capture_release(struct bw_capture *c, uint64_t below);
/* Files the sensor reads itself, for readers of their own (the workers, bw_workers_read_file):
 * the descriptor to pread, the record format, the offset of the first record and the name for
 * error lines. False when libpcap reads this capture. */
struct bw_pcapfile_fmt;
struct bw_pcaprec;
struct bw_capture_records { int fd; const struct bw_pcapfile_fmt *fmt; uint64_t start; const char *name; };
bool bw_capture_records(const struct bw_capture *c, struct bw_capture_records *out);
/* The capture's filter (-f) on one record such a reader found: true to keep it (no filter: true).
 * Safe from several threads at once. */
bool bw_capture_keeps(const struct bw_capture *c, const struct bw_pcaprec *rec);
/* A record's time in microseconds, as bw_capture_next gives it (negative parts clamped). */
uint64_t bw_capture_ts(int64_t sec, int64_t usec);
/* Such a reader got to `end` (for bw_capture_offset). */
void bw_capture_consumed(struct bw_capture *c, uint64_t end);
/* Files: bytes of the file consumed so far (for progress); 0 when unknown (stdin, live). */
uint64_t bw_capture_offset(struct bw_capture *c);
/* Live only: kernel counters. Returns 0 or BW_EIO. */
int  bw_capture_stats(struct bw_capture *c, struct bw_capture_stats *st);
/* -D: the interfaces libpcap can capture on, one per line, as tcpdump -D prints them.
 * Returns 0, or BW_EIO with err filled (none found, no permission). */
int  bw_capture_list(FILE *out, char *err, size_t errlen) BW_WARN_UNUSED;
/* Live: how long bw_capture_next waits for a block before it returns 2 (default
 * BW_CAPTURE_IDLE_MS). */
void bw_capture_set_idle(struct bw_capture *c, int ms);
/* Make a blocked bw_capture_next() return (signal-safe). */
void bw_capture_break(struct bw_capture *c);
void bw_capture_close(struct bw_capture *c);

#endif
