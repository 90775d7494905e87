/* alerts_main.c: brokerwatch-alerts, the reader of what the sensor's Redis sink writes
 * (docs/redis.md). Reads the alert stream (history, --follow with XREAD BLOCK, or a consumer
 * group with XACK and XAUTOCLAIM), filters on the entries' indexed fields, prints an aligned table
 * on a terminal and the sensor's own JSON lines otherwise; --brokers prints the broker inventory.
 * A separate program: it links bw_core only for the URL parser and the connect helper, and is
 * (with sensor/output/redis.c) the only other place that includes hiredis.
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
#include "bw_redis.h"

#define PROG "brokerwatch-alerts"
#define PAGE 500                      /* entries per XRANGE / XREAD / XREADGROUP call */
#define BLOCK_MS 1000                 /* XREAD BLOCK slice: Ctrl-C is seen within a second */
#define MAX_KINDS 16

struct opts {
    const char *url;
    const char *stream;
    bool follow, json, table, brokers;
    const char *since;
    uint64_t count;                   /* 0 = no limit */
    const char *kinds[MAX_KINDS];
    size_t nkinds;
    int min_sev;                      /* 0 = any */
    bool broker_set;
    uint8_t broker_ip[16];
    int broker_fam;
    uint32_t broker_port;             /* 0 = any */
    const char *app;
    const char *group, *consumer;
    long long claim_idle;             /* -1 = off */
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static const char usage_text[] =
"Usage: brokerwatch-alerts [options]\n"
"Read the alerts brokerwatch writes to Redis (docs/redis.md).\n"
"\n"
"      --redis URL        redis://[user:password@]host[:port][/db] or unix:///path\n"
"                         (default $BROKERWATCH_REDIS_URL or redis://127.0.0.1:6379);\n"
"                         password also from $BROKERWATCH_REDIS_PASSWORD\n"
"      --stream KEY       the alert stream (default brokerwatch:alerts)\n"
"  -f, --follow           keep reading new alerts as they arrive (XREAD BLOCK)\n"
"      --since ID|TIME    start at a stream entry ID, or at a UTC time such as\n"
"                         2026-11-24T10:00:00Z (when the alert reached Redis)\n"
"  -n, --count N          at most N alerts: the newest N, or the first N after --since\n"
"Filters:\n"
"      --kind KIND        only this kind (repeat, or a comma list)\n"
"      --severity LEVEL   at least low, medium, high or critical\n"
"      --broker IP[:PORT] only alerts about this broker ([v6]:port for IPv6 with a port)\n"
"      --app mqtt|amqp    only this protocol\n"
"Output:\n"
"      --json             JSON lines (the sensor's records), the default when not a terminal\n"
"      --table            an aligned table, the default on a terminal\n"
"      --brokers          print the broker inventory instead of alerts\n"
"Consumer groups (several readers share the work; each alert is acknowledged once printed):\n"
"      --group G --consumer C   read through group G as consumer C (XREADGROUP, XACK)\n"
"      --claim-idle MS    take over alerts another consumer left pending for MS ms (XAUTOCLAIM)\n"
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

static int sev_rank(const char *s)
{
    static const char *const names[] = { "low", "medium", "high", "critical" };
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i + 1;
    return 0;
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

static redisContext *c;

static redisReply *cmd(int argc, const char **argv)
{
    size_t lens[32];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        if (stop) exit(0);                             /* Ctrl-C while blocked */
        die("lost the connection to Redis: %s", c->errstr);
    }
    return r;
}

static void check_error(redisReply *r, const char *what)
{
    if (r->type == REDIS_REPLY_ERROR) die("%s failed: %s", what, r->str);
}

/* ---- one entry --------------------------------------------------------------------------------- */

struct entry {
    const char *id;
    const char *kind, *severity, *app, *dest_ip, *dest_port, *json;
    size_t jlen;
};

/* [id, [field, value, ...]] -> entry. False when the entry is gone (nil fields: trimmed). */
static bool entry_of(redisReply *e, struct entry *out)
{
    memset(out, 0, sizeof *out);
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
        return false;
    out->id = e->element[0]->str;
    redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (strcmp(k->str, "kind") == 0) out->kind = v->str;
        else if (strcmp(k->str, "severity") == 0) out->severity = v->str;
        else if (strcmp(k->str, "app_proto") == 0) out->app = v->str;
        else if (strcmp(k->str, "dest_ip") == 0) out->dest_ip = v->str;
        else if (strcmp(k->str, "dest_port") == 0) out->dest_port = v->str;
        else if (strcmp(k->str, "json") == 0) { out->json = v->str; out->jlen = v->len; }
    }
    return out->json != NULL;
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

/* ---- output ------------------------------------------------------------------------------------- */

struct row { char *cols[5]; };
static struct row *rows;
static size_t nrows, caprows;
static const char *const heads[5] = { "TIME (UTC)", "SEVERITY", "KIND", "CLIENT -> BROKER", "SUMMARY" };
static const int fixed_w[4] = { 19, 8, 21, 44 };        /* --follow: widths cannot wait for all rows */

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

static void print_row(char *const cols[5], const int w[4])
{
    printf("%-*s  %-*s  %-*s  %-*s  %s\n", w[0], cols[0], w[1], cols[1], w[2], cols[2], w[3], cols[3], cols[4]);
}

/* One alert: JSON line as stored, or a table row (printed now when following, else kept). */
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
    const char *ts = jstr(root, "timestamp");
    snprintf(t, sizeof t, "%.19s", ts);
    if (strlen(t) > 10 && t[10] == 'T') t[10] = ' ';
    endpoint(a, sizeof a, jstr(root, "src_ip"), json_integer_value(json_object_get(root, "src_port")));
    endpoint(b, sizeof b, jstr(root, "dest_ip"), json_integer_value(json_object_get(root, "dest_port")));
    snprintf(flow, sizeof flow, "%s -> %s", a, b);
    json_t *al = json_object_get(root, "alert");
    const char *vals[5] = { t, e->severity ? e->severity : jstr(al, "severity"), e->kind ? e->kind : jstr(al, "kind"),
                            flow, jstr(al, "summary") };
    struct row r;
    for (int i = 0; i < 5; i++) r.cols[i] = strdup(vals[i]);
    json_decref(root);
    for (int i = 0; i < 5; i++) if (!r.cols[i]) die("out of memory");
    if (o->follow) {
        print_row(r.cols, fixed_w);
        for (int i = 0; i < 5; i++) free(r.cols[i]);
        return;
    }
    if (nrows == caprows) {
        caprows = caprows ? caprows * 2 : 256;
        rows = realloc(rows, caprows * sizeof *rows);
        if (!rows) die("out of memory");
    }
    rows[nrows++] = r;
}

static void flush_table(bool reverse)
{
    int w[4];
    for (int i = 0; i < 4; i++) w[i] = (int)strlen(heads[i]);
    for (size_t k = 0; k < nrows; k++)
        for (int i = 0; i < 4; i++)
            if ((int)strlen(rows[k].cols[i]) > w[i]) w[i] = (int)strlen(rows[k].cols[i]);
    if (nrows) print_row((char *const *)heads, w);
    for (size_t k = 0; k < nrows; k++) {
        struct row *r = &rows[reverse ? nrows - 1 - k : k];
        print_row(r->cols, w);
        for (int i = 0; i < 5; i++) free(r->cols[i]);
    }
    nrows = 0;
}

/* ---- plain reading: XRANGE / XREVRANGE / XREAD ---------------------------------------------- */

/* Newest N matching: walk backwards. Returns the newest ID seen (for --follow) in last. */
static void read_newest(const struct opts *o, char *last, size_t cap)
{
    char end[64] = "+";
    uint64_t got = 0;
    bool first = true;
    redisReply **keep = NULL;               /* replies whose entries we print, newest first */
    struct entry *ents = NULL;
    size_t nkeep = 0, nents = 0, capents = 0;
    for (;;) {
        const char *argv[] = { "XREVRANGE", o->stream, end, "-", "COUNT", "500" };
        redisReply *r = cmd(6, argv);
        check_error(r, "XREVRANGE");
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) { freeReplyObject(r); break; }
        if (first && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0)
            snprintf(last, cap, "%s", r->element[0]->element[0]->str);
        first = false;
        bool used = false;
        for (size_t i = 0; i < r->elements && got < o->count; i++) {
            struct entry e;
            if (!entry_of(r->element[i], &e) || !matches(o, &e)) continue;
            if (nents == capents) {
                capents = capents ? capents * 2 : 256;
                ents = realloc(ents, capents * sizeof *ents);
                if (!ents) die("out of memory");
            }
            ents[nents++] = e;
            got++;
            used = true;
        }
        redisReply *lastel = r->element[r->elements - 1];
        snprintf(end, sizeof end, "(%s", lastel->element[0]->str);
        bool done = got >= o->count || r->elements < PAGE;
        if (used) {
            keep = realloc(keep, (nkeep + 1) * sizeof *keep);
            if (!keep) die("out of memory");
            keep[nkeep++] = r;
        } else {
            freeReplyObject(r);
        }
        if (done) break;
    }
    for (size_t i = nents; i-- > 0;) emit(o, &ents[i]);   /* oldest first */
    if (o->table && !o->follow) flush_table(false);
    out_check();
    for (size_t i = 0; i < nkeep; i++) freeReplyObject(keep[i]);
    free(keep);
    free(ents);
}

/* From `start` (inclusive) forwards, at most o->count matches (0 = all). */
static void read_from(const struct opts *o, const char *start, char *last, size_t cap)
{
    char from[64];
    uint64_t got = 0;
    snprintf(from, sizeof from, "%s", start);
    for (;;) {
        const char *argv[] = { "XRANGE", o->stream, from, "+", "COUNT", "500" };
        redisReply *r = cmd(6, argv);
        check_error(r, "XRANGE");
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) { freeReplyObject(r); break; }
        for (size_t i = 0; i < r->elements && (!o->count || got < o->count); i++) {
            struct entry e;
            if (r->element[i]->type == REDIS_REPLY_ARRAY && r->element[i]->elements > 0)
                snprintf(last, cap, "%s", r->element[i]->element[0]->str);
            if (!entry_of(r->element[i], &e) || !matches(o, &e)) continue;
            emit(o, &e);
            got++;
        }
        snprintf(from, sizeof from, "(%s", r->element[r->elements - 1]->element[0]->str);
        bool done = (o->count && got >= o->count) || r->elements < PAGE;
        freeReplyObject(r);
        if (!o->table || o->follow) out_check();
        if (done) break;
    }
    if (o->table && !o->follow) flush_table(false);
    out_check();
}

static void follow(const struct opts *o, const char *from)
{
    char last[64];
    uint64_t got = 0;
    snprintf(last, sizeof last, "%s", from);
    out_check();
    while (!stop) {
        char blk[16];
        snprintf(blk, sizeof blk, "%d", BLOCK_MS);
        const char *argv[] = { "XREAD", "COUNT", "500", "BLOCK", blk, "STREAMS", o->stream, last };
        redisReply *r = cmd(8, argv);
        check_error(r, "XREAD");
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
            redisReply *ents = r->element[0]->element[1];
            for (size_t i = 0; i < ents->elements; i++) {
                struct entry e;
                snprintf(last, sizeof last, "%s", ents->element[i]->element[0]->str);
                if (!entry_of(ents->element[i], &e) || !matches(o, &e)) continue;
                emit(o, &e);
                if (o->count && ++got >= o->count) { freeReplyObject(r); out_check(); return; }
            }
        }
        freeReplyObject(r);
        out_check();
    }
}

/* ---- consumer group ------------------------------------------------------------------------- */

static uint64_t group_done;

static void ack(const struct opts *o, const char **ids, size_t n)
{
    if (n == 0) return;
    const char *argv[3 + PAGE];
    argv[0] = "XACK";
    argv[1] = o->stream;
    argv[2] = o->group;
    for (size_t i = 0; i < n; i++) argv[3 + i] = ids[i];
    size_t lens[3 + PAGE];
    for (size_t i = 0; i < 3 + n; i++) lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(c, (int)(3 + n), argv, lens);
    if (!r) die("lost the connection to Redis: %s", c->errstr);
    check_error(r, "XACK");
    freeReplyObject(r);
}

/* Print what matches, then acknowledge every entry read (matching or not: it is handled), only
 * after the output reached stdout: a reader killed before printing leaves the entry pending for
 * XAUTOCLAIM. Returns false once --count is reached. */
static bool handle_group_entries(const struct opts *o, redisReply *ents)
{
    const char *ids[PAGE];
    size_t n = 0;
    bool more = true;
    for (size_t i = 0; i < ents->elements && n < PAGE; i++) {
        redisReply *el = ents->element[i];
        if (el->type != REDIS_REPLY_ARRAY || el->elements < 1) continue;
        struct entry e;
        ids[n++] = el->element[0]->str;
        if (entry_of(el, &e) && matches(o, &e)) {
            emit(o, &e);
            if (o->count && ++group_done >= o->count) { more = false; break; }
        }
    }
    if (o->table && !o->follow) flush_table(false);
    out_check();
    ack(o, ids, n);
    return more;
}

/* COUNT for the next group read: never take more than --count still allows, since whatever is
 * read but not printed would stay pending on this consumer. */
static const char *group_batch(const struct opts *o, char *buf, size_t cap)
{
    uint64_t n = PAGE;
    if (o->count && o->count - group_done < n) n = o->count - group_done;
    snprintf(buf, cap, "%" PRIu64, n);
    return buf;
}

static bool claim(const struct opts *o)
{
    char idle[32], cursor[64] = "0-0";
    snprintf(idle, sizeof idle, "%lld", o->claim_idle);
    do {
        char nb[24];
        const char *argv[] = { "XAUTOCLAIM", o->stream, o->group, o->consumer, idle, cursor, "COUNT",
                               group_batch(o, nb, sizeof nb) };
        redisReply *r = cmd(8, argv);
        check_error(r, "XAUTOCLAIM");
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) { freeReplyObject(r); return true; }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        bool more = handle_group_entries(o, r->element[1]);
        freeReplyObject(r);
        if (!more) return false;
    } while (strcmp(cursor, "0-0") != 0 && !stop);
    return true;
}

static void group_read(const struct opts *o)
{
    /* The group starts at --since, or at the beginning of the stream. */
    char start[64] = "0";
    if (o->since && !parse_since(o->since, start, sizeof start)) die("bad --since");
    const char *cg[] = { "XGROUP", "CREATE", o->stream, o->group, start, "MKSTREAM" };
    redisReply *r = cmd(6, cg);
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) die("XGROUP CREATE failed: %s", r->str);
    freeReplyObject(r);
    if (o->table && o->follow) print_row((char *const *)heads, fixed_w);

    if (o->claim_idle >= 0 && !claim(o)) return;
    /* Our own pending entries first (read before, never acknowledged: we died mid-way). */
    char from[64] = "0";
    for (;;) {
        char nb[24];
        const char *argv[] = { "XREADGROUP", "GROUP", o->group, o->consumer, "COUNT", group_batch(o, nb, sizeof nb),
                               "STREAMS", o->stream, from };
        r = cmd(9, argv);
        check_error(r, "XREADGROUP");
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->element[0]->element[1]->elements == 0) {
            freeReplyObject(r);
            break;
        }
        redisReply *ents = r->element[0]->element[1];
        snprintf(from, sizeof from, "%s", ents->element[ents->elements - 1]->element[0]->str);
        bool more = handle_group_entries(o, ents);
        freeReplyObject(r);
        if (!more) return;
    }
    double next_claim = 0;
    while (!stop) {
        char blk[16];
        snprintf(blk, sizeof blk, "%d", BLOCK_MS);
        char nb[24];
        const char *argv[] = { "XREADGROUP", "GROUP", o->group, o->consumer, "COUNT", group_batch(o, nb, sizeof nb),
                               "BLOCK", blk, "STREAMS", o->stream, ">" };
        int argc = 11;
        if (!o->follow) {                                   /* no BLOCK: stop when nothing is new */
            argv[6] = "STREAMS"; argv[7] = o->stream; argv[8] = ">";
            argc = 9;
        }
        r = cmd(argc, argv);
        check_error(r, "XREADGROUP");
        bool empty = r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->element[0]->element[1]->elements == 0;
        bool more = empty || handle_group_entries(o, r->element[0]->element[1]);
        freeReplyObject(r);
        if (!more) return;
        if (empty && !o->follow) return;
        if (o->follow && o->claim_idle >= 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
            if (now >= next_claim) {
                if (!claim(o)) return;
                next_claim = now + (o->claim_idle > 2000 ? (double)o->claim_idle / 2000.0 : 1.0);
            }
        }
    }
}

/* ---- inventory ------------------------------------------------------------------------------- */

static const char *hget(redisReply *h, const char *k)
{
    for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (strcmp(h->element[i]->str, k) == 0) return h->element[i + 1]->str;
    return "";
}

static void brokers(const struct opts *o)
{
    static const char *const numeric[] = { "sessions", "clients", "auth_failures", "cleartext_credentials",
                                            "default_credentials" };
    const char *argv[] = { "ZREVRANGE", "brokerwatch:brokers", "0", "-1" };
    redisReply *z = cmd(4, argv);
    check_error(z, "ZREVRANGE");
    static const char *const cols[] = { "BROKER", "PROTOCOL", "TLS", "ANONYMOUS", "CREDENTIALS SEEN",
                                        "FAILURES", "SESSIONS", "CLIENTS", "PRODUCT", "LAST SEEN (UTC)" };
    enum { NC = 10 };
    char *(*tab)[NC] = NULL;
    size_t n = 0;
    for (size_t i = 0; z->type == REDIS_REPLY_ARRAY && i < z->elements; i++) {
        char key[300];
        snprintf(key, sizeof key, "brokerwatch:broker:%s", z->element[i]->str);
        const char *hg[] = { "HGETALL", key };
        redisReply *h = cmd(2, hg);
        check_error(h, "HGETALL");
        if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) { freeReplyObject(h); continue; }
        /* filters that make sense for brokers: --broker, --app */
        const char *member = z->element[i]->str;
        const char *colon = strrchr(member, ':');
        char ip[64] = "";
        if (colon && (size_t)(colon - member) < sizeof ip) { memcpy(ip, member, (size_t)(colon - member)); ip[colon - member] = '\0'; }
        struct entry e = { .app = hget(h, "app_proto"), .dest_ip = ip, .dest_port = colon ? colon + 1 : "" };
        struct opts fo = *o;
        fo.nkinds = 0;
        fo.min_sev = 0;
        if (!matches(&fo, &e)) { freeReplyObject(h); continue; }
        if (o->json) {
            json_t *obj = json_object();
            for (size_t k = 0; k + 1 < h->elements; k += 2) {
                const char *f = h->element[k]->str, *v = h->element[k + 1]->str;
                bool num = false;
                for (size_t q = 0; q < sizeof numeric / sizeof numeric[0]; q++) num |= strcmp(f, numeric[q]) == 0;
                if (num) json_object_set_new(obj, f, json_integer(strtoll(v, NULL, 10)));
                else if (strcmp(f, "tls") == 0 || strcmp(f, "anonymous_accepted") == 0)
                    json_object_set_new(obj, f, strcmp(v, "true") == 0 ? json_true() : strcmp(v, "false") == 0 ? json_false() : json_string(v));
                else json_object_set_new(obj, f, json_string(v));
            }
            char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s) { puts(s); free(s); }
            json_decref(obj);
        } else {
            tab = realloc(tab, (n + 1) * sizeof *tab);
            if (!tab) die("out of memory");
            char buf[NC][200];
            const char *addr = hget(h, "address");
            snprintf(buf[0], sizeof buf[0], "%s", *addr ? addr : member);
            snprintf(buf[1], sizeof buf[1], "%s%s%s", hget(h, "app_proto"), *hget(h, "versions") ? " " : "",
                     hget(h, "versions"));                 /* no version known: TLS, midstream */
            snprintf(buf[2], sizeof buf[2], "%s", strcmp(hget(h, "tls"), "true") == 0 ? "yes" : strcmp(hget(h, "tls"), "mixed") == 0 ? "mixed" : "no");
            snprintf(buf[3], sizeof buf[3], "%s", strcmp(hget(h, "anonymous_accepted"), "true") == 0 ? "YES" : "no");
            long long cc = strtoll(hget(h, "cleartext_credentials"), NULL, 10);
            long long dc = strtoll(hget(h, "default_credentials"), NULL, 10);
            if (cc == 0) snprintf(buf[4], sizeof buf[4], "no");
            else if (dc) snprintf(buf[4], sizeof buf[4], "cleartext x%lld, default x%lld", cc, dc);
            else snprintf(buf[4], sizeof buf[4], "cleartext x%lld", cc);
            snprintf(buf[5], sizeof buf[5], "%s", *hget(h, "auth_failures") ? hget(h, "auth_failures") : "0");
            snprintf(buf[6], sizeof buf[6], "%s", hget(h, "sessions"));
            snprintf(buf[7], sizeof buf[7], "%s", hget(h, "clients"));
            snprintf(buf[8], sizeof buf[8], "%s%s%s", *hget(h, "product") ? hget(h, "product") : "-",
                     *hget(h, "version") ? " " : "", hget(h, "version"));
            snprintf(buf[9], sizeof buf[9], "%.19s", hget(h, "last_seen"));
            if (strlen(buf[9]) > 10) buf[9][10] = ' ';
            for (int k = 0; k < NC; k++) {
                tab[n][k] = strdup(buf[k]);
                if (!tab[n][k]) die("out of memory");
            }
            n++;
        }
        freeReplyObject(h);
    }
    freeReplyObject(z);
    if (!o->json && n) {
        int w[NC];
        for (int k = 0; k < NC; k++) w[k] = (int)strlen(cols[k]);
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < NC; k++) if ((int)strlen(tab[i][k]) > w[k]) w[k] = (int)strlen(tab[i][k]);
        for (size_t i = 0; i <= n; i++) {
            for (int k = 0; k < NC; k++) {
                const char *v = i == 0 ? cols[k] : tab[i - 1][k];
                if (k == NC - 1) printf("%s\n", v);
                else printf("%-*s  ", w[k], v);
            }
        }
        for (size_t i = 0; i < n; i++) for (int k = 0; k < NC; k++) free(tab[i][k]);
    }
    free(tab);
    if (n == 0 && !o->json && isatty(STDERR_FILENO)) fprintf(stderr, PROG ": no brokers in the inventory\n");
    out_check();
}

/* ---- main ------------------------------------------------------------------------------------ */

enum { O_REDIS = 256, O_STREAM, O_SINCE, O_KIND, O_SEV, O_BROKER, O_APP, O_JSON, O_TABLE, O_GROUP,
       O_CONSUMER, O_CLAIM, O_BROKERS };

static const struct option longopts[] = {
    { "redis", required_argument, NULL, O_REDIS },     { "stream", required_argument, NULL, O_STREAM },
    { "follow", no_argument, NULL, 'f' },              { "since", required_argument, NULL, O_SINCE },
    { "count", required_argument, NULL, 'n' },         { "kind", required_argument, NULL, O_KIND },
    { "severity", required_argument, NULL, O_SEV },    { "broker", required_argument, NULL, O_BROKER },
    { "app", required_argument, NULL, O_APP },         { "json", no_argument, NULL, O_JSON },
    { "table", no_argument, NULL, O_TABLE },           { "group", required_argument, NULL, O_GROUP },
    { "consumer", required_argument, NULL, O_CONSUMER }, { "claim-idle", required_argument, NULL, O_CLAIM },
    { "brokers", no_argument, NULL, O_BROKERS },       { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },             { NULL, 0, NULL, 0 },
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

static bool known_kind(const char *k)
{
    static const char *const kinds[] = { "plaintext_session", "anonymous_session", "cleartext_credentials",
                                         "default_credentials", "auth_failure", "bruteforce",
                                         "wildcard_subscribe", "weak_tls" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) if (strcmp(k, kinds[i]) == 0) return true;
    return false;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    o.stream = BW_REDIS_STREAM_DEFAULT;
    o.claim_idle = -1;
    o.url = getenv("BROKERWATCH_REDIS_URL");
    if (!o.url || !*o.url) o.url = "redis://127.0.0.1:6379";
    bool json_set = false, table_set = false;
    int opt;
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
        case O_KIND: {
            /* a comma list; each name is checked and copied (kinds are short) */
            static char kind_buf[MAX_KINDS][32];
            for (const char *k = optarg; *k;) {
                size_t l = strcspn(k, ",");
                if (o.nkinds >= MAX_KINDS) return usage("too many --kind values");
                if (l == 0 || l >= sizeof kind_buf[0]) return usage("unknown --kind '%.*s' (see docs/alerts.md)", (int)l, k);
                memcpy(kind_buf[o.nkinds], k, l);
                kind_buf[o.nkinds][l] = '\0';
                if (!known_kind(kind_buf[o.nkinds])) return usage("unknown --kind '%s' (see docs/alerts.md)", kind_buf[o.nkinds]);
                o.kinds[o.nkinds] = kind_buf[o.nkinds];
                o.nkinds++;
                k += l;
                if (*k == ',') k++;
            }
            break;
        }
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
    if (o.brokers && (o.follow || o.group || o.since)) return usage("--brokers takes only --broker, --app and --json");
    char since_id[64] = "";
    if (o.since && !parse_since(o.since, since_id, sizeof since_id))
        return usage("--since wants a stream ID (1700000000000-0) or a UTC time (2026-11-24T10:00:00Z), not '%s'", o.since);
    o.table = table_set || (!json_set && isatty(STDOUT_FILENO));
    o.json = !o.table;

    struct bw_redis_url url;
    char err[512];
    if (bw_redis_url_parse(o.url, &url, err, sizeof err) != 0) return usage("--redis: %s", err);
    bw_redis_url_env_password(&url, getenv(BW_REDIS_PASSWORD_ENV));
    for (int i = 1; i < argc; i++) bw_redis_url_scrub(argv[i]);   /* keep the password out of ps */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;                     /* no SA_RESTART: a blocked read returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    bool fatal;
    c = bw_redis_connect(&url, 3000, &fatal, err, sizeof err);
    memset(url.password, 0, sizeof url.password);
    if (!c) die("%s", err);
    /* Commands wait at most BLOCK_MS in Redis; allow that plus a margin before calling it dead. */
    struct timeval tv = { BLOCK_MS / 1000 + 10, 0 };
    redisSetTimeout(c, tv);

    if (o.brokers) {
        brokers(&o);
        redisFree(c);
        return 0;
    }
    const char *ty[] = { "TYPE", o.stream };
    redisReply *t = cmd(2, ty);
    if (t->type == REDIS_REPLY_STATUS && strcmp(t->str, "none") != 0 && strcmp(t->str, "stream") != 0)
        die("key '%s' holds a %s, not a stream", o.stream, t->str);
    freeReplyObject(t);

    if (o.group) {
        group_read(&o);
    } else {
        char last[64] = "$";
        if (o.table && o.follow) print_row((char *const *)heads, fixed_w);   /* widths fixed: rows come one by one */
        if (o.since) read_from(&o, since_id, last, sizeof last);
        else if (o.count) read_newest(&o, last, sizeof last);
        else if (!o.follow) read_from(&o, "-", last, sizeof last);
        if (o.follow) {
            struct opts fo = o;
            if (o.count) fo.count = 0;              /* --count bounds the history, not the follow */
            follow(&fo, last);
        }
    }
    out_check();
    redisFree(c);
    return 0;
}
