/* pipeline.c: drives one packet through the stages in order and owns the worker's state:
 * decode -> flow -> classify (nDPI) -> stream -> dispatch/dissector -> verdict -> alert -> sinks.
 * It is the only module that calls other stages. Time is packet time throughout. Nothing here
 * allocates per packet: every pool was sized at init from the configuration. */
#include <stdlib.h>
#include <string.h>
#include "bw_dispatch.h"
#include "bw_pipeline.h"

static size_t on_data(void *ctx, const uint8_t *buf, size_t len);
static bool on_gap(void *ctx, uint64_t len);
static void on_cut(void *ctx, const uint8_t *buf, size_t len);

int bw_pipeline_init(struct bw_pipeline *p, const struct bw_config *cfg,
                     const struct bw_dissector *const *tab, size_t n)
{
    int rc, err = 0;
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->dis = tab;
    p->ndis = n;
    p->acfg.sensor = cfg->sensor_name;
    p->acfg.redact_usernames = cfg->redact_usernames;
    struct bw_flow_cfg fc = {
        .max_flows = cfg->max_flows, .max_sessions = cfg->max_sessions,
        .timeout_short_us = (uint64_t)cfg->close_timeout_s * 1000000u,
        .timeout_long_us = (uint64_t)cfg->flow_timeout_s * 1000000u,
    };
    if ((rc = bw_flow_table_init(&p->flows, &fc)) != 0) return rc;
    if ((rc = bw_stream_pool_init(&p->streams, cfg->stream_memcap, cfg->stream_window)) != 0) goto fail;
    if ((rc = bw_brute_init(&p->brute, cfg->brute_n, cfg->brute_t)) != 0) goto fail;
    p->dpi = bw_classify_new(cfg->dpi_slots, &err);
    if (!p->dpi) { rc = err; goto fail; }
    p->report = bw_report_new(BW_REPORT_BROKERS_MAX);
    if (!p->report) { rc = BW_ENOMEM; goto fail; }
    for (int d = 0; d < 2; d++) {
        p->cbctx[d].p = p;
        p->cbctx[d].dir = (enum bw_dir)d;
        p->cb[d].data = on_data;
        p->cb[d].gap = on_gap;
        p->cb[d].cut = on_cut;
        p->cb[d].ctx = &p->cbctx[d];
    }
    return 0;
fail:
    bw_pipeline_free(p);
    return rc;
}

int bw_pipeline_add_sink(struct bw_pipeline *p, struct bw_sink *s)
{
    if (p->nsinks >= BW_SINKS_MAX) return BW_ELIMIT;
    p->sinks[p->nsinks++] = s;
    return 0;
}

void bw_pipeline_free(struct bw_pipeline *p)
{
    bw_report_free(p->report);
    p->report = NULL;
    bw_classify_free(p->dpi);
    p->dpi = NULL;
    bw_brute_free(&p->brute);
    bw_stream_pool_free(&p->streams);
    bw_flow_table_free(&p->flows);
}

/* ---- records ---- */

static void write_record(struct bw_pipeline *p, const struct bw_record_in *in)
{
    struct bw_record_meta meta;
    size_t len;
    bool session = in->kind < 0;
    if (bw_alert_format(&p->acfg, in, p->rec, sizeof p->rec, &len, &meta) != 0) {
        p->cnt.records_too_big++;
        return;
    }
    for (size_t i = 0; i < p->nsinks; i++) {
        struct bw_sink *k = p->sinks[i];
        /* Session records go where they were asked for: --session-log, or a sink's inventory. */
        if (session && !p->cfg->session_log && !k->wants_sessions) continue;
        if (k->write(k, p->rec, len, &meta) != 0) p->cnt.sink_errors++;
    }
}

void bw_pipeline_push_stats(struct bw_pipeline *p)
{
    struct bw_stats st;
    char line[4096];
    bw_pipeline_stats(p, &st);
    size_t n = bw_stats_json(&st, p->cfg->sensor_name, line, sizeof line);
    for (size_t i = 0; i < p->nsinks; i++)
        if (p->sinks[i]->stats && n) p->sinks[i]->stats(p->sinks[i], line, n, &st);
}

static void emit(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s, enum bw_kind k,
                 uint64_t ts, uint32_t brute_failures)
{
    struct bw_record_in in = {
        .ts_us = ts, .flow = f, .session = s, .kind = (int)k,
        .brute_failures = brute_failures, .brute_window_s = p->cfg->brute_t,
    };
    const uint8_t *sip;
    uint16_t sport;
    s->alerted |= BW_KIND_BIT(k);
    p->cnt.alerts++;
    p->cnt.alerts_by_kind[k]++;
    write_record(p, &in);
    bw_flow_server(f, &sip, &sport);
    bw_report_alert(p->report, k, f->key.ip_ver, sip, sport, ts);   /* timeline, per-broker counts */
}

/* ---- servers known to speak a broker protocol ---- */

static struct bw_known_broker *known_slot(struct bw_pipeline *p, uint8_t ver, const uint8_t *ip)
{
    uint32_t h = 2166136261u ^ ver;
    for (int i = 0; i < 16; i++) h = (h ^ ip[i]) * 16777619u;
    return &p->known[h % BW_KNOWN_BROKERS];     /* one slot per hash: the newest server wins */
}

static void remember_broker(struct bw_pipeline *p, const struct bw_flow *f, enum bw_app app, uint64_t ts)
{
    const uint8_t *ip;
    uint16_t port;
    bw_flow_server(f, &ip, &port);
    struct bw_known_broker *k = known_slot(p, f->key.ip_ver, ip);
    memcpy(k->ip, ip, 16);
    k->ip_ver = f->key.ip_ver;
    k->app = (uint8_t)app;
    k->last_us = ts;
}

/* Is this TLS session a broker's? Port, then SNI/ALPN, then what the server spoke in clear. */
static enum bw_app tls_broker_app(struct bw_pipeline *p, const struct bw_flow *f)
{
    const uint8_t *ip;
    uint16_t port;
    bw_flow_server(f, &ip, &port);
    if (port == 8883 || port == 8884) return BW_APP_MQTT;
    if (port == 5671) return BW_APP_AMQP;
    if (f->tls_hint) return (enum bw_app)f->tls_hint;
    struct bw_known_broker *k = known_slot(p, f->key.ip_ver, ip);
    if (k->app && k->ip_ver == f->key.ip_ver && memcmp(k->ip, ip, 16) == 0) return (enum bw_app)k->app;
    return BW_APP_NONE;
}

static void attach_tls(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s, enum bw_app app)
{
    bw_dispatch_attach(s, p->tls_dis);
    s->app = bw_app_name(app);
    f->state = BW_FLOW_DISSECT;
    p->cnt.brokers_sessions++;
    p->cnt.flows_tls++;
    p->kick_pending = true;
}

/* Facts may have changed: raise what the verdict layer now justifies, once per session. */
static void judge(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s, uint64_t ts)
{
    if (!s->dis) return;
    if (s->dis == p->tls_dis && p->tls_evaluate) p->tls_evaluate(&s->facts, ts);
    if (!s->remembered && s->dis != p->tls_dis &&
        (s->facts.seen & (BW_FACT_CONFIRMED | BW_FACT_TLS | BW_FACT_MIDSTREAM)) == BW_FACT_CONFIRMED) {
        s->remembered = true;                      /* once per session, not per parse call */
        enum bw_app app = strcmp(s->dis->name, "mqtt") == 0 ? BW_APP_MQTT :
                          strcmp(s->dis->name, "amqp") == 0 ? BW_APP_AMQP : BW_APP_NONE;
        if (app) remember_broker(p, f, app, ts);
    }
    uint32_t kinds = bw_verdict_eval(&s->facts, s->alerted, p->finishing);
    for (int k = 0; k < BW_KIND_COUNT; k++)
        if (kinds & BW_KIND_BIT(k)) emit(p, f, s, (enum bw_kind)k, ts, 0);
    if ((s->facts.seen & BW_FACT_AUTH_FAILED) && !s->failure_counted) {
        const uint8_t *cip, *sip;
        uint16_t cport, sport;
        uint32_t n = 0;
        s->failure_counted = true;
        bw_flow_client(f, &cip, &cport);
        bw_flow_server(f, &sip, &sport);
        if (bw_brute_fail(&p->brute, f->key.ip_ver, cip, sip, sport, ts, &n) &&
            !(s->alerted & BW_KIND_BIT(BW_KIND_BRUTEFORCE)))
            emit(p, f, s, BW_KIND_BRUTEFORCE, ts, n);
    }
}

/* ---- stream callbacks ---- */

static void want_bypass_if_unclaimed(struct bw_pipeline *p, struct bw_flow *f)
{
    bool cli_no = f->flags & BW_FF_PROBE_NO_CLI, srv_no = f->flags & BW_FF_PROBE_NO_SRV;
    /* Brokers' clients speak first: a clean handshake whose first client bytes nobody knows is
     * not a broker session. Midstream, both sides must have been heard. */
    if ((cli_no && (f->flags & BW_FF_SYN_CLI)) || (cli_no && srv_no))
        p->bypass_pending = true;
}

static int hint_of(const struct bw_pipeline *p, const struct bw_flow *f)
{
    enum bw_dpi d = bw_classify_result(f);
    if (d == BW_DPI_MQTT) return bw_dispatch_find(p->dis, p->ndis, "mqtt");
    if (d == BW_DPI_AMQP) return bw_dispatch_find(p->dis, p->ndis, "amqp");
    return -1;
}

static size_t on_data(void *ctx, const uint8_t *buf, size_t len)
{
    struct bw_cbctx *c = ctx;
    struct bw_pipeline *p = c->p;
    struct bw_flow *f = p->cur_flow;
    struct bw_session *s = p->cur_sess;
    if (!s->dis) {
        size_t chosen = 0;
        bool final = len >= BW_PROBE_WINDOW || p->streams.window <= len || p->finishing;
        switch (bw_dispatch_choose(p->dis, p->ndis, c->dir, buf, len, hint_of(p, f), final, &chosen)) {
        case BW_CHOICE_WAIT:
            return 0;                              /* keep the bytes; look again with more */
        case BW_CHOICE_NONE:
            /* TLS that nDPI did not call (a ClientHello cut across segments, say) on a broker. */
            if (p->tls_dis && c->dir == BW_DIR_TOSERVER) {
                enum bw_app app = tls_broker_app(p, f);
                int sc = app ? p->tls_dis->probe(c->dir, buf, len) : BW_PROBE_NO;
                if (sc >= BW_PROBE_CLAIM) { attach_tls(p, f, s, app); break; }
                if (sc >= BW_PROBE_MAYBE && !final) return 0;
            }
            f->flags |= c->dir == BW_DIR_TOSERVER ? BW_FF_PROBE_NO_CLI : BW_FF_PROBE_NO_SRV;
            want_bypass_if_unclaimed(p, f);
            return BW_STREAM_STOP;
        case BW_CHOICE_FOUND:
            bw_dispatch_attach(s, p->dis[chosen]);
            f->state = BW_FLOW_DISSECT;
            p->cnt.brokers_sessions++;
            p->kick_pending = true;                /* the other side's held bytes are now wanted */
            break;
        }
    }
    size_t r = bw_dispatch_feed(s, c->dir, buf, len);
    s->facts.ts_changed_us = p->cur_ts;
    judge(p, f, s, p->cur_ts);
    return r;
}

static bool on_gap(void *ctx, uint64_t len)
{
    struct bw_cbctx *c = ctx;
    struct bw_pipeline *p = c->p;
    struct bw_session *s = p->cur_sess;
    (void)len;
    if (!s->dis) return true;                      /* still probing: look again after the hole */
    bool go_on = bw_dispatch_gap(s, c->dir);
    judge(p, p->cur_flow, s, p->cur_ts);
    return go_on;
}

static void on_cut(void *ctx, const uint8_t *buf, size_t len)
{
    struct bw_cbctx *c = ctx;
    struct bw_pipeline *p = c->p;
    struct bw_session *s = p->cur_sess;
    if (!s->dis) return;                           /* probes had their look at these bytes */
    bw_dispatch_partial(s, c->dir, buf, len);
    s->facts.ts_changed_us = p->cur_ts;
    judge(p, p->cur_flow, s, p->cur_ts);
}

/* ---- flow life ---- */

static void release_streams(struct bw_pipeline *p, struct bw_session *s)
{
    bw_stream_release(&p->streams, &s->dir[0]);
    bw_stream_release(&p->streams, &s->dir[1]);
}

static void bypass(struct bw_pipeline *p, struct bw_flow *f)
{
    struct bw_session *s = bw_session_of(&p->flows, f);
    if (s) {
        release_streams(p, s);
        bw_session_put(&p->flows, f);
    }
    bw_classify_release(p->dpi, f);
    f->state = BW_FLOW_BYPASS;
    p->flows.st.flows_bypassed++;
}

static const char *reason_name(enum bw_close how)
{
    switch (how) {
    case BW_CLOSE_FIN: case BW_CLOSE_FIN_SERVER_FIRST: return "fin";
    case BW_CLOSE_RST_CLIENT: case BW_CLOSE_RST_SERVER: return "rst";
    case BW_CLOSE_TIMEOUT: return "timeout";
    case BW_CLOSE_EVICTED: return "evicted";
    case BW_CLOSE_END: default: return "end";
    }
}

/* The TCP session is over: deliver what is held, let the dissector conclude, judge, log. */
static void end_session(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how)
{
    struct bw_session *s = bw_session_of(&p->flows, f);
    bw_classify_release(p->dpi, f);
    if (!s) return;
    p->cur_flow = f;
    p->cur_sess = s;
    p->cur_ts = f->last_us;
    p->finishing = true;
    for (int d = 0; d < 2; d++)
        bw_stream_flush(&p->streams, &s->dir[d], &p->cb[d]);
    p->finishing = false;
    if (s->dis) {
        if (s->dis->close) s->dis->close(s->dstate, how, &s->facts);
        p->finishing = true;                       /* the session is over: judge what we have */
        judge(p, f, s, f->last_us);
        p->finishing = false;
        if (s->facts.seen & BW_FACT_CONFIRMED) {
            const uint8_t *cip, *sip;
            uint16_t cport, sport;
            bw_flow_client(f, &cip, &cport);
            bw_flow_server(f, &sip, &sport);
            struct bw_report_session rs = {
                .ip_ver = f->key.ip_ver, .server_ip = sip, .client_ip = cip, .server_port = sport,
                .app = s->app ? s->app : s->dis->name, .facts = &s->facts,
                .first_us = f->first_us, .last_us = f->last_us,
            };
            bw_report_session(p->report, &rs);
            struct bw_record_in in = { .ts_us = f->last_us, .flow = f, .session = s, .kind = -1,
                                       .end_reason = reason_name(how) };
            if (p->cfg->session_log) p->cnt.sessions_logged++;
            write_record(p, &in);
        }
    }
    release_streams(p, s);
    bw_session_put(&p->flows, f);
}

static void drop_flow(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how)
{
    if (f->state != BW_FLOW_CLOSED) end_session(p, f, how);
    bw_classify_release(p->dpi, f);
    bw_flow_free(&p->flows, f);
}

static void expire(struct bw_pipeline *p)
{
    struct bw_flow *f;
    while ((f = bw_flow_next_expired(&p->flows, p->now_us)) != NULL) {
        p->flows.st.flows_expired++;
        drop_flow(p, f, BW_CLOSE_TIMEOUT);
    }
}

static void close_flow(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how)
{
    end_session(p, f, how);
    f->state = BW_FLOW_CLOSED;
    p->flows.st.flows_closed++;
    bw_flow_set_lru(&p->flows, f, BW_LRU_SHORT);   /* absorb late packets, then go */
}

/* FIN/RST bookkeeping; returns true when the flow just closed. */
static bool tcp_close_state(struct bw_pipeline *p, struct bw_flow *f, const struct bw_packet *pk, enum bw_dir d)
{
    if (pk->tcp_flags & BW_TCP_RST) {
        f->flags |= BW_FF_RST | (d == BW_DIR_TOCLIENT ? BW_FF_RST_SRV : 0);
        enum bw_close how = d == BW_DIR_TOCLIENT ? BW_CLOSE_RST_SERVER : BW_CLOSE_RST_CLIENT;
        /* A reset answering the other side's FIN: that side ended the session first. */
        if (d == BW_DIR_TOCLIENT && (f->flags & BW_FF_FIN_CLI)) how = BW_CLOSE_FIN;
        else if (d == BW_DIR_TOSERVER && (f->flags & BW_FF_FIN_SRV)) how = BW_CLOSE_FIN_SERVER_FIRST;
        close_flow(p, f, how);
        return true;
    }
    if (pk->tcp_flags & BW_TCP_FIN) {
        if (d == BW_DIR_TOSERVER) {
            f->flags |= BW_FF_FIN_CLI;
        } else {
            if (!(f->flags & BW_FF_FIN_CLI)) f->flags |= BW_FF_FIN_SRV_FIRST;
            f->flags |= BW_FF_FIN_SRV;
        }
        if ((f->flags & (BW_FF_FIN_CLI | BW_FF_FIN_SRV)) == (BW_FF_FIN_CLI | BW_FF_FIN_SRV)) {
            close_flow(p, f, (f->flags & BW_FF_FIN_SRV_FIRST) ? BW_CLOSE_FIN_SERVER_FIRST : BW_CLOSE_FIN);
            return true;
        }
    }
    return false;
}

static struct bw_flow *flow_for(struct bw_pipeline *p, const struct bw_packet *pk, bool *from_a)
{
    struct bw_flow_key k;
    bw_flow_key_of(pk, &k, from_a);
    struct bw_flow *f = bw_flow_find(&p->flows, &k);
    bool syn_only = (pk->tcp_flags & (BW_TCP_SYN | BW_TCP_ACK)) == BW_TCP_SYN;
    if (f && f->state == BW_FLOW_CLOSED && syn_only) {
        drop_flow(p, f, BW_CLOSE_END);             /* port reuse: a new connection */
        f = NULL;
    }
    if (f) return f;
    if (pk->tcp_flags & BW_TCP_RST) return NULL;   /* a stray reset opens nothing */
    f = bw_flow_create(&p->flows, &k, pk->ts_us);
    if (!f) {
        struct bw_flow *victim = bw_flow_oldest(&p->flows);
        if (!victim) return NULL;
        p->flows.st.flows_evicted++;
        drop_flow(p, victim, BW_CLOSE_EVICTED);
        f = bw_flow_create(&p->flows, &k, pk->ts_us);
        if (!f) return NULL;
    }
    bw_flow_orient(f, pk, *from_a);
    return f;
}

void bw_pipeline_packet(struct bw_pipeline *p, int dlt, const uint8_t *data, size_t caplen, uint64_t ts)
{
    struct bw_packet pk;
    bool from_a;
    p->cnt.packets++;
    p->cnt.bytes += caplen;
    if (!p->start_us) p->start_us = ts;
    if (!p->earliest_us || ts < p->earliest_us) p->earliest_us = ts;
    if (ts > p->latest_us) p->latest_us = ts;
    if (ts > p->now_us) p->now_us = ts;
    /* A capture file older than the one read before it (-r given out of time order) runs on
     * its own clock: measured against the later file's, every flow of it would expire at once.
     * The later file's flows then wait for the end of the run. */
    else if (p->now_us - ts > p->flows.timeout_us[BW_LRU_LONG]) p->now_us = ts;
    expire(p);
    if (p->now_us >= p->next_stats_us) {
        if (p->next_stats_us) bw_pipeline_push_stats(p);
        p->next_stats_us = p->now_us + (uint64_t)BW_STATS_INTERVAL_S * 1000000u;
    }
    if (bw_decode_packet(dlt, data, caplen, ts, &pk, &p->dec) != BW_DEC_TCP) return;
    p->cnt.tcp_packets++;

    struct bw_flow *f = flow_for(p, &pk, &from_a);
    if (!f) return;
    enum bw_dir d = bw_flow_dir(f, from_a);
    f->pkts[d]++;
    f->bytes[d] += caplen;
    if (f->state == BW_FLOW_CLOSED) return;        /* late packets of a finished session */
    bw_flow_touch(&p->flows, f, ts);
    if (pk.tcp_flags & BW_TCP_SYN) {
        f->isn[d] = pk.seq;
        f->syn_seen[d] = true;
        if (d == BW_DIR_TOCLIENT && (pk.tcp_flags & BW_TCP_ACK)) f->flags |= BW_FF_SYNACK;
    }
    if (!(f->flags & BW_FF_ESTABLISHED) && (pk.seg_len || (f->flags & BW_FF_SYNACK))) {
        f->flags |= BW_FF_ESTABLISHED;
        bw_flow_set_lru(&p->flows, f, BW_LRU_LONG);
    }
    if (f->state == BW_FLOW_BYPASS) {
        p->cnt.bypassed_packets++;
        if (pk.tcp_flags & (BW_TCP_RST | BW_TCP_FIN)) tcp_close_state(p, f, &pk, d);
        return;
    }

    enum bw_app tls_app = BW_APP_NONE;
    if (f->state == BW_FLOW_PROBING && !(f->flags & BW_FF_DPI_DONE)) {
        if (bw_classify_packet(p->dpi, f, &pk) == BW_DPI_TLS) {
            /* Encrypted: only a broker's TLS is worth following (its handshake, then no more). */
            tls_app = p->tls_dis ? tls_broker_app(p, f) : BW_APP_NONE;
            if (!tls_app) {
                p->cnt.flows_tls_other++;
                bypass(p, f);
                return;
            }
        }
    }

    struct bw_session *s = bw_session_of(&p->flows, f);
    if (!s) {
        if (pk.seg_len == 0) {                     /* no bytes yet: a session can wait */
            tcp_close_state(p, f, &pk, d);
            return;
        }
        s = bw_session_get(&p->flows, f);
        if (!s) {                                  /* session pool full: degrade, never block */
            f->flags |= BW_FF_SESSION_FAIL;
            bypass(p, f);
            return;
        }
        for (int i = 0; i < 2; i++)
            if (f->syn_seen[i]) bw_stream_start(&s->dir[i], f->isn[i], true);
    }
    if (tls_app && !s->dis) attach_tls(p, f, s, tls_app);

    p->cur_flow = f;
    p->cur_sess = s;
    p->cur_ts = ts;
    p->bypass_pending = false;
    p->kick_pending = false;
    if (pk.seg_len) {
        /* Data on a SYN (TCP Fast Open) starts after the SYN's own sequence number. */
        uint32_t seq = pk.seq + ((pk.tcp_flags & BW_TCP_SYN) ? 1u : 0u);
        bw_stream_segment(&p->streams, &s->dir[d], seq, pk.payload, pk.payload_len, pk.seg_len, &p->cb[d]);
    }
    enum bw_dir o = d == BW_DIR_TOSERVER ? BW_DIR_TOCLIENT : BW_DIR_TOSERVER;
    if ((pk.tcp_flags & BW_TCP_ACK) && s->dir[o].init)
        bw_stream_ack(&p->streams, &s->dir[o], pk.ack, &p->cb[o]);

    if (p->kick_pending) {
        p->kick_pending = false;
        bw_stream_kick(&p->streams, &s->dir[o], &p->cb[o]);
        bw_stream_kick(&p->streams, &s->dir[d], &p->cb[d]);
    }
    if (p->bypass_pending && !s->dis) {
        p->cnt.flows_not_broker++;
        bypass(p, f);
        if (pk.tcp_flags & (BW_TCP_RST | BW_TCP_FIN)) tcp_close_state(p, f, &pk, d);
        return;
    }
    if (!s->dis && f->pkts[0] + f->pkts[1] > 4 * BW_DPI_MAX_PKTS) {
        p->cnt.flows_not_broker++;                 /* nobody claimed it in time: stop looking */
        bypass(p, f);
        return;
    }
    if (s->dis && s->dir_done[0] && s->dir_done[1])
        release_streams(p, s);                     /* dissector finished: no more reassembly */
    tcp_close_state(p, f, &pk, d);
}

void bw_pipeline_finish(struct bw_pipeline *p)
{
    struct bw_flow *f;
    while ((f = bw_flow_any(&p->flows)) != NULL)
        drop_flow(p, f, BW_CLOSE_END);
    bw_pipeline_push_stats(p);
    for (size_t i = 0; i < p->nsinks; i++)
        if (p->sinks[i]->flush(p->sinks[i]) != 0) p->cnt.sink_errors++;
}

void bw_pipeline_stats(const struct bw_pipeline *p, struct bw_stats *out)
{
    memset(out, 0, sizeof *out);
    out->pipe = p->cnt;
    out->pipe.brute_pairs_replaced = p->brute.replaced;
    out->decode = p->dec;
    out->flow = p->flows.st;
    out->stream = p->streams.st;
    if (p->dpi) bw_classify_get_stats(p->dpi, &out->dpi);
    out->start_us = p->start_us;
    out->now_us = p->now_us;
    out->kernel = p->kernel;
}
