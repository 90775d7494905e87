/* redis_cluster.c: which Redis node serves a key. A single Redis server serves every key; with
 * Redis Cluster this keeps the slot map (CLUSTER SLOTS), one connection per node it needs, follows
 * MOVED (the slot has another owner now) and ASK (the slot is being migrated) redirections, and
 * learns the map again when a node stops answering (failover, restart). hiredis 0.14 has no cluster
 * support; this is the small part of one the sensor and brokerwatch-alerts need, since every
 * command they send names keys of a single slot. Not thread-safe: one owner (the Redis writer
 * thread, or the reader). Connection attempts to one node happen at most once a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include "bw_redis.h"

#define NODES_MAX      64             /* masters and replicas remembered (map + fallbacks) */
#define NO_NODE        0xFF
#define REDIRECTS_MAX  5              /* per command: more means the cluster is reconfiguring */
#define RETRY_S        1.0            /* a node that refused a connection is tried again after this */

struct node {
    char     host[256];
    uint16_t port;
    bool     seed;                    /* node 0: the URL (maybe a unix socket, maybe a db) */
    bool     in_map;                  /* serves slots now */
    redisContext *c;
    double   retry_at;
    char     err[256];                /* why the last connection attempt failed */
    bool     fatal;
};

struct bw_redis_router {
    struct bw_redis_url url;          /* the seed and the credentials every node shares */
    enum bw_redis_mode mode;
    bool cluster;                     /* known to be a cluster (CLUSTER SLOTS, or a MOVED) */
    bool map_known, stale;
    double refresh_at;                /* the map is asked for at most once a second */
    int  connect_ms, command_ms;
    struct node nodes[NODES_MAX];
    size_t nnodes;
    uint8_t slot_node[BW_REDIS_SLOTS];
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bw_redis_router *bw_redis_router_new(const struct bw_redis_url *u, enum bw_redis_mode mode,
                                            int connect_ms, int command_ms)
{
    struct bw_redis_router *rt = calloc(1, sizeof *rt);
    if (!rt) return NULL;
    rt->url = *u;
    rt->mode = mode;
    rt->connect_ms = connect_ms;
    rt->command_ms = command_ms;
    rt->nnodes = 1;
    rt->nodes[0].seed = true;
    snprintf(rt->nodes[0].host, sizeof rt->nodes[0].host, "%s", u->unix_socket ? u->path : u->host);
    rt->nodes[0].port = u->unix_socket ? 0 : u->port;
    memset(rt->slot_node, NO_NODE, sizeof rt->slot_node);
    return rt;
}

void bw_redis_router_free(struct bw_redis_router *rt)
{
    if (!rt) return;
    for (size_t i = 0; i < rt->nnodes; i++)
        if (rt->nodes[i].c) redisFree(rt->nodes[i].c);
    memset(&rt->url, 0, sizeof rt->url);          /* the password */
    free(rt);
}

bool bw_redis_router_is_cluster(const struct bw_redis_router *rt)
{
    return rt->cluster;
}

static void node_describe(const struct bw_redis_router *rt, const struct node *n, char *out, size_t cap)
{
    if (n->seed) { bw_redis_url_describe(&rt->url, out, cap); return; }
    bool v6 = strchr(n->host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%u", v6 ? "[" : "", n->host, v6 ? "]" : "", n->port);
}

static struct node *node_of(struct bw_redis_router *rt, const redisContext *c)
{
    for (size_t i = 0; c && i < rt->nnodes; i++)
        if (rt->nodes[i].c == c) return &rt->nodes[i];
    return NULL;
}

void bw_redis_router_describe(struct bw_redis_router *rt, const redisContext *c, char *out, size_t cap)
{
    struct node *n = node_of(rt, c);
    node_describe(rt, n ? n : &rt->nodes[0], out, cap);
}

/* The node at host:port (TCP), added when new. The seed counts when it is that address. A full
 * table gives up a node that serves no slot. Returns its index, or -1 (table full of masters). */
static int node_find_add(struct bw_redis_router *rt, const char *host, uint16_t port)
{
    for (size_t i = 0; i < rt->nnodes; i++) {
        struct node *n = &rt->nodes[i];
        if (n->port == port && strcmp(n->host, host) == 0 && !(n->seed && rt->url.unix_socket)) return (int)i;
    }
    size_t at = rt->nnodes;
    if (at == NODES_MAX) {
        for (at = 1; at < NODES_MAX && rt->nodes[at].in_map; at++) {}
        if (at == NODES_MAX) return -1;
        if (rt->nodes[at].c) redisFree(rt->nodes[at].c);
        for (size_t s = 0; s < BW_REDIS_SLOTS; s++)           /* in_map is false: none, but be sure */
            if (rt->slot_node[s] == at) rt->slot_node[s] = NO_NODE;
    } else {
        rt->nnodes++;
    }
    struct node *n = &rt->nodes[at];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    return (int)at;
}

/* A connection to node i, made if needed (AUTH as for the seed; SELECT only on the seed, since a
 * cluster has database 0 alone). NULL with err when it cannot be had now. */
static redisContext *node_conn(struct bw_redis_router *rt, size_t i, bool *fatal, char *err, size_t errlen)
{
    struct node *n = &rt->nodes[i];
    *fatal = false;
    if (n->c) return n->c;
    double now = mono();
    if (now < n->retry_at) {
        *fatal = n->fatal;
        snprintf(err, errlen, "%s", n->err[0] ? n->err : "not connected");
        return NULL;
    }
    struct bw_redis_url u = rt->url;
    if (!n->seed) {
        u.unix_socket = false;
        snprintf(u.host, sizeof u.host, "%s", n->host);
        u.port = n->port;
        u.db = 0;
    }
    n->c = bw_redis_connect(&u, rt->connect_ms, fatal, n->err, sizeof n->err);
    memset(u.password, 0, sizeof u.password);
    if (!n->c) {
        n->fatal = *fatal;
        n->retry_at = now + RETRY_S;
        snprintf(err, errlen, "%s", n->err);
        return NULL;
    }
    struct timeval tv = { rt->command_ms / 1000, (rt->command_ms % 1000) * 1000 };
    redisSetTimeout(n->c, tv);
    n->err[0] = '\0';
    n->fatal = false;
    return n->c;
}

void bw_redis_router_broken(struct bw_redis_router *rt, redisContext *c)
{
    struct node *n = node_of(rt, c);
    if (!n) return;
    redisFree(n->c);
    n->c = NULL;
    n->retry_at = 0;
    if (rt->cluster) rt->stale = true;      /* a node went away: who serves its slots now? */
}

/* One CLUSTER SLOTS reply from node `from` -> the slot map: [[start, end, [host, port, id, ...],
 * replica...], ...]. Replicas are remembered too (someone to ask when masters are gone). */
static bool apply_slots(struct bw_redis_router *rt, size_t from, const redisReply *rep)
{
    char fromhost[256];
    snprintf(fromhost, sizeof fromhost, "%s", rt->nodes[from].seed && rt->url.unix_socket ? "" : rt->nodes[from].host);
    memset(rt->slot_node, NO_NODE, sizeof rt->slot_node);
    for (size_t i = 0; i < rt->nnodes; i++) rt->nodes[i].in_map = false;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *r = rep->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        long long a = r->element[0]->integer, b = r->element[1]->integer;
        if (a < 0 || b >= BW_REDIS_SLOTS || a > b) continue;
        for (size_t k = 2; k < r->elements; k++) {
            const redisReply *ep = r->element[k];
            if (ep->type != REDIS_REPLY_ARRAY || ep->elements < 2 || ep->element[1]->type != REDIS_REPLY_INTEGER)
                continue;
            /* An empty (or NULL) host means "the address you asked"; '?' an unknown endpoint. */
            const char *h = ep->element[0]->type == REDIS_REPLY_STRING ? ep->element[0]->str : "";
            if (strcmp(h, "?") == 0) continue;
            if (!*h) h = fromhost;
            long long port = ep->element[1]->integer;
            if (!*h || port <= 0 || port > 65535) continue;
            int idx = node_find_add(rt, h, (uint16_t)port);
            if (idx < 0 || k != 2) continue;                    /* element 2 is the master */
            rt->nodes[idx].in_map = true;
            memset(rt->slot_node + a, idx, (size_t)(b - a + 1));
        }
    }
    return true;
}

/* Learn the map from the first node that answers. In auto mode, a server without cluster support
 * makes this a single-server router. Returns false with err when no node told us anything. */
static bool refresh(struct bw_redis_router *rt, bool *fatal, char *err, size_t errlen)
{
    bool seed_fatal = false;
    char first_err[640] = "";
    *fatal = false;
    if (rt->mode == BW_REDIS_SINGLE) {
        rt->map_known = true;
        rt->stale = false;
        return true;
    }
    for (size_t i = 0; i < rt->nnodes; i++) {
        char where[300];
        bool f;
        redisContext *c = node_conn(rt, i, &f, err, errlen);
        if (!c) {
            if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", err);
            if (i == 0) seed_fatal = f;
            continue;
        }
        redisReply *rep = redisCommand(c, "CLUSTER SLOTS");
        if (!rep) {
            node_describe(rt, &rt->nodes[i], where, sizeof where);
            if (!first_err[0]) snprintf(first_err, sizeof first_err, "lost the connection to %s: %s", where, c->errstr);
            bw_redis_router_broken(rt, c);
            continue;
        }
        if (rep->type == REDIS_REPLY_ARRAY) {
            apply_slots(rt, i, rep);
            freeReplyObject(rep);
            rt->cluster = rt->map_known = true;
            rt->stale = false;
            return true;
        }
        bool disabled = rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "cluster support disabled");
        bool loading = rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "LOADING", 7) == 0;
        node_describe(rt, &rt->nodes[i], where, sizeof where);
        if (rt->mode == BW_REDIS_CLUSTER && disabled) {
            snprintf(err, errlen, "Redis at %s is not a cluster node (cluster support disabled); leave out "
                     "--redis-cluster for a single server", where);
            freeReplyObject(rep);
            *fatal = true;
            return false;
        }
        if (!loading && rt->mode == BW_REDIS_AUTO && (disabled || !rt->cluster)) {
            /* A single server, or one that will not show its map (ACL): one node serves all.
             * A MOVED later still switches to the cluster (bw_redis_router_redirect). */
            freeReplyObject(rep);
            rt->cluster = false;
            rt->map_known = true;
            rt->stale = false;
            return true;
        }
        if (!first_err[0])
            snprintf(first_err, sizeof first_err, "Redis at %s: CLUSTER SLOTS: %s", where,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
    }
    if (rt->cluster && rt->map_known && !first_err[0]) { rt->stale = false; return true; }
    snprintf(err, errlen, "%s", first_err[0] ? first_err : "no Redis node answers");
    *fatal = seed_fatal && !rt->map_known;
    return false;
}

redisContext *bw_redis_router_conn(struct bw_redis_router *rt, uint16_t slot, bool *fatal, char *err, size_t errlen)
{
    *fatal = false;
    if (!rt->map_known || (rt->stale && mono() >= rt->refresh_at)) {
        rt->refresh_at = mono() + RETRY_S;
        if (!refresh(rt, fatal, err, errlen) && (!rt->map_known || *fatal)) return NULL;
    }
    size_t idx = 0;
    if (rt->cluster) {
        if (rt->slot_node[slot] == NO_NODE) {
            snprintf(err, errlen, "no Redis Cluster node serves slot %u now", slot);
            rt->stale = true;
            return NULL;
        }
        idx = rt->slot_node[slot];
    }
    redisContext *c = node_conn(rt, idx, fatal, err, errlen);
    if (!c && rt->cluster) rt->stale = true;
    return c;
}

redisContext *bw_redis_router_conn_at(struct bw_redis_router *rt, const redisContext *from, const char *host,
                                      uint16_t port, bool *fatal, char *err, size_t errlen)
{
    struct node *f = node_of(rt, from);
    if (!*host && f) host = f->seed && rt->url.unix_socket ? rt->url.host : f->host;
    int idx = node_find_add(rt, host, port);
    *fatal = false;
    if (idx < 0) { snprintf(err, errlen, "too many Redis Cluster nodes (%d)", NODES_MAX); return NULL; }
    return node_conn(rt, (size_t)idx, fatal, err, errlen);
}

void bw_redis_router_redirect(struct bw_redis_router *rt, uint16_t slot, const redisContext *from,
                              const char *host, uint16_t port)
{
    struct node *f = node_of(rt, from);
    if (!*host && f) host = f->host;
    int idx = node_find_add(rt, host, port);
    if (idx < 0) { rt->stale = true; return; }
    /* MOVED is the word of the node that owned the slot: follow it for this slot rather than a
     * whole new map from a node that may not have heard of the change yet. */
    if (!rt->cluster) {
        rt->cluster = true;
        memset(rt->slot_node, NO_NODE, sizeof rt->slot_node);
        rt->stale = true;                    /* learn the rest of the map at the next chance */
    }
    rt->map_known = true;
    rt->nodes[idx].in_map = true;
    rt->slot_node[slot] = (uint8_t)idx;
}

redisReply *bw_redis_router_command(struct bw_redis_router *rt, const char *key, int argc, const char **argv,
                                    const size_t *lens, bool *fatal, char *err, size_t errlen)
{
    uint16_t slot = key ? bw_redis_key_slot(key, strlen(key)) : 0;
    redisContext *ask_c = NULL;
    for (int hop = 0; hop <= REDIRECTS_MAX; hop++) {
        redisContext *c = ask_c ? ask_c : bw_redis_router_conn(rt, slot, fatal, err, errlen);
        if (!c) return NULL;
        redisReply *rep = NULL;
        if (ask_c) {
            /* ASK: this one command goes to the importing node, preceded by ASKING. */
            redisAppendCommand(c, "ASKING");
            redisAppendCommandArgv(c, argc, argv, lens);
            void *r0 = NULL;
            if (redisGetReply(c, &r0) == REDIS_OK) {
                freeReplyObject(r0);
                if (redisGetReply(c, (void **)&rep) != REDIS_OK) rep = NULL;
            }
        } else {
            rep = redisCommandArgv(c, argc, argv, lens);
        }
        if (!rep) {
            char where[300];
            bw_redis_router_describe(rt, c, where, sizeof where);
            snprintf(err, errlen, "lost the connection to %s: %s", where, c->errstr[0] ? c->errstr : "closed");
            bw_redis_router_broken(rt, c);
            *fatal = false;
            return NULL;
        }
        bool ask;
        uint16_t s, port;
        char host[256];
        if (rep->type == REDIS_REPLY_ERROR && bw_redis_redirect_parse(rep->str, &ask, &s, host, sizeof host, &port)) {
            freeReplyObject(rep);
            if (ask) {
                ask_c = bw_redis_router_conn_at(rt, c, host, port, fatal, err, errlen);
                if (!ask_c) return NULL;
            } else {
                bw_redis_router_redirect(rt, s, c, host, port);
                ask_c = NULL;
            }
            continue;
        }
        return rep;
    }
    snprintf(err, errlen, "Redis Cluster: more than %d redirections for slot %u (the cluster is reconfiguring)",
             REDIRECTS_MAX, slot);
    *fatal = false;
    return NULL;
}
