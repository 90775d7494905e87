/* main.c: brokerwatch [options] [BPF expression].
 * Wires configuration, capture, pipeline and sinks; owns process concerns: the order of opening,
 * dropping privileges and confining (-Z), signals (handlers only set flags; the work happens in
 * the read loop, also while a live capture is idle), the periodic stats and reports, exit status
 * and the final messages. Exit: 0 ok, 1 runtime error, 2 usage error. Alerts found before an error
 * are always written before exiting. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bw_capture.h"
#include "bw_config.h"
#include "bw_evidence.h"
#include "bw_pipeline.h"
#include "bw_workers.h"
#include "bw_privs.h"
#include "bw_progress.h"
#include "bw_redact.h"
#include "bw_report.h"
#include "bw_redis.h"
#include "bw_sandbox.h"
#include "bw_sink.h"

/* Set by the handlers, acted on by the read loop. */
static volatile sig_atomic_t stop_requested, reopen_requested, report_requested, signal_pending;
static struct bw_capture *live_capture;            /* for the stop handler only */

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
    signal_pending = 1;
    bw_capture_break(live_capture);
}

static void on_hup(int sig) { (void)sig; reopen_requested = 1; signal_pending = 1; }
static void on_usr1(int sig) { (void)sig; report_requested = 1; signal_pending = 1; }

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;                       /* no SA_RESTART: a blocked read ends */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* HUP and USR1 must not end a read from stdin: restart it. A live capture's poll() returns
     * early anyway, so the flag is seen within one pass of the loop. */
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);                      /* a closed reader becomes a write error */
}

static uint64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static uint64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* ---- report files ---------------------------------------------------------------------------
 * Opened at start, before any privilege drop, and rewritten in place (truncate, write) at exit,
 * on SIGUSR1 and every --report-interval: USER never needs to create them. SIGHUP tries to open
 * the path anew (rotation) and keeps the old descriptor if it cannot. */
typedef int (*report_fn)(const struct bw_report *, const struct bw_report_header *, FILE *);

struct report_out {
    const char *path;        /* NULL = not asked for */
    const char *what;        /* "report", "JSON report", ... */
    report_fn   fn;
    FILE       *std;         /* stdout or stderr instead of a file */
    int         fd;          /* the file, or -1 */
    bool        created;     /* this run made it (removed again if nothing is ever written) */
    bool        written;
};

static int report_open(struct report_out *o, char *err, size_t errlen)
{
    struct stat sb;
    if (!o->path || o->std) return 0;
    o->created = lstat(o->path, &sb) != 0;
    /* no O_TRUNC: a run that fails before its first packet leaves an earlier report alone */
    o->fd = open(o->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (o->fd < 0) {
        snprintf(err, errlen, "cannot write the %s to '%s': %s", o->what, o->path, strerror(errno));
        return BW_EIO;
    }
    return 0;
}

static int report_write(struct report_out *o, const struct bw_report *rep, const struct bw_report_header *hdr)
{
    FILE *out = o->std;
    int rc = 0;
    if (!o->path && !o->std) return 0;
    if (!out) {
        /* rewrite in place through the descriptor opened at start; a device or a FIFO
         * (/dev/null, a pipe to another program) is written to as it is */
        int fd2 = -1;
        struct stat sb;
        bool regular = fstat(o->fd, &sb) == 0 && S_ISREG(sb.st_mode);
        if ((regular && (ftruncate(o->fd, 0) != 0 || lseek(o->fd, 0, SEEK_SET) != 0)) || (fd2 = dup(o->fd)) < 0 ||
            !(out = fdopen(fd2, "w"))) {
            fprintf(stderr, "brokerwatch: cannot write the %s to '%s': %s\n", o->what, o->path, strerror(errno));
            if (fd2 >= 0) close(fd2);
            return 1;
        }
    }
    rc = o->fn(rep, hdr, out);
    int e = errno;
    if (o->std ? fflush(out) != 0 : fclose(out) != 0) { rc = BW_EIO; e = errno; }
    if (rc != 0) {
        fprintf(stderr, "brokerwatch: cannot write the %s to '%s': %s\n", o->what,
                o->path ? o->path : "stderr", rc == BW_ENOMEM ? "out of memory" : strerror(e));
        return 1;
    }
    o->written = true;
    return 0;
}

static void report_reopen(struct report_out *o)
{
    if (!o->path || o->std || o->fd < 0) return;
    int fd = open(o->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "brokerwatch: SIGHUP: cannot reopen '%s': %s; the %s stays in the old file\n",
                o->path, strerror(errno), o->what);
        return;
    }
    close(o->fd);
    o->fd = fd;
}

static void report_close(struct report_out *o)
{
    if (o->fd < 0) return;
    close(o->fd);
    o->fd = -1;
    if (o->created && !o->written) unlink(o->path);      /* best effort; nothing was reported */
}

/* ---- the run --------------------------------------------------------------------------------- */

struct run {
    const struct bw_config *cfg;
    struct bw_workers *ws;           /* the pipelines (one, or one per worker) */
    struct bw_capture *cap;          /* the capture being read */
    bool live, paced;
#define NREPORTS 4
    struct report_out rep[NREPORTS]; /* text, JSON, HTML, CSV */
    const struct bw_redact *redact;  /* --redact-usernames: the key, for the report header */
    struct bw_evidence *evidence;    /* -w */
    struct bw_report *snap;          /* mid-run reports: the ended sessions plus the open ones */
    uint64_t packets;                /* handed to the pipeline, all sources (-c) */
    bool count_reached;
    uint64_t next_stats;             /* packet time (files) or monotonic time (live); 0 = unset */
    uint64_t next_report;            /* monotonic, live --report-interval */
    uint64_t next_service;           /* monotonic: live upkeep at most this often while busy */
    int report_status;
};

/* mid_run: SIGUSR1 or --report-interval, while sessions are still open: the report then counts
 * them as far as they have gone (bw_pipeline_report_now), in a copy made for it; at the end every
 * session has ended and the run's own report is written. */
static int write_reports(struct run *r, bool mid_run)
{
    const struct bw_config *cfg = r->cfg;
    struct bw_workers *ws = r->ws;
    const struct bw_report *rep = bw_workers_report(ws);
    int st = 0;
    if (mid_run) {
        if (!r->snap) r->snap = bw_report_new(BW_REPORT_BROKERS_MAX);
        if (r->snap && bw_workers_report_now(ws, r->snap) == 0) {
            rep = r->snap;
        } else {
            fprintf(stderr, "brokerwatch: report: no memory for the open sessions; this report has the ended ones only\n");
        }
    }
    struct bw_report_header hdr = {
        .sensor = cfg->sensor_name, .version = BW_VERSION, .inputs = cfg->rfiles, .ninputs = cfg->nrfiles,
        .iface = cfg->iface, .bpf = cfg->bpf, .first_us = bw_workers_earliest(ws),
        .last_us = bw_workers_latest(ws),
        .generated_us = wall_us(), .show_usernames = cfg->show_usernames, .redact = cfg->redact_usernames,
        .redact_key = r->redact,
    };
    for (int i = 0; i < NREPORTS; i++)
        if (report_write(&r->rep[i], rep, &hdr) != 0) st = 1;
    return st;
}

/* The counters to every sink that takes them (JSONL writes a record, Redis its sensor keys), and
 * on stderr with -vv. Live: the kernel's counters as of now, and the wall clock as the time. */
static void push_stats_of(struct run *r, struct bw_stats *stp)
{
    struct bw_stats st = *stp;
    struct bw_capture_stats k = { 0, 0, 0 };
    struct bw_sink **sinks;
    size_t nsinks = bw_workers_sinks(r->ws, &sinks);
    char line[4096];
    if (r->live && r->cap) {
        if (bw_capture_stats(r->cap, &k) != 0) memset(&k, 0, sizeof k);
        st.kernel = k;
    }
    if (r->live) {
        uint64_t now = wall_us();
        if (now > st.now_us) st.now_us = now;      /* a quiet network is not a stale sensor */
    }
    size_t n = bw_stats_json(&st, r->cfg->sensor_name, line, sizeof line);
    if (!n) return;
    for (size_t i = 0; i < nsinks; i++)
        if (sinks[i]->stats) sinks[i]->stats(sinks[i], line, n, &st);
    if (r->cfg->verbose >= 2) fprintf(stderr, "%s\n", line);
}

static void push_stats(struct run *r)
{
    struct bw_stats st;
    bw_workers_stats(r->ws, &st);                  /* with a fanout group, the sockets' counters */
    push_stats_of(r, &st);
}

/* A stats point of a file the workers read themselves (bw_workers_set_stats_hook). */
static void stats_hook(void *ctx, struct bw_stats *st) { push_stats_of(ctx, st); }

static void reopen_outputs(struct run *r)
{
    char err[512];
    int n = 0, bad = 0;
    struct bw_sink **sinks;
    size_t nsinks = bw_workers_sinks(r->ws, &sinks);
    bw_workers_deliver(r->ws, false);              /* what waits goes to the old file */
    for (size_t i = 0; i < nsinks; i++) {
        struct bw_sink *s = sinks[i];
        if (!s->reopen) continue;
        if (s->reopen(s, err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: SIGHUP: %s; still writing to the old file\n", err);
            bad++;
        } else {
            n++;
        }
    }
    if (r->evidence && bw_evidence_reopen(r->evidence, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: SIGHUP: %s; evidence still goes to the old file\n", err);
        bad++;
    }
    for (int i = 0; i < NREPORTS; i++) report_reopen(&r->rep[i]);
    if (!r->cfg->quiet && !bad) fprintf(stderr, "brokerwatch: SIGHUP: output files reopened\n");
}

static void flush_sinks(struct run *r)
{
    bw_workers_deliver(r->ws, true);
}

/* Signals and timers, from the read loop: after a live capture's idle wait, every few
 * milliseconds while it is busy, after each packet of a paced replay, and when a flag is up. */
static void service(struct run *r)
{
    const struct bw_config *cfg = r->cfg;
    if (signal_pending) {
        signal_pending = 0;
        if (reopen_requested) { reopen_requested = 0; reopen_outputs(r); }
        if (report_requested) {
            report_requested = 0;
            flush_sinks(r);
            if (write_reports(r, true) != 0) r->report_status = 1;
        }
    }
    if (!r->live && !r->paced) return;
    /* Records leave in batches: at most one write per pass, whole lines only. */
    flush_sinks(r);
    if (!r->live) return;
    uint64_t now = mono_us();
    if (cfg->stats_interval_s) {
        if (!r->next_stats) r->next_stats = now + (uint64_t)cfg->stats_interval_s * 1000000u;
        else if (now >= r->next_stats) {
            push_stats(r);
            r->next_stats = now + (uint64_t)cfg->stats_interval_s * 1000000u;
        }
    }
    if (cfg->report_interval_s) {
        if (!r->next_report) r->next_report = now + (uint64_t)cfg->report_interval_s * 1000000u;
        else if (now >= r->next_report) {
            if (write_reports(r, true) != 0) r->report_status = 1;
            r->next_report = now + (uint64_t)cfg->report_interval_s * 1000000u;
        }
    }
}

/* Files: a stats record every --stats-interval of packet time, as the packets say it passes. */
static void stats_by_packet_time(struct run *r)
{
    uint32_t iv = r->cfg->stats_interval_s;
    if (!iv) return;
    uint64_t now = bw_workers_now(r->ws);
    if (now && bw_stats_due(&r->next_stats, now, (uint64_t)iv * 1000000u)) push_stats(r);
}

/* --pace: hold each packet until its recorded offset, scaled, has passed on the wall clock.
 * The reference is the first packet of the whole run, so several files pace as one capture. */
struct pacer { double speed; bool started; uint64_t first_ts; struct timespec wall0; };


/* While the pacer waits, what the workers wrote for the packets before leaves: a first short
 * sleep lets them handle the last one, then its records are written, then the rest of the wait. */
static void pace(struct pacer *pc, uint64_t ts, struct run *r)
{
    if (pc->speed <= 0) return;
    if (!pc->started) {
        pc->started = true;
        pc->first_ts = ts;
        clock_gettime(CLOCK_MONOTONIC, &pc->wall0);
        return;
    }
    if (ts <= pc->first_ts) return;                /* out-of-order times: no waiting backwards */
    double off = (double)(ts - pc->first_ts) / 1e6 / pc->speed;
    struct timespec due = pc->wall0;
    due.tv_sec += (time_t)off;
    due.tv_nsec += (long)((off - (double)(time_t)off) * 1e9);
    if (due.tv_nsec >= 1000000000L) { due.tv_sec++; due.tv_nsec -= 1000000000L; }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t wait_ns = (int64_t)(due.tv_sec - now.tv_sec) * 1000000000LL + (due.tv_nsec - now.tv_nsec);
    if (wait_ns > 2000000) {
        /* Nothing older than this packet comes now: every worker may run its clock up to just
         * before it, so that what it holds (a lingering session's alerts) and what the merge
         * holds leave during the wait rather than with the next packet, maybe much later. */
        bw_workers_clock(r->ws, ts - 1);
        struct timespec nap = { 0, 1000000 };
        while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, &nap) != 0) {}
        flush_sinks(r);
    }
    while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) != 0) {}
}

/* Read one capture to its end. Returns 0, or 1 after printing one line about the failure.
 * kept: the workers read the frames where the capture keeps them (see run_source). */
static int read_source(struct run *r, struct bw_capture *cap, bool kept, struct pacer *pc,
                       struct bw_progress *prog, uint64_t done_before)
{
    struct bw_workers *ws = r->ws;
    uint64_t n = 0;
    char err[512];
    const uint8_t *data;
    size_t caplen;
    uint64_t ts;
    int dlt = bw_capture_dlt(cap);
    r->cap = cap;
    bw_evidence_link_hint(r->evidence, dlt);
    for (;;) {
        int rc = bw_capture_next(cap, &data, &caplen, &ts, err, sizeof err);
        if (rc == 1) {
            if (pc) pace(pc, ts, r);
            if (stop_requested) return 0;
            if (kept) bw_workers_packet_kept(ws, dlt, data, caplen, ts, bw_capture_chunk(cap));
            else bw_workers_packet(ws, dlt, data, caplen, ts);
            n++;
            if (r->live) {
                /* A clock read every 64 packets: upkeep (flush, timers) at most every 10 ms. */
                if ((n & 63) == 0) {
                    uint64_t now = mono_us();
                    if (now >= r->next_service) { r->next_service = now + 10000; service(r); }
                }
            } else {
                stats_by_packet_time(r);
                if (r->paced) service(r);
            }
            if (signal_pending) service(r);
            /* A clock read per 1024 packets, not per packet (paced replays are slow anyway). */
            if (prog && ((n & 1023) == 0 || r->paced))
                bw_progress_update(prog, done_before + bw_capture_offset(cap), bw_workers_packets(ws),
                                   bw_workers_alerts(ws));
            if (r->cfg->max_packets && ++r->packets >= r->cfg->max_packets) {
                r->count_reached = true;           /* -c N: a clean end */
                return 0;
            }
            continue;
        }
        if (rc == 2) {                             /* live and idle, or a signal */
            if (stop_requested) return 0;
            /* A quiet link stops packet time: let the wall clock run the timers (a session
             * lingering after its reset closes, and its alerts leave, without a next packet). */
            if (r->live) bw_workers_clock(ws, wall_us());
            service(r);
            continue;
        }
        if (rc == 3) {                             /* kept: the workers free a buffer */
            bw_capture_release(cap, bw_workers_kept_done(ws, bw_capture_held(cap)));
            continue;
        }
        if (rc == 0) return 0;
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
}

/* Live in a fanout group: the workers read their own sockets; this thread hands on what they
 * found and runs the upkeep every BW_CAPTURE_IDLE_WORKERS_MS, until a stop or a capture error. */
static int read_fanout(struct run *r)
{
    char err[512];
    while (!stop_requested) {
        struct timespec nap = { 0, BW_CAPTURE_IDLE_WORKERS_MS * 1000000L };
        nanosleep(&nap, NULL);
        if (bw_workers_capture_failed(r->ws, err, sizeof err)) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            return 1;
        }
        bw_workers_deliver(r->ws, false);
        uint64_t now = mono_us();
        if (signal_pending || now >= r->next_service) {
            r->next_service = now + 10000;
            service(r);
        }
    }
    return 0;
}

/* Live: one socket; with workers (and no -c, which one reader counts exactly) one per worker,
 * joined in one PACKET_FANOUT group, -B shared out among them. A group the kernel refuses
 * falls back to one socket and one reader, said in one line. Returns 0 or 1 (said). */
static int open_live(const struct bw_config *cfg, struct bw_workers *ws, struct bw_capture **caps, unsigned *ncaps)
{
    char err[512], why[512];
    unsigned n = bw_workers_count(ws);
    *ncaps = 0;
    if (n > 1 && !cfg->max_packets) {
        int mib = (cfg->buffer_mib + (int)n - 1) / (int)n;
        uint32_t group = 0;
        int rc = 0;
        for (unsigned i = 0; i < n && rc == 0; i++) {
            rc = bw_capture_open_live(&caps[i], cfg->iface, cfg->snaplen, mib, cfg->bpf, bw_decode_dlt_supported,
                                      why, sizeof why);
            if (rc != 0 && i == 0) {               /* the interface itself: no group changes that */
                fprintf(stderr, "brokerwatch: %s\n", why);
                return 1;
            }
            if (rc != 0) break;
            *ncaps = i + 1;
            rc = bw_capture_fanout(caps[i], &group, why, sizeof why);
        }
        /* from now on every packet reaches one socket only */
        if (rc == 0 && (rc = bw_workers_capture(ws, caps, n, wall_us())) != 0)
            snprintf(why, sizeof why, "%s", bw_strerror(rc));
        if (rc == 0) return 0;
        for (unsigned i = 0; i < *ncaps; i++) { bw_capture_close(caps[i]); caps[i] = NULL; }
        *ncaps = 0;
        if (!cfg->quiet)
            fprintf(stderr, "brokerwatch: %s; capturing with one socket, whose packets one reader hands to the "
                    "workers\n", why);
    }
    if (bw_capture_open_live(&caps[0], cfg->iface, cfg->snaplen, cfg->buffer_mib, cfg->bpf,
                             bw_decode_dlt_supported, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
    *ncaps = 1;
    return 0;
}

/* With workers, a file the sensor reads itself is read in chunks the capture keeps, and every
 * frame is handed on by reference instead of copied into a worker's ring; so the capture stays
 * open until every worker has handled every frame of it. */
struct split_tick { struct run *r; struct bw_progress *prog; uint64_t done_before; };

/* What the read loop does between packets, while the workers read a file themselves. */
static bool split_tick(void *ctx, uint64_t offset)
{
    struct split_tick *t = ctx;
    if (signal_pending) service(t->r);
    if (t->prog) bw_progress_update(t->prog, t->done_before + offset, bw_workers_packets(t->r->ws),
                                    bw_workers_alerts(t->r->ws));
    return !stop_requested;
}

static int run_source(struct run *r, struct bw_capture *cap, struct pacer *pc,
                      struct bw_progress *prog, uint64_t done_before)
{
    /* With workers, a file the sensor reads itself is read by the workers themselves, unless
     * packets must be counted (-c) or paced (--pace) one by one, which one reader does. */
    if (bw_workers_count(r->ws) > 1 && !r->live && !r->paced && !r->cfg->max_packets &&
        bw_capture_reads_records(cap)) {
        char err[512];
        struct split_tick t = { r, prog, done_before };
        r->cap = cap;
        bw_evidence_link_hint(r->evidence, bw_capture_dlt(cap));
        uint64_t iv = (uint64_t)r->cfg->stats_interval_s * 1000000u;
        bw_workers_set_stats_hook(r->ws, stats_hook, r);
        int rc = bw_workers_read_file(r->ws, cap, split_tick, &t, iv, &r->next_stats, err, sizeof err);
        if (rc == 0) return 0;
        if (rc == BW_EIO) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            return 1;
        }
        /* no memory for the workers' buffers: one reader below */
    }
    bool kept = bw_workers_count(r->ws) > 1 && bw_capture_keep(cap);
    int rc = read_source(r, cap, kept, pc, prog, done_before);
    if (kept) bw_workers_sync(r->ws);
    return rc;
}

/* Files made by this run as root go to USER, so that USER can rotate, reopen and remove them. */
static int hand_over(const char *path, bool created, uid_t uid, gid_t gid)
{
    char err[512];
    if (!created) return 0;
    if (bw_privs_give(path, uid, gid, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
    return 0;
}

/* Capacity warnings: a pool or cap refused work, so coverage is incomplete. An operator must see
 * this, so it is printed even with -q (which keeps only errors and these). */
static void print_notice(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "brokerwatch: %s\n", line);
}

/* -Z: become USER, check what USER must still reach, then confine. Returns 0 or 1 (one line). */
static int drop_and_confine(const struct bw_config *cfg, const struct bw_redis_sink_cfg *rcfg)
{
    char err[512];
    size_t ncalls = 0;
    if (bw_privs_drop(cfg->run_as, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);  /* never capture as root by mistake */
        return 1;
    }
    if (cfg->redis_url && cfg->spool_dir && bw_privs_check_dir(cfg->spool_dir, cfg->run_as, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
    if (cfg->redis_url && rcfg->url.unix_socket &&
        bw_privs_check_unix_socket(rcfg->url.path, cfg->run_as, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
    if (bw_sandbox_enter((enum bw_sandbox_mode)cfg->sandbox, &ncalls, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
    if (cfg->verbose >= 2)
        fprintf(stderr, "brokerwatch: running as %s: no capabilities, no_new_privs, %s\n", cfg->run_as,
                cfg->sandbox == BW_SANDBOX_OFF ? "no seccomp filter (--sandbox off)" :
                cfg->sandbox == BW_SANDBOX_LOG ? "seccomp allow-list (log mode: nothing is refused)" :
                "seccomp allow-list (any other call ends the process)");
    return 0;
}

int main(int argc, char **argv)
{
    struct bw_config cfg;
    char err[512];
    int status = 0;

    switch (bw_config_parse(&cfg, argc, argv, err, sizeof err)) {
    case BW_CONFIG_EXIT_OK: return 0;
    case BW_CONFIG_USAGE:
        fprintf(stderr, "brokerwatch: %s (see brokerwatch --help)\n", err);
        bw_config_free(&cfg);
        return 2;
    case BW_CONFIG_RUN: break;
    }
    if (cfg.list_ifaces) {
        int rc = bw_capture_list(stdout, err, sizeof err);
        if (rc != 0) fprintf(stderr, "brokerwatch: %s\n", err);
        bw_config_free(&cfg);
        return rc != 0;
    }
    install_signals();

    uid_t uid = 0;
    gid_t gid = 0;
    if (cfg.run_as && bw_privs_lookup(cfg.run_as, &uid, &gid, err, sizeof err) != 0) {
        fprintf(stderr, "brokerwatch: %s\n", err);
        bw_config_free(&cfg);
        return 1;
    }

    /* Redis: parse the URL (config.c checked it), take the password from the environment when the
     * URL has none, then overwrite it in argv so ps and /proc/PID/cmdline never show it. */
    struct bw_redis_sink_cfg rcfg;
    memset(&rcfg, 0, sizeof rcfg);
    if (cfg.redis_url) {
        if (bw_redis_url_parse(cfg.redis_url, &rcfg.url, err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: --redis: %s (see brokerwatch --help)\n", err);
            bw_config_free(&cfg);
            return 2;
        }
        bw_redis_url_env_password(&rcfg.url, getenv(BW_REDIS_PASSWORD_ENV));
        for (int i = 1; i < argc; i++) bw_redis_url_scrub(argv[i]);
        rcfg.stream = cfg.redis_stream;            /* NULL: brokerwatch:{SENSOR}:alerts */
        rcfg.cluster = cfg.redis_cluster;
        rcfg.maxlen = cfg.redis_maxlen;
        rcfg.publish = cfg.redis_publish;
        rcfg.optional = cfg.redis_optional;
        rcfg.spool_dir = cfg.spool_dir;
        rcfg.sensor = cfg.sensor_name;
        rcfg.live = cfg.iface != NULL;
        rcfg.quiet = cfg.quiet;
        rcfg.queue_bytes = (size_t)cfg.redis_queue;
    }

    /* --redact-usernames: the key, read (or created) now, while the file may still be opened. */
    static struct bw_redact redact_key;            /* key bytes: never on a stack */
    if (cfg.redact_usernames) {
        if (bw_redact_load(&redact_key, cfg.redact_key_path, err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            bw_config_free(&cfg);
            return 1;
        }
        if (!cfg.quiet && redact_key.created)
            fprintf(stderr, "brokerwatch: created the redaction key '%s' (key %s)\n", cfg.redact_key_path,
                    redact_key.key_id);
        if (!cfg.quiet && redact_key.ephemeral)
            fprintf(stderr, "brokerwatch: user names redacted with a key for this run only "
                    "(--redact-key-file keeps tokens the same across runs)\n");
    }

    /* Every output is opened here, as the user that started the sensor, before any drop. */
    struct run run = {
        .cfg = &cfg, .live = cfg.iface != NULL, .paced = cfg.pace > 0,
        .rep = {
            { .path = cfg.report_path, .what = "report", .fn = bw_report_write_text, .fd = -1 },
            { .path = cfg.report_json_path, .what = "JSON report", .fn = bw_report_write_json, .fd = -1 },
            { .path = cfg.report_html_path, .what = "HTML report", .fn = bw_report_write_html, .fd = -1 },
            { .path = cfg.report_csv_path, .what = "CSV report", .fn = bw_report_write_csv, .fd = -1 },
        },
        .redact = cfg.redact_usernames ? &redact_key : NULL,
    };
    /* The text report: --report FILE, '-' = stdout; by default stderr unless -q. */
    if (cfg.report_path && strcmp(cfg.report_path, "-") == 0) run.rep[0].std = stdout;
    else if (!cfg.report_path && !cfg.quiet) run.rep[0].std = stderr;
    for (int i = 1; i < NREPORTS; i++)
        if (run.rep[i].path && strcmp(run.rep[i].path, "-") == 0) run.rep[i].std = stdout;
    for (int i = 0; i < NREPORTS; i++) {
        if (report_open(&run.rep[i], err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            for (int k = 0; k < i; k++) report_close(&run.rep[k]);
            bw_config_free(&cfg);
            return 1;
        }
        if (cfg.run_as && hand_over(run.rep[i].path, run.rep[i].created, uid, gid) != 0) status = 1;
    }

    /* Records go to -o, or to stdout when no other sink was asked for (or a --format was):
     * one line per alert for a person at a terminal, JSON lines for everything else. */
    struct bw_sink *jsonl = NULL, *redis = NULL;
    if (cfg.jsonl_path || !cfg.redis_url || cfg.format != BW_FORMAT_AUTO) {
        const char *path = cfg.jsonl_path ? cfg.jsonl_path : "-";
        bool to_stdout = strcmp(path, "-") == 0;
        bool tty = to_stdout && isatty(STDOUT_FILENO);
        bool text = cfg.format == BW_FORMAT_TEXT || (cfg.format == BW_FORMAT_AUTO && !cfg.jsonl_path && tty);
        const char *term = getenv("TERM");
        bool colour = tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
        struct stat sb;
        bool created = !to_stdout && lstat(path, &sb) != 0;
        jsonl = text ? bw_sink_text_open(path, tty, colour, cfg.iface != NULL, err, sizeof err)
                     : bw_sink_jsonl_open(path, tty, err, sizeof err);
        if (!jsonl) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            for (int i = 0; i < NREPORTS; i++) report_close(&run.rep[i]);
            bw_config_free(&cfg);
            return 1;
        }
        if (cfg.run_as && hand_over(path, created, uid, gid) != 0) status = 1;
    }
    if (cfg.redis_url) {
        struct stat sb;
        bool spool_created = cfg.spool_dir && lstat(cfg.spool_dir, &sb) != 0;
        /* Refused credentials or an unknown host stop the run here (unless --redis-optional);
         * Redis being down does not: records wait in memory and in the spool. */
        redis = bw_sink_redis_open(&rcfg, err, sizeof err);
        memset(rcfg.url.password, 0, sizeof rcfg.url.password);   /* the sink keeps its own copy */
        if (!redis) {
            fprintf(stderr, "brokerwatch: redis: %s\n", err);
            if (jsonl) jsonl->close(jsonl);
            for (int i = 0; i < NREPORTS; i++) report_close(&run.rep[i]);
            bw_config_free(&cfg);
            return 1;
        }
        /* The spool's files (and its directory, when this run made it) belong to USER, who
         * appends, consumes and, at a clean exit, removes them. */
        if (cfg.run_as && cfg.spool_dir) {
            static const char *const files[] = { "spool.log", "spool.pos", "spool.lock" };
            char p[4200];
            if (hand_over(cfg.spool_dir, spool_created, uid, gid) != 0) status = 1;
            for (size_t i = 0; i < 3; i++) {
                snprintf(p, sizeof p, "%s/%s", cfg.spool_dir, files[i]);
                if (lstat(p, &sb) == 0 && sb.st_uid == 0 && hand_over(p, true, uid, gid) != 0) status = 1;
            }
        }
    }
    /* -w: opened now like every output, so that -Z USER never needs to create it. */
    if (cfg.evidence_path) {
        bool created = false;
        run.evidence = bw_evidence_open(cfg.evidence_path, cfg.evidence_max_total, &created, err, sizeof err);
        if (!run.evidence) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            if (jsonl) jsonl->close(jsonl);
            if (redis) redis->close(redis);
            for (int i = 0; i < NREPORTS; i++) report_close(&run.rep[i]);
            bw_config_free(&cfg);
            return 1;
        }
        if (cfg.run_as && hand_over(cfg.evidence_path, created, uid, gid) != 0) status = 1;
    }
    /* The pipelines: one, or one per worker (--workers; by default one per core). */
    unsigned nworkers = cfg.workers;
    if (!nworkers) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = cores < 1 ? 1 : cores > BW_WORKERS_MAX ? BW_WORKERS_MAX : (unsigned)cores;
    }
    struct bw_workers *ws = NULL;
    int rc = bw_workers_new(&ws, &cfg, nworkers, cfg.iface != NULL || cfg.pace > 0, bw_dissectors, bw_dissectors_count);
    if (rc != 0) {
        fprintf(stderr, "brokerwatch: cannot set up the sensor's memory pools (--max-flows %u, "
                "--stream-memcap %llu, %u worker%s): %s\n", cfg.max_flows, (unsigned long long)cfg.stream_memcap,
                nworkers, nworkers == 1 ? "" : "s", bw_strerror(rc));
        bw_evidence_close(run.evidence, NULL, 0);
        if (jsonl) jsonl->close(jsonl);
        if (redis) redis->close(redis);
        for (int i = 0; i < NREPORTS; i++) report_close(&run.rep[i]);
        bw_config_free(&cfg);
        return 1;
    }
    run.ws = ws;
    for (unsigned i = 0; i < nworkers; i++) {
        struct bw_pipeline *pl = bw_workers_pipeline(ws, i);
        pl->evidence = run.evidence;
        if (cfg.redact_usernames) pl->acfg.redact = &redact_key;
        pl->tls_dis = bw_tls_dissector;            /* follow encrypted brokers' handshakes */
        pl->tls_evaluate = bw_tls_evaluate_fn;
    }
    if (jsonl && bw_workers_add_sink(ws, jsonl) != 0) status = 1;
    if (redis && bw_workers_add_sink(ws, redis) != 0) status = 1;
    bw_workers_set_notice(ws, print_notice, NULL);

    struct bw_capture_stats kstats = { 0, 0, 0 };
    if (status != 0) {
        /* a file could not be handed to USER: said above */
    } else if (cfg.iface) {
        struct bw_capture *caps[BW_WORKERS_MAX] = { NULL };
        unsigned ncaps = 0;
        if (open_live(&cfg, ws, caps, &ncaps) != 0) {
            status = 1;
        } else {
            bool fanout = bw_workers_fanout(ws);
            /* the stop handler breaks the one reader's wait; in a group this thread only naps */
            live_capture = fanout ? NULL : caps[0];
            run.cap = fanout ? NULL : caps[0];
            bw_workers_prefault(ws);               /* no page faults on the packet path */
            if (cfg.verbose >= 2)
                fprintf(stderr, "brokerwatch: capture on %s: snaplen %d, %d MiB ring of TPACKET_V3 blocks "
                        "handed over after at most %d ms%s%s%s%s\n", cfg.iface, cfg.snaplen,
                        fanout ? (cfg.buffer_mib + (int)ncaps - 1) / (int)ncaps : cfg.buffer_mib,
                        BW_CAPTURE_BLOCK_MS, fanout ? " per socket" : "", cfg.bpf ? ", filter '" : "",
                        cfg.bpf ? cfg.bpf : "", cfg.bpf ? "'" : "");
            if (cfg.run_as && drop_and_confine(&cfg, &rcfg) != 0) {
                status = 1;
            } else {
                if (!cfg.quiet) {
                    fprintf(stderr, "brokerwatch: capturing on %s%s%s", cfg.iface, cfg.run_as ? " as " : "",
                            cfg.run_as ? cfg.run_as : "");
                    if (fanout) fprintf(stderr, " (%u sockets in a PACKET_FANOUT group, one per worker)", ncaps);
                    fputc('\n', stderr);
                }
                /* Threads start after the drop: they inherit the user, no capabilities and
                 * the seccomp filter. Records of workers are handed on within a few ms. */
                if (bw_workers_count(ws) > 1)
                    for (unsigned i = 0; i < ncaps; i++) bw_capture_set_idle(caps[i], BW_CAPTURE_IDLE_WORKERS_MS);
                if (bw_workers_start(ws) != 0) {
                    fprintf(stderr, "brokerwatch: cannot start the worker threads: %s\n", strerror(errno));
                    status = 1;
                } else {
                    status = fanout ? read_fanout(&run) : run_source(&run, caps[0], NULL, NULL, 0);
                }
                if (fanout) {
                    bw_workers_finish(ws);         /* the workers read the sockets until here */
                    bw_workers_kernel_stats(ws, &kstats);
                } else if (bw_capture_stats(caps[0], &kstats) != 0) {
                    memset(&kstats, 0, sizeof kstats);
                }
            }
            live_capture = NULL;
            run.cap = NULL;
            for (unsigned i = 0; i < ncaps; i++) bw_capture_close(caps[i]);
        }
    } else {
        struct pacer pc = { .speed = cfg.pace };
        struct bw_progress prog;
        uint64_t total = 0, done = 0;
        for (size_t i = 0; i < cfg.nrfiles; i++) {
            struct stat sb;
            if (strcmp(cfg.rfiles[i], "-") != 0 && stat(cfg.rfiles[i], &sb) == 0 && S_ISREG(sb.st_mode))
                total += (uint64_t)sb.st_size;
        }
        /* Files are read as USER: what USER may not read is refused by the kernel, not by us. */
        if (cfg.run_as && drop_and_confine(&cfg, &rcfg) != 0) status = 1;
        if (status == 0 && bw_workers_start(ws) != 0) {
            fprintf(stderr, "brokerwatch: cannot start the worker threads: %s\n", strerror(errno));
            status = 1;
        }
        /* Only for a person watching a terminal; never into logs or pipes. */
        bw_progress_init(&prog, !cfg.quiet && isatty(STDERR_FILENO), stderr, total);
        for (size_t i = 0; i < cfg.nrfiles && !stop_requested && !run.count_reached && status == 0; i++) {
            struct bw_capture *cap;
            if (bw_capture_open_file(&cap, cfg.rfiles[i], cfg.bpf, bw_decode_dlt_supported, err, sizeof err) != 0) {
                fprintf(stderr, "brokerwatch: %s\n", err);
                status = 1;
                break;
            }
            status = run_source(&run, cap, &pc, &prog, done);
            done += bw_capture_offset(cap);
            run.cap = NULL;
            bw_capture_close(cap);
        }
        bw_progress_end(&prog);
    }

    /* Whatever happened, finish every session so no alert found so far is lost. */
    bw_workers_finish(ws);
    /* A run that failed before its first packet has nothing to report but the error. */
    if ((status == 0 || bw_workers_packets(ws) > 0) && write_reports(&run, false) != 0) status = 1;
    if (run.report_status) status = 1;
    for (int i = 0; i < NREPORTS; i++) report_close(&run.rep[i]);
    struct bw_stats st;
    bw_workers_stats(ws, &st);
    st.kernel = kstats;
    if (run.evidence) {
        char ev_err[4200];
        if (bw_evidence_close(run.evidence, ev_err, sizeof ev_err) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", ev_err);
            status = 1;
        }
        run.evidence = NULL;
    }
    if (jsonl) {
        char sink_err[sizeof jsonl->errmsg];
        memcpy(sink_err, jsonl->errmsg, sizeof sink_err);      /* close() frees the sink */
        if (jsonl->close(jsonl) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", sink_err[0] ? sink_err : "cannot write alerts");
            status = 1;
        }
    }
    /* Redis: the last counters (with the kernel's drops), then deliver what waits (a few seconds
     * at most); what Redis cannot take now stays in the spool for the next start. */
    struct bw_redis_report rrep;
    int rstatus = 0;
    if (redis) {
        char line[4096];
        size_t n = bw_stats_json(&st, cfg.sensor_name, line, sizeof line);
        if (n) redis->stats(redis, line, n, &st);
        rstatus = bw_sink_redis_drain(redis, &rrep);
    }
    if (cfg.verbose) {
        char line[4096];
        if (bw_stats_json(&st, cfg.sensor_name, line, sizeof line)) fprintf(stderr, "%s\n", line);
    }
    if (!cfg.quiet && (status == 0 || st.pipe.packets > 0)) {
        fprintf(stderr, "brokerwatch: %llu packets, %llu flows, %llu broker sessions, %llu alerts",
                (unsigned long long)st.pipe.packets, (unsigned long long)st.flow.flows_created,
                (unsigned long long)st.pipe.brokers_sessions, (unsigned long long)st.pipe.alerts);
        if (st.kernel.dropped) fprintf(stderr, ", %llu dropped by the kernel", (unsigned long long)st.kernel.dropped);
        uint64_t refused = bw_workers_refused(ws);
        if (refused) fprintf(stderr, ", %llu refused by full pools or caps (see the capacity records)",
                             (unsigned long long)refused);
        fputc('\n', stderr);
        if (cfg.verbose && bw_workers_count(ws) > 1) {
            fprintf(stderr, "brokerwatch: packets per worker%s:", bw_workers_fanout(ws) ? " (one socket each)" : "");
            for (unsigned i = 0; i < bw_workers_count(ws); i++)
                fprintf(stderr, " %llu", (unsigned long long)bw_workers_handled(ws, i));
            fputc('\n', stderr);
        }
    }
    if (cfg.evidence_path && !cfg.quiet && (status == 0 || st.pipe.packets > 0)) {
        const struct bw_evidence_stats *e = &st.evidence;
        fprintf(stderr, "brokerwatch: evidence: %llu sessions, %llu packets written to %s, %llu password "
                "or unexamined bytes overwritten", (unsigned long long)e->sessions,
                (unsigned long long)e->frames, cfg.evidence_path, (unsigned long long)e->bytes_masked);
        if (st.hold.session_caps)
            fprintf(stderr, "; %llu sessions cut at --evidence-packets/--evidence-bytes",
                    (unsigned long long)st.hold.session_caps);
        if (e->sessions_total_cap)
            fprintf(stderr, "; %llu sessions left out at --evidence-max-total", (unsigned long long)e->sessions_total_cap);
        if (st.hold.refused)
            fprintf(stderr, "; %llu flows without evidence (--evidence-memcap full)", (unsigned long long)st.hold.refused);
        if (e->frames_relinked)
            fprintf(stderr, "; %llu packets of another link type written with the file's link header",
                    (unsigned long long)e->frames_relinked);
        if (e->frames_other_link)
            fprintf(stderr, "; %llu packets of a link type the file cannot hold left out",
                    (unsigned long long)e->frames_other_link);
        fputc('\n', stderr);
    }
    if (redis) {
        char spooled[4200] = "";
        if (cfg.spool_dir)
            snprintf(spooled, sizeof spooled, "; %llu alerts (%llu records) remain spooled in %s%s",
                     (unsigned long long)rrep.spooled_alerts, (unsigned long long)rrep.spooled_records,
                     cfg.spool_dir, rrep.spooled_records ? ", delivered first on the next start" : "");
        /* A start that failed before its first packet: the error line stays alone. */
        if ((!cfg.quiet && (status == 0 || st.pipe.packets > 0)) || rrep.spooled_records)
            fprintf(stderr, "brokerwatch: redis: %llu alerts delivered to %s (stream %s)%s\n",
                    (unsigned long long)rrep.alerts_delivered, rrep.where, rrep.stream, spooled);
        if (rstatus != 0) {
            fprintf(stderr, "brokerwatch: %s\n", redis->errmsg);
            status = 1;
        }
        redis->close(redis);
    }
    bw_report_free(run.snap);
    bw_workers_free(ws);
    bw_redact_wipe(&redact_key);
    bw_config_free(&cfg);
    return status;
}
