/* bw_config.h: the run's configuration: argv -> struct bw_config, checked once at startup.
 * Holds defaults, limits and memcaps; nothing else reads argv. */
#ifndef BW_CONFIG_H
#define BW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_MAX_FILES 256
#define BW_SNAPLEN_MAX 262144           /* -s 0 means this, as in tcpdump */
#define BW_STATS_INTERVAL_DEFAULT 60    /* --stats-interval, seconds */

/* --format: what the alert lines on stdout / -o look like. */
enum bw_format { BW_FORMAT_AUTO = 0, BW_FORMAT_JSON, BW_FORMAT_TEXT };

struct bw_config {
    const char *rfiles[BW_MAX_FILES];
    size_t      nrfiles;
    const char *iface;             /* -i */
    const char *run_as;            /* -Z USER: drop root once the capture is open */
    int         buffer_mib;        /* -B */
    int         snaplen;           /* -s (0 on the command line = BW_SNAPLEN_MAX) */
    const char *jsonl_path;        /* -o / --jsonl; NULL = stdout when no other sink */
    char        sensor_name[256];  /* --sensor-name, default host name */
    int         verbose;           /* -v: counters at exit; -vv: also setup lines and every
                                    * periodic stats record on stderr (at most 2) */
    bool        quiet;             /* -q */
    char       *bpf;               /* trailing expression, joined by spaces; owned */
    uint32_t    max_flows;         /* --max-flows */
    uint32_t    max_sessions;      /* --max-sessions */
    uint32_t    max_probes;        /* --max-probes: flows probing at once (first bytes held) */
    uint32_t    max_probes_per_source;  /* --max-probes-per-source: unconfirmed flows per address */
    uint64_t    stream_memcap;     /* --stream-memcap (bytes) */
    uint32_t    stream_window;     /* --stream-window: per-direction reassembly buffer */
    uint32_t    dpi_slots;         /* nDPI per-flow states at once */
    uint32_t    workers;           /* --workers; 0 = not given: the number of cores, at most 16 */
    uint32_t    flow_timeout_s;    /* --flow-timeout: established flows */
    uint32_t    close_timeout_s;   /* --close-timeout: new, closing and closed flows */
    bool        session_log;       /* --session-log */
    bool        redact_usernames;  /* --redact-usernames (also set by --redact-key-file) */
    const char *redact_key_path;   /* --redact-key-file FILE: the HMAC key; NULL = one per run */
    enum bw_format format;         /* --format json|text; AUTO = text on a terminal without -o */
    uint32_t    brute_n, brute_t;  /* --bruteforce N/T */
    const char *report_path;       /* --report FILE: the exposure table there instead of stderr */
    const char *report_json_path;  /* --report-json FILE */
    const char *report_html_path;  /* --report-html FILE: one self-contained page */
    const char *report_csv_path;   /* --report-csv FILE: the broker table for spreadsheets */
    bool        show_usernames;    /* --show-usernames: user names in the report */
    double      pace;              /* --pace X: replay -r files at X times recorded speed; 0 = flat out */
    uint64_t    max_packets;       /* -c N: stop after N packets; 0 = no limit */
    bool        list_ifaces;       /* -D: list capture interfaces and exit (main does it) */
    uint32_t    stats_interval_s;  /* --stats-interval: stats record to every sink; 0 = never */
    uint32_t    report_interval_s; /* --report-interval: live only; 0 = at exit and SIGUSR1 only */
    int         sandbox;           /* --sandbox: enum bw_sandbox_mode (bw_sandbox.h) */
    /* Redis sink (docs/redis.md) */
    const char *redis_url;         /* --redis URL (an argv string: main scrubs its password) */
    const char *redis_stream;      /* --redis-stream, default brokerwatch:{SENSOR}:alerts */
    bool        redis_cluster;     /* --redis-cluster: Redis is a cluster (else detected) */
    uint64_t    redis_maxlen;      /* --redis-maxlen: XADD MAXLEN ~ N; 0 = never trim */
    bool        redis_publish;     /* --redis-publish: also PUBLISH on brokerwatch:alerts */
    bool        redis_optional;    /* --redis-optional: bad credentials / unknown host do not stop the run */
    uint64_t    redis_queue;       /* --redis-queue: memory queue bound in bytes */
    const char *spool_dir;         /* --spool DIR: undelivered records wait on disk */
    /* Evidence capture (docs/operations.md "Evidence captures") */
    const char *evidence_path;     /* -w FILE: pcap of the sessions that raised an alert */
    uint32_t    evidence_packets;  /* --evidence-packets: frames kept per session */
    uint32_t    evidence_after;    /* --evidence-after: frames kept after the first alert */
    uint32_t    evidence_bytes;    /* --evidence-bytes: captured bytes kept per session */
    uint64_t    evidence_max_total;/* --evidence-max-total: bytes added to the file per run; 0 = no bound */
    uint64_t    evidence_memcap;   /* --evidence-memcap: the hold for flows awaiting a verdict */
};

enum bw_config_res { BW_CONFIG_RUN = 0, BW_CONFIG_EXIT_OK = 1, BW_CONFIG_USAGE = 2 };

/* Parse argv. On BW_CONFIG_USAGE, err holds one line saying what is wrong.
 * --help and --version print to stdout and return BW_CONFIG_EXIT_OK. */
enum bw_config_res bw_config_parse(struct bw_config *c, int argc, char **argv, char *err, size_t errlen);
void bw_config_free(struct bw_config *c);

/* "64M", "1G", "65536" -> bytes; false when not a size. */
bool bw_parse_size(const char *s, uint64_t *out);
/* Whole decimal number in [min, max]; false otherwise. */
bool bw_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif
