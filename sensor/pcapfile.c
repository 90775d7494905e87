/* pcapfile.c: classic pcap records from a buffer (bw_pcapfile.h). Reads through the cursor only;
 * owns nothing. */
#include <stdio.h>
#include <string.h>
#include "bw_cursor.h"
#include "bw_pcapfile.h"

/* A field in the writer's byte order: the host's, or the other one when swapped (as libpcap). */
static uint32_t u32(struct bw_cur *c, bool swapped)
{
    const uint8_t *b;
    uint32_t v = 0;
    if (bw_cur_take(c, 4, &b)) memcpy(&v, b, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

static uint16_t u16(struct bw_cur *c, bool swapped)
{
    const uint8_t *b;
    uint16_t v = 0;
    if (bw_cur_take(c, 2, &b)) memcpy(&v, b, 2);
    return swapped ? __builtin_bswap16(v) : v;
}

bool bw_pcapfile_header(const uint8_t *p, size_t n, struct bw_pcapfile_fmt *fmt)
{
    struct bw_cur c = bw_cur_init(p, n);
    uint32_t magic = u32(&c, false);
    if (c.bad || n < BW_PCAPFILE_HDR) return false;
    switch (magic) {
    case 0xa1b2c3d4u: fmt->swapped = false; fmt->nano = false; break;
    case 0xd4c3b2a1u: fmt->swapped = true;  fmt->nano = false; break;
    case 0xa1b23c4du: fmt->swapped = false; fmt->nano = true;  break;
    case 0x4d3cb2a1u: fmt->swapped = true;  fmt->nano = true;  break;
    default: return false;
    }
    uint16_t major = u16(&c, fmt->swapped);
    uint16_t minor = u16(&c, fmt->swapped);
    /* 2.4 only: older minors may hold caplen and len the other way round */
    return !c.bad && major == 2 && minor == 4;
}

enum bw_pcaprec_res bw_pcapfile_record(const struct bw_pcapfile_fmt *fmt, const uint8_t *p, size_t n, bool eof,
                                       struct bw_pcaprec *rec, size_t *need, char *err, size_t errlen)
{
    *need = BW_PCAPFILE_RECHDR;
    if (n < BW_PCAPFILE_RECHDR) {
        if (!eof) return BW_PCAPREC_MORE;
        if (n == 0) return BW_PCAPREC_END;
        snprintf(err, errlen, "truncated dump file; tried to read %u header bytes, only got %zu",
                 BW_PCAPFILE_RECHDR, n);
        return BW_PCAPREC_BAD;
    }
    struct bw_cur c = bw_cur_init(p, n);
    /* libpcap (1.10) takes the fields of a file in this host's order as signed, and those of a
     * swapped file as unsigned: the same here, so that both read one file alike */
    uint32_t sec = u32(&c, fmt->swapped), usec = u32(&c, fmt->swapped);
    rec->ts_sec = fmt->swapped ? (int64_t)sec : (int64_t)(int32_t)sec;
    rec->ts_usec = fmt->swapped ? (int64_t)usec : (int64_t)(int32_t)usec;
    if (fmt->nano) rec->ts_usec /= 1000;
    uint32_t caplen = u32(&c, fmt->swapped);
    rec->len = u32(&c, fmt->swapped);
    if (caplen > BW_PCAPFILE_MAXSNAP) {
        if (caplen > fmt->snapshot)
            snprintf(err, errlen, "invalid packet capture length %u, bigger than snaplen of %u", caplen,
                     fmt->snapshot);
        else
            snprintf(err, errlen, "invalid packet capture length %u, bigger than maximum of %u", caplen,
                     BW_PCAPFILE_MAXSNAP);
        return BW_PCAPREC_BAD;
    }
    *need = BW_PCAPFILE_RECHDR + (size_t)caplen;
    size_t have = bw_cur_left(&c);
    if (have < caplen) {
        if (!eof) return BW_PCAPREC_MORE;
        /* what libpcap says: it reads the snapshot's part first, then the rest */
        uint32_t wanted = caplen > fmt->snapshot && have < fmt->snapshot ? fmt->snapshot : caplen;
        snprintf(err, errlen, "truncated dump file; tried to read %u captured bytes, only got %zu", wanted, have);
        return BW_PCAPREC_BAD;
    }
    rec->caplen = caplen > fmt->snapshot ? fmt->snapshot : caplen;   /* the rest is skipped */
    rec->data = bw_cur_bytes(&c, caplen).ptr;
    rec->size = *need;
    return BW_PCAPREC_OK;
}
