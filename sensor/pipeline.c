/* pipeline.c: drives one packet through the stages in order and owns the worker's state:
 * decode -> flow -> probe slot -> stream -> dispatch/dissector -> verdict -> alert -> sinks.
 * It is the only module that calls other stages. Time is packet time throughout. Nothing here
 * allocates per packet: every pool was sized at init from the configuration.
 *
 * A flow's life: no payload (a flow record only); first payload: the dissectors' probes look at
 * the reassembled first bytes of that direction (a probe slot keeps up to BW_PROBE_BYTES per
 * direction while they are needed; a TLS record header goes the TLS way; nDPI is asked only when
 * the probes cannot place the bytes); "no" ends in bypass, one lookup per packet from then on.
 * A claim keeps the slot until the other side answers (or the claimed side sends more than the
 * slot holds): then a session (reassembly, dissector state, facts) is taken and the slot's bytes
 * are replayed into it. A session is a confirmed broker session, and may raise alerts, only once
 * its dissector confirmed the protocol and read bytes of the broker's direction. */
#include <stdlib.h>
#include <string.h>
#include "bw_dispatch.h"
#include "bw_pipeline.h"
#include "bw_tls.h"

static size_t on_data(void *ctx, const uint8_t *buf, size_t len);
static int tls_hello_app(struct bw_pipeline *p, struct bw_bytes v);
static bool on_gap(void *ctx, uint64_t len);
static void on_cut(void *ctx, const uint8_t *buf, size_t len);
int bw_pipeline_report_now(struct bw_pipeline *p, struct bw_report *snap)
{
    int rc = bw_report_copy(snap, p->report);
    if (rc != 0) return rc;
    for (uint32_t i = 1; i <= p->flows.used; i++) {
        const struct bw_flow *f = bw_flow_at(&p->flows, i);
        if (!f || f->self != i || !f->session || f->state == BW_FLOW_CLOSED || !(f->flags & BW_FF_CONFIRMED))
            continue;
        const struct bw_session *s = bw_session_of(&p->flows, f);
        if (!s || !s->dis) continue;
        const uint8_t *cip, *sip;
        uint16_t cport, sport;
        bw_flow_client(f, &cip, &cport);
        bw_flow_server(f, &sip, &sport);
        struct bw_report_session rs = {
            .ip_ver = f->key.ip_ver, .server_ip = sip, .client_ip = cip, .server_port = sport,
            .app = s->app ? s->app : s->dis->name, .facts = &s->facts,
            .first_us = f->first_us, .last_us = f->last_us,
        };
        bw_report_session(snap, &rs);
    }
    return 0;
}

static void drop_flow(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how);
static void capacity_poll(struct bw_pipeline *p, bool final);

#define EXPIRE_EVERY_US   10000u        /* look at the lists 100 times a second (of packet time): the
                                         * reset's linger is 30 ms, and its alerts wait on this too */
#define CAPACITY_EVERY_US 1000000u

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
        .timeout_linger_us = BW_LINGER_US,
        .timeout_fin_wait_us = BW_STREAM_ACK_WAIT_US,
    };
    uint32_t probes = cfg->max_probes ? cfg->max_probes : cfg->max_sessions;
    uint32_t per_src = cfg->max_probes_per_source ? cfg->max_probes_per_source : probes;
    if ((rc = bw_flow_table_init(&p->flows, &fc)) != 0) return rc;
    if ((rc = bw_probe_pool_init(&p->probes, probes, per_src)) != 0) goto fail;
    if ((rc = bw_stream_pool_init(&p->streams, cfg->stream_memcap, cfg->stream_window)) != 0) goto fail;
    if ((rc = bw_brute_init(&p->brute, cfg->brute_n, cfg->brute_t)) != 0) goto fail;
    p->dpi = bw_classify_new(cfg->dpi_slots, &err);
    if (!p->dpi) { rc = err; goto fail; }
    p->report = bw_report_new(BW_REPORT_BROKERS_MAX);
    if (!p->report) { rc = BW_ENOMEM; goto fail; }
    p->known_own = calloc(1, sizeof *p->known_own);
    if (!p->known_own) { rc = BW_ENOMEM; goto fail; }
    bw_known_init(p->known_own);
    p->known = p->known_own;
    if (cfg->evidence_path &&
        (rc = bw_hold_pool_init(&p->hold, cfg->evidence_memcap, cfg->evidence_bytes, cfg->evidence_packets)) != 0)
        goto fail;
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

void bw_pipeline_share_known(struct bw_pipeline *p, struct bw_known *k)
{
    p->known = k;
}

void bw_pipeline_free(struct bw_pipeline *p)
{
    free(p->known_own);
    p->known_own = p->known = NULL;
    bw_hold_pool_free(&p->hold);
    bw_report_free(p->report);
    p->report = NULL;
    bw_classify_free(p->dpi);
    p->dpi = NULL;
    bw_brute_free(&p->brute);
    bw_stream_pool_free(&p->streams);
    bw_probe_pool_free(&p->probes);
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
    meta.unanswered = session && in->unanswered;
    for (size_t i = 0; i < p->nsinks; i++) {
        struct bw_sink *k = p->sinks[i];
        /* Session records go where they were asked for: --session-log, or a sink's inventory;
         * one no broker answered only to the session log, never to an inventory of brokers. */
        if (session && !p->cfg->session_log && !k->wants_sessions) continue;
        if (session && in->unanswered && k->wants_sessions) continue;
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
    if (f->hold) bw_hold_at(&p->hold, f->hold)->alerted = true;   /* its frames are evidence now */
    p->cnt.alerts_by_kind[k]++;
    write_record(p, &in);
    bw_flow_server(f, &sip, &sport);
    bw_report_alert(p->report, k, f->key.ip_ver, sip, sport, ts);   /* timeline, per-broker counts */
}

/* ---- servers known to speak a broker protocol (bw_known.h: shared by the workers) ---- */

static bool known_ep_is(struct bw_pipeline *p, uint8_t ver, const uint8_t *ip, uint16_t port)
{
    return bw_known_endpoint(p->known, ver, ip, port);
}

/* A confirmed session seen from its handshake: its server end is a broker for orientation (any
 * dissector), and its address one for TLS when it spoke MQTT or AMQP. */
static void remember_broker(struct bw_pipeline *p, const struct bw_flow *f, enum bw_app app)
{
    const uint8_t *ip;
    uint16_t port;
    bw_flow_server(f, &ip, &port);
    bw_known_remember(p->known, f->key.ip_ver, ip, port, (uint8_t)app);
}

/* Which end of a packet without SYN is a broker already seen in this run (address and port). */
static enum bw_orient_hint known_hint(struct bw_pipeline *p, const struct bw_packet *pk)
{
    bool s = known_ep_is(p, pk->ip_ver, pk->src, pk->sport), d = known_ep_is(p, pk->ip_ver, pk->dst, pk->dport);
    if (s == d) return BW_ORIENT_UNKNOWN;
    p->cnt.orient_known++;
    return s ? BW_ORIENT_SRC_IS_SERVER : BW_ORIENT_DST_IS_SERVER;
}

/* Is this TLS session a broker's? Port, then SNI/ALPN (nDPI's reading, when it was asked), then
 * what the server spoke in clear. */
static enum bw_app tls_broker_app(struct bw_pipeline *p, const struct bw_flow *f, const struct bw_dpi_flow *df)
{
    const uint8_t *ip;
    uint16_t port;
    bw_flow_server(f, &ip, &port);
    if (port == 8883 || port == 8884) return BW_APP_MQTT;
    if (port == 5671) return BW_APP_AMQP;
    if (df && df->tls_hint) return (enum bw_app)df->tls_hint;
    return (enum bw_app)bw_known_app(p->known, f->key.ip_ver, ip);
}

static void attach_tls(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s, enum bw_app app)
{
    bw_dispatch_attach(s, p->tls_dis);
    s->app = bw_app_name(app);
    f->state = BW_FLOW_DISSECT;
    p->kick_pending = true;
}

/* ---- confirmation and verdicts ---- */

/* The per-source count of unconfirmed flows: taken once per flow, given back when it is confirmed
 * or goes. */
static bool src_take(struct bw_pipeline *p, struct bw_flow *f)
{
    if (f->flags & BW_FF_SRC_COUNTED) return true;
    const uint8_t *ip;
    uint16_t port;
    bw_flow_client(f, &ip, &port);
    if (!bw_probe_src_take(&p->probes, f->key.ip_ver, ip)) return false;
    f->flags |= BW_FF_SRC_COUNTED;
    return true;
}

static void src_release(struct bw_pipeline *p, struct bw_flow *f)
{
    if (!(f->flags & BW_FF_SRC_COUNTED)) return;
    const uint8_t *ip;
    uint16_t port;
    bw_flow_client(f, &ip, &port);
    bw_probe_src_release(&p->probes, f->key.ip_ver, ip);
    f->flags &= ~BW_FF_SRC_COUNTED;
}

/* The broker answered: its dissector confirmed the protocol and took bytes the server sent. A
 * dissector's own "confirmed" alone (a client's CONNECT that parses) is not enough: a one-packet
 * probe that nobody answers raises nothing. */
static bool broker_answered(const struct bw_session *s)
{
    return s->dis && (s->facts.seen & BW_FACT_CONFIRMED) && s->consumed[BW_DIR_TOCLIENT] > 0 &&
           !s->rejected[BW_DIR_TOCLIENT];
}

static void confirm(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s)
{
    f->flags |= BW_FF_CONFIRMED;
    src_release(p, f);
    if (bw_flow_lru_rank((enum bw_flow_lru)f->lru) <= bw_flow_lru_rank(BW_LRU_UNCONF) &&
        f->lru != BW_LRU_CLOSED && f->lru != BW_LRU_BYPASS)
        bw_flow_set_lru(&p->flows, f, BW_LRU_CONFIRMED);
    p->cnt.brokers_sessions++;
    if (s->dis == p->tls_dis) {
        p->cnt.flows_tls++;
        return;
    }
    /* Only a session seen from its handshake says for sure which end is the broker. */
    if (!s->remembered && !(s->facts.seen & (BW_FACT_TLS | BW_FACT_MIDSTREAM))) {
        s->remembered = true;
        enum bw_app app = strcmp(s->dis->name, "mqtt") == 0 ? BW_APP_MQTT :
                          strcmp(s->dis->name, "amqp") == 0 ? BW_APP_AMQP : BW_APP_NONE;
        remember_broker(p, f, app);
    }
}

/* Facts may have changed: raise what the verdict layer now justifies, once per session. */
static void judge(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s, uint64_t ts)
{
    if (!s->dis) return;
    if (!(f->flags & BW_FF_CONFIRMED)) {
        if (!broker_answered(s)) return;            /* nothing is reported before the answer */
        confirm(p, f, s);
    }
    if (s->dis == p->tls_dis && p->tls_evaluate) p->tls_evaluate(&s->facts, ts);
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

static int hint_of(const struct bw_pipeline *p, const struct bw_dpi_flow *df)
{
    enum bw_dpi d = bw_classify_result(df);
    if (d == BW_DPI_MQTT) return bw_dispatch_find(p->dis, p->ndis, "mqtt");
    if (d == BW_DPI_AMQP) return bw_dispatch_find(p->dis, p->ndis, "amqp");
    return -1;
}

/* nDPI has been asked about this flow (and may still be). */
static bool dpi_asked(const struct bw_dpi_flow *df)
{
    return df->pkts > 0 || df->done;
}

/* The bytes a dissector is about to read and where they lie in the stream (the stream offers
 * bytes from its delivery point, next_seq), so that a password read there becomes a position. */
static void feed_open(struct bw_session *s, enum bw_dir dir, const uint8_t *buf, size_t len)
{
    s->facts.feed = (struct bw_feed){ .buf = buf, .len = len, .seq = s->dir[dir].next_seq, .dir = (uint8_t)dir };
}

static size_t on_data(void *ctx, const uint8_t *buf, size_t len)
{
    struct bw_cbctx *c = ctx;
    struct bw_pipeline *p = c->p;
    struct bw_flow *f = p->cur_flow;
    struct bw_session *s = p->cur_sess;
    if (!s->dis) {
        /* Still undecided after the probe slot: more bytes than a slot holds, read in the stream. */
        size_t chosen = 0;
        bool final = len >= BW_PROBE_WINDOW || p->streams.window <= len || p->finishing;
        switch (bw_dispatch_choose(p->dis, p->ndis, c->dir, buf, len, hint_of(p, &s->dpi), final, &chosen)) {
        case BW_CHOICE_WAIT:
            return 0;                              /* keep the bytes; look again with more */
        case BW_CHOICE_NONE:
            /* TLS that the slot did not place (a record header cut across segments) on a broker. */
            if (p->tls_dis && c->dir == BW_DIR_TOSERVER) {
                int sc = p->tls_dis->probe(c->dir, buf, len);
                enum bw_app app = sc >= BW_PROBE_MAYBE ? tls_broker_app(p, f, &s->dpi) : BW_APP_NONE;
                if (sc >= BW_PROBE_CLAIM) {
                    /* The hello's SNI/ALPN first, as in the probe slot (a hello reordered past
                     * the slot is read here instead); the memory of the server after them. */
                    int named = tls_hello_app(p, (struct bw_bytes){ buf, len });
                    if (named < 0 && !final && !app) return 0;   /* the rest of the hello is to come */
                    if (named > 0) app = (enum bw_app)named;
                    else if (!app) p->cnt.flows_tls_other++;
                }
                if (sc >= BW_PROBE_CLAIM && app) { attach_tls(p, f, s, app); break; }
                if (sc >= BW_PROBE_MAYBE && sc < BW_PROBE_CLAIM && !final) return 0;
            }
            f->flags |= c->dir == BW_DIR_TOSERVER ? BW_FF_PROBE_NO_CLI : BW_FF_PROBE_NO_SRV;
            want_bypass_if_unclaimed(p, f);
            return BW_STREAM_STOP;
        case BW_CHOICE_FOUND:
            bw_dispatch_attach(s, p->dis[chosen]);
            f->state = BW_FLOW_DISSECT;
            p->kick_pending = true;                /* the other side's held bytes are now wanted */
            break;
        }
    }
    feed_open(s, c->dir, buf, len);
    size_t r = bw_dispatch_feed(s, c->dir, buf, len);
    s->facts.feed.buf = NULL;                      /* nothing points into the bytes after the call */
    s->facts.ts_changed_us = p->cur_ts;
    judge(p, f, s, p->cur_ts);
    return r;
}

static bool on_gap(void *ctx, uint64_t len)
{
    struct bw_cbctx *c = ctx;
    struct bw_pipeline *p = c->p;
    struct bw_session *s = p->cur_sess;
    /* The hole's client bytes were never examined: if a copy of them turns up, it is masked. */
    if (c->dir == BW_DIR_TOSERVER && p->cur_flow->hold && len)
        bw_hold_unexamined(&p->hold, p->cur_flow->hold, s->dir[c->dir].next_seq - (uint32_t)len, (uint32_t)len);
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
    /* A message cut short: which of its client bytes hold what is not known, so they are masked. */
    if (c->dir == BW_DIR_TOSERVER && p->cur_flow->hold)
        bw_hold_unexamined(&p->hold, p->cur_flow->hold, s->dir[c->dir].next_seq, (uint32_t)len);
    if (!s->dis) return;                           /* probes had their look at these bytes */
    feed_open(s, c->dir, buf, len);
    bw_dispatch_partial(s, c->dir, buf, len);
    s->facts.feed.buf = NULL;
    s->facts.ts_changed_us = p->cur_ts;
    judge(p, p->cur_flow, s, p->cur_ts);
}

/* ---- evidence (-w) ----
 * A flow holds a slot of the hold from its first packet while it may still become a broker
 * session; bypass, close and eviction give it back. Once the session raised an alert, its frames
 * go to the writer with --evidence-after more (or at its end, or when its cap is reached), with
 * every password byte and every client byte nobody examined overwritten. */

static void hold_release(struct bw_pipeline *p, struct bw_flow *f)
{
    if (!f->hold) return;
    bw_hold_put(&p->hold, f->hold);
    f->hold = 0;
}

/* A slot may be taken back from a flow that raised nothing and that no broker has answered yet
 * (no payload, probing, or a claimed request: a flood of one-packet requests waits there for
 * its timeout while a real session is answered within moments), or from a broker session that
 * filled its slot and raised nothing: a long quiet session must not keep its slot for weeks. */
static bool hold_can_take(void *ctx, const struct bw_hold_slot *sl)
{
    const struct bw_pipeline *p = ctx;
    const struct bw_flow *o = bw_flow_at(&p->flows, sl->owner);
    if (sl->alerted || !o) return false;
    return !(o->flags & BW_FF_CONFIRMED) || sl->capped;
}

/* The same, first choice: not even a server's SYN-ACK seen (spoofed one-packet requests, SYN
 * floods), so that a real session's young slot is the last to go. */
static bool hold_can_take_first(void *ctx, const struct bw_hold_slot *sl)
{
    const struct bw_pipeline *p = ctx;
    const struct bw_flow *o = bw_flow_at(&p->flows, sl->owner);
    if (!hold_can_take(ctx, sl)) return false;
    return (o->flags & BW_FF_CONFIRMED) ? sl->capped : !(o->flags & BW_FF_SYNACK);
}

static void hold_take(struct bw_pipeline *p, struct bw_flow *f)
{
    uint32_t idx = bw_hold_get(&p->hold, f->self);
    if (!idx) {
        uint32_t v = bw_hold_pool_scan(&p->hold, 8, hold_can_take_first, p);   /* bounded work */
        if (!v) v = bw_hold_pool_scan(&p->hold, 8, hold_can_take, p);
        if (v) {
            hold_release(p, bw_flow_at(&p->flows, bw_hold_at(&p->hold, v)->owner));
            p->hold.st.reclaimed++;
            idx = bw_hold_get(&p->hold, f->self);
        }
    }
    if (!idx) {
        p->hold.st.refused++;                      /* no evidence for this flow: counted */
        return;
    }
    f->hold = idx;
}

/* The alerted session's held frames to the evidence file, masked. */
static void evidence_write(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s)
{
    struct bw_hold_slot *sl = bw_hold_at(&p->hold, f->hold);
    if (!sl || !sl->alerted || !sl->npkts || !p->evidence) return;
    const struct bw_facts *fa = &s->facts;
    const struct bw_stream_dir *cd = &s->dir[BW_DIR_TOSERVER];
    struct bw_secret_pos pos[BW_FACTS_SECRETS_MAX + BW_HOLD_MASKS + 1];
    size_t n = 0;
    struct bw_evidence_mask m;
    const uint8_t *cip;
    memset(&m, 0, sizeof m);
    bw_flow_client(f, &cip, &m.cli_port);
    m.ip_ver = f->key.ip_ver;
    memcpy(m.cli, cip, sizeof m.cli);
    for (uint8_t i = 0; i < fa->nsecrets && i < BW_FACTS_SECRETS_MAX; i++) pos[n++] = fa->secret[i];
    for (uint8_t i = 0; i < sl->nmask; i++) {
        pos[n] = sl->mask[i];
        pos[n++].dir = BW_DIR_TOSERVER;
    }
    /* A password whose place is unknown, or client bytes the dissector never saw (the stream
     * gave up on them): every client byte is overwritten. Passwords only travel to the broker. */
    bool unplaced = fa->secret_unplaced || ((fa->seen & BW_FACT_CREDS_PASS) && fa->nsecrets == 0);
    bool lost = !cd->init || s->rejected[BW_DIR_TOSERVER] || (cd->stopped && !s->dir_done[BW_DIR_TOSERVER]);
    m.all[BW_DIR_TOSERVER] = sl->unexamined_all || unplaced || lost;
    if (!m.all[BW_DIR_TOSERVER] && !s->dir_done[BW_DIR_TOSERVER])   /* not read yet: masked */
        pos[n++] = (struct bw_secret_pos){ .seq = cd->next_seq, .len = 0x80000000u, .dir = BW_DIR_TOSERVER };
    m.pos = pos;
    m.npos = n;
    size_t off = 0;
    uint64_t sum = 0;
    int dlt = -1;
    struct bw_hold_frame fr;
    while (bw_hold_next(&p->hold, f->hold, &off, &fr)) {
        sum += fr.caplen;
        if (dlt < 0) dlt = fr.dlt;
    }
    if (!bw_evidence_begin(p->evidence, dlt, sl->npkts, sum)) return;
    off = 0;
    while (bw_hold_next(&p->hold, f->hold, &off, &fr)) {
        struct bw_scrub_result sr;
        bw_evidence_scrub(fr.dlt, fr.data, fr.caplen, &m, &sr);
        bw_evidence_frame(p->evidence, fr.dlt, fr.ts_us, fr.data, fr.caplen, &sr);
    }
    bw_evidence_end(p->evidence);
}

/* A frame of a flow holding a slot, before the stages look at it. */
static void hold_frame(struct bw_pipeline *p, struct bw_flow *f, int dlt, const uint8_t *data, size_t caplen,
                       uint64_t ts)
{
    struct bw_hold_slot *sl = bw_hold_at(&p->hold, f->hold);
    if (sl->alerted && (sl->after >= p->cfg->evidence_after || sl->capped)) {
        struct bw_session *s = bw_session_of(&p->flows, f);
        if (s) evidence_write(p, f, s);            /* complete: out it goes, the slot is free */
        hold_release(p, f);
        return;
    }
    (void)bw_hold_add(&p->hold, f->hold, dlt, ts, data, caplen);   /* a cap refusing is counted */
}

/* ---- flow life ---- */

static struct bw_probe *probe_of(struct bw_pipeline *p, const struct bw_flow *f)
{
    return f->probe ? bw_probe_at(&p->probes, f->probe) : NULL;
}

static void release_probe(struct bw_pipeline *p, struct bw_flow *f)
{
    struct bw_probe *pr = probe_of(p, f);
    if (!pr) return;
    bw_classify_release(p->dpi, &pr->dpi);
    bw_probe_put(&p->probes, f->probe);
    f->probe = 0;
}

static void release_streams(struct bw_pipeline *p, struct bw_session *s)
{
    bw_stream_release(&p->streams, &s->dir[0]);
    bw_stream_release(&p->streams, &s->dir[1]);
}

static void release_session(struct bw_pipeline *p, struct bw_flow *f)
{
    struct bw_session *s = bw_session_of(&p->flows, f);
    if (!s) return;
    release_streams(p, s);
    bw_classify_release(p->dpi, &s->dpi);
    bw_session_put(&p->flows, f);
}

static void bypass(struct bw_pipeline *p, struct bw_flow *f)
{
    hold_release(p, f);                            /* never evidence: nothing more is kept */
    release_session(p, f);
    release_probe(p, f);
    src_release(p, f);
    f->state = BW_FLOW_BYPASS;
    p->flows.st.flows_bypassed++;
    if (f->lru != BW_LRU_LINGER) bw_flow_set_lru(&p->flows, f, BW_LRU_BYPASS);
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

static enum bw_close rst_reason(const struct bw_flow *f)
{
    bool srv = f->flags & BW_FF_RST_SRV;
    /* A reset answering the other side's FIN: that side ended the session first. */
    if (srv && (f->flags & BW_FF_FIN_CLI)) return BW_CLOSE_FIN;
    if (!srv && (f->flags & BW_FF_FIN_SRV)) return BW_CLOSE_FIN_SERVER_FIRST;
    return srv ? BW_CLOSE_RST_SERVER : BW_CLOSE_RST_CLIENT;
}

/* How a lingering flow ends: with its reset, or (no reset) with the FINs it lingered after. */
static enum bw_close linger_reason(const struct bw_flow *f)
{
    if (f->flags & BW_FF_RST) return rst_reason(f);
    return (f->flags & BW_FF_FIN_SRV_FIRST) ? BW_CLOSE_FIN_SERVER_FIRST : BW_CLOSE_FIN;
}

/* Where a segment's data starts (data on a SYN, TCP Fast Open, follows the SYN's own number). */
static inline uint32_t data_seq(const struct bw_packet *pk)
{
    return pk->seq + ((pk->tcp_flags & BW_TCP_SYN) ? 1u : 0u);
}

/* The slot's held bytes of one direction, in order of offset, into the session's stream. */
static void replay(struct bw_pipeline *p, struct bw_session *s, const struct bw_probe_dir *pd, int d)
{
    size_t off = 0, start, len;
    while (bw_probe_dir_next_run(pd, &off, &start, &len))
        bw_stream_segment(&p->streams, &s->dir[d], pd->base + (uint32_t)start, pd->data + start, len, len, &p->cb[d]);
}

/* The packet in hand into the stream; pd: its bytes were placed in this slot direction already
 * (and replayed), so only what lies past the slot is new. */
static void feed_packet(struct bw_pipeline *p, struct bw_session *s, const struct bw_packet *pk, enum bw_dir d,
                        const struct bw_probe_dir *pd)
{
    uint32_t seq = data_seq(pk);
    const uint8_t *data = pk->payload;
    size_t len = pk->payload_len, seg = pk->seg_len < len ? len : pk->seg_len;
    if (pd && (pd->flags & BW_PD_BASE)) {
        int64_t rel = (int32_t)(seq - pd->base);
        if (rel >= 0 && rel < BW_PROBE_BYTES) {
            size_t k = BW_PROBE_BYTES - (size_t)rel;   /* [rel, BW_PROBE_BYTES) came from here */
            if (k >= seg) return;
            size_t took = k < len ? k : len;
            data += took;
            len -= took;
            seq += (uint32_t)k;
            seg -= k;
        }
    }
    bw_stream_segment(&p->streams, &s->dir[d], seq, data, len, seg, &p->cb[d]);
}

/* A session for f, taking one back from the oldest unconfirmed flow when the pool is empty. A
 * flow the broker has answered may also take the place of a confirmed session idle for longer
 * than a probe may wait: confirmed broker sessions are the last to go. NULL when refused. */
static struct bw_session *take_session(struct bw_pipeline *p, struct bw_flow *f, bool answered)
{
    if (f->session) return bw_session_of(&p->flows, f);
    if (bw_session_pool_full(&p->flows)) {
        struct bw_flow *v = bw_flow_oldest_in(&p->flows, BW_LRU_UNCONF);
        if ((!v || v == f) && answered) {
            struct bw_flow *c = bw_flow_oldest_in(&p->flows, BW_LRU_CONFIRMED);
            if (c && c != f && p->now_us > c->last_us &&
                p->now_us - c->last_us > p->flows.timeout_us[BW_LRU_UNCONF])
                v = c;
        }
        if (v && v != f) {
            p->cnt.sessions_reclaimed++;
            v->flags |= BW_FF_RECLAIMED;
            drop_flow(p, v, BW_CLOSE_EVICTED);
        }
    }
    return bw_session_get(&p->flows, f);
}

/* Give f a session: reassembly, dissector state, facts. The slot's bytes are replayed into its
 * streams, the client's side first, each followed by the packet in hand when it belongs there,
 * so nothing is lost or delivered twice and the broker's answer comes after the request.
 * dis: the claiming dissector (app: the broker protocol when it is TLS), NULL to go on probing
 * in the stream. answered: the other side has spoken. pk_in_slot: pk's bytes were placed in the
 * slot. Returns NULL when no session could be had (the flow is bypassed, counted). */
static struct bw_session *attach(struct bw_pipeline *p, struct bw_flow *f, const struct bw_dissector *dis,
                                 enum bw_app app, bool answered, const struct bw_packet *pk, enum bw_dir d,
                                 bool pk_in_slot)
{
    if (!src_take(p, f)) {                         /* (a flow holding a slot is counted already) */
        bypass(p, f);
        return NULL;
    }
    struct bw_session *s = take_session(p, f, answered);
    if (!s) {                                      /* session pool full: degrade, never block */
        f->flags |= BW_FF_SESSION_FAIL;
        bypass(p, f);
        return NULL;
    }
    struct bw_probe *pr = probe_of(p, f);
    for (int i = 0; i < 2; i++) {
        uint32_t syn_seen = i == BW_DIR_TOSERVER ? BW_FF_SYN_SEEN_CLI : BW_FF_SYN_SEEN_SRV;
        if (pr && (pr->d[i].flags & BW_PD_BASE)) bw_stream_start(&s->dir[i], pr->d[i].base, false);
        else if (f->flags & syn_seen) bw_stream_start(&s->dir[i], f->isn[i], true);
    }
    if (pr) {
        s->dpi = pr->dpi;                          /* nDPI's state moves with the flow */
        memset(&pr->dpi, 0, sizeof pr->dpi);
    }
    if (dis) {
        bw_dispatch_attach(s, dis);
        f->state = BW_FLOW_DISSECT;
        if (dis == p->tls_dis) s->app = bw_app_name(app);
    }
    if (f->lru != BW_LRU_LINGER) bw_flow_set_lru(&p->flows, f, BW_LRU_UNCONF);
    p->cur_flow = f;
    p->cur_sess = s;
    p->cur_ts = pk ? pk->ts_us : f->last_us;
    for (int i = 0; i < 2; i++) {
        if (pr) replay(p, s, &pr->d[i], i);
        if (pk && pk->seg_len && (int)d == i) feed_packet(p, s, pk, d, pr && pk_in_slot ? &pr->d[i] : NULL);
    }
    release_probe(p, f);
    return s;
}

/* The session is over and no session was taken: a flow whose both sides sent bytes the probes
 * were still unsure of gets its last look, as the stream gives one at its end. */
static struct bw_session *last_look(struct bw_pipeline *p, struct bw_flow *f)
{
    struct bw_probe *pr = probe_of(p, f);
    if (!pr || f->state != BW_FLOW_PROBING) return NULL;
    bool both = bw_probe_dir_held(&pr->d[0]) && bw_probe_dir_held(&pr->d[1]);
    /* A claimed request to a server that took the TCP connection (SYN and SYN-ACK seen, which a
     * one-packet spoof never shows) is worth a session record for the log, marked unanswered. */
    bool logged = pr->claim && p->cfg->session_log &&
                  (f->flags & (BW_FF_SYN_CLI | BW_FF_SYNACK)) == (BW_FF_SYN_CLI | BW_FF_SYNACK);
    if (!both && !logged) return NULL;
    const struct bw_dissector *dis = NULL;
    if (pr->claim) dis = pr->claim == BW_PROBE_CLAIM_TLS ? p->tls_dis : p->dis[pr->claim - 1];
    enum bw_app app = (enum bw_app)pr->claim_app;
    bool fin = p->finishing;
    p->finishing = true;                           /* final: a plausible guess is taken */
    struct bw_session *s = attach(p, f, dis, app, true, NULL, BW_DIR_TOSERVER, false);
    p->finishing = fin;
    return s;
}

/* The TCP session is over: deliver what is held, let the dissector conclude, judge, log. */
static void end_session(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how)
{
    struct bw_session *s = bw_session_of(&p->flows, f);
    bool claimed = f->probe && probe_of(p, f)->claim;
    if (!s && how != BW_CLOSE_EVICTED) s = last_look(p, f);   /* not for a flow making room */
    release_probe(p, f);
    if (!s) {
        if (claimed) p->cnt.flows_unanswered++;
        return;
    }
    bw_classify_release(p->dpi, &s->dpi);
    if ((f->flags & BW_FF_RST) && (how == BW_CLOSE_END || how == BW_CLOSE_TIMEOUT))
        how = rst_reason(f);                       /* it ended with the reset it lingered after */
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
        if (f->flags & BW_FF_CONFIRMED) {
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
        } else {
            p->cnt.flows_unanswered++;
            /* No alert, no report, no inventory: the log alone shows what the client sent. */
            if (p->cfg->session_log && (s->facts.seen & BW_FACT_CONFIRMED)) {
                struct bw_record_in in = { .ts_us = f->last_us, .flow = f, .session = s, .kind = -1,
                                           .end_reason = reason_name(how), .unanswered = true };
                p->cnt.sessions_logged++;
                write_record(p, &in);
            }
        }
    }
    evidence_write(p, f, s);
    hold_release(p, f);
    release_streams(p, s);
    bw_session_put(&p->flows, f);
}

static void drop_flow(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how)
{
    if (f->state != BW_FLOW_CLOSED) end_session(p, f, how);
    hold_release(p, f);
    release_session(p, f);
    release_probe(p, f);
    src_release(p, f);
    bw_flow_free(&p->flows, f);
}

static void close_flow(struct bw_pipeline *p, struct bw_flow *f, enum bw_close how)
{
    end_session(p, f, how);
    hold_release(p, f);
    release_probe(p, f);
    src_release(p, f);
    f->state = BW_FLOW_CLOSED;
    p->flows.st.flows_closed++;
    bw_flow_set_lru(&p->flows, f, BW_LRU_CLOSED);  /* absorb late packets, then go */
}

static void expire(struct bw_pipeline *p)
{
    struct bw_flow *f;
    while ((f = bw_flow_next_expired(&p->flows, p->now_us)) != NULL) {
        if (f->lru == BW_LRU_LINGER) {             /* the moment after a reset (or FINs) is over */
            close_flow(p, f, linger_reason(f));
            continue;
        }
        p->flows.st.flows_expired++;
        drop_flow(p, f, BW_CLOSE_TIMEOUT);
    }
}

/* Does the session's reassembly still wait for a segment (held data beyond a hole)? Mirror
 * ports may copy a segment after the FINs that follow it. */
static bool stream_waiting(struct bw_pipeline *p, const struct bw_flow *f)
{
    const struct bw_session *s = bw_session_of(&p->flows, f);
    return s && (s->dir[0].nooo || s->dir[1].nooo);
}

/* FIN/RST bookkeeping; returns true when the flow just closed. */
static bool tcp_close_state(struct bw_pipeline *p, struct bw_flow *f, const struct bw_packet *pk, enum bw_dir d)
{
    if (f->state == BW_FLOW_CLOSED) return false;
    if (pk->tcp_flags & BW_TCP_RST) {
        if (f->lru == BW_LRU_LINGER) return false;  /* already counting down */
        f->flags |= BW_FF_RST | (d == BW_DIR_TOCLIENT ? BW_FF_RST_SRV : 0);
        if (f->state != BW_FLOW_BYPASS && (f->session || f->probe)) {
            /* Mirror ports reorder: the broker's last answer (a CONNACK, a Close) may be captured
             * after the reset. Keep reading a few packets or a moment, then close. */
            f->linger = BW_LINGER_PACKETS;
            bw_flow_set_lru(&p->flows, f, BW_LRU_LINGER);
            p->cnt.rst_lingered++;
            return false;
        }
        close_flow(p, f, rst_reason(f));
        return true;
    }
    if (pk->tcp_flags & BW_TCP_FIN) {
        if (d == BW_DIR_TOSERVER) {
            f->flags |= BW_FF_FIN_CLI;
        } else {
            if (!(f->flags & BW_FF_FIN_CLI)) f->flags |= BW_FF_FIN_SRV_FIRST;
            f->flags |= BW_FF_FIN_SRV;
        }
        if (f->lru == BW_LRU_LINGER) return false;  /* the reset came first: it decides */
        if ((f->flags & (BW_FF_FIN_CLI | BW_FF_FIN_SRV)) == (BW_FF_FIN_CLI | BW_FF_FIN_SRV)) {
            if (stream_waiting(p, f)) {
                /* Both FINs, but a segment before them is still missing: read on while the
                 * stream would wait for it, then close as the FINs said. */
                f->linger = BW_STREAM_ACK_WAIT_PKTS;
                bw_flow_set_lru(&p->flows, f, BW_LRU_LINGER);
                p->cnt.fin_lingered++;
                return false;
            }
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
    uint64_t h = bw_flow_hash(&p->flows, &k);
    struct bw_flow *f = bw_flow_find(&p->flows, &k, h);
    bool syn_only = (pk->tcp_flags & (BW_TCP_SYN | BW_TCP_ACK)) == BW_TCP_SYN;
    if (f && syn_only && (f->state == BW_FLOW_CLOSED || f->lru == BW_LRU_LINGER)) {
        drop_flow(p, f, f->state == BW_FLOW_CLOSED ? BW_CLOSE_END : linger_reason(f));  /* port reuse */
        f = NULL;
    }
    if (f) return f;
    if (pk->tcp_flags & BW_TCP_RST) return NULL;   /* a stray reset opens nothing */
    f = bw_flow_create(&p->flows, &k, h, pk->ts_us);
    if (!f) {
        /* Full: the cheapest class goes first; a live broker session only when nothing else is left. */
        struct bw_flow *victim = bw_flow_victim(&p->flows);
        if (!victim) { p->flows.st.flows_refused++; return NULL; }
        p->flows.st.flows_evicted++;
        if (victim->flags & BW_FF_CONFIRMED) p->flows.st.flows_evicted_confirmed++;
        drop_flow(p, victim, BW_CLOSE_EVICTED);
        f = bw_flow_create(&p->flows, &k, h, pk->ts_us);
        if (!f) return NULL;
    }
    enum bw_orient_hint hint = (pk->tcp_flags & BW_TCP_SYN) ? BW_ORIENT_UNKNOWN : known_hint(p, pk);
    bw_flow_orient(f, pk, *from_a, hint);
    if (p->hold.nslots) hold_take(p, f);           /* -w: its frames wait for a verdict */
    return f;
}

/* ---- the probe slot ---- */

/* Count f against its source and give it a slot, taking one back from the oldest probing flow
 * when the pool is empty. NULL when refused (counted; the caller bypasses). */
static struct bw_probe *take_probe(struct bw_pipeline *p, struct bw_flow *f)
{
    if (f->probe) return probe_of(p, f);
    if (!src_take(p, f)) return NULL;
    if (bw_probe_pool_full(&p->probes)) {
        struct bw_flow *v = bw_flow_oldest_in(&p->flows, BW_LRU_PROBE);
        if (v && v != f) {
            p->probes.st.reclaimed++;
            v->flags |= BW_FF_RECLAIMED;
            drop_flow(p, v, BW_CLOSE_EVICTED);     /* its next packet starts a new flow */
        }
    }
    uint32_t idx = bw_probe_get(&p->probes, f->self);
    if (!idx) return NULL;
    f->probe = idx;
    struct bw_probe *pr = bw_probe_at(&p->probes, idx);
    if (f->flags & BW_FF_SYN_SEEN_CLI) bw_probe_dir_isn(&pr->d[BW_DIR_TOSERVER], f->isn[BW_DIR_TOSERVER]);
    if (f->flags & BW_FF_SYN_SEEN_SRV) bw_probe_dir_isn(&pr->d[BW_DIR_TOCLIENT], f->isn[BW_DIR_TOCLIENT]);
    if (f->lru != BW_LRU_LINGER) bw_flow_set_lru(&p->flows, f, BW_LRU_PROBE);
    return pr;
}

/* A slot for the bytes so far kept on the stack (tmp: the packet's direction d). */
static struct bw_probe *keep(struct bw_pipeline *p, struct bw_flow *f, enum bw_dir d, const struct bw_probe_dir *tmp)
{
    bool had = f->probe != 0;
    struct bw_probe *pr = take_probe(p, f);
    if (!pr) {
        bypass(p, f);                              /* refused: counted as a capacity refusal */
        return NULL;
    }
    if (!had) pr->d[d] = *tmp;
    return pr;
}

static const struct bw_dissector *claimed_dis(const struct bw_pipeline *p, const struct bw_probe *pr)
{
    return pr->claim == BW_PROBE_CLAIM_TLS ? p->tls_dis : p->dis[pr->claim - 1];
}

/* A dissector claimed direction d of f (tmp: the bytes so far when no slot is held). */
static void claim(struct bw_pipeline *p, struct bw_flow *f, const struct bw_packet *pk, enum bw_dir d,
                  struct bw_probe_dir *tmp, const struct bw_dissector *dis, uint8_t tag, enum bw_app app,
                  size_t view_len)
{
    struct bw_probe *pr = probe_of(p, f);
    const struct bw_probe_dir *pd = pr ? &pr->d[d] : tmp;
    bool answered = pr && bw_probe_dir_held(&pr->d[!d]) > 0;
    bool over = view_len > BW_PROBE_BYTES || (pd->flags & BW_PD_LOST);
    if (answered || over) {
        /* The other side spoke, or this side sends more than a slot holds: read it whole. With
         * no slot the packet alone is the start and goes to the stream as it is. */
        attach(p, f, dis, app, answered, pk, d, pr != NULL);
        return;
    }
    if (!pr && !(pr = keep(p, f, d, tmp))) return;
    pr->claim = tag;
    pr->claim_dir = (uint8_t)d;
    pr->claim_app = (uint8_t)app;
    pr->d[d].flags |= BW_PD_FIXED;
}

/* TLS: a broker's (port, SNI/ALPN, a server that spoke a broker protocol in clear) is followed,
 * anything else is bypassed. */
static void tls_decided(struct bw_pipeline *p, struct bw_flow *f, const struct bw_packet *pk, enum bw_dir d,
                        struct bw_probe_dir *tmp, size_t view_len, bool pk_in_slot, enum bw_app named)
{
    struct bw_probe *pr = probe_of(p, f);
    enum bw_app app = named ? named : tls_broker_app(p, f, pr ? &pr->dpi : NULL);
    if (!app) {
        p->cnt.flows_tls_other++;
        bypass(p, f);
        return;
    }
    if (tmp) claim(p, f, pk, d, tmp, p->tls_dis, BW_PROBE_CLAIM_TLS, app, view_len);
    else attach(p, f, p->tls_dis, app, false, pk, d, pk_in_slot);
}

/* The TLS dissector reads the client's hello from the view, on scratch state: its server name
 * and offered ALPN names say whether this is a broker's TLS (BW_APP_*), or -1 when the hello is
 * not all there (nDPI, which reassembles it, is asked then). */
static int tls_hello_app(struct bw_pipeline *p, struct bw_bytes v)
{
    const struct bw_dissector *t = p->tls_dis;
    memset(p->hello_state, 0, sizeof p->hello_state);
    if (t->reset) t->reset(p->hello_state);
    bw_facts_init(&p->hello_facts);
    size_t off = 0;
    for (int n = 0; off < v.len && n < 64; n++) {
        size_t used = 0;
        enum bw_parse r = t->parse(p->hello_state, BW_DIR_TOSERVER, v.ptr + off, v.len - off, &used,
                                   &p->hello_facts);
        if (r != BW_PARSE_OK || used == 0) break;
        off += used < v.len - off ? used : v.len - off;
    }
    const struct bw_tls_facts *x = bw_tls_facts_of(&p->hello_facts);
    if (!x || !(x->have & BW_TLS_HAVE_CLIENT_HELLO)) return -1;
    char alpn[BW_TLS_ALPN_LIST_MAX + 1];          /* the offered names, comma-separated */
    size_t k = 0;
    struct bw_cur c = bw_cur_init(x->alpn_offered, x->alpn_offered_len);
    while (bw_cur_left(&c) > 0) {
        struct bw_bytes name = bw_cur_bytes(&c, bw_cur_u8(&c));
        if (c.bad || k + name.len + 1 >= sizeof alpn) break;
        if (k) alpn[k++] = ',';
        memcpy(alpn + k, name.ptr, name.len);
        k += name.len;
    }
    alpn[k] = '\0';
    const char *sni = bw_tls_sni(&p->hello_facts);
    return (int)bw_classify_tls_names(sni, sni ? sizeof x->sni : 0, alpn, sizeof alpn);
}

/* Ask nDPI about the packet in hand (the flow holds a slot for its state). Returns its answer. */
static enum bw_dpi ask_dpi(struct bw_pipeline *p, struct bw_probe *pr, const struct bw_packet *pk)
{
    if (!dpi_asked(&pr->dpi)) p->cnt.dpi_asked++;
    return bw_classify_packet(p->dpi, &pr->dpi, pk);
}

/* A payload segment of a flow that has no session. */
static void probe_segment(struct bw_pipeline *p, struct bw_flow *f, const struct bw_packet *pk, enum bw_dir d)
{
    uint32_t seq = data_seq(pk);
    struct bw_probe *pr = probe_of(p, f);
    uint32_t said_no = d == BW_DIR_TOSERVER ? BW_FF_PROBE_NO_CLI : BW_FF_PROBE_NO_SRV;

    if (pr && pr->claim) {
        if (d != pr->claim_dir) {                   /* the other side answers: read both */
            attach(p, f, claimed_dis(p, pr), (enum bw_app)pr->claim_app, true, pk, d, false);
        } else if (bw_probe_dir_overflows(&pr->d[d], seq, pk->payload_len)) {
            attach(p, f, claimed_dis(p, pr), (enum bw_app)pr->claim_app, false, pk, d, false);
        } else {
            bw_probe_dir_place(&pr->d[d], seq, pk->payload, pk->payload_len);
        }
        return;
    }
    if (f->flags & said_no) return;                 /* nobody wants this side: its bytes go */

    /* The reassembled start of this direction: the slot's bytes, or (no slot yet) the segment. */
    struct bw_probe_dir tmp, *pd;
    if (pr) {
        pd = &pr->d[d];
    } else {
        memset(&tmp, 0, sizeof tmp);
        pd = &tmp;
        uint32_t syn_seen = d == BW_DIR_TOSERVER ? BW_FF_SYN_SEEN_CLI : BW_FF_SYN_SEEN_SRV;
        if (f->flags & syn_seen) bw_probe_dir_isn(pd, f->isn[d]);
    }
    if (bw_probe_dir_overflows(pd, seq, pk->payload_len) && !bw_probe_dir_continues(pd, seq)) {
        /* Reordered past what a slot keeps (a large first message's later segment came first):
         * only a session's stream can hold it until the start arrives. */
        attach(p, f, NULL, BW_APP_NONE, false, pk, d, false);
        return;
    }
    uint8_t had = pd->len;
    bool grew = bw_probe_dir_place(pd, seq, pk->payload, pk->payload_len);
    struct bw_bytes v = bw_probe_view(pd, seq, pk->payload, pk->payload_len, p->scratch, sizeof p->scratch);
    if (v.len == 0 || (!grew && v.len <= had)) {
        /* Byte 0 is not here yet (reordered), or nothing new: keep what came. */
        if (!pr) keep(p, f, d, &tmp);
        return;
    }
    int hint = pr ? hint_of(p, &pr->dpi) : -1;
    bool final = v.len >= BW_PROBE_WINDOW;
    size_t chosen = 0;
    enum bw_choice ch = bw_dispatch_choose(p->dis, p->ndis, d, v.ptr, v.len, hint, final, &chosen);
    if (ch == BW_CHOICE_NONE && d == BW_DIR_TOSERVER && p->tls_dis) {
        int sc = p->tls_dis->probe(d, v.ptr, v.len);
        if (sc >= BW_PROBE_CLAIM) {
            /* The hello's own names (ALPN, SNI) first: they say what this client wants, where
             * the memory of a server only says what else that address served last. */
            int named = tls_hello_app(p, v);
            if (named > 0) {
                tls_decided(p, f, pk, d, pd, v.len, pr != NULL, (enum bw_app)named);
                return;
            }
            if (tls_broker_app(p, f, pr ? &pr->dpi : NULL)) {
                tls_decided(p, f, pk, d, pd, v.len, pr != NULL, BW_APP_NONE);
                return;
            }
            /* A TLS client on a port no broker is known on, naming none: bypassed, or nDPI. */
            if (named == BW_APP_NONE) {
                p->cnt.flows_tls_other++;
                bypass(p, f);
                return;
            }
            /* The hello goes on in later segments: nDPI reassembles it and reads the names. */
            if (!pr && !(pr = keep(p, f, d, &tmp))) return;
            enum bw_dpi r = ask_dpi(p, pr, pk);
            if (r == BW_DPI_PENDING) return;        /* the rest of the hello is still to come */
            tls_decided(p, f, pk, d, &pr->d[d], v.len, true, BW_APP_NONE);
            return;
        }
        if (sc >= BW_PROBE_MAYBE && !final) ch = BW_CHOICE_WAIT;
    }
    switch (ch) {
    case BW_CHOICE_FOUND:
        claim(p, f, pk, d, pd, p->dis[chosen], (uint8_t)(chosen + 1), BW_APP_NONE, v.len);
        return;
    case BW_CHOICE_WAIT:
        if (v.len > BW_PROBE_BYTES || (pd->flags & BW_PD_LOST)) {
            /* Undecided and more than a slot holds: go on in a session's stream. */
            attach(p, f, NULL, BW_APP_NONE, false, pk, d, pr != NULL);
            return;
        }
        if (!pr && !(pr = keep(p, f, d, &tmp))) return;
        if (!dpi_asked(&pr->dpi)) {
            /* The probes cannot place these bytes: nDPI may. */
            enum bw_dpi r = ask_dpi(p, pr, pk);
            if (r == BW_DPI_TLS) {
                tls_decided(p, f, pk, d, NULL, v.len, true, BW_APP_NONE);
            } else if ((hint = hint_of(p, &pr->dpi)) >= 0 &&
                       bw_dispatch_choose(p->dis, p->ndis, d, v.ptr, v.len, hint, final, &chosen) == BW_CHOICE_FOUND) {
                claim(p, f, pk, d, &pr->d[d], p->dis[chosen], (uint8_t)(chosen + 1), BW_APP_NONE, v.len);
            }
        }
        return;
    case BW_CHOICE_NONE:
        f->flags |= said_no;
        if ((d == BW_DIR_TOSERVER && (f->flags & BW_FF_SYN_CLI)) ||
            ((f->flags & BW_FF_PROBE_NO_CLI) && (f->flags & BW_FF_PROBE_NO_SRV))) {
            p->cnt.flows_not_broker++;
            bypass(p, f);
            return;
        }
        if (pr) {
            memset(pd->map, 0, sizeof pd->map);     /* nobody will look at these bytes again */
            pd->len = 0;
            pd->flags |= BW_PD_FIXED;
            if (bw_probe_dir_held(&pr->d[!d])) return;   /* the other side is still undecided */
            release_probe(p, f);
            src_release(p, f);
        }
        if (f->lru != BW_LRU_LINGER) bw_flow_set_lru(&p->flows, f, BW_LRU_QUIET);
        return;
    }
}

/* ---- the packet ---- */

static void syn_seen(struct bw_pipeline *p, struct bw_flow *f, const struct bw_packet *pk, enum bw_dir d)
{
    f->isn[d] = pk->seq;
    f->flags |= d == BW_DIR_TOSERVER ? BW_FF_SYN_SEEN_CLI : BW_FF_SYN_SEEN_SRV;
    if (d == BW_DIR_TOCLIENT && (pk->tcp_flags & BW_TCP_ACK)) f->flags |= BW_FF_SYNACK;
    if (d == BW_DIR_TOSERVER && !(pk->tcp_flags & BW_TCP_ACK)) f->flags |= BW_FF_SYN_CLI;
    /* A late SYN-ACK still says where the server's bytes start. */
    struct bw_probe *pr = probe_of(p, f);
    if (pr) bw_probe_dir_isn(&pr->d[d], pk->seq);
    struct bw_session *s = bw_session_of(&p->flows, f);
    if (s && !s->dir[d].init) bw_stream_start(&s->dir[d], pk->seq, true);
}

/* The first payload of a flow seen without a SYN: a broker learned since it was created decides
 * which end is the server. */
static void first_payload(struct bw_pipeline *p, struct bw_flow *f, enum bw_dir *d)
{
    f->flags |= BW_FF_PAYLOAD | BW_FF_ESTABLISHED;
    if ((f->flags & (BW_FF_SYN_CLI | BW_FF_SYNACK)) || f->probe || f->session) return;
    const uint8_t *cip, *sip;
    uint16_t cport, sport;
    bw_flow_client(f, &cip, &cport);
    bw_flow_server(f, &sip, &sport);
    if (known_ep_is(p, f->key.ip_ver, cip, cport) && !known_ep_is(p, f->key.ip_ver, sip, sport)) {
        bw_flow_flip(f);
        *d = *d == BW_DIR_TOSERVER ? BW_DIR_TOCLIENT : BW_DIR_TOSERVER;
        p->cnt.orient_flipped++;
    }
}

/* A packet of a flow that has a session (possibly taken by this very packet: fed). */
static void session_packet(struct bw_pipeline *p, struct bw_flow *f, struct bw_session *s,
                           const struct bw_packet *pk, enum bw_dir d, bool fed)
{
    p->cur_flow = f;
    p->cur_sess = s;
    p->cur_ts = pk->ts_us;
    p->bypass_pending = false;
    p->kick_pending = false;
    if (!s->dis && dpi_asked(&s->dpi) && !s->dpi.done &&
        bw_classify_packet(p->dpi, &s->dpi, pk) == BW_DPI_TLS) {
        /* Encrypted: only a broker's TLS is worth following (its handshake, then no more). */
        enum bw_app app = p->tls_dis ? tls_broker_app(p, f, &s->dpi) : BW_APP_NONE;
        if (!app) {
            p->cnt.flows_tls_other++;
            bypass(p, f);
            tcp_close_state(p, f, pk, d);
            return;
        }
        attach_tls(p, f, s, app);
    }
    enum bw_dir o = d == BW_DIR_TOSERVER ? BW_DIR_TOCLIENT : BW_DIR_TOSERVER;
    /* A hole an earlier ack covered waits a few packets for its late segment (mirror ports). */
    bw_stream_tick(&p->streams, &s->dir[d], pk->ts_us, &p->cb[d]);
    bw_stream_tick(&p->streams, &s->dir[o], pk->ts_us, &p->cb[o]);
    if ((pk->tcp_flags & BW_TCP_ACK) && s->dir[o].init)
        bw_stream_ack(&p->streams, &s->dir[o], pk->ack, pk->ts_us, &p->cb[o]);
    /* This packet acknowledges bytes of o the stream still waits for: its own bytes answer them,
     * so they wait too (an answer read before its request would judge a session half seen). */
    if (s->dir[o].ack_pending && !s->dir[d].hold && pk->seg_len && !fed)
        bw_stream_hold(&p->streams, &s->dir[d], true, &p->cb[d]);
    if (pk->seg_len && !fed)
        bw_stream_segment(&p->streams, &s->dir[d], data_seq(pk), pk->payload, pk->payload_len, pk->seg_len, &p->cb[d]);
    /* The awaited bytes came (or were given up): what answered them is read now. */
    for (int i = 0; i < 2; i++)
        if (s->dir[i].hold && !s->dir[!i].ack_pending)
            bw_stream_hold(&p->streams, &s->dir[i], false, &p->cb[i]);

    if (p->kick_pending) {
        p->kick_pending = false;
        bw_stream_kick(&p->streams, &s->dir[o], &p->cb[o]);
        bw_stream_kick(&p->streams, &s->dir[d], &p->cb[d]);
    }
    if (p->bypass_pending && !s->dis) {
        p->cnt.flows_not_broker++;
        bypass(p, f);
        tcp_close_state(p, f, pk, d);
        return;
    }
    if (!s->dis && f->pkts[0] + f->pkts[1] > BW_PROBE_PACKETS_MAX) {
        p->cnt.flows_not_broker++;                 /* nobody claimed it in time: stop looking */
        bypass(p, f);
        return;
    }
    if (s->dis && !(f->flags & BW_FF_CONFIRMED) && s->rejected[BW_DIR_TOCLIENT]) {
        /* The dissector refused what the server sent: no broker will answer here. */
        p->cnt.flows_unanswered++;
        p->cnt.flows_not_broker++;
        bypass(p, f);
        tcp_close_state(p, f, pk, d);
        return;
    }
    if (s->dis && s->dir_done[0] && s->dir_done[1])
        release_streams(p, s);                     /* dissector finished: no more reassembly */
    tcp_close_state(p, f, pk, d);
}

/* Timeouts and capacity records, due by packet time (now_us). */
static void timers(struct bw_pipeline *p)
{
    if (p->now_us >= p->next_expire_us) {
        expire(p);
        p->next_expire_us = p->now_us + EXPIRE_EVERY_US;
    }
    if (p->now_us >= p->next_cap_us) {
        capacity_poll(p, false);
        p->next_cap_us = p->now_us + CAPACITY_EVERY_US;
    }
}

void bw_pipeline_clock(struct bw_pipeline *p, uint64_t now_us)
{
    /* Only forward, and only once a packet set the clock: a wall clock set back, or a sensor
     * that saw nothing yet, has no timer to run. */
    if (!p->now_us || now_us <= p->now_us) return;
    p->now_us = now_us;
    timers(p);
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
    else if (p->now_us - ts > p->flows.timeout_us[BW_LRU_CONFIRMED]) {
        p->now_us = ts;
        p->next_expire_us = p->next_cap_us = ts;   /* timers follow the clock back */
    }
    timers(p);
    if (bw_decode_packet(dlt, data, caplen, ts, &pk, &p->dec) != BW_DEC_TCP) return;
    p->cnt.tcp_packets++;

    struct bw_flow *f = flow_for(p, &pk, &from_a);
    if (!f) return;
    enum bw_dir d = bw_flow_dir(f, from_a);
    f->pkts[d]++;
    f->bytes[d] += caplen;
    if (f->state == BW_FLOW_CLOSED) return;        /* late packets of a finished session */
    bw_flow_touch(f, ts);
    if (f->state == BW_FLOW_BYPASS) {              /* the common case: one lookup, done */
        p->cnt.bypassed_packets++;
        if (pk.tcp_flags & (BW_TCP_RST | BW_TCP_FIN)) tcp_close_state(p, f, &pk, d);
        return;
    }
    if (f->hold) hold_frame(p, f, dlt, data, caplen, ts);
    bool lingering = f->lru == BW_LRU_LINGER;
    if (pk.tcp_flags & BW_TCP_SYN) syn_seen(p, f, &pk, d);
    if (pk.seg_len && !(f->flags & BW_FF_PAYLOAD)) {
        first_payload(p, f, &d);
    } else if (f->lru == BW_LRU_SYN && !(pk.tcp_flags & (BW_TCP_SYN | BW_TCP_RST)) &&
               (!(f->flags & (BW_FF_SYN_CLI | BW_FF_SYNACK)) || ((f->flags & BW_FF_SYNACK) && d == BW_DIR_TOSERVER))) {
        f->flags |= BW_FF_ESTABLISHED;             /* handshake finished (or seen midway), no payload yet */
        bw_flow_set_lru(&p->flows, f, BW_LRU_IDLE);
    }

    struct bw_session *s = bw_session_of(&p->flows, f);
    bool fed = false;
    if (!s) {
        struct bw_probe *pr = probe_of(p, f);
        p->cur_flow = f;
        if (pr && dpi_asked(&pr->dpi) && !pr->dpi.done && !pr->claim &&
            ask_dpi(p, pr, &pk) == BW_DPI_TLS && p->tls_dis) {
            tls_decided(p, f, &pk, d, NULL, 0, false, BW_APP_NONE);   /* a later hello segment told nDPI */
            fed = true;
        }
        if (!fed && f->state == BW_FLOW_PROBING && pk.seg_len) probe_segment(p, f, &pk, d);
        if (f->state == BW_FLOW_BYPASS || f->state == BW_FLOW_CLOSED) {
            if (pk.tcp_flags & (BW_TCP_RST | BW_TCP_FIN)) tcp_close_state(p, f, &pk, d);
            return;
        }
        s = bw_session_of(&p->flows, f);
        if (!s) {
            pr = probe_of(p, f);
            if ((f->flags & BW_FF_PAYLOAD) && !(pr && pr->claim) && f->pkts[0] + f->pkts[1] > BW_PROBE_PACKETS_MAX) {
                p->cnt.flows_not_broker++;         /* nobody claimed it in time: stop looking */
                bypass(p, f);
                if (pk.tcp_flags & (BW_TCP_RST | BW_TCP_FIN)) tcp_close_state(p, f, &pk, d);
                return;
            }
            tcp_close_state(p, f, &pk, d);
            goto linger;
        }
        fed = pk.seg_len > 0;                      /* taken by this packet, its bytes given */
    }
    session_packet(p, f, s, &pk, d, fed);
linger:
    /* After a reset: a few more packets, then the session is over (the LINGER timeout covers a
     * flow that goes quiet). After both FINs with a segment still missing: until it came, or as
     * many packets as the stream waits for one. */
    if (lingering && f->lru == BW_LRU_LINGER && f->state != BW_FLOW_CLOSED &&
        (!f->linger || --f->linger == 0 || (!(f->flags & BW_FF_RST) && !stream_waiting(p, f))))
        close_flow(p, f, linger_reason(f));
}

/* ---- capacity records ---- */

static void emit_capacity(struct bw_pipeline *p, const struct bw_capacity_event *e)
{
    size_t len = bw_capacity_json(e, p->cfg->sensor_name, p->rec, sizeof p->rec);
    if (len) {
        struct bw_record_meta meta;
        memset(&meta, 0, sizeof meta);
        meta.type = BW_REC_CAPACITY;
        meta.event_type = "capacity";
        meta.kind = bw_resource_name(e->res);
        meta.severity = "medium";
        meta.app_proto = "";
        meta.ts_us = e->ts_us;
        for (size_t i = 0; i < p->nsinks; i++)
            if (p->sinks[i]->write(p->sinks[i], p->rec, len, &meta) != 0) p->cnt.sink_errors++;
    }
    p->cnt.capacity_records++;
    if (p->notice) {
        char line[512];
        bw_capacity_line(e, line, sizeof line);
        p->notice(p->notice_ctx, line);
    }
}

/* Compare every bounded resource's refusal counter with the last look; a resource that refused
 * gets a record at once, then at most one per BW_CAPACITY_INTERVAL_S of packet time (final:
 * whatever is pending goes now). */
static void capacity_poll(struct bw_pipeline *p, bool final)
{
    struct bw_capacity_event ev[BW_RES_COUNT];
    struct bw_classify_stats ds;
    memset(ev, 0, sizeof ev);
    memset(&ds, 0, sizeof ds);
    if (p->dpi) bw_classify_get_stats(p->dpi, &ds);
    const struct bw_flow_stats *fs = &p->flows.st;
    const struct bw_probe_stats *ps = &p->probes.st;
    const struct bw_stream_stats *ss = &p->streams.st;
    ev[BW_RES_FLOWS] = (struct bw_capacity_event){ .refused_total = fs->flows_evicted + fs->flows_refused,
        .cap = p->flows.max_flows, .high_water = fs->flows_hwm, .unit = "flows" };
    ev[BW_RES_PROBES] = (struct bw_capacity_event){ .refused_total = ps->reclaimed + ps->refused,
        .cap = ps->max, .high_water = ps->hwm, .unit = "slots" };
    ev[BW_RES_PROBES_PER_SOURCE] = (struct bw_capacity_event){ .refused_total = ps->src_refused,
        .cap = ps->src_cap, .high_water = ps->src_hwm, .unit = "flows" };
    ev[BW_RES_SESSIONS] = (struct bw_capacity_event){ .refused_total = p->cnt.sessions_reclaimed + fs->session_memcap_hits,
        .cap = fs->sessions_max, .high_water = fs->sessions_hwm, .unit = "sessions" };
    ev[BW_RES_STREAM_MEMORY] = (struct bw_capacity_event){ .refused_total = ss->memcap_hits,
        .cap = ss->buffers_max * p->streams.window, .high_water = ss->buffers_hwm * p->streams.window,
        .unit = "bytes" };
    ev[BW_RES_NDPI_SLOTS] = (struct bw_capacity_event){ .refused_total = ds.slot_memcap_hits,
        .cap = ds.slots_max, .high_water = ds.slots_hwm, .unit = "slots" };
    ev[BW_RES_ALERT_QUEUE] = (struct bw_capacity_event){ .unit = "bytes" };
    ev[BW_RES_EVIDENCE_HOLD] = (struct bw_capacity_event){ .refused_total = p->hold.st.refused,
        .cap = p->hold.st.max, .high_water = p->hold.st.hwm, .unit = "slots" };
    for (size_t i = 0; i < p->nsinks; i++) {
        struct bw_sink_capacity sc;
        if (!p->sinks[i]->capacity) continue;
        memset(&sc, 0, sizeof sc);
        p->sinks[i]->capacity(p->sinks[i], &sc);
        ev[BW_RES_ALERT_QUEUE].refused_total += sc.refused;
        ev[BW_RES_ALERT_QUEUE].cap += sc.cap;
        if (sc.high_water > ev[BW_RES_ALERT_QUEUE].high_water) ev[BW_RES_ALERT_QUEUE].high_water = sc.high_water;
    }
    for (int r = 0; r < BW_RES_COUNT; r++) {
        struct bw_capacity *c = &p->cap[r];
        uint64_t tot = ev[r].refused_total;
        if (tot > c->seen) {
            c->pending += tot - c->seen;
            c->seen = tot;
        }
        p->cnt.refused[r] = tot;
        if (!c->pending) continue;
        if (!final && c->last_us && p->now_us - c->last_us < (uint64_t)BW_CAPACITY_INTERVAL_S * 1000000u)
            continue;
        ev[r].res = (enum bw_resource)r;
        ev[r].ts_us = p->now_us;
        ev[r].refused = c->pending;
        emit_capacity(p, &ev[r]);
        c->pending = 0;
        c->last_us = p->now_us ? p->now_us : 1;
    }
}

uint64_t bw_pipeline_refused(const struct bw_pipeline *p)
{
    uint64_t n = 0;
    for (int r = 0; r < BW_RES_COUNT; r++) n += p->cnt.refused[r];
    return n;
}

void bw_pipeline_finish(struct bw_pipeline *p)
{
    struct bw_flow *f;
    while ((f = bw_flow_any(&p->flows)) != NULL)
        drop_flow(p, f, BW_CLOSE_END);
    capacity_poll(p, true);
    for (size_t i = 0; i < p->nsinks; i++)
        if (p->sinks[i]->flush(p->sinks[i]) != 0) p->cnt.sink_errors++;
}

void bw_pipeline_release_dpi(struct bw_pipeline *p)
{
    bw_classify_free(p->dpi);
    p->dpi = NULL;
}

/* Write every page once, keeping its contents (a read alone maps the shared zero page). */
static void prefault(void *mem, size_t len)
{
    volatile uint8_t *b = mem;
    if (!b) return;
    for (size_t i = 0; i < len; i += 4096) b[i] = b[i];
    if (len) b[len - 1] = b[len - 1];
}

void bw_pipeline_prefault(struct bw_pipeline *p)
{
    /* Every region that init sized up front belongs in this list; pools that grow by chunks
     * (flow records, sessions, probe slots, nDPI slots) or double (the flow buckets) fault when
     * they grow, once per chunk. */
    prefault(p->streams.mem, (size_t)p->streams.nbufs * p->streams.window);
    prefault(p->streams.free_idx, (size_t)p->streams.nbufs * sizeof *p->streams.free_idx);
    prefault(p->flows.buckets, (size_t)p->flows.nbuckets * sizeof *p->flows.buckets);
    prefault(p->flows.snext, (size_t)p->flows.max_sessions * sizeof *p->flows.snext);
    prefault(p->probes.next, (size_t)p->probes.max * sizeof *p->probes.next);
    prefault(p->probes.src, (size_t)BW_SRC_CELLS * sizeof *p->probes.src);
    prefault(p->hold.mem, (size_t)p->hold.nslots * p->hold.slot_bytes);
}

void bw_pipeline_stats(const struct bw_pipeline *p, struct bw_stats *out)
{
    memset(out, 0, sizeof *out);
    out->pipe = p->cnt;
    out->pipe.brute_pairs_replaced = p->brute.replaced;
    out->decode = p->dec;
    out->flow = p->flows.st;
    out->stream = p->streams.st;
    out->probe = p->probes.st;
    if (p->dpi) bw_classify_get_stats(p->dpi, &out->dpi);
    out->mem.flows = (uint64_t)p->flows.max_flows * sizeof(struct bw_flow) +
                     (uint64_t)p->flows.max_buckets * sizeof(struct bw_flow_bucket);
    out->mem.probes = (uint64_t)p->probes.max * (sizeof(struct bw_probe) + sizeof(uint32_t)) +
                      BW_SRC_CELLS * sizeof(uint32_t);
    out->mem.sessions = (uint64_t)p->flows.max_sessions * (sizeof(struct bw_session) + sizeof(uint32_t));
    out->mem.streams = p->streams.st.buffers_max * ((uint64_t)p->streams.window + sizeof(uint32_t));
    out->mem.dpi = out->dpi.slots_max * out->dpi.slot_bytes;
    out->mem.evidence_hold = (uint64_t)p->hold.nslots * (p->hold.slot_bytes + sizeof(struct bw_hold_slot));
    out->hold = p->hold.st;
    bw_evidence_get_stats(p->evidence, &out->evidence);
    out->start_us = p->start_us;
    out->now_us = p->now_us;
    out->kernel = p->kernel;
}
