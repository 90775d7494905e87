/* bw_facts.h: what a dissector learned about one session, in a fixed-size record.
 * Dissectors write facts; verdict.c alone turns them into alert kinds; alert.c prints them.
 * Never a password: only that one was present and its length. Strings are copied into fixed
 * arrays with a truncation flag; nothing points into packet memory. */
#ifndef BW_FACTS_H
#define BW_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* seen bits */
#define BW_FACT_CONFIRMED      (1u << 0)   /* handshake or plausibility check: it is this protocol */
#define BW_FACT_CREDS_USER     (1u << 1)   /* a user name crossed the wire */
#define BW_FACT_CREDS_PASS     (1u << 2)   /* a password crossed the wire (never stored) */
#define BW_FACT_ANONYMOUS      (1u << 3)   /* the client presented no identity */
#define BW_FACT_AUTH_OK        (1u << 4)   /* the broker accepted the client */
#define BW_FACT_AUTH_FAILED    (1u << 5)   /* an authentication failure (counts for bruteforce) */
#define BW_FACT_REFUSED        (1u << 6)   /* another refusal: recorded, no alert */
#define BW_FACT_TLS            (1u << 7)   /* the session is encrypted */
#define BW_FACT_MIDSTREAM      (1u << 8)   /* the handshake was not seen */
#define BW_FACT_DEFAULT_CREDS  (1u << 9)   /* the user/password pair is a well-known default */
#define BW_FACT_WILDCARD_SUB   (1u << 10)  /* a subscription to everything (#, $SYS/#, ...) */
#define BW_FACT_AUTH_INFERRED  (1u << 11)  /* AUTH_OK inferred from later traffic, no explicit answer */
#define BW_FACT_SPEC_VIOLATION (1u << 12)  /* at least one anomaly bit is set */
#define BW_FACT_WEBSOCKET      (1u << 13)  /* carried inside WebSocket frames */
#define BW_FACT_GAP            (1u << 14)  /* bytes were lost; later facts may be missing */
#define BW_FACT_WEAK_TLS       (1u << 15)  /* TLS with a weakness (reasons in ext) */
#define BW_FACT_ANON_PENDING   (1u << 16)  /* no identity offered; acceptance not yet known */

#define BW_FACTS_STR_MAX   64
#define BW_FACTS_EXT_MAX   768      /* dissector-owned area */
#define BW_FACTS_SECRETS_MAX 4       /* password positions kept per session */

/* Where a password lies in the TCP stream, as a fact: never its bytes. seq is the TCP sequence
 * number of its first byte in direction dir (serial arithmetic), len its length. The evidence
 * writer overwrites those bytes in every captured packet that holds them. key: how the bytes
 * are masked on the wire (a WebSocket client's frames, RFC 6455 §5.3): byte i of the range is
 * written as '*' XOR key[(key_off + i) % 4], so that it unmasks to '*'; all zero elsewhere. */
struct bw_secret_pos { uint32_t seq, len; uint8_t dir, key_off; uint8_t key[4]; };

/* The bytes a parse call is looking at (set by the pipeline around each call, cleared after it):
 * lets bw_facts_secret() turn a pointer into the buffer into a stream position. */
struct bw_feed { const uint8_t *buf; size_t len; uint32_t seq; uint8_t dir; };
#define BW_FACTS_ID_MAX    256      /* user names and client ids kept whole up to this length */

struct bw_fstr {                     /* a bounded copy of a wire string */
    uint8_t len;                     /* bytes stored */
    bool    cut;                     /* the wire string was longer */
    char    s[BW_FACTS_STR_MAX];     /* not NUL-terminated; may hold any byte */
};

/* An identity (user name, client id): kept whole up to BW_FACTS_ID_MAX bytes, because cloud IoT
 * user names run past 100 bytes (Azure IoT Hub: "<hub>.azure-devices.net/<device>/?api-version=...").
 * Longer ones keep their first BW_FACTS_ID_MAX bytes with cut set; outputs say so explicitly
 * ("username_truncated": true). unread: the wire announced the field (a CONNECT's user name
 * flag) but its bytes were never read (lost, cut off): outputs print null, never "". */
struct bw_fid {
    uint16_t len;                    /* bytes stored */
    bool     cut;                    /* the wire string was longer */
    bool     unread;                 /* announced, not read: len is 0 and means nothing */
    char     s[BW_FACTS_ID_MAX];     /* not NUL-terminated; may hold any byte */
};

struct bw_facts {
    uint32_t seen;                   /* BW_FACT_* */
    uint32_t anomalies;              /* dissector-defined bits; names in bw_dissector.anomaly_names */
    char     version[8];             /* "3.1.1", "0-9-1": NUL-terminated, "" = unknown */
    struct bw_fid  user;
    struct bw_fid  client_id;
    struct bw_fstr mech;             /* authentication mechanism (SASL name, MQTT v5 auth method) */
    struct bw_fstr product;          /* broker product and version as it announced itself */
    char     tls_version[12];        /* negotiated TLS version ("TLSv1.2"), "" when none seen */
    uint32_t pass_len;               /* valid when BW_FACT_CREDS_PASS */
    int32_t  result_code;            /* broker's answer (CONNACK code, close code); -1 = none */
    uint64_t ts_changed_us;          /* capture time of the last change (set by the pipeline) */
    struct bw_feed feed;             /* valid during one parse call only (buf NULL otherwise) */
    struct bw_secret_pos secret[BW_FACTS_SECRETS_MAX];
    uint8_t  nsecrets;
    bool     secret_unplaced;        /* a password was read where no stream position is known
                                      * (decoded copy, no feed, too many): mask the whole direction */
    _Alignas(8) uint8_t ext[BW_FACTS_EXT_MAX];   /* protocol-specific, owned by the dissector */
};

/* Copy up to BW_FACTS_STR_MAX bytes of src into dst, setting cut when longer. */
void bw_fstr_set(struct bw_fstr *dst, const uint8_t *src, size_t n);

/* A password was read at ptr[0..len) inside the bytes being parsed: record its position in the
 * stream (f->feed says where those bytes lie), never the bytes. A pointer outside the feed (a
 * decoded copy) or a full list sets secret_unplaced instead. Call wherever a password is read. */
void bw_facts_secret(struct bw_facts *f, const uint8_t *ptr, size_t len);
/* The same for bytes read through a 4-byte XOR mask: ptr[i] was masked with
 * key[(key_off + i) % 4] (see bw_secret_pos). */
void bw_facts_secret_masked(struct bw_facts *f, const uint8_t *ptr, size_t len, const uint8_t key[4],
                            uint8_t key_off);
/* Copy up to BW_FACTS_ID_MAX bytes of src into dst, setting cut when longer; clears unread. */
void bw_fid_set(struct bw_fid *dst, const uint8_t *src, size_t n);

/* Reset to "nothing known". */
void bw_facts_init(struct bw_facts *f);

/* True when (user, pass) is on the built-in list of well-known default credentials
 * (sensor/defcreds.c, documented in docs/alerts.md). Compares in place; stores nothing. */
bool bw_defcreds_match(const uint8_t *user, size_t ulen, const uint8_t *pass, size_t plen);

#endif
