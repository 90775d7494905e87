/* amqp091.c: AMQP 0-9-1 dissector (also the 0-9 and 0-8 headers; the 0-10 header is recognized
 * and reported, its framing is not parsed). AMQP 0-9-1 spec: §4.2.2 protocol header, §4.2.3
 * frames (type, channel, size, payload, frame-end 0xCE), §4.2.5.5 field tables (RabbitMQ's errata
 * type set), §1.4.2 connection class (Start .. Close-Ok). It owns struct amqp091_state and the
 * "amqp" ext record; it never stores a password, never allocates, and skips content by length. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bw_amqp.h"
#include "bw_cursor.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"

#define HDR_LEN          8            /* "AMQP" + 4 version bytes (§4.2.2) */
#define FRAME_HDR        7            /* type(1) channel(2) size(4) (§4.2.3) */
#define FRAME_END        0xCE
#define HS_FRAME_MAX     16384u       /* largest connection-method payload buffered */
#define SKIP_FRAME_MAX   (64u << 20)  /* larger frames are not followed: a corrupt or hostile size */
#define FRAME_MIN_SIZE   4096u        /* §4.2.3: frame-max may not be negotiated below this */
#define RESYNC_FRAME_MAX 4096u        /* a resync candidate must end within this to be checked */
#define RESYNC_BUDGET    65536u       /* bytes discarded while resyncing before giving up */
#define TABLE_DEPTH_MAX  8            /* nested tables / arrays followed below a top-level table */
#define MID_FRAMES       3            /* consecutive checked frames that recognize a midstream pickup */

/* Probe scores between MAYBE and YES. */
#define PROBE_MIDSTREAM  80           /* three consecutive frames whose frame-ends check out */
#define PROBE_START      90           /* the broker's first frame is a well-formed Connection.Start */
#define PROBE_ODD_HDR    60           /* "AMQP" + unknown version, or a broker's refusal header */

enum { FT_METHOD = 1, FT_HEADER = 2, FT_BODY = 3, FT_HEARTBEAT = 8 };
enum { CLS_CONNECTION = 10 };
enum {
    M_START = 10, M_START_OK = 11, M_SECURE = 20, M_SECURE_OK = 21, M_TUNE = 30, M_TUNE_OK = 31,
    M_OPEN = 40, M_OPEN_OK = 41, M_CLOSE = 50, M_CLOSE_OK = 51, M_BLOCKED = 60, M_UNBLOCKED = 61,
    M_UPDATE_SECRET = 70, M_UPDATE_SECRET_OK = 71,
};
enum { M08_REDIRECT = 50, M08_CLOSE = 60, M08_CLOSE_OK = 61 };   /* 0-8 numbering */
enum { CODE_OK = 200, CODE_ACCESS_REFUSED = 403 };

enum proto { P_NONE, P_091, P_09, P_08, P_010, P_OTHER };

/* Names of enum bw_amqp091_anomaly (bw_amqp.h), same order. */
static const char *const anomaly_names[BW_AMQP091_ANOM_COUNT + 1] = {
    "bad_header", "version_mismatch", "bad_frame_type", "bad_frame_end", "frame_too_large",
    "bad_channel", "bad_heartbeat", "bad_method", "wrong_direction", "bad_table", "table_depth",
    "bad_plain", "bad_amqplain", "mech_not_offered", "bad_tune", NULL,
};

enum phase { PH_START, PH_FRAMES, PH_DONE };

struct dir_state {
    uint8_t  phase;                   /* enum phase */
    bool     want_end;                /* a payload was skipped: the next byte is its frame-end */
    bool     resync;                  /* sync lost (gap, bad frame): scan for a plausible frame */
    bool     gap;                     /* bytes of this direction were lost at least once */
    bool     synced;                  /* a frame-end has checked out in this direction */
    uint8_t  verified;                /* consecutive frames whose frame-end checked out (saturates) */
    uint32_t scanned;                 /* bytes discarded in the current resync */
};

struct amqp091_state {
    struct dir_state d[2];            /* indexed by enum bw_dir */
    uint8_t  proto;                   /* enum proto, from the header (or Connection.Start) */
    uint8_t  cli_hdr[HDR_LEN], srv_hdr[HDR_LEN];
    bool     have_cli_hdr, have_srv_hdr;
    bool     handshake;               /* a header or a handshake method was seen: not midstream */
    bool     midstream;               /* recognized from frame structure: nothing more to learn */
    bool     start, start_ok, tune, open_ok, closed;
    uint32_t frame_max;               /* negotiated (Tune-Ok, else Tune); 0 = unknown / none */
};
_Static_assert(sizeof(struct amqp091_state) <= BW_DISSECTOR_STATE_MAX, "amqp091 state too big");

static void anomaly(struct bw_facts *f, unsigned bit)
{
    f->anomalies |= 1u << bit;
    f->seen |= BW_FACT_SPEC_VIOLATION;
}

static void set_version(struct bw_facts *f, enum proto p)
{
    const char *v = p == P_09 ? "0-9" : p == P_08 ? "0-8" : p == P_010 ? "0-10" : "0-9-1";
    size_t n = strlen(v);
    memcpy(f->version, v, n + 1);          /* literals above all fit version[8] */
    f->seen |= BW_FACT_CONFIRMED;
}

/* ---- protocol header (§4.2.2) ---- */

static const uint8_t H091[8]  = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };
static const uint8_t H09[8]   = { 'A', 'M', 'Q', 'P', 1, 1, 0, 9 };
static const uint8_t H08[8]   = { 'A', 'M', 'Q', 'P', 1, 1, 8, 0 };
static const uint8_t H08B[8]  = { 'A', 'M', 'Q', 'P', 1, 1, 9, 1 };   /* 0-8 as printed; py-amqplib sends it */
static const uint8_t H010[8]  = { 'A', 'M', 'Q', 'P', 1, 1, 0, 10 };
static const uint8_t H10[3][8] = {                                     /* AMQP 1.0: not ours */
    { 'A', 'M', 'Q', 'P', 0, 1, 0, 0 }, { 'A', 'M', 'Q', 'P', 2, 1, 0, 0 },
    { 'A', 'M', 'Q', 'P', 3, 1, 0, 0 },
};

static bool prefix_of(const uint8_t *buf, size_t len, const uint8_t h[8])
{
    return memcmp(buf, h, len < 8 ? len : 8) == 0;
}

static enum proto hdr_proto(const uint8_t *h)
{
    if (memcmp(h, H091, 8) == 0) return P_091;
    if (memcmp(h, H09, 8) == 0) return P_09;
    if (memcmp(h, H08, 8) == 0 || memcmp(h, H08B, 8) == 0) return P_08;
    if (memcmp(h, H010, 8) == 0) return P_010;
    return memcmp(h, "AMQP", 4) == 0 ? P_OTHER : P_NONE;
}

static bool hdr_is_10(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < 3; i++)
        if (prefix_of(buf, len, H10[i])) return true;
    return false;
}

static bool type_ok(enum proto p, uint8_t type)
{
    if (type == FT_METHOD || type == FT_HEADER || type == FT_BODY || type == FT_HEARTBEAT)
        return true;
    return p == P_08 && type >= 4 && type <= 7;    /* 0-8 out-of-band and trace frames */
}

/* A frame header that could be real: the cheap checks shared by the probe and resync. */
static bool frame_plausible(enum proto p, uint8_t type, uint16_t ch, uint32_t size)
{
    if (!type_ok(p, type)) return false;
    if (type == FT_HEARTBEAT) return ch == 0 && size == 0;   /* §4.2.7: empty, channel 0 */
    if (type == FT_METHOD) return size >= 4;                 /* class-id + method-id */
    if (type == FT_HEADER) return size >= 14;                /* class, weight, body size, flags */
    return true;
}

/* ---- probe ---- */

static int amqp091_probe(enum bw_dir dir, const uint8_t *buf, size_t len)
{
    if (len == 0) return BW_PROBE_MAYBE;
    if (buf[0] == 'A') {                       /* 0x41 is no frame type: a header or nothing */
        if (!prefix_of(buf, len < 4 ? len : 4, H091)) return BW_PROBE_NO;
        if (len < HDR_LEN) {
            if (prefix_of(buf, len, H091) || prefix_of(buf, len, H09) || prefix_of(buf, len, H08) ||
                prefix_of(buf, len, H08B) || prefix_of(buf, len, H010))
                return BW_PROBE_MAYBE;
            return hdr_is_10(buf, len) ? BW_PROBE_NO : BW_PROBE_MAYBE;
        }
        switch (hdr_proto(buf)) {
        case P_091: case P_09: case P_08:
            /* A broker sends a 0-9-1 header only to refuse the client's: weaker evidence. */
            return dir == BW_DIR_TOSERVER ? BW_PROBE_YES : PROBE_ODD_HDR;
        case P_010:
            return BW_PROBE_YES;               /* 0-10 brokers echo the header */
        default:
            if (hdr_is_10(buf, len)) return BW_PROBE_NO;
            return dir == BW_DIR_TOSERVER ? PROBE_ODD_HDR : BW_PROBE_NO;
        }
    }
    /* Midstream: consecutive frames, each ending in 0xCE exactly where its size says. */
    size_t off = 0;
    unsigned n = 0;
    while (n < MID_FRAMES) {
        struct bw_cur c = bw_cur_init(buf + off, len - off);
        uint8_t type = bw_cur_u8(&c);
        if (!c.bad && !type_ok(P_NONE, type)) return BW_PROBE_NO;   /* decide on one byte */
        uint16_t ch = bw_cur_be16(&c);
        uint32_t size = bw_cur_be32(&c);
        if (c.bad) return BW_PROBE_MAYBE;                /* consistent so far */
        if (!frame_plausible(P_NONE, type, ch, size)) return BW_PROBE_NO;
        /* The frame-end must be visible inside the probe window, or it can never be checked. */
        if (size > BW_PROBE_WINDOW || off + FRAME_HDR + size + 1 > BW_PROBE_WINDOW)
            return BW_PROBE_NO;
        struct bw_cur body = bw_cur_sub(&c, size);
        uint8_t end = bw_cur_u8(&c);
        if (c.bad) return BW_PROBE_MAYBE;
        if (end != FRAME_END) return BW_PROBE_NO;
        if (n == 0 && dir == BW_DIR_TOCLIENT && type == FT_METHOD && ch == 0) {
            uint16_t cls = bw_cur_be16(&body), mth = bw_cur_be16(&body);
            if (cls == CLS_CONNECTION && mth == M_START) return PROBE_START;
        }
        n++;
        off += c.off;
    }
    return PROBE_MIDSTREAM;
}

/* ---- field tables (§4.2.5.5; RabbitMQ's errata types: t b B s u I i L l f d D S x A T F V) ---- */

struct field {
    struct bw_bytes name;
    uint8_t  type;
    struct bw_bytes str;          /* 'S', 'x' */
    struct bw_cur   sub;          /* 'F', 'A': the content */
    uint64_t num;                 /* numeric types as raw bits */
};

enum tab_res { TAB_OK, TAB_END, TAB_BAD, TAB_DEPTH };

static int table_check(struct bw_cur t, unsigned depth);
static int array_check(struct bw_cur a, unsigned depth);

/* Read one value of `type`. Nested tables and arrays are checked through completely (at most
 * TABLE_DEPTH_MAX levels), so a TAB_OK value can be walked again without surprises. */
static int field_value(struct bw_cur *c, uint8_t type, struct field *v, unsigned depth)
{
    struct bw_cur dead = { NULL, 0, 0, true };
    v->type = type;
    v->str.ptr = NULL;
    v->str.len = 0;
    v->sub = dead;
    v->num = 0;
    switch (type) {
    case 't': case 'b': case 'B':           v->num = bw_cur_u8(c); break;
    case 's': case 'u':                     v->num = bw_cur_be16(c); break;
    case 'I': case 'i': case 'f':           v->num = bw_cur_be32(c); break;
    case 'L': case 'l': case 'd': case 'T': v->num = bw_cur_be64(c); break;
    case 'D':                               /* decimal: scale octet + long-int */
        (void)bw_cur_u8(c);
        v->num = bw_cur_be32(c);
        break;
    case 'S': case 'x': {
        uint32_t n = bw_cur_be32(c);
        v->str = bw_cur_bytes(c, n);
        break;
    }
    case 'V':
        break;
    case 'F': case 'A': {
        if (depth >= TABLE_DEPTH_MAX) return TAB_DEPTH;   /* bounded recursion */
        uint32_t n = bw_cur_be32(c);
        v->sub = bw_cur_sub(c, n);
        if (c->bad) return TAB_BAD;
        int r = type == 'F' ? table_check(v->sub, depth + 1) : array_check(v->sub, depth + 1);
        if (r != TAB_OK) return r;
        break;
    }
    default:
        return TAB_BAD;                    /* an unknown type has an unknown length: stop here */
    }
    return c->bad ? TAB_BAD : TAB_OK;
}

/* Next name/value pair of a table's content; TAB_END when it is used up exactly. */
static int table_next(struct bw_cur *t, struct field *v, unsigned depth)
{
    if (t->bad) return TAB_BAD;
    if (bw_cur_left(t) == 0) return TAB_END;
    uint8_t n = bw_cur_u8(t);
    v->name = bw_cur_bytes(t, n);
    uint8_t type = bw_cur_u8(t);
    if (t->bad) return TAB_BAD;
    return field_value(t, type, v, depth);
}

static int array_next(struct bw_cur *a, struct field *v, unsigned depth)
{
    if (a->bad) return TAB_BAD;
    if (bw_cur_left(a) == 0) return TAB_END;
    v->name.ptr = NULL;
    v->name.len = 0;
    uint8_t type = bw_cur_u8(a);
    return field_value(a, type, v, depth);
}

static int table_check(struct bw_cur t, unsigned depth)
{
    struct field v;
    int r;
    while ((r = table_next(&t, &v, depth)) == TAB_OK) {}
    return r == TAB_END ? TAB_OK : r;
}

static int array_check(struct bw_cur a, unsigned depth)
{
    struct field v;
    int r;
    while ((r = array_next(&a, &v, depth)) == TAB_OK) {}
    return r == TAB_END ? TAB_OK : r;
}

static void table_result(int r, struct bw_facts *f)
{
    if (r == TAB_BAD) anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
    else if (r == TAB_DEPTH) anomaly(f, BW_AMQP091_ANOM_TABLE_DEPTH);
}

/* A table argument: long-uint length, then content inside the method. */
static bool read_table(struct bw_cur *m, struct bw_cur *tab)
{
    uint32_t n = bw_cur_be32(m);
    *tab = bw_cur_sub(m, n);
    return !m->bad;
}

static uint16_t cap_bit(struct bw_bytes name)
{
    for (unsigned i = 0; i < BW_AMQP_CAP_COUNT; i++)
        if (bw_amqp_eq(name, bw_amqp_cap_name(i))) return (uint16_t)(1u << i);
    return 0;
}

/* server-properties / client-properties: product, version, platform, cluster_name, capabilities. */
static void properties(struct bw_cur t, bool broker, struct bw_facts *f, struct bw_amqp_ext *x)
{
    struct field v;
    int r;
    x->props_seen |= broker ? BW_AMQP_PROPS_BROKER : BW_AMQP_PROPS_CLIENT;
    while ((r = table_next(&t, &v, 0)) == TAB_OK) {
        if (v.type == 'S') {
            struct bw_amqp_str *dst = NULL;
            if (bw_amqp_eq(v.name, "product"))
                dst = broker ? &x->broker_product : &x->client_product;
            else if (bw_amqp_eq(v.name, "version"))
                dst = broker ? &x->broker_version : &x->client_version;
            else if (broker && bw_amqp_eq(v.name, "platform"))
                dst = &x->broker_platform;
            else if (broker && bw_amqp_eq(v.name, "cluster_name"))
                dst = &x->cluster_name;
            if (dst) bw_amqp_str_set(dst, v.str.ptr, v.str.len);
        } else if (v.type == 'F' && bw_amqp_eq(v.name, "capabilities")) {
            struct field cv;
            struct bw_cur caps = v.sub;    /* already checked by field_value() */
            uint16_t *bits = broker ? &x->broker_caps : &x->client_caps;
            while (table_next(&caps, &cv, 1) == TAB_OK)
                if (cv.type == 't' && cv.num != 0) *bits |= cap_bit(cv.name);
        }
    }
    table_result(r, f);
}

/* ---- connection methods (§1.4.2) ---- */

static void method_tail(struct bw_cur *m, struct bw_facts *f)
{
    if (m->bad || bw_cur_left(m) != 0)    /* every argument present, nothing after the last */
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
}

/* AMQPLAIN: a field table with LOGIN and PASSWORD, sent as the response longstr. */
static void amqplain(struct bw_bytes resp, struct bw_facts *f)
{
    struct bw_cur t = bw_cur_init(resp.ptr, resp.len);
    struct bw_bytes user = { NULL, 0 }, pass = { NULL, 0 };
    bool have_user = false, have_pass = false;
    struct field v;
    int r;
    /* Most clients (py-amqp, bunny, php-amqplib) send the table content alone; some keep the
     * 4-byte length. The content starts with a name length, so a first long equal to the rest
     * of the response can only be that length. */
    if (resp.len >= 4) {
        struct bw_cur peek = t;
        if (bw_cur_be32(&peek) == resp.len - 4) t = peek;
    }
    while ((r = table_next(&t, &v, 0)) == TAB_OK) {
        bool str = v.type == 'S' || v.type == 'x';
        if (bw_amqp_eq(v.name, "LOGIN")) {
            if (str) { user = v.str; have_user = true; }
            else anomaly(f, BW_AMQP091_ANOM_BAD_AMQPLAIN);
        } else if (bw_amqp_eq(v.name, "PASSWORD")) {
            if (str) { pass = v.str; have_pass = true; }
            else anomaly(f, BW_AMQP091_ANOM_BAD_AMQPLAIN);
        }
    }
    table_result(r, f);
    if (!have_user || !have_pass) anomaly(f, BW_AMQP091_ANOM_BAD_AMQPLAIN);
    bw_amqp_creds(f, user, have_user, pass, have_pass);   /* password: compared, never copied */
}

static void start(struct amqp091_state *st, struct bw_cur *m, struct bw_facts *f,
                  struct bw_amqp_ext *x)
{
    uint8_t vmaj = bw_cur_u8(m), vmin = bw_cur_u8(m);
    struct bw_cur tab;
    st->start = true;
    st->handshake = true;
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }
    if (st->proto == P_NONE)                 /* header not seen: the broker's version decides */
        st->proto = (vmaj == 8 && vmin == 0) ? P_08 : P_091;
    if (f->version[0] == '\0') set_version(f, (enum proto)st->proto);
    f->seen |= BW_FACT_CONFIRMED;
    if (!read_table(m, &tab)) {              /* a table length past the method */
        anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
        return;
    }
    properties(tab, true, f, x);
    struct bw_bytes mechs = bw_cur_bytes(m, bw_cur_be32(m));
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }
    bw_amqp_lstr_set(&x->mechanisms, mechs.ptr, mechs.len);
    (void)bw_cur_bytes(m, bw_cur_be32(m));   /* locales */
    method_tail(m, f);
}

static void start_ok(struct amqp091_state *st, struct bw_cur *m, struct bw_facts *f,
                     struct bw_amqp_ext *x)
{
    struct bw_cur tab;
    st->start_ok = true;
    st->handshake = true;
    f->seen |= BW_FACT_CONFIRMED;
    if (f->version[0] == '\0') set_version(f, st->proto == P_NONE ? P_091 : (enum proto)st->proto);
    if (!read_table(m, &tab)) {              /* a table length past the method */
        anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
        return;
    }
    properties(tab, false, f, x);
    struct bw_bytes mech = bw_cur_bytes(m, bw_cur_u8(m));
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }
    bw_fstr_set(&f->mech, mech.ptr, mech.len);
    /* The list is space-separated; a mechanism the broker did not offer is a client oddity. */
    if (x->mechanisms.set && !bw_amqp_lstr_has(&x->mechanisms, mech.ptr, mech.len))
        anomaly(f, BW_AMQP091_ANOM_MECH_NOT_OFFERED);
    struct bw_bytes resp = bw_cur_bytes(m, bw_cur_be32(m));
    /* A response cut by the frame: which bytes are the password is unknown, report nothing. */
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }
    if (bw_amqp_eq(mech, "PLAIN")) {
        struct bw_bytes user, pass;
        bool extra;
        if (!bw_amqp_plain_split(resp, &user, &pass, &extra)) {
            anomaly(f, BW_AMQP091_ANOM_BAD_PLAIN);
        } else {
            if (extra || user.len == 0)      /* RFC 4616 forbids both */
                anomaly(f, BW_AMQP091_ANOM_BAD_PLAIN);
            bw_amqp_creds(f, user, true, pass, true);
        }
    } else if (bw_amqp_eq(mech, "AMQPLAIN")) {
        amqplain(resp, f);
    } else if (bw_amqp_eq(mech, "ANONYMOUS")) {
        f->seen |= BW_FACT_ANONYMOUS;
    }
    /* EXTERNAL (identity from the TLS layer) and others carry no password we can see. */
    (void)bw_cur_bytes(m, bw_cur_u8(m));     /* locale */
    method_tail(m, f);
}

static void tune(struct amqp091_state *st, bool from_broker, struct bw_cur *m, struct bw_facts *f)
{
    (void)bw_cur_be16(m);                    /* channel-max */
    uint32_t frame_max = bw_cur_be32(m);
    (void)bw_cur_be16(m);                    /* heartbeat */
    st->handshake = true;
    if (from_broker) {
        st->tune = true;
        /* Tune is only sent once the SASL exchange has succeeded (§1.4.2.5). */
        f->seen |= BW_FACT_AUTH_OK;
    }
    method_tail(m, f);
    if (m->bad) return;
    if (frame_max != 0 && frame_max < FRAME_MIN_SIZE) anomaly(f, BW_AMQP091_ANOM_BAD_TUNE);
    if (!from_broker || st->frame_max == 0)  /* Tune-Ok carries the value both sides use */
        st->frame_max = frame_max;
}

static void close_method(struct amqp091_state *st, struct bw_cur *m, struct bw_facts *f,
                         struct bw_amqp_ext *x)
{
    uint16_t code = bw_cur_be16(m);
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }
    struct bw_bytes text = bw_cur_bytes(m, bw_cur_u8(m));
    (void)bw_cur_be16(m);                    /* class-id */
    (void)bw_cur_be16(m);                    /* method-id */
    st->closed = true;
    x->close_seen = true;
    x->close_code = code;
    if (text.ptr) bw_amqp_lstr_set(&x->close_text, text.ptr, text.len);
    f->result_code = code;
    method_tail(m, f);
    /* ACCESS_REFUSED during the SASL exchange (no Tune yet) is a rejected login; brokers send it
     * to clients announcing authentication_failure_close. Any other non-200 code is a refusal
     * (530 NOT_ALLOWED for a vhost, 320, 501 ...). */
    if (code == CODE_ACCESS_REFUSED && (st->start || st->start_ok) && !st->tune && !st->open_ok)
        f->seen |= BW_FACT_AUTH_FAILED;
    else if (code != CODE_OK)
        f->seen |= BW_FACT_REFUSED;
}

static bool direction_ok(bool from_client, bool client_method, struct bw_facts *f)
{
    if (from_client == client_method) return true;
    anomaly(f, BW_AMQP091_ANOM_WRONG_DIRECTION);
    return false;
}

/* One connection method with its arguments in m. Returns OK, or DONE when that direction has
 * nothing more to tell. */
static enum bw_parse method(struct amqp091_state *st, enum bw_dir dir, uint16_t mid,
                            struct bw_cur *m, struct bw_facts *f, struct bw_amqp_ext *x)
{
    bool v08 = st->proto == P_08;
    bool cli = dir == BW_DIR_TOSERVER;
    uint16_t m_close = v08 ? M08_CLOSE : M_CLOSE, m_close_ok = v08 ? M08_CLOSE_OK : M_CLOSE_OK;

    if (mid == m_close) {
        if (!cli) close_method(st, m, f, x);  /* the client's own Close is no broker answer */
        return BW_PARSE_DONE;
    }
    if (mid == m_close_ok)
        return BW_PARSE_DONE;
    switch (mid) {
    case M_START:
        if (direction_ok(cli, false, f)) start(st, m, f, x);
        return BW_PARSE_OK;
    case M_START_OK:
        if (direction_ok(cli, true, f)) start_ok(st, m, f, x);
        return BW_PARSE_OK;
    case M_SECURE:     /* challenge / response: never kept, they may carry secrets */
    case M_SECURE_OK:
        if (direction_ok(cli, mid == M_SECURE_OK, f)) st->handshake = true;
        return BW_PARSE_OK;
    case M_TUNE:
    case M_TUNE_OK:
        if (direction_ok(cli, mid == M_TUNE_OK, f)) tune(st, !cli, m, f);
        return BW_PARSE_OK;
    case M_OPEN:
        if (!direction_ok(cli, true, f)) return BW_PARSE_OK;
        {
            struct bw_bytes vh = bw_cur_bytes(m, bw_cur_u8(m));
            if (vh.ptr) bw_amqp_str_set(&x->vhost, vh.ptr, vh.len);
            (void)bw_cur_bytes(m, bw_cur_u8(m));   /* reserved-1 (0-8: capabilities) */
            (void)bw_cur_u8(m);                    /* reserved-2 (0-8: insist) */
            method_tail(m, f);
        }
        st->handshake = true;
        return BW_PARSE_DONE;                 /* the client has said all it will say */
    case M_OPEN_OK:
        if (!direction_ok(cli, false, f)) return BW_PARSE_OK;
        (void)bw_cur_bytes(m, bw_cur_u8(m));       /* reserved-1 (0-8: known-hosts) */
        method_tail(m, f);
        st->open_ok = true;
        st->handshake = true;
        f->seen |= BW_FACT_AUTH_OK;
        return BW_PARSE_DONE;
    default:
        break;
    }
    if (v08 && mid == M08_REDIRECT) {         /* 0-8 only: the broker sends the client away */
        if (direction_ok(cli, false, f)) return BW_PARSE_DONE;
        return BW_PARSE_OK;
    }
    if (!v08 && (mid == M_BLOCKED || mid == M_UNBLOCKED || mid == M_UPDATE_SECRET_OK)) {
        (void)direction_ok(cli, false, f);
        return BW_PARSE_OK;
    }
    if (!v08 && mid == M_UPDATE_SECRET) {     /* a new token: never read */
        (void)direction_ok(cli, true, f);
        return BW_PARSE_OK;
    }
    anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
    return BW_PARSE_OK;
}

/* ---- frames (§4.2.3) ---- */

/* A frame-end checked out: count it toward recognizing a session picked up midstream. */
static void frame_checked(struct amqp091_state *st, struct dir_state *d, struct bw_facts *f)
{
    d->synced = true;
    if (d->verified < UINT8_MAX) d->verified++;
    if (!st->handshake && !st->midstream && d->verified >= MID_FRAMES) {
        st->midstream = true;
        f->seen |= BW_FACT_MIDSTREAM;
        if (f->version[0] == '\0') set_version(f, P_091);
        f->seen |= BW_FACT_CONFIRMED;
    }
}

/* A capture that starts inside a frame is no protocol violation: before the first frame of a
 * direction checks out (and with no handshake seen), broken framing is only a lost sync. */
static void sync_anomaly(const struct amqp091_state *st, const struct dir_state *d,
                         struct bw_facts *f, unsigned bit)
{
    if (st->handshake || d->synced) anomaly(f, bit);
}

/* Sync is lost at buf[0]: drop that byte and scan from the next one. */
static enum bw_parse lose_sync(struct dir_state *d, size_t *used)
{
    d->want_end = false;
    d->resync = true;
    d->verified = 0;
    d->scanned = 1;
    *used = 1;
    return BW_PARSE_OK;
}

enum cand { CAND_NO, CAND_YES, CAND_NEED };

/* Could a frame start at p? Plausible header, small enough to check, frame-end in place. */
static enum cand candidate(enum proto proto, const uint8_t *p, size_t n)
{
    struct bw_cur c = bw_cur_init(p, n);
    uint8_t type = bw_cur_u8(&c);
    uint16_t ch = bw_cur_be16(&c);
    uint32_t size = bw_cur_be32(&c);
    if (c.bad) return CAND_NEED;
    if (!frame_plausible(proto, type, ch, size) || size > RESYNC_FRAME_MAX) return CAND_NO;
    (void)bw_cur_sub(&c, size);
    uint8_t end = bw_cur_u8(&c);
    if (c.bad) return CAND_NEED;
    return end == FRAME_END ? CAND_YES : CAND_NO;
}

static enum bw_parse frame(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                           const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                           struct bw_amqp_ext *x);

static enum bw_parse resync(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                            const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                            struct bw_amqp_ext *x)
{
    size_t i = 0;
    while (len - i >= FRAME_HDR) {
        enum cand r = candidate((enum proto)st->proto, buf + i, len - i);
        if (r == CAND_NEED) break;               /* wait for the rest of this candidate */
        if (r == CAND_YES) {
            d->resync = false;
            d->scanned = 0;
            if (i == 0) return frame(st, d, dir, buf, len, used, f, x);
            *used = i;
            return BW_PARSE_OK;
        }
        i++;
    }
    *used = i;
    d->scanned = d->scanned + i > RESYNC_BUDGET ? RESYNC_BUDGET + 1 : d->scanned + (uint32_t)i;
    if (d->scanned > RESYNC_BUDGET) {        /* nothing frame-like for this long: give up */
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    return BW_PARSE_NEED_MORE;
}

static enum bw_parse frame(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                           const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                           struct bw_amqp_ext *x)
{
    struct bw_cur c = bw_cur_init(buf, len);
    uint8_t type = bw_cur_u8(&c);
    uint16_t ch = bw_cur_be16(&c);
    uint32_t size = bw_cur_be32(&c);
    if (c.bad) return BW_PARSE_NEED_MORE;
    if (!type_ok((enum proto)st->proto, type)) {   /* no frame starts here: sync is lost */
        sync_anomaly(st, d, f, BW_AMQP091_ANOM_BAD_FRAME_TYPE);
        return lose_sync(d, used);
    }
    if (size > SKIP_FRAME_MAX) {                   /* not a size anyone negotiates */
        sync_anomaly(st, d, f, BW_AMQP091_ANOM_FRAME_TOO_LARGE);
        return lose_sync(d, used);
    }
    /* frame-max counts the whole frame; 0 means no limit was set. */
    if (st->frame_max != 0 && (uint64_t)size + FRAME_HDR + 1 > st->frame_max)
        anomaly(f, BW_AMQP091_ANOM_FRAME_TOO_LARGE);
    if (type == FT_HEARTBEAT && (ch != 0 || size != 0))
        anomaly(f, BW_AMQP091_ANOM_BAD_HEARTBEAT);
    if (type == FT_METHOD && size < 4)             /* no room for class-id and method-id */
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
    if (type == FT_METHOD && size >= 4) {
        uint16_t cls = bw_cur_be16(&c), mid = bw_cur_be16(&c);
        if (c.bad) return BW_PARSE_NEED_MORE;
        if ((cls == CLS_CONNECTION) != (ch == 0))  /* channel 0 is the connection's alone */
            anomaly(f, BW_AMQP091_ANOM_BAD_CHANNEL);
        if (cls == CLS_CONNECTION && ch == 0) {
            if (size > HS_FRAME_MAX) {             /* refuse to buffer it; skip it instead */
                anomaly(f, BW_AMQP091_ANOM_FRAME_TOO_LARGE);
            } else {
                struct bw_cur all = bw_cur_init(buf, len);
                (void)bw_cur_skip(&all, FRAME_HDR);
                if (bw_cur_left(&all) < (size_t)size + 1) return BW_PARSE_NEED_MORE;
                struct bw_cur m = bw_cur_sub(&all, size);
                if (bw_cur_u8(&all) != FRAME_END) {
                    sync_anomaly(st, d, f, BW_AMQP091_ANOM_BAD_FRAME_END);
                    return lose_sync(d, used);
                }
                (void)bw_cur_skip(&m, 4);          /* class-id, method-id read above */
                *used = all.off;
                x->frames[dir]++;
                enum bw_parse r = method(st, dir, mid, &m, f, x);
                frame_checked(st, d, f);
                if (st->midstream || r == BW_PARSE_DONE) {
                    d->phase = PH_DONE;
                    return BW_PARSE_DONE;
                }
                return BW_PARSE_OK;
            }
        }
    }
    /* Everything else (content, other classes, heartbeats) is skipped by length, possibly
     * beyond this buffer; its frame-end is checked on the next call. */
    *used = FRAME_HDR + (size_t)size;
    d->want_end = true;
    x->frames[dir]++;
    return BW_PARSE_OK;
}

/* ---- headers ---- */

static void mismatch(struct amqp091_state *st, struct bw_facts *f, struct bw_amqp_ext *x)
{
    if (x->mismatch) return;
    x->mismatch = true;
    memset(x->cli_hdr, 0, sizeof x->cli_hdr);
    if (st->have_cli_hdr) memcpy(x->cli_hdr, st->cli_hdr, HDR_LEN);
    memcpy(x->srv_hdr, st->srv_hdr, HDR_LEN);
    anomaly(f, BW_AMQP091_ANOM_VERSION_MISMATCH);
    f->seen |= BW_FACT_REFUSED | BW_FACT_CONFIRMED;   /* an AMQP broker, refusing this version */
}

/* A 0-x broker sends a header only to refuse the client's (§4.2.2), except 0-10 brokers, which
 * echo an acceptable one. Called after either header; the two may be delivered in any order. */
static void check_headers(struct amqp091_state *st, struct bw_facts *f, struct bw_amqp_ext *x)
{
    if (!st->have_srv_hdr) return;
    bool echo = hdr_proto(st->srv_hdr) == P_010;
    if (st->have_cli_hdr) echo = echo && memcmp(st->cli_hdr, st->srv_hdr, HDR_LEN) == 0;
    if (!echo) mismatch(st, f, x);
}

/* Start of a direction: a protocol header, or (false) frames from the first byte on. */
static bool dir_start(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                      const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                      struct bw_amqp_ext *x, enum bw_parse *r)
{
    if (len > 0 && !prefix_of(buf, len < 4 ? len : 4, H091)) {
        d->phase = PH_FRAMES;                /* no header: a pickup after the handshake */
        return false;
    }
    if (len < HDR_LEN) { *r = BW_PARSE_NEED_MORE; return true; }
    *used = HDR_LEN;
    st->handshake = true;
    enum proto p = hdr_proto(buf);
    if (dir == BW_DIR_TOSERVER) {
        memcpy(st->cli_hdr, buf, HDR_LEN);
        st->have_cli_hdr = true;
        if (p == P_091 || p == P_09 || p == P_08 || p == P_010) {
            st->proto = (uint8_t)p;
            set_version(f, p);
        } else {                              /* 1.0 or unknown: framing unknown, stop here */
            if (st->proto == P_NONE) st->proto = P_OTHER;
            anomaly(f, BW_AMQP091_ANOM_BAD_HEADER);
        }
        check_headers(st, f, x);
        d->phase = (p == P_091 || p == P_09 || p == P_08) ? PH_FRAMES : PH_DONE;
    } else {
        memcpy(st->srv_hdr, buf, HDR_LEN);
        st->have_srv_hdr = true;
        if (p == P_010 && (st->proto == P_NONE || st->proto == P_010)) {
            st->proto = P_010;
            set_version(f, P_010);
        }
        check_headers(st, f, x);
        d->phase = PH_DONE;                   /* a refusal, or 0-10 framing we do not follow */
    }
    *r = d->phase == PH_DONE ? BW_PARSE_DONE : BW_PARSE_OK;
    return true;
}

/* ---- plug-in entry points ---- */

static void amqp091_reset(void *state)
{
    memset(state, 0, sizeof(struct amqp091_state));
}

static enum bw_parse amqp091_parse(void *state, enum bw_dir dir, const uint8_t *buf, size_t len,
                                   size_t *used, struct bw_facts *f)
{
    struct amqp091_state *st = state;
    struct dir_state *d = &st->d[dir == BW_DIR_TOCLIENT];
    struct bw_amqp_ext *x = bw_amqp_ext(f, BW_AMQP_FAMILY_091);
    enum bw_parse r;

    *used = 0;
    if (dir != BW_DIR_TOCLIENT) dir = BW_DIR_TOSERVER;
    if (d->phase == PH_DONE) return BW_PARSE_DONE;
    if (d->phase == PH_START && dir_start(st, d, dir, buf, len, used, f, x, &r))
        return r;
    /* 0-10 framing is not followed; a confirmed midstream session has nothing more to tell. */
    if (st->midstream || st->proto == P_010 || (dir == BW_DIR_TOSERVER && st->proto == P_OTHER)) {
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    if (d->want_end) {
        struct bw_cur c = bw_cur_init(buf, len);
        uint8_t end = bw_cur_u8(&c);
        if (c.bad) return BW_PARSE_NEED_MORE;
        if (end != FRAME_END) {              /* the skipped frame's size was a lie */
            sync_anomaly(st, d, f, BW_AMQP091_ANOM_BAD_FRAME_END);
            return lose_sync(d, used);
        }
        d->want_end = false;
        *used = 1;
        frame_checked(st, d, f);
        if (st->midstream) {
            d->phase = PH_DONE;
            return BW_PARSE_DONE;
        }
        return BW_PARSE_OK;
    }
    if (d->resync)
        return resync(st, d, dir, buf, len, used, f, x);
    return frame(st, d, dir, buf, len, used, f, x);
}

static enum bw_parse amqp091_gap(void *state, enum bw_dir dir, struct bw_facts *f)
{
    struct amqp091_state *st = state;
    struct dir_state *d = &st->d[dir == BW_DIR_TOCLIENT];
    f->seen |= BW_FACT_GAP;
    d->gap = true;
    if (d->phase == PH_DONE || st->midstream || st->proto == P_010)
        return BW_PARSE_DONE;
    /* Frames go on after the hole (a lost header included): find the next one. */
    d->phase = PH_FRAMES;
    d->want_end = false;
    d->resync = true;
    d->verified = 0;
    d->scanned = 0;
    return BW_PARSE_OK;
}

static void amqp091_close(void *state, enum bw_close how, struct bw_facts *f)
{
    struct amqp091_state *st = state;
    /* Brokers whose client did not announce authentication_failure_close reject a login by
     * dropping the connection: credentials sent, then the connection ends with neither Tune nor
     * a Close. A lost stretch of broker bytes could have held the Tune: then say nothing. */
    if (!st->start_ok || st->tune || st->open_ok || st->closed || st->d[BW_DIR_TOCLIENT].gap)
        return;
    if (f->seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED))
        return;
    if (how == BW_CLOSE_FIN_SERVER_FIRST || how == BW_CLOSE_RST_SERVER || how == BW_CLOSE_FIN)
        f->seen |= BW_FACT_AUTH_FAILED;
}

static void amqp091_facts_json(const struct bw_facts *f, struct bw_json *j)
{
    bw_amqp_facts_json(f, j);
}

const struct bw_dissector bw_dissector_amqp091 = {
    .name = "amqp",
    .ports = { 5672, 0 },
    .state_size = sizeof(struct amqp091_state),
    .probe = amqp091_probe,
    .reset = amqp091_reset,
    .parse = amqp091_parse,
    .gap = amqp091_gap,
    .close = amqp091_close,
    .facts_json = amqp091_facts_json,
    .anomaly_names = anomaly_names,
};
