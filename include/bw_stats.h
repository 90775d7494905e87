/* bw_stats.h: the run's counters in one struct, filled by the pipeline from every stage, and
 * rendered as one JSON line ("event_type":"stats") for stderr or any sink. */
#ifndef BW_STATS_H
#define BW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_capture.h"
#include "bw_classify.h"
#include "bw_evidence.h"
#include "bw_flow.h"
#include "bw_hold.h"
#include "bw_packet.h"
#include "bw_probe.h"
#include "bw_stream.h"
#include "bw_verdict.h"

/* Bounded resources whose refusals are reported in "capacity" records (docs/alerts.md). */
enum bw_resource {
    BW_RES_FLOWS = 0,          /* the flow table: flows evicted (or not tracked) for newer ones */
    BW_RES_PROBES,             /* probe slots: taken back from the oldest probing flow, or refused */
    BW_RES_PROBES_PER_SOURCE,  /* a source address at its cap of unconfirmed flows */
    BW_RES_SESSIONS,           /* the session pool: taken back from the oldest unconfirmed, or refused */
    BW_RES_STREAM_MEMORY,      /* the reassembly memcap */
    BW_RES_NDPI_SLOTS,         /* nDPI per-flow states */
    BW_RES_ALERT_QUEUE,        /* a sink's own queue (Redis) dropped records */
    BW_RES_EVIDENCE_HOLD,      /* -w: the hold was full, a flow got no evidence slot */
    BW_RES_COUNT
};

/* Name in records ("probes") and the option that raises the bound ("--max-probes"). */
const char *bw_resource_name(enum bw_resource r);
const char *bw_resource_option(enum bw_resource r);

/* One "capacity" record: what a resource refused since its last record. */
struct bw_capacity_event {
    enum bw_resource res;
    uint64_t ts_us;            /* packet time */
    uint64_t refused;          /* since the last record of this resource */
    uint64_t refused_total;    /* since the start of the run */
    uint64_t cap;              /* the bound, in `unit` */
    uint64_t high_water;       /* the most ever in use, in `unit` */
    const char *unit;          /* "flows", "slots", "sessions", "bytes" */
};

struct bw_pipe_counters {
    uint64_t packets, bytes;               /* every frame handed to the pipeline */
    uint64_t tcp_packets, bypassed_packets;
    uint64_t alerts, alerts_by_kind[BW_KIND_COUNT];
    uint64_t sessions_logged, brokers_sessions;
    uint64_t records_too_big, sink_errors;
    uint64_t flows_not_broker;             /* flows bypassed because no dissector recognized them */
    uint64_t flows_tls;                    /* broker sessions inside TLS */
    uint64_t flows_tls_other;              /* TLS flows that are not a broker's: bypassed */
    uint64_t brute_pairs_replaced;
    uint64_t sessions_reclaimed;           /* sessions taken back from older unconfirmed (or idle) ones */
    uint64_t flows_unanswered;             /* claimed by a dissector, never confirmed: nothing reported */
    uint64_t rst_lingered;                 /* sessions kept open for a moment after a reset */
    uint64_t fin_lingered;                 /* closed by FINs while a segment was still awaited */
    uint64_t orient_known;                 /* midstream flows oriented by the known-broker memory */
    uint64_t orient_flipped;               /* ... re-oriented at their first payload */
    uint64_t dpi_asked;                    /* flows shown to nDPI (the probes could not place them) */
    uint64_t capacity_records;
    uint64_t refused[BW_RES_COUNT];        /* per resource, since the start */
};

/* Upper bounds of the pools' memory in bytes at the configured caps (allocated on demand). */
struct bw_mem_bounds {
    uint64_t flows, probes, sessions, streams, dpi, evidence_hold;
};

struct bw_stats {
    struct bw_pipe_counters pipe;
    struct bw_decode_stats decode;
    struct bw_flow_stats flow;
    struct bw_stream_stats stream;
    struct bw_classify_stats dpi;
    struct bw_probe_stats probe;
    struct bw_mem_bounds mem;
    struct bw_capture_stats kernel;        /* live capture only */
    struct bw_hold_stats hold;             /* -w only */
    struct bw_evidence_stats evidence;     /* -w only */
    uint64_t start_us, now_us;             /* packet time */
};

/* Workers: add src's counters into dst (gauges, high-water marks and caps add up to the whole
 * sensor's; the per-source cap and a state's size do not add; start is the earliest, now the
 * latest). */
void bw_stats_add(struct bw_stats *dst, const struct bw_stats *src);

/* One JSON object, NUL-terminated, into buf. Returns the length, 0 if it did not fit. */
size_t bw_stats_json(const struct bw_stats *s, const char *sensor, char *buf, size_t cap);

/* The "capacity" record of e, NUL-terminated, into buf. Returns the length, 0 if it did not fit. */
size_t bw_capacity_json(const struct bw_capacity_event *e, const char *sensor, char *buf, size_t cap);
/* The same for a person, one line without newline: "capacity: probes refused 12 ...". */
void bw_capacity_line(const struct bw_capacity_event *e, char *buf, size_t cap);

/* Files: whether a stats record is due at packet time now, every iv_us of it; *due is when the
 * next one is (0 at first: the first packet only sets it; a clock that went back, an older
 * file, is followed). The read loop and the workers reading a file themselves both keep it. */
static inline bool bw_stats_due(uint64_t *due, uint64_t now, uint64_t iv_us)
{
    if (*due > now + iv_us) *due = now + iv_us;
    if (now < *due) return false;
    bool first = *due == 0;
    *due = now + iv_us;
    return !first;
}

#endif
