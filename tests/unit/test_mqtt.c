/* test_mqtt.c: the MQTT dissector on byte vectors: CONNECT/CONNACK of 3.1, 3.1.1 and 5.0,
 * SUBSCRIBE, AUTH, DISCONNECT, skipping, malformed input, splits, midstream, probes, WebSocket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_mqtt.h"
#include "check.h"

struct vec { uint8_t b[4096]; size_t n; };

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
struct held { uint8_t b[2][16384]; size_t n[2]; };
static struct held H;

static enum bw_parse feed(struct sess *s, enum bw_dir d, const uint8_t *p, size_t n)
{
    enum bw_parse r = BW_PARSE_OK;
    for (size_t i = 0; i < n; i++) {
        if (s->skip[d]) { s->skip[d]--; continue; }
        H.b[d][H.n[d]++] = p[i];
    }
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

int main(void)
{
    test_connect_versions();
    test_anonymous_and_connack();
    test_v5_props_auth();
    test_subscribe_inference_skip();
    test_malformed();
    test_default_creds();
    test_truncation_and_splits();
    test_midstream();
    test_probes();
    test_websocket();
    return check_summary("mqtt");
}
