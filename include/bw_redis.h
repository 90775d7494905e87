/* bw_redis.h: the Redis side of the sensor. URL parsing and key names (pure: no I/O, no hiredis),
 * where the password comes from and how it leaves argv, the connect helper and the node router
 * (single server or Redis Cluster) shared with brokerwatch-alerts, and the Redis sink
 * (sensor/output/redis.c: a writer thread fed by a bounded memory queue, with the on-disk spool of
 * bw_spool.h behind it). Keys, fields, the cluster behaviour and the delivery guarantee are
 * documented in docs/redis.md. */
#ifndef BW_REDIS_H
#define BW_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_sink.h"

#define BW_REDIS_LEGACY_STREAM   "brokerwatch:alerts"     /* the one stream of earlier versions */
#define BW_REDIS_CHANNEL         "brokerwatch:alerts"     /* --redis-publish */
#define BW_REDIS_MAXLEN_DEFAULT  1000000u
#define BW_REDIS_STATS_MAXLEN    10000u                   /* the sensor's stats stream */
#define BW_REDIS_REGISTRY        "brokerwatch:sensors"    /* sorted set: sensor -> last seen */
#define BW_REDIS_SLOTS           16384u
#define BW_REDIS_SENSOR_MAX      200                      /* bytes of a sensor name in keys */
#define BW_REDIS_KEY_MAX         512
#define BW_REDIS_PASSWORD_ENV    "BROKERWATCH_REDIS_PASSWORD"
#define BW_REDIS_PORT_DEFAULT    6379

struct bw_redis_url {
    bool     unix_socket;        /* unix:///path */
    char     host[256];          /* TCP: host name or address (IPv6 without brackets) */
    uint16_t port;               /* TCP: default 6379 */
    char     path[108];          /* unix: socket path (sun_path size) */
    char     user[128];          /* ACL user; empty = none (AUTH with the password alone) */
    char     password[256];      /* valid when has_password; never printed */
    bool     has_password;
    uint32_t db;                 /* SELECT db; 0 = the default */
};

/* Parse redis://[user[:password]@]host[:port][/db] or unix://[user[:password]@]/path[?db=N].
 * User and password may be percent-encoded (%40 for '@'); IPv6 hosts go in brackets.
 * Returns 0, or BW_EINVAL with one line in err (which never contains the password). */
int bw_redis_url_parse(const char *url, struct bw_redis_url *u, char *err, size_t errlen) BW_WARN_UNUSED;

/* When the URL carried no password, take env_value (BROKERWATCH_REDIS_PASSWORD) if it is set and
 * not empty. Returns true when the password now comes from it. */
bool bw_redis_url_env_password(struct bw_redis_url *u, const char *env_value);

/* Where, for messages: "127.0.0.1:6379", "[::1]:6380/2", "unix:/run/redis.sock"; with the user
 * name when one is set ("alice@127.0.0.1:6379"); never the password. */
void bw_redis_url_describe(const struct bw_redis_url *u, char *out, size_t cap);

/* Overwrite, in place, the password of a redis:// or unix:// URL inside arg (a whole argv
 * element, "--redis=URL" included) with '*', so that ps and /proc/PID/cmdline never show it.
 * Returns true when something was overwritten. */
bool bw_redis_url_scrub(char *arg);

/* ---- key names (sensor/output/redis_keys.c; pure) ---- */

/* "brokerwatch:{SENSOR}:<what>": every key of one sensor carries the hash tag {SENSOR}, so a
 * cluster keeps them in one slot. what: "alerts", "sensor", "stats", "brokers", "broker:IP:PORT",
 * ... Returns 0, or BW_ELIMIT (out is then empty) when it does not fit in cap. */
int bw_redis_sensor_key(char *out, size_t cap, const char *sensor, const char *what) BW_WARN_UNUSED;

/* A sensor name usable in a hash tag: 1..BW_REDIS_SENSOR_MAX bytes, no '{' or '}'. */
bool bw_redis_sensor_name_ok(const char *name);

/* The Redis Cluster slot of a key (CRC16 of its hash tag, or of the whole key), 0..16383. */
uint16_t bw_redis_key_slot(const char *key, size_t len);

/* "MOVED 3999 127.0.0.1:6381" or "ASK 3999 [::1]:6381" (an error reply) -> *ask, slot, host
 * (empty: the host the reply came from), port. False for any other error text. */
bool bw_redis_redirect_parse(const char *msg, bool *ask, uint16_t *slot, char *host, size_t hostcap,
                             uint16_t *port);

/* ---- connect (sensor/output/redis.c; also used by brokerwatch-alerts) ---- */

struct redisContext;           /* hiredis; only output/redis.c and the reader include it */

/* Connect with a timeout, AUTH (ACL user + password, or password alone), SELECT the db, PING.
 * Returns the context, or NULL with one line in err. *fatal is set when trying again cannot
 * help: unknown host, refused credentials, a password the server needs but was not given, a db
 * that does not exist. Otherwise (refused connection, timeout, loading) Redis may come back. */
struct redisContext *bw_redis_connect(const struct bw_redis_url *u, int timeout_ms, bool *fatal,
                                      char *err, size_t errlen);

/* ---- the node router (sensor/output/redis_cluster.c) ----
 * Which connection serves a key: the one server, or the Redis Cluster node that owns the key's
 * slot (CLUSTER SLOTS, MOVED, ASK; the map is learnt again after a node stops answering). Owns its
 * connections; one thread uses it. */

enum bw_redis_mode {
    BW_REDIS_AUTO = 0,           /* a cluster if CLUSTER SLOTS answers, or on the first MOVED */
    BW_REDIS_SINGLE,             /* never ask for a map (brokerwatch-alerts --stream on one server) */
    BW_REDIS_CLUSTER,            /* --redis-cluster: a server without cluster support is an error */
};

struct redisReply;
struct bw_redis_router;

/* No connection is made yet. NULL when out of memory. The URL (password included) is copied. */
struct bw_redis_router *bw_redis_router_new(const struct bw_redis_url *u, enum bw_redis_mode mode,
                                            int connect_ms, int command_ms);
void bw_redis_router_free(struct bw_redis_router *rt);

/* The connection serving slot, connecting (and learning the map) as needed; borrowed: valid until
 * bw_redis_router_broken() or _free(). NULL with one line in err; *fatal when trying again cannot
 * help (credentials, unknown host, not a cluster under BW_REDIS_CLUSTER). */
struct redisContext *bw_redis_router_conn(struct bw_redis_router *rt, uint16_t slot, bool *fatal,
                                          char *err, size_t errlen);
/* The connection to the node at host:port (an ASK target; empty host = from's host). */
struct redisContext *bw_redis_router_conn_at(struct bw_redis_router *rt, const struct redisContext *from,
                                             const char *host, uint16_t port, bool *fatal, char *err,
                                             size_t errlen);
/* A MOVED reply on connection from: slot now lives at host:port (empty host = from's host). */
void bw_redis_router_redirect(struct bw_redis_router *rt, uint16_t slot, const struct redisContext *from,
                              const char *host, uint16_t port);
/* The connection failed (I/O error, timeout): close it; the map is learnt again before next use. */
void bw_redis_router_broken(struct bw_redis_router *rt, struct redisContext *c);
/* One command about key (NULL: any node), following redirections. The reply is the caller's to
 * free; NULL with one line in err when no node could answer. */
struct redisReply *bw_redis_router_command(struct bw_redis_router *rt, const char *key, int argc,
                                           const char **argv, const size_t *lens, bool *fatal,
                                           char *err, size_t errlen);
bool bw_redis_router_is_cluster(const struct bw_redis_router *rt);
/* "127.0.0.1:7001" for the node of c (the URL's description for the seed), for messages. */
void bw_redis_router_describe(struct bw_redis_router *rt, const struct redisContext *c, char *out, size_t cap);

/* ---- the sink ---- */

struct bw_redis_sink_cfg {
    struct bw_redis_url url;
    const char *stream;          /* --redis-stream; NULL = brokerwatch:{SENSOR}:alerts */
    uint64_t    maxlen;          /* --redis-maxlen: XADD MAXLEN ~ N */
    bool        publish;         /* --redis-publish: also PUBLISH each alert */
    bool        optional;        /* --redis-optional: fatal errors at start do not stop the run */
    const char *spool_dir;       /* --spool DIR; NULL = memory only */
    const char *sensor;          /* --sensor-name: the hash tag of every key, brokerwatch:{SENSOR}:... */
    bool        cluster;         /* --redis-cluster (otherwise detected: CLUSTER SLOTS, MOVED) */
    bool        live;            /* live capture: write() never waits; reading files, a full
                                  * queue waits while the writer can deliver or spool */
    bool        quiet;           /* -q: only errors on stderr */
    size_t      queue_bytes;     /* bound of the memory queue; 0 = BW_REDIS_QUEUE_DEFAULT */
};

#define BW_REDIS_QUEUE_DEFAULT (16u << 20)

/* What happened, for the final line. */
struct bw_redis_report {
    uint64_t alerts_delivered, sessions_delivered;
    uint64_t spooled_alerts, spooled_records;   /* left in the spool at exit */
    uint64_t lost_alerts, lost_records;         /* neither delivered nor spooled */
    uint64_t spool_bad;                         /* spool lines found corrupt and skipped */
    char     where[300];                        /* bw_redis_url_describe */
    char     stream[BW_REDIS_KEY_MAX];          /* the alert stream's key */
    bool     cluster;                           /* Redis was a cluster */
};

/* Start the sink: open the spool (if any), connect once, start the writer thread.
 * Returns NULL with one line in err when the run must not start: refused credentials, unknown
 * host, bad db, an unusable spool directory (with --redis-optional only the spool can stop it).
 * Redis being down is not an error: the records wait and the thread keeps trying. */
struct bw_sink *bw_sink_redis_open(const struct bw_redis_sink_cfg *cfg, char *err, size_t errlen);

/* Deliver what can be delivered (at most a few seconds while Redis makes progress), move the
 * rest to the spool, stop the thread, fill *r. close() afterwards only frees. Returns 0 or the
 * first error (errmsg then says it in one line). */
int bw_sink_redis_drain(struct bw_sink *s, struct bw_redis_report *r);

#endif
