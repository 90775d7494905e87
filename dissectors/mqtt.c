/* mqtt.c: the MQTT dissector (3.1, 3.1.1, 5.0), over TCP or WebSockets.
 * Framing and packets: OASIS MQTT 3.1.1 §2.2, §3.1 (CONNECT), §3.2 (CONNACK), §3.8 (SUBSCRIBE);
 * MQTT 5.0 §2.2.2 (properties), §3.1-§3.15 (CONNECT .. AUTH). WebSocket framing: RFC 6455 §5,
 * the opening handshake §4. Bounded and zero-copy: packets that teach nothing are skipped by
 * length; the password is read in place for the default-credentials check and never kept. */
#include <stdio.h>
#include <string.h>
#include "bw_cursor.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"
#include "bw_mqtt.h"

enum {
    MQTT_CONNECT = 1, MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL,
    MQTT_PUBCOMP, MQTT_SUBSCRIBE, MQTT_SUBACK, MQTT_UNSUBSCRIBE, MQTT_UNSUBACK, MQTT_PINGREQ,
    MQTT_PINGRESP, MQTT_DISCONNECT, MQTT_AUTH,
};

#define MQTT_PARSE_MAX    8192u   /* packets we read (CONNECT, CONNACK, ...) are small: cap the wait */
#define MQTT_VARINT_MAX   268435455u
#define MQTT_AFTER_MAX    32u     /* packets followed after the handshake before giving up */
#define MQTT_RESYNC_SCAN  1024u   /* bytes searched for a packet boundary after a gap */
#define MQTT_HTTP_MAX     4096u   /* an upgrade request or answer longer than this is not ours */

/* Per-direction mode, decided by the first bytes of that direction. */
enum mqtt_mode { MODE_START = 0, MODE_MQTT, MODE_MIDSTREAM, MODE_HTTP, MODE_WS, MODE_RESYNC, MODE_CSTREAM };

struct mqtt_ws {                  /* RFC 6455 frame position of one direction */
    uint64_t frame_left;          /* payload bytes of the current frame not yet consumed */
    uint32_t inner_skip;          /* MQTT bytes still to skip (a PUBLISH body) across frames */
    uint8_t  mask[4];
    uint8_t  mask_off;            /* payload offset modulo 4 within the current frame */
    bool     masked;
    bool     control;             /* the current frame is ping/pong: its payload is skipped */
    bool     in_frame;
};

struct mqtt_dir {
    uint8_t  mode;                /* enum mqtt_mode */
    uint8_t  plausible;           /* consecutive plausible packets while midstream */
    uint8_t  want_type;           /* midstream: the answer the last request of this side expects */
    uint16_t want_id;             /* ... and its packet identifier */
    uint32_t after;               /* packets since the handshake packet of this direction */
    struct mqtt_ws ws;
};

struct mqtt_cstream {             /* a CONNECT too big to buffer, read as it passes (client side) */
    uint32_t left;                /* bytes of its body not yet consumed (read or skipped) */
    uint32_t props_left;          /* bytes left in the property block being walked */
    uint32_t pass_len;
    uint64_t seen_props;          /* property ids met in the block: a repeat is an error */
    uint8_t  phase;               /* enum cs_phase: the field that comes next */
    uint8_t  flags, level;        /* from its fixed part */
    uint8_t  pend_strs;           /* length-prefixed strings of a user property still to skip */
    bool     active, has_method, user_read, pass_read, defcreds;
    bool     in_ws;               /* inside WebSocket frames: mqtt_ws feeds it unmasked bytes */
};

struct ws_map;

struct mqtt_state {
    const struct ws_map *map;     /* during one parse of unmasked WebSocket bytes: where they lie */
    uint8_t level;                /* from CONNECT (midstream: 5 once a packet proves it); 0 = unknown */
    bool    connect_seen, connack_seen, upgrade_seen, ws_accepted;
    bool    connect_method;       /* the CONNECT named an authentication method (5.0 §4.12) */
    bool    auth_wait;            /* the client sent AUTH; the broker has not answered it yet */
    struct mqtt_dir d[2];
    struct mqtt_cstream cs;
};
_Static_assert(sizeof(struct mqtt_state) <= BW_DISSECTOR_STATE_MAX, "mqtt state too big");

static struct bw_mqtt_facts *ext_of(struct bw_facts *f)
{ return (struct bw_mqtt_facts *)(void *)f->ext; }

/* Where the bytes of an unmasked copy of WebSocket payload came from (ws_pull fills it): pieces
 * of the frames on the wire, each with the mask it was read through, so that a password read in
 * the copy is placed on the wire for the evidence writer. */
#define WS_MAP_PIECES 8
struct ws_map {
    const uint8_t *copy;
    size_t mapped;                /* bytes of the copy from its start that the pieces cover */
    unsigned n;
    struct ws_piece { size_t at, len; const uint8_t *wire; uint8_t key[4], key_off; } p[WS_MAP_PIECES];
};

/* A password read at ptr[0..len): on the wire where a copy's map places it (one position per
 * frame it crosses), else where it lies (TCP; or unplaced, bw_facts_secret). */
static void mqtt_secret(const struct mqtt_state *st, struct bw_facts *f, const uint8_t *ptr, size_t len)
{
    const struct ws_map *m = st->map;
    uintptr_t q = (uintptr_t)ptr, b = m ? (uintptr_t)m->copy : 0;
    if (!m || q < b || q - b > m->mapped || len > m->mapped - (q - b)) {
        bw_facts_secret(f, ptr, len);
        return;
    }
    size_t at = q - b, end = at + len;
    bool placed = false;
    for (unsigned i = 0; i < m->n; i++) {
        const struct ws_piece *pc = &m->p[i];
        size_t lo = at > pc->at ? at : pc->at, hi = end < pc->at + pc->len ? end : pc->at + pc->len;
        if (lo > hi || (lo == hi && (len || placed))) continue;    /* an empty one: placed once */
        bw_facts_secret_masked(f, pc->wire + (lo - pc->at), hi - lo, pc->key,
                               (uint8_t)((pc->key_off + (lo - pc->at)) & 3));
        placed = true;
    }
    if (!placed) f->secret_unplaced = true;
}

static void anomaly(struct bw_facts *f, enum bw_mqtt_anomaly a)
{
    f->anomalies |= 1u << a;
    f->seen |= BW_FACT_SPEC_VIOLATION;
}

/* ---- framing ---- */

enum vi { VI_OK, VI_SHORT, VI_BAD };

/* Variable byte integer (§2.2.3 / 5.0 §1.5.5): 1..4 bytes, minimal encoding. A 5th byte or a
 * non-minimal form (a last byte of 0 after a continuation) cannot be an MQTT length. */
static enum vi mqtt_varint(struct bw_cur *c, uint32_t *out)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (bw_cur_left(c) == 0) return VI_SHORT;
        uint8_t b = bw_cur_u8(c);
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0) return VI_BAD;
            *out = v;
            return VI_OK;
        }
    }
    return VI_BAD;
}

/* Fixed-header flags each type must carry (§2.2.2): PUBLISH is free, 6/8/10 are 0b0010. */
static bool flags_ok(uint8_t type, uint8_t flags, uint8_t level)
{
    switch (type) {
    case MQTT_PUBLISH: return ((flags >> 1) & 3) != 3;     /* QoS 3 is not a QoS */
    case MQTT_PUBREL: case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE: return flags == 2;
    case MQTT_AUTH: return flags == 0 && level != 3 && level != 4;
    case 0: return false;
    default: return flags == 0;
    }
}

struct mqtt_hdr { uint8_t type, flags; uint32_t rlen; size_t hlen; };

/* VI_OK with the header, VI_SHORT when more bytes would tell, VI_BAD for a broken length. */
static enum vi mqtt_header(const uint8_t *buf, size_t len, struct mqtt_hdr *h)
{
    struct bw_cur c = bw_cur_init(buf, len);
    if (len == 0) return VI_SHORT;
    uint8_t b = bw_cur_u8(&c);
    h->type = (uint8_t)(b >> 4);
    h->flags = (uint8_t)(b & 0x0f);
    enum vi r = mqtt_varint(&c, &h->rlen);
    h->hlen = c.off;
    return r;
}

/* ---- strings and properties ---- */

/* Well-formed UTF-8 without U+0000, surrogates or overlong forms (§1.5.3 / 5.0 §1.5.4). */
static bool utf8_ok(struct bw_bytes s)
{
    size_t i = 0;
    while (i < s.len) {
        uint8_t b = s.ptr[i];
        size_t n;
        uint32_t cp;
        if (b == 0) return false;
        if (b < 0x80) { i++; continue; }
        if (b >= 0xC2 && b <= 0xDF) { n = 1; cp = b & 0x1f; }
        else if (b >= 0xE0 && b <= 0xEF) { n = 2; cp = b & 0x0f; }
        else if (b >= 0xF0 && b <= 0xF4) { n = 3; cp = b & 0x07; }
        else return false;
        if (n > s.len - i - 1) return false;
        for (size_t k = 1; k <= n; k++) {
            uint8_t cb = s.ptr[i + k];
            if ((cb & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cb & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        i += n + 1;
    }
    return true;
}

/* A length-prefixed string (§1.5.3); flags invalid UTF-8 but returns it anyway. */
static struct bw_bytes read_str(struct bw_cur *c, struct bw_facts *f)
{
    uint16_t n = bw_cur_be16(c);
    struct bw_bytes s = bw_cur_bytes(c, n);
    if (s.ptr && !utf8_ok(s)) anomaly(f, BW_MQTT_ANOM_UTF8);
    return s;
}

static struct bw_bytes read_bin(struct bw_cur *c)
{
    uint16_t n = bw_cur_be16(c);
    return bw_cur_bytes(c, n);
}

/* v5 property value types (5.0 §2.2.2.2). */
enum ptype { PT_NONE, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

static enum ptype prop_type(uint8_t id)
{
    switch (id) {
    case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
        return PT_BYTE;
    case 0x13: case 0x21: case 0x22: case 0x23: return PT_U16;
    case 0x02: case 0x11: case 0x18: case 0x27: return PT_U32;
    case 0x0B: return PT_VARINT;
    case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F: return PT_STR;
    case 0x09: case 0x16: return PT_BIN;
    case 0x26: return PT_PAIR;
    default: return PT_NONE;
    }
}

struct mqtt_prop { uint8_t id; uint32_t num; struct bw_bytes str; };

struct mqtt_props {
    struct bw_cur c;
    uint64_t seen;                /* ids met so far: a repeat is a protocol error */
};

/* The property block at the cursor (length varint + window). False when it does not fit. */
static bool props_open(struct bw_cur *body, struct mqtt_props *p, struct bw_facts *f)
{
    uint32_t n = 0;
    memset(p, 0, sizeof *p);
    if (mqtt_varint(body, &n) != VI_OK) { body->bad = true; p->c.bad = true; return false; }
    p->c = bw_cur_sub(body, n);
    if (p->c.bad) { anomaly(f, BW_MQTT_ANOM_LENGTH); return false; }
    return true;
}

/* Next property; false at the end or on one that cannot be read (the window bounds the rest). */
static bool props_next(struct mqtt_props *p, struct mqtt_prop *out, struct bw_facts *f)
{
    if (p->c.bad || bw_cur_left(&p->c) == 0) return false;
    uint32_t id = 0;
    if (mqtt_varint(&p->c, &id) != VI_OK || id > 0x7f) { anomaly(f, BW_MQTT_ANOM_PROPERTY); return false; }
    enum ptype t = prop_type((uint8_t)id);
    out->id = (uint8_t)id;
    out->num = 0;
    out->str.ptr = NULL;
    out->str.len = 0;
    switch (t) {
    case PT_NONE: anomaly(f, BW_MQTT_ANOM_PROPERTY); return false;   /* unknown: length unknown too */
    case PT_BYTE: out->num = bw_cur_u8(&p->c); break;
    case PT_U16: out->num = bw_cur_be16(&p->c); break;
    case PT_U32: out->num = bw_cur_be32(&p->c); break;
    case PT_VARINT:
        if (mqtt_varint(&p->c, &out->num) != VI_OK) p->c.bad = true;
        break;
    case PT_STR: out->str = read_str(&p->c, f); break;
    case PT_BIN: out->str = read_bin(&p->c); break;
    case PT_PAIR: (void)read_str(&p->c, f); out->str = read_str(&p->c, f); break;
    }
    if (p->c.bad) { anomaly(f, BW_MQTT_ANOM_LENGTH); return false; }
    /* Only user properties and subscription identifiers may repeat (5.0 §2.2.2.2). */
    if (id < 64 && id != 0x26 && id != 0x0B) {
        if (p->seen & ((uint64_t)1 << id)) anomaly(f, BW_MQTT_ANOM_PROPERTY);
        p->seen |= (uint64_t)1 << id;
    }
    return true;
}

static void set_version(struct bw_facts *f, uint8_t level)
{
    const char *v = level == 3 ? "3.1" : level == 4 ? "3.1.1" : "5.0";
    snprintf(f->version, sizeof f->version, "%s", v);
}

/* ---- CONNECT (§3.1) ---- */

/* The fixed part of a CONNECT: protocol name, level, flags, keep alive (§3.1.2.1-§3.1.2.10).
 * Shared by the whole-packet reader and the streaming one, so both apply the same rules. */
static enum bw_parse connect_head(struct mqtt_state *st, struct bw_cur *b, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    struct bw_bytes name = read_bin(b);
    uint8_t raw_level = bw_cur_u8(b);
    uint8_t flags = bw_cur_u8(b);
    uint16_t keep = bw_cur_be16(b);
    if (b->bad) { anomaly(f, BW_MQTT_ANOM_LENGTH); return BW_PARSE_MALFORMED; }
    bool is_mqtt = name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0;
    bool is_isdp = name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0;
    uint8_t level = raw_level & 0x7f;   /* bit 7: mosquitto's bridge marker, not a level */
    if (!is_mqtt && !is_isdp) { anomaly(f, BW_MQTT_ANOM_PROTO_NAME); return BW_PARSE_MALFORMED; }
    if (level < 3 || level > 5) { anomaly(f, BW_MQTT_ANOM_PROTO_LEVEL); return BW_PARSE_MALFORMED; }
    if ((is_mqtt && level == 3) || (is_isdp && level != 3)) anomaly(f, BW_MQTT_ANOM_PROTO_LEVEL);
    st->connect_seen = true;
    st->level = level;
    x->have |= BW_MQTT_HAVE_CONNECT;
    x->level = level;
    x->bridge = (raw_level & 0x80) != 0;
    x->connect_flags = flags;
    x->clean_session = (flags & BW_MQTT_CF_CLEAN) != 0;
    x->will_flag = (flags & BW_MQTT_CF_WILL) != 0;
    x->will_qos = (uint8_t)((flags & BW_MQTT_CF_WILL_QOS) >> 3);
    x->will_retain = (flags & BW_MQTT_CF_WILL_RETAIN) != 0;
    x->keep_alive = keep;
    set_version(f, level);
    f->seen |= BW_FACT_CONFIRMED;
    if (flags & BW_MQTT_CF_RESERVED) anomaly(f, BW_MQTT_ANOM_RESERVED_FLAG);   /* §3.1.2.3 */
    /* Will QoS 3 is undefined; QoS or retain without a will is forbidden (§3.1.2.6, §3.1.2.7). */
    if (x->will_qos == 3 || (!x->will_flag && (x->will_qos || x->will_retain))) anomaly(f, BW_MQTT_ANOM_QOS);
    return BW_PARSE_OK;
}

/* One v5 CONNECT property (5.0 §3.1.2.11). */
static void connect_prop(const struct mqtt_prop *pr, bool *has_method, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    switch (pr->id) {
    case 0x11: x->session_expiry = pr->num; x->have |= BW_MQTT_HAVE_SESSION_EXPIRY; break;
    case 0x21:
        x->receive_maximum = (uint16_t)pr->num;
        x->have |= BW_MQTT_HAVE_RECEIVE_MAXIMUM;
        if (pr->num == 0) anomaly(f, BW_MQTT_ANOM_PROPERTY);    /* 5.0 §3.1.2.11.3 */
        break;
    case 0x15: *has_method = true; if (pr->str.ptr) bw_fstr_set(&f->mech, pr->str.ptr, pr->str.len); break;
    case 0x16: case 0x17: case 0x19: case 0x22: case 0x26: case 0x27: break;
    default: anomaly(f, BW_MQTT_ANOM_PROPERTY); break;        /* not a CONNECT property */
    }
}

/* What the CONNECT says about credentials, once its fields are read (or known lost). A field
 * the flags announce but whose bytes were never read still crossed the wire: the credential is
 * present, its content unknown; an unread user name is marked so (printed null, never ""),
 * with the username_unread anomaly. user_read/pass_read: the field was read (user in f->user). */
static void connect_creds(struct bw_facts *f, uint8_t flags, uint8_t level, bool has_method,
                          bool user_read, bool pass_read, uint32_t pass_len, bool defcreds)
{
    struct bw_mqtt_facts *x = ext_of(f);
    bool want_user = (flags & BW_MQTT_CF_USERNAME) != 0, want_pass = (flags & BW_MQTT_CF_PASSWORD) != 0;
    if ((want_user && !user_read) || (want_pass && !pass_read)) x->have |= BW_MQTT_HAVE_CONNECT_CUT;
    if (want_user) {
        f->seen |= BW_FACT_CREDS_USER;
        if (!user_read) {
            f->user.len = 0;
            f->user.cut = false;
            f->user.unread = true;
            anomaly(f, BW_MQTT_ANOM_USER_UNREAD);
        }
    }
    if (want_pass) {
        f->seen |= BW_FACT_CREDS_PASS;
        if (pass_read) f->pass_len = pass_len;
        /* 3.x requires a user name with a password (§3.1.2.9); 5.0 lifted that. */
        if (!want_user && level != 5) anomaly(f, BW_MQTT_ANOM_PASS_NO_USER);
    }
    if (defcreds) f->seen |= BW_FACT_DEFAULT_CREDS;
    /* No identity at all: a password alone (5.0 token logins) or a method is one. */
    if (!want_user && !want_pass && !has_method) f->seen |= BW_FACT_ANONYMOUS;
}

/* A whole CONNECT in b (rlen <= MQTT_PARSE_MAX); cut: b holds only the captured start of it
 * (snaplen), so a field running past its end is no anomaly. */
static enum bw_parse mqtt_connect(struct mqtt_state *st, struct bw_cur *b, bool cut, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    if (st->connect_seen) { anomaly(f, BW_MQTT_ANOM_PROTOCOL); return BW_PARSE_OK; }  /* §3.1.0: once */
    enum bw_parse r = connect_head(st, b, f);
    if (r != BW_PARSE_OK) return r;
    uint8_t flags = x->connect_flags, level = st->level;

    bool has_method = false, props_read = true;
    if (level == 5) {
        struct mqtt_props p;
        struct mqtt_prop pr;
        if (props_open(b, &p, f))
            while (props_next(&p, &pr, f)) connect_prop(&pr, &has_method, f);
        props_read = !b->bad;            /* a cut CONNECT may hide an authentication method */
    }
    struct bw_bytes cid = read_str(b, f);
    if (cid.ptr) bw_fid_set(&f->client_id, cid.ptr, cid.len);
    if (x->will_flag) {
        if (level == 5) {
            struct mqtt_props p;
            struct mqtt_prop pr;
            if (props_open(b, &p, f))
                while (props_next(&p, &pr, f)) {}
        }
        struct bw_bytes wt = read_str(b, f);
        if (wt.ptr) bw_fstr_set(&x->will_topic, wt.ptr, wt.len);
        struct bw_bytes wp = read_bin(b);
        x->will_payload_len = (uint16_t)wp.len;
    }
    struct bw_bytes user = { NULL, 0 }, pass = { NULL, 0 };
    if (flags & BW_MQTT_CF_USERNAME) user = read_str(b, f);
    if (flags & BW_MQTT_CF_PASSWORD) pass = read_bin(b);
    if (b->bad && !cut) anomaly(f, BW_MQTT_ANOM_LENGTH);  /* a field ran past the packet */
    else if (!b->bad && bw_cur_left(b)) anomaly(f, BW_MQTT_ANOM_TRAILING);
    if (user.ptr) bw_fid_set(&f->user, user.ptr, user.len);
    if (pass.ptr) mqtt_secret(st, f, pass.ptr, pass.len);    /* where it lies, never what it is */
    bool dflt = user.ptr && pass.ptr && bw_defcreds_match(user.ptr, user.len, pass.ptr, pass.len);
    connect_creds(f, flags, level, has_method, user.ptr != NULL, pass.ptr != NULL, (uint32_t)pass.len, dflt);
    /* A 5.0 CONNECT cut in its properties may hide a method: not proved anonymous. */
    if (!props_read) f->seen &= ~BW_FACT_ANONYMOUS;
    st->connect_method = has_method;
    return BW_PARSE_OK;
}

/* ---- a CONNECT too big to buffer, streamed (STYLE.md §2) ----
 * A 20-30 kB will payload, or user properties as large, must not cost the user name behind
 * them. The body is walked field by field as the bytes pass: numbers and the strings that are
 * kept (client id, user name, will topic, authentication method: at most BW_FACTS_ID_MAX bytes
 * each) are read when their bytes are all here; everything else (will payload, user properties,
 * correlation data, the tails of over-long strings, the password) is skipped by its length
 * without being buffered. Each step waits for a number of bytes that depends only on the
 * lengths on the wire, never on how the bytes were segmented, so the facts cannot either. */

static enum bw_parse mqtt_tcp(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                              size_t *used, struct bw_facts *f);

#define CS_PASS_CHECK 256u   /* passwords up to this long are compared with the default list */

enum cs_phase {
    CS_HEAD = 0, CS_PROPLEN, CS_PROPS, CS_CID, CS_WPROPLEN, CS_WPROPS, CS_WTOPIC, CS_WPAYLOAD,
    CS_USER, CS_PASS, CS_END,
};

/* The phase after `ph` for this CONNECT's level and flags. */
static uint8_t cs_next(const struct mqtt_cstream *cs, uint8_t ph)
{
    bool v5 = cs->level == 5, will = (cs->flags & BW_MQTT_CF_WILL) != 0;
    switch (ph) {
    case CS_HEAD: return v5 ? CS_PROPLEN : CS_CID;
    case CS_PROPLEN: return CS_PROPS;
    case CS_PROPS: return CS_CID;
    case CS_CID: if (will) return v5 ? CS_WPROPLEN : CS_WTOPIC; /* fall through */
    case CS_WPAYLOAD: return (cs->flags & BW_MQTT_CF_USERNAME) ? CS_USER :
                             (cs->flags & BW_MQTT_CF_PASSWORD) ? CS_PASS : CS_END;
    case CS_WPROPLEN: return CS_WPROPS;
    case CS_WPROPS: return CS_WTOPIC;
    case CS_WTOPIC: return CS_WPAYLOAD;
    case CS_USER: return (cs->flags & BW_MQTT_CF_PASSWORD) ? CS_PASS : CS_END;
    default: return CS_END;
    }
}

/* The streamed CONNECT is over (read to its end, or cut short by a lost byte, a bad length or
 * the end of the session): conclude from what was read. */
/* cut: the CONNECT ends here unfinished (a hole, a snaplen cut, the end of the flow): what was
 * read stands, and the facts say they come from its start only ("truncated"). */
static void cs_finish(struct mqtt_state *st, struct bw_facts *f, bool cut)
{
    struct mqtt_cstream *cs = &st->cs;
    if (!cs->active) return;
    cs->active = false;
    if (cut) ext_of(f)->have |= BW_MQTT_HAVE_TRUNCATED;
    st->connect_method = cs->has_method;
    connect_creds(f, cs->flags, cs->level, cs->has_method, cs->user_read, cs->pass_read, cs->pass_len,
                  cs->defcreds);
}

static enum bw_parse mqtt_cstream(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                                  size_t *used, struct bw_facts *f)
{
    struct mqtt_cstream *cs = &st->cs;
    struct bw_mqtt_facts *x = ext_of(f);
    size_t off = 0;
    *used = 0;
    for (;;) {
        size_t avail = len - off;
        /* Bytes of the packet consumed by this step (0 = wait), and then skipped unseen. */
        size_t take = 0;
        uint32_t skip = 0;
        bool bad_len = false;
        struct bw_cur c = bw_cur_init(buf + off, avail < cs->left ? avail : cs->left);
        bool all_here = avail >= cs->left;                /* the packet ends within buf */
        bool in_props = cs->phase == CS_PROPS || cs->phase == CS_WPROPS;
        if (in_props && cs->props_left == 0) { cs->phase = cs_next(cs, cs->phase); continue; }
        if (in_props) c = bw_cur_init(buf + off, avail < cs->props_left ? avail : cs->props_left);
        bool block_here = in_props ? avail >= cs->props_left : all_here;
        switch (cs->phase) {
        case CS_HEAD: {
            /* name (2 + 4 or 6), level, flags, keep alive: at most 12 bytes */
            uint16_t nl = bw_cur_be16(&c);
            if (c.bad) { if (block_here) bad_len = true; break; }
            if (nl > 6) { anomaly(f, BW_MQTT_ANOM_PROTO_NAME); return BW_PARSE_MALFORMED; }
            if (bw_cur_left(&c) < (size_t)nl + 4) { if (block_here) bad_len = true; break; }
            struct bw_cur h = bw_cur_init(buf + off, 2u + nl + 4u);
            enum bw_parse r = connect_head(st, &h, f);
            if (r != BW_PARSE_OK) return r;
            cs->flags = x->connect_flags;
            cs->level = st->level;
            take = h.off;
            break;
        }
        case CS_PROPLEN: case CS_WPROPLEN: {
            uint32_t n = 0;
            enum vi v = mqtt_varint(&c, &n);
            if (v == VI_SHORT) { if (block_here) bad_len = true; break; }
            if (v == VI_BAD || n > cs->left - c.off) { bad_len = true; break; }
            take = c.off;
            cs->props_left = n;
            cs->seen_props = 0;
            break;
        }
        case CS_PROPS: case CS_WPROPS: {
            if (cs->pend_strs) {                           /* a user property's key or value */
                uint16_t n = bw_cur_be16(&c);
                if (c.bad) { if (block_here) bad_len = true; break; }
                if (n > cs->props_left - 2) { bad_len = true; break; }
                take = 2;
                skip = n;
                cs->pend_strs--;
                break;
            }
            uint32_t id = 0;
            enum vi v = mqtt_varint(&c, &id);
            if (v == VI_SHORT) { if (block_here) bad_len = true; break; }
            if (v == VI_BAD || id > 0x7f || prop_type((uint8_t)id) == PT_NONE) {
                anomaly(f, BW_MQTT_ANOM_PROPERTY);         /* unknown: its length is unknown too */
                take = 0;
                skip = cs->props_left;                     /* the rest of the block is lost */
                break;
            }
            enum ptype t = prop_type((uint8_t)id);
            struct mqtt_prop pr = { (uint8_t)id, 0, { NULL, 0 } };
            if (t == PT_PAIR) {
                take = c.off;
                cs->pend_strs = 2;
            } else if (t == PT_STR || t == PT_BIN) {
                uint16_t n = bw_cur_be16(&c);
                if (c.bad) { if (block_here) bad_len = true; break; }
                if (n > cs->props_left - c.off) { bad_len = true; break; }
                if (id == 0x15 && cs->phase == CS_PROPS) {
                    /* the authentication method: its first bytes as the record keeps them */
                    size_t keep = n < BW_FACTS_STR_MAX ? n : BW_FACTS_STR_MAX;
                    struct bw_bytes m = bw_cur_bytes(&c, keep);
                    if (c.bad) break;                      /* wait for them */
                    if (n == keep && !utf8_ok(m)) anomaly(f, BW_MQTT_ANOM_UTF8);
                    pr.str.ptr = m.ptr;
                    pr.str.len = n;                        /* bw_fstr_set copies only what it keeps */
                    take = c.off;
                    skip = (uint32_t)(n - keep);
                } else {
                    take = c.off;
                    skip = n;
                }
            } else {
                if (t == PT_BYTE) pr.num = bw_cur_u8(&c);
                else if (t == PT_U16) pr.num = bw_cur_be16(&c);
                else if (t == PT_U32) pr.num = bw_cur_be32(&c);
                else if (mqtt_varint(&c, &pr.num) != VI_OK) c.bad = true;
                if (c.bad) { if (block_here) bad_len = true; break; }
                take = c.off;
            }
            /* Only user properties and subscription identifiers may repeat (5.0 §2.2.2.2). */
            if (id != 0x26 && id != 0x0B) {
                if (cs->seen_props & ((uint64_t)1 << id)) anomaly(f, BW_MQTT_ANOM_PROPERTY);
                cs->seen_props |= (uint64_t)1 << id;
            }
            if (cs->phase == CS_PROPS) connect_prop(&pr, &cs->has_method, f);
            break;
        }
        case CS_CID: case CS_USER: case CS_WTOPIC: {
            /* Kept strings: their first bytes up to the record's size, the rest skipped. */
            uint16_t n = bw_cur_be16(&c);
            if (c.bad) { if (block_here) bad_len = true; break; }
            if (n > cs->left - 2) { bad_len = true; break; }
            size_t cap = cs->phase == CS_WTOPIC ? BW_FACTS_STR_MAX : BW_FACTS_ID_MAX;
            size_t keep = n < cap ? n : cap;
            struct bw_bytes s = bw_cur_bytes(&c, keep);
            if (c.bad) break;                              /* wait for the kept bytes */
            if (n == keep && !utf8_ok(s)) anomaly(f, BW_MQTT_ANOM_UTF8);
            if (cs->phase == CS_CID) bw_fid_set(&f->client_id, s.ptr, n);
            else if (cs->phase == CS_USER) { bw_fid_set(&f->user, s.ptr, n); cs->user_read = true; }
            else bw_fstr_set(&x->will_topic, s.ptr, n);
            take = c.off;
            skip = (uint32_t)(n - keep);
            break;
        }
        case CS_WPAYLOAD: {
            uint16_t n = bw_cur_be16(&c);
            if (c.bad) { if (block_here) bad_len = true; break; }
            if (n > cs->left - 2) { bad_len = true; break; }
            x->will_payload_len = n;
            take = 2;
            skip = n;                                      /* never buffered */
            break;
        }
        case CS_PASS: {
            uint16_t n = bw_cur_be16(&c);
            if (c.bad) { if (block_here) bad_len = true; break; }
            if (n > cs->left - 2) { bad_len = true; break; }
            /* Its position for the evidence writer (never its bytes); past the bytes at hand,
             * or in an unmasked WebSocket copy, it is recorded as unplaced. */
            mqtt_secret(st, f, c.base + 2, n);
            if (n <= CS_PASS_CHECK) {
                /* Compared in place with the default list, then forgotten: never stored. */
                struct bw_bytes pw = bw_cur_bytes(&c, n);
                if (c.bad) break;                          /* wait for it */
                cs->defcreds = cs->user_read && !f->user.cut &&
                               bw_defcreds_match((const uint8_t *)f->user.s, f->user.len, pw.ptr, pw.len);
                take = c.off;
            } else {
                take = 2;
                skip = n;
            }
            cs->pass_read = true;
            cs->pass_len = n;
            break;
        }
        default: /* CS_END with bytes left */
            anomaly(f, BW_MQTT_ANOM_TRAILING);
            skip = cs->left;
            cs_finish(st, f, false);
            st->d[dir].mode = cs->in_ws ? MODE_WS : MODE_MQTT;
            break;
        }
        if (bad_len) {
            /* A length that runs past its packet or block: the rest cannot be followed. */
            anomaly(f, BW_MQTT_ANOM_LENGTH);
            if (in_props && cs->props_left <= cs->left) {
                take = 0;
                skip = cs->props_left;                     /* lose the block, keep going after it */
            } else {
                take = 0;
                skip = cs->left;
                cs_finish(st, f, false);
                st->d[dir].mode = cs->in_ws ? MODE_WS : MODE_MQTT;
            }
        }
        if (take == 0 && skip == 0 && cs->active) {        /* the step needs bytes not here yet */
            *used = off;
            return BW_PARSE_NEED_MORE;
        }
        /* Charge the step to the packet and, inside properties, to the block. */
        size_t step = take + skip;
        cs->left -= (uint32_t)step;
        if (in_props) {
            cs->props_left -= (uint32_t)step;
            if (cs->props_left == 0) cs->pend_strs = 0;
        }
        if (cs->active && !in_props && !bad_len) cs->phase = cs_next(cs, cs->phase);
        if (cs->active && cs->phase == CS_END && cs->left == 0) {   /* ends here: conclude now */
            cs_finish(st, f, false);
            st->d[dir].mode = cs->in_ws ? MODE_WS : MODE_MQTT;
        }
        if (step > len - off) {                            /* the rest lies ahead: skip it unseen */
            *used = off + step;
            return BW_PARSE_OK;
        }
        off += step;
        if (!cs->active) {
            /* Back to packets: parse the next one now (OK with nothing used would mean "wait"). */
            if (off == 0 && !cs->in_ws) return mqtt_tcp(st, dir, buf, len, used, f);
            *used = off;
            return BW_PARSE_OK;
        }
    }
}

/* ---- CONNACK (§3.2, 5.0 §3.2) ---- */

static const char *reason_v3(int32_t code)
{
    static const char *const names[] = { "accepted", "unacceptable_protocol_version",
        "identifier_rejected", "server_unavailable", "bad_username_or_password", "not_authorized" };
    return code >= 0 && code <= 5 ? names[code] : NULL;
}

static const char *reason_v5(int32_t code)
{
    switch (code) {
    case 0x00: return "success";
    case 0x80: return "unspecified_error";
    case 0x81: return "malformed_packet";
    case 0x82: return "protocol_error";
    case 0x83: return "implementation_specific_error";
    case 0x84: return "unsupported_protocol_version";
    case 0x85: return "client_identifier_not_valid";
    case 0x86: return "bad_user_name_or_password";
    case 0x87: return "not_authorized";
    case 0x88: return "server_unavailable";
    case 0x89: return "server_busy";
    case 0x8A: return "banned";
    case 0x8C: return "bad_authentication_method";
    case 0x90: return "topic_name_invalid";
    case 0x95: return "packet_too_large";
    case 0x97: return "quota_exceeded";
    case 0x99: return "payload_format_invalid";
    case 0x9A: return "retain_not_supported";
    case 0x9B: return "qos_not_supported";
    case 0x9C: return "use_another_server";
    case 0x9D: return "server_moved";
    case 0x9F: return "connection_rate_exceeded";
    default: return NULL;
    }
}

static enum bw_parse mqtt_connack(struct mqtt_state *st, struct bw_cur *b, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    if (st->connack_seen) { anomaly(f, BW_MQTT_ANOM_PROTOCOL); return BW_PARSE_OK; }
    uint8_t ack = bw_cur_u8(b);
    uint8_t code = bw_cur_u8(b);
    if (b->bad) { anomaly(f, BW_MQTT_ANOM_LENGTH); return BW_PARSE_MALFORMED; }
    st->connack_seen = true;
    st->auth_wait = false;
    x->have |= BW_MQTT_HAVE_CONNACK;
    x->session_present = (ack & 1) != 0;
    f->result_code = code;
    if (ack & 0xfe) anomaly(f, BW_MQTT_ANOM_RESERVED_FLAG);    /* §3.2.2.1: bits 7-1 reserved */
    /* The answer's own form says how to read it, whatever the CONNECT's level: a 3.x CONNACK is
     * two bytes with return code 0-5 (3.1.1 §3.2.2.3), what a 3.1/3.1.1-only broker sends to a
     * 5.0 CONNECT (code 1: unacceptable protocol version). A 5.0 code is 0x00 or 0x80 and up,
     * followed by a property length (5.0 §3.2.2.2, §3.2.2.3); a 5.0-only broker may answer a
     * 3.x CONNECT that way (0x84). Without a CONNECT, the property block tells. */
    bool more = bw_cur_left(b) > 0;
    bool v5;
    if (st->level == 5) v5 = more || code > 5;
    else if (st->level != 0) v5 = more && code >= 0x80;
    else v5 = more;
    if (st->level != 0 && v5 != (st->level == 5)) x->have |= BW_MQTT_HAVE_VERSION_MISMATCH;
    f->seen &= ~BW_FACT_ANON_PENDING;
    if (v5) {
        x->have |= BW_MQTT_HAVE_CONNACK_V5;
        if (!more) anomaly(f, BW_MQTT_ANOM_LENGTH);          /* 5.0: the property length is missing */
        if (reason_v5(code) == NULL) anomaly(f, BW_MQTT_ANOM_REASON_CODE);
        if (code < 0x80) f->seen |= BW_FACT_AUTH_OK;
        else if (code == 0x86 || code == 0x87 || code == 0x8C) f->seen |= BW_FACT_AUTH_FAILED;
        else f->seen |= BW_FACT_REFUSED;
        struct mqtt_props p;
        struct mqtt_prop pr;
        if (bw_cur_left(b) && props_open(b, &p, f)) {
            while (props_next(&p, &pr, f)) {
                switch (pr.id) {
                case 0x1F: bw_fstr_set(&x->reason_string, pr.str.ptr, pr.str.len);
                           x->have |= BW_MQTT_HAVE_REASON_STRING; break;
                case 0x12: bw_fstr_set(&x->assigned_client_id, pr.str.ptr, pr.str.len);
                           x->have |= BW_MQTT_HAVE_ASSIGNED_ID; break;
                case 0x13: x->server_keep_alive = (uint16_t)pr.num;
                           x->have |= BW_MQTT_HAVE_SERVER_KEEPALIVE; break;
                case 0x15: bw_fstr_set(&f->mech, pr.str.ptr, pr.str.len); break;
                case 0x11: case 0x16: case 0x1A: case 0x1C: case 0x21: case 0x22: case 0x24:
                case 0x25: case 0x26: case 0x27: case 0x28: case 0x29: case 0x2A: break;
                default: anomaly(f, BW_MQTT_ANOM_PROPERTY); break;
                }
            }
        }
    } else {
        if (code > 5) anomaly(f, BW_MQTT_ANOM_REASON_CODE);
        if (code == 0) f->seen |= BW_FACT_AUTH_OK;
        else if (code == 4 || code == 5) f->seen |= BW_FACT_AUTH_FAILED;
        else f->seen |= BW_FACT_REFUSED;
    }
    if (b->bad) anomaly(f, BW_MQTT_ANOM_LENGTH);
    else if (bw_cur_left(b)) anomaly(f, BW_MQTT_ANOM_TRAILING);
    /* A refusal ends the session (§3.2.2.3): nothing more to learn from the broker. */
    return (f->seen & BW_FACT_AUTH_OK) ? BW_PARSE_OK : BW_PARSE_DONE;
}

/* ---- one packet ---- */

/* Packets whose body teaches something; the rest are skipped by length, never buffered. */
static bool wanted(enum bw_dir dir, uint8_t type)
{
    if (dir == BW_DIR_TOSERVER)
        return type == MQTT_CONNECT || type == MQTT_SUBSCRIBE || type == MQTT_AUTH || type == MQTT_DISCONNECT;
    return type == MQTT_CONNACK || type == MQTT_AUTH || type == MQTT_DISCONNECT;
}

static enum bw_parse mqtt_subscribe(struct mqtt_state *st, struct bw_cur *b, struct bw_facts *f);
static enum bw_parse mqtt_auth(struct mqtt_state *st, enum bw_dir dir, struct bw_cur *b, struct bw_facts *f);
static enum bw_parse mqtt_disconnect(struct mqtt_state *st, enum bw_dir dir, struct bw_cur *b,
                                     struct bw_facts *f);

/* Midstream, a packet whose shape exists only in 5.0 proves the level (5.0 §3.4-§3.15): AUTH, a
 * DISCONNECT with a reason code, a PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK or CONNACK longer than
 * its 3.x form (2 bytes). Anything else is what both families send. */
static bool v5_shape(const struct mqtt_hdr *h)
{
    switch (h->type) {
    case MQTT_AUTH: return true;
    case MQTT_DISCONNECT: return h->rlen > 0;
    case MQTT_CONNACK: case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
    case MQTT_UNSUBACK: return h->rlen > 2;
    default: return false;
    }
}

/* A packet whose header is known; body is its complete window, or NULL when it is skipped. */
static enum bw_parse mqtt_packet(struct mqtt_state *st, enum bw_dir dir, const struct mqtt_hdr *h,
                                 struct bw_cur *body, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    struct mqtt_dir *d = &st->d[dir];
    enum bw_parse r = BW_PARSE_OK;
    x->packets[h->type]++;
    if (!st->connect_seen && st->level == 0 && v5_shape(h)) {
        st->level = 5;                                    /* later packets are read as 5.0 */
        set_version(f, 5);
    }
    if (h->type == 0 || (h->type == MQTT_AUTH && st->level && st->level != 5))
        anomaly(f, BW_MQTT_ANOM_PACKET_TYPE);
    else if (!flags_ok(h->type, h->flags, st->level))
        anomaly(f, h->type == MQTT_PUBLISH ? BW_MQTT_ANOM_QOS : BW_MQTT_ANOM_HEADER_FLAGS);
    /* Packets only one side may send (§2.1.2): a CONNECT from the broker is an error. */
    if ((dir == BW_DIR_TOCLIENT && (h->type == MQTT_CONNECT || h->type == MQTT_SUBSCRIBE ||
                                    h->type == MQTT_UNSUBSCRIBE || h->type == MQTT_PINGREQ)) ||
        (dir == BW_DIR_TOSERVER && (h->type == MQTT_CONNACK || h->type == MQTT_SUBACK ||
                                    h->type == MQTT_UNSUBACK || h->type == MQTT_PINGRESP)))
        anomaly(f, BW_MQTT_ANOM_PROTOCOL);
    if (body) {
        switch (h->type) {
        case MQTT_CONNECT: r = mqtt_connect(st, body, false, f); break;
        case MQTT_CONNACK: r = mqtt_connack(st, body, f); break;
        case MQTT_SUBSCRIBE: r = mqtt_subscribe(st, body, f); break;
        case MQTT_AUTH: r = mqtt_auth(st, dir, body, f); break;
        case MQTT_DISCONNECT: r = mqtt_disconnect(st, dir, body, f); break;
        default: break;
        }
    }
    /* No CONNACK, yet the broker delivers or acknowledges a subscription: it let the client in. */
    if (dir == BW_DIR_TOCLIENT && st->connect_seen && !st->connack_seen &&
        (h->type == MQTT_SUBACK || h->type == MQTT_PUBLISH) &&
        !(f->seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED)))
        f->seen |= BW_FACT_AUTH_OK | BW_FACT_AUTH_INFERRED;
    if (r != BW_PARSE_OK) return r;
    /* Stop following once nothing more is worth learning, so reassembly can stop too; the
     * broker side waits for its answer (or traffic proving one) however long it takes. */
    bool answered = st->connack_seen || (f->seen & BW_FACT_AUTH_INFERRED) || (f->seen & BW_FACT_MIDSTREAM);
    /* A client that authenticated with a method may re-authenticate at any time (5.0 §4.12.1):
     * both sides stay followed (packets are still skipped by length) to see AUTH and its answer. */
    bool reauth = st->level == 5 && st->connect_method;
    if (dir == BW_DIR_TOSERVER) {
        if ((f->seen & BW_FACT_WILDCARD_SUB) && answered && !reauth) return BW_PARSE_DONE;
        if ((st->connect_seen || (f->seen & BW_FACT_MIDSTREAM)) && ++d->after > MQTT_AFTER_MAX && answered &&
            !reauth)
            return BW_PARSE_DONE;
    } else if (answered && ++d->after > MQTT_AFTER_MAX && !reauth) {
        return BW_PARSE_DONE;
    }
    return BW_PARSE_OK;
}

/* Plain-TCP MQTT: frame one packet from buf and handle it. */
static enum bw_parse mqtt_tcp(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                              size_t *used, struct bw_facts *f)
{
    struct mqtt_hdr h;
    *used = 0;
    enum vi v = mqtt_header(buf, len, &h);
    if (v == VI_SHORT) return BW_PARSE_NEED_MORE;
    if (v == VI_BAD) { anomaly(f, BW_MQTT_ANOM_REMAINING_LENGTH); return BW_PARSE_MALFORMED; }
    size_t total = h.hlen + h.rlen;
    /* A CONNECT too big to buffer is streamed through, field by field (mqtt_cstream). */
    if (h.type == MQTT_CONNECT && dir == BW_DIR_TOSERVER && h.rlen > MQTT_PARSE_MAX && !st->connect_seen) {
        enum bw_parse r = mqtt_packet(st, dir, &h, NULL, f);   /* counts it, checks its flags */
        if (r != BW_PARSE_OK) { *used = total; return r; }
        memset(&st->cs, 0, sizeof st->cs);
        st->cs.active = true;
        st->cs.left = h.rlen;
        st->d[dir].mode = MODE_CSTREAM;
        *used = h.hlen;
        return BW_PARSE_OK;
    }
    if (!wanted(dir, h.type) || h.rlen > MQTT_PARSE_MAX) {
        if (wanted(dir, h.type)) anomaly(f, BW_MQTT_ANOM_OVERSIZE);   /* too big to wait for: skip it */
        *used = total;                                   /* may exceed len: the rest is skipped */
        return mqtt_packet(st, dir, &h, NULL, f);
    }
    if (len - h.hlen < h.rlen) return BW_PARSE_NEED_MORE;
    struct bw_cur c = bw_cur_init(buf, len);
    bw_cur_skip(&c, h.hlen);
    struct bw_cur body = bw_cur_sub(&c, h.rlen);
    *used = total;
    return mqtt_packet(st, dir, &h, &body, f);
}

/* ---- SUBSCRIBE (§3.8), AUTH (5.0 §3.15), DISCONNECT (§3.14) ---- */

/* Levels that are all '+' and end with '#' ("#", "+/#", "+/+/#"): every topic name matches. */
static bool filter_all_levels(struct bw_bytes t)
{
    size_t i = 0;
    while (i + 1 < t.len && t.ptr[i] == '+' && t.ptr[i + 1] == '/') i += 2;
    return i + 1 == t.len && t.ptr[i] == '#';
}

enum filter_kind { FILTER_PLAIN, FILTER_SCOPED, FILTER_EVERYTHING };

/* What a topic filter reaches (§4.7, 5.0 §4.8.2). FILTER_EVERYTHING (raises wildcard_subscribe):
 * after a shared-subscription prefix `$share/<group>/` (5.0 §4.8.2; brokers accept it on 3.1.1
 * too) or `$queue/` (EMQX's shared queue), the filter is all-level ("#", "+/#", "+/+/#", or a
 * malformed one starting with "#" or "+/#"), or `$SYS/` followed by an all-level filter (the
 * broker's own statistics: '#' alone never matches `$` topics, §4.7.2). FILTER_SCOPED: another
 * filter with a wildcard (plant/+/temp): a fact. */
static enum filter_kind filter_kind(struct bw_bytes t)
{
    if (t.len > 7 && memcmp(t.ptr, "$share/", 7) == 0) {
        size_t i = 7;
        while (i < t.len && t.ptr[i] != '/') i++;
        if (i > 7 && i < t.len) { t.ptr += i + 1; t.len -= i + 1; }
    } else if (t.len > 7 && memcmp(t.ptr, "$queue/", 7) == 0) {
        t.ptr += 7;
        t.len -= 7;
    }
    if (t.len >= 1 && t.ptr[0] == '#') return FILTER_EVERYTHING;
    if (t.len >= 3 && memcmp(t.ptr, "+/#", 3) == 0) return FILTER_EVERYTHING;
    if (filter_all_levels(t)) return FILTER_EVERYTHING;
    if (t.len > 5 && memcmp(t.ptr, "$SYS/", 5) == 0) {
        struct bw_bytes rest = { t.ptr + 5, t.len - 5 };
        if (filter_all_levels(rest)) return FILTER_EVERYTHING;
    }
    return t.len && (memchr(t.ptr, '+', t.len) || memchr(t.ptr, '#', t.len)) ? FILTER_SCOPED : FILTER_PLAIN;
}

/* Midstream the level is unknown: a SUBSCRIBE is in the 3.x form when its filters alone fill it
 * exactly, none empty, options with bits 2-7 clear (§3.8.3); in the 5.0 form when a property
 * block comes first and the filters fill the rest, options with bits 6-7 clear and a retain
 * handling below 3 (5.0 §3.8.2, §3.8.3.1). */
static bool subscribe_fits(struct bw_cur b, bool v5)
{
    unsigned n = 0;
    (void)bw_cur_be16(&b);
    if (v5) {
        uint32_t pl = 0;
        if (mqtt_varint(&b, &pl) != VI_OK) return false;
        bw_cur_skip(&b, pl);
    }
    while (!b.bad && bw_cur_left(&b) > 0) {
        uint16_t tl = bw_cur_be16(&b);
        struct bw_bytes t = bw_cur_bytes(&b, tl);
        uint8_t opt = bw_cur_u8(&b);
        if (b.bad || t.len == 0 || (opt & 3) == 3) return false;
        if (v5 ? ((opt & 0xC0) || (opt & 0x30) == 0x30) : (opt & 0xFC) != 0) return false;
        n++;
    }
    return !b.bad && n > 0;
}

/* Wildcards must fill a whole level, '#' only last (§4.7.1); an empty filter is invalid. */
static bool filter_ok(struct bw_bytes t)
{
    if (t.len == 0) return false;
    for (size_t i = 0; i < t.len; i++) {
        uint8_t ch = t.ptr[i];
        if (ch != '#' && ch != '+') continue;
        if (i > 0 && t.ptr[i - 1] != '/') return false;
        if (ch == '#' && i + 1 != t.len) return false;
        if (ch == '+' && i + 1 < t.len && t.ptr[i + 1] != '/') return false;
    }
    return true;
}

static enum bw_parse mqtt_subscribe(struct mqtt_state *st, struct bw_cur *b, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    if (!st->connect_seen && st->level == 0 && !subscribe_fits(*b, false) && subscribe_fits(*b, true)) {
        st->level = 5;                                    /* properties before the filters: 5.0 */
        set_version(f, 5);
    }
    (void)bw_cur_be16(b);                                 /* packet identifier */
    if (st->level == 5) {
        struct mqtt_props p;
        struct mqtt_prop pr;
        if (props_open(b, &p, f))
            while (props_next(&p, &pr, f))
                if (pr.id != 0x0B && pr.id != 0x26) anomaly(f, BW_MQTT_ANOM_PROPERTY);
    }
    unsigned n = 0;
    while (!b->bad && bw_cur_left(b) > 0) {
        struct bw_bytes t = read_str(b, f);
        uint8_t opt = bw_cur_u8(b);
        if (b->bad) break;
        n++;
        x->subscriptions++;
        if (!filter_ok(t)) anomaly(f, BW_MQTT_ANOM_TOPIC);
        /* Options: QoS 3 is undefined; 3.x reserves bits 2-7, 5.0 bits 6-7 (§3.8.3.1). */
        if ((opt & 3) == 3) anomaly(f, BW_MQTT_ANOM_QOS);
        if (opt & (st->level == 5 ? 0xC0 : 0xFC)) anomaly(f, BW_MQTT_ANOM_RESERVED_FLAG);
        /* Every filter of the packet counts, the first as much as the last. */
        enum filter_kind k = filter_kind(t);
        if (k == FILTER_EVERYTHING && !(f->seen & BW_FACT_WILDCARD_SUB)) {
            f->seen |= BW_FACT_WILDCARD_SUB;
            bw_fstr_set(&x->wildcard_filter, t.ptr, t.len);
        } else if (k == FILTER_SCOPED && x->scoped_filter.len == 0) {
            bw_fstr_set(&x->scoped_filter, t.ptr, t.len);
        }
    }
    if (b->bad) anomaly(f, BW_MQTT_ANOM_LENGTH);
    if (n == 0) anomaly(f, BW_MQTT_ANOM_PROTOCOL);        /* §3.8.3: at least one filter */
    return BW_PARSE_OK;
}

/* 5.0 §3.15, §4.12: enhanced authentication and re-authentication. A client AUTH waits for the
 * broker's answer: AUTH, CONNACK, or DISCONNECT (0x87 / 0x8C: the authentication failed). */
static enum bw_parse mqtt_auth(struct mqtt_state *st, enum bw_dir dir, struct bw_cur *b, struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    uint8_t code = 0;
    x->have |= BW_MQTT_HAVE_AUTH;
    if (dir == BW_DIR_TOSERVER) {
        x->have |= BW_MQTT_HAVE_CLIENT_AUTH;
        st->auth_wait = true;
        /* Only a client that named a method in its CONNECT may send AUTH (5.0 §4.12). */
        if (st->connect_seen && !st->connect_method) anomaly(f, BW_MQTT_ANOM_PROTOCOL);
    } else {
        st->auth_wait = false;
    }
    if (bw_cur_left(b)) {                                 /* empty = success (5.0 §3.15.2.1) */
        code = bw_cur_u8(b);
        struct mqtt_props p;
        struct mqtt_prop pr;
        if (bw_cur_left(b) && props_open(b, &p, f))
            while (props_next(&p, &pr, f)) {
                if (pr.id == 0x15 && f->mech.len == 0) {
                    bw_fstr_set(&f->mech, pr.str.ptr, pr.str.len);
                } else if (pr.id == 0x15 && st->connect_method && !f->mech.cut &&
                           (pr.str.len != f->mech.len || memcmp(pr.str.ptr, f->mech.s, pr.str.len) != 0)) {
                    anomaly(f, BW_MQTT_ANOM_PROTOCOL);    /* §4.12.1: the CONNECT's method, unchanged */
                } else if (pr.id != 0x15 && pr.id != 0x16 && pr.id != 0x1F && pr.id != 0x26) {
                    anomaly(f, BW_MQTT_ANOM_PROPERTY);
                }
            }
    }
    if (code != 0x00 && code != 0x18 && code != 0x19) anomaly(f, BW_MQTT_ANOM_REASON_CODE);
    x->auth_reason = code;
    if (b->bad) anomaly(f, BW_MQTT_ANOM_LENGTH);
    else if (bw_cur_left(b)) anomaly(f, BW_MQTT_ANOM_TRAILING);
    return BW_PARSE_OK;
}

static enum bw_parse mqtt_disconnect(struct mqtt_state *st, enum bw_dir dir, struct bw_cur *b,
                                     struct bw_facts *f)
{
    struct bw_mqtt_facts *x = ext_of(f);
    uint8_t code = 0;
    x->have |= BW_MQTT_HAVE_DISCONNECT;
    if (st->level == 5 && bw_cur_left(b)) {
        code = bw_cur_u8(b);
        struct mqtt_props p;
        struct mqtt_prop pr;
        if (bw_cur_left(b) && props_open(b, &p, f))
            while (props_next(&p, &pr, f))
                if (pr.id != 0x11 && pr.id != 0x1F && pr.id != 0x26 && pr.id != 0x1C)
                    anomaly(f, BW_MQTT_ANOM_PROPERTY);
    }
    x->disconnect_reason = code;
    if (b->bad) anomaly(f, BW_MQTT_ANOM_LENGTH);
    else if (bw_cur_left(b)) anomaly(f, BW_MQTT_ANOM_TRAILING);   /* 3.x DISCONNECT is empty */
    /* The broker ending the session after the client's AUTH with 0x87 (not authorized) or 0x8C
     * (bad authentication method) is a failed (re-)authentication (5.0 §4.12.1, §3.14.2.1). */
    if (dir == BW_DIR_TOCLIENT && st->auth_wait && (code == 0x87 || code == 0x8C)) {
        f->seen |= BW_FACT_AUTH_FAILED;
        x->have |= BW_MQTT_HAVE_REAUTH_FAILED;
    }
    if (dir == BW_DIR_TOCLIENT) st->auth_wait = false;
    return BW_PARSE_OK;
}

/* ---- midstream plausibility ---- */

enum plaus { PL_NO, PL_YES, PL_SHORT };

/* Could buf start with an MQTT packet of an established session? Type, flags and a length
 * consistent with the type (§2.2, §3.3-§3.14). Text and other protocols fail on the first byte
 * or on an impossible length. *total = header + remaining length. */
static enum plaus plausible(const uint8_t *buf, size_t len, size_t *total)
{
    struct mqtt_hdr h;
    enum vi v = mqtt_header(buf, len, &h);
    if (v == VI_SHORT) return PL_SHORT;
    if (v == VI_BAD) return PL_NO;
    *total = h.hlen + h.rlen;
    struct bw_cur c = bw_cur_init(buf, len);
    bw_cur_skip(&c, h.hlen);
    switch (h.type) {
    case MQTT_PUBLISH: {
        uint8_t qos = (uint8_t)((h.flags >> 1) & 3);
        uint32_t fixed = 2u + (qos ? 2u : 0u);
        if (qos == 3 || h.rlen < fixed) return PL_NO;
        if (bw_cur_left(&c) < 2) return PL_SHORT;
        uint16_t tlen = bw_cur_be16(&c);
        if (tlen > h.rlen - fixed) return PL_NO;          /* the topic must fit in the packet */
        struct bw_bytes t = bw_cur_bytes(&c, tlen < bw_cur_left(&c) ? tlen : bw_cur_left(&c));
        for (size_t i = 0; i < t.len; i++)                /* a topic name carries no wildcard */
            if (t.ptr[i] == '#' || t.ptr[i] == '+' || t.ptr[i] == 0) return PL_NO;
        return PL_YES;
    }
    case MQTT_CONNACK:
        if (h.flags || h.rlen < 2 || h.rlen > 64) return PL_NO;
        if (bw_cur_left(&c) < 1) return PL_SHORT;
        return bw_cur_u8(&c) <= 1 ? PL_YES : PL_NO;      /* acknowledge flags: bit 0 only */
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBCOMP:
        return h.flags == 0 && h.rlen >= 2 && h.rlen <= 64 ? PL_YES : PL_NO;
    case MQTT_PUBREL:
        return h.flags == 2 && h.rlen >= 2 && h.rlen <= 64 ? PL_YES : PL_NO;
    case MQTT_SUBSCRIBE:
        return h.flags == 2 && h.rlen >= 5 && h.rlen <= 65535 ? PL_YES : PL_NO;
    case MQTT_SUBACK:
        return h.flags == 0 && h.rlen >= 3 && h.rlen <= 65535 ? PL_YES : PL_NO;
    case MQTT_UNSUBSCRIBE:
        return h.flags == 2 && h.rlen >= 4 && h.rlen <= 65535 ? PL_YES : PL_NO;
    case MQTT_UNSUBACK:
        return h.flags == 0 && h.rlen >= 2 && h.rlen <= 65535 ? PL_YES : PL_NO;
    case MQTT_PINGREQ: case MQTT_PINGRESP:
        return h.flags == 0 && h.rlen == 0 ? PL_YES : PL_NO;
    case MQTT_DISCONNECT:
        return h.flags == 0 && h.rlen <= 64 ? PL_YES : PL_NO;
    default:
        return PL_NO;                                     /* CONNECT starts a session; 0/AUTH: no */
    }
}

/* Consecutive plausible packets from the start of buf (stops at 3 or at the end of buf). */
static unsigned plausible_run(const uint8_t *buf, size_t len, bool *exact, bool *bad)
{
    unsigned n = 0;
    size_t off = 0;
    *exact = false;
    *bad = false;
    while (n < 3 && off < len) {
        size_t t = 0;
        enum plaus p = plausible(buf + off, len - off, &t);
        if (p == PL_NO) { *bad = true; break; }
        if (p == PL_SHORT) break;
        n++;
        if (t > len - off) break;                         /* runs past the buffer */
        off += t;
        if (off == len) *exact = true;
    }
    return n;
}

/* ---- probe ---- */

static bool ieq(const uint8_t *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z') x = (uint8_t)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (uint8_t)(y + 32);
        if (x != y) return false;
    }
    return true;
}

/* Case-insensitive search of needle in hay. */
static bool icontains(struct bw_bytes hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay.len && i <= hay.len - n; i++)
        if (ieq(hay.ptr + i, needle, n)) return true;
    return false;
}

/* Length of the HTTP head up to and including CRLFCRLF within max bytes, or 0. */
static size_t http_head_len(const uint8_t *buf, size_t len, size_t max)
{
    struct bw_cur c = bw_cur_init(buf, len < max ? len : max);
    struct bw_bytes all = bw_cur_rest(&c);
    for (size_t i = 0; all.len >= 4 && i <= all.len - 4; i++)
        if (memcmp(all.ptr + i, "\r\n\r\n", 4) == 0) return i + 4;
    return 0;
}

/* Value of header `name` (case-insensitive) in an HTTP head; false when absent. */
static bool http_header(struct bw_bytes head, const char *name, struct bw_bytes *val)
{
    size_t n = strlen(name), i = 0;
    while (i < head.len) {
        const uint8_t *eol = memchr(head.ptr + i, '\n', head.len - i);
        size_t end = eol ? (size_t)(eol - head.ptr) : head.len;
        size_t ll = end - i;
        if (ll > n && ieq(head.ptr + i, name, n) && head.ptr[i + n] == ':') {
            val->ptr = head.ptr + i + n + 1;
            val->len = ll - n - 1;
            return true;
        }
        i = end + 1;
    }
    return false;
}

/* An upgrade to WebSocket that names an MQTT subprotocol (MQTT 5.0 §6, 3.1.1 §6). */
static bool http_upgrade_mqtt(struct bw_bytes head)
{
    struct bw_bytes up, proto;
    return http_header(head, "Upgrade", &up) && icontains(up, "websocket") &&
           http_header(head, "Sec-WebSocket-Protocol", &proto) && icontains(proto, "mqtt");
}

/* The start of an HTTP head without its end yet. Real browsers send 2-4 kB of it (cookies,
 * user agent, client hints), over more than one segment: wait for it up to the head limit the
 * upgrade parser accepts while what is here is a GET whose complete header lines are consistent
 * with a WebSocket upgrade. After BW_PROBE_WINDOW bytes, some WebSocket header must have shown
 * (Chromium sends Upgrade early, Firefox Sec-WebSocket-Version): a long plain GET is no upgrade. */
static int probe_partial_upgrade(const uint8_t *buf, size_t len)
{
    if (len >= MQTT_HTTP_MAX) return BW_PROBE_NO;          /* longer than any upgrade we accept */
    const uint8_t *eol = memchr(buf, '\n', len);
    if (!eol) return len < BW_PROBE_WINDOW ? BW_PROBE_MAYBE : BW_PROBE_NO;   /* request line */
    size_t rl = (size_t)(eol - buf);
    struct bw_bytes reqline = { buf, rl };
    if (!icontains(reqline, " HTTP/1.")) return BW_PROBE_NO;
    /* Complete header lines only: a line cut by the segment end says nothing yet. */
    size_t last = rl;                                      /* the last '\n' in buf */
    for (size_t i = len; i > rl + 1; i--)
        if (buf[i - 1] == '\n') { last = i - 1; break; }
    struct bw_bytes lines = { buf + rl + 1, last - rl };  /* header lines, each ending in '\n' */
    struct bw_bytes up;
    if (http_header(lines, "Upgrade", &up) && !icontains(up, "websocket")) return BW_PROBE_NO;
    bool ws = (http_header(lines, "Upgrade", &up)) || icontains(lines, "\nSec-WebSocket-") ||
              (lines.len >= 14 && ieq(lines.ptr, "Sec-WebSocket-", 14));
    if (ws) return BW_PROBE_MAYBE;
    return len < BW_PROBE_WINDOW ? BW_PROBE_MAYBE : BW_PROBE_NO;
}

static int probe_connect(const uint8_t *buf, size_t len)
{
    static const uint8_t v4[] = { 0, 4, 'M', 'Q', 'T', 'T' }, v3[] = { 0, 6, 'M', 'Q', 'I', 's', 'd', 'p' };
    struct bw_cur c = bw_cur_init(buf, len);
    uint32_t rlen = 0;
    if (bw_cur_u8(&c) != 0x10) return BW_PROBE_NO;          /* CONNECT, flags 0 (§3.1.1) */
    enum vi v = mqtt_varint(&c, &rlen);
    if (v == VI_SHORT) return BW_PROBE_MAYBE;
    if (v == VI_BAD || rlen < 10) return BW_PROBE_NO;      /* shortest 3.1.1 CONNECT body */
    struct bw_bytes rest = bw_cur_rest(&c);
    int best = BW_PROBE_NO;
    for (int k = 0; k < 2; k++) {
        const uint8_t *tpl = k ? v3 : v4;
        size_t tl = k ? sizeof v3 : sizeof v4, cmp = rest.len < tl ? rest.len : tl;
        if (memcmp(rest.ptr, tpl, cmp) != 0) continue;
        if (rest.len <= tl) { best = BW_PROBE_MAYBE; continue; }
        uint8_t level = rest.ptr[tl] & 0x7f;             /* bit 7: bridge marker */
        if ((k == 0 && (level == 4 || level == 5)) || (k == 1 && level == 3)) return BW_PROBE_YES;
    }
    return best;
}

/* A broker's first bytes that are exactly one well-formed CONNACK (§3.2; 5.0 §3.2 with a
 * property block that fills it): what a broker says first, and nothing else looks like it. */
static bool connack_exact(const uint8_t *buf, size_t len)
{
    struct mqtt_hdr h;
    struct bw_facts scratch;
    if (mqtt_header(buf, len, &h) != VI_OK || h.flags || h.hlen + h.rlen != len) return false;
    struct bw_cur c = bw_cur_init(buf, len);
    bw_cur_skip(&c, h.hlen);
    uint8_t ack = bw_cur_u8(&c), code = bw_cur_u8(&c);
    if (c.bad || ack > 1) return false;
    if (h.rlen == 2) return code <= 5;
    if (!reason_v5(code)) return false;
    memset(&scratch, 0, sizeof scratch);
    struct mqtt_props p;
    struct mqtt_prop pr;
    if (!props_open(&c, &p, &scratch) || bw_cur_left(&c)) return false;
    while (props_next(&p, &pr, &scratch)) {}
    return bw_cur_left(&p.c) == 0 && scratch.anomalies == 0;
}

static int mqtt_probe(enum bw_dir dir, const uint8_t *buf, size_t len)
{
    if (len == 0) return BW_PROBE_NO;
    if (dir == BW_DIR_TOSERVER && buf[0] == 0x10) return probe_connect(buf, len);
    if (dir == BW_DIR_TOSERVER && buf[0] == 'G') {
        size_t n = len < 4 ? len : 4;
        if (memcmp(buf, "GET ", n) != 0) return BW_PROBE_NO;
        size_t hl = http_head_len(buf, len, MQTT_HTTP_MAX);
        if (hl) {
            struct bw_bytes head = { buf, hl };
            return http_upgrade_mqtt(head) ? BW_PROBE_YES : BW_PROBE_NO;
        }
        return probe_partial_upgrade(buf, len);
    }
    if (dir == BW_DIR_TOCLIENT && buf[0] == 0x20 && connack_exact(buf, len)) return 80;
    bool exact, bad;
    unsigned n = plausible_run(buf, len, &exact, &bad);
    if (bad) return BW_PROBE_NO;
    if (n >= 3 || (n == 2 && exact)) return 80;
    /* Consistent so far (the last packet fills the bytes or runs past them): plausible, never a
     * claim on its own; the parser confirms from both directions before anything is reported. */
    if (n >= 1) return BW_PROBE_MAYBE;
    return len < BW_PROBE_WINDOW ? 30 : BW_PROBE_NO;
}

/* ---- midstream, resynchronisation ---- */

/* Identifier at the start of the variable header of a packet that carries one (§2.3.1). */
static bool packet_id(const uint8_t *buf, size_t len, uint16_t *id)
{
    struct mqtt_hdr h;
    if (mqtt_header(buf, len, &h) != VI_OK) return false;
    struct bw_cur c = bw_cur_init(buf, len);
    bw_cur_skip(&c, h.hlen);
    if (h.type == MQTT_PUBLISH) {
        if (!((h.flags >> 1) & 3)) return false;        /* QoS 0 has none */
        uint16_t tl = bw_cur_be16(&c);
        bw_cur_skip(&c, tl);
    }
    *id = bw_cur_be16(&c);
    return !c.bad;
}

/* The answer a request expects (§4.3, §3.8.4, §3.10.4, §3.12.4): type and identifier. */
static void request_of(const uint8_t *buf, size_t len, uint8_t *want, uint16_t *id)
{
    uint8_t type = (uint8_t)(buf[0] >> 4), qos = (uint8_t)((buf[0] >> 1) & 3);
    *want = 0;
    *id = 0;
    switch (type) {
    case MQTT_PINGREQ: *want = MQTT_PINGRESP; return;
    case MQTT_SUBSCRIBE: *want = MQTT_SUBACK; break;
    case MQTT_UNSUBSCRIBE: *want = MQTT_UNSUBACK; break;
    case MQTT_PUBLISH: *want = qos == 1 ? MQTT_PUBACK : qos == 2 ? MQTT_PUBREC : 0; break;
    case MQTT_PUBREC: *want = MQTT_PUBREL; break;
    case MQTT_PUBREL: *want = MQTT_PUBCOMP; break;
    default: return;
    }
    if (*want && !packet_id(buf, len, id)) *want = 0;
}

static bool answer_id_ok(const uint8_t *buf, size_t len, uint16_t want_id)
{
    uint16_t id = 0;
    if ((buf[0] >> 4) == MQTT_PINGRESP) return true;
    return packet_id(buf, len, &id) && id == want_id;
}

static void confirm_midstream(struct mqtt_state *st, struct bw_facts *f)
{
    f->seen |= BW_FACT_MIDSTREAM | BW_FACT_CONFIRMED;
    /* The CONNECT, hence the level, was missed: the family until a 5.0-only packet proves 5.0. */
    snprintf(f->version, sizeof f->version, "%s", st->level == 5 ? "5.0" : "3.x");
}

static enum bw_parse mqtt_resync(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                                 size_t *used, struct bw_facts *f);

/* No CONNECT seen: follow packets, counting plausible ones (both directions together) until
 * three say this is MQTT. An implausible packet means we are not at a boundary: resync. */
static enum bw_parse mqtt_midstream(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                                    size_t *used, struct bw_facts *f)
{
    struct mqtt_dir *d = &st->d[dir];
    size_t t = 0;
    *used = 0;
    if (!(f->seen & BW_FACT_CONFIRMED)) {
        enum plaus p = plausible(buf, len, &t);
        if (p == PL_SHORT) return BW_PARSE_NEED_MORE;
        if (p == PL_NO) {
            d->mode = MODE_RESYNC;
            d->after = 0;
            st->d[0].plausible = st->d[1].plausible = 0;
            return mqtt_resync(st, dir, buf, len, used, f);
        }
        if (d->plausible < 255) d->plausible++;
        /* Three plausible packets, or one side answering the other's request (PINGREQ then
         * PINGRESP, SUBSCRIBE then SUBACK with its identifier, ...), make it MQTT. */
        uint8_t type = 0;
        uint16_t id = 0;
        request_of(buf, len, &type, &id);
        const struct mqtt_dir *o = &st->d[!dir];
        bool answers = o->want_type && o->want_type == (buf[0] >> 4) && answer_id_ok(buf, len, o->want_id);
        d->want_type = type;
        d->want_id = id;
        if (answers || st->d[0].plausible + st->d[1].plausible >= 3) confirm_midstream(st, f);
    }
    if (f->seen & BW_FACT_CONFIRMED) d->mode = MODE_MQTT;
    return mqtt_tcp(st, dir, buf, len, used, f);
}

/* After a gap: the next plausible packet followed by another (or by the end of the bytes)
 * is taken as a boundary. The scan is bounded; past it the direction is given up. */
static enum bw_parse mqtt_resync(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                                 size_t *used, struct bw_facts *f)
{
    struct mqtt_dir *d = &st->d[dir];
    *used = 0;
    for (size_t off = 0; off < len; off++) {
        if (d->after + off >= MQTT_RESYNC_SCAN) return BW_PARSE_DONE;
        size_t t = 0, t2 = 0;
        enum plaus p = plausible(buf + off, len - off, &t);
        if (p == PL_NO) continue;
        if (p == PL_SHORT || t > len - off) {         /* cannot tell yet: wait here */
            if (len - off >= MQTT_PARSE_MAX) continue;
            d->after += (uint32_t)off;
            *used = off;
            return BW_PARSE_NEED_MORE;
        }
        if (t != len - off) {
            enum plaus p2 = plausible(buf + off + t, len - off - t, &t2);
            if (p2 == PL_NO) continue;
            if (p2 == PL_SHORT && len - off - t < 5) { d->after += (uint32_t)off; *used = off; return BW_PARSE_NEED_MORE; }
        }
        d->after = 0;
        d->mode = (f->seen & BW_FACT_CONFIRMED) ? MODE_MQTT : MODE_MIDSTREAM;
        if (off > 0) { *used = off; return BW_PARSE_OK; }
        /* At a boundary already: parse now (OK with nothing used would mean "wait"). */
        return d->mode == MODE_MQTT ? mqtt_tcp(st, dir, buf, len, used, f)
                                    : mqtt_midstream(st, dir, buf, len, used, f);
    }
    d->after += (uint32_t)len;
    *used = len;
    return d->after >= MQTT_RESYNC_SCAN ? BW_PARSE_DONE : BW_PARSE_OK;
}

static enum bw_parse mqtt_http(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                               size_t *used, struct bw_facts *f);
static enum bw_parse mqtt_ws(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                             size_t *used, struct bw_facts *f);

static enum bw_parse mqtt_parse(void *state, enum bw_dir dir, const uint8_t *buf, size_t len,
                                size_t *used, struct bw_facts *f)
{
    struct mqtt_state *st = state;
    struct mqtt_dir *d = &st->d[dir];
    *used = 0;
    if (len == 0) return BW_PARSE_NEED_MORE;
    if (d->mode == MODE_START) {
        /* The first bytes of a direction say how the session is carried. */
        if (dir == BW_DIR_TOSERVER && buf[0] == 0x10) {
            d->mode = MODE_MQTT;
        } else if (dir == BW_DIR_TOSERVER && buf[0] == 'G') {
            size_t n = len < 4 ? len : 4;
            if (memcmp(buf, "GET ", n) == 0 && n < 4) return BW_PARSE_NEED_MORE;
            d->mode = n == 4 && memcmp(buf, "GET ", 4) == 0 ? MODE_HTTP : MODE_MIDSTREAM;
        } else if (dir == BW_DIR_TOCLIENT && (st->upgrade_seen || st->d[BW_DIR_TOSERVER].mode == MODE_HTTP)) {
            d->mode = MODE_HTTP;
        } else if (dir == BW_DIR_TOCLIENT && (st->connect_seen || st->d[BW_DIR_TOSERVER].mode == MODE_MQTT)) {
            d->mode = MODE_MQTT;
        } else {
            d->mode = (f->seen & BW_FACT_MIDSTREAM) ? MODE_MQTT : MODE_MIDSTREAM;
        }
    }
    switch (d->mode) {
    case MODE_MQTT: return mqtt_tcp(st, dir, buf, len, used, f);
    case MODE_MIDSTREAM: return mqtt_midstream(st, dir, buf, len, used, f);
    case MODE_RESYNC: return mqtt_resync(st, dir, buf, len, used, f);
    case MODE_HTTP: return mqtt_http(st, dir, buf, len, used, f);
    case MODE_WS: return mqtt_ws(st, dir, buf, len, used, f);
    case MODE_CSTREAM: return mqtt_cstream(st, dir, buf, len, used, f);
    default: return BW_PARSE_DONE;
    }
}

static enum bw_parse mqtt_gap(void *state, enum bw_dir dir, struct bw_facts *f)
{
    struct mqtt_state *st = state;
    struct mqtt_dir *d = &st->d[dir];
    /* A streamed CONNECT cut by the hole: conclude from the fields read; the rest is unread. */
    if (dir == BW_DIR_TOSERVER) cs_finish(st, f, true);
    /* Inside WebSocket frames or an HTTP head a lost byte loses the framing: give up. */
    if (d->mode == MODE_HTTP || d->mode == MODE_WS) return BW_PARSE_DONE;
    if (d->mode == MODE_START) return BW_PARSE_OK;       /* nothing followed yet: decide later */
    d->mode = MODE_RESYNC;
    d->after = 0;
    return BW_PARSE_OK;
}

static void mqtt_close(void *state, enum bw_close how, struct bw_facts *f)
{
    struct mqtt_state *st = state;
    cs_finish(st, f, true);                                /* a CONNECT still streaming: conclude */
    /* The broker hung up on a CONNECT without answering (e.g. a level it does not speak). */
    bool server_closed = how == BW_CLOSE_FIN_SERVER_FIRST || how == BW_CLOSE_RST_SERVER;
    /* That is a refusal (3.1.1 §3.1.4, 5.0 §3.1.4): never an acceptance, never anonymous. */
    if (st->connect_seen && !st->connack_seen && !(f->seen & BW_FACT_AUTH_INFERRED) && server_closed) {
        ext_of(f)->have |= BW_MQTT_HAVE_CLOSED_NO_ANSWER;
        if (!(f->seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED))) f->seen |= BW_FACT_REFUSED;
    }
    /* It hung up on a client AUTH without answering it: recorded, not judged (mosquitto does so
     * when the CONNECT named no method, a protocol error of the client's). */
    if (st->auth_wait && server_closed) ext_of(f)->have |= BW_MQTT_HAVE_CLOSED_AFTER_AUTH;
}

/* The start of a CONNECT whose rest will never come (snaplen cut, lost segment, end of capture):
 * what fits still counts. Through its flags (fixed header, protocol name, level, flags) it proves
 * an MQTT session and which credentials crossed the wire; fields captured after them are read as
 * mqtt_connect reads a CONNECT too big to wait for. Marked truncated either way. */
static void mqtt_partial(void *state, enum bw_dir dir, const uint8_t *buf, size_t len, struct bw_facts *f)
{
    struct mqtt_state *st = state;
    struct mqtt_hdr h;
    if (dir != BW_DIR_TOSERVER || st->connect_seen || st->d[dir].mode != MODE_MQTT) return;
    if (mqtt_header(buf, len, &h) != VI_OK || h.type != MQTT_CONNECT || h.flags != 0) return;
    struct bw_cur c = bw_cur_init(buf, len);
    bw_cur_skip(&c, h.hlen);
    size_t have = bw_cur_left(&c) < h.rlen ? bw_cur_left(&c) : h.rlen;
    struct bw_cur body = bw_cur_sub(&c, have);
    struct bw_cur peek = body;
    struct bw_bytes name = read_bin(&peek);
    bw_cur_skip(&peek, 2);               /* level, flags */
    if (peek.bad || !name.ptr) return;   /* the flags were not captured: nothing is proved */
    struct bw_mqtt_facts *x = ext_of(f);
    if (bw_cur_left(&peek) >= 2) {
        if (mqtt_connect(st, &body, true, f) != BW_PARSE_OK) return;
    } else {
        /* Keep-alive cut off too (IPv6 at -s 96): the same checks on what is there. */
        peek = body;
        read_bin(&peek);
        uint8_t raw_level = bw_cur_u8(&peek);
        uint8_t flags = bw_cur_u8(&peek);
        uint8_t level = raw_level & 0x7f;
        bool is_mqtt = name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0;
        bool is_isdp = name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0;
        if ((!is_mqtt && !is_isdp) || level < 3 || level > 5) return;
        st->connect_seen = true;
        st->level = level;
        x->level = level;
        x->connect_flags = flags;
        set_version(f, level);
        f->seen |= BW_FACT_CONFIRMED;
        if (flags & BW_MQTT_CF_USERNAME) f->seen |= BW_FACT_CREDS_USER;
        if (flags & BW_MQTT_CF_PASSWORD) f->seen |= BW_FACT_CREDS_PASS;
        if (flags & (BW_MQTT_CF_USERNAME | BW_MQTT_CF_PASSWORD)) x->have |= BW_MQTT_HAVE_CONNECT_CUT;
        /* 3.x: no user name or password flag is no identity; a 5.0 CONNECT may carry an
         * authentication method in the properties that were not captured. */
        if (!(flags & (BW_MQTT_CF_USERNAME | BW_MQTT_CF_PASSWORD)) && level != 5)
            f->seen |= BW_FACT_ANONYMOUS;
    }
    x->have |= BW_MQTT_HAVE_TRUNCATED;
}

static void mqtt_reset(void *state)
{
    memset(state, 0, sizeof(struct mqtt_state));
}

/* ---- WebSocket (RFC 6455) ---- */

/* The opening handshake (§4.1, §4.2.2): the client's GET with Upgrade, the broker's 101. */
static enum bw_parse mqtt_http(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                               size_t *used, struct bw_facts *f)
{
    size_t hl = http_head_len(buf, len, MQTT_HTTP_MAX);
    *used = 0;
    if (hl == 0) {
        if (len < MQTT_HTTP_MAX) return BW_PARSE_NEED_MORE;
        anomaly(f, BW_MQTT_ANOM_WEBSOCKET);                /* a head this long is not an upgrade */
        return BW_PARSE_DONE;
    }
    struct bw_bytes head = { buf, hl };
    *used = hl;
    if (dir == BW_DIR_TOSERVER) {
        struct bw_bytes up;
        if (!http_header(head, "Upgrade", &up) || !icontains(up, "websocket")) return BW_PARSE_DONE;
        st->upgrade_seen = true;
        f->seen |= BW_FACT_WEBSOCKET;
        /* MQTT over WebSocket names its subprotocol (3.1.1 §6, 5.0 §6). */
        if (!http_upgrade_mqtt(head)) anomaly(f, BW_MQTT_ANOM_WEBSOCKET);
        st->d[dir].mode = MODE_WS;
        return BW_PARSE_OK;
    }
    if (hl < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) return BW_PARSE_DONE;   /* refused */
    st->ws_accepted = true;
    st->d[dir].mode = MODE_WS;
    return BW_PARSE_OK;
}

enum ws_stop { WS_GO, WS_SHORT, WS_CLOSED, WS_BAD };

struct ws_walk { struct mqtt_ws w; size_t off; enum ws_stop stop; };

/* Read the frame header at w->off (§5.2) into w->w. */
static enum ws_stop ws_header(struct ws_walk *w, enum bw_dir dir, const uint8_t *buf, size_t len,
                              struct bw_facts *f)
{
    struct bw_cur c = bw_cur_init(buf, len);
    bw_cur_skip(&c, w->off);
    uint8_t b0 = bw_cur_u8(&c), b1 = bw_cur_u8(&c);
    uint64_t plen = b1 & 0x7f;
    if (plen == 126) plen = bw_cur_be16(&c);
    else if (plen == 127) plen = bw_cur_be64(&c);
    const uint8_t *key = NULL;
    if (b1 & 0x80) bw_cur_take(&c, 4, &key);
    if (c.bad) return WS_SHORT;
    uint8_t op = b0 & 0x0f;
    if (b0 & 0x40) {                                       /* RSV1: permessage-deflate, opaque to us */
        ext_of(f)->have |= BW_MQTT_HAVE_WS_COMPRESSED;
        return WS_BAD;
    }
    /* Clients mask every frame, servers never (§5.1); 63-bit lengths at most (§5.2). */
    if (((b1 & 0x80) != 0) != (dir == BW_DIR_TOSERVER) || (b0 & 0x30) || (plen >> 63))
        anomaly(f, BW_MQTT_ANOM_WEBSOCKET);
    if (op == 8) return WS_CLOSED;
    if (op == 1) anomaly(f, BW_MQTT_ANOM_WEBSOCKET);       /* MQTT travels in binary frames */
    if ((op >= 3 && op <= 7) || op > 10) { anomaly(f, BW_MQTT_ANOM_WEBSOCKET); return WS_BAD; }
    if (op >= 9 && (plen > 125 || !(b0 & 0x80))) anomaly(f, BW_MQTT_ANOM_WEBSOCKET);   /* §5.5 */
    w->off = c.off;
    w->w.frame_left = plen;
    w->w.masked = key != NULL;
    if (key) memcpy(w->w.mask, key, 4);
    w->w.mask_off = 0;
    w->w.control = op >= 9;
    w->w.in_frame = true;
    return WS_GO;
}

/* Copy up to want unmasked payload bytes (out may be NULL: skip them) from the frames at w,
 * crossing frame headers and skipping whole control frames. Stops short when bytes run out.
 * map (with out): where the copied bytes lie on the wire. */
static size_t ws_pull(struct ws_walk *w, enum bw_dir dir, const uint8_t *buf, size_t len, uint8_t *out,
                      size_t want, struct bw_facts *f, struct ws_map *map)
{
    size_t got = 0;
    w->stop = WS_GO;
    if (map) { map->copy = out; map->mapped = 0; map->n = 0; }
    while (got < want) {
        if (w->w.frame_left == 0) {
            struct ws_walk t = *w;
            enum ws_stop r = ws_header(&t, dir, buf, len, f);
            if (r != WS_GO) { w->stop = r; return got; }
            *w = t;
            continue;
        }
        size_t avail = len - w->off;
        if (w->w.control) {                                /* ping/pong: skip when complete */
            if (w->w.frame_left > avail) { w->stop = WS_SHORT; return got; }
            w->off += (size_t)w->w.frame_left;
            w->w.frame_left = 0;
            continue;
        }
        if (avail == 0) { w->stop = WS_SHORT; return got; }
        size_t k = want - got;
        if (k > avail) k = avail;
        if (k > w->w.frame_left) k = (size_t)w->w.frame_left;
        struct bw_cur c = bw_cur_init(buf, len);
        bw_cur_skip(&c, w->off);
        struct bw_bytes p = bw_cur_bytes(&c, k);
        for (size_t i = 0; out && i < p.len; i++)
            out[got + i] = (uint8_t)(p.ptr[i] ^ (w->w.masked ? w->w.mask[(w->w.mask_off + i) & 3] : 0));
        if (map && out && p.len && map->n < WS_MAP_PIECES && map->mapped == got) {
            struct ws_piece *pc = &map->p[map->n++];
            *pc = (struct ws_piece){ .at = got, .len = p.len, .wire = p.ptr, .key_off = w->w.mask_off };
            if (w->w.masked) memcpy(pc->key, w->w.mask, 4);
            map->mapped = got + p.len;
        }
        w->w.mask_off = (uint8_t)((w->w.mask_off + k) & 3);
        w->off += k;
        w->w.frame_left -= k;
        got += k;
    }
    return got;
}

/* MQTT inside WebSocket frames: packets may span frames, frames may hold several packets.
 * A packet we read is gathered (unmasked) once all its frames are here; one we skip is
 * skipped across frames by length, as on TCP. */
static enum bw_parse mqtt_ws(struct mqtt_state *st, enum bw_dir dir, const uint8_t *buf, size_t len,
                             size_t *used, struct bw_facts *f)
{
    uint8_t pkt[MQTT_PARSE_MAX + 5];
    struct ws_map map;
    struct ws_walk w = { st->d[dir].ws, 0, WS_GO };
    enum bw_parse r = BW_PARSE_OK;
    *used = 0;
    for (;;) {
        if (w.w.inner_skip > 0 || (w.w.control && w.w.frame_left > 0)) {
            if (w.w.frame_left == 0) {
                struct ws_walk t = w;
                enum ws_stop s = ws_header(&t, dir, buf, len, f);
                if (s != WS_GO) { w.stop = s; break; }
                w = t;
                continue;
            }
            uint64_t k = w.w.control ? w.w.frame_left
                                     : (w.w.inner_skip < w.w.frame_left ? w.w.inner_skip : w.w.frame_left);
            size_t avail = len - w.off;
            w.w.frame_left -= k;
            if (!w.w.control) w.w.inner_skip -= (uint32_t)k;
            w.w.mask_off = (uint8_t)((w.w.mask_off + k) & 3);
            if (k > avail) {                               /* the rest lies ahead: skip it unseen */
                st->d[dir].ws = w.w;
                *used = w.off + (size_t)k;
                return BW_PARSE_OK;
            }
            w.off += (size_t)k;
            continue;
        }
        if (st->cs.active) {
            /* A CONNECT too big to gather, streamed as on TCP: unmask what the frames hold (its
             * fields need at most a few hundred bytes at a time) and move on by what it used. */
            struct ws_walk t = w;
            size_t want = st->cs.left < MQTT_PARSE_MAX ? st->cs.left : MQTT_PARSE_MAX;
            size_t got = ws_pull(&t, dir, buf, len, pkt, want, f, &map);
            size_t u = 0;
            st->map = &map;
            enum bw_parse cr = got ? mqtt_cstream(st, dir, pkt, got, &u, f) : BW_PARSE_NEED_MORE;
            st->map = NULL;
            if (cr == BW_PARSE_MALFORMED) { r = cr; break; }
            enum ws_stop why = t.stop;
            t = w;
            (void)ws_pull(&t, dir, buf, len, NULL, u < got ? u : got, f, NULL);
            w = t;
            if (u > got) w.w.inner_skip = (uint32_t)(u - got);   /* skipped across frames */
            if (u == 0 && st->cs.active) { w.stop = why == WS_GO ? WS_SHORT : why; break; }
            continue;
        }
        struct ws_walk t = w;
        uint8_t hb[5];
        size_t got = ws_pull(&t, dir, buf, len, hb, sizeof hb, f, NULL);
        struct mqtt_hdr h;
        enum vi v = mqtt_header(hb, got, &h);
        if (v == VI_SHORT) { w.stop = t.stop == WS_GO ? WS_SHORT : t.stop; break; }
        if (v == VI_BAD) { anomaly(f, BW_MQTT_ANOM_REMAINING_LENGTH); r = BW_PARSE_MALFORMED; break; }
        if (h.type == MQTT_CONNECT && dir == BW_DIR_TOSERVER && h.rlen > MQTT_PARSE_MAX && !st->connect_seen) {
            t = w;
            (void)ws_pull(&t, dir, buf, len, NULL, h.hlen, f, NULL);
            w = t;
            r = mqtt_packet(st, dir, &h, NULL, f);          /* counts it, checks its flags */
            if (r != BW_PARSE_OK) break;
            memset(&st->cs, 0, sizeof st->cs);
            st->cs.active = true;
            st->cs.in_ws = true;
            st->cs.left = h.rlen;
            continue;
        }
        if (!wanted(dir, h.type) || h.rlen > MQTT_PARSE_MAX) {
            if (wanted(dir, h.type)) anomaly(f, BW_MQTT_ANOM_OVERSIZE);
            t = w;
            (void)ws_pull(&t, dir, buf, len, NULL, h.hlen, f, NULL);
            w = t;
            w.w.inner_skip = h.rlen;
            r = mqtt_packet(st, dir, &h, NULL, f);
        } else {
            t = w;
            got = ws_pull(&t, dir, buf, len, pkt, h.hlen + h.rlen, f, &map);
            if (got < h.hlen + h.rlen) { w.stop = t.stop; break; }
            w = t;
            struct bw_cur body = bw_cur_init(pkt + h.hlen, h.rlen);
            st->map = &map;
            r = mqtt_packet(st, dir, &h, &body, f);
            st->map = NULL;
        }
        if (r != BW_PARSE_OK) break;
    }
    st->d[dir].ws = w.w;
    *used = w.off;
    if (r != BW_PARSE_OK) return r;
    if (w.stop == WS_CLOSED) return BW_PARSE_DONE;        /* a close frame ends the direction (§5.5.1) */
    if (w.stop == WS_BAD) return BW_PARSE_MALFORMED;
    return *used ? BW_PARSE_OK : BW_PARSE_NEED_MORE;
}

/* ---- facts ---- */

static void mqtt_facts_json(const struct bw_facts *f, struct bw_json *j)
{
    const struct bw_mqtt_facts *x = bw_mqtt_facts_of(f);
    bw_json_bool(j, "websocket", (f->seen & BW_FACT_WEBSOCKET) != 0);
    if (x->have & BW_MQTT_HAVE_CONNECT) {
        bw_json_u64(j, "keep_alive", x->keep_alive);
        bw_json_bool(j, "clean_session", x->clean_session);
    } else {
        bw_json_null(j, "keep_alive");
        bw_json_null(j, "clean_session");
    }
    if (x->will_flag) {
        bw_json_fstr(j, "will_topic", &x->will_topic);
        if (x->have & BW_MQTT_HAVE_CONNECT) bw_json_u64(j, "will_payload_length", x->will_payload_len);
    } else {
        bw_json_null(j, "will_topic");
    }
    if (x->have & BW_MQTT_HAVE_CONNACK) {
        bool v5 = (x->have & BW_MQTT_HAVE_CONNACK_V5) != 0;
        const char *name = v5 ? reason_v5(f->result_code) : reason_v3(f->result_code);
        char hex[8];
        if (!name) {
            snprintf(hex, sizeof hex, "0x%02x", (unsigned)(f->result_code & 0xff));
            name = hex;
        }
        bw_json_obj_open(j, "connack");
        bw_json_i64(j, "return_code", f->result_code);
        bw_json_str(j, "reason", name);
        bw_json_obj_close(j);
        bw_json_bool(j, "session_present", x->session_present);
    }   /* no CONNACK seen: no member (EVE's mqtt.connack is an object, never null) */
    if (f->mech.len) bw_json_fstr(j, "auth_method", &f->mech);
    if (x->have & BW_MQTT_HAVE_SESSION_EXPIRY) bw_json_u64(j, "session_expiry", x->session_expiry);
    if (x->have & BW_MQTT_HAVE_RECEIVE_MAXIMUM) bw_json_u64(j, "receive_maximum", x->receive_maximum);
    if (x->have & BW_MQTT_HAVE_REASON_STRING) bw_json_fstr(j, "reason_string", &x->reason_string);
    if (x->have & BW_MQTT_HAVE_ASSIGNED_ID) bw_json_fstr(j, "assigned_client_id", &x->assigned_client_id);
    if (x->have & BW_MQTT_HAVE_SERVER_KEEPALIVE) bw_json_u64(j, "server_keep_alive", x->server_keep_alive);
    if (x->have & BW_MQTT_HAVE_DISCONNECT) bw_json_u64(j, "disconnect_reason", x->disconnect_reason);
    if (x->have & BW_MQTT_HAVE_AUTH) bw_json_u64(j, "auth_reason", x->auth_reason);
    if (f->seen & BW_FACT_WILDCARD_SUB) bw_json_fstr(j, "wildcard_filter", &x->wildcard_filter);
    if (x->subscriptions) bw_json_u64(j, "subscriptions", x->subscriptions);
    if (x->have & BW_MQTT_HAVE_CONNECT_CUT) bw_json_bool(j, "connect_unread", true);
    if (x->have & BW_MQTT_HAVE_CLOSED_NO_ANSWER) bw_json_bool(j, "closed_without_connack", true);
    if (x->have & BW_MQTT_HAVE_VERSION_MISMATCH) {
        bw_json_obj_open(j, "version_mismatch");
        bw_json_str(j, "client", f->version);
        bw_json_str(j, "server", (x->have & BW_MQTT_HAVE_CONNACK_V5) ? "5.0" : "3.x");
        bw_json_obj_close(j);
    }
    if (x->scoped_filter.len) bw_json_fstr(j, "scoped_wildcard_filter", &x->scoped_filter);
    if (x->have & BW_MQTT_HAVE_CLIENT_AUTH) bw_json_bool(j, "client_auth", true);
    if (x->have & BW_MQTT_HAVE_REAUTH_FAILED) bw_json_bool(j, "reauth_failed", true);
    if (x->have & BW_MQTT_HAVE_CLOSED_AFTER_AUTH) bw_json_bool(j, "closed_after_auth", true);
    if (x->have & BW_MQTT_HAVE_TRUNCATED) bw_json_bool(j, "truncated", true);
}

static const char *const mqtt_anomaly_names[] = {
    "reserved_flag_set", "bad_header_flags", "password_without_username", "invalid_utf8",
    "bad_remaining_length", "length_past_packet", "trailing_bytes", "bad_protocol_name",
    "bad_protocol_level", "unknown_packet_type", "bad_qos", "property_error", "protocol_error",
    "bad_reason_code", "bad_topic", "oversize_packet", "websocket_error", "username_unread", NULL,
};
_Static_assert(sizeof mqtt_anomaly_names / sizeof mqtt_anomaly_names[0] == BW_MQTT_ANOM_COUNT + 1,
               "one name per anomaly bit");

const struct bw_dissector bw_dissector_mqtt = {
    .name = "mqtt", .ports = { 1883, 0 }, .state_size = sizeof(struct mqtt_state),
    .probe = mqtt_probe, .reset = mqtt_reset, .parse = mqtt_parse, .gap = mqtt_gap,
    .partial = mqtt_partial, .close = mqtt_close, .facts_json = mqtt_facts_json, .anomaly_names = mqtt_anomaly_names,
};
