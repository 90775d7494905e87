/* fuzz_pipeline.c: libFuzzer harness for the whole packet path (sensor/pipeline.c and every stage
 * it calls): decode, flow table, probe slots, nDPI, reassembly, all dissectors (MQTT with its
 * WebSocket framing, AMQP 0-9-1 / 0-10, AMQP 1.0, TLS), verdicts, alert / session / capacity
 * records, the exposure report.
 * Input: byte 0 picks the link type (bits 0-2: Ethernet, SLL, SLL2, raw IP, IPv4, IPv6) and the
 * caps (bits 3-4), bit 5 turns the session log off. The rest is frames separated by the 4-byte
 * marker FE ED 46 52 ("\xfe\xedFR"); each frame starts with one byte saying how far packet time
 * advances before it (milliseconds, tenths of seconds or 5-second steps, so that timeouts,
 * lingering after a reset and the once-a-minute capacity records are reached). The caps are tiny
 * (a few flows, sessions and probe slots, two stream buffers), so eviction by class, probe
 * reclamation, the per-source cap and capacity records run on short inputs.
 * Every frame is an exact-size heap copy (ASan sees a read one byte past caplen). Every record a
 * sink receives must be one JSON object on one line with an event_type (jansson parses it), and
 * so must every stats record and the JSON report written at the end.
 * nDPI's module takes far longer to build than a whole input takes to run, so the target is
 * linked with --wrap=bw_classify_new/--wrap=bw_classify_free (CMakeLists.txt): one module per
 * slot count is built once and handed to every run; a module still holding a flow's state when
 * the run frees it is really freed, so no run inherits another's flows. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bw_classify.h"
#include "bw_dissector.h"
#include "bw_packet.h"
#include "bw_pipeline.h"
#include "bw_report.h"

#define FZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

/* ---- one nDPI module per slot count, kept across runs ---- */
struct bw_classify *__real_bw_classify_new(uint32_t max_slots, int *err);
void __real_bw_classify_free(struct bw_classify *c);
struct bw_classify *__wrap_bw_classify_new(uint32_t max_slots, int *err);
void __wrap_bw_classify_free(struct bw_classify *c);

static struct { struct bw_classify *c; uint32_t slots; bool lent; } kept[4];

struct bw_classify *__wrap_bw_classify_new(uint32_t max_slots, int *err)
{
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (kept[i].c && kept[i].slots == max_slots && !kept[i].lent) {
            kept[i].lent = true;
            *err = 0;
            return kept[i].c;
        }
    struct bw_classify *c = __real_bw_classify_new(max_slots, err);
    for (size_t i = 0; c && i < sizeof kept / sizeof kept[0]; i++)
        if (!kept[i].c) {
            kept[i].c = c;
            kept[i].slots = max_slots;
            kept[i].lent = true;
            break;
        }
    return c;
}

void __wrap_bw_classify_free(struct bw_classify *c)
{
    if (!c) return;
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (kept[i].c == c) {
            struct bw_classify_stats st;
            bw_classify_get_stats(c, &st);
            kept[i].lent = false;
            if (st.slots_in_use == 0) return;         /* clean: keep it for the next run */
            kept[i].c = NULL;
            break;
        }
    __real_bw_classify_free(c);
}

static const uint8_t marker[4] = { 0xFE, 0xED, 'F', 'R' };

static const int dlts[8] = {
    BW_DLT_EN10MB, BW_DLT_LINUX_SLL, BW_DLT_LINUX_SLL2, BW_DLT_RAW,
    BW_DLT_IPV4, BW_DLT_IPV6, BW_DLT_EN10MB, BW_DLT_RAW101,
};

/* flows, sessions, probe slots, per source, nDPI slots, stream buffers of 4 KiB */
static const uint32_t caps[4][6] = {
    { 8, 3, 4, 2, 2, 2 },
    { 16, 6, 8, 4, 4, 4 },
    { 4, 2, 2, 1, 1, 1 },
    { 64, 32, 32, 32, 16, 16 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One JSON object, one line, nothing after it. */
static json_t *check_json(const char *line, size_t len)
{
    FZ_ASSERT(len > 0 && memchr(line, '\n', len) == NULL && memchr(line, '\0', len) == NULL);
    json_error_t e;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!o) {
        fprintf(stderr, "bad JSON (%s at %d): %.*s\n", e.text, e.position, (int)len, line);
        abort();
    }
    FZ_ASSERT(json_is_object(o));
    return o;
}

struct fz_sink {
    struct bw_sink base;
    uint64_t records, alerts, sessions, capacity, stats;
};

static int fz_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *m)
{
    struct fz_sink *k = (struct fz_sink *)s;
    json_t *o = check_json(line, len);
    const char *et = json_string_value(json_object_get(o, "event_type"));
    FZ_ASSERT(et != NULL && m->event_type != NULL && strcmp(et, m->event_type) == 0);
    FZ_ASSERT(json_is_string(json_object_get(o, "timestamp")));
    if (strcmp(et, "alert") == 0) {
        FZ_ASSERT(m->type == BW_REC_ALERT);
        FZ_ASSERT(json_is_object(json_object_get(o, "alert")));
        k->alerts++;
    } else if (strcmp(et, "session") == 0) {
        FZ_ASSERT(m->type == BW_REC_SESSION);
        k->sessions++;
    } else if (strcmp(et, "capacity") == 0) {
        FZ_ASSERT(m->type == BW_REC_CAPACITY && m->kind != NULL);
        k->capacity++;
    }
    k->records++;
    json_decref(o);
    return 0;
}

static void fz_stats(struct bw_sink *s, const char *json, size_t len, const struct bw_stats *st)
{
    struct fz_sink *k = (struct fz_sink *)s;
    (void)st;
    json_decref(check_json(json, len));
    k->stats++;
}

static int fz_flush(struct bw_sink *s) { (void)s; return 0; }
static int fz_close(struct bw_sink *s) { (void)s; return 0; }
static void fz_notice(void *ctx, const char *line)
{
    (void)ctx;
    FZ_ASSERT(line != NULL && strchr(line, '\n') == NULL);
}

static uint64_t time_step(uint8_t b)
{
    if (b < 128) return (uint64_t)b * 1000;                     /* 0-127 ms */
    if (b < 192) return (uint64_t)(b - 128) * 100000;           /* 0-6.3 s */
    return (uint64_t)(b - 192) * 5000000;                       /* 0-315 s */
}

static void check_report(const struct bw_pipeline *p, const struct bw_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return;
    struct bw_report_header h = {
        .sensor = cfg->sensor_name, .version = "fuzz", .inputs = cfg->rfiles, .ninputs = cfg->nrfiles,
        .first_us = p->earliest_us, .last_us = p->latest_us, .generated_us = p->latest_us,
    };
    int rc = bw_report_write_json(p->report, &h, f);
    if (fclose(f) != 0 || rc != 0) { free(buf); return; }
    json_t *o = json_loadb(buf, len, JSON_ALLOW_NUL, NULL);
    FZ_ASSERT(o != NULL && json_is_object(o));
    json_decref(o);
    free(buf);
    f = fopen("/dev/null", "w");
    if (f) {
        if (bw_report_write_text(p->report, &h, f) != 0) { /* an I/O error on /dev/null: nothing to check */ }
        if (bw_report_write_csv(p->report, &h, f) != 0) { /* same */ }
        fclose(f);
    }
}

static struct bw_pipeline pl;               /* large: not on the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint32_t *c = caps[(data[0] >> 3) & 3];
    int dlt = dlts[data[0] & 7];

    struct bw_config cfg;
    char err[256];
    char *argv[] = { "brokerwatch", "-r", "fuzz", "--sensor-name", "fz", "--session-log", NULL };
    int argc = (data[0] & 0x20) ? 5 : 6;
    if (bw_config_parse(&cfg, argc, argv, err, sizeof err) != BW_CONFIG_RUN) abort();
    cfg.max_flows = c[0];
    cfg.max_sessions = c[1];
    cfg.max_probes = c[2];
    cfg.max_probes_per_source = c[3];
    cfg.dpi_slots = c[4];
    cfg.stream_window = 4096;
    cfg.stream_memcap = (uint64_t)c[5] * 4096;
    cfg.flow_timeout_s = 120;
    cfg.close_timeout_s = 10;
    cfg.brute_n = 3;
    cfg.brute_t = 60;
    if (bw_pipeline_init(&pl, &cfg, bw_dissectors, bw_dissectors_count) != 0) abort();
    pl.tls_dis = bw_tls_dissector;
    pl.tls_evaluate = bw_tls_evaluate_fn;
    pl.notice = fz_notice;
    struct fz_sink sink = { .base = { .name = "fuzz", .write = fz_write, .flush = fz_flush,
                                      .close = fz_close, .stats = fz_stats } };
    if (bw_pipeline_add_sink(&pl, &sink.base) != 0) abort();

    uint64_t ts = 1764000000000000ULL, frames = 0;
    size_t i = 1;
    while (i < size) {
        size_t j = i;                                    /* the frame runs to the next marker */
        while (j < size && !(size - j >= sizeof marker && memcmp(data + j, marker, sizeof marker) == 0))
            j++;
        if (j > i) {
            ts += time_step(data[i]);
            size_t n = j - i - 1;
            uint8_t *fr = malloc(n ? n : 1);             /* exact size: ASan sees one byte past */
            if (!fr) break;
            if (n) memcpy(fr, data + i + 1, n);
            bw_pipeline_packet(&pl, dlt, fr, n, ts);
            free(fr);
            if (++frames % 32 == 0) bw_pipeline_push_stats(&pl);
        }
        i = j + sizeof marker;
    }
    bw_pipeline_finish(&pl);
    bw_pipeline_push_stats(&pl);

    struct bw_stats st;
    bw_pipeline_stats(&pl, &st);
    FZ_ASSERT(pl.cnt.packets == frames);
    FZ_ASSERT(pl.streams.st.buffers_in_use == 0);         /* every session finished */
    check_report(&pl, &cfg);

    bw_pipeline_free(&pl);
    bw_config_free(&cfg);
    return 0;
}
