/* output/redis.c: records -> Redis (the sensor's alert stream, broker inventory, counters and stats
 * stream, all under the hash tag {SENSOR}). The capture thread's write() only copies the record
 * into a bounded memory queue and signals; a writer thread owns the connections (through the node
 * router of redis_cluster.c: one server or a Redis Cluster) and the spool, and sends pipelined
 * MULTI/EXEC batches (one at least every 100 ms while records wait) to the node serving the
 * sensor's slot. When Redis is down, slow or refuses writes, the writer moves the queue to the
 * on-disk spool (bw_spool.h) and keeps it in order: once anything is spooled, later records queue
 * behind it until the spool is drained. Each batch also stores the token of its last record in the
 * sensor hash, in the same transaction, so a batch whose reply was lost is recognized after
 * reconnecting (to the same node, or to the one a failover promoted) and not sent twice
 * (docs/redis.md: delivery guarantee). Reconnects at most once a second. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include "bw_alert.h"
#include "bw_redis.h"
#include "bw_spool.h"

#define BATCH_MAX        512            /* records per MULTI/EXEC */
#define BATCH_BYTES      (1u << 20)     /* ... and about this many bytes */
#define WAIT_S           0.1            /* live mode: a waiting record leaves within 100 ms */
#define RECONNECT_S      1.0            /* at most one connection attempt per second */
#define SPOOL_RETRY_S    1.0            /* after a failed spool write (disk full) */
#define STATS_EVERY_S    1.0            /* sensor hash refreshed at most this often */
#define DRAIN_S          10.0           /* at exit: keep delivering this long while Redis answers */
#define CONNECT_TIMEOUT_MS 1000
#define COMMAND_TIMEOUT_MS 5000
#define NFIELDS          10             /* header fields of a queued record, before the JSON */
#define REDIRECTS_MAX    5              /* MOVED/ASK in a row for one batch, then wait a second */
#define TRYAGAIN_S       0.1            /* a slot half migrated (mixed ASK, TRYAGAIN): wait this */
#define REGISTRY_EVERY_S 10.0           /* the registry's last-seen score, at most this often */
#define STATS_JSON_MAX   8192           /* the stats line kept for the stats stream */
#define RING_WRAP        0xFFFFFFFFu

/* ---- memory queue: a byte ring of [u32 len][type byte][data] entries --------------------------
 * One producer (capture thread, under mu) appends; one consumer (writer thread) reads entries in
 * place without the lock (the producer only writes into free space) and pops them under mu once
 * they are delivered or spooled. */
struct ring {
    uint8_t *buf;
    size_t   cap, head, tail;
    uint64_t count, bytes;               /* entries; payload bytes (for the stats) */
    uint64_t hwm;                        /* most payload bytes held at once */
};

static bool ring_put(struct ring *q, char type, const char *a, size_t alen, const char *b, size_t blen)
{
    uint32_t len = (uint32_t)(1 + alen + blen);
    size_t need = 4 + (size_t)len;
    size_t at;
    if (need > q->cap / 2) return false;
    if (q->count == 0) q->head = q->tail = 0;
    if (q->count > 0 && q->tail == q->head) return false;              /* exactly full */
    if (q->tail >= q->head) {
        if (q->cap - q->tail >= need) {
            at = q->tail;
        } else if (q->head >= need) {
            if (q->cap - q->tail >= 4) { uint32_t w = RING_WRAP; memcpy(q->buf + q->tail, &w, 4); }
            at = 0;
        } else {
            return false;
        }
    } else {
        if (q->head - q->tail < need) return false;
        at = q->tail;
    }
    memcpy(q->buf + at, &len, 4);
    q->buf[at + 4] = (uint8_t)type;
    memcpy(q->buf + at + 5, a, alen);
    memcpy(q->buf + at + 5 + alen, b, blen);
    q->tail = at + need;
    if (q->tail == q->cap) q->tail = 0;
    q->count++;
    q->bytes += len;
    if (q->bytes > q->hwm) q->hwm = q->bytes;
    return true;
}

/* Entry at *pos (an entry start, or a place where the writer wrapped): fills r, moves *pos on. */
static void ring_at(const struct ring *q, size_t *pos, struct bw_spool_rec *r)
{
    uint32_t len;
    size_t p = *pos;
    if (q->cap - p < 4) p = 0;
    memcpy(&len, q->buf + p, 4);
    if (len == RING_WRAP) { p = 0; memcpy(&len, q->buf + p, 4); }
    r->type = (char)q->buf[p + 4];
    r->data = (const char *)q->buf + p + 5;
    r->len = len - 1;
    p += 4 + (size_t)len;
    if (p == q->cap) p = 0;
    *pos = p;
}

/* ---- the sink --------------------------------------------------------------------------------- */

struct rsink {
    struct bw_sink base;                 /* first: the sink pointer is the struct pointer */
    struct bw_redis_sink_cfg cfg;        /* strings below are our own copies */
    char sensor[256], spool_dir[4096], where[300];
    /* The sensor's keys, all with the hash tag {SENSOR}: one cluster slot (docs/redis.md). */
    char stream[BW_REDIS_KEY_MAX];       /* alerts */
    char k_sensor[BW_REDIS_KEY_MAX];     /* hash: counters, last_seen, the delivery marker */
    char k_stats[BW_REDIS_KEY_MAX];      /* stream: stats pushes and the sensor's other events */
    char k_brokers[BW_REDIS_KEY_MAX];    /* sorted set of the brokers this sensor saw */
    char k_broker[BW_REDIS_KEY_MAX];     /* "brokerwatch:{S}:broker:" + ip:port = a broker's hash */
    uint16_t slot;                       /* the cluster slot of all of them */
    char runid[20];

    pthread_t thread;
    bool thread_started, drained;
    pthread_mutex_t mu;                  /* guards everything up to "writer thread only" */
    pthread_cond_t cv;                   /* wakes the writer: records, stats, stop */
    pthread_cond_t room;                 /* wakes a reading-from-file producer: queue space */
    bool stuck;                          /* the writer can neither deliver nor spool now */
    struct ring q;
    bool stop;
    uint64_t seq;
    uint64_t dropped_alerts, dropped_records;
    bool stats_dirty;
    struct bw_stats st;                  /* latest counters from stats() */
    char stats_json[STATS_JSON_MAX];     /* ... and their JSON line (stats_len 0: none fitted) */
    size_t stats_len;

    /* writer thread only (and open() before the thread starts) */
    struct bw_redis_router *rt;          /* single server or cluster: who serves which slot */
    redisContext *c;                     /* borrowed from rt: the node serving slot; NULL = down */
    char node[300];                      /* its description, for messages */
    struct bw_spool *spool;
    double next_connect, backoff_until, spool_retry_at, next_stats, last_spill, next_registry;
    bool ever_connected, outage_said, reject_said, spool_fail_said, drop_said, fatal_said;
    bool stop_connect_tried, cluster_said;
    bool need_resync;                    /* connected, but the marker not read yet: do not send */
    char last_token[48];                 /* last token Redis acknowledged (the marker) */
    uint64_t delivered_alerts, delivered_sessions, delivered_events, lost_alerts, lost_records, inventory_bad;
    char start_iso[32];
    int first_err;
    struct bw_spool_rec batch[BATCH_MAX];
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void wall_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    bw_format_ts((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u, out);
}

/* One line on stderr. Warnings (outages, recoveries) respect -q; errors (data at risk) do not. */
static void BW_PRINTF(3, 4) say(const struct rsink *r, bool error, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    if (!error && r->cfg.quiet) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "brokerwatch: redis: %s\n", line);
}

static void set_error(struct rsink *r, const char *fmt, ...) BW_PRINTF(2, 3);
static void set_error(struct rsink *r, const char *fmt, ...)
{
    va_list ap;
    if (r->first_err) return;
    r->first_err = BW_EIO;
    va_start(ap, fmt);
    vsnprintf(r->base.errmsg, sizeof r->base.errmsg, fmt, ap);
    va_end(ap);
}

static const char *wait_place(const struct rsink *r)
{
    return r->spool ? "in memory and in the spool" : "in memory (no --spool: lost if the queue fills or at exit)";
}

/* ---- connecting --------------------------------------------------------------------------------- */

static bool is_credentials_error(const char *s)
{
    return strncmp(s, "WRONGPASS", 9) == 0 || strstr(s, "invalid password") ||
           strstr(s, "invalid username-password") || strstr(s, "without any password configured") ||
           strncmp(s, "NOAUTH", 6) == 0 || strncmp(s, "NOPERM", 6) == 0;
}

struct redisContext *bw_redis_connect(const struct bw_redis_url *u, int timeout_ms, bool *fatal,
                                      char *err, size_t errlen)
{
    char where[300];
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisReply *rep = NULL;
    *fatal = false;
    bw_redis_url_describe(u, where, sizeof where);
    if (u->user[0] && !u->has_password) {
        *fatal = true;
        snprintf(err, errlen, "Redis user '%s' given without a password (put it in the URL or in %s)",
                 u->user, BW_REDIS_PASSWORD_ENV);
        return NULL;
    }
    redisContext *c = u->unix_socket ? redisConnectUnixWithTimeout(u->path, tv)
                                     : redisConnectWithTimeout(u->host, u->port, tv);
    if (!c) { snprintf(err, errlen, "cannot connect to Redis at %s: out of memory", where); return NULL; }
    if (c->err) {
        /* hiredis reports a failed name lookup as REDIS_ERR_OTHER, socket errors as IO */
        if (c->err == REDIS_ERR_OTHER && !u->unix_socket) {
            *fatal = true;
            snprintf(err, errlen, "cannot resolve Redis host '%s': %s", u->host, c->errstr);
        } else {
            snprintf(err, errlen, "cannot connect to Redis at %s: %s", where, c->errstr);
        }
        goto fail;
    }
    redisSetTimeout(c, tv);
    if (!u->unix_socket) redisEnableKeepAlive(c);
    if (u->has_password) {
        if (u->user[0]) rep = redisCommand(c, "AUTH %s %s", u->user, u->password);
        else rep = redisCommand(c, "AUTH %s", u->password);
        if (!rep) { snprintf(err, errlen, "Redis at %s: connection lost during AUTH: %s", where, c->errstr); goto fail; }
        if (rep->type == REDIS_REPLY_ERROR) {
            bool creds = is_credentials_error(rep->str);
            *fatal = creds || strncmp(rep->str, "LOADING", 7) != 0;
            if (creds)
                snprintf(err, errlen, "Redis at %s refused the credentials%s%s%s: %s", where,
                         u->user[0] ? " of user '" : "", u->user, u->user[0] ? "'" : "", rep->str);
            else
                snprintf(err, errlen, "Redis at %s: AUTH failed: %s", where, rep->str);
            goto fail;
        }
        freeReplyObject(rep);
    }
    if (u->db) {
        rep = redisCommand(c, "SELECT %u", u->db);
        if (!rep) { snprintf(err, errlen, "Redis at %s: connection lost: %s", where, c->errstr); goto fail; }
        if (rep->type == REDIS_REPLY_ERROR) {
            *fatal = strncmp(rep->str, "LOADING", 7) != 0;
            snprintf(err, errlen, "Redis at %s: cannot select database %u: %s", where, u->db, rep->str);
            goto fail;
        }
        freeReplyObject(rep);
    }
    rep = redisCommand(c, "PING");
    if (!rep) { snprintf(err, errlen, "Redis at %s: connection lost: %s", where, c->errstr); goto fail; }
    if (rep->type == REDIS_REPLY_ERROR) {
        if (strncmp(rep->str, "NOAUTH", 6) == 0) {
            *fatal = true;
            snprintf(err, errlen, "Redis at %s requires a password (give it in the URL or in %s)", where,
                     BW_REDIS_PASSWORD_ENV);
        } else {
            *fatal = is_credentials_error(rep->str);
            snprintf(err, errlen, "Redis at %s: %s", where, rep->str);
        }
        goto fail;
    }
    freeReplyObject(rep);
    return c;
fail:
    if (rep) freeReplyObject(rep);
    redisFree(c);
    return NULL;
}

/* ---- the inventory script ----------------------------------------------------------------------
 * KEYS: broker hash, brokers zset, broker's client set. ARGV (append_inventory): 1 member "ip:port",
 * 2 app_proto, 3 protocol version, 4 tls, 5 anonymous accepted, 6 mechanisms (comma list), 7-8 broker
 * product and version, 9-10 first/last seen, 11 last-seen score, 12 client ip, 13-15 auth failure /
 * cleartext credentials / default credentials (0/1), 16 sensor, 17 address for display. Merges one
 * session into the hash (lists as sorted comma lists; counters; first/last seen as ISO strings,
 * which compare like times). EVAL rather than EVALSHA: a SCRIPT FLUSH or a restarted Redis cannot
 * make a batch fail halfway (Redis caches the compiled script by its digest anyway). */
static const char inventory_lua[] =
"local h = KEYS[1]\n"
"local function merge(field, items)\n"
"  if items == '' then redis.call('HSETNX', h, field, '') return end\n"
"  local set, out = {}, {}\n"
"  local cur = redis.call('HGET', h, field)\n"
"  if cur then for v in string.gmatch(cur, '[^,]+') do set[v] = true end end\n"
"  for v in string.gmatch(items, '[^,]+') do set[v] = true end\n"
"  for v in pairs(set) do out[#out + 1] = v end\n"
"  table.sort(out)\n"
"  redis.call('HSET', h, field, table.concat(out, ','))\n"
"end\n"
"redis.call('HSET', h, 'address', ARGV[17], 'app_proto', ARGV[2])\n"
"merge('versions', ARGV[3])\n"
"local tls = redis.call('HGET', h, 'tls')\n"
"if tls and tls ~= ARGV[4] then redis.call('HSET', h, 'tls', 'mixed')\n"
"elseif not tls then redis.call('HSET', h, 'tls', ARGV[4]) end\n"
"if ARGV[5] == 'true' then redis.call('HSET', h, 'anonymous_accepted', 'true')\n"
"else redis.call('HSETNX', h, 'anonymous_accepted', 'false') end\n"
"merge('mechanisms', ARGV[6])\n"
"if ARGV[7] ~= '' then redis.call('HSET', h, 'product', ARGV[7]) else redis.call('HSETNX', h, 'product', '') end\n"
"if ARGV[8] ~= '' then redis.call('HSET', h, 'version', ARGV[8]) else redis.call('HSETNX', h, 'version', '') end\n"
"local fs = redis.call('HGET', h, 'first_seen')\n"
"if not fs or ARGV[9] < fs then redis.call('HSET', h, 'first_seen', ARGV[9]) end\n"
"local ls = redis.call('HGET', h, 'last_seen')\n"
"if not ls or ARGV[10] > ls then redis.call('HSET', h, 'last_seen', ARGV[10]) end\n"
"redis.call('HINCRBY', h, 'sessions', 1)\n"
"if ARGV[12] ~= '' then redis.call('SADD', KEYS[3], ARGV[12]) end\n"
"redis.call('HSET', h, 'clients', redis.call('SCARD', KEYS[3]))\n"
"redis.call('HINCRBY', h, 'auth_failures', tonumber(ARGV[13]))\n"
"redis.call('HINCRBY', h, 'cleartext_credentials', tonumber(ARGV[14]))\n"
"redis.call('HINCRBY', h, 'default_credentials', tonumber(ARGV[15]))\n"
"redis.call('HSET', h, 'sensor', ARGV[16])\n"
"local sc = redis.call('ZSCORE', KEYS[2], ARGV[1])\n"
"if not sc or tonumber(ARGV[11]) > tonumber(sc) then redis.call('ZADD', KEYS[2], ARGV[11], ARGV[1]) end\n"
"return 1\n";

/* A queued record split into its header fields and the JSON line. */
struct rec {
    char type;
    const char *f[NFIELDS];
    size_t fl[NFIELDS];
    const char *json;
    size_t jlen;
};
enum { F_TOKEN, F_EVENT, F_KIND, F_SEV, F_APP, F_SRC, F_SPORT, F_DST, F_DPORT, F_TS };

static bool rec_split(const struct bw_spool_rec *in, struct rec *r)
{
    const char *p = in->data, *end = in->data + in->len;
    r->type = in->type;
    for (int i = 0; i < NFIELDS; i++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (!tab) return false;
        r->f[i] = p;
        r->fl[i] = (size_t)(tab - p);
        p = tab + 1;
    }
    r->json = p;
    r->jlen = (size_t)(end - p);
    return r->fl[F_TOKEN] > 0 && r->fl[F_TOKEN] < 48;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static bool has_alert(json_t *alerts, const char *kind)
{
    size_t i;
    json_t *v;
    json_array_foreach(alerts, i, v) {
        const char *s = json_string_value(v);
        if (s && strcmp(s, kind) == 0) return true;
    }
    return false;
}

/* Append a comma list item: "," between items; commas inside an item become ';'. */
static void list_add(char *buf, size_t cap, const char *item)
{
    size_t n = strlen(buf);
    if (!*item) return;
    if (n && n + 1 < cap) buf[n++] = ',';
    for (const char *s = item; *s && n + 1 < cap; s++) buf[n++] = *s == ',' ? ';' : *s;
    buf[n] = '\0';
}

/* Append EVAL of the inventory script for one session record. Returns the number of commands
 * appended (0 when the record's JSON does not parse: counted, nothing to update). */
static int append_inventory(struct rsink *r, const struct rec *rc)
{
    json_error_t jerr;
    json_t *root = json_loadb(rc->json, rc->jlen, 0, &jerr);
    if (!root) { r->inventory_bad++; return 0; }
    char ip[64], member[128], addr[128], hkey[BW_REDIS_KEY_MAX + 128], ckey[BW_REDIS_KEY_MAX + 140];
    char score[48], ver[64], mech[512] = "", port[8];
    char t0[40], t1[40];
    const char *app = jstr(root, "app_proto");
    json_t *proto = json_object_get(root, app);
    json_t *alerts = json_object_get(root, "alerts");
    json_t *flow = json_object_get(root, "flow");
    snprintf(ip, sizeof ip, "%s", jstr(root, "dest_ip"));
    snprintf(port, sizeof port, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(root, "dest_port")));
    snprintf(member, sizeof member, "%s:%s", ip, port);
    if (strchr(ip, ':')) snprintf(addr, sizeof addr, "[%s]:%s", ip, port);   /* IPv6, for people */
    else snprintf(addr, sizeof addr, "%s", member);
    snprintf(hkey, sizeof hkey, "%s%s", r->k_broker, member);
    snprintf(ckey, sizeof ckey, "%s:clients", hkey);
    snprintf(ver, sizeof ver, "%s", jstr(proto, "protocol_version"));
    list_add(mech, sizeof mech, jstr(proto, "mechanism"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(proto, "mechanisms_offered"), i, v)
        if (json_is_string(v)) list_add(mech, sizeof mech, json_string_value(v));
    snprintf(t0, sizeof t0, "%s", *jstr(flow, "start") ? jstr(flow, "start") : jstr(root, "timestamp"));
    snprintf(t1, sizeof t1, "%s", *jstr(flow, "end") ? jstr(flow, "end") : jstr(root, "timestamp"));
    uint64_t ts = strtoull(rc->f[F_TS], NULL, 10);
    snprintf(score, sizeof score, "%" PRIu64 ".%06u", ts / 1000000u, (unsigned)(ts % 1000000u));
    char product[128], pversion[128];
    snprintf(product, sizeof product, "%s", jstr(proto, "broker_product"));
    snprintf(pversion, sizeof pversion, "%s", jstr(proto, "broker_version"));
    const char *argv[] = {
        "EVAL", inventory_lua, "3", hkey, r->k_brokers, ckey,
        member, app, ver, json_is_true(json_object_get(root, "encrypted")) ? "true" : "false",
        has_alert(alerts, "anonymous_session") ? "true" : "false", mech, product, pversion, t0, t1,
        score, jstr(root, "src_ip"),
        has_alert(alerts, "auth_failure") ? "1" : "0",
        has_alert(alerts, "cleartext_credentials") ? "1" : "0",
        has_alert(alerts, "default_credentials") ? "1" : "0",
        r->sensor, addr,
    };
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t k = 0; k < sizeof argv / sizeof argv[0]; k++) lens[k] = strlen(argv[k]);
    redisAppendCommandArgv(r->c, (int)(sizeof argv / sizeof argv[0]), argv, lens);
    json_decref(root);
    return 1;
}

/* The indexed fields of an alert's stream entry. They come from the record's metadata
 * (struct bw_record_meta, filled where the JSON is formatted) through the queue header written by
 * queue_header(): one derivation, so the fields always say what the JSON says. */
static int append_alert(struct rsink *r, const struct rec *rc)
{
    char maxlen[24], ts[32];
    snprintf(maxlen, sizeof maxlen, "%" PRIu64, r->cfg.maxlen);
    bw_format_ts(strtoull(rc->f[F_TS], NULL, 10), ts);
    const char *argv[28];
    size_t lens[28];
    int n = 0;
#define ARG(s, l) do { argv[n] = (s); lens[n] = (l); n++; } while (0)
#define ARGS(s) ARG((s), strlen(s))
    ARGS("XADD");
    ARGS(r->stream);
    if (r->cfg.maxlen) { ARGS("MAXLEN"); ARGS("~"); ARGS(maxlen); }
    ARGS("*");
    ARGS("sensor");    ARGS(r->sensor);
    ARGS("ts");        ARGS(ts);
    ARGS("kind");      ARG(rc->f[F_KIND], rc->fl[F_KIND]);
    ARGS("severity");  ARG(rc->f[F_SEV], rc->fl[F_SEV]);
    ARGS("app_proto"); ARG(rc->f[F_APP], rc->fl[F_APP]);
    ARGS("src_ip");    ARG(rc->f[F_SRC], rc->fl[F_SRC]);
    ARGS("dest_ip");   ARG(rc->f[F_DST], rc->fl[F_DST]);
    ARGS("dest_port"); ARG(rc->f[F_DPORT], rc->fl[F_DPORT]);
    ARGS("json");      ARG(rc->json, rc->jlen);
    redisAppendCommandArgv(r->c, n, argv, lens);
    if (!r->cfg.publish) return 1;
    n = 0;
    ARGS("PUBLISH");
    ARGS(BW_REDIS_CHANNEL);
    ARG(rc->json, rc->jlen);
    redisAppendCommandArgv(r->c, n, argv, lens);
    return 2;
}

/* Any other record (e.g. "capacity": a pool refused work) goes to the sensor's stats stream, the
 * place of its health, with its event type. */
static int append_event(struct rsink *r, const struct rec *rc)
{
    char maxlen[24], ts[32];
    snprintf(maxlen, sizeof maxlen, "%u", BW_REDIS_STATS_MAXLEN);
    bw_format_ts(strtoull(rc->f[F_TS], NULL, 10), ts);
    const char *argv[16];
    size_t lens[16];
    int n = 0;
    ARGS("XADD");
    ARGS(r->k_stats);
    ARGS("MAXLEN"); ARGS("~"); ARGS(maxlen);
    ARGS("*");
    ARGS("event_type"); ARG(rc->f[F_EVENT], rc->fl[F_EVENT]);
    ARGS("sensor");     ARGS(r->sensor);
    ARGS("ts");         ARGS(ts);
    ARGS("json");       ARG(rc->json, rc->jlen);
    redisAppendCommandArgv(r->c, n, argv, lens);
    return 1;
#undef ARG
#undef ARGS
}

/* ---- connections ------------------------------------------------------------------------------ */

/* The connection r->c failed (or c, an ASK target): close it; the writer reconnects (at most once
 * a second), to whichever node serves the slot by then. */
static void disconnect_c(struct rsink *r, redisContext *c, const char *why)
{
    if (!c) return;
    if (c == r->c) {
        if (!r->outage_said) {
            say(r, false, "lost the connection to %s (%s); capture goes on, alerts wait %s", r->node,
                why && *why ? why : "closed", wait_place(r));
            r->outage_said = true;
        }
        r->c = NULL;
        r->next_connect = mono() + RECONNECT_S;
    }
    bw_redis_router_broken(r->rt, c);
}

static void disconnect(struct rsink *r, const char *why)
{
    disconnect_c(r, r->c, why);
}

/* r->c now serves the slot: remember where, and say so when a failover or a reshard moved the
 * sensor's keys to another node. */
static void note_node(struct rsink *r)
{
    char node[300];
    bw_redis_router_describe(r->rt, r->c, node, sizeof node);
    if (r->ever_connected && strcmp(node, r->node) != 0)
        say(r, false, "%s now serves this sensor's keys (brokerwatch:{%s}:*, cluster slot %u)", node, r->sensor,
            (unsigned)r->slot);
    snprintf(r->node, sizeof r->node, "%s", node);
}

/* After a router call that may have closed connections (one to our node among them): take the
 * slot's connection again. False (and the outage said) when there is none now. */
static bool regain(struct rsink *r)
{
    bool fatal;
    char err[512];
    r->c = bw_redis_router_conn(r->rt, r->slot, &fatal, err, sizeof err);
    if (r->c) { note_node(r); return true; }
    if (!r->outage_said) {
        say(r, false, "lost the connection to %s (%s); capture goes on, alerts wait %s", r->node, err, wait_place(r));
        r->outage_said = true;
    }
    r->next_connect = mono() + RECONNECT_S;
    return false;
}

/* A MOVED reply: the slot has another owner (failover, reshard). Follow it. */
static bool moved(struct rsink *r, redisContext *c, const redisReply *rep)
{
    bool ask;
    uint16_t slot, port;
    char host[256];
    if (rep->type != REDIS_REPLY_ERROR || !bw_redis_redirect_parse(rep->str, &ask, &slot, host, sizeof host, &port) || ask)
        return false;
    bw_redis_router_redirect(r->rt, slot, c, host, port);
    if (c == r->c) r->c = NULL;
    return true;
}

/* One command about the sensor's keys on the node that serves them, following MOVED. NULL when
 * no connection answered (r->c is NULL then). lens NULL: C strings. */
static redisReply *sensor_command(struct rsink *r, int argc, const char **argv, const size_t *lens)
{
    size_t l[16];
    if (!lens) {
        for (int i = 0; i < argc && i < 16; i++) l[i] = strlen(argv[i]);
        lens = l;
    }
    for (int hop = 0; hop <= REDIRECTS_MAX; hop++) {
        if (!r->c && !regain(r)) return NULL;
        redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
        if (!rep) { disconnect(r, r->c->errstr); return NULL; }
        if (!moved(r, r->c, rep)) return rep;
        freeReplyObject(rep);
    }
    return NULL;                            /* redirected in circles: the caller tries later */
}

/* The registry (brokerwatch:sensors, in its own slot): this sensor, scored by the wall clock, so
 * readers find every sensor and a monitor sees which went silent. Best effort: the sensor's own
 * hash says the same, and the next push tries again. */
static void registry_touch(struct rsink *r)
{
    char score[32], err[512];
    bool fatal;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(score, sizeof score, "%lld", (long long)ts.tv_sec);
    const char *argv[] = { "ZADD", BW_REDIS_REGISTRY, score, r->sensor };
    size_t lens[] = { 4, strlen(BW_REDIS_REGISTRY), strlen(score), strlen(r->sensor) };
    redisReply *rep = bw_redis_router_command(r->rt, BW_REDIS_REGISTRY, 4, argv, lens, &fatal, err, sizeof err);
    if (rep) freeReplyObject(rep);
    r->next_registry = mono() + REGISTRY_EVERY_S;
    regain(r);
}

enum send_res { SENT, SEND_IO, SEND_REJECTED, SEND_MOVED, SEND_ASK };

struct redirect { uint16_t slot, port; char host[256]; };

/* One batch in one MULTI/EXEC on c (after ASKING when c is an ASK target), marker included.
 * Every queued command names the sensor's slot, so one node takes all or nothing. */
static enum send_res send_on(struct rsink *r, redisContext *c, bool asking, const struct bw_spool_rec *recs,
                             size_t n, uint64_t *alerts, uint64_t *sessions, uint64_t *events,
                             struct redirect *rd, char *firsterr, size_t errcap)
{
    struct rec rc;
    int queued = 0;
    const char *last = NULL;
    size_t last_len = 0;
    size_t nask = 0, nmoved = 0, nerr = 0;
    bool retry_soon = false;
    *alerts = *sessions = *events = 0;
    firsterr[0] = '\0';
    redisContext *saved = r->c;
    r->c = c;                                              /* the append_* helpers write to r->c */
    if (asking) redisAppendCommand(c, "ASKING");
    redisAppendCommand(c, "MULTI");
    for (size_t i = 0; i < n; i++) {
        if (!rec_split(&recs[i], &rc)) { r->inventory_bad++; continue; }   /* cannot happen: we wrote it */
        last = rc.f[F_TOKEN];
        last_len = rc.fl[F_TOKEN];
        if (rc.type == 'A') { queued += append_alert(r, &rc); (*alerts)++; }
        else if (rc.type == 'S') { queued += append_inventory(r, &rc); (*sessions)++; }
        else { queued += append_event(r, &rc); (*events)++; }
    }
    r->c = saved;
    if (last) {
        const char *argv[] = { "HSET", r->k_sensor, "last_delivered", last };
        size_t lens[] = { 4, strlen(r->k_sensor), 14, last_len };
        redisAppendCommandArgv(c, 4, argv, lens);
        queued++;
    }
    redisAppendCommand(c, "EXEC");

    redisReply *rep;
    for (int i = 0; i < queued + 1 + (asking ? 1 : 0); i++) {   /* ASKING, MULTI's +OK, each +QUEUED */
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) { disconnect_c(r, c, c->errstr); return SEND_IO; }
        if (rep->type == REDIS_REPLY_ERROR) {
            bool ask;
            if (bw_redis_redirect_parse(rep->str, &ask, &rd->slot, rd->host, sizeof rd->host, &rd->port)) {
                if (ask) nask++; else nmoved++;
            } else {
                nerr++;
                if (strncmp(rep->str, "TRYAGAIN", 8) == 0) retry_soon = true;
            }
            if (!firsterr[0]) snprintf(firsterr, errcap, "%s", rep->str);
        }
        freeReplyObject(rep);
    }
    if (redisGetReply(c, (void **)&rep) != REDIS_OK) { disconnect_c(r, c, c->errstr); return SEND_IO; }
    enum send_res res = SENT;
    if (rep->type == REDIS_REPLY_ERROR || rep->type != REDIS_REPLY_ARRAY) {
        /* EXECABORT: a command was refused when queued (OOM, MOVED, CLUSTERDOWN...): nothing was
         * applied. A MOVED means the slot has a new owner; an ASK for every command means the
         * whole slot's keys are at the importing node already; an ASK for some only, that the
         * slot is half migrated: wait for the migration to finish rather than split the batch. */
        if (!firsterr[0]) snprintf(firsterr, errcap, "%s", rep->type == REDIS_REPLY_ERROR ? rep->str : "transaction aborted");
        bool ask;
        if (!nmoved && !nask && rep->type == REDIS_REPLY_ERROR &&     /* EXEC itself redirected */
            bw_redis_redirect_parse(rep->str, &ask, &rd->slot, rd->host, sizeof rd->host, &rd->port)) {
            if (ask) nask = (size_t)queued; else nmoved = 1;
        }
        if (nmoved) res = SEND_MOVED;
        else if (nask && nask == (size_t)queued && !nerr) res = SEND_ASK;
        else { res = SEND_REJECTED; retry_soon |= nask > 0; }
    } else {
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *e = rep->element[i];
            if (e->type == REDIS_REPLY_ERROR) {
                if (!firsterr[0]) snprintf(firsterr, errcap, "%s", e->str);
                if (strncmp(e->str, "TRYAGAIN", 8) == 0) retry_soon = true;
                res = SEND_REJECTED;
            }
        }
        if (res == SEND_REJECTED) {
            /* Some commands ran (e.g. WRONGTYPE on one key): the batch will be sent again, so the
             * marker must not claim it. Duplicates of what did run are possible (docs/redis.md). */
            redisReply *u = r->last_token[0]
                ? redisCommand(c, "HSET %s last_delivered %s", r->k_sensor, r->last_token)
                : redisCommand(c, "HDEL %s last_delivered", r->k_sensor);
            if (u) freeReplyObject(u);
        }
    }
    freeReplyObject(rep);
    if (res == SEND_REJECTED) {
        if (!r->reject_said) {
            say(r, false, "%s refused a batch (%s); retrying every second, alerts wait %s", r->node,
                firsterr, wait_place(r));
            r->reject_said = true;
        }
        r->backoff_until = mono() + (retry_soon ? TRYAGAIN_S : RECONNECT_S);
        return SEND_REJECTED;
    }
    if (res == SENT && last) snprintf(r->last_token, sizeof r->last_token, "%.*s", (int)last_len, last);
    return res;
}

/* Deliver one batch to the node serving the slot, following MOVED (to the new owner) and ASK (to
 * the importing node, the whole batch after ASKING). */
static enum send_res send_batch(struct rsink *r, const struct bw_spool_rec *recs, size_t n,
                                uint64_t *alerts, uint64_t *sessions, uint64_t *events)
{
    redisContext *c = r->c;
    bool asking = false, fatal;
    struct redirect rd;
    char firsterr[256], err[512];
    for (int hop = 0; hop <= REDIRECTS_MAX; hop++) {
        enum send_res res = send_on(r, c, asking, recs, n, alerts, sessions, events, &rd, firsterr, sizeof firsterr);
        if (res == SENT || res == SEND_IO || res == SEND_REJECTED) {
            if (asking && res != SEND_IO) regain(r);      /* the ASK target may have been added */
            return res;
        }
        if (res == SEND_MOVED) {
            bw_redis_router_redirect(r->rt, rd.slot, c, rd.host, rd.port);
            if (!regain(r)) return SEND_IO;
            c = r->c;
            asking = false;
        } else {                                             /* SEND_ASK */
            c = bw_redis_router_conn_at(r->rt, c, rd.host, rd.port, &fatal, err, sizeof err);
            if (!regain(r)) return SEND_IO;
            if (!c) { r->backoff_until = mono() + TRYAGAIN_S; return SEND_REJECTED; }
            asking = true;
        }
    }
    /* The cluster keeps sending us around: it is being reconfigured. Wait a second. */
    if (!r->reject_said) {
        say(r, false, "%s keeps redirecting this sensor's keys (%s); retrying every second", r->node, firsterr);
        r->reject_said = true;
    }
    r->backoff_until = mono() + RECONNECT_S;
    return SEND_REJECTED;
}

/* After (re)connecting: did the batch in flight when the connection broke (or when the previous
 * run stopped) arrive? Redis holds the token of the last record it took; if that token is among
 * the next records waiting, everything up to it is already there. Nothing is delivered before
 * this has been answered: a node that refuses the question for now (a restarted cluster master
 * answers CLUSTERDOWN for its first seconds) is asked again, never taken as "no marker", which
 * would send that batch twice. */
static void resync(struct rsink *r)
{
    const char *argv[] = { "HGET", r->k_sensor, "last_delivered" };
    redisReply *rep = sensor_command(r, 3, argv, NULL);
    if (!rep) return;
    if (rep->type == REDIS_REPLY_ERROR) {
        if (!r->reject_said) {
            say(r, false, "%s refused to say what it took last (%s); retrying every second, alerts wait %s",
                r->node, rep->str, wait_place(r));
            r->reject_said = true;
        }
        freeReplyObject(rep);
        r->backoff_until = mono() + RECONNECT_S;
        return;
    }
    r->need_resync = false;
    char m[48] = "";
    if (rep->type == REDIS_REPLY_STRING && rep->len < sizeof m) memcpy(m, rep->str, rep->len + 1);
    freeReplyObject(rep);
    if (!m[0]) return;
    snprintf(r->last_token, sizeof r->last_token, "%s", m);
    size_t mlen = strlen(m), n = 0;
    struct rec rc;
    if (bw_spool_records(r->spool) > 0) {
        if (bw_spool_peek(r->spool, BATCH_MAX, BATCH_BYTES, r->batch, &n) != 0) return;
        for (size_t i = n; i-- > 0;) {
            if (rec_split(&r->batch[i], &rc) && rc.fl[F_TOKEN] == mlen && memcmp(rc.f[F_TOKEN], m, mlen) == 0) {
                for (size_t k = 0; k <= i; k++) {
                    if (r->batch[k].type == 'A') r->delivered_alerts++;
                    else if (r->batch[k].type == 'S') r->delivered_sessions++;
                    else r->delivered_events++;
                }
                if (bw_spool_consume(r->spool, i + 1) != 0) {}
                return;
            }
        }
        return;      /* the spool is older than the memory queue: not found there, not in the queue */
    }
    pthread_mutex_lock(&r->mu);
    size_t pos = r->q.head, cnt = r->q.count < BATCH_MAX ? (size_t)r->q.count : BATCH_MAX;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < cnt; i++) {
        struct bw_spool_rec e;
        ring_at(&r->q, &pos, &e);
        if (rec_split(&e, &rc) && rc.fl[F_TOKEN] == mlen && memcmp(rc.f[F_TOKEN], m, mlen) == 0) {
            /* entries 0..i are in Redis already */
            size_t p2 = r->q.head;
            pthread_mutex_lock(&r->mu);
            for (size_t k = 0; k <= i; k++) {
                struct bw_spool_rec d;
                ring_at(&r->q, &p2, &d);
                if (d.type == 'A') r->delivered_alerts++;
                else if (d.type == 'S') r->delivered_sessions++;
                else r->delivered_events++;
                r->q.bytes -= d.len + 1;
            }
            r->q.head = p2;
            r->q.count -= i + 1;
            pthread_cond_broadcast(&r->room);
            pthread_mutex_unlock(&r->mu);
            return;
        }
    }
}

/* Connect; on a fatal error (credentials...) say it once. Returns true when connected. */
static bool try_connect(struct rsink *r, bool at_start, bool *fatal, char *err, size_t errlen)
{
    r->next_connect = mono() + RECONNECT_S;
    r->c = bw_redis_router_conn(r->rt, r->slot, fatal, err, errlen);
    if (!r->c) return false;
    note_node(r);
    if (bw_redis_router_is_cluster(r->rt)) {
        /* A --redis-stream of another slot could not share the sensor's transactions. */
        if (bw_redis_key_slot(r->stream, strlen(r->stream)) != r->slot) {
            snprintf(err, errlen, "Redis at %.100s is a cluster and --redis-stream '%.100s' is not in the slot of "
                     "this sensor's keys; give it their hash tag, e.g. '%.100s:{%.60s}'", r->where, r->stream,
                     r->stream, r->sensor);
            *fatal = true;
            r->c = NULL;
            return false;
        }
        if (!r->cluster_said) {
            say(r, false, "Redis at %s is a cluster; this sensor's keys (brokerwatch:{%s}:*, slot %u) are on %s",
                r->where, r->sensor, (unsigned)r->slot, r->node);
            r->cluster_said = true;
        }
    }
    /* A stream key of another type would refuse every XADD: say so now. */
    const char *ty[] = { "TYPE", r->stream };
    redisReply *rep = sensor_command(r, 2, ty, NULL);
    if (!rep) { snprintf(err, errlen, "connection lost: %s", r->node); return false; }
    if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "none") != 0 && strcmp(rep->str, "stream") != 0) {
        snprintf(err, errlen, "key '%.200s' at %.200s holds a %.20s, not a stream (choose another --redis-stream)",
                 r->stream, r->where, rep->str);
        *fatal = true;
        freeReplyObject(rep);
        r->c = NULL;
        return false;
    }
    freeReplyObject(rep);
    /* Readers find the sensor (and its stream) before its first alert. */
    const char *hs[] = { "HSET", r->k_sensor, "sensor", r->sensor, "version", BW_VERSION, "start_time",
                         r->start_iso, "stream", r->stream };
    rep = sensor_command(r, 10, hs, NULL);
    if (!rep) { snprintf(err, errlen, "connection lost: %s", r->node); return false; }
    freeReplyObject(rep);
    registry_touch(r);
    if (!r->c) { snprintf(err, errlen, "connection lost after connecting"); return false; }
    r->reject_said = false;
    r->need_resync = true;
    resync(r);
    if (!r->c) { snprintf(err, errlen, "connection lost after connecting"); return false; }
    if (!at_start && (r->outage_said || r->fatal_said)) {
        pthread_mutex_lock(&r->mu);
        uint64_t waiting = r->q.count;
        pthread_mutex_unlock(&r->mu);
        say(r, false, "connected to %s again; delivering %" PRIu64 " waiting records in order", r->node,
            waiting + bw_spool_records(r->spool));
    }
    r->outage_said = r->fatal_said = false;
    r->ever_connected = true;
    return true;
}

/* The n oldest records (bytes of payload, ending at ring offset end) left the memory queue:
 * delivered or spooled. Wakes a capture thread waiting for room. */
static void queue_release(struct rsink *r, size_t end, size_t n, size_t bytes)
{
    pthread_mutex_lock(&r->mu);
    r->q.head = end;
    r->q.count -= n;
    r->q.bytes -= bytes + n;
    if (r->q.count == 0) r->q.head = r->q.tail = 0;
    pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&r->mu);
}
/* Move every queued record to the spool, oldest first, one synced append per chunk. */
static void spill(struct rsink *r)
{
    if (!r->spool) return;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        size_t pos = r->q.head, cnt = r->q.count < BATCH_MAX ? (size_t)r->q.count : BATCH_MAX;
        pthread_mutex_unlock(&r->mu);
        if (cnt == 0) return;
        size_t n = 0, bytes = 0;
        size_t end = pos;
        while (n < cnt && (n == 0 || bytes < BATCH_BYTES)) {
            ring_at(&r->q, &end, &r->batch[n]);
            bytes += r->batch[n].len;
            n++;
        }
        if (bw_spool_append(r->spool, r->batch, n) != 0) {
            if (!r->spool_fail_said) {
                say(r, true, "cannot write to spool %s: %s; alerts now wait in memory only (%zu bytes), "
                    "beyond that they are dropped", r->spool_dir, strerror(bw_spool_errno(r->spool)),
                    r->q.cap);
                r->spool_fail_said = true;
            }
            r->spool_retry_at = mono() + SPOOL_RETRY_S;
            return;
        }
        if (r->spool_fail_said) {
            say(r, false, "spool %s is writable again", r->spool_dir);
            r->spool_fail_said = false;
        }
        queue_release(r, end, n, bytes);
    }
}

/* Deliver one batch: from the spool while it holds anything, else from the memory queue. */
static void deliver(struct rsink *r)
{
    if (r->need_resync) {
        resync(r);
        if (r->need_resync) return;
    }
    size_t n = 0;
    bool from_spool = bw_spool_records(r->spool) > 0;
    size_t end = 0, bytes = 0;
    if (from_spool) {
        if (bw_spool_peek(r->spool, BATCH_MAX, BATCH_BYTES, r->batch, &n) != 0 || n == 0) {
            if (n == 0 && bw_spool_records(r->spool) > 0 && !r->spool_fail_said) {
                say(r, true, "cannot read spool %s: %s", r->spool_dir, strerror(bw_spool_errno(r->spool)));
                r->spool_fail_said = true;
            }
            r->backoff_until = mono() + SPOOL_RETRY_S;
            return;
        }
    } else {
        pthread_mutex_lock(&r->mu);
        size_t cnt = r->q.count < BATCH_MAX ? (size_t)r->q.count : BATCH_MAX;
        end = r->q.head;
        pthread_mutex_unlock(&r->mu);
        while (n < cnt && (n == 0 || bytes < BATCH_BYTES)) {
            ring_at(&r->q, &end, &r->batch[n]);
            bytes += r->batch[n].len;
            n++;
        }
    }
    if (n == 0) return;
    uint64_t a, s, e;
    if (send_batch(r, r->batch, n, &a, &s, &e) != SENT) return;
    if (r->reject_said) {
        say(r, false, "%s takes writes again", r->node);
        r->reject_said = false;
    }
    r->delivered_alerts += a;
    r->delivered_sessions += s;
    r->delivered_events += e;
    if (from_spool) {
        if (bw_spool_consume(r->spool, n) != 0 && !r->spool_fail_said) {
            say(r, true, "cannot update spool %s: %s", r->spool_dir, strerror(bw_spool_errno(r->spool)));
            r->spool_fail_said = true;
        }
    } else {
        queue_release(r, end, n, bytes);
    }
}

/* The latest counters: the sensor hash (with last_seen, the wall clock of this push: a monitor
 * alarms when it stops moving) and one entry of the stats stream. Written directly, never queued
 * or spooled: they are the sensor's state now, and an old one delivered late would only make a
 * silent sensor look alive. */
static void push_stats(struct rsink *r)
{
    struct bw_stats st;
    uint64_t backlog, backlog_bytes, dropped;
    char json[STATS_JSON_MAX];
    size_t jlen;
    pthread_mutex_lock(&r->mu);
    st = r->st;
    r->stats_dirty = false;
    backlog = r->q.count;
    backlog_bytes = r->q.bytes;
    dropped = r->dropped_records;
    jlen = r->stats_len;
    memcpy(json, r->stats_json, jlen);
    pthread_mutex_unlock(&r->mu);
    r->next_stats = mono() + STATS_EVERY_S;
    char now[32], cap0[32], cap1[32];
    wall_iso(now);
    bw_format_ts(st.start_us, cap0);
    bw_format_ts(st.now_us, cap1);
    char v[16][32];
    uint64_t nums[] = {
        st.pipe.packets, st.pipe.bytes, st.kernel.dropped, st.flow.flows_created, st.flow.flows_active,
        st.pipe.alerts, st.pipe.brokers_sessions, backlog, backlog_bytes, bw_spool_records(r->spool),
        bw_spool_alerts(r->spool), bw_spool_bytes(r->spool), r->delivered_alerts, dropped,
    };
    static const char *const names[] = {
        "packets", "bytes", "kernel_drops", "flows", "flows_active", "alerts", "broker_sessions",
        "redis_backlog", "redis_backlog_bytes", "spool_records", "spool_alerts", "spool_bytes",
        "alerts_delivered", "records_dropped",
    };
    const char *argv[2 + 2 * 24];
    size_t lens[2 + 2 * 24];
    int n = 0;
    argv[n++] = "HSET";
    argv[n++] = r->k_sensor;
    argv[n++] = "sensor";        argv[n++] = r->sensor;
    argv[n++] = "version";       argv[n++] = BW_VERSION;
    argv[n++] = "start_time";    argv[n++] = r->start_iso;
    argv[n++] = "last_seen";     argv[n++] = now;
    argv[n++] = "stream";        argv[n++] = r->stream;
    argv[n++] = "capture_start"; argv[n++] = st.start_us ? cap0 : "";
    argv[n++] = "capture_time";  argv[n++] = st.now_us ? cap1 : "";
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(v[i], sizeof v[i], "%" PRIu64, nums[i]);
        argv[n++] = names[i];
        argv[n++] = v[i];
    }
    for (int i = 0; i < n; i++) lens[i] = strlen(argv[i]);
    redisReply *rep = NULL;
    for (int hop = 0; hop <= REDIRECTS_MAX && !rep; hop++) {
        if (!r->c && !regain(r)) return;
        rep = redisCommandArgv(r->c, n, argv, lens);
        if (!rep) { disconnect(r, r->c->errstr); return; }
        if (moved(r, r->c, rep)) { freeReplyObject(rep); rep = NULL; }
    }
    if (!rep) return;
    freeReplyObject(rep);
    if (jlen) {
        char maxlen[24];
        snprintf(maxlen, sizeof maxlen, "%u", BW_REDIS_STATS_MAXLEN);
        const char *xa[] = { "XADD", r->k_stats, "MAXLEN", "~", maxlen, "*", "event_type", "stats",
                             "sensor", r->sensor, "ts", st.now_us ? cap1 : now, "last_seen", now, "json", json };
        size_t xl[16];
        for (int i = 0; i < 16; i++) xl[i] = strlen(xa[i]);
        xl[15] = jlen;
        rep = sensor_command(r, 16, xa, xl);
        if (rep) freeReplyObject(rep);
        if (!r->c) return;
    }
    if (mono() >= r->next_registry) registry_touch(r);
}

static void *writer_main(void *arg)
{
    struct rsink *r = arg;
    double drain_deadline = 0;
    char err[512];
    bool fatal;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool stop, stats;
        uint64_t count;
        size_t used;
        for (;;) {
            double now = mono();
            bool can_send = r->c && now >= r->backoff_until;
            bool was_stuck = r->stuck;
            r->stuck = !can_send && (!r->spool || now < r->spool_retry_at);
            if (r->stuck && !was_stuck) pthread_cond_broadcast(&r->room);
            stop = r->stop;
            count = r->q.count;
            stats = r->stats_dirty;
            used = r->q.bytes + 5 * r->q.count;
            if (stop) break;
            if (can_send && (count || bw_spool_records(r->spool) || (stats && now >= r->next_stats))) break;
            if (!r->c && now >= r->next_connect) break;
            if (!can_send && count && r->spool && now >= r->spool_retry_at &&
                (now - r->last_spill >= WAIT_S || used > r->q.cap / 2)) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(WAIT_S * 1e9);
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        pthread_mutex_unlock(&r->mu);
        double now = mono();

        if (stop && drain_deadline == 0) drain_deadline = now + DRAIN_S;
        bool pending = count > 0 || bw_spool_records(r->spool) > 0;

        if (!r->c) {
            /* Reconnect at most once a second; at exit, one last try (waiting for its turn). */
            bool want = now >= r->next_connect;
            if (stop && !r->stop_connect_tried && pending && r->next_connect < drain_deadline) {
                if (!want) { usleep((useconds_t)((r->next_connect - now) * 1e6) + 1000); }
                want = true;
                r->stop_connect_tried = true;
            }
            if (want && (!stop || pending)) {
                if (!try_connect(r, false, &fatal, err, sizeof err)) {
                    if (fatal && !r->fatal_said) {
                        say(r, true, "%s; alerts wait %s", err, wait_place(r));
                        r->fatal_said = true;
                    } else if (!r->outage_said && !r->fatal_said) {
                        say(r, false, "%s; capture goes on, alerts wait %s", err, wait_place(r));
                        r->outage_said = true;
                    }
                }
                continue;
            }
        }
        bool can_send = r->c && now >= r->backoff_until;
        if (stop && (!can_send || !pending || now >= drain_deadline)) {
            if (r->c && now < r->backoff_until && pending && now < drain_deadline && r->backoff_until < drain_deadline) {
                usleep((useconds_t)((r->backoff_until - now) * 1e6) + 1000);
                continue;
            }
            break;
        }
        if (can_send) {
            /* Redis slow: keep the memory queue from filling by moving it behind the spool. */
            if (r->spool && used > r->q.cap / 2 && now >= r->spool_retry_at) spill(r);
            if (count || bw_spool_records(r->spool)) deliver(r);
            if (r->c && stats && mono() >= r->next_stats) push_stats(r);
        } else if (count && r->spool && now >= r->spool_retry_at) {
            spill(r);
            r->last_spill = now;
        }
    }
    /* Exit: last counters, then whatever is still in memory goes to the spool. */
    if (r->c) push_stats(r);
    spill(r);
    pthread_mutex_lock(&r->mu);
    if (r->q.count) {
        size_t pos = r->q.head;
        for (uint64_t i = 0; i < r->q.count; i++) {
            struct bw_spool_rec e;
            ring_at(&r->q, &pos, &e);
            r->lost_records++;
            if (e.type == 'A') r->lost_alerts++;
        }
    }
    pthread_mutex_unlock(&r->mu);
    r->c = NULL;                          /* the router's; freed with it at close */
    return NULL;
}

/* ---- the capture thread's side ----------------------------------------------------------------- */

/* The queue header of a record: its token and the fields indexed in Redis, all from the record's
 * metadata (what the stream entry says comes from here only). Tabs end fields: a field holding
 * one (it cannot: names, addresses, numbers) would make the record unusable, so it is refused.
 * Returns the header length, or 0. */
static int queue_header(char *hdr, size_t cap, const char *runid, uint64_t seq, const struct bw_record_meta *m)
{
    const char *ev = m->event_type ? m->event_type : "", *kind = m->kind ? m->kind : "";
    const char *sev = m->severity ? m->severity : "", *app = m->app_proto ? m->app_proto : "";
    if (strchr(ev, '\t') || strchr(kind, '\t') || strchr(sev, '\t') || strchr(app, '\t')) return 0;
    int hl = snprintf(hdr, cap, "%s-%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%u\t%s\t%u\t%" PRIu64 "\t",
                      runid, seq, ev, kind, sev, app, m->src_ip, (unsigned)m->src_port, m->dest_ip,
                      (unsigned)m->dest_port, m->ts_us);
    return hl > 0 && (size_t)hl < cap ? hl : 0;
}

static int redis_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *m)
{
    struct rsink *r = (struct rsink *)s;
    char hdr[512];
    const char *ev = m->event_type ? m->event_type : "";
    bool alert = strcmp(ev, "alert") == 0;
    char type = alert ? 'A' : strcmp(ev, "session") == 0 ? 'S' : 'E';
    bool ok;
    /* Counters reach this sink through stats() (the sensor hash and the stats stream); a stats
     * record written as a line would only repeat them. */
    if (strcmp(ev, "stats") == 0) return 0;
    pthread_mutex_lock(&r->mu);
    uint64_t seq = ++r->seq;
    int hl = queue_header(hdr, sizeof hdr, r->runid, seq, m);
    ok = hl > 0 && !memchr(line, '\n', len);
    /* Live capture never waits. Reading files, a full queue waits for room while the writer can
     * make some (deliver or spool): waiting on a file loses nothing, dropping would. */
    while (ok && !ring_put(&r->q, type, hdr, (size_t)hl, line, len)) {
        if (r->cfg.live || r->stuck || r->stop) { ok = false; break; }
        pthread_cond_signal(&r->cv);
        pthread_cond_wait(&r->room, &r->mu);
    }
    if (!ok) {
        r->dropped_records++;
        if (alert) r->dropped_alerts++;
    }
    pthread_mutex_unlock(&r->mu);
    if (!ok) return BW_ELIMIT;
    pthread_cond_signal(&r->cv);
    return 0;
}

/* Records the queue refused (live capture never waits), for the pipeline's capacity records. */
static void redis_capacity(struct bw_sink *s, struct bw_sink_capacity *out)
{
    struct rsink *r = (struct rsink *)s;
    pthread_mutex_lock(&r->mu);
    out->refused = r->dropped_records;
    out->cap = r->q.cap;
    out->high_water = r->q.hwm;
    pthread_mutex_unlock(&r->mu);
}

static int redis_flush(struct bw_sink *s)
{
    struct rsink *r = (struct rsink *)s;
    pthread_cond_signal(&r->cv);            /* never waits: the writer sends within 100 ms */
    return 0;
}

static void redis_stats(struct bw_sink *s, const char *json, size_t len, const struct bw_stats *st)
{
    struct rsink *r = (struct rsink *)s;
    pthread_mutex_lock(&r->mu);
    r->st = *st;
    r->stats_len = json && len <= sizeof r->stats_json ? len : 0;
    if (r->stats_len) memcpy(r->stats_json, json, len);
    r->stats_dirty = true;
    pthread_mutex_unlock(&r->mu);
}

int bw_sink_redis_drain(struct bw_sink *s, struct bw_redis_report *rep)
{
    struct rsink *r = (struct rsink *)s;
    if (!r->drained) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (r->thread_started) pthread_join(r->thread, NULL);
        r->drained = true;
        r->lost_records += r->dropped_records;
        r->lost_alerts += r->dropped_alerts;
        if (r->lost_records)
            set_error(r, "redis: %" PRIu64 " alerts (%" PRIu64 " records) could not be delivered to %s %s",
                      r->lost_alerts, r->lost_records, r->where,
                      !r->spool ? "nor kept (no --spool)" : "nor spooled (spool unusable or memory queue full)");
    }
    if (rep) {
        memset(rep, 0, sizeof *rep);
        rep->alerts_delivered = r->delivered_alerts;
        rep->sessions_delivered = r->delivered_sessions;
        rep->spooled_alerts = bw_spool_alerts(r->spool);
        rep->spooled_records = bw_spool_records(r->spool);
        rep->lost_alerts = r->lost_alerts;
        rep->lost_records = r->lost_records;
        rep->spool_bad = bw_spool_bad(r->spool);
        snprintf(rep->where, sizeof rep->where, "%s", r->where);
        snprintf(rep->stream, sizeof rep->stream, "%s", r->stream);
        rep->cluster = r->rt && bw_redis_router_is_cluster(r->rt);
    }
    return r->first_err;
}

static int redis_close(struct bw_sink *s)
{
    struct rsink *r = (struct rsink *)s;
    int rc = bw_sink_redis_drain(s, NULL);
    bw_spool_close(r->spool);
    bw_redis_router_free(r->rt);
    free(r->q.buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->room);
    free(r);
    return rc;
}

struct bw_sink *bw_sink_redis_open(const struct bw_redis_sink_cfg *cfg, char *err, size_t errlen)
{
    struct rsink *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->cfg = *cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->room, NULL);
    snprintf(r->sensor, sizeof r->sensor, "%s", cfg->sensor ? cfg->sensor : "brokerwatch");
    if (!bw_redis_sensor_name_ok(r->sensor)) {
        snprintf(err, errlen, "sensor name '%.200s' cannot name Redis keys: it needs 1-%d bytes without '{' or '}' "
                 "(they mark the Redis Cluster hash tag); choose another --sensor-name", r->sensor, BW_REDIS_SENSOR_MAX);
        goto fail;
    }
    if (bw_redis_sensor_key(r->k_sensor, sizeof r->k_sensor, r->sensor, "sensor") != 0 ||
        bw_redis_sensor_key(r->k_stats, sizeof r->k_stats, r->sensor, "stats") != 0 ||
        bw_redis_sensor_key(r->k_brokers, sizeof r->k_brokers, r->sensor, "brokers") != 0 ||
        bw_redis_sensor_key(r->k_broker, sizeof r->k_broker, r->sensor, "broker:") != 0 ||
        (cfg->stream ? snprintf(r->stream, sizeof r->stream, "%s", cfg->stream) >= (int)sizeof r->stream
                     : bw_redis_sensor_key(r->stream, sizeof r->stream, r->sensor, "alerts") != 0)) {
        snprintf(err, errlen, "Redis key names too long");
        goto fail;
    }
    r->slot = bw_redis_key_slot(r->k_sensor, strlen(r->k_sensor));
    bw_redis_url_describe(&cfg->url, r->where, sizeof r->where);
    snprintf(r->node, sizeof r->node, "%s", r->where);
    r->cfg.stream = r->stream;
    r->cfg.sensor = r->sensor;
    if (cfg->spool_dir) {
        snprintf(r->spool_dir, sizeof r->spool_dir, "%s", cfg->spool_dir);
        r->cfg.spool_dir = r->spool_dir;
    }
    wall_iso(r->start_iso);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    snprintf(r->runid, sizeof r->runid, "%016" PRIx64, rnd);
    r->q.cap = cfg->queue_bytes ? cfg->queue_bytes : BW_REDIS_QUEUE_DEFAULT;
    r->q.buf = malloc(r->q.cap);
    r->rt = bw_redis_router_new(&cfg->url, cfg->cluster ? BW_REDIS_CLUSTER : BW_REDIS_AUTO, CONNECT_TIMEOUT_MS,
                                COMMAND_TIMEOUT_MS);
    if (!r->rt) { snprintf(err, errlen, "out of memory"); goto fail; }
    if (!r->q.buf) { snprintf(err, errlen, "out of memory for the Redis queue (%zu bytes)", r->q.cap); goto fail; }
    if (cfg->spool_dir && bw_spool_open(&r->spool, cfg->spool_dir, err, errlen) != 0) goto fail;
    if (r->spool && bw_spool_bad(r->spool))
        say(r, true, "spool %s: %" PRIu64 " damaged records skipped (torn or corrupt lines)", r->spool_dir,
            bw_spool_bad(r->spool));

    bool fatal = false;
    char cerr[512];
    if (!try_connect(r, true, &fatal, cerr, sizeof cerr)) {
        if (fatal && !cfg->optional) {
            snprintf(err, errlen, "%s", cerr);
            goto fail;
        }
        say(r, fatal, "%s; %s, alerts wait %s", cerr,
            fatal ? "--redis-optional: capture goes on" : "capture goes on", wait_place(r));
        r->outage_said = !fatal;
        r->fatal_said = fatal;
    }
    if (r->c && bw_spool_records(r->spool))
        say(r, false, "%" PRIu64 " records left in spool %s by an earlier run go first", bw_spool_records(r->spool),
            r->spool_dir);
    r->base.name = "redis";
    r->base.write = redis_write;
    r->base.flush = redis_flush;
    r->base.close = redis_close;
    r->base.stats = redis_stats;
    r->base.capacity = redis_capacity;
    r->base.wants_sessions = true;
    if (pthread_create(&r->thread, NULL, writer_main, r) != 0) {
        snprintf(err, errlen, "cannot start the Redis writer thread");
        goto fail;
    }
    r->thread_started = true;
    return &r->base;
fail:
    bw_redis_router_free(r->rt);
    bw_spool_close(r->spool);
    free(r->q.buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->room);
    free(r);
    return NULL;
}
