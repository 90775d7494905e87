/* readloop.c: the floor scripts/bench.py measures the sensor against. A bare libpcap read loop
 * over a capture file: every packet is fetched with pcap_next_ex() and its first byte touched,
 * nothing else. Prints "packets bytes checksum" so the work cannot be optimised away. */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: readloop CAPTURE\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "readloop: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    uint64_t n = 0, bytes = 0, sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
        n++;
        bytes += h->caplen;
        if (h->caplen) sum += d[0];
    }
    if (rc == -1) fprintf(stderr, "readloop: %s\n", pcap_geterr(p));
    printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", n, bytes, sum);
    pcap_close(p);
    return rc == -1;
}
