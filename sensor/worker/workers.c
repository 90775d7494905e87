/* workers.c: the reader's side (pick a worker, copy the packet into its ring, or a reference to
 * it where the capture keeps it), the workers'
 * threads (each runs its own pipeline on what its ring brings, or, live in a fanout group, on
 * what its own socket brings), and the writer (records from every worker's ring to the sinks,
 * in the reader's thread). Control requests (clock, stats,
 * report, finish) travel in the packet rings, so a worker answers them between two packets, in
 * order. Owns the threads, the rings and the pipelines; the sinks and the evidence writer are
 * the caller's. No lock anywhere on the packet path: the rings are the only shared memory
 * besides the known-broker table (bw_known.h) and the kept frames, which the workers only read. */
#include "bw_workers.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bw_capture.h"
#include "bw_packet.h"
#include "bw_report.h"
#include "bw_ring.h"
#include "bw_split.h"

#define IN_RING_BYTES  (8u << 20)   /* per worker: about 5,000 full-size frames */
#define IN_RING_CONTROL (64u << 10) /* ... with a socket of its own: control requests only */
#define OUT_RING_BYTES (2u << 20)   /* per worker: records waiting for the writer */
#define BW_WORKERS_CLOCK_US 10000u  /* every worker's timers look 100 times a second */

enum { MSG_PACKET = 1, MSG_KEPT, MSG_CLOCK, MSG_STATS, MSG_REPORT, MSG_SYNC, MSG_FINISH, MSG_SPLIT };

/* MSG_KEPT: a frame read where the capture keeps it (bw_capture_keep), not copied */
struct kept_ref { const uint8_t *data; uint64_t chunk; size_t caplen; };
enum { OUT_RECORD = 1, OUT_NOTICE, OUT_STATS };

struct bw_worker {
    struct bw_workers *ws;
    unsigned id;
    pthread_t th;
    bool started;
    struct bw_config cfg;              /* this worker's share of the caps */
    struct bw_pipeline *pl;
    struct bw_ring in, out;
    struct bw_sink ring_sink;          /* the pipeline's one sink: into `out` */
    _Atomic uint32_t done;             /* the last control request answered */
    _Atomic uint64_t clock;            /* packet time of the last packet handled: every record
                                        * of it and before is in `out` already */
    _Atomic uint64_t kept_chunk;       /* chunk of the last kept frame handled: none before it
                                        * is read again */
    struct bw_stats snap;              /* MSG_STATS answer */
    struct bw_report *snaprep;         /* MSG_REPORT answer */
    int snaprep_rc;
    /* Fanout: the worker's own socket (the caller's), and what the others read of it */
    struct bw_capture *cap;
    int cap_dlt;
    uint64_t cap_start_us;             /* packets before it were received by every socket */
    struct bw_capture_stats kstats;    /* with MSG_STATS and MSG_FINISH */
    _Atomic uint64_t cap_packets, cap_first, cap_last;
    _Atomic int cap_failed;            /* then cap_err holds the line */
    char cap_err[512];
    /* A file the workers read themselves (MSG_SPLIT, bw_workers_read_file) */
    struct bw_split *split;
    struct bw_split_pos split_pos;
    uint64_t split_key;                /* the writer's order of what the item at hand writes */
    struct bw_stats split_stats;       /* a stats point's counters, on their way out */
    _Atomic uint32_t split_done;       /* the last MSG_SPLIT finished */
};

struct bw_workers {
    const struct bw_config *cfg;
    unsigned n, nalloc;                /* running, made */
    bool live, threaded, finished;
    bool fanout;                       /* every worker reads its own socket (bw_workers_capture) */
    bool splitting;                    /* the workers read a file themselves (MSG_SPLIT split_req) */
    uint32_t split_req;
    struct bw_known known;
    struct bw_worker w[BW_WORKERS_MAX];
    struct bw_sink *sinks[BW_SINKS_MAX];
    size_t nsinks;
    void (*notice)(void *ctx, const char *line);
    void *notice_ctx;
    uint32_t req;                      /* the last control request sent */
    uint64_t alerts, sink_errors, since_deliver;
    /* the reader's: packets handed on, the run's span, the packet clock (for the caller's
     * packet-time timers: stats records), and when the next clock to every worker is due */
    struct bw_split_clock rd;
    struct bw_report *report;          /* merged at finish */
    uint64_t refused;
    /* stats points of a file the workers read themselves: every worker's part, then the hook */
    void (*stats_hook)(void *ctx, struct bw_stats *st);
    void *stats_ctx;
    struct bw_stats stats_acc;
    unsigned stats_parts;
    /* What the sinks' own queues refused (Redis), for worker 0's capacity records. */
    _Atomic uint64_t q_refused, q_cap, q_hwm;
};

/* ---- waiting ---- */

/* Spin a little, then yield, then sleep up to 1 ms: a busy ring is met at once, an idle one
 * costs about a thousand wake-ups a second. */
static void backoff(unsigned *spins)
{
    unsigned s = (*spins)++;
    if (s < 64) return;
    if (s < 128) { sched_yield(); return; }
    unsigned us = s < 256 ? 20 : s < 512 ? 200 : 1000;
    struct timespec t = { 0, (long)us * 1000 };
    nanosleep(&t, NULL);
}

/* ---- the workers' sink: records into the out ring ---- */

struct out_record { struct bw_record_meta meta; };

static void out_put(struct bw_worker *w, uint16_t type, uint64_t ts, const void *head, size_t hlen,
                    const char *line, size_t len)
{
    struct bw_ring_msg *m;
    unsigned spins = 0;
    if (hlen + len > bw_ring_max_data(&w->out)) return;        /* cannot happen: records are bounded */
    while (!(m = bw_ring_reserve(&w->out, hlen + len))) backoff(&spins);   /* the writer drains it */
    m->type = type;
    m->ts_us = ts;
    if (hlen) memcpy(m->data, head, hlen);
    memcpy(m->data + hlen, line, len);
    bw_ring_commit(&w->out, m);
    /* Published at once: the writer's merge by time relies on every record of a packet being
     * visible before the worker's clock passes that packet (and an alert leaves now). */
    bw_ring_publish(&w->out);
}

static int ring_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *meta)
{
    struct bw_worker *w = (struct bw_worker *)((char *)s - offsetof(struct bw_worker, ring_sink));
    /* Merged by when the record was decided (the worker's packet time), not by the time in it:
     * a session judged at its end carries its last packet's time, older than what the other
     * workers wrote meanwhile, and by that time the merge would depend on the threads' timing. */
    out_put(w, OUT_RECORD, w->split ? w->split_key : w->pl->now_us, meta, sizeof *meta, line, len);
    return 0;
}

static int ring_flush(struct bw_sink *s)
{
    struct bw_worker *w = (struct bw_worker *)((char *)s - offsetof(struct bw_worker, ring_sink));
    bw_ring_publish(&w->out);
    return 0;
}

static int ring_close(struct bw_sink *s) { (void)s; return 0; }

static void ring_capacity(struct bw_sink *s, struct bw_sink_capacity *out)
{
    struct bw_worker *w = (struct bw_worker *)((char *)s - offsetof(struct bw_worker, ring_sink));
    out->refused = atomic_load_explicit(&w->ws->q_refused, memory_order_relaxed);
    out->cap = atomic_load_explicit(&w->ws->q_cap, memory_order_relaxed);
    out->high_water = atomic_load_explicit(&w->ws->q_hwm, memory_order_relaxed);
}

static void ring_notice(void *ctx, const char *line)
{
    struct bw_worker *w = ctx;
    out_put(w, OUT_NOTICE, 0, NULL, 0, line, strlen(line));
}

/* ---- the writer ---- */

static void complete_stats(struct bw_workers *ws, struct bw_stats *out, bool sink_errors);

static void deliver_one(struct bw_workers *ws, const struct bw_ring_msg *m)
{
    if (m->type == OUT_STATS) {
        /* one worker's counters at a stats point; the record once every worker's are in */
        struct bw_stats part;
        memcpy(&part, m->data, sizeof part);
        bw_stats_add(&ws->stats_acc, &part);
        if (++ws->stats_parts == ws->n) {
            complete_stats(ws, &ws->stats_acc, true);
            if (ws->stats_hook) ws->stats_hook(ws->stats_ctx, &ws->stats_acc);
            memset(&ws->stats_acc, 0, sizeof ws->stats_acc);
            ws->stats_parts = 0;
        }
        return;
    }
    if (m->type == OUT_NOTICE) {
        char line[1024];
        size_t n = m->len < sizeof line - 1 ? m->len : sizeof line - 1;
        memcpy(line, m->data, n);
        line[n] = '\0';
        if (ws->notice) ws->notice(ws->notice_ctx, line);
        return;
    }
    struct bw_record_meta meta;
    memcpy(&meta, m->data, sizeof meta);
    const char *line = (const char *)m->data + sizeof meta;
    size_t len = m->len - sizeof meta;
    bool session = meta.type == BW_REC_SESSION;
    if (meta.type == BW_REC_ALERT) ws->alerts++;
    for (size_t i = 0; i < ws->nsinks; i++) {
        struct bw_sink *k = ws->sinks[i];
        /* the pipeline's rules (write_record), per sink */
        if (session && !ws->cfg->session_log && !k->wants_sessions) continue;
        if (session && meta.unanswered && k->wants_sessions) continue;
        if (k->write(k, line, len, &meta) != 0) ws->sink_errors++;
    }
}

/* What the sinks' queues refused, for the workers' capacity records. */
static void queue_capacity(struct bw_workers *ws)
{
    struct bw_sink_capacity t = { 0, 0, 0 };
    for (size_t i = 0; i < ws->nsinks; i++) {
        struct bw_sink_capacity sc = { 0, 0, 0 };
        if (!ws->sinks[i]->capacity) continue;
        ws->sinks[i]->capacity(ws->sinks[i], &sc);
        t.refused += sc.refused;
        t.cap += sc.cap;
        if (sc.high_water > t.high_water) t.high_water = sc.high_water;
    }
    atomic_store_explicit(&ws->q_refused, t.refused, memory_order_relaxed);
    atomic_store_explicit(&ws->q_cap, t.cap, memory_order_relaxed);
    atomic_store_explicit(&ws->q_hwm, t.high_water, memory_order_relaxed);
}

/* The workers' records, merged by the packet time they were decided at (each ring is in that
 * order; reading a file themselves, by the number of the record at hand in the run instead,
 * each worker's clock being the number of its next), ties by worker: the oldest head of all
 * rings goes first, once no other worker can still
 * write one that sorts before it (its clock has passed that time, or it has handled every packet
 * handed to it). So the order is the same from run to run, whatever the threads' timing, and
 * each ring is taken in its order: one session's records never reorder. `all`: no waiting (the
 * workers have ended). Returns records delivered. */
static size_t merge_out(struct bw_workers *ws, bool all)
{
    uint64_t clock[BW_WORKERS_MAX];
    bool idle[BW_WORKERS_MAX];
    size_t n = 0;
    /* clocks and idleness first, then the rings: what the clocks promise is in the rings */
    for (unsigned i = 0; i < ws->n; i++) {
        /* Idle: nothing handed to it is left. With sockets of their own (fanout) workers are
         * never waited for (their in rings carry control requests only): what one wrote leaves
         * as soon as the writer sees it, rather than after the other sockets' kernel blocks
         * filled. Reading a file themselves, a worker is idle once its part is done; before, its
         * clock says which records it may still write. */
        idle[i] = all || (bw_ring_drained(&ws->w[i].in) &&
                          (!ws->splitting ||
                           atomic_load_explicit(&ws->w[i].split_done, memory_order_acquire) == ws->split_req));
        clock[i] = atomic_load_explicit(&ws->w[i].clock, memory_order_acquire);
    }
    for (;;) {
        const struct bw_ring_msg *head[BW_WORKERS_MAX];
        int best = -1;
        for (unsigned i = 0; i < ws->n; i++) {
            head[i] = bw_ring_peek(&ws->w[i].out);
            if (head[i] && (best < 0 || head[i]->ts_us < head[best]->ts_us)) best = (int)i;
        }
        if (best < 0) break;
        uint64_t t = head[best]->ts_us;
        bool may = true;
        /* a worker before `best` may still write one at time t itself, which would go first */
        for (unsigned j = 0; j < ws->n && may; j++)
            if (!head[j] && !idle[j] && (clock[j] < t || (clock[j] == t && j < (unsigned)best))) may = false;
        if (!may || n >= 65536) break;         /* wait for that worker; bounded pass */
        deliver_one(ws, head[best]);
        bw_ring_release(&ws->w[best].out, head[best]);
        n++;
    }
    for (unsigned i = 0; i < ws->n; i++) bw_ring_release_all(&ws->w[i].out);
    return n;
}

void bw_workers_deliver(struct bw_workers *ws, bool flush)
{
    ws->since_deliver = 0;
    if (ws->threaded && merge_out(ws, ws->finished)) queue_capacity(ws);
    if (flush)
        for (size_t i = 0; i < ws->nsinks; i++)
            if (ws->sinks[i]->flush(ws->sinks[i]) != 0) ws->sink_errors++;
}

/* ---- the workers ---- */

static uint64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* One message of the in ring: a packet, or a control request answered now. Returns true after
 * MSG_FINISH (the worker ends). */
static bool handle(struct bw_worker *w, const struct bw_ring_msg *m)
{
    uint32_t req = m->aux;
    switch (m->type) {
    case MSG_PACKET:
        bw_pipeline_packet(w->pl, m->dlt, m->data, m->len, m->ts_us);
        atomic_store_explicit(&w->clock, w->pl->now_us, memory_order_release);
        break;
    case MSG_KEPT: {
        struct kept_ref ref, next;
        /* the next frame was read in by the other core: its headers come in meanwhile */
        const struct bw_ring_msg *nx = bw_ring_peek_next(&w->in, m);
        if (nx && nx->type == MSG_KEPT) {
            memcpy(&next, nx->data, sizeof next);
            __builtin_prefetch(next.data);
            __builtin_prefetch(next.data + 64);
        }
        memcpy(&ref, m->data, sizeof ref);
        bw_pipeline_packet(w->pl, m->dlt, ref.data, ref.caplen, m->ts_us);
        atomic_store_explicit(&w->clock, w->pl->now_us, memory_order_release);
        atomic_store_explicit(&w->kept_chunk, ref.chunk, memory_order_release);
        break;
    }
    case MSG_CLOCK:
        /* A worker that has had no packet yet keeps no clock of its own (nothing to time
         * out), but it promises the same: every record it will write is of a later packet. */
        bw_pipeline_clock(w->pl, m->ts_us);
        atomic_store_explicit(&w->clock, w->pl->now_us > m->ts_us ? w->pl->now_us : m->ts_us,
                              memory_order_release);
        break;
    case MSG_STATS:
        if (w->cap && bw_capture_stats(w->cap, &w->kstats) != 0) memset(&w->kstats, 0, sizeof w->kstats);
        bw_pipeline_stats(w->pl, &w->snap);
        break;
    case MSG_REPORT:
        w->snaprep_rc = bw_pipeline_report_now(w->pl, w->snaprep);
        break;
    case MSG_SYNC:
        break;
    case MSG_FINISH:
        if (w->cap && bw_capture_stats(w->cap, &w->kstats) != 0) memset(&w->kstats, 0, sizeof w->kstats);
        bw_pipeline_finish(w->pl);
        bw_pipeline_stats(w->pl, &w->snap);
        bw_pipeline_release_dpi(w->pl);    /* the biggest teardown, each worker its own */
        break;
    }
    bool finish = m->type == MSG_FINISH;
    bool control = m->type != MSG_PACKET && m->type != MSG_KEPT && m->type != MSG_CLOCK;
    bw_ring_release(&w->in, m);
    if (control) {
        bw_ring_release_all(&w->in);
        bw_ring_publish(&w->out);          /* every record before the answer is out */
        atomic_store_explicit(&w->done, req, memory_order_release);
    }
    return finish;
}

/* MSG_SPLIT: this worker's part of a file the workers read themselves (bw_split.h), until the
 * file is done for it; between two items it answers the control requests its ring brings. */
static void run_split(struct bw_worker *w, struct bw_split *sp, int dlt)
{
    unsigned spins = 0, n = 0;
    bool more = false;
    w->split_pos = bw_split_start(sp, w->id);
    w->split = sp;
    for (;;) {
        const struct bw_ring_msg *m = bw_ring_peek(&w->in);
        if (m) {
            (void)handle(w, m);                /* stats, report, sync: nothing else comes meanwhile */
            continue;
        }
        /* the chain first, looked at every 16 items (a read waits at most that long for it) */
        if ((++n & 15) == 0 || !more) {
            if (bw_split_read(sp, &w->split_pos)) continue;
        }
        struct bw_split_item it;
        uint64_t next_seq = 0;
        int r = bw_split_next(sp, &w->split_pos, &it, &next_seq);
        more = r > 0;
        if (r > 0) {
            spins = 0;
            /* The writer's order: what an item (seq) writes has the key 2 seq, a stats point after
             * it 2 seq + 1; the clock is the key this worker's next record has at least. */
            w->split_key = 2 * it.seq;
            if (it.kind == BW_SPLIT_CLOCK) {
                bw_pipeline_clock(w->pl, it.ts);
            } else if (it.kind == BW_SPLIT_PACKET) {
                bw_pipeline_packet(w->pl, dlt, it.data, it.caplen, it.ts);
            } else {
                w->split_key = 2 * it.seq + 1;
                bw_pipeline_stats(w->pl, &w->split_stats);
                out_put(w, OUT_STATS, w->split_key, &w->split_stats, sizeof w->split_stats, "", 0);
            }
            atomic_store_explicit(&w->clock, w->split_key + 1, memory_order_release);
            continue;
        }
        if (r < 0) break;
        /* waiting for the chain: what was written leaves, and the writer learns that nothing
         * of this worker's to come is before the next chunk */
        bw_ring_publish(&w->out);
        atomic_store_explicit(&w->clock, 2 * next_seq, memory_order_release);
        bw_ring_release_all(&w->in);
        backoff(&spins);
    }
    w->split = NULL;
    bw_ring_publish(&w->out);
}

struct split_msg { struct bw_split *sp; int dlt; };

static void *worker_main(void *arg)
{
    struct bw_worker *w = arg;
    unsigned spins = 0;
    for (;;) {
        const struct bw_ring_msg *m = bw_ring_peek(&w->in);
        if (!m) {
            bw_ring_publish(&w->out);          /* idle: what was written leaves, then the */
            bw_ring_release_all(&w->in);       /* reader may see this worker as idle */
            backoff(&spins);
            continue;
        }
        spins = 0;
        if (m->type == MSG_SPLIT) {
            struct split_msg sm;
            uint32_t req = m->aux;
            memcpy(&sm, m->data, sizeof sm);
            bw_ring_release(&w->in, m);        /* its ring brings the control requests meanwhile */
            bw_ring_release_all(&w->in);
            run_split(w, sm.sp, sm.dlt);
            atomic_store_explicit(&w->split_done, req, memory_order_release);
            continue;
        }
        if (handle(w, m)) return NULL;
    }
}

/* Fanout: the worker reads its own socket; between two packets (or after a quiet wait of
 * BW_CAPTURE_IDLE_WORKERS_MS) it answers what its ring brings. While the socket is quiet the
 * wall clock runs its timers and its clock for the writer's merge. After a capture error it
 * keeps answering until the caller finishes it. */
static void *worker_capture_main(void *arg)
{
    struct bw_worker *w = arg;
    char err[sizeof w->cap_err];
    bool started = false, failed = false;
    uint64_t n = 0, first = 0, last = 0;
    unsigned spins = 0;
    for (;;) {
        const struct bw_ring_msg *m = bw_ring_peek(&w->in);
        if (m) {
            if (handle(w, m)) return NULL;
            continue;
        }
        const uint8_t *data;
        size_t caplen;
        uint64_t ts;
        int rc = failed ? 0 : bw_capture_next(w->cap, &data, &caplen, &ts, err, sizeof err);
        if (rc == 1) {
            /* until the first packet of the whole group: every socket had a copy */
            if (!started && ts < w->cap_start_us) continue;
            started = true;
            spins = 0;
            bw_pipeline_packet(w->pl, w->cap_dlt, data, caplen, ts);
            atomic_store_explicit(&w->clock, w->pl->now_us, memory_order_release);
            if (!first || ts < first) atomic_store_explicit(&w->cap_first, first = ts, memory_order_relaxed);
            if (ts > last) atomic_store_explicit(&w->cap_last, last = ts, memory_order_relaxed);
            atomic_store_explicit(&w->cap_packets, ++n, memory_order_relaxed);
            continue;
        }
        if (rc < 0) {
            memcpy(w->cap_err, err, sizeof err);
            atomic_store_explicit(&w->cap_failed, 1, memory_order_release);
            failed = true;
        }
        /* quiet (2), broken off (0) or failed: the wall clock runs the timers */
        uint64_t now = wall_us();
        bw_pipeline_clock(w->pl, now);
        atomic_store_explicit(&w->clock, w->pl->now_us > now ? w->pl->now_us : now, memory_order_release);
        bw_ring_publish(&w->out);
        bw_ring_release_all(&w->in);
        if (rc != 2) backoff(&spins);          /* no socket wait to pace the loop */
    }
}

/* Put a message in worker i's ring, waiting (and delivering records) while it is full. */
static struct bw_ring_msg *in_reserve(struct bw_workers *ws, unsigned i, size_t len)
{
    struct bw_ring_msg *m;
    unsigned spins = 0;
    while (!(m = bw_ring_reserve(&ws->w[i].in, len))) {
        bw_workers_deliver(ws, false);
        backoff(&spins);
    }
    return m;
}

/* A control request to every worker, then wait for every answer (delivering meanwhile). */
static void request_all(struct bw_workers *ws, uint16_t type, uint64_t ts)
{
    uint32_t req = ++ws->req;
    for (unsigned i = 0; i < ws->n; i++) {
        if (!ws->w[i].started) continue;
        struct bw_ring_msg *m = in_reserve(ws, i, 0);
        m->type = type;
        m->aux = (uint16_t)req;
        m->ts_us = ts;
        bw_ring_commit(&ws->w[i].in, m);
        bw_ring_publish(&ws->w[i].in);
    }
    for (unsigned i = 0; i < ws->n; i++) {
        unsigned spins = 0;
        if (!ws->w[i].started) continue;
        while ((uint16_t)atomic_load_explicit(&ws->w[i].done, memory_order_acquire) != (uint16_t)req) {
            bw_workers_deliver(ws, false);
            backoff(&spins);
        }
    }
    bw_workers_deliver(ws, false);
}

/* ---- set-up ---- */

static uint32_t share(uint64_t total, unsigned n)
{
    uint64_t v = (total + n - 1) / n;
    return (uint32_t)(v ? v : 1);
}

/* One worker's pipeline and rings (its share of the caps is set). */
static int worker_setup(struct bw_worker *w, const struct bw_dissector *const *tab, size_t ntab)
{
    int rc;
    w->pl = calloc(1, sizeof *w->pl);
    if (!w->pl) return BW_ENOMEM;
    if ((rc = bw_pipeline_init(w->pl, &w->cfg, tab, ntab)) != 0) { free(w->pl); w->pl = NULL; return rc; }
    bw_pipeline_share_known(w->pl, &w->ws->known);
    if (!w->ws->threaded) return 0;
    if ((rc = bw_ring_init(&w->in, IN_RING_BYTES, w->ws->live)) != 0) return rc;
    if ((rc = bw_ring_init(&w->out, OUT_RING_BYTES, w->ws->live)) != 0) return rc;
    w->ring_sink.name = "worker";
    w->ring_sink.write = ring_write;
    w->ring_sink.flush = ring_flush;
    w->ring_sink.close = ring_close;
    if (w->id == 0) w->ring_sink.capacity = ring_capacity;   /* one worker speaks for the queues */
    w->pl->notice = ring_notice;
    w->pl->notice_ctx = w;
    return 0;
}

struct setup_job {
    struct bw_worker *w;
    const struct bw_dissector *const *tab;
    size_t ntab;
    int rc;
};

static void *setup_main(void *arg)
{
    struct setup_job *j = arg;
    j->rc = worker_setup(j->w, j->tab, j->ntab);
    return NULL;
}

int bw_workers_new(struct bw_workers **out, const struct bw_config *cfg, unsigned n, bool live,
                   const struct bw_dissector *const *tab, size_t ntab)
{
    *out = NULL;
    if (n < 1 || n > BW_WORKERS_MAX) return BW_EINVAL;
    struct bw_workers *ws = calloc(1, sizeof *ws);
    if (!ws) return BW_ENOMEM;
    ws->cfg = cfg;
    ws->n = ws->nalloc = n;
    ws->live = live;
    ws->threaded = n > 1;
    bw_known_init(&ws->known);
    struct setup_job job[BW_WORKERS_MAX];
    pthread_t th[BW_WORKERS_MAX];
    bool helper[BW_WORKERS_MAX] = { false };
    for (unsigned i = 0; i < n; i++) {
        struct bw_worker *w = &ws->w[i];
        w->ws = ws;
        w->id = i;
        w->cfg = *cfg;
        if (n > 1) {
            w->cfg.max_flows = share(cfg->max_flows, n);
            w->cfg.max_sessions = share(cfg->max_sessions, n);
            if (cfg->max_probes) w->cfg.max_probes = share(cfg->max_probes, n);
            w->cfg.stream_memcap = (cfg->stream_memcap + n - 1) / n;
            w->cfg.dpi_slots = share(cfg->dpi_slots, n);
            if (cfg->evidence_memcap) w->cfg.evidence_memcap = (cfg->evidence_memcap + n - 1) / n;
        }
        job[i] = (struct setup_job){ w, tab, ntab, 0 };
    }
    /* Each worker's set-up (mostly its nDPI module, some 30 ms) on a thread of its own, worker 0
     * on this one. The helpers end here, before the caller drops privileges (the workers' own
     * threads start after: bw_workers_start). One that cannot start is done here instead. */
    for (unsigned i = 1; i < n; i++) helper[i] = pthread_create(&th[i], NULL, setup_main, &job[i]) == 0;
    setup_main(&job[0]);
    for (unsigned i = 1; i < n; i++) {
        if (helper[i]) pthread_join(th[i], NULL);
        else setup_main(&job[i]);
    }
    for (unsigned i = 0; i < n; i++) {
        if (job[i].rc != 0) {
            int rc = job[i].rc;
            bw_workers_free(ws);
            return rc;
        }
    }
    *out = ws;
    return 0;
}

unsigned bw_workers_count(const struct bw_workers *ws) { return ws->n; }

struct bw_pipeline *bw_workers_pipeline(struct bw_workers *ws, unsigned i)
{
    return i < ws->n ? ws->w[i].pl : NULL;
}

int bw_workers_add_sink(struct bw_workers *ws, struct bw_sink *s)
{
    if (ws->nsinks >= BW_SINKS_MAX) return BW_ELIMIT;
    ws->sinks[ws->nsinks++] = s;
    if (!ws->threaded) return bw_pipeline_add_sink(ws->w[0].pl, s);
    return 0;
}

void bw_workers_set_notice(struct bw_workers *ws, void (*fn)(void *ctx, const char *line), void *ctx)
{
    ws->notice = fn;
    ws->notice_ctx = ctx;
    if (!ws->threaded) { ws->w[0].pl->notice = fn; ws->w[0].pl->notice_ctx = ctx; }
}

int bw_workers_start(struct bw_workers *ws)
{
    if (!ws->threaded) return 0;
    /* The workers' sinks take session records when a real sink would (see deliver_one). */
    bool wants = false;
    for (size_t i = 0; i < ws->nsinks; i++) wants |= ws->sinks[i]->wants_sessions;
    for (unsigned i = 0; i < ws->n; i++) {
        struct bw_worker *w = &ws->w[i];
        w->ring_sink.wants_sessions = wants && !ws->cfg->session_log;
        if (bw_pipeline_add_sink(w->pl, &w->ring_sink) != 0) return BW_ELIMIT;
    }
    queue_capacity(ws);
    for (unsigned i = 0; i < ws->n; i++) {
        struct bw_worker *w = &ws->w[i];
        if (pthread_create(&w->th, NULL, ws->fanout ? worker_capture_main : worker_main, w) != 0) {
            if (i == 0) return BW_ENOMEM;
            ws->n = i;                          /* run with the ones that started */
            break;
        }
        w->started = true;
    }
    return 0;
}

/* ---- the reader's side ---- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t addr_word(uint8_t ip_ver, const uint8_t *ip)
{
    uint64_t a, b = 0;
    if (ip_ver == 4) {
        uint32_t v;
        memcpy(&v, ip, 4);
        return mix(v);
    }
    memcpy(&a, ip, 8);
    memcpy(&b, ip + 8, 8);
    return mix(a ^ mix(b));
}

unsigned bw_workers_pick(uint8_t ip_ver, const uint8_t *a, const uint8_t *b, unsigned n)
{
    /* a sum of the two addresses' hashes: the same whichever end sent the packet */
    uint64_t h = mix(addr_word(ip_ver, a) + addr_word(ip_ver, b));
    return (unsigned)(((h >> 32) * n) >> 32);
}

/* The reader's part for every frame: counters, clocks, and the worker that takes it. */
static unsigned take(struct bw_workers *ws, int dlt, const uint8_t *data, size_t caplen, uint64_t ts)
{
    bool clock_due = bw_split_step(&ws->rd, ts, (uint64_t)ws->cfg->flow_timeout_s * 1000000u, BW_WORKERS_CLOCK_US);
    if (!ws->threaded) return 0;
    /* Packet time is the whole capture's, not each worker's share of it: every hundredth of a
     * second of it reaches every worker, so idle timeouts end flows when they would with one
     * worker (whose clock every packet moves), not at the end of the capture. */
    if (clock_due) {
        for (unsigned k = 0; k < ws->n; k++) {
            struct bw_ring_msg *c = in_reserve(ws, k, 0);
            c->type = MSG_CLOCK;
            c->ts_us = ts;
            bw_ring_commit(&ws->w[k].in, c);
            if (ws->live) bw_ring_publish(&ws->w[k].in);   /* or the merge waits on it */
        }
    }
    return bw_workers_pick_frame(dlt, data, caplen, ts, ws->n);
}

unsigned bw_workers_pick_frame(int dlt, const uint8_t *data, size_t caplen, uint64_t ts, unsigned n)
{
    uint8_t ver;
    const uint8_t *a, *b;
    if (bw_decode_pair(dlt, data, caplen, &ver, &a, &b)) return bw_workers_pick(ver, a, b, n);
    struct bw_packet pk;
    struct bw_decode_stats scratch;
    if (bw_decode_packet(dlt, data, caplen, ts, &pk, &scratch) == BW_DEC_TCP)
        return bw_workers_pick(pk.ip_ver, pk.src, pk.dst, n);
    return 0;                                   /* what is not TCP is counted by worker 0 */
}

static void handed(struct bw_workers *ws, struct bw_worker *w, struct bw_ring_msg *m)
{
    bw_ring_commit(&w->in, m);
    if (ws->live) bw_ring_publish(&w->in);
    /* the writer's turn now and then (the workers never wait long for room) */
    if (++ws->since_deliver >= 256) bw_workers_deliver(ws, false);
}

void bw_workers_packet(struct bw_workers *ws, int dlt, const uint8_t *data, size_t caplen, uint64_t ts)
{
    unsigned i = take(ws, dlt, data, caplen, ts);
    if (!ws->threaded) {
        bw_pipeline_packet(ws->w[0].pl, dlt, data, caplen, ts);
        return;
    }
    struct bw_worker *w = &ws->w[i];
    size_t len = caplen <= bw_ring_max_data(&w->in) ? caplen : bw_ring_max_data(&w->in);
    struct bw_ring_msg *m = in_reserve(ws, i, len);
    m->type = MSG_PACKET;
    m->dlt = dlt;
    m->ts_us = ts;
    memcpy(m->data, data, len);
    handed(ws, w, m);
}

void bw_workers_packet_kept(struct bw_workers *ws, int dlt, const uint8_t *data, size_t caplen, uint64_t ts,
                            uint64_t chunk)
{
    if (!ws->threaded) { bw_workers_packet(ws, dlt, data, caplen, ts); return; }
    unsigned i = take(ws, dlt, data, caplen, ts);
    struct bw_worker *w = &ws->w[i];
    struct kept_ref ref = { data, chunk, caplen };
    struct bw_ring_msg *m = in_reserve(ws, i, sizeof ref);
    m->type = MSG_KEPT;
    m->dlt = dlt;
    m->ts_us = ts;
    memcpy(m->data, &ref, sizeof ref);
    handed(ws, w, m);
}


int bw_workers_read_file(struct bw_workers *ws, struct bw_capture *cap, bool (*tick)(void *ctx, uint64_t offset),
                         void *ctx, uint64_t stats_iv_us, uint64_t *next_stats_us, char *err, size_t errlen)
{
    if (!ws->threaded || ws->live || ws->finished) return BW_EINVAL;
    struct bw_split_clock from = ws->rd;
    from.next_stats_us = *next_stats_us;
    struct split_msg sm = { bw_split_new(cap, bw_capture_dlt(cap), ws->n, (uint64_t)ws->cfg->flow_timeout_s * 1000000u,
                                         stats_iv_us, &from), bw_capture_dlt(cap) };
    if (!sm.sp) return BW_ENOMEM;
    /* What the workers wrote before (an earlier file) leaves first: merged by time, not by number */
    request_all(ws, MSG_SYNC, 0);
    while (merge_out(ws, false)) {}
    for (unsigned i = 0; i < ws->n; i++) atomic_store_explicit(&ws->w[i].clock, 2 * from.packets, memory_order_release);
    memset(&ws->stats_acc, 0, sizeof ws->stats_acc);
    ws->stats_parts = 0;
    uint32_t req = ++ws->req;
    ws->split_req = (uint16_t)req;             /* as the worker has it: the message's aux */
    ws->splitting = true;
    for (unsigned i = 0; i < ws->n; i++) {
        struct bw_ring_msg *m = in_reserve(ws, i, sizeof sm);
        m->type = MSG_SPLIT;
        m->aux = (uint16_t)req;
        memcpy(m->data, &sm, sizeof sm);
        bw_ring_commit(&ws->w[i].in, m);
        bw_ring_publish(&ws->w[i].in);
    }
    bool stopped = false;
    for (unsigned i = 0; i < ws->n; i++) {
        unsigned spins = 0;
        while ((uint16_t)atomic_load_explicit(&ws->w[i].split_done, memory_order_acquire) != (uint16_t)req) {
            bw_workers_deliver(ws, false);
            bw_split_clock_get(sm.sp, &ws->rd);       /* for progress and mid-run reports */
            if (!stopped && tick && !tick(ctx, bw_split_offset(sm.sp))) {
                bw_split_stop(sm.sp);
                stopped = true;
            }
            backoff(&spins);
        }
    }
    while (merge_out(ws, false)) {}           /* numbered records before the clocks go back to time */
    ws->splitting = false;
    bw_split_clock_get(sm.sp, &ws->rd);
    *next_stats_us = ws->rd.next_stats_us;
    bw_capture_consumed(cap, bw_split_offset(sm.sp));
    int rc = 0;
    if (bw_split_error(sm.sp)[0]) {
        snprintf(err, errlen, "%s", bw_split_error(sm.sp));
        rc = BW_EIO;
    }
    bw_split_free(sm.sp);
    bw_workers_deliver(ws, false);
    return rc;
}

uint64_t bw_workers_kept_done(struct bw_workers *ws, uint64_t chunk)
{
    unsigned spins = 0;
    if (!ws->threaded) return UINT64_MAX;
    for (;;) {
        uint64_t below = UINT64_MAX;
        for (unsigned i = 0; i < ws->n; i++) {
            struct bw_worker *w = &ws->w[i];
            /* an idle worker has read all it was given; a busy one reads no chunk before its
             * last (kept frames are handed on in file order) */
            if (bw_ring_drained(&w->in)) continue;
            uint64_t c = atomic_load_explicit(&w->kept_chunk, memory_order_acquire);
            if (c < below) below = c;
        }
        if (below > chunk) return below;
        for (unsigned i = 0; i < ws->n; i++) bw_ring_publish(&ws->w[i].in);   /* what they wait for */
        bw_workers_deliver(ws, false);
        backoff(&spins);
    }
}

void bw_workers_clock(struct bw_workers *ws, uint64_t now_us)
{
    if (!ws->threaded) { bw_pipeline_clock(ws->w[0].pl, now_us); return; }
    /* what the last clock let out leaves first: the workers have handled it by now, while right
     * after a new one they are still busy with it and the merge would wait on them */
    bw_workers_deliver(ws, false);
    for (unsigned i = 0; i < ws->n; i++) {
        struct bw_worker *w = &ws->w[i];
        bw_ring_publish(&w->in);
        struct bw_ring_msg *m = bw_ring_reserve(&w->in, 0);
        if (!m) continue;                       /* busy: its packets keep its clock going */
        m->type = MSG_CLOCK;
        m->ts_us = now_us;
        bw_ring_commit(&w->in, m);
        bw_ring_publish(&w->in);
    }
    bw_workers_deliver(ws, false);
}

void bw_workers_sync(struct bw_workers *ws)
{
    if (ws->threaded && !ws->finished) request_all(ws, MSG_SYNC, 0);
}

size_t bw_workers_sinks(struct bw_workers *ws, struct bw_sink ***sinks)
{
    *sinks = ws->sinks;
    return ws->nsinks;
}

static void merged_stats(struct bw_workers *ws, struct bw_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < ws->n; i++) bw_stats_add(out, &ws->w[i].snap);
    out->pipe.sink_errors += ws->sink_errors;
    ws->refused = 0;
    for (int r = 0; r < BW_RES_COUNT; r++) ws->refused += out->pipe.refused[r];
}

void bw_workers_stats(struct bw_workers *ws, struct bw_stats *out)
{
    if (!ws->threaded) {
        bw_pipeline_stats(ws->w[0].pl, out);
        out->pipe.sink_errors += ws->sink_errors;
        return;
    }
    if (!ws->finished) request_all(ws, MSG_STATS, 0);
    merged_stats(ws, out);                      /* the sink errors counted there */
    complete_stats(ws, out, false);
}

/* What a sum of the workers' counters lacks: the writer's own, the sockets', the evidence. */
static void complete_stats(struct bw_workers *ws, struct bw_stats *out, bool sink_errors)
{
    if (sink_errors) out->pipe.sink_errors += ws->sink_errors;
    bw_workers_kernel_stats(ws, &out->kernel);  /* the sockets' (fanout), else the caller's */
    /* the evidence writer is one for all (it takes its own lock): its counters are not a sum */
    memset(&out->evidence, 0, sizeof out->evidence);
    if (ws->w[0].pl->evidence) bw_evidence_get_stats(ws->w[0].pl->evidence, &out->evidence);
}

void bw_workers_set_stats_hook(struct bw_workers *ws, void (*fn)(void *ctx, struct bw_stats *st), void *ctx)
{
    ws->stats_hook = fn;
    ws->stats_ctx = ctx;
}

int bw_workers_report_now(struct bw_workers *ws, struct bw_report *snap)
{
    if (!ws->threaded) return bw_pipeline_report_now(ws->w[0].pl, snap);
    for (unsigned i = 0; i < ws->n; i++)
        if (!ws->w[i].snaprep && !(ws->w[i].snaprep = bw_report_new(BW_REPORT_BROKERS_MAX))) return BW_ENOMEM;
    request_all(ws, MSG_REPORT, 0);
    int rc = 0;
    for (unsigned i = 0; i < ws->n && rc == 0; i++) {
        if ((rc = ws->w[i].snaprep_rc) != 0) break;
        rc = i == 0 ? bw_report_copy(snap, ws->w[0].snaprep) : bw_report_merge(snap, ws->w[i].snaprep);
    }
    return rc;
}

void bw_workers_finish(struct bw_workers *ws)
{
    if (ws->finished) return;
    if (!ws->threaded) {
        bw_pipeline_finish(ws->w[0].pl);
        ws->finished = true;
        ws->report = ws->w[0].pl->report;
        return;
    }
    request_all(ws, MSG_FINISH, 0);
    for (unsigned i = 0; i < ws->n; i++)
        if (ws->w[i].started) { pthread_join(ws->w[i].th, NULL); ws->w[i].started = false; }
    ws->finished = true;
    bw_workers_deliver(ws, true);
    struct bw_stats st;
    merged_stats(ws, &st);
    ws->report = bw_report_new(BW_REPORT_BROKERS_MAX);
    for (unsigned i = 0; i < ws->n && ws->report; i++) {
        int rc = i == 0 ? bw_report_copy(ws->report, ws->w[0].pl->report)
                        : bw_report_merge(ws->report, ws->w[i].pl->report);
        if (rc != 0) { bw_report_free(ws->report); ws->report = NULL; }
    }
}

const struct bw_report *bw_workers_report(struct bw_workers *ws) { return ws->report; }
/* With sockets of their own, what the reader would count is the workers' (their last values) */
uint64_t bw_workers_earliest(const struct bw_workers *ws)
{
    if (!ws->fanout) return ws->rd.earliest_us;
    uint64_t t = 0;
    for (unsigned i = 0; i < ws->n; i++) {
        uint64_t f = atomic_load_explicit(&ws->w[i].cap_first, memory_order_relaxed);
        if (f && (!t || f < t)) t = f;
    }
    return t;
}

uint64_t bw_workers_latest(const struct bw_workers *ws)
{
    if (!ws->fanout) return ws->rd.latest_us;
    uint64_t t = 0;
    for (unsigned i = 0; i < ws->n; i++) {
        uint64_t l = atomic_load_explicit(&ws->w[i].cap_last, memory_order_relaxed);
        if (l > t) t = l;
    }
    return t;
}

uint64_t bw_workers_now(const struct bw_workers *ws) { return ws->fanout ? bw_workers_latest(ws) : ws->rd.now_us; }

uint64_t bw_workers_packets(const struct bw_workers *ws)
{
    if (!ws->fanout) return ws->rd.packets;
    uint64_t n = 0;
    for (unsigned i = 0; i < ws->n; i++) n += atomic_load_explicit(&ws->w[i].cap_packets, memory_order_relaxed);
    return n;
}

int bw_workers_capture(struct bw_workers *ws, struct bw_capture *const *caps, unsigned n, uint64_t start_us)
{
    if (!ws->live || !ws->threaded || n != ws->n) return BW_EINVAL;
    for (unsigned i = 0; i < n; i++) {
        struct bw_worker *w = &ws->w[i];
        if (w->started || !caps[i]) return BW_EINVAL;
        /* the ring carries control requests only now: a small one */
        bw_ring_free(&w->in);
        if (bw_ring_init(&w->in, IN_RING_CONTROL, true) != 0) return BW_ENOMEM;
        w->cap = caps[i];
        w->cap_dlt = bw_capture_dlt(caps[i]);
        w->cap_start_us = start_us;
    }
    ws->fanout = true;
    return 0;
}

bool bw_workers_fanout(const struct bw_workers *ws) { return ws->fanout; }

bool bw_workers_capture_failed(struct bw_workers *ws, char *err, size_t errlen)
{
    for (unsigned i = 0; ws->fanout && i < ws->n; i++) {
        if (!atomic_load_explicit(&ws->w[i].cap_failed, memory_order_acquire)) continue;
        snprintf(err, errlen, "%s", ws->w[i].cap_err);
        return true;
    }
    return false;
}

void bw_workers_kernel_stats(const struct bw_workers *ws, struct bw_capture_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; ws->fanout && i < ws->n; i++) {
        out->received += ws->w[i].kstats.received;
        out->dropped += ws->w[i].kstats.dropped;
        out->if_dropped += ws->w[i].kstats.if_dropped;
    }
}

uint64_t bw_workers_handled(const struct bw_workers *ws, unsigned i)
{
    if (i >= ws->n) return 0;
    return ws->threaded ? ws->w[i].snap.pipe.packets : ws->w[0].pl->cnt.packets;
}

uint64_t bw_workers_alerts(const struct bw_workers *ws)
{
    return ws->threaded ? ws->alerts : ws->w[0].pl->cnt.alerts;
}

uint64_t bw_workers_refused(struct bw_workers *ws)
{
    return ws->threaded ? ws->refused : bw_pipeline_refused(ws->w[0].pl);
}

void bw_workers_prefault(struct bw_workers *ws)
{
    for (unsigned i = 0; i < ws->n; i++) bw_pipeline_prefault(ws->w[i].pl);
}

void bw_workers_free(struct bw_workers *ws)
{
    if (!ws) return;
    if (ws->threaded && !ws->finished) bw_workers_finish(ws);
    if (ws->threaded) bw_report_free(ws->report);
    for (unsigned i = 0; i < ws->nalloc; i++) {
        struct bw_worker *w = &ws->w[i];
        if (w->pl) { bw_pipeline_free(w->pl); free(w->pl); }
        bw_report_free(w->snaprep);
        bw_ring_free(&w->in);
        bw_ring_free(&w->out);
    }
    free(ws);
}
