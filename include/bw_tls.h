/* bw_tls.h: the TLS handshake dissector (RFC 5246 §7.4, RFC 8446 §4, certificates RFC 5280)
 * and the facts it keeps in bw_facts.ext: offered and negotiated versions, cipher suites, SNI,
 * ALPN, a JA3 client fingerprint and, up to TLS 1.2, the server's leaf certificate. Written only
 * by dissectors/tls.c; read by the pipeline (broker judgement, weak-TLS evaluation) and printed
 * by the dissector's facts_json. A handshake holds no secret; every string here is bounded. */
#ifndef BW_TLS_H
#define BW_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include "bw_dissector.h"
#include "bw_facts.h"

/* Core facts it sets (bw_facts.seen): TLS always; CONFIRMED once the ServerHello is seen and
 * nothing more about the server can follow in the clear (TLS 1.3: at the ServerHello; up to 1.2:
 * after the Certificate, or ServerHelloDone / ChangeCipherSpec without one, or when the server
 * direction stops or the session closes); REFUSED on a fatal alert from the server before
 * encryption; MIDSTREAM when a direction starts with encrypted records; GAP; SPEC_VIOLATION
 * with the anomaly bits. WEAK_TLS only through bw_tls_evaluate(). bw_facts.version stays "".
 * Parsing stops (DONE) in both directions where the handshake turns encrypted. */
extern const struct bw_dissector bw_dissector_tls;

/* Anomaly bits (bw_facts.anomalies); names in bw_dissector_tls.anomaly_names, same order. */
enum bw_tls_anomaly {
    BW_TLS_ANOM_RECORD_TYPE = 0,    /* "bad_record_type": not 20..24 */
    BW_TLS_ANOM_RECORD_VERSION,     /* "bad_record_version": record version not 3.0..3.4 */
    BW_TLS_ANOM_RECORD_LENGTH,      /* "bad_record_length": past 2^14 (+2048), or empty */
    BW_TLS_ANOM_INTERLEAVED,        /* "interleaved_record": another type inside a handshake message */
    BW_TLS_ANOM_TOO_LARGE,          /* "handshake_too_large": a hello past 16 KiB (not followed), or
                                       a leaf certificate past 64 KiB (counted, not decoded) */
    BW_TLS_ANOM_BAD_HELLO,          /* "bad_hello": a hello field runs past its message, or trails */
    BW_TLS_ANOM_BAD_EXTENSION,      /* "bad_extension": an extension's inner lengths lie */
    BW_TLS_ANOM_DUP_EXTENSION,      /* "duplicate_extension" (RFC 8446 §4.2) */
    BW_TLS_ANOM_UNEXPECTED,         /* "unexpected_message": wrong direction or order */
    BW_TLS_ANOM_BAD_CERTIFICATE,    /* "bad_certificate": list lengths lie, or DER does not decode */
    BW_TLS_ANOM_BAD_VERSION,        /* "bad_version": negotiated version unknown or inconsistent */
    BW_TLS_ANOM_BAD_CCS,            /* "bad_change_cipher_spec": not the single byte 1 */
    BW_TLS_ANOM_BAD_ALERT,          /* "bad_alert": not level(1) + description(1) */
    BW_TLS_ANOM_HEARTBEAT,          /* "heartbeat": a heartbeat record in the clear */
    BW_TLS_ANOM_SSLV2,              /* "sslv2_hello": an SSL 2.0 style ClientHello */
    BW_TLS_ANOM_AMQP_HEADER,        /* "bad_amqp_header": "AMQP" but not the TLS header 2.1.0.0 */
    BW_TLS_ANOM_BAD_NAME,           /* "bad_server_name": SNI/ALPN bytes not printable ASCII */
    BW_TLS_ANOM_COUNT
};

/* Why a session counts as weak TLS (bw_tls_facts.weak; names in bw_tls_weak_names). */
#define BW_TLS_WEAK_OLD_VERSION     (1u << 0)  /* "old_tls_version": negotiated below TLS 1.2 */
#define BW_TLS_WEAK_EXPIRED         (1u << 1)  /* "cert_expired": at capture time */
#define BW_TLS_WEAK_NOT_YET_VALID   (1u << 2)  /* "cert_not_yet_valid": at capture time */
#define BW_TLS_WEAK_SELF_SIGNED     (1u << 3)  /* "self_signed_cert": issuer == subject, own key verifies */
#define BW_TLS_WEAK_RSA_KEY         (1u << 4)  /* "weak_rsa_key": RSA under 2048 bits */
#define BW_TLS_WEAK_SIGNATURE       (1u << 5)  /* "weak_signature": signed with SHA-1 or MD5 (MD4, MD2) */
#define BW_TLS_WEAK_COUNT           6
extern const char *const bw_tls_weak_names[BW_TLS_WEAK_COUNT + 1];   /* NULL-terminated */

/* bw_tls_facts.have: which members are valid. */
#define BW_TLS_HAVE_CLIENT_HELLO  (1u << 0)  /* client_version, versions_offered, ciphers_offered */
#define BW_TLS_HAVE_SERVER_HELLO  (1u << 1)  /* version, cipher_suite */
#define BW_TLS_HAVE_HRR           (1u << 2)  /* a HelloRetryRequest came first (RFC 8446 §4.1.4) */
#define BW_TLS_HAVE_CERT_MSG      (1u << 3)  /* the server's Certificate message began: chain_len
                                              * (certificates seen so far, if it never ended) */
#define BW_TLS_HAVE_CERT          (1u << 4)  /* its leaf decoded: subject .. self_signed */
#define BW_TLS_HAVE_JA3           (1u << 5)  /* ja3_md5 */
#define BW_TLS_HAVE_SNI           (1u << 6)  /* sni */
#define BW_TLS_HAVE_ALPN_OFFERED  (1u << 7)  /* the client sent the ALPN extension */
#define BW_TLS_HAVE_ALPN          (1u << 8)  /* the server chose alpn */
#define BW_TLS_HAVE_AMQP_UPGRADE  (1u << 9)  /* AMQP 1.0 TLS header "AMQP\x02\x01\x00\x00" first */
#define BW_TLS_HAVE_ALERT         (1u << 10) /* alert_*: the first alert sent in the clear */
#define BW_TLS_HAVE_DOWNGRADE     (1u << 11) /* ServerHello random ends with "DOWNGRD" (§4.1.3) */
#define BW_TLS_HAVE_ENCRYPTED     (1u << 12) /* the handshake went past the cleartext part */
#define BW_TLS_HAVE_VALIDITY_DONE (1u << 13) /* bw_tls_evaluate() judged the validity dates */
#define BW_TLS_HAVE_JA3S          (1u << 14) /* ja3s_md5, and ja3s unless ja3s_cut */

/* bw_tls_facts.versions_offered */
#define BW_TLS_V_SSL3   (1u << 0)
#define BW_TLS_V_TLS10  (1u << 1)
#define BW_TLS_V_TLS11  (1u << 2)
#define BW_TLS_V_TLS12  (1u << 3)
#define BW_TLS_V_TLS13  (1u << 4)            /* 0x0304 and the 0x7fxx drafts */
#define BW_TLS_V_OTHER  (1u << 7)            /* a value none of the above (GREASE excluded) */

enum bw_tls_key { BW_TLS_KEY_UNKNOWN = 0, BW_TLS_KEY_RSA, BW_TLS_KEY_EC, BW_TLS_KEY_DSA,
                  BW_TLS_KEY_ED25519, BW_TLS_KEY_ED448, BW_TLS_KEY_OTHER };

#define BW_TLS_SNI_MAX         64   /* bytes kept of the host name */
#define BW_TLS_ALPN_LIST_MAX   48   /* offered ALPN names kept, wire form (len byte + name)... */
#define BW_TLS_ALPN_MAX        31   /* bytes kept of the chosen protocol */
#define BW_TLS_NAME_MAX        96   /* subject / issuer, one line, RFC 4514 order */
#define BW_TLS_SIGALG_MAX      32
#define BW_TLS_JA3S_MAX        127  /* bytes kept of the JA3S text (longer: the hash alone) */

#define BW_TLS_MAGIC 0x544c5331u    /* "TLS1": the ext area holds struct bw_tls_facts */

struct bw_tls_facts {
    uint32_t magic;                  /* BW_TLS_MAGIC once the dissector has written here */
    uint32_t have;                   /* BW_TLS_HAVE_* */
    uint32_t weak;                   /* BW_TLS_WEAK_*: set by bw_tls_evaluate() */
    uint16_t client_version;         /* ClientHello legacy_version */
    uint16_t version;                /* negotiated (supported_versions for 1.3) */
    uint16_t cipher_suite;           /* chosen by the server */
    uint16_t ciphers_offered;        /* cipher suites in the ClientHello, GREASE excluded */
    uint8_t  versions_offered;       /* BW_TLS_V_*: supported_versions, else the legacy version */
    uint8_t  alert_level;            /* 1 warning, 2 fatal */
    uint8_t  alert_desc;             /* RFC 8446 §6 AlertDescription */
    uint8_t  alert_from_server;      /* 1 if the server sent it */
    uint8_t  key_type;               /* enum bw_tls_key */
    uint8_t  chain_len;              /* certificates in the message (saturates at 255) */
    uint16_t key_bits;
    bool     self_signed;
    bool     sig_weak_hash;          /* signature digest SHA-1, MD5, MD4 or MD2 */
    bool     sni_cut, alpn_offered_cut, alpn_cut, subject_cut, issuer_cut;
    uint8_t  sni_len, alpn_offered_len, alpn_len, subject_len, issuer_len;
    uint8_t  alpn_offered_count;     /* names offered (all, even those not kept) */
    int64_t  not_before, not_after;  /* seconds since the epoch, UTC */
    uint8_t  sha256[32];             /* of the leaf certificate's DER */
    uint8_t  sha1[20];               /* the same, SHA-1: EVE's tls.fingerprint */
    uint8_t  serial[20];             /* the leaf's serial number, big-endian (RFC 5280: <= 20) */
    uint8_t  serial_len;
    bool     serial_cut;             /* longer than 20 octets (non-conforming): first 20 kept */
    uint8_t  ja3_md5[16];
    uint8_t  ja3s_md5[16];
    bool     ja3s_cut;               /* the JA3S text was longer than BW_TLS_JA3S_MAX */
    char     sni[BW_TLS_SNI_MAX + 1];         /* NUL-terminated; unprintable bytes became '?' */
    char     alpn[BW_TLS_ALPN_MAX + 1];       /* NUL-terminated, same rule */
    uint8_t  alpn_offered[BW_TLS_ALPN_LIST_MAX];  /* whole names only, each as len + bytes */
    char     subject[BW_TLS_NAME_MAX];        /* subject_len bytes, not NUL-terminated */
    char     issuer[BW_TLS_NAME_MAX];
    char     sig_alg[BW_TLS_SIGALG_MAX];      /* NUL-terminated OpenSSL long name */
    char     ja3s[BW_TLS_JA3S_MAX + 1];       /* NUL-terminated JA3S text */
};

_Static_assert(sizeof(struct bw_tls_facts) <= BW_FACTS_EXT_MAX, "bw_tls_facts must fit in ext");
_Static_assert(_Alignof(struct bw_tls_facts) <= 8, "ext is 8-byte aligned");

/* The TLS facts of a session, or NULL when f->ext was not written by the TLS dissector. */
const struct bw_tls_facts *bw_tls_facts_of(const struct bw_facts *f);

/* The client's server_name (host_name), NUL-terminated, or NULL when none was sent. */
const char *bw_tls_sni(const struct bw_facts *f);

/* The protocol the server chose by ALPN, NUL-terminated, or NULL. */
const char *bw_tls_alpn(const struct bw_facts *f);

/* True when the client offered an ALPN name starting with proto_prefix ("mqtt", "amqp");
 * an empty prefix matches any name. Only the names kept (BW_TLS_ALPN_LIST_MAX) are seen. */
bool bw_tls_alpn_offered(const struct bw_facts *f, const char *proto_prefix);

/* Judge the handshake seen so far: sets the reasons in bw_tls_facts.weak and BW_FACT_WEAK_TLS
 * in f->seen when any applies (never clears it). capture_ts_us is the capture time in
 * microseconds since the epoch; the certificate's validity dates are judged once, at the first
 * call after the certificate was decoded with a non-zero time (0 = not judged yet). The other
 * reasons follow from the stored facts, so calling again is harmless. Returns true when weak.
 * No effect (false) on facts the TLS dissector did not write. */
bool bw_tls_evaluate(struct bw_facts *f, uint64_t capture_ts_us);

#endif
