/* amqp091.c: AMQP 0-9-1 dissector (also the 0-9 and 0-8 headers, and the connection handshake of
 * AMQP 0-10). AMQP 0-9-1 spec: §4.2.2 protocol header, §4.2.3 frames (type, channel, size,
 * payload, frame-end 0xCE), §4.2.5.5 field tables (RabbitMQ's errata type set), §1.4.2 connection
 * class (Start .. Close-Ok). AMQP 0-10 (amqp.0-10.xml): 12-byte frame headers, control segments of
 * the connection class with packed arguments, the 0-10 type codes whose width the code says.
 * It owns struct amqp091_state and the "amqp" ext record; it never stores a password, never
 * allocates, and skips content by length. */
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
    "bad_plain", "bad_amqplain", "mech_not_offered", "bad_tune", "bad_frame", NULL,
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
}

/* The broker answered as an AMQP broker does: only its bytes confirm the protocol (a client's
 * header or Start-Ok alone proves nothing: anyone can send them to anything). */
static void broker_answered(struct amqp091_state *st, struct bw_facts *f)
{
    if (f->version[0] == '\0') set_version(f, st->proto == P_NONE ? P_091 : (enum proto)st->proto);
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

/* ---- field tables (§4.2.5.5) ----
 * Two type-letter sets are in use. The 0-9-1 grammar: t b B U u I i L l f d D s S A T F V, with
 * 's' a short string. RabbitMQ's errata set (also Qpid's and most clients'): t b B s u I i l f d
 * D S x A T F V, with 's' a signed 16-bit integer and 'x' a byte array. Every letter but 's' has
 * one width in both, so the union is read, and 's' by the set under which the whole table
 * decodes: RabbitMQ's first (what brokers and clients send), then the spec's. */

enum dialect { DIA_RABBIT, DIA_SPEC };

struct field {
    struct bw_bytes name;
    uint8_t  type;
    int      nested;              /* 'F', 'A': TAB_OK, or why the content does not decode */
    struct bw_bytes str;          /* 'S', 'x', and 's' read as a short string */
    struct bw_cur   sub;          /* 'F', 'A': the content */
    uint64_t num;                 /* numeric types as raw bits */
};

enum tab_res { TAB_OK, TAB_END, TAB_BAD, TAB_DEPTH };

static int table_check(struct bw_cur t, unsigned depth, enum dialect dia);
static int array_check(struct bw_cur a, unsigned depth, enum dialect dia);

/* Read one value of `type`. TAB_OK means the value was framed and passed: a nested table or
 * array has its own length, so even when its content does not decode (v->nested says why,
 * checked through at most TABLE_DEPTH_MAX levels) the walk of the enclosing table goes on after
 * it. TAB_BAD: an unknown type (unknown width) or a length past the table: nothing after it
 * can be read. */
static int field_value(struct bw_cur *c, uint8_t type, struct field *v, unsigned depth,
                       enum dialect dia)
{
    struct bw_cur dead = { NULL, 0, 0, true };
    v->type = type;
    v->nested = TAB_OK;
    v->str.ptr = NULL;
    v->str.len = 0;
    v->sub = dead;
    v->num = 0;
    switch (type) {
    case 't': case 'b': case 'B':           v->num = bw_cur_u8(c); break;
    case 'U': case 'u':                     v->num = bw_cur_be16(c); break;
    case 'I': case 'i': case 'f':           v->num = bw_cur_be32(c); break;
    case 'L': case 'l': case 'd': case 'T': v->num = bw_cur_be64(c); break;
    case 'D':                               /* decimal: scale octet + long-int */
        (void)bw_cur_u8(c);
        v->num = bw_cur_be32(c);
        break;
    case 's':
        if (dia == DIA_RABBIT) v->num = bw_cur_be16(c);
        else v->str = bw_cur_bytes(c, bw_cur_u8(c));
        break;
    case 'S': case 'x': {
        uint32_t n = bw_cur_be32(c);
        v->str = bw_cur_bytes(c, n);
        break;
    }
    case 'V':
        break;
    case 'F': case 'A': {
        uint32_t n = bw_cur_be32(c);
        v->sub = bw_cur_sub(c, n);
        if (c->bad) return TAB_BAD;
        if (depth >= TABLE_DEPTH_MAX) v->nested = TAB_DEPTH;   /* bounded recursion */
        else v->nested = type == 'F' ? table_check(v->sub, depth + 1, dia)
                                     : array_check(v->sub, depth + 1, dia);
        break;
    }
    default:
        return TAB_BAD;                    /* an unknown type has an unknown length: stop here */
    }
    return c->bad ? TAB_BAD : TAB_OK;
}

/* Next name/value pair of a table's content; TAB_END when it is used up exactly. */
static int table_next(struct bw_cur *t, struct field *v, unsigned depth, enum dialect dia)
{
    if (t->bad) return TAB_BAD;
    if (bw_cur_left(t) == 0) return TAB_END;
    uint8_t n = bw_cur_u8(t);
    v->name = bw_cur_bytes(t, n);
    uint8_t type = bw_cur_u8(t);
    if (t->bad) return TAB_BAD;
    return field_value(t, type, v, depth, dia);
}

static int array_next(struct bw_cur *a, struct field *v, unsigned depth, enum dialect dia)
{
    if (a->bad) return TAB_BAD;
    if (bw_cur_left(a) == 0) return TAB_END;
    v->name.ptr = NULL;
    v->name.len = 0;
    uint8_t type = bw_cur_u8(a);
    return field_value(a, type, v, depth, dia);
}

/* Does the whole content decode, nested values included? */
static int table_check(struct bw_cur t, unsigned depth, enum dialect dia)
{
    struct field v;
    int r;
    while ((r = table_next(&t, &v, depth, dia)) == TAB_OK)
        if (v.nested != TAB_OK) return v.nested;
    return r == TAB_END ? TAB_OK : r;
}

static int array_check(struct bw_cur a, unsigned depth, enum dialect dia)
{
    struct field v;
    int r;
    while ((r = array_next(&a, &v, depth, dia)) == TAB_OK)
        if (v.nested != TAB_OK) return v.nested;
    return r == TAB_END ? TAB_OK : r;
}

/* The letter set a top-level table is read with (see above). A table neither decodes is read
 * with RabbitMQ's, as far as it goes. */
static enum dialect table_dialect(struct bw_cur t)
{
    if (table_check(t, 0, DIA_RABBIT) == TAB_OK) return DIA_RABBIT;
    return table_check(t, 0, DIA_SPEC) == TAB_OK ? DIA_SPEC : DIA_RABBIT;
}

static void table_result(int r, struct bw_facts *f)
{
    if (r == TAB_BAD) anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
    else if (r == TAB_DEPTH) anomaly(f, BW_AMQP091_ANOM_TABLE_DEPTH);
}

/* A string value as the dialect reads it: long string, byte array or the spec's short string. */
static bool field_is_str(const struct field *v)
{
    return v->type == 'S' || v->type == 'x' || (v->type == 's' && v->str.ptr);
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

/* server-properties / client-properties: product, version, platform, cluster_name, capabilities.
 * A nested value that does not decode is lost alone (its length frames it); an undecodable value
 * at the top level ends the walk there, and the method's later arguments are still read. */
static void properties(struct bw_cur t, bool broker, struct bw_facts *f, struct bw_amqp_ext *x)
{
    struct field v;
    int r;
    enum dialect dia = table_dialect(t);
    x->props_seen |= broker ? BW_AMQP_PROPS_BROKER : BW_AMQP_PROPS_CLIENT;
    while ((r = table_next(&t, &v, 0, dia)) == TAB_OK) {
        table_result(v.nested, f);
        if (field_is_str(&v)) {
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
        } else if (v.type == 'F' && v.nested == TAB_OK && bw_amqp_eq(v.name, "capabilities")) {
            struct field cv;
            struct bw_cur caps = v.sub;    /* checked by field_value(): it decodes */
            uint16_t *bits = broker ? &x->broker_caps : &x->client_caps;
            while (table_next(&caps, &cv, 1, dia) == TAB_OK)
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
    enum dialect dia = table_dialect(t);
    while ((r = table_next(&t, &v, 0, dia)) == TAB_OK) {
        bool str = field_is_str(&v);
        table_result(v.nested, f);
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
    broker_answered(st, f);
    if (!read_table(m, &tab)) {              /* a table length past the method */
        anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
        return;
    }
    properties(tab, true, f, x);
    bw_amqp_product_fact(f, x);
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
    /* A response cut by the frame: which bytes are the password is unknown, report nothing;
     * an evidence copy then masks every byte the client sent (a password may be in them). */
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); f->secret_unplaced = true; return; }
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

    bool broker_method = mid == M_START || mid == M_SECURE || mid == M_TUNE || mid == M_OPEN_OK ||
                         mid == m_close || mid == m_close_ok ||
                         (v08 ? mid == M08_REDIRECT
                              : mid == M_BLOCKED || mid == M_UNBLOCKED || mid == M_UPDATE_SECRET_OK);
    if (!cli && broker_method) broker_answered(st, f);
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
    /* Midstream it takes MID_FRAMES frames that check out, and the broker's among them: a
     * client's frames alone prove no broker (anyone can send them anywhere), the broker's
     * answer to them, or its own deliveries, do. */
    const struct dir_state *c = &st->d[BW_DIR_TOSERVER], *b = &st->d[BW_DIR_TOCLIENT];
    if (!st->handshake && !st->midstream && b->verified > 0 &&
        (unsigned)c->verified + b->verified >= MID_FRAMES) {
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


/* Could a frame start at p? Plausible header, small enough to check, frame-end in place. */
static enum bw_amqp_cand candidate(const void *ctx, const uint8_t *p, size_t n)
{
    enum proto proto = *(const enum proto *)ctx;
    struct bw_cur c = bw_cur_init(p, n);
    uint8_t type = bw_cur_u8(&c);
    uint16_t ch = bw_cur_be16(&c);
    uint32_t size = bw_cur_be32(&c);
    if (c.bad) return BW_AMQP_CAND_NEED;
    if (!frame_plausible(proto, type, ch, size) || size > RESYNC_FRAME_MAX) return BW_AMQP_CAND_NO;
    (void)bw_cur_sub(&c, size);
    uint8_t end = bw_cur_u8(&c);
    if (c.bad) return BW_AMQP_CAND_NEED;
    return end == FRAME_END ? BW_AMQP_CAND_YES : BW_AMQP_CAND_NO;
}

static enum bw_parse frame(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                           const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                           struct bw_amqp_ext *x);

static enum bw_parse resync(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                            const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                            struct bw_amqp_ext *x)
{
    enum proto proto = (enum proto)st->proto;
    bool found, exhausted;
    size_t i = bw_amqp_resync_scan(buf, len, FRAME_HDR, candidate, &proto, &d->scanned, &found, &exhausted);
    if (found) {
        d->resync = false;
        if (i == 0) return frame(st, d, dir, buf, len, used, f, x);
        *used = i;
        return BW_PARSE_OK;
    }
    *used = i;
    if (exhausted) {
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

/* ---- AMQP 0-10 (amqp.0-10.xml): framing, type codes, connection controls ---- */

#define F10_HDR          12           /* flags, type, size(2), 0, track, channel(2), 0(4) */
#define F10_FIRST_FRAME  0x02         /* first frame of its segment */
#define F10_LAST_FRAME   0x01         /* last frame of its segment */
#define F10_FMT_MASK     0xF0         /* format version 0 and reserved bits: all zero */

enum { SEG_CONTROL = 0, SEG_COMMAND = 1, SEG_HEADER = 2, SEG_BODY = 3 };
enum { C10_CONNECTION = 0x01 };
enum {
    C_START = 0x01, C_START_OK, C_SECURE, C_SECURE_OK, C_TUNE, C_TUNE_OK, C_OPEN, C_OPEN_OK,
    C_REDIRECT, C_HEARTBEAT, C_CLOSE, C_CLOSE_OK,
};
enum { CODE_CONNECTION_FORCED = 320 };

/* Type codes of the values read by name (str8/str16 and their latin variants). */
enum { T10_STR8_LATIN = 0x84, T10_STR8 = 0x85, T10_STR16_LATIN = 0x94, T10_STR16 = 0x95 };

struct f10 {
    uint8_t  flags, seg, track;
    uint16_t size, ch;
    bool     reserved_ok;             /* format, reserved bits and bytes all zero */
};

static bool f10_header(const uint8_t *p, size_t n, struct f10 *h)
{
    struct bw_cur c = bw_cur_init(p, n);
    h->flags = bw_cur_u8(&c);
    h->seg = bw_cur_u8(&c);
    h->size = bw_cur_be16(&c);
    uint8_t r4 = bw_cur_u8(&c);
    uint8_t tr = bw_cur_u8(&c);
    h->ch = bw_cur_be16(&c);
    uint32_t r8 = bw_cur_be32(&c);
    h->track = tr & 0x0f;
    h->reserved_ok = (h->flags & F10_FMT_MASK) == 0 && r4 == 0 && (tr & 0xf0) == 0 && r8 == 0;
    return !c.bad;
}

/* One value of type `code`: the code alone fixes its width (fixed sizes by the high nibble,
 * 0x8x / 0x9x / 0xAx a 1-, 2- or 4-byte length first). 0xBx and 0xEx are reserved: unknown
 * width, so nothing after them can be read. */
static bool v10_value(struct bw_cur *c, uint8_t code, struct bw_bytes *out)
{
    static const uint8_t fixed[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 5, 9, 0, 0 };
    size_t n;
    switch (code >> 4) {
    case 0x8: n = bw_cur_u8(c); break;
    case 0x9: n = bw_cur_be16(c); break;
    case 0xa: n = bw_cur_be32(c); break;
    case 0xb: case 0xe: return false;
    default:  n = fixed[code >> 4]; break;    /* 0xFx: void and bit, no bytes */
    }
    *out = bw_cur_bytes(c, n);
    return !c->bad;
}

static bool v10_is_str(uint8_t code)
{
    return code == T10_STR8 || code == T10_STR16 || code == T10_STR8_LATIN || code == T10_STR16_LATIN;
}

/* map: size(4), then inside it count(4) and count entries of key str8, type code, value. An
 * empty map may be sent as size 0. The entries must fill the map exactly. With `props`, the
 * string values of product, version (and the broker's platform) are kept; 0-10 has no
 * capabilities table, so props_seen stays clear and the capability lists read as unknown. */
static void v10_map(struct bw_cur *m, bool broker, bool props, struct bw_facts *f,
                    struct bw_amqp_ext *x)
{
    uint32_t size = bw_cur_be32(m);
    struct bw_cur t = bw_cur_sub(m, size);
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_TABLE); return; }
    uint32_t count = size ? bw_cur_be32(&t) : 0;
    /* every entry takes at least two bytes: a lying count ends with the map's bytes */
    for (uint32_t i = 0; i < count && !t.bad; i++) {
        struct bw_bytes k = bw_cur_bytes(&t, bw_cur_u8(&t)), v;
        uint8_t code = bw_cur_u8(&t);
        if (t.bad || !v10_value(&t, code, &v)) { t.bad = true; break; }
        if (!props || !v10_is_str(code)) continue;
        struct bw_amqp_str *dst = NULL;
        if (bw_amqp_eq(k, "product"))
            dst = broker ? &x->broker_product : &x->client_product;
        else if (bw_amqp_eq(k, "version"))
            dst = broker ? &x->broker_version : &x->client_version;
        else if (broker && bw_amqp_eq(k, "platform"))
            dst = &x->broker_platform;
        if (dst) bw_amqp_str_set(dst, v.ptr, v.len);
    }
    if (t.bad || bw_cur_left(&t) != 0) anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
}

/* array: size(4), then inside it the item type code(1), count(4) and the items. With `mechs`,
 * string items are the mechanism names offered; otherwise the array is only bounded. */
static void v10_array(struct bw_cur *m, struct bw_amqp_lstr *mechs, struct bw_facts *f)
{
    uint32_t size = bw_cur_be32(m);
    struct bw_cur a = bw_cur_sub(m, size);
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_TABLE); return; }
    if (mechs) memset(mechs, 0, sizeof *mechs);
    if (mechs) mechs->set = true;
    if (size == 0) return;
    uint8_t code = bw_cur_u8(&a);
    uint32_t count = bw_cur_be32(&a);
    if (a.bad) { anomaly(f, BW_AMQP091_ANOM_BAD_TABLE); return; }
    if (!mechs) return;
    if (!v10_is_str(code)) {        /* names are strings: anything else cannot be listed */
        if (count) anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
        return;
    }
    for (uint32_t i = 0; i < count && !a.bad; i++) {   /* a string item takes >= 1 byte */
        struct bw_bytes v;
        if (v10_value(&a, code, &v)) bw_amqp_lstr_add(mechs, v.ptr, v.len);
    }
    if (a.bad || bw_cur_left(&a) != 0) anomaly(f, BW_AMQP091_ANOM_BAD_TABLE);
}

/* Packing flags of a connection control: bit i (bit i % 8 of byte i / 8) = field i present. */
static bool pf_has(uint16_t pf, unsigned i) { return (pf >> i) & 1u; }

static void start10(struct amqp091_state *st, uint16_t pf, struct bw_cur *m, struct bw_facts *f,
                    struct bw_amqp_ext *x)
{
    st->start = true;
    if (pf_has(pf, 0)) {
        v10_map(m, true, true, f, x);          /* server-properties */
        bw_amqp_product_fact(f, x);
    }
    if (pf_has(pf, 1)) v10_array(m, &x->mechanisms, f);
    if (pf_has(pf, 2)) v10_array(m, NULL, f);     /* locales */
}

static void start_ok10(struct amqp091_state *st, uint16_t pf, struct bw_cur *m,
                       struct bw_facts *f, struct bw_amqp_ext *x)
{
    struct bw_bytes mech = { NULL, 0 }, resp = { NULL, 0 };
    st->start_ok = true;
    if (pf_has(pf, 0)) v10_map(m, false, true, f, x);   /* client-properties */
    if (pf_has(pf, 1)) mech = bw_cur_bytes(m, bw_cur_u8(m));
    if (m->bad || !pf_has(pf, 1)) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }   /* required */
    bw_fstr_set(&f->mech, mech.ptr, mech.len);
    if (x->mechanisms.set && !bw_amqp_lstr_has(&x->mechanisms, mech.ptr, mech.len))
        anomaly(f, BW_AMQP091_ANOM_MECH_NOT_OFFERED);
    if (bw_amqp_eq(mech, "ANONYMOUS")) f->seen |= BW_FACT_ANONYMOUS;
    if (pf_has(pf, 2)) resp = bw_cur_bytes(m, bw_cur_be32(m));
    /* A response cut by the segment: which bytes are the password is unknown, report nothing;
     * an evidence copy then masks every byte the client sent (a password may be in them). */
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); f->secret_unplaced = true; return; }
    if (pf_has(pf, 2) && bw_amqp_eq(mech, "PLAIN")) {
        struct bw_bytes user, pass;
        bool extra;
        if (!bw_amqp_plain_split(resp, &user, &pass, &extra)) {
            anomaly(f, BW_AMQP091_ANOM_BAD_PLAIN);
        } else {
            if (extra || user.len == 0) anomaly(f, BW_AMQP091_ANOM_BAD_PLAIN);
            bw_amqp_creds(f, user, true, pass, true);   /* password: compared, never copied */
        }
    }
    if (pf_has(pf, 3)) (void)bw_cur_bytes(m, bw_cur_u8(m));   /* locale */
}

static void tune10(struct amqp091_state *st, bool from_broker, uint16_t pf, struct bw_cur *m,
                   struct bw_facts *f)
{
    uint16_t fmax = 0;
    if (pf_has(pf, 0)) (void)bw_cur_be16(m);      /* channel-max */
    if (pf_has(pf, 1)) fmax = bw_cur_be16(m);     /* max-frame-size */
    if (pf_has(pf, 2)) (void)bw_cur_be16(m);      /* heartbeat-min (Tune-Ok: heartbeat) */
    if (from_broker && pf_has(pf, 3)) (void)bw_cur_be16(m);   /* heartbeat-max */
    if (from_broker) {
        st->tune = true;
        f->seen |= BW_FACT_AUTH_OK;            /* Tune follows a successful SASL exchange */
    }
    if (m->bad) return;
    if (fmax != 0 && fmax < FRAME_MIN_SIZE) anomaly(f, BW_AMQP091_ANOM_BAD_TUNE);
    if (pf_has(pf, 1) && (!from_broker || st->frame_max == 0)) st->frame_max = fmax;
}

static void close10(struct amqp091_state *st, uint16_t pf, struct bw_cur *m, struct bw_facts *f,
                    struct bw_amqp_ext *x)
{
    uint16_t code = pf_has(pf, 0) ? bw_cur_be16(m) : 0;
    struct bw_bytes text = { NULL, 0 };
    if (pf_has(pf, 1)) text = bw_cur_bytes(m, bw_cur_u8(m));
    st->closed = true;
    x->close_seen = true;
    if (text.ptr) bw_amqp_lstr_set(&x->close_text, text.ptr, text.len);
    if (m->bad || !pf_has(pf, 0)) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return; }  /* required */
    x->close_code = code;
    f->result_code = code;
    /* A login refused during the SASL exchange: 403 as in 0-9-1, or connection-forced, which
     * 0-10 brokers send when authentication fails. Anything else but 200 is a refusal. */
    bool sasl = !st->tune && !st->open_ok;
    if ((code == CODE_ACCESS_REFUSED && (st->start || st->start_ok) && sasl) ||
        (code == CODE_CONNECTION_FORCED && st->start_ok && sasl))
        f->seen |= BW_FACT_AUTH_FAILED;
    else if (code != CODE_OK)
        f->seen |= BW_FACT_REFUSED;
}

/* One connection control: class and code read, packing flags and arguments in m. Returns OK, or
 * DONE when that direction has nothing more to tell. */
static enum bw_parse control10(struct amqp091_state *st, enum bw_dir dir, uint8_t code,
                               struct bw_cur *m, struct bw_facts *f, struct bw_amqp_ext *x)
{
    /* fields per control, by code; unknown codes have none */
    static const uint8_t nfields[C_CLOSE_OK + 1] = { 0, 3, 4, 1, 1, 4, 3, 3, 1, 2, 0, 2, 0 };
    bool cli = dir == BW_DIR_TOSERVER;
    if (code == 0 || code > C_CLOSE_OK) {
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
        return BW_PARSE_OK;
    }
    uint16_t pf = bw_cur_le16(m);
    if (m->bad) { anomaly(f, BW_AMQP091_ANOM_BAD_METHOD); return BW_PARSE_OK; }
    if (pf >> nfields[code]) anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);   /* fields it has not */
    st->handshake = true;
    if (!cli && (code == C_START || code == C_SECURE || code == C_TUNE || code == C_OPEN_OK ||
                 code == C_REDIRECT || code == C_CLOSE || code == C_CLOSE_OK))
        broker_answered(st, f);
    switch (code) {
    case C_START:
        if (direction_ok(cli, false, f)) { start10(st, pf, m, f, x); method_tail(m, f); }
        return BW_PARSE_OK;
    case C_START_OK:
        if (direction_ok(cli, true, f)) { start_ok10(st, pf, m, f, x); method_tail(m, f); }
        return BW_PARSE_OK;
    case C_SECURE:     /* challenge / response: never kept, they may carry secrets */
    case C_SECURE_OK:
        (void)direction_ok(cli, code == C_SECURE_OK, f);
        return BW_PARSE_OK;
    case C_TUNE:
    case C_TUNE_OK:
        if (direction_ok(cli, code == C_TUNE_OK, f)) { tune10(st, !cli, pf, m, f); method_tail(m, f); }
        return BW_PARSE_OK;
    case C_OPEN:
        if (!direction_ok(cli, true, f)) return BW_PARSE_OK;
        if (pf_has(pf, 0)) {
            struct bw_bytes vh = bw_cur_bytes(m, bw_cur_u8(m));
            if (vh.ptr) bw_amqp_str_set(&x->vhost, vh.ptr, vh.len);
        }
        if (pf_has(pf, 1)) v10_array(m, NULL, f);   /* capabilities; insist is a bit: no bytes */
        method_tail(m, f);
        return BW_PARSE_DONE;                 /* the client has said all it will say */
    case C_OPEN_OK:
        if (!direction_ok(cli, false, f)) return BW_PARSE_OK;
        if (pf_has(pf, 0)) v10_array(m, NULL, f);   /* known-hosts */
        method_tail(m, f);
        st->open_ok = true;
        f->seen |= BW_FACT_AUTH_OK;
        return BW_PARSE_DONE;
    case C_REDIRECT:                          /* the broker sends the client elsewhere */
        if (!direction_ok(cli, false, f)) return BW_PARSE_OK;
        if (pf_has(pf, 0)) (void)bw_cur_bytes(m, bw_cur_be16(m));   /* host */
        if (pf_has(pf, 1)) v10_array(m, NULL, f);                   /* known-hosts */
        method_tail(m, f);
        return BW_PARSE_DONE;
    case C_HEARTBEAT:
        method_tail(m, f);
        return BW_PARSE_OK;
    case C_CLOSE:
        if (cli) return BW_PARSE_DONE;        /* the client's own close is no broker answer */
        close10(st, pf, m, f, x);
        method_tail(m, f);
        return BW_PARSE_DONE;
    default:                                  /* C_CLOSE_OK */
        return BW_PARSE_DONE;
    }
}

/* Skip a frame by its size (possibly beyond this buffer). */
static enum bw_parse skip10(const struct f10 *h, enum bw_dir dir, size_t *used,
                            struct bw_amqp_ext *x)
{
    *used = h->size;
    x->frames[dir]++;
    return BW_PARSE_OK;
}

/* The frames after the first one of a control segment split across frames: all of them in buf,
 * continuations on the same channel, the whole segment within HS_FRAME_MAX. Returns the wire
 * length of the segment (its payloads are gathered into seg), 0 when more bytes are needed, or
 * SIZE_MAX when the segment cannot be followed (too large, or its frames out of order). */
static size_t gather10(const struct f10 *h, const uint8_t *buf, size_t len, uint8_t *seg,
                       size_t cap, size_t *seglen, unsigned *frames, struct bw_facts *f)
{
    size_t off = 0, n = 0;
    unsigned k = 0;
    struct f10 g = *h;
    for (;;) {
        if (off + g.size > HS_FRAME_MAX) {
            anomaly(f, BW_AMQP091_ANOM_FRAME_TOO_LARGE);
            return SIZE_MAX;
        }
        if (len - off < g.size) return 0;
        off += g.size;
        k++;
        if (g.flags & F10_LAST_FRAME) break;
        if (!f10_header(buf + off, len - off, &g)) return 0;
        if (g.size < F10_HDR || g.seg != SEG_CONTROL || g.ch != h->ch || g.track != h->track ||
            (g.flags & F10_FIRST_FRAME)) {
            anomaly(f, BW_AMQP091_ANOM_BAD_FRAME);
            return SIZE_MAX;
        }
    }
    /* every frame is in buf: copy the payloads */
    struct bw_cur all = bw_cur_init(buf, off);
    while (bw_cur_left(&all) > 0) {
        struct bw_bytes rest = bw_cur_rest(&all);
        struct f10 c;
        if (!f10_header(rest.ptr, rest.len, &c) || c.size < F10_HDR) break;
        (void)bw_cur_skip(&all, F10_HDR);
        struct bw_bytes pl = bw_cur_bytes(&all, c.size - F10_HDR);
        if (all.bad || pl.len > cap - n) break;
        if (pl.len) memcpy(seg + n, pl.ptr, pl.len);
        n += pl.len;
    }
    *seglen = n;
    *frames = k;
    return off;
}

static enum bw_parse frame10(struct amqp091_state *st, struct dir_state *d, enum bw_dir dir,
                             const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                             struct bw_amqp_ext *x)
{
    struct f10 h;
    if (!f10_header(buf, len, &h)) return BW_PARSE_NEED_MORE;
    /* No resync in 0-10: a frame that cannot be one ends this direction. */
    if (h.size < F10_HDR || h.seg > SEG_BODY) {
        anomaly(f, h.size < F10_HDR ? BW_AMQP091_ANOM_BAD_FRAME : BW_AMQP091_ANOM_BAD_FRAME_TYPE);
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    if (!h.reserved_ok) anomaly(f, BW_AMQP091_ANOM_BAD_FRAME);
    if (st->frame_max != 0 && h.size > st->frame_max) anomaly(f, BW_AMQP091_ANOM_FRAME_TOO_LARGE);
    if (h.seg != SEG_CONTROL) return skip10(&h, dir, used, x);
    if (h.track != 0) anomaly(f, BW_AMQP091_ANOM_BAD_FRAME);   /* controls use track 0 */
    /* A frame continuing a segment already read or refused. */
    if (!(h.flags & F10_FIRST_FRAME)) return skip10(&h, dir, used, x);

    struct bw_cur m;
    size_t wire;
    unsigned frames = 1;
    uint8_t gathered[HS_FRAME_MAX];
    if (h.flags & F10_LAST_FRAME) {            /* the whole control in one frame */
        if (h.size > HS_FRAME_MAX) {           /* refuse to buffer it; skip it instead */
            anomaly(f, BW_AMQP091_ANOM_FRAME_TOO_LARGE);
            return skip10(&h, dir, used, x);
        }
        if (len < h.size) return BW_PARSE_NEED_MORE;
        m = bw_cur_init(buf, h.size);
        (void)bw_cur_skip(&m, F10_HDR);
        wire = h.size;
    } else {
        size_t seglen = 0;
        wire = gather10(&h, buf, len, gathered, sizeof gathered, &seglen, &frames, f);
        if (wire == 0) return BW_PARSE_NEED_MORE;
        if (wire == SIZE_MAX) return skip10(&h, dir, used, x);
        m = bw_cur_init(gathered, seglen);
    }
    *used = wire;
    x->frames[dir] += frames;

    uint8_t cls = bw_cur_u8(&m), code = bw_cur_u8(&m);
    if (m.bad) {                               /* no room for class and control codes */
        anomaly(f, BW_AMQP091_ANOM_BAD_METHOD);
        return BW_PARSE_OK;
    }
    if (cls != C10_CONNECTION) return BW_PARSE_OK;   /* session and the rest: not ours */
    if (h.ch != 0) {                           /* the connection's controls use channel 0 */
        anomaly(f, BW_AMQP091_ANOM_BAD_CHANNEL);
        return BW_PARSE_OK;
    }
    if (control10(st, dir, code, &m, f, x) == BW_PARSE_DONE) {
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    return BW_PARSE_OK;
}

/* ---- headers ---- */

static void mismatch(struct amqp091_state *st, struct bw_facts *f, struct bw_amqp_ext *x)
{
    if (!x->mismatch) {
        x->mismatch = true;
        memset(x->cli_hdr, 0, sizeof x->cli_hdr);
        memcpy(x->srv_hdr, st->srv_hdr, HDR_LEN);
        anomaly(f, BW_AMQP091_ANOM_VERSION_MISMATCH);
        f->seen |= BW_FACT_REFUSED;
    }
    /* An AMQP broker refusing the header it was sent: an answer once the request is seen too
     * (the broker's header may be delivered first). */
    if (st->have_cli_hdr) {
        memcpy(x->cli_hdr, st->cli_hdr, HDR_LEN);
        f->seen |= BW_FACT_CONFIRMED;
    }
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
        d->phase = (p == P_091 || p == P_09 || p == P_08 || p == P_010) ? PH_FRAMES : PH_DONE;
    } else {
        memcpy(st->srv_hdr, buf, HDR_LEN);
        st->have_srv_hdr = true;
        if (p == P_010 && (st->proto == P_NONE || st->proto == P_010)) {
            st->proto = P_010;
            set_version(f, P_010);
        }
        check_headers(st, f, x);
        /* A 0-10 echo goes on with 0-10 frames; any other broker header is a refusal. */
        d->phase = (p == P_010 && st->proto == P_010 && !x->mismatch) ? PH_FRAMES : PH_DONE;
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
    /* 0-10 frames after 0-10 headers; 0-9-1 framing is not tried on a broker that sent the
     * 0-10 header (whatever the client sent). A confirmed midstream session has nothing more to
     * tell. */
    bool srv010 = st->have_srv_hdr && hdr_proto(st->srv_hdr) == P_010;
    if (st->proto == P_010 && !x->mismatch)
        return frame10(st, d, dir, buf, len, used, f, x);
    if (st->midstream || st->proto == P_010 || (dir == BW_DIR_TOCLIENT && srv010) ||
        (dir == BW_DIR_TOSERVER && st->proto == P_OTHER)) {
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
    const struct bw_amqp_ext *x = (const struct bw_amqp_ext *)(const void *)f->ext;
    /* A broker rejects a login by ending the connection when the client did not announce
     * authentication_failure_close (RabbitMQ: silent for about 3 s, then FIN or RST): Start-Ok
     * sent, then the broker closes with neither Tune nor a Close. A client that gives up first
     * (FIN or RST of its own, an idle timeout, the end of the capture) was told nothing. A lost
     * stretch of broker bytes could have held the Tune: then say nothing either. */
    if (!st->start_ok || st->tune || st->open_ok || st->closed || st->d[BW_DIR_TOCLIENT].gap)
        return;
    if (f->seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED))
        return;
    if (how != BW_CLOSE_FIN_SERVER_FIRST && how != BW_CLOSE_RST_SERVER)
        return;
    /* Both sides agreed on authentication_failure_close: a failed login would have been a
     * Close 403, so this drop is some other refusal. */
    bool afc = x->ready && (x->props_seen & BW_AMQP_PROPS_BROKER) &&
               (x->props_seen & BW_AMQP_PROPS_CLIENT) &&
               (x->broker_caps & x->client_caps & BW_AMQP_CAP_AUTH_FAILURE_CLOSE);
    f->seen |= afc ? BW_FACT_REFUSED : BW_FACT_AUTH_FAILED;
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
