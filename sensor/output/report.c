/* report.c: aggregates finished broker sessions per broker (server address + port) and prints
 * the exposure report (text table, JSON). Owns its broker rows, allocated in chunks up to a cap;
 * clients and user names per broker are bounded too. Never sees a password (facts hold none). */
#include <stdlib.h>
#include <string.h>
#include "bw_alert.h"
#include "bw_json.h"
#include "bw_report.h"

#define ROW_CHUNK 1024
#define VERSIONS_MAX 4

struct row {
    uint8_t  ip[16];
    uint8_t  ip_ver;
    uint16_t port;
    uint8_t  apps;                          /* bit 0 mqtt, bit 1 amqp */
    char     versions[VERSIONS_MAX][8];
    uint8_t  nversions;
    bool     tls, plaintext, anonymous_accepted, weak_tls, clients_more, users_more;
    char     tls_version[12];
    uint64_t sessions, cleartext_credentials, auth_failures;
    uint64_t first_us, last_us;
    uint32_t nclients;
    uint64_t clients[BW_REPORT_CLIENTS_MAX];     /* hashes of client addresses */
    uint8_t  nusers;
    struct bw_fstr users[BW_REPORT_USERS_MAX];
    struct bw_fstr product;
    uint32_t next;                          /* hash chain, index + 1 */
};

struct bw_report {
    struct row **chunks;
    uint32_t nchunks, max, used, dropped;
    uint32_t *buckets;
    uint32_t nbuckets;
};

struct bw_report *bw_report_new(uint32_t max_brokers)
{
    struct bw_report *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->max = max_brokers ? max_brokers : 1;
    r->nchunks = (r->max + ROW_CHUNK - 1) / ROW_CHUNK;
    r->nbuckets = 1024;
    while (r->nbuckets < r->max && r->nbuckets < (1u << 24)) r->nbuckets <<= 1;
    r->chunks = calloc(r->nchunks, sizeof *r->chunks);
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    if (!r->chunks || !r->buckets) { bw_report_free(r); return NULL; }
    return r;
}

void bw_report_free(struct bw_report *r)
{
    if (!r) return;
    if (r->chunks)
        for (uint32_t i = 0; i < r->nchunks; i++) free(r->chunks[i]);
    free(r->chunks);
    free(r->buckets);
    free(r);
}

static struct row *row_at(const struct bw_report *r, uint32_t idx1)
{
    return &r->chunks[(idx1 - 1) / ROW_CHUNK][(idx1 - 1) % ROW_CHUNK];
}

static uint64_t hash_ip(uint8_t ver, const uint8_t *ip, uint16_t port)
{
    uint64_t h = 1469598103934665603ULL ^ ver;
    for (int i = 0; i < 16; i++) { h ^= ip[i]; h *= 1099511628211ULL; }
    h ^= port; h *= 1099511628211ULL;
    return h;
}

static struct row *find_or_add(struct bw_report *r, uint8_t ver, const uint8_t *ip, uint16_t port)
{
    uint32_t b = (uint32_t)(hash_ip(ver, ip, port) & (r->nbuckets - 1));
    for (uint32_t i = r->buckets[b]; i; i = row_at(r, i)->next) {
        struct row *w = row_at(r, i);
        if (w->ip_ver == ver && w->port == port && memcmp(w->ip, ip, 16) == 0) return w;
    }
    if (r->used >= r->max) { r->dropped++; return NULL; }
    uint32_t c = r->used / ROW_CHUNK;
    if (!r->chunks[c] && !(r->chunks[c] = calloc(ROW_CHUNK, sizeof(struct row)))) { r->dropped++; return NULL; }
    uint32_t idx = ++r->used;
    struct row *w = row_at(r, idx);
    memset(w, 0, sizeof *w);
    memcpy(w->ip, ip, 16);
    w->ip_ver = ver;
    w->port = port;
    w->next = r->buckets[b];
    r->buckets[b] = idx;
    return w;
}

void bw_report_session(struct bw_report *r, const struct bw_report_session *s)
{
    const struct bw_facts *f = s->facts;
    /* A port that never spoke MQTT or AMQP is not a broker, whatever its number. */
    if (!r || !(f->seen & BW_FACT_CONFIRMED) || !s->app) return;
    struct row *w = find_or_add(r, s->ip_ver, s->server_ip, s->server_port);
    if (!w) return;
    bool tls = (f->seen & BW_FACT_TLS) != 0;
    w->apps |= strcmp(s->app, "mqtt") == 0 ? 1 : strcmp(s->app, "amqp") == 0 ? 2 : 0;
    if (f->version[0]) {
        bool have = false;
        for (uint8_t i = 0; i < w->nversions; i++) have |= strcmp(w->versions[i], f->version) == 0;
        if (!have && w->nversions < VERSIONS_MAX)
            memcpy(w->versions[w->nversions++], f->version, sizeof w->versions[0]);
    }
    if (tls) {
        w->tls = true;
        /* The weakest version seen is the one that matters ("SSLv3" < "TLSv1.0" < ... as text). */
        if (f->tls_version[0] && (!w->tls_version[0] || strcmp(f->tls_version, w->tls_version) < 0))
            memcpy(w->tls_version, f->tls_version, sizeof w->tls_version);
    } else {
        w->plaintext = true;
    }
    if (f->seen & BW_FACT_WEAK_TLS) w->weak_tls = true;
    if ((f->seen & BW_FACT_ANONYMOUS) && (f->seen & BW_FACT_AUTH_OK)) w->anonymous_accepted = true;
    if (!tls && (f->seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS))) {
        w->cleartext_credentials++;
        if (f->seen & BW_FACT_CREDS_USER) {
            bool have = false;
            for (uint8_t i = 0; i < w->nusers; i++)
                have |= w->users[i].len == f->user.len && memcmp(w->users[i].s, f->user.s, f->user.len) == 0;
            if (!have && w->nusers < BW_REPORT_USERS_MAX) w->users[w->nusers++] = f->user;
            else if (!have) w->users_more = true;
        }
    }
    if (f->seen & BW_FACT_AUTH_FAILED) w->auth_failures++;
    if (f->product.len) w->product = f->product;
    w->sessions++;
    if (!w->first_us || s->first_us < w->first_us) w->first_us = s->first_us;
    if (s->last_us > w->last_us) w->last_us = s->last_us;
    uint64_t ch = hash_ip(s->ip_ver, s->client_ip, 0);
    bool seen = false;
    for (uint32_t i = 0; i < w->nclients && !seen; i++) seen = w->clients[i] == ch;
    if (!seen) {
        if (w->nclients < BW_REPORT_CLIENTS_MAX) w->clients[w->nclients++] = ch;
        else w->clients_more = true;
    }
}

uint32_t bw_report_brokers(const struct bw_report *r) { return r ? r->used : 0; }

static int cmp_rows(const void *a, const void *b)
{
    const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
    if (x->ip_ver != y->ip_ver) return x->ip_ver < y->ip_ver ? -1 : 1;
    int c = memcmp(x->ip, y->ip, 16);
    if (c) return c;
    return x->port < y->port ? -1 : x->port > y->port;
}

/* Rows sorted by address; the caller frees the array. */
static struct row **sorted(const struct bw_report *r)
{
    struct row **v = calloc(r->used ? r->used : 1, sizeof *v);
    if (!v) return NULL;
    for (uint32_t i = 0; i < r->used; i++) v[i] = row_at(r, i + 1);
    qsort(v, r->used, sizeof *v, cmp_rows);
    return v;
}

struct totals { uint64_t brokers, plaintext, tls, anonymous, creds, weak; };

static struct totals totals_of(const struct bw_report *r)
{
    struct totals t = { 0, 0, 0, 0, 0, 0 };
    for (uint32_t i = 0; i < r->used; i++) {
        const struct row *w = row_at(r, i + 1);
        t.brokers++;
        if (!w->tls) t.plaintext++;
        if (w->tls) t.tls++;
        if (w->anonymous_accepted) t.anonymous++;
        if (w->cleartext_credentials) t.creds++;
        if (w->weak_tls) t.weak++;
    }
    return t;
}

static const char *apps_name(uint8_t apps)
{
    return apps == 3 ? "mqtt+amqp" : apps == 2 ? "amqp" : "mqtt";
}

static void printable(const struct bw_fstr *f, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < f->len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)f->s[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[n] = '\0';
}

static void short_ts(uint64_t us, char out[32])
{
    bw_format_ts(us, out);
    out[19] = 'Z';                           /* seconds are enough in a table */
    out[20] = '\0';
}

int bw_report_write_text(const struct bw_report *r, FILE *out, bool show_usernames)
{
    struct row **v = sorted(r);
    if (!v) return BW_ENOMEM;
    struct totals t = totals_of(r);
    fprintf(out, "\nbrokerwatch exposure report: %llu broker%s\n", (unsigned long long)t.brokers,
            t.brokers == 1 ? "" : "s");
    if (t.brokers) {
        fprintf(out, "%-45s %-16s %-9s %6s %7s %5s %6s %6s  %-24s %-20s %-20s\n", "BROKER", "PROTOCOL",
                "TLS", "SESS", "CLIENTS", "ANON", "CREDS", "FAILS", "PRODUCT", "FIRST SEEN", "LAST SEEN");
    }
    for (uint32_t i = 0; i < r->used; i++) {
        const struct row *w = v[i];
        char ip[46], addr[56], proto[40], tls[24], clients[16], product[40], t0[32], t1[32];
        bw_format_ip(w->ip_ver, w->ip, ip);
        snprintf(addr, sizeof addr, w->ip_ver == 6 ? "[%s]:%u" : "%s:%u", ip, w->port);
        size_t n = (size_t)snprintf(proto, sizeof proto, "%s", apps_name(w->apps));
        for (uint8_t k = 0; k < w->nversions && n < sizeof proto; k++)
            n += (size_t)snprintf(proto + n, sizeof proto - n, "%s%s", k ? "," : " ", w->versions[k]);
        if (w->tls) snprintf(tls, sizeof tls, "%s%s", w->plaintext ? "mixed " : "", w->tls_version[0] ? w->tls_version : "yes");
        else snprintf(tls, sizeof tls, "no");
        snprintf(clients, sizeof clients, "%u%s", w->nclients, w->clients_more ? "+" : "");
        if (w->product.len) printable(&w->product, product, 25);
        else snprintf(product, sizeof product, "-");
        short_ts(w->first_us, t0);
        short_ts(w->last_us, t1);
        fprintf(out, "%-45s %-16s %-9s %6llu %7s %5s %6llu %6llu  %-24s %-20s %-20s\n", addr, proto, tls,
                (unsigned long long)w->sessions, clients, w->anonymous_accepted ? "yes" : "no",
                (unsigned long long)w->cleartext_credentials, (unsigned long long)w->auth_failures,
                product, t0, t1);
        if (w->weak_tls) fprintf(out, "%-45s weak TLS\n", "");
        if (show_usernames && w->nusers) {
            fprintf(out, "%-45s users in cleartext:", "");
            for (uint8_t k = 0; k < w->nusers; k++) {
                char u[BW_FACTS_STR_MAX + 1];
                printable(&w->users[k], u, sizeof u);
                fprintf(out, " %s", u);
            }
            fprintf(out, "%s\n", w->users_more ? " ..." : "");
        }
    }
    fprintf(out, "Totals: %llu brokers, %llu plaintext only, %llu with TLS, %llu accept anonymous clients, "
            "%llu leak credentials in cleartext, %llu with weak TLS\n",
            (unsigned long long)t.brokers, (unsigned long long)t.plaintext, (unsigned long long)t.tls,
            (unsigned long long)t.anonymous, (unsigned long long)t.creds, (unsigned long long)t.weak);
    if (r->dropped) fprintf(out, "(%u sessions not counted: more than %u brokers)\n", r->dropped, r->max);
    free(v);
    return ferror(out) ? BW_EIO : 0;
}

int bw_report_write_json(const struct bw_report *r, FILE *out, bool show_usernames)
{
    struct row **v = sorted(r);
    if (!v) return BW_ENOMEM;
    char buf[4096];
    struct totals t = totals_of(r);
    fputs("{\"brokers\":[", out);
    for (uint32_t i = 0; i < r->used; i++) {
        const struct row *w = v[i];
        struct bw_json j;
        char ip[46], t0[32], t1[32];
        bw_format_ip(w->ip_ver, w->ip, ip);
        bw_format_ts(w->first_us, t0);
        bw_format_ts(w->last_us, t1);
        bw_json_init(&j, buf, sizeof buf);
        bw_json_obj_open(&j, NULL);
        bw_json_str(&j, "ip", ip);
        bw_json_u64(&j, "port", w->port);
        bw_json_str(&j, "app_proto", apps_name(w->apps));
        bw_json_arr_open(&j, "versions");
        for (uint8_t k = 0; k < w->nversions; k++) bw_json_str(&j, NULL, w->versions[k]);
        bw_json_arr_close(&j);
        bw_json_bool(&j, "tls", w->tls);
        bw_json_bool(&j, "plaintext", w->plaintext);
        if (w->tls_version[0]) bw_json_str(&j, "tls_version", w->tls_version);
        else bw_json_null(&j, "tls_version");
        bw_json_bool(&j, "weak_tls", w->weak_tls);
        bw_json_u64(&j, "sessions", w->sessions);
        bw_json_u64(&j, "clients", w->nclients);
        bw_json_bool(&j, "clients_capped", w->clients_more);
        bw_json_bool(&j, "anonymous_accepted", w->anonymous_accepted);
        bw_json_u64(&j, "cleartext_credentials", w->cleartext_credentials);
        bw_json_u64(&j, "auth_failures", w->auth_failures);
        if (w->product.len) bw_json_fstr(&j, "product", &w->product);
        else bw_json_null(&j, "product");
        bw_json_str(&j, "first_seen", t0);
        bw_json_str(&j, "last_seen", t1);
        if (show_usernames) {
            bw_json_arr_open(&j, "usernames");
            for (uint8_t k = 0; k < w->nusers; k++) bw_json_fstr(&j, NULL, &w->users[k]);
            bw_json_arr_close(&j);
        }
        bw_json_obj_close(&j);
        if (bw_json_finish(&j)) {
            if (i) fputc(',', out);
            fputs(buf, out);
        }
    }
    fprintf(out, "],\"totals\":{\"brokers\":%llu,\"plaintext\":%llu,\"tls\":%llu,\"anonymous\":%llu,"
            "\"cleartext_credentials\":%llu,\"weak_tls\":%llu},\"sessions_not_counted\":%u}\n",
            (unsigned long long)t.brokers, (unsigned long long)t.plaintext, (unsigned long long)t.tls,
            (unsigned long long)t.anonymous, (unsigned long long)t.creds, (unsigned long long)t.weak, r->dropped);
    free(v);
    return ferror(out) ? BW_EIO : 0;
}
