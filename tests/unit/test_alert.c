/* test_alert.c: Community ID v1 published vectors, JSON writer escaping and bounds, timestamps,
 * the hand-made calendar against gmtime, identities (user name, client id) whole up to 256 bytes, cut past it with a flag, null unread. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "bw_alert.h"
#include "bw_json.h"
#include "bw_pipeline.h"

static void test_community_vectors(void)
{
    /* Vectors published with the Community ID spec (baseline of the reference implementation). */
    uint8_t a[16] = { 1, 2, 3, 4 }, b[16] = { 5, 6, 7, 8 };
    char out[32];
    bw_community_id(0, 4, a, b, 6, 1122, 3344, out);
    CHECK_STR(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    bw_community_id(0, 4, b, a, 6, 3344, 1122, out);            /* either direction */
    CHECK_STR(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    bw_community_id(1, 4, a, b, 6, 1122, 3344, out);
    CHECK_STR(out, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
    bw_community_id(0, 4, a, b, 17, 1122, 3344, out);
    CHECK_STR(out, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
    bw_community_id(1, 4, a, b, 17, 1122, 3344, out);
    CHECK_STR(out, "1:OShq+iKDAMVouh/4bMxB9Sz4amw=");
    /* ICMP echo: type/code stand in for ports (8 -> 0 as the spec maps them) */
    bw_community_id(0, 4, a, b, 1, 8, 0, out);
    CHECK_STR(out, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
    /* IPv6: ICMPv6 echo request, type 128 paired with 129 */
    uint8_t x[16] = { 0xfe, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d };
    uint8_t y[16] = { 0xfe, 0x80, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d };
    bw_community_id(0, 6, x, y, 58, 128, 129, out);
    CHECK_STR(out, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
    bw_community_id(1, 6, x, y, 58, 128, 129, out);
    CHECK_STR(out, "1:IO27GQzPuCtNnwFvjWALMHu5tJE=");
}

static void test_json_escaping(void)
{
    char buf[256];
    struct bw_json j;
    bw_json_init(&j, buf, sizeof buf);
    bw_json_obj_open(&j, NULL);
    bw_json_strn(&j, "a", "q\"b\\c\n\x01", 7);
    bw_json_strn(&j, "u", "\xc3\xa9\xff\xe2\x82", 5);            /* é, invalid byte, cut sequence */
    bw_json_strn(&j, "s", "\xed\xa0\x80", 3);                       /* a surrogate is not UTF-8 */
    bw_json_strn(&j, "o", "\xc0\xaf", 2);                           /* overlong '/' */
    bw_json_u64(&j, "n", 18446744073709551615ULL);
    bw_json_i64(&j, "m", -5);
    bw_json_bool(&j, "t", true);
    bw_json_null(&j, "z");
    bw_json_arr_open(&j, "l");
    bw_json_str(&j, NULL, "x");
    bw_json_str(&j, NULL, "y");
    bw_json_arr_close(&j);
    bw_json_obj_close(&j);
    CHECK(bw_json_finish(&j));
    CHECK_STR(buf, "{\"a\":\"q\\\"b\\\\c\\n\\u0001\",\"u\":\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
                   "\"s\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"o\":\"\xef\xbf\xbd\xef\xbf\xbd\","
                   "\"n\":18446744073709551615,\"m\":-5,\"t\":true,\"z\":null,\"l\":[\"x\",\"y\"]}");
    CHECK_EQ(j.len, strlen(buf));
}

static void test_json_bounds(void)
{
    /* Every capacity from 0 up: never a write past cap, and failure is reported, not a cut line. */
    for (size_t cap = 0; cap < 40; cap++) {
        char buf[64];
        memset(buf, 'X', sizeof buf);
        struct bw_json j;
        bw_json_init(&j, buf, cap);
        bw_json_obj_open(&j, NULL);
        bw_json_str(&j, "key", "value-value");
        bw_json_obj_close(&j);
        bool ok = bw_json_finish(&j);
        CHECK_EQ(ok, cap >= 22);   /* 21 characters + NUL */
        CHECK(buf[cap] == 'X');
        if (ok) CHECK_STR(buf, "{\"key\":\"value-value\"}");
    }
    /* unbalanced use is an error */
    char b2[64];
    struct bw_json j;
    bw_json_init(&j, b2, sizeof b2);
    bw_json_obj_open(&j, NULL);
    CHECK(!bw_json_finish(&j));
    /* a cut fixed string says so */
    struct bw_fstr f;
    uint8_t longname[100];
    memset(longname, 'a', sizeof longname);
    bw_fstr_set(&f, longname, sizeof longname);
    CHECK_EQ(f.len, BW_FACTS_STR_MAX);
    CHECK(f.cut);
    char b3[200];
    bw_json_init(&j, b3, sizeof b3);
    bw_json_obj_open(&j, NULL);
    bw_json_fstr(&j, "u", &f);
    bw_json_obj_close(&j);
    CHECK(bw_json_finish(&j));
    CHECK(strstr(b3, "aaa...\"") != NULL);
}

static void test_ts_and_ip(void)
{
    char ts[32], ip[46];
    bw_format_ts(1795996800123456ULL, ts);
    CHECK_STR(ts, "2026-11-30T00:00:00.123456+0000");
    bw_format_ts(0, ts);
    CHECK_STR(ts, "1970-01-01T00:00:00.000000+0000");
    uint8_t v4[16] = { 192, 0, 2, 1 };
    bw_format_ip(4, v4, ip);
    CHECK_STR(ip, "192.0.2.1");
    uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    bw_format_ip(6, v6, ip);
    CHECK_STR(ip, "2001:db8::1");
}

/* The hand-made calendar and dotted quad against the C library's, over leap days, century
 * years, the end of 2099 and ten thousand pseudo-random instants up to the year 9999. */
static void test_ts_and_ip_like_libc(void)
{
    static const int64_t fixed[] = {
        951782400, 951868799, 951868800, 4107542399, 4107542400, 4102444799, 4102444800,
        1709164800, 1709251199, 253402300799, 68169600, 2147483647, 2147483648,
    };
    char ts[32], want[40], day[24], ip[46], wip[46];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    unsigned bad_ts = 0, bad_ip = 0;
    for (unsigned i = 0; i < 10000 + sizeof fixed / sizeof fixed[0]; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int64_t sec = i < sizeof fixed / sizeof fixed[0] ? fixed[i] : (int64_t)(x % 253402300800ULL);
        unsigned us = (unsigned)(x % 1000000u);
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof want, "%s.%06u+0000", day, us);
        bw_format_ts((uint64_t)sec * 1000000u + us, ts);
        if (strcmp(ts, want) != 0 && bad_ts++ < 3) CHECK_STR(ts, want);
        uint8_t a[16] = { (uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24) };
        if (i < 256) { a[0] = (uint8_t)i; a[3] = (uint8_t)(255 - i); }
        bw_format_ip(4, a, ip);
        inet_ntop(AF_INET, a, wip, sizeof wip);
        if (strcmp(ip, wip) != 0 && bad_ip++ < 3) CHECK_STR(ip, wip);
    }
    CHECK(bad_ts == 0);
    CHECK(bad_ip == 0);
    bw_format_ts(UINT64_MAX, ts);                   /* a forged time: clamped, never past the buffer */
    CHECK_STR(ts, "9999-12-31T23:59:59.999999+0000");
}

/* An MQTT session from 10.0.0.1:40000 to 10.0.0.2:1883 with these facts. */
static void mqtt_session(struct bw_flow *f, struct bw_session *s, uint32_t seen)
{
    memset(f, 0, sizeof *f);
    memset(s, 0, sizeof *s);
    f->key.ip_ver = 4;
    f->key.a[0] = 10; f->key.a[3] = 1; f->key.pa = 40000;
    f->key.b[0] = 10; f->key.b[3] = 2; f->key.pb = 1883;
    f->cli_is_a = true;
    s->app = "mqtt";
    bw_facts_init(&s->facts);
    s->facts.seen = seen;
}

/* A record of a session whose identities are n bytes long ('a' .. 'z' repeated). */
static void format_with(size_t n, char *buf, size_t cap, struct bw_record_meta *m)
{
    static struct bw_flow f;
    static struct bw_session s;
    static uint8_t name[400];
    size_t len;
    for (size_t i = 0; i < sizeof name; i++) name[i] = (uint8_t)('a' + i % 26);
    mqtt_session(&f, &s, BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_AUTH_OK);
    bw_fid_set(&s.facts.user, name, n);
    bw_fid_set(&s.facts.client_id, name, n);
    struct bw_alert_cfg cfg = { .sensor = "t" };
    struct bw_record_in in = { .ts_us = 1, .flow = &f, .session = &s, .kind = BW_KIND_CLEARTEXT_CREDENTIALS };
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, cap, &len, m), 0);
}

static void test_long_identities(void)
{
    static char buf[BW_RECORD_MAX], want[600];
    struct bw_record_meta m;
    char name[300];
    for (size_t i = 0; i < sizeof name; i++) name[i] = (char)('a' + i % 26);
    /* 256 bytes: whole, in both members, no flag */
    format_with(256, buf, sizeof buf, &m);
    snprintf(want, sizeof want, "\"username\":\"%.256s\"", name);
    CHECK(strstr(buf, want) != NULL);
    snprintf(want, sizeof want, "\"client_id\":\"%.256s\"", name);
    CHECK(strstr(buf, want) != NULL);
    CHECK(strstr(buf, "_truncated") == NULL);
    /* 300 bytes: the first 256 as sent (no "..." inside the value), and the flags */
    format_with(300, buf, sizeof buf, &m);
    snprintf(want, sizeof want, "\"username\":\"%.256s\",\"username_truncated\":true", name);
    CHECK(strstr(buf, want) != NULL);
    snprintf(want, sizeof want, "\"client_id\":\"%.256s\",\"client_id_truncated\":true", name);
    CHECK(strstr(buf, want) != NULL);
    CHECK(strstr(m.summary, "...") != NULL);              /* the one-liner says it is shortened */
    /* announced, never read: null, never "" */
    static struct bw_fid u;
    bw_fid_set(&u, (const uint8_t *)"x", 1);
    CHECK(!u.unread);
    u.unread = true;
    char b[64];
    struct bw_json j;
    bw_json_init(&j, b, sizeof b);
    bw_json_obj_open(&j, NULL);
    bw_json_fid(&j, "username", "username_truncated", &u);
    bw_json_obj_close(&j);
    CHECK(bw_json_finish(&j));
    CHECK_STR(b, "{\"username\":null}");
}

/* A session record's flow object: EVE's age (whole seconds of the two packet times, as
 * Suricata counts it, not the duration rounded) and alerted. */
static void test_session_flow(void)
{
    static struct bw_flow f;
    static struct bw_session s;
    static char buf[BW_RECORD_MAX];
    size_t len;
    mqtt_session(&f, &s, BW_FACT_CONFIRMED | BW_FACT_AUTH_OK);
    struct bw_alert_cfg cfg = { .sensor = "t" };
    struct bw_record_in in = { .ts_us = 1, .flow = &f, .session = &s, .kind = -1, .end_reason = "fin" };
    f.first_us = 1764000000900000ULL;          /* .9 s */
    f.last_us = 1764000001100000ULL;           /* 0.2 s later, in the next second */
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, NULL), 0);
    CHECK(strstr(buf, "\"bytes_toclient\":0,\"age\":1,\"reason\":\"fin\",\"alerted\":false,") != NULL);
    f.last_us = f.first_us + 90ULL * 1000000;
    s.alerted = BW_KIND_BIT(BW_KIND_ANONYMOUS_SESSION);
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, NULL), 0);
    CHECK(strstr(buf, "\"age\":90,\"reason\":\"fin\",\"alerted\":true,\"broker_answered\":true}") != NULL);
    f.last_us = f.first_us - 5000000;         /* times that went back: no wrap */
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, NULL), 0);
    CHECK(strstr(buf, "\"age\":0,") != NULL);
}

int main(void)
{
    test_community_vectors();
    test_json_escaping();
    test_json_bounds();
    test_ts_and_ip();
    test_ts_and_ip_like_libc();
    test_long_identities();
    test_session_flow();
    return check_summary("alert");
}
