/* bw_classify.h: the nDPI adapter. Shows a flow's packets to nDPI until it decides or a bounded
 * number of packets passes, and says what it thinks: broker protocol, TLS, other. It is asked
 * only about flows the dissectors' probes cannot place (the pipeline decides which), from the
 * packet where that became clear. nDPI's per-flow state comes from a bounded slot pool and is
 * released as soon as it decided. classify.c is the only user of <ndpi_api.h>. */
#ifndef BW_CLASSIFY_H
#define BW_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_packet.h"

/* Broker application protocols, for hints and the known-broker memory. */
enum bw_app { BW_APP_NONE = 0, BW_APP_MQTT, BW_APP_AMQP };
const char *bw_app_name(enum bw_app a);

/* What nDPI knows of one flow; zeroed = never asked. Lives in the flow's probe slot or session
 * (a few bytes), never in the flow record: most flows are never shown to nDPI. */
struct bw_dpi_flow {
    uint32_t idx;                   /* nDPI flow slot + 1, 0 = none (owned by classify.c) */
    uint16_t proto;                 /* nDPI's protocol id (app, else master), 0 unknown */
    uint8_t  pkts;                  /* packets shown to nDPI */
    uint8_t  tls_hint;              /* TLS only: BW_APP_* that SNI/ALPN point to */
    bool     done;                  /* nDPI decided or gave up */
};

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
    uint64_t slot_bytes;            /* bytes of one per-flow state */
};

struct bw_classify;

/* Create the nDPI module and a pool of max_slots per-flow states. NULL on failure (*err set). */
struct bw_classify *bw_classify_new(uint32_t max_slots, int *err);
void bw_classify_free(struct bw_classify *c);

/* Show one packet of the flow whose nDPI handle is df. Returns the current decision; once it is
 * not PENDING the nDPI slot has been released and later calls return BW_DPI_* from df->proto
 * without nDPI work. */
enum bw_dpi bw_classify_packet(struct bw_classify *c, struct bw_dpi_flow *df, const struct bw_packet *p);

/* What nDPI decided (PENDING while it still looks or was never asked). No nDPI work. */
enum bw_dpi bw_classify_result(const struct bw_dpi_flow *df);

/* Release the flow's nDPI state (eviction, bypass, decision). Safe when it holds none. */
void bw_classify_release(struct bw_classify *c, struct bw_dpi_flow *df);

/* What a TLS ClientHello's server name and offered ALPN names (any text holding them, e.g.
 * "h2,mqtt"; NULL = none; read up to the caps) say about the application inside: the ALPN ids
 * brokers use ("mqtt", "x-amzn-mqtt-ca", "amqp") and the cloud endpoints that only speak broker
 * protocols (Azure IoT Hub, Service Bus / Event Hubs, AWS IoT). Used for nDPI's reading and for
 * the TLS dissector's. */
enum bw_app bw_classify_tls_names(const char *sni, size_t sni_cap, const char *alpn, size_t alpn_cap);

/* nDPI's name for a protocol id ("MQTT", "TLS", ...). */
const char *bw_classify_name(struct bw_classify *c, uint16_t proto);
void bw_classify_get_stats(const struct bw_classify *c, struct bw_classify_stats *out);

#endif
