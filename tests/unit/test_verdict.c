/* test_verdict.c: facts -> kinds (one rule per case), once per session; the bruteforce window. */
#include <string.h>
#include "check.h"
#include "bw_verdict.h"

static uint32_t eval(uint32_t seen, uint32_t already)
{
    struct bw_facts f;
    bw_facts_init(&f);
    f.seen = seen;
    return bw_verdict_eval(&f, already, true);
}

#define K(x) BW_KIND_BIT(BW_KIND_##x)

static void test_rules(void)
{
    CHECK_EQ(eval(0, 0), 0);                                             /* nothing confirmed */
    CHECK_EQ(eval(BW_FACT_CREDS_USER, 0), 0);                            /* a guess never alerts */
    CHECK_EQ(eval(BW_FACT_CONFIRMED, 0), K(PLAINTEXT_SESSION));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_TLS, 0), 0);
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS, 0), K(PLAINTEXT_SESSION));   /* not yet accepted */
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK, 0),
             K(PLAINTEXT_SESSION) | K(ANONYMOUS_SESSION));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_CREDS_PASS, 0), K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_TLS | BW_FACT_CREDS_USER, 0), 0);
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_DEFAULT_CREDS, 0),
             K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS) | K(DEFAULT_CREDENTIALS));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_AUTH_FAILED, K(PLAINTEXT_SESSION)), K(AUTH_FAILURE));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_REFUSED, K(PLAINTEXT_SESSION)), 0);   /* refusal: facts only */
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_WILDCARD_SUB, K(PLAINTEXT_SESSION)), K(WILDCARD_SUBSCRIBE));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_TLS | BW_FACT_WILDCARD_SUB, 0), 0);
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_TLS | BW_FACT_WEAK_TLS, 0), K(WEAK_TLS));
    /* anonymous_session needs an accepted client that offered nothing: a password alone (an
     * MQTT 5.0 token login) or a user name is credentials; a refusal is no acceptance */
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK | BW_FACT_CREDS_PASS, 0),
             K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS | BW_FACT_AUTH_OK | BW_FACT_CREDS_USER, 0),
             K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_ANONYMOUS | BW_FACT_REFUSED, 0), K(PLAINTEXT_SESSION));
    /* accepted, then a failed re-authentication (MQTT 5.0 DISCONNECT 0x87/0x8C after AUTH) */
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED,
                  K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS)), K(AUTH_FAILURE));
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED, 0),
             K(PLAINTEXT_SESSION) | K(AUTH_FAILURE));
    /* once per session: what was raised is never raised again */
    uint32_t all = 0xffffffffu;
    CHECK_EQ(eval(BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_AUTH_FAILED, all), 0);
}

static void test_settling(void)
{
    struct bw_facts f;
    bw_facts_init(&f);
    f.seen = BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS;
    CHECK_EQ(bw_verdict_eval(&f, 0, false), 0);           /* waits for the broker's answer */
    CHECK_EQ(bw_verdict_eval(&f, 0, true), K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS));
    f.seen |= BW_FACT_AUTH_OK;
    CHECK_EQ(bw_verdict_eval(&f, 0, false), K(PLAINTEXT_SESSION) | K(CLEARTEXT_CREDENTIALS));
    bw_facts_init(&f);
    f.seen = BW_FACT_CONFIRMED | BW_FACT_MIDSTREAM;        /* no handshake to wait for */
    CHECK_EQ(bw_verdict_eval(&f, 0, false), K(PLAINTEXT_SESSION));
    f.seen = BW_FACT_CONFIRMED | BW_FACT_GAP;
    CHECK(bw_verdict_settled(&f, false));
}

static void test_names(void)
{
    CHECK_STR(bw_kind_name(BW_KIND_DEFAULT_CREDENTIALS), "default_credentials");
    CHECK_STR(bw_severity_name(bw_kind_severity(BW_KIND_DEFAULT_CREDENTIALS)), "critical");
    CHECK_STR(bw_severity_name(bw_kind_severity(BW_KIND_PLAINTEXT_SESSION)), "medium");
    CHECK_STR(bw_severity_name(bw_kind_severity(BW_KIND_ANONYMOUS_SESSION)), "high");
    CHECK_EQ(bw_kind_parse("bruteforce"), BW_KIND_BRUTEFORCE);
    CHECK_EQ(bw_kind_parse("nope"), -1);
    CHECK_EQ(bw_severity_parse("high"), BW_SEV_HIGH);
    CHECK_EQ(bw_severity_parse("HIGH"), -1);
}

static void test_defcreds(void)
{
    CHECK(bw_defcreds_match((const uint8_t *)"guest", 5, (const uint8_t *)"guest", 5));
    CHECK(bw_defcreds_match((const uint8_t *)"admin", 5, (const uint8_t *)"admin", 5));
    CHECK(!bw_defcreds_match((const uint8_t *)"admin", 5, (const uint8_t *)"admin1", 6));
    CHECK(!bw_defcreds_match((const uint8_t *)"guest", 5, (const uint8_t *)"gues", 4));
    CHECK(!bw_defcreds_match((const uint8_t *)"Guest", 5, (const uint8_t *)"guest", 5));
}

static void test_bruteforce(void)
{
    struct bw_brute b;
    uint8_t cli[16] = { 10, 0, 0, 9 }, srv[16] = { 10, 0, 0, 1 }, cli2[16] = { 10, 0, 0, 10 };
    uint32_t n = 0;
    CHECK_EQ(bw_brute_init(&b, 10, 60), 0);
    uint64_t t = 1000000000ULL;
    int fired = 0;
    for (int i = 0; i < 9; i++) fired += bw_brute_fail(&b, 4, cli, srv, 1883, t + i * 1000000ULL, &n);
    CHECK_EQ(fired, 0);
    CHECK_EQ(n, 9);
    CHECK(bw_brute_fail(&b, 4, cli, srv, 1883, t + 9000000ULL, &n));        /* the 10th in 9 s */
    CHECK_EQ(n, 10);
    CHECK(!bw_brute_fail(&b, 4, cli, srv, 1883, t + 10000000ULL, &n));      /* once per window */
    CHECK(!bw_brute_fail(&b, 4, cli, srv, 1884, t + 10000000ULL, &n));      /* other port, other pair */
    CHECK(!bw_brute_fail(&b, 4, cli2, srv, 1883, t + 10000000ULL, &n));
    /* slow failures (one every 7 s) never make 10 within 60 s */
    struct bw_brute b2;
    CHECK_EQ(bw_brute_init(&b2, 10, 60), 0);
    fired = 0;
    for (int i = 0; i < 50; i++) fired += bw_brute_fail(&b2, 4, cli, srv, 1883, t + i * 7000000ULL, &n);
    CHECK_EQ(fired, 0);
    /* a new burst after the window fires again */
    fired = 0;
    for (int i = 0; i < 10; i++) fired += bw_brute_fail(&b, 4, cli, srv, 1883, t + 200000000ULL + i, &n);
    CHECK_EQ(fired, 1);
    /* bounded memory: thousands of pairs only replace old entries */
    for (uint32_t i = 0; i < 20000; i++) {
        uint8_t c[16] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
        bw_brute_fail(&b2, 4, c, srv, 1883, t + i, &n);
    }
    CHECK(b2.replaced > 0);
    bw_brute_free(&b);
    bw_brute_free(&b2);
    struct bw_brute b3;
    CHECK_EQ(bw_brute_init(&b3, 0, 60), BW_EINVAL);
    CHECK_EQ(bw_brute_init(&b3, BW_BRUTE_N_MAX + 1, 60), BW_EINVAL);
}

int main(void)
{
    test_rules();
    test_settling();
    test_names();
    test_defcreds();
    test_bruteforce();
    return check_summary("verdict");
}
