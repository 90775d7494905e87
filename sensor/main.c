/* main.c: brokerwatch [options] [BPF expression].
 * Wires configuration, capture, pipeline and sinks; owns process concerns (signals, exit status,
 * the final messages). Exit: 0 ok, 1 runtime error, 2 usage error. Alerts found before an error
 * are always written before exiting. */
#include <errno.h>
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
#include "bw_pipeline.h"
#include "bw_privs.h"
#include "bw_progress.h"
#include "bw_redact.h"
#include "bw_report.h"
#include "bw_redis.h"
#include "bw_sink.h"

static volatile sig_atomic_t stop_requested;
static struct bw_capture *live_capture;            /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    bw_capture_break(live_capture);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);                      /* a closed reader becomes a write error */
}

/* --pace: hold each packet until its recorded offset, scaled, has passed on the wall clock.
 * The reference is the first packet of the whole run, so several files pace as one capture. */
struct pacer { double speed; bool started; uint64_t first_ts; struct timespec wall0; };

static void pace(struct pacer *pc, uint64_t ts)
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
    while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) != 0) {}
}

/* Live capture with no packets for a while: refresh the kernel's counters and, every
 * BW_STATS_INTERVAL_S of wall time, push the counters to the sinks (Redis's sensor hash), since
 * packet time stands still when nothing arrives. */
static void idle_tick(struct bw_pipeline *pl, struct bw_capture *cap)
{
    static struct timespec last;                   /* main's loop only; no other thread */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - last.tv_sec < BW_STATS_INTERVAL_S) return;
    last = now;
    if (bw_capture_stats(cap, &pl->kernel) != 0) memset(&pl->kernel, 0, sizeof pl->kernel);
    bw_pipeline_push_stats(pl);
}

/* Capacity warnings: a pool or cap refused work, so coverage is incomplete. An operator must see
 * this, so it is printed even with -q (which keeps only errors and these). */
static void print_notice(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "brokerwatch: %s\n", line);
}

/* Read one capture to its end. Returns 0, or 1 after printing one line about the failure. */
static int run_source(struct bw_pipeline *pl, struct bw_capture *cap, struct pacer *pc,
                      struct bw_progress *prog, uint64_t done_before)
{
    uint64_t n = 0;
    char err[512];
    const uint8_t *data;
    size_t caplen;
    uint64_t ts;
    int dlt = bw_capture_dlt(cap);
    for (;;) {
        int rc = bw_capture_next(cap, &data, &caplen, &ts, err, sizeof err);
        if (rc == 1) {
            if (pc) pace(pc, ts);
            if (stop_requested) return 0;
            bw_pipeline_packet(pl, dlt, data, caplen, ts);
            if (!prog && (n & 1023) == 1023 && bw_capture_stats(cap, &pl->kernel) != 0)
                memset(&pl->kernel, 0, sizeof pl->kernel);  /* live: kernel drops for the stats */
            /* A clock read per 1024 packets, not per packet (paced replays are slow anyway). */
            if (prog && ((++n & 1023) == 0 || (pc && pc->speed > 0)))
                bw_progress_update(prog, done_before + bw_capture_offset(cap), pl->cnt.packets, pl->cnt.alerts);
            continue;
        }
        if (rc == 2) {                             /* live and idle: keep the counters current */
            if (stop_requested) return 0;
            idle_tick(pl, cap);
            continue;
        }
        if (rc == 0) return 0;
        fprintf(stderr, "brokerwatch: %s\n", err);
        return 1;
    }
}

/* One form of the exposure report into path ("-" = stdout), or into dflt when path is NULL.
 * Returns 0, or 1 after one line saying which file could not be written and why. */
static int write_report(const char *path, FILE *dflt, const char *what, const struct bw_report *rep,
                        const struct bw_report_header *hdr,
                        int (*fn)(const struct bw_report *, const struct bw_report_header *, FILE *))
{
    bool to_file = path && strcmp(path, "-") != 0;
    FILE *out = to_file ? fopen(path, "w") : path ? stdout : dflt;
    int rc = out ? fn(rep, hdr, out) : BW_EIO;
    int e = errno;
    if (out && (to_file ? fclose(out) != 0 : fflush(out) != 0) && rc == 0) { rc = BW_EIO; e = errno; }
    if (rc == 0) return 0;
    fprintf(stderr, "brokerwatch: cannot write the %s to '%s': %s\n", what,
            path ? path : "stderr", rc == BW_ENOMEM ? "out of memory" : strerror(e));
    return 1;
}

/* The exposure report: a table on stderr (or --report FILE), JSON, HTML and CSV when asked for. */
static int write_reports(const struct bw_config *cfg, const struct bw_report *rep, const struct bw_report_header *hdr)
{
    int status = 0;
    if (cfg->report_path || !cfg->quiet)
        status |= write_report(cfg->report_path, stderr, "report", rep, hdr, bw_report_write_text);
    if (cfg->report_json_path)
        status |= write_report(cfg->report_json_path, NULL, "JSON report", rep, hdr, bw_report_write_json);
    if (cfg->report_html_path)
        status |= write_report(cfg->report_html_path, NULL, "HTML report", rep, hdr, bw_report_write_html);
    if (cfg->report_csv_path)
        status |= write_report(cfg->report_csv_path, NULL, "CSV report", rep, hdr, bw_report_write_csv);
    return status;
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
    install_signals();

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

    /* Records go to -o, or to stdout when no other sink was asked for (or a --format was):
     * one line per alert for a person at a terminal, JSON lines for everything else. */
    struct bw_sink *jsonl = NULL, *redis = NULL;
    if (cfg.jsonl_path || !cfg.redis_url || cfg.format != BW_FORMAT_AUTO) {
        const char *path = cfg.jsonl_path ? cfg.jsonl_path : "-";
        bool tty = strcmp(path, "-") == 0 && isatty(STDOUT_FILENO);
        bool text = cfg.format == BW_FORMAT_TEXT || (cfg.format == BW_FORMAT_AUTO && !cfg.jsonl_path && tty);
        const char *term = getenv("TERM");
        bool colour = tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
        jsonl = text ? bw_sink_text_open(path, tty, colour, cfg.iface != NULL, err, sizeof err)
                     : bw_sink_jsonl_open(path, cfg.iface != NULL, err, sizeof err);
        if (!jsonl) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            bw_config_free(&cfg);
            return 1;
        }
    }
    if (cfg.redis_url) {
        /* Refused credentials or an unknown host stop the run here (unless --redis-optional);
         * Redis being down does not: records wait in memory and in the spool. */
        redis = bw_sink_redis_open(&rcfg, err, sizeof err);
        memset(rcfg.url.password, 0, sizeof rcfg.url.password);   /* the sink keeps its own copy */
        if (!redis) {
            fprintf(stderr, "brokerwatch: redis: %s\n", err);
            if (jsonl) jsonl->close(jsonl);
            bw_config_free(&cfg);
            return 1;
        }
    }
    static struct bw_pipeline pl;                  /* large; one per process */
    int rc = bw_pipeline_init(&pl, &cfg, bw_dissectors, bw_dissectors_count);
    if (rc != 0) {
        fprintf(stderr, "brokerwatch: cannot set up the sensor's memory pools (--max-flows %u, "
                "--stream-memcap %llu): %s\n", cfg.max_flows, (unsigned long long)cfg.stream_memcap,
                bw_strerror(rc));
        if (jsonl) jsonl->close(jsonl);
        if (redis) redis->close(redis);
        bw_config_free(&cfg);
        return 1;
    }
    if (cfg.redact_usernames) pl.acfg.redact = &redact_key;
    if (jsonl && bw_pipeline_add_sink(&pl, jsonl) != 0) status = 1;
    if (redis && bw_pipeline_add_sink(&pl, redis) != 0) status = 1;
    pl.notice = print_notice;
    pl.tls_dis = bw_tls_dissector;                 /* follow encrypted brokers' handshakes */
    pl.tls_evaluate = bw_tls_evaluate_fn;

    struct bw_capture_stats kstats = { 0, 0, 0 };
    if (cfg.iface) {
        if (bw_capture_open_live(&live_capture, cfg.iface, cfg.snaplen, cfg.buffer_mib, cfg.bpf,
                                 err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            status = 1;
        } else if (cfg.run_as && bw_privs_drop(cfg.run_as, err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", err);  /* never capture as root by mistake */
            status = 1;
        } else {
            if (!cfg.quiet) fprintf(stderr, "brokerwatch: capturing on %s%s%s\n", cfg.iface,
                                    cfg.run_as ? " as " : "", cfg.run_as ? cfg.run_as : "");
            status = run_source(&pl, live_capture, NULL, NULL, 0);
            if (bw_capture_stats(live_capture, &kstats) != 0) memset(&kstats, 0, sizeof kstats);
            pl.kernel = kstats;
            struct bw_capture *c = live_capture;
            live_capture = NULL;
            bw_capture_close(c);
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
        if (cfg.run_as && bw_privs_drop(cfg.run_as, err, sizeof err) != 0) {
            fprintf(stderr, "brokerwatch: %s\n", err);
            status = 1;
        }
        /* Only for a person watching a terminal; never into logs or pipes. */
        bw_progress_init(&prog, !cfg.quiet && isatty(STDERR_FILENO), stderr, total);
        for (size_t i = 0; i < cfg.nrfiles && !stop_requested && status == 0; i++) {
            struct bw_capture *cap;
            if (bw_capture_open_file(&cap, cfg.rfiles[i], cfg.bpf, err, sizeof err) != 0) {
                fprintf(stderr, "brokerwatch: %s\n", err);
                status = 1;
                break;
            }
            status = run_source(&pl, cap, &pc, &prog, done);
            done += bw_capture_offset(cap);
            bw_capture_close(cap);
        }
        bw_progress_end(&prog);
    }

    /* Whatever happened, finish every session so no alert found so far is lost. */
    bw_pipeline_finish(&pl);
    /* A run that failed before its first packet has nothing to report but the error. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct bw_report_header hdr = {
        .sensor = cfg.sensor_name, .version = BW_VERSION, .inputs = cfg.rfiles, .ninputs = cfg.nrfiles,
        .iface = cfg.iface, .bpf = cfg.bpf, .first_us = pl.earliest_us, .last_us = pl.latest_us,
        .generated_us = (uint64_t)wall.tv_sec * 1000000u + (uint64_t)wall.tv_nsec / 1000u,
        .show_usernames = cfg.show_usernames, .redact = cfg.redact_usernames,
        .redact_key = cfg.redact_usernames ? &redact_key : NULL,
    };
    if ((status == 0 || pl.cnt.packets > 0) && write_reports(&cfg, pl.report, &hdr) != 0) status = 1;
    struct bw_stats st;
    bw_pipeline_stats(&pl, &st);
    st.kernel = kstats;
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
        uint64_t refused = bw_pipeline_refused(&pl);
        if (refused) fprintf(stderr, ", %llu refused by full pools or caps (see the capacity records)",
                             (unsigned long long)refused);
        fputc('\n', stderr);
    }
    if (redis) {
        char spooled[4200] = "";
        if (cfg.spool_dir)
            snprintf(spooled, sizeof spooled, "; %llu alerts (%llu records) remain spooled in %s%s",
                     (unsigned long long)rrep.spooled_alerts, (unsigned long long)rrep.spooled_records,
                     cfg.spool_dir, rrep.spooled_records ? ", delivered first on the next start" : "");
        if (!cfg.quiet || rrep.spooled_records)
            fprintf(stderr, "brokerwatch: redis: %llu alerts delivered to %s (stream %s)%s\n",
                    (unsigned long long)rrep.alerts_delivered, rrep.where, rrep.stream, spooled);
        if (rstatus != 0) {
            fprintf(stderr, "brokerwatch: %s\n", redis->errmsg);
            status = 1;
        }
        redis->close(redis);
    }
    bw_pipeline_free(&pl);
    bw_redact_wipe(&redact_key);
    bw_config_free(&cfg);
    return status;
}
