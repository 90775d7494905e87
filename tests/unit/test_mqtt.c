/* test_mqtt.c: the MQTT dissector on byte vectors: CONNECT/CONNACK of 3.1, 3.1.1 and 5.0,
 * SUBSCRIBE, AUTH, DISCONNECT, skipping, malformed input, splits, midstream, probes, WebSocket;
 * answers in another version, passwords alone, filters to everything, re-authentication;
 * CONNECTs too big to buffer (30 kB will payloads, large user properties) streamed through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_mqtt.h"
#include "check.h"

struct vec { uint8_t b[40960]; size_t n; };   /* room for a 30 kB CONNECT */

static void p8(struct vec *v, unsigned x) { v->b[v->n++] = (uint8_t)x; }
static void p16(struct vec *v, unsigned x) { p8(v, x >> 8); p8(v, x & 0xff); }
static void pstr(struct vec *v, const char *s) { size_t n = strlen(s); p16(v, (unsigned)n); memcpy(v->b + v->n, s, n); v->n += n; }
static void praw(struct vec *v, const void *p, size_t n) { memcpy(v->b + v->n, p, n); v->n += n; }
static void pvar(struct vec *v, size_t x) { do { uint8_t d = x & 0x7f; x >>= 7; p8(v, d | (x ? 0x80 : 0)); } while (x); }

/* A packet: fixed header byte, remaining length, body. */
static void packet(struct vec *out, unsigned first, const struct vec *body)
{
    p8(out, first);
    pvar(out, body->n);
    praw(out, body->b, body->n);
}

struct sess { uint8_t st[BW_DISSECTOR_STATE_MAX]; struct bw_facts f; size_t skip[2]; bool done[2]; };

static void sess_init(struct sess *s)
{
    memset(s, 0, sizeof *s);
    bw_facts_init(&s->f);
    bw_dissector_mqtt.reset(s->st);
}

/* Deliver one chunk of a direction the way the stream layer does: unconsumed bytes are kept
 * and offered again with the next chunk, *used > len skips bytes to come. */
struct held { uint8_t b[2][65536]; size_t n[2]; size_t max[2]; };
static struct held H;

static enum bw_parse feed(struct sess *s, enum bw_dir d, const uint8_t *p, size_t n)
{
    enum bw_parse r = BW_PARSE_OK;
    for (size_t i = 0; i < n; i++) {
        if (s->skip[d]) { s->skip[d]--; continue; }
        H.b[d][H.n[d]++] = p[i];
    }
    if (H.n[d] > H.max[d]) H.max[d] = H.n[d];            /* the most ever held: bounded memory */
    while (!s->done[d] && H.n[d] > 0) {
        size_t used = 0;
        r = bw_dissector_mqtt.parse(s->st, d, H.b[d], H.n[d], &used, &s->f);
        if (r == BW_PARSE_DONE || r == BW_PARSE_MALFORMED) { s->done[d] = true; H.n[d] = 0; break; }
        if (used > H.n[d]) { s->skip[d] = used - H.n[d]; used = H.n[d]; }
        memmove(H.b[d], H.b[d] + used, H.n[d] - used);
        H.n[d] -= used;
        if (used == 0) break;
    }
    return r;
}

static void fresh(struct sess *s) { sess_init(s); memset(&H, 0, sizeof H); }

static const struct bw_mqtt_facts *X(const struct sess *s) { return bw_mqtt_facts_of(&s->f); }

/* A kept string (struct bw_fstr or bw_fid) equals want, whole. */
#define fstr_eq(str, want) \
    (!(str)->cut && (str)->len == strlen(want) && memcmp((str)->s, (want), (str)->len) == 0)

/* CONNECT: level 3/4/5, flags, optional props (v5), client id, will, user, password. */
static void connect_pkt(struct vec *out, unsigned level, const char *cid, const char *user, const char *pass,
                        const char *will, const struct vec *props)
{
    struct vec b = { .n = 0 };
    unsigned flags = 0x02 | (user ? 0x80 : 0) | (pass ? 0x40 : 0) | (will ? 0x04 : 0);
    pstr(&b, level == 3 ? "MQIsdp" : "MQTT");
    p8(&b, level);
    p8(&b, flags);
    p16(&b, 60);
    if (level == 5) { pvar(&b, props ? props->n : 0); if (props) praw(&b, props->b, props->n); }
    pstr(&b, cid);
    if (will) { if (level == 5) p8(&b, 0); pstr(&b, will); pstr(&b, "bye"); }
    if (user) pstr(&b, user);
    if (pass) pstr(&b, pass);
    packet(out, 0x10, &b);
}

static void connack_pkt(struct vec *out, unsigned code, const struct vec *props)
{
    struct vec b = { .n = 0 };
    p8(&b, 0);
    p8(&b, code);
    if (props) { pvar(&b, props->n); praw(&b, props->b, props->n); }
    packet(out, 0x20, &b);
}

static void test_connect_versions(void)
{
    static const unsigned levels[] = { 3, 4, 5 };
    static const char *const names[] = { "3.1", "3.1.1", "5.0" };
    for (int i = 0; i < 3; i++) {
        struct sess s;
        struct vec c = { .n = 0 };
        size_t used = 0;
        fresh(&s);
        connect_pkt(&c, levels[i], "cid-1", "alice", "S3cret-Pw!", NULL, NULL);
        CHECK_EQ(bw_dissector_mqtt.parse(s.st, BW_DIR_TOSERVER, c.b, c.n, &used, &s.f), BW_PARSE_OK);
        CHECK_EQ(used, c.n);
        CHECK_STR(s.f.version, names[i]);
        CHECK(s.f.seen & BW_FACT_CONFIRMED);
        CHECK(s.f.seen & BW_FACT_CREDS_USER);
        CHECK(s.f.seen & BW_FACT_CREDS_PASS);
        CHECK(!(s.f.seen & BW_FACT_ANONYMOUS));
        CHECK_EQ(s.f.pass_len, 10);
        CHECK_EQ(s.f.user.len, 5);
        CHECK_MEM(s.f.user.s, "alice", 5);
        CHECK_MEM(s.f.client_id.s, "cid-1", 5);
        CHECK_EQ(s.f.anomalies, 0);
        CHECK_EQ(X(&s)->keep_alive, 60);
        /* the password is nowhere in the facts or the state */
        CHECK(memmem(&s.f, sizeof s.f, "S3cret-Pw!", 10) == NULL);
        CHECK(memmem(s.st, sizeof s.st, "S3cret-Pw!", 10) == NULL);
    }
}

static void test_anonymous_and_connack(void)
{
    struct sess s;
    struct vec c = { .n = 0 }, a = { .n = 0 };
    size_t used = 0;
    fresh(&s);
    connect_pkt(&c, 4, "anon", NULL, NULL, "dead/topic", NULL);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, c.b, c.n), BW_PARSE_OK);
    CHECK(s.f.seen & BW_FACT_ANONYMOUS);
    CHECK(X(&s)->will_flag);
    CHECK_MEM(X(&s)->will_topic.s, "dead/topic", 10);
    connack_pkt(&a, 0, NULL);
    CHECK_EQ(bw_dissector_mqtt.parse(s.st, BW_DIR_TOCLIENT, a.b, a.n, &used, &s.f), BW_PARSE_OK);
    CHECK_EQ(used, 4);
    CHECK(s.f.seen & BW_FACT_AUTH_OK);
    CHECK_EQ(s.f.result_code, 0);

    static const struct { unsigned level, code; uint32_t bit; } cases[] = {
        { 4, 5, BW_FACT_AUTH_FAILED }, { 4, 4, BW_FACT_AUTH_FAILED }, { 4, 2, BW_FACT_REFUSED },
        { 5, 0x87, BW_FACT_AUTH_FAILED }, { 5, 0x86, BW_FACT_AUTH_FAILED }, { 5, 0x8C, BW_FACT_AUTH_FAILED },
        { 5, 0x8A, BW_FACT_REFUSED }, { 5, 0x00, BW_FACT_AUTH_OK },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vec c2 = { .n = 0 }, a2 = { .n = 0 }, props = { .n = 0 };
        fresh(&s);
        connect_pkt(&c2, cases[i].level, "x", "u", "p", NULL, NULL);
        feed(&s, BW_DIR_TOSERVER, c2.b, c2.n);
        if (cases[i].level == 5) { p8(&props, 0x1F); pstr(&props, "go away"); p8(&props, 0x13); p16(&props, 30); }
        connack_pkt(&a2, cases[i].code, cases[i].level == 5 ? &props : NULL);
        enum bw_parse r = bw_dissector_mqtt.parse(s.st, BW_DIR_TOCLIENT, a2.b, a2.n, &used, &s.f);
        CHECK_EQ(r, cases[i].bit == BW_FACT_AUTH_OK ? BW_PARSE_OK : BW_PARSE_DONE);
        CHECK(s.f.seen & cases[i].bit);
        CHECK_EQ(s.f.result_code, (int)cases[i].code);
        if (cases[i].level == 5) {
            CHECK(X(&s)->have & BW_MQTT_HAVE_REASON_STRING);
            CHECK_EQ(X(&s)->server_keep_alive, 30);
        }
        CHECK_EQ(s.f.anomalies, 0);
    }
}

static void test_v5_props_auth(void)
{
    struct sess s;
    struct vec c = { .n = 0 }, props = { .n = 0 }, auth = { .n = 0 }, ab = { .n = 0 };
    fresh(&s);
    p8(&props, 0x11); p16(&props, 0); p16(&props, 3600);        /* session expiry */
    p8(&props, 0x21); p16(&props, 20);                          /* receive maximum */
    p8(&props, 0x15); pstr(&props, "SCRAM-SHA-1");              /* authentication method */
    p8(&props, 0x16); pstr(&props, "n,,n=user,r=abc");          /* authentication data */
    connect_pkt(&c, 5, "v5", NULL, NULL, NULL, &props);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, c.b, c.n), BW_PARSE_OK);
    CHECK(!(s.f.seen & BW_FACT_ANONYMOUS));                     /* an auth method is an identity */
    CHECK_MEM(s.f.mech.s, "SCRAM-SHA-1", 11);
    CHECK_EQ(X(&s)->session_expiry, 3600);
    CHECK_EQ(X(&s)->receive_maximum, 20);
    CHECK_EQ(s.f.anomalies, 0);
    p8(&ab, 0x18); pvar(&ab, 14); p8(&ab, 0x15); pstr(&ab, "SCRAM-SHA-1");
    packet(&auth, 0xF0, &ab);
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, auth.b, auth.n), BW_PARSE_OK);
    CHECK(X(&s)->have & BW_MQTT_HAVE_AUTH);
    CHECK_EQ(X(&s)->auth_reason, 0x18);
    CHECK_EQ(s.f.anomalies, 0);
    struct vec d = { .n = 0 }, db = { .n = 0 };
    p8(&db, 0x8E); p8(&db, 0);
    packet(&d, 0xE0, &db);
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, d.b, d.n), BW_PARSE_OK);
    CHECK_EQ(X(&s)->disconnect_reason, 0x8E);
}

static void test_subscribe_inference_skip(void)
{
    struct sess s;
    struct vec c = { .n = 0 }, sub = { .n = 0 }, sb = { .n = 0 }, pub = { .n = 0 }, suback = { .n = 0 };
    fresh(&s);
    connect_pkt(&c, 4, "sub", NULL, NULL, NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    p16(&sb, 1); pstr(&sb, "a/b"); p8(&sb, 0); pstr(&sb, "$SYS/#"); p8(&sb, 1); pstr(&sb, "#"); p8(&sb, 0);
    packet(&sub, 0x82, &sb);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, sub.b, sub.n), BW_PARSE_OK);
    CHECK(s.f.seen & BW_FACT_WILDCARD_SUB);
    CHECK_EQ(X(&s)->wildcard_filter.len, 6);
    CHECK_EQ(X(&s)->subscriptions, 3);
    /* no CONNACK, but a SUBACK: the broker let the client in */
    p8(&suback, 0x90); p8(&suback, 3); p16(&suback, 1); p8(&suback, 0);
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, suback.b, suback.n), BW_PARSE_OK);
    CHECK((s.f.seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_INFERRED)) == (BW_FACT_AUTH_OK | BW_FACT_AUTH_INFERRED));
    /* a PUBLISH is skipped by its length, without being buffered */
    p8(&pub, 0x30); pvar(&pub, 100000); p16(&pub, 3); praw(&pub, "t/x", 3);
    size_t used = 0;
    CHECK_EQ(bw_dissector_mqtt.parse(s.st, BW_DIR_TOCLIENT, pub.b, pub.n, &used, &s.f), BW_PARSE_OK);
    CHECK_EQ(used, 1 + 3 + 100000);
    CHECK(used > pub.n);
}

static void test_malformed(void)
{
    struct sess s;
    size_t used = 0;
    /* password without user name (3.1.1) */
    struct vec b = { .n = 0 }, c = { .n = 0 };
    fresh(&s);
    pstr(&b, "MQTT"); p8(&b, 4); p8(&b, 0x42 | 0x01); p16(&b, 10); pstr(&b, "id"); pstr(&b, "pw");
    packet(&c, 0x10, &b);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, c.b, c.n), BW_PARSE_OK);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_PASS_NO_USER));
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_RESERVED_FLAG));
    CHECK(s.f.seen & BW_FACT_SPEC_VIOLATION);
    CHECK(s.f.seen & BW_FACT_CREDS_PASS);
    /* 5-byte remaining length */
    static const uint8_t v5[] = { 0x10, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0 };
    fresh(&s);
    CHECK_EQ(bw_dissector_mqtt.parse(s.st, BW_DIR_TOSERVER, v5, sizeof v5, &used, &s.f), BW_PARSE_MALFORMED);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_REMAINING_LENGTH));
    /* invalid UTF-8 in the client id */
    struct vec b2 = { .n = 0 }, c2 = { .n = 0 };
    fresh(&s);
    pstr(&b2, "MQTT"); p8(&b2, 4); p8(&b2, 0x02); p16(&b2, 10); p16(&b2, 2); p8(&b2, 0xC0); p8(&b2, 0x80);
    packet(&c2, 0x10, &b2);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, c2.b, c2.n), BW_PARSE_OK);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_UTF8));
    /* a user name longer than its packet */
    struct vec b3 = { .n = 0 }, c3 = { .n = 0 };
    fresh(&s);
    pstr(&b3, "MQTT"); p8(&b3, 4); p8(&b3, 0x82); p16(&b3, 10); pstr(&b3, "id"); p16(&b3, 500); praw(&b3, "ab", 2);
    packet(&c3, 0x10, &b3);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, c3.b, c3.n), BW_PARSE_OK);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_LENGTH));
    CHECK(s.f.seen & BW_FACT_CREDS_USER);                         /* announced, content unknown */
    CHECK_EQ(s.f.user.len, 0);
}

static void test_default_creds(void)
{
    struct sess s;
    struct vec c = { .n = 0 };
    fresh(&s);
    connect_pkt(&c, 4, "d", "admin", "admin", NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    CHECK(s.f.seen & BW_FACT_DEFAULT_CREDS);
    fresh(&s);
    c.n = 0;
    connect_pkt(&c, 4, "d", "admin", "not-default-9", NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    CHECK(!(s.f.seen & BW_FACT_DEFAULT_CREDS));
    CHECK(memmem(&s.f, sizeof s.f, "not-default-9", 13) == NULL);
    CHECK(memmem(s.st, sizeof s.st, "not-default-9", 13) == NULL);
}

static void test_truncation_and_splits(void)
{
    struct vec c = { .n = 0 }, a = { .n = 0 }, props = { .n = 0 };
    p8(&props, 0x11); p16(&props, 0); p16(&props, 60);
    connect_pkt(&c, 5, "split-id", "bob", "pw-split", "w/t", &props);
    connack_pkt(&a, 0, &props);
    struct sess ref;
    fresh(&ref);
    feed(&ref, BW_DIR_TOSERVER, c.b, c.n);
    for (size_t k = 0; k < c.n; k++) {                     /* every prefix waits, consuming nothing */
        struct sess s;
        size_t used = 99;
        fresh(&s);
        CHECK_EQ(bw_dissector_mqtt.parse(s.st, BW_DIR_TOSERVER, c.b, k, &used, &s.f), BW_PARSE_NEED_MORE);
        CHECK_EQ(used, 0);
    }
    for (size_t k = 1; k < c.n; k++) {                     /* two chunks at every offset */
        struct sess s;
        fresh(&s);
        feed(&s, BW_DIR_TOSERVER, c.b, k);
        feed(&s, BW_DIR_TOSERVER, c.b + k, c.n - k);
        CHECK(memcmp(&s.f, &ref.f, sizeof s.f) == 0);
    }
    struct sess s;
    fresh(&s);
    for (size_t k = 0; k < c.n; k++) feed(&s, BW_DIR_TOSERVER, c.b + k, 1);   /* byte by byte */
    CHECK(memcmp(&s.f, &ref.f, sizeof s.f) == 0);
    for (size_t k = 0; k < a.n; k++) feed(&s, BW_DIR_TOCLIENT, a.b + k, 1);
    CHECK(s.f.seen & BW_FACT_AUTH_OK);
}

static void test_midstream(void)
{
    struct sess s;
    static const uint8_t cli[] = { 0x32, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x01, 0xC0, 0x00 };
    static const uint8_t srv[] = { 0x40, 0x02, 0x00, 0x01, 0xD0, 0x00 };
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, cli, sizeof cli);
    feed(&s, BW_DIR_TOCLIENT, srv, sizeof srv);
    CHECK((s.f.seen & (BW_FACT_MIDSTREAM | BW_FACT_CONFIRMED)) == (BW_FACT_MIDSTREAM | BW_FACT_CONFIRMED));
    CHECK_STR(s.f.version, "3.x");                     /* no 5.0-only shape: the 3.x family */
    CHECK(!(s.f.seen & (BW_FACT_ANONYMOUS | BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK)));
    /* a lone PINGREQ answered by PINGRESP */
    static const uint8_t ping[] = { 0xC0, 0x00 }, pong[] = { 0xD0, 0x00 };
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, ping, 2);
    CHECK(!(s.f.seen & BW_FACT_CONFIRMED));
    feed(&s, BW_DIR_TOCLIENT, pong, 2);
    CHECK(s.f.seen & BW_FACT_MIDSTREAM);
    /* gap: resync on the next packet boundary */
    CHECK_EQ(bw_dissector_mqtt.gap(s.st, BW_DIR_TOSERVER, &s.f), BW_PARSE_OK);
    static const uint8_t junk[] = { 'z', 'q', 0x07, 0xC0, 0x00, 0xC0, 0x00 };
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, junk, sizeof junk), BW_PARSE_OK);
    CHECK_EQ(X(&s)->packets[12], 3);
}

static void test_probes(void)
{
    struct vec c = { .n = 0 };
    connect_pkt(&c, 4, "p", NULL, NULL, NULL, NULL);
    const struct bw_dissector *d = &bw_dissector_mqtt;
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, c.b, c.n), BW_PROBE_YES);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, c.b, 5), BW_PROBE_MAYBE);
    struct vec c3 = { .n = 0 };
    connect_pkt(&c3, 3, "p", NULL, NULL, NULL, NULL);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, c3.b, c3.n), BW_PROBE_YES);
    static const char ws[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)ws, sizeof ws - 1), BW_PROBE_YES);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)ws, 20), BW_PROBE_MAYBE);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)http, sizeof http - 1), BW_PROBE_NO);
    static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, tls, sizeof tls), BW_PROBE_NO);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)"AMQP\0\0\x09\x01", 8), BW_PROBE_NO);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)"SSH-2.0-OpenSSH_9.2\r\n", 21), BW_PROBE_NO);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)"hello world, this is text\n", 26), BW_PROBE_NO);
    static const uint8_t mid[] = { 0xC0, 0x00, 0x40, 0x02, 0x00, 0x01, 0xC0, 0x00 };
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, mid, sizeof mid), 80);
    static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
    CHECK_EQ(d->probe(BW_DIR_TOCLIENT, connack, sizeof connack), 80);
}

/* One masked client frame (RFC 6455 §5.3). */
static void ws_frame(struct vec *out, unsigned op, bool fin, const uint8_t *p, size_t n)
{
    static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    p8(out, (fin ? 0x80 : 0) | op);
    if (n < 126) p8(out, 0x80 | (unsigned)n); else { p8(out, 0x80 | 126); p16(out, (unsigned)n); }
    praw(out, key, 4);
    for (size_t i = 0; i < n; i++) p8(out, p[i] ^ key[i & 3]);
}

static void test_websocket(void)
{
    static const char up[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    struct vec c = { .n = 0 }, fr = { .n = 0 };
    struct sess s;
    fresh(&s);
    connect_pkt(&c, 4, "ws-id", "wsuser", "ws-pass-xyz", NULL, NULL);
    /* the CONNECT in three fragments (binary + 2 continuations), a ping in between */
    ws_frame(&fr, 2, false, c.b, 7);
    ws_frame(&fr, 9, true, (const uint8_t *)"hi", 2);
    ws_frame(&fr, 0, false, c.b + 7, 10);
    ws_frame(&fr, 0, true, c.b + 17, c.n - 17);
    CHECK_EQ(feed(&s, BW_DIR_TOSERVER, (const uint8_t *)up, sizeof up - 1), BW_PARSE_OK);
    CHECK(s.f.seen & BW_FACT_WEBSOCKET);
    for (size_t k = 0; k < fr.n; k++) feed(&s, BW_DIR_TOSERVER, fr.b + k, 1);
    CHECK_STR(s.f.version, "3.1.1");
    CHECK(s.f.seen & BW_FACT_CREDS_PASS);
    CHECK_EQ(s.f.pass_len, 11);
    CHECK_MEM(s.f.user.s, "wsuser", 6);
    CHECK(memmem(&s.f, sizeof s.f, "ws-pass-xyz", 11) == NULL);
    feed(&s, BW_DIR_TOCLIENT, (const uint8_t *)ok, sizeof ok - 1);
    static const uint8_t srv[] = { 0x82, 0x04, 0x20, 0x02, 0x00, 0x00 };
    feed(&s, BW_DIR_TOCLIENT, srv, sizeof srv);
    CHECK(s.f.seen & BW_FACT_AUTH_OK);
    CHECK_EQ(s.f.anomalies, 0);
}

/* A password read inside WebSocket frames is placed on the wire, one position per frame it
 * crosses, each with the mask it went through: unmasked there, the positions hold the password. */
static void test_websocket_secret_position(void)
{
    static const char up[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    static const char pw[] = "ws-pass-xyz";
    const uint32_t isn = 0xfffffff0u;                      /* the stream wraps inside the password */
    for (size_t v = 0; v < 12; v++) {
        size_t tail = 1 + (v % 3) * 5;                      /* the password's last bytes in frame 3 */
        size_t head = 9 + v / 3;                            /* every offset modulo 4 of the mask */
        struct vec c = { .n = 0 }, w = { .n = 0 };
        struct sess s;
        fresh(&s);
        connect_pkt(&c, 4, "ws-id", "wsuser", pw, NULL, NULL);
        praw(&w, (const uint8_t *)up, sizeof up - 1);
        ws_frame(&w, 2, false, c.b, head);
        ws_frame(&w, 9, true, (const uint8_t *)"hi", 2);    /* a ping between two fragments */
        ws_frame(&w, 0, false, c.b + head, c.n - head - tail);
        ws_frame(&w, 0, true, c.b + c.n - tail, tail);
        size_t off = 0;
        while (off < w.n) {                                 /* one parse call per step, as the stream does */
            size_t used = 0;
            s.f.feed = (struct bw_feed){ w.b + off, w.n - off, isn + (uint32_t)off, BW_DIR_TOSERVER };
            enum bw_parse r = bw_dissector_mqtt.parse(s.st, BW_DIR_TOSERVER, w.b + off, w.n - off, &used, &s.f);
            s.f.feed.buf = NULL;
            if (r != BW_PARSE_OK || used == 0) break;
            off += used;
        }
        CHECK_EQ(s.f.pass_len, 11);
        CHECK(!s.f.secret_unplaced);
        CHECK_EQ(s.f.nsecrets, tail == 11 ? 1 : 2);
        char got[32];
        size_t n = 0;
        for (unsigned i = 0; i < s.f.nsecrets && i < BW_FACTS_SECRETS_MAX; i++) {
            const struct bw_secret_pos *p = &s.f.secret[i];
            CHECK_EQ(p->dir, BW_DIR_TOSERVER);
            CHECK(p->key[0] == 0x12 && p->key[1] == 0x34 && p->key[2] == 0x56 && p->key[3] == 0x78);
            for (uint32_t k = 0; k < p->len && n < sizeof got; k++) {
                size_t at = (uint32_t)(p->seq + k - isn);
                CHECK(at < w.n);
                if (at < w.n) got[n++] = (char)(w.b[at] ^ p->key[(p->key_off + k) & 3]);
            }
        }
        CHECK_EQ(n, 11);
        CHECK_MEM(got, pw, 11);
    }
}

/* ---- answers across versions, credentials without a user name, filters, re-authentication,
 * midstream version: byte vectors, each also replayed split at every offset ---- */

#include "dissector_driver.h"
#include "bw_json.h"
#include "bw_verdict.h"

static const struct bw_dissector *const D = &bw_dissector_mqtt;

static void sc_vec(struct script *s, enum bw_dir dir, const struct vec *v) { script_add(s, dir, v->b, v->n); }

static const char *json_of(const struct bw_facts *f, char *out, size_t cap)
{
    struct bw_json j;
    bw_json_init(&j, out, cap);
    bw_json_obj_open(&j, NULL);
    D->facts_json(f, &j);
    bw_json_obj_close(&j);
    return bw_json_finish(&j) ? out : "(json overflow)";
}

static uint32_t kinds_of(const struct bw_facts *f) { return bw_verdict_eval(f, 0, true); }
#define KB(x) BW_KIND_BIT(BW_KIND_##x)

/* A 3.1/3.1.1-only broker answers an MQTT 5.0 CONNECT with a 3.x CONNACK: remaining length 2,
 * no property length. It is read as 3.x whatever the CONNECT's level. */
static void test_connack_version_mismatch(void)
{
    static const struct { uint8_t code; uint32_t bit; const char *reason; } v3[] = {
        { 0, BW_FACT_AUTH_OK, "accepted" },
        { 1, BW_FACT_REFUSED, "unacceptable_protocol_version" },
        { 2, BW_FACT_REFUSED, "identifier_rejected" },
        { 3, BW_FACT_REFUSED, "server_unavailable" },
        { 4, BW_FACT_AUTH_FAILED, "bad_username_or_password" },
        { 5, BW_FACT_AUTH_FAILED, "not_authorized" },
    };
    for (size_t i = 0; i < sizeof v3 / sizeof v3[0]; i++) {
        struct vec c = { .n = 0 };
        struct script sc = { .n = 0 };
        char js[2048], want[96];
        connect_pkt(&c, 5, "bw-v5-client-to-a-3.1.1-only-broker/plant-line1/sensor-0042/firmware-2.4.1/build-77", NULL,
                    NULL, NULL, NULL);
        const uint8_t ack[] = { 0x20, 0x02, 0x00, v3[i].code };
        sc_vec(&sc, BW_DIR_TOSERVER, &c);
        script_add(&sc, BW_DIR_TOCLIENT, ack, sizeof ack);
        struct drv *v = sc_run_with(D, &sc, MSG_MAX, 0);
        const struct bw_mqtt_facts *x = bw_mqtt_facts_of(&v->f);
        CHECK_EQ(v->last[BW_DIR_TOCLIENT], v3[i].code == 0 ? BW_PARSE_OK : BW_PARSE_DONE);
        CHECK_EQ(v->f.result_code, v3[i].code);
        CHECK((v->f.seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED)) == v3[i].bit);
        CHECK(x->have & BW_MQTT_HAVE_VERSION_MISMATCH);
        CHECK(!(x->have & BW_MQTT_HAVE_CONNACK_V5));
        CHECK_EQ(v->f.anomalies, 0);                      /* a legitimate answer (3.1.1 §3.1.2.2) */
        CHECK_STR(v->f.version, "5.0");                   /* what the client spoke */
        CHECK(v->f.seen & BW_FACT_ANONYMOUS);
        /* Refused (1-3) or failed (4-5): never an anonymous session; accepted (0): one. */
        uint32_t k = kinds_of(&v->f);
        CHECK(!(k & KB(ANONYMOUS_SESSION)) == (v3[i].code != 0));
        CHECK(!(k & KB(AUTH_FAILURE)) == (v3[i].code < 4));
        snprintf(want, sizeof want, "\"reason\":\"%s\"", v3[i].reason);
        json_of(&v->f, js, sizeof js);
        CHECK(strstr(js, want) != NULL);
        CHECK(strstr(js, "\"version_mismatch\":{\"client\":\"5.0\",\"server\":\"3.x\"}") != NULL);
        free(v);
        split_sweep_with(D, &sc, "v5 CONNECT, 3.x CONNACK");
        trunc_sweep_with(D, &sc, 1, v3[i].code == 0 ? BW_PARSE_OK : BW_PARSE_DONE);
    }

    /* A 5.0 reason code with no property length after a 5.0 CONNECT: read as 5.0, the missing
     * length an anomaly. */
    struct sess s;
    struct vec c = { .n = 0 };
    fresh(&s);
    connect_pkt(&c, 5, "x", "u", "p", NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    static const uint8_t ack87[] = { 0x20, 0x02, 0x00, 0x87 };
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, ack87, sizeof ack87), BW_PARSE_DONE);
    CHECK(s.f.seen & BW_FACT_AUTH_FAILED);
    CHECK(X(&s)->have & BW_MQTT_HAVE_CONNACK_V5);
    CHECK(!(X(&s)->have & BW_MQTT_HAVE_VERSION_MISMATCH));
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_LENGTH));

    /* The 5.0 answer as it should be: no mismatch, no anomaly. */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    static const uint8_t ack0[] = { 0x20, 0x03, 0x00, 0x00, 0x00 };
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, ack0, sizeof ack0), BW_PARSE_OK);
    CHECK(s.f.seen & BW_FACT_AUTH_OK);
    CHECK(X(&s)->have & BW_MQTT_HAVE_CONNACK_V5);
    CHECK(!(X(&s)->have & BW_MQTT_HAVE_VERSION_MISMATCH));
    CHECK_EQ(s.f.anomalies, 0);

    /* A 5.0-only broker answering a 3.1.1 CONNECT: 0x84 (unsupported protocol version) with a
     * property length. A refusal, read as 5.0. */
    struct vec c4 = { .n = 0 };
    fresh(&s);
    connect_pkt(&c4, 4, "old", NULL, NULL, NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c4.b, c4.n);
    static const uint8_t ack84[] = { 0x20, 0x03, 0x00, 0x84, 0x00 };
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, ack84, sizeof ack84), BW_PARSE_DONE);
    CHECK((s.f.seen & (BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED)) == BW_FACT_REFUSED);
    CHECK(X(&s)->have & BW_MQTT_HAVE_VERSION_MISMATCH);
    CHECK(X(&s)->have & BW_MQTT_HAVE_CONNACK_V5);
    CHECK_EQ(s.f.anomalies, 0);
    CHECK(!(kinds_of(&s.f) & KB(ANONYMOUS_SESSION)));
    char js[2048];
    CHECK(strstr(json_of(&s.f, js, sizeof js), "\"reason\":\"unsupported_protocol_version\"") != NULL);

    /* A 3.1.1 CONNACK with a byte too many stays 3.1.1 (its code is not a 5.0 one). */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c4.b, c4.n);
    static const uint8_t ack3x[] = { 0x20, 0x03, 0x00, 0x00, 0x00 };
    CHECK_EQ(feed(&s, BW_DIR_TOCLIENT, ack3x, sizeof ack3x), BW_PARSE_OK);
    CHECK(!(X(&s)->have & (BW_MQTT_HAVE_VERSION_MISMATCH | BW_MQTT_HAVE_CONNACK_V5)));
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_TRAILING));

    /* The broker hangs up on the CONNECT without a CONNACK: refused, never anonymous. */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    D->close(s.st, BW_CLOSE_FIN_SERVER_FIRST, &s.f);
    CHECK(X(&s)->have & BW_MQTT_HAVE_CLOSED_NO_ANSWER);
    CHECK(s.f.seen & BW_FACT_REFUSED);
    CHECK(!(s.f.seen & BW_FACT_AUTH_OK));
    struct vec ca = { .n = 0 };
    fresh(&s);
    connect_pkt(&ca, 5, "anon", NULL, NULL, NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, ca.b, ca.n);
    D->close(s.st, BW_CLOSE_RST_SERVER, &s.f);
    CHECK(s.f.seen & BW_FACT_REFUSED);
    CHECK(!(kinds_of(&s.f) & KB(ANONYMOUS_SESSION)));
    /* ... but a client that leaves first was not refused */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, ca.b, ca.n);
    D->close(s.st, BW_CLOSE_FIN, &s.f);
    CHECK(!(s.f.seen & BW_FACT_REFUSED));
}

/* MQTT 5.0 allows a password without a user name (token logins): credentials, not anonymous. */
static void test_password_without_user(void)
{
    struct vec c = { .n = 0 }, a = { .n = 0 };
    struct script sc = { .n = 0 };
    connect_pkt(&c, 5, "bw-token-only-client/plant-line1/sensor-0042/fw-2.4", NULL, "eyJhbGciOiJIUzI1NiJ9.token", NULL,
                NULL);
    CHECK_EQ(c.b[9], 0x42);                               /* flags: password, clean start; no user */
    connack_pkt(&a, 0, &(struct vec){ .n = 0 });
    sc_vec(&sc, BW_DIR_TOSERVER, &c);
    sc_vec(&sc, BW_DIR_TOCLIENT, &a);
    struct drv *v = sc_run_with(D, &sc, MSG_MAX, 0);
    CHECK(v->f.seen & BW_FACT_CREDS_PASS);
    CHECK(!(v->f.seen & BW_FACT_CREDS_USER));
    CHECK(!(v->f.seen & BW_FACT_ANONYMOUS));
    CHECK(v->f.seen & BW_FACT_AUTH_OK);
    CHECK_EQ(v->f.pass_len, 26);
    CHECK_EQ(v->f.user.len, 0);
    CHECK_EQ(v->f.anomalies, 0);                          /* allowed in 5.0 */
    uint32_t k = kinds_of(&v->f);
    CHECK(k & KB(CLEARTEXT_CREDENTIALS));
    CHECK(!(k & KB(ANONYMOUS_SESSION)));
    CHECK(memmem(&v->f, sizeof v->f, "eyJhbGciOiJIUzI1NiJ9", 20) == NULL);
    free(v);
    split_sweep_with(D, &sc, "v5 password without user");
    trunc_sweep_with(D, &sc, 0, BW_PARSE_OK);

    /* 3.1.1 forbids it (§3.1.2.9): an anomaly, and still credentials, not anonymous. */
    struct sess s;
    struct vec c4 = { .n = 0 };
    fresh(&s);
    connect_pkt(&c4, 4, "p", NULL, "pw-3x", NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c4.b, c4.n);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_PASS_NO_USER));
    CHECK(!(s.f.seen & BW_FACT_ANONYMOUS));
    CHECK(s.f.seen & BW_FACT_CREDS_PASS);
}

/* SUBSCRIBE with a plain filter first, then `filter`; 5.0 with a subscription identifier. */
static void subscribe_pkt(struct vec *out, unsigned level, const char *filter)
{
    struct vec b = { .n = 0 };
    p16(&b, 7);
    if (level == 5) { p8(&b, 2); p8(&b, 0x0B); p8(&b, 9); }   /* properties: subscription id 9 */
    pstr(&b, "plant/line1/compressor-7/status"); p8(&b, 1);
    pstr(&b, "plant/line2/compressor-8/status"); p8(&b, 0);
    pstr(&b, filter); p8(&b, level == 5 ? 0x2D : 1);          /* 5.0: no-local, RAP, retain 2 */
    packet(out, 0x82, &b);
}

static void test_wildcard_filters(void)
{
    static const struct { const char *filter; int kind; } cases[] = {   /* 2 alerts, 1 scoped, 0 plain */
        { "#", 2 }, { "+/#", 2 }, { "+/+/#", 2 }, { "$SYS/#", 2 }, { "$SYS/+/#", 2 },
        { "$share/ops/#", 2 }, { "$share/ops/+/#", 2 }, { "$share/g/+/+/#", 2 }, { "$share/g/$SYS/#", 2 },
        { "$queue/#", 2 }, { "$queue/+/#", 2 },
        { "plant/+/temp", 1 }, { "plant/#", 1 }, { "+", 1 }, { "+/+", 1 }, { "+/temp", 1 },
        { "$SYS/broker/#", 1 }, { "$share/ops/plant/+/temp", 1 }, { "$queue/plant/#", 1 },
        { "plant/line3/temp", 0 }, { "$share/ops/plant/line1", 0 }, { "$share/g", 0 }, { "$queue/a", 0 },
    };
    static const unsigned levels[] = { 4, 5 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int l = 0; l < 2; l++) {
            struct vec c = { .n = 0 }, a = { .n = 0 }, sub = { .n = 0 };
            struct script sc = { .n = 0 };
            connect_pkt(&c, levels[l], "bw-sub", NULL, NULL, NULL, NULL);
            connack_pkt(&a, 0, levels[l] == 5 ? &(struct vec){ .n = 0 } : NULL);
            subscribe_pkt(&sub, levels[l], cases[i].filter);
            sc_vec(&sc, BW_DIR_TOSERVER, &c);
            sc_vec(&sc, BW_DIR_TOCLIENT, &a);
            sc_vec(&sc, BW_DIR_TOSERVER, &sub);
            struct drv *v = sc_run_with(D, &sc, MSG_MAX, 0);
            const struct bw_mqtt_facts *x = bw_mqtt_facts_of(&v->f);
            size_t n = strlen(cases[i].filter);
            bool alert = (v->f.seen & BW_FACT_WILDCARD_SUB) != 0;
            if (alert != (cases[i].kind == 2))
                fprintf(stderr, "filter %s (level %u): alert %d\n", cases[i].filter, levels[l], alert);
            CHECK(alert == (cases[i].kind == 2));
            CHECK(((kinds_of(&v->f) & KB(WILDCARD_SUBSCRIBE)) != 0) == (cases[i].kind == 2));
            CHECK_EQ(x->subscriptions, 3);
            CHECK_EQ(v->f.anomalies, 0);
            if (cases[i].kind == 2) {
                CHECK_EQ(x->wildcard_filter.len, n);
                CHECK_MEM(x->wildcard_filter.s, cases[i].filter, n);
            }
            if (cases[i].kind == 1) {
                CHECK_EQ(x->scoped_filter.len, n);
                CHECK_MEM(x->scoped_filter.s, cases[i].filter, n);
            } else {
                CHECK_EQ(x->scoped_filter.len, 0);
            }
            free(v);
            if (i == 5) split_sweep_with(D, &sc, "SUBSCRIBE $share third");
        }

    /* After the filter to everything, later scoped ones are still kept as a fact. */
    struct sess s;
    struct vec c = { .n = 0 }, b = { .n = 0 }, sub = { .n = 0 };
    fresh(&s);
    connect_pkt(&c, 4, "two", NULL, NULL, NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    p16(&b, 1); pstr(&b, "$share/g/#"); p8(&b, 0); pstr(&b, "a/+/c"); p8(&b, 0);
    packet(&sub, 0x82, &b);
    feed(&s, BW_DIR_TOSERVER, sub.b, sub.n);
    CHECK(s.f.seen & BW_FACT_WILDCARD_SUB);
    CHECK_MEM(X(&s)->scoped_filter.s, "a/+/c", 5);
    char js[2048];
    json_of(&s.f, js, sizeof js);
    CHECK(strstr(js, "\"wildcard_filter\":\"$share/g/#\"") != NULL);
    CHECK(strstr(js, "\"scoped_wildcard_filter\":\"a/+/c\"") != NULL);
}

/* Enhanced authentication (5.0 §4.12): a CONNECT naming a method, the broker's CONNACK, the
 * client's AUTH 0x19 (re-authenticate), then the broker's answer. */
static void reauth_script(struct script *sc, const uint8_t *answer, size_t n, unsigned traffic)
{
    struct vec c = { .n = 0 }, props = { .n = 0 }, a = { .n = 0 }, ap = { .n = 0 }, au = { .n = 0 }, ab = { .n = 0 };
    p8(&props, 0x15); pstr(&props, "SCRAM-SHA-1");
    p8(&props, 0x16); pstr(&props, "n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL");
    connect_pkt(&c, 5, "bw-reauth-client", NULL, NULL, NULL, &props);
    p8(&ap, 0x15); pstr(&ap, "SCRAM-SHA-1");
    connack_pkt(&a, 0, &ap);
    p8(&ab, 0x19); pvar(&ab, props.n); praw(&ab, props.b, props.n);
    packet(&au, 0xF0, &ab);
    sc_vec(sc, BW_DIR_TOSERVER, &c);
    sc_vec(sc, BW_DIR_TOCLIENT, &a);
    if (traffic) {                                        /* a long-lived session first */
        struct vec pubs = { .n = 0 }, acks = { .n = 0 };
        for (unsigned i = 0; i < traffic; i++) {
            p8(&pubs, 0x30); p8(&pubs, 8); pstr(&pubs, "t/x"); praw(&pubs, "21.5", 4); p8(&pubs, 0);
            p8(&acks, 0x30); p8(&acks, 8); pstr(&acks, "t/x"); praw(&acks, "21.5", 4); p8(&acks, 0);
        }
        sc_vec(sc, BW_DIR_TOSERVER, &pubs);
        sc_vec(sc, BW_DIR_TOCLIENT, &acks);
    }
    sc_vec(sc, BW_DIR_TOSERVER, &au);
    script_add(sc, BW_DIR_TOCLIENT, answer, n);
}

static void test_reauth_failure(void)
{
    static const struct { uint8_t b[8]; size_t n; bool fail; } answers[] = {
        { { 0xE0, 0x02, 0x87, 0x00 }, 4, true },                 /* DISCONNECT not authorized */
        { { 0xE0, 0x01, 0x87 }, 3, true },                       /* ... without properties */
        { { 0xE0, 0x02, 0x8C, 0x00 }, 4, true },                 /* bad authentication method */
        { { 0xE0, 0x05, 0x8C, 0x03, 0x1F, 0x00, 0x00 }, 7, true },   /* ... with a reason string */
        { { 0xE0, 0x02, 0x8E, 0x00 }, 4, false },                /* session taken over */
        { { 0xE0, 0x02, 0x82, 0x00 }, 4, false },                /* protocol error */
        { { 0xE0, 0x02, 0x86, 0x00 }, 4, false },                /* not a DISCONNECT code */
        { { 0xE0, 0x00 }, 2, false },                            /* normal disconnection */
        { { 0xF0, 0x00 }, 2, false },                            /* AUTH success */
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++)
        for (unsigned traffic = 0; traffic <= 40; traffic += 40) {
            struct script sc = { .n = 0 };
            reauth_script(&sc, answers[i].b, answers[i].n, traffic);
            struct drv *v = sc_run_with(D, &sc, MSG_MAX, 0);
            const struct bw_mqtt_facts *x = bw_mqtt_facts_of(&v->f);
            CHECK(x->have & BW_MQTT_HAVE_CLIENT_AUTH);
            CHECK(((v->f.seen & BW_FACT_AUTH_FAILED) != 0) == answers[i].fail);
            CHECK(((x->have & BW_MQTT_HAVE_REAUTH_FAILED) != 0) == answers[i].fail);
            CHECK(v->f.seen & BW_FACT_AUTH_OK);                   /* it was accepted first */
            CHECK(((kinds_of(&v->f) & KB(AUTH_FAILURE)) != 0) == answers[i].fail);
            if (answers[i].b[0] == 0xE0 && answers[i].n > 2) CHECK_EQ(x->disconnect_reason, answers[i].b[2]);
            CHECK_MEM(v->f.mech.s, "SCRAM-SHA-1", 11);
            CHECK(!(v->f.anomalies & ~(1u << BW_MQTT_ANOM_REASON_CODE)));
            free(v);
            if (i == 0 && traffic == 0) split_sweep_with(D, &sc, "re-authentication, DISCONNECT 0x87");
        }

    /* A DISCONNECT 0x87 that answers no AUTH of the client's (a publish it may not make) is not
     * an authentication failure; nor one after the AUTH exchange succeeded. */
    struct sess s;
    struct vec c = { .n = 0 }, props = { .n = 0 }, a = { .n = 0 };
    static const uint8_t d87[] = { 0xE0, 0x02, 0x87, 0x00 }, auth_cli[] = { 0xF0, 0x02, 0x19, 0x00 },
                         auth_ok[] = { 0xF0, 0x00 }, auth_cont[] = { 0xF0, 0x02, 0x18, 0x00 },
                         auth_cont_cli[] = { 0xF0, 0x02, 0x18, 0x00 };
    p8(&props, 0x15); pstr(&props, "SCRAM-SHA-1");
    connect_pkt(&c, 5, "m", NULL, NULL, NULL, &props);
    connack_pkt(&a, 0, &(struct vec){ .n = 0 });
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    feed(&s, BW_DIR_TOCLIENT, a.b, a.n);
    feed(&s, BW_DIR_TOCLIENT, d87, sizeof d87);
    CHECK(!(s.f.seen & BW_FACT_AUTH_FAILED));
    CHECK_EQ(X(&s)->disconnect_reason, 0x87);
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    feed(&s, BW_DIR_TOCLIENT, a.b, a.n);
    feed(&s, BW_DIR_TOSERVER, auth_cli, sizeof auth_cli);
    feed(&s, BW_DIR_TOCLIENT, auth_ok, sizeof auth_ok);
    feed(&s, BW_DIR_TOCLIENT, d87, sizeof d87);
    CHECK(!(s.f.seen & BW_FACT_AUTH_FAILED));
    /* a longer exchange: AUTH continue both ways, then 0x87 answering the client's last AUTH */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    feed(&s, BW_DIR_TOCLIENT, a.b, a.n);
    feed(&s, BW_DIR_TOSERVER, auth_cli, sizeof auth_cli);
    feed(&s, BW_DIR_TOCLIENT, auth_cont, sizeof auth_cont);
    feed(&s, BW_DIR_TOSERVER, auth_cont_cli, sizeof auth_cont_cli);
    feed(&s, BW_DIR_TOCLIENT, d87, sizeof d87);
    CHECK(s.f.seen & BW_FACT_AUTH_FAILED);
    CHECK_EQ(s.f.anomalies, 0);

    /* AUTH from a client whose CONNECT named no method: its protocol error (5.0 §4.12); a
     * broker that hangs up on it is recorded, not judged. */
    struct vec c0 = { .n = 0 };
    fresh(&s);
    connect_pkt(&c0, 5, "nomethod", NULL, NULL, NULL, NULL);
    feed(&s, BW_DIR_TOSERVER, c0.b, c0.n);
    feed(&s, BW_DIR_TOCLIENT, a.b, a.n);
    feed(&s, BW_DIR_TOSERVER, auth_cli, sizeof auth_cli);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_PROTOCOL));
    D->close(s.st, BW_CLOSE_FIN_SERVER_FIRST, &s.f);
    CHECK(X(&s)->have & BW_MQTT_HAVE_CLOSED_AFTER_AUTH);
    CHECK(!(s.f.seen & (BW_FACT_AUTH_FAILED | BW_FACT_REFUSED)));
    CHECK(!(X(&s)->have & BW_MQTT_HAVE_CLOSED_NO_ANSWER));
    /* a re-authentication naming another method than the CONNECT's */
    static const uint8_t auth_other[] = { 0xF0, 0x0A, 0x19, 0x08, 0x15, 0x00, 0x05, 'O', 'T', 'H', 'E', 'R' };
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    feed(&s, BW_DIR_TOCLIENT, a.b, a.n);
    feed(&s, BW_DIR_TOSERVER, auth_other, sizeof auth_other);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_PROTOCOL));
}

/* Midstream: "3.x" until a packet only 5.0 has proves "5.0". */
static void test_midstream_version(void)
{
    static const uint8_t ping[] = { 0xC0, 0x00 }, pong[] = { 0xD0, 0x00 };
    static const struct { uint8_t b[8]; size_t n; enum bw_dir dir; const char *v; } cases[] = {
        { { 0x40, 0x02, 0x00, 0x01 }, 4, BW_DIR_TOCLIENT, "3.x" },              /* PUBACK, 3.x form */
        { { 0x40, 0x03, 0x00, 0x01, 0x10 }, 5, BW_DIR_TOCLIENT, "5.0" },        /* PUBACK + reason code */
        { { 0x50, 0x04, 0x00, 0x02, 0x00, 0x00 }, 6, BW_DIR_TOSERVER, "5.0" },  /* PUBREC + reason + props */
        { { 0xB0, 0x04, 0x00, 0x03, 0x00, 0x00 }, 6, BW_DIR_TOCLIENT, "5.0" },  /* UNSUBACK + props, code */
        { { 0xE0, 0x01, 0x04 }, 3, BW_DIR_TOSERVER, "5.0" },                    /* DISCONNECT with will */
        { { 0xE0, 0x00 }, 2, BW_DIR_TOSERVER, "3.x" },                          /* bare DISCONNECT */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct script sc = { .n = 0 };
        script_add(&sc, BW_DIR_TOSERVER, ping, 2);
        script_add(&sc, BW_DIR_TOCLIENT, pong, 2);
        script_add(&sc, cases[i].dir, cases[i].b, cases[i].n);
        struct drv *v = sc_run_with(D, &sc, MSG_MAX, 0);
        CHECK(v->f.seen & BW_FACT_MIDSTREAM);
        CHECK_STR(v->f.version, cases[i].v);
        free(v);
    }
    /* The proof may come first, before the session is confirmed. */
    struct sess s;
    static const uint8_t puback5[] = { 0x40, 0x03, 0x00, 0x01, 0x00 };
    fresh(&s);
    feed(&s, BW_DIR_TOCLIENT, puback5, sizeof puback5);
    feed(&s, BW_DIR_TOSERVER, ping, 2);
    feed(&s, BW_DIR_TOCLIENT, pong, 2);
    CHECK(s.f.seen & BW_FACT_MIDSTREAM);
    CHECK_STR(s.f.version, "5.0");
    CHECK_EQ(X(&s)->level, 0);                            /* the CONNECT's level stays unknown */
    /* A SUBSCRIBE that fits neither form proves nothing. */
    static const uint8_t badsub[] = { 0x82, 0x06, 0x00, 0x07, 0x00, 0x09, 'a', '/', 'b' }, junk[] = { 0xC0, 0x00 };
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, ping, 2);
    feed(&s, BW_DIR_TOCLIENT, pong, 2);
    feed(&s, BW_DIR_TOSERVER, badsub, sizeof badsub);
    feed(&s, BW_DIR_TOSERVER, junk, sizeof junk);
    CHECK_STR(s.f.version, "3.x");
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_LENGTH));

    /* A midstream SUBSCRIBE: its form tells 5.0 (properties first) from 3.x, and either way a
     * filter to everything raises the alert. */
    for (int l = 0; l < 2; l++) {
        struct vec sub = { .n = 0 };
        struct script sc = { .n = 0 };
        static const uint8_t suback[] = { 0x90, 0x06, 0x00, 0x07, 0x00, 0x01, 0x00, 0x01 },
                             suback3[] = { 0x90, 0x05, 0x00, 0x07, 0x01, 0x00, 0x01 };
        subscribe_pkt(&sub, l ? 5 : 4, "$share/ops/#");
        script_add(&sc, BW_DIR_TOSERVER, ping, 2);
        script_add(&sc, BW_DIR_TOCLIENT, pong, 2);
        sc_vec(&sc, BW_DIR_TOSERVER, &sub);
        if (l) script_add(&sc, BW_DIR_TOCLIENT, suback, sizeof suback);
        else script_add(&sc, BW_DIR_TOCLIENT, suback3, sizeof suback3);
        struct drv *v = sc_run_with(D, &sc, MSG_MAX, 0);
        CHECK_STR(v->f.version, l ? "5.0" : "3.x");
        CHECK(v->f.seen & BW_FACT_WILDCARD_SUB);
        CHECK_MEM(bw_mqtt_facts_of(&v->f)->wildcard_filter.s, "$share/ops/#", 12);
        CHECK_EQ(bw_mqtt_facts_of(&v->f)->subscriptions, 3);
        free(v);
        split_sweep_with(D, &sc, l ? "midstream 5.0 SUBSCRIBE" : "midstream 3.x SUBSCRIBE");
    }
}

/* A CONNECT with everything large: v5 properties (session expiry, authentication method
 * optional, a user property of prop_kb kB), a client id, a will with will_kb kB of payload, then
 * the user name and password the sensor must still read. */
static void big_connect(struct vec *out, unsigned level, size_t prop_kb, size_t will_kb, const char *cid,
                        const char *user, const char *pass, const char *method)
{
    static struct vec b;
    b.n = 0;
    unsigned flags = 0x02 | 0x04 | 0x08 | (user ? 0x80 : 0) | (pass ? 0x40 : 0);   /* will QoS 1 */
    pstr(&b, "MQTT");
    p8(&b, level);
    p8(&b, flags);
    p16(&b, 30);
    if (level == 5) {
        static struct vec pr;
        pr.n = 0;
        p8(&pr, 0x11); p16(&pr, 0); p16(&pr, 120);             /* session expiry 120 */
        if (method) { p8(&pr, 0x15); pstr(&pr, method); }
        if (prop_kb) {                                         /* user property: key, big value */
            p8(&pr, 0x26); pstr(&pr, "note");
            p16(&pr, (unsigned)(prop_kb * 1024));
            for (size_t i = 0; i < prop_kb * 1024; i++) p8(&pr, 'a' + i % 26);
        }
        p8(&pr, 0x21); p16(&pr, 20);                           /* receive maximum, after it */
        pvar(&b, pr.n);
        praw(&b, pr.b, pr.n);
    }
    pstr(&b, cid);
    if (level == 5) {                                          /* will properties: a user property */
        static struct vec wp;
        wp.n = 0;
        p8(&wp, 0x26); pstr(&wp, "k"); pstr(&wp, "v");
        p8(&wp, 0x01); p8(&wp, 1);                             /* payload format: UTF-8 */
        pvar(&b, wp.n);
        praw(&b, wp.b, wp.n);
    }
    pstr(&b, "devices/last-will");
    p16(&b, (unsigned)(will_kb * 1024));
    for (size_t i = 0; i < will_kb * 1024; i++) p8(&b, '0' + i % 10);
    if (user) pstr(&b, user);
    if (pass) pstr(&b, pass);
    packet(out, 0x10, &b);
}

static const char azure_user[] = "contoso-hub.azure-devices.net/thermostat-0042/?api-version=2021-04-12";

/* The facts of one big CONNECT do not depend on how its bytes were cut, and nothing of it is
 * buffered beyond one field. */
static void check_splits(const struct vec *c, const struct sess *ref)
{
    for (size_t k = 1; k < c->n; k += (k < 700 || k > c->n - 700) ? 1 : 37) {   /* two chunks */
        static struct sess s;
        fresh(&s);
        feed(&s, BW_DIR_TOSERVER, c->b, k);
        feed(&s, BW_DIR_TOSERVER, c->b + k, c->n - k);
        CHECK(memcmp(&s.f, &ref->f, sizeof s.f) == 0);
        if (memcmp(&s.f, &ref->f, sizeof s.f) != 0) { fprintf(stderr, "  split at %zu\n", k); break; }
    }
    static struct sess s;
    fresh(&s);
    for (size_t k = 0; k < c->n; k += 1448)                    /* segments of a 1500-byte MTU */
        feed(&s, BW_DIR_TOSERVER, c->b + k, c->n - k < 1448 ? c->n - k : 1448);
    CHECK(memcmp(&s.f, &ref->f, sizeof s.f) == 0);
    CHECK(H.max[BW_DIR_TOSERVER] <= 1448 + 300);              /* never more than a field held */
    fresh(&s);
    for (size_t k = 0; k < c->n; k++) feed(&s, BW_DIR_TOSERVER, c->b + k, 1);   /* byte by byte */
    CHECK(memcmp(&s.f, &ref->f, sizeof s.f) == 0);
    CHECK(H.max[BW_DIR_TOSERVER] <= 300);
}

static void test_big_connect(void)
{
    static struct vec c, a;
    static struct sess ref;
    /* 3.1.1, a 28 kB will payload, then the Azure-style user name and its token */
    c.n = 0;
    big_connect(&c, 4, 0, 28, "thermostat-0042", azure_user, "SharedAccessSignature sr=x&sig=y", NULL);
    CHECK(c.n > 28 * 1024);
    fresh(&ref);
    CHECK_EQ(feed(&ref, BW_DIR_TOSERVER, c.b, c.n), BW_PARSE_OK);
    CHECK_STR(ref.f.version, "3.1.1");
    CHECK(fstr_eq(&ref.f.user, azure_user));
    CHECK(!ref.f.user.cut && !ref.f.user.unread);
    CHECK(fstr_eq(&ref.f.client_id, "thermostat-0042"));
    CHECK(ref.f.seen & BW_FACT_CREDS_USER);
    CHECK(ref.f.seen & BW_FACT_CREDS_PASS);
    CHECK(!(ref.f.seen & BW_FACT_ANONYMOUS));
    CHECK_EQ(ref.f.pass_len, 32);
    CHECK_EQ(X(&ref)->will_payload_len, 28 * 1024);
    CHECK(fstr_eq(&X(&ref)->will_topic, "devices/last-will"));
    CHECK(!(X(&ref)->have & BW_MQTT_HAVE_CONNECT_CUT));
    CHECK_EQ(ref.f.anomalies, 0);                              /* no oversize_packet: it was read */
    CHECK(memmem(&ref.f, sizeof ref.f, "SharedAccess", 12) == NULL);
    check_splits(&c, &ref);
    /* the packet after it is read as usual: a SUBSCRIBE to everything */
    static const uint8_t sub[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, '#', 0x00 };
    feed(&ref, BW_DIR_TOSERVER, sub, sizeof sub);
    CHECK(ref.f.seen & BW_FACT_WILDCARD_SUB);
    a.n = 0;
    connack_pkt(&a, 0, NULL);
    feed(&ref, BW_DIR_TOCLIENT, a.b, a.n);
    CHECK(ref.f.seen & BW_FACT_AUTH_OK);

    /* 5.0, a 9 kB user property, an authentication method, a 20 kB will, a 300-byte user name:
     * the first 256 bytes kept, cut said; default credentials still compared */
    char longuser[301];
    for (int i = 0; i < 300; i++) longuser[i] = (char)('a' + i % 26);
    longuser[300] = '\0';
    c.n = 0;
    big_connect(&c, 5, 9, 20, "cid-5", longuser, "pw", "SCRAM-SHA-256");
    fresh(&ref);
    feed(&ref, BW_DIR_TOSERVER, c.b, c.n);
    CHECK_STR(ref.f.version, "5.0");
    CHECK_EQ(ref.f.user.len, 256);
    CHECK(ref.f.user.cut && !ref.f.user.unread);
    CHECK_MEM(ref.f.user.s, longuser, 256);
    CHECK(fstr_eq(&ref.f.mech, "SCRAM-SHA-256"));
    CHECK_EQ(X(&ref)->session_expiry, 120);
    CHECK_EQ(X(&ref)->receive_maximum, 20);                    /* read after the big property */
    CHECK_EQ(X(&ref)->will_payload_len, 20 * 1024);
    CHECK_EQ(ref.f.pass_len, 2);
    CHECK_EQ(ref.f.anomalies, 0);
    check_splits(&c, &ref);

    /* default credentials behind a big will */
    c.n = 0;
    big_connect(&c, 4, 0, 25, "d", "admin", "public", NULL);
    fresh(&ref);
    feed(&ref, BW_DIR_TOSERVER, c.b, c.n);
    CHECK(ref.f.seen & BW_FACT_DEFAULT_CREDS);
    CHECK(memmem(&ref.f, sizeof ref.f, "public", 6) == NULL);

    /* cut off inside the will payload: the user name was announced, never read: unread, with
     * the anomaly; the password is present, its length unknown */
    static struct sess s;
    c.n = 0;
    big_connect(&c, 4, 0, 28, "thermostat-0042", azure_user, "pw", NULL);
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, 20000);
    bw_dissector_mqtt.gap(s.st, BW_DIR_TOSERVER, &s.f);
    CHECK(s.f.seen & BW_FACT_CREDS_USER);
    CHECK(s.f.user.unread && s.f.user.len == 0);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_USER_UNREAD));
    CHECK(s.f.seen & BW_FACT_CREDS_PASS);
    CHECK(X(&s)->have & BW_MQTT_HAVE_CONNECT_CUT);
    CHECK(!(s.f.seen & BW_FACT_ANONYMOUS));
    /* ... the same when the session ends there */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, 20000);
    bw_dissector_mqtt.close(s.st, BW_CLOSE_END, &s.f);
    CHECK(s.f.user.unread && (s.f.anomalies & (1u << BW_MQTT_ANOM_USER_UNREAD)));

    /* a will payload length that runs past the packet: a length anomaly, the user name unread */
    c.n = 0;
    big_connect(&c, 4, 0, 10, "x", "u", NULL, NULL);
    size_t wl = 2 + 1 + 1 + 2 + 4 + 1 + 1 + 2 + 2 + 1 + 2 + 17;   /* header .. will topic */
    c.b[wl] = 0xff; c.b[wl + 1] = 0xff;                         /* will payload: 65535 bytes */
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, c.b, c.n);
    CHECK(s.f.anomalies & (1u << BW_MQTT_ANOM_LENGTH));
    CHECK(s.f.user.unread);
    /* a user name of 256 bytes in a small CONNECT is whole, a longer one cut with the flag */
    static struct vec small;
    small.n = 0;
    longuser[256] = '\0';
    connect_pkt(&small, 4, "c", longuser, NULL, NULL, NULL);
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, small.b, small.n);
    CHECK(s.f.user.len == 256 && !s.f.user.cut);
}

/* A browser's upgrade: Chromium's header order, a 2.5 kB cookie, client hints; firefox puts
 * Sec-WebSocket-Version early and Upgrade last, after its cookie. */
static size_t browser_upgrade(char *out, size_t cap, bool firefox, size_t cookie)
{
    char ck[4096];
    for (size_t i = 0; i < cookie; i++) ck[i] = (char)('A' + i % 26);
    ck[cookie] = '\0';
    int n;
    if (!firefox)
        n = snprintf(out, cap, "GET /mqtt HTTP/1.1\r\nHost: 10.0.0.2:9001\r\nConnection: Upgrade\r\n"
                     "Pragma: no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
                     "AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.224 Safari/537.36\r\n"
                     "Upgrade: websocket\r\nOrigin: http://10.0.0.2:8080\r\nSec-WebSocket-Version: 13\r\n"
                     "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
                     "Cookie: session=%s\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                     "Sec-WebSocket-Protocol: mqtt\r\n\r\n", ck);
    else
        n = snprintf(out, cap, "GET /mqtt HTTP/1.1\r\nHost: 10.0.0.2:9001\r\nUser-Agent: Mozilla/5.0 (X11; "
                     "Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0\r\nAccept: */*\r\n"
                     "Sec-WebSocket-Version: 13\r\nOrigin: http://10.0.0.2:8080\r\nSec-WebSocket-Protocol: mqtt\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: keep-alive, Upgrade\r\n"
                     "Cookie: session=%s\r\nPragma: no-cache\r\nUpgrade: websocket\r\n\r\n", ck);
    return (size_t)n;
}

/* The same large CONNECT inside WebSocket frames of frame_len bytes (a ping after the first). */
static void ws_frames(struct vec *out, const struct vec *c, size_t frame_len)
{
    for (size_t k = 0; k < c->n; k += frame_len) {
        size_t n = c->n - k < frame_len ? c->n - k : frame_len;
        ws_frame(out, k == 0 ? 2 : 0, k + n == c->n, c->b + k, n);
        if (k == 0) ws_frame(out, 9, true, (const uint8_t *)"hi", 2);
    }
}

static void test_websocket_big_connect(void)
{
    static const char up[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    static struct vec c, fr;
    static struct sess ref, s;
    c.n = fr.n = 0;
    big_connect(&c, 5, 3, 26, "ws-big", azure_user, "tok-ws", "SCRAM-SHA-1");
    ws_frames(&fr, &c, 4000);
    fresh(&ref);
    feed(&ref, BW_DIR_TOSERVER, (const uint8_t *)up, sizeof up - 1);
    feed(&ref, BW_DIR_TOSERVER, fr.b, fr.n);
    CHECK(ref.f.seen & BW_FACT_WEBSOCKET);
    CHECK(fstr_eq(&ref.f.user, azure_user));
    CHECK(fstr_eq(&ref.f.mech, "SCRAM-SHA-1"));
    CHECK_EQ(ref.f.pass_len, 6);
    CHECK_EQ(X(&ref)->will_payload_len, 26 * 1024);
    CHECK_EQ(X(&ref)->receive_maximum, 20);
    CHECK_EQ(ref.f.anomalies, 0);
    for (size_t k = 1; k < fr.n; k += 53) {                 /* two chunks at many offsets */
        fresh(&s);
        feed(&s, BW_DIR_TOSERVER, (const uint8_t *)up, sizeof up - 1);
        feed(&s, BW_DIR_TOSERVER, fr.b, k);
        feed(&s, BW_DIR_TOSERVER, fr.b + k, fr.n - k);
        CHECK(memcmp(&s.f, &ref.f, sizeof s.f) == 0);
        if (memcmp(&s.f, &ref.f, sizeof s.f) != 0) { fprintf(stderr, "  ws split at %zu\n", k); break; }
    }
    fresh(&s);                                              /* frames of 100 bytes, fed 1448 at a time */
    fr.n = 0;
    ws_frames(&fr, &c, 100);
    feed(&s, BW_DIR_TOSERVER, (const uint8_t *)up, sizeof up - 1);
    for (size_t k = 0; k < fr.n; k += 1448) feed(&s, BW_DIR_TOSERVER, fr.b + k, fr.n - k < 1448 ? fr.n - k : 1448);
    CHECK(fstr_eq(&s.f.user, azure_user) && s.f.pass_len == 6 && s.f.anomalies == 0);
    /* the packet after it is read */
    static struct vec sf;
    sf.n = 0;
    static const uint8_t subscribe[] = { 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, '#', 0x00 };
    ws_frame(&sf, 2, true, subscribe, sizeof subscribe);
    feed(&s, BW_DIR_TOSERVER, sf.b, sf.n);
    CHECK(s.f.seen & BW_FACT_WILDCARD_SUB);
}

static void test_websocket_browser(void)
{
    static char up[8192];
    const struct bw_dissector *d = &bw_dissector_mqtt;
    for (int ff = 0; ff < 2; ff++) {
        size_t n = browser_upgrade(up, sizeof up, ff, 2500);
        CHECK(n > 2600 && n < 4096);
        const uint8_t *u = (const uint8_t *)up;
        /* every prefix short of the end is worth waiting for; the whole head is a claim */
        for (size_t k = 1; k < n; k++) {
            int sc = d->probe(BW_DIR_TOSERVER, u, k);
            CHECK(sc == BW_PROBE_MAYBE);
            if (sc != BW_PROBE_MAYBE) { fprintf(stderr, "  prefix %zu: %d\n", k, sc); break; }
        }
        CHECK_EQ(d->probe(BW_DIR_TOSERVER, u, n), BW_PROBE_YES);
        /* the dissector: the head in two segments at every offset, then the CONNECT */
        static struct vec c, fr;
        c.n = fr.n = 0;
        connect_pkt(&c, 4, "browser-1", azure_user, "tok", NULL, NULL);
        ws_frame(&fr, 2, true, c.b, c.n);
        for (size_t k = 1; k < n; k += 7) {
            static struct sess s;
            fresh(&s);
            feed(&s, BW_DIR_TOSERVER, u, k);
            CHECK(!(s.f.seen & BW_FACT_WEBSOCKET));            /* nothing decided on half a head */
            feed(&s, BW_DIR_TOSERVER, u + k, n - k);
            feed(&s, BW_DIR_TOSERVER, fr.b, fr.n);
            CHECK((s.f.seen & BW_FACT_WEBSOCKET) && fstr_eq(&s.f.user, azure_user));
            CHECK_EQ(s.f.anomalies, 0);
            if (!fstr_eq(&s.f.user, azure_user)) { fprintf(stderr, "  split at %zu\n", k); break; }
        }
    }
    /* a long plain GET (no WebSocket header in its first BW_PROBE_WINDOW bytes) is no upgrade */
    static char plain[2048];
    int pn = snprintf(plain, sizeof plain, "GET /index.html HTTP/1.1\r\nHost: example\r\nCookie: ");
    memset(plain + pn, 'c', 1500);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)plain, (size_t)pn + 1500), BW_PROBE_NO);
    /* an Upgrade to something else, and a head past the limit */
    static const char h2c[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nCookie: a";
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)h2c, sizeof h2c - 1), BW_PROBE_NO);
    size_t n = browser_upgrade(up, sizeof up, false, 3900);
    CHECK_EQ(d->probe(BW_DIR_TOSERVER, (const uint8_t *)up, 4096), BW_PROBE_NO);
    static struct sess s;
    fresh(&s);
    feed(&s, BW_DIR_TOSERVER, (const uint8_t *)up, n);         /* longer than a head we accept */
    CHECK(!(s.f.seen & BW_FACT_WEBSOCKET) && (s.f.anomalies & (1u << BW_MQTT_ANOM_WEBSOCKET)));
}

/* A CONNECT whose rest never comes (snaplen cut): every prefix through the flags proves the
 * session and the credential flags, marked truncated; shorter prefixes prove nothing; a 3.x one
 * with neither user name nor password flag is anonymous, a 5.0 one cut in its properties is not. */
static void test_partial_connect(void)
{
    static const struct { unsigned level; const char *user, *pass; } cases[] = {
        { 4, "alice", "Sup3rSecret" }, { 3, "bob", "pw" }, { 4, NULL, NULL }, { 5, NULL, NULL },
        { 5, "carol", "pw" }, { 5, NULL, "jwt-token" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct vec v = { .n = 0 };
        connect_pkt(&v, cases[c].level, "client-17", cases[c].user, cases[c].pass, NULL, NULL);
        size_t name = cases[c].level == 3 ? 6 : 4, flags_end = 2 + 2 + name + 2;
        for (size_t k = 1; k < v.n; k++) {
            struct sess s;
            fresh(&s);
            CHECK_EQ(feed(&s, BW_DIR_TOSERVER, v.b, k), BW_PARSE_NEED_MORE);
            uint8_t *held = malloc(H.n[0]);                 /* exact size, as the stream gives */
            memcpy(held, H.b[0], H.n[0]);
            bw_dissector_mqtt.partial(s.st, BW_DIR_TOSERVER, held, H.n[0], &s.f);
            free(held);
            int before = check_fail_;
            if (k < flags_end) {
                CHECK(!(s.f.seen & (BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)));
                CHECK(!(X(&s)->have & BW_MQTT_HAVE_TRUNCATED));
            } else {
                CHECK(s.f.seen & BW_FACT_CONFIRMED);
                CHECK(X(&s)->have & BW_MQTT_HAVE_TRUNCATED);
                CHECK_EQ(X(&s)->level, cases[c].level);
                CHECK_EQ(!!(s.f.seen & BW_FACT_CREDS_USER), cases[c].user != NULL);
                CHECK_EQ(!!(s.f.seen & BW_FACT_CREDS_PASS), cases[c].pass != NULL);
                CHECK(!(s.f.seen & BW_FACT_DEFAULT_CREDS));
                bool anon = !cases[c].user && !cases[c].pass && cases[c].level != 5;
                if (cases[c].level != 5 || k < flags_end + 3)  /* v5: before the property length */
                    CHECK_EQ(!!(s.f.seen & BW_FACT_ANONYMOUS), anon);
                if (s.f.user.len)                           /* a user name only when all of it fits */
                    CHECK(cases[c].user && s.f.user.len == strlen(cases[c].user));
            }
            /* the broker's answer still reads after the cut */
            const uint8_t connack[] = { 0x20, cases[c].level == 5 ? 3 : 2, 0x00, 0x05, 0x00 };
            feed(&s, BW_DIR_TOCLIENT, connack, cases[c].level == 5 ? 5 : 4);
            if (k >= flags_end && cases[c].level != 5) CHECK(s.f.seen & BW_FACT_AUTH_FAILED);
            if (check_fail_ != before) {
                fprintf(stderr, "  ... partial CONNECT case %zu, prefix %zu of %zu\n", c, k, v.n);
                break;
            }
        }
    }
}

int main(void)
{
    test_connect_versions();
    test_partial_connect();
    test_anonymous_and_connack();
    test_v5_props_auth();
    test_subscribe_inference_skip();
    test_malformed();
    test_default_creds();
    test_truncation_and_splits();
    test_midstream();
    test_probes();
    test_websocket();
    test_websocket_secret_position();
    test_connack_version_mismatch();
    test_password_without_user();
    test_wildcard_filters();
    test_reauth_failure();
    test_midstream_version();
    test_big_connect();
    test_websocket_browser();
    test_websocket_big_connect();
    return check_summary("mqtt");
}
