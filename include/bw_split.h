/* bw_split.h: a classic pcap file read by the workers themselves, no reader thread between the
 * file and them (sensor/worker/split.c, used by workers.c). Chunk c of the file (512 KiB, from
 * where chunk c-1's last whole record ended) is read by worker c mod N, which walks its records
 * and makes one list for all workers: each packet's offset and the worker its address pair
 * belongs to (bw_workers_pick_frame), and every hundredth of a second of packet time a clock for
 * every worker. So the reads form a chain, each waiting only for the walk before it; every
 * worker runs its entries of every chunk in chunk order, and each address pair's packets keep
 * their file order. A chunk's buffer is read into again once every worker is done with it.
 * Everything a reader does to a record is done here as bw_capture_next and the reader's side of
 * bw_workers do it: the filter, the cut to the snapshot length, the times, the error lines. */
#ifndef BW_SPLIT_H
#define BW_SPLIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_capture.h"

struct bw_split;

/* One worker's place in the split: which chunk it reads next, which it works on, where. */
struct bw_split_pos { unsigned id; int64_t next_read, next_work; uint32_t at; };

/* What bw_split_next gives a worker: a packet (data valid until the worker's next call that
 * moves past its chunk), a clock (packet time of the whole capture), or a stats point (every
 * worker's counters are due for one stats record, after the packet seq; every --stats-interval
 * of packet time, as the reader's side of the sensor has them); seq: the record's
 * number in the whole run (every record kept counts, from the run's first), the order the
 * writer merges the workers' records in. */
enum bw_split_kind { BW_SPLIT_PACKET, BW_SPLIT_CLOCK, BW_SPLIT_STATS };
struct bw_split_item { enum bw_split_kind kind; const uint8_t *data; size_t caplen; uint64_t ts, seq; };

/* The reader's state that crosses files (bw_workers keeps it): packets, first/last time, the
 * packet clock and when the next clock for every worker is due. */
struct bw_split_clock { uint64_t packets, earliest_us, latest_us, now_us, next_clock_us, next_stats_us; };

/* The reader's step for one packet of time ts, as the reader of bw_workers and the walk of a
 * chunk both take it: counted, the run's span, the packet clock (a time further back than
 * flow_timeout_us starts a new one), and true when a clock for every worker is due (every
 * clock_us of packet time). */
static inline bool bw_split_step(struct bw_split_clock *c, uint64_t ts, uint64_t flow_timeout_us, uint64_t clock_us)
{
    c->packets++;
    if (!c->earliest_us || ts < c->earliest_us) c->earliest_us = ts;
    if (ts > c->latest_us) c->latest_us = ts;
    if (ts > c->now_us || c->now_us - ts > flow_timeout_us) c->now_us = ts;
    if (ts < c->next_clock_us && c->next_clock_us - ts <= clock_us * 2) return false;
    c->next_clock_us = ts + clock_us;
    return true;
}

/* For n workers over cap (bw_capture_records must be true); dlt: the capture's link type;
 * flow_timeout_us: when a time going back starts a new clock (as the reader's); stats_iv_us:
 * the stats interval (0: none). NULL: no memory. */
struct bw_split *bw_split_new(struct bw_capture *cap, int dlt, unsigned n, uint64_t flow_timeout_us,
                              uint64_t stats_iv_us, const struct bw_split_clock *from);
void bw_split_free(struct bw_split *sp);
struct bw_split_pos bw_split_start(const struct bw_split *sp, unsigned id);
/* The worker's turn in the chain: when its next chunk may be read now (the one before it was
 * walked, its buffer is free, and it is not too far ahead of its work), read and walk it.
 * Returns true if it did. */
bool bw_split_read(struct bw_split *sp, struct bw_split_pos *pos);
/* The worker's next item: 1 (*it filled), 0 (none yet: its next chunk is not walked; *next_seq:
 * every item to come has this number or a later one), -1 (the file is done for this worker). */
int  bw_split_next(struct bw_split *sp, struct bw_split_pos *pos, struct bw_split_item *it, uint64_t *next_seq);
/* Stop reading: no chunk after the ones walked (what was walked is still worked on). */
void bw_split_stop(struct bw_split *sp);
/* While it runs (any thread): bytes of the file walked so far, and the reader's state. */
uint64_t bw_split_offset(const struct bw_split *sp);
void bw_split_clock_get(const struct bw_split *sp, struct bw_split_clock *out);
/* After every worker has returned -1: the error line of a read that failed or a record that
 * could not be read (""), as bw_capture_next says it. */
const char *bw_split_error(const struct bw_split *sp);

#endif
