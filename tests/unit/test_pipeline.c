/* test_pipeline.c: the whole pipeline on crafted frames, through the toy dissector: proves the
 * seam (bytes in order, gaps, close) and the verdict, alert and session-log plumbing. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "bw_packet.h"
#include "bw_pipeline.h"
#include "frames.h"
#include "toy_dissector.h"

#define MAX_LINES 512

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
};

static void rig_init(struct rig *r, uint32_t max_flows)
{
    memset(r, 0, sizeof *r);
    char err[256];
    char *argv[] = { "brokerwatch", "-r", "x", "--sensor-name", "t", "--session-log", NULL };
    CHECK_EQ(bw_config_parse(&r->cfg, 6, argv, err, sizeof err), BW_CONFIG_RUN);
    r->cfg.max_flows = max_flows;
    r->cfg.max_sessions = max_flows;
    r->cfg.dpi_slots = max_flows;
    r->cfg.stream_memcap = 1u << 20;
    r->cfg.stream_window = 4096;
    CHECK_EQ(bw_pipeline_init(&r->pl, &r->cfg, toy_tab, 1), 0);
    r->sink.base.write = mem_write;
    r->sink.base.flush = mem_flush;
    r->sink.base.close = mem_close;
    CHECK_EQ(bw_pipeline_add_sink(&r->pl, &r->sink.base), 0);
    r->ts = 1764000000000000ULL;
}

static void rig_free(struct rig *r)
{
    bw_pipeline_free(&r->pl);
    bw_config_free(&r->cfg);
    mem_reset(&r->sink);
}

static void send(struct rig *r, const struct tcp_ep *s, const struct tcp_ep *d, uint32_t seq, uint32_t ack,
                 uint8_t fl, const char *data)
{
    uint8_t fr[2048];
    size_t n = frame_tcp(fr, sizeof fr, s, d, seq, ack, fl, data, data ? strlen(data) : 0);
    r->ts += 1000;
    /* exact-size copy: ASan catches any read past the frame */
    uint8_t *copy = malloc(n);
    memcpy(copy, fr, n);
    bw_pipeline_packet(&r->pl, BW_DLT_EN10MB, copy, n, r->ts);
    free(copy);
}

#define S BW_TCP_SYN
#define A BW_TCP_ACK
#define F BW_TCP_FIN
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
    CHECK_EQ(count(&r.sink, "\"kind\":\"default_credentials\"", "\"severity\":\"critical\""), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"anonymous_session\"", "10.0.0.6"), 1);
    CHECK_EQ(count(&r.sink, "\"kind\":\"anonymous_session\"", NULL), 1);   /* refused one is not */
    CHECK_EQ(count(&r.sink, "\"kind\":\"auth_failure\"", "10.0.0.7"), 1);
    rig_free(&r);
}

/* The login line in three segments, delivered 3,1,2 with a duplicate: the same facts. */
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
    send(&r, &srv, &cli, 901, 119, P, "OK\n");
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(count(&r.sink, "\"kind\":\"cleartext_credentials\"", "\"username\":\"bob\""), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"password_length\":8"), 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"end\""), 1);
    CHECK(r.pl.streams.st.ooo_segments >= 1);
    CHECK(r.pl.streams.st.retransmits + r.pl.streams.st.overlaps >= 1);
    CHECK_EQ(r.pl.streams.st.buffers_in_use, 0);
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
    send(&r, &srv, &cli, 901, 115, P, "hel");          /* server bytes 0..2 */
    send(&r, &srv, &cli, 914, 115, P, "OK\n");         /* bytes 13.. : 10 bytes never seen */
    send(&r, &cli, &srv, 115, 917, A, NULL);           /* the client acked them all */
    bw_pipeline_finish(&r.pl);
    CHECK_EQ(r.pl.streams.st.gaps, 1);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"gap\":true"), 1);
    CHECK_EQ(count(&r.sink, "\"accepted\":null", "\"event_type\":\"session\""), 1);
    rig_free(&r);
}

/* A full table evicts the oldest flow, which ends its session; idle flows expire by packet time. */
static void test_eviction_and_timeout(void)
{
    struct rig r;
    rig_init(&r, 64);
    struct tcp_ep srv = ep4(10, 0, 0, 1, 7777);
    for (int i = 0; i < 100; i++) {
        struct tcp_ep cli = ep4(10, 1, (uint8_t)(i / 250), (uint8_t)(i % 250 + 1), 50000);
        send(&r, &cli, &srv, 7, 0, P, "TOY1 dave pw\n");
    }
    CHECK_EQ(r.pl.flows.st.flows_evicted, 36);
    CHECK_EQ(r.pl.flows.st.flows_active, 64);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"evicted\""), 36);
    /* jump 700 s of packet time: every established flow times out (default 600 s) */
    r.ts += 700ULL * 1000000u;
    struct tcp_ep other = ep4(10, 2, 0, 1, 50001);
    send(&r, &other, &srv, 7, 0, A, NULL);
    CHECK_EQ(r.pl.flows.st.flows_expired, 64);
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"timeout\""), 64);
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);
    rig_free(&r);
}

/* A reset from the broker ends the session at once; later packets are absorbed. */
static void test_rst(void)
{
    struct rig r;
    rig_init(&r, 1024);
    struct tcp_ep cli = ep4(10, 0, 0, 5, 40040), srv = ep4(10, 0, 0, 1, 7777);
    send(&r, &cli, &srv, 100, 0, S, NULL);
    send(&r, &srv, &cli, 900, 101, S | A, NULL);
    send(&r, &cli, &srv, 101, 901, P, "TOY1 erin pw\n");
    send(&r, &srv, &cli, 901, 114, BW_TCP_RST | BW_TCP_ACK, NULL);
    send(&r, &cli, &srv, 114, 901, P, "late\n");
    CHECK_EQ(count(&r.sink, "\"event_type\":\"session\"", "\"reason\":\"rst\""), 1);
    CHECK_EQ(r.pl.flows.st.flows_closed, 1);
    CHECK_EQ(r.pl.flows.st.sessions_active, 0);
    rig_free(&r);
}

int main(void)
{
    test_credentials_session();
    test_default_and_anonymous();
    test_reordered_segments();
    test_bypass();
    test_bruteforce();
    test_gap();
    test_eviction_and_timeout();
    test_rst();
    return check_summary("pipeline");
}
