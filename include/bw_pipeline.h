/* bw_pipeline.h: the only caller of the stages, in order:
 * decode -> flow -> probe slot (the dissectors' probes on the reassembled first bytes; nDPI only
 * for flows they cannot place) -> stream -> dispatch/dissector -> verdict -> alert -> sinks.
 * All mutable state of one worker lives in struct bw_pipeline; no globals, so one context per
 * worker thread is enough to run several side by side. */
#ifndef BW_PIPELINE_H
#define BW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_alert.h"
#include "bw_classify.h"
#include "bw_config.h"
#include "bw_dissector.h"
#include "bw_evidence.h"
#include "bw_flow.h"
#include "bw_hold.h"
#include "bw_known.h"
#include "bw_probe.h"
#include "bw_report.h"
#include "bw_sink.h"
#include "bw_stats.h"
#include "bw_stream.h"
#include "bw_verdict.h"

#define BW_SINKS_MAX 4
#define BW_REPORT_BROKERS_MAX 65536
#define BW_CAPACITY_INTERVAL_S 60      /* at most one capacity record per resource per minute */
#define BW_LINGER_PACKETS 4            /* packets of a flow still read after its reset... */
#define BW_LINGER_US 30000u            /* ...or this much packet time, whichever comes first: a mirror
                                        * port reorders packets by far less; its alerts wait that long */
#define BW_PROBE_PACKETS_MAX (4 * 12)  /* packets a flow may take without a claim before bypass */

struct bw_pipeline;

struct bw_cbctx { struct bw_pipeline *p; enum bw_dir dir; };


/* One resource's refusals, for "capacity" records (enum bw_resource in bw_stats.h). */
struct bw_capacity {
    uint64_t seen;                 /* the stage's refusal counter at the last look */
    uint64_t pending;              /* refused since the last record */
    uint64_t last_us;              /* packet time of the last record, 0 = none yet */
};

struct bw_pipeline {
    const struct bw_config *cfg;
    const struct bw_dissector *const *dis;
    size_t ndis;
    struct bw_flow_table flows;
    struct bw_probe_pool probes;
    struct bw_stream_pool streams;
    struct bw_classify *dpi;
    struct bw_brute brute;
    struct bw_sink *sinks[BW_SINKS_MAX];
    size_t nsinks;
    /* -w: frames of flows that may still raise an alert wait in the hold (sized when
     * cfg->evidence_path is set, empty otherwise); an alerted session's go to the writer, which
     * main opens and sets (NULL = no evidence file). */
    struct bw_hold_pool hold;
    struct bw_evidence *evidence;
    struct bw_alert_cfg acfg;
    /* TLS: the dissector attached to encrypted broker sessions (NULL = count and bypass them),
     * and its capture-time evaluation (certificate validity and the weak_tls reasons). */
    const struct bw_dissector *tls_dis;
    bool (*tls_evaluate)(struct bw_facts *f, uint64_t ts_us);
    /* Servers that spoke a broker protocol (bw_known.h): the pipeline's own table, or one shared
     * by every worker's pipeline (bw_pipeline_share_known). */
    struct bw_known *known, *known_own;
    struct bw_report *report;             /* exposure report, fed at every session end */
    struct bw_decode_stats dec;
    struct bw_pipe_counters cnt;
    struct bw_capacity cap[BW_RES_COUNT];
    /* One line for a person (capacity warnings); main prints it on stderr. NULL = none. */
    void (*notice)(void *ctx, const char *line);
    void *notice_ctx;
    uint64_t start_us, now_us;            /* packet time */
    uint64_t earliest_us, latest_us;      /* earliest and latest packet time (files out of order:
                                           * now_us follows each file's clock): the report's span */
    uint64_t next_expire_us, next_cap_us;
    /* the packet being processed, for the stream callbacks */
    struct bw_flow *cur_flow;
    struct bw_session *cur_sess;
    uint64_t cur_ts;
    bool bypass_pending;
    bool kick_pending;                    /* a dissector was attached: re-offer held bytes */
    bool finishing;                       /* flushing at session end: probes get a last look */
    struct bw_capture_stats kernel;       /* live capture: the kernel's counters, kept current by main */
    struct bw_cbctx cbctx[2];
    struct bw_stream_cb cb[2];
    uint8_t scratch[4 * BW_PROBE_WINDOW]; /* a direction's first bytes, assembled for the probes */
    /* The TLS dissector's look at a ClientHello in a probe view (its SNI and ALPN), kept nowhere. */
    _Alignas(8) uint8_t hello_state[BW_DISSECTOR_STATE_MAX];
    struct bw_facts hello_facts;
    char rec[BW_RECORD_MAX];
};

/* Size every pool from cfg; `tab`/`n` is the dissector table (bw_dissectors in the sensor,
 * a test table in tests). Returns 0, BW_ENOMEM or BW_EINVAL. */
int  bw_pipeline_init(struct bw_pipeline *p, const struct bw_config *cfg,
                      const struct bw_dissector *const *tab, size_t n) BW_WARN_UNUSED;
/* Use a table of known brokers shared with other pipelines (workers) instead of this one's own;
 * the caller keeps it alive until bw_pipeline_free. */
void bw_pipeline_share_known(struct bw_pipeline *p, struct bw_known *k);
/* Records go to every added sink (the pipeline does not own them). */
int  bw_pipeline_add_sink(struct bw_pipeline *p, struct bw_sink *s) BW_WARN_UNUSED;
/* One captured frame. Never fails: what cannot be handled is counted. */
void bw_pipeline_packet(struct bw_pipeline *p, int dlt, const uint8_t *data, size_t caplen, uint64_t ts_us);
/* Live capture while the link is quiet: packet time goes on to now_us (the wall clock the kernel
 * stamps packets with), so what waits for later packets (the moment after a reset, idle timeouts,
 * capacity records) still happens. A time at or before the latest packet's changes nothing. */
void bw_pipeline_clock(struct bw_pipeline *p, uint64_t now_us);
/* Push the counters to sinks that take them. When is main's decision (--stats-interval: packet
 * time for files, wall time live). */
void bw_pipeline_push_stats(struct bw_pipeline *p);
/* Live capture: touch every page of the pools sized at init, so that no page fault lands on the
 * packet path later. Costs their whole size in resident memory at once. */
void bw_pipeline_prefault(struct bw_pipeline *p);
/* End of capture: finish every session (flush, close, verdicts, session records), report the
 * refusals not yet in a capacity record. */
void bw_pipeline_finish(struct bw_pipeline *p);
/* After finish and the stats taken of it: nDPI's module goes back now, on the caller's thread
 * (each worker gives back its own while the others do). Later stats show no nDPI slots. */
void bw_pipeline_release_dpi(struct bw_pipeline *p);
/* The exposure report as of now (SIGUSR1, --report-interval): the ended sessions' report copied
 * into snap (bw_report_new(BW_REPORT_BROKERS_MAX)), plus every confirmed broker session still
 * open, as far as it has gone. The run's own report is left as it is (each session is added to
 * it once, when it ends). Returns 0 or the error of bw_report_copy. */
int bw_pipeline_report_now(struct bw_pipeline *p, struct bw_report *snap) BW_WARN_UNUSED;
void bw_pipeline_stats(const struct bw_pipeline *p, struct bw_stats *out);
/* Everything any pool, cap or memcap refused in this run (the sum over the capacity resources). */
uint64_t bw_pipeline_refused(const struct bw_pipeline *p);
void bw_pipeline_free(struct bw_pipeline *p);

#endif
