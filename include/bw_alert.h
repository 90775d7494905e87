/* bw_alert.h: flow + session facts + verdict -> one JSON line (alerts and session records),
 * plus the Community ID v1 of a flow. Formatting only: no I/O, no allocation. The field names
 * follow Suricata's EVE where one exists; docs/alerts.md documents every one. */
#ifndef BW_ALERT_H
#define BW_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_flow.h"
#include "bw_redact.h"
#include "bw_verdict.h"

#define BW_RECORD_MAX 8192          /* one JSON line; larger records are cut to essentials */
#define BW_SUMMARY_MAX 320          /* alert.summary, and the one-line text of a record */

struct bw_alert_cfg {
    const char *sensor;             /* --sensor-name */
    bool redact_usernames;          /* --redact-usernames: user names become tokens ... */
    const struct bw_redact *redact; /* ... under this key (bw_redact.h); NULL: names are withheld */
};

/* What one record is about. */
struct bw_record_in {
    uint64_t ts_us;                         /* capture time that completed the verdict */
    const struct bw_flow *flow;
    const struct bw_session *session;       /* may be NULL (no dissector) */
    int kind;                               /* enum bw_kind, or -1 for a session record */
    uint32_t brute_failures;                /* bruteforce: failures in the window */
    uint32_t brute_window_s;
    const char *end_reason;                 /* session records: why the session ended */
    bool unanswered;                        /* session records: no broker answer was seen */
};

/* What a record is, for sinks that treat them differently (bw_sink.h). */
enum bw_record_type {
    BW_REC_ALERT = 0,                       /* event_type "alert" */
    BW_REC_SESSION,                         /* event_type "session" */
    BW_REC_CAPACITY,                        /* event_type "capacity": a pool or cap refused work */
};

/* Small metadata every sink can index on (Redis stream fields). */
struct bw_record_meta {
    enum bw_record_type type;
    const char *event_type;                 /* "alert" / "session" / "capacity" */
    const char *kind;                       /* NULL for sessions; capacity: the resource */
    const char *severity;                   /* the word (low .. critical), not EVE's integer */
    const char *app_proto;
    char src_ip[46], dest_ip[46];
    uint16_t src_port, dest_port;
    uint64_t ts_us;
    bool unanswered;                        /* sessions: no broker answered (never in an inventory) */
    char summary[BW_SUMMARY_MAX];           /* alerts: alert.summary; sessions: how it ended and its
                                             * alerts (one line for people, not in the JSON) */
};

/* Format one record into buf (NUL-terminated, no newline). Returns 0, or BW_ELIMIT when it did
 * not fit even without optional members. Fills *meta when meta is not NULL. */
int bw_alert_format(const struct bw_alert_cfg *cfg, const struct bw_record_in *in,
                    char *buf, size_t cap, size_t *len, struct bw_record_meta *meta) BW_WARN_UNUSED;

/* Community ID v1 (corelight community-id-spec): "1:" + base64(SHA1(seed, addrs, proto, ports)).
 * addresses are 4 (ip_ver 4) or 16 bytes; out needs 32 bytes. */
void bw_community_id(uint16_t seed, uint8_t ip_ver, const uint8_t *src, const uint8_t *dst,
                     uint8_t proto, uint16_t sport, uint16_t dport, char out[32]);

/* "2026-11-24T10:00:00.123456+0000" (EVE's form, UTC); out needs 32 bytes. */
void bw_format_ts(uint64_t ts_us, char out[32]);
/* Printable address; out needs 46 bytes. */
void bw_format_ip(uint8_t ip_ver, const uint8_t *ip, char out[46]);

#endif
