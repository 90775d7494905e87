/* bw_workers.h: N pipelines side by side. One reader (the caller's thread) hands every packet to
 * the worker that a symmetric hash of its address pair chooses, so all sessions between one
 * client and one broker (and so their brute-force window) are one worker's; each worker owns a
 * whole pipeline (flow table, pools, nDPI, counters) on its own thread, fed through a
 * single-producer ring. Records come back through one ring per worker and reach the sinks from
 * the reader's thread (the one writer), so one session's records keep their order. With one
 * worker there is no thread and no ring: packets go straight into the pipeline.
 * The caps of the configuration (flows, sessions, probes, stream memory, nDPI slots, evidence
 * hold) are shared out: each worker gets its part. The known-broker memory is shared by all
 * (bw_known.h). Stats, refusals and the exposure report are the sum of the workers' parts. */
#ifndef BW_WORKERS_H
#define BW_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_config.h"
#include "bw_pipeline.h"

#define BW_WORKERS_MAX 16

struct bw_workers;
struct bw_capture;
struct bw_capture_stats;

/* n workers (1..BW_WORKERS_MAX) over cfg (kept by pointer); live: a live capture or a paced
 * replay (each packet is handed on at once rather than in batches, so records leave promptly).
 * The workers' pipelines are made side by side, on short-lived threads that have ended when this
 * returns. Returns 0, BW_EINVAL or the first worker's error (BW_ENOMEM: its pools could not be
 * made). */
int  bw_workers_new(struct bw_workers **out, const struct bw_config *cfg, unsigned n, bool live,
                    const struct bw_dissector *const *tab, size_t ntab) BW_WARN_UNUSED;
unsigned bw_workers_count(const struct bw_workers *ws);
/* Before start: every pipeline, for the caller's settings (evidence writer, TLS hooks, ...). */
struct bw_pipeline *bw_workers_pipeline(struct bw_workers *ws, unsigned i);
/* Before start: a sink every record goes to (the workers never touch it: the writer does). */
int  bw_workers_add_sink(struct bw_workers *ws, struct bw_sink *s) BW_WARN_UNUSED;
/* Before start: one line for a person from any worker (capacity warnings), called by the writer. */
void bw_workers_set_notice(struct bw_workers *ws, void (*fn)(void *ctx, const char *line), void *ctx);
/* Start the threads (nothing with one worker). Returns 0 or BW_ENOMEM (no thread could start). */
int  bw_workers_start(struct bw_workers *ws) BW_WARN_UNUSED;

/* Live, before start: every worker reads a socket of its own, caps[i] (n: one per worker), all
 * in one PACKET_FANOUT group (bw_capture_fanout), so that no reader stands between the kernel
 * and the workers: each worker takes its packets, its timers run on the wall clock while its
 * socket is quiet, and it answers the control requests between two packets. Packets with a
 * time before start_us were received before the group was whole (then every socket had a copy)
 * and are left out. The captures stay the caller's; close them after bw_workers_finish.
 * Returns 0, BW_EINVAL (not live, or not one per worker) or BW_ENOMEM. */
int  bw_workers_capture(struct bw_workers *ws, struct bw_capture *const *caps, unsigned n, uint64_t start_us)
    BW_WARN_UNUSED;
bool bw_workers_fanout(const struct bw_workers *ws);
/* Fanout: the first capture error of any worker (one line, in err); false while none failed. */
bool bw_workers_capture_failed(struct bw_workers *ws, char *err, size_t errlen);
/* Fanout: the kernel's counters of all the sockets, summed as of the last bw_workers_stats (or
 * the finish); zero otherwise. */
void bw_workers_kernel_stats(const struct bw_workers *ws, struct bw_capture_stats *out);

/* One captured frame (borrowed). Waits while the chosen worker's ring is full, handing records
 * on meanwhile; never drops. */
void bw_workers_packet(struct bw_workers *ws, int dlt, const uint8_t *data, size_t caplen, uint64_t ts_us);
/* A frame that stays where it is until bw_workers_kept_done says so (a file read in chunks the
 * capture keeps, bw_capture_keep): handed on by reference, not copied. chunk: its chunk's number;
 * chunks come in order. */
void bw_workers_packet_kept(struct bw_workers *ws, int dlt, const uint8_t *data, size_t caplen, uint64_t ts,
                            uint64_t chunk);
/* A file the sensor reads itself (bw_capture_records), read by the workers themselves instead of
 * handed on by this thread (bw_split.h): returns when every worker has handled all of it; until
 * then this thread delivers the records and calls tick every millisecond or so with the bytes of
 * the file walked so far (false: stop reading, as a stop request; what was read is handled).
 * Returns 0, BW_EIO (err filled: a read failed or a record could not be read, as
 * bw_capture_next says it, after every packet before it was handled), BW_ENOMEM (nothing read:
 * the caller reads the file itself) or BW_EINVAL (one worker, or live). */
int bw_workers_read_file(struct bw_workers *ws, struct bw_capture *cap, bool (*tick)(void *ctx, uint64_t offset),
                         void *ctx, uint64_t stats_iv_us, uint64_t *next_stats_us, char *err, size_t errlen)
    BW_WARN_UNUSED;
/* The stats records of such a file: every stats_iv_us of packet time (*next_stats_us: when the
 * next is due, as the read loop keeps it, in and out), after every record of the packets before
 * it, every worker's counters as of that packet: fn gets them summed (the writer's thread). */
void bw_workers_set_stats_hook(struct bw_workers *ws, void (*fn)(void *ctx, struct bw_stats *st), void *ctx);
/* The worker a frame belongs to among n (its address pair's; what is not TCP: worker 0). */
unsigned bw_workers_pick_frame(int dlt, const uint8_t *data, size_t caplen, uint64_t ts_us, unsigned n);
/* Wait (delivering records meanwhile) until no worker reads chunk `chunk` or one before it any
 * more; returns the lowest chunk some worker may still read (every one below it is done). */
uint64_t bw_workers_kept_done(struct bw_workers *ws, uint64_t chunk);
/* Live and quiet: the wall clock for every worker's timers (bw_pipeline_clock). */
void bw_workers_clock(struct bw_workers *ws, uint64_t now_us);
/* Hand the records waiting in the workers' rings to the sinks (the writer's work); then, with
 * flush, flush the sinks (counting errors). Cheap when nothing waits. */
void bw_workers_deliver(struct bw_workers *ws, bool flush);
/* Wait until every worker has handled every packet handed so far, and deliver their records. */
void bw_workers_sync(struct bw_workers *ws);
/* The sinks, for the caller's own records and upkeep (stats lines, SIGHUP). */
size_t bw_workers_sinks(struct bw_workers *ws, struct bw_sink ***sinks);
/* The counters of all workers as one (synchronous: each worker answers between two packets). */
void bw_workers_stats(struct bw_workers *ws, struct bw_stats *out);
/* bw_pipeline_report_now over all workers, merged into snap. */
int  bw_workers_report_now(struct bw_workers *ws, struct bw_report *snap) BW_WARN_UNUSED;
/* End of capture: every worker finishes its sessions (bw_pipeline_finish), the threads end,
 * every record is delivered and the sinks flushed. */
void bw_workers_finish(struct bw_workers *ws);
/* After finish: the run's exposure report (the workers' merged; NULL if there was no memory). */
const struct bw_report *bw_workers_report(struct bw_workers *ws);
/* Packet time as the reader saw it: the run's span, and now (for packet-time timers). */
uint64_t bw_workers_earliest(const struct bw_workers *ws);
uint64_t bw_workers_latest(const struct bw_workers *ws);
uint64_t bw_workers_now(const struct bw_workers *ws);
/* After finish: the packets worker i handled (its pipeline's count), to show the balance. */
uint64_t bw_workers_handled(const struct bw_workers *ws, unsigned i);
/* For a progress line: packets handed on, alerts delivered. */
uint64_t bw_workers_packets(const struct bw_workers *ws);
uint64_t bw_workers_alerts(const struct bw_workers *ws);
/* Everything any pool, cap or memcap refused (after finish, or from the last stats). */
uint64_t bw_workers_refused(struct bw_workers *ws);
/* Live: touch every pool's pages now (bw_pipeline_prefault). */
void bw_workers_prefault(struct bw_workers *ws);
void bw_workers_free(struct bw_workers *ws);

/* The worker a packet's address pair belongs to (the same for both directions). */
unsigned bw_workers_pick(uint8_t ip_ver, const uint8_t *a, const uint8_t *b, unsigned n);

#endif
