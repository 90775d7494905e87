/* test_amqp10.c: the AMQP 1.0 dissector on hand-built byte vectors: probes, the three layer
 * headers (plain, TLS, SASL) and the second header after SASL, sasl-mechanisms / init / outcome
 * 0..4, PLAIN in sasl-init and in sasl-response, ANONYMOUS, EXTERNAL, open answered with and
 * without SASL, refusal by close, version mismatch, midstream, the type system with every format
 * code, the depth limit, hostile sizes, gaps, and truncation and split sweeps. Every parse call
 * receives an exact-size heap copy so ASan sees a read past the end. */
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

static const struct bw_dissector *const D = &bw_dissector_amqp10;

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
static void patch32(struct b *b, size_t at, uint32_t v)
{
    b->d[at] = (uint8_t)(v >> 24); b->d[at + 1] = (uint8_t)(v >> 16);
    b->d[at + 2] = (uint8_t)(v >> 8); b->d[at + 3] = (uint8_t)v;
}

static void sym(struct b *b, const char *s) { p8(b, 0xa3); p8(b, (unsigned)strlen(s)); pn(b, s, strlen(s)); }
static void str(struct b *b, const char *s) { p8(b, 0xa1); p8(b, (unsigned)strlen(s)); pn(b, s, strlen(s)); }
static void bin(struct b *b, const void *p, size_t n) { p8(b, 0xa0); p8(b, (unsigned)n); pn(b, p, n); }
static void null(struct b *b) { p8(b, 0x40); }

/* list32 / map32: size and count patched on close */
static size_t comp_open(struct b *b, unsigned code) { p8(b, code); size_t at = b->n; p32(b, 0); p32(b, 0); return at; }
static void comp_close(struct b *b, size_t at, unsigned count)
{
    patch32(b, at, (uint32_t)(b->n - at - 4));
    patch32(b, at + 4, count);
}
static size_t list_open(struct b *b) { return comp_open(b, 0xd0); }
static size_t map_open(struct b *b) { return comp_open(b, 0xd1); }

static size_t frame_open(struct b *b, unsigned type, unsigned ch)
{
    size_t at = b->n;
    p32(b, 0); p8(b, 2); p8(b, type); p16(b, ch);
    return at;
}
static void frame_close(struct b *b, size_t at) { patch32(b, at, (uint32_t)(b->n - at)); }
static size_t perf_open(struct b *b, unsigned code) { p8(b, 0); p8(b, 0x53); p8(b, code); return list_open(b); }

static void hdr(struct b *b, unsigned id) { pn(b, "AMQP", 4); p8(b, id); p8(b, 1); p8(b, 0); p8(b, 0); }

static void f_mechs(struct b *b, bool as_array)
{
    size_t f = frame_open(b, 1, 0), l = perf_open(b, 0x40);
    if (as_array) {
        p8(b, 0xe0);
        size_t at = b->n;
        p8(b, 0); p8(b, 3); p8(b, 0xa3);
        p8(b, 5); pn(b, "PLAIN", 5);
        p8(b, 8); pn(b, "AMQPLAIN", 8);
        p8(b, 9); pn(b, "ANONYMOUS", 9);
        b->d[at] = (uint8_t)(b->n - at - 1);
    } else {
        sym(b, "PLAIN");
    }
    comp_close(b, l, 1);
    frame_close(b, f);
}

static void f_init(struct b *b, const char *mech, const void *resp, size_t rlen, const char *host)
{
    size_t f = frame_open(b, 1, 0), l = perf_open(b, 0x41);
    sym(b, mech);
    if (resp) bin(b, resp, rlen); else null(b);
    if (host) str(b, host); else null(b);
    comp_close(b, l, 3);
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

static void f_init_plain(struct b *b, const char *user, const char *pass)
{
    uint8_t r[256];
    size_t n = plain_resp(r, user, pass);
    f_init(b, "PLAIN", r, n, "broker.example");
}

static void f_outcome(struct b *b, unsigned code)
{
    size_t f = frame_open(b, 1, 0), l = perf_open(b, 0x44);
    p8(b, 0x50); p8(b, code);
    comp_close(b, l, 1);
    frame_close(b, f);
}

static void f_open(struct b *b, const char *cid, const char *host, const char *product)
{
    size_t f = frame_open(b, 0, 0), l = perf_open(b, 0x10);
    str(b, cid);
    if (host) str(b, host); else null(b);
    p8(b, 0x70); p32(b, 65536);           /* max-frame-size */
    p8(b, 0x60); p16(b, 255);             /* channel-max */
    p8(b, 0x52); p8(b, 60);               /* idle-time-out, smalluint */
    null(b); null(b); null(b); null(b);   /* locales, capabilities */
    size_t m = map_open(b);
    sym(b, "product"); str(b, product);
    sym(b, "version"); str(b, "3.10.8");
    sym(b, "platform"); str(b, "Erlang/OTP 25.1.2");
    sym(b, "copyright"); str(b, "Copyright (c) 2007-2022 VMware, Inc. or its affiliates.");
    comp_close(b, m, 8);
    comp_close(b, l, 10);
    frame_close(b, f);
}

static void f_begin(struct b *b)
{
    size_t f = frame_open(b, 0, 0), l = perf_open(b, 0x11);
    null(b); p8(b, 0x43); p8(b, 0x70); p32(b, 2048); p8(b, 0x70); p32(b, 2048);
    comp_close(b, l, 4);
    frame_close(b, f);
}

static void f_close(struct b *b, const char *cond, const char *desc)
{
    size_t f = frame_open(b, 0, 0), l = perf_open(b, 0x18);
    if (cond) {
        p8(b, 0); p8(b, 0x53); p8(b, 0x1d);
        size_t e = list_open(b);
        sym(b, cond);
        str(b, desc);
        comp_close(b, e, 2);
        comp_close(b, l, 1);
    } else {
        comp_close(b, l, 0);
    }
    frame_close(b, f);
}

static void f_transfer(struct b *b, size_t payload)
{
    size_t f = frame_open(b, 0, 0), l = perf_open(b, 0x14);
    p8(b, 0x43); p8(b, 0x43); bin(b, "t", 1);
    comp_close(b, l, 3);
    for (size_t i = 0; i < payload; i++) p8(b, 'p');
    frame_close(b, f);
}

static void f_empty(struct b *b) { size_t f = frame_open(b, 0, 0); frame_close(b, f); }

/* ---- the stream-layer driver (tests/support/dissector_driver.h), bound to this dissector ---- */

#include "dissector_driver.h"

static void sc_add(struct script *s, enum bw_dir dir, const struct b *b) { script_add(s, dir, b->d, b->n); }
static struct drv *sc_run(const struct script *s, unsigned split, size_t at) { return sc_run_with(D, s, split, at); }
static void split_sweep(const struct script *s, const char *what) { split_sweep_with(D, s, what); }
static void trunc_sweep(const struct script *s, unsigned m, enum bw_parse whole) { trunc_sweep_with(D, s, m, whole); }

#include "amqp_test_util.h"

static const char *json_of(const struct bw_facts *f, char *out, size_t cap) { return json_of_with(D, f, out, cap); }

/* SASL session up to the outcome; the client's init is `init`. */
static void sc_sasl(struct script *s, const struct b *init, unsigned outcome)
{
    struct b b = { .n = 0 };
    hdr(&b, 3); sc_add(s, TS, &b);
    b.n = 0; hdr(&b, 3); f_mechs(&b, true); sc_add(s, TC, &b);
    sc_add(s, TS, init);
    b.n = 0; f_outcome(&b, outcome); sc_add(s, TC, &b);
}

static void sc_open(struct script *s)
{
    struct b b = { .n = 0 };
    hdr(&b, 0); f_open(&b, "client-7f3a", "vhost:prod", "QpidProton"); sc_add(s, TS, &b);
    b.n = 0; hdr(&b, 0); sc_add(s, TC, &b);
    b.n = 0; f_open(&b, "rabbit@node1", NULL, "RabbitMQ"); sc_add(s, TC, &b);
    b.n = 0; f_begin(&b); sc_add(s, TC, &b);
}

/* ---- probes ---- */

static void test_probe(void)
{
    static const uint8_t h0[8] = { 'A', 'M', 'Q', 'P', 0, 1, 0, 0 };
    static const uint8_t h2[8] = { 'A', 'M', 'Q', 'P', 2, 1, 0, 0 };
    static const uint8_t h3[8] = { 'A', 'M', 'Q', 'P', 3, 1, 0, 0 };
    static const uint8_t h091[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };
    static const uint8_t h010[8] = { 'A', 'M', 'Q', 'P', 1, 1, 0, 10 };
    static const uint8_t hbad[8] = { 'A', 'M', 'Q', 'P', 3, 1, 0, 1 };
    CHECK_EQ(D->probe(TS, h0, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TS, h2, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TS, h3, 8), BW_PROBE_YES);
    CHECK_EQ(D->probe(TC, h3, 8), BW_PROBE_YES);
    for (size_t k = 0; k < 8; k++) CHECK_EQ(D->probe(TS, h3, k), BW_PROBE_MAYBE);
    CHECK_EQ(D->probe(TS, h091, 8), BW_PROBE_NO);             /* the other dissector's */
    CHECK_EQ(D->probe(TS, h091, 6), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, h091, 5), BW_PROBE_MAYBE);          /* "AMQP\0": either yet */
    CHECK_EQ(D->probe(TS, h010, 8), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, h010, 5), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, hbad, 8), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"AMQX", 4), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), BW_PROBE_NO);
    CHECK_EQ(D->probe(TS, (const uint8_t *)"\x16\x03\x01\x02\x00\x01", 6), BW_PROBE_NO);

    struct b b = { .n = 0 };
    f_transfer(&b, 20); f_empty(&b); f_begin(&b);
    CHECK_EQ(D->probe(TS, b.d, b.n), 80);
    CHECK_EQ(D->probe(TC, b.d, b.n), 80);
    CHECK_EQ(D->probe(TS, b.d, 40), BW_PROBE_MAYBE);          /* the second header not here yet */
    b.d[8] = 0x41;                                            /* a body must be described */
    CHECK_EQ(D->probe(TS, b.d, b.n), BW_PROBE_NO);
    b.n = 0;
    f_transfer(&b, 600); f_empty(&b); f_empty(&b);
    CHECK_EQ(D->probe(TS, b.d, BW_PROBE_WINDOW), BW_PROBE_NO); /* next header out of reach */
    b.n = 0;
    f_empty(&b); b.d[4] = 1;                                  /* doff 1 */
    CHECK_EQ(D->probe(TS, b.d, b.n), BW_PROBE_NO);
    b.d[4] = 3;                                               /* doff past the frame */
    CHECK_EQ(D->probe(TS, b.d, b.n), BW_PROBE_NO);
    b.d[4] = 2; b.d[5] = 2;                                   /* frame type 2 */
    CHECK_EQ(D->probe(TS, b.d, b.n), BW_PROBE_NO);
}

/* ---- sessions ---- */

static void test_sasl_plain_guest(void)
{
    struct script s = { .n = 0 };
    struct b init = { .n = 0 };
    f_init_plain(&init, "guest", "guest");
    sc_sasl(&s, &init, 0);
    sc_open(&s);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    const struct bw_amqp_ext *x = ext(v);
    CHECK_STR(v->f.version, "1.0");
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
    CHECK_EQ(v->f.result_code, 0);
    CHECK_EQ(x->sasl_outcome, 0);
    CHECK_EQ(x->family, BW_AMQP_FAMILY_10);
    CHECK(str_is(&x->container_id, "client-7f3a"));
    CHECK(str_is(&x->hostname, "vhost:prod"));
    CHECK(str_is(&x->client_product, "QpidProton"));
    CHECK(str_is(&x->broker_product, "RabbitMQ"));
    CHECK(str_is(&x->broker_version, "3.10.8"));
    CHECK(str_is(&x->broker_platform, "Erlang/OTP 25.1.2"));
    CHECK_EQ(x->frames[TS], 2);
    CHECK_EQ(x->frames[TC], 4);
    CHECK(v->stop[TS] && v->last[TS] == BW_PARSE_DONE);      /* after the client's open */
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);      /* after the frame after open */
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"mechanisms_offered\":[\"PLAIN\",\"AMQPLAIN\",\"ANONYMOUS\"]") != NULL);
    CHECK(strstr(out, "\"hostname\":\"vhost:prod\"") != NULL);
    CHECK(strstr(out, "\"container_id\":\"client-7f3a\"") != NULL);
    CHECK(strstr(out, "\"broker_product\":\"RabbitMQ\"") != NULL);
    CHECK(strstr(out, "\"client_product\":\"QpidProton\"") != NULL);
    CHECK(strstr(out, "\"sasl_outcome\":0") != NULL);
    CHECK(strstr(out, "\"close\":null") != NULL);
    CHECK(strstr(out, "vhost\"") == NULL && strstr(out, "capabilities") == NULL);
    CHECK(strstr(out, "version_mismatch") == NULL);

    trunc_sweep(&s, 0, BW_PARSE_OK);          /* SASL header */
    trunc_sweep(&s, 2, BW_PARSE_OK);          /* sasl-init */
    trunc_sweep(&s, 3, BW_PARSE_OK);          /* sasl-outcome */
    trunc_sweep(&s, 5, BW_PARSE_OK);          /* the broker's AMQP header */
    trunc_sweep(&s, 6, BW_PARSE_OK);          /* the broker's open */
    /* the frame after it is skipped once its descriptor is known, and decides */
    struct drv *w = drv_new(D);
    for (unsigned i = 0; i < 7; i++) drv_feed(w, s.m[i].dir, s.data + s.m[i].off, s.m[i].len);
    CHECK(!w->stop[TC]);
    size_t used = 9;
    CHECK_EQ(parse_copy(w, TC, s.data + s.m[7].off, 10, &used), BW_PARSE_NEED_MORE);
    CHECK_EQ(used, 0);
    CHECK_EQ(parse_copy(w, TC, s.data + s.m[7].off, 11, &used), BW_PARSE_DONE);
    CHECK_EQ(used, s.m[7].len);
    free(w);
    split_sweep(&s, "sasl plain");
    free(v);
}

static void test_secret_nowhere(void)
{
    static const char pw[] = "Hx7$-not-default";
    struct script s = { .n = 0 };
    struct b init = { .n = 0 };
    f_init_plain(&init, "orders-svc", pw);
    sc_sasl(&s, &init, 0);
    sc_open(&s);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.user, "orders-svc"));
    CHECK_EQ(v->f.pass_len, strlen(pw));
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) == 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, pw));
    CHECK(!has_bytes(&v->f, sizeof v->f, "Hx7$"));
    CHECK(!has_bytes(v->st, sizeof v->st, "Hx7$"));
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(!has_bytes(out, strlen(out), "Hx7$"));
    free(v);
}

static void test_outcomes(void)
{
    for (unsigned code = 1; code <= 5; code++) {
        struct script s = { .n = 0 };
        struct b init = { .n = 0 };
        f_init_plain(&init, "guest", "bad");
        sc_sasl(&s, &init, code);
        struct drv *v = sc_run(&s, MSG_MAX, 0);
        CHECK_EQ(ext(v)->sasl_outcome, code);
        CHECK_EQ(v->f.result_code, code);
        CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
        CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);
        /* 1 (auth) is a failed login and feeds bruteforce; 2-4 (sys, sys-perm, sys-temp) are
         * the broker's own trouble: a refusal, recorded, not a credential failure */
        CHECK_EQ((v->f.seen & BW_FACT_AUTH_FAILED) != 0, code == 1);
        CHECK_EQ((v->f.seen & BW_FACT_REFUSED) != 0, code >= 2 && code <= 4);
        CHECK_EQ(v->f.anomalies, code <= 4 ? 0 : AN(BW_AMQP10_ANOM_BAD_OUTCOME));
        CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
        char out[4096];
        json_of(&v->f, out, sizeof out);
        char want[32];
        snprintf(want, sizeof want, "\"sasl_outcome\":%u", code);
        CHECK(strstr(out, want) != NULL);
        if (code == 1) {
            trunc_sweep(&s, 3, BW_PARSE_DONE);
            split_sweep(&s, "outcome 1");
        }
        free(v);
    }
}

static void test_mechanisms(void)
{
    /* ANONYMOUS accepted: its trace text is not an identity and is not kept */
    struct script s = { .n = 0 };
    struct b init = { .n = 0 };
    f_init(&init, "ANONYMOUS", "trace@example.org", 17, NULL);
    sc_sasl(&s, &init, 0);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.mech, "ANONYMOUS"));
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK(!has_bytes(&v->f, sizeof v->f, "trace@"));
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
    /* EXTERNAL: not offered by this broker */
    s.n = 0; s.used = 0; init.n = 0;
    f_init(&init, "EXTERNAL", "", 0, NULL);
    sc_sasl(&s, &init, 0);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.mech, "EXTERNAL"));
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_ANONYMOUS)) == 0);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_MECH_NOT_OFFERED));
    free(v);
    /* PLAIN without an initial response: the credentials come in sasl-response */
    s.n = 0; s.used = 0; init.n = 0;
    struct b b = { .n = 0 };
    hdr(&b, 3); sc_add(&s, TS, &b);
    b.n = 0; hdr(&b, 3); f_mechs(&b, false); sc_add(&s, TC, &b);
    f_init(&init, "PLAIN", NULL, 0, "h"); sc_add(&s, TS, &init);
    b.n = 0;
    size_t f = frame_open(&b, 1, 0), l = perf_open(&b, 0x42);
    bin(&b, "", 0); comp_close(&b, l, 1); frame_close(&b, f);
    sc_add(&s, TC, &b);
    b.n = 0;
    uint8_t r[64];
    size_t rn = plain_resp(r, "admin", "admin");
    f = frame_open(&b, 1, 0); l = perf_open(&b, 0x43);
    bin(&b, r, rn); comp_close(&b, l, 1); frame_close(&b, f);
    sc_add(&s, TS, &b);
    b.n = 0; f_outcome(&b, 0); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.user, "admin"));
    CHECK((v->f.seen & BW_FACT_DEFAULT_CREDS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK(str_is(&ext(v)->hostname, "h"));
    CHECK(str_is(&ext(v)->hostname, "h"));
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"mechanisms_offered\":[\"PLAIN\"]") != NULL);
    CHECK_EQ(v->f.anomalies, 0);
    split_sweep(&s, "sasl-response");
    free(v);
    /* a PLAIN response without two NULs reports nothing */
    s.n = 0; s.used = 0; init.n = 0;
    f_init(&init, "PLAIN", "guestguest", 10, NULL);
    sc_sasl(&s, &init, 1);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)) == 0);
    CHECK((v->f.anomalies & AN(BW_AMQP10_ANOM_BAD_PLAIN)) != 0);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) != 0);
    free(v);
}

static void test_no_sasl(void)
{
    struct script s = { .n = 0 };
    struct b b = { .n = 0 };
    hdr(&b, 0); f_open(&b, "cid-1", "localhost", "client"); sc_add(&s, TS, &b);
    b.n = 0; hdr(&b, 0); f_open(&b, "broker", NULL, "qpid-cpp"); f_begin(&b); sc_add(&s, TC, &b);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK_STR(v->f.version, "1.0");
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) && (v->f.seen & BW_FACT_AUTH_OK));
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);
    CHECK((v->f.seen & (BW_FACT_CREDS_USER | BW_FACT_REFUSED)) == 0);
    CHECK_EQ(v->f.mech.len, 0);
    CHECK(str_is(&ext(v)->broker_product, "qpid-cpp"));
    CHECK(str_is(&ext(v)->container_id, "cid-1"));
    CHECK_EQ(ext(v)->sasl_outcome, -1);
    CHECK(v->stop[TC] && v->stop[TS]);
    CHECK_EQ(v->f.anomalies, 0);
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"sasl_outcome\":null") != NULL);
    CHECK(strstr(out, "\"mechanisms_offered\":null") != NULL);
    split_sweep(&s, "no sasl");
    free(v);

    /* open, then at once a close with an error: a refusal */
    s.n = 0; s.used = 0;
    b.n = 0; hdr(&b, 0); f_open(&b, "cid-2", "localhost", "client"); sc_add(&s, TS, &b);
    b.n = 0; hdr(&b, 0); f_open(&b, "broker", NULL, "qpid-cpp"); sc_add(&s, TC, &b);
    b.n = 0; f_close(&b, "amqp:unauthorized-access", "anonymous connections are disabled"); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) != 0);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);       /* opened only to be closed: refused */
    CHECK(str_is(&ext(v)->condition, "amqp:unauthorized-access"));
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"close\":{\"code\":null,\"text\":\"anonymous connections are disabled\","
                      "\"condition\":\"amqp:unauthorized-access\"}") != NULL);
    trunc_sweep(&s, 2, BW_PARSE_DONE);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
    free(v);

    /* an orderly close right after open: seen, no refusal */
    s.n = 0; s.used = 0;
    b.n = 0; hdr(&b, 0); f_open(&b, "cid-3", NULL, "client"); sc_add(&s, TS, &b);
    b.n = 0; hdr(&b, 0); f_open(&b, "broker", NULL, "b"); f_close(&b, NULL, NULL); sc_add(&s, TC, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK((v->f.seen & BW_FACT_REFUSED) == 0);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK(ext(v)->close_seen);
    free(v);

    /* the client's header unseen: the broker's echo of 0 1 0 0 says the same */
    v = drv_new(D);
    b.n = 0; hdr(&b, 0); f_open(&b, "broker", NULL, "b");
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_ANONYMOUS) != 0);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);       /* the next frame would tell */
    D->close(v->st, BW_CLOSE_END, &v->f);            /* ... and none came: accepted */
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    free(v);
}

static void test_tls(void)
{
    struct drv *v = drv_new(D);
    struct b b = { .n = 0 };
    hdr(&b, 2);
    p8(&b, 0x16); p8(&b, 3); p8(&b, 1);              /* a ClientHello follows */
    size_t used = 99;
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 8);
    CHECK((v->f.seen & BW_FACT_TLS) && !(v->f.seen & BW_FACT_CONFIRMED));
    CHECK_STR(v->f.version, "1.0");
    CHECK_EQ(parse_copy(v, TC, b.d, 8, &used), BW_PARSE_DONE);   /* the echo confirms */
    CHECK_EQ(used, 8);
    CHECK(!ext(v)->mismatch);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);
    CHECK_EQ(parse_copy(v, TC, b.d + 8, 3, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK((v->f.seen & (BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK)) == 0);
    free(v);
    /* a broker without TLS answers with the header it wants */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TS, b.d, 8, &used), BW_PARSE_DONE);
    b.n = 0; hdr(&b, 3);
    CHECK_EQ(parse_copy(v, TC, b.d, 8, &used), BW_PARSE_DONE);
    CHECK(ext(v)->mismatch && (v->f.seen & BW_FACT_REFUSED));
    free(v);
}

static void test_mismatch(void)
{
    /* no SASL asked, the broker requires it */
    struct drv *v = drv_new(D);
    struct b c = { .n = 0 }, s = { .n = 0 };
    hdr(&c, 0);
    hdr(&s, 3); f_mechs(&s, true);
    drv_feed(v, TS, c.d, c.n);
    drv_feed(v, TC, s.d, s.n);
    const struct bw_amqp_ext *x = ext(v);
    CHECK(x->mismatch);
    CHECK((v->f.anomalies & AN(BW_AMQP10_ANOM_VERSION_MISMATCH)) && (v->f.seen & BW_FACT_REFUSED));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
    CHECK(v->stop[TC]);
    char out[4096];
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"version_mismatch\":{\"client\":\"AMQP 0 1 0 0\",\"server\":\"AMQP 3 1 0 0\"}") != NULL);
    free(v);
    /* a 0-9-1 broker's answer, delivered before the client's header */
    v = drv_new(D);
    static const uint8_t h091[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };
    size_t used;
    CHECK_EQ(parse_copy(v, TC, h091, 8, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 8);
    CHECK(ext(v)->mismatch);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) == 0);   /* no request seen yet */
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"client\":null,\"server\":\"AMQP 0 0 9 1\"") != NULL);
    c.n = 0; hdr(&c, 3);
    CHECK_EQ(parse_copy(v, TS, c.d, 8, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 8);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);   /* the answer to that request */
    json_of(&v->f, out, sizeof out);
    CHECK(strstr(out, "\"client\":\"AMQP 3 1 0 0\",\"server\":\"AMQP 0 0 9 1\"") != NULL);
    CHECK_EQ(parse_copy(v, TS, c.d, 8, &used), BW_PARSE_DONE);   /* nothing more after it */
    CHECK_EQ(used, 0);
    free(v);
    /* the echo first, then the same client header: no mismatch */
    v = drv_new(D);
    c.n = 0; hdr(&c, 3);
    CHECK_EQ(parse_copy(v, TC, c.d, 8, &used), BW_PARSE_OK);
    CHECK_EQ(parse_copy(v, TS, c.d, 8, &used), BW_PARSE_OK);
    CHECK(!ext(v)->mismatch);
    CHECK_EQ(v->f.anomalies, 0);
    /* the echo first, then a different client header */
    free(v);
    v = drv_new(D);
    c.n = 0; hdr(&c, 3);
    CHECK_EQ(parse_copy(v, TC, c.d, 8, &used), BW_PARSE_OK);
    c.n = 0; hdr(&c, 0);
    CHECK_EQ(parse_copy(v, TS, c.d, 8, &used), BW_PARSE_DONE);
    CHECK(ext(v)->mismatch);
    free(v);
    /* the second round (after SASL) mismatching */
    struct script sc = { .n = 0 };
    struct b init = { .n = 0 };
    f_init_plain(&init, "u", "p");
    sc_sasl(&sc, &init, 0);
    c.n = 0; hdr(&c, 0); sc_add(&sc, TS, &c);
    s.n = 0; hdr(&s, 3); sc_add(&sc, TC, &s);
    v = sc_run(&sc, MSG_MAX, 0);
    CHECK(ext(v)->mismatch && (v->f.seen & BW_FACT_AUTH_OK));
    free(v);
    /* a third header, or a SASL header after SASL, is out of place */
    sc.n = 0; sc.used = 0;
    sc_sasl(&sc, &init, 0);
    c.n = 0; hdr(&c, 3); sc_add(&sc, TS, &c);
    v = sc_run(&sc, MSG_MAX, 0);
    CHECK((v->f.anomalies & AN(BW_AMQP10_ANOM_BAD_HEADER)) != 0);
    free(v);
    /* not a 1.0 header from the client */
    v = drv_new(D);
    CHECK_EQ(parse_copy(v, TS, h091, 8, &used), BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_HEADER));
    CHECK(v->f.version[0] == '\0');
    free(v);
}

static void test_descriptors(void)
{
    /* symbolic descriptors and an 8-byte ulong one are the same performatives */
    struct drv *v = drv_new(D);
    struct b b = { .n = 0 };
    hdr(&b, 3);
    drv_feed(v, TS, b.d, b.n);
    b.n = 0;
    size_t f = frame_open(&b, 1, 0);
    p8(&b, 0); sym(&b, "amqp:sasl-init:list");
    size_t l = list_open(&b);
    sym(&b, "PLAIN"); bin(&b, "\0user\0user", 10);
    comp_close(&b, l, 2);
    frame_close(&b, f);
    drv_feed(v, TS, b.d, b.n);
    CHECK(fstr_is(&v->f.user, "user") && (v->f.seen & BW_FACT_DEFAULT_CREDS));
    b.n = 0;
    hdr(&b, 3);
    f = frame_open(&b, 1, 0);
    p8(&b, 0); p8(&b, 0x80); p64(&b, 0x44);
    l = list_open(&b); p8(&b, 0x50); p8(&b, 0); comp_close(&b, l, 1);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
    /* a descriptor outside domain 0, an unknown one, the wrong frame type */
    v = drv_new(D);
    b.n = 0; hdr(&b, 3); drv_feed(v, TC, b.d, b.n);
    b.n = 0;
    f = frame_open(&b, 1, 0);
    p8(&b, 0); p8(&b, 0x80); p64(&b, 0x0000010000000044ull);
    l = list_open(&b); p8(&b, 0x50); p8(&b, 0); comp_close(&b, l, 1);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
    b.n = 0; f = frame_open(&b, 0, 0); l = perf_open(&b, 0x44);
    p8(&b, 0x50); p8(&b, 0); comp_close(&b, l, 1); frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);                          /* sasl-outcome in an AMQP frame */
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
    b.n = 0; f = frame_open(&b, 0, 0); l = perf_open(&b, 0x77); comp_close(&b, l, 0);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    b.n = 0; f = frame_open(&b, 0, 0); p8(&b, 0x45); frame_close(&b, f);   /* not described */
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE) | AN(BW_AMQP10_ANOM_BAD_ENCODING));
    b.n = 0; f = frame_open(&b, 1, 0); l = perf_open(&b, 0x40); comp_close(&b, l, 0);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);                          /* mechanisms field missing */
    CHECK(!v->stop[TC]);
    free(v);
    /* performatives from the wrong peer */
    v = drv_new(D);
    b.n = 0; hdr(&b, 3); f_mechs(&b, true); f_outcome(&b, 0);
    drv_feed(v, TS, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_WRONG_DIRECTION));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0 && !ext(v)->mechanisms.set);
    free(v);
    /* an extended header (doff 3) before the body */
    v = drv_new(D);
    b.n = 0; hdr(&b, 3);
    f = frame_open(&b, 1, 0); b.d[f + 4] = 3; p32(&b, 0xdeadbeef);
    l = perf_open(&b, 0x44); p8(&b, 0x50); p8(&b, 0); comp_close(&b, l, 1);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
}

/* An open whose fields and properties use every format code. */
static void every_type_open(struct b *b)
{
    size_t f = frame_open(b, 0, 0), l = perf_open(b, 0x10);
    p8(b, 0xb1); p32(b, 9); pn(b, "container", 9);          /* str32 container-id */
    str(b, "host");
    p8(b, 0x43);                                             /* uint0 max-frame-size */
    p8(b, 0x60); p16(b, 7);                                  /* ushort */
    p8(b, 0x70); p32(b, 30000);                              /* uint */
    p8(b, 0xe0); size_t a = b->n; p8(b, 0); p8(b, 2); p8(b, 0xa3);
    p8(b, 5); pn(b, "en-US", 5); p8(b, 2); pn(b, "de", 2); b->d[a] = (uint8_t)(b->n - a - 1);
    p8(b, 0xb3); p32(b, 5); pn(b, "en-US", 5);                /* sym32 */
    p8(b, 0xf0); a = b->n; p32(b, 0); p32(b, 2); p8(b, 0xb3);
    p32(b, 3); pn(b, "cap", 3); p32(b, 4); pn(b, "cap2", 4); patch32(b, a, (uint32_t)(b->n - a - 4));
    p8(b, 0x45);                                             /* list0 desired-capabilities */
    size_t m = map_open(b);
    sym(b, "product"); str(b, "AllTypes");
    sym(b, "n"); null(b);
    sym(b, "t"); p8(b, 0x41);
    sym(b, "f"); p8(b, 0x42);
    sym(b, "bo"); p8(b, 0x56); p8(b, 1);
    sym(b, "ub"); p8(b, 0x50); p8(b, 255);
    sym(b, "by"); p8(b, 0x51); p8(b, 0x80);
    sym(b, "sui"); p8(b, 0x52); p8(b, 1);
    sym(b, "sul"); p8(b, 0x53); p8(b, 2);
    sym(b, "si"); p8(b, 0x54); p8(b, 3);
    sym(b, "sl"); p8(b, 0x55); p8(b, 4);
    sym(b, "sh"); p8(b, 0x61); p16(b, 0x8000);
    sym(b, "i"); p8(b, 0x71); p32(b, 1);
    sym(b, "fl"); p8(b, 0x72); p32(b, 0x3f800000u);
    sym(b, "ch"); p8(b, 0x73); p32(b, 0x263a);
    sym(b, "d32"); p8(b, 0x74); p32(b, 0);
    sym(b, "ul0"); p8(b, 0x44);
    sym(b, "ul"); p8(b, 0x80); p64(b, 1);
    sym(b, "l"); p8(b, 0x81); p64(b, 2);
    sym(b, "db"); p8(b, 0x82); p64(b, 0);
    sym(b, "ts"); p8(b, 0x83); p64(b, 1700000000000ull);
    sym(b, "d64"); p8(b, 0x84); p64(b, 0);
    sym(b, "d128"); p8(b, 0x94); for (int i = 0; i < 16; i++) p8(b, (unsigned)i);
    sym(b, "uuid"); p8(b, 0x98); for (int i = 0; i < 16; i++) p8(b, 0xa0u + (unsigned)i);
    sym(b, "vb32"); p8(b, 0xb0); p32(b, 2); p8(b, 0); p8(b, 1);
    sym(b, "l8"); p8(b, 0xc0); p8(b, 3); p8(b, 2); p8(b, 0x40); p8(b, 0x41);
    sym(b, "m8"); p8(b, 0xc1); p8(b, 3); p8(b, 2); p8(b, 0x40); p8(b, 0x42);
    sym(b, "desc"); p8(b, 0); p8(b, 0x53); p8(b, 0x70); str(b, "described");
    sym(b, "arr_desc"); p8(b, 0xe0); p8(b, 7); p8(b, 2); p8(b, 0); p8(b, 0x53); p8(b, 0x99);
    p8(b, 0x50); p8(b, 1); p8(b, 2);                         /* array of described ubytes */
    sym(b, "arr_arr"); p8(b, 0xe0); p8(b, 9); p8(b, 2); p8(b, 0xe0);
    p8(b, 3); p8(b, 1); p8(b, 0x50); p8(b, 7);               /* [ [7] ] */
    p8(b, 2); p8(b, 0); p8(b, 0x50);                          /* [ ] */
    sym(b, "nulls"); p8(b, 0xf0); p32(b, 5); p32(b, 0xffffffffu); p8(b, 0x40);
    sym(b, "version"); str(b, "9.9");
    comp_close(b, m, 64);                                    /* 32 pairs */
    comp_close(b, l, 10);
    frame_close(b, f);
}

static void test_types(void)
{
    struct drv *v = drv_new(D);
    struct b b = { .n = 0 };
    hdr(&b, 0);
    drv_feed(v, TC, b.d, b.n);
    b.n = 0;
    every_type_open(&b);
    size_t used;
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, b.n);
    CHECK_EQ(v->f.anomalies, 0);
    CHECK(str_is(&ext(v)->broker_product, "AllTypes"));
    CHECK(str_is(&ext(v)->broker_version, "9.9"));
    CHECK((v->f.seen & BW_FACT_AUTH_OK) == 0);
    b.n = 0;
    f_begin(&b);
    CHECK_EQ(parse_copy(v, TC, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(used, b.n);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    free(v);
    /* the client side of the same open */
    v = drv_new(D);
    b.n = 0; hdr(&b, 0); every_type_open(&b);
    drv_feed(v, TS, b.d, b.n);
    CHECK(str_is(&ext(v)->container_id, "container"));
    CHECK(str_is(&ext(v)->hostname, "host"));
    CHECK(str_is(&ext(v)->client_product, "AllTypes"));
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
}

/* An open whose field 3 is `levels` nested list8 values. */
static void nested_open(struct b *b, unsigned levels, bool use_maps)
{
    size_t f = frame_open(b, 0, 0), l = perf_open(b, 0x10);
    str(b, "deep"); null(b); null(b);
    size_t at[64];
    for (unsigned i = 0; i < levels; i++) {
        if (use_maps && i % 2) { p8(b, 0xc1); at[i] = b->n; p8(b, 0); p8(b, 2); sym(b, "k"); }
        else { p8(b, 0xc0); at[i] = b->n; p8(b, 0); p8(b, 1); }
    }
    null(b);
    for (unsigned i = levels; i-- > 0;) b->d[at[i]] = (uint8_t)(b->n - at[i] - 1);
    comp_close(b, l, 4);
    frame_close(b, f);
}

static void test_depth_and_hostile(void)
{
    size_t used;
    struct b b = { .n = 0 }, h = { .n = 0 };
    hdr(&h, 0);
    /* the performative's list plus seven nested compounds: followed */
    for (int maps = 0; maps < 2; maps++) {
        struct drv *v = drv_new(D);
        drv_feed(v, TS, h.d, h.n);
        b.n = 0; nested_open(&b, 7, maps);
        CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_DONE);
        CHECK_EQ(v->f.anomalies, 0);
        CHECK(str_is(&ext(v)->container_id, "deep"));
        free(v);
        v = drv_new(D);
        drv_feed(v, TS, h.d, h.n);
        b.n = 0; nested_open(&b, 8, maps);
        CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
        CHECK_EQ(used, b.n);
        CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_ENCODING_DEPTH));
        CHECK(!ext(v)->container_id.set);           /* a performative is taken whole or not */
        free(v);
    }
    /* descriptors nested in descriptors */
    struct drv *v = drv_new(D);
    drv_feed(v, TS, h.d, h.n);
    b.n = 0;
    size_t f = frame_open(&b, 0, 0), l = perf_open(&b, 0x10);
    str(&b, "x");
    for (int i = 0; i < 12; i++) { p8(&b, 0); p8(&b, 0x53); p8(&b, 1); }
    null(&b);
    comp_close(&b, l, 2);
    frame_close(&b, f);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_ENCODING_DEPTH));
    free(v);

    /* encodings that lie */
    static const struct { uint8_t bytes[16]; size_t n; } lies[] = {
        { { 0xd0, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01 }, 9 },   /* list32 size past */
        { { 0xa1, 0x40, 'a', 'b' }, 4 },                                     /* str8 length past */
        { { 0xb0, 0xff, 0xff, 0xff, 0xff, 1 }, 6 },                          /* vbin32 length past */
        { { 0xc1, 0x02, 0x01, 0x40 }, 4 },                                   /* map with odd count */
        { { 0x56, 0x02 }, 2 },                                               /* bool 2 */
        { { 0x33 }, 1 },                                                     /* reserved code */
        { { 0xc0, 0x03, 0x01, 0x40, 0x40 }, 5 },                             /* size/count disagree */
        { { 0xf0, 0x00, 0x00, 0x00, 0x06, 0xff, 0xff, 0xff, 0xff, 0x50, 1 }, 11 }, /* array count */
        { { 0xe0, 0x01, 0x05 }, 3 },                                         /* no element ctor */
        { { 0xc0, 0x00 }, 2 },                                               /* list8 without count */
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        v = drv_new(D);
        drv_feed(v, TS, h.d, h.n);
        b.n = 0;
        f = frame_open(&b, 0, 0); l = perf_open(&b, 0x10);
        str(&b, "liar"); null(&b); null(&b);
        pn(&b, lies[i].bytes, lies[i].n);
        comp_close(&b, l, 4);
        frame_close(&b, f);
        CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
        CHECK_EQ(used, b.n);
        if (v->f.anomalies != AN(BW_AMQP10_ANOM_BAD_ENCODING)) fprintf(stderr, "lie %zu\n", i);
        CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_ENCODING));
        CHECK(!ext(v)->container_id.set);
        free(v);
    }

    /* frame headers that lie, once the session is known */
    static const struct { uint8_t bytes[8]; unsigned an; } frames[] = {
        { { 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0 }, BW_AMQP10_ANOM_FRAME_TOO_LARGE },
        { { 0x00, 0x00, 0x00, 0x04, 2, 0, 0, 0 }, BW_AMQP10_ANOM_BAD_FRAME },
        { { 0x00, 0x00, 0x00, 0x10, 1, 0, 0, 0 }, BW_AMQP10_ANOM_BAD_FRAME },
        { { 0x00, 0x00, 0x00, 0x08, 3, 0, 0, 0 }, BW_AMQP10_ANOM_BAD_FRAME },
        { { 0x00, 0x00, 0x00, 0x08, 2, 7, 0, 0 }, BW_AMQP10_ANOM_BAD_FRAME_TYPE },
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        v = drv_new(D);
        drv_feed(v, TS, h.d, h.n);
        CHECK_EQ(parse_copy(v, TS, frames[i].bytes, 8, &used), BW_PARSE_OK);
        CHECK_EQ(used, 1);                           /* sync lost: drop a byte, scan on */
        CHECK_EQ(v->f.anomalies, AN(frames[i].an));
        free(v);
    }
    /* an open larger than what is buffered: skipped */
    v = drv_new(D);
    drv_feed(v, TS, h.d, h.n);
    b.n = 0; f = frame_open(&b, 0, 0); l = perf_open(&b, 0x10); comp_close(&b, l, 0);
    patch32(&b, f, 20000);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 20000);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_FRAME_TOO_LARGE));
    free(v);
    /* a transfer is skipped by length, beyond the bytes at hand */
    v = drv_new(D);
    drv_feed(v, TS, h.d, h.n);
    b.n = 0; f_transfer(&b, 10); patch32(&b, 0, 1000000);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_OK);
    CHECK_EQ(used, 1000000);
    CHECK_EQ(v->f.anomalies, 0);
    /* ... and a header-only prefix of it waits */
    CHECK_EQ(parse_copy(v, TS, b.d, 9, &used), BW_PARSE_NEED_MORE);
    CHECK_EQ(used, 0);
    free(v);
    /* sasl-init with a string for a symbol, a binary for a hostname */
    v = drv_new(D);
    b.n = 0; hdr(&b, 3);
    f = frame_open(&b, 1, 0); l = perf_open(&b, 0x41); str(&b, "PLAIN"); comp_close(&b, l, 1);
    frame_close(&b, f);
    f = frame_open(&b, 1, 0); l = perf_open(&b, 0x41); sym(&b, "ANONYMOUS"); null(&b);
    bin(&b, "h", 1); comp_close(&b, l, 3); frame_close(&b, f);
    drv_feed(v, TS, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    CHECK(fstr_is(&v->f.mech, "ANONYMOUS") && !ext(v)->hostname.set);
    free(v);
}

/* A client's header alone, of every kind, however the session ends: never confirmed, never a
 * failure (a scan, or a flood of headers, must raise nothing). */
static void test_lone_headers(void)
{
    static const enum bw_close hows[] = {
        BW_CLOSE_FIN, BW_CLOSE_RST_CLIENT, BW_CLOSE_RST_SERVER, BW_CLOSE_FIN_SERVER_FIRST,
        BW_CLOSE_TIMEOUT, BW_CLOSE_END,
    };
    static const unsigned ids[] = { 0, 2, 3 };
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < sizeof hows / sizeof hows[0]; k++) {
            struct b b = { .n = 0 };
            hdr(&b, ids[i]);
            struct drv *v = drv_new(D);
            drv_feed(v, TS, b.d, b.n);
            CHECK_STR(v->f.version, "1.0");
            D->close(v->st, hows[k], &v->f);
            CHECK((v->f.seen & (BW_FACT_CONFIRMED | BW_FACT_AUTH_FAILED | BW_FACT_AUTH_OK)) == 0);
            free(v);
        }
    /* nor a client's sasl-init, open and transfers without any broker byte */
    struct b b = { .n = 0 }, init = { .n = 0 };
    hdr(&b, 3);
    f_init_plain(&init, "guest", "guest");
    struct drv *v = drv_new(D);
    drv_feed(v, TS, b.d, b.n);
    drv_feed(v, TS, init.d, init.n);
    D->close(v->st, BW_CLOSE_FIN, &v->f);
    CHECK((v->f.seen & BW_FACT_CREDS_USER) != 0);
    CHECK((v->f.seen & (BW_FACT_CONFIRMED | BW_FACT_AUTH_FAILED)) == 0);
    free(v);
    /* the broker's sasl-mechanisms alone (its header lost) confirms */
    b.n = 0;
    f_mechs(&b, true);
    v = drv_new(D);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_CONFIRMED) != 0);
    free(v);
}

/* The broker's product and version from its open's properties reach the common facts (the
 * exposure report reads them there), whatever the delivery split. */
static void test_product(void)
{
    struct script s = { .n = 0 };
    struct b init = { .n = 0 };
    f_init_plain(&init, "telemetry", "pw");
    sc_sasl(&s, &init, 0);
    sc_open(&s);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    CHECK(fstr_is(&v->f.product, "RabbitMQ 3.10.8"));
    free(v);
    split_sweep(&s, "product");
    /* the client's open names the client, never the broker */
    s.n = 0; s.used = 0;
    struct b b = { .n = 0 };
    hdr(&b, 0); f_open(&b, "c1", NULL, "QpidProton"); sc_add(&s, TS, &b);
    v = sc_run(&s, MSG_MAX, 0);
    CHECK_EQ(v->f.product.len, 0);
    CHECK(str_is(&ext(v)->client_product, "QpidProton"));
    free(v);
}

static void test_midstream(void)
{
    struct b b = { .n = 0 }, e = { .n = 0 };
    f_transfer(&b, 30); f_empty(&b); f_transfer(&b, 5);
    f_empty(&e);
    struct drv *v = drv_new(D);
    drv_feed(v, TS, b.d, b.n);
    /* the client's frames alone: framed like 1.0, but no broker has spoken */
    CHECK((v->f.seen & (BW_FACT_MIDSTREAM | BW_FACT_CONFIRMED)) == 0);
    CHECK(!v->stop[TS]);
    drv_feed(v, TC, e.d, e.n);                  /* the broker's empty frame: its answer */
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) && (v->f.seen & BW_FACT_CONFIRMED));
    CHECK_STR(v->f.version, "1.0");
    CHECK((v->f.seen & (BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK)) == 0);
    CHECK(v->stop[TC] && v->last[TC] == BW_PARSE_DONE);
    CHECK_EQ(v->f.anomalies, 0);
    size_t used = 5;
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    free(v);
    /* the broker's own transfers suffice */
    v = drv_new(D);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) && (v->f.seen & BW_FACT_CONFIRMED));
    free(v);
    /* two frames are not enough */
    v = drv_new(D);
    b.n = 0; f_transfer(&b, 3); f_empty(&b);
    drv_feed(v, TS, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) == 0);
    free(v);
    /* a pickup inside a frame: resync onto the next plausible one, no violation */
    v = drv_new(D);
    b.n = 0;
    pn(&b, "\x00\x01payload-tail", 14);
    f_transfer(&b, 3); f_transfer(&b, 3); f_transfer(&b, 3);
    drv_feed(v, TS, b.d, b.n);
    drv_feed(v, TC, e.d, e.n);
    CHECK((v->f.seen & BW_FACT_MIDSTREAM) != 0);
    CHECK_EQ(v->f.anomalies, 0);
    free(v);
}

static void test_gap_and_close(void)
{
    /* broker bytes lost after the mechanisms: the outcome is found behind junk */
    struct script s = { .n = 0 };
    struct b init = { .n = 0 }, b = { .n = 0 };
    hdr(&b, 3); sc_add(&s, TS, &b);
    b.n = 0; hdr(&b, 3); f_mechs(&b, true); sc_add(&s, TC, &b);
    f_init_plain(&init, "guest", "guest"); sc_add(&s, TS, &init);
    struct drv *v = sc_run(&s, MSG_MAX, 0);
    drv_gap(v, TC);
    CHECK((v->f.seen & BW_FACT_GAP) != 0);
    b.n = 0;
    pn(&b, "\x00\x00\x00\x09\x02\x01\x00", 7);
    f_outcome(&b, 0);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    CHECK_EQ(v->f.anomalies, 0);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
    free(v);

    /* the broker drops the connection after sasl-init, no outcome */
    static const enum bw_close hows[] = {
        BW_CLOSE_FIN, BW_CLOSE_RST_CLIENT, BW_CLOSE_RST_SERVER, BW_CLOSE_FIN_SERVER_FIRST,
        BW_CLOSE_TIMEOUT, BW_CLOSE_EVICTED, BW_CLOSE_END,
    };
    static const bool failed[] = { false, false, true, true, false, false, false };
    for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++) {
        v = sc_run(&s, MSG_MAX, 0);
        D->close(v->st, hows[i], &v->f);
        CHECK_EQ((v->f.seen & BW_FACT_AUTH_FAILED) != 0, failed[i]);
        free(v);
    }
    /* ... unless broker bytes were lost */
    v = sc_run(&s, MSG_MAX, 0);
    drv_gap(v, TC);
    D->close(v->st, BW_CLOSE_FIN_SERVER_FIRST, &v->f);
    CHECK((v->f.seen & BW_FACT_AUTH_FAILED) == 0);
    free(v);

    /* junk with nothing frame-like: bounded, then the direction stops */
    v = drv_new(D);
    CHECK_EQ(D->gap(v->st, TS, &v->f), BW_PARSE_OK);
    static uint8_t junk[4096];
    memset(junk, 0xee, sizeof junk);
    for (int i = 0; i < 20 && !v->stop[TS]; i++) drv_feed(v, TS, junk, sizeof junk);
    CHECK(v->stop[TS] && v->last[TS] == BW_PARSE_DONE);
    free(v);
}

static void test_meta(void)
{
    unsigned n = 0;
    while (D->anomaly_names[n]) n++;
    CHECK_EQ(n, BW_AMQP10_ANOM_BAD_OUTCOME + 1);
    CHECK_STR(D->anomaly_names[BW_AMQP10_ANOM_ENCODING_DEPTH], "encoding_depth");
    CHECK_STR(D->name, "amqp");
    CHECK_EQ(D->ports[0], 5672);
    CHECK_EQ(D->ports[1], 0);
    CHECK(D->state_size <= BW_DISSECTOR_STATE_MAX);
}

static void test_misc(void)
{
    size_t used;
    struct b b = { .n = 0 };
    /* descriptors as ulong0 (unknown code 0) and sym32 */
    struct drv *v = drv_new(D);
    b.n = 0; hdr(&b, 3); drv_feed(v, TC, b.d, b.n);
    b.n = 0;
    size_t f = frame_open(&b, 1, 0);
    p8(&b, 0); p8(&b, 0x44); size_t l = list_open(&b); comp_close(&b, l, 0);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    b.n = 0;
    f = frame_open(&b, 1, 0);
    p8(&b, 0); p8(&b, 0xb3); p32(&b, 22); pn(&b, "amqp:sasl-outcome:list", 22);
    l = list_open(&b); p8(&b, 0x50); p8(&b, 0); comp_close(&b, l, 1);
    frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK((v->f.seen & BW_FACT_AUTH_OK) != 0);
    free(v);
    /* a close whose error is not an error, an unknown symbolic descriptor */
    v = drv_new(D);
    b.n = 0; hdr(&b, 0); f_open(&b, "b", NULL, "p");
    f = frame_open(&b, 0, 0); l = perf_open(&b, 0x18);
    p8(&b, 0); p8(&b, 0x53); p8(&b, 0x1e); size_t e = list_open(&b); comp_close(&b, e, 0);
    comp_close(&b, l, 1); frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    CHECK((v->f.seen & BW_FACT_REFUSED) == 0);
    free(v);
    v = drv_new(D);
    b.n = 0; hdr(&b, 0);
    f = frame_open(&b, 0, 0); p8(&b, 0); sym(&b, "amqp:nothing:list"); l = list_open(&b);
    comp_close(&b, l, 0); frame_close(&b, f);
    drv_feed(v, TC, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    free(v);
    /* a sasl-response that is no binary, and a gap once TLS took over */
    v = drv_new(D);
    b.n = 0; hdr(&b, 3); f_init(&b, "PLAIN", NULL, 0, NULL);
    f = frame_open(&b, 1, 0); l = perf_open(&b, 0x43); str(&b, "\0u\0p"); comp_close(&b, l, 1);
    frame_close(&b, f);
    drv_feed(v, TS, b.d, b.n);
    CHECK_EQ(v->f.anomalies, AN(BW_AMQP10_ANOM_BAD_PERFORMATIVE));
    CHECK((v->f.seen & BW_FACT_CREDS_PASS) == 0);
    free(v);
    v = drv_new(D);
    b.n = 0; hdr(&b, 2);
    CHECK_EQ(parse_copy(v, TS, b.d, b.n, &used), BW_PARSE_DONE);
    CHECK_EQ(D->gap(v->st, TC, &v->f), BW_PARSE_DONE);
    free(v);
}

int main(void)
{
    test_probe();
    test_sasl_plain_guest();
    test_secret_nowhere();
    test_outcomes();
    test_mechanisms();
    test_no_sasl();
    test_tls();
    test_mismatch();
    test_descriptors();
    test_types();
    test_depth_and_hostile();
    test_lone_headers();
    test_product();
    test_midstream();
    test_gap_and_close();
    test_meta();
    test_misc();
    return check_summary("amqp10");
}
