/* amqp10.c: OASIS AMQP 1.0 dissector. Part 2 §2.2 protocol header (id 0 plain, 2 TLS, 3 SASL;
 * part 5 §5.2.1, §5.3.1), §2.3 frames (size, doff, type 0 AMQP / 1 SASL), part 1 §1.2 and §1.6
 * type encodings (bounded depth), part 2 §2.7.1 open, §2.7.9 close, §2.8.14 error, part 5
 * §5.3.3 sasl-mechanisms, sasl-init, sasl-challenge/response, sasl-outcome. It owns struct
 * amqp10_state and the "amqp" ext record; it never stores a password, never allocates, and skips
 * every frame it does not need by length. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bw_amqp.h"
#include "bw_cursor.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"

#define HDR_LEN          8            /* "AMQP" id major minor revision (part 2 §2.2) */
#define FRAME_HDR        8            /* size(4) doff(1) type(1) type-specific(2) (§2.3.1) */
#define HS_FRAME_MAX     16384u       /* largest SASL / open / close frame buffered */
#define SKIP_FRAME_MAX   (64u << 20)  /* larger frames are not followed: a corrupt or hostile size */
#define DEPTH_MAX        8            /* nested described / compound values followed */
#define FIELDS_MAX       10           /* performative fields looked at (open has 10) */
#define MID_FRAMES       3            /* consecutive valid frames that recognize a midstream pickup */

#define PROBE_MIDSTREAM  80           /* three consecutive well-formed frame headers */

enum { FT_AMQP = 0, FT_SASL = 1 };
enum { ID_PLAIN = 0, ID_TLS = 2, ID_SASL = 3 };

/* Performative descriptor codes (domain 0x00000000). */
enum {
    D_OPEN = 0x10, D_BEGIN = 0x11, D_CLOSE = 0x18, D_ERROR = 0x1d,
    D_SASL_MECHANISMS = 0x40, D_SASL_INIT = 0x41, D_SASL_CHALLENGE = 0x42,
    D_SASL_RESPONSE = 0x43, D_SASL_OUTCOME = 0x44,
};
#define D_OTHER UINT64_MAX

/* Format codes (part 1 §1.6). */
enum {
    C_DESCRIBED = 0x00, C_NULL = 0x40, C_TRUE = 0x41, C_FALSE = 0x42, C_UINT0 = 0x43,
    C_ULONG0 = 0x44, C_LIST0 = 0x45, C_UBYTE = 0x50, C_SMALLUINT = 0x52, C_SMALLULONG = 0x53,
    C_BOOL = 0x56, C_USHORT = 0x60, C_UINT = 0x70, C_ULONG = 0x80,
    C_VBIN8 = 0xa0, C_STR8 = 0xa1, C_SYM8 = 0xa3, C_VBIN32 = 0xb0, C_STR32 = 0xb1, C_SYM32 = 0xb3,
    C_LIST8 = 0xc0, C_MAP8 = 0xc1, C_LIST32 = 0xd0, C_MAP32 = 0xd1, C_ARRAY8 = 0xe0,
    C_ARRAY32 = 0xf0,
};

/* Names of enum bw_amqp10_anomaly (bw_amqp.h), same order. */
static const char *const anomaly_names[BW_AMQP10_ANOM_COUNT + 1] = {
    "bad_header", "version_mismatch", "bad_frame", "bad_frame_type", "frame_too_large",
    "bad_encoding", "encoding_depth", "bad_performative", "wrong_direction", "bad_plain",
    "mech_not_offered", "bad_outcome", NULL,
};

enum phase { PH_START, PH_FRAMES, PH_DONE };

struct dir_state {
    uint8_t  phase;                   /* enum phase */
    bool     resync;                  /* sync lost (gap, bad frame): scan for a plausible frame */
    bool     gap;                     /* bytes of this direction were lost at least once */
    bool     synced;                  /* a well-formed frame has been read in this direction */
    uint8_t  verified;                /* consecutive well-formed frames (saturates) */
    uint8_t  hdrs;                    /* protocol headers seen (SASL, then AMQP: at most 2) */
    uint32_t scanned;                 /* bytes discarded in the current resync */
};

struct amqp10_state {
    struct dir_state d[2];            /* indexed by enum bw_dir */
    uint8_t  hdr[2][2][HDR_LEN];      /* [dir][round] headers as sent */
    bool     tls;                     /* the TLS layer: nothing readable follows */
    bool     handshake;               /* a header or handshake performative: not midstream */
    bool     midstream;               /* recognized from frame structure: nothing more to learn */
    bool     sasl_init, outcome, plain_pending;
    bool     srv_open;                /* the broker's open: its next frame says refused or not */
    bool     open_pending;            /* acceptance shown by that open, not yet confirmed */
    bool     srv_closed;
};
_Static_assert(sizeof(struct amqp10_state) <= BW_DISSECTOR_STATE_MAX, "amqp10 state too big");

static void anomaly(struct bw_facts *f, unsigned bit)
{
    f->anomalies |= 1u << bit;
    f->seen |= BW_FACT_SPEC_VIOLATION;
}

static void set_version(struct bw_facts *f)
{
    memcpy(f->version, "1.0", 4);
}

/* The broker answered as a 1.0 broker does: only its bytes confirm the protocol (a client's
 * header alone proves nothing: anyone can send it to anything). */
static void confirm(struct bw_facts *f)
{
    set_version(f);
    f->seen |= BW_FACT_CONFIRMED;
}

/* ---- protocol header ---- */

static const uint8_t HPFX[4] = { 'A', 'M', 'Q', 'P' };

static bool is_10_hdr(const uint8_t *h)
{
    return memcmp(h, HPFX, 4) == 0 && (h[4] == ID_PLAIN || h[4] == ID_TLS || h[4] == ID_SASL) &&
           h[5] == 1 && h[6] == 0 && h[7] == 0;
}

/* Could buf (len < 8) still become a 1.0 header? */
static bool is_10_prefix(const uint8_t *buf, size_t len)
{
    static const uint8_t tail[3] = { 1, 0, 0 };
    if (memcmp(buf, HPFX, len < 4 ? len : 4) != 0) return false;
    if (len <= 4) return true;
    if (buf[4] != ID_PLAIN && buf[4] != ID_TLS && buf[4] != ID_SASL) return false;
    return memcmp(buf + 5, tail, len - 5) == 0;
}

/* ---- probe ---- */

static bool ctor_plausible(uint8_t b)    /* a performative descriptor: ulong or symbol */
{
    return b == C_SMALLULONG || b == C_ULONG || b == C_ULONG0 || b == C_SYM8 || b == C_SYM32;
}

static int amqp10_probe(enum bw_dir dir, const uint8_t *buf, size_t len)
{
    (void)dir;                           /* brokers echo the header: both directions tell */
    if (len == 0) return BW_PROBE_MAYBE;
    if (buf[0] == 'A') {                 /* a frame of 0x41xxxxxx bytes is no frame: a header */
        if (len < HDR_LEN) return is_10_prefix(buf, len) ? BW_PROBE_MAYBE : BW_PROBE_NO;
        return is_10_hdr(buf) ? BW_PROBE_YES : BW_PROBE_NO;
    }
    /* Midstream: consecutive frame headers, each where the previous size says. */
    size_t off = 0;
    unsigned n = 0;
    for (;;) {
        struct bw_cur c = bw_cur_init(buf + off, len - off);
        uint32_t size = bw_cur_be32(&c);
        uint8_t doff = bw_cur_u8(&c);
        if (!c.bad && doff < 2) return BW_PROBE_NO;         /* decide on what is there */
        uint8_t type = bw_cur_u8(&c);
        if (!c.bad && type > FT_SASL) return BW_PROBE_NO;
        (void)bw_cur_be16(&c);
        if (c.bad) return BW_PROBE_MAYBE;
        if (size < FRAME_HDR || doff < 2 || (size_t)doff * 4 > size || type > FT_SASL)
            return BW_PROBE_NO;
        if (size > (size_t)doff * 4) {   /* a body starts with a described performative */
            struct bw_cur b = bw_cur_init(buf + off, len - off);
            (void)bw_cur_skip(&b, (size_t)doff * 4);
            uint8_t d0 = bw_cur_u8(&b), d1 = bw_cur_u8(&b);
            if (!b.bad && (d0 != C_DESCRIBED || !ctor_plausible(d1))) return BW_PROBE_NO;
        }
        if (++n >= MID_FRAMES) return PROBE_MIDSTREAM;
        /* The next header must be visible inside the probe window, or it can never be checked. */
        if (size > BW_PROBE_WINDOW || off + size + FRAME_HDR > BW_PROBE_WINDOW) return BW_PROBE_NO;
        if (size > len - off) return BW_PROBE_MAYBE;
        off += size;
    }
}

/* ---- type system (part 1 §1.2, §1.6) ---- */

enum v_res { V_OK, V_BAD, V_DEPTH };

struct val {
    uint8_t  code;                   /* format code (after any descriptor) */
    bool     described;
    uint8_t  elem;                   /* array element format code */
    uint32_t count;                  /* list / map / array elements not yet walked */
    uint64_t desc;                   /* descriptor as a code (symbolic names mapped), or D_OTHER */
    uint64_t u;                      /* unsigned integers and booleans */
    struct bw_bytes b;               /* binary, string, symbol content */
    struct bw_cur inner;             /* list / map / array elements */
};

static const struct { const char *name; uint64_t code; } sym_desc[] = {
    { "amqp:open:list", D_OPEN }, { "amqp:close:list", D_CLOSE }, { "amqp:error:list", D_ERROR },
    { "amqp:begin:list", D_BEGIN }, { "amqp:attach:list", 0x12 }, { "amqp:flow:list", 0x13 },
    { "amqp:transfer:list", 0x14 }, { "amqp:disposition:list", 0x15 },
    { "amqp:detach:list", 0x16 }, { "amqp:end:list", 0x17 },
    { "amqp:sasl-mechanisms:list", D_SASL_MECHANISMS }, { "amqp:sasl-init:list", D_SASL_INIT },
    { "amqp:sasl-challenge:list", D_SASL_CHALLENGE }, { "amqp:sasl-response:list", D_SASL_RESPONSE },
    { "amqp:sasl-outcome:list", D_SASL_OUTCOME },
};

static uint64_t sym_code(struct bw_bytes name)
{
    for (size_t i = 0; i < sizeof sym_desc / sizeof sym_desc[0]; i++)
        if (bw_amqp_eq(name, sym_desc[i].name)) return sym_desc[i].code;
    return D_OTHER;
}

static bool is_sym(const struct val *v) { return v->code == C_SYM8 || v->code == C_SYM32; }
static bool is_str(const struct val *v) { return v->code == C_STR8 || v->code == C_STR32; }
static bool is_bin(const struct val *v) { return v->code == C_VBIN8 || v->code == C_VBIN32; }
static bool is_array(uint8_t code) { return code == C_ARRAY8 || code == C_ARRAY32; }
static bool is_list(uint8_t code) { return code == C_LIST0 || code == C_LIST8 || code == C_LIST32; }
static bool is_map(uint8_t code) { return code == C_MAP8 || code == C_MAP32; }

static int value(struct bw_cur *c, struct val *v, unsigned depth);
static int data(struct bw_cur *c, uint8_t code, struct val *v, unsigned depth);

static uint64_t desc_code(const struct val *d)
{
    if (d->code == C_SMALLULONG || d->code == C_ULONG || d->code == C_ULONG0) return d->u;
    if (is_sym(d)) return sym_code(d->b);
    return D_OTHER;
}

/* constructor = format-code / 0x00 descriptor constructor. The outermost descriptor is kept. */
static int ctor(struct bw_cur *c, uint8_t *code, bool *described, uint64_t *desc, unsigned depth)
{
    for (;;) {
        uint8_t b = bw_cur_u8(c);
        if (c->bad) return V_BAD;
        if (b != C_DESCRIBED) { *code = b; return V_OK; }
        if (depth >= DEPTH_MAX) return V_DEPTH;   /* descriptors of descriptors: bounded */
        struct val d;
        int r = value(c, &d, depth + 1);
        if (r != V_OK) return r;
        if (!*described) *desc = desc_code(&d);
        *described = true;
        depth++;
    }
}

/* list8/32 and map8/32: size, count, then count encoded values filling size exactly. */
static int compound(struct bw_cur *c, struct val *v, bool wide, unsigned depth)
{
    if (depth >= DEPTH_MAX) return V_DEPTH;
    uint32_t size = wide ? bw_cur_be32(c) : bw_cur_u8(c);
    struct bw_cur s = bw_cur_sub(c, size);
    uint32_t count = wide ? bw_cur_be32(&s) : bw_cur_u8(&s);
    if (s.bad) return V_BAD;
    if (is_map(v->code) && count % 2 != 0) return V_BAD;   /* a map holds key/value pairs */
    v->inner = s;
    v->count = count;
    /* Each element takes at least one byte, so a lying count runs out of bytes, not time. */
    for (uint32_t i = 0; i < count; i++) {
        struct val e;
        int r = value(&s, &e, depth + 1);
        if (r != V_OK) return r;
    }
    return bw_cur_left(&s) == 0 ? V_OK : V_BAD;           /* size and count must agree */
}

/* array8/32: size, count, one element constructor, then count bare elements. */
static int array(struct bw_cur *c, struct val *v, bool wide, unsigned depth)
{
    if (depth >= DEPTH_MAX) return V_DEPTH;
    uint32_t size = wide ? bw_cur_be32(c) : bw_cur_u8(c);
    struct bw_cur s = bw_cur_sub(c, size);
    uint32_t count = wide ? bw_cur_be32(&s) : bw_cur_u8(&s);
    bool described = false;
    uint64_t desc = D_OTHER;
    uint8_t ec = 0;
    if (s.bad) return V_BAD;
    int r = ctor(&s, &ec, &described, &desc, depth + 1);
    if (r != V_OK) return r;
    v->inner = s;
    v->count = count;
    v->elem = ec;
    /* Zero-width elements (null, true, list0 ...) take no bytes: nothing to walk, and a count of
     * four billion must not become four billion iterations. */
    if ((ec >> 4) != 0x4) {
        for (uint32_t i = 0; i < count; i++) {
            struct val e;
            r = data(&s, ec, &e, depth + 1);
            if (r != V_OK) return r;
        }
    }
    return bw_cur_left(&s) == 0 ? V_OK : V_BAD;
}

/* The encoding of one value whose format code is known. */
static int data(struct bw_cur *c, uint8_t code, struct val *v, unsigned depth)
{
    static const struct bw_cur dead = { NULL, 0, 0, true };
    v->code = code;
    v->elem = 0;
    v->u = 0;
    v->b.ptr = NULL;
    v->b.len = 0;
    v->count = 0;
    v->inner = dead;
    switch (code) {
    case C_NULL: case C_FALSE: case C_UINT0: case C_ULONG0: case C_LIST0:
        break;
    case C_TRUE:
        v->u = 1;
        break;
    case C_UBYTE: case 0x51: case C_SMALLUINT: case C_SMALLULONG: case 0x54: case 0x55:
        v->u = bw_cur_u8(c);
        break;
    case C_BOOL:
        v->u = bw_cur_u8(c);
        if (v->u > 1) return V_BAD;                       /* 0x00 false, 0x01 true only */
        break;
    case C_USHORT: case 0x61:
        v->u = bw_cur_be16(c);
        break;
    case C_UINT: case 0x71: case 0x72: case 0x73: case 0x74:   /* uint int float char decimal32 */
        v->u = bw_cur_be32(c);
        break;
    case C_ULONG: case 0x81: case 0x82: case 0x83: case 0x84:  /* ulong long double timestamp dec64 */
        v->u = bw_cur_be64(c);
        break;
    case 0x94: case 0x98:                                      /* decimal128, uuid */
        v->b = bw_cur_bytes(c, 16);
        break;
    case C_VBIN8: case C_STR8: case C_SYM8: {
        uint8_t n = bw_cur_u8(c);
        v->b = bw_cur_bytes(c, n);
        break;
    }
    case C_VBIN32: case C_STR32: case C_SYM32: {
        uint32_t n = bw_cur_be32(c);
        v->b = bw_cur_bytes(c, n);
        break;
    }
    case C_LIST8: case C_MAP8:   return compound(c, v, false, depth);
    case C_LIST32: case C_MAP32: return compound(c, v, true, depth);
    case C_ARRAY8:               return array(c, v, false, depth);
    case C_ARRAY32:              return array(c, v, true, depth);
    default:
        return V_BAD;                                     /* reserved: its length is unknown */
    }
    return c->bad ? V_BAD : V_OK;
}

static int value(struct bw_cur *c, struct val *v, unsigned depth)
{
    uint8_t code = 0;
    v->described = false;
    v->desc = D_OTHER;
    int r = ctor(c, &code, &v->described, &v->desc, depth);
    if (r != V_OK) return r;
    return data(c, code, v, depth);
}

/* Next element of a list, map or array that value() already checked. */
static bool next_elem(struct val *cv, struct val *out, unsigned depth)
{
    if (cv->count == 0) return false;
    cv->count--;
    int r = is_array(cv->code) ? data(&cv->inner, cv->elem, out, depth)
                               : value(&cv->inner, out, depth);
    if (r != V_OK) return false;
    if (is_array(cv->code)) { out->described = false; out->desc = D_OTHER; }
    return true;
}

/* ---- performatives ---- */

struct perf {
    uint64_t code;
    uint32_t n;                       /* fields present (up to FIELDS_MAX) */
    struct val f[FIELDS_MAX];
};

/* A field, or NULL when absent or encoded as null (§2.7: trailing nulls may be omitted). */
static const struct val *field(const struct perf *p, unsigned i)
{
    if (i >= p->n || p->f[i].code == C_NULL) return NULL;
    return &p->f[i];
}

static const struct val *text_field(const struct perf *p, unsigned i, struct bw_facts *f)
{
    const struct val *v = field(p, i);
    if (v && !is_str(v) && !is_sym(v)) { anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE); return NULL; }
    return v;
}

/* A described list whose elements are the performative's fields (part 1 §1.3). */
static bool read_perf(struct bw_cur *body, struct perf *p, struct bw_facts *f)
{
    struct val v;
    int r = value(body, &v, 0);
    if (r != V_OK) {
        anomaly(f, r == V_DEPTH ? BW_AMQP10_ANOM_ENCODING_DEPTH : BW_AMQP10_ANOM_BAD_ENCODING);
        return false;
    }
    if (!v.described || !is_list(v.code)) { anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE); return false; }
    p->code = v.desc;
    p->n = 0;
    while (p->n < FIELDS_MAX && next_elem(&v, &p->f[p->n], 1)) p->n++;
    return true;
}

/* fields (map of symbol keys): product, version, platform. */
static void properties(const struct val *map, bool broker, struct bw_facts *f,
                       struct bw_amqp_ext *x)
{
    struct val m = *map, k, v;
    if (!is_map(m.code)) { anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE); return; }
    x->props_seen |= broker ? BW_AMQP_PROPS_BROKER : BW_AMQP_PROPS_CLIENT;
    while (next_elem(&m, &k, 2) && next_elem(&m, &v, 2)) {
        if (!(is_sym(&k) || is_str(&k)) || !(is_str(&v) || is_sym(&v))) continue;
        struct bw_amqp_str *dst = NULL;
        if (bw_amqp_eq(k.b, "product"))
            dst = broker ? &x->broker_product : &x->client_product;
        else if (bw_amqp_eq(k.b, "version"))
            dst = broker ? &x->broker_version : &x->client_version;
        else if (broker && bw_amqp_eq(k.b, "platform"))
            dst = &x->broker_platform;
        if (dst) bw_amqp_str_set(dst, v.b.ptr, v.b.len);
    }
}

static void plain(struct bw_bytes resp, struct bw_facts *f)
{
    struct bw_bytes user, pass;
    bool extra;
    if (!bw_amqp_plain_split(resp, &user, &pass, &extra)) {
        anomaly(f, BW_AMQP10_ANOM_BAD_PLAIN);           /* name and password cannot be told apart */
        return;
    }
    if (extra || user.len == 0) anomaly(f, BW_AMQP10_ANOM_BAD_PLAIN);    /* RFC 4616 forbids both */
    bw_amqp_creds(f, user, true, pass, true);   /* password: compared in place, never copied */
}

static void sasl_mechanisms(struct amqp10_state *st, const struct perf *p, struct bw_facts *f,
                            struct bw_amqp_ext *x)
{
    const struct val *v = field(p, 0);
    st->handshake = true;
    if (!v) { anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE); return; }   /* mandatory */
    if (is_sym(v)) {                       /* a "multiple" field: one value, or an array */
        bw_amqp_lstr_add(&x->mechanisms, v->b.ptr, v->b.len);
    } else if (is_array(v->code) && (v->elem == C_SYM8 || v->elem == C_SYM32)) {
        struct val a = *v, e;
        x->mechanisms.set = true;
        while (next_elem(&a, &e, 2)) bw_amqp_lstr_add(&x->mechanisms, e.b.ptr, e.b.len);
    } else {
        anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE);
    }
}

static void sasl_init(struct amqp10_state *st, const struct perf *p, struct bw_facts *f,
                      struct bw_amqp_ext *x)
{
    const struct val *mech = field(p, 0), *resp = field(p, 1), *host = text_field(p, 2, f);
    st->handshake = true;
    st->sasl_init = true;
    if (!mech || !is_sym(mech)) { anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE); return; }
    bw_fstr_set(&f->mech, mech->b.ptr, mech->b.len);
    if (x->mechanisms.set && !bw_amqp_lstr_has(&x->mechanisms, mech->b.ptr, mech->b.len))
        anomaly(f, BW_AMQP10_ANOM_MECH_NOT_OFFERED);
    if (resp && !is_bin(resp)) { anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE); resp = NULL; }
    if (bw_amqp_eq(mech->b, "PLAIN")) {
        if (resp) plain(resp->b, f);
        else st->plain_pending = true;     /* sent in sasl-response after an empty challenge */
    } else if (bw_amqp_eq(mech->b, "ANONYMOUS")) {
        f->seen |= BW_FACT_ANONYMOUS;      /* its response is trace text, not an identity */
    }
    if (host) bw_amqp_str_set(&x->hostname, host->b.ptr, host->b.len);
}

static enum bw_parse sasl_outcome(struct amqp10_state *st, const struct perf *p,
                                  struct bw_facts *f, struct bw_amqp_ext *x)
{
    const struct val *code = field(p, 0);
    st->handshake = true;
    st->outcome = true;
    if (!code || code->code != C_UBYTE) {    /* sasl-code is a mandatory ubyte */
        anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE);
        return BW_PARSE_OK;
    }
    x->sasl_outcome = (int16_t)code->u;
    f->result_code = (int32_t)code->u;
    if (code->u == 0) {
        f->seen |= BW_FACT_AUTH_OK;
        return BW_PARSE_OK;                /* the AMQP header and open follow */
    }
    /* 1 auth: the credentials were wrong (part 5 §5.3.3.6), a failed login. 2 sys, 3 sys-perm,
     * 4 sys-temp: the broker could not authenticate anyone (a system error, permanent or not):
     * a refusal, nothing to do with the credentials, so not a guess that failed. */
    if (code->u == 1) f->seen |= BW_FACT_AUTH_FAILED;
    else if (code->u <= 4) f->seen |= BW_FACT_REFUSED;
    else anomaly(f, BW_AMQP10_ANOM_BAD_OUTCOME);
    return BW_PARSE_DONE;
}

static void open_perf(struct amqp10_state *st, bool broker, const struct perf *p,
                      struct bw_facts *f, struct bw_amqp_ext *x)
{
    const struct val *cid = text_field(p, 0, f), *host = text_field(p, 1, f), *props = field(p, 9);
    st->handshake = true;
    if (broker) {
        st->srv_open = true;
        /* A broker refusing a connection still opens it, then closes at once with an error
         * (§2.4.1): the open accepts only if the broker's next frame is no such close. After a
         * successful SASL outcome the login is already known to be accepted. */
        if (!(f->seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED))) st->open_pending = true;
    } else {
        if (cid) bw_amqp_str_set(&x->container_id, cid->b.ptr, cid->b.len);
        if (host) bw_amqp_str_set(&x->hostname, host->b.ptr, host->b.len);
    }
    if (props) properties(props, broker, f, x);
    if (props && broker) bw_amqp_product_fact(f, x);   /* "RabbitMQ 3.10.8" for every report */
}

static void close_perf(struct amqp10_state *st, bool broker, const struct perf *p,
                       struct bw_facts *f, struct bw_amqp_ext *x)
{
    const struct val *err = field(p, 0);
    if (!broker) return;                 /* the client's close is no answer */
    st->srv_closed = true;
    x->close_seen = true;
    if (!err) return;                    /* an orderly close */
    if (!err->described || err->desc != D_ERROR || !is_list(err->code)) {
        anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE);
        return;
    }
    f->seen |= BW_FACT_REFUSED;
    struct val e = *err, cond, desc;
    if (next_elem(&e, &cond, 2) && is_sym(&cond))
        bw_amqp_str_set(&x->condition, cond.b.ptr, cond.b.len);
    if (next_elem(&e, &desc, 2) && is_str(&desc))
        bw_amqp_lstr_set(&x->close_text, desc.b.ptr, desc.b.len);
}

static enum bw_parse performative(struct amqp10_state *st, enum bw_dir dir, struct bw_cur *body,
                                  struct bw_facts *f, struct bw_amqp_ext *x)
{
    struct perf p;
    bool cli = dir == BW_DIR_TOSERVER;
    if (!read_perf(body, &p, f)) return BW_PARSE_OK;
    if (!cli && (p.code == D_SASL_MECHANISMS || p.code == D_SASL_CHALLENGE ||
                 p.code == D_SASL_OUTCOME || p.code == D_OPEN || p.code == D_CLOSE))
        confirm(f);                          /* what only a broker sends */
    switch (p.code) {
    case D_SASL_MECHANISMS:
        if (cli) { anomaly(f, BW_AMQP10_ANOM_WRONG_DIRECTION); break; }
        sasl_mechanisms(st, &p, f, x);
        break;
    case D_SASL_INIT:
        if (!cli) { anomaly(f, BW_AMQP10_ANOM_WRONG_DIRECTION); break; }
        sasl_init(st, &p, f, x);
        break;
    case D_SASL_CHALLENGE:               /* challenge / response: never kept */
        if (cli) anomaly(f, BW_AMQP10_ANOM_WRONG_DIRECTION);
        break;
    case D_SASL_RESPONSE:
        if (!cli) { anomaly(f, BW_AMQP10_ANOM_WRONG_DIRECTION); break; }
        if (st->plain_pending) {
            const struct val *r = field(&p, 0);
            st->plain_pending = false;
            if (r && is_bin(r)) plain(r->b, f);
            else anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE);
        }
        break;
    case D_SASL_OUTCOME:
        if (cli) { anomaly(f, BW_AMQP10_ANOM_WRONG_DIRECTION); break; }
        return sasl_outcome(st, &p, f, x);
    case D_OPEN:
        open_perf(st, !cli, &p, f, x);
        return cli ? BW_PARSE_DONE : BW_PARSE_OK;   /* the client has said all it will say */
    case D_CLOSE:
        close_perf(st, !cli, &p, f, x);
        return BW_PARSE_DONE;
    default:
        break;
    }
    return BW_PARSE_OK;
}

/* ---- frames (part 2 §2.3) ---- */

enum peek { PK_NEED, PK_CODE, PK_BAD };

/* The performative's descriptor at the start of a body (bytes available so far). */
static enum peek peek_desc(const uint8_t *body, size_t n, uint64_t *code)
{
    struct bw_cur c = bw_cur_init(body, n);
    uint8_t b0 = bw_cur_u8(&c), b1 = bw_cur_u8(&c);
    if (c.bad) return PK_NEED;
    if (b0 != C_DESCRIBED) return PK_BAD;
    switch (b1) {
    case C_SMALLULONG: *code = bw_cur_u8(&c); break;
    case C_ULONG0:     *code = 0; break;
    case C_ULONG:      *code = bw_cur_be64(&c); break;
    case C_SYM8:       *code = sym_code(bw_cur_bytes(&c, bw_cur_u8(&c))); break;
    case C_SYM32:      *code = sym_code(bw_cur_bytes(&c, bw_cur_be32(&c))); break;
    default:           return PK_BAD;
    }
    return c.bad ? PK_NEED : PK_CODE;
}

static bool known_amqp(uint64_t code) { return code >= D_OPEN && code <= D_CLOSE; }
static bool known_sasl(uint64_t code) { return code >= D_SASL_MECHANISMS && code <= D_SASL_OUTCOME; }

/* A well-formed frame: count it toward recognizing a session picked up midstream. */
static void frame_ok(struct amqp10_state *st, struct dir_state *d, struct bw_facts *f)
{
    d->synced = true;
    if (d->verified < UINT8_MAX) d->verified++;
    /* Midstream it takes MID_FRAMES good frames, and the broker's among them: a client's frames
     * alone prove no broker; the broker's answers, or its own transfers, do. */
    const struct dir_state *c = &st->d[BW_DIR_TOSERVER], *b = &st->d[BW_DIR_TOCLIENT];
    if (!st->handshake && !st->midstream && b->verified > 0 &&
        (unsigned)c->verified + b->verified >= MID_FRAMES) {
        st->midstream = true;
        f->seen |= BW_FACT_MIDSTREAM;
        confirm(f);
    }
}

/* A capture that starts inside a frame is no protocol violation: before the first good frame
 * of a direction (and with no handshake seen), broken framing is only a lost sync. */
static void sync_anomaly(const struct amqp10_state *st, const struct dir_state *d,
                         struct bw_facts *f, unsigned bit)
{
    if (st->handshake || d->synced) anomaly(f, bit);
}

static enum bw_parse lose_sync(struct dir_state *d, size_t *used)
{
    d->resync = true;
    d->verified = 0;
    d->scanned = 1;
    *used = 1;                           /* no frame starts at buf[0]: drop it, scan on */
    return BW_PARSE_OK;
}

static bool frame_header_ok(uint32_t size, uint8_t doff, uint8_t type)
{
    return size >= FRAME_HDR && doff >= 2 && (size_t)doff * 4 <= size && type <= FT_SASL &&
           size <= SKIP_FRAME_MAX;
}


/* 1.0 has no frame-end: a candidate needs the usual doff of 2 and, unless empty, a performative
 * descriptor of its frame type's range right after the header. */
static enum bw_amqp_cand candidate(const void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    struct bw_cur c = bw_cur_init(p, n);
    uint32_t size = bw_cur_be32(&c);
    uint8_t doff = bw_cur_u8(&c), type = bw_cur_u8(&c);
    (void)bw_cur_be16(&c);
    if (c.bad) return BW_AMQP_CAND_NEED;
    if (!frame_header_ok(size, doff, type) || doff != 2) return BW_AMQP_CAND_NO;
    if (size == FRAME_HDR) return BW_AMQP_CAND_YES;
    uint64_t code = D_OTHER;
    struct bw_cur fr = bw_cur_init(p, n < size ? n : size);
    (void)bw_cur_skip(&fr, FRAME_HDR);
    struct bw_bytes rest = bw_cur_rest(&fr);
    enum peek k = peek_desc(rest.ptr, rest.len, &code);
    if (k == PK_NEED) return n < size ? BW_AMQP_CAND_NEED : BW_AMQP_CAND_NO;
    if (k == PK_BAD) return BW_AMQP_CAND_NO;
    return (type == FT_SASL ? known_sasl(code) : known_amqp(code)) ? BW_AMQP_CAND_YES : BW_AMQP_CAND_NO;
}

static enum bw_parse frame(struct amqp10_state *st, struct dir_state *d, enum bw_dir dir,
                           const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                           struct bw_amqp_ext *x);

static enum bw_parse resync(struct amqp10_state *st, struct dir_state *d, enum bw_dir dir,
                            const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                            struct bw_amqp_ext *x)
{
    bool found, exhausted;
    size_t i = bw_amqp_resync_scan(buf, len, FRAME_HDR, candidate, NULL, &d->scanned, &found, &exhausted);
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

static enum bw_parse frame(struct amqp10_state *st, struct dir_state *d, enum bw_dir dir,
                           const uint8_t *buf, size_t len, size_t *used, struct bw_facts *f,
                           struct bw_amqp_ext *x)
{
    struct bw_cur c = bw_cur_init(buf, len);
    uint32_t size = bw_cur_be32(&c);
    uint8_t doff = bw_cur_u8(&c), type = bw_cur_u8(&c);
    (void)bw_cur_be16(&c);                       /* channel (AMQP) / ignored (SASL) */
    if (c.bad) return BW_PARSE_NEED_MORE;
    if (size < FRAME_HDR || doff < 2 || (size_t)doff * 4 > size) {   /* §2.3.1 */
        sync_anomaly(st, d, f, BW_AMQP10_ANOM_BAD_FRAME);
        return lose_sync(d, used);
    }
    if (type > FT_SASL) {
        sync_anomaly(st, d, f, BW_AMQP10_ANOM_BAD_FRAME_TYPE);
        return lose_sync(d, used);
    }
    if (size > SKIP_FRAME_MAX) {                 /* not a size anyone negotiates */
        sync_anomaly(st, d, f, BW_AMQP10_ANOM_FRAME_TOO_LARGE);
        return lose_sync(d, used);
    }
    size_t body_off = (size_t)doff * 4;
    /* After the broker's open, its next non-empty frame tells whether it was a refusal. */
    bool decides = dir == BW_DIR_TOCLIENT && st->srv_open && size > body_off;
    enum bw_parse r = BW_PARSE_OK;
    bool parse_it = false, good = false;

    if (size > body_off) {
        struct bw_cur fr = bw_cur_init(buf, len < size ? len : size);
        uint64_t code = D_OTHER;
        (void)bw_cur_skip(&fr, body_off);
        if (fr.bad) return BW_PARSE_NEED_MORE;   /* extended header still incomplete */
        struct bw_bytes rest = bw_cur_rest(&fr);
        enum peek k = peek_desc(rest.ptr, rest.len, &code);
        if (k == PK_NEED && len < size) return BW_PARSE_NEED_MORE;
        if (k != PK_CODE) {                      /* a body must start with a performative */
            anomaly(f, BW_AMQP10_ANOM_BAD_ENCODING);
        } else if (type == FT_SASL ? !known_sasl(code) : !known_amqp(code)) {
            /* unknown, or SASL bodies in AMQP frames and the reverse */
            anomaly(f, BW_AMQP10_ANOM_BAD_PERFORMATIVE);
        } else {
            good = true;
            if (type == FT_SASL || code == D_OPEN || code == D_CLOSE) {
                if (size > HS_FRAME_MAX)         /* skip it, never buffer it */
                    anomaly(f, BW_AMQP10_ANOM_FRAME_TOO_LARGE);
                else parse_it = true;
            }
        }
        if (parse_it) {
            if (len < size) return BW_PARSE_NEED_MORE;
            struct bw_cur all = bw_cur_init(buf, size);
            (void)bw_cur_skip(&all, body_off);
            r = performative(st, dir, &all, f, x);
        }
        if (good) frame_ok(st, d, f);
        else d->verified = 0;                    /* midstream needs consecutive good frames */
    } else {
        frame_ok(st, d, f);                      /* an empty frame: a heartbeat */
    }
    *used = size;                                /* may exceed len: the rest is skipped */
    x->frames[dir]++;
    if (decides && st->open_pending) {
        st->open_pending = false;
        if (!(f->seen & BW_FACT_REFUSED)) f->seen |= BW_FACT_AUTH_OK;
    }
    if (st->midstream || decides || r == BW_PARSE_DONE) {
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    return BW_PARSE_OK;
}

/* ---- headers ---- */

static void mismatch(struct amqp10_state *st, unsigned round, struct bw_facts *f,
                     struct bw_amqp_ext *x)
{
    if (!x->mismatch) {
        x->mismatch = true;
        memset(x->cli_hdr, 0, sizeof x->cli_hdr);
        memcpy(x->srv_hdr, st->hdr[BW_DIR_TOCLIENT][round], HDR_LEN);
        anomaly(f, BW_AMQP10_ANOM_VERSION_MISMATCH);
        f->seen |= BW_FACT_REFUSED;
    }
    /* An AMQP broker refusing the header it was sent: an answer once that request is seen too
     * (it may be delivered after the answer). A broker's 1.0 header confirms by itself. */
    if (st->d[BW_DIR_TOSERVER].hdrs > round) {
        memcpy(x->cli_hdr, st->hdr[BW_DIR_TOSERVER][round], HDR_LEN);
        f->seen |= BW_FACT_CONFIRMED;
    }
}

/* A 1.0 broker echoes the header it accepts and answers any other with the one it would
 * (§2.2); a 0-x broker answers with its own. Compare round by round, in any delivery order. */
static void check_round(struct amqp10_state *st, unsigned round, struct bw_facts *f,
                        struct bw_amqp_ext *x)
{
    if (st->d[BW_DIR_TOCLIENT].hdrs <= round) return;
    const uint8_t *srv = st->hdr[BW_DIR_TOCLIENT][round];
    if (!is_10_hdr(srv)) { mismatch(st, round, f, x); return; }
    if (st->d[BW_DIR_TOSERVER].hdrs <= round) return;
    if (memcmp(st->hdr[BW_DIR_TOSERVER][round], srv, HDR_LEN) != 0) mismatch(st, round, f, x);
}

static enum bw_parse header(struct amqp10_state *st, struct dir_state *d, enum bw_dir dir,
                            const uint8_t *buf, size_t *used, struct bw_facts *f,
                            struct bw_amqp_ext *x)
{
    unsigned round = d->hdrs >= 2 ? 1u : d->hdrs;   /* SASL then AMQP: never a third */
    bool cli = dir == BW_DIR_TOSERVER;
    *used = HDR_LEN;
    if (d->hdrs >= 2) anomaly(f, BW_AMQP10_ANOM_BAD_HEADER);
    else d->hdrs++;
    memcpy(st->hdr[dir][round], buf, HDR_LEN);
    st->handshake = true;
    d->phase = PH_FRAMES;
    bool ok = is_10_hdr(buf);
    if (ok && round == 0) set_version(f);
    if (ok && !cli) confirm(f);                  /* the broker's answer (an echo or its own) */
    if (ok && buf[4] == ID_TLS) {                /* TLS from here on: nothing readable follows */
        f->seen |= BW_FACT_TLS;
        st->tls = true;
    }
    /* No security layer at all: no authentication. The broker's echo tells the same when the
     * client's header was not seen (§2.2: an accepting broker echoes it). */
    if (ok && round == 0 && buf[4] == ID_PLAIN && (cli || st->d[BW_DIR_TOSERVER].hdrs == 0))
        f->seen |= BW_FACT_ANONYMOUS;
    if (cli && !ok)
        anomaly(f, BW_AMQP10_ANOM_BAD_HEADER);
    else if (cli && round == 1 && buf[4] != ID_PLAIN)
        anomaly(f, BW_AMQP10_ANOM_BAD_HEADER);   /* after SASL comes the AMQP layer (§5.3.1) */
    check_round(st, round, f, x);
    if (st->tls || !ok || x->mismatch) {
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    return BW_PARSE_OK;
}

/* ---- plug-in entry points ---- */

static void amqp10_reset(void *state)
{
    memset(state, 0, sizeof(struct amqp10_state));
}

static enum bw_parse amqp10_parse(void *state, enum bw_dir dir, const uint8_t *buf, size_t len,
                                  size_t *used, struct bw_facts *f)
{
    struct amqp10_state *st = state;
    struct bw_amqp_ext *x = bw_amqp_ext(f, BW_AMQP_FAMILY_10);
    if (dir != BW_DIR_TOCLIENT) dir = BW_DIR_TOSERVER;
    struct dir_state *d = &st->d[dir];

    *used = 0;
    if (d->phase == PH_DONE) return BW_PARSE_DONE;
    /* After TLS only the broker's answer to the TLS header is still worth reading. */
    bool answer = st->tls && d->phase == PH_START && len > 0 && buf[0] == 'A';
    /* After a refused header, only the client's header it answered (delivered late) is read. */
    bool request = x->mismatch && dir == BW_DIR_TOSERVER && d->phase == PH_START && len > 0 &&
                   buf[0] == 'A';
    if (st->midstream || (x->mismatch && !request) || (st->tls && !answer)) {
        d->phase = PH_DONE;
        return BW_PARSE_DONE;
    }
    if (d->resync)
        return resync(st, d, dir, buf, len, used, f, x);
    /* A header opens a direction and, after SASL, the AMQP layer. 0x41 ('A') cannot start a
     * frame: that size would exceed any frame followed. */
    if (len > 0 && buf[0] == 'A' && memcmp(buf, HPFX, len < 4 ? len : 4) == 0) {
        if (len < HDR_LEN) return BW_PARSE_NEED_MORE;
        return header(st, d, dir, buf, used, f, x);
    }
    if (len == 0) return BW_PARSE_NEED_MORE;
    d->phase = PH_FRAMES;                        /* no header: a pickup after the handshake */
    return frame(st, d, dir, buf, len, used, f, x);
}

static enum bw_parse amqp10_gap(void *state, enum bw_dir dir, struct bw_facts *f)
{
    struct amqp10_state *st = state;
    struct dir_state *d = &st->d[dir == BW_DIR_TOCLIENT];
    f->seen |= BW_FACT_GAP;
    d->gap = true;
    if (d->phase == PH_DONE || st->midstream || st->tls)
        return BW_PARSE_DONE;
    d->phase = PH_FRAMES;                        /* frames go on after the hole: find one */
    d->resync = true;
    d->verified = 0;
    d->scanned = 0;
    return BW_PARSE_OK;
}

static void amqp10_close(void *state, enum bw_close how, struct bw_facts *f)
{
    struct amqp10_state *st = state;
    /* The broker opened and nothing refused the connection before it ended. */
    if (st->open_pending && !(f->seen & BW_FACT_REFUSED)) {
        st->open_pending = false;
        f->seen |= BW_FACT_AUTH_OK;
    }
    /* A broker dropping the connection after sasl-init, with no outcome, refused the login. Only
     * the broker's own close counts: RabbitMQ delays a failed outcome and clients time out. */
    if (!st->sasl_init || st->outcome || st->srv_open || st->srv_closed ||
        st->d[BW_DIR_TOCLIENT].gap)
        return;
    if (f->seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED))
        return;
    if (how == BW_CLOSE_FIN_SERVER_FIRST || how == BW_CLOSE_RST_SERVER)
        f->seen |= BW_FACT_AUTH_FAILED;
}

static void amqp10_facts_json(const struct bw_facts *f, struct bw_json *j)
{
    bw_amqp_facts_json(f, j);
}

const struct bw_dissector bw_dissector_amqp10 = {
    .name = "amqp",
    .ports = { 5672, 0 },
    .state_size = sizeof(struct amqp10_state),
    .probe = amqp10_probe,
    .reset = amqp10_reset,
    .parse = amqp10_parse,
    .gap = amqp10_gap,
    .close = amqp10_close,
    .facts_json = amqp10_facts_json,
    .anomaly_names = anomaly_names,
};
