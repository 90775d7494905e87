/* test_amqp091.c: the AMQP 0-9-1 dissector on hand-built byte vectors: probes, every connection
 * method, field tables with every type and the depth limit, PLAIN / AMQPLAIN / EXTERNAL /
 * ANONYMOUS, Close 403 and 530, a broker dropping the connection after Start-Ok, 0-8 / 0-9 /
 * 0-10 headers, version mismatch, midstream, gaps, hostile sizes, and truncation and split sweeps;
 * the AMQP 0-10 connection handshake (controls split over frames, lying sizes and counts).
 * Bytes go through a driver that behaves like the stream layer; every parse call receives an
 * exact-size heap copy so ASan sees a read past the end. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* memmem */
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bw_amqp.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"
#include "check.h"

static const struct bw_dissector *const D = &bw_dissector_amqp091;

#define TS BW_DIR_TOSERVER
#define TC BW_DIR_TOCLIENT

#define AN(x) (1u << (x))

/* ---- byte builder ---- */

struct b { uint8_t d[8192]; size_t n; };

static void p8(struct b *b, unsigned v) { b->d[b->n++] = (uint8_t)v; }
static void p16(struct b *b, unsigned v) { p8(b, v >> 8); p8(b, v & 0xff); }
static void p32(struct b *b, uint32_t v) { p16(b, v >> 16); p16(b, v & 0xffff); }
static void p64(struct b *b, uint64_t v) { p32(b, (uint32_t)(v >> 32)); p32(b, (uint32_t)v); }
static void pn(struct b *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n); b->n += n; }
static void sstr(struct b *b, const char *s) { p8(b, (unsigned)strlen(s)); pn(b, s, strlen(s)); }
static void lstr(struct b *b, const void *s, size_t n) { p32(b, (uint32_t)n); pn(b, s, n); }
static void patch32(struct b *b, size_t at, uint32_t v)
{
    b->d[at] = (uint8_t)(v >> 24); b->d[at + 1] = (uint8_t)(v >> 16);
    b->d[at + 2] = (uint8_t)(v >> 8); b->d[at + 3] = (uint8_t)v;
}
static size_t tbl_open(struct b *b) { size_t at = b->n; p32(b, 0); return at; }
static void tbl_close(struct b *b, size_t at) { patch32(b, at, (uint32_t)(b->n - at - 4)); }
static void key(struct b *b, const char *name, char type) { sstr(b, name); p8(b, (uint8_t)type); }
static void kstr(struct b *b, const char *name, const char *v)
{ key(b, name, 'S'); lstr(b, v, strlen(v)); }

static size_t frame_open(struct b *b, unsigned type, unsigned ch)
{
    p8(b, type); p16(b, ch);
    size_t at = b->n;
    p32(b, 0);
    return at;
}
static void frame_close(struct b *b, size_t at)
{
    patch32(b, at, (uint32_t)(b->n - at - 4));
    p8(b, 0xCE);
}
static size_t method_open(struct b *b, unsigned ch, unsigned cls, unsigned mid)
{
    size_t at = frame_open(b, 1, ch);
    p16(b, cls); p16(b, mid);
    return at;
}

static const uint8_t H091[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };
static const uint8_t H09[8]  = { 'A', 'M', 'Q', 'P', 1, 1, 0, 9 };
static const uint8_t H08[8]  = { 'A', 'M', 'Q', 'P', 1, 1, 8, 0 };
static const uint8_t H010[8] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 10 };
static const uint8_t H10S[8] = { 'A', 'M', 'Q', 'P', 3, 1, 0, 0 };

static void hdr(struct b *b, const uint8_t h[8]) { pn(b, h, 8); }

/* Connection.Start with RabbitMQ-like server-properties. */
static void m_start(struct b *b, const char *mechs)
{
    size_t f = method_open(b, 0, 10, 10);
    p8(b, 0); p8(b, 9);
    size_t t = tbl_open(b);
    key(b, "capabilities", 'F');
    size_t c = tbl_open(b);
    key(b, "publisher_confirms", 't'); p8(b, 1);
    key(b, "basic.nack", 't'); p8(b, 1);
    key(b, "consumer_priorities", 't'); p8(b, 0);          /* false: not offered */
    key(b, "authentication_failure_close", 't'); p8(b, 1);
    key(b, "unknown_cap", 't'); p8(b, 1);
    tbl_close(b, c);
    kstr(b, "cluster_name", "rabbit@node1");
    kstr(b, "copyright", "Copyright (c) 2007-2022 VMware, Inc. or its affiliates.");
    kstr(b, "information", "Licensed under the MPL 2.0. Website: https://rabbitmq.com");
    kstr(b, "platform", "Erlang/OTP 25.1.2");
    kstr(b, "product", "RabbitMQ");
    kstr(b, "version", "3.10.8");
    tbl_close(b, t);
    lstr(b, mechs, strlen(mechs));
    lstr(b, "en_US", 5);
    frame_close(b, f);
}

/* Whether client_props() announces authentication_failure_close (pika does; a client told not
 * to, or an old one, does not). */
static bool g_client_afc = true;

static void client_props(struct b *b)
{
    size_t t = tbl_open(b);
    kstr(b, "product", "Pika Python Client Library");
    kstr(b, "platform", "Python 3.11.2");
    key(b, "capabilities", 'F');
    size_t c = tbl_open(b);
    if (g_client_afc) { key(b, "authentication_failure_close", 't'); p8(b, 1); }
    key(b, "connection.blocked", 't'); p8(b, 1);
    tbl_close(b, c);
    kstr(b, "version", "1.3.1");
    tbl_close(b, t);
}

static void m_start_ok(struct b *b, const char *mech, const void *resp, size_t rlen)
{
    size_t f = method_open(b, 0, 10, 11);
    client_props(b);
    sstr(b, mech);
    lstr(b, resp, rlen);
    sstr(b, "en_US");
    frame_close(b, f);
}

static size_t plain_resp(uint8_t *out, const char *user, const char *pass)
{
    size_t n = 0;
    out[n++] = 0;
    memcpy(out + n, user, strlen(user)); n += strlen(user);
    out[n++] = 0;
    memcpy(out + n, pass, strlen(pass)); n += strlen(pass);
    return n;
}

static void m_start_ok_plain(struct b *b, const char *user, const char *pass)
{
    uint8_t r[256];
    size_t n = plain_resp(r, user, pass);
    m_start_ok(b, "PLAIN", r, n);
}

static void m_start_ok_amqplain(struct b *b, const char *user, const char *pass, bool prefixed)
{
    struct b r = { .n = 0 };
    size_t t = tbl_open(&r);
    kstr(&r, "LOGIN", user);
    kstr(&r, "PASSWORD", pass);
    tbl_close(&r, t);
    if (prefixed) m_start_ok(b, "AMQPLAIN", r.d, r.n);
    else m_start_ok(b, "AMQPLAIN", r.d + 4, r.n - 4);
}

static void m_tune(struct b *b, unsigned mid, unsigned chmax, uint32_t fmax, unsigned hb)
{
    size_t f = method_open(b, 0, 10, mid);
    p16(b, chmax); p32(b, fmax); p16(b, hb);
    frame_close(b, f);
}
static void m_open(struct b *b, const char *vhost)
{
    size_t f = method_open(b, 0, 10, 40);
    sstr(b, vhost); sstr(b, ""); p8(b, 0);
    frame_close(b, f);
}
static void m_open_ok(struct b *b)
{
    size_t f = method_open(b, 0, 10, 41);
    sstr(b, "");
    frame_close(b, f);
}
static void m_close(struct b *b, unsigned mid, unsigned code, const char *text)
{
    size_t f = method_open(b, 0, 10, mid);
    p16(b, code); sstr(b, text); p16(b, 0); p16(b, 0);
    frame_close(b, f);
}
static void m_empty(struct b *b, unsigned mid)       /* Close-Ok, Unblocked */
{
    size_t f = method_open(b, 0, 10, mid);
    frame_close(b, f);
}
static void m_secure(struct b *b, unsigned mid, const char *data)
{
    size_t f = method_open(b, 0, 10, mid);
    lstr(b, data, strlen(data));
    frame_close(b, f);
}
/* basic.publish on channel 1, its content header and a body: the traffic of a midstream pickup */
static void publish(struct b *b, size_t body)
{
    size_t f = method_open(b, 1, 60, 40);
    p16(b, 0); sstr(b, "amq.direct"); sstr(b, "rk"); p8(b, 0);
    frame_close(b, f);
    f = frame_open(b, 2, 1);
    p16(b, 60); p16(b, 0); p64(b, body); p16(b, 0);
    frame_close(b, f);
    f = frame_open(b, 3, 1);
    for (size_t i = 0; i < body; i++) p8(b, 'x');
    frame_close(b, f);
}

/* ---- the stream-layer driver (tests/support/dissector_driver.h), bound to this dissector ---- */

#include "dissector_driver.h"

static void sc_add(struct script *s, enum bw_dir dir, const struct b *b) { script_add(s, dir, b->d, b->n); }
static struct drv *sc_run(const struct script *s, unsigned split, size_t at) { return sc_run_with(D, s, split, at); }
static void split_sweep(const struct script *s, const char *what) { split_sweep_with(D, s, what); }
static void trunc_sweep(const struct script *s, unsigned m, enum bw_parse whole) { trunc_sweep_with(D, s, m, whole); }

#include "amqp_test_util.h"

static const char *json_of(const struct bw_facts *f, char *out, size_t cap) { return json_of_with(D, f, out, cap); }

/* The standard handshake up to Start-Ok, then the broker's answers. */
static void sc_handshake(struct script *s, struct b *startok)
{
    struct b b = { .n = 0 };
    hdr(&b, H091); sc_add(s, TS, &b);
    b.n = 0; m_start(&b, "AMQPLAIN PLAIN"); sc_add(s, TC, &b);
    sc_add(s, TS, startok);
}

static void sc_accept(struct script *s, const char *vhost)
{
    struct b b = { .n = 0 };
    m_tune(&b, 30, 2047, 131072, 60); sc_add(s, TC, &b);
    b.n = 0; m_tune(&b, 31, 2047, 131072, 60); m_open(&b, vhost); sc_add(s, TS, &b);
    b.n = 0; m_open_ok(&b); sc_add(s, TC, &b);
}

/* ---- probes ---- */

static void test_probe(void)
{
    CHECK_EQ(D->probe(TS, H091, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TS, H09, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TS, H08, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TS, H010, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TC, H010, 8), BW_PROBE_YES);
    for (size_t k = 1; k < 8; k++) CHECK_EQ(D->probe(TS, H091, k), BW_PROBE_MAYBE);
    CHECK_EQ(D->probe(TS, H091, 0), BW_PROBE_MAYBE);
    CHECK_EQ(D->probe(TS, H10S, 8), BW_PROBE_NO);               /* the other dissector's */
    CHECK_EQ(D->probe(TS, H10S, 5), BW_PROBE_NO);
    static const uint8_t h10p[8] = { 'A', 'M', 'Q', 'P', 0, 1, 0, 0 };
    CHECK_EQ(D->probe(TS, h10p, 8), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, h10p, 6), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, h10p, 5), BW_PROBE_MAYBE);            /* "AMQP\0": either yet */
    static const uint8_t odd[8] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 8 };
    CHECK(D->probe(TS, odd, 8) > BW_PROBE_MAYBE && D->probe(TS, odd, 8) < BW_PROBE_YES);
    CHECK(D->probe(TC, H091, 8) > BW_PROBE_MAYBE && D->probe(TC, H091, 8) < BW_PROBE_YES);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"AMQX\0\0\x09\x01", 8), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"\x10\x0c\x00\x04MQTT", 8), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"\x16\x03\x01\x02\x00", 5), BW_PROBE_NO);

    /* midstream: three frames whose frame-ends check out */
    struct b b = { .n = 0 };
    publish(&b, 10);
    int score = D->probe(TS, b.d, b.n);
    CHECK_EQ(score, 80);
    CHECK_EQ(D->probe(TC, b.d, b.n), 80);
    /* only two complete frames so far: consistent, not yet sure */
    CHECK_EQ(D->probe(TS, b.d, b.n - 3), BW_PROBE_MAYBE);
    /* a wrong frame-end anywhere: no */
    b.d[b.n - 1] = 0xCD;
    CHECK_EQ(D->probe(TS, b.d, b.n), BW_PROBE_NO);
    /* a body whose end lies beyond the probe window can never be checked */
    b.n = 0;
    publish(&b, 600);
    CHECK_EQ(D->probe(TS, b.d, BW_PROBE_WINDOW), BW_PROBE_NO);
    /* a heartbeat with a payload is no heartbeat */
    b.n = 0;
    size_t f = frame_open(&b, 8, 0); p8(&b, 1); frame_close(&b, f);
    CHECK_EQ(D->probe(TS, b.d, b.n), BW_PROBE_NO);
    /* the broker's Connection.Start alone, client header unseen */
    b.n = 0;
    m_start(&b, "PLAIN");
    CHECK_EQ(D->probe(TC, b.d, b.n), 90);
    CHECK_EQ(D->probe(TC, b.d, 20), BW_PROBE_MAYBE);
}

/* ---- sessions ---- */

static void test_plain_guest(void)
{
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    m_start_ok_plain(&so, "guest", "guest");
    sc_handshake(&s, &so);
    sc_accept(&s, "/");
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    const struct bw_amqp_ext *x = ext(v);
    CHECK_STR(v->f.version, "0-9-1");
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);
    CHECK(fstr_is(&v->f.mech, "PLAIN"));
    CHECK(fstr_is(&v->f.user, "guest"));
    CHECK((v->f.seen & BW_FACT_CREDS_USER) && (v->f.seen & BW_FACT_CREDS_PASS));
    CHECK_EQ(v->f.pass_len, 5);
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) != 0);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK((v->f.seen & (BW_FACT_AUTH_FAILED | BW_FACT_REFUSED | BW_FACT_ANONYMOUS |
                        BW_FACT_MIDSTREAM | BW_FACT_TLS | BW_FACT_SPEC_VIOLATION)) == 0);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK_EQ(v->f.result_code, -1);
    CHECK(str_is(&x->broker_product, "RabbitMQ"));
    CHECK(str_is(&x->broker_version, "3.10.8"));
    CHECK(str_is(&x->broker_platform, "Erlang/OTP 25.1.2"));
    CHECK(str_is(&x->cluster_name, "rabbit@node1"));
    CHECK(str_is(&x->client_product, "Pika Python Client Library"));
    CHECK(str_is(&x->client_version, "1.3.1"));
    CHECK(str_is(&x->vhost, "/"));
    CHECK_EQ(x->broker_caps, BW_AMQP_CAP_PUBLISHER_CONFIRMS | BW_AMQP_CAP_BASIC_NACK |
                             BW_AMQP_CAP_AUTH_FAILURE_CLOSE);
    CHECK_EQ(x->client_caps, BW_AMQP_CAP_AUTH_FAILURE_CLOSE | BW_AMQP_CAP_CONNECTION_BLOCKED);
    CHECK_EQ(x->frames[TS], 3);
    CHECK_EQ(x->frames[TC], 3);
    CHECK_EQ(x->sasl_outcome, -1);
    CHECK(!x->close_seen && !x->mismatch);
    /* both directions stop once there is nothing more to learn */
    CHECK(v->stop[TS] && v->last[TS] == BW_PARSE_DONE);
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);

    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"broker_product\":\"RabbitMQ\"") != NULL);
    CHECK(strstr(out, "\"broker_version\":\"3.10.8\"") != NULL);
    CHECK(strstr(out, "\"broker_platform\":\"Erlang/OTP 25.1.2\"") != NULL);
    CHECK(strstr(out, "\"cluster_name\":\"rabbit@node1\"") != NULL);
    CHECK(strstr(out, "\"mechanisms_offered\":[\"AMQPLAIN\",\"PLAIN\"]") != NULL);
    CHECK(strstr(out, "\"client_product\":\"Pika Python Client Library\"") != NULL);
    CHECK(strstr(out, "\"client_version\":\"1.3.1\"") != NULL);
    CHECK(strstr(out, "\"vhost\":\"/\"") != NULL);
    CHECK(strstr(out, "\"close\":null") != NULL);
    CHECK(strstr(out, "\"sasl_outcome\":null") != NULL);
    CHECK(strstr(out, "version_mismatch") == NULL);
    CHECK(strstr(out, "hostname") == NULL);
    /* the core writes these itself */
    CHECK(strstr(out, "username") == NULL && strstr(out, "password") == NULL &&
          strstr(out, "\"mechanism\"") == NULL && strstr(out, "protocol_version") == NULL);

    /* exact consumption of each unit, and NEED_MORE with nothing consumed on every prefix */
    trunc_sweep(&s, 0, BW_PARSE_OK);          /* header */
    trunc_sweep(&s, 1, BW_PARSE_OK);          /* Start */
    trunc_sweep(&s, 2, BW_PARSE_OK);          /* Start-Ok */
    trunc_sweep(&s, 3, BW_PARSE_OK);          /* Tune */
    trunc_sweep(&s, 5, BW_PARSE_DONE);        /* Open-Ok */
    split_sweep(&s, "plain guest");
    free(v);
}

static void test_amqplain(void)
{
    static const char pw[] = "Zq9!long-Secret";
    for (int prefixed = 0; prefixed < 2; prefixed++) {
        struct script s = { .n = 0 };
        struct b so = { .n = 0 };
        m_start_ok_amqplain(&so, "alice", pw, prefixed);
        sc_handshake(&s, &so);
        sc_accept(&s, "/prod");
        struct drv *v = sc_run(&s, MSG_MAX, 0);
        CHECK(fstr_is(&v->f.mech, "AMQPLAIN"));
        CHECK(fstr_is(&v->f.user, "alice"));
        CHECK((v->f.seen & BW_FACT_CREDS_USER) && (v->f.seen & BW_FACT_CREDS_PASS));
        CHECK_EQ(v->f.pass_len, strlen(pw));
        CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) == 0);
        CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
        CHECK_EQ(v->f.anomalies, 0);
        CHECK(str_is(&ext(v)->vhost, "/prod"));
        /* the password is nowhere: not in the facts, not in the state, not in the JSON */
        CHECK(!has_bytes(&v->f, sizeof v->f, pw));
        CHECK(!has_bytes(v->st, sizeof v->st, pw));
        CHECK(!has_bytes(&v->f, sizeof v->f, "Zq9!"));
        char out[4096];
        json_of(&v->f, out, sizeof out);
        CHECK(!has_bytes(out, strlen(out), "Zq9!"));
        if (prefixed) split_sweep(&s, "amqplain");
        free(v);
    }
    /* AMQPLAIN guest/guest is the default pair too */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    m_start_ok_amqplain(&so, "guest", "guest", false);
    sc_handshake(&s, &so);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) != 0);
    free(v);
    /* AMQPLAIN without PASSWORD: a user, no password, and an anomaly */
    s.n = 0; s.used = 0;
    struct b r = { .n = 0 };
    kstr(&r, "LOGIN", "bob");
    so.n = 0;
    m_start_ok(&so, "AMQPLAIN", r.d, r.n);
    sc_handshake(&s, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_CREDS_USER) && !(v->f.seen & BW_FACT_CREDS_PASS));
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_AMQPLAIN)) != 0);
    free(v);
}

static void test_plain_secret_nowhere(void)
{
    static const char pw[] = "N0t-A-Default!";
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    m_start_ok_plain(&so, "svc-orders", pw);
    sc_handshake(&s, &so);
    sc_accept(&s, "/");
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.user, "svc-orders"));
    CHECK_EQ(v->f.pass_len, strlen(pw));
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) == 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, pw));
    CHECK(!has_bytes(v->st, sizeof v->st, pw));
    CHECK(!has_bytes(&v->f, sizeof v->f, "N0t-"));
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(!has_bytes(out, strlen(out), "N0t-"));
    free(v);
}

static void test_plain_malformed(void)
{
    /* one NUL only: name and password cannot be told apart, so nothing is reported */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    m_start_ok(&so, "PLAIN", "guest\0guest", 11);
    sc_handshake(&s, &so);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_PLAIN)) != 0);
    CHECK(v->f.user.len == 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, "guest"));
    free(v);
    /* a NUL inside the password: reported, with the whole length */
    s.n = 0; s.used = 0; so.n = 0;
    m_start_ok(&so, "PLAIN", "\0u\0pa\0ss", 8);
    sc_handshake(&s, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.user, "u"));
    CHECK_EQ(v->f.pass_len, 5);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_PLAIN)) != 0);
    free(v);
    /* authzid present: the authcid is the user */
    s.n = 0; s.used = 0; so.n = 0;
    m_start_ok(&so, "PLAIN", "admin\0guest\0guest", 17);
    sc_handshake(&s, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.user, "guest"));
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) != 0);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
    /* a response longer than the frame: truncated method, no credentials reported */
    s.n = 0; s.used = 0; so.n = 0;
    size_t f = method_open(&so, 0, 10, 11);
    client_props(&so);
    sstr(&so, "PLAIN");
    p32(&so, 200); pn(&so, "\0x\0y", 4);
    frame_close(&so, f);
    sc_handshake(&s, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_METHOD)) != 0);
    CHECK(v->f.secret_unplaced);   /* an evidence copy masks every client byte */
    free(v);
}

static void test_external_anonymous(void)
{
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    m_start_ok(&so, "EXTERNAL", "", 0);
    sc_handshake(&s, &so);
    sc_accept(&s, "/");
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.mech, "EXTERNAL"));
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_ANONYMOUS)) == 0);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_MECH_NOT_OFFERED)) != 0);   /* Start offered AMQPLAIN PLAIN */
    free(v);

    s.n = 0; s.used = 0; so.n = 0;
    struct b b = { .n = 0 };
    hdr(&b, H091); sc_add(&s, TS, &b);
    b.n = 0; m_start(&b, "PLAIN ANONYMOUS AMQPLAIN"); sc_add(&s, TC, &b);
    m_start_ok(&so, "ANONYMOUS", "", 0); sc_add(&s, TS, &so);
    sc_accept(&s, "/");
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.mech, "ANONYMOUS"));
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
}

static void test_close_403(void)
{
    struct script s = { .n = 0 };
    struct b so = { .n = 0 }, b = { .n = 0 };
    m_start_ok_plain(&so, "guest", "wrong");
    sc_handshake(&s, &so);
    m_close(&b, 50, 403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                         "For details see the broker logfile.");
    sc_add(&s, TC, &b);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    const struct bw_amqp_ext *x = ext(v);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) != 0);
    CHECK((v->f.seen & (BW_FACT_AUTH_OK | BW_FACT_REFUSED | BW_FACT_DEFAULT_CREDS)) == 0);
    CHECK_EQ(v->f.result_code, 403);
    CHECK(x->close_seen);
    CHECK_EQ(x->close_code, 403);
    CHECK(x->close_text.set && x->close_text.cut && x->close_text.len == BW_AMQP_LSTR_MAX);
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"close\":{\"code\":403,\"text\":\"ACCESS_REFUSED - Login was refused") != NULL);
    CHECK(strstr(out, "...\"}") != NULL);
    /* the TCP close that follows adds nothing */
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK_EQ(v->f.result_code, 403);
    trunc_sweep(&s, 3, BW_PARSE_DONE);
    split_sweep(&s, "close 403");
    free(v);
}

static void test_close_after_start_ok(void)
{
    static const enum bw_close hows[] = {
        BW_CLOSE_FIN, BW_CLOSE_RST_CLIENT, BW_CLOSE_RST_SERVER, BW_CLOSE_FIN_SERVER_FIRST,
        BW_CLOSE_TIMEOUT, BW_CLOSE_EVICTED, BW_CLOSE_END,
    };
    /* Only the broker ending the connection says no: a client closing or resetting first (it
     * gave up waiting), a timeout or the end of the capture say nothing. */
    static const bool failed[] = { false, false, true, true, false, false, false };
    g_client_afc = false;
    for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++) {
        struct script s = { .n = 0 };
        struct b so = { .n = 0 };
        m_start_ok_plain(&so, "guest", "nope");
        sc_handshake(&s, &so);
        struct drv *v = sc_run(&s, MSG_MAX, 0);
        CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);        /* the broker's Start */
        CHECK((v->f.seen & (BW_FACT_AUTH_FAILED | BW_FACT_AUTH_OK | BW_FACT_REFUSED)) == 0);
        D->close(v->st, hows[i], &v->f);
        CHECK_EQ((v->f.seen & BW_FACT_AUTH_FAILED) != 0, failed[i]);
        CHECK((v->f.seen & BW_FACT_REFUSED) == 0);
        CHECK_EQ(v->f.result_code, -1);
        /* the same in every delivery split */
        for (unsigned m = 0; m < s.n; m++)
            for (size_t at = 1; at < s.m[m].len; at++) {
                struct drv *w = sc_run(&s, m, at);
                D->close(w->st, hows[i], &w->f);
                CHECK_EQ(w->f.seen, v->f.seen);
                free(w);
            }
        free(v);
    }
    g_client_afc = true;
    /* both sides agreed on authentication_failure_close: a failed login would have been a
     * Close 403, so a silent drop is another refusal, not a credential failure */
    {
        struct script s = { .n = 0 };
        struct b so = { .n = 0 };
        m_start_ok_plain(&so, "guest", "nope");
        sc_handshake(&s, &so);
        struct drv *v = sc_run(&s, MSG_MAX, 0);
        D->close(v->st, BW_CLOSE_RST_SERVER, &v->f);
        CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
        CHECK((v->f.seen & BW_FACT_REFUSED) != 0);
        free(v);
    }
    /* after Tune the broker accepted: a later close is no failure */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 }, b = { .n = 0 };
    m_start_ok_plain(&so, "guest", "guest");
    sc_handshake(&s, &so);
    m_tune(&b, 30, 0, 131072, 60); sc_add(&s, TC, &b);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    free(v);
    /* without Start-Ok nobody tried to log in */
    s.n = 0; s.used = 0;
    b.n = 0; hdr(&b, H091); sc_add(&s, TS, &b);
    b.n = 0; m_start(&b, "PLAIN"); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
    free(v);
    /* broker bytes lost after Start-Ok: the Tune may have been in them */
    s.n = 0; s.used = 0; so.n = 0;
    m_start_ok_plain(&so, "guest", "guest");
    sc_handshake(&s, &so);
    v = sc_run(&s, MSG_MAX, 0);
    drv_gap(v, TC);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
    CHECK((v->f.seen & BW_FACT_GAP) != 0);
    free(v);
}

static void test_close_530(void)
{
    struct script s = { .n = 0 };
    struct b so = { .n = 0 }, b = { .n = 0 };
    m_start_ok_plain(&so, "guest", "guest");
    sc_handshake(&s, &so);
    m_tune(&b, 30, 2047, 131072, 60); sc_add(&s, TC, &b);
    b.n = 0; m_tune(&b, 31, 2047, 131072, 60); m_open(&b, "/bad"); sc_add(&s, TS, &b);
    b.n = 0; m_close(&b, 50, 530, "NOT_ALLOWED - vhost /bad not found"); sc_add(&s, TC, &b);
    b.n = 0; m_empty(&b, 51); sc_add(&s, TS, &b);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
    CHECK_EQ(v->f.result_code, 530);
    CHECK(str_is(&ext(v)->vhost, "/bad"));
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"close\":{\"code\":530,\"text\":\"NOT_ALLOWED - vhost /bad not found\"}") != NULL);
    /* 403 after Tune (a vhost access refusal by some brokers) is a refusal, not a failed login */
    s.n = 0; s.used = 0;
    sc_handshake(&s, &so);
    b.n = 0; m_tune(&b, 30, 2047, 131072, 60); sc_add(&s, TC, &b);
    b.n = 0; m_close(&b, 50, 403, "ACCESS_REFUSED - vhost"); sc_add(&s, TC, &b);
    free(v);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) && !(v->f.seen & BW_FACT_AUTH_FAILED));
    free(v);
    /* a normal 200 close: recorded, no fact */
    s.n = 0; s.used = 0;
    sc_handshake(&s, &so);
    b.n = 0; m_close(&b, 50, 200, "Normal shutdown"); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & (BW_FACT_REFUSED | BW_FACT_AUTH_FAILED)) == 0);
    CHECK_EQ(v->f.result_code, 200);
    free(v);
}

static void test_secure(void)
{
    struct script s = { .n = 0 };
    struct b so = { .n = 0 }, b = { .n = 0 };
    m_start_ok(&so, "RABBIT-CR-DEMO", "carol", 5);
    sc_handshake(&s, &so);
    m_secure(&b, 20, "Please tell me your password"); sc_add(&s, TC, &b);
    b.n = 0; m_secure(&b, 21, "My password is S3cr3t-CR"); sc_add(&s, TS, &b);
    sc_accept(&s, "/");
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.mech, "RABBIT-CR-DEMO"));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, "S3cr3t"));
    CHECK(!has_bytes(v->st, sizeof v->st, "S3cr3t"));
    trunc_sweep(&s, 3, BW_PARSE_OK);
    trunc_sweep(&s, 4, BW_PARSE_OK);
    split_sweep(&s, "secure");
    free(v);
}

static void test_versions(void)
{
    /* 0-10: recognized, 0-10 frames follow on both sides; confirmed only by Connection.Start */
    struct drv *v = drv_new(D);
    size_t used = 99;
    CHECK_EQ(parse_copy(v, TS, H010, 8, &used), BW_PARSE_OK);
    CHECK_EQ(used, 8);
    CHECK_STR(v->f.version, "0-10");
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);          /* a client's header proves nothing */
    CHECK_EQ(parse_copy(v, TC, H010, 8, &used), BW_PARSE_OK);     /* the broker's echo */
    CHECK_EQ(used, 8);
    CHECK(!ext(v)->mismatch);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);
    CHECK_EQ(v->f.anomalies, 0);
    /* a second header is no 0-10 frame: segment type 'M' */
    CHECK_EQ(parse_copy(v, TS, H010, 8, &used), BW_PARSE_NEED_MORE);   /* 8 < 12 bytes */
    CHECK_EQ(used, 0);
    static const uint8_t twice[16] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 10, 'A', 'M', 'Q', 'P', 1, 1, 0, 10 };
    CHECK_EQ(parse_copy(v, TS, twice, 16, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME_TYPE));
    free(v);
    /* 0-10 from the broker first (delivery order), client header later */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, H010, 8, &used), BW_PARSE_OK);
    CHECK_STR(v->f.version, "0-10");
    CHECK_EQ(parse_copy(v, TS, H010, 8, &used), BW_PARSE_OK);
    CHECK(!ext(v)->mismatch);
    free(v);
    /* the broker echoes 0-10 to a 0-9-1 client: a mismatch; its 0-10 frames are not read as
     * 0-9-1 frames, the client's frames still are */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, H010, 8, &used), BW_PARSE_OK);
    CHECK_EQ(parse_copy(v, TS, H091, 8, &used), BW_PARSE_OK);
    CHECK(ext(v)->mismatch);
    CHECK_EQ(parse_copy(v, TC, twice, 16, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_VERSION_MISMATCH));
    free(v);
    /* a 0-10 client refused with a 0-9-1 header: neither side is followed any further */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TS, H010, 8, &used), BW_PARSE_OK);
    CHECK_EQ(parse_copy(v, TC, H091, 8, &used), BW_PARSE_DONE);
    CHECK(ext(v)->mismatch);
    CHECK_EQ(parse_copy(v, TS, twice, 16, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_VERSION_MISMATCH));
    free(v);

    /* 0-9 and 0-8 headers */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TS, H09, 8, &used), BW_PARSE_OK);
    CHECK_EQ(used, 8);
    CHECK_STR(v->f.version, "0-9");
    free(v);

    struct script s = { .n = 0 };
    struct b b = { .n = 0 }, so = { .n = 0 };
    hdr(&b, H08); sc_add(&s, TS, &b);
    b.n = 0; m_start(&b, "PLAIN"); sc_add(&s, TC, &b);
    m_start_ok_plain(&so, "guest", "x"); sc_add(&s, TS, &so);
    b.n = 0; m_close(&b, 60, 403, "ACCESS_REFUSED"); sc_add(&s, TC, &b);   /* 0-8 Close is 60 */
    v = sc_run(&s, MSG_MAX, 0);
    CHECK_STR(v->f.version, "0-8");
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) != 0);
    CHECK_EQ(v->f.result_code, 403);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
    /* 0-8 method 50 is Redirect: the broker sends the client away, no close code */
    s.n = 0; s.used = 0;
    b.n = 0; hdr(&b, H08); sc_add(&s, TS, &b);
    b.n = 0; m_start(&b, "PLAIN"); sc_add(&s, TC, &b);
    b.n = 0; size_t f = method_open(&b, 0, 10, 50); sstr(&b, "10.0.0.2:5672"); sstr(&b, "");
    frame_close(&b, f); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(v->last[TC] == BW_PARSE_DONE);
    CHECK(!ext(v)->close_seen && v->f.result_code == -1);
    free(v);

    /* Start without any header: the broker's version decides */
    v = drv_new(D);
    b.n = 0; m_start(&b, "PLAIN");
    drv_feed(v, TC, b.d, b.n);
    CHECK_STR(v->f.version, "0-9-1");
    CHECK((v->f.seen & BW_FACT_CONFIRMED) && !(v->f.seen & BW_FACT_MIDSTREAM));
    free(v);
}

static void test_mismatch(void)
{
    /* an unknown header: the broker answers with the one it speaks */
    static const uint8_t odd[8] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 8 };
    struct drv *v = drv_new(D);
    size_t used = 99;
    CHECK_EQ(parse_copy(v, TS, odd, 8, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 8);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_HEADER)) != 0);
    CHECK_EQ(parse_copy(v, TC, H091, 8, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 8);
    const struct bw_amqp_ext *x = ext(v);
    CHECK(x->mismatch);
    CHECK(memcmp(x->cli_hdr, odd, 8) == 0 && memcmp(x->srv_hdr, H091, 8) == 0);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_VERSION_MISMATCH)) != 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) && (v->f.seen & BW_FACT_SPEC_VIOLATION));
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);      /* the broker answered the header */
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"version_mismatch\":{\"client\":\"AMQP 1 1 0 8\",\"server\":\"AMQP 0 0 9 1\"}") != NULL);
    free(v);
    /* 0-9-1 to a 0-10 broker */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TS, H091, 8, &used), BW_PARSE_OK);
    CHECK_EQ(parse_copy(v, TC, H010, 8, &used), BW_PARSE_DONE);
    CHECK(ext(v)->mismatch);
    CHECK_STR(v->f.version, "0-9-1");
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"server\":\"AMQP 1 1 0 10\"") != NULL);
    free(v);
    /* 0-10 client, a 0-9-1 broker's refusal, delivered before the client header: a refusal,
     * confirmed once the request it answers is seen */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, H091, 8, &used), BW_PARSE_DONE);
    CHECK(ext(v)->mismatch);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"client\":null") != NULL);
    CHECK_EQ(parse_copy(v, TS, H010, 8, &used), BW_PARSE_OK);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"version_mismatch\":{\"client\":\"AMQP 1 1 0 10\",\"server\":\"AMQP 0 0 9 1\"}") != NULL);
    free(v);
    /* a partial header waits */
    v = drv_new(D);
    for (size_t k = 0; k < 8; k++) {
        CHECK_EQ(parse_copy(v, TC, H091, k, &used), BW_PARSE_NEED_MORE);
        CHECK_EQ(used, 0);
    }
    free(v);
}

/* A client's header alone, of every kind, however the session ends: never confirmed, never a
 * failure (a scan, or a flood of headers, must raise nothing). */
static void test_lone_headers(void)
{
    static const uint8_t odd[8] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 8 };
    const uint8_t *hs[] = { H091, H09, H08, H010, odd };
    static const enum bw_close hows[] = {
        BW_CLOSE_FIN, BW_CLOSE_RST_CLIENT, BW_CLOSE_RST_SERVER, BW_CLOSE_FIN_SERVER_FIRST,
        BW_CLOSE_TIMEOUT, BW_CLOSE_END,
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        for (size_t k = 0; k < sizeof hows / sizeof hows[0]; k++) {
            struct drv *v = drv_new(D);
            drv_feed(v, TS, hs[i], 8);
            D->close(v->st, hows[k], &v->f);
            CHECK((v->f.seen & (BW_FACT_CONFIRMED | BW_FACT_AUTH_FAILED | BW_FACT_AUTH_OK)) == 0);
            free(v);
        }
    /* nor a Start-Ok without the broker's Start */
    struct b so = { .n = 0 };
    m_start_ok_plain(&so, "guest", "guest");
    struct drv *v = drv_new(D);
    drv_feed(v, TS, H091, 8);
    drv_feed(v, TS, so.d, so.n);
    CHECK((v->f.seen & BW_FACT_CREDS_USER) != 0);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);
    free(v);
}

static void test_midstream(void)
{
    struct b b = { .n = 0 };
    publish(&b, 40);
    struct drv *v = drv_new(D);
    drv_feed(v, TS, b.d, b.n);
    /* three good frames from one side: framed like AMQP, but nobody answered yet */
    CHECK((v->f.seen & (BW_FACT_MIDSTREAM | BW_FACT_CONFIRMED)) == 0);
    CHECK(!v->stop[TS]);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK_EQ(ext(v)->frames[TS], 3);
    drv_feed(v, TS, b.d, b.n);                              /* more of the same: still not */
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);
    /* the broker's heartbeat answers: a request/answer pair */
    size_t used = 9;
    struct b hb = { .n = 0 };
    size_t f = frame_open(&hb, 8, 0); frame_close(&hb, f);
    drv_feed(v, TC, hb.d, hb.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) && (v->f.seen & BW_FACT_CONFIRMED));
    CHECK_STR(v->f.version, "0-9-1");
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
    /* the other direction has nothing more to tell either */
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    free(v);
    /* the answer first, then the request: the same */
    v = drv_new(D);
    drv_feed(v, TC, hb.d, hb.n);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);
    drv_feed(v, TS, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) && (v->f.seen & BW_FACT_CONFIRMED));
    free(v);
    /* one frame each way is not enough yet: three frames in all */
    v = drv_new(D);
    drv_feed(v, TC, hb.d, hb.n);
    drv_feed(v, TS, hb.d, hb.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) == 0);
    drv_feed(v, TS, hb.d, hb.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) != 0);
    free(v);
    /* the broker's own frames (a delivery to a consumer) are its answer too */
    v = drv_new(D);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) && (v->f.seen & BW_FACT_CONFIRMED));
    free(v);

    /* one call per unit: the skipped payload, then its frame-end */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, hb.d, 7, &used), BW_PARSE_OK);
    CHECK_EQ(used, 7);
    CHECK_EQ(parse_copy(v, TC, hb.d + 7, 0, &used), BW_PARSE_NEED_MORE);
    CHECK_EQ(used, 0);
    CHECK_EQ(parse_copy(v, TC, hb.d + 7, 1, &used), BW_PARSE_OK);
    CHECK_EQ(used, 1);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) == 0);           /* one frame is not enough */
    free(v);

    /* a large body is skipped by length, beyond the bytes at hand */
    b.n = 0;
    f = frame_open(&b, 3, 1);
    p8(&b, 'x');
    patch32(&b, f, 100000);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 7 + 100000);
    free(v);

    /* a session whose first bytes fall inside a frame: resync onto the next one */
    b.n = 0;
    p8(&b, 'z'); p8(&b, 0xCE); p8(&b, 1); p8(&b, 0);
    publish(&b, 5);
    v = drv_new(D);
    drv_feed(v, TS, b.d, b.n);
    drv_feed(v, TC, hb.d, hb.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) != 0);
    CHECK_EQ(v->f.anomalies, 0);                  /* starting inside a frame is no violation */
    free(v);
}

static void test_tables(void)
{
    /* server-properties holding every field type, nested tables and arrays */
    struct b b = { .n = 0 };
    size_t f = method_open(&b, 0, 10, 10);
    p8(&b, 0); p8(&b, 9);
    size_t t = tbl_open(&b);
    key(&b, "t", 't'); p8(&b, 1);
    key(&b, "b", 'b'); p8(&b, 0x80);
    key(&b, "B", 'B'); p8(&b, 0xff);
    key(&b, "s", 's'); p16(&b, 0x8000);
    key(&b, "u", 'u'); p16(&b, 0xffff);
    key(&b, "I", 'I'); p32(&b, 0x80000000u);
    key(&b, "i", 'i'); p32(&b, 0xffffffffu);
    key(&b, "L", 'L'); p64(&b, 1);
    key(&b, "l", 'l'); p64(&b, 2);
    key(&b, "f", 'f'); p32(&b, 0x3f800000u);
    key(&b, "d", 'd'); p64(&b, 0x3ff0000000000000ull);
    key(&b, "D", 'D'); p8(&b, 2); p32(&b, 12345);
    key(&b, "S", 'S'); lstr(&b, "long string", 11);
    key(&b, "x", 'x'); lstr(&b, "\x00\x01\x02", 3);
    key(&b, "T", 'T'); p64(&b, 1700000000);
    key(&b, "V", 'V');
    key(&b, "A", 'A');
    size_t a = tbl_open(&b);
    p8(&b, 'I'); p32(&b, 7);
    p8(&b, 'S'); lstr(&b, "in array", 8);
    p8(&b, 'V');
    p8(&b, 'A'); size_t a2 = tbl_open(&b); p8(&b, 't'); p8(&b, 0); tbl_close(&b, a2);
    p8(&b, 'F'); size_t t2 = tbl_open(&b); kstr(&b, "product", "not the broker's"); tbl_close(&b, t2);
    tbl_close(&b, a);
    key(&b, "F", 'F');
    size_t t3 = tbl_open(&b);
    key(&b, "inner", 'F'); size_t t4 = tbl_open(&b); key(&b, "z", 'V'); tbl_close(&b, t4);
    kstr(&b, "version", "nested, ignored");
    tbl_close(&b, t3);
    kstr(&b, "product", "TypeBroker");
    tbl_close(&b, t);
    lstr(&b, "PLAIN", 5);
    lstr(&b, "en_US", 5);
    frame_close(&b, f);
    struct drv *v = drv_new(D);
    size_t used = 0;
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, b.n);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->broker_product, "TypeBroker"));
    CHECK(!ext(v)->broker_version.set);                 /* only top-level keys count */
    free(v);
}

/* One table or array value holding `left` levels, tables and arrays alternating. */
static void nest_mixed(struct b *b, unsigned left, bool in_array)
{
    char type = left % 2 ? 'A' : 'F';
    if (in_array) p8(b, (uint8_t)type);
    else key(b, "n", type);
    size_t at = tbl_open(b);
    if (left > 1) nest_mixed(b, left - 1, type == 'A');
    tbl_close(b, at);
}

static void deep_start(struct b *b, unsigned levels)
{
    size_t f = method_open(b, 0, 10, 10);
    p8(b, 0); p8(b, 9);
    size_t t = tbl_open(b);
    kstr(b, "product", "Deep");
    nest_mixed(b, levels, false);
    kstr(b, "version", "after");
    tbl_close(b, t);
    lstr(b, "PLAIN", 5);
    lstr(b, "en_US", 5);
    frame_close(b, f);
}

static void plain_nest(struct b *b, unsigned levels)
{
    size_t f = method_open(b, 0, 10, 10);
    p8(b, 0); p8(b, 9);
    size_t t = tbl_open(b);
    kstr(b, "product", "Deep");
    size_t at[16];
    for (unsigned i = 0; i < levels; i++) { key(b, "n", 'F'); at[i] = tbl_open(b); }
    for (unsigned i = levels; i-- > 0;) tbl_close(b, at[i]);
    kstr(b, "version", "after");
    tbl_close(b, t);
    lstr(b, "PLAIN", 5);
    lstr(b, "en_US", 5);
    frame_close(b, f);
}

static void test_table_limits(void)
{
    size_t used;
    struct b b = { .n = 0 };
    /* eight nested tables below the top-level one: followed */
    plain_nest(&b, 8);
    struct drv *v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, b.n);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->broker_version, "after"));
    free(v);
    /* nine: the depth limit; that nested table is lost, the keys around it are read */
    b.n = 0;
    plain_nest(&b, 9);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_TABLE_DEPTH));
    CHECK(str_is(&ext(v)->broker_product, "Deep"));
    CHECK(str_is(&ext(v)->broker_version, "after"));
    CHECK((v->f.seen & BW_FACT_SPEC_VIOLATION) != 0);
    free(v);
    /* tables and arrays mixed: eight deep is fine, nine is not */
    b.n = 0;
    deep_start(&b, 8);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->broker_version, "after"));
    free(v);
    b.n = 0;
    deep_start(&b, 9);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_TABLE_DEPTH));
    free(v);
    /* 200 levels: bounded, no stack trouble */
    static struct b big;
    big.n = 0;
    size_t f = method_open(&big, 0, 10, 10);
    p8(&big, 0); p8(&big, 9);
    size_t at[201];
    at[0] = tbl_open(&big);
    for (unsigned i = 1; i <= 200; i++) { key(&big, "n", 'F'); at[i] = tbl_open(&big); }
    for (unsigned i = 201; i-- > 0;) tbl_close(&big, at[i]);
    lstr(&big, "PLAIN", 5); lstr(&big, "", 0);
    frame_close(&big, f);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, big.d, big.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_TABLE_DEPTH));
    free(v);

    /* an unknown field type: its length is unknown, the table walk stops */
    b.n = 0;
    f = method_open(&b, 0, 10, 10);
    p8(&b, 0); p8(&b, 9);
    size_t t = tbl_open(&b);
    kstr(&b, "product", "P");
    key(&b, "q", 'Z'); p32(&b, 0);
    kstr(&b, "version", "V");
    tbl_close(&b, t);
    lstr(&b, "PLAIN", 5); lstr(&b, "en_US", 5);
    frame_close(&b, f);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    CHECK(str_is(&ext(v)->broker_product, "P") && !ext(v)->broker_version.set);
    CHECK(ext(v)->mechanisms.set);                 /* the table length kept the method readable */
    free(v);

    /* a table length past the end of the frame */
    b.n = 0;
    f = method_open(&b, 0, 10, 10);
    p8(&b, 0); p8(&b, 9);
    p32(&b, 5000); kstr(&b, "product", "P");
    frame_close(&b, f);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, b.n);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_TABLE)) && (v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_METHOD)));
    CHECK(!ext(v)->broker_product.set && !ext(v)->mechanisms.set);
    free(v);

    /* a string length past the end of its table */
    b.n = 0;
    f = method_open(&b, 0, 10, 10);
    p8(&b, 0); p8(&b, 9);
    t = tbl_open(&b);
    key(&b, "product", 'S'); p32(&b, 0x7fffffff); pn(&b, "RabbitMQ", 8);
    tbl_close(&b, t);
    lstr(&b, "PLAIN", 5); lstr(&b, "en_US", 5);
    frame_close(&b, f);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    CHECK(!ext(v)->broker_product.set);
    free(v);

    /* a name length past the table */
    b.n = 0;
    f = method_open(&b, 0, 10, 10);
    p8(&b, 0); p8(&b, 9);
    t = tbl_open(&b);
    p8(&b, 200); pn(&b, "abc", 3);
    tbl_close(&b, t);
    lstr(&b, "PLAIN", 5); lstr(&b, "en_US", 5);
    frame_close(&b, f);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    free(v);

    /* trailing bytes after the last argument */
    b.n = 0;
    f = method_open(&b, 0, 10, 41);
    sstr(&b, ""); p8(&b, 0xAA);
    frame_close(&b, f);
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD));
    free(v);
}

/* Connection.Start whose server-properties are `props` (table content, built by the caller). */
static void start_with(struct b *b, const struct b *props)
{
    size_t f = method_open(b, 0, 10, 10);
    p8(b, 0); p8(b, 9);
    lstr(b, props->d, props->n);
    lstr(b, "PLAIN AMQPLAIN", 14);
    lstr(b, "en_US", 5);
    frame_close(b, f);
}

static struct drv *run_start(const struct b *props)
{
    struct b b = { .n = 0 };
    size_t used = 0;
    start_with(&b, props);
    struct drv *v = drv_new(D);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, b.n);
    const struct bw_amqp_lstr *mx = &ext(v)->mechanisms;   /* the method is read past the table */
    CHECK(mx->set && mx->len == 14 && memcmp(mx->s, "PLAIN AMQPLAIN", 14) == 0);
    return v;
}

static void test_table_dialects(void)
{
    /* 'U' (the spec's short-int) next to RabbitMQ's letters */
    struct b t = { .n = 0 };
    key(&t, "U", 'U'); p16(&t, 0xfffe);
    key(&t, "L", 'L'); p64(&t, 5);
    key(&t, "x", 'x'); lstr(&t, "\x01\x02", 2);
    kstr(&t, "product", "RabbitMQ");
    kstr(&t, "version", "3.10.8");
    struct drv *v = run_start(&t);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->broker_product, "RabbitMQ") && str_is(&ext(v)->broker_version, "3.10.8"));
    CHECK(fstr_is(&v->f.product, "RabbitMQ 3.10.8"));
    free(v);

    /* 's' as RabbitMQ reads it (a 16-bit integer), in a nested table too */
    t.n = 0;
    key(&t, "capabilities", 'F');
    size_t c = tbl_open(&t);
    key(&t, "s16", 's'); p16(&t, 7);
    key(&t, "publisher_confirms", 't'); p8(&t, 1);
    tbl_close(&t, c);
    key(&t, "prio", 's'); p16(&t, 0x0102);
    kstr(&t, "product", "Rabbit-s");
    v = run_start(&t);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->broker_product, "Rabbit-s"));
    CHECK_EQ(ext(v)->broker_caps, BW_AMQP_CAP_PUBLISHER_CONFIRMS);
    free(v);

    /* 's' as the 0-9-1 grammar writes it (a short string): the table decodes only that way,
     * and a short-string product counts */
    t.n = 0;
    key(&t, "cluster_name", 's'); sstr(&t, "spec-cluster-with-a-long-name");
    key(&t, "product", 's'); sstr(&t, "SpecBroker");
    kstr(&t, "version", "0.9.1");
    v = run_start(&t);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->cluster_name, "spec-cluster-with-a-long-name"));
    CHECK(str_is(&ext(v)->broker_product, "SpecBroker") && str_is(&ext(v)->broker_version, "0.9.1"));
    CHECK(fstr_is(&v->f.product, "SpecBroker 0.9.1"));
    free(v);

    /* a nested table that decodes in neither set is lost alone: the keys after it are read */
    t.n = 0;
    key(&t, "capabilities", 'F');
    c = tbl_open(&t);
    key(&t, "publisher_confirms", 't'); p8(&t, 1);
    key(&t, "odd", 'Q'); p32(&t, 0);                 /* unknown letter, unknown width */
    tbl_close(&t, c);
    key(&t, "list", 'A');
    size_t a = tbl_open(&t);
    p8(&t, 'S'); p32(&t, 999); pn(&t, "short", 5);  /* a string length past the array */
    tbl_close(&t, a);
    kstr(&t, "product", "RabbitMQ");
    kstr(&t, "version", "3.10.8");
    v = run_start(&t);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    CHECK(str_is(&ext(v)->broker_product, "RabbitMQ") && str_is(&ext(v)->broker_version, "3.10.8"));
    CHECK_EQ(ext(v)->broker_caps, 0);                /* the capabilities in the lost table */
    CHECK(ext(v)->props_seen & BW_AMQP_PROPS_BROKER);
    free(v);

    /* an undecodable top-level value: what came before is kept, the rest of the table is lost
     * (its width is unknown), the method after the table is still read */
    t.n = 0;
    kstr(&t, "product", "P");
    key(&t, "q", 'Z'); p32(&t, 0);
    kstr(&t, "version", "V");
    v = run_start(&t);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    CHECK(str_is(&ext(v)->broker_product, "P") && !ext(v)->broker_version.set);
    free(v);

    /* a Start-Ok whose client-properties do not decode still gives its credentials */
    struct script s = { .n = 0 };
    struct b b = { .n = 0 }, so = { .n = 0 };
    hdr(&b, H091); sc_add(&s, TS, &b);
    b.n = 0; m_start(&b, "PLAIN"); sc_add(&s, TC, &b);
    size_t f = method_open(&so, 0, 10, 11);
    size_t ct = tbl_open(&so);
    kstr(&so, "product", "odd client");
    key(&so, "capabilities", 'F');
    c = tbl_open(&so);
    key(&so, "x", '?');
    tbl_close(&so, c);
    kstr(&so, "version", "9");
    tbl_close(&so, ct);
    sstr(&so, "PLAIN");
    lstr(&so, "\0orders\0pw", 10);
    sstr(&so, "en_US");
    frame_close(&so, f);
    sc_add(&s, TS, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    CHECK(fstr_is(&v->f.user, "orders"));
    CHECK((v->f.seen & BW_FACT_CREDS_PASS) && v->f.pass_len == 2);
    CHECK(str_is(&ext(v)->client_product, "odd client") && str_is(&ext(v)->client_version, "9"));
    split_sweep(&s, "bad client table");
    free(v);

    /* AMQPLAIN written with the spec's short strings */
    s.n = 0; s.used = 0;
    b.n = 0; hdr(&b, H091); sc_add(&s, TS, &b);
    b.n = 0; m_start(&b, "AMQPLAIN"); sc_add(&s, TC, &b);
    struct b r = { .n = 0 };
    key(&r, "LOGIN", 's'); sstr(&r, "billing");
    key(&r, "PASSWORD", 's'); sstr(&r, "pw-spec");
    so.n = 0;
    m_start_ok(&so, "AMQPLAIN", r.d, r.n);
    sc_add(&s, TS, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(fstr_is(&v->f.user, "billing"));
    CHECK((v->f.seen & BW_FACT_CREDS_PASS) && v->f.pass_len == 7);
    free(v);
}

/* A session whose client header was seen: broken framing after it is a violation. */
static struct drv *after_header(void)
{
    struct drv *v = drv_new(D);
    drv_feed(v, TS, H091, 8);
    return v;
}

static void test_hostile_sizes(void)
{
    size_t used;
    /* frame size 0xFFFFFFFF: not followed; the byte is dropped and a frame is searched for */
    struct b b = { .n = 0 };
    p8(&b, 1); p16(&b, 0); p32(&b, 0xFFFFFFFFu); p16(&b, 10); p16(&b, 10);
    struct drv *v = after_header();
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 1);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE));
    /* a connection method bigger than the handshake bound is skipped, not buffered */
    free(v);
    b.n = 0;
    size_t f = method_open(&b, 0, 10, 10);
    patch32(&b, f, 20000);
    v = after_header();
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 7 + 20000);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE));
    free(v);
    /* the negotiated frame-max is enforced as an anomaly; a tiny one is itself odd */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    m_start_ok_plain(&so, "guest", "guest");
    sc_handshake(&s, &so);
    b.n = 0; m_tune(&b, 30, 0, 100, 0); sc_add(&s, TC, &b);
    b.n = 0; m_tune(&b, 31, 0, 100, 0); sc_add(&s, TS, &b);
    b.n = 0; publish(&b, 200); sc_add(&s, TS, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_TUNE)) && (v->f.anomalies & AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE)));
    free(v);
    /* an unknown frame type and a wrong frame-end */
    b.n = 0;
    f = frame_open(&b, 9, 0); frame_close(&b, f);
    v = after_header();
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 1);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME_TYPE));
    free(v);
    b.n = 0;
    m_open_ok(&b);
    b.d[b.n - 1] = 0x00;
    v = after_header();
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 1);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME_END));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
    free(v);
    /* a method frame too short for its ids, a heartbeat with a payload, wrong channels */
    b.n = 0;
    f = frame_open(&b, 1, 0); p16(&b, 10); frame_close(&b, f);
    f = frame_open(&b, 8, 3); frame_close(&b, f);
    f = method_open(&b, 5, 10, 41); sstr(&b, ""); frame_close(&b, f);
    f = method_open(&b, 0, 20, 10); sstr(&b, ""); frame_close(&b, f);
    v = after_header();
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD) | AN(BW_AMQP091_ANOM_BAD_HEARTBEAT) | AN(BW_AMQP091_ANOM_BAD_CHANNEL));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);      /* Open-Ok off channel 0 is not read */
    CHECK(!v->stop[TC]);
    free(v);
    /* methods from the wrong peer and unknown methods */
    b.n = 0;
    m_start(&b, "PLAIN");
    v = after_header();
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_WRONG_DIRECTION));
    CHECK(!ext(v)->mechanisms.set);
    b.n = 0; m_empty(&b, 99);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_METHOD)) != 0);
    free(v);
    /* a frame-end that is wrong after a skipped payload */
    b.n = 0; publish(&b, 3);
    b.d[b.n - 1] = 0x11;
    v = after_header();
    drv_feed(v, TS, b.d, b.n);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_FRAME_END)) != 0);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) == 0);
    free(v);
}

static void test_gap(void)
{
    /* broker bytes lost after Start: resync finds the Tune behind junk */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 }, b = { .n = 0 };
    m_start_ok_plain(&so, "guest", "guest");
    sc_handshake(&s, &so);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK_EQ(D->gap(v->st, TC, &v->f), BW_PARSE_OK);
    CHECK((v->f.seen & BW_FACT_GAP) != 0);
    p8(&b, 0x55); p8(&b, 0xCE); p8(&b, 0x01); p8(&b, 0x00); p8(&b, 0x00);
    m_tune(&b, 30, 0, 131072, 60);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK_EQ(v->f.anomalies, 0);                  /* a resync after a gap is no violation */
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) == 0);
    free(v);
    /* a lost header: frames follow and are read */
    v = drv_new(D);
    CHECK_EQ(D->gap(v->st, TS, &v->f), BW_PARSE_OK);
    so.n = 0;
    m_start_ok_plain(&so, "guest", "guest");
    drv_feed(v, TS, so.d, so.n);
    CHECK(fstr_is(&v->f.user, "guest"));
    CHECK_STR(v->f.version, "0-9-1");
    free(v);
    /* junk with no frame in it: bounded, then the direction stops */
    v = drv_new(D);
    CHECK_EQ(D->gap(v->st, TS, &v->f), BW_PARSE_OK);
    static uint8_t junk[4096];
    memset(junk, 'j', sizeof junk);
    for (int i = 0; i < 20 && !v->stop[TS]; i++) drv_feed(v, TS, junk, sizeof junk);
    CHECK(v->stop[TS] && v->last[TS] == BW_PARSE_DONE);
    free(v);
    /* a gap after DONE changes nothing */
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    CHECK_EQ(D->gap(v->st, TS, &v->f), BW_PARSE_DONE);
    free(v);
}

static void test_json_empty(void)
{
    struct bw_facts f;
    bw_facts_init(&f);
    char out[2048];
    json_of(&f, out, sizeof out);
    CHECK_STR(out, "{\"amqp\":{\"broker_product\":null,\"broker_version\":null,\"broker_platform\":null,"
                   "\"cluster_name\":null,\"mechanisms_offered\":null,\"client_product\":null,"
                   "\"client_version\":null,\"vhost\":null,\"broker_capabilities\":null,"
                   "\"client_capabilities\":null,\"close\":null,\"sasl_outcome\":null,"
                   "\"frames\":{\"to_server\":0,\"to_client\":0}}}");
    /* names of every anomaly bit */
    unsigned n = 0;
    while (D->anomaly_names[n]) n++;
    CHECK_EQ(n, BW_AMQP091_ANOM_COUNT);
    CHECK_STR(D->anomaly_names[BW_AMQP091_ANOM_BAD_FRAME], "bad_frame");
    CHECK_STR(D->anomaly_names[BW_AMQP091_ANOM_VERSION_MISMATCH], "version_mismatch");
    CHECK_STR(D->name, "amqp");
    CHECK_EQ(D->ports[0], 5672);
    CHECK(D->state_size <= BW_DISSECTOR_STATE_MAX);
}

static void test_long_mechs(void)
{
    /* a mechanism list longer than the ext keeps: cut, and shown as cut */
    struct b b = { .n = 0 };
    m_start(&b, "PLAIN AMQPLAIN EXTERNAL ANONYMOUS RABBIT-CR-DEMO SCRAM-SHA-256 SCRAM-SHA-1 "
                "GSSAPI OAUTHBEARER XOAUTH2 CRAM-MD5");
    struct drv *v = drv_new(D);
    drv_feed(v, TC, b.d, b.n);
    CHECK(ext(v)->mechanisms.cut);
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"mechanisms_offered\":[\"PLAIN\",\"AMQPLAIN\",\"EXTERNAL\"") != NULL);
    CHECK(strstr(out, "...\"]") != NULL);
    /* a cut list cannot prove a mechanism was not offered */
    struct b so = { .n = 0 };
    m_start_ok(&so, "CRAM-MD5", "x", 1);
    drv_feed(v, TS, H091, 8);
    drv_feed(v, TS, so.d, so.n);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_MECH_NOT_OFFERED)) == 0);
    free(v);
}

static void test_misc_methods(void)
{
    size_t used;
    struct b b = { .n = 0 };
    /* the client closes during the handshake; the broker's Close-Ok ends its side */
    struct drv *v = drv_new(D);
    drv_feed(v, TS, H091, 8);
    m_close(&b, 50, 200, "bye");
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(used, b.n);
    CHECK(!ext(v)->close_seen && v->f.result_code == -1);   /* not the broker's answer */
    b.n = 0; m_empty(&b, 51);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(used, b.n);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
    /* Blocked / Unblocked from the broker, Update-Secret from the client: read past quietly */
    v = drv_new(D);
    drv_feed(v, TS, H091, 8);
    b.n = 0;
    size_t f = method_open(&b, 0, 10, 60); sstr(&b, "low on memory"); frame_close(&b, f);
    m_empty(&b, 61);
    m_empty(&b, 71);
    drv_feed(v, TC, b.d, b.n);
    b.n = 0;
    f = method_open(&b, 0, 10, 70); lstr(&b, "new-token-Sekr1t", 16); sstr(&b, "refresh");
    frame_close(&b, f);
    drv_feed(v, TS, b.d, b.n);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, "Sekr1t"));
    /* ... and from the wrong peer */
    b.n = 0; m_empty(&b, 61);
    drv_feed(v, TS, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_WRONG_DIRECTION));
    free(v);
    /* a 0-8 Redirect from the client is out of place */
    v = drv_new(D);
    drv_feed(v, TS, H08, 8);
    b.n = 0; f = method_open(&b, 0, 10, 50); sstr(&b, "h"); sstr(&b, ""); frame_close(&b, f);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_WRONG_DIRECTION));
    free(v);
    /* AMQPLAIN with a LOGIN that is no string */
    struct script s = { .n = 0 };
    struct b r = { .n = 0 }, so = { .n = 0 };
    key(&r, "LOGIN", 'I'); p32(&r, 7);
    kstr(&r, "PASSWORD", "pw");
    m_start_ok(&so, "AMQPLAIN", r.d, r.n);
    sc_handshake(&s, &so);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_AMQPLAIN)) != 0);
    CHECK(!(v->f.seen & BW_FACT_CREDS_USER) && (v->f.seen & BW_FACT_CREDS_PASS));
    free(v);
}

/* ---- AMQP 0-10 ---- */

static void patch16(struct b *b, size_t at, unsigned v)
{
    b->d[at] = (uint8_t)(v >> 8); b->d[at + 1] = (uint8_t)v;
}
/* A frame header: flags, segment type, size (patched by f10_close), track, channel. */
static size_t f10_open(struct b *b, unsigned flags, unsigned seg, unsigned track, unsigned ch)
{
    size_t at = b->n;
    p8(b, flags); p8(b, seg); p16(b, 0); p8(b, 0); p8(b, track); p16(b, ch); p32(b, 0);
    return at;
}
static void f10_close(struct b *b, size_t at) { patch16(b, at + 2, (unsigned)(b->n - at)); }
/* A whole connection control in one frame on channel 0, packing flags little end first. */
static size_t c10_open(struct b *b, unsigned code, unsigned pf)
{
    size_t at = f10_open(b, 0x0f, 0, 0, 0);
    p8(b, 1); p8(b, code); p8(b, pf & 0xff); p8(b, pf >> 8);
    return at;
}
static void str16(struct b *b, const char *s) { p16(b, (unsigned)strlen(s)); pn(b, s, strlen(s)); }
static size_t m10_open(struct b *b, uint32_t count) { size_t at = tbl_open(b); p32(b, count); return at; }
static void e10_str16(struct b *b, const char *k, const char *v) { sstr(b, k); p8(b, 0x95); str16(b, v); }
/* array of str16 from a space-separated list */
static void a10_str16(struct b *b, const char *list)
{
    size_t at = tbl_open(b);
    p8(b, 0x95);
    size_t cnt = b->n;
    p32(b, 0);
    uint32_t n = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        p16(b, (unsigned)len); pn(b, p, len); n++;
        p += len;
        if (*p == ' ') p++;
    }
    patch32(b, cnt, n);
    tbl_close(b, at);
}

/* connection.start as qpidd sends it, with a product and version when given */
static void c10_start(struct b *b, const char *product, const char *version, const char *mechs)
{
    size_t f = c10_open(b, 0x01, 0x07);
    size_t m = m10_open(b, product ? 5 : 3);
    e10_str16(b, "qpid.federation_tag", "cbe75170-b507-4175-bebf-978fcd24401b");
    sstr(b, "qpid.pid"); p8(b, 0x31); p64(b, 2971);               /* int64 */
    sstr(b, "nested"); p8(b, 0xa8);                               /* a map inside: skipped */
    size_t in = m10_open(b, 1); e10_str16(b, "product", "not-me"); tbl_close(b, in);
    if (product) { e10_str16(b, "product", product); e10_str16(b, "version", version); }
    tbl_close(b, m);
    a10_str16(b, mechs);
    a10_str16(b, "en_US");
    f10_close(b, f);
}
/* connection.start-ok as qpid's python client sends it: no locale */
static void c10_start_ok(struct b *b, const char *mech, const void *resp, size_t rlen)
{
    size_t f = c10_open(b, 0x02, 0x07);
    size_t m = m10_open(b, 3);
    e10_str16(b, "product", "qpid python client");
    sstr(b, "qpid.client_ppid"); p8(b, 0x31); p64(b, 2971);
    e10_str16(b, "version", "development");
    tbl_close(b, m);
    sstr(b, mech);
    lstr(b, resp, rlen);
    f10_close(b, f);
}
static void c10_start_ok_plain(struct b *b, const char *user, const char *pass)
{
    uint8_t r[256];
    size_t n = plain_resp(r, user, pass);
    c10_start_ok(b, "PLAIN", r, n);
}
static void c10_tune(struct b *b)
{
    size_t f = c10_open(b, 0x05, 0x0f);
    p16(b, 0xfffe); p16(b, 0xffff); p16(b, 0); p16(b, 120);
    f10_close(b, f);
}
static void c10_tune_ok(struct b *b)
{
    size_t f = c10_open(b, 0x06, 0x07);
    p16(b, 0xfffe); p16(b, 0xffff); p16(b, 120);
    f10_close(b, f);
}
static void c10_open_vh(struct b *b, const char *vhost)
{
    size_t f = c10_open(b, 0x07, vhost ? 0x07 : 0x04);        /* insist: a bit, no bytes */
    if (vhost) { sstr(b, vhost); a10_str16(b, "qpid.federate"); }
    f10_close(b, f);
}
static void c10_open_ok(struct b *b)
{
    size_t f = c10_open(b, 0x08, 0x01);
    size_t a = tbl_open(b); p8(b, 0x95); p32(b, 0); tbl_close(b, a);   /* known-hosts: none */
    f10_close(b, f);
}
static void c10_close(struct b *b, unsigned code, const char *text)
{
    size_t f = c10_open(b, 0x0b, text ? 0x03 : 0x01);
    p16(b, code);
    if (text) sstr(b, text);
    f10_close(b, f);
}
static void c10_empty(struct b *b, unsigned code)   /* close-ok, heartbeat */
{
    size_t f = c10_open(b, code, 0);
    f10_close(b, f);
}
/* session.attach on channel 0 and a message.transfer command + header + body on channel 1 */
static void s10_traffic(struct b *b, size_t body)
{
    size_t f = f10_open(b, 0x0f, 0, 0, 0);
    p8(b, 2); p8(b, 1); p8(b, 1); p8(b, 0); str16(b, "cf7e58fe-2fe8-499c-8a16"); f10_close(b, f);
    f = f10_open(b, 0x0b, 1, 1, 1);
    p8(b, 4); p8(b, 1); p8(b, 1); p8(b, 0); p16(b, 0); sstr(b, "amq.direct"); f10_close(b, f);
    f = f10_open(b, 0x03, 2, 1, 1);
    p32(b, 0); f10_close(b, f);
    f = f10_open(b, 0x07, 3, 1, 1);
    for (size_t i = 0; i < body; i++) p8(b, 'x');
    f10_close(b, f);
}

/* headers, then Start .. Start-Ok as separate messages (0..3) */
static void sc10_handshake(struct script *s, const struct b *startok, const char *product)
{
    struct b b = { .n = 0 };
    hdr(&b, H010); sc_add(s, TS, &b);
    b.n = 0; hdr(&b, H010); sc_add(s, TC, &b);
    b.n = 0; c10_start(&b, product, "1.39.0", "ANONYMOUS PLAIN"); sc_add(s, TC, &b);
    sc_add(s, TS, startok);
}
/* Tune, Tune-Ok, Open, Open-Ok (messages 4..7) */
static void sc10_accept(struct script *s, const char *vhost)
{
    struct b b = { .n = 0 };
    c10_tune(&b); sc_add(s, TC, &b);
    b.n = 0; c10_tune_ok(&b); sc_add(s, TS, &b);
    b.n = 0; c10_open_vh(&b, vhost); sc_add(s, TS, &b);
    b.n = 0; c10_open_ok(&b); sc_add(s, TC, &b);
}

static void test_v010_anonymous(void)
{
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    c10_start_ok(&so, "ANONYMOUS", "None@fjeld", 10);
    sc10_handshake(&s, &so, "qpid-cpp");
    sc10_accept(&s, "/");
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    const struct bw_amqp_ext *x = ext(v);
    CHECK_STR(v->f.version, "0-10");
    CHECK(fstr_is(&v->f.mech, "ANONYMOUS"));
    CHECK((v->f.seen & (BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK)) ==
          (BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK));
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_FAILED |
                        BW_FACT_REFUSED | BW_FACT_MIDSTREAM | BW_FACT_SPEC_VIOLATION)) == 0);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK_EQ(v->f.result_code, -1);
    CHECK(fstr_is(&v->f.product, "qpid-cpp 1.39.0"));
    CHECK(str_is(&x->broker_product, "qpid-cpp"));       /* not the nested map's */
    CHECK(str_is(&x->broker_version, "1.39.0"));
    CHECK(str_is(&x->client_product, "qpid python client"));
    CHECK(str_is(&x->client_version, "development"));
    CHECK(str_is(&x->vhost, "/"));
    CHECK(x->mechanisms.set && x->mechanisms.len == 15 && memcmp(x->mechanisms.s, "ANONYMOUS PLAIN", 15) == 0);
    CHECK_EQ(x->frames[TS], 3);
    CHECK_EQ(x->frames[TC], 3);
    CHECK(!x->close_seen && !x->mismatch);
    CHECK(v->stop[TS] && v->last[TS] == BW_PARSE_DONE);
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"mechanisms_offered\":[\"ANONYMOUS\",\"PLAIN\"]") != NULL);
    CHECK(strstr(out, "\"broker_capabilities\":null") != NULL);   /* 0-10 has no such table */
    CHECK(strstr(out, "\"vhost\":\"/\"") != NULL);

    for (unsigned i = 0; i < 8; i++)
        trunc_sweep(&s, i, i >= 6 ? BW_PARSE_DONE : BW_PARSE_OK);   /* Open, Open-Ok end a side */
    split_sweep(&s, "0-10 anonymous");
    free(v);

    /* no product in server-properties (qpidd): no product fact; Open with no field at all */
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    sc10_accept(&s, NULL);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(v->f.product.len == 0 && !ext(v)->broker_product.set && !ext(v)->vhost.set);
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK_EQ(v->f.anomalies, 0);
    free(v);

    /* the whole handshake in two writes per side, as the capture has it */
    v = drv_new(D);
    struct b c = { .n = 0 }, k = { .n = 0 };
    hdr(&c, H010); c10_start(&c, "qpid-cpp", "1.39.0", "ANONYMOUS PLAIN");
    hdr(&k, H010);
    drv_feed(v, TS, k.d, k.n);
    drv_feed(v, TC, c.d, c.n);
    drv_feed(v, TS, so.d, so.n);
    c.n = 0; c10_tune(&c); c10_open_ok(&c);
    k.n = 0; c10_tune_ok(&k); c10_open_vh(&k, "/"); c10_close(&k, 200, NULL);
    drv_feed(v, TS, k.d, k.n);
    drv_feed(v, TC, c.d, c.n);
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(!ext(v)->close_seen);
    free(v);
}

static void test_v010_plain(void)
{
    /* guest/guest: cleartext and default credentials */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 };
    c10_start_ok_plain(&so, "guest", "guest");
    sc10_handshake(&s, &so, "qpid-cpp");
    sc10_accept(&s, "/");
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.mech, "PLAIN"));
    CHECK(fstr_is(&v->f.user, "guest"));
    CHECK((v->f.seen & BW_FACT_CREDS_USER) && (v->f.seen & BW_FACT_CREDS_PASS));
    CHECK_EQ(v->f.pass_len, 5);
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) == 0);
    CHECK_EQ(v->f.anomalies, 0);
    split_sweep(&s, "0-10 plain guest");
    trunc_sweep(&s, 3, BW_PARSE_OK);
    free(v);

    /* another pair: kept name, counted password that appears nowhere */
    static const char pw[] = "Qx7-0ten-Secret";
    s.n = 0; s.used = 0; so.n = 0;
    c10_start_ok_plain(&so, "alice", pw);
    sc10_handshake(&s, &so, "qpid-cpp");
    sc10_accept(&s, "prod");
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.user, "alice"));
    CHECK_EQ(v->f.pass_len, strlen(pw));
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) == 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, pw));
    CHECK(!has_bytes(v->st, sizeof v->st, pw));
    char out[4096];
    CHECK(strstr(json_of(&v->f, out, sizeof out), pw) == NULL);
    free(v);

    /* PLAIN without the second NUL: nothing reported; a mechanism not offered */
    so.n = 0;
    c10_start_ok(&so, "PLAIN", "\0alice", 6);
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_PLAIN));
    free(v);
    so.n = 0;
    c10_start_ok(&so, "CRAM-MD5", "x", 1);
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_MECH_NOT_OFFERED));
    CHECK(fstr_is(&v->f.mech, "CRAM-MD5"));
    free(v);
}

static void test_v010_close(void)
{
    /* 403 after Start-Ok: a failed login */
    struct script s = { .n = 0 };
    struct b so = { .n = 0 }, b = { .n = 0 };
    c10_start_ok_plain(&so, "guest", "wrong");
    sc10_handshake(&s, &so, "qpid-cpp");
    c10_close(&b, 403, "ACCESS_REFUSED"); sc_add(&s, TC, &b);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    const struct bw_amqp_ext *x = ext(v);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) != 0);
    CHECK((v->f.seen & (BW_FACT_AUTH_OK | BW_FACT_REFUSED | BW_FACT_DEFAULT_CREDS)) == 0);
    CHECK_EQ(v->f.result_code, 403);
    CHECK(x->close_seen && x->close_code == 403);
    CHECK(x->close_text.set && x->close_text.len == 14 && memcmp(x->close_text.s, "ACCESS_REFUSED", 14) == 0);
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, 0);
    trunc_sweep(&s, 4, BW_PARSE_DONE);
    split_sweep(&s, "0-10 close 403");
    free(v);

    /* 320 connection-forced after Start-Ok: how qpidd refuses a login */
    s.n = 0; s.used = 0; b.n = 0;
    sc10_handshake(&s, &so, NULL);
    c10_close(&b, 320, "connection-forced: Authentication failed"); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) && !(v->f.seen & BW_FACT_REFUSED));
    CHECK_EQ(v->f.result_code, 320);
    free(v);

    /* 320 before any Start-Ok, or after the Tune: a refusal, not a login failure */
    s.n = 0; s.used = 0;
    b.n = 0; hdr(&b, H010); sc_add(&s, TS, &b);
    b.n = 0; hdr(&b, H010); c10_start(&b, NULL, NULL, "PLAIN"); c10_close(&b, 320, "bye"); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) && !(v->f.seen & BW_FACT_AUTH_FAILED));
    free(v);
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    b.n = 0; c10_tune(&b); c10_close(&b, 402, "invalid-path"); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) && (v->f.seen & BW_FACT_AUTH_OK) && !(v->f.seen & BW_FACT_AUTH_FAILED));
    CHECK_EQ(v->f.result_code, 402);
    free(v);

    /* the broker's 200 is neither; a close with no reply-code is malformed */
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    b.n = 0; c10_close(&b, 200, NULL); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & (BW_FACT_REFUSED | BW_FACT_AUTH_FAILED)) == 0);
    CHECK_EQ(v->f.result_code, 200);
    free(v);
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    b.n = 0; c10_empty(&b, 0x0b); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(ext(v)->close_seen && ext(v)->close_code == -1 && v->f.result_code == -1);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD));
    CHECK((v->f.seen & (BW_FACT_REFUSED | BW_FACT_AUTH_FAILED)) == 0);
    free(v);

    /* the client's close is no answer; close-ok ends the broker's side */
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    drv_feed(v, TC, H010, 8);
    b.n = 0; c10_close(&b, 200, NULL);
    drv_feed(v, TS, b.d, b.n);
    CHECK(v->stop[TS] && !ext(v)->close_seen && v->f.result_code == -1);
    b.n = 0; c10_empty(&b, 0x0a); c10_empty(&b, 0x0c);     /* heartbeat, close-ok */
    drv_feed(v, TC, b.d, b.n);
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);

    /* the broker drops the connection after Start-Ok without a Tune */
    s.n = 0; s.used = 0;
    sc10_handshake(&s, &so, NULL);
    v = sc_run(&s, MSG_MAX, 0);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) != 0);
    free(v);
}

/* A control split over frames: the first frame, middles, the last, all on channel 0. */
static void c10_split(struct b *out, const struct b *whole, size_t piece)
{
    const uint8_t *pl = whole->d + 12;
    size_t left = whole->n - 12;
    bool first = true;
    while (left > 0) {
        size_t k = left < piece ? left : piece;
        unsigned fl = 0x08 | 0x04 | (first ? 0x02 : 0) | (k == left ? 0x01 : 0);
        size_t f = f10_open(out, fl, 0, 0, 0);
        pn(out, pl, k);
        f10_close(out, f);
        pl += k; left -= k; first = false;
    }
}

static void test_v010_segments(void)
{
    /* Start split over frames reads like the whole one; its frames are counted */
    struct b whole = { .n = 0 }, b = { .n = 0 }, so = { .n = 0 };
    c10_start(&whole, "qpid-cpp", "1.39.0", "ANONYMOUS PLAIN");
    c10_split(&b, &whole, 40);
    struct script s = { .n = 0 };
    struct b h = { .n = 0 };
    hdr(&h, H010); sc_add(&s, TS, &h); sc_add(&s, TC, &h);
    sc_add(&s, TC, &b);
    c10_start_ok(&so, "ANONYMOUS", "", 0); sc_add(&s, TS, &so);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(str_is(&ext(v)->broker_product, "qpid-cpp"));
    CHECK(ext(v)->mechanisms.len == 15);
    CHECK_EQ(ext(v)->frames[TC], (whole.n - 12 + 39) / 40);
    CHECK_EQ(v->f.anomalies, 0);
    trunc_sweep(&s, 2, BW_PARSE_OK);          /* NEED_MORE until the last frame is in */
    split_sweep(&s, "0-10 segment");
    free(v);

    /* a segment past the handshake bound: the first frame is skipped, its rest too, and the
     * next control is read */
    size_t used;
    b.n = 0;
    size_t f = f10_open(&b, 0x0a, 0, 0, 0); p8(&b, 1); p8(&b, 1); f10_close(&b, f);
    patch16(&b, f + 2, 20000);
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    drv_feed(v, TC, H010, 8);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 20000);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE));
    free(v);
    /* ... also when only the sum of its frames is too large */
    uint8_t *big = calloc(1, 12000 + 24);
    static const uint8_t h1[12] = { 0x0a, 0, 0x2e, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0 };   /* 12000 */
    static const uint8_t h2[12] = { 0x05, 0, 0x2e, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0 };
    memcpy(big, h1, 12); big[12] = 1; big[13] = 1;
    memcpy(big + 12000, h2, 12);
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    drv_feed(v, TC, H010, 8);
    CHECK_EQ(parse_copy(v, TC, big, 12000 + 12, &used), BW_PARSE_OK);
    CHECK_EQ(used, 12000);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE));
    CHECK_EQ(parse_copy(v, TC, big + 12000, 12, &used), BW_PARSE_OK);   /* the rest: skipped */
    CHECK_EQ(used, 12000);
    CHECK(!ext(v)->mechanisms.set);
    free(big);
    b.n = 0; c10_tune(&b);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    free(v);
    /* a segment interrupted by a frame of another kind */
    b.n = 0;
    f = f10_open(&b, 0x0a, 0, 0, 0); p8(&b, 1); p8(&b, 5); f10_close(&b, f);
    f = f10_open(&b, 0x0f, 1, 1, 1); p8(&b, 4); p8(&b, 1); f10_close(&b, f);
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    drv_feed(v, TC, H010, 8);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0 && !v->stop[TC]);
    free(v);

    /* commands, headers and bodies are skipped by length, past the buffer too */
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    b.n = 0; s10_traffic(&b, 3000);
    drv_feed(v, TS, b.d, 400);
    CHECK(v->skip[TS] > 0);
    drv_feed(v, TS, b.d + 400, b.n - 400);
    CHECK_EQ(v->have[TS], 0);
    CHECK_EQ(ext(v)->frames[TS], 4);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(!v->stop[TS]);
    free(v);
}

static void test_v010_hostile(void)
{
    size_t used;
    struct b b = { .n = 0 };
    struct drv *v;
    /* frame sizes below the header and unknown segment types end the direction */
    static const uint8_t small[12] = { 0x0f, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0 };
    static const uint8_t segt[12]  = { 0x0f, 9, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0 };
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    CHECK_EQ(parse_copy(v, TS, small, 12, &used), BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME));
    free(v);
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    CHECK_EQ(parse_copy(v, TS, segt, 12, &used), BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME_TYPE));
    free(v);
    /* a 64 KiB control in one frame is skipped, not buffered; an empty one is malformed */
    static const uint8_t huge[14] = { 0x0f, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 };
    static const uint8_t empty[12] = { 0x0f, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0 };
    v = drv_new(D);
    drv_feed(v, TC, H010, 8);
    CHECK_EQ(parse_copy(v, TC, huge, 14, &used), BW_PARSE_OK);
    CHECK_EQ(used, 0xffff);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE));
    free(v);
    v = drv_new(D);
    drv_feed(v, TC, H010, 8);
    CHECK_EQ(parse_copy(v, TC, empty, 12, &used), BW_PARSE_OK);
    CHECK_EQ(used, 12);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD));
    free(v);

    /* map and array sizes and counts that lie */
    static const uint32_t lies[][2] = {     /* map size, map count */
        { 0xFFFFFFFFu, 1 }, { 4, 0xFFFFFFFFu }, { 3, 0 }, { 4, 1 },
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        b.n = 0;
        size_t f = c10_open(&b, 0x01, 0x01);
        p32(&b, lies[i][0]); p32(&b, lies[i][1]);
        f10_close(&b, f);
        v = drv_new(D);
        drv_feed(v, TC, H010, 8);
        drv_feed(v, TC, b.d, b.n);
        CHECK((v->f.anomalies & AN(BW_AMQP091_ANOM_BAD_TABLE)) != 0);
        CHECK(!v->stop[TC]);
        free(v);
    }
    /* reserved type codes have no known width; str16 lengths past the map */
    static const uint8_t codes[] = { 0xb0, 0xe3, 0x95 };
    for (size_t i = 0; i < sizeof codes; i++) {
        b.n = 0;
        size_t f = c10_open(&b, 0x01, 0x01);
        size_t m = m10_open(&b, 1); sstr(&b, "product"); p8(&b, codes[i]); p16(&b, 0x7fff); tbl_close(&b, m);
        f10_close(&b, f);
        v = drv_new(D);
        drv_feed(v, TC, H010, 8);
        drv_feed(v, TC, b.d, b.n);
        CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
        CHECK(!ext(v)->broker_product.set && v->f.product.len == 0);
        free(v);
    }
    /* a mechanism array of void items with a huge count; of str16 with a lying count */
    b.n = 0;
    size_t f = c10_open(&b, 0x01, 0x02);
    p32(&b, 5); p8(&b, 0xf0); p32(&b, 0xFFFFFFFFu);
    f10_close(&b, f);
    f = c10_open(&b, 0x01, 0x02);
    p32(&b, 9); p8(&b, 0x95); p32(&b, 0xFFFFFFFFu); str16(&b, "AB");
    f10_close(&b, f);
    v = drv_new(D);
    drv_feed(v, TC, H010, 8);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_TABLE));
    CHECK(ext(v)->mechanisms.len == 2);
    free(v);

    /* a response length past the control: no credentials at all */
    b.n = 0;
    f = c10_open(&b, 0x02, 0x06);
    sstr(&b, "PLAIN"); p32(&b, 0xFFFFFFF0u); pn(&b, "\0guest\0guest", 12);
    f10_close(&b, f);
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    drv_feed(v, TS, b.d, b.n);
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD));
    free(v);
    /* start-ok without a mechanism; flags for fields a control has not; unknown controls */
    b.n = 0;
    f = c10_open(&b, 0x02, 0x00); f10_close(&b, f);
    f = c10_open(&b, 0x0c, 0x8000); f10_close(&b, f);
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    drv_feed(v, TS, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD));
    CHECK(v->f.mech.len == 0);
    free(v);
    b.n = 0;
    f = c10_open(&b, 0x20, 0); f10_close(&b, f);
    f = c10_open(&b, 0x00, 0); f10_close(&b, f);
    v = drv_new(D);
    drv_feed(v, TC, H010, 8);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD));
    CHECK(!v->stop[TC]);
    free(v);
    /* a tune with trailing bytes, one below the frame minimum, frames above what was tuned */
    b.n = 0;
    f = c10_open(&b, 0x05, 0x02); p16(&b, 512); p8(&b, 0); f10_close(&b, f);
    s10_traffic(&b, 600);
    v = drv_new(D);
    drv_feed(v, TC, H010, 8);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_METHOD) | AN(BW_AMQP091_ANOM_BAD_TUNE) |
                             AN(BW_AMQP091_ANOM_FRAME_TOO_LARGE));
    free(v);

    /* reserved bits, a control on the command track, the connection off channel 0, the
     * wrong side: noted; the last two are not read */
    b.n = 0;
    f = f10_open(&b, 0x3f, 0, 0, 0); p8(&b, 1); p8(&b, 0x0a); p16(&b, 0); f10_close(&b, f);
    f = f10_open(&b, 0x0f, 0, 1, 0); p8(&b, 1); p8(&b, 0x0a); p16(&b, 0); f10_close(&b, f);
    f = f10_open(&b, 0x0f, 0, 0, 3); p8(&b, 1); p8(&b, 0x08); p16(&b, 0); f10_close(&b, f);
    c10_start_ok(&b, "ANONYMOUS", "", 0);
    v = drv_new(D);
    drv_feed(v, TC, H010, 8);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP091_ANOM_BAD_FRAME) | AN(BW_AMQP091_ANOM_BAD_CHANNEL) |
                             AN(BW_AMQP091_ANOM_WRONG_DIRECTION));
    CHECK((v->f.seen & (BW_FACT_AUTH_OK | BW_FACT_ANONYMOUS)) == 0);
    CHECK(!v->stop[TC]);
    free(v);

    /* a gap ends a 0-10 direction: there is no resync */
    v = drv_new(D);
    drv_feed(v, TS, H010, 8);
    CHECK_EQ(D->gap(v->st, TS, &v->f), BW_PARSE_DONE);
    CHECK((v->f.seen & BW_FACT_GAP) != 0);
    free(v);
}

static void test_product_fact(void)
{
    /* 0-9-1: Connection.Start's product and version */
    struct b b = { .n = 0 };
    m_start(&b, "PLAIN");
    struct drv *v = drv_new(D);
    drv_feed(v, TC, b.d, b.n);
    CHECK(fstr_is(&v->f.product, "RabbitMQ 3.10.8"));
    free(v);
    /* a product name cut by the ext gets no version; the pair is cut by the facts' bound */
    static const char *const names[] = {
        "A-broker-product-name-longer-than-forty-five-bytes-by-far",
        "A-product-name-of-exactly-forty-five-bytes-ok",   /* kept whole */
    };
    for (size_t i = 0; i < 2; i++) {
        b.n = 0;
        c10_start(&b, names[i], "1.2.3-with-a-long-version-string-here", "PLAIN");
        v = drv_new(D);
        drv_feed(v, TC, H010, 8);
        drv_feed(v, TC, b.d, b.n);
        CHECK(v->f.product.cut);
        if (i == 0) CHECK_EQ(v->f.product.len, BW_AMQP_STR_MAX);
        else CHECK(v->f.product.len == BW_FACTS_STR_MAX && v->f.product.s[BW_AMQP_STR_MAX] == ' ');
        CHECK_EQ(v->f.anomalies, 0);
        free(v);
    }
}

int main(void)
{
    test_probe();
    test_plain_guest();
    test_amqplain();
    test_plain_secret_nowhere();
    test_plain_malformed();
    test_external_anonymous();
    test_close_403();
    test_close_after_start_ok();
    test_close_530();
    test_secure();
    test_versions();
    test_mismatch();
    test_lone_headers();
    test_midstream();
    test_tables();
    test_table_limits();
    test_table_dialects();
    test_hostile_sizes();
    test_gap();
    test_json_empty();
    test_long_mechs();
    test_misc_methods();
    test_v010_anonymous();
    test_v010_plain();
    test_v010_close();
    test_v010_segments();
    test_v010_hostile();
    test_product_fact();
    return check_summary("amqp091");
}
