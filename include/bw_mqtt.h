/* bw_mqtt.h: the MQTT dissector (3.1, 3.1.1, 5.0; over TCP or WebSockets) and the
 * protocol-specific facts it keeps in bw_facts.ext. Written only by dissectors/mqtt.c; read by
 * the verdict layer and printed by the dissector's facts_json. Never holds a password: the
 * core facts carry only that one was present and its length. */
#ifndef BW_MQTT_H
#define BW_MQTT_H

#include <stdbool.h>
#include <stdint.h>
#include "bw_dissector.h"
#include "bw_facts.h"

extern const struct bw_dissector bw_dissector_mqtt;

/* Anomaly bits (bw_facts.anomalies); names in bw_dissector_mqtt.anomaly_names, same order. */
enum bw_mqtt_anomaly {
    BW_MQTT_ANOM_RESERVED_FLAG = 0,     /* "reserved_flag_set": CONNECT/CONNACK/SUBSCRIBE reserved bit */
    BW_MQTT_ANOM_HEADER_FLAGS,          /* "bad_header_flags": fixed-header flags wrong for the type */
    BW_MQTT_ANOM_PASS_NO_USER,          /* "password_without_username" (3.1 / 3.1.1) */
    BW_MQTT_ANOM_UTF8,                  /* "invalid_utf8": ill-formed UTF-8 or U+0000 in a string */
    BW_MQTT_ANOM_REMAINING_LENGTH,      /* "bad_remaining_length": 5-byte or overlong varint */
    BW_MQTT_ANOM_LENGTH,                /* "length_past_packet": a field runs past its packet */
    BW_MQTT_ANOM_TRAILING,              /* "trailing_bytes": bytes left after the last field */
    BW_MQTT_ANOM_PROTO_NAME,            /* "bad_protocol_name": not MQTT / MQIsdp */
    BW_MQTT_ANOM_PROTO_LEVEL,           /* "bad_protocol_level": level not 3/4/5 or not the name's */
    BW_MQTT_ANOM_PACKET_TYPE,           /* "unknown_packet_type": type 0, or 15 before 5.0 */
    BW_MQTT_ANOM_QOS,                   /* "bad_qos": QoS 3, or will QoS without a will */
    BW_MQTT_ANOM_PROPERTY,              /* "property_error": unknown, misplaced, repeated, bad value */
    BW_MQTT_ANOM_PROTOCOL,              /* "protocol_error": wrong direction, second CONNECT, ... */
    BW_MQTT_ANOM_REASON_CODE,           /* "bad_reason_code": a code the spec does not define here */
    BW_MQTT_ANOM_TOPIC,                 /* "bad_topic": empty filter, misplaced wildcard, ... */
    BW_MQTT_ANOM_OVERSIZE,              /* "oversize_packet": too big to buffer; skipped */
    BW_MQTT_ANOM_WEBSOCKET,             /* "websocket_error": bad upgrade or frame (RFC 6455) */
    BW_MQTT_ANOM_USER_UNREAD,           /* "username_unread": the flags announce a user name whose bytes
                                         * were never read (lost, cut off): username null */
    BW_MQTT_ANOM_COUNT
};

/* bw_mqtt_facts.have: which optional members are valid. */
#define BW_MQTT_HAVE_CONNECT          (1u << 0)   /* a CONNECT was parsed (level, flags, keep_alive) */
#define BW_MQTT_HAVE_CONNACK          (1u << 1)   /* session_present; code in bw_facts.result_code */
#define BW_MQTT_HAVE_SESSION_EXPIRY   (1u << 2)   /* v5 CONNECT property 0x11 */
#define BW_MQTT_HAVE_RECEIVE_MAXIMUM  (1u << 3)   /* v5 CONNECT property 0x21 */
#define BW_MQTT_HAVE_REASON_STRING    (1u << 4)   /* v5 CONNACK property 0x1F */
#define BW_MQTT_HAVE_ASSIGNED_ID      (1u << 5)   /* v5 CONNACK property 0x12 */
#define BW_MQTT_HAVE_SERVER_KEEPALIVE (1u << 6)   /* v5 CONNACK property 0x13 */
#define BW_MQTT_HAVE_DISCONNECT       (1u << 7)   /* disconnect_reason (0 for 3.x or a bare v5) */
#define BW_MQTT_HAVE_AUTH             (1u << 8)   /* a v5 AUTH packet: auth_reason */
#define BW_MQTT_HAVE_CONNECT_CUT      (1u << 9)   /* CONNECT not read to its end: user/pass_len unknown */
#define BW_MQTT_HAVE_CLOSED_NO_ANSWER (1u << 10)  /* the broker closed after CONNECT, no CONNACK */
#define BW_MQTT_HAVE_WS_COMPRESSED    (1u << 11)  /* permessage-deflate frame: stopped following */
#define BW_MQTT_HAVE_VERSION_MISMATCH (1u << 12)  /* the CONNACK is in another version's form than
                                                   * the CONNECT (a 3.x answer to a 5.0 CONNECT) */
#define BW_MQTT_HAVE_CLIENT_AUTH      (1u << 13)  /* the client sent AUTH (continue or re-auth) */
#define BW_MQTT_HAVE_REAUTH_FAILED    (1u << 14)  /* broker DISCONNECT 0x87/0x8C after a client AUTH */
#define BW_MQTT_HAVE_CLOSED_AFTER_AUTH (1u << 15) /* the broker closed after a client AUTH, no answer */
#define BW_MQTT_HAVE_CONNACK_V5       (1u << 16)  /* the CONNACK is in the 5.0 form (reason code) */
#define BW_MQTT_HAVE_TRUNCATED        (1u << 17)  /* the CONNECT was read from its captured start only
                                                     * (snaplen cut or lost segment): "truncated" */

/* CONNECT flags byte (OASIS MQTT 3.1.1 / 5.0 section 3.1.2.3). */
#define BW_MQTT_CF_RESERVED   0x01u
#define BW_MQTT_CF_CLEAN      0x02u
#define BW_MQTT_CF_WILL       0x04u
#define BW_MQTT_CF_WILL_QOS   0x18u
#define BW_MQTT_CF_WILL_RETAIN 0x20u
#define BW_MQTT_CF_PASSWORD   0x40u
#define BW_MQTT_CF_USERNAME   0x80u

struct bw_mqtt_facts {
    uint32_t have;                /* BW_MQTT_HAVE_* */
    uint8_t  level;               /* protocol level: 3, 4, 5 (0 = unknown, e.g. midstream) */
    bool     bridge;              /* level had bit 7 set (mosquitto bridge extension) */
    uint8_t  connect_flags;       /* raw CONNECT flags byte */
    bool     clean_session;       /* clean session (3.x) / clean start (5.0) */
    bool     will_flag;
    uint8_t  will_qos;            /* 0..3 as sent */
    bool     will_retain;
    bool     session_present;     /* CONNACK acknowledge flags bit 0 */
    uint16_t keep_alive;          /* seconds, from CONNECT */
    uint16_t receive_maximum;     /* v5 CONNECT */
    uint16_t server_keep_alive;   /* v5 CONNACK */
    uint16_t will_payload_len;
    uint32_t session_expiry;      /* v5 CONNECT, seconds */
    uint8_t  disconnect_reason;   /* v5 DISCONNECT reason code (0 = normal) */
    uint8_t  auth_reason;         /* last v5 AUTH reason code */
    uint16_t pad_;
    uint32_t subscriptions;       /* topic filters seen in SUBSCRIBE packets */
    uint32_t packets[16];         /* packets seen per type (index = type), both directions */
    struct bw_fstr will_topic;
    struct bw_fstr reason_string;       /* v5 CONNACK reason string */
    struct bw_fstr assigned_client_id;  /* v5 CONNACK assigned client identifier */
    struct bw_fstr wildcard_filter;     /* first filter that set BW_FACT_WILDCARD_SUB */
    struct bw_fstr scoped_filter;       /* first filter with a wildcard that does not alert */
};

_Static_assert(sizeof(struct bw_mqtt_facts) <= BW_FACTS_EXT_MAX, "bw_mqtt_facts must fit in ext");
_Static_assert(_Alignof(struct bw_mqtt_facts) <= 8, "ext is 8-byte aligned");

/* The MQTT facts inside a bw_facts record (ext is 8-byte aligned and owned by the dissector). */
static inline const struct bw_mqtt_facts *bw_mqtt_facts_of(const struct bw_facts *f)
{ return (const struct bw_mqtt_facts *)(const void *)f->ext; }

#endif
