/* bw_stats.h: the run's counters in one struct, filled by the pipeline from every stage, and
 * rendered as one JSON line ("event_type":"stats") for stderr or any sink. */
#ifndef BW_STATS_H
#define BW_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "bw_capture.h"
#include "bw_classify.h"
#include "bw_flow.h"
#include "bw_packet.h"
#include "bw_stream.h"
#include "bw_verdict.h"

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
};

struct bw_stats {
    struct bw_pipe_counters pipe;
    struct bw_decode_stats decode;
    struct bw_flow_stats flow;
    struct bw_stream_stats stream;
    struct bw_classify_stats dpi;
    struct bw_capture_stats kernel;        /* live capture only */
    uint64_t start_us, now_us;             /* packet time */
};

/* One JSON object, NUL-terminated, into buf. Returns the length, 0 if it did not fit. */
size_t bw_stats_json(const struct bw_stats *s, const char *sensor, char *buf, size_t cap);

#endif
