/* verdict.c: maps session facts to alert kinds, and keeps the bruteforce window.
 * bw_verdict_eval() is a pure function of the facts; it never looks at bytes or flows.
 * The bruteforce table is fixed-size (allocated once) and driven by packet time. */
#include <stdlib.h>
#include <string.h>
#include "bw_verdict.h"

static const char *const kind_names[BW_KIND_COUNT] = {
    "plaintext_session", "anonymous_session", "cleartext_credentials", "default_credentials",
    "auth_failure", "bruteforce", "wildcard_subscribe", "weak_tls",
};

static const enum bw_severity kind_sev[BW_KIND_COUNT] = {
    BW_SEV_MEDIUM, BW_SEV_HIGH, BW_SEV_HIGH, BW_SEV_CRITICAL,
    BW_SEV_MEDIUM, BW_SEV_HIGH, BW_SEV_MEDIUM, BW_SEV_MEDIUM,
};

static const char *const sev_names[] = { "low", "medium", "high", "critical" };

/* Signatures and categories never change meaning once released: a SOC groups and tunes on them. */
static const char *const kind_sigs[BW_KIND_COUNT] = {
    "BROKERWATCH broker session without TLS",
    "BROKERWATCH broker accepted a client without credentials",
    "BROKERWATCH broker credentials sent in cleartext",
    "BROKERWATCH well-known default broker credentials used",
    "BROKERWATCH broker refused a login",
    "BROKERWATCH brute force of broker logins",
    "BROKERWATCH subscription to every topic",
    "BROKERWATCH weak TLS on a broker",
};

static const char *const kind_cats[BW_KIND_COUNT] = {
    "Potential Corporate Privacy Violation", "Attempted Information Leak",
    "Potential Corporate Privacy Violation", "Attempted User Privilege Gain",
    "Unsuccessful User Privilege Gain", "Attempted User Privilege Gain",
    "Attempted Information Leak", "Potential Corporate Privacy Violation",
};

uint32_t bw_kind_sid(enum bw_kind k) { return (unsigned)k < BW_KIND_COUNT ? BW_SID_BASE + (uint32_t)k : 0; }
const char *bw_kind_signature(enum bw_kind k) { return (unsigned)k < BW_KIND_COUNT ? kind_sigs[k] : "BROKERWATCH unknown"; }
const char *bw_kind_category(enum bw_kind k) { return (unsigned)k < BW_KIND_COUNT ? kind_cats[k] : "Misc activity"; }
int bw_severity_eve(enum bw_severity s)
{
    switch (s) {
    case BW_SEV_CRITICAL:
    case BW_SEV_HIGH: return 1;
    case BW_SEV_MEDIUM: return 2;
    default: return 3;
    }
}

const char *bw_kind_name(enum bw_kind k) { return (unsigned)k < BW_KIND_COUNT ? kind_names[k] : "unknown"; }
enum bw_severity bw_kind_severity(enum bw_kind k) { return (unsigned)k < BW_KIND_COUNT ? kind_sev[k] : BW_SEV_LOW; }
const char *bw_severity_name(enum bw_severity s) { return (unsigned)s <= BW_SEV_CRITICAL ? sev_names[s] : "low"; }

int bw_severity_parse(const char *s)
{
    for (int i = 0; i <= BW_SEV_CRITICAL; i++)
        if (strcmp(s, sev_names[i]) == 0) return i;
    return -1;
}

int bw_kind_parse(const char *s)
{
    for (int i = 0; i < BW_KIND_COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0) return i;
    return -1;
}

/* Anonymous is dangerous only once the broker said yes (or behaved as if it had), and never
 * when a credential crossed the wire (an MQTT 5 password without a user name is a token login:
 * credentials). */
bool bw_verdict_anonymous(uint32_t seen)
{
    return (seen & BW_FACT_ANONYMOUS) && (seen & BW_FACT_AUTH_OK) &&
           !(seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS));
}

bool bw_verdict_settled(const struct bw_facts *f, bool session_over)
{
    const uint32_t outcome = BW_FACT_AUTH_OK | BW_FACT_AUTH_FAILED | BW_FACT_REFUSED |
                             BW_FACT_MIDSTREAM | BW_FACT_TLS | BW_FACT_GAP;
    return session_over || (f->seen & outcome) != 0;
}

uint32_t bw_verdict_eval(const struct bw_facts *f, uint32_t already, bool session_over)
{
    uint32_t k = 0, seen = f->seen;
    bool plain = !(seen & BW_FACT_TLS);
    /* Only a confirmed protocol counts: a probe's guess alone never raises an alert. */
    if (!(seen & BW_FACT_CONFIRMED)) return 0;
    if (!bw_verdict_settled(f, session_over)) return 0;
    if (plain) k |= BW_KIND_BIT(BW_KIND_PLAINTEXT_SESSION);
    if (bw_verdict_anonymous(seen)) k |= BW_KIND_BIT(BW_KIND_ANONYMOUS_SESSION);
    if (plain && (seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)))
        k |= BW_KIND_BIT(BW_KIND_CLEARTEXT_CREDENTIALS);
    if (seen & BW_FACT_DEFAULT_CREDS)
        k |= BW_KIND_BIT(BW_KIND_DEFAULT_CREDENTIALS);
    if (seen & BW_FACT_AUTH_FAILED)
        k |= BW_KIND_BIT(BW_KIND_AUTH_FAILURE);
    if (plain && (seen & BW_FACT_WILDCARD_SUB))
        k |= BW_KIND_BIT(BW_KIND_WILDCARD_SUBSCRIBE);
    if (seen & BW_FACT_WEAK_TLS)
        k |= BW_KIND_BIT(BW_KIND_WEAK_TLS);
    return k & ~already;
}

/* ---- bruteforce ---- */

int bw_brute_init(struct bw_brute *b, uint32_t n, uint32_t window_s)
{
    memset(b, 0, sizeof *b);
    if (n == 0 || n > BW_BRUTE_N_MAX || window_s == 0) return BW_EINVAL;
    b->n = n;
    b->window_us = (uint64_t)window_s * 1000000u;
    b->entry_size = sizeof(struct bw_brute_entry) + (size_t)n * sizeof(uint64_t);
    b->mem = calloc(BW_BRUTE_SLOTS, b->entry_size);
    return b->mem ? 0 : BW_ENOMEM;
}

void bw_brute_free(struct bw_brute *b)
{
    free(b->mem);
    b->mem = NULL;
}

static struct bw_brute_entry *entry(struct bw_brute *b, size_t i)
{
    return (struct bw_brute_entry *)(void *)(b->mem + i * b->entry_size);
}

static uint32_t pair_hash(uint8_t ip_ver, const uint8_t *cli, const uint8_t *srv, uint16_t port)
{
    uint32_t h = 2166136261u ^ ip_ver;
    for (int i = 0; i < 16; i++) { h = (h ^ cli[i]) * 16777619u; h = (h ^ srv[i]) * 16777619u; }
    h = (h ^ (port & 0xff)) * 16777619u;
    h = (h ^ (port >> 8)) * 16777619u;
    return h;
}

bool bw_brute_fail(struct bw_brute *b, uint8_t ip_ver, const uint8_t *cli, const uint8_t *srv,
                   uint16_t srv_port, uint64_t ts_us, uint32_t *count)
{
    size_t set = (pair_hash(ip_ver, cli, srv, srv_port) % (BW_BRUTE_SLOTS / BW_BRUTE_WAYS)) * BW_BRUTE_WAYS;
    struct bw_brute_entry *e = NULL, *victim = NULL;
    for (size_t w = 0; w < BW_BRUTE_WAYS; w++) {
        struct bw_brute_entry *c = entry(b, set + w);
        if (c->used && c->ip_ver == ip_ver && c->srv_port == srv_port &&
            memcmp(c->cli, cli, 16) == 0 && memcmp(c->srv, srv, 16) == 0) { e = c; break; }
        if (!victim || !c->used || (victim->used && c->last_us < victim->last_us)) victim = c;
    }
    if (!e) {
        /* Replace the stalest pair of the set: memory stays fixed under any number of clients. */
        if (victim->used) b->replaced++;
        e = victim;
        memset(e, 0, b->entry_size);
        e->used = true;
        e->ip_ver = ip_ver;
        memcpy(e->cli, cli, 16);
        memcpy(e->srv, srv, 16);
        e->srv_port = srv_port;
    }
    e->last_us = ts_us;
    e->ring[e->head] = ts_us;
    e->head = (uint16_t)((e->head + 1) % b->n);
    if (e->count < b->n) e->count++;
    /* Failures inside the window ending now. */
    uint32_t in = 0;
    for (uint32_t i = 0; i < e->count; i++)
        if (ts_us >= e->ring[i] && ts_us - e->ring[i] <= b->window_us) in++;
    *count = in;
    if (in >= b->n && ts_us >= e->fired_until_us) {
        e->fired_until_us = ts_us + b->window_us;   /* at most once per window */
        return true;
    }
    return false;
}
