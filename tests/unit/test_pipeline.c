/* test_pipeline.c: the whole pipeline on crafted frames, through the toy dissector: proves the
 * seam (bytes in order, gaps, close) and the verdict, alert and session-log plumbing; and the
 * packet path's structure: probe slots placed by sequence number (reordered and late SYN-ACK),
 * a session only once the broker answers, nothing reported for a probe nobody answers, eviction
 * by class, reclaim of the oldest unconfirmed, the per-source cap, the moment after a reset,
 * orientation by a broker known in the run, and capacity records; and MQTT 5.0 re-authentication
 * failures counted for bruteforce through the real MQTT dissector. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "bw_mqtt.h"
#include "bw_packet.h"
#include "bw_pipeline.h"
#include "bw_report.h"
#include "frames.h"
#include "toy_dissector.h"

#define MAX_LINES 2048

struct memsink {
    struct bw_sink base;
    char *lines[MAX_LINES];
    size_t n;
};

static int mem_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *m)
{
    struct memsink *ms = (struct memsink *)s;
    (void)m;
    if (ms->n >= MAX_LINES) return BW_ELIMIT;
    ms->lines[ms->n] = strndup(line, len);
    ms->n++;
    return 0;
}
static int mem_flush(struct bw_sink *s) { (void)s; return 0; }
static int mem_close(struct bw_sink *s) { (void)s; return 0; }

static void mem_reset(struct memsink *ms)
{
    for (size_t i = 0; i < ms->n; i++) free(ms->lines[i]);
    ms->n = 0;
}

/* Records whose text contains every given needle. */
static int count(const struct memsink *ms, const char *a, const char *b)
{
    int n = 0;
    for (size_t i = 0; i < ms->n; i++)
        if (strstr(ms->lines[i], a) && (!b || strstr(ms->lines[i], b))) n++;
    return n;
}

static const struct bw_dissector *const toy_tab[] = { &toy_dissector };

struct rig {
    struct bw_config cfg;
    struct bw_pipeline pl;
    struct memsink sink;
    uint64_t ts;
    int notices;
    char last_notice[512];
};

static void on_notice(void *ctx, const char *line)
{
    struct rig *r = ctx;
    r->notices++;
    snprintf(r->last_notice, sizeof r->last_notice, "%s", line);
}

/* flows, probe slots, per-source cap, sessions */
static void rig_init4(struct rig *r, uint32_t max_flows, uint32_t probes, uint32_t per_src, uint32_t sessions)
{
    memset(r, 0, sizeof *r);
    char err[256];
    char *argv[] = { "brokerwatch", "-r", "x", "--sensor-name", "t", "--session-log", NULL };
    CHECK_EQ(bw_config_parse(&r->cfg, 6, argv, err, sizeof err), BW_CONFIG_RUN);
    r->cfg.max_flows = max_flows;
    r->cfg.max_sessions = sessions;
    r->cfg.max_probes = probes;
    r->cfg.max_probes_per_source = per_src;
    r->cfg.dpi_slots = probes;
    r->cfg.stream_memcap = 1u << 20;
    r->cfg.stream_window = 4096;
    CHECK_EQ(bw_pipeline_init(&r->pl, &r->cfg, toy_tab, 1), 0);
    r->sink.base.write = mem_write;
    r->sink.base.flush = mem_flush;
    r->sink.base.close = mem_close;
    CHECK_EQ(bw_pipeline_add_sink(&r->pl, &r->sink.base), 0);
    r->pl.notice = on_notice;
    r->pl.notice_ctx = r;
    r->ts = 1764000000000000ULL;
}

static void rig_init(struct rig *r, uint32_t max_flows)
{
    rig_init4(r, max_flows, max_flows, max_flows, max_flows);
}

static void rig_free(struct rig *r)
{
    bw_pipeline_free(&r->pl);
    bw_config_free(&r->cfg);
    mem_reset(&r->sink);
}

static void sendn(struct rig *r, const struct tcp_ep *s, const struct tcp_ep *d, uint32_t seq, uint32_t ack,
                  uint8_t fl, const void *data, size_t n)
{
    static uint8_t fr[8192];
    size_t len = frame_tcp(fr, sizeof fr, s, d, seq, ack, fl, data, n);
    r->ts += 1000;
    /* exact-size copy: ASan catches any read past the frame */
    uint8_t *copy = malloc(len);
    memcpy(copy, fr, len);
    bw_pipeline_packet(&r->pl, BW_DLT_EN10MB, copy, len, r->ts);
    free(copy);
}

static void send(struct rig *r, const struct tcp_ep *s, const struct tcp_ep *d, uint32_t seq, uint32_t ack,
                 uint8_t fl, const char *data)
{
    sendn(r, s, d, seq, ack, fl, data, data ? strlen(data) : 0);
}

#define S BW_TCP_SYN
#define A BW_TCP_ACK
#define F BW_TCP_FIN
#define R BW_TCP_RST
#define P (BW_TCP_PSH | BW_TCP_ACK)

/* A full session: handshake, login line, answer, orderly close. */
static void session(struct rig *r, struct tcp_ep cli, struct tcp_ep srv, const char *login, const char *answer)
{
    uint32_t cs = 1000, ss = 5000;
    send(r, &cli, &srv, cs, 0, S, NULL);
    send(r, &srv, &cli, ss, cs + 1, S | A, NULL);
    send(r, &cli, &srv, cs + 1, ss + 1, A, NULL);
    send(r, &cli, &srv, cs + 1, ss + 1, P, login);
    uint32_t cend = cs + 1 + (uint32_t)strlen(login);
    send(r, &srv, &cli, ss + 1, cend, P, answer);
    uint32_t send_ = ss + 1 + (uint32_t)strlen(answer);
    send(r, &cli, &srv, cend, send_, F | A, NULL);
    send(r, &srv, &cli, send_, cend + 1, F | A, NULL);
    send(r, &cli, &srv, cend + 1, send_ + 1, A, NULL);
}

/* The same, left open: handshake, login, answer. */
static void open_session(struct rig *r, struct tcp_ep cli, struct tcp_ep srv, const char *login, const char *answer)
{
    send(r, &cli, &srv, 1000, 0, S, NULL);
    send(r, &srv, &cli, 5000, 1001, S | A, NULL);
    send(r, &cli, &srv, 1001, 5001, A, NULL);
    send(r, &cli, &srv, 1001, 5001, P, login);
    send(r, &srv, &cli, 5001, 1001 + (uint32_t)strlen(login), P, answer);
}

static void test_credentials_session(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40000), srv = ep4(10, 0, 0, 1, 7777);
    session(&r, cli, srv, "TOY1 alice Sup3rSecret\n", "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"plaintext_session\"", NULL), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"username\":\"alice\""), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"default_credentials\"", NULL), 0);
    CHECK_EQ(count(&r.sink, "\"kind\":\"anonymous_session\"", NULL), 0);
    CHECK_EQ(count(&r.sink, "\"src_ip\":\"10.0.0.5\"", "\"dest_ip\":\"10.0.0.1\""), (int)r.sink.n);
    CHECK_EQ(count(&r.sink, "\"dest_port\":7777", "\"app_proto\":\"toy\""), (int)r.sink.n);
    CHECK_EQ(count(&r.sink, "\"password_length\":11", NULL), (int)r.sink.n);
    CHECK_EQ(count(&r.sink, "Sup3rSecret", NULL), 0);                  /* never the password */
    /* session record at the close, with the dissector's own facts and the close reason */
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"fin\""), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"client_lines\":1,\"server_lines\":1"), 1);
    CHECK_EQ(count(&r.sink, "\"accepted\":true", "\"event_type\":\"session\""), 1);
    CHECK_EQ(r.pl.flows.st.flows_closed, 1);
    CHECK_EQ(r.pl.streams.st.buffers_in_use, 0);
    CHECK_EQ(r.pl.cnt.brokers_sessions, 1);
    /* the login waited in a probe slot; the session came with the answer */
    CHECK_EQ(r.pl.probes.st.taken, 1);
    CHECK_EQ(r.pl.probes.st.in_use, 0);
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(r.pl.flows.st.flows_active, 0);
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);
    rig_free(&r);
}

static void test_default_and_anonymous(void)
{
    struct rig r;
    rig_init(&r, 1024);
    session(&r, ep4(10, 0, 0, 5, 40001), ep4(10, 0, 0, 1, 7777), "TOY1 guest guest\n", "OK\n");
    session(&r, ep4(10, 0, 0, 6, 40002), ep4(10, 0, 0, 1, 7777), "TOY1 -\n", "OK\n");
    session(&r, ep4(10, 0, 0, 7, 40003), ep4(10, 0, 0, 1, 7777), "TOY1 -\n", "NO 5\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"default_credentials\"", "\"signature_severity\":[\"critical\"]"), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"anonymous_session\"", "10.0.0.6"), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"anonymous_session\"", NULL), 1);   /* refused one is not */
    CHECK_EQ(count(&r.sink, "\"kind\":\"auth_failure\"", "10.0.0.7"), 1);
    rig_free(&r);
}

/* The login line in three segments, delivered 3,1,2 with a duplicate: reassembled in the probe
 * slot, the same facts. */
static void test_reordered_segments(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40010), srv = ep4(10, 0, 0, 1, 9999);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    send(&r, &cli, &srv, 111, 901, P, "xsecret\n");      /* bytes 10.. */
    send(&r, &cli, &srv, 101, 901, P, "TOY1 ");          /* bytes 0..4 */
    send(&r, &cli, &srv, 101, 901, P, "TOY1 ");          /* mirrored twice */
    send(&r, &cli, &srv, 106, 901, P, "bob y");          /* bytes 5..9 */
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);          /* nobody answered yet: a slot only */
    CHECK_EQ(r.pl.probes.st.in_use, 1);
    send(&r, &srv, &cli, 901, 119, P, "OK\n");
    CHECK_EQ(r.pl.flows.st.sessions_active, 1);
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"username\":\"bob\""), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"password_length\":8"), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"end\""), 1);
    CHECK_EQ(r.pl.streams.st.buffers_in_use, 0);
    rig_free(&r);
}

/* A first message longer than a slot, its segments reordered: the session's stream holds the
 * later one until the start comes; the same facts. */
static void test_reordered_large_first_message(void)
{
    struct rig r;
    rig_init(&r, 1024);
    char line[200];
    memset(line, 0, sizeof line);
    memcpy(line, "TOY1 ", 5);
    memset(line + 5, 'u', 120);
    memcpy(line + 125, " longpw\n", 8);                  /* 133 bytes */
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40011), srv = ep4(10, 0, 0, 1, 9999);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    sendn(&r, &cli, &srv, 101 + 130, 901, P, line + 130, 3);   /* past the slot, first */
    sendn(&r, &cli, &srv, 101, 901, P, line, 60);
    sendn(&r, &cli, &srv, 101 + 60, 901, P, line + 60, 70);
    send(&r, &srv, &cli, 901, 101 + 133, P, "OK\n");
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", NULL), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"password_length\":6"), 1);
    CHECK_EQ(count(&r.sink, "\"accepted\":true", "\"event_type\":\"session\""), 1);
    CHECK(r.pl.streams.st.ooo_segments >= 1);
    CHECK_EQ(r.pl.streams.st.gaps, 0);
    rig_free(&r);
}

/* Mirror-port order: the server's SYN-ACK after the client's first data, and the server's first
 * two segments swapped. Verdicts as in capture order. */
static void test_late_synack_and_swapped_answer(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40012), srv = ep4(10, 0, 0, 1, 9999);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &cli, &srv, 101, 901, P, "TOY1 zed pw\n");   /* before the SYN-ACK */
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    send(&r, &srv, &cli, 902, 113, P, "K\n");             /* second server segment first */
    send(&r, &srv, &cli, 901, 113, P, "O");
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"username\":\"zed\""), 1);
    CHECK_EQ(count(&r.sink, "\"accepted\":true", "\"event_type\":\"session\""), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"server_lines\":1"), 1);
    rig_free(&r);
}

/* Not the toy protocol: bypassed after the first client bytes, no alert, no session kept. */
static void test_bypass(void)
{
    struct rig r;
    rig_init(&r, 1024);
    session(&r, ep4(10, 0, 0, 5, 40020), ep4(10, 0, 0, 1, 22), "SSH-2.0-OpenSSH_9.2\r\n", "SSH-2.0-x\r\n");
    CHECK_EQ((int)r.sink.n, 0);
    CHECK_EQ(r.pl.flows.st.flows_bypassed, 1);
    CHECK_EQ(r.pl.cnt.flows_not_broker, 1);
    CHECK(r.pl.cnt.bypassed_packets >= 3);
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);
    CHECK_EQ(r.pl.probes.st.taken, 0);                   /* judged on its first payload: no slot */
    rig_free(&r);
}

/* Ten failures from one client to one broker inside the window: one bruteforce alert. */
static void test_bruteforce(void)
{
    struct rig r;
    rig_init(&r, 1024);
    for (int i = 0; i < 12; i++)
        session(&r, ep4(10, 0, 0, 9, (uint16_t)(41000 + i)), ep4(10, 0, 0, 1, 7777), "TOY1 root bad\n", "NO 5\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"auth_failure\"", NULL), 12);
    CHECK_EQ(count(&r.sink, "\"kind\":\"bruteforce\"", "\"failures\":10"), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"bruteforce\"", NULL), 1);
    /* another client is another pair */
    session(&r, ep4(10, 0, 0, 10, 42000), ep4(10, 0, 0, 1, 7777), "TOY1 root bad\n", "NO 5\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"bruteforce\"", NULL), 1);
    rig_free(&r);
}

/* A hole the sensor never fills: the dissector hears of it (and gives up, as the toy does). */
static void test_gap(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40030), srv = ep4(10, 0, 0, 1, 7777);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    send(&r, &cli, &srv, 101, 901, P, "TOY1 carol pw\n");
    send(&r, &srv, &cli, 901, 115, P, "OK\n");
    send(&r, &cli, &srv, 125, 904, P, "more\n");         /* bytes 24.. : 10 bytes never seen */
    send(&r, &srv, &cli, 904, 130, A, NULL);             /* the server acked them all */
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(r.pl.streams.st.gaps, 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"gap\":true"), 1);
    CHECK_EQ(count(&r.sink, "\"accepted\":true", "\"event_type\":\"session\""), 1);
    rig_free(&r);
}

/* Probes nobody answers raise nothing and never take a session: one-packet logins with and
 * without a handshake, and a handshake whose login the broker never answers. */
static void test_unanswered(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    for (int i = 0; i < 50; i++) {
        struct tcp_ep cli = ep4(10, 3, 0, (uint8_t)(i + 1), 50000);
        send(&r, &cli, &srv, 7, 0, P, "TOY1 dave pw\n");
    }
    struct tcp_ep c2 = ep4(10, 3, 1, 1, 50001);
    send(&r, &c2, &srv, 100, 0, S, NULL);
    send(&r, &srv, &c2, 900, 101, S | A, NULL);
    send(&r, &c2, &srv, 101, 901, A, NULL);
    send(&r, &c2, &srv, 101, 901, P, "TOY1 eve pw\n");
    CHECK_EQ(r.pl.flows.st.sessions_hwm, 0);
    CHECK_EQ(r.pl.probes.st.in_use, 51);
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(r.pl.cnt.alerts, 0);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"alert\"", NULL), 0);
    /* the one with a handshake is in the session log, marked unanswered; the spoof-like
     * one-packet ones leave nothing */
    CHECK_EQ((int)r.sink.n, 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"broker_answered\":false"), 1);
    CHECK_EQ(count(&r.sink, "\"username\":\"eve\"", NULL), 1);
    CHECK_EQ(bw_report_brokers(r.pl.report), 0);
    CHECK_EQ(r.pl.cnt.flows_unanswered, 51);
    CHECK_EQ(r.pl.probes.st.in_use, 0);
    rig_free(&r);
}

/* A full table evicts the cheapest class first: live broker sessions survive a flood of
 * handshakes and of one-packet probes; idle flows expire by packet time. */
static void test_eviction_order_and_timeout(void)
{
    struct rig r;
    rig_init(&r, 64);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    for (int i = 0; i < 4; i++)                          /* four live broker sessions, oldest of all */
        open_session(&r, ep4(10, 4, 0, (uint8_t)(i + 1), 40100), srv, "TOY1 ann pw\n", "OK\n");
    CHECK_EQ(r.pl.cnt.brokers_sessions, 4);
    for (int i = 0; i < 30; i++) {                       /* probes nobody answers */
        struct tcp_ep cli = ep4(10, 1, 0, (uint8_t)(i + 1), 50000);
        send(&r, &cli, &srv, 7, 0, P, "TOY1 dave pw\n");
    }
    for (int i = 0; i < 300; i++) {                      /* a SYN flood */
        struct tcp_ep cli = ep4(10, 2, (uint8_t)(i / 250), (uint8_t)(i % 250 + 1), 50000);
        send(&r, &cli, &srv, 7, 0, S, NULL);
    }
    CHECK_EQ(r.pl.flows.st.flows_active, 64);
    CHECK(r.pl.flows.st.flows_evicted > 0);
    CHECK_EQ(r.pl.flows.st.flows_evicted_confirmed, 0);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"evicted\""), 0);
    CHECK_EQ(r.pl.probes.st.in_use, 30);                 /* SYNs went before the probes */
    /* more probes than the table holds beside the sessions: they push each other (and the SYNs)
     * out, never the sessions */
    for (int i = 0; i < 100; i++) {
        struct tcp_ep cli = ep4(10, 5, 0, (uint8_t)(i + 1), 50000);
        send(&r, &cli, &srv, 7, 0, P, "TOY1 dave pw\n");
    }
    CHECK_EQ(r.pl.flows.st.flows_evicted_confirmed, 0);
    CHECK_EQ(r.pl.flows.st.sessions_active, 4);
    /* jump 700 s of packet time: everything times out (sessions after 600 s, the rest after 30) */
    r.ts += 700ULL * 1000000u;
    struct tcp_ep other = ep4(10, 2, 9, 1, 50001);
    send(&r, &other, &srv, 7, 0, A, NULL);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"timeout\""), 4);
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);
    CHECK_EQ(r.pl.flows.st.flows_active, 1);
    /* the evictions were reported */
    bw_pipeline_finish(&r.pl);
    CHECK(count(&r.sink, "\"event_type\":\"capacity\"", "\"resource\":\"flows\"") >= 1);
    rig_free(&r);
}

/* Probe slots run out: the oldest unconfirmed flow gives its slot up; a live broker session is
 * not touched; a session taken while a slot was held comes through. */
static void test_probe_reclaim(void)
{
    struct rig r;
    rig_init4(&r, 4096, 16, 1000, 64);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    open_session(&r, ep4(10, 6, 0, 1, 40200), srv, "TOY1 ann pw\n", "OK\n");
    for (int i = 0; i < 40; i++) {
        struct tcp_ep cli = ep4(10, 7, 0, (uint8_t)(i + 1), 50000);
        send(&r, &cli, &srv, 7, 0, P, "TOY1 dave pw\n");
    }
    CHECK_EQ(r.pl.probes.st.in_use, 16);
    CHECK_EQ(r.pl.probes.st.reclaimed, 24);
    /* the 24 oldest went, the 16 newest hold their slots */
    int gone = 0, held = 0;
    for (int i = 0; i < 40; i++) {
        struct tcp_ep cli = ep4(10, 7, 0, (uint8_t)(i + 1), 50000);
        struct bw_packet pk;
        memset(&pk, 0, sizeof pk);
        pk.ip_ver = 4;
        memcpy(pk.src, cli.ip, 16);
        memcpy(pk.dst, srv.ip, 16);
        pk.sport = cli.port;
        pk.dport = srv.port;
        struct bw_flow_key k;
        bool a;
        bw_flow_key_of(&pk, &k, &a);
        struct bw_flow *f = bw_flow_find(&r.pl.flows, &k, bw_flow_hash(&r.pl.flows, &k));
        if (i < 24) gone += f == NULL;
        else held += f && f->probe;
    }
    CHECK_EQ(gone, 24);
    CHECK_EQ(held, 16);
    /* the newest probe gets its answer: a session, confirmed */
    struct tcp_ep last = ep4(10, 7, 0, 40, 50000);
    send(&r, &srv, &last, 900, 20, P, "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "10.7.0.40"), 1);
    /* the first session is still whole */
    struct tcp_ep first = ep4(10, 6, 0, 1, 40200);
    send(&r, &first, &srv, 1013, 5004, F | A, NULL);
    send(&r, &srv, &first, 5004, 1014, F | A, NULL);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"fin\""), 1);
    /* refusals are looked at every second of packet time */
    r.ts += 2000000;
    send(&r, &first, &srv, 1014, 5005, A, NULL);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"capacity\"", "\"resource\":\"probes\""), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"capacity\"", "\"refused\":24"), 1);
    CHECK(r.notices >= 1);
    CHECK(strstr(r.last_notice, "--max-probes") != NULL);
    rig_free(&r);
}

/* One address cannot take the pool: beyond its cap its new flows are refused, others are not. */
static void test_per_source_cap(void)
{
    struct rig r;
    rig_init4(&r, 4096, 64, 4, 64);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    for (int i = 0; i < 10; i++) {
        struct tcp_ep cli = ep4(10, 8, 0, 1, (uint16_t)(50000 + i));
        send(&r, &cli, &srv, 7, 0, P, "TOY1 mal pw\n");
    }
    CHECK_EQ(r.pl.probes.st.in_use, 4);
    CHECK_EQ(r.pl.probes.st.src_refused, 6);
    /* another client is unaffected, and its session comes through */
    session(&r, ep4(10, 8, 0, 2, 40300), srv, "TOY1 ben pw\n", "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "10.8.0.2"), 1);
    /* the capped address gets room back once its flows are answered */
    struct tcp_ep c0 = ep4(10, 8, 0, 1, 50000);
    send(&r, &srv, &c0, 900, 19, P, "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"src_port\":50000"), 1);
    struct tcp_ep c11 = ep4(10, 8, 0, 1, 50011);
    send(&r, &c11, &srv, 7, 0, P, "TOY1 mal pw\n");
    CHECK_EQ(r.pl.probes.st.src_refused, 6);
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"capacity\"", "\"resource\":\"probes_per_source\""), 1);
    rig_free(&r);
}

/* Sessions run out: the oldest unconfirmed one (a long login nobody answers) makes room for a
 * session the broker answers. */
static void test_session_reclaim(void)
{
    struct rig r;
    rig_init4(&r, 4096, 64, 1000, 16);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    char line[180];
    memset(line, 'x', sizeof line);
    memcpy(line, "TOY1 ", 5);
    for (int i = 0; i < 16; i++) {                       /* more than a slot: a session each */
        struct tcp_ep cli = ep4(10, 9, 0, (uint8_t)(i + 1), 50000);
        sendn(&r, &cli, &srv, 7, 0, P, line, sizeof line);
    }
    CHECK_EQ(r.pl.flows.st.sessions_active, 16);
    session(&r, ep4(10, 9, 1, 1, 40400), srv, "TOY1 cat pw\n", "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "10.9.1.1"), 1);
    CHECK_EQ(r.pl.cnt.sessions_reclaimed, 1);
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"capacity\"", "\"resource\":\"sessions\""), 1);
    CHECK_EQ(r.pl.cnt.alerts, 2);                        /* nothing for the unanswered ones */
    rig_free(&r);
}

/* A reset from the broker captured before its answer: the answer is still read, then the session
 * closes with reason rst after a few packets; a reset with nothing after it closes after a moment. */
static void test_rst_linger(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40040), srv = ep4(10, 0, 0, 1, 7777);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    send(&r, &cli, &srv, 101, 901, P, "TOY1 erin pw\n");
    send(&r, &srv, &cli, 904, 114, R | A, NULL);         /* mirrored before the answer */
    send(&r, &srv, &cli, 901, 114, P, "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", NULL), 1);
    CHECK_EQ(r.pl.flows.st.flows_closed, 0);             /* still reading */
    send(&r, &cli, &srv, 114, 904, A, NULL);
    send(&r, &cli, &srv, 114, 904, A, NULL);
    send(&r, &cli, &srv, 114, 904, P, "late\n");         /* the fourth packet after the reset */
    CHECK_EQ(r.pl.flows.st.flows_closed, 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"rst\""), 1);
    CHECK_EQ(count(&r.sink, "\"accepted\":true", "\"event_type\":\"session\""), 1);
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);
    send(&r, &cli, &srv, 119, 904, P, "later\n");        /* absorbed by the closed flow */
    CHECK_EQ(r.pl.flows.st.flows_created, 1);
    /* a reset and then silence: closed a moment later (packet time) */
    struct tcp_ep c2 = ep4(10, 0, 0, 6, 40041);
    open_session(&r, c2, srv, "TOY1 fay pw\n", "OK\n");
    send(&r, &c2, &srv, 1013, 5004, R | A, NULL);
    CHECK_EQ(r.pl.flows.st.flows_closed, 1);
    r.ts += 3000000;
    send(&r, &cli, &srv, 125, 904, A, NULL);
    CHECK_EQ(r.pl.flows.st.flows_closed, 2);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"rst\""), 2);
    CHECK_EQ(r.pl.cnt.rst_lingered, 2);
    /* a reset and then a quiet link: the live clock alone closes it (no later packet) */
    struct tcp_ep c3 = ep4(10, 0, 0, 7, 40042);
    open_session(&r, c3, srv, "TOY1 gus pw\n", "OK\n");
    send(&r, &c3, &srv, 1013, 5004, R | A, NULL);
    bw_pipeline_clock(&r.pl, r.ts - 5000000);            /* a clock set back: nothing moves */
    bw_pipeline_clock(&r.pl, r.ts + BW_LINGER_US / 2);   /* still within the moment after it */
    CHECK_EQ(r.pl.flows.st.flows_closed, 2);
    bw_pipeline_clock(&r.pl, r.ts + BW_LINGER_US + 200000);
    CHECK_EQ(r.pl.flows.st.flows_closed, 3);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"rst\""), 3);
    rig_free(&r);
}

/* Mirror ports copy each direction on its own: a client segment may arrive after the server
 * packet that acknowledges (and answers) it, even after both FINs. The ack's hole waits for it
 * (counted), the server's answer waits with it, every byte is read once and in order. */
static void test_client_segment_after_its_ack(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40044), srv = ep4(10, 0, 0, 1, 7777);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    send(&r, &cli, &srv, 101, 901, A, NULL);
    send(&r, &cli, &srv, 101, 901, P, "TOY1 gina pw\n");  /* [101, 114) */
    send(&r, &srv, &cli, 901, 114, P, "HI\n");            /* [901, 904): a session now */
    uint64_t before = r.pl.streams.st.bytes_delivered;
    CHECK_EQ(before, 16);
    send(&r, &cli, &srv, 119, 904, P, "hank pw\n");       /* [119, 127), its start still to come */
    send(&r, &srv, &cli, 904, 127, P, "OK\n");            /* acks [114, 127) and answers it */
    CHECK_EQ(r.pl.streams.st.ack_waits, 1);
    CHECK_EQ(r.pl.streams.st.gaps, 0);
    CHECK_EQ(r.pl.streams.st.bytes_delivered, before);   /* the answer waits for its request */
    CHECK_EQ(r.pl.streams.st.bytes_dropped, 0);
    send(&r, &cli, &srv, 114, 904, P, "TOY1 ");           /* the late start */
    CHECK_EQ(r.pl.streams.st.ack_waits_filled, 1);
    CHECK_EQ(r.pl.streams.st.bytes_delivered, before + 13);  /* the request, then... */
    CHECK_EQ(r.pl.streams.st.bytes_dropped, 3);          /* ...the answer ends that side (DONE) */
    /* the last line's start mirrored after both FINs: the flow lingers until it came */
    send(&r, &cli, &srv, 132, 907, P, "ivan pw\n");       /* [132, 140) */
    send(&r, &cli, &srv, 140, 907, F | A, NULL);
    send(&r, &srv, &cli, 907, 141, F | A, NULL);
    CHECK_EQ(r.pl.flows.st.flows_closed, 0);
    CHECK_EQ(r.pl.cnt.fin_lingered, 1);
    send(&r, &cli, &srv, 127, 907, P, "TOY1 ");
    CHECK_EQ(r.pl.flows.st.flows_closed, 1);
    CHECK_EQ(r.pl.streams.st.gaps, 0);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"client_lines\":3"), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"fin\""), 1);
    /* a hole nobody fills is given up after the wait: 16 packets */
    struct tcp_ep c2 = ep4(10, 0, 0, 6, 40045);
    open_session(&r, c2, srv, "TOY1 jo pw\n", "HI\n");
    send(&r, &c2, &srv, 1021, 5004, P, "TOY1 kim pw\n");  /* [1011, 1021) never seen */
    send(&r, &srv, &c2, 5004, 1033, A, NULL);
    for (int i = 0; i < BW_STREAM_ACK_WAIT_PKTS - 1; i++)
        send(&r, &srv, &c2, 5004, 1033, A, NULL);
    CHECK_EQ(r.pl.streams.st.gaps, 0);
    send(&r, &srv, &c2, 5004, 1033, A, NULL);
    CHECK_EQ(r.pl.streams.st.gaps, 1);
    CHECK_EQ(r.pl.streams.st.ack_waits_expired, 1);
    rig_free(&r);
}

/* With no SYN, a broker seen earlier in the run (address and port) is the server, whoever speaks
 * first and whatever the ports say; a flow created before the broker was known is re-oriented at
 * its first payload. */
static void test_orientation_known_broker(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 40001);          /* an ephemeral-looking broker port */
    struct tcp_ep early = ep4(10, 0, 0, 7, 50002);
    send(&r, &srv, &early, 700, 300, A, NULL);             /* seen before the broker is known */
    session(&r, ep4(10, 0, 0, 5, 50000), srv, "TOY1 gil pw\n", "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"dest_port\":40001"), 1);
    /* midstream, the broker speaks first */
    struct tcp_ep cli = ep4(10, 0, 0, 6, 50001);
    send(&r, &srv, &cli, 500, 200, P, "x\n");
    send(&r, &cli, &srv, 200, 502, P, "TOY1 hal pw\n");
    send(&r, &srv, &cli, 502, 212, P, "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"src_port\":50001,\"dest_ip\":\"10.0.0.1\",\"dest_port\":40001"), 1);
    /* the early flow */
    send(&r, &srv, &early, 700, 300, P, "x\n");
    send(&r, &early, &srv, 300, 702, P, "TOY1 ivy pw\n");
    send(&r, &srv, &early, 702, 312, P, "OK\n");
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"src_port\":50002,\"dest_ip\":\"10.0.0.1\",\"dest_port\":40001"), 1);
    CHECK_EQ(r.pl.cnt.orient_known, 1);
    CHECK_EQ(r.pl.cnt.orient_flipped, 1);
    rig_free(&r);
}

/* Capacity records: one at the first refusal, then at most one a minute of packet time per
 * resource; what is pending at the end goes out then. */
static void test_capacity_rate(void)
{
    struct rig r;
    rig_init4(&r, 4096, 16, 1000, 64);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    int n = 0;
    for (int sec = 0; sec < 150; sec++) {                /* 150 s, 4 refusals a second */
        for (int i = 0; i < 4; i++, n++) {
            struct tcp_ep cli = ep4(10, 11, (uint8_t)(n / 250), (uint8_t)(n % 250 + 1), 50000);
            send(&r, &cli, &srv, 7, 0, P, "TOY1 dave pw\n");
        }
        r.ts += 1000000;
    }
    /* at 0 s (first refusal), ~60 s, ~120 s */
    CHECK_EQ(count(&r.sink, "\"event_type\":\"capacity\"", "\"resource\":\"probes\""), 3);
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"capacity\"", "\"resource\":\"probes\""), 4);
    /* the records add up to every refusal */
    uint64_t sum = 0;
    for (size_t i = 0; i < r.sink.n; i++) {
        const char *x = strstr(r.sink.lines[i], "\"refused\":");
        if (x && strstr(r.sink.lines[i], "\"resource\":\"probes\"")) sum += strtoull(x + 10, NULL, 10);
    }
    CHECK_EQ(sum, r.pl.probes.st.reclaimed);
    CHECK_EQ(r.pl.probes.st.reclaimed, 600 - 16);
    CHECK_EQ(bw_pipeline_refused(&r.pl), 600 - 16);
    rig_free(&r);
}

/* ---- the MQTT dissector through the whole pipeline ---- */

static const struct bw_dissector *const mqtt_tab[] = { &bw_dissector_mqtt };

/* One MQTT 5.0 session per client port: CONNECT naming SCRAM-SHA-1, CONNACK 0x00, the client's
 * AUTH 0x19 (re-authenticate), the broker's DISCONNECT `reason`, orderly close. */
static void mqtt_reauth_session(struct rig *r, struct tcp_ep cli, struct tcp_ep srv, uint8_t reason)
{
    static const uint8_t connect[] = {
        0x10, 0x23, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x1e,
        0x0e, 0x15, 0x00, 0x0b, 'S', 'C', 'R', 'A', 'M', '-', 'S', 'H', 'A', '-', '1',     /* method */
        0x00, 0x08, 'b', 'w', '-', 'r', 'e', 'a', 'u', 't' };
    static const uint8_t connack[] = { 0x20, 0x03, 0x00, 0x00, 0x00 };
    static const uint8_t auth[] = { 0xF0, 0x10, 0x19, 0x0e, 0x15, 0x00, 0x0b,
                                    'S', 'C', 'R', 'A', 'M', '-', 'S', 'H', 'A', '-', '1' };
    const uint8_t disconnect[] = { 0xE0, 0x02, reason, 0x00 };
    uint32_t cs = 1001, ss = 5001;
    send(r, &cli, &srv, 1000, 0, S, NULL);
    send(r, &srv, &cli, 5000, cs, S | A, NULL);
    send(r, &cli, &srv, cs, ss, A, NULL);
    sendn(r, &cli, &srv, cs, ss, P, connect, sizeof connect);
    cs += sizeof connect;
    sendn(r, &srv, &cli, ss, cs, P, connack, sizeof connack);
    ss += sizeof connack;
    sendn(r, &cli, &srv, cs, ss, P, auth, sizeof auth);
    cs += sizeof auth;
    sendn(r, &srv, &cli, ss, cs, P, disconnect, sizeof disconnect);
    ss += sizeof disconnect;
    send(r, &srv, &cli, ss, cs, F | A, NULL);
    send(r, &cli, &srv, cs, ss + 1, F | A, NULL);
    send(r, &srv, &cli, ss + 1, cs + 1, A, NULL);
}

/* A failed MQTT 5.0 re-authentication is an auth_failure after the session's first alerts, and
 * counts for bruteforce like a refused CONNECT; another DISCONNECT reason is neither. */
static void test_mqtt_reauth_bruteforce(void)
{
    struct rig r;
    rig_init(&r, 1024);
    bw_pipeline_free(&r.pl);
    CHECK_EQ(bw_pipeline_init(&r.pl, &r.cfg, mqtt_tab, 1), 0);
    CHECK_EQ(bw_pipeline_add_sink(&r.pl, &r.sink.base), 0);
    for (int i = 0; i < 3; i++)                           /* session taken over: no failure */
        mqtt_reauth_session(&r, ep4(10, 0, 0, 9, (uint16_t)(40000 + i)), ep4(10, 0, 0, 1, 1883), 0x8E);
    CHECK_EQ(count(&r.sink, "\"kind\":\"plaintext_session\"", NULL), 3);
    CHECK_EQ(count(&r.sink, "\"kind\":\"auth_failure\"", NULL), 0);
    for (int i = 0; i < 10; i++)
        mqtt_reauth_session(&r, ep4(10, 0, 0, 9, (uint16_t)(41000 + i)), ep4(10, 0, 0, 1, 1883),
                            i % 2 ? 0x87 : 0x8C);
    CHECK_EQ(count(&r.sink, "\"kind\":\"auth_failure\"", "\"reauth_failed\":true"), 10);
    CHECK_EQ(count(&r.sink, "\"kind\":\"bruteforce\"", "\"failures\":10"), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"anonymous_session\"", NULL), 0);   /* a method is an identity */
    rig_free(&r);
}

/* Broker sessions a report counts. */
static uint64_t report_sessions(const struct bw_report *rep)
{
    size_t n = 0;
    const struct bw_report_row **rows = bw_report_sorted(rep, &n);
    uint64_t sessions = 0;
    for (size_t i = 0; i < n; i++) sessions += rows[i]->sessions;
    free((void *)rows);
    return sessions;
}

/* A report written mid-run counts the broker sessions still open, without adding them twice
 * to the run's own report (they join it when they end). */
static void test_report_now(void)
{
    struct rig r;
    rig_init(&r, 1024);
    session(&r, ep4(10, 0, 0, 5, 40001), ep4(10, 0, 0, 1, 7777), "TOY1 alice pw\n", "OK\n");
    open_session(&r, ep4(10, 0, 0, 6, 40002), ep4(10, 0, 0, 2, 7777), "TOY1 bob pw\n", "OK\n");
    CHECK_EQ(report_sessions(r.pl.report), 1);                 /* the ended one only */
    struct bw_report *snap = bw_report_new(BW_REPORT_BROKERS_MAX);
    CHECK(snap != NULL);
    CHECK_EQ(bw_pipeline_report_now(&r.pl, snap), 0);
    CHECK_EQ(report_sessions(snap), 2);
    struct bw_report_totals t;
    bw_report_totals(snap, &t);
    CHECK_EQ(t.brokers, 2);
    CHECK_EQ(t.creds, 2);
    /* again: the same figures, nothing counted twice */
    CHECK_EQ(bw_pipeline_report_now(&r.pl, snap), 0);
    CHECK_EQ(report_sessions(snap), 2);
    CHECK_EQ(report_sessions(r.pl.report), 1);                 /* the run's report untouched */
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(report_sessions(r.pl.report), 2);                 /* the open one joins at the end */
    bw_report_free(snap);
    rig_free(&r);
}

int main(void)
{
    test_credentials_session();
    test_default_and_anonymous();
    test_reordered_segments();
    test_reordered_large_first_message();
    test_late_synack_and_swapped_answer();
    test_bypass();
    test_bruteforce();
    test_gap();
    test_unanswered();
    test_eviction_order_and_timeout();
    test_probe_reclaim();
    test_per_source_cap();
    test_session_reclaim();
    test_rst_linger();
    test_client_segment_after_its_ack();
    test_orientation_known_broker();
    test_capacity_rate();
    test_mqtt_reauth_bruteforce();
    test_report_now();
    return check_summary("pipeline");
}
