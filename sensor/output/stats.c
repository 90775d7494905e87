/* stats.c: renders struct bw_stats as one JSON line, and a capacity event as a "capacity"
 * record and as a line for people. Formatting only; the pipeline collects. */
#include <inttypes.h>
#include <stdio.h>
#include "bw_alert.h"
#include "bw_json.h"
#include "bw_stats.h"

size_t bw_stats_json(const struct bw_stats *s, const char *sensor, char *buf, size_t cap)
{
    struct bw_json j;
    char ts[32];
    bw_format_ts(s->now_us, ts);
    bw_json_init(&j, buf, cap);
    bw_json_obj_open(&j, NULL);
    bw_json_str(&j, "timestamp", ts);
    bw_json_str(&j, "event_type", "stats");
    bw_json_str(&j, "sensor", sensor);
    bw_json_obj_open(&j, "stats");
    bw_json_obj_open(&j, "capture");
    bw_json_u64(&j, "packets", s->pipe.packets);
    bw_json_u64(&j, "bytes", s->pipe.bytes);
    bw_json_u64(&j, "tcp_packets", s->pipe.tcp_packets);
    bw_json_u64(&j, "kernel_received", s->kernel.received);
    bw_json_u64(&j, "kernel_drops", s->kernel.dropped);
    bw_json_u64(&j, "interface_drops", s->kernel.if_dropped);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "decoder");
    bw_json_u64(&j, "not_ip", s->decode.not_ip);
    bw_json_u64(&j, "not_tcp", s->decode.not_tcp);
    bw_json_u64(&j, "fragments", s->decode.fragments);
    bw_json_u64(&j, "truncated", s->decode.truncated);
    bw_json_u64(&j, "malformed", s->decode.malformed);
    bw_json_u64(&j, "unsupported", s->decode.unsupported);
    bw_json_u64(&j, "vlan_tagged", s->decode.vlan_tagged);
    bw_json_u64(&j, "ipv6", s->decode.ipv6);
    bw_json_u64(&j, "ip_len_zero", s->decode.ip_len_zero);
    bw_json_u64(&j, "tcp_options_cut", s->decode.tcp_options_cut);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "flows");
    bw_json_u64(&j, "created", s->flow.flows_created);
    bw_json_u64(&j, "active", s->flow.flows_active);
    bw_json_u64(&j, "high_water", s->flow.flows_hwm);
    bw_json_u64(&j, "expired", s->flow.flows_expired);
    bw_json_u64(&j, "evicted", s->flow.flows_evicted);
    bw_json_u64(&j, "closed", s->flow.flows_closed);
    bw_json_u64(&j, "bypassed", s->flow.flows_bypassed);
    bw_json_u64(&j, "bypassed_packets", s->pipe.bypassed_packets);
    bw_json_u64(&j, "not_broker", s->pipe.flows_not_broker);
    bw_json_u64(&j, "tls_broker", s->pipe.flows_tls);
    bw_json_u64(&j, "tls_other", s->pipe.flows_tls_other);
    bw_json_u64(&j, "evicted_confirmed", s->flow.flows_evicted_confirmed);
    bw_json_u64(&j, "refused", s->flow.flows_refused);
    bw_json_u64(&j, "unanswered", s->pipe.flows_unanswered);
    bw_json_u64(&j, "rst_lingered", s->pipe.rst_lingered);
    bw_json_u64(&j, "fin_lingered", s->pipe.fin_lingered);
    bw_json_u64(&j, "oriented_by_known_broker", s->pipe.orient_known);
    bw_json_u64(&j, "reoriented", s->pipe.orient_flipped);
    bw_json_u64(&j, "buckets", s->flow.buckets);
    bw_json_u64(&j, "sessions_active", s->flow.sessions_active);
    bw_json_u64(&j, "sessions_high_water", s->flow.sessions_hwm);
    bw_json_u64(&j, "sessions_max", s->flow.sessions_max);
    bw_json_u64(&j, "session_memcap_hits", s->flow.session_memcap_hits);
    bw_json_u64(&j, "sessions_reclaimed", s->pipe.sessions_reclaimed);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "probes");
    bw_json_u64(&j, "in_use", s->probe.in_use);
    bw_json_u64(&j, "high_water", s->probe.hwm);
    bw_json_u64(&j, "max", s->probe.max);
    bw_json_u64(&j, "taken", s->probe.taken);
    bw_json_u64(&j, "reclaimed", s->probe.reclaimed);
    bw_json_u64(&j, "refused", s->probe.refused);
    bw_json_u64(&j, "per_source_cap", s->probe.src_cap);
    bw_json_u64(&j, "per_source_refused", s->probe.src_refused);
    bw_json_u64(&j, "per_source_high_water", s->probe.src_hwm);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "reassembly");
    bw_json_u64(&j, "segments", s->stream.segments);
    bw_json_u64(&j, "bytes_delivered", s->stream.bytes_delivered);
    bw_json_u64(&j, "bytes_skipped", s->stream.bytes_skipped);
    bw_json_u64(&j, "retransmits", s->stream.retransmits);
    bw_json_u64(&j, "overlaps", s->stream.overlaps);
    bw_json_u64(&j, "overlap_conflicts", s->stream.overlap_conflicts);
    bw_json_u64(&j, "out_of_order", s->stream.ooo_segments);
    bw_json_u64(&j, "gaps", s->stream.gaps);
    bw_json_u64(&j, "gap_bytes", s->stream.gap_bytes);
    bw_json_u64(&j, "memcap_hits", s->stream.memcap_hits);
    bw_json_u64(&j, "window_overflows", s->stream.window_overflows);
    bw_json_u64(&j, "truncated_segments", s->stream.truncated_segments);
    bw_json_u64(&j, "ack_waits", s->stream.ack_waits);
    bw_json_u64(&j, "ack_waits_filled", s->stream.ack_waits_filled);
    bw_json_u64(&j, "ack_waits_expired", s->stream.ack_waits_expired);
    bw_json_u64(&j, "buffers_in_use", s->stream.buffers_in_use);
    bw_json_u64(&j, "buffers_high_water", s->stream.buffers_hwm);
    bw_json_u64(&j, "buffers_max", s->stream.buffers_max);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "dpi");
    bw_json_u64(&j, "classified", s->dpi.flows_classified);
    bw_json_u64(&j, "gave_up", s->dpi.gave_up);
    bw_json_u64(&j, "slots_high_water", s->dpi.slots_hwm);
    bw_json_u64(&j, "slot_memcap_hits", s->dpi.slot_memcap_hits);
    bw_json_u64(&j, "ndpi_bytes", s->dpi.ndpi_bytes);
    bw_json_u64(&j, "flows_asked", s->pipe.dpi_asked);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "capacity");
    for (int r = 0; r < BW_RES_COUNT; r++)
        bw_json_u64(&j, bw_resource_name((enum bw_resource)r), s->pipe.refused[r]);
    bw_json_u64(&j, "records", s->pipe.capacity_records);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "memory_bounds");
    bw_json_u64(&j, "flows", s->mem.flows);
    bw_json_u64(&j, "probes", s->mem.probes);
    bw_json_u64(&j, "sessions", s->mem.sessions);
    bw_json_u64(&j, "reassembly", s->mem.streams);
    bw_json_u64(&j, "dpi_slots", s->mem.dpi);
    bw_json_u64(&j, "evidence_hold", s->mem.evidence_hold);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "evidence");
    bw_json_u64(&j, "sessions", s->evidence.sessions);
    bw_json_u64(&j, "packets", s->evidence.frames);
    bw_json_u64(&j, "bytes", s->evidence.bytes);
    bw_json_u64(&j, "packets_masked", s->evidence.frames_masked);
    bw_json_u64(&j, "bytes_masked", s->evidence.bytes_masked);
    bw_json_u64(&j, "session_caps", s->hold.session_caps);
    bw_json_u64(&j, "packets_capped", s->hold.frames_capped);
    bw_json_u64(&j, "sessions_over_total", s->evidence.sessions_total_cap);
    bw_json_u64(&j, "packets_over_total", s->evidence.frames_total_cap);
    bw_json_u64(&j, "packets_relinked", s->evidence.frames_relinked);
    bw_json_u64(&j, "packets_other_link", s->evidence.frames_other_link);
    bw_json_u64(&j, "write_errors", s->evidence.write_errors);
    bw_json_u64(&j, "hold_in_use", s->hold.in_use);
    bw_json_u64(&j, "hold_high_water", s->hold.hwm);
    bw_json_u64(&j, "hold_max", s->hold.max);
    bw_json_u64(&j, "hold_refused", s->hold.refused);
    bw_json_u64(&j, "hold_reclaimed", s->hold.reclaimed);
    bw_json_obj_close(&j);
    bw_json_obj_open(&j, "alerts");
    bw_json_u64(&j, "total", s->pipe.alerts);
    for (int k = 0; k < BW_KIND_COUNT; k++)
        bw_json_u64(&j, bw_kind_name((enum bw_kind)k), s->pipe.alerts_by_kind[k]);
    bw_json_u64(&j, "sessions_logged", s->pipe.sessions_logged);
    bw_json_u64(&j, "records_too_big", s->pipe.records_too_big);
    bw_json_u64(&j, "sink_errors", s->pipe.sink_errors);
    bw_json_u64(&j, "bruteforce_pairs_replaced", s->pipe.brute_pairs_replaced);
    bw_json_obj_close(&j);
    bw_json_obj_close(&j);
    bw_json_obj_close(&j);
    return bw_json_finish(&j) ? j.len : 0;
}

static const char *const res_names[BW_RES_COUNT] = {
    "flows", "probes", "probes_per_source", "sessions", "stream_memory", "ndpi_slots", "alert_queue",
    "evidence_hold",
};

static const char *const res_options[BW_RES_COUNT] = {
    "--max-flows", "--max-probes", "--max-probes-per-source", "--max-sessions", "--stream-memcap",
    "--max-probes", "--redis-queue", "--evidence-memcap",
};

const char *bw_resource_name(enum bw_resource r)
{
    return (unsigned)r < BW_RES_COUNT ? res_names[r] : "unknown";
}

const char *bw_resource_option(enum bw_resource r)
{
    return (unsigned)r < BW_RES_COUNT ? res_options[r] : "";
}

size_t bw_capacity_json(const struct bw_capacity_event *e, const char *sensor, char *buf, size_t cap)
{
    struct bw_json j;
    char ts[32];
    bw_format_ts(e->ts_us, ts);
    bw_json_init(&j, buf, cap);
    bw_json_obj_open(&j, NULL);
    bw_json_str(&j, "timestamp", ts);
    bw_json_str(&j, "event_type", "capacity");
    bw_json_str(&j, "sensor", sensor);
    bw_json_obj_open(&j, "capacity");
    bw_json_str(&j, "resource", bw_resource_name(e->res));
    bw_json_u64(&j, "refused", e->refused);
    bw_json_u64(&j, "refused_total", e->refused_total);
    bw_json_u64(&j, "cap", e->cap);
    bw_json_u64(&j, "high_water", e->high_water);
    bw_json_str(&j, "unit", e->unit ? e->unit : "");
    bw_json_str(&j, "option", bw_resource_option(e->res));
    bw_json_obj_close(&j);
    bw_json_obj_close(&j);
    return bw_json_finish(&j) ? j.len : 0;
}

void bw_capacity_line(const struct bw_capacity_event *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "capacity: %s refused %" PRIu64 " (%" PRIu64 " in this run; cap %" PRIu64 " %s, "
             "high water %" PRIu64 "): coverage is incomplete; raise %s", bw_resource_name(e->res),
             e->refused, e->refused_total, e->cap, e->unit ? e->unit : "", e->high_water,
             bw_resource_option(e->res));
}

/* ---- workers: one struct of counters from several ---- */

static void add_words(void *dst, const void *src, size_t bytes)
{
    uint64_t *d = dst;
    const uint64_t *s = src;
    for (size_t i = 0; i < bytes / sizeof *d; i++) d[i] += s[i];
}

void bw_stats_add(struct bw_stats *dst, const struct bw_stats *src)
{
    /* Every part below is made of uint64_t counters only (checked here at build time). */
    _Static_assert(sizeof(struct bw_pipe_counters) % 8 == 0 && sizeof(struct bw_decode_stats) % 8 == 0 &&
                   sizeof(struct bw_flow_stats) % 8 == 0 && sizeof(struct bw_stream_stats) % 8 == 0 &&
                   sizeof(struct bw_classify_stats) % 8 == 0 && sizeof(struct bw_probe_stats) % 8 == 0 &&
                   sizeof(struct bw_mem_bounds) % 8 == 0 && sizeof(struct bw_hold_stats) % 8 == 0,
                   "stats parts are arrays of uint64_t");
    uint64_t slot_bytes = dst->dpi.slot_bytes > src->dpi.slot_bytes ? dst->dpi.slot_bytes : src->dpi.slot_bytes;
    uint64_t src_cap = dst->probe.src_cap > src->probe.src_cap ? dst->probe.src_cap : src->probe.src_cap;
    add_words(&dst->pipe, &src->pipe, sizeof dst->pipe);
    add_words(&dst->decode, &src->decode, sizeof dst->decode);
    add_words(&dst->flow, &src->flow, sizeof dst->flow);
    add_words(&dst->stream, &src->stream, sizeof dst->stream);
    add_words(&dst->dpi, &src->dpi, sizeof dst->dpi);
    add_words(&dst->probe, &src->probe, sizeof dst->probe);
    add_words(&dst->mem, &src->mem, sizeof dst->mem);
    add_words(&dst->hold, &src->hold, sizeof dst->hold);
    add_words(&dst->evidence, &src->evidence, sizeof dst->evidence);
    add_words(&dst->kernel, &src->kernel, sizeof dst->kernel);
    dst->dpi.slot_bytes = slot_bytes;                  /* the size of one state, not a count */
    dst->probe.src_cap = src_cap;                      /* applies in each worker alike */
    if (src->start_us && (!dst->start_us || src->start_us < dst->start_us)) dst->start_us = src->start_us;
    if (src->now_us > dst->now_us) dst->now_us = src->now_us;
}
