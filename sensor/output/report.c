/* output/report.c: aggregates finished broker sessions per broker (server address + port) and the
 * run's alerts over time, and writes the exposure report as text (120 columns) and JSON; the HTML
 * and CSV forms live in report_html.c and report_csv.c on the accessors below. Owns its broker
 * rows, allocated in chunks up to a cap; clients, user names and versions per broker are bounded,
 * and the timeline is a fixed array. Never sees a password (facts hold none). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "bw_alert.h"
#include "bw_escape.h"
#include "bw_json.h"
#include "bw_report.h"

#define ROW_CHUNK 1024
#define NB BW_REPORT_BUCKETS

/* Alerts over time in NB buckets whose width grows, by whole factors, as the span does: memory
 * stays fixed and every count stays exact (two buckets merge into one, nothing is estimated). */
struct timeline {
    bool     any;
    int64_t  origin;                        /* start of bucket 0 */
    uint64_t width;                         /* microseconds per bucket */
    uint32_t hi;                            /* highest bucket in use */
    uint64_t n[BW_KIND_COUNT][NB];
};

struct bw_report {
    struct bw_report_row **chunks;
    uint32_t nchunks, max, used, dropped;
    uint32_t *buckets;
    uint32_t nbuckets;
    uint64_t alerts[BW_KIND_COUNT];
    struct timeline tl;
};

/* ---- timeline ---- */

/* Bucket widths, each a whole multiple of the one before (so buckets merge exactly), chosen to
 * read well on an axis; beyond the table the width doubles. */
static const uint64_t tl_widths[] = {
    1000, 2000, 10000, 20000, 100000, 200000,                      /* 1 ms .. 200 ms */
    1000000, 2000000, 10000000, 20000000, 60000000, 120000000,     /* 1 s .. 2 min */
    600000000, 1200000000, 3600000000ULL, 7200000000ULL,           /* 10 min .. 2 h */
    21600000000ULL, 43200000000ULL, 86400000000ULL, 604800000000ULL,   /* 6 h .. 1 week */
};

static uint64_t tl_next_width(uint64_t w)
{
    for (size_t i = 0; i < sizeof tl_widths / sizeof tl_widths[0]; i++)
        if (tl_widths[i] > w) return tl_widths[i];
    return w <= UINT64_MAX / 4 ? w * 2 : w;
}

static void tl_init(struct timeline *t)
{
    memset(t, 0, sizeof *t);
    t->width = tl_widths[0];
}

/* Merge buckets into the next width, keeping the origin a multiple of the width (bucket edges
 * fall on round times: whole minutes, hours). Returns false when the width cannot grow. */
static bool tl_coarsen(struct timeline *t)
{
    uint64_t nw = tl_next_width(t->width);
    if (nw == t->width) return false;
    uint64_t m = nw / t->width;
    int64_t r = t->origin % (int64_t)nw;
    if (r < 0) r += (int64_t)nw;
    uint64_t k = (uint64_t)r / t->width;            /* old buckets between the new and old origin */
    for (int kind = 0; kind < BW_KIND_COUNT; kind++) {
        uint64_t merged[NB] = { 0 };
        for (uint32_t i = 0; i <= t->hi && i < NB; i++) merged[(i + k) / m] += t->n[kind][i];
        memcpy(t->n[kind], merged, sizeof merged);
    }
    t->origin -= r;
    t->hi = (uint32_t)((t->hi + k) / m);
    t->width = nw;
    return true;
}

/* Make room for time ts (shift right or coarsen); returns its bucket. */
static uint32_t tl_cover(struct timeline *t, uint64_t ts_us)
{
    int64_t ts = ts_us > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ts_us;
    if (!t->any) {
        int64_t r = ts % (int64_t)t->width;
        t->any = true;
        t->origin = ts - (r < 0 ? r + (int64_t)t->width : r);
        t->hi = 0;
        return 0;
    }
    while (ts < t->origin) {                   /* earlier than anything so far: shift right */
        uint64_t s = ((uint64_t)(t->origin - ts) + t->width - 1) / t->width;
        if (t->hi + s < NB) {
            for (int k = 0; k < BW_KIND_COUNT; k++) {
                memmove(&t->n[k][s], &t->n[k][0], (t->hi + 1) * sizeof t->n[k][0]);
                memset(&t->n[k][0], 0, s * sizeof t->n[k][0]);
            }
            t->origin -= (int64_t)(s * t->width);
            t->hi += (uint32_t)s;
        } else if (!tl_coarsen(t)) {
            return 0;
        }
    }
    while ((uint64_t)(ts - t->origin) / t->width >= NB)
        if (!tl_coarsen(t)) return NB - 1;
    uint32_t b = (uint32_t)((uint64_t)(ts - t->origin) / t->width);
    if (b > t->hi) t->hi = b;
    return b;
}

/* ---- rows ---- */

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
    tl_init(&r->tl);
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

int bw_report_copy(struct bw_report *dst, const struct bw_report *src)
{
    if (dst->max != src->max || dst->nbuckets != src->nbuckets) return BW_ELIMIT;
    for (uint32_t c = 0; c < src->nchunks; c++) {
        if (!src->chunks[c]) continue;
        if (!dst->chunks[c] && !(dst->chunks[c] = calloc(ROW_CHUNK, sizeof(struct bw_report_row))))
            return BW_ENOMEM;
        memcpy(dst->chunks[c], src->chunks[c], ROW_CHUNK * sizeof(struct bw_report_row));
    }
    memcpy(dst->buckets, src->buckets, src->nbuckets * sizeof *src->buckets);
    dst->used = src->used;
    dst->dropped = src->dropped;
    memcpy(dst->alerts, src->alerts, sizeof src->alerts);
    dst->tl = src->tl;
    return 0;
}

static struct bw_report_row *row_at(const struct bw_report *r, uint32_t idx1)
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

static struct bw_report_row *find_or_add(struct bw_report *r, uint8_t ver, const uint8_t *ip, uint16_t port)
{
    uint32_t b = (uint32_t)(hash_ip(ver, ip, port) & (r->nbuckets - 1));
    for (uint32_t i = r->buckets[b]; i; i = row_at(r, i)->next) {
        struct bw_report_row *w = row_at(r, i);
        if (w->ip_ver == ver && w->port == port && memcmp(w->ip, ip, 16) == 0) return w;
    }
    if (r->used >= r->max) return NULL;
    uint32_t c = r->used / ROW_CHUNK;
    if (!r->chunks[c] && !(r->chunks[c] = calloc(ROW_CHUNK, sizeof(struct bw_report_row)))) return NULL;
    uint32_t idx = ++r->used;
    struct bw_report_row *w = row_at(r, idx);
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
    struct bw_report_row *w = find_or_add(r, s->ip_ver, s->server_ip, s->server_port);
    if (!w) { r->dropped++; return; }
    bool tls = (f->seen & BW_FACT_TLS) != 0;
    bool refused = (f->seen & (BW_FACT_AUTH_FAILED | BW_FACT_REFUSED)) != 0;
    w->apps |= strcmp(s->app, "mqtt") == 0 ? 1 : strcmp(s->app, "amqp") == 0 ? 2 : 0;
    if (f->version[0]) {
        bool have = false;
        for (uint8_t i = 0; i < w->nversions; i++) have |= strcmp(w->versions[i], f->version) == 0;
        if (!have && w->nversions < BW_REPORT_VERSIONS_MAX) {   /* kept sorted, for reading */
            uint8_t at = w->nversions++;
            while (at > 0 && strcmp(w->versions[at - 1], f->version) > 0) {
                memcpy(w->versions[at], w->versions[at - 1], sizeof w->versions[0]);
                at--;
            }
            memcpy(w->versions[at], f->version, sizeof w->versions[0]);
        }
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
    if (bw_verdict_anonymous(f->seen)) w->anonymous_accepted = true;
    if (f->seen & BW_FACT_DEFAULT_CREDS) {
        w->default_credentials++;
        if ((f->seen & BW_FACT_AUTH_OK) && !refused) w->default_accepted = true;
    }
    if (!tls && (f->seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS))) {
        w->cleartext_credentials++;
        if ((f->seen & BW_FACT_CREDS_USER) && !f->user.unread) {   /* a name never read is no name */
            bool have = false;
            for (uint8_t i = 0; i < w->nusers; i++)
                have |= w->users[i].len == f->user.len && w->users[i].cut == f->user.cut &&
                        memcmp(w->users[i].s, f->user.s, f->user.len) == 0;
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

void bw_report_alert(struct bw_report *r, enum bw_kind kind, uint8_t ip_ver, const uint8_t *server_ip,
                     uint16_t server_port, uint64_t ts_us)
{
    if (!r || (unsigned)kind >= BW_KIND_COUNT) return;
    r->alerts[kind]++;
    r->tl.n[kind][tl_cover(&r->tl, ts_us)]++;
    /* An alert comes from a confirmed session, which ends in bw_report_session: the row is
     * that broker's either way. A full table leaves the alert in the totals and the timeline. */
    struct bw_report_row *w = find_or_add(r, ip_ver, server_ip, server_port);
    if (w) w->alerts[kind]++;
}

/* ---- merging (workers) ---- */

static void tl_merge(struct timeline *dst, const struct timeline *src)
{
    if (!src->any) return;
    if (!dst->any) { *dst = *src; return; }
    while (dst->width < src->width)            /* each src bucket then lies in one dst bucket */
        if (!tl_coarsen(dst)) break;
    for (uint32_t i = 0; i <= src->hi && i < NB; i++) {
        uint64_t any = 0;
        for (int k = 0; k < BW_KIND_COUNT; k++) any |= src->n[k][i];
        if (!any) continue;
        int64_t t = src->origin + (int64_t)(i * src->width);
        uint32_t b = tl_cover(dst, t < 0 ? 0 : (uint64_t)t);
        for (int k = 0; k < BW_KIND_COUNT; k++) dst->n[k][b] += src->n[k][i];
    }
}

static void merge_row(struct bw_report_row *w, const struct bw_report_row *x)
{
    w->apps |= x->apps;
    for (uint8_t v = 0; v < x->nversions; v++) {
        bool have = false;
        for (uint8_t i = 0; i < w->nversions; i++) have |= strcmp(w->versions[i], x->versions[v]) == 0;
        if (have || w->nversions >= BW_REPORT_VERSIONS_MAX) continue;
        uint8_t at = w->nversions++;               /* kept sorted, as bw_report_session does */
        while (at > 0 && strcmp(w->versions[at - 1], x->versions[v]) > 0) {
            memcpy(w->versions[at], w->versions[at - 1], sizeof w->versions[0]);
            at--;
        }
        memcpy(w->versions[at], x->versions[v], sizeof w->versions[0]);
    }
    w->tls |= x->tls;
    w->plaintext |= x->plaintext;
    w->anonymous_accepted |= x->anonymous_accepted;
    w->default_accepted |= x->default_accepted;
    w->weak_tls |= x->weak_tls;
    w->clients_more |= x->clients_more;
    w->users_more |= x->users_more;
    if (x->tls_version[0] && (!w->tls_version[0] || strcmp(x->tls_version, w->tls_version) < 0))
        memcpy(w->tls_version, x->tls_version, sizeof w->tls_version);
    w->sessions += x->sessions;
    w->cleartext_credentials += x->cleartext_credentials;
    w->default_credentials += x->default_credentials;
    w->auth_failures += x->auth_failures;
    for (int k = 0; k < BW_KIND_COUNT; k++) w->alerts[k] += x->alerts[k];
    if (x->first_us && (!w->first_us || x->first_us < w->first_us)) w->first_us = x->first_us;
    if (x->last_us > w->last_us) w->last_us = x->last_us;
    for (uint32_t c = 0; c < x->nclients; c++) {
        bool seen = false;
        for (uint32_t i = 0; i < w->nclients && !seen; i++) seen = w->clients[i] == x->clients[c];
        if (seen) continue;
        if (w->nclients < BW_REPORT_CLIENTS_MAX) w->clients[w->nclients++] = x->clients[c];
        else w->clients_more = true;
    }
    for (uint8_t u = 0; u < x->nusers; u++) {
        const struct bw_fid *n = &x->users[u];
        bool have = false;
        for (uint8_t i = 0; i < w->nusers; i++)
            have |= w->users[i].len == n->len && w->users[i].cut == n->cut && memcmp(w->users[i].s, n->s, n->len) == 0;
        if (!have && w->nusers < BW_REPORT_USERS_MAX) w->users[w->nusers++] = *n;
        else if (!have) w->users_more = true;
    }
    if (x->product.len && !w->product.len) w->product = x->product;
}

int bw_report_merge(struct bw_report *dst, const struct bw_report *src)
{
    if (!src) return 0;
    for (uint32_t i = 1; i <= src->used; i++) {
        const struct bw_report_row *x = row_at(src, i);
        struct bw_report_row *w = find_or_add(dst, x->ip_ver, x->ip, x->port);
        if (!w) { dst->dropped++; continue; }
        merge_row(w, x);
    }
    dst->dropped += src->dropped;
    for (int k = 0; k < BW_KIND_COUNT; k++) dst->alerts[k] += src->alerts[k];
    tl_merge(&dst->tl, &src->tl);
    return 0;
}

uint32_t bw_report_brokers(const struct bw_report *r) { return r ? r->used : 0; }
uint32_t bw_report_dropped(const struct bw_report *r) { return r ? r->dropped : 0; }
uint32_t bw_report_max(const struct bw_report *r) { return r ? r->max : 0; }

/* ---- accessors for the writers ---- */

static int cmp_rows(const void *a, const void *b)
{
    const struct bw_report_row *x = *(const struct bw_report_row *const *)a;
    const struct bw_report_row *y = *(const struct bw_report_row *const *)b;
    if (x->ip_ver != y->ip_ver) return x->ip_ver < y->ip_ver ? -1 : 1;
    int c = memcmp(x->ip, y->ip, 16);
    if (c) return c;
    return x->port < y->port ? -1 : x->port > y->port;
}

const struct bw_report_row **bw_report_sorted(const struct bw_report *r, size_t *n)
{
    const struct bw_report_row **v = calloc(r->used ? r->used : 1, sizeof *v);
    *n = 0;
    if (!v) return NULL;
    for (uint32_t i = 0; i < r->used; i++) v[i] = row_at(r, i + 1);
    qsort(v, r->used, sizeof *v, cmp_rows);
    *n = r->used;
    return v;
}

enum bw_exposure bw_report_exposure(const struct bw_report_row *w)
{
    if (w->default_accepted) return BW_EXPOSURE_DEFAULT_CREDS;
    if (w->anonymous_accepted) return BW_EXPOSURE_ANONYMOUS;
    if (w->cleartext_credentials) return BW_EXPOSURE_CLEARTEXT_CREDS;
    if (w->plaintext) return BW_EXPOSURE_PLAINTEXT;
    if (w->weak_tls) return BW_EXPOSURE_WEAK_TLS;
    return BW_EXPOSURE_TLS;
}

static const char *const exposure_names[BW_EXPOSURE_COUNT] = {
    "default_credentials", "anonymous", "cleartext_credentials", "plaintext", "weak_tls", "tls",
};
static const char *const exposure_labels[BW_EXPOSURE_COUNT] = {
    "Default credentials accepted", "Anonymous clients accepted", "Credentials in cleartext",
    "Plaintext, no credentials seen", "TLS with weaknesses", "TLS only",
};

const char *bw_exposure_name(enum bw_exposure e)
{
    return (unsigned)e < BW_EXPOSURE_COUNT ? exposure_names[e] : "unknown";
}

const char *bw_exposure_label(enum bw_exposure e)
{
    return (unsigned)e < BW_EXPOSURE_COUNT ? exposure_labels[e] : "unknown";
}

void bw_report_totals(const struct bw_report *r, struct bw_report_totals *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < r->used; i++) {
        const struct bw_report_row *w = row_at(r, i + 1);
        if (!w->sessions) continue;            /* alerts came, the session did not end yet */
        t->brokers++;
        if (!w->tls) t->plaintext++;
        if (w->tls) t->tls++;
        if (w->anonymous_accepted) t->anonymous++;
        if (w->cleartext_credentials) t->creds++;
        if (w->default_accepted) t->default_creds++;
        if (w->weak_tls) t->weak_tls++;
        if (w->auth_failures) t->failed_brokers++;
        if (w->alerts[BW_KIND_BRUTEFORCE]) t->bruteforce_brokers++;
        t->failed_logins += w->auth_failures;
        t->exposure[bw_report_exposure(w)]++;
    }
    for (int k = 0; k < BW_KIND_COUNT; k++) {
        t->alerts[k] = r->alerts[k];
        t->alerts_total += r->alerts[k];
    }
}

void bw_report_timeline(const struct bw_report *r, uint64_t first_us, uint64_t last_us,
                        struct bw_report_timeline *out)
{
    struct timeline t = r->tl;
    memset(out, 0, sizeof *out);
    if (first_us) tl_cover(&t, first_us);
    if (last_us) tl_cover(&t, last_us);
    if (!t.any) return;
    out->start_us = t.origin;
    out->width_us = t.width;
    out->nbuckets = t.hi + 1;
    memcpy(out->count, t.n, sizeof out->count);
    for (uint32_t b = 0; b < out->nbuckets; b++) {
        uint64_t sum = 0;
        for (int k = 0; k < BW_KIND_COUNT; k++) sum += t.n[k][b];
        if (sum > out->peak) out->peak = sum;
    }
}

const char *bw_report_apps_name(uint8_t apps)
{
    return apps == 3 ? "mqtt+amqp" : apps == 2 ? "amqp" : "mqtt";
}

void bw_report_addr(const struct bw_report_row *w, char out[56])
{
    char ip[46];
    bw_format_ip(w->ip_ver, w->ip, ip);
    snprintf(out, 56, w->ip_ver == 6 ? "[%s]:%u" : "%s:%u", ip, w->port);
}

void bw_report_time(uint64_t us, char out[32])
{
    if (!us) { memcpy(out, "-", 2); return; }
    bw_format_ts(us, out);
    out[10] = ' ';
    out[19] = 'Z';                             /* seconds are enough for people */
    out[20] = '\0';
}

void bw_report_duration(uint64_t us, char out[32])
{
    uint64_t s = us / 1000000u;
    /* two units at most, the second left out when it is zero: "1 min", "2 h 5 min" */
    uint64_t big = s, small = 0;
    const char *bu = "s", *su = "";
    if (s < 60) {
        if (us % 1000000u == 0 || s >= 10) snprintf(out, 32, "%" PRIu64 " s", s);
        else if (us >= 1000000u) snprintf(out, 32, "%" PRIu64 ".%" PRIu64 " s", s, (us / 100000u) % 10);
        else snprintf(out, 32, "%" PRIu64 " ms", us / 1000u);
        return;
    }
    if (s < 3600) { big = s / 60; small = s % 60; bu = "min"; su = "s"; }
    else if (s < 86400) { big = s / 3600; small = (s / 60) % 60; bu = "h"; su = "min"; }
    else { big = s / 86400; small = (s / 3600) % 24; bu = "d"; su = "h"; }
    if (small) snprintf(out, 32, "%" PRIu64 " %s %" PRIu64 " %s", big, bu, small, su);
    else snprintf(out, 32, "%" PRIu64 " %s", big, bu);
}

size_t bw_report_user(const struct bw_report_header *h, const struct bw_fid *u, bool dots, char *out)
{
    if (h->redact) {
        if (!h->redact_key) { memcpy(out, "(redacted)", 10); return 10; }
        bw_redact_token(h->redact_key, u->s, u->len, u->cut, out);
        return strlen(out);
    }
    size_t n = u->len;
    memcpy(out, u->s, n);
    if (u->cut && dots) { memcpy(out + n, "...", 3); n += 3; }
    return n;
}

/* ---- text ---- */

#define W BW_REPORT_TEXT_WIDTH

#define NB_SPACE '\x01'                   /* in para() text: a space that never breaks */

/* text, wrapped at W columns after a first-line prefix; later lines indented by indent spaces.
 * Breaks at spaces (not at NB_SPACE); a word longer than a line (an address, a 256-byte user
 * name) is broken at the line's end and continues on the next line: nothing is dropped. */
static void para(FILE *out, const char *prefix, size_t indent, const char *text)
{
    size_t col = strlen(prefix), len = strlen(text), i = 0;
    fputs(prefix, out);
    if (indent >= W) indent = 0;
    if (col >= W) { fputc('\n', out); fprintf(out, "%*s", (int)indent, ""); col = indent; }
    while (i < len) {
        size_t room = W - col, take = len - i;     /* col < W: room > 0 */
        if (take > room) {
            size_t b = room;
            while (b > 0 && text[i + b] != ' ') b--;
            take = b ? b : room;
        }
        for (size_t k = 0; k < take; k++) fputc(text[i + k] == NB_SPACE ? ' ' : text[i + k], out);
        i += take;
        while (i < len && text[i] == ' ') i++;
        if (i < len) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        }
    }
    fputc('\n', out);
}

static void text_header(FILE *out, const struct bw_report_header *h)
{
    char t0[32], t1[32], d[32], line[2048];
    fprintf(out, "brokerwatch exposure report\n");
    snprintf(line, sizeof line, "%s (brokerwatch %s)", h->sensor ? h->sensor : "", h->version ? h->version : "");
    char safe[sizeof line];
    bw_escape_ascii(safe, sizeof safe, line, strlen(line));
    para(out, "  sensor     ", 13, safe);
    if (h->iface) {
        memcpy(line, "live capture on ", 16);
        bw_escape_ascii(line + 16, sizeof line - 16, h->iface, strlen(h->iface));
        para(out, "  input      ", 13, line);
    } else {
        /* Paths wrap at the spaces between them; at most 12, then a count. */
        size_t n = 0;
        for (size_t i = 0; i < h->ninputs && i < 12; i++) {
            char p[1024];
            bw_escape_ascii(p, sizeof p, h->inputs[i], strlen(h->inputs[i]));
            n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", i ? ", " : "", p);
            if (n >= sizeof line) { n = sizeof line - 1; break; }
        }
        if (h->ninputs > 12 && n < sizeof line)
            snprintf(line + n, sizeof line - n, " and %zu more", h->ninputs - 12);
        para(out, h->ninputs == 1 ? "  input      " : "  inputs     ", 13, h->ninputs ? line : "-");
    }
    if (h->bpf) {
        bw_escape_ascii(safe, sizeof safe, h->bpf, strlen(h->bpf));
        para(out, "  filter     ", 13, safe);
    }
    bw_report_time(h->first_us, t0);
    bw_report_time(h->last_us, t1);
    bw_report_duration(h->last_us > h->first_us ? h->last_us - h->first_us : 0, d);
    if (h->first_us) fprintf(out, "  capture    %s to %s (%s)\n", t0, t1, d);
    else fprintf(out, "  capture    no packets\n");
    bw_report_time(h->generated_us, t0);
    fprintf(out, "  generated  %s\n", t0);
    if (h->show_usernames && h->redact)
        fprintf(out, "  user names as %s tokens (HMAC-SHA256, key %s)\n", BW_REDACT_PREFIX,
                h->redact_key ? h->redact_key->key_id : "withheld");
}

/* "5 brokers" with a space that never breaks, appended to line at *n. */
static void item(char *line, size_t cap, size_t *n, const char *sep, uint64_t v, const char *what)
{
    if (*n >= cap) return;
    int k = snprintf(line + *n, cap - *n, "%s%" PRIu64 "\x01%s", sep, v, what);
    if (k > 0) *n += (size_t)k;
    for (size_t i = *n - strlen(what); i < *n && i < cap; i++)
        if (line[i] == ' ') line[i] = NB_SPACE;
}

static void text_totals(FILE *out, const struct bw_report_totals *t)
{
    char line[1024], what[64];
    size_t n = 0;
    item(line, sizeof line, &n, "", t->brokers, t->brokers == 1 ? "broker:" : "brokers:");
    item(line, sizeof line, &n, " ", t->plaintext, "plaintext only,");
    item(line, sizeof line, &n, " ", t->tls, "with TLS,");
    item(line, sizeof line, &n, " ", t->anonymous, "accept anonymous clients,");
    item(line, sizeof line, &n, " ", t->creds, "leak credentials in cleartext,");
    item(line, sizeof line, &n, " ", t->default_creds, "accept default credentials,");
    item(line, sizeof line, &n, " ", t->weak_tls, "with weak TLS;");
    snprintf(what, sizeof what, "failed login%s on %" PRIu64 " broker%s,", t->failed_logins == 1 ? "" : "s",
             t->failed_brokers, t->failed_brokers == 1 ? "" : "s");
    item(line, sizeof line, &n, " ", t->failed_logins, what);
    uint64_t bf = t->alerts[BW_KIND_BRUTEFORCE];
    snprintf(what, sizeof what, "brute-force alert%s on %" PRIu64 " broker%s", bf == 1 ? "" : "s",
             t->bruteforce_brokers, t->bruteforce_brokers == 1 ? "" : "s");
    item(line, sizeof line, &n, " ", bf, what);
    para(out, "Totals: ", 8, line);
    n = 0;
    if (!t->alerts_total) { para(out, "Alerts: ", 8, "none"); return; }
    item(line, sizeof line, &n, "", t->alerts_total, "by kind:");
    const char *sep = " ";
    for (int k = 0; k < BW_KIND_COUNT; k++) {
        if (!t->alerts[k]) continue;
        item(line, sizeof line, &n, sep, t->alerts[k], bw_kind_name((enum bw_kind)k));
        sep = ", ";
    }
    para(out, "Alerts: ", 8, line);
}

/* The broker table: columns sized to their content, wrapped columns shrunk so a row fits W. */
enum { C_BROKER, C_PROTO, C_TLS, C_SESS, C_CLIENTS, C_ANON, C_CREDS, C_DEFAULT, C_FAILS, C_BRUTE, C_PRODUCT, C_N };
static const char *const col_head[C_N] = {
    "BROKER", "PROTOCOL", "TLS", "SESS", "CLIENTS", "ANON", "CREDS", "DEFAULT", "FAILS", "BRUTE", "PRODUCT",
};
static const uint8_t col_min[C_N] = { 16, 10, 7, 0, 0, 0, 0, 0, 0, 0, 16 };  /* wrapped columns */
#define SEP 2                                 /* between columns; 1 when the table is tight */
#define CELL_MAX 160

static void cell(const struct bw_report_row *w, int c, char out[CELL_MAX])
{
    size_t n;
    switch (c) {
    case C_BROKER: bw_report_addr(w, out); break;
    case C_PROTO:
        n = (size_t)snprintf(out, CELL_MAX, "%s", bw_report_apps_name(w->apps));
        for (uint8_t k = 0; k < w->nversions && n < CELL_MAX; k++)
            n += (size_t)snprintf(out + n, CELL_MAX - n, "%s%s", k ? "," : " ", w->versions[k]);
        break;
    case C_TLS:
        if (!w->tls) snprintf(out, CELL_MAX, "no");
        else snprintf(out, CELL_MAX, "%s%s", w->plaintext ? "mixed " : "", w->tls_version[0] ? w->tls_version : "yes");
        break;
    case C_SESS: snprintf(out, CELL_MAX, "%" PRIu64, w->sessions); break;
    case C_CLIENTS: snprintf(out, CELL_MAX, "%u%s", w->nclients, w->clients_more ? "+" : ""); break;
    case C_ANON: snprintf(out, CELL_MAX, "%s", w->anonymous_accepted ? "yes" : "no"); break;
    case C_CREDS: snprintf(out, CELL_MAX, "%" PRIu64, w->cleartext_credentials); break;
    case C_DEFAULT: snprintf(out, CELL_MAX, "%" PRIu64, w->default_credentials); break;
    case C_FAILS: snprintf(out, CELL_MAX, "%" PRIu64, w->auth_failures); break;
    case C_BRUTE: snprintf(out, CELL_MAX, "%" PRIu64, w->alerts[BW_KIND_BRUTEFORCE]); break;
    case C_PRODUCT:
        if (!w->product.len) { snprintf(out, CELL_MAX, "-"); break; }
        n = bw_escape_ascii(out, CELL_MAX - 3, w->product.s, w->product.len);
        if (w->product.cut) memcpy(out + n, "...", 4);
        break;
    default: out[0] = '\0'; break;
    }
}

static bool wraps(int c) { return col_min[c] != 0; }

/* Next piece of s (from *off) that fits width: break after a ',', ' ' or ':' when one is in reach. */
static size_t piece(const char *s, size_t *off, size_t width)
{
    size_t len = strlen(s), o = *off;
    if (len - o <= width) { *off = len; return len - o; }
    size_t b = width;
    while (b > 0 && s[o + b - 1] != ',' && s[o + b - 1] != ' ' && s[o + b - 1] != ':') b--;
    size_t take = b ? b : width;
    *off = o + take;
    while (*off < len && s[*off] == ' ') (*off)++;
    while (take > 0 && s[o + take - 1] == ' ') take--;
    return take;
}

static void print_row(FILE *out, char cells[C_N][CELL_MAX], const size_t width[C_N], size_t sep)
{
    size_t off[C_N] = { 0 };
    bool first = true;
    for (;;) {
        bool more = false;
        for (int c = 0; c < C_N; c++) more |= off[c] < strlen(cells[c]);
        if (!more && !first) break;
        char line[W * 2 + 1];
        size_t n = 0;
        for (int c = 0; c < C_N; c++) {
            size_t o = off[c], k = piece(cells[c], &off[c], width[c]);
            size_t pad = width[c] > k ? width[c] - k : 0;
            if (c) { memset(line + n, ' ', sep); n += sep; }
            if (!wraps(c) && k) { memset(line + n, ' ', pad); n += pad; }   /* numbers: right */
            memcpy(line + n, cells[c] + o, k);
            n += k;
            if (wraps(c) || !k) { memset(line + n, ' ', pad); n += pad; }
        }
        while (n > 0 && line[n - 1] == ' ') n--;
        line[n] = '\0';
        fprintf(out, "%s\n", line);
        first = false;
    }
}

/* Column widths and the gap between columns (returned) so that a row fits W. */
static size_t table_widths(const struct bw_report_row *const *v, size_t nrows, size_t width[C_N])
{
    size_t natural[C_N], fixed = 0, need = 0, sep = SEP;
    char buf[CELL_MAX];
    for (int c = 0; c < C_N; c++) natural[c] = strlen(col_head[c]);
    for (size_t i = 0; i < nrows; i++)
        for (int c = 0; c < C_N; c++) {
            cell(v[i], c, buf);
            if (strlen(buf) > natural[c]) natural[c] = strlen(buf);
        }
    for (int c = 0; c < C_N; c++) {
        need += natural[c];
        if (wraps(c)) {
            size_t m = col_min[c] > strlen(col_head[c]) ? col_min[c] : strlen(col_head[c]);
            width[c] = natural[c] < m ? natural[c] : m;
        } else {
            width[c] = natural[c];
        }
        fixed += width[c];
    }
    if (need + SEP * (C_N - 1) > W) sep = 1;
    fixed += sep * (C_N - 1);
    /* Give what is left of W to the wrapped columns up to their need, the address first (a cut
     * address reads worst), the product last. */
    static const int order[] = { C_BROKER, C_TLS, C_PROTO, C_PRODUCT };
    size_t left = fixed < W ? W - fixed : 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int c = order[i];
        size_t give = natural[c] - width[c] < left ? natural[c] - width[c] : left;
        width[c] += give;
        left -= give;
    }
    return sep;
}

int bw_report_write_text(const struct bw_report *r, const struct bw_report_header *h, FILE *out)
{
    size_t nrows;
    const struct bw_report_row **v = bw_report_sorted(r, &nrows);
    if (!v) return BW_ENOMEM;
    struct bw_report_totals t;
    bw_report_totals(r, &t);
    text_header(out, h);
    fputc('\n', out);
    text_totals(out, &t);
    fputc('\n', out);
    size_t width[C_N];
    size_t sep = table_widths(v, nrows, width);
    if (t.brokers) {
        char cells[C_N][CELL_MAX];
        for (int c = 0; c < C_N; c++) snprintf(cells[c], CELL_MAX, "%s", col_head[c]);
        print_row(out, cells, width, sep);
    } else {
        fputs("No broker seen.\n", out);
    }
    for (size_t i = 0; i < nrows; i++) {
        const struct bw_report_row *w = v[i];
        char cells[C_N][CELL_MAX];
        if (!w->sessions) continue;
        for (int c = 0; c < C_N; c++) cell(w, c, cells[c]);
        print_row(out, cells, width, sep);
        if (w->weak_tls) fputs("    weak TLS\n", out);
        if (h->show_usernames && w->nusers) {
            char list[BW_REPORT_USERS_MAX * (4 * BW_REPORT_USER_OUT + 2) + 8];   /* \xNN escapes */
            size_t n = 0;
            for (uint8_t k = 0; k < w->nusers; k++) {
                char u[BW_REPORT_USER_OUT];
                size_t ul = bw_report_user(h, &w->users[k], true, u);
                if (k) { memcpy(list + n, ", ", 2); n += 2; }
                n += bw_escape_ascii(list + n, sizeof list - n, u, ul);
            }
            if (w->users_more) snprintf(list + n, sizeof list - n, ", ...");
            para(out, "    users in cleartext: ", 6, list);
        }
    }
    if (r->dropped)
        fprintf(out, "(%u sessions not counted: more than %u brokers)\n", r->dropped, r->max);
    free(v);
    return ferror(out) ? BW_EIO : 0;
}

/* ---- JSON ---- */

/* One JSON string (escaped by bw_json) straight to out. */
static void json_string(FILE *out, const void *s, size_t n)
{
    size_t cap = 6 * n + 8;
    char stack[512], *buf = cap <= sizeof stack ? stack : malloc(cap);
    struct bw_json j;
    if (!buf) { fputs("null", out); return; }
    bw_json_init(&j, buf, cap);
    bw_json_strn(&j, NULL, s, n);
    if (bw_json_finish(&j)) fputs(buf, out);
    else fputs("null", out);
    if (buf != stack) free(buf);
}

static void json_time(FILE *out, const char *key, uint64_t us)
{
    char ts[32];
    fprintf(out, "\"%s\":", key);
    if (!us) { fputs("null", out); return; }
    bw_format_ts(us, ts);
    fprintf(out, "\"%s\"", ts);
}

static void json_run(FILE *out, const struct bw_report_header *h)
{
    fputs("\"run\":{\"sensor\":", out);
    json_string(out, h->sensor ? h->sensor : "", h->sensor ? strlen(h->sensor) : 0);
    fputs(",\"version\":", out);
    json_string(out, h->version ? h->version : "", h->version ? strlen(h->version) : 0);
    fputs(",\"inputs\":[", out);
    for (size_t i = 0; i < h->ninputs; i++) {
        if (i) fputc(',', out);
        json_string(out, h->inputs[i], strlen(h->inputs[i]));
    }
    fputs("],\"interface\":", out);
    if (h->iface) json_string(out, h->iface, strlen(h->iface)); else fputs("null", out);
    fputs(",\"filter\":", out);
    if (h->bpf) json_string(out, h->bpf, strlen(h->bpf)); else fputs("null", out);
    fputc(',', out);
    json_time(out, "capture_start", h->first_us);
    fputc(',', out);
    json_time(out, "capture_end", h->last_us);
    fputc(',', out);
    json_time(out, "generated", h->generated_us);
    fprintf(out, ",\"usernames\":\"%s\"", !h->show_usernames ? "hidden" : h->redact ? "redacted" : "shown");
    if (h->redact && h->redact_key) fprintf(out, ",\"redaction_key_id\":\"%s\"", h->redact_key->key_id);
    fputc('}', out);
}

static void json_kinds(struct bw_json *j, const char *key, const uint64_t *n)
{
    bw_json_obj_open(j, key);
    for (int k = 0; k < BW_KIND_COUNT; k++) bw_json_u64(j, bw_kind_name((enum bw_kind)k), n[k]);
    bw_json_obj_close(j);
}

int bw_report_write_json(const struct bw_report *r, const struct bw_report_header *h, FILE *out)
{
    size_t nrows;
    const struct bw_report_row **v = bw_report_sorted(r, &nrows);
    /* One broker at a time through bw_json: room for every member at its largest (8 user
     * names of 6-byte escapes each) so that no row is ever left out for lack of space. */
    size_t cap = 8192 + BW_REPORT_USERS_MAX * (BW_REPORT_USER_OUT * 6 + 4) + sizeof ((struct bw_fstr *)0)->s * 6;
    char *buf = malloc(cap);
    if (!v || !buf) { free(v); free(buf); return BW_ENOMEM; }
    struct bw_report_totals t;
    bw_report_totals(r, &t);
    fputc('{', out);
    json_run(out, h);
    fputs(",\"brokers\":[", out);
    bool first = true;
    for (size_t i = 0; i < nrows; i++) {
        const struct bw_report_row *w = v[i];
        struct bw_json j;
        char ip[46], t0[32], t1[32];
        if (!w->sessions) continue;
        bw_format_ip(w->ip_ver, w->ip, ip);
        bw_format_ts(w->first_us, t0);
        bw_format_ts(w->last_us, t1);
        bw_json_init(&j, buf, cap);
        bw_json_obj_open(&j, NULL);
        bw_json_str(&j, "ip", ip);
        bw_json_u64(&j, "port", w->port);
        bw_json_str(&j, "app_proto", bw_report_apps_name(w->apps));
        bw_json_arr_open(&j, "versions");
        for (uint8_t k = 0; k < w->nversions; k++) bw_json_str(&j, NULL, w->versions[k]);
        bw_json_arr_close(&j);
        bw_json_str(&j, "exposure", bw_exposure_name(bw_report_exposure(w)));
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
        bw_json_u64(&j, "default_credentials", w->default_credentials);
        bw_json_bool(&j, "default_credentials_accepted", w->default_accepted);
        bw_json_u64(&j, "auth_failures", w->auth_failures);
        bw_json_u64(&j, "bruteforce", w->alerts[BW_KIND_BRUTEFORCE]);
        json_kinds(&j, "alerts", w->alerts);
        if (w->product.len) bw_json_fstr(&j, "product", &w->product);
        else bw_json_null(&j, "product");
        bw_json_str(&j, "first_seen", t0);
        bw_json_str(&j, "last_seen", t1);
        if (h->show_usernames) {
            bool cut = false;
            bw_json_arr_open(&j, "usernames");
            for (uint8_t k = 0; k < w->nusers; k++) {
                char u[BW_REPORT_USER_OUT];
                size_t ul = bw_report_user(h, &w->users[k], false, u);
                bw_json_strn(&j, NULL, u, ul);
                cut |= w->users[k].cut;
            }
            bw_json_arr_close(&j);
            /* Names longer than 256 bytes are listed by their first 256: say so explicitly. */
            if (cut) bw_json_bool(&j, "usernames_truncated", true);
            bw_json_bool(&j, "usernames_capped", w->users_more);
        }
        bw_json_obj_close(&j);
        if (bw_json_finish(&j)) {
            if (!first) fputc(',', out);
            fputs(buf, out);
            first = false;
        }
    }
    fprintf(out, "],\"totals\":{\"brokers\":%" PRIu64 ",\"plaintext\":%" PRIu64 ",\"tls\":%" PRIu64
            ",\"anonymous\":%" PRIu64 ",\"cleartext_credentials\":%" PRIu64 ",\"default_credentials\":%"
            PRIu64 ",\"weak_tls\":%" PRIu64 ",\"auth_failures\":%" PRIu64 ",\"bruteforce\":%" PRIu64
            ",\"failed_logins\":%" PRIu64 ",\"bruteforce_alerts\":%" PRIu64 "}",
            t.brokers, t.plaintext, t.tls, t.anonymous, t.creds, t.default_creds, t.weak_tls,
            t.failed_brokers, t.bruteforce_brokers, t.failed_logins, t.alerts[BW_KIND_BRUTEFORCE]);
    fputs(",\"exposure\":{", out);
    for (int e = 0; e < BW_EXPOSURE_COUNT; e++)
        fprintf(out, "%s\"%s\":%" PRIu64, e ? "," : "", bw_exposure_name((enum bw_exposure)e), t.exposure[e]);
    fputs("},\"alerts\":{", out);
    for (int k = 0; k < BW_KIND_COUNT; k++)
        fprintf(out, "%s\"%s\":%" PRIu64, k ? "," : "", bw_kind_name((enum bw_kind)k), t.alerts[k]);
    fputs("},\"timeline\":", out);
    struct bw_report_timeline tl;
    bw_report_timeline(r, h->first_us, h->last_us, &tl);
    if (!tl.nbuckets) {
        fputs("null", out);
    } else {
        fputc('{', out);
        json_time(out, "start", tl.start_us > 0 ? (uint64_t)tl.start_us : 0);
        fprintf(out, ",\"bucket_us\":%" PRIu64 ",\"buckets\":%u,\"counts\":{", tl.width_us, tl.nbuckets);
        for (int k = 0; k < BW_KIND_COUNT; k++) {
            fprintf(out, "%s\"%s\":[", k ? "," : "", bw_kind_name((enum bw_kind)k));
            for (uint32_t b = 0; b < tl.nbuckets; b++) fprintf(out, "%s%" PRIu64, b ? "," : "", tl.count[k][b]);
            fputc(']', out);
        }
        fputs("}}", out);
    }
    fprintf(out, ",\"sessions_not_counted\":%u}\n", r->dropped);
    free(buf);
    free(v);
    return ferror(out) ? BW_EIO : 0;
}
