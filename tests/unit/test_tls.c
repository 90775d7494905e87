/* test_tls.c: the TLS handshake dissector on hand-built records and on certificates made here
 * with OpenSSL (RSA 1024/2048, EC P-256; SHA-1/SHA-256; self-signed or CA-signed; expired or
 * not yet valid). Every fact and weak reason, truncation and split sweeps, hostile lengths,
 * the AMQP 1.0 TLS header, HelloRetryRequest, alerts, gaps. Asserts codes and *used. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"
#include "bw_tls.h"

static const struct bw_dissector *const D = &bw_dissector_tls;

/* Capture times used with the certificates below (seconds since the epoch). */
#define T_NB    1700000000L           /* 2023-11-14T22:13:20Z */
#define T_NA    1800000000L           /* 2027-01-15T08:00:00Z */
#define T_NOW   1750000000ull         /* inside [T_NB, T_NA] */

/* ---- byte builder ---- */

struct b { uint8_t p[120000]; size_t n; };

static void b8(struct b *b, unsigned v) { b->p[b->n++] = (uint8_t)v; }
static void b16(struct b *b, unsigned v) { b8(b, v >> 8); b8(b, v); }
static void b24(struct b *b, unsigned v) { b8(b, v >> 16); b8(b, v >> 8); b8(b, v); }
static void bmem(struct b *b, const void *p, size_t n) { memcpy(b->p + b->n, p, n); b->n += n; }
static size_t bopen(struct b *b, int w) { size_t at = b->n; b->n += (size_t)w; return at; }
static void bclose(struct b *b, size_t at, int w)
{
    size_t v = b->n - at - (size_t)w;
    for (int i = w - 1; i >= 0; i--, v >>= 8) b->p[at + (size_t)i] = (uint8_t)v;
}

/* Wrap a handshake message stream into records of at most `frag` payload bytes. */
static void records(struct b *out, uint8_t type, uint16_t ver, const uint8_t *p, size_t n, size_t frag)
{
    size_t off = 0;
    do {
        size_t k = n - off < frag ? n - off : frag;
        b8(out, type);
        b16(out, ver);
        b16(out, (unsigned)k);
        bmem(out, p + off, k);
        off += k;
    } while (off < n);
}

/* ---- ClientHello / ServerHello / Certificate builders ---- */

struct ch_opts {
    uint16_t legacy;
    const uint16_t *ciphers; size_t nciphers;
    const char *sni;
    const char *const *alpn; size_t nalpn;
    const uint16_t *versions; size_t nversions;     /* supported_versions; none when 0 */
    const uint16_t *groups; size_t ngroups;
    const uint8_t *pf; size_t npf;
    bool grease_ext, no_exts;
};

static const uint16_t CIPHERS[] = { 0x0a0a, 0x1301, 0x1302, 0xc02f };
static const uint16_t VERSIONS[] = { 0x3a3a, 0x0304, 0x0303 };
static const uint16_t GROUPS[] = { 0x2a2a, 29, 23 };
static const uint8_t PF[] = { 0 };
static const char *const ALPN_MQTT[] = { "mqtt", "x-amqp-1.0" };
#define JA3_DEFAULT "771,4865-4866-49199,0-10-11-16-43,29-23,0"

static struct ch_opts ch_default(void)
{
    struct ch_opts o = { 0x0303, CIPHERS, 4, "broker.example", ALPN_MQTT, 2, VERSIONS, 3,
                         GROUPS, 3, PF, 1, true, false };
    return o;
}

static void client_hello(struct b *m, const struct ch_opts *o)
{
    b8(m, 1);
    size_t hl = bopen(m, 3);
    b16(m, o->legacy);
    for (int i = 0; i < 32; i++) b8(m, (unsigned)i);
    b8(m, 32);
    for (int i = 0; i < 32; i++) b8(m, 0xEE);
    b16(m, (unsigned)(o->nciphers * 2));
    for (size_t i = 0; i < o->nciphers; i++) b16(m, o->ciphers[i]);
    b8(m, 1);
    b8(m, 0);
    if (!o->no_exts) {
        size_t el = bopen(m, 2);
        if (o->grease_ext) { b16(m, 0x1a1a); b16(m, 0); }
        if (o->sni) {
            b16(m, 0);
            size_t l1 = bopen(m, 2), l2 = bopen(m, 2);
            b8(m, 0);
            b16(m, (unsigned)strlen(o->sni));
            bmem(m, o->sni, strlen(o->sni));
            bclose(m, l2, 2);
            bclose(m, l1, 2);
        }
        if (o->ngroups) {
            b16(m, 10);
            size_t l1 = bopen(m, 2), l2 = bopen(m, 2);
            for (size_t i = 0; i < o->ngroups; i++) b16(m, o->groups[i]);
            bclose(m, l2, 2);
            bclose(m, l1, 2);
        }
        if (o->npf) {
            b16(m, 11);
            size_t l1 = bopen(m, 2), l2 = bopen(m, 1);
            bmem(m, o->pf, o->npf);
            bclose(m, l2, 1);
            bclose(m, l1, 2);
        }
        if (o->nalpn) {
            b16(m, 16);
            size_t l1 = bopen(m, 2), l2 = bopen(m, 2);
            for (size_t i = 0; i < o->nalpn; i++) {
                b8(m, (unsigned)strlen(o->alpn[i]));
                bmem(m, o->alpn[i], strlen(o->alpn[i]));
            }
            bclose(m, l2, 2);
            bclose(m, l1, 2);
        }
        if (o->nversions) {
            b16(m, 43);
            size_t l1 = bopen(m, 2), l2 = bopen(m, 1);
            for (size_t i = 0; i < o->nversions; i++) b16(m, o->versions[i]);
            bclose(m, l2, 1);
            bclose(m, l1, 2);
        }
        bclose(m, el, 2);
    }
    bclose(m, hl, 3);
}

static const uint8_t HRR[32] = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

/* selected = 0: no supported_versions; alpn NULL: no ALPN. */
static void server_hello(struct b *m, uint16_t legacy, uint16_t suite, uint16_t selected,
                         const char *alpn, bool hrr)
{
    b8(m, 2);
    size_t hl = bopen(m, 3);
    b16(m, legacy);
    if (hrr) bmem(m, HRR, 32);
    else for (int i = 0; i < 32; i++) b8(m, (unsigned)(0x40 + i));
    b8(m, 0);
    b16(m, suite);
    b8(m, 0);
    if (selected || alpn) {
        size_t el = bopen(m, 2);
        if (selected) { b16(m, 43); b16(m, 2); b16(m, selected); }
        if (alpn) {
            b16(m, 16);
            size_t l1 = bopen(m, 2), l2 = bopen(m, 2);
            b8(m, (unsigned)strlen(alpn));
            bmem(m, alpn, strlen(alpn));
            bclose(m, l2, 2);
            bclose(m, l1, 2);
        }
        bclose(m, el, 2);
    }
    bclose(m, hl, 3);
}

static void certificate_msg(struct b *m, X509 *const *certs, size_t n)
{
    b8(m, 11);
    size_t hl = bopen(m, 3), ll = bopen(m, 3);
    for (size_t i = 0; i < n; i++) {
        int len = i2d_X509(certs[i], NULL);
        b24(m, (unsigned)len);
        unsigned char *p = m->p + m->n;
        i2d_X509(certs[i], &p);
        m->n += (size_t)len;
    }
    bclose(m, ll, 3);
    bclose(m, hl, 3);
}

static void simple_msg(struct b *m, uint8_t type, size_t body)
{
    b8(m, type);
    b24(m, (unsigned)body);
    for (size_t i = 0; i < body; i++) b8(m, (unsigned)i);
}

/* ---- certificates ---- */

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, const char *org,
                       const EVP_MD *md, long nb, long na, long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    if (!X509_sign(x, signer, md)) { fprintf(stderr, "X509_sign failed\n"); exit(2); }
    return x;
}

struct certs {
    EVP_PKEY *rsa1024, *rsa2048, *ec, *ca_key;
    X509 *ca, *good, *weak, *ec_future, *fake_self;
};

static void certs_make(struct certs *c)
{
    c->rsa1024 = EVP_RSA_gen(1024);
    c->rsa2048 = EVP_RSA_gen(2048);
    c->ec = EVP_EC_gen("P-256");
    c->ca_key = EVP_RSA_gen(2048);
    if (!c->rsa1024 || !c->rsa2048 || !c->ec || !c->ca_key) { fprintf(stderr, "keygen failed\n"); exit(2); }
    c->ca = make_cert(c->ca_key, c->ca_key, NULL, "Plant Root CA", "Plant", EVP_sha256(), T_NB - 86400, T_NA + 86400, 1);
    /* a CA-signed 2048-bit SHA-256 leaf, valid at T_NOW */
    c->good = make_cert(c->rsa2048, c->ca_key, c->ca, "broker.example", "Plant, Inc.", EVP_sha256(), T_NB, T_NA, 2);
    /* self-signed, 1024 bits, SHA-1, expired at T_NOW */
    c->weak = make_cert(c->rsa1024, c->rsa1024, NULL, "old-broker", "Plant", EVP_sha1(), T_NB - 400 * 86400, T_NB, 3);
    /* self-signed EC P-256 SHA-256, not yet valid at T_NOW */
    c->ec_future = make_cert(c->ec, c->ec, NULL, "future", "Plant", EVP_sha256(), T_NA, T_NA + 86400, 4);
    /* issuer == subject, but signed by another key: not self-signed */
    c->fake_self = make_cert(c->rsa2048, c->ca_key, NULL, "imposter", "Plant", EVP_sha256(), T_NB, T_NA, 5);
}

static void certs_free(struct certs *c)
{
    X509_free(c->ca); X509_free(c->good); X509_free(c->weak); X509_free(c->ec_future);
    X509_free(c->fake_self);
    EVP_PKEY_free(c->rsa1024); EVP_PKEY_free(c->rsa2048); EVP_PKEY_free(c->ec); EVP_PKEY_free(c->ca_key);
}

/* ---- a session driven the way the stream layer drives a dissector ---- */

struct sdir { uint8_t buf[1 << 17]; size_t n; uint64_t skip; enum bw_parse last; bool done; };
struct sess {
    _Alignas(16) uint8_t state[BW_DISSECTOR_STATE_MAX];
    struct bw_facts f;
    struct sdir d[2];
};

static struct sess *sess_new(void)
{
    struct sess *s = calloc(1, sizeof *s);
    if (!s) exit(2);
    bw_facts_init(&s->f);
    D->reset(s->state);
    s->d[0].last = s->d[1].last = BW_PARSE_NEED_MORE;
    return s;
}

/* Append bytes to a direction and call parse while it consumes, like bw_stream does. */
static enum bw_parse feed(struct sess *s, enum bw_dir dir, const uint8_t *p, size_t n)
{
    struct sdir *d = &s->d[dir];
    if (d->done) return d->last;
    size_t sk = d->skip < n ? (size_t)d->skip : n;
    p += sk; n -= sk; d->skip -= sk;
    memcpy(d->buf + d->n, p, n);
    d->n += n;
    while (d->n > 0) {
        uint8_t *copy = malloc(d->n);        /* exact size: ASan sees overreads */
        memcpy(copy, d->buf, d->n);
        size_t used = 0xdeadbeef;
        enum bw_parse r = D->parse(s->state, dir, copy, d->n, &used, &s->f);
        free(copy);
        d->last = r;
        if (r == BW_PARSE_OK) CHECK(used > 0);
        if (r == BW_PARSE_NEED_MORE) CHECK(used <= d->n);
        if (r == BW_PARSE_DONE || r == BW_PARSE_MALFORMED) { d->done = true; return r; }
        size_t take = used < d->n ? used : d->n;
        memmove(d->buf, d->buf + take, d->n - take);
        d->n -= take;
        d->skip += used - take;
        if (r == BW_PARSE_NEED_MORE || used == 0) return r;
    }
    return d->last;
}

static enum bw_parse feed_b(struct sess *s, enum bw_dir dir, const struct b *b)
{
    return feed(s, dir, b->p, b->n);
}

static const char *json_of(const struct bw_facts *f, char *out, size_t cap)
{
    struct bw_json j;
    bw_json_init(&j, out, cap);
    bw_json_obj_open(&j, NULL);
    D->facts_json(f, &j);
    bw_json_obj_close(&j);
    if (!bw_json_finish(&j)) return "(json overflow)";
    return out;
}

static const struct bw_tls_facts *X(const struct sess *s) { return bw_tls_facts_of(&s->f); }

static bool json_has(const struct bw_facts *f, const char *needle)
{
    static char out[8192];
    json_of(f, out, sizeof out);
    if (strstr(out, needle)) return true;
    fprintf(stderr, "  json lacks %s: %s\n", needle, out);
    return false;
}

/* ---- tests ---- */

static void test_probe(void)
{
    struct b m = { .n = 0 }, r = { .n = 0 };
    struct ch_opts o = ch_default();
    client_hello(&m, &o);
    records(&r, 22, 0x0301, m.p, m.n, 16384);
    for (size_t i = 1; i < 6; i++) CHECK_EQ(D->probe(BW_DIR_TOSERVER, r.p, i), BW_PROBE_MAYBE);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, r.p, 6), BW_PROBE_YES);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, r.p, r.n), BW_PROBE_YES);
    CHECK_EQ(D->probe(BW_DIR_TOCLIENT, r.p, r.n), BW_PROBE_NO);      /* a ClientHello from the server */
    uint8_t bad[6];
    memcpy(bad, r.p, 6); bad[0] = 0x17;
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, bad, 6), BW_PROBE_NO);
    memcpy(bad, r.p, 6); bad[2] = 5;
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, bad, 3), BW_PROBE_NO);
    memcpy(bad, r.p, 6); bad[3] = 0x40; bad[4] = 1;              /* 16385 */
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, bad, 5), BW_PROBE_NO);
    memcpy(bad, r.p, 6); bad[3] = 0; bad[4] = 3;
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, bad, 5), BW_PROBE_NO);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, (const uint8_t *)"\x10\x1d\x00\x04MQTT", 8), BW_PROBE_NO);

    struct b sh = { .n = 0 }, sr = { .n = 0 };
    server_hello(&sh, 0x0303, 0x1301, 0x0304, NULL, false);
    records(&sr, 22, 0x0303, sh.p, sh.n, 16384);
    CHECK_EQ(D->probe(BW_DIR_TOCLIENT, sr.p, sr.n), BW_PROBE_YES);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, sr.p, sr.n), BW_PROBE_NO);

    struct b a = { .n = 0 };
    bmem(&a, "AMQP\x02\x01\x00\x00", 8);
    bmem(&a, r.p, r.n);
    for (size_t i = 1; i <= 13; i++) CHECK_EQ(D->probe(BW_DIR_TOSERVER, a.p, i), BW_PROBE_MAYBE);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, a.p, 14), BW_PROBE_YES);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, (const uint8_t *)"AMQP\x03\x01\x00\x00", 8), BW_PROBE_NO);
    CHECK_EQ(D->probe(BW_DIR_TOSERVER, (const uint8_t *)"AMQP\x00", 5), BW_PROBE_NO);
}

static void test_client_hello(void)
{
    struct b m = { .n = 0 }, r = { .n = 0 };
    struct ch_opts o = ch_default();
    client_hello(&m, &o);
    records(&r, 22, 0x0301, m.p, m.n, 16384);
    struct sess *s = sess_new();
    size_t used = 0;
    enum bw_parse pr = D->parse(s->state, BW_DIR_TOSERVER, r.p, r.n, &used, &s->f);
    CHECK_EQ(pr, BW_PARSE_OK);
    CHECK_EQ(used, r.n);
    const struct bw_tls_facts *x = X(s);
    CHECK(x != NULL);
    if (!x) { free(s); return; }
    CHECK(s->f.seen & BW_FACT_TLS);
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    CHECK_STR(s->f.version, "");
    CHECK_EQ(s->f.anomalies, 0);
    CHECK(x->have & BW_TLS_HAVE_CLIENT_HELLO);
    CHECK_EQ(x->client_version, 0x0303);
    CHECK_EQ(x->versions_offered, BW_TLS_V_TLS13 | BW_TLS_V_TLS12);
    CHECK_EQ(x->ciphers_offered, 3);
    CHECK_STR(bw_tls_sni(&s->f), "broker.example");
    CHECK(bw_tls_alpn_offered(&s->f, "mqtt"));
    CHECK(bw_tls_alpn_offered(&s->f, "x-amqp"));
    CHECK(bw_tls_alpn_offered(&s->f, ""));
    CHECK(!bw_tls_alpn_offered(&s->f, "amqp"));
    CHECK(!bw_tls_alpn_offered(&s->f, "mqtt-extra"));
    CHECK(bw_tls_alpn(&s->f) == NULL);
    CHECK_EQ(x->alpn_offered_count, 2);
    /* JA3 against MD5 of the string written out by hand */
    uint8_t md[16];
    unsigned int mdlen = 0;
    EVP_Digest(JA3_DEFAULT, strlen(JA3_DEFAULT), md, &mdlen, EVP_md5(), NULL);
    CHECK(x->have & BW_TLS_HAVE_JA3);
    CHECK_MEM(x->ja3_md5, md, 16);
    CHECK(json_has(&s->f, "\"versions_offered\":[\"TLSv1.3\",\"TLSv1.2\"]"));
    CHECK(json_has(&s->f, "\"sni\":\"broker.example\""));
    CHECK(json_has(&s->f, "\"alpn_offered\":[\"mqtt\",\"x-amqp-1.0\"]"));
    CHECK(!json_has(&s->f, "\"version\":"));   /* unknown: left out, EVE has a string */
    CHECK(json_has(&s->f, "\"certificate\":null"));
    CHECK(json_has(&s->f, "\"ja3\":{\"hash\":\""));
    free(s);

    /* no extensions at all (an old client): JA3 keeps empty fields; legacy version offered */
    struct ch_opts o2 = ch_default();
    o2.no_exts = true;
    o2.legacy = 0x0301;
    struct b m2 = { .n = 0 }, r2 = { .n = 0 };
    client_hello(&m2, &o2);
    records(&r2, 22, 0x0301, m2.p, m2.n, 16384);
    s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &r2), BW_PARSE_OK);
    x = X(s);
    CHECK_EQ(x->versions_offered, BW_TLS_V_TLS10);
    CHECK(bw_tls_sni(&s->f) == NULL);
    CHECK(!bw_tls_alpn_offered(&s->f, ""));
    EVP_Digest("769,4865-4866-49199,,,", 22, md, &mdlen, EVP_md5(), NULL);
    CHECK_MEM(x->ja3_md5, md, 16);
    CHECK_EQ(s->f.anomalies, 0);
    free(s);

    /* an SNI with control bytes and a long name: '?' and cut; many ALPN names: whole ones kept */
    static const char *const many[] = { "mqtt", "amqp", "0123456789abcdef", "0123456789abcdef",
                                        "0123456789abcdef", "zz" };
    struct ch_opts o3 = ch_default();
    o3.sni = "a\tb.0123456789012345678901234567890123456789012345678901234567890123456789";
    o3.alpn = many;
    o3.nalpn = 6;
    struct b m3 = { .n = 0 }, r3 = { .n = 0 };
    client_hello(&m3, &o3);
    records(&r3, 22, 0x0301, m3.p, m3.n, 16384);
    s = sess_new();
    feed_b(s, BW_DIR_TOSERVER, &r3);
    x = X(s);
    CHECK(x->sni_cut);
    CHECK_EQ(x->sni_len, BW_TLS_SNI_MAX);
    CHECK_EQ(strlen(bw_tls_sni(&s->f)), BW_TLS_SNI_MAX);
    CHECK(strncmp(bw_tls_sni(&s->f), "a?b.0123", 8) == 0);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_BAD_NAME));
    CHECK_EQ(x->alpn_offered_count, 6);
    CHECK(x->alpn_offered_cut);
    CHECK(bw_tls_alpn_offered(&s->f, "amqp"));
    CHECK(!bw_tls_alpn_offered(&s->f, "zz"));                      /* not kept */
    CHECK(json_has(&s->f, "\"...\"]"));
    free(s);
}

/* A TLS 1.3 handshake: ClientHello, ServerHello + CCS + encrypted records. */
static void test_tls13(void)
{
    struct b cm = { .n = 0 }, cr = { .n = 0 }, sm = { .n = 0 }, sr = { .n = 0 };
    struct ch_opts o = ch_default();
    client_hello(&cm, &o);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    server_hello(&sm, 0x0303, 0x1302, 0x0304, "mqtt", false);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    bmem(&sr, "\x14\x03\x03\x00\x01\x01", 6);
    bmem(&sr, "\x17\x03\x03\x00\x20", 5);
    for (int i = 0; i < 32; i++) b8(&sr, 0x99);
    struct sess *s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &cr), BW_PARSE_OK);
    size_t used = 1;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, sr.p, sr.n, &used, &s->f), BW_PARSE_DONE);
    CHECK_EQ(used, 5 + sm.n);
    const struct bw_tls_facts *x = X(s);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK(x->have & BW_TLS_HAVE_SERVER_HELLO);
    CHECK(x->have & BW_TLS_HAVE_ENCRYPTED);
    CHECK_EQ(x->version, 0x0304);
    CHECK_EQ(x->cipher_suite, 0x1302);
    CHECK_STR(bw_tls_alpn(&s->f), "mqtt");
    CHECK(!(x->have & BW_TLS_HAVE_CERT_MSG));
    /* the client's next bytes are not followed any more */
    used = 1;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x14\x03\x03\x00\x01\x01", 6, &used, &s->f),
             BW_PARSE_DONE);
    CHECK_EQ(used, 0);
    CHECK(!bw_tls_evaluate(&s->f, T_NOW * 1000000u));
    CHECK(!(s->f.seen & BW_FACT_WEAK_TLS));
    CHECK(json_has(&s->f, "\"version\":\"TLS 1.3\""));
    CHECK(json_has(&s->f, "\"cipher_suite\":\"TLS_AES_256_GCM_SHA384\",\"cipher_suite_id\":\"0x1302\""));
    CHECK(json_has(&s->f, "\"alpn\":\"mqtt\""));
    CHECK(json_has(&s->f, "\"weak_reasons\":[]"));
    free(s);
}

/* Server flight for TLS <= 1.2: ServerHello, Certificate, ServerKeyExchange, ServerHelloDone. */
static void flight12(struct b *msgs, uint16_t version, X509 *const *chain, size_t n)
{
    server_hello(msgs, version, 0xc02f, 0, "mqtt", false);
    certificate_msg(msgs, chain, n);
    simple_msg(msgs, 12, 300);
    simple_msg(msgs, 14, 0);
}

static void run12(struct sess *s, uint16_t version, X509 *const *chain, size_t n, size_t frag,
                  enum bw_parse want)
{
    struct b cm = { .n = 0 }, cr = { .n = 0 }, sm = { .n = 0 }, sr = { .n = 0 };
    struct ch_opts o = ch_default();
    o.nversions = 0;
    client_hello(&cm, &o);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    flight12(&sm, version, chain, n);
    records(&sr, 22, version, sm.p, sm.n, frag);
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &cr), BW_PARSE_OK);
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &sr), want);
}

static void test_tls12_good(const struct certs *c)
{
    X509 *chain[2] = { c->good, c->ca };
    struct sess *s = sess_new();
    run12(s, 0x0303, chain, 2, 16384, BW_PARSE_DONE);
    const struct bw_tls_facts *x = X(s);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK_EQ(s->f.anomalies, 0);
    CHECK_EQ(x->version, 0x0303);
    CHECK_EQ(x->cipher_suite, 0xc02f);
    CHECK(x->have & BW_TLS_HAVE_CERT);
    CHECK_EQ(x->chain_len, 2);
    CHECK_EQ(x->key_type, BW_TLS_KEY_RSA);
    CHECK_EQ(x->key_bits, 2048);
    CHECK_STR(x->sig_alg, "sha256WithRSAEncryption");
    CHECK(!x->self_signed);
    CHECK(!x->sig_weak_hash);
    CHECK_EQ(x->not_before, T_NB);
    CHECK_EQ(x->not_after, T_NA);
    CHECK_EQ(x->subject_len, strlen("CN=broker.example,O=Plant\\, Inc.,C=DE"));
    CHECK_MEM(x->subject, "CN=broker.example,O=Plant\\, Inc.,C=DE", x->subject_len);
    CHECK_MEM(x->issuer, "CN=Plant Root CA,O=Plant,C=DE", x->issuer_len);
    uint8_t fp[32];
    unsigned int fl = 0;
    X509_digest(c->good, EVP_sha256(), fp, &fl);
    CHECK_MEM(x->sha256, fp, 32);
    /* EVE's fingerprint is the SHA-1 of the DER, its serial the number in colon hex */
    uint8_t fp1[20];
    X509_digest(c->good, EVP_sha1(), fp1, &fl);
    CHECK_MEM(x->sha1, fp1, 20);
    char want[80];
    size_t k = 0;
    for (int i = 0; i < 20; i++) k += (size_t)snprintf(want + k, sizeof want - k, "%s%02x", i ? ":" : "", fp1[i]);
    char needle[120];
    snprintf(needle, sizeof needle, "\"fingerprint\":\"%s\"", want);
    CHECK(json_has(&s->f, needle));
    CHECK_EQ(x->serial_len, 1);
    CHECK_EQ(x->serial[0], 2);
    CHECK(json_has(&s->f, "\"serial\":\"02\""));
    CHECK(json_has(&s->f, "\"issuerdn\":\"CN=Plant Root CA,O=Plant,C=DE\""));
    CHECK(!bw_tls_evaluate(&s->f, T_NOW * 1000000u));
    CHECK_EQ(x->weak, 0);
    CHECK(!(s->f.seen & BW_FACT_WEAK_TLS));
    CHECK(json_has(&s->f, "\"version\":\"TLS 1.2\""));
    CHECK(json_has(&s->f, "\"cipher_suite\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\""));
    CHECK(json_has(&s->f, "\"subject\":\"CN=broker.example,O=Plant\\\\, Inc.,C=DE\""));
    CHECK(json_has(&s->f, "\"notbefore\":\"2023-11-14T22:13:20\",\"notafter\":\"2027-01-15T08:00:00\""));
    CHECK(json_has(&s->f, "\"key_type\":\"RSA\",\"key_bits\":2048"));
    CHECK(json_has(&s->f, "\"self_signed\":false,\"chain_length\":2"));
    CHECK(json_has(&s->f, "\"versions_offered\":[\"TLSv1.2\"]"));
    free(s);

    /* the same flight in 100-byte records: messages span records */
    s = sess_new();
    run12(s, 0x0303, chain, 2, 100, BW_PARSE_DONE);
    CHECK(X(s)->have & BW_TLS_HAVE_CERT);
    CHECK_MEM(X(s)->sha256, fp, 32);
    CHECK_EQ(s->f.anomalies, 0);
    free(s);

    /* issuer == subject but another key signed it: not self-signed */
    X509 *one[1] = { c->fake_self };
    s = sess_new();
    run12(s, 0x0303, one, 1, 16384, BW_PARSE_DONE);
    CHECK(X(s)->have & BW_TLS_HAVE_CERT);
    CHECK(!X(s)->self_signed);
    CHECK(!bw_tls_evaluate(&s->f, T_NOW * 1000000u));
    free(s);
}

static void test_tls_weak(const struct certs *c)
{
    X509 *one[1] = { c->weak };
    struct sess *s = sess_new();
    run12(s, 0x0301, one, 1, 16384, BW_PARSE_DONE);
    const struct bw_tls_facts *x = X(s);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK_EQ(x->version, 0x0301);
    CHECK_EQ(x->key_bits, 1024);
    CHECK(x->self_signed);
    CHECK(x->sig_weak_hash);
    CHECK_STR(x->sig_alg, "sha1WithRSAEncryption");
    CHECK(!(s->f.seen & BW_FACT_WEAK_TLS));                       /* only evaluate sets it */
    CHECK(bw_tls_evaluate(&s->f, 0));                               /* no clock: no validity yet */
    CHECK_EQ(x->weak, BW_TLS_WEAK_OLD_VERSION | BW_TLS_WEAK_SELF_SIGNED | BW_TLS_WEAK_RSA_KEY |
                      BW_TLS_WEAK_SIGNATURE);
    CHECK(bw_tls_evaluate(&s->f, T_NOW * 1000000u));
    CHECK_EQ(x->weak, BW_TLS_WEAK_OLD_VERSION | BW_TLS_WEAK_EXPIRED | BW_TLS_WEAK_SELF_SIGNED |
                      BW_TLS_WEAK_RSA_KEY | BW_TLS_WEAK_SIGNATURE);
    CHECK(s->f.seen & BW_FACT_WEAK_TLS);
    /* judged once: a later call at another time changes nothing */
    CHECK(bw_tls_evaluate(&s->f, (uint64_t)(T_NB - 500 * 86400) * 1000000u));
    CHECK(!(x->weak & BW_TLS_WEAK_NOT_YET_VALID));
    CHECK(json_has(&s->f, "\"weak_reasons\":[\"old_tls_version\",\"cert_expired\",\"self_signed_cert\","
                          "\"weak_rsa_key\",\"weak_signature\"]"));
    CHECK(json_has(&s->f, "\"version\":\"TLSv1\""));
    CHECK(json_has(&s->f, "\"signature_algorithm\":\"sha1WithRSAEncryption\""));
    free(s);

    /* TLS 1.1 with a good certificate: only the version */
    X509 *good[1] = { c->good };
    s = sess_new();
    run12(s, 0x0302, good, 1, 16384, BW_PARSE_DONE);
    CHECK(bw_tls_evaluate(&s->f, T_NOW * 1000000u));
    CHECK_EQ(X(s)->weak, BW_TLS_WEAK_OLD_VERSION);
    free(s);

    /* EC P-256 self-signed, not yet valid */
    X509 *ec[1] = { c->ec_future };
    s = sess_new();
    run12(s, 0x0303, ec, 1, 16384, BW_PARSE_DONE);
    x = X(s);
    CHECK_EQ(x->key_type, BW_TLS_KEY_EC);
    CHECK_EQ(x->key_bits, 256);
    CHECK_STR(x->sig_alg, "ecdsa-with-SHA256");
    CHECK(bw_tls_evaluate(&s->f, T_NOW * 1000000u));
    CHECK_EQ(x->weak, BW_TLS_WEAK_NOT_YET_VALID | BW_TLS_WEAK_SELF_SIGNED);
    CHECK(json_has(&s->f, "\"key_type\":\"EC\",\"key_bits\":256"));
    free(s);
}

/* Every prefix of a flight: NEED_MORE, nothing consumed but whole records, no anomaly; then the
 * rest gives the full facts. Done for one-record and 100-byte-record flights. */
static void test_truncation(const struct certs *c)
{
    X509 *chain[2] = { c->good, c->ca };
    for (int variant = 0; variant < 2; variant++) {
        struct b sm = { .n = 0 }, sr = { .n = 0 };
        flight12(&sm, 0x0303, chain, 2);
        records(&sr, 22, 0x0303, sm.p, sm.n, variant ? 100 : 16384);
        size_t cert_end = 0;                       /* records holding SH + Certificate */
        {
            struct b shc = { .n = 0 };
            server_hello(&shc, 0x0303, 0xc02f, 0, "mqtt", false);
            certificate_msg(&shc, chain, 2);
            size_t hs = shc.n, frag = variant ? 100 : 16384;
            cert_end = hs + 5 * ((hs + frag - 1) / frag);
        }
        int bad = 0;
        for (size_t i = 0; i < cert_end; i++) {
            struct sess *s = sess_new();
            size_t used = 77;
            enum bw_parse r = D->parse(s->state, BW_DIR_TOCLIENT, sr.p, i, &used, &s->f);
            if (variant == 0 && (r != BW_PARSE_NEED_MORE || used != 0)) bad++;
            if (variant == 1 && r == BW_PARSE_OK && (used % 105 != 0 || used > i)) bad++;
            if (r != BW_PARSE_NEED_MORE && r != BW_PARSE_OK) bad++;
            if (s->f.anomalies) bad++;
            if (s->f.seen & BW_FACT_CONFIRMED) bad++;
            free(s);
        }
        CHECK_EQ(bad, 0);
        /* each prefix through the stream emulation, then the rest */
        bad = 0;
        for (size_t i = 0; i < cert_end; i++) {
            struct sess *s = sess_new();
            enum bw_parse r = feed(s, BW_DIR_TOCLIENT, sr.p, i);
            if (r != BW_PARSE_NEED_MORE && r != BW_PARSE_OK) bad++;
            if (s->f.seen & BW_FACT_CONFIRMED) bad++;
            r = feed(s, BW_DIR_TOCLIENT, sr.p + i, sr.n - i);
            if (r != BW_PARSE_DONE || !(X(s)->have & BW_TLS_HAVE_CERT) || s->f.anomalies) bad++;
            free(s);
        }
        CHECK_EQ(bad, 0);
    }

    /* ClientHello: every prefix waits, consuming nothing */
    struct b cm = { .n = 0 }, cr = { .n = 0 };
    struct ch_opts o = ch_default();
    client_hello(&cm, &o);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    int bad = 0;
    for (size_t i = 0; i < cr.n; i++) {
        struct sess *s = sess_new();
        size_t used = 77;
        enum bw_parse r = D->parse(s->state, BW_DIR_TOSERVER, cr.p, i, &used, &s->f);
        if (r != BW_PARSE_NEED_MORE || used != 0 || s->f.anomalies) bad++;
        if (X(s) && (X(s)->have & BW_TLS_HAVE_CLIENT_HELLO)) bad++;
        free(s);
    }
    CHECK_EQ(bad, 0);
}

/* Two chunks at every offset (and byte by byte) give the same facts as one. */
static void test_split(const struct certs *c)
{
    X509 *chain[2] = { c->good, c->ca };
    for (int variant = 0; variant < 3; variant++) {
        struct b cm = { .n = 0 }, cr = { .n = 0 }, sm = { .n = 0 }, sr = { .n = 0 };
        struct ch_opts o = ch_default();
        client_hello(&cm, &o);
        records(&cr, 22, 0x0301, cm.p, cm.n, variant == 1 ? 50 : 16384);
        flight12(&sm, 0x0303, chain, 2);
        records(&sr, 22, 0x0303, sm.p, sm.n, variant == 1 ? 333 : variant == 2 ? 7 : 16384);
        static char ref[8192], got[8192];
        struct sess *s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &cr);
        feed_b(s, BW_DIR_TOCLIENT, &sr);
        CHECK(X(s)->have & BW_TLS_HAVE_CERT);
        CHECK_EQ(s->f.anomalies, variant == 2 ? 0 : 0);
        json_of(&s->f, ref, sizeof ref);
        uint32_t ref_seen = s->f.seen;
        free(s);
        int bad = 0;
        for (size_t i = 1; i < cr.n; i++) {
            s = sess_new();
            feed(s, BW_DIR_TOSERVER, cr.p, i);
            feed(s, BW_DIR_TOSERVER, cr.p + i, cr.n - i);
            feed_b(s, BW_DIR_TOCLIENT, &sr);
            if (strcmp(json_of(&s->f, got, sizeof got), ref) != 0 || s->f.seen != ref_seen) bad++;
            free(s);
        }
        for (size_t i = 1; i < sr.n; i++) {
            s = sess_new();
            feed_b(s, BW_DIR_TOSERVER, &cr);
            feed(s, BW_DIR_TOCLIENT, sr.p, i);
            feed(s, BW_DIR_TOCLIENT, sr.p + i, sr.n - i);
            if (strcmp(json_of(&s->f, got, sizeof got), ref) != 0 || s->f.seen != ref_seen) bad++;
            free(s);
        }
        CHECK_EQ(bad, 0);
        /* byte by byte, both directions */
        s = sess_new();
        for (size_t i = 0; i < cr.n; i++) feed(s, BW_DIR_TOSERVER, cr.p + i, 1);
        for (size_t i = 0; i < sr.n; i++) feed(s, BW_DIR_TOCLIENT, sr.p + i, 1);
        CHECK_STR(json_of(&s->f, got, sizeof got), ref);
        free(s);
    }
}

/* Several messages in one record; the record after the flight is never read. */
static void test_coalesced(const struct certs *c)
{
    X509 *one[1] = { c->good };
    struct b sm = { .n = 0 }, sr = { .n = 0 };
    flight12(&sm, 0x0303, one, 1);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    struct sess *s = sess_new();
    size_t used = 7;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, sr.p, sr.n, &used, &s->f), BW_PARSE_DONE);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK(X(s)->have & BW_TLS_HAVE_CERT);
    free(s);

    /* no Certificate (anonymous / PSK suites): ServerHelloDone moves on */
    struct b m2 = { .n = 0 }, r2 = { .n = 0 };
    server_hello(&m2, 0x0303, 0x00a8, 0, NULL, false);
    simple_msg(&m2, 12, 20);
    records(&r2, 22, 0x0303, m2.p, m2.n, 16384);
    s = sess_new();
    used = 7;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, r2.p, r2.n, &used, &s->f), BW_PARSE_OK);
    CHECK_EQ(used, r2.n);                            /* both messages of the record read */
    CHECK(X(s)->have & BW_TLS_HAVE_SERVER_HELLO);
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    struct b m3 = { .n = 0 }, r3 = { .n = 0 };
    simple_msg(&m3, 14, 0);
    records(&r3, 22, 0x0303, m3.p, m3.n, 16384);
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &r3), BW_PARSE_DONE);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK(!(X(s)->have & BW_TLS_HAVE_CERT_MSG));
    CHECK(json_has(&s->f, "\"cipher_suite\":\"0x00a8\""));
    free(s);

    /* resumption: ServerHello then ChangeCipherSpec */
    struct b m4 = { .n = 0 }, r4 = { .n = 0 };
    server_hello(&m4, 0x0303, 0xc030, 0, NULL, false);
    records(&r4, 22, 0x0303, m4.p, m4.n, 16384);
    bmem(&r4, "\x14\x03\x03\x00\x01\x01", 6);
    bmem(&r4, "\x16\x03\x03\x00\x28", 5);            /* encrypted Finished: never parsed */
    for (int i = 0; i < 40; i++) b8(&r4, 0xAB);
    s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &r4), BW_PARSE_DONE);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK(X(s)->have & BW_TLS_HAVE_ENCRYPTED);
    CHECK_EQ(s->f.anomalies, 0);
    CHECK_EQ(s->d[1].n, 6 + 45);                      /* the CCS and what follows: left unread */
    free(s);

    /* the client's CKE + CCS + encrypted Finished: stops at the CCS */
    struct b cm = { .n = 0 }, cr = { .n = 0 }, km = { .n = 0 };
    struct ch_opts o = ch_default();
    client_hello(&cm, &o);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    simple_msg(&km, 16, 66);
    records(&cr, 22, 0x0303, km.p, km.n, 16384);
    bmem(&cr, "\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x10", 11);
    for (int i = 0; i < 16; i++) b8(&cr, 0xCD);
    s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &cr), BW_PARSE_DONE);
    CHECK_EQ(s->d[0].n, 6 + 21);
    CHECK_EQ(s->f.anomalies, 0);
    free(s);
}

static void test_hostile(const struct certs *c)
{
    size_t used;
    struct sess *s;
    /* record length 0xFFFF */
    s = sess_new();
    used = 9;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x16\x03\x01\xff\xff\x01", 6, &used, &s->f),
             BW_PARSE_MALFORMED);
    CHECK_EQ(used, 0);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_RECORD_LENGTH));
    CHECK(s->f.seen & BW_FACT_SPEC_VIOLATION);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x16\x03\x01\x00\x04", 5, &used, &s->f),
             BW_PARSE_DONE);
    free(s);
    /* application data 0xFFFF is also too long; 18432 is fine and skipped */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"\x17\x03\x03\xff\xff", 5, &used, &s->f),
             BW_PARSE_MALFORMED);
    free(s);
    /* wrong record type / version */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x10\x03\x01\x00\x04", 5, &used, &s->f),
             BW_PARSE_MALFORMED);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_RECORD_TYPE));
    free(s);
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x16\x02\x01\x00\x04", 5, &used, &s->f),
             BW_PARSE_MALFORMED);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_RECORD_VERSION));
    free(s);
    /* an SSL 2.0 ClientHello */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x80\x2e\x01\x03\x01", 5, &used, &s->f),
             BW_PARSE_MALFORMED);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_SSLV2));
    free(s);

    /* handshake length past its record, the stream ends: waits; then another record type */
    struct b r = { .n = 0 };
    bmem(&r, "\x16\x03\x01\x00\x08\x01\x00\x01\x00\x03\x03\x00\x00", 13);
    s = sess_new();
    used = 9;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, r.p, r.n, &used, &s->f), BW_PARSE_NEED_MORE);
    CHECK_EQ(used, 0);
    bmem(&r, "\x17\x03\x03\x00\x02\x00\x00", 7);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, r.p, r.n, &used, &s->f), BW_PARSE_MALFORMED);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_INTERLEAVED));
    free(s);

    /* a handshake message past 16 KiB: not buffered */
    s = sess_new();
    used = 9;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x16\x03\x01\x00\x04\x01\x00\x40\x01", 9, &used, &s->f),
             BW_PARSE_DONE);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_TOO_LARGE));
    free(s);

    /* ClientHello whose cipher list runs past the message */
    struct ch_opts o = ch_default();
    struct b cm = { .n = 0 }, cr = { .n = 0 };
    client_hello(&cm, &o);
    cm.p[4 + 2 + 32 + 1 + 32] = 0x7f;                /* cipher_suites length high byte */
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    s = sess_new();
    used = 9;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, cr.p, cr.n, &used, &s->f), BW_PARSE_OK);
    CHECK_EQ(used, cr.n);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_BAD_HELLO));
    CHECK(!(X(s)->have & (BW_TLS_HAVE_CLIENT_HELLO | BW_TLS_HAVE_JA3)));
    free(s);

    /* ClientHello with an SNI list length lying inside the extension, and a duplicate */
    cm.n = 0; cr.n = 0;
    client_hello(&cm, &o);
    size_t sni_at = 4 + 2 + 32 + 1 + 32 + 2 + 8 + 2 + 2 + 4 + 4;   /* ext type 0, its length, list length */
    CHECK_EQ(cm.p[sni_at - 4], 0);
    CHECK_EQ(cm.p[sni_at - 3], 0);
    cm.p[sni_at + 1] = 0x40;                          /* list length 0x0040.. > extension */
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, cr.p, cr.n, &used, &s->f), BW_PARSE_OK);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_BAD_EXTENSION));
    CHECK(bw_tls_sni(&s->f) == NULL);
    CHECK(X(s)->have & BW_TLS_HAVE_JA3);              /* the outer structure held */
    free(s);

    /* ServerHello cut inside its fields: no version claimed, not confirmed */
    struct b sm = { .n = 0 }, sr = { .n = 0 };
    bmem(&sm, "\x02\x00\x00\x10\x03\x03", 6);
    for (int i = 0; i < 14; i++) b8(&sm, 1);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, sr.p, sr.n, &used, &s->f), BW_PARSE_MALFORMED);
    CHECK(!(X(s)->have & BW_TLS_HAVE_SERVER_HELLO));
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    D->close(s->state, BW_CLOSE_FIN, &s->f);
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    free(s);

    /* certificate lengths that lie */
    X509 *one[1] = { c->good };
    for (int k = 0; k < 4; k++) {
        sm.n = 0; sr.n = 0;
        server_hello(&sm, 0x0303, 0xc02f, 0, NULL, false);
        size_t at = sm.n;
        certificate_msg(&sm, one, 1);
        uint8_t *cm8 = sm.p + at;                     /* type, len(3), list len(3), cert len(3), DER */
        if (k == 0) cm8[8] = (uint8_t)(cm8[8] + 5);  /* cert length past the list */
        if (k == 1) cm8[6] = (uint8_t)(cm8[6] - 1);  /* list shorter than the message */
        if (k == 2) cm8[20] ^= 0xff;                 /* DER broken */
        if (k == 3) cm8[5] = (uint8_t)(cm8[5] + 1);  /* list length past the message */
        records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
        s = sess_new();
        CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &sr), BW_PARSE_DONE);
        CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_BAD_CERTIFICATE));
        CHECK(X(s)->have & BW_TLS_HAVE_CERT_MSG);
        if (k != 1) CHECK(!(X(s)->have & BW_TLS_HAVE_CERT));
        CHECK(s->f.seen & BW_FACT_CONFIRMED);         /* the handshake moved on */
        CHECK(json_has(&s->f, "\"certificate\":{"));
        free(s);
    }

    /* Certificate before ServerHello; ServerHello from the client */
    sm.n = 0; sr.n = 0;
    certificate_msg(&sm, one, 1);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &sr), BW_PARSE_OK);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_UNEXPECTED));
    CHECK(!(X(s)->have & BW_TLS_HAVE_CERT_MSG));
    free(s);
    sm.n = 0; sr.n = 0;
    server_hello(&sm, 0x0303, 0xc02f, 0, NULL, false);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &sr), BW_PARSE_OK);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_UNEXPECTED));
    CHECK(!(X(s)->have & BW_TLS_HAVE_SERVER_HELLO));
    free(s);

    /* supported_versions selecting 1.2 is not allowed */
    sm.n = 0; sr.n = 0;
    server_hello(&sm, 0x0303, 0xc02f, 0x0303, NULL, false);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    s = sess_new();
    feed_b(s, BW_DIR_TOCLIENT, &sr);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_BAD_VERSION));
    free(s);

    /* empty handshake record, a bad CCS, a heartbeat */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x16\x03\x01\x00\x00", 5, &used, &s->f),
             BW_PARSE_OK);
    CHECK_EQ(used, 5);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_RECORD_LENGTH));
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x18\x03\x01\x00\x10\x01", 6, &used, &s->f),
             BW_PARSE_OK);
    CHECK_EQ(used, 21);                               /* skipped past what was offered */
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_HEARTBEAT));
    free(s);
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"\x14\x03\x03\x00\x01", 5, &used, &s->f),
             BW_PARSE_NEED_MORE);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"\x14\x03\x03\x00\x01\x02", 6, &used, &s->f),
             BW_PARSE_DONE);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_BAD_CCS));
    free(s);
}

static void test_amqp_upgrade(void)
{
    struct b cm = { .n = 0 }, cr = { .n = 0 }, sm = { .n = 0 }, sr = { .n = 0 };
    struct ch_opts o = ch_default();
    o.alpn = NULL;
    o.nalpn = 0;
    client_hello(&cm, &o);
    bmem(&cr, "AMQP\x02\x01\x00\x00", 8);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    bmem(&sr, "AMQP\x02\x01\x00\x00", 8);
    server_hello(&sm, 0x0303, 0x1301, 0x0304, NULL, false);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    struct sess *s = sess_new();
    size_t used = 0;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, cr.p, 5, &used, &s->f), BW_PARSE_NEED_MORE);
    CHECK_EQ(used, 0);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, cr.p, cr.n, &used, &s->f), BW_PARSE_OK);
    CHECK_EQ(used, 8);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, cr.p + 8, cr.n - 8, &used, &s->f), BW_PARSE_OK);
    CHECK_EQ(used, cr.n - 8);
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &sr), BW_PARSE_DONE);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK(X(s)->have & BW_TLS_HAVE_AMQP_UPGRADE);
    CHECK_EQ(X(s)->version, 0x0304);
    CHECK(!bw_tls_alpn_offered(&s->f, ""));
    CHECK(json_has(&s->f, "\"amqp_tls_header\":true"));
    free(s);

    /* only at the very start; another AMQP header is not TLS */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"AMQP\x03\x01\x00\x00", 8, &used, &s->f),
             BW_PARSE_MALFORMED);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_AMQP_HEADER));
    free(s);
    s = sess_new();
    CHECK_EQ(feed(s, BW_DIR_TOSERVER, cr.p + 8, cr.n - 8), BW_PARSE_OK);
    CHECK_EQ(feed(s, BW_DIR_TOSERVER, (const uint8_t *)"AMQP\x02\x01\x00\x00", 8), BW_PARSE_MALFORMED);
    CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_RECORD_TYPE));
    free(s);
}

static void test_hrr(void)
{
    struct b cm = { .n = 0 }, cr = { .n = 0 }, sm = { .n = 0 }, sr = { .n = 0 };
    struct ch_opts o = ch_default();
    client_hello(&cm, &o);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    server_hello(&sm, 0x0303, 0x1301, 0x0304, NULL, true);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    bmem(&sr, "\x14\x03\x03\x00\x01\x01", 6);       /* compatibility CCS */
    struct sess *s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &cr), BW_PARSE_OK);
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &sr), BW_PARSE_OK);
    CHECK(X(s)->have & BW_TLS_HAVE_HRR);
    CHECK(!(X(s)->have & BW_TLS_HAVE_SERVER_HELLO));
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    /* the client: CCS, second ClientHello */
    struct b c2 = { .n = 0 };
    bmem(&c2, "\x14\x03\x03\x00\x01\x01", 6);
    records(&c2, 22, 0x0303, cm.p, cm.n, 16384);
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &c2), BW_PARSE_OK);
    CHECK_EQ(s->f.anomalies, 0);
    struct b s2 = { .n = 0 }, s2r = { .n = 0 };
    server_hello(&s2, 0x0303, 0x1301, 0x0304, "mqtt", false);
    records(&s2r, 22, 0x0303, s2.p, s2.n, 16384);
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &s2r), BW_PARSE_DONE);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK_EQ(X(s)->version, 0x0304);
    CHECK(json_has(&s->f, "\"hello_retry_request\":true"));
    /* a third ClientHello would be out of place; the client is not followed any more anyway */
    CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &cr), BW_PARSE_DONE);
    free(s);
}

static void test_alert_gap_close(void)
{
    struct b cm = { .n = 0 }, cr = { .n = 0 };
    struct ch_opts o = ch_default();
    o.versions = NULL;
    o.nversions = 0;
    o.legacy = 0x0301;
    client_hello(&cm, &o);
    records(&cr, 22, 0x0301, cm.p, cm.n, 16384);
    struct sess *s = sess_new();
    feed_b(s, BW_DIR_TOSERVER, &cr);
    size_t used = 0;
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"\x15\x03\x01\x00\x02\x02", 6, &used, &s->f),
             BW_PARSE_NEED_MORE);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"\x15\x03\x01\x00\x02\x02\x46", 7, &used, &s->f),
             BW_PARSE_DONE);
    CHECK_EQ(used, 7);
    CHECK(s->f.seen & BW_FACT_REFUSED);
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    CHECK(json_has(&s->f, "\"alert\":{\"from\":\"server\",\"level\":\"fatal\",\"description\":\"protocol_version\"}"));
    free(s);

    /* a warning alert goes on */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x15\x03\x01\x00\x02\x01\x70", 7, &used, &s->f),
             BW_PARSE_OK);
    CHECK_EQ(used, 7);
    CHECK(!(s->f.seen & BW_FACT_REFUSED));
    free(s);

    /* a gap after the ServerHello: stop, facts final */
    struct b sm = { .n = 0 }, sr = { .n = 0 };
    server_hello(&sm, 0x0303, 0xc02f, 0, NULL, false);
    records(&sr, 22, 0x0303, sm.p, sm.n, 16384);
    s = sess_new();
    CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &sr), BW_PARSE_OK);
    CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
    CHECK_EQ(D->gap(s->state, BW_DIR_TOCLIENT, &s->f), BW_PARSE_DONE);
    CHECK(s->f.seen & BW_FACT_GAP);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    CHECK_EQ(D->gap(s->state, BW_DIR_TOSERVER, &s->f), BW_PARSE_DONE);
    free(s);

    /* the session ends after the ServerHello */
    s = sess_new();
    feed_b(s, BW_DIR_TOCLIENT, &sr);
    D->close(s->state, BW_CLOSE_RST_SERVER, &s->f);
    CHECK(s->f.seen & BW_FACT_CONFIRMED);
    free(s);

    /* picked up after the handshake: encrypted records only */
    s = sess_new();
    CHECK_EQ(D->parse(s->state, BW_DIR_TOCLIENT, (const uint8_t *)"\x17\x03\x03\x00\x20\x11", 6, &used, &s->f),
             BW_PARSE_DONE);
    CHECK_EQ(D->parse(s->state, BW_DIR_TOSERVER, (const uint8_t *)"\x17\x03\x03\x00\x20\x11", 6, &used, &s->f),
             BW_PARSE_DONE);
    CHECK_EQ(s->f.seen, BW_FACT_TLS | BW_FACT_MIDSTREAM);
    CHECK(!json_has(&s->f, "\"version\":"));   /* unknown: left out, EVE has a string */
    free(s);

    /* other dissectors' facts are not TLS facts */
    struct bw_facts f;
    bw_facts_init(&f);
    CHECK(bw_tls_facts_of(&f) == NULL);
    CHECK(bw_tls_sni(&f) == NULL);
    CHECK(!bw_tls_alpn_offered(&f, ""));
    CHECK(!bw_tls_evaluate(&f, T_NOW * 1000000u));
    CHECK_EQ(f.seen, 0);
    char out[256];
    CHECK_STR(json_of(&f, out, sizeof out), "{\"tls\":{}}");
}

/* ---- Certificate messages past 16 KiB ---- */

/* A leaf carrying `nsans` DNS names ("host-0001.line-7.plant.example", ...), as brokers fronting
 * many names do: the leaf alone passes 16 KiB from about 500 of them. */
static X509 *make_san_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, int nsans,
                           long nb, long na)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1000 + nsans);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Plant", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer));
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (int i = 0; i < nsans; i++) {
        char host[64];
        snprintf(host, sizeof host, "host-%04d.line-%d.plant.example", i, i % 9);
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        ASN1_STRING_set(ia5, host, (int)strlen(host));
        GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
        sk_GENERAL_NAME_push(gens, g);
    }
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
    GENERAL_NAMES_free(gens);
    if (!X509_sign(x, signer, EVP_sha256())) { fprintf(stderr, "X509_sign failed\n"); exit(2); }
    return x;
}

static struct b g_cm, g_cr, g_sm, g_sr;        /* too large for the stack */

/* ClientHello, then the server's flight in records of `frag` bytes. */
static void big_flight(X509 *const *chain, size_t n, size_t frag)
{
    struct ch_opts o = ch_default();
    o.nversions = 0;
    g_cm.n = g_cr.n = g_sm.n = g_sr.n = 0;
    client_hello(&g_cm, &o);
    records(&g_cr, 22, 0x0301, g_cm.p, g_cm.n, 16384);
    flight12(&g_sm, 0x0303, chain, n);
    records(&g_sr, 22, 0x0303, g_sm.p, g_sm.n, frag);
}

/* Offsets worth cutting the server's bytes at: a stride through them, and every offset near a
 * record header and near the leaf's first and last byte. */
static bool cut_here(size_t i, size_t frag, size_t leaf_at, size_t leaf_end)
{
    size_t rec = frag + 5, in = i % rec;
    if (i % 251 == 0) return true;
    if (frag >= 1000 && (in < 7 || in > rec - 7)) return true;
    return (i + 12 > leaf_at && i < leaf_at + 12) || (i + 12 > leaf_end && i < leaf_end + 12);
}

static void test_big_certificate(const struct certs *c)
{
    /* a leaf with 700 names (about 23 KiB) under a chain of four intermediates and the root */
    EVP_PKEY *ik[4];
    X509 *chain[6];
    chain[5] = c->ca;
    X509 *up = c->ca;
    EVP_PKEY *upk = c->ca_key;
    for (int i = 3; i >= 0; i--) {
        char cn[32];
        snprintf(cn, sizeof cn, "Plant Issuing CA %d", i + 1);
        ik[i] = EVP_RSA_gen(2048);
        chain[i + 1] = make_cert(ik[i], upk, up, cn, "Plant", EVP_sha256(), T_NB, T_NA, 100 + i);
        up = chain[i + 1];
        upk = ik[i];
    }
    chain[0] = make_san_cert(c->rsa2048, ik[0], chain[1], "broker.example", 700, T_NB - 1000 * 86400,
                             T_NB - 86400);                    /* expired at T_NOW */
    int leaf_len = i2d_X509(chain[0], NULL);
    CHECK(leaf_len > 20000 && leaf_len < 30000);     /* the leaf alone spans two records */
    struct b shm = { .n = 0 };
    server_hello(&shm, 0x0303, 0xc02f, 0, "mqtt", false);
    /* offsets in the server's bytes, records of 16 KiB: the Certificate's header, the leaf */
    const size_t cert_hdr = 5 + shm.n, leaf_at = cert_hdr + 4 + 3 + 3;
    uint8_t fp[32];
    unsigned int fl = 0;
    X509_digest(chain[0], EVP_sha256(), fp, &fl);

    static const size_t frags[] = { 16384, 1000, 97 };
    static char ref[8192], got[8192];
    for (size_t v = 0; v < 3; v++) {
        big_flight(chain, 6, frags[v]);
        CHECK(g_sm.n > 26000);                          /* the Certificate alone is past 16 KiB */
        struct sess *s = sess_new();
        CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &g_cr), BW_PARSE_OK);
        CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &g_sr), BW_PARSE_DONE);
        const struct bw_tls_facts *x = X(s);
        CHECK(s->f.seen & BW_FACT_CONFIRMED);
        CHECK_EQ(s->f.anomalies, 0);
        CHECK(x->have & BW_TLS_HAVE_CERT);
        CHECK_EQ(x->chain_len, 6);
        CHECK_MEM(x->sha256, fp, 32);
        CHECK_MEM(x->subject, "CN=broker.example,O=Plant", x->subject_len);
        CHECK_MEM(x->issuer, "CN=Plant Issuing CA 1,O=Plant,C=DE", x->issuer_len);
        CHECK_EQ(x->not_before, T_NB - 1000 * 86400);
        CHECK_EQ(x->not_after, T_NB - 86400);
        CHECK(x->key_type == BW_TLS_KEY_RSA && x->key_bits == 2048);
        CHECK(!x->self_signed);
        CHECK(bw_tls_evaluate(&s->f, T_NOW * 1000000u));
        CHECK_EQ(x->weak, BW_TLS_WEAK_EXPIRED);
        CHECK(json_has(&s->f, "\"chain_length\":6"));
        json_of(&s->f, ref, sizeof ref);
        uint32_t ref_seen = s->f.seen;
        free(s);

        /* cut in two at many offsets (every one near a record header or a leaf edge) */
        size_t per = frags[v] + 5;                      /* leaf edges in these records */
        size_t la = leaf_at - 5, le = la + (size_t)leaf_len;
        la = la / frags[v] * per + 5 + la % frags[v];
        le = le / frags[v] * per + 5 + le % frags[v];
        int bad = 0, cuts = 0;
        for (size_t i = 1; i < g_sr.n; i++) {
            if (!cut_here(i, frags[v], la, le)) continue;
            cuts++;
            s = sess_new();
            feed_b(s, BW_DIR_TOSERVER, &g_cr);
            feed(s, BW_DIR_TOCLIENT, g_sr.p, i);
            feed(s, BW_DIR_TOCLIENT, g_sr.p + i, g_sr.n - i);
            bw_tls_evaluate(&s->f, T_NOW * 1000000u);
            if (strcmp(json_of(&s->f, got, sizeof got), ref) != 0 || s->f.seen != ref_seen) bad++;
            free(s);
        }
        CHECK(cuts > 100);
        CHECK_EQ(bad, 0);
        /* in 1000-byte pieces */
        s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &g_cr);
        for (size_t i = 0; i < g_sr.n; i += 1000)
            feed(s, BW_DIR_TOCLIENT, g_sr.p + i, g_sr.n - i < 1000 ? g_sr.n - i : 1000);
        bw_tls_evaluate(&s->f, T_NOW * 1000000u);
        CHECK_STR(json_of(&s->f, got, sizeof got), ref);
        free(s);
    }

    /* only the leaf is held whole: its bytes are all it waits for */
    big_flight(chain, 6, 16384);
    {
        struct sess *s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &g_cr);
        size_t leaf_end = leaf_at + (size_t)leaf_len + 5;   /* + the second record's header */
        CHECK_EQ(feed(s, BW_DIR_TOCLIENT, g_sr.p, leaf_end - 1), BW_PARSE_NEED_MORE);
        CHECK(!(X(s)->have & BW_TLS_HAVE_CERT));
        CHECK(X(s)->have & BW_TLS_HAVE_CERT_MSG);
        CHECK_EQ(feed(s, BW_DIR_TOCLIENT, g_sr.p + leaf_end - 1, 1), BW_PARSE_NEED_MORE);
        CHECK(X(s)->have & BW_TLS_HAVE_CERT);            /* before the rest of the chain came */
        CHECK(!(s->f.seen & BW_FACT_CONFIRMED));
        CHECK(s->d[1].n < 16384 + 5);                    /* no more than the record it is in */
        /* the session ends before the rest of the chain: what was read stays */
        D->close(s->state, BW_CLOSE_FIN, &s->f);
        CHECK(s->f.seen & BW_FACT_CONFIRMED);
        CHECK_EQ(X(s)->chain_len, 1);
        free(s);
    }

    /* a record of another type inside the walked message: interleaving, stop */
    {
        struct b *r = &g_sr;
        size_t cut = 16384 + 5;                          /* the second record's header */
        memmove(r->p + cut + 6, r->p + cut, r->n - cut);
        memcpy(r->p + cut, "\x15\x03\x03\x00\x01\x01", 6);
        r->n += 6;
        struct sess *s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &g_cr);
        CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, r), BW_PARSE_MALFORMED);
        CHECK(s->f.anomalies & (1u << BW_TLS_ANOM_INTERLEAVED));
        CHECK(!(X(s)->have & BW_TLS_HAVE_CERT));
        free(s);
    }

    /* a leaf past 64 KiB: counted, not decoded, the walk goes on to the end */
    {
        X509 *huge = make_san_cert(c->rsa2048, ik[0], chain[1], "huge.example", 2400, T_NB, T_NA);
        CHECK(i2d_X509(huge, NULL) > 65536);
        X509 *two[2] = { huge, chain[1] };
        big_flight(two, 2, 16384);
        struct sess *s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &g_cr);
        CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &g_sr), BW_PARSE_DONE);
        CHECK_EQ(s->f.anomalies, 1u << BW_TLS_ANOM_TOO_LARGE);
        CHECK(!(X(s)->have & BW_TLS_HAVE_CERT) && (X(s)->have & BW_TLS_HAVE_CERT_MSG));
        CHECK_EQ(X(s)->chain_len, 2);
        CHECK(s->f.seen & BW_FACT_CONFIRMED);
        CHECK(json_has(&s->f, "\"certificate\":{\"decoded\":false,\"chain_length\":2}"));
        free(s);
        X509_free(huge);
    }

    /* lying lengths inside a large message */
    {
        big_flight(chain, 6, 16384);
        /* the second certificate's length runs past the list: stop counting there */
        size_t second = leaf_at + (size_t)leaf_len + 5;  /* + the record header before it */
        g_sr.p[second] = 0x7f;
        struct sess *s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &g_cr);
        CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &g_sr), BW_PARSE_DONE);
        CHECK_EQ(s->f.anomalies, 1u << BW_TLS_ANOM_BAD_CERTIFICATE);
        CHECK(X(s)->have & BW_TLS_HAVE_CERT);            /* the leaf was whole before it */
        CHECK_EQ(X(s)->chain_len, 1);
        free(s);
        /* the list longer than its message: nothing inside is trusted */
        big_flight(chain, 6, 16384);
        g_sr.p[cert_hdr + 4] = 0x7f;
        s = sess_new();
        feed_b(s, BW_DIR_TOSERVER, &g_cr);
        CHECK_EQ(feed_b(s, BW_DIR_TOCLIENT, &g_sr), BW_PARSE_DONE);
        CHECK_EQ(s->f.anomalies, 1u << BW_TLS_ANOM_BAD_CERTIFICATE);
        CHECK(!(X(s)->have & BW_TLS_HAVE_CERT));
        CHECK_EQ(X(s)->chain_len, 0);
        free(s);
    }

    /* the client's own long chain (mutual TLS): passed by length, no anomaly; its direction
     * goes on to the ChangeCipherSpec */
    {
        struct ch_opts o = ch_default();
        g_cm.n = g_cr.n = 0;
        client_hello(&g_cm, &o);
        records(&g_cr, 22, 0x0301, g_cm.p, g_cm.n, 16384);
        size_t hello_end = g_cr.n;
        g_sm.n = 0;
        certificate_msg(&g_sm, chain, 6);
        simple_msg(&g_sm, 16, 66);
        records(&g_cr, 22, 0x0303, g_sm.p, g_sm.n, 16384);
        bmem(&g_cr, "\x14\x03\x03\x00\x01\x01", 6);
        struct sess *s = sess_new();
        CHECK_EQ(feed_b(s, BW_DIR_TOSERVER, &g_cr), BW_PARSE_DONE);
        CHECK_EQ(s->f.anomalies, 0);
        CHECK(!(X(s)->have & BW_TLS_HAVE_CERT_MSG));     /* the client's certificate is not the broker's */
        CHECK_EQ(s->d[0].n, 6);                          /* stopped at the CCS */
        int bad = 0;
        for (size_t i = hello_end + 1; i < g_cr.n; i += 37) {
            struct sess *t = sess_new();
            feed(t, BW_DIR_TOSERVER, g_cr.p, i);
            if (feed(t, BW_DIR_TOSERVER, g_cr.p + i, g_cr.n - i) != BW_PARSE_DONE || t->f.anomalies) bad++;
            free(t);
        }
        CHECK_EQ(bad, 0);
        free(s);
    }

    for (int i = 0; i < 6; i++) if (chain[i] != c->ca) X509_free(chain[i]);
    for (int i = 0; i < 4; i++) EVP_PKEY_free(ik[i]);
}

/* The leaf memo: a certificate seen again gives the same certificate facts as its first decode,
 * also after more distinct certificates than the memo keeps went by, and a different leaf never
 * takes another's fields. Ten certificates (serials 100..109, two subjects), each shown twice. */
static void test_leaf_memo(const struct certs *c)
{
    X509 *made[10];
    struct bw_tls_facts first[10];
    for (int i = 0; i < 10; i++)
        made[i] = make_cert(c->rsa2048, c->ca_key, c->ca, i % 2 ? "odd.example" : "even.example", "Plant",
                            EVP_sha256(), T_NB + i, T_NA, 100 + i);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 10; i++) {
            X509 *chain[2] = { made[i], c->ca };
            struct sess *s = sess_new();
            run12(s, 0x0303, chain, 2, 16384, BW_PARSE_DONE);
            const struct bw_tls_facts *x = X(s);
            CHECK(x->have & BW_TLS_HAVE_CERT);
            CHECK_EQ(x->not_before, T_NB + i);              /* its own, not a neighbour's */
            CHECK_EQ(x->serial_len, 1);
            CHECK_EQ(x->serial[0], 100 + i);
            const char *cn = i % 2 ? "CN=odd.example,O=Plant,C=DE" : "CN=even.example,O=Plant,C=DE";
            CHECK_EQ(x->subject_len, strlen(cn));
            CHECK_MEM(x->subject, cn, x->subject_len);
            if (round == 0) {
                first[i] = *x;
            } else {
                CHECK_MEM(x->sha256, first[i].sha256, sizeof x->sha256);
                CHECK_MEM(x->sha1, first[i].sha1, sizeof x->sha1);
                CHECK_EQ(x->serial_len, first[i].serial_len);
                CHECK_MEM(x->serial, first[i].serial, x->serial_len);
                CHECK_EQ(x->key_bits, first[i].key_bits);
                CHECK_STR(x->sig_alg, first[i].sig_alg);
                CHECK_EQ(x->self_signed, first[i].self_signed);
                CHECK_EQ(x->not_after, first[i].not_after);
            }
            if (i > 0) CHECK(memcmp(x->sha256, first[i - 1].sha256, sizeof x->sha256) != 0);
            free(s);
        }
    }
    for (int i = 0; i < 10; i++) X509_free(made[i]);
}

int main(void)
{
    struct certs c;
    certs_make(&c);
    test_probe();
    test_client_hello();
    test_tls13();
    test_tls12_good(&c);
    test_tls_weak(&c);
    test_truncation(&c);
    test_split(&c);
    test_big_certificate(&c);
    test_coalesced(&c);
    test_hostile(&c);
    test_amqp_upgrade();
    test_hrr();
    test_alert_gap_close();
    test_leaf_memo(&c);
    certs_free(&c);
    return check_summary("tls");
}
