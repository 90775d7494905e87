/* alerts_main.c: brokerwatch-alerts, the reader of what the sensors' Redis sinks write
 * (docs/redis.md). Finds every sensor in the registry (brokerwatch:sensors) and reads all their
 * alert streams, merged by capture time: the history, --follow (polling each stream), or a
 * consumer group (XREADGROUP, XACK after output, XPENDING + XCLAIM for what others left), on one
 * Redis server or a Redis Cluster (the node router of sensor/output/redis_cluster.c); filters on
 * the entries' indexed fields; prints an aligned table on a terminal and the sensors' own JSON
 * lines otherwise; --brokers merges the sensors' broker inventories, --sensors lists the sensors
 * and when each was last seen. A separate program: it links bw_core for the URL parser, the key
 * names, the connect helper and the router, and includes hiredis only for reply types.
 *
 * JSON is parsed with jansson, not by hand: the "json" field of an entry carries strings that
 * came off the wire (user names, client ids, topic filters) and so may hold any escape, \u
 * surrogate pair or nesting an attacker chooses; a hand parser is exactly where such input finds
 * an overread or a mis-split field. jansson is small, maintained, packaged by Debian, validates
 * UTF-8 and handles every JSON form, so the reader only decides what to show.
 * Exit: 0 ok, 1 runtime error (one line on stderr), 2 usage error. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include "bw_alert.h"
#include "bw_redis.h"
#include "bw_verdict.h"

#define PROG "brokerwatch-alerts"
#define PAGE 500                      /* entries per XRANGE / XREAD / XREADGROUP call */
#define POLL_MS 200                   /* --follow: each stream is asked again after this */
#define DISCOVER_S 5.0                /* --follow: new sensors in the registry are picked up */
#define MAX_KINDS 16
#define MAX_SENSORS 64
#define CONNECT_MS 3000
#define COMMAND_MS 10000

struct opts {
    const char *url;
    const char *stream;               /* --stream: this one stream, no registry */
    const char *sensors[MAX_SENSORS]; /* --sensor: only these */
    size_t nsensors;
    bool follow, json, table, brokers, list_sensors, ack_filtered;
    const char *since;
    char since_id[64];
    uint64_t count;                   /* 0 = no limit */
    const char *kinds[MAX_KINDS];
    size_t nkinds;
    int min_sev;                      /* 0 = any; else 1 + enum bw_severity */
    bool broker_set;
    uint8_t broker_ip[16];
    int broker_fam;
    uint32_t broker_port;             /* 0 = any */
    const char *app;
    const char *group, *consumer;
    long long claim_idle;             /* -1 = off */
    bool sensor_col;                  /* the table names each alert's sensor */
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static const char usage_text[] =
"Usage: brokerwatch-alerts [options]\n"
"Read the alerts brokerwatch sensors write to Redis (docs/redis.md): every sensor's stream,\n"
"merged by capture time, on one Redis server or a Redis Cluster.\n"
"\n"
"      --redis URL        redis://[user:password@]host[:port][/db] or unix:///path; any node of\n"
"                         a cluster (default $BROKERWATCH_REDIS_URL or redis://127.0.0.1:6379);\n"
"                         password also from $BROKERWATCH_REDIS_PASSWORD\n"
"      --sensor NAME      only this sensor's alerts (repeat, or a comma list)\n"
"      --stream KEY       only this stream (e.g. brokerwatch:alerts of earlier versions)\n"
"  -f, --follow           keep reading new alerts as they arrive, across Redis restarts\n"
"      --since ID|TIME    start at a stream entry ID, or at a UTC time such as\n"
"                         2026-11-24T10:00:00Z (when the alert reached Redis)\n"
"  -n, --count N          at most N alerts: the newest N, or the first N after --since\n"
"Filters:\n"
"      --kind KIND        only this kind (repeat, or a comma list)\n"
"      --severity LEVEL   at least low, medium, high or critical\n"
"      --broker IP[:PORT] only alerts about this broker ([v6]:port for IPv6 with a port)\n"
"      --app mqtt|amqp    only this protocol\n"
"Output:\n"
"      --json             JSON lines (the sensors' records), the default when not a terminal\n"
"      --table            an aligned table, the default on a terminal\n"
"      --brokers          the broker inventory of all sensors, merged, instead of alerts\n"
"      --sensors          the sensors, when each was last seen, and their counters\n"
"Consumer groups (several readers share the work; each alert is acknowledged once printed):\n"
"      --group G --consumer C   read through group G as consumer C (XREADGROUP, XACK)\n"
"      --claim-idle MS    take over matching alerts another consumer left pending for MS ms\n"
"      --ack-filtered     also acknowledge alerts the filters leave out (by default they stay\n"
"                         pending, for another consumer of the group)\n"
"\n"
"  -h, --help             this text\n"
"  -V, --version          version\n"
"Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

/* ---- small helpers ------------------------------------------------------------------------- */

static void BW_PRINTF(1, 2) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* A notice for a person: one line on stderr, only when stderr is a terminal. */
static void BW_PRINTF(1, 2) note(const char *fmt, ...)
{
    va_list ap;
    if (!isatty(STDERR_FILENO)) return;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);                           /* a signal ends it early: stop is then set */
}

/* "low".."critical" -> 1..4; 0 when unknown. */
static int sev_rank(const char *s)
{
    int v = s ? bw_severity_parse(s) : -1;
    return v < 0 ? 0 : v + 1;
}

static bool ip_parse(const char *s, uint8_t out[16], int *fam)
{
    if (inet_pton(AF_INET, s, out) == 1) { *fam = AF_INET; return true; }
    if (inet_pton(AF_INET6, s, out) == 1) { *fam = AF_INET6; return true; }
    return false;
}

/* --broker IP, IP:PORT, IPv6, [IPv6]:PORT */
static bool parse_broker(struct opts *o, const char *arg)
{
    char ip[64];
    const char *port = NULL;
    if (arg[0] == '[') {
        const char *e = strchr(arg, ']');
        if (!e || (size_t)(e - arg - 1) >= sizeof ip) return false;
        memcpy(ip, arg + 1, (size_t)(e - arg - 1));
        ip[e - arg - 1] = '\0';
        if (e[1] == ':') port = e + 2;
        else if (e[1]) return false;
    } else {
        const char *c = strchr(arg, ':');
        if (c && !strchr(c + 1, ':')) {                /* exactly one ':' -> IPv4:port */
            if ((size_t)(c - arg) >= sizeof ip) return false;
            memcpy(ip, arg, (size_t)(c - arg));
            ip[c - arg] = '\0';
            port = c + 1;
        } else {
            if (strlen(arg) >= sizeof ip) return false;
            snprintf(ip, sizeof ip, "%s", arg);
        }
    }
    if (!ip_parse(ip, o->broker_ip, &o->broker_fam)) return false;
    if (port) {
        char *end;
        unsigned long p = strtoul(port, &end, 10);
        if (!*port || *end || p == 0 || p > 65535) return false;
        o->broker_port = (uint32_t)p;
    }
    o->broker_set = true;
    return true;
}

/* --since: a stream ID ("1700000000000-0", "1700000000000") or a UTC time, into a stream ID. */
static bool parse_since(const char *s, char *id, size_t cap)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9') p++;
    if (p > s && (*p == '\0' || (*p == '-' && p[1] && strspn(p + 1, "0123456789") == strlen(p + 1)))) {
        snprintf(id, cap, "%s", s);
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return false;
    p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2) return false;
        p += 1 + m2;
        if (*p == ':') {
            char *end;
            sec = strtod(p + 1, &end);
            if (end == p + 1) return false;
            p = end;
        }
    }
    if (*p == 'Z') p++;
    else if (strcmp(p, "+0000") == 0 || strcmp(p, "+00:00") == 0) p += strlen(p);   /* EVE's form */
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61) return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || t < 0) return false;
    uint64_t ms = (uint64_t)t * 1000u + (uint64_t)(sec * 1000.0 + 0.5);
    snprintf(id, cap, "%" PRIu64 "-0", ms);
    return true;
}

/* ---- Redis ---------------------------------------------------------------------------------- */

static struct bw_redis_router *rt;
static char where[300];
static bool keep_trying;              /* --follow: a lost connection is waited out, not fatal */
static bool lost_said;
static unsigned reconnects;           /* times the connection came back (group: re-read pending) */
static bool discovering_later, discovery_down;   /* see dcmd() */

static bool transient(const redisReply *r)
{
    static const char *const words[] = { "CLUSTERDOWN", "LOADING", "TRYAGAIN", "MASTERDOWN" };
    if (r->type != REDIS_REPLY_ERROR) return false;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strncmp(r->str, words[i], strlen(words[i])) == 0) return true;
    return false;
}

/* One command about key (its slot's node answers). Without --follow a failure is one line and
 * exit 1; with it, the reader says so once and tries again every second until Redis is back, or,
 * when *down is given, returns NULL at once (the caller reads the other streams meanwhile; *down
 * then says this key's node is away, and a message is printed when that changes). */
static redisReply *rcmd_or_skip(const char *key, int argc, const char **argv, bool *down)
{
    size_t lens[5 + PAGE];
    char err[512];
    bool fatal;
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    for (;;) {
        redisReply *r = bw_redis_router_command(rt, key, argc, argv, lens, &fatal, err, sizeof err);
        bool away = !r || (keep_trying && transient(r));
        if (down && keep_trying && !fatal) {
            if (away && !*down)
                fprintf(stderr, PROG ": %s: %s; reading the other streams, trying again every second\n", key,
                        r ? r->str : err);
            if (!away && *down) {
                fprintf(stderr, PROG ": %s readable again\n", down == &discovery_down ? "the sensor registry" : key);
                reconnects++;
            }
            *down = away;
            if (away) {
                if (r) freeReplyObject(r);
                return NULL;
            }
            return r;
        }
        if (!away) {
            if (lost_said) {
                fprintf(stderr, PROG ": Redis at %s answers again; reading on\n", where);
                lost_said = false;
                reconnects++;
            }
            return r;
        }
        if (r) { snprintf(err, sizeof err, "Redis at %s: %s", where, r->str); freeReplyObject(r); }
        if (stop) exit(0);                          /* Ctrl-C while waiting */
        if (fatal || !keep_trying) die("%s", err);
        if (!lost_said) {
            fprintf(stderr, PROG ": %s; trying again every second\n", err);
            lost_said = true;
        }
        sleep_ms(1000);
        if (stop) exit(0);
    }
}

static redisReply *rcmd(const char *key, int argc, const char **argv)
{
    return rcmd_or_skip(key, argc, argv, NULL);
}

static void check_error(redisReply *r, const char *what, const char *key)
{
    if (r->type == REDIS_REPLY_ERROR) die("%s %s failed: %s", what, key, r->str);
}

/* ---- one entry --------------------------------------------------------------------------------- */

struct entry {
    const char *id;
    const char *sensor, *ts, *kind, *severity, *app, *dest_ip, *dest_port, *json;
    size_t jlen;
    char tsbuf[32];                   /* ts of an entry that has none (an earlier version's) */
};

/* [id, [field, value, ...]] -> entry. 1: an alert; 0: gone (trimmed or deleted: nil fields; id
 * set); -1: not an entry. */
static int entry_of(const redisReply *e, struct entry *out)
{
    memset(out, 0, sizeof *out);
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    out->id = e->element[0]->str;
    if (e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY) return 0;
    const redisReply *f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (strcmp(k->str, "sensor") == 0) out->sensor = v->str;
        else if (strcmp(k->str, "ts") == 0) out->ts = v->str;
        else if (strcmp(k->str, "kind") == 0) out->kind = v->str;
        else if (strcmp(k->str, "severity") == 0) out->severity = v->str;
        else if (strcmp(k->str, "app_proto") == 0) out->app = v->str;
        else if (strcmp(k->str, "dest_ip") == 0) out->dest_ip = v->str;
        else if (strcmp(k->str, "dest_port") == 0) out->dest_port = v->str;
        else if (strcmp(k->str, "json") == 0) { out->json = v->str; out->jlen = v->len; }
    }
    if (!out->json) return 0;
    if (!out->ts || !out->sensor) {
        /* Entries of earlier versions carry neither: take them from the record. */
        json_error_t jerr;
        json_t *root = json_loadb(out->json, out->jlen, 0, &jerr);
        const char *t = json_string_value(json_object_get(root, "timestamp"));
        snprintf(out->tsbuf, sizeof out->tsbuf, "%s", t ? t : "");
        json_decref(root);
        if (!out->ts) out->ts = out->tsbuf;
    }
    return 1;
}

static bool matches(const struct opts *o, const struct entry *e)
{
    if (o->nkinds) {
        bool any = false;
        for (size_t i = 0; i < o->nkinds && !any; i++) any = e->kind && strcmp(e->kind, o->kinds[i]) == 0;
        if (!any) return false;
    }
    if (o->min_sev && sev_rank(e->severity) < o->min_sev) return false;
    if (o->app && (!e->app || strcmp(e->app, o->app) != 0)) return false;
    if (o->broker_set) {
        uint8_t ip[16];
        int fam;
        if (!e->dest_ip || !ip_parse(e->dest_ip, ip, &fam) || fam != o->broker_fam ||
            memcmp(ip, o->broker_ip, fam == AF_INET ? 4 : 16) != 0)
            return false;
        if (o->broker_port && (!e->dest_port || strtoul(e->dest_port, NULL, 10) != o->broker_port)) return false;
    }
    return true;
}

static bool has_filters(const struct opts *o)
{
    return o->nkinds || o->min_sev || o->app || o->broker_set;
}

/* ---- output ------------------------------------------------------------------------------------- */

enum { NCOL = 6 };                    /* time, sensor, severity, kind, client -> broker, summary */
struct row { char *cols[NCOL]; };
static struct row *rows;
static size_t nrows, caprows;
static const char *const heads[NCOL] = { "TIME (UTC)", "SENSOR", "SEVERITY", "KIND", "CLIENT -> BROKER", "SUMMARY" };
static const int fixed_w[NCOL - 1] = { 19, 12, 8, 21, 44 };  /* --follow, groups: rows come one by one */

static void out_check(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno == EPIPE) exit(0);                   /* the reader of our output went away */
        die("cannot write output: %s", strerror(errno));
    }
}

static void endpoint(char *out, size_t cap, const char *ip, json_int_t port)
{
    if (strchr(ip, ':')) snprintf(out, cap, "[%s]:%" JSON_INTEGER_FORMAT, ip, port);
    else snprintf(out, cap, "%s:%" JSON_INTEGER_FORMAT, ip, port);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_row(const struct opts *o, char *const cols[NCOL], const int w[NCOL - 1])
{
    for (int i = 0; i < NCOL - 1; i++) {
        if (i == 1 && !o->sensor_col) continue;
        printf("%-*s  ", w[i], cols[i]);
    }
    printf("%s\n", cols[NCOL - 1]);
}

static bool rows_now(const struct opts *o)
{
    return o->follow || o->group;     /* acknowledged entries must be on stdout already */
}

/* One alert: its JSON line as stored, or a table row (printed now when following or reading a
 * group, else kept for the aligned table). */
static void emit(const struct opts *o, const struct entry *e)
{
    if (!o->table) {
        fwrite(e->json, 1, e->jlen, stdout);
        fputc('\n', stdout);
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(e->json, e->jlen, 0, &jerr);
    char t[32] = "", flow[200] = "", a[80], b[80];
    snprintf(t, sizeof t, "%.19s", jstr(root, "timestamp"));
    if (strlen(t) > 10 && t[10] == 'T') t[10] = ' ';
    endpoint(a, sizeof a, jstr(root, "src_ip"), json_integer_value(json_object_get(root, "src_port")));
    endpoint(b, sizeof b, jstr(root, "dest_ip"), json_integer_value(json_object_get(root, "dest_port")));
    snprintf(flow, sizeof flow, "%s -> %s", a, b);
    json_t *al = json_object_get(root, "alert");
    const char *sensor = e->sensor ? e->sensor : jstr(root, "sensor");
    /* The word is the stream entry's field, else the record's alert.metadata.signature_severity
     * (alert.severity is EVE's integer, which cannot tell critical from high). */
    const char *sevword = json_string_value(
        json_array_get(json_object_get(json_object_get(al, "metadata"), "signature_severity"), 0));
    const char *vals[NCOL] = { t, *sensor ? sensor : "-", e->severity ? e->severity : sevword ? sevword : "",
                               e->kind ? e->kind : jstr(al, "kind"), flow, jstr(al, "summary") };
    struct row r;
    for (int i = 0; i < NCOL; i++) r.cols[i] = strdup(vals[i]);
    json_decref(root);
    for (int i = 0; i < NCOL; i++) if (!r.cols[i]) die("out of memory");
    if (rows_now(o)) {
        print_row(o, r.cols, fixed_w);
        for (int i = 0; i < NCOL; i++) free(r.cols[i]);
        return;
    }
    if (nrows == caprows) {
        caprows = caprows ? caprows * 2 : 256;
        rows = realloc(rows, caprows * sizeof *rows);
        if (!rows) die("out of memory");
    }
    rows[nrows++] = r;
}

static void flush_table(const struct opts *o)
{
    int w[NCOL - 1];
    for (int i = 0; i < NCOL - 1; i++) w[i] = (int)strlen(heads[i]);
    for (size_t k = 0; k < nrows; k++)
        for (int i = 0; i < NCOL - 1; i++)
            if ((int)strlen(rows[k].cols[i]) > w[i]) w[i] = (int)strlen(rows[k].cols[i]);
    if (nrows) print_row(o, (char *const *)heads, w);
    for (size_t k = 0; k < nrows; k++) {
        print_row(o, rows[k].cols, w);
        for (int i = 0; i < NCOL; i++) free(rows[k].cols[i]);
    }
    nrows = 0;
}

/* ---- the streams ------------------------------------------------------------------------------ */

struct src {
    char key[BW_REDIS_KEY_MAX];
    char sensor[256];                 /* "" for --stream and the stream of earlier versions */
    char cursor[64];                  /* where the next fetch starts (meaning depends on the mode) */
    char last[64];                    /* newest entry handled (where --follow goes on) */
    redisReply *page;                 /* owned; ents point into it */
    struct entry *ents;
    size_t n, i, cap;
    bool eof, fetched;
    bool down;                        /* --follow: its node does not answer now */
    const char *ack[PAGE];            /* entries of this page to acknowledge */
    size_t nack;
};

static struct src *srcs;
static size_t nsrcs, capsrcs;

static const char *hget(const redisReply *h, const char *k);

enum mode { M_FWD, M_REV, M_FOLLOW, M_GROUP_OWN, M_GROUP_NEW };

static bool any_stream;               /* some stream exists */

static struct src *add_src(const char *key, const char *sensor)
{
    for (size_t i = 0; i < nsrcs; i++)
        if (strcmp(srcs[i].key, key) == 0) return NULL;
    if (nsrcs == capsrcs) {
        capsrcs = capsrcs ? capsrcs * 2 : 16;
        srcs = realloc(srcs, capsrcs * sizeof *srcs);
        if (!srcs) die("out of memory");
    }
    struct src *s = &srcs[nsrcs++];
    memset(s, 0, sizeof *s);
    snprintf(s->key, sizeof s->key, "%s", key);
    snprintf(s->sensor, sizeof s->sensor, "%s", sensor);
    return s;
}

static void ack_page(const struct opts *o, struct src *s)
{
    if (!s->nack) return;
    out_check();                                     /* what is acknowledged is out first */
    const char *argv[3 + PAGE];
    argv[0] = "XACK";
    argv[1] = s->key;
    argv[2] = o->group;
    for (size_t i = 0; i < s->nack; i++) argv[3 + i] = s->ack[i];
    redisReply *r = rcmd(s->key, (int)(3 + s->nack), argv);
    check_error(r, "XACK", s->key);
    freeReplyObject(r);
    s->nack = 0;
}

static void drop_page(const struct opts *o, struct src *s)
{
    ack_page(o, s);
    if (s->page) freeReplyObject(s->page);
    s->page = NULL;
    s->n = s->i = 0;
}

/* Parse an array of entries (the reply r owns them) into s. */
static void take_entries(struct src *s, redisReply *r, const redisReply *list)
{
    s->page = r;
    s->n = s->i = 0;
    if (!list || list->type != REDIS_REPLY_ARRAY) return;
    if (list->elements > s->cap) {
        s->cap = list->elements;
        s->ents = realloc(s->ents, s->cap * sizeof *s->ents);
        if (!s->ents) die("out of memory");
    }
    for (size_t k = 0; k < list->elements; k++) {
        struct entry *e = &s->ents[s->n];
        int v = entry_of(list->element[k], e);
        if (v < 0) continue;
        if (v == 0) e->json = NULL;
        s->n++;
    }
}

static uint64_t printed, handled, left_pending;

/* How many entries one fetch asks for. A group read never takes more than --count still allows:
 * an entry read but not printed would stay pending on this consumer. */
static const char *page_size(const struct opts *o, enum mode m, char *buf, size_t cap)
{
    uint64_t n = PAGE;
    if (m == M_GROUP_NEW && o->count && o->count - printed < n) n = o->count - printed;
    snprintf(buf, cap, "%" PRIu64, n ? n : 1);
    return buf;
}

static void fetch(const struct opts *o, struct src *s, enum mode m)
{
    char page[24];
    page_size(o, m, page, sizeof page);
    redisReply *r;
    const redisReply *list = NULL;
    switch (m) {
    case M_FWD: case M_REV: {
        const char *argv[] = { m == M_FWD ? "XRANGE" : "XREVRANGE", s->key, s->cursor, m == M_FWD ? "+" : "-",
                               "COUNT", page };
        r = rcmd_or_skip(s->key, 6, argv, &s->down);
        if (!r) { take_entries(s, NULL, NULL); return; }
        check_error(r, argv[0], s->key);
        list = r;
        break;
    }
    case M_FOLLOW: {
        const char *argv[] = { "XREAD", "COUNT", page, "STREAMS", s->key, s->cursor };
        r = rcmd_or_skip(s->key, 6, argv, &s->down);
        if (!r) { take_entries(s, NULL, NULL); return; }
        check_error(r, "XREAD", s->key);
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->elements > 1) list = r->element[0]->element[1];
        break;
    }
    default: {
        const char *argv[] = { "XREADGROUP", "GROUP", o->group, o->consumer, "COUNT", page, "STREAMS", s->key,
                               m == M_GROUP_OWN ? s->cursor : ">" };
        r = rcmd_or_skip(s->key, 9, argv, &s->down);
        if (!r) { take_entries(s, NULL, NULL); return; }
        check_error(r, "XREADGROUP", s->key);
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->elements > 1) list = r->element[0]->element[1];
        break;
    }
    }
    take_entries(s, r, list);
    if (s->n) {
        const char *lastid = s->ents[s->n - 1].id;
        if (m == M_FWD || m == M_REV) snprintf(s->cursor, sizeof s->cursor, "(%s", lastid);
        else if (m != M_GROUP_NEW) snprintf(s->cursor, sizeof s->cursor, "%s", lastid);
        if (m == M_REV && !s->last[0]) snprintf(s->last, sizeof s->last, "%s", s->ents[0].id);
        any_stream = true;
    }
}

/* Newest-N (-n without --since) collects copies, printed oldest first at the end. */
struct kept { struct entry e; char *buf[8]; };
static struct kept *kept;
static size_t nkept, capkept;

static void keep_copy(const struct entry *e)
{
    if (nkept == capkept) {
        capkept = capkept ? capkept * 2 : 64;
        kept = realloc(kept, capkept * sizeof *kept);
        if (!kept) die("out of memory");
    }
    struct kept *k = &kept[nkept++];
    memset(k, 0, sizeof *k);
    k->e = *e;
    const char **f[] = { &k->e.sensor, &k->e.ts, &k->e.kind, &k->e.severity, &k->e.app, &k->e.dest_ip,
                         &k->e.dest_port };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (*f[i]) { k->buf[i] = strdup(*f[i]); if (!k->buf[i]) die("out of memory"); *f[i] = k->buf[i]; }
    k->buf[7] = malloc(e->jlen + 1);
    if (!k->buf[7]) die("out of memory");
    memcpy(k->buf[7], e->json, e->jlen);
    k->buf[7][e->jlen] = '\0';
    k->e.json = k->buf[7];
    k->e.id = NULL;
}

/* One entry, in merged order. False once --count is reached. */
static bool handle(const struct opts *o, struct src *s, const struct entry *e, enum mode m)
{
    bool group = m == M_GROUP_OWN || m == M_GROUP_NEW;
    handled++;
    if (!group && m != M_REV) snprintf(s->last, sizeof s->last, "%s", e->id);
    if (!e->json) {                                  /* gone from the stream: nothing to show, ever */
        if (group && s->nack < PAGE) s->ack[s->nack++] = e->id;
        return true;
    }
    bool ok = matches(o, e);
    if (ok) {
        if (m == M_REV) keep_copy(e);
        else emit(o, e);
        printed++;
    }
    if (group) {
        /* Printed: handled. Left out by the filters: another consumer's, unless told otherwise. */
        if ((ok || o->ack_filtered) && s->nack < PAGE) s->ack[s->nack++] = e->id;
        else if (!ok) left_pending++;
    }
    return !(o->count && printed >= o->count);
}

/* The capture time of the entry a group read of s would get next; false when there is none. */
static bool peek_next(const struct opts *o, struct src *s, char *ts, size_t cap)
{
    const char *xi[] = { "XINFO", "GROUPS", s->key };
    redisReply *g = rcmd(s->key, 3, xi);
    check_error(g, "XINFO GROUPS", s->key);
    char from[80] = "";
    for (size_t i = 0; g->type == REDIS_REPLY_ARRAY && i < g->elements; i++) {
        const redisReply *info = g->element[i];
        if (strcmp(hget(info, "name"), o->group) == 0) snprintf(from, sizeof from, "(%s", hget(info, "last-delivered-id"));
    }
    freeReplyObject(g);
    if (!from[0]) return false;
    const char *rg[] = { "XRANGE", s->key, from, "+", "COUNT", "1" };
    redisReply *r = rcmd(s->key, 6, rg);
    check_error(r, "XRANGE", s->key);
    struct entry e;
    bool found = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && entry_of(r->element[0], &e) >= 0;
    if (found) snprintf(ts, cap, "%s", e.json && e.ts ? e.ts : "");
    freeReplyObject(r);
    return found;
}

/* --count through a group over several streams: one entry at a time, from the stream whose next
 * entry is the oldest, so that no entry is taken that will not be printed. */
static bool group_counted(const struct opts *o)
{
    while (!stop) {
        struct src *best = NULL;
        char best_ts[40] = "", ts[40];
        for (size_t k = 0; k < nsrcs; k++)
            if (peek_next(o, &srcs[k], ts, sizeof ts) && (!best || strcmp(ts, best_ts) < 0)) {
                best = &srcs[k];
                snprintf(best_ts, sizeof best_ts, "%s", ts);
            }
        if (!best) break;
        fetch(o, best, M_GROUP_NEW);                 /* COUNT: what --count still allows */
        bool go = true;
        while (go && best->i < best->n) { const struct entry *e = &best->ents[best->i++]; go = handle(o, best, e, M_GROUP_NEW); }
        drop_page(o, best);
        if (!go) return false;
    }
    out_check();
    return true;
}

/* Read the sources in mode m and hand their entries over merged by capture time (oldest first;
 * newest first for M_REV), a page of each at a time, so memory stays bounded. one_page: one fetch
 * per source (a --follow round: merge what has arrived). Returns false once --count is reached. */
static bool run(const struct opts *o, enum mode m, bool one_page)
{
    bool go = true;
    if (m == M_GROUP_NEW && o->count && nsrcs > 1) return group_counted(o);
    for (size_t k = 0; k < nsrcs; k++) srcs[k].eof = srcs[k].fetched = false;
    while (go && !stop) {
        for (size_t k = 0; k < nsrcs; k++) {
            struct src *s = &srcs[k];
            if (s->eof || s->i < s->n) continue;
            drop_page(o, s);
            if (one_page && s->fetched) { s->eof = true; continue; }
            fetch(o, s, m);
            s->fetched = true;
            if (s->n == 0) s->eof = true;
        }
        struct src *best = NULL;
        for (size_t k = 0; k < nsrcs; k++) {
            struct src *s = &srcs[k];
            if (s->i >= s->n) continue;
            if (!best) { best = s; continue; }
            int c = strcmp(s->ents[s->i].ts ? s->ents[s->i].ts : "", best->ents[best->i].ts ? best->ents[best->i].ts : "");
            if (m == M_REV ? c > 0 : c < 0) best = s;
        }
        if (!best) break;
        const struct entry *e = &best->ents[best->i++];
        go = handle(o, best, e, m);
    }
    if (o->table && !rows_now(o)) flush_table(o);
    for (size_t k = 0; k < nsrcs; k++) drop_page(o, &srcs[k]);
    out_check();
    return go;
}

/* ---- finding the streams ---------------------------------------------------------------------- */

static bool sensor_wanted(const struct opts *o, const char *name)
{
    if (!o->nsensors) return true;
    for (size_t i = 0; i < o->nsensors; i++)
        if (strcmp(o->sensors[i], name) == 0) return true;
    return false;
}

/* The registered sensors (and their counters' hash); f(name, hash reply) for each. */
/* While following, looking for new sensors never waits for a node that is away: the next look
 * (DISCOVER_S later) will do. These commands then return NULL instead of waiting. */
static redisReply *dcmd(const char *key, int argc, const char **argv)
{
    return rcmd_or_skip(key, argc, argv, discovering_later ? &discovery_down : NULL);
}

static size_t registry(const struct opts *o, void (*f)(const struct opts *, const char *, double, void *), void *arg)
{
    const char *argv[] = { "ZRANGE", BW_REDIS_REGISTRY, "0", "-1", "WITHSCORES" };
    redisReply *z = dcmd(BW_REDIS_REGISTRY, 5, argv);
    if (!z) return 0;
    check_error(z, "ZRANGE", BW_REDIS_REGISTRY);
    size_t n = 0;
    for (size_t i = 0; z->type == REDIS_REPLY_ARRAY && i + 1 < z->elements; i += 2) {
        const char *name = z->element[i]->str;
        if (!bw_redis_sensor_name_ok(name) || !sensor_wanted(o, name)) continue;
        f(o, name, strtod(z->element[i + 1]->str, NULL), arg);
        n++;
    }
    freeReplyObject(z);
    return n;
}

static const char *hget(const redisReply *h, const char *k)
{
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (strcmp(h->element[i]->str, k) == 0) return h->element[i + 1]->str;
    return "";
}

/* How a source discovered while following starts: new entries from when following began (follow),
 * or everything (a group). */
static char follow_start[64];

static void src_begin(const struct opts *o, struct src *s, bool later);

static void add_sensor(const struct opts *o, const char *name, double score, void *arg)
{
    bool later = arg != NULL;
    char hkey[BW_REDIS_KEY_MAX], skey[BW_REDIS_KEY_MAX];
    (void)score;
    for (size_t i = 0; i < nsrcs; i++)
        if (strcmp(srcs[i].sensor, name) == 0) return;
    if (bw_redis_sensor_key(hkey, sizeof hkey, name, "sensor") != 0) return;
    const char *argv[] = { "HGET", hkey, "stream" };
    redisReply *r = dcmd(hkey, 3, argv);
    if (!r) return;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < sizeof skey) snprintf(skey, sizeof skey, "%s", r->str);
    else if (bw_redis_sensor_key(skey, sizeof skey, name, "alerts") != 0) { freeReplyObject(r); return; }
    freeReplyObject(r);
    struct src *s = add_src(skey, name);
    if (s && later) src_begin(o, s, true);
}

static bool is_stream(const char *key, bool *missing)
{
    const char *argv[] = { "TYPE", key };
    redisReply *t = dcmd(key, 2, argv);
    if (!t) { if (missing) *missing = false; return false; }
    check_error(t, "TYPE", key);
    bool none = t->type == REDIS_REPLY_STATUS && strcmp(t->str, "none") == 0;
    bool st = t->type == REDIS_REPLY_STATUS && strcmp(t->str, "stream") == 0;
    if (!none && !st) die("key '%s' holds a %s, not a stream", key, t->type == REDIS_REPLY_STATUS ? t->str : "?");
    freeReplyObject(t);
    if (missing) *missing = none;
    return st;
}

/* Every stream to read: --stream alone, or each registered sensor's (--sensor: some of them),
 * plus the single stream of earlier versions when it exists. later: while following. */
static void discover(const struct opts *o, bool later)
{
    if (o->stream) {
        if (!later) add_src(o->stream, "");
        return;
    }
    discovering_later = later;
    registry(o, add_sensor, later ? (void *)1 : NULL);
    if (!o->nsensors && is_stream(BW_REDIS_LEGACY_STREAM, NULL)) {
        struct src *s = add_src(BW_REDIS_LEGACY_STREAM, "");
        if (s && later) src_begin(o, s, true);
    }
    discovering_later = false;
}

/* ---- consumer group --------------------------------------------------------------------------- */

static void group_create(const struct opts *o, struct src *s)
{
    const char *start = o->since ? o->since_id : "0";
    const char *cg[] = { "XGROUP", "CREATE", s->key, o->group, start, "MKSTREAM" };
    redisReply *r = rcmd(s->key, 6, cg);
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) die("XGROUP CREATE %s failed: %s", s->key, r->str);
    freeReplyObject(r);
}

static void src_begin(const struct opts *o, struct src *s, bool later)
{
    if (o->group) {
        group_create(o, s);
        snprintf(s->cursor, sizeof s->cursor, "0");
    } else if (later) {
        /* a sensor that appeared while following: from --since, else from when following began */
        const char *from = o->since ? o->since_id : follow_start;
        snprintf(s->last, sizeof s->last, "%s", from);
        snprintf(s->cursor, sizeof s->cursor, "%s", from);
    }
}

/* Take over what other consumers left pending for --claim-idle ms, but only entries this reader
 * prints (or, with --ack-filtered, all of them): what a filtered reader would not print stays
 * where it is for a consumer that will. Each claimed entry is printed and acknowledged. */
static bool claim_src(const struct opts *o, struct src *s)
{
    char idle[32], start[70] = "-", page[16];
    snprintf(idle, sizeof idle, "%lld", o->claim_idle);
    snprintf(page, sizeof page, "%d", PAGE);
    bool pick_all = !has_filters(o) || o->ack_filtered;
    for (;;) {
        const char *argv[] = { "XPENDING", s->key, o->group, "IDLE", idle, start, "+", page };
        redisReply *p = rcmd(s->key, 8, argv);
        check_error(p, "XPENDING", s->key);
        if (p->type != REDIS_REPLY_ARRAY || p->elements == 0) { freeReplyObject(p); return true; }
        const char *ids[PAGE];
        size_t nids = 0;
        for (size_t i = 0; i < p->elements && nids < PAGE; i++) {
            const redisReply *e = p->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
            if (strcmp(e->element[1]->str, o->consumer) == 0) continue;     /* ours: the pending pass */
            bool take = pick_all;
            if (!take) {
                const char *rg[] = { "XRANGE", s->key, e->element[0]->str, e->element[0]->str };
                redisReply *x = rcmd(s->key, 4, rg);
                struct entry en;
                take = x->type != REDIS_REPLY_ARRAY || x->elements == 0 ||      /* gone: clear it */
                       entry_of(x->element[0], &en) != 1 || matches(o, &en);
                freeReplyObject(x);
            }
            if (take) ids[nids++] = e->element[0]->str;
            if (o->count && printed + nids >= o->count) break;   /* never claim what will not be printed */
        }
        snprintf(start, sizeof start, "(%s", p->element[p->elements - 1]->element[0]->str);
        bool last_page = p->elements < PAGE;
        if (nids) {
            const char *cl[5 + PAGE] = { "XCLAIM", s->key, o->group, o->consumer, idle };
            for (size_t i = 0; i < nids; i++) cl[5 + i] = ids[i];
            redisReply *c = rcmd(s->key, (int)(5 + nids), cl);
            check_error(c, "XCLAIM", s->key);
            take_entries(s, c, c);
            bool go = true;
            while (go && s->i < s->n) { const struct entry *e = &s->ents[s->i++]; go = handle(o, s, e, M_GROUP_OWN); }
            drop_page(o, s);
            if (!go) { freeReplyObject(p); return false; }
        }
        freeReplyObject(p);
        if (last_page || stop) return true;
    }
}

static bool claim_all(const struct opts *o)
{
    for (size_t k = 0; k < nsrcs; k++)
        if (!claim_src(o, &srcs[k])) return false;
    return true;
}

/* Own pending entries: read before and never acknowledged (the reader died, or the filters left
 * them out). Returns false once --count is reached. */
static bool own_pending(const struct opts *o)
{
    for (size_t k = 0; k < nsrcs; k++) snprintf(srcs[k].cursor, sizeof srcs[k].cursor, "0");
    return run(o, M_GROUP_OWN, false);
}

/* ---- reading --------------------------------------------------------------------------------- */

static void say_empty(const struct opts *o)
{
    if (printed) return;
    if (nsrcs == 0) {
        note("no sensor has written to Redis at %s yet (the registry %s is empty)%s", where, BW_REDIS_REGISTRY,
             o->follow ? "; waiting" : "");
    } else if (handled) {
        note("no alert matches the filters (%" PRIu64 " read)%s", handled, o->follow ? "; waiting for more" : "");
    } else if (o->stream && !any_stream) {
        bool missing;
        is_stream(o->stream, &missing);
        note("stream %s %s at %s%s", o->stream, missing ? "does not exist" : "is empty", where,
             o->follow ? "; waiting for alerts" : "");
    } else {
        note("no alerts%s in the streams of %zu source%s at %s%s", o->group ? " new for this consumer" : "", nsrcs,
             nsrcs == 1 ? "" : "s", where, o->follow ? "; waiting" : "");
    }
}

static void follow_loop(const struct opts *o)
{
    double next_discover = mono() + DISCOVER_S, next_claim = 0;
    unsigned seen_reconnects = reconnects;
    bool told = false;
    while (!stop) {
        uint64_t before = handled;
        if (!run(o, o->group ? M_GROUP_NEW : M_FOLLOW, true)) return;
        for (size_t k = 0; !o->group && k < nsrcs; k++)      /* XREAD goes on after what was handled */
            if (srcs[k].last[0]) snprintf(srcs[k].cursor, sizeof srcs[k].cursor, "%s", srcs[k].last);
        if (o->group && reconnects != seen_reconnects) {
            /* A reply lost with the connection may have made entries ours: read them again. */
            seen_reconnects = reconnects;
            if (!own_pending(o)) return;
        }
        double now = mono();
        if (o->group && o->claim_idle >= 0 && now >= next_claim) {
            if (!claim_all(o)) return;
            next_claim = now + (o->claim_idle > 2000 ? (double)o->claim_idle / 2000.0 : 1.0);
        }
        if (now >= next_discover) {
            discover(o, true);
            next_discover = now + DISCOVER_S;
        }
        if (!told && handled == 0) { say_empty(o); told = true; }
        if (handled == before) sleep_ms(POLL_MS);
    }
}

/* Where plain --follow starts on each stream: after its newest entry now. */
static void follow_from_now(void)
{
    for (size_t k = 0; k < nsrcs; k++) {
        struct src *s = &srcs[k];
        if (s->last[0]) continue;
        const char *argv[] = { "XREVRANGE", s->key, "+", "-", "COUNT", "1" };
        redisReply *r = rcmd(s->key, 6, argv);
        check_error(r, "XREVRANGE", s->key);
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
            r->element[0]->elements > 0)
            snprintf(s->last, sizeof s->last, "%s", r->element[0]->element[0]->str);
        else
            snprintf(s->last, sizeof s->last, "0-0");
        freeReplyObject(r);
    }
}

static void read_alerts(struct opts *o)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(follow_start, sizeof follow_start, "%lld-0", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    discover(o, false);
    if (o->stream) is_stream(o->stream, NULL);        /* a key of another type: say so, exit 1 */
    if (o->table && rows_now(o)) print_row(o, (char *const *)heads, fixed_w);   /* fixed widths */

    if (o->group) {
        for (size_t k = 0; k < nsrcs; k++) src_begin(o, &srcs[k], false);
        if (o->claim_idle >= 0 && !claim_all(o)) goto done;
        if (!own_pending(o)) goto done;
        if (o->follow) follow_loop(o);
        else run(o, M_GROUP_NEW, false);
        goto done;
    }
    uint64_t count = o->count;
    if (o->since) {
        for (size_t k = 0; k < nsrcs; k++) snprintf(srcs[k].cursor, sizeof srcs[k].cursor, "%s", o->since_id);
        run(o, M_FWD, false);
    } else if (o->count) {
        for (size_t k = 0; k < nsrcs; k++) snprintf(srcs[k].cursor, sizeof srcs[k].cursor, "+");
        run(o, M_REV, false);
        for (size_t i = nkept; i-- > 0;) emit(o, &kept[i].e);   /* oldest first */
        if (o->table && !rows_now(o)) flush_table(o);
        out_check();
    } else if (!o->follow) {
        for (size_t k = 0; k < nsrcs; k++) snprintf(srcs[k].cursor, sizeof srcs[k].cursor, "-");
        run(o, M_FWD, false);
    }
    if (o->follow) {
        o->count = 0;                                 /* --count bounds the history, not the follow */
        printed = 0;
        follow_from_now();
        for (size_t k = 0; k < nsrcs; k++) snprintf(srcs[k].cursor, sizeof srcs[k].cursor, "%s", srcs[k].last);
        follow_loop(o);
        o->count = count;
        return;
    }
done:
    if (!o->follow) say_empty(o);
    if (o->group && left_pending)
        note("%" PRIu64 " entries the filters left out stay pending for group %s (--ack-filtered acknowledges them)",
             left_pending, o->group);
}

/* ---- inventory ------------------------------------------------------------------------------- */

/* Merge one broker hash into acc (an object per broker): counters add up, lists join, the first
 * and last times widen, tls becomes "mixed" when sensors saw both. */
static void merge_broker(json_t *acc, const char *sensor, const redisReply *h)
{
    static const char *const sums[] = { "sessions", "auth_failures", "cleartext_credentials", "default_credentials" };
    static const char *const lists[] = { "versions", "mechanisms" };
    const char *ls = hget(h, "last_seen");
    const char *prev_ls = jstr(acc, "last_seen");
    bool newer = strcmp(ls, prev_ls) >= 0;
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
        json_int_t v = json_integer_value(json_object_get(acc, sums[i])) + strtoll(hget(h, sums[i]), NULL, 10);
        json_object_set_new(acc, sums[i], json_integer(v));
    }
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        json_t *set = json_object_get(acc, lists[i]);
        if (!set) { set = json_object(); json_object_set_new(acc, lists[i], set); }
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", hget(h, lists[i]));
        for (char *p = buf, *e; *p; p = e) {
            e = p + strcspn(p, ",");
            if (*e) *e++ = '\0';
            if (*p) json_object_set_new(set, p, json_true());
        }
    }
    const char *tls = hget(h, "tls");
    const char *cur = jstr(acc, "tls");
    if (!*cur) json_object_set_new(acc, "tls", json_string(tls));
    else if (*tls && strcmp(cur, tls) != 0) json_object_set_new(acc, "tls", json_string("mixed"));
    if (strcmp(hget(h, "anonymous_accepted"), "true") == 0 || !json_object_get(acc, "anonymous_accepted"))
        json_object_set_new(acc, "anonymous_accepted", json_string(hget(h, "anonymous_accepted")));
    const char *fs = hget(h, "first_seen");
    if (*fs && (!*jstr(acc, "first_seen") || strcmp(fs, jstr(acc, "first_seen")) < 0))
        json_object_set_new(acc, "first_seen", json_string(fs));
    if (newer) {
        json_object_set_new(acc, "last_seen", json_string(ls));
        json_object_set_new(acc, "app_proto", json_string(hget(h, "app_proto")));
        json_object_set_new(acc, "address", json_string(hget(h, "address")));
        if (*hget(h, "product") || !json_object_get(acc, "product"))
            json_object_set_new(acc, "product", json_string(hget(h, "product")));
        if (*hget(h, "version") || !json_object_get(acc, "version"))
            json_object_set_new(acc, "version", json_string(hget(h, "version")));
    }
    json_t *ss = json_object_get(acc, "sensors");
    if (!ss) { ss = json_array(); json_object_set_new(acc, "sensors", ss); }
    if (*sensor) json_array_append_new(ss, json_string(sensor));
}

static char *joined(json_t *set)
{
    /* jansson keeps insertion order; sort the keys for a stable list */
    size_t n = json_object_size(set), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) die("out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) keys[i++] = k;
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) { const char *t = keys[b]; keys[b] = keys[b - 1]; keys[b - 1] = t; }
    size_t len = 1, at = 0;
    for (i = 0; i < n; i++) len += strlen(keys[i]) + 1;
    char *out = calloc(1, len);
    if (!out) die("out of memory");
    for (i = 0; i < n; i++) {
        size_t l = strlen(keys[i]);
        if (i) out[at++] = ',';
        memcpy(out + at, keys[i], l);
        at += l;
    }
    out[at] = '\0';
    free(keys);
    return out;
}

struct inv { json_t *brokers; json_t *clients; json_t *order; };

/* One inventory: zset key + prefix of its broker hashes. */
static void read_inventory(const struct opts *o, struct inv *iv, const char *sensor, const char *zkey, const char *prefix)
{
    const char *argv[] = { "ZRANGE", zkey, "0", "-1" };
    redisReply *z = rcmd(zkey, 4, argv);
    check_error(z, "ZRANGE", zkey);
    for (size_t i = 0; z->type == REDIS_REPLY_ARRAY && i < z->elements; i++) {
        const char *member = z->element[i]->str;
        char key[BW_REDIS_KEY_MAX + 200], ckey[BW_REDIS_KEY_MAX + 210];
        snprintf(key, sizeof key, "%s%s", prefix, member);
        snprintf(ckey, sizeof ckey, "%s:clients", key);
        const char *hg[] = { "HGETALL", key };
        redisReply *h = rcmd(key, 2, hg);
        check_error(h, "HGETALL", key);
        if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) { freeReplyObject(h); continue; }
        /* filters that make sense for brokers: --broker, --app */
        const char *colon = strrchr(member, ':');
        char ip[64] = "";
        if (colon && (size_t)(colon - member) < sizeof ip) { memcpy(ip, member, (size_t)(colon - member)); ip[colon - member] = '\0'; }
        struct entry e = { .app = hget(h, "app_proto"), .dest_ip = ip, .dest_port = colon ? colon + 1 : "" };
        struct opts fo = *o;
        fo.nkinds = 0;
        fo.min_sev = 0;
        if (!matches(&fo, &e)) { freeReplyObject(h); continue; }
        json_t *acc = json_object_get(iv->brokers, member);
        if (!acc) {
            acc = json_object();
            json_object_set_new(iv->brokers, member, acc);
            json_object_set_new(iv->clients, member, json_object());
        }
        merge_broker(acc, *sensor ? sensor : hget(h, "sensor"), h);
        freeReplyObject(h);
        const char *sm[] = { "SMEMBERS", ckey };
        redisReply *c = rcmd(ckey, 2, sm);
        json_t *cs = json_object_get(iv->clients, member);
        for (size_t k = 0; c->type == REDIS_REPLY_ARRAY && k < c->elements; k++)
            json_object_set_new(cs, c->element[k]->str, json_true());
        freeReplyObject(c);
    }
    freeReplyObject(z);
}

static void inventory_of_sensor(const struct opts *o, const char *name, double score, void *arg)
{
    char zkey[BW_REDIS_KEY_MAX], prefix[BW_REDIS_KEY_MAX];
    (void)score;
    if (bw_redis_sensor_key(zkey, sizeof zkey, name, "brokers") != 0 ||
        bw_redis_sensor_key(prefix, sizeof prefix, name, "broker:") != 0)
        return;
    read_inventory(o, arg, name, zkey, prefix);
}

static int by_last_seen(const void *a, const void *b)
{
    json_t *const *x = a, *const *y = b;
    return -strcmp(jstr(*x, "last_seen"), jstr(*y, "last_seen"));
}

static void brokers(const struct opts *o)
{
    struct inv iv = { json_object(), json_object(), NULL };
    registry(o, inventory_of_sensor, &iv);
    /* the one inventory of earlier versions, merged in */
    if (!o->nsensors) read_inventory(o, &iv, "", "brokerwatch:brokers", "brokerwatch:broker:");
    size_t n = json_object_size(iv.brokers), i = 0;
    json_t **list = calloc(n ? n : 1, sizeof *list);
    if (!list) die("out of memory");
    const char *member;
    json_t *acc;
    json_object_foreach(iv.brokers, member, acc) {
        json_t *cs = json_object_get(iv.clients, member);
        json_object_set_new(acc, "clients", json_integer((json_int_t)json_object_size(cs)));
        list[i++] = acc;
    }
    qsort(list, n, sizeof *list, by_last_seen);
    static const char *const cols[] = { "BROKER", "PROTOCOL", "TLS", "ANONYMOUS", "CREDENTIALS SEEN",
                                        "FAILURES", "SESSIONS", "CLIENTS", "PRODUCT", "LAST SEEN (UTC)", "SENSORS" };
    enum { NC = 11 };
    char *(*tab)[NC] = calloc(n ? n : 1, sizeof *tab);
    if (!tab) die("out of memory");
    for (i = 0; i < n; i++) {
        json_t *b = list[i];
        char *versions = joined(json_object_get(b, "versions")), *mechs = joined(json_object_get(b, "mechanisms"));
        char sensors[1024] = "";
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(b, "sensors"), k, v) {
            size_t l = strlen(sensors);
            snprintf(sensors + l, sizeof sensors - l, "%s%s", l ? "," : "", json_string_value(v));
        }
        const char *tls = jstr(b, "tls"), *anon = jstr(b, "anonymous_accepted");
        json_int_t cc = json_integer_value(json_object_get(b, "cleartext_credentials"));
        json_int_t dc = json_integer_value(json_object_get(b, "default_credentials"));
        if (o->json) {
            json_t *obj = json_object();
            json_object_set_new(obj, "address", json_string(jstr(b, "address")));
            json_object_set_new(obj, "app_proto", json_string(jstr(b, "app_proto")));
            json_object_set_new(obj, "versions", json_string(versions));
            json_object_set_new(obj, "tls", strcmp(tls, "true") == 0 ? json_true() : strcmp(tls, "false") == 0 ? json_false() : json_string(tls));
            json_object_set_new(obj, "anonymous_accepted", json_boolean(strcmp(anon, "true") == 0));
            json_object_set_new(obj, "mechanisms", json_string(mechs));
            json_object_set_new(obj, "product", json_string(jstr(b, "product")));
            json_object_set_new(obj, "version", json_string(jstr(b, "version")));
            json_object_set_new(obj, "first_seen", json_string(jstr(b, "first_seen")));
            json_object_set_new(obj, "last_seen", json_string(jstr(b, "last_seen")));
            static const char *const nums[] = { "sessions", "clients", "auth_failures", "cleartext_credentials",
                                                "default_credentials" };
            for (size_t q = 0; q < sizeof nums / sizeof nums[0]; q++)
                json_object_set_new(obj, nums[q], json_integer(json_integer_value(json_object_get(b, nums[q]))));
            json_object_set(obj, "sensors", json_object_get(b, "sensors"));
            char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s) { puts(s); free(s); }
            json_decref(obj);
        } else {
            char buf[NC][1100];
            snprintf(buf[0], sizeof buf[0], "%s", jstr(b, "address"));
            snprintf(buf[1], sizeof buf[1], "%s%s%s", jstr(b, "app_proto"), *versions ? " " : "", versions);
            snprintf(buf[2], sizeof buf[2], "%s", strcmp(tls, "true") == 0 ? "yes" : strcmp(tls, "mixed") == 0 ? "mixed" : "no");
            snprintf(buf[3], sizeof buf[3], "%s", strcmp(anon, "true") == 0 ? "YES" : "no");
            if (cc == 0) snprintf(buf[4], sizeof buf[4], "no");
            else if (dc) snprintf(buf[4], sizeof buf[4], "cleartext x%" JSON_INTEGER_FORMAT ", default x%" JSON_INTEGER_FORMAT, cc, dc);
            else snprintf(buf[4], sizeof buf[4], "cleartext x%" JSON_INTEGER_FORMAT, cc);
            snprintf(buf[5], sizeof buf[5], "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(b, "auth_failures")));
            snprintf(buf[6], sizeof buf[6], "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(b, "sessions")));
            snprintf(buf[7], sizeof buf[7], "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(b, "clients")));
            snprintf(buf[8], sizeof buf[8], "%s%s%s", *jstr(b, "product") ? jstr(b, "product") : "-",
                     *jstr(b, "version") ? " " : "", jstr(b, "version"));
            snprintf(buf[9], sizeof buf[9], "%.19s", jstr(b, "last_seen"));
            if (strlen(buf[9]) > 10) buf[9][10] = ' ';
            snprintf(buf[10], sizeof buf[10], "%s", *sensors ? sensors : "-");
            for (int c = 0; c < NC; c++) { tab[i][c] = strdup(buf[c]); if (!tab[i][c]) die("out of memory"); }
        }
        free(versions);
        free(mechs);
    }
    if (!o->json && n) {
        int w[NC];
        for (int c = 0; c < NC; c++) w[c] = (int)strlen(cols[c]);
        for (i = 0; i < n; i++)
            for (int c = 0; c < NC; c++) if ((int)strlen(tab[i][c]) > w[c]) w[c] = (int)strlen(tab[i][c]);
        for (i = 0; i <= n; i++)
            for (int c = 0; c < NC; c++) {
                const char *v = i == 0 ? cols[c] : tab[i - 1][c];
                if (c == NC - 1) printf("%s\n", v);
                else printf("%-*s  ", w[c], v);
            }
    }
    for (i = 0; !o->json && i < n; i++) for (int c = 0; c < NC; c++) free(tab[i][c]);
    free(tab);
    free(list);
    json_decref(iv.brokers);
    json_decref(iv.clients);
    if (n == 0) note("no brokers in the inventory at %s", where);
    out_check();
}

/* ---- sensors -------------------------------------------------------------------------------- */

struct sensor_list { size_t n; double now; };

static void print_sensor(const struct opts *o, const char *name, double score, void *arg)
{
    struct sensor_list *sl = arg;
    char hkey[BW_REDIS_KEY_MAX];
    if (bw_redis_sensor_key(hkey, sizeof hkey, name, "sensor") != 0) return;
    const char *argv[] = { "HGETALL", hkey };
    redisReply *h = rcmd(hkey, 2, argv);
    check_error(h, "HGETALL", hkey);
    long long silent = (long long)(sl->now - score);
    if (silent < 0) silent = 0;
    static const char *const nums[] = { "packets", "alerts", "kernel_drops", "redis_backlog", "spool_records",
                                        "records_dropped" };
    if (o->json) {
        json_t *obj = json_object();
        json_object_set_new(obj, "sensor", json_string(name));
        json_object_set_new(obj, "last_seen", json_string(hget(h, "last_seen")));
        json_object_set_new(obj, "silent_s", json_integer(silent));
        json_object_set_new(obj, "version", json_string(hget(h, "version")));
        json_object_set_new(obj, "stream", json_string(hget(h, "stream")));
        for (size_t q = 0; q < sizeof nums / sizeof nums[0]; q++)
            json_object_set_new(obj, nums[q], json_integer(strtoll(hget(h, nums[q]), NULL, 10)));
        char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) { puts(s); free(s); }
        json_decref(obj);
    } else {
        if (sl->n == 0)
            printf("%-20s  %-19s  %8s  %12s  %8s  %12s  %s\n", "SENSOR", "LAST SEEN (UTC)", "SILENT", "PACKETS",
                   "ALERTS", "KERNEL DROPS", "WAITING (MEMORY+SPOOL)");
        char ls[32];
        snprintf(ls, sizeof ls, "%.19s", hget(h, "last_seen"));
        if (strlen(ls) > 10) ls[10] = ' ';
        char sil[24];
        snprintf(sil, sizeof sil, "%llds", silent);
        printf("%-20s  %-19s  %8s  %12s  %8s  %12s  %lld\n", name, *ls ? ls : "-", sil, hget(h, "packets"),
               hget(h, "alerts"), hget(h, "kernel_drops"),
               strtoll(hget(h, "redis_backlog"), NULL, 10) + strtoll(hget(h, "spool_records"), NULL, 10));
    }
    sl->n++;
    freeReplyObject(h);
}

static void sensors(const struct opts *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct sensor_list sl = { 0, (double)ts.tv_sec };
    registry(o, print_sensor, &sl);
    if (sl.n == 0) note("no sensor has written to Redis at %s yet (the registry %s is empty)", where, BW_REDIS_REGISTRY);
    out_check();
}

/* ---- main ------------------------------------------------------------------------------------ */

enum { O_REDIS = 256, O_STREAM, O_SINCE, O_KIND, O_SEV, O_BROKER, O_APP, O_JSON, O_TABLE, O_GROUP,
       O_CONSUMER, O_CLAIM, O_BROKERS, O_SENSOR, O_SENSORS, O_ACK_FILTERED };

static const struct option longopts[] = {
    { "redis", required_argument, NULL, O_REDIS },     { "stream", required_argument, NULL, O_STREAM },
    { "follow", no_argument, NULL, 'f' },              { "since", required_argument, NULL, O_SINCE },
    { "count", required_argument, NULL, 'n' },         { "kind", required_argument, NULL, O_KIND },
    { "severity", required_argument, NULL, O_SEV },    { "broker", required_argument, NULL, O_BROKER },
    { "app", required_argument, NULL, O_APP },         { "json", no_argument, NULL, O_JSON },
    { "table", no_argument, NULL, O_TABLE },           { "group", required_argument, NULL, O_GROUP },
    { "consumer", required_argument, NULL, O_CONSUMER }, { "claim-idle", required_argument, NULL, O_CLAIM },
    { "brokers", no_argument, NULL, O_BROKERS },       { "sensor", required_argument, NULL, O_SENSOR },
    { "sensors", no_argument, NULL, O_SENSORS },       { "ack-filtered", no_argument, NULL, O_ACK_FILTERED },
    { "help", no_argument, NULL, 'h' },                { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static int BW_PRINTF(1, 2) usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see " PROG " --help)\n", stderr);
    va_end(ap);
    return 2;
}

static void valid_kinds(char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int k = 0; k < BW_KIND_COUNT; k++) {
        int w = snprintf(out + n, cap - n, "%s%s", k ? ", " : "", bw_kind_name((enum bw_kind)k));
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
}

/* A comma list into kind or sensor names (each copied: they are short). */
static int comma_list(const char *arg, char (*buf)[256], size_t max, size_t *n, const char **out, bool kinds)
{
    for (const char *k = arg; *k;) {
        size_t l = strcspn(k, ",");
        char kinds_list[400];
        if (*n >= max) return usage("too many %s values", kinds ? "--kind" : "--sensor");
        if (l == 0 || l >= sizeof buf[0]) return usage("empty or too long %s in '%s'", kinds ? "--kind" : "--sensor", arg);
        memcpy(buf[*n], k, l);
        buf[*n][l] = '\0';
        if (kinds && bw_kind_parse(buf[*n]) < 0) {
            valid_kinds(kinds_list, sizeof kinds_list);
            return usage("unknown --kind '%s'; the kinds are %s", buf[*n], kinds_list);
        }
        if (!kinds && !bw_redis_sensor_name_ok(buf[*n])) return usage("--sensor '%s' cannot be a sensor name", buf[*n]);
        out[*n] = buf[*n];
        (*n)++;
        k += l;
        if (*k == ',') k++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct opts o;
    static char kind_buf[MAX_KINDS][256], sensor_buf[MAX_SENSORS][256];
    o.claim_idle = -1;
    o.url = getenv("BROKERWATCH_REDIS_URL");
    if (!o.url || !*o.url) o.url = "redis://127.0.0.1:6379";
    bool json_set = false, table_set = false;
    int opt, rc;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":fn:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case O_REDIS: o.url = optarg; break;
        case O_STREAM: if (!*optarg) return usage("--stream wants a key name"); o.stream = optarg; break;
        case 'f': o.follow = true; break;
        case O_SINCE: o.since = optarg; break;
        case 'n': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || !*optarg || *end || *optarg == '-' || v == 0) return usage("--count wants a positive number, not '%s'", optarg);
            o.count = v;
            break;
        }
        case O_KIND:
            if ((rc = comma_list(optarg, kind_buf, MAX_KINDS, &o.nkinds, o.kinds, true)) != 0) return rc;
            break;
        case O_SENSOR:
            if ((rc = comma_list(optarg, sensor_buf, MAX_SENSORS, &o.nsensors, o.sensors, false)) != 0) return rc;
            break;
        case O_SEV:
            o.min_sev = sev_rank(optarg);
            if (!o.min_sev) return usage("--severity wants low, medium, high or critical, not '%s'", optarg);
            break;
        case O_BROKER: if (!parse_broker(&o, optarg)) return usage("--broker wants IP, IP:PORT or [IPv6]:PORT, not '%s'", optarg); break;
        case O_APP:
            if (strcmp(optarg, "mqtt") != 0 && strcmp(optarg, "amqp") != 0) return usage("--app wants mqtt or amqp, not '%s'", optarg);
            o.app = optarg;
            break;
        case O_JSON: o.json = true; json_set = true; break;
        case O_TABLE: table_set = true; break;
        case O_GROUP: if (!*optarg) return usage("--group wants a name"); o.group = optarg; break;
        case O_CONSUMER: if (!*optarg) return usage("--consumer wants a name"); o.consumer = optarg; break;
        case O_CLAIM: {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || v < 0) return usage("--claim-idle wants milliseconds, not '%s'", optarg);
            o.claim_idle = v;
            break;
        }
        case O_BROKERS: o.brokers = true; break;
        case O_SENSORS: o.list_sensors = true; break;
        case O_ACK_FILTERED: o.ack_filtered = true; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf(PROG " %s\n", BW_VERSION); return 0;
        case ':': return usage("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt) { char s[3] = { '-', (char)optopt, 0 }; return usage("unknown option '%s'", s); }
            return usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return usage("unexpected argument '%s'", argv[optind]);
    if (json_set && table_set) return usage("give --json or --table, not both");
    if (!o.group != !o.consumer) return usage("--group and --consumer go together");
    if (o.claim_idle >= 0 && !o.group) return usage("--claim-idle needs --group and --consumer");
    if (o.ack_filtered && !o.group) return usage("--ack-filtered needs --group and --consumer");
    if (o.stream && o.nsensors) return usage("give --stream or --sensor, not both");
    if (o.brokers && (o.follow || o.group || o.since || o.stream || o.list_sensors))
        return usage("--brokers takes only --sensor, --broker, --app and --json");
    if (o.list_sensors && (o.follow || o.group || o.since || o.stream))
        return usage("--sensors takes only --sensor and --json");
    if (o.since && !parse_since(o.since, o.since_id, sizeof o.since_id))
        return usage("--since wants a stream ID (1700000000000-0) or a UTC time (2026-11-24T10:00:00Z), not '%s'", o.since);
    o.table = table_set || (!json_set && isatty(STDOUT_FILENO));
    o.json = !o.table;
    o.sensor_col = !o.stream && o.nsensors != 1;

    struct bw_redis_url url;
    char err[512];
    if (bw_redis_url_parse(o.url, &url, err, sizeof err) != 0) return usage("--redis: %s", err);
    bw_redis_url_env_password(&url, getenv(BW_REDIS_PASSWORD_ENV));
    for (int i = 1; i < argc; i++) bw_redis_url_scrub(argv[i]);   /* keep the password out of ps */
    bw_redis_url_describe(&url, where, sizeof where);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;                     /* no SA_RESTART: a blocked read returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rt = bw_redis_router_new(&url, BW_REDIS_AUTO, CONNECT_MS, COMMAND_MS);
    memset(url.password, 0, sizeof url.password);
    if (!rt) die("out of memory");
    /* Connect now: a refused connection or credentials are one line and exit 1, even with -f. */
    bool fatal;
    if (!bw_redis_router_conn(rt, 0, &fatal, err, sizeof err)) die("%s", err);
    keep_trying = o.follow;

    if (o.brokers) brokers(&o);
    else if (o.list_sensors) sensors(&o);
    else read_alerts(&o);
    out_check();
    bw_redis_router_free(rt);
    return 0;
}
