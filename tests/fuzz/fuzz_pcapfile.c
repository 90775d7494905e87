/* fuzz_pcapfile.c: libFuzzer entry for the capture file reader (pcapfile.c behind capture.c).
 * The input is a whole capture file, put in a memory file; bw_capture reads it (its own record
 * reader for classic pcap) and so does libpcap's pcap_next_ex, and any difference aborts: the
 * packets, their lengths and times, and how the file ends (its end, or the same error). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support/pcap_compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("capture", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct pcap_cmp c;
    for (int keep = 0; keep < 2; keep++)          /* read here, and read ahead in chunks */
        if (pcap_compare(path, NULL, keep, &c) > 0) {
            fprintf(stderr, "fuzz_pcapfile%s: %s\n", keep ? " (kept)" : "", c.why);
            abort();
        }
    close(fd);
    return 0;
}
