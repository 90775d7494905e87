/* test_report.c: per-broker aggregation, totals, exposure classes, the alert timeline (exact
 * counts in fixed memory, in and out of order), bounds, and every output form: text within 120
 * columns, JSON, HTML and CSV with hostile wire strings (escaped, no formula, no script), user
 * names only when asked and only as tokens when redacting.
 * `test_report --html FILE` writes the hostile page for the browser test (test_report_html.sh). */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "bw_escape.h"
#include "bw_report.h"

static const uint64_t T0 = 1764000000000000ULL;            /* 2025-11-24 16:00:00 UTC */

static struct bw_facts facts(uint32_t seen, const char *ver, const char *user)
{
    struct bw_facts f;
    bw_facts_init(&f);
    f.seen = seen | BW_FACT_CONFIRMED;
    snprintf(f.version, sizeof f.version, "%s", ver);
    if (user) bw_fid_set(&f.user, (const uint8_t *)user, strlen(user));
    return f;
}

static void add(struct bw_report *r, uint8_t srv, uint16_t port, uint8_t cli, const char *app, const struct bw_facts *f,
                uint64_t t)
{
    uint8_t s[16] = { 10, 0, 0, srv }, c[16] = { 10, 0, 1, cli };
    struct bw_report_session rs = { 4, s, c, port, app, f, t, t + 1000000 };
    bw_report_session(r, &rs);
}

static void alert(struct bw_report *r, uint8_t srv, uint16_t port, enum bw_kind k, uint64_t t)
{
    uint8_t s[16] = { 10, 0, 0, srv };
    bw_report_alert(r, k, 4, s, port, t);
}

static struct bw_report_header hdr(void)
{
    static const char *const inputs[] = { "a.pcap", "b.pcap" };
    struct bw_report_header h = {
        .sensor = "unit", .version = "9.9", .inputs = inputs, .ninputs = 2,
        .first_us = T0, .last_us = T0 + 3600ULL * 1000000, .generated_us = T0 + 7200ULL * 1000000,
    };
    return h;
}

static int (*const writers[4])(const struct bw_report *, const struct bw_report_header *, FILE *) = {
    bw_report_write_text, bw_report_write_json, bw_report_write_html, bw_report_write_csv,
};
enum { TEXT, JSON, HTML, CSV };

static char *render(struct bw_report *r, int form, const struct bw_report_header *h)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK_EQ(writers[form](r, h, m), 0);
    fclose(m);
    return buf;
}

static size_t longest_line(const char *s)
{
    size_t best = 0;
    while (*s) {
        size_t n = strcspn(s, "\n");
        if (n > best) best = n;
        s += n + (s[n] == '\n');
    }
    return best;
}

static int occurrences(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

static void test_aggregation(void)
{
    struct bw_report *r = bw_report_new(16);
    struct bw_facts anon = facts(BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK, "3.1.1", NULL);
    struct bw_facts creds = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, "5.0", "alice");
    struct bw_facts fail = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_FAILED, "5.0", "mallory");
    struct bw_facts tls = facts(BW_FACT_TLS | BW_FACT_WEAK_TLS, "", NULL);
    snprintf(tls.tls_version, sizeof tls.tls_version, "TLSv1.1");
    struct bw_facts amqp = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK | BW_FACT_DEFAULT_CREDS,
                                 "0-9-1", "guest");
    bw_fstr_set(&amqp.product, (const uint8_t *)"RabbitMQ 3.10.8", 15);
    /* a default pair that was refused: counted, but the broker did not accept it */
    struct bw_facts refused_default = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_FAILED |
                                            BW_FACT_DEFAULT_CREDS, "3.1.1", "admin");
    struct bw_facts guess;                                  /* never confirmed: not a broker */
    bw_facts_init(&guess);

    add(r, 1, 1883, 5, "mqtt", &anon, T0);
    add(r, 1, 1883, 6, "mqtt", &creds, T0 + 10);
    add(r, 1, 1883, 6, "mqtt", &fail, T0 + 20);
    add(r, 1, 8883, 7, "mqtt", &tls, T0 + 30);
    add(r, 2, 5672, 8, "amqp", &amqp, T0 + 40);
    add(r, 3, 1883, 9, "mqtt", &refused_default, T0 + 45);
    add(r, 4, 80, 9, "mqtt", &guess, T0 + 50);
    alert(r, 1, 1883, BW_KIND_BRUTEFORCE, T0 + 20);
    CHECK_EQ(bw_report_brokers(r), 4);

    struct bw_report_totals t;
    bw_report_totals(r, &t);
    CHECK_EQ(t.brokers, 4);
    CHECK_EQ(t.plaintext, 3);
    CHECK_EQ(t.tls, 1);
    CHECK_EQ(t.anonymous, 1);
    CHECK_EQ(t.creds, 3);
    CHECK_EQ(t.default_creds, 1);                            /* accepted only: 10.0.0.2 */
    CHECK_EQ(t.weak_tls, 1);
    CHECK_EQ(t.failed_logins, 2);
    CHECK_EQ(t.failed_brokers, 2);
    CHECK_EQ(t.bruteforce_brokers, 1);
    CHECK_EQ(t.alerts[BW_KIND_BRUTEFORCE], 1);
    CHECK_EQ(t.exposure[BW_EXPOSURE_ANONYMOUS], 1);          /* 10.0.0.1:1883 */
    CHECK_EQ(t.exposure[BW_EXPOSURE_WEAK_TLS], 1);           /* 10.0.0.1:8883 */
    CHECK_EQ(t.exposure[BW_EXPOSURE_DEFAULT_CREDS], 1);      /* 10.0.0.2:5672 */
    CHECK_EQ(t.exposure[BW_EXPOSURE_CLEARTEXT_CREDS], 1);    /* 10.0.0.3: default refused */

    struct bw_report_header h = hdr();
    char *txt = render(r, TEXT, &h);
    CHECK(strstr(txt, "brokerwatch exposure report\n") == txt);
    CHECK(strstr(txt, "  sensor     unit (brokerwatch 9.9)\n") != NULL);
    CHECK(strstr(txt, "  inputs     a.pcap, b.pcap\n") != NULL);
    CHECK(strstr(txt, "  capture    2025-11-24 16:00:00Z to 2025-11-24 17:00:00Z (1 h)\n") != NULL);
    CHECK(strstr(txt, "  generated  2025-11-24 18:00:00Z\n") != NULL);
    CHECK(strstr(txt, "10.0.0.1:1883") != NULL);
    CHECK(strstr(txt, "mqtt 3.1.1,5.0") != NULL);
    CHECK(strstr(txt, "RabbitMQ 3.10.8") != NULL);
    CHECK(strstr(txt, "TLSv1.1") != NULL);
    CHECK(strstr(txt, "10.0.0.4") == NULL);                  /* port 80 never spoke a broker protocol */
    CHECK(strstr(txt, "alice") == NULL);                      /* user names only when asked */
    CHECK(strstr(txt, "Totals: 4 brokers: 3 plaintext only, 1 with TLS, 1 accept anonymous clients, "
                      "3 leak credentials in cleartext,\n        1 accept default credentials, 1 with weak TLS; "
                      "2 failed logins on 2 brokers, 1 brute-force alert on 1 broker\n") != NULL);
    CHECK(strstr(txt, "Alerts: 1 by kind: 1 bruteforce\n") != NULL);
    CHECK(strstr(txt, "\nBROKER         PROTOCOL        TLS      SESS  CLIENTS  ANON  CREDS  DEFAULT  FAILS  BRUTE  PRODUCT\n") != NULL);
    CHECK(strstr(txt, "\n10.0.0.1:1883  mqtt 3.1.1,5.0  no          3        2   yes      2        0      1      1  -\n") != NULL);
    CHECK(strstr(txt, "\n10.0.0.2:5672  amqp 0-9-1      no          1        1    no      1        1      0      0  RabbitMQ 3.10.8\n") != NULL);
    CHECK(strstr(txt, "    weak TLS\n") != NULL);
    CHECK(longest_line(txt) <= BW_REPORT_TEXT_WIDTH);
    free(txt);
    h.show_usernames = true;
    txt = render(r, TEXT, &h);
    CHECK(strstr(txt, "users in cleartext: alice, mallory\n") != NULL);
    free(txt);
    h.show_usernames = false;

    char *js = render(r, JSON, &h);
    CHECK(strstr(js, "{\"run\":{\"sensor\":\"unit\",\"version\":\"9.9\",\"inputs\":[\"a.pcap\",\"b.pcap\"],"
                     "\"interface\":null,\"filter\":null,\"capture_start\":\"2025-11-24T16:00:00.000000+0000\","
                     "\"capture_end\":\"2025-11-24T17:00:00.000000+0000\",\"generated\":\"2025-11-24T18:00:00.000000+0000\","
                     "\"usernames\":\"hidden\"}") == js);
    CHECK(strstr(js, "{\"ip\":\"10.0.0.1\",\"port\":1883,\"app_proto\":\"mqtt\",\"versions\":[\"3.1.1\",\"5.0\"],"
                     "\"exposure\":\"anonymous\",\"tls\":false,\"plaintext\":true,\"tls_version\":null,\"weak_tls\":false,"
                     "\"sessions\":3,\"clients\":2,") != NULL);
    CHECK(strstr(js, "\"anonymous_accepted\":true,\"cleartext_credentials\":2,\"default_credentials\":0,"
                     "\"default_credentials_accepted\":false,\"auth_failures\":1,\"bruteforce\":1,") != NULL);
    CHECK(strstr(js, "\"totals\":{\"brokers\":4,\"plaintext\":3,\"tls\":1,\"anonymous\":1,"
                     "\"cleartext_credentials\":3,\"default_credentials\":1,\"weak_tls\":1,\"auth_failures\":2,"
                     "\"bruteforce\":1,\"failed_logins\":2,\"bruteforce_alerts\":1}") != NULL);
    CHECK(strstr(js, "\"exposure\":{\"default_credentials\":1,\"anonymous\":1,\"cleartext_credentials\":1,"
                     "\"plaintext\":0,\"weak_tls\":1,\"tls\":0}") != NULL);
    CHECK(strstr(js, "\"usernames\":[") == NULL);
    CHECK(strstr(js, "\"sessions_not_counted\":0}\n") != NULL);
    free(js);

    /* bounds: a 17th broker is counted as dropped, not merged */
    for (uint8_t i = 10; i < 30; i++) add(r, i, 1883, 1, "mqtt", &anon, T0);
    CHECK_EQ(bw_report_brokers(r), 16);
    CHECK_EQ(bw_report_dropped(r), 8);
    txt = render(r, TEXT, &h);
    CHECK(strstr(txt, "(8 sessions not counted: more than 16 brokers)") != NULL);
    free(txt);
    bw_report_free(r);
}

/* Long names, long lists, long addresses: every line still fits, nothing is lost. */
static void test_text_width(void)
{
    struct bw_report *r = bw_report_new(8);
    struct bw_facts f;
    char name[100];
    static const char *const vers[] = { "3.1", "3.1.1", "5.0", "0-9-1", "1.0" };
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "device-%02d-with-a-rather-long-cloud-iot-user-name-%040d", i, i);
        f = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, vers[i % 5], name);
        bw_fstr_set(&f.product, (const uint8_t *)"Some Broker Product With A Long Name, version 12.345.6789 (build)", 66);
        add(r, 1, 1883, (uint8_t)i, "mqtt", &f, T0 + (uint64_t)i);
        add(r, 1, 5672, (uint8_t)i, "amqp", &f, T0 + (uint64_t)i);
    }
    uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78 };
    uint8_t c6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
    struct bw_facts tls = facts(BW_FACT_TLS, "", NULL);
    snprintf(tls.tls_version, sizeof tls.tls_version, "TLSv1.2");
    struct bw_report_session rs = { 6, v6, c6, 65535, "mqtt", &tls, T0, T0 };
    bw_report_session(r, &rs);
    struct bw_facts plain = facts(0, "5.0", NULL);
    rs.facts = &plain;
    bw_report_session(r, &rs);                               /* mixed plaintext and TLS */
    struct bw_report_header h = hdr();
    h.show_usernames = true;
    char *txt = render(r, TEXT, &h);
    if (getenv("BW_TEST_SHOW")) fputs(txt, stderr);
    CHECK(longest_line(txt) <= BW_REPORT_TEXT_WIDTH);
    /* the address whole, or cut after a ':' and continued on the next line */
    const char *l1 = strstr(txt, "\n[2001:db8:");
    CHECK(l1 != NULL);
    if (l1) {
        char addr[80];
        size_t n1 = strcspn(l1 + 1, " \n"), n2 = 0;
        const char *l2 = strchr(l1 + 1, '\n');
        memcpy(addr, l1 + 1, n1);
        if (l1[1 + n1 - 1] == ':' && l2) { n2 = strcspn(l2 + 1, " \n"); memcpy(addr + n1, l2 + 1, n2); }
        addr[n1 + n2] = '\0';
        CHECK_STR(addr, "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535");
    }
    CHECK(strstr(txt, "mixed") != NULL);
    CHECK(strstr(txt, "device-07-with-a-rather-long-cloud-iot-user-name-") != NULL);
    CHECK(strstr(txt, ", ...\n") != NULL);                   /* more than 8 names: said so */
    CHECK(occurrences(txt, "users in cleartext:") == 2);
    /* every version of the row is there, in order, even when the column wraps */
    CHECK(strstr(txt, "0-9-1,") != NULL && strstr(txt, "3.1,") != NULL);
    free(txt);
    bw_report_free(r);
}

static void test_timeline(void)
{
    struct bw_report *r = bw_report_new(4);
    struct bw_report_timeline tl;
    struct bw_report_totals t;
    /* 1 ms buckets to start with: three alerts within 40 ms */
    alert(r, 1, 1883, BW_KIND_PLAINTEXT_SESSION, T0 + 5000);
    alert(r, 1, 1883, BW_KIND_PLAINTEXT_SESSION, T0 + 5999);
    alert(r, 1, 1883, BW_KIND_AUTH_FAILURE, T0 + 45000);
    bw_report_timeline(r, 0, 0, &tl);
    CHECK_EQ(tl.width_us, 1000);
    CHECK_EQ(tl.start_us, (int64_t)(T0 + 5000));             /* aligned on the width */
    CHECK_EQ(tl.nbuckets, 41);
    CHECK_EQ(tl.count[BW_KIND_PLAINTEXT_SESSION][0], 2);
    CHECK_EQ(tl.count[BW_KIND_AUTH_FAILURE][40], 1);
    CHECK_EQ(tl.peak, 2);
    /* one alert an hour later: buckets merge (exactly) until 60 of them span the hour */
    alert(r, 1, 1883, BW_KIND_BRUTEFORCE, T0 + 3600ULL * 1000000);
    /* and one from before all of them (files out of order): the buckets shift */
    alert(r, 1, 1883, BW_KIND_WEAK_TLS, T0 - 90ULL * 1000000);
    bw_report_timeline(r, 0, 0, &tl);
    CHECK_EQ(tl.width_us, 120ULL * 1000000);                 /* 2 min: 60 cover 61.5 min */
    CHECK_EQ(tl.start_us % (int64_t)tl.width_us, 0);
    CHECK(tl.nbuckets <= BW_REPORT_BUCKETS);
    uint64_t sum = 0;
    for (int k = 0; k < BW_KIND_COUNT; k++)
        for (uint32_t b = 0; b < tl.nbuckets; b++) sum += tl.count[k][b];
    CHECK_EQ(sum, 5);
    /* each alert sits in the bucket its time says */
    uint64_t w = tl.width_us;
    CHECK_EQ(tl.count[BW_KIND_WEAK_TLS][(T0 - 90ULL * 1000000 - (uint64_t)tl.start_us) / w], 1);
    CHECK_EQ(tl.count[BW_KIND_PLAINTEXT_SESSION][(T0 + 5000 - (uint64_t)tl.start_us) / w], 2);
    CHECK_EQ(tl.count[BW_KIND_BRUTEFORCE][(T0 + 3600ULL * 1000000 - (uint64_t)tl.start_us) / w], 1);
    /* stretched over a capture span of a week: still 60 buckets at most, still every alert */
    bw_report_timeline(r, T0 - 86400ULL * 1000000, T0 + 6 * 86400ULL * 1000000, &tl);
    CHECK(tl.nbuckets <= BW_REPORT_BUCKETS && tl.nbuckets > 6);
    sum = 0;
    for (int k = 0; k < BW_KIND_COUNT; k++)
        for (uint32_t b = 0; b < tl.nbuckets; b++) sum += tl.count[k][b];
    CHECK_EQ(sum, 5);
    bw_report_totals(r, &t);
    CHECK_EQ(t.alerts_total, 5);
    /* a thousand alerts over ten years: fixed memory, exact total */
    for (uint64_t i = 0; i < 1000; i++)
        alert(r, 1, 1883, (enum bw_kind)(i % BW_KIND_COUNT), T0 + i * 315360ULL * 1000000);
    bw_report_timeline(r, 0, 0, &tl);
    sum = 0;
    for (int k = 0; k < BW_KIND_COUNT; k++)
        for (uint32_t b = 0; b < tl.nbuckets; b++) sum += tl.count[k][b];
    CHECK_EQ(sum, 1005);
    CHECK(tl.nbuckets <= BW_REPORT_BUCKETS);
    bw_report_free(r);
}

/* Wire strings chosen to break out of HTML, a spreadsheet, or a terminal. */
static const char evil_user[] = "<script>alert(1)</script>";
static const char evil_user2[] = "=HYPERLINK(\"http://x\",\"y\")";
static const char evil_user3[] = "@SUM(1)\xe2\x80\xae" "gnp.exe";     /* U+202E reverses what follows */
static const char evil_product[] = "\"><img src=x onerror=alert(2)>,\"\xff";

static struct bw_report *hostile_report(void)
{
    struct bw_report *r = bw_report_new(8);
    const char *users[] = { evil_user, evil_user2, evil_user3 };
    for (int i = 0; i < 3; i++) {
        struct bw_facts f = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK | BW_FACT_DEFAULT_CREDS,
                                  "0-9-1", users[i]);
        bw_fstr_set(&f.product, (const uint8_t *)evil_product, strlen(evil_product));
        add(r, 7, 5672, (uint8_t)i, "amqp", &f, T0 + (uint64_t)i * 1000000);
        alert(r, 7, 5672, BW_KIND_CLEARTEXT_CREDENTIALS, T0 + (uint64_t)i * 1000000);
        alert(r, 7, 5672, BW_KIND_DEFAULT_CREDENTIALS, T0 + (uint64_t)i * 1000000);
    }
    struct bw_facts anon = facts(BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK, "3.1.1", NULL);
    add(r, 8, 1883, 1, "mqtt", &anon, T0 + 50 * 1000000ULL);
    alert(r, 8, 1883, BW_KIND_ANONYMOUS_SESSION, T0 + 50 * 1000000ULL);
    alert(r, 8, 1883, BW_KIND_PLAINTEXT_SESSION, T0 + 50 * 1000000ULL);
    return r;
}

static struct bw_report_header hostile_header(void)
{
    static const char *const inputs[] = { "<b>x</b>.pcap" };
    struct bw_report_header h = hdr();
    h.sensor = "s<1>&\"'";
    h.inputs = inputs;
    h.ninputs = 1;
    h.last_us = T0 + 60 * 1000000ULL;
    h.show_usernames = true;
    return h;
}

static void test_html(void)
{
    struct bw_report *r = hostile_report();
    struct bw_report_header h = hostile_header();
    char *html = render(r, HTML, &h);
    CHECK(strncmp(html, "<!DOCTYPE html>\n", 16) == 0);
    CHECK(strstr(html, "</html>\n") != NULL);
    /* self-contained: no script, no fetch, no link out */
    CHECK(strstr(html, "<script") == NULL);
    CHECK(strstr(html, "<img") == NULL && strstr(html, "<link") == NULL && strstr(html, "<iframe") == NULL);
    CHECK(strstr(html, "href=") == NULL && strstr(html, "src=\"") == NULL && strstr(html, "url(") == NULL);
    CHECK(strstr(html, "default-src 'none'") != NULL);
    CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    CHECK(strstr(html, "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;,&quot;\xef\xbf\xbd") != NULL);
    CHECK(strstr(html, "@SUM(1)\xef\xbf\xbdgnp.exe") != NULL);   /* the override is gone */
    CHECK(strstr(html, "\xe2\x80\xae") == NULL);
    CHECK(strstr(html, "s&lt;1&gt;&amp;&quot;&#39;") != NULL);
    CHECK(strstr(html, "&lt;b&gt;x&lt;/b&gt;.pcap") != NULL);
    /* totals, the charts and the table are there */
    CHECK(strstr(html, "data-total=\"brokers\"><b>2</b> brokers</div>") != NULL);
    CHECK(strstr(html, "data-total=\"default_credentials\"><b>1</b> accept default credentials</div>") != NULL);
    CHECK(strstr(html, "aria-label=\"Brokers by exposure class\"") != NULL);
    CHECK(strstr(html, "aria-label=\"Alerts over time by kind\"") != NULL);
    CHECK(strstr(html, "<tr class=\"hot\" data-broker=\"10.0.0.7:5672\">") != NULL);
    CHECK(occurrences(html, "<rect") >= 4);
    free(html);

    /* no alerts, no brokers: a page that says so */
    struct bw_report *e = bw_report_new(4);
    struct bw_report_header eh = hdr();
    html = render(e, HTML, &eh);
    CHECK(strstr(html, "No alerts.") != NULL);
    CHECK(strstr(html, "No broker seen.") != NULL);
    free(html);
    bw_report_free(e);
    bw_report_free(r);
}

static void test_csv(void)
{
    struct bw_report *r = hostile_report();
    struct bw_report_header h = hostile_header();
    char *csv = render(r, CSV, &h);
    CHECK(strncmp(csv, "ip,port,app_proto,versions,exposure,", 36) == 0);
    CHECK(strstr(csv, ",usernames\r\n") != NULL);
    CHECK(strstr(csv, "\"10.0.0.7\",5672,\"amqp\",\"0-9-1\",\"default_credentials\",false,true,\"\",false,3,3,") != NULL);
    /* quotes doubled, the invalid byte replaced; a product starting with '"' is no formula */
    CHECK(strstr(csv, ",\"\"\"><img src=x onerror=alert(2)>,\"\"\xef\xbf\xbd\",") != NULL);
    /* the user cell: one name per line; the cell starts with '<', names 2 and 3 keep their text */
    CHECK(strstr(csv, ",\"<script>alert(1)</script>\n=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\n@SUM(1)\xef\xbf\xbdgnp.exe\"\r\n") != NULL);
    CHECK(occurrences(csv, "\r\n") == 3);                      /* header + 2 brokers */
    free(csv);
    /* a cell that starts like a formula gets a leading ' */
    struct bw_report *r2 = bw_report_new(2);
    struct bw_facts f = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS, "3.1.1", evil_user2);
    bw_fstr_set(&f.product, (const uint8_t *)"+cmd|' /C calc'!A0", 18);
    add(r2, 1, 1883, 1, "mqtt", &f, T0);
    csv = render(r2, CSV, &h);
    CHECK(strstr(csv, ",\"'+cmd|' /C calc'!A0\",") != NULL);
    CHECK(strstr(csv, ",\"'=HYPERLINK(") != NULL);
    free(csv);
    bw_report_free(r2);
    bw_report_free(r);

    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    bw_escape_csv(m, "-1+2", 4);
    bw_escape_csv(m, "@x", 2);
    bw_escape_csv(m, "\xef\xbc\x9d" "1", 4);                  /* full-width '=' */
    bw_escape_csv(m, "a=b", 3);
    bw_escape_csv(m, "tab\there", 8);
    fclose(m);
    CHECK_STR(buf, "\"'-1+2\"\"'@x\"\"'\xef\xbc\x9d" "1\"\"a=b\"\"tab\xef\xbf\xbdhere\"");
    free(buf);
}

static void test_redacted_names(void)
{
    struct bw_redact k;
    char err[256];
    CHECK_EQ(bw_redact_load(&k, NULL, err, sizeof err), 0);
    struct bw_report *r = hostile_report();
    struct bw_report_header h = hostile_header();
    h.redact = true;
    h.redact_key = &k;
    char tok[BW_REDACT_TOKEN_MAX];
    bw_redact_token(&k, evil_user, strlen(evil_user), false, tok);
    for (int form = 0; form < 4; form++) {
        char *out = render(r, form, &h);
        CHECK(strstr(out, "alert(1)") == NULL);              /* no name in any form ... */
        CHECK(strstr(out, "HYPERLINK") == NULL);
        CHECK(strstr(out, tok) != NULL);                      /* ... its token instead */
        free(out);
    }
    char *txt = render(r, TEXT, &h);
    CHECK(strstr(txt, "  user names as hmac: tokens (HMAC-SHA256, key ") != NULL);
    free(txt);
    h.redact_key = NULL;                                      /* flag without key: withheld */
    txt = render(r, JSON, &h);
    CHECK(strstr(txt, "alert(1)") == NULL && strstr(txt, "\"(redacted)\"") != NULL);
    free(txt);
    bw_redact_wipe(&k);
    bw_report_free(r);
}

/* A 256-byte Azure IoT Hub style user name reaches every form whole (the text form wraps it at
 * 120 columns); a 300-byte one is cut to its first 256 bytes, with "..." in the forms for people
 * and a flag in the JSON. */
static void test_long_names(void)
{
    static char azure[257], longer[301];
    const char *stem = "myhub.azure-devices.net/sensor-0042/?api-version=2021-04-12";
    size_t sl = strlen(stem);
    memcpy(azure, stem, sl);
    for (size_t i = sl; i < 256; i++) azure[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < 300; i++) longer[i] = (char)('A' + i % 26);
    struct bw_report *r = bw_report_new(4);
    struct bw_facts a = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, "3.1.1", azure);
    struct bw_facts b = facts(BW_FACT_CREDS_USER | BW_FACT_AUTH_OK, "3.1.1", longer);
    struct bw_facts c = facts(BW_FACT_CREDS_USER | BW_FACT_AUTH_OK, "3.1.1", "never-shown");
    c.user.unread = true;                                     /* announced, never read */
    add(r, 1, 1883, 1, "mqtt", &a, T0);
    add(r, 1, 1883, 2, "mqtt", &b, T0 + 1);
    add(r, 1, 1883, 3, "mqtt", &c, T0 + 2);
    struct bw_report_header h = hdr();
    h.show_usernames = true;
    char cut[300];
    snprintf(cut, sizeof cut, "%.256s...", longer);
    for (int form = 0; form < 4; form++) {
        char *out = render(r, form, &h);
        if (form == TEXT) {                               /* lines of 120 columns: unfold the wraps */
            CHECK(longest_line(out) <= BW_REPORT_TEXT_WIDTH);
            size_t k = 0;
            for (size_t i = 0; out[i]; i++) {
                if (out[i] == '\n' && strncmp(out + i + 1, "      ", 6) == 0 && out[i + 7] != ' ') { i += 6; continue; }
                out[k++] = out[i];
            }
            out[k] = '\0';
        }
        CHECK(strstr(out, azure) != NULL);
        CHECK(strstr(out, "never-shown") == NULL);
        CHECK(strstr(out, longer) == NULL);                   /* never more than was kept */
        if (form == JSON) {
            char want[300];
            snprintf(want, sizeof want, "\"%.256s\"]", longer);
            CHECK(strstr(out, want) != NULL);
            CHECK(strstr(out, "\"usernames_truncated\":true") != NULL);
        } else {
            CHECK(strstr(out, cut) != NULL);
        }
        free(out);
    }
    bw_report_free(r);
}

static void test_escape(void)
{
    char out[16];
    CHECK_EQ(bw_escape_ascii(out, sizeof out, "a\x1b[31mb\xc3\xa9", 9), 9);
    CHECK_STR(out, "a?[31mb??");
    CHECK_EQ(bw_escape_ascii(out, 4, "abcdef", 6), 3);
    CHECK_STR(out, "abc");
    uint32_t cp;
    CHECK_EQ(bw_utf8_char((const uint8_t *)"\xe2\x80\xae", 3, &cp), 3);
    CHECK_EQ(cp, 0x202E);
    CHECK(bw_escape_hidden_cp(cp));
    CHECK(!bw_escape_hidden_cp(0xE9));
    CHECK_EQ(bw_utf8_char((const uint8_t *)"\xc0\xaf", 2, &cp), 0);     /* overlong */
    CHECK_EQ(bw_utf8_char((const uint8_t *)"\xed\xa0\x80", 3, &cp), 0); /* surrogate */
    CHECK_EQ(bw_utf8_char((const uint8_t *)"\xe2\x80", 2, &cp), 0);     /* cut */
}

/* The report's "accepts anonymous clients" is the anonymous_session rule's: a session with no
 * user name that carried a password (an MQTT 5 token login) is a login with credentials. */
static void test_anonymous_is_the_rule(void)
{
    struct bw_report *r = bw_report_new(16);
    struct bw_report_header h = hdr();
    struct bw_facts token = facts(BW_FACT_ANONYMOUS | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, "5.0", NULL);
    struct bw_facts anon = facts(BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK, "5.0", NULL);
    struct bw_facts refused = facts(BW_FACT_ANONYMOUS | BW_FACT_AUTH_FAILED, "5.0", NULL);
    CHECK(!bw_verdict_anonymous(token.seen));
    CHECK(bw_verdict_anonymous(anon.seen));
    CHECK(!bw_verdict_anonymous(refused.seen));
    CHECK_EQ(bw_verdict_eval(&token, 0, true) & BW_KIND_BIT(BW_KIND_ANONYMOUS_SESSION), 0);
    CHECK(bw_verdict_eval(&anon, 0, true) & BW_KIND_BIT(BW_KIND_ANONYMOUS_SESSION));
    add(r, 1, 1883, 5, "mqtt", &token, T0);
    add(r, 2, 1883, 5, "mqtt", &refused, T0);
    add(r, 3, 1883, 5, "mqtt", &anon, T0);
    char *js = render(r, JSON, &h);
    CHECK(strstr(js, "{\"ip\":\"10.0.0.1\",\"port\":1883,\"app_proto\":\"mqtt\",\"versions\":[\"5.0\"],"
                     "\"exposure\":\"cleartext_credentials\",") != NULL);
    CHECK(strstr(js, "\"totals\":{\"brokers\":3,\"plaintext\":3,\"tls\":0,\"anonymous\":1,") != NULL);
    free(js);
    bw_report_free(r);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--html") == 0) {      /* the page for the browser test */
        struct bw_report *r = hostile_report();
        struct bw_report_header h = hostile_header();
        FILE *f = fopen(argv[2], "w");
        int rc = f ? bw_report_write_html(r, &h, f) : BW_EIO;
        if (f && fclose(f) != 0) rc = BW_EIO;
        bw_report_free(r);
        return rc == 0 ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "--show") == 0) {      /* a look at the text form */
        struct bw_report *r = hostile_report();
        struct bw_report_header h = hostile_header();
        int rc = bw_report_write_text(r, &h, stdout);
        bw_report_free(r);
        return rc;
    }
    test_aggregation();
    test_text_width();
    test_timeline();
    test_html();
    test_csv();
    test_redacted_names();
    test_escape();
    test_long_names();
    test_anonymous_is_the_rule();
    return check_summary("report");
}
