/* bw_amqp.h: the two AMQP dissectors, dissectors/amqp091.c (AMQP 0-9-1, 0-9, 0-8, and the 0-10
 * connection handshake) and dissectors/amqp10.c (OASIS AMQP 1.0), both app_proto "amqp": their
 * anomaly bits, the facts extension they share in bw_facts.ext, and the helpers both use (bounded
 * string copies, the SASL PLAIN split of RFC 4616 §2, the JSON members). Nothing here keeps a
 * password: PLAIN is split into borrowed views only. */
#ifndef BW_AMQP_H
#define BW_AMQP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bw_cursor.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"

extern const struct bw_dissector bw_dissector_amqp091;   /* dissectors/amqp091.c (and 0-10) */
extern const struct bw_dissector bw_dissector_amqp10;    /* dissectors/amqp10.c */

/* Anomaly bits (bw_facts.anomalies) of the 0-9-1 dissector; names in its anomaly_names. */
enum bw_amqp091_anomaly {
    BW_AMQP091_ANOM_BAD_HEADER = 0,    /* "bad_header": "AMQP" + version bytes no 0-x broker speaks */
    BW_AMQP091_ANOM_VERSION_MISMATCH,  /* "version_mismatch": the broker answered with its header */
    BW_AMQP091_ANOM_BAD_FRAME_TYPE,    /* "bad_frame_type" */
    BW_AMQP091_ANOM_BAD_FRAME_END,     /* "bad_frame_end": not 0xCE where the size says */
    BW_AMQP091_ANOM_FRAME_TOO_LARGE,   /* "frame_too_large": past frame-max or any sane bound */
    BW_AMQP091_ANOM_BAD_CHANNEL,       /* "bad_channel": connection class off channel 0 or back */
    BW_AMQP091_ANOM_BAD_HEARTBEAT,     /* "bad_heartbeat": a payload, or off channel 0 */
    BW_AMQP091_ANOM_BAD_METHOD,        /* "bad_method": truncated, trailing bytes, unknown method */
    BW_AMQP091_ANOM_WRONG_DIRECTION,   /* "wrong_direction": a broker method from the client ... */
    BW_AMQP091_ANOM_BAD_TABLE,         /* "bad_table": unknown field type, a length past the table */
    BW_AMQP091_ANOM_TABLE_DEPTH,       /* "table_depth": nesting deeper than the bound */
    BW_AMQP091_ANOM_BAD_PLAIN,         /* "bad_plain": not [authzid] NUL authcid NUL passwd */
    BW_AMQP091_ANOM_BAD_AMQPLAIN,      /* "bad_amqplain": LOGIN / PASSWORD missing or no string */
    BW_AMQP091_ANOM_MECH_NOT_OFFERED,  /* "mech_not_offered": Start-Ok picks an unlisted mechanism */
    BW_AMQP091_ANOM_BAD_TUNE,          /* "bad_tune": frame-max below the 4096 minimum */
    BW_AMQP091_ANOM_BAD_FRAME,         /* "bad_frame": 0-10 frame size < 12, reserved bits set,
                                          a segment's frames out of order */
    BW_AMQP091_ANOM_COUNT
};

/* Anomaly bits of the 1.0 dissector; names in its anomaly_names. */
enum bw_amqp10_anomaly {
    BW_AMQP10_ANOM_BAD_HEADER = 0,     /* "bad_header": not a 1.0 header, or one out of place */
    BW_AMQP10_ANOM_VERSION_MISMATCH,   /* "version_mismatch": the broker answered another header */
    BW_AMQP10_ANOM_BAD_FRAME,          /* "bad_frame": size < 8, doff < 2 or past the frame */
    BW_AMQP10_ANOM_BAD_FRAME_TYPE,     /* "bad_frame_type": neither AMQP (0) nor SASL (1) */
    BW_AMQP10_ANOM_FRAME_TOO_LARGE,    /* "frame_too_large" */
    BW_AMQP10_ANOM_BAD_ENCODING,       /* "bad_encoding": type-system encoding broken or overrunning */
    BW_AMQP10_ANOM_ENCODING_DEPTH,     /* "encoding_depth": nesting deeper than the bound */
    BW_AMQP10_ANOM_BAD_PERFORMATIVE,   /* "bad_performative": descriptor or field type wrong */
    BW_AMQP10_ANOM_WRONG_DIRECTION,    /* "wrong_direction" */
    BW_AMQP10_ANOM_BAD_PLAIN,          /* "bad_plain" */
    BW_AMQP10_ANOM_MECH_NOT_OFFERED,   /* "mech_not_offered" */
    BW_AMQP10_ANOM_BAD_OUTCOME,        /* "bad_outcome": sasl-code outside 0..4 */
    BW_AMQP10_ANOM_COUNT
};

#define BW_AMQP_STR_MAX   45      /* product, version, vhost, container-id, ... */
#define BW_AMQP_LSTR_MAX  93      /* mechanism list, close text */

struct bw_amqp_str {              /* a bounded copy of a wire string */
    uint8_t len;                  /* bytes stored */
    bool    cut;                  /* the wire string was longer */
    bool    set;                  /* seen on the wire (an empty string is still a value) */
    char    s[BW_AMQP_STR_MAX];   /* not NUL-terminated; may hold any byte */
};

struct bw_amqp_lstr {
    uint8_t len;
    bool    cut;
    bool    set;
    char    s[BW_AMQP_LSTR_MAX];
};

enum bw_amqp_family {
    BW_AMQP_FAMILY_NONE = 0,      /* nothing parsed yet */
    BW_AMQP_FAMILY_091  = 1,      /* 0-9-1, 0-9, 0-8, 0-10: vhost applies */
    BW_AMQP_FAMILY_10   = 2,      /* 1.0: hostname and container_id apply */
};

/* 0-9-1 capability names (RabbitMQ's server-properties / client-properties "capabilities"). */
#define BW_AMQP_CAP_PUBLISHER_CONFIRMS    (1u << 0)
#define BW_AMQP_CAP_EXCHANGE_BINDINGS     (1u << 1)
#define BW_AMQP_CAP_BASIC_NACK            (1u << 2)
#define BW_AMQP_CAP_CONSUMER_CANCEL       (1u << 3)
#define BW_AMQP_CAP_CONNECTION_BLOCKED    (1u << 4)
#define BW_AMQP_CAP_CONSUMER_PRIORITIES   (1u << 5)
#define BW_AMQP_CAP_AUTH_FAILURE_CLOSE    (1u << 6)  /* a 403 Close instead of a bare TCP close */
#define BW_AMQP_CAP_PER_CONSUMER_QOS      (1u << 7)
#define BW_AMQP_CAP_DIRECT_REPLY_TO       (1u << 8)
#define BW_AMQP_CAP_COUNT                 9

#define BW_AMQP_PROPS_BROKER  (1u << 0)  /* server-properties (0-9-1) / broker open properties (1.0) */
#define BW_AMQP_PROPS_CLIENT  (1u << 1)

struct bw_amqp_ext {
    uint8_t  ready;               /* 1 once a dissector initialized this record */
    uint8_t  family;              /* enum bw_amqp_family */
    bool     mismatch;            /* the broker answered with a different protocol header */
    bool     close_seen;          /* the broker sent Connection.Close / close */
    uint8_t  props_seen;          /* BW_AMQP_PROPS_* */
    uint8_t  pad_;
    int16_t  sasl_outcome;        /* 1.0 sasl-outcome code; -1 = none */
    uint16_t broker_caps;         /* BW_AMQP_CAP_* offered by the broker (0-9-1) */
    uint16_t client_caps;         /* BW_AMQP_CAP_* announced by the client (0-9-1) */
    int32_t  close_code;          /* 0-x reply-code of the broker's Close; -1 = none */
    uint8_t  cli_hdr[8];          /* protocol headers of the mismatching round (valid when mismatch) */
    uint8_t  srv_hdr[8];
    uint32_t frames[2];           /* frames seen, indexed by enum bw_dir */
    struct bw_amqp_str  broker_product, broker_version, broker_platform, cluster_name;
    struct bw_amqp_str  client_product, client_version;
    struct bw_amqp_str  vhost;            /* 0-9-1 / 0-10 Connection.Open virtual-host */
    struct bw_amqp_str  hostname;         /* 1.0 open hostname (else sasl-init hostname) */
    struct bw_amqp_str  container_id;     /* 1.0 client open container-id */
    struct bw_amqp_str  condition;        /* 1.0 close error condition */
    struct bw_amqp_lstr mechanisms;       /* offered, space-separated */
    struct bw_amqp_lstr close_text;       /* 0-x reply-text / 1.0 error description */
};
_Static_assert(sizeof(struct bw_amqp_ext) <= BW_FACTS_EXT_MAX, "amqp ext too big");
_Static_assert(_Alignof(struct bw_amqp_ext) <= 8, "amqp ext alignment");

/* The extension inside a facts record, initialized on first use (a zeroed record reads as
 * "nothing known" everywhere except the two -1 sentinels, which this sets). */
static inline struct bw_amqp_ext *bw_amqp_ext(struct bw_facts *f, enum bw_amqp_family fam)
{
    struct bw_amqp_ext *x = (struct bw_amqp_ext *)(void *)f->ext;
    if (!x->ready) {
        memset(x, 0, sizeof *x);
        x->ready = 1;
        x->sasl_outcome = -1;
        x->close_code = -1;
    }
    if (x->family == BW_AMQP_FAMILY_NONE)
        x->family = (uint8_t)fam;
    return x;
}

static inline void bw_amqp_str_set(struct bw_amqp_str *d, const uint8_t *p, size_t n)
{
    size_t keep = n > sizeof d->s ? sizeof d->s : n;   /* fixed array: cut, and say so */
    if (keep && p) memcpy(d->s, p, keep);
    else keep = 0;
    d->len = (uint8_t)keep;
    d->cut = n > keep;
    d->set = true;
}

static inline void bw_amqp_lstr_set(struct bw_amqp_lstr *d, const uint8_t *p, size_t n)
{
    size_t keep = n > sizeof d->s ? sizeof d->s : n;
    if (keep && p) memcpy(d->s, p, keep);
    else keep = 0;
    d->len = (uint8_t)keep;
    d->cut = n > keep;
    d->set = true;
}

/* Append one token to a space-separated list (1.0 sends mechanisms as an array). */
static inline void bw_amqp_lstr_add(struct bw_amqp_lstr *d, const uint8_t *p, size_t n)
{
    size_t room = sizeof d->s - d->len, sep = d->len ? 1 : 0;
    d->set = true;
    if (d->cut || n == 0) return;                /* already cut: later tokens are lost too */
    if (room <= sep) { d->cut = true; return; }  /* not even one byte of the token fits */
    if (sep) { d->s[d->len++] = ' '; room--; }
    size_t keep = n > room ? room : n;
    memcpy(d->s + d->len, p, keep);
    d->len = (uint8_t)(d->len + keep);
    d->cut = n > keep;
}

/* Is `name` one whole token of the space-separated list? (A cut list cannot say no.) */
static inline bool bw_amqp_lstr_has(const struct bw_amqp_lstr *d, const uint8_t *name, size_t n)
{
    size_t i = 0;
    while (i < d->len) {
        size_t j = i;
        while (j < d->len && d->s[j] != ' ') j++;
        if (j - i == n && (n == 0 || memcmp(d->s + i, name, n) == 0)) return true;
        i = j + 1;
    }
    return d->cut;
}

static inline bool bw_amqp_eq(struct bw_bytes b, const char *lit)
{
    size_t n = strlen(lit);
    return b.len == n && b.ptr && memcmp(b.ptr, lit, n) == 0;
}

/* SASL PLAIN (RFC 4616 §2): message = [authzid] NUL authcid NUL passwd. On true, *user and *pass
 * are borrowed views into msg (never copy *pass). *extra_nul says a third NUL was found, which
 * RFC 4616 forbids inside passwd. False when fewer than two NULs: then nobody can tell the name
 * from the password, so nothing may be reported or stored. */
static inline bool bw_amqp_plain_split(struct bw_bytes msg, struct bw_bytes *user,
                                       struct bw_bytes *pass, bool *extra_nul)
{
    struct bw_cur c = bw_cur_init(msg.ptr, msg.len);
    size_t nul[2], found = 0;
    *extra_nul = false;
    while (bw_cur_left(&c)) {
        size_t at = c.off;
        if (bw_cur_u8(&c) != 0) continue;
        if (found < 2) nul[found++] = at;
        else *extra_nul = true;
    }
    if (found < 2) return false;
    user->ptr = msg.ptr + nul[0] + 1;
    user->len = nul[1] - nul[0] - 1;
    pass->ptr = msg.ptr + nul[1] + 1;
    pass->len = msg.len - nul[1] - 1;
    return true;
}

/* Report a credential pair that crossed the wire: the name is kept, the password only counted
 * and compared in place against the default list. */
static inline void bw_amqp_creds(struct bw_facts *f, struct bw_bytes user, bool have_user,
                                 struct bw_bytes pass, bool have_pass)
{
    if (have_user) {
        f->seen |= BW_FACT_CREDS_USER;
        bw_fid_set(&f->user, user.ptr, user.len);
    }
    if (have_pass) {
        f->seen |= BW_FACT_CREDS_PASS;
        f->pass_len = pass.len > UINT32_MAX ? UINT32_MAX : (uint32_t)pass.len;
        bw_facts_secret(f, pass.ptr, pass.len);        /* where it lies, never what it is */
    }
    if (have_user && have_pass && bw_defcreds_match(user.ptr, user.len, pass.ptr, pass.len))
        f->seen |= BW_FACT_DEFAULT_CREDS;
}

/* The broker as it announced itself, "<product> <version>" (0-9-1 / 0-10 server-properties,
 * 1.0 open properties), into the facts every report reads. A product name that was cut gets no
 * version appended: the pair would read as one name. */
static inline void bw_amqp_product_fact(struct bw_facts *f, const struct bw_amqp_ext *x)
{
    char tmp[2 * BW_AMQP_STR_MAX + 1];
    size_t n = 0;
    bool cut = x->broker_product.cut;
    if (!x->broker_product.set || x->broker_product.len == 0) return;
    memcpy(tmp, x->broker_product.s, x->broker_product.len);
    n = x->broker_product.len;
    if (!cut && x->broker_version.set && x->broker_version.len > 0) {
        tmp[n++] = ' ';
        memcpy(tmp + n, x->broker_version.s, x->broker_version.len);
        n += x->broker_version.len;
        cut = x->broker_version.cut;
    }
    bw_fstr_set(&f->product, (const uint8_t *)tmp, n);
    if (cut) f->product.cut = true;
}

static inline const char *bw_amqp_cap_name(unsigned bit)
{
    static const char *const names[BW_AMQP_CAP_COUNT] = {
        "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
        "connection.blocked", "consumer_priorities", "authentication_failure_close",
        "per_consumer_qos", "direct_reply_to",
    };
    return bit < BW_AMQP_CAP_COUNT ? names[bit] : NULL;
}

/* ---- JSON members (appended to the open "amqp" object) ---- */

static inline void bw_amqp_json_bytes(struct bw_json *j, const char *key, const char *s,
                                      size_t len, bool cut)
{
    char tmp[BW_AMQP_LSTR_MAX + 3];
    if (!cut || len > BW_AMQP_LSTR_MAX) { bw_json_strn(j, key, s, len); return; }
    memcpy(tmp, s, len);                 /* a cut string ends in "..." like bw_json_fstr */
    memcpy(tmp + len, "...", 3);
    bw_json_strn(j, key, tmp, len + 3);
}

static inline void bw_amqp_json_str(struct bw_json *j, const char *key, const struct bw_amqp_str *s)
{
    if (!s->set) bw_json_null(j, key);
    else bw_amqp_json_bytes(j, key, s->s, s->len, s->cut);
}

static inline void bw_amqp_json_lstr(struct bw_json *j, const char *key, const struct bw_amqp_lstr *s)
{
    if (!s->set) bw_json_null(j, key);
    else bw_amqp_json_bytes(j, key, s->s, s->len, s->cut);
}

/* A protocol header as "AMQP 0 0 9 1": the version bytes in decimal, as the specs write them. */
static inline void bw_amqp_json_hdr(struct bw_json *j, const char *key, const uint8_t h[8])
{
    char tmp[4 + 4 * 4];
    size_t n = 0;
    if (h[0] == 0) { bw_json_null(j, key); return; }   /* that side sent no header */
    for (size_t i = 0; i < 4; i++)
        tmp[n++] = (h[i] >= 0x20 && h[i] < 0x7f) ? (char)h[i] : '?';
    for (size_t i = 4; i < 8; i++) {
        tmp[n++] = ' ';
        if (h[i] >= 100) tmp[n++] = (char)('0' + h[i] / 100);
        if (h[i] >= 10) tmp[n++] = (char)('0' + h[i] / 10 % 10);
        tmp[n++] = (char)('0' + h[i] % 10);
    }
    bw_json_strn(j, key, tmp, n);
}

static inline void bw_amqp_json_caps(struct bw_json *j, const char *key, bool seen, uint16_t caps)
{
    if (!seen) { bw_json_null(j, key); return; }
    bw_json_arr_open(j, key);
    for (unsigned i = 0; i < BW_AMQP_CAP_COUNT; i++)
        if (caps & (1u << i)) bw_json_str(j, NULL, bw_amqp_cap_name(i));
    bw_json_arr_close(j);
}

static inline void bw_amqp_facts_json(const struct bw_facts *f, struct bw_json *j)
{
    const struct bw_amqp_ext *x = (const struct bw_amqp_ext *)(const void *)f->ext;
    static const struct bw_amqp_ext none = { .sasl_outcome = -1, .close_code = -1 };
    if (!x->ready) x = &none;            /* never parsed: every member is null */

    bw_amqp_json_str(j, "broker_product", &x->broker_product);
    bw_amqp_json_str(j, "broker_version", &x->broker_version);
    bw_amqp_json_str(j, "broker_platform", &x->broker_platform);
    bw_amqp_json_str(j, "cluster_name", &x->cluster_name);
    if (!x->mechanisms.set) {
        bw_json_null(j, "mechanisms_offered");
    } else {
        bw_json_arr_open(j, "mechanisms_offered");
        size_t i = 0;
        while (i < x->mechanisms.len) {
            size_t k = i;
            while (k < x->mechanisms.len && x->mechanisms.s[k] != ' ') k++;
            if (k > i)   /* the last token of a cut list is itself cut */
                bw_amqp_json_bytes(j, NULL, x->mechanisms.s + i, k - i,
                                   x->mechanisms.cut && k == x->mechanisms.len);
            i = k + 1;
        }
        bw_json_arr_close(j);
    }
    bw_amqp_json_str(j, "client_product", &x->client_product);
    bw_amqp_json_str(j, "client_version", &x->client_version);
    if (x->family == BW_AMQP_FAMILY_10) {
        bw_amqp_json_str(j, "hostname", &x->hostname);
        bw_amqp_json_str(j, "container_id", &x->container_id);
    } else {
        bw_amqp_json_str(j, "vhost", &x->vhost);
        bw_amqp_json_caps(j, "broker_capabilities", x->props_seen & BW_AMQP_PROPS_BROKER,
                          x->broker_caps);
        bw_amqp_json_caps(j, "client_capabilities", x->props_seen & BW_AMQP_PROPS_CLIENT,
                          x->client_caps);
    }
    if (!x->close_seen) {
        bw_json_null(j, "close");
    } else {
        bw_json_obj_open(j, "close");
        if (x->close_code >= 0) bw_json_i64(j, "code", x->close_code);
        else bw_json_null(j, "code");
        bw_amqp_json_lstr(j, "text", &x->close_text);
        if (x->family == BW_AMQP_FAMILY_10) bw_amqp_json_str(j, "condition", &x->condition);
        bw_json_obj_close(j);
    }
    if (x->sasl_outcome >= 0) bw_json_i64(j, "sasl_outcome", x->sasl_outcome);
    else bw_json_null(j, "sasl_outcome");
    if (x->mismatch) {
        bw_json_obj_open(j, "version_mismatch");
        bw_amqp_json_hdr(j, "client", x->cli_hdr);
        bw_amqp_json_hdr(j, "server", x->srv_hdr);
        bw_json_obj_close(j);
    }
    bw_json_obj_open(j, "frames");
    bw_json_u64(j, "to_server", x->frames[0]);
    bw_json_u64(j, "to_client", x->frames[1]);
    bw_json_obj_close(j);
}

/* ---- resynchronizing after lost bytes (shared by 0-9-1 and 1.0) ---- */

enum bw_amqp_cand { BW_AMQP_CAND_NO, BW_AMQP_CAND_YES, BW_AMQP_CAND_NEED };
#define BW_AMQP_RESYNC_BUDGET 65536u     /* bytes discarded while resyncing before giving up */

/* Slide over buf for the first offset where cand() sees a plausible frame (min_hdr bytes at
 * least). Returns that offset with *found set, or, when none is complete yet, how many leading
 * bytes can be dropped. *scanned keeps the running total; *exhausted says the budget is spent. */
static inline size_t bw_amqp_resync_scan(const uint8_t *buf, size_t len, size_t min_hdr,
                                         enum bw_amqp_cand (*cand)(const void *ctx, const uint8_t *p, size_t n),
                                         const void *ctx, uint32_t *scanned, bool *found, bool *exhausted)
{
    size_t i = 0;
    *found = false;
    *exhausted = false;
    while (len - i >= min_hdr) {
        enum bw_amqp_cand r = cand(ctx, buf + i, len - i);
        if (r == BW_AMQP_CAND_NEED) break;          /* wait for the rest of this candidate */
        if (r == BW_AMQP_CAND_YES) { *found = true; *scanned = 0; return i; }
        i++;
    }
    *scanned = *scanned + i > BW_AMQP_RESYNC_BUDGET ? BW_AMQP_RESYNC_BUDGET + 1 : *scanned + (uint32_t)i;
    *exhausted = *scanned > BW_AMQP_RESYNC_BUDGET;  /* nothing frame-like for this long */
    return i;
}

#endif
