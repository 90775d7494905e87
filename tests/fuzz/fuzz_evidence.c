/* fuzz_evidence.c: libFuzzer entry for the evidence writer's masking (bw_evidence_scrub), which
 * rewrites captured frames in place. Input: one byte picks the link type, seven describe a mask
 * (sequence number, length, direction, all-bytes flags), the rest is the frame, copied into an
 * exact-size heap buffer. Checked: nothing outside the TCP payload changes but the checksum,
 * overwritten bytes read as the fill byte (through the range's mask when it has one) and are no
 * more than the payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bw_dissector.h"
#include "bw_evidence.h"
#include "bw_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int dlts[] = {
    BW_DLT_EN10MB, BW_DLT_LINUX_SLL, BW_DLT_LINUX_SLL2, BW_DLT_NULL, BW_DLT_LOOP,
    BW_DLT_RAW, BW_DLT_RAW_ALT, BW_DLT_RAW101, BW_DLT_IPV4, BW_DLT_IPV6,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    int dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
    size_t len = size - 8;
    uint8_t *buf = malloc(len ? len : 1), *orig = malloc(len ? len : 1);
    if (!buf || !orig) {
        free(buf);
        free(orig);
        return 0;
    }
    if (len) {
        memcpy(buf, data + 8, len);
        memcpy(orig, data + 8, len);
    }
    struct bw_packet pk;
    struct bw_decode_stats st;
    memset(&st, 0, sizeof st);
    bool tcp = bw_decode_packet(dlt, orig, len, 0, &pk, &st) == BW_DEC_TCP;
    struct bw_secret_pos pos = {
        .seq = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4],
        .len = (uint32_t)(data[5] << 8 | data[6]), .dir = (uint8_t)(data[7] & 1),
    };
    if (tcp && (data[7] & 8)) pos.seq += pk.seq;       /* aim inside the segment */
    if (data[7] & 16) {                                 /* a range behind a WebSocket mask */
        memcpy(pos.key, data + 1, 4);
        pos.key[0] |= 1;
        pos.key_off = data[5] & 3;
    }
    struct bw_evidence_mask m;
    memset(&m, 0, sizeof m);
    m.pos = &pos;
    m.npos = 1;
    m.all[0] = data[7] & 2;
    m.all[1] = data[7] & 4;
    if (tcp) {                                          /* the frame's sender is the client */
        m.ip_ver = pk.ip_ver;
        memcpy(m.cli, pk.src, 16);
        m.cli_port = pk.sport;
    }
    struct bw_scrub_result r;
    bw_evidence_scrub(dlt, buf, len, &m, &r);
    if (!tcp && (r.tcp || r.masked || (len && memcmp(buf, orig, len) != 0)))
        abort();                                        /* not TCP: left alone */
    if (tcp) {
        size_t pay = (size_t)(pk.payload - orig);
        if (r.masked > pk.payload_len)
            abort();
        for (size_t i = 0; i < len; i++) {
            bool in_payload = i >= pay && i - pay < pk.payload_len;
            if (!in_payload && buf[i] != orig[i]) {
                /* only the two checksum bytes of the TCP header may differ: find them */
                bool ok = false;
                for (size_t doff = 20; doff <= 60 && !ok; doff += 4)
                    ok = pay >= doff && (i == pay - doff + 16 || i == pay - doff + 17);
                if (!ok)
                    abort();
            }
            if (in_payload && buf[i] != orig[i] && buf[i] != BW_EVIDENCE_FILL) {
                /* inside the masked range, the fill as the mask makes it */
                uint32_t sq = pk.seq + ((pk.tcp_flags & BW_TCP_SYN) ? 1u : 0u) + (uint32_t)(i - pay);
                uint32_t into = sq - pos.seq;
                if (!(data[7] & 16) || into >= pos.len ||
                    buf[i] != (uint8_t)(BW_EVIDENCE_FILL ^ pos.key[(pos.key_off + into) & 3]))
                    abort();
            }
        }
    }
    free(buf);
    free(orig);
    return 0;
}
