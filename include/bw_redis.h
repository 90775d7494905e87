/* bw_redis.h: the Redis side of the sensor. URL parsing (pure: no I/O, no hiredis), where the
 * password comes from and how it leaves argv, the connect helper shared with brokerwatch-alerts,
 * and the Redis sink (sensor/output/redis.c: the sensor's only hiredis user, a writer thread fed by
 * a bounded memory queue, with the on-disk spool of bw_spool.h behind it). Keys, fields and the
 * delivery guarantee are documented in docs/redis.md. */
#ifndef BW_REDIS_H
#define BW_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_sink.h"

#define BW_REDIS_STREAM_DEFAULT  "brokerwatch:alerts"
#define BW_REDIS_CHANNEL         "brokerwatch:alerts"     /* --redis-publish */
#define BW_REDIS_MAXLEN_DEFAULT  1000000u
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

/* ---- connect (sensor/output/redis.c; also used by brokerwatch-alerts) ---- */

struct redisContext;           /* hiredis; only output/redis.c and the reader include it */

/* Connect with a timeout, AUTH (ACL user + password, or password alone), SELECT the db, PING.
 * Returns the context, or NULL with one line in err. *fatal is set when trying again cannot
 * help: unknown host, refused credentials, a password the server needs but was not given, a db
 * that does not exist. Otherwise (refused connection, timeout, loading) Redis may come back. */
struct redisContext *bw_redis_connect(const struct bw_redis_url *u, int timeout_ms, bool *fatal,
                                      char *err, size_t errlen);

/* ---- the sink ---- */

struct bw_redis_sink_cfg {
    struct bw_redis_url url;
    const char *stream;          /* --redis-stream */
    uint64_t    maxlen;          /* --redis-maxlen: XADD MAXLEN ~ N */
    bool        publish;         /* --redis-publish: also PUBLISH each alert */
    bool        optional;        /* --redis-optional: fatal errors at start do not stop the run */
    const char *spool_dir;       /* --spool DIR; NULL = memory only */
    const char *sensor;          /* --sensor-name: brokerwatch:sensor:<name> */
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
