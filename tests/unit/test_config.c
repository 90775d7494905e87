/* test_config.c: argv parsing: defaults, every option, and one clear error per bad value. */
#include <string.h>
#include "check.h"
#include "bw_config.h"

static int parse(struct bw_config *c, char *err, int argc, char **argv)
{
    int rc = bw_config_parse(c, argc, argv, err, 256);
    return rc;
}

#define ARGV(...) ((char *[]){ "brokerwatch", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "brokerwatch", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(...) parse(&c, err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

int main(void)
{
    struct bw_config c;
    char err[256];

    CHECK_EQ(PARSE("-r", "a.pcap"), BW_CONFIG_RUN);
    CHECK_EQ(c.nrfiles, 1);
    CHECK_EQ(c.max_flows, 1000000);
    CHECK_EQ(c.stream_memcap, 64ULL << 20);
    CHECK_EQ(c.brute_n, 10);
    CHECK_EQ(c.brute_t, 60);
    CHECK(c.jsonl_path == NULL);
    CHECK(c.bpf == NULL);
    CHECK_EQ(c.max_probes, 65536);
    CHECK_EQ(c.max_probes_per_source, 4096);
    CHECK_EQ(c.dpi_slots, 65536);
    bw_config_free(&c);

    /* probe caps: nDPI follows the probe pool (it is asked only about probing flows) */
    CHECK_EQ(PARSE("-r", "a.pcap", "--max-probes", "1000", "--max-probes-per-source", "10"), BW_CONFIG_RUN);
    CHECK_EQ(c.max_probes, 1000);
    CHECK_EQ(c.max_probes_per_source, 10);
    CHECK_EQ(c.dpi_slots, 1000);
    bw_config_free(&c);
    CHECK_EQ(PARSE("-r", "a.pcap", "--max-flows", "500"), BW_CONFIG_RUN);
    CHECK_EQ(c.max_probes, 500);                   /* never more than the flows */
    bw_config_free(&c);
    CHECK_EQ(PARSE("-r", "a.pcap", "--max-probes", "8"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--max-probes") != NULL);
    bw_config_free(&c);
    CHECK_EQ(PARSE("-r", "a.pcap", "--max-probes-per-source", "0"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--max-probes-per-source") != NULL);
    bw_config_free(&c);

    CHECK_EQ(PARSE("-r", "a.pcap", "-r", "b.pcapng", "-o", "-", "--sensor-name", "s1", "-q", "-v", "-v",
                   "--max-flows", "5000", "--stream-memcap", "8M", "--bruteforce", "5/30",
                   "--session-log", "--redact-usernames", "tcp", "port", "1883"), BW_CONFIG_RUN);
    CHECK_EQ(c.nrfiles, 2);
    CHECK_STR(c.rfiles[1], "b.pcapng");
    CHECK_STR(c.jsonl_path, "-");
    CHECK_STR(c.sensor_name, "s1");
    CHECK(c.quiet);
    CHECK_EQ(c.verbose, 2);
    CHECK_EQ(c.max_flows, 5000);
    CHECK_EQ(c.stream_memcap, 8ULL << 20);
    CHECK_EQ(c.brute_n, 5);
    CHECK_EQ(c.brute_t, 30);
    CHECK(c.session_log && c.redact_usernames);
    CHECK_STR(c.bpf, "tcp port 1883");
    bw_config_free(&c);

    CHECK_EQ(PARSE("-i", "eth0", "-B", "128", "-s", "1500"), BW_CONFIG_RUN);
    CHECK_EQ(c.buffer_mib, 128);
    CHECK_EQ(c.snaplen, 1500);
    bw_config_free(&c);

    /* usage errors: each names the option */
    CHECK_EQ(PARSE("-r", "a", "--max-flows", "lots"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--max-flows") != NULL);
    CHECK_EQ(PARSE("-r", "a", "--bruteforce", "10"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--bruteforce") != NULL);
    CHECK_EQ(PARSE("-r", "a", "--bruteforce", "0/60"), BW_CONFIG_USAGE);
    CHECK_EQ(PARSE("-r", "a", "--stream-memcap", "12Q"), BW_CONFIG_USAGE);
    CHECK_EQ(PARSE("-r", "a", "--no-such-option"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--no-such-option") != NULL);
    CHECK_EQ(PARSE("-r", "a", "-Z"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "-Z") != NULL);
    CHECK_EQ(PARSE("-r"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "needs a value") != NULL);
    CHECK_EQ(PARSE("-q"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "no input") != NULL);
    CHECK_EQ(PARSE("-r", "a", "-i", "eth0"), BW_CONFIG_USAGE);
    CHECK_EQ(PARSE("-i", "eth0", "-B", "-1"), BW_CONFIG_USAGE);

    uint64_t v;
    CHECK(bw_parse_size("64K", &v) && v == 65536);
    CHECK(bw_parse_size("1GB", &v) && v == 1ULL << 30);
    CHECK(!bw_parse_size("-5", &v));
    CHECK(!bw_parse_size("99999999999999999999", &v));
    CHECK(!bw_parse_size("17179869184G", &v));      /* overflows 64 bits */
    /* tcpdump habits, intervals, the sandbox */
    CHECK_EQ(PARSE("-i", "eth0", "-s", "0", "-nn", "-c", "5"), BW_CONFIG_RUN);
    CHECK_EQ(c.snaplen, BW_SNAPLEN_MAX);
    CHECK_EQ(c.max_packets, 5);
    CHECK_EQ(c.stats_interval_s, BW_STATS_INTERVAL_DEFAULT);
    CHECK_EQ(c.report_interval_s, 0);
    bw_config_free(&c);
    CHECK_EQ(PARSE("-D"), BW_CONFIG_RUN);
    CHECK(c.list_ifaces);
    bw_config_free(&c);
    CHECK_EQ(PARSE("-i", "eth0", "--stats-interval", "0", "--report-interval", "3600", "--sandbox", "log"), BW_CONFIG_RUN);
    CHECK_EQ(c.stats_interval_s, 0);
    CHECK_EQ(c.report_interval_s, 3600);
    CHECK_EQ(c.sandbox, 1);
    bw_config_free(&c);
    CHECK_EQ(PARSE("-r", "a", "-vvv"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "-v at most twice") != NULL);
    CHECK_EQ(PARSE("-r", "a", "-s", "10"), BW_CONFIG_USAGE);
    CHECK_EQ(PARSE("-r", "a", "-c", "0"), BW_CONFIG_USAGE);
    CHECK_EQ(PARSE("-r", "a", "--report-interval", "60"), BW_CONFIG_USAGE);
    CHECK(strstr(err, "live capture") != NULL);
    CHECK_EQ(PARSE("-r", "a", "--stats-interval", "soon"), BW_CONFIG_USAGE);
    /* empty trailing words (an unset variable in a unit) are no filter */
    CHECK_EQ(PARSE("-i", "eth0", "", "tcp", "", "port", "1883", ""), BW_CONFIG_RUN);
    CHECK_STR(c.bpf, "tcp port 1883");
    bw_config_free(&c);
    CHECK_EQ(PARSE("-i", "eth0", ""), BW_CONFIG_RUN);
    CHECK(c.bpf == NULL);
    bw_config_free(&c);

    return check_summary("config");
}
