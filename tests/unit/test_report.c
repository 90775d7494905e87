/* test_report.c: per-broker aggregation, totals, bounds, and both output forms. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "bw_report.h"

static struct bw_facts facts(uint32_t seen, const char *ver, const char *user)
{
    struct bw_facts f;
    bw_facts_init(&f);
    f.seen = seen | BW_FACT_CONFIRMED;
    snprintf(f.version, sizeof f.version, "%s", ver);
    if (user) bw_fstr_set(&f.user, (const uint8_t *)user, strlen(user));
    return f;
}

static void add(struct bw_report *r, uint8_t srv, uint16_t port, uint8_t cli, const char *app, const struct bw_facts *f,
                uint64_t t)
{
    uint8_t s[16] = { 10, 0, 0, srv }, c[16] = { 10, 0, 1, cli };
    struct bw_report_session rs = { 4, s, c, port, app, f, t, t + 1000000 };
    bw_report_session(r, &rs);
}

static char *render(struct bw_report *r, bool json, bool users)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int rc = json ? bw_report_write_json(r, m, users) : bw_report_write_text(r, m, users);
    CHECK_EQ(rc, 0);
    fclose(m);
    return buf;
}

int main(void)
{
    struct bw_report *r = bw_report_new(16);
    uint64_t t = 1764000000000000ULL;
    struct bw_facts anon = facts(BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK, "3.1.1", NULL);
    struct bw_facts creds = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, "5.0", "alice");
    struct bw_facts fail = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_FAILED, "5.0", "mallory");
    struct bw_facts tls = facts(BW_FACT_TLS | BW_FACT_WEAK_TLS, "", NULL);
    snprintf(tls.tls_version, sizeof tls.tls_version, "TLSv1.1");
    struct bw_facts amqp = facts(BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK, "0-9-1", "guest");
    bw_fstr_set(&amqp.product, (const uint8_t *)"RabbitMQ 3.10.8", 15);
    struct bw_facts guess;                                  /* never confirmed: not a broker */
    bw_facts_init(&guess);

    add(r, 1, 1883, 5, "mqtt", &anon, t);
    add(r, 1, 1883, 6, "mqtt", &creds, t + 10);
    add(r, 1, 1883, 6, "mqtt", &fail, t + 20);
    add(r, 1, 8883, 7, "mqtt", &tls, t + 30);
    add(r, 2, 5672, 8, "amqp", &amqp, t + 40);
    add(r, 3, 80, 9, "mqtt", &guess, t + 50);
    CHECK_EQ(bw_report_brokers(r), 3);

    char *txt = render(r, false, false);
    CHECK(strstr(txt, "10.0.0.1:1883") != NULL);
    CHECK(strstr(txt, "mqtt 3.1.1,5.0") != NULL);
    CHECK(strstr(txt, "RabbitMQ 3.10.8") != NULL);
    CHECK(strstr(txt, "TLSv1.1") != NULL);
    CHECK(strstr(txt, "10.0.0.3") == NULL);                  /* port 80 never spoke a broker protocol */
    CHECK(strstr(txt, "alice") == NULL);                      /* user names only when asked */
    CHECK(strstr(txt, "Totals: 3 brokers, 2 plaintext only, 1 with TLS, 1 accept anonymous clients, "
                      "2 leak credentials in cleartext, 1 with weak TLS") != NULL);
    free(txt);
    txt = render(r, false, true);
    CHECK(strstr(txt, "users in cleartext: alice mallory") != NULL);
    free(txt);

    char *js = render(r, true, false);
    CHECK(strstr(js, "{\"ip\":\"10.0.0.1\",\"port\":1883,\"app_proto\":\"mqtt\",\"versions\":[\"3.1.1\",\"5.0\"],"
                     "\"tls\":false,\"plaintext\":true,\"tls_version\":null,\"weak_tls\":false,\"sessions\":3,"
                     "\"clients\":2,") != NULL);
    CHECK(strstr(js, "\"anonymous_accepted\":true,\"cleartext_credentials\":2,\"auth_failures\":1") != NULL);
    CHECK(strstr(js, "\"totals\":{\"brokers\":3,\"plaintext\":2,\"tls\":1,\"anonymous\":1,"
                     "\"cleartext_credentials\":2,\"weak_tls\":1}") != NULL);
    CHECK(strstr(js, "\"usernames\"") == NULL);
    free(js);

    /* bounds: a 17th broker is counted as dropped, not merged */
    for (uint8_t i = 10; i < 30; i++) add(r, i, 1883, 1, "mqtt", &anon, t);
    CHECK_EQ(bw_report_brokers(r), 16);
    txt = render(r, false, false);
    CHECK(strstr(txt, "sessions not counted") != NULL);
    free(txt);
    bw_report_free(r);
    return check_summary("report");
}
