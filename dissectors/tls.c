/* tls.c: TLS handshake dissector. Records (RFC 5246 §6.2, RFC 8446 §5.1), handshake messages
 * reassembled across records (RFC 5246 §7.4, RFC 8446 §4): ClientHello (versions, suites, SNI
 * RFC 6066 §3, ALPN RFC 7301, JA3), ServerHello / HelloRetryRequest (RFC 8446 §4.1.3-4), and up
 * to TLS 1.2 the server's Certificate, walked in pieces whatever its size: the leaf is decoded
 * with OpenSSL (RFC 5280 §4.1) from its own bytes, the rest of the chain counted. The
 * AMQP 1.0 TLS header (OASIS AMQP 1.0 part 5 §5.2.1) may come first. It owns struct tls_state
 * and the bw_tls_facts record; it allocates nothing itself (OpenSSL's certificate decoding and
 * digests do, freed within the call), stops where the handshake turns encrypted, and never
 * decides which application protocol runs inside. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "bw_cursor.h"
#include "bw_digest.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"
#include "bw_tls.h"

#define REC_HDR         5
#define HS_HDR          4
#define REC_PLAIN_MAX   16384u           /* TLSPlaintext.length limit (RFC 8446 §5.1) */
#define REC_CIPHER_MAX  (16384u + 2048u) /* TLSCiphertext.length limit (RFC 5246 §6.2.3) */
#define HS_MSG_MAX      16384u           /* largest handshake message buffered and parsed */
#define LEAF_MAX        65536u           /* largest leaf certificate decoded (the rest of the
                                          * Certificate message is walked by length) */
#define AMQP_HDR_LEN    8

enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23, CT_HEARTBEAT = 24 };
enum {
    HT_HELLO_REQUEST = 0, HT_CLIENT_HELLO = 1, HT_SERVER_HELLO = 2, HT_CERTIFICATE = 11,
    HT_SERVER_HELLO_DONE = 14,
};
enum {
    EXT_SERVER_NAME = 0, EXT_SUPPORTED_GROUPS = 10, EXT_EC_POINT_FORMATS = 11, EXT_ALPN = 16,
    EXT_SUPPORTED_VERSIONS = 43,
};

static const uint8_t AMQP_TLS_HDR[AMQP_HDR_LEN] = { 'A', 'M', 'Q', 'P', 2, 1, 0, 0 };

/* SHA-256("HelloRetryRequest"): the ServerHello random of a HelloRetryRequest (RFC 8446 §4.1.3). */
static const uint8_t HRR_RANDOM[32] = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};
static const uint8_t DOWNGRADE[7] = { 'D', 'O', 'W', 'N', 'G', 'R', 'D' };

static const char *const anomaly_names[BW_TLS_ANOM_COUNT + 1] = {
    "bad_record_type", "bad_record_version", "bad_record_length", "interleaved_record",
    "handshake_too_large", "bad_hello", "bad_extension", "duplicate_extension",
    "unexpected_message", "bad_certificate", "bad_version", "bad_change_cipher_spec",
    "bad_alert", "heartbeat", "sslv2_hello", "bad_amqp_header", "bad_server_name", NULL,
};

const char *const bw_tls_weak_names[BW_TLS_WEAK_COUNT + 1] = {
    "old_tls_version", "cert_expired", "cert_not_yet_valid", "self_signed_cert", "weak_rsa_key",
    "weak_signature", NULL,
};

enum phase { PH_START, PH_RECORDS, PH_DONE };

/* A handshake message read piece by piece, never buffered whole: the server's Certificate
 * (its leaf is decoded from the bytes that hold it, the rest of the chain counted and passed by
 * length), or a message too large to buffer that nothing is read from. */
enum walk { W_NONE, W_LIST, W_CERT_LEN, W_LEAF, W_SKIP_CERT, W_SKIP_MSG };

struct tls_dir {
    uint8_t  phase;            /* enum phase */
    bool     any_record;       /* a record header was read: the AMQP header is no longer allowed */
    uint8_t  walk;             /* enum walk: W_NONE unless inside a message read in pieces */
    bool     walk_cert;        /* the walked message is the server's Certificate */
    uint8_t  certs;            /* certificates of the walked Certificate seen (saturates) */
    uint32_t skip;             /* payload bytes of the first buffered record already parsed */
    uint32_t msg_left;         /* walked message: body bytes not yet passed */
    uint32_t list_left;        /* Certificate: certificate_list bytes not yet passed */
    uint32_t cert_left;        /* Certificate: bytes of the current certificate not yet passed */
};

struct tls_state {
    struct tls_dir d[2];       /* indexed by enum bw_dir */
    bool client_hello;         /* the first ClientHello was parsed */
    bool second_hello;         /* the ClientHello answering a HelloRetryRequest */
    bool clear_over;           /* the server turned encrypted: nothing readable follows */
};
_Static_assert(sizeof(struct tls_state) <= BW_DISSECTOR_STATE_MAX, "tls state too big");

static void anomaly(struct bw_facts *f, unsigned bit)
{
    f->anomalies |= 1u << bit;
    f->seen |= BW_FACT_SPEC_VIOLATION;
}

static struct bw_tls_facts *ext_of(struct bw_facts *f)
{
    return (struct bw_tls_facts *)(void *)f->ext;
}

const struct bw_tls_facts *bw_tls_facts_of(const struct bw_facts *f)
{
    const struct bw_tls_facts *x = (const struct bw_tls_facts *)(const void *)f->ext;
    return x->magic == BW_TLS_MAGIC ? x : NULL;
}

/* GREASE values (RFC 8701): 0x?A?A with equal bytes. */
static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static bool is_tls13(uint16_t v)
{
    return v == 0x0304 || (v >> 8) == 0x7f;     /* final and draft versions */
}

static uint8_t version_bit(uint16_t v)
{
    switch (v) {
    case 0x0300: return BW_TLS_V_SSL3;
    case 0x0301: return BW_TLS_V_TLS10;
    case 0x0302: return BW_TLS_V_TLS11;
    case 0x0303: return BW_TLS_V_TLS12;
    default:     return is_tls13(v) ? BW_TLS_V_TLS13 : BW_TLS_V_OTHER;
    }
}

static uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Copy a wire name into a NUL-terminated array: unprintable bytes become '?' (an anomaly). */
static uint8_t put_name(char *dst, size_t cap, bool *cut, struct bw_bytes b, struct bw_facts *f)
{
    size_t keep = b.len < cap - 1 ? b.len : cap - 1;
    struct bw_cur c = bw_cur_init(b.ptr, b.len);
    for (size_t i = 0; i < b.len; i++) {
        uint8_t ch = bw_cur_u8(&c);
        bool ok = ch > 0x20 && ch < 0x7f;
        if (!ok) anomaly(f, BW_TLS_ANOM_BAD_NAME);
        if (i < keep) dst[i] = ok ? (char)ch : '?';
    }
    dst[keep] = '\0';
    *cut = b.len > keep;
    return (uint8_t)keep;
}

/* ---- ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) ---- */

static void ext_sni(struct bw_cur *e, struct bw_tls_facts *x, struct bw_facts *f)
{
    struct bw_cur list = bw_cur_sub(e, bw_cur_be16(e));
    bool found = false;
    while (bw_cur_left(&list) > 0) {
        uint8_t type = bw_cur_u8(&list);
        struct bw_bytes name = bw_cur_bytes(&list, bw_cur_be16(&list));
        if (list.bad) break;
        if (type != 0 || found) continue;          /* host_name only, the first one */
        found = true;
        if (name.len == 0) { anomaly(f, BW_TLS_ANOM_BAD_NAME); continue; }
        x->sni_len = put_name(x->sni, sizeof x->sni, &x->sni_cut, name, f);
        x->have |= BW_TLS_HAVE_SNI;
    }
    if (e->bad || list.bad || bw_cur_left(e) != 0) anomaly(f, BW_TLS_ANOM_BAD_EXTENSION);
}

static void ext_alpn_offered(struct bw_cur *e, struct bw_tls_facts *x, struct bw_facts *f)
{
    struct bw_cur list = bw_cur_sub(e, bw_cur_be16(e));
    x->have |= BW_TLS_HAVE_ALPN_OFFERED;
    while (bw_cur_left(&list) > 0) {
        struct bw_bytes name = bw_cur_bytes(&list, bw_cur_u8(&list));
        if (list.bad) break;
        if (name.len == 0) { anomaly(f, BW_TLS_ANOM_BAD_EXTENSION); continue; }
        if (x->alpn_offered_count < UINT8_MAX) x->alpn_offered_count++;
        if (x->alpn_offered_cut || sizeof x->alpn_offered - x->alpn_offered_len < 1 + name.len) {
            x->alpn_offered_cut = true;            /* keep whole names only */
            continue;
        }
        x->alpn_offered[x->alpn_offered_len] = (uint8_t)name.len;
        memcpy(x->alpn_offered + x->alpn_offered_len + 1, name.ptr, name.len);
        x->alpn_offered_len = (uint8_t)(x->alpn_offered_len + 1 + name.len);
    }
    if (e->bad || list.bad || bw_cur_left(e) != 0) anomaly(f, BW_TLS_ANOM_BAD_EXTENSION);
}

static void ext_versions_offered(struct bw_cur *e, struct bw_tls_facts *x, struct bw_facts *f)
{
    uint8_t n = bw_cur_u8(e);
    struct bw_cur list = bw_cur_sub(e, n);
    if (n == 0 || n % 2) anomaly(f, BW_TLS_ANOM_BAD_EXTENSION);
    while (bw_cur_left(&list) >= 2) {
        uint16_t v = bw_cur_be16(&list);
        if (!is_grease(v)) x->versions_offered |= version_bit(v);
    }
    if (e->bad || bw_cur_left(e) != 0) anomaly(f, BW_TLS_ANOM_BAD_EXTENSION);
}

/* JA3: "SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats", decimal values
 * joined by '-', GREASE left out, hashed with MD5. The text is gathered in a buffer and given to
 * the digest a buffer at a time (one update per value costs more than the hello's parse), and the
 * numbers are written by hand: no printf family per value. */
struct ja3 { EVP_MD_CTX *ctx; bool ok, first; size_t n, total; char buf[1024]; };

static void ja3_drain(struct ja3 *j)
{
    if (j->ok && j->n && EVP_DigestUpdate(j->ctx, j->buf, j->n) != 1) j->ok = false;
    j->n = 0;
}

static void ja3_raw(struct ja3 *j, const char *s, size_t n)
{
    if (n > sizeof j->buf - j->n) ja3_drain(j);
    memcpy(j->buf + j->n, s, n);                     /* n <= 7: always fits after a drain */
    j->n += n;
    j->total += n;
}

static void ja3_field(struct ja3 *j, bool leading_comma)
{
    if (leading_comma) ja3_raw(j, ",", 1);
    j->first = true;
}

static void ja3_num(struct ja3 *j, unsigned v)
{
    char t[8], *e = t + sizeof t, *q = e;            /* v <= 65535: at most 5 digits and '-' */
    do { *--q = (char)('0' + v % 10); v /= 10; } while (v && q > t + 1);
    if (!j->first) *--q = '-';
    j->first = false;
    ja3_raw(j, q, (size_t)(e - q));
}

/* A text from its first number (the legacy version) on, hashed as it is written. */
static void ja3_start(struct ja3 *j, uint16_t legacy)
{
    j->ctx = EVP_MD_CTX_new();
    j->ok = j->ctx && EVP_DigestInit_ex(j->ctx, bw_md_md5(), NULL) == 1;
    j->first = true;
    j->n = j->total = 0;
    ja3_field(j, false);
    ja3_num(j, legacy);
}

/* The MD5 of what was written; false when OpenSSL failed. Frees the digest. */
static bool ja3_finish(struct ja3 *j, uint8_t md[16])
{
    unsigned int mdlen = 0;
    ja3_drain(j);
    bool ok = j->ok && EVP_DigestFinal_ex(j->ctx, md, &mdlen) == 1 && mdlen == 16;
    EVP_MD_CTX_free(j->ctx);
    ERR_clear_error();
    return ok;
}

/* The data of the first extension of `type` in the extensions block, or a bad cursor. */
static struct bw_cur find_ext(struct bw_cur exts, uint16_t type)
{
    while (bw_cur_left(&exts) > 0) {
        uint16_t t = bw_cur_be16(&exts);
        struct bw_cur d = bw_cur_sub(&exts, bw_cur_be16(&exts));
        if (exts.bad) break;
        if (t == type) return d;
    }
    struct bw_cur none = { NULL, 0, 0, true };
    return none;
}

static void ja3(uint16_t legacy, struct bw_cur ciphers, struct bw_cur exts, bool have_exts,
                struct bw_tls_facts *x)
{
    struct ja3 j;
    ja3_start(&j, legacy);
    ja3_field(&j, true);
    while (bw_cur_left(&ciphers) >= 2) {
        uint16_t v = bw_cur_be16(&ciphers);
        if (!is_grease(v)) ja3_num(&j, v);
    }
    ja3_field(&j, true);
    if (have_exts) {
        struct bw_cur e = exts;
        while (bw_cur_left(&e) > 0) {
            uint16_t t = bw_cur_be16(&e);
            (void)bw_cur_skip(&e, bw_cur_be16(&e));
            if (!e.bad && !is_grease(t)) ja3_num(&j, t);
        }
    }
    ja3_field(&j, true);
    struct bw_cur g = have_exts ? find_ext(exts, EXT_SUPPORTED_GROUPS) : exts;
    if (have_exts && !g.bad) {
        struct bw_cur list = bw_cur_sub(&g, bw_cur_be16(&g));
        while (bw_cur_left(&list) >= 2) {
            uint16_t v = bw_cur_be16(&list);
            if (!is_grease(v)) ja3_num(&j, v);
        }
    }
    ja3_field(&j, true);
    struct bw_cur pf = have_exts ? find_ext(exts, EXT_EC_POINT_FORMATS) : exts;
    if (have_exts && !pf.bad) {
        struct bw_cur list = bw_cur_sub(&pf, bw_cur_u8(&pf));
        while (bw_cur_left(&list) > 0) ja3_num(&j, bw_cur_u8(&list));
    }
    if (ja3_finish(&j, x->ja3_md5)) x->have |= BW_TLS_HAVE_JA3;
}

/* JA3S: "SSLVersion,Cipher,Extensions" of the ServerHello (legacy version, the chosen suite, the
 * extension types in their order), MD5 as JA3. The text is kept too while it is short. */
static void ja3s(uint16_t legacy, uint16_t suite, struct bw_cur exts, bool have_exts, struct bw_tls_facts *x)
{
    struct ja3 j;
    ja3_start(&j, legacy);
    ja3_field(&j, true);
    ja3_num(&j, suite);
    ja3_field(&j, true);
    while (have_exts && bw_cur_left(&exts) > 0) {
        uint16_t t = bw_cur_be16(&exts);
        (void)bw_cur_skip(&exts, bw_cur_be16(&exts));
        if (exts.bad) break;
        ja3_num(&j, t);
    }
    x->ja3s_cut = j.total > BW_TLS_JA3S_MAX;        /* short: all of it is still in the buffer */
    if (!x->ja3s_cut) {
        memcpy(x->ja3s, j.buf, j.n);
        x->ja3s[j.n] = '\0';
    }
    if (ja3_finish(&j, x->ja3s_md5)) x->have |= BW_TLS_HAVE_JA3S;
}

static void client_hello(struct bw_cur *b, struct bw_tls_facts *x, struct bw_facts *f)
{
    uint16_t legacy = bw_cur_be16(b);
    (void)bw_cur_skip(b, 32);                        /* random */
    uint8_t sid = bw_cur_u8(b);
    (void)bw_cur_skip(b, sid);
    uint16_t cs_len = bw_cur_be16(b);
    struct bw_cur ciphers = bw_cur_sub(b, cs_len);
    struct bw_cur comp = bw_cur_sub(b, bw_cur_u8(b));
    bool have_exts = bw_cur_left(b) > 0;             /* absent in pre-extension hellos */
    struct bw_cur exts = have_exts ? bw_cur_sub(b, bw_cur_be16(b)) : bw_cur_init(NULL, 0);
    bool good = !b->bad && bw_cur_left(b) == 0 && sid <= 32 && cs_len >= 2 && cs_len % 2 == 0 &&
                bw_cur_left(&comp) >= 1;
    if (!good) {                                     /* fields past the message, or trailing */
        anomaly(f, BW_TLS_ANOM_BAD_HELLO);
        if (b->bad) return;
    }
    x->have |= BW_TLS_HAVE_CLIENT_HELLO;
    x->client_version = legacy;
    struct bw_cur cc = ciphers;
    while (bw_cur_left(&cc) >= 2) {
        uint16_t v = bw_cur_be16(&cc);
        if (!is_grease(v) && x->ciphers_offered < UINT16_MAX) x->ciphers_offered++;
    }
    uint64_t seen_types = 0;                         /* duplicates among types 0..63 */
    bool sv = false;
    struct bw_cur e = exts;
    while (bw_cur_left(&e) > 0) {
        uint16_t t = bw_cur_be16(&e);
        struct bw_cur d = bw_cur_sub(&e, bw_cur_be16(&e));
        if (e.bad) { anomaly(f, BW_TLS_ANOM_BAD_HELLO); good = false; break; }
        if (t < 64) {
            if (seen_types & ((uint64_t)1 << t)) { anomaly(f, BW_TLS_ANOM_DUP_EXTENSION); continue; }
            seen_types |= (uint64_t)1 << t;
        }
        switch (t) {
        case EXT_SERVER_NAME:        ext_sni(&d, x, f); break;
        case EXT_ALPN:               ext_alpn_offered(&d, x, f); break;
        case EXT_SUPPORTED_VERSIONS: ext_versions_offered(&d, x, f); sv = true; break;
        default: break;
        }
    }
    if (!sv && !is_grease(legacy)) x->versions_offered |= version_bit(legacy);
    if (good) ja3(legacy, ciphers, exts, have_exts, x);
}

/* ---- ServerHello (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3) ---- */

static void ext_alpn_chosen(struct bw_cur *e, struct bw_tls_facts *x, struct bw_facts *f)
{
    struct bw_cur list = bw_cur_sub(e, bw_cur_be16(e));
    struct bw_bytes name = bw_cur_bytes(&list, bw_cur_u8(&list));
    /* exactly one non-empty name (RFC 7301 §3.1) */
    if (e->bad || list.bad || name.len == 0 || bw_cur_left(&list) != 0 || bw_cur_left(e) != 0) {
        anomaly(f, BW_TLS_ANOM_BAD_EXTENSION);
        if (list.bad || name.len == 0) return;
    }
    x->alpn_len = put_name(x->alpn, sizeof x->alpn, &x->alpn_cut, name, f);
    x->have |= BW_TLS_HAVE_ALPN;
}

/* Returns true when the rest of this direction is encrypted (TLS 1.3). */
static enum bw_parse server_hello(struct tls_state *st, struct bw_cur *b, struct bw_tls_facts *x,
                                  struct bw_facts *f)
{
    uint16_t legacy = bw_cur_be16(b);
    struct bw_bytes random = bw_cur_bytes(b, 32);
    uint8_t sid = bw_cur_u8(b);
    (void)bw_cur_skip(b, sid);
    uint16_t suite = bw_cur_be16(b);
    (void)bw_cur_u8(b);                              /* compression method */
    bool have_exts = bw_cur_left(b) > 0;
    struct bw_cur exts = have_exts ? bw_cur_sub(b, bw_cur_be16(b)) : bw_cur_init(NULL, 0);
    struct bw_cur exts_all = exts;                   /* for JA3S, walked again */
    if (b->bad) {                                    /* no trustworthy version or suite */
        anomaly(f, BW_TLS_ANOM_BAD_HELLO);
        return BW_PARSE_MALFORMED;
    }
    if (bw_cur_left(b) != 0 || sid > 32) anomaly(f, BW_TLS_ANOM_BAD_HELLO);
    bool hrr = memcmp(random.ptr, HRR_RANDOM, sizeof HRR_RANDOM) == 0;
    uint16_t selected = 0;
    uint64_t seen_types = 0;
    while (bw_cur_left(&exts) > 0) {
        uint16_t t = bw_cur_be16(&exts);
        struct bw_cur d = bw_cur_sub(&exts, bw_cur_be16(&exts));
        if (exts.bad) { anomaly(f, BW_TLS_ANOM_BAD_HELLO); break; }
        if (t < 64) {
            if (seen_types & ((uint64_t)1 << t)) { anomaly(f, BW_TLS_ANOM_DUP_EXTENSION); continue; }
            seen_types |= (uint64_t)1 << t;
        }
        if (t == EXT_SUPPORTED_VERSIONS) {
            selected = bw_cur_be16(&d);
            if (d.bad || bw_cur_left(&d) != 0) {
                anomaly(f, BW_TLS_ANOM_BAD_EXTENSION);
                selected = 0;
            }
        } else if (t == EXT_ALPN && !hrr) {
            ext_alpn_chosen(&d, x, f);
        }
    }
    uint16_t version = selected ? selected : legacy;
    /* supported_versions only ever selects 1.3 or later (RFC 8446 §4.2.1); legacy_version is at
     * most 1.2; anything else is no version we can name. */
    if ((selected && !is_tls13(selected)) || (!selected && (legacy < 0x0300 || legacy > 0x0303)))
        anomaly(f, BW_TLS_ANOM_BAD_VERSION);
    if (hrr) {
        if (x->have & BW_TLS_HAVE_HRR) anomaly(f, BW_TLS_ANOM_UNEXPECTED);   /* only one (§4.1.4) */
        x->have |= BW_TLS_HAVE_HRR;
        return BW_PARSE_OK;                          /* the real ServerHello follows */
    }
    if (memcmp(random.ptr + 24, DOWNGRADE, sizeof DOWNGRADE) == 0 &&
        (random.ptr[31] == 0 || random.ptr[31] == 1))
        x->have |= BW_TLS_HAVE_DOWNGRADE;
    x->have |= BW_TLS_HAVE_SERVER_HELLO;
    x->version = version;
    x->cipher_suite = suite;
    ja3s(legacy, suite, exts_all, have_exts, x);
    if (is_tls13(version)) {                         /* EncryptedExtensions onwards are encrypted */
        st->clear_over = true;
        x->have |= BW_TLS_HAVE_ENCRYPTED;
        return BW_PARSE_DONE;
    }
    return BW_PARSE_OK;
}

/* ---- Certificate (RFC 5246 §7.4.2) and its leaf (RFC 5280 §4.1) ---- */

struct sbuf { char *s; size_t cap, len; bool cut; };

static void sb_putc(struct sbuf *b, char ch)
{
    if (b->len < b->cap) b->s[b->len++] = ch;
    else b->cut = true;
}

static void sb_puts(struct sbuf *b, const char *s)
{
    for (; *s; s++) sb_putc(b, *s);
}

static void sb_utf8(struct sbuf *b, uint32_t cp)
{
    if (cp >= 0xd800 && cp <= 0xdfff) cp = '?';     /* lone surrogate */
    if (cp < 0x80) {
        sb_putc(b, (char)cp);
    } else if (cp < 0x800) {
        sb_putc(b, (char)(0xc0 | cp >> 6));
        sb_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        sb_putc(b, (char)(0xe0 | cp >> 12));
        sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        sb_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x110000) {
        sb_putc(b, (char)(0xf0 | cp >> 18));
        sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        sb_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        sb_putc(b, '?');
    }
}

/* One attribute value, RFC 4514 §2.4 escaping of the specials; BMP / Universal strings to
 * UTF-8, every other string type as its bytes (the JSON writer repairs invalid UTF-8). */
static void sb_value(struct sbuf *b, const ASN1_STRING *v)
{
    int type = ASN1_STRING_type(v), n = ASN1_STRING_length(v);
    struct bw_cur c = bw_cur_init(ASN1_STRING_get0_data(v), n > 0 ? (size_t)n : 0);
    bool first = true;
    while (bw_cur_left(&c) > 0) {
        uint32_t cp;
        if (type == V_ASN1_BMPSTRING) cp = bw_cur_be16(&c);
        else if (type == V_ASN1_UNIVERSALSTRING) cp = bw_cur_be32(&c);
        else cp = bw_cur_u8(&c);
        if (c.bad) break;
        bool multi = type == V_ASN1_BMPSTRING || type == V_ASN1_UNIVERSALSTRING;
        if (cp < 0x20 || cp == 0x7f) {
            char hex[4];
            snprintf(hex, sizeof hex, "\\%02X", (unsigned)cp);
            sb_puts(b, hex);
        } else if (strchr(",+\"\\<>;", (int)cp) && cp < 0x80) {
            sb_putc(b, '\\');
            sb_putc(b, (char)cp);
        } else if (first && (cp == ' ' || cp == '#')) {
            sb_putc(b, '\\');
            sb_putc(b, (char)cp);
        } else if (multi) {
            sb_utf8(b, cp);
        } else {
            sb_putc(b, (char)cp);
        }
        first = false;
    }
}

/* Drop a UTF-8 sequence cut short at the end of a full buffer. */
static size_t utf8_trim(const char *s, size_t len)
{
    size_t i = len, k = 0;
    while (i > 0 && k < 4 && ((uint8_t)s[i - 1] & 0xc0) == 0x80) { i--; k++; }
    if (i == 0 || (uint8_t)s[i - 1] < 0xc0) return len;
    uint8_t lead = (uint8_t)s[i - 1];
    size_t need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
    return k < need ? i - 1 : len;
}

/* The name on one line, most specific RDN first (RFC 4514 §2.1), e.g. "CN=broker,O=Plant,C=DE". */
static void name_line(const X509_NAME *n, char *out, size_t cap, uint8_t *len, bool *cut)
{
    struct sbuf b = { out, cap, 0, false };
    int cnt = X509_NAME_entry_count(n), prev_set = -1;
    for (int i = cnt - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
        if (!e) continue;
        int set = X509_NAME_ENTRY_set(e);
        if (i != cnt - 1) sb_putc(&b, set == prev_set ? '+' : ',');
        prev_set = set;
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        int nid = OBJ_obj2nid(obj);
        const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
        char oid[64];
        if (!sn) {
            if (OBJ_obj2txt(oid, sizeof oid, obj, 1) <= 0) snprintf(oid, sizeof oid, "?");
            sn = oid;
        }
        sb_puts(&b, sn);
        sb_putc(&b, '=');
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        if (v) sb_value(&b, v);
    }
    if (b.cut) b.len = utf8_trim(out, b.len);
    *len = (uint8_t)b.len;
    *cut = b.cut;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = m > 2 ? m - 3 : m + 9;
    unsigned doy = (153 * mp + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool asn1_epoch(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
    int64_t days = days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
    *out = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return true;
}

static uint8_t key_type(const EVP_PKEY *pk)
{
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA: case EVP_PKEY_RSA_PSS: return BW_TLS_KEY_RSA;
    case EVP_PKEY_EC:      return BW_TLS_KEY_EC;
    case EVP_PKEY_DSA:     return BW_TLS_KEY_DSA;
    case EVP_PKEY_ED25519: return BW_TLS_KEY_ED25519;
    case EVP_PKEY_ED448:   return BW_TLS_KEY_ED448;
    default:               return BW_TLS_KEY_OTHER;
    }
}

/* Decode the leaf with OpenSSL into the certificate fields of x; everything it allocates is freed
 * before returning. *bad: the certificate is malformed (an anomaly for the session). */
static void leaf_decode(struct bw_bytes der, struct bw_tls_facts *x, bool *bad)
{
    const unsigned char *p = der.ptr;
    X509 *crt = der.len <= LEAF_MAX ? d2i_X509(NULL, &p, (long)der.len) : NULL;
    if (!crt) {
        *bad = true;
        ERR_clear_error();
        return;
    }
    size_t used = (size_t)(p - der.ptr);
    if (used != der.len) *bad = true;   /* bytes after the DER */
    const X509_NAME *subj = X509_get_subject_name(crt), *iss = X509_get_issuer_name(crt);
    if (subj) name_line(subj, x->subject, sizeof x->subject, &x->subject_len, &x->subject_cut);
    if (iss) name_line(iss, x->issuer, sizeof x->issuer, &x->issuer_len, &x->issuer_cut);
    if (!asn1_epoch(X509_get0_notBefore(crt), &x->not_before) ||
        !asn1_epoch(X509_get0_notAfter(crt), &x->not_after))
        *bad = true;
    EVP_PKEY *pk = X509_get0_pubkey(crt);            /* owned by crt */
    if (pk) {
        x->key_type = key_type(pk);
        int bits = EVP_PKEY_get_bits(pk);
        x->key_bits = bits > 0 && bits <= UINT16_MAX ? (uint16_t)bits : 0;
    }
    int signid = X509_get_signature_nid(crt);
    const char *ln = signid != NID_undef ? OBJ_nid2ln(signid) : NULL;
    snprintf(x->sig_alg, sizeof x->sig_alg, "%s", ln ? ln : "unknown");
    int mdnid = NID_undef, pknid = NID_undef, secbits = 0;
    uint32_t sflags = 0;
    if (X509_get_signature_info(crt, &mdnid, &pknid, &secbits, &sflags) == 1)
        x->sig_weak_hash = mdnid == NID_sha1 || mdnid == NID_md5 || mdnid == NID_md5_sha1 ||
                           mdnid == NID_md4 || mdnid == NID_md2;
    unsigned int mdlen = 0;
    if (EVP_Digest(der.ptr, used, x->sha256, &mdlen, bw_md_sha256(), NULL) != 1 || mdlen != 32)
        memset(x->sha256, 0, sizeof x->sha256);
    if (EVP_Digest(der.ptr, used, x->sha1, &mdlen, bw_md_sha1(), NULL) != 1 || mdlen != 20)
        memset(x->sha1, 0, sizeof x->sha1);
    const ASN1_INTEGER *sn = X509_get0_serialNumber(crt);   /* owned by crt */
    int snlen = sn ? ASN1_STRING_length(sn) : 0;
    if (snlen > 0) {
        size_t n = (size_t)snlen < sizeof x->serial ? (size_t)snlen : sizeof x->serial;
        memcpy(x->serial, ASN1_STRING_get0_data(sn), n);
        x->serial_len = (uint8_t)n;
        x->serial_cut = (size_t)snlen > sizeof x->serial;
    }
    /* Self-signed: it names itself as issuer and its own key verifies its signature. */
    x->self_signed = subj && iss && pk && X509_NAME_cmp(subj, iss) == 0 && X509_verify(crt, pk) == 1;
    x->have |= BW_TLS_HAVE_CERT;
    X509_free(crt);
    ERR_clear_error();
}

/* The certificate fields leaf_decode() writes, from src into dst (keep the two in step). */
static void cert_copy(struct bw_tls_facts *dst, const struct bw_tls_facts *src)
{
    memcpy(dst->subject, src->subject, sizeof dst->subject);
    dst->subject_len = src->subject_len;
    dst->subject_cut = src->subject_cut;
    memcpy(dst->issuer, src->issuer, sizeof dst->issuer);
    dst->issuer_len = src->issuer_len;
    dst->issuer_cut = src->issuer_cut;
    dst->not_before = src->not_before;
    dst->not_after = src->not_after;
    dst->key_type = src->key_type;
    dst->key_bits = src->key_bits;
    memcpy(dst->sig_alg, src->sig_alg, sizeof dst->sig_alg);
    dst->sig_weak_hash = src->sig_weak_hash;
    memcpy(dst->sha256, src->sha256, sizeof dst->sha256);
    memcpy(dst->sha1, src->sha1, sizeof dst->sha1);
    memcpy(dst->serial, src->serial, sizeof dst->serial);
    dst->serial_len = src->serial_len;
    dst->serial_cut = src->serial_cut;
    dst->self_signed = src->self_signed;
    dst->have |= src->have & BW_TLS_HAVE_CERT;
}

/* A broker shows the same certificate to every client, and decoding it with OpenSSL costs
 * about two million instructions (most of a TLS session's cost). The last few leaves decoded are
 * remembered by the SHA-256 of their bytes (and their length): a leaf seen again takes the fields
 * its first decode gave, without a decode. The same bytes give the same result, and SHA-256 keeps
 * a crafted certificate from passing for another. Per thread (each worker its own, no lock),
 * LEAF_MEMO entries of a few hundred bytes each. */
#define LEAF_MEMO 8
struct leaf_memo {
    uint8_t key[32];
    uint64_t used;                  /* a clock for replacing the least recently used */
    uint32_t len;                   /* 0 = empty */
    bool bad;
    struct bw_tls_facts x;          /* only the certificate fields are meaningful */
};
static _Thread_local struct leaf_memo leaf_memo[LEAF_MEMO];
static _Thread_local uint64_t leaf_clock;

static void leaf(struct bw_bytes der, struct bw_tls_facts *x, struct bw_facts *f)
{
    uint8_t key[32];
    unsigned int klen = 0;
    bool bad = false;
    if (der.len == 0 || der.len > LEAF_MAX ||
        EVP_Digest(der.ptr, der.len, key, &klen, bw_md_sha256(), NULL) != 1 || klen != sizeof key) {
        ERR_clear_error();
        leaf_decode(der, x, &bad);
        if (bad) anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);
        return;
    }
    struct leaf_memo *m = NULL, *old = &leaf_memo[0];
    for (int i = 0; i < LEAF_MEMO; i++) {
        struct leaf_memo *e = &leaf_memo[i];
        if (e->len == der.len && memcmp(e->key, key, sizeof key) == 0) { m = e; break; }
        if (e->used < old->used) old = e;
    }
    if (!m) {
        m = old;
        memset(&m->x, 0, sizeof m->x);
        m->bad = false;
        leaf_decode(der, &m->x, &m->bad);
        memcpy(m->key, key, sizeof key);
        m->len = (uint32_t)der.len;
    }
    m->used = ++leaf_clock;
    cert_copy(x, &m->x);
    if (m->bad) anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);
}

/* ---- records and reassembly ---- */

static void server_over(struct bw_facts *f)
{
    const struct bw_tls_facts *x = ext_of(f);
    if (x->have & BW_TLS_HAVE_SERVER_HELLO) f->seen |= BW_FACT_CONFIRMED;   /* facts are final */
}

static enum bw_parse stop(struct tls_state *st, enum bw_dir dir, struct bw_facts *f, enum bw_parse r)
{
    st->d[dir].phase = PH_DONE;
    if (dir == BW_DIR_TOCLIENT) server_over(f);
    return r;
}

static enum bw_parse message(struct tls_state *st, enum bw_dir dir, uint8_t type, struct bw_cur *b,
                             struct bw_facts *f)
{
    struct bw_tls_facts *x = ext_of(f);
    if (dir == BW_DIR_TOSERVER) {
        switch (type) {
        case HT_CLIENT_HELLO:
            if (!st->client_hello) {
                st->client_hello = true;
                client_hello(b, x, f);
            } else if ((x->have & BW_TLS_HAVE_HRR) && !st->second_hello) {
                st->second_hello = true;         /* the answer to a HelloRetryRequest */
            } else {
                anomaly(f, BW_TLS_ANOM_UNEXPECTED);
            }
            return BW_PARSE_OK;
        case HT_HELLO_REQUEST: case HT_SERVER_HELLO: case HT_SERVER_HELLO_DONE:
            anomaly(f, BW_TLS_ANOM_UNEXPECTED);  /* server messages */
            return BW_PARSE_OK;
        default:                                 /* Certificate, ClientKeyExchange, ...: skipped */
            if (!st->client_hello) anomaly(f, BW_TLS_ANOM_UNEXPECTED);
            return BW_PARSE_OK;
        }
    }
    bool hello = x->have & BW_TLS_HAVE_SERVER_HELLO;
    switch (type) {
    case HT_HELLO_REQUEST:
        return BW_PARSE_OK;
    case HT_SERVER_HELLO:
        if (hello) { anomaly(f, BW_TLS_ANOM_UNEXPECTED); return BW_PARSE_OK; }
        return server_hello(st, b, x, f);
    case HT_CERTIFICATE:                         /* after the hello it is walked: cert_walk() */
        anomaly(f, BW_TLS_ANOM_UNEXPECTED);
        return BW_PARSE_OK;
    case HT_SERVER_HELLO_DONE:
        if (!hello) anomaly(f, BW_TLS_ANOM_UNEXPECTED);
        return BW_PARSE_DONE;                    /* the handshake moved on without a certificate */
    case HT_CLIENT_HELLO:
        anomaly(f, BW_TLS_ANOM_UNEXPECTED);
        return BW_PARSE_OK;
    default:                                     /* ServerKeyExchange, CertificateRequest, ... */
        if (!hello) anomaly(f, BW_TLS_ANOM_UNEXPECTED);
        return BW_PARSE_OK;
    }
}

/* Validity of a record header (RFC 5246 §6.2.1, RFC 8446 §5.1): 0 or the anomaly bit + 1. */
static unsigned record_problem(uint8_t type, uint16_t ver, uint16_t rlen)
{
    if (type < CT_CCS || type > CT_HEARTBEAT) return BW_TLS_ANOM_RECORD_TYPE + 1;
    if ((ver >> 8) != 3 || (ver & 0xff) > 4) return BW_TLS_ANOM_RECORD_VERSION + 1;
    if (rlen > (type == CT_APPDATA ? REC_CIPHER_MAX : REC_PLAIN_MAX)) return BW_TLS_ANOM_RECORD_LENGTH + 1;
    return 0;
}

/* Handshake-protocol bytes read across the handshake records at the front of the buffer. */
struct hs_src {
    struct bw_cur c;           /* the direction's bytes, from a record boundary */
    size_t rec_start;          /* offset of the current record's header */
    size_t rec_left;           /* its payload bytes not read yet */
};

enum src { SRC_OK, SRC_NEED, SRC_BAD };

static enum src src_record(struct hs_src *s, struct bw_facts *f)
{
    if (bw_cur_left(&s->c) < REC_HDR) return SRC_NEED;
    s->rec_start = s->c.off;
    uint8_t type = bw_cur_u8(&s->c);
    uint16_t ver = bw_cur_be16(&s->c), rlen = bw_cur_be16(&s->c);
    unsigned prob = record_problem(type, ver, rlen);
    if (prob) { anomaly(f, prob - 1); return SRC_BAD; }
    /* A handshake message is never interleaved with other records (RFC 8446 §5.1). */
    if (type != CT_HANDSHAKE) { anomaly(f, BW_TLS_ANOM_INTERLEAVED); return SRC_BAD; }
    if (rlen == 0) anomaly(f, BW_TLS_ANOM_RECORD_LENGTH);   /* MUST NOT be sent, harmless */
    s->rec_left = rlen;
    return SRC_OK;
}

static enum src src_read(struct hs_src *s, uint8_t *out, size_t n, struct bw_facts *f)
{
    while (n > 0) {
        if (s->rec_left == 0) {
            enum src r = src_record(s, f);
            if (r != SRC_OK) return r;
            continue;
        }
        size_t k = n < s->rec_left ? n : s->rec_left;
        const uint8_t *p;
        if (!bw_cur_take(&s->c, k, &p)) return SRC_NEED;
        if (out) { memcpy(out, p, k); out += k; }
        n -= k;
        s->rec_left -= k;
    }
    return SRC_OK;
}

/* Pass up to n handshake payload bytes, across the records at hand; returns how many. */
static size_t src_pass(struct hs_src *s, size_t n, enum src *r, struct bw_facts *f)
{
    size_t done = 0;
    *r = SRC_OK;
    while (done < n) {
        if (s->rec_left == 0) {
            struct hs_src before = *s;
            *r = src_record(s, f);
            if (*r == SRC_NEED) { *s = before; *r = SRC_OK; break; }
            if (*r == SRC_BAD) break;
            continue;
        }
        size_t k = n - done;
        if (k > s->rec_left) k = s->rec_left;
        if (k > bw_cur_left(&s->c)) k = bw_cur_left(&s->c);
        if (k == 0) break;
        (void)bw_cur_skip(&s->c, k);
        s->rec_left -= k;
        done += k;
    }
    return done;
}

/* What the direction has used up to `s`: whole records, plus the bytes of the record it is in. */
static size_t commit_at(struct tls_dir *d, const struct hs_src *s)
{
    d->skip = s->rec_left == 0 ? 0 : (uint32_t)(s->c.off - s->rec_start - REC_HDR);
    return s->rec_left == 0 ? s->c.off : s->rec_start;
}

/* Start walking a message of mlen body bytes (the Certificate: cert set; otherwise passed). */
static void walk_begin(struct tls_dir *d, uint32_t mlen, bool cert, struct bw_tls_facts *x)
{
    d->walk = cert ? W_LIST : W_SKIP_MSG;
    d->walk_cert = cert;
    d->msg_left = mlen;
    d->list_left = d->cert_left = 0;
    d->certs = 0;
    if (cert) {
        x->have |= BW_TLS_HAVE_CERT_MSG;
        x->chain_len = 0;
    }
}

/* The Certificate (RFC 5246 §7.4.2: certificate_list<0..2^24-1>, each ASN.1Cert<1..2^24-1>) or
 * a passed message, from `s` on, as far as the bytes at hand go. Every unit (a length, the whole
 * leaf, a stretch passed) is taken whole or not at all, so the facts are the same however the
 * bytes arrive. The leaf, the first certificate, is decoded once all of its bytes are here (at
 * most LEAF_MAX; they need the reassembly window to hold them); the other certificates are only
 * counted. NEED_MORE: wait (what was used is consumed); DONE: the message is over; MALFORMED:
 * another record type cut into it. */
static enum bw_parse walk(struct tls_state *st, enum bw_dir dir, struct hs_src *s, size_t *used,
                          uint8_t *tmp, struct bw_facts *f)
{
    struct tls_dir *d = &st->d[dir];
    struct bw_tls_facts *x = ext_of(f);
    for (;;) {
        struct hs_src at = *s;                   /* where the last whole unit ended */
        enum src r = SRC_OK;
        uint8_t b3[3];
        switch (d->walk) {
        case W_LIST:
            if (d->msg_left < 3) {
                anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);
                d->walk = W_SKIP_MSG;
                continue;
            }
            if ((r = src_read(s, b3, 3, f)) != SRC_OK) break;
            d->msg_left -= 3;
            d->list_left = be24(b3);
            d->walk = W_CERT_LEN;
            if (d->list_left != d->msg_left) {   /* the list and its message disagree */
                anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);
                if (d->list_left > d->msg_left) {    /* no length inside can be trusted */
                    d->list_left = 0;
                    d->walk = W_SKIP_MSG;
                }
            }
            continue;
        case W_CERT_LEN: {
            if (d->list_left == 0) {             /* the list is over; bytes after it were flagged */
                d->walk = W_SKIP_MSG;
                continue;
            }
            if (d->list_left < 3) {
                anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);
                d->list_left = 0;
                d->walk = W_SKIP_MSG;
                continue;
            }
            if ((r = src_read(s, b3, 3, f)) != SRC_OK) break;
            uint32_t n = be24(b3);
            d->msg_left -= 3;
            d->list_left -= 3;
            if (n > d->list_left) {              /* a certificate length lies: stop there */
                anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);
                d->list_left = 0;
                d->walk = W_SKIP_MSG;
                continue;
            }
            if (n == 0) anomaly(f, BW_TLS_ANOM_BAD_CERTIFICATE);   /* ASN.1Cert<1..2^24-1> */
            bool first = d->certs == 0;
            if (d->certs < UINT8_MAX) d->certs++;
            x->chain_len = d->certs;
            d->cert_left = n;
            d->walk = W_SKIP_CERT;
            if (first && n > LEAF_MAX) anomaly(f, BW_TLS_ANOM_TOO_LARGE);   /* counted, not decoded */
            else if (first && n > 0) d->walk = W_LEAF;
            continue;
        }
        case W_LEAF: {
            struct bw_bytes der = { NULL, d->cert_left };
            if (s->rec_left >= der.len) {        /* inside one record: decode in place */
                if (!bw_cur_take(&s->c, der.len, &der.ptr)) { r = SRC_NEED; break; }
                s->rec_left -= der.len;
            } else {
                if ((r = src_read(s, tmp, der.len, f)) != SRC_OK) break;
                der.ptr = tmp;
            }
            leaf(der, x, f);
            d->msg_left -= d->cert_left;
            d->list_left -= d->cert_left;
            d->cert_left = 0;
            d->walk = W_CERT_LEN;
            continue;
        }
        case W_SKIP_CERT:
        case W_SKIP_MSG: {
            bool in_cert = d->walk == W_SKIP_CERT;
            size_t want = in_cert ? d->cert_left : d->msg_left;
            if (want == 0 && !in_cert) {         /* the message is over */
                bool cert = d->walk_cert;
                d->walk = W_NONE;
                *used = commit_at(d, s);
                return cert ? stop(st, dir, f, BW_PARSE_DONE) : BW_PARSE_OK;
            }
            size_t k = src_pass(s, want, &r, f);
            d->msg_left -= (uint32_t)k;
            if (in_cert) {
                d->list_left -= (uint32_t)k;
                d->cert_left -= (uint32_t)k;
            }
            if (r == SRC_OK && k == want) {
                if (in_cert) d->walk = W_CERT_LEN;
                continue;
            }
            if (r == SRC_OK) r = SRC_NEED;
            at = *s;                             /* what was passed is used */
            break;
        }
        default:                                 /* W_NONE: nothing to walk */
            return BW_PARSE_OK;
        }
        /* r is SRC_NEED or SRC_BAD: keep only the units completed before */
        *s = at;
        if (r == SRC_BAD) return stop(st, dir, f, BW_PARSE_MALFORMED);
        *used = commit_at(d, s);
        return BW_PARSE_NEED_MORE;
    }
}

/* Handshake records at the front of buf: parse every message complete in the buffer, consume
 * the records they used up. A message spanning records is copied out (at most HS_MSG_MAX); the
 * server's Certificate, and any message too large to buffer that nothing is read from, are
 * walked in pieces instead (walk()). */
static enum bw_parse handshake(struct tls_state *st, enum bw_dir dir, const uint8_t *buf,
                               size_t len, size_t *used, struct bw_facts *f)
{
    struct tls_dir *d = &st->d[dir];
    struct bw_tls_facts *x = ext_of(f);
    uint8_t tmp[LEAF_MAX];                       /* a message or a leaf spanning records */
    for (;;) {
        struct hs_src s = { bw_cur_init(buf, len), 0, 0 };
        uint8_t hdr[HS_HDR];
        enum src r = src_record(&s, f);
        if (r == SRC_OK) r = src_read(&s, NULL, d->skip, f);
        if (r == SRC_OK && d->walk != W_NONE) {
            enum bw_parse wr = walk(st, dir, &s, used, tmp, f);
            if (wr != BW_PARSE_OK) return wr;
            if (*used > 0) return BW_PARSE_OK;
            continue;                            /* the next message starts in this record */
        }
        if (r == SRC_OK) r = src_read(&s, hdr, HS_HDR, f);
        if (r == SRC_NEED) return BW_PARSE_NEED_MORE;
        if (r == SRC_BAD) return stop(st, dir, f, BW_PARSE_MALFORMED);
        uint32_t mlen = be24(hdr + 1);
        bool hello = x->have & BW_TLS_HAVE_SERVER_HELLO;
        bool server_cert = dir == BW_DIR_TOCLIENT && hdr[0] == HT_CERTIFICATE && hello;
        /* The hellos are read whole; too large to buffer, they cannot be followed. */
        bool needs_body = dir == BW_DIR_TOSERVER ? hdr[0] == HT_CLIENT_HELLO && !st->client_hello
                                                 : hdr[0] == HT_SERVER_HELLO && !hello;
        if (server_cert || (mlen > HS_MSG_MAX && !needs_body)) {
            if (!server_cert) {                  /* nothing read from it but its type */
                struct bw_cur none = bw_cur_init(NULL, 0);
                enum bw_parse pr = message(st, dir, hdr[0], &none, f);
                if (pr != BW_PARSE_OK) {
                    *used = commit_at(d, &s);
                    return stop(st, dir, f, pr);
                }
            }
            walk_begin(d, mlen, server_cert, x);
            *used = commit_at(d, &s);
            if (*used > 0) return BW_PARSE_OK;   /* the walk goes on at the next call */
            continue;
        }
        if (mlen > HS_MSG_MAX) {                 /* refuse to buffer it: stop following */
            anomaly(f, BW_TLS_ANOM_TOO_LARGE);
            return stop(st, dir, f, BW_PARSE_DONE);
        }
        struct bw_cur body;
        if (s.rec_left >= mlen) {                /* inside one record: parse in place */
            const uint8_t *p;
            if (!bw_cur_take(&s.c, mlen, &p)) return BW_PARSE_NEED_MORE;
            s.rec_left -= mlen;
            body = bw_cur_init(p, mlen);
        } else {
            r = src_read(&s, tmp, mlen, f);
            if (r == SRC_NEED) return BW_PARSE_NEED_MORE;
            if (r == SRC_BAD) return stop(st, dir, f, BW_PARSE_MALFORMED);
            body = bw_cur_init(tmp, mlen);
        }
        size_t consumed = commit_at(d, &s);
        enum bw_parse pr = message(st, dir, hdr[0], &body, f);
        if (pr != BW_PARSE_OK) {
            *used = consumed;
            return stop(st, dir, f, pr);
        }
        if (consumed > 0) {
            *used = consumed;
            return BW_PARSE_OK;
        }
        /* the next message starts inside the same record: go on without consuming */
    }
}

static enum bw_parse alert(struct tls_state *st, enum bw_dir dir, struct bw_cur *c, uint16_t rlen,
                           size_t *used, struct bw_facts *f)
{
    struct bw_tls_facts *x = ext_of(f);
    if (rlen < 2) {
        anomaly(f, BW_TLS_ANOM_BAD_ALERT);
        *used = REC_HDR + (size_t)rlen;
        return BW_PARSE_OK;
    }
    uint8_t level = bw_cur_u8(c), desc = bw_cur_u8(c);
    if (c->bad) return BW_PARSE_NEED_MORE;
    *used = REC_HDR + (size_t)rlen;
    if (rlen != 2 || level < 1 || level > 2) anomaly(f, BW_TLS_ANOM_BAD_ALERT);
    if (!(x->have & BW_TLS_HAVE_ALERT)) {
        x->have |= BW_TLS_HAVE_ALERT;
        x->alert_level = level;
        x->alert_desc = desc;
        x->alert_from_server = dir == BW_DIR_TOCLIENT;
    }
    if (level != 2 && desc != 0) return BW_PARSE_OK;    /* a warning other than close_notify */
    /* A fatal alert from the server before the encrypted part: the handshake was refused. */
    if (level == 2 && dir == BW_DIR_TOCLIENT && !(x->have & BW_TLS_HAVE_ENCRYPTED))
        f->seen |= BW_FACT_REFUSED;
    return stop(st, dir, f, BW_PARSE_DONE);
}

static enum bw_parse record(struct tls_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                            size_t *used, struct bw_facts *f)
{
    struct tls_dir *d = &st->d[dir];
    struct bw_tls_facts *x = ext_of(f);
    struct bw_cur c = bw_cur_init(buf, len);
    /* An SSL 2.0 ClientHello: two-byte header with the top bit set, message type 1. */
    if (!d->any_record && dir == BW_DIR_TOSERVER && len > 0 && (buf[0] & 0x80)) {
        if (len < 3) return BW_PARSE_NEED_MORE;
        if (buf[2] == 1) {
            anomaly(f, BW_TLS_ANOM_SSLV2);
            return stop(st, dir, f, BW_PARSE_MALFORMED);
        }
    }
    uint8_t type = bw_cur_u8(&c);
    uint16_t ver = bw_cur_be16(&c), rlen = bw_cur_be16(&c);
    if (c.bad) return BW_PARSE_NEED_MORE;
    unsigned prob = record_problem(type, ver, rlen);
    if (prob) {
        anomaly(f, prob - 1);
        return stop(st, dir, f, BW_PARSE_MALFORMED);
    }
    /* Encrypted records first: the session was picked up after its handshake. */
    if (!d->any_record && type == CT_APPDATA) f->seen |= BW_FACT_MIDSTREAM;
    d->any_record = true;
    if (type == CT_HANDSHAKE) {
        if (rlen == 0 && d->skip == 0) {         /* MUST NOT be sent: skip it */
            anomaly(f, BW_TLS_ANOM_RECORD_LENGTH);
            *used = REC_HDR;
            return BW_PARSE_OK;
        }
        return handshake(st, dir, buf, len, used, f);
    }
    if (d->skip || d->walk != W_NONE) {          /* a handshake message is not over: no other
                                                  * record may come between its pieces */
        anomaly(f, BW_TLS_ANOM_INTERLEAVED);
        return stop(st, dir, f, BW_PARSE_MALFORMED);
    }
    switch (type) {
    case CT_CCS: {
        uint8_t v = 0;
        if (rlen >= 1) {
            v = bw_cur_u8(&c);
            if (c.bad) return BW_PARSE_NEED_MORE;
        }
        if (rlen != 1 || v != 1) anomaly(f, BW_TLS_ANOM_BAD_CCS);
        *used = REC_HDR + (size_t)rlen;
        if (dir == BW_DIR_TOCLIENT) {
            /* The compatibility CCS after a HelloRetryRequest (RFC 8446 §D.4): hello follows. */
            if ((x->have & (BW_TLS_HAVE_HRR | BW_TLS_HAVE_SERVER_HELLO)) == BW_TLS_HAVE_HRR)
                return BW_PARSE_OK;
            st->clear_over = true;
            x->have |= BW_TLS_HAVE_ENCRYPTED;
            return stop(st, dir, f, BW_PARSE_DONE);
        }
        if ((x->have & BW_TLS_HAVE_HRR) && !st->second_hello)
            return BW_PARSE_OK;                  /* before the second ClientHello */
        return stop(st, dir, f, BW_PARSE_DONE);  /* the client's Finished is encrypted */
    }
    case CT_ALERT:
        return alert(st, dir, &c, rlen, used, f);
    case CT_APPDATA:
        if (dir == BW_DIR_TOCLIENT) {
            st->clear_over = true;
            x->have |= BW_TLS_HAVE_ENCRYPTED;
        }
        return stop(st, dir, f, BW_PARSE_DONE);
    default:                                     /* CT_HEARTBEAT (RFC 6520) */
        anomaly(f, BW_TLS_ANOM_HEARTBEAT);
        *used = REC_HDR + (size_t)rlen;
        return BW_PARSE_OK;
    }
}

/* ---- plug-in entry points ---- */

/* 0x16 0x03 0x00-0x04, a record length 4..2^14, then ClientHello (1) / ServerHello (2). */
static int record_probe(enum bw_dir dir, const uint8_t *buf, size_t len)
{
    struct bw_cur c = bw_cur_init(buf, len);
    if (bw_cur_left(&c) >= 1 && bw_cur_u8(&c) != CT_HANDSHAKE) return BW_PROBE_NO;
    if (bw_cur_left(&c) >= 1 && bw_cur_u8(&c) != 3) return BW_PROBE_NO;
    if (bw_cur_left(&c) >= 1 && bw_cur_u8(&c) > 4) return BW_PROBE_NO;
    if (bw_cur_left(&c) >= 2) {
        uint16_t rlen = bw_cur_be16(&c);
        if (rlen < HS_HDR || rlen > REC_PLAIN_MAX) return BW_PROBE_NO;
    } else {
        return BW_PROBE_MAYBE;
    }
    if (bw_cur_left(&c) < 1) return BW_PROBE_MAYBE;
    uint8_t ht = bw_cur_u8(&c);
    return ht == (dir == BW_DIR_TOSERVER ? HT_CLIENT_HELLO : HT_SERVER_HELLO) ? BW_PROBE_YES : BW_PROBE_NO;
}

static int tls_probe(enum bw_dir dir, const uint8_t *buf, size_t len)
{
    if (len > 0 && buf[0] == 'A') {              /* AMQP 1.0 TLS header, then TLS */
        size_t n = len < AMQP_HDR_LEN ? len : AMQP_HDR_LEN;
        if (memcmp(buf, AMQP_TLS_HDR, n) != 0) return BW_PROBE_NO;
        if (len <= AMQP_HDR_LEN) return BW_PROBE_MAYBE;
        return record_probe(dir, buf + AMQP_HDR_LEN, len - AMQP_HDR_LEN);
    }
    return record_probe(dir, buf, len);
}

static void tls_reset(void *state)
{
    memset(state, 0, sizeof(struct tls_state));
}

static enum bw_parse tls_parse(void *state, enum bw_dir dir, const uint8_t *buf, size_t len,
                               size_t *used, struct bw_facts *f)
{
    struct tls_state *st = state;
    struct bw_tls_facts *x = ext_of(f);
    if (dir != BW_DIR_TOCLIENT) dir = BW_DIR_TOSERVER;
    struct tls_dir *d = &st->d[dir];
    *used = 0;
    if (x->magic != BW_TLS_MAGIC) {
        memset(x, 0, sizeof *x);
        x->magic = BW_TLS_MAGIC;
    }
    f->seen |= BW_FACT_TLS;
    if (d->phase == PH_DONE) return BW_PARSE_DONE;
    if (dir == BW_DIR_TOSERVER && st->clear_over) return stop(st, dir, f, BW_PARSE_DONE);
    if (len == 0) return BW_PARSE_NEED_MORE;
    if (d->phase == PH_START) {
        if (buf[0] == 'A') {                     /* only at the very start of a direction */
            size_t n = len < AMQP_HDR_LEN ? len : AMQP_HDR_LEN;
            if (memcmp(buf, AMQP_TLS_HDR, n) != 0) {
                anomaly(f, BW_TLS_ANOM_AMQP_HEADER);
                return stop(st, dir, f, BW_PARSE_MALFORMED);
            }
            if (len < AMQP_HDR_LEN) return BW_PARSE_NEED_MORE;
            x->have |= BW_TLS_HAVE_AMQP_UPGRADE;
            d->phase = PH_RECORDS;
            *used = AMQP_HDR_LEN;
            return BW_PARSE_OK;
        }
        d->phase = PH_RECORDS;
    }
    return record(st, dir, buf, len, used, f);
}

static enum bw_parse tls_gap(void *state, enum bw_dir dir, struct bw_facts *f)
{
    struct tls_state *st = state;
    if (dir != BW_DIR_TOCLIENT) dir = BW_DIR_TOSERVER;
    f->seen |= BW_FACT_GAP;
    return stop(st, dir, f, BW_PARSE_DONE);      /* records cannot be found again reliably */
}

static void tls_close(void *state, enum bw_close how, struct bw_facts *f)
{
    (void)state;
    (void)how;
    if (bw_tls_facts_of(f)) server_over(f);
}

/* ---- accessors and evaluation ---- */

const char *bw_tls_sni(const struct bw_facts *f)
{
    const struct bw_tls_facts *x = bw_tls_facts_of(f);
    return x && (x->have & BW_TLS_HAVE_SNI) ? x->sni : NULL;
}

const char *bw_tls_alpn(const struct bw_facts *f)
{
    const struct bw_tls_facts *x = bw_tls_facts_of(f);
    return x && (x->have & BW_TLS_HAVE_ALPN) ? x->alpn : NULL;
}

bool bw_tls_alpn_offered(const struct bw_facts *f, const char *proto_prefix)
{
    const struct bw_tls_facts *x = bw_tls_facts_of(f);
    if (!x || !(x->have & BW_TLS_HAVE_ALPN_OFFERED)) return false;
    size_t plen = proto_prefix ? strlen(proto_prefix) : 0;
    struct bw_cur c = bw_cur_init(x->alpn_offered, x->alpn_offered_len);
    while (bw_cur_left(&c) > 0) {
        struct bw_bytes name = bw_cur_bytes(&c, bw_cur_u8(&c));
        if (c.bad) break;
        if (name.len >= plen && (plen == 0 || memcmp(name.ptr, proto_prefix, plen) == 0))
            return true;
    }
    return false;
}

static const char *version_name(uint16_t v, char *tmp, size_t cap);

bool bw_tls_evaluate(struct bw_facts *f, uint64_t capture_ts_us)
{
    struct bw_tls_facts *x = ext_of(f);
    if (x->magic != BW_TLS_MAGIC) return false;
    if (x->have & BW_TLS_HAVE_SERVER_HELLO) {        /* the negotiated version, for the report */
        char tmp[16];
        const char *vn = version_name(x->version, tmp, sizeof tmp);
        size_t n = strnlen(vn, sizeof f->tls_version - 1);
        memcpy(f->tls_version, vn, n);
        f->tls_version[n] = '\0';
    }
    uint32_t w = x->weak & (BW_TLS_WEAK_EXPIRED | BW_TLS_WEAK_NOT_YET_VALID);
    if ((x->have & BW_TLS_HAVE_SERVER_HELLO) && x->version < 0x0303)
        w |= BW_TLS_WEAK_OLD_VERSION;
    if (x->have & BW_TLS_HAVE_CERT) {
        if (capture_ts_us && !(x->have & BW_TLS_HAVE_VALIDITY_DONE)) {
            int64_t now = (int64_t)(capture_ts_us / 1000000u);
            x->have |= BW_TLS_HAVE_VALIDITY_DONE;  /* judged at the handshake's time, once */
            if (now > x->not_after) w |= BW_TLS_WEAK_EXPIRED;
            if (now < x->not_before) w |= BW_TLS_WEAK_NOT_YET_VALID;
        }
        if (x->self_signed) w |= BW_TLS_WEAK_SELF_SIGNED;
        if (x->key_type == BW_TLS_KEY_RSA && x->key_bits < 2048) w |= BW_TLS_WEAK_RSA_KEY;
        if (x->sig_weak_hash) w |= BW_TLS_WEAK_SIGNATURE;
    }
    x->weak |= w;
    if (x->weak) f->seen |= BW_FACT_WEAK_TLS;
    return x->weak != 0;
}

/* "TLSv1.1: old_tls_version, cert_expired" for the weak_tls alert's summary. */
static void tls_describe(const struct bw_facts *f, char *out, size_t cap)
{
    const struct bw_tls_facts *x = bw_tls_facts_of(f);
    char tmp[16];
    size_t n = 0;
    if (!cap) return;
    out[0] = '\0';
    if (!x) return;
    if (x->have & BW_TLS_HAVE_SERVER_HELLO) {
        int k = snprintf(out, cap, "%s", version_name(x->version, tmp, sizeof tmp));
        n = k < 0 ? 0 : (size_t)k < cap ? (size_t)k : cap - 1;
    }
    for (unsigned b = 0; b < BW_TLS_WEAK_COUNT && n + 1 < cap; b++) {
        if (!(x->weak & (1u << b))) continue;
        int k = snprintf(out + n, cap - n, "%s%s", n ? (out[n - 1] == ',' ? " " : ": ") : "", bw_tls_weak_names[b]);
        if (k < 0) break;
        n += (size_t)k < cap - n ? (size_t)k : cap - n - 1;
        if (n + 1 < cap) { out[n++] = ','; out[n] = '\0'; }
    }
    if (n && out[n - 1] == ',') out[n - 1] = '\0';
}

/* ---- JSON ---- */

/* A version's name: ours (OpenSSL's) or, for EVE's `tls.version`, the one Suricata writes. */
static const char *version_name_as(uint16_t v, bool eve, char *tmp, size_t cap)
{
    static const struct { uint16_t v; const char *ours, *eve; } names[] = {
        { 0x0200, "SSLv2", "SSLv2" },     { 0x0300, "SSLv3", "SSLv3" },
        { 0x0301, "TLSv1.0", "TLSv1" },   { 0x0302, "TLSv1.1", "TLS 1.1" },
        { 0x0303, "TLSv1.2", "TLS 1.2" }, { 0x0304, "TLSv1.3", "TLS 1.3" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].v == v) return eve ? names[i].eve : names[i].ours;
    snprintf(tmp, cap, "0x%04x", v);
    return tmp;
}

static const char *version_name(uint16_t v, char *tmp, size_t cap)
{
    return version_name_as(v, false, tmp, cap);
}

static const struct { uint16_t id; const char *name; } suites[] = {
    { 0x1301, "TLS_AES_128_GCM_SHA256" },
    { 0x1302, "TLS_AES_256_GCM_SHA384" },
    { 0x1303, "TLS_CHACHA20_POLY1305_SHA256" },
    { 0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
    { 0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
    { 0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
    { 0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
    { 0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
    { 0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
    { 0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
    { 0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" },
    { 0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA" },
    { 0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" },
    { 0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" },
    { 0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" },
    { 0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384" },
    { 0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" },
    { 0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384" },
    { 0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" },
    { 0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384" },
    { 0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" },
    { 0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA" },
    { 0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256" },
    { 0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384" },
    { 0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA" },
    { 0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA" },
    { 0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256" },
    { 0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256" },
    { 0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0x0005, "TLS_RSA_WITH_RC4_128_SHA" },
    { 0x0004, "TLS_RSA_WITH_RC4_128_MD5" },
};

static const struct { uint8_t id; const char *name; } alerts[] = {
    { 0, "close_notify" }, { 10, "unexpected_message" }, { 20, "bad_record_mac" },
    { 22, "record_overflow" }, { 40, "handshake_failure" }, { 42, "bad_certificate" },
    { 43, "unsupported_certificate" }, { 44, "certificate_revoked" },
    { 45, "certificate_expired" }, { 46, "certificate_unknown" }, { 47, "illegal_parameter" },
    { 48, "unknown_ca" }, { 49, "access_denied" }, { 50, "decode_error" },
    { 51, "decrypt_error" }, { 70, "protocol_version" }, { 71, "insufficient_security" },
    { 80, "internal_error" }, { 86, "inappropriate_fallback" }, { 90, "user_canceled" },
    { 109, "missing_extension" }, { 110, "unsupported_extension" },
    { 112, "unrecognized_name" }, { 116, "certificate_required" },
    { 120, "no_application_protocol" },
};

static const char *const key_names[] = { "unknown", "RSA", "EC", "DSA", "Ed25519", "Ed448", "other" };

static void json_hex(struct bw_json *j, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 32 + 1];
    static const char digits[] = "0123456789abcdef";
    if (n > 32) n = 32;
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 15];
    }
    hex[2 * n] = '\0';
    bw_json_str(j, key, hex);
}

/* EVE writes certificate dates without a zone ("2021-01-01T00:00:00", UTC). */
static void json_time(struct bw_json *j, const char *key, int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t secs = t - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    char out[64];
    snprintf(out, sizeof out, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m, d,
             (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    bw_json_str(j, key, out);
}

static void json_cut_str(struct bw_json *j, const char *key, const char *s, size_t n, bool cut)
{
    char tmp[BW_TLS_NAME_MAX + 4];
    if (n > BW_TLS_NAME_MAX) n = BW_TLS_NAME_MAX;
    memcpy(tmp, s, n);
    if (cut) { memcpy(tmp + n, "...", 3); n += 3; }
    bw_json_strn(j, key, tmp, n);
}

/* "aa:bb:..." (fingerprint, lower case) or "AA:BB:..." (serial), as EVE writes them. */
static void json_colon_hex(struct bw_json *j, const char *key, const uint8_t *b, size_t n, bool upper)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    const char *d = upper ? up : lo;
    char out[3 * 32];
    size_t k = 0;
    for (size_t i = 0; i < n && i < 32; i++) {
        if (i) out[k++] = ':';
        out[k++] = d[b[i] >> 4];
        out[k++] = d[b[i] & 15];
    }
    bw_json_strn(j, key, out, k);
}

/* Our own details of the leaf, beside EVE's flat names (subject, issuerdn, dates, fingerprint). */
static void json_certificate(const struct bw_tls_facts *x, struct bw_json *j)
{
    bw_json_obj_open(j, "certificate");
    if (x->have & BW_TLS_HAVE_CERT) {
        bw_json_str(j, "key_type", key_names[x->key_type < 7 ? x->key_type : 0]);
        bw_json_u64(j, "key_bits", x->key_bits);
        bw_json_str(j, "signature_algorithm", x->sig_alg);
        json_hex(j, "sha256", x->sha256, sizeof x->sha256);
        bw_json_bool(j, "self_signed", x->self_signed);
        if (x->serial_cut) bw_json_bool(j, "serial_truncated", true);
    } else {
        bw_json_bool(j, "decoded", false);
    }
    bw_json_u64(j, "chain_length", x->chain_len);
    bw_json_obj_close(j);
}

/* The top-level "tls" object, shaped as Suricata's EVE tls (version, sni, subject, issuerdn,
 * serial, fingerprint, notbefore, notafter, ja3.hash, ja3s) with our own members beside them.
 * A member that is unknown is left out (EVE has strings there, never null). */
static void tls_facts_json(const struct bw_facts *f, struct bw_json *j)
{
    const struct bw_tls_facts *x = bw_tls_facts_of(f);
    char tmp[16];
    bw_json_obj_open(j, "tls");
    if (!x) { bw_json_obj_close(j); return; }
    if (x->have & BW_TLS_HAVE_SERVER_HELLO)
        bw_json_str(j, "version", version_name_as(x->version, true, tmp, sizeof tmp));
    if (x->have & BW_TLS_HAVE_SNI) json_cut_str(j, "sni", x->sni, x->sni_len, x->sni_cut);
    if (x->have & BW_TLS_HAVE_CERT) {
        json_cut_str(j, "subject", x->subject, x->subject_len, x->subject_cut);
        json_cut_str(j, "issuerdn", x->issuer, x->issuer_len, x->issuer_cut);
        if (x->serial_len) json_colon_hex(j, "serial", x->serial, x->serial_len, true);
        json_colon_hex(j, "fingerprint", x->sha1, sizeof x->sha1, false);
        json_time(j, "notbefore", x->not_before);
        json_time(j, "notafter", x->not_after);
    }
    if (x->have & BW_TLS_HAVE_JA3) {
        bw_json_obj_open(j, "ja3");
        json_hex(j, "hash", x->ja3_md5, sizeof x->ja3_md5);
        bw_json_obj_close(j);
    }
    if (x->have & BW_TLS_HAVE_JA3S) {
        bw_json_obj_open(j, "ja3s");
        json_hex(j, "hash", x->ja3s_md5, sizeof x->ja3s_md5);
        if (!x->ja3s_cut) bw_json_str(j, "string", x->ja3s);
        bw_json_obj_close(j);
    }
    if (x->have & BW_TLS_HAVE_CLIENT_HELLO) {
        bw_json_str(j, "client_version", version_name(x->client_version, tmp, sizeof tmp));
        bw_json_arr_open(j, "versions_offered");
        _Static_assert(BW_TLS_V_SSL3 == 1u << 0 && BW_TLS_V_TLS13 == 1u << 4, "bit i is version 0x0300 + i");
        for (int i = 4; i >= 0; i--)
            if (x->versions_offered & (1u << i))
                bw_json_str(j, NULL, version_name((uint16_t)(0x0300 + i), tmp, sizeof tmp));
        if (x->versions_offered & BW_TLS_V_OTHER) bw_json_str(j, NULL, "other");
        bw_json_arr_close(j);
        bw_json_u64(j, "ciphers_offered", x->ciphers_offered);
    }
    if (x->have & BW_TLS_HAVE_SERVER_HELLO) {
        const char *name = NULL;
        for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
            if (suites[i].id == x->cipher_suite) name = suites[i].name;
        snprintf(tmp, sizeof tmp, "0x%04x", x->cipher_suite);
        bw_json_str(j, "cipher_suite", name ? name : tmp);
        bw_json_str(j, "cipher_suite_id", tmp);
    } else {
        bw_json_null(j, "cipher_suite");
    }
    if (x->have & BW_TLS_HAVE_ALPN_OFFERED) {
        bw_json_arr_open(j, "alpn_offered");
        struct bw_cur c = bw_cur_init(x->alpn_offered, x->alpn_offered_len);
        while (bw_cur_left(&c) > 0) {
            struct bw_bytes name = bw_cur_bytes(&c, bw_cur_u8(&c));
            if (c.bad) break;
            bw_json_strn(j, NULL, name.ptr, name.len);
        }
        if (x->alpn_offered_cut) bw_json_str(j, NULL, "...");
        bw_json_arr_close(j);
    }
    if (x->have & BW_TLS_HAVE_ALPN) json_cut_str(j, "alpn", x->alpn, x->alpn_len, x->alpn_cut);
    else bw_json_null(j, "alpn");
    if (x->have & BW_TLS_HAVE_HRR) bw_json_bool(j, "hello_retry_request", true);
    if (x->have & BW_TLS_HAVE_AMQP_UPGRADE) bw_json_bool(j, "amqp_tls_header", true);
    if (x->have & BW_TLS_HAVE_DOWNGRADE) bw_json_bool(j, "downgrade_sentinel", true);
    if (x->have & BW_TLS_HAVE_ALERT) {
        const char *name = NULL;
        for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
            if (alerts[i].id == x->alert_desc) name = alerts[i].name;
        bw_json_obj_open(j, "alert");
        bw_json_str(j, "from", x->alert_from_server ? "server" : "client");
        bw_json_str(j, "level", x->alert_level == 2 ? "fatal" : x->alert_level == 1 ? "warning" : "unknown");
        if (name) bw_json_str(j, "description", name);
        else bw_json_u64(j, "description", x->alert_desc);
        bw_json_obj_close(j);
    }
    if (x->have & BW_TLS_HAVE_CERT_MSG) json_certificate(x, j);
    else bw_json_null(j, "certificate");
    bw_json_arr_open(j, "weak_reasons");
    for (unsigned b = 0; b < BW_TLS_WEAK_COUNT; b++)
        if (x->weak & (1u << b)) bw_json_str(j, NULL, bw_tls_weak_names[b]);
    bw_json_arr_close(j);
    bw_json_obj_close(j);
}

const struct bw_dissector bw_dissector_tls = {
    .name = "tls",
    .ports = { 8883, 8884, 5671, 0 },
    .state_size = sizeof(struct tls_state),
    .probe = tls_probe,
    .reset = tls_reset,
    .parse = tls_parse,
    .gap = tls_gap,
    .close = tls_close,
    .facts_json = tls_facts_json,
    .anomaly_names = anomaly_names,
    .describe = tls_describe,
};
