/* bw_classify.h: the nDPI adapter. Shows each new flow's first packets to nDPI until it decides
 * or a bounded number of packets passes, and says what it thinks: broker protocol, TLS, other.
 * nDPI's per-flow state comes from a bounded slot pool and is released as soon as it decided.
 * classify.c is the only user of <ndpi_api.h>. */
#ifndef BW_CLASSIFY_H
#define BW_CLASSIFY_H

#include <stdint.h>
#include "bw_err.h"
#include "bw_flow.h"
#include "bw_packet.h"

#define BW_DPI_MAX_PKTS 12          /* packets shown to nDPI before giving up */

enum bw_dpi {
    BW_DPI_PENDING = 0,   /* nDPI wants more packets */
    BW_DPI_MQTT,
    BW_DPI_AMQP,
    BW_DPI_TLS,
    BW_DPI_HTTP,          /* may still carry MQTT over WebSocket */
    BW_DPI_OTHER,         /* a known protocol that is not a broker's */
    BW_DPI_UNKNOWN,       /* nDPI gave up */
    BW_DPI_NO_SLOT,       /* no nDPI state available (pool full): probes alone decide */
};

struct bw_classify_stats {
    uint64_t flows_classified, gave_up, slot_memcap_hits;
    uint64_t slots_in_use, slots_hwm, slots_max;
    uint64_t ndpi_bytes;            /* bytes nDPI holds through its allocator right now */
};

struct bw_classify;

/* Create the nDPI module and a pool of max_slots per-flow states. NULL on failure (*err set). */
struct bw_classify *bw_classify_new(uint32_t max_slots, int *err);
void bw_classify_free(struct bw_classify *c);

/* Show one packet of f. Returns the current decision; once it is not PENDING the flow's slot
 * has been released and later calls return BW_DPI_* from f->dpi_proto without nDPI work. */
enum bw_dpi bw_classify_packet(struct bw_classify *c, struct bw_flow *f, const struct bw_packet *p);

/* What nDPI decided for f (PENDING while it still looks). No nDPI work. */
enum bw_dpi bw_classify_result(const struct bw_flow *f);

/* Release f's nDPI state (eviction, bypass). Safe when it holds none. */
void bw_classify_release(struct bw_classify *c, struct bw_flow *f);

/* nDPI's name for a protocol id ("MQTT", "TLS", ...). */
const char *bw_classify_name(struct bw_classify *c, uint16_t proto);
void bw_classify_get_stats(const struct bw_classify *c, struct bw_classify_stats *out);

#endif
