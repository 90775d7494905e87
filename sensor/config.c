/* config.c: argv -> struct bw_config. Defaults, limits and memcaps are decided and checked here
 * once; a bad value is one line naming the option and why. Owns the joined BPF string. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bw_config.h"
#include <sys/stat.h>
#include "bw_redis.h"
#include "bw_sandbox.h"
#include "bw_verdict.h"

enum {
    OPT_SENSOR = 256, OPT_MAX_FLOWS, OPT_MAX_SESSIONS, OPT_STREAM_MEMCAP, OPT_STREAM_WINDOW,
    OPT_FLOW_TIMEOUT, OPT_CLOSE_TIMEOUT, OPT_SESSION_LOG, OPT_REDACT, OPT_BRUTE, OPT_PACE, OPT_REPORT, OPT_REPORT_JSON, OPT_SHOW_USERS,
    OPT_REDIS, OPT_REDIS_STREAM, OPT_REDIS_MAXLEN, OPT_REDIS_PUBLISH, OPT_REDIS_OPTIONAL, OPT_REDIS_QUEUE,
    OPT_SPOOL, OPT_FORMAT, OPT_REPORT_HTML, OPT_REPORT_CSV, OPT_REDACT_KEY, OPT_MAX_PROBES,
    OPT_MAX_PROBES_SRC, OPT_REDIS_CLUSTER,
    OPT_STATS_INTERVAL, OPT_REPORT_INTERVAL, OPT_SANDBOX,
    OPT_EV_PACKETS, OPT_EV_AFTER, OPT_EV_BYTES, OPT_EV_TOTAL, OPT_EV_MEMCAP, OPT_WORKERS,
};

static const struct option longopts[] = {
    { "read",             required_argument, NULL, 'r' },
    { "interface",        required_argument, NULL, 'i' },
    { "user",             required_argument, NULL, 'Z' },
    { "buffer-size",      required_argument, NULL, 'B' },
    { "snaplen",          required_argument, NULL, 's' },
    { "jsonl",            required_argument, NULL, 'o' },
    { "output",           required_argument, NULL, 'o' },
    { "sensor-name",      required_argument, NULL, OPT_SENSOR },
    { "quiet",            no_argument,       NULL, 'q' },
    { "verbose",          no_argument,       NULL, 'v' },
    { "help",             no_argument,       NULL, 'h' },
    { "version",          no_argument,       NULL, 'V' },
    { "max-flows",        required_argument, NULL, OPT_MAX_FLOWS },
    { "max-sessions",     required_argument, NULL, OPT_MAX_SESSIONS },
    { "max-probes",       required_argument, NULL, OPT_MAX_PROBES },
    { "max-probes-per-source", required_argument, NULL, OPT_MAX_PROBES_SRC },
    { "workers",          required_argument, NULL, OPT_WORKERS },
    { "stream-memcap",    required_argument, NULL, OPT_STREAM_MEMCAP },
    { "stream-window",    required_argument, NULL, OPT_STREAM_WINDOW },
    { "flow-timeout",     required_argument, NULL, OPT_FLOW_TIMEOUT },
    { "close-timeout",    required_argument, NULL, OPT_CLOSE_TIMEOUT },
    { "session-log",      no_argument,       NULL, OPT_SESSION_LOG },
    { "redact-usernames", no_argument,       NULL, OPT_REDACT },
    { "bruteforce",       required_argument, NULL, OPT_BRUTE },
    { "pace",             required_argument, NULL, OPT_PACE },
    { "report",           required_argument, NULL, OPT_REPORT },
    { "report-json",      required_argument, NULL, OPT_REPORT_JSON },
    { "show-usernames",   no_argument,       NULL, OPT_SHOW_USERS },
    { "redis",            required_argument, NULL, OPT_REDIS },
    { "redis-stream",     required_argument, NULL, OPT_REDIS_STREAM },
    { "redis-maxlen",     required_argument, NULL, OPT_REDIS_MAXLEN },
    { "redis-publish",    no_argument,       NULL, OPT_REDIS_PUBLISH },
    { "redis-optional",   no_argument,       NULL, OPT_REDIS_OPTIONAL },
    { "redis-queue",      required_argument, NULL, OPT_REDIS_QUEUE },
    { "spool",            required_argument, NULL, OPT_SPOOL },
    { "format",           required_argument, NULL, OPT_FORMAT },
    { "report-html",      required_argument, NULL, OPT_REPORT_HTML },
    { "report-csv",       required_argument, NULL, OPT_REPORT_CSV },
    { "redact-key-file",  required_argument, NULL, OPT_REDACT_KEY },
    { "redis-cluster",    no_argument,       NULL, OPT_REDIS_CLUSTER },
    { "count",            required_argument, NULL, 'c' },
    { "list-interfaces",  no_argument,       NULL, 'D' },
    { "stats-interval",   required_argument, NULL, OPT_STATS_INTERVAL },
    { "report-interval",  required_argument, NULL, OPT_REPORT_INTERVAL },
    { "sandbox",          required_argument, NULL, OPT_SANDBOX },
    { "write",            required_argument, NULL, 'w' },
    { "evidence-packets", required_argument, NULL, OPT_EV_PACKETS },
    { "evidence-after",   required_argument, NULL, OPT_EV_AFTER },
    { "evidence-bytes",   required_argument, NULL, OPT_EV_BYTES },
    { "evidence-max-total", required_argument, NULL, OPT_EV_TOTAL },
    { "evidence-memcap",  required_argument, NULL, OPT_EV_MEMCAP },
    { NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"Usage: brokerwatch [options] [BPF expression]\n"
"Passive sensor for MQTT and AMQP broker exposure: plaintext sessions, anonymous access,\n"
"cleartext and default credentials, failed logins and brute force, wildcard subscriptions.\n"
"\n"
"Input (one of):\n"
"  -r, --read FILE        read a pcap/pcapng file ('-' = stdin); repeat to read several\n"
"                         files as one capture, in order\n"
"  -i, --interface IFACE  capture live (promiscuous; packets come in blocks of at most\n"
"                         50 ms, so a quiet link costs nothing and an alert leaves promptly)\n"
"  -D, --list-interfaces  list the interfaces -i can capture on, and exit\n"
"  -B, --buffer-size MIB  kernel capture buffer for -i (default 64)\n"
"  -s, --snaplen BYTES    bytes captured per packet for -i (default 65535; 0 = 262144)\n"
"  -c, --count N          stop after N packets\n"
"  -n, -nn                accepted for tcpdump habits: the sensor never resolves names\n"
"  -Z, --user USER        after opening the capture and outputs, become USER, keep no\n"
"                         capability and confine the process (--sandbox); recommended for -i\n"
"      --sandbox MODE     with -Z: kill (default: a system call outside the sensor's list\n"
"                         ends the process), log (allowed, logged by the kernel) or off\n"
"      --pace X           replay -r files at X times their recorded speed (1 = as\n"
"                         captured); default: as fast as possible\n"
"  BPF expression         filter packets as tcpdump does (e.g. 'tcp port 1883')\n"
"\n"
"Output:\n"
"  -o, --jsonl PATH       write JSON lines to PATH ('-' = stdout, the default); appends;\n"
"                         SIGHUP reopens it (log rotation)\n"
"      --format json|text records as JSON lines, or one line per alert for people;\n"
"                         default: text when stdout is a terminal and no -o, else json\n"
"      --sensor-name NAME name in every record (default: host name)\n"
"      --session-log      also write one \"session\" record per broker session\n"
"      --redact-usernames write user names as hmac:<hex> tokens (HMAC-SHA256; with a\n"
"                         key for this run only unless --redact-key-file)\n"
"      --redact-key-file FILE\n"
"                         the redaction key, shared by runs and sensors; created (mode\n"
"                         0600, random bytes) when missing; implies --redact-usernames\n"
"      --report FILE      write the exposure report (one row per broker) to FILE\n"
"                         ('-' = stdout) instead of stderr; -q keeps it off stderr\n"
"      --report-json FILE the exposure report as JSON ('-' = stdout)\n"
"      --report-html FILE the exposure report as one self-contained HTML page\n"
"      --report-csv FILE  the broker table as CSV for spreadsheets\n"
"      --report-interval S  live: write the reports every S seconds too (SIGUSR1: now)\n"
"      --show-usernames   list user names seen in cleartext in the report\n"
"      --stats-interval S a \"stats\" record to every output every S seconds (default 60;\n"
"                         packet time for -r, wall time for -i; 0 = never)\n"
"  -w, --write FILE       evidence: a pcap of every session that raised an alert, from its\n"
"                         first packet to the alert and --evidence-after more, password\n"
"                         bytes overwritten with '*' and TCP checksums valid; appends to\n"
"                         a pcap already there; SIGHUP reopens it\n"
"      --evidence-packets N  packets kept per session (default 64)\n"
"      --evidence-after N packets kept after the first alert (default 16)\n"
"      --evidence-bytes SZ captured bytes kept per session (default 64K)\n"
"      --evidence-max-total SZ  bytes -w may add to the file in one run (default 1G;\n"
"                         0 = no bound); sessions past it are left out, counted\n"
"      --evidence-memcap SZ  memory holding packets of flows that may still raise an\n"
"                         alert (default 32M); full: flows without evidence, counted\n"
"  -q, --quiet            no messages on stderr except errors and capacity warnings\n"
"                         (a pool or cap refused work: coverage is incomplete)\n"
"  -v, --verbose          print the counters at exit; -vv also prints the capture setup\n"
"                         and every periodic stats record on stderr (-vvv is refused)\n"
"\n"
"Redis (docs/redis.md; without -o, no JSON lines on stdout):\n"
"      --redis URL        also send alerts to Redis: redis://[user:password@]host[:port][/db]\n"
"                         or unix:///path; password also from $BROKERWATCH_REDIS_PASSWORD\n"
"      --redis-cluster    Redis is a Redis Cluster (found out by itself otherwise)\n"
"      --redis-stream KEY stream of alerts (default brokerwatch:{SENSOR}:alerts)\n"
"      --redis-maxlen N   trim the stream to about N entries (default 1000000; 0 = never)\n"
"      --redis-publish    also PUBLISH each alert on channel brokerwatch:alerts\n"
"      --redis-optional   run even if Redis refuses the credentials or the host is unknown\n"
"      --redis-queue SZ   memory queue for undelivered records (default 16M)\n"
"      --spool DIR        keep records Redis cannot take yet on disk, in order, and deliver\n"
"                         them first when it is back (also on the next start)\n"
"\n"
"Detection and limits:\n"
"      --bruteforce N/T   alert on N auth failures from one client to one broker\n"
"                         within T seconds (default 10/60)\n"
"      --max-flows N      flows tracked at once (default 1000000); when full, the oldest\n"
"                         flow without payload goes first, then closed or bypassed ones,\n"
"                         then unconfirmed ones; confirmed broker sessions last\n"
"      --max-sessions N   sessions with reassembly at once (default 65536, about 2 KiB\n"
"                         each): flows a dissector claimed that the broker answered (or\n"
"                         that send more than a probe slot holds)\n"
"      --max-probes N     flows probed at once (default 65536, 256 first bytes each);\n"
"                         when full, the oldest unconfirmed one gives its slot up\n"
"      --max-probes-per-source N\n"
"                         unconfirmed flows one address may hold (default 4096)\n"
"      --stream-memcap SZ reassembly memory for all flows (default 64M)\n"
"      --stream-window SZ reassembly buffer per flow direction (default 32K)\n"
"      --flow-timeout S   idle timeout of established flows, packet time (default 600)\n"
"      --close-timeout S  timeout of new, closed, probing and unconfirmed flows\n"
"                         (default 30)\n"
"      --workers N        pipelines side by side, 1-16 (default: the number of cores,\n"
"                         at most 16); the flows of one address pair are one worker's,\n"
"                         and the limits above are shared out among the workers\n"
"\n"
"  -h, --help             this text\n"
"  -V, --version          version\n"
"\n"
"Signals: SIGHUP reopens the output files, SIGUSR1 writes the exposure report now,\n"
"SIGTERM and SIGINT finish the run (alerts, report, counters) and exit.\n"
"Exit status: 0 ok, 1 runtime error (unreadable file, failed interface, output error),\n"
"2 usage error. Records are documented in docs/alerts.md; brokerwatch(8) has the rest.\n";

bool bw_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return false;
    uint64_t mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ULL << 10; end++; break;
    case 'm': case 'M': mul = 1ULL << 20; end++; break;
    case 'g': case 'G': mul = 1ULL << 30; end++; break;
    default: return false;
    }
    if ((*end == 'B' || *end == 'b') && mul > 1) end++;
    if (*end) return false;
    if (v > UINT64_MAX / mul) return false;
    *out = v * mul;
    return true;
}

bool bw_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return false;
    *out = (uint32_t)v;
    return true;
}

static void defaults(struct bw_config *c)
{
    memset(c, 0, sizeof *c);
    c->buffer_mib = 64;
    c->snaplen = 65535;
    c->max_flows = 1000000;
    c->max_sessions = 65536;
    c->max_probes = 65536;
    c->max_probes_per_source = 4096;
    c->stream_memcap = 64ULL << 20;
    c->stream_window = 32u << 10;
    c->dpi_slots = 65536;
    c->flow_timeout_s = 600;
    c->close_timeout_s = 30;
    c->brute_n = 10;
    c->brute_t = 60;
    c->redis_maxlen = BW_REDIS_MAXLEN_DEFAULT;
    c->stats_interval_s = BW_STATS_INTERVAL_DEFAULT;
    c->sandbox = BW_SANDBOX_KILL;
    c->evidence_packets = 64;
    c->evidence_after = 16;
    c->evidence_bytes = 64u << 10;
    c->evidence_max_total = 1ULL << 30;
    c->evidence_memcap = 32ULL << 20;
    if (gethostname(c->sensor_name, sizeof c->sensor_name - 1) != 0 || !c->sensor_name[0])
        snprintf(c->sensor_name, sizeof c->sensor_name, "brokerwatch");
}

#define USAGE(...) do { snprintf(err, errlen, __VA_ARGS__); return BW_CONFIG_USAGE; } while (0)

/* Words of tcpdump's filter language that might also name a file in the current directory. */
static bool bpf_keyword(const char *w)
{
    static const char *const kw[] = {
        "and", "or", "not", "host", "net", "port", "portrange", "src", "dst", "tcp", "udp", "ip",
        "ip6", "ether", "vlan", "mpls", "proto", "less", "greater", "gateway", "broadcast",
        "multicast", "icmp", "icmp6", "arp", "rarp", "inbound", "outbound", "len", NULL,
    };
    for (size_t i = 0; kw[i]; i++)
        if (strcmp(w, kw[i]) == 0) return true;
    return false;
}

enum bw_config_res bw_config_parse(struct bw_config *c, int argc, char **argv, char *err, size_t errlen)
{
    uint32_t u;
    uint64_t sz;
    const char *redis_only = NULL;        /* a Redis option seen (they need --redis) */
    defaults(c);
    opterr = 0;           /* our own one-line messages */
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":r:i:B:s:o:qvhVZ:nc:Dw:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            if (c->nrfiles >= BW_MAX_FILES) USAGE("too many -r files (at most %d)", BW_MAX_FILES);
            c->rfiles[c->nrfiles++] = optarg;
            break;
        case 'i': c->iface = optarg; break;
        case 'Z': c->run_as = optarg; break;
        case 'B':
            if (!bw_parse_u32(optarg, 1, 4096, &u)) USAGE("-B wants a buffer size in MiB (1-4096), not '%s'", optarg);
            c->buffer_mib = (int)u;
            break;
        case 's':
            if (strcmp(optarg, "0") == 0) { c->snaplen = BW_SNAPLEN_MAX; break; }   /* tcpdump: 0 = all */
            if (!bw_parse_u32(optarg, 64, BW_SNAPLEN_MAX, &u))
                USAGE("-s wants a snaplen in bytes (64-%d, or 0 for the maximum), not '%s'", BW_SNAPLEN_MAX, optarg);
            c->snaplen = (int)u;
            break;
        case 'n': break;                  /* -n, -nn: names are never resolved anyway */
        case 'c': {
            uint32_t hi;
            if (!bw_parse_u32(optarg, 1, 4000000000u, &hi)) USAGE("-c wants a packet count from 1 to 4000000000, not '%s'", optarg);
            c->max_packets = hi;
            break;
        }
        case 'D': c->list_ifaces = true; break;
        case OPT_STATS_INTERVAL:
            if (!bw_parse_u32(optarg, 0, 86400, &c->stats_interval_s)) USAGE("--stats-interval wants seconds (0-86400; 0 = never), not '%s'", optarg);
            break;
        case OPT_REPORT_INTERVAL:
            if (!bw_parse_u32(optarg, 1, 86400 * 7, &c->report_interval_s)) USAGE("--report-interval wants seconds (1-604800), not '%s'", optarg);
            break;
        case OPT_SANDBOX:
            if (strcmp(optarg, "kill") == 0) c->sandbox = BW_SANDBOX_KILL;
            else if (strcmp(optarg, "log") == 0) c->sandbox = BW_SANDBOX_LOG;
            else if (strcmp(optarg, "off") == 0) c->sandbox = BW_SANDBOX_OFF;
            else USAGE("--sandbox wants kill, log or off, not '%s'", optarg);
            break;
        case 'o': c->jsonl_path = optarg; break;
        case OPT_SENSOR:
            if (!*optarg || strlen(optarg) >= sizeof c->sensor_name) USAGE("--sensor-name wants 1-255 characters");
            snprintf(c->sensor_name, sizeof c->sensor_name, "%s", optarg);
            break;
        case 'q': c->quiet = true; break;
        case 'v':
            if (++c->verbose > 2) USAGE("-v at most twice: -v prints the counters at exit, -vv also the setup and every stats record");
            break;
        case 'h': fputs(usage_text, stdout); return BW_CONFIG_EXIT_OK;
        case 'V': printf("brokerwatch %s\n", BW_VERSION); return BW_CONFIG_EXIT_OK;
        case OPT_MAX_FLOWS:
            if (!bw_parse_u32(optarg, 64, 100000000, &c->max_flows)) USAGE("--max-flows wants a number from 64 to 100000000, not '%s'", optarg);
            break;
        case OPT_MAX_SESSIONS:
            if (!bw_parse_u32(optarg, 16, 10000000, &c->max_sessions)) USAGE("--max-sessions wants a number from 16 to 10000000, not '%s'", optarg);
            break;
        case OPT_MAX_PROBES:
            if (!bw_parse_u32(optarg, 16, 10000000, &c->max_probes)) USAGE("--max-probes wants a number from 16 to 10000000, not '%s'", optarg);
            break;
        case OPT_WORKERS:
            if (!bw_parse_u32(optarg, 1, 16, &c->workers)) USAGE("--workers wants a number from 1 to 16, not '%s'", optarg);
            break;
        case OPT_MAX_PROBES_SRC:
            if (!bw_parse_u32(optarg, 1, 10000000, &c->max_probes_per_source)) USAGE("--max-probes-per-source wants a number from 1 to 10000000, not '%s'", optarg);
            break;
        case OPT_STREAM_MEMCAP:
            if (!bw_parse_size(optarg, &sz) || sz < (64u << 10) || sz > (64ULL << 30)) USAGE("--stream-memcap wants a size from 64K to 64G (e.g. 64M), not '%s'", optarg);
            c->stream_memcap = sz;
            break;
        case OPT_STREAM_WINDOW:
            if (!bw_parse_size(optarg, &sz) || sz < 1024 || sz > (16u << 20)) USAGE("--stream-window wants a size from 1K to 16M, not '%s'", optarg);
            c->stream_window = (uint32_t)sz;
            break;
        case OPT_FLOW_TIMEOUT:
            if (!bw_parse_u32(optarg, 1, 86400 * 7, &c->flow_timeout_s)) USAGE("--flow-timeout wants seconds (1-604800), not '%s'", optarg);
            break;
        case OPT_CLOSE_TIMEOUT:
            if (!bw_parse_u32(optarg, 1, 86400, &c->close_timeout_s)) USAGE("--close-timeout wants seconds (1-86400), not '%s'", optarg);
            break;
        case OPT_SESSION_LOG: c->session_log = true; break;
        case OPT_REDACT: c->redact_usernames = true; break;
        case OPT_REDACT_KEY:
            if (!*optarg) USAGE("--redact-key-file wants a file name");
            c->redact_key_path = optarg;
            c->redact_usernames = true;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "json") == 0) c->format = BW_FORMAT_JSON;
            else if (strcmp(optarg, "text") == 0) c->format = BW_FORMAT_TEXT;
            else USAGE("--format wants json or text, not '%s'", optarg);
            break;
        case OPT_REPORT_HTML: c->report_html_path = optarg; break;
        case OPT_REPORT_CSV: c->report_csv_path = optarg; break;
        case OPT_BRUTE: {
            char nb[16];
            const char *slash = strchr(optarg, '/');
            size_t nl = slash ? (size_t)(slash - optarg) : 0;
            if (!slash || nl == 0 || nl >= sizeof nb) USAGE("--bruteforce wants N/T (failures/seconds, e.g. 10/60), not '%s'", optarg);
            memcpy(nb, optarg, nl);
            nb[nl] = '\0';
            if (!bw_parse_u32(nb, 1, BW_BRUTE_N_MAX, &c->brute_n) || !bw_parse_u32(slash + 1, 1, 86400, &c->brute_t))
                USAGE("--bruteforce wants N/T with N in 1-%d and T in 1-86400 seconds, not '%s'", BW_BRUTE_N_MAX, optarg);
            break;
        }
        case OPT_REDIS: {
            struct bw_redis_url url;
            char uerr[200];
            if (bw_redis_url_parse(optarg, &url, uerr, sizeof uerr) != 0) USAGE("--redis: %s", uerr);
            c->redis_url = optarg;
            break;
        }
        case OPT_REDIS_STREAM:
            redis_only = "--redis-stream";
            if (!*optarg || strlen(optarg) > 200) USAGE("--redis-stream wants a key name of 1-200 characters");
            c->redis_stream = optarg;
            break;
        case OPT_REDIS_MAXLEN: {
            redis_only = "--redis-maxlen";
            uint32_t m;
            if (!bw_parse_u32(optarg, 0, 4000000000u, &m)) USAGE("--redis-maxlen wants a number of entries (0 = never trim), not '%s'", optarg);
            c->redis_maxlen = m;
            break;
        }
        case OPT_REDIS_PUBLISH: c->redis_publish = true; redis_only = "--redis-publish"; break;
        case OPT_REDIS_OPTIONAL: c->redis_optional = true; redis_only = "--redis-optional"; break;
        case OPT_REDIS_CLUSTER: c->redis_cluster = true; redis_only = "--redis-cluster"; break;
        case OPT_REDIS_QUEUE:
            redis_only = "--redis-queue";
            if (!bw_parse_size(optarg, &sz) || sz < (64u << 10) || sz > (4ULL << 30)) USAGE("--redis-queue wants a size from 64K to 4G (e.g. 16M), not '%s'", optarg);
            c->redis_queue = sz;
            break;
        case OPT_SPOOL:
            redis_only = "--spool";
            if (!*optarg) USAGE("--spool wants a directory");
            c->spool_dir = optarg;
            break;
        case ':': USAGE("option '%s' needs a value", argv[optind - 1]);
        case OPT_REPORT: c->report_path = optarg; break;
        case 'w':
            if (!*optarg) USAGE("-w wants a file name");
            if (strcmp(optarg, "-") == 0) USAGE("-w wants a file, not stdout: evidence is appended to and reopened on SIGHUP");
            c->evidence_path = optarg;
            break;
        case OPT_EV_PACKETS:
            if (!bw_parse_u32(optarg, 1, 1000000, &c->evidence_packets)) USAGE("--evidence-packets wants a number from 1 to 1000000, not '%s'", optarg);
            break;
        case OPT_EV_AFTER:
            if (!bw_parse_u32(optarg, 0, 1000000, &c->evidence_after)) USAGE("--evidence-after wants a number from 0 to 1000000, not '%s'", optarg);
            break;
        case OPT_EV_BYTES:
            if (!bw_parse_size(optarg, &sz) || sz < 1024 || sz > (64u << 20)) USAGE("--evidence-bytes wants a size from 1K to 64M (e.g. 64K), not '%s'", optarg);
            c->evidence_bytes = (uint32_t)sz;
            break;
        case OPT_EV_TOTAL:
            if (!bw_parse_size(optarg, &sz)) USAGE("--evidence-max-total wants a size (e.g. 1G; 0 = no bound), not '%s'", optarg);
            c->evidence_max_total = sz;
            break;
        case OPT_EV_MEMCAP:
            if (!bw_parse_size(optarg, &sz) || sz < (64u << 10) || sz > (64ULL << 30)) USAGE("--evidence-memcap wants a size from 64K to 64G (e.g. 32M), not '%s'", optarg);
            c->evidence_memcap = sz;
            break;
        case OPT_REPORT_JSON: c->report_json_path = optarg; break;
        case OPT_SHOW_USERS: c->show_usernames = true; break;
        case OPT_PACE: {
            char *end;
            errno = 0;
            double x = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(x >= 0.001 && x <= 1000000.0))
                USAGE("--pace wants a speed factor from 0.001 to 1000000 (1 = as captured), not '%s'", optarg);
            c->pace = x;
            break;
        }
        default:
            if (optopt) USAGE("unknown option '-%c'", optopt);
            USAGE("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (c->list_ifaces) return BW_CONFIG_RUN;     /* -D: nothing else is needed */
    if (c->nrfiles && c->iface) USAGE("give either -r FILE or -i IFACE, not both");
    if (c->report_interval_s && !c->iface) USAGE("--report-interval applies to live capture (-i); a replay writes its report at the end");
    if (c->pace > 0 && c->iface) USAGE("--pace applies to -r files, not to live capture");
    if (!c->nrfiles && !c->iface) USAGE("no input: give -r FILE (a capture) or -i IFACE (live)");
    if (!c->redis_url && redis_only) USAGE("%s needs --redis URL", redis_only);
    if (c->stream_memcap < c->stream_window) USAGE("--stream-memcap must be at least --stream-window");
    if (c->evidence_memcap < c->evidence_bytes) USAGE("--evidence-memcap must be at least --evidence-bytes");
    if (c->max_sessions > c->max_flows) c->max_sessions = c->max_flows;
    if (c->max_probes > c->max_flows) c->max_probes = c->max_flows;
    /* nDPI is asked only about flows the probes cannot place, which hold a probe slot. */
    if (c->dpi_slots > c->max_probes) c->dpi_slots = c->max_probes;
    /* Everything after the options is the BPF expression, joined as tcpdump does. A word that
     * names a file is a capture given without its -r (`-r a.pcap b.pcap`), not a filter. */
    size_t total = 0;
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        if (!*argv[i]) continue;       /* an empty word (an unset variable in a unit file) */
        if (!bpf_keyword(argv[i]) && stat(argv[i], &sb) == 0 && S_ISREG(sb.st_mode))
            USAGE("'%s' is a file, not a filter expression: give each capture its own -r", argv[i]);
        total += strlen(argv[i]) + 1;
    }
    if (total) {
        c->bpf = malloc(total);
        if (!c->bpf) USAGE("out of memory");
        size_t off = 0;
        for (int i = optind; i < argc; i++) {
            size_t l = strlen(argv[i]);
            if (!l) continue;
            if (off) c->bpf[off++] = ' ';
            memcpy(c->bpf + off, argv[i], l);
            off += l;
        }
        c->bpf[off] = '\0';
    }
    return BW_CONFIG_RUN;
}

void bw_config_free(struct bw_config *c)
{
    free(c->bpf);
    c->bpf = NULL;
}
