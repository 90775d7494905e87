/* fuzz_decode.c: libFuzzer entry for the decode stage.
 * The first input byte picks a supported link type, the rest is the captured frame, copied into
 * an exact-size heap buffer so ASan flags a read one byte past caplen. Every payload and l3 byte
 * of a TCP result is read, and the views are checked to lie inside the capture. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bw_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int dlts[] = {
    BW_DLT_EN10MB, BW_DLT_LINUX_SLL, BW_DLT_LINUX_SLL2, BW_DLT_NULL, BW_DLT_LOOP,
    BW_DLT_RAW, BW_DLT_RAW_ALT, BW_DLT_RAW101, BW_DLT_IPV4, BW_DLT_IPV6,
};

static volatile uint32_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    if (len)
        memcpy(buf, data + 1, len);

    struct bw_packet p;
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    enum bw_decode_res r = bw_decode_packet(dlt, buf, len, 1, &p, &st);
    uint64_t counted = st.not_ip + st.not_tcp + st.fragments + st.truncated + st.malformed +
                       st.unsupported;
    if (counted != (r == BW_DEC_TCP ? 0u : 1u))    /* exactly one result counter per packet */
        abort();
    if (r == BW_DEC_TCP) {
        size_t l3_off = (size_t)(p.l3 - buf), pl_off = (size_t)(p.payload - buf);
        if (l3_off > len || p.l3_len > len - l3_off || pl_off < l3_off ||
            pl_off - l3_off > p.l3_len || p.payload_len > p.l3_len - (pl_off - l3_off) ||
            p.payload_len > p.seg_len || (p.ip_ver != 4 && p.ip_ver != 6) ||
            (p.tcp_options_cut && p.payload_len != 0))   /* options cut: no payload captured */
            abort();
        uint32_t sum = 0;
        for (size_t i = 0; i < p.l3_len; i++)
            sum += p.l3[i];
        for (size_t i = 0; i < p.payload_len; i++)
            sum += p.payload[i];
        sink = sum;
    }
    free(buf);
    return 0;
}
