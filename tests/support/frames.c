/* frames.c: Ethernet + IPv4/IPv6 + TCP frame builder for tests (checksums left zero, as
 * offloading NICs and loopback captures leave them). */
#include <string.h>
#include "frames.h"

struct tcp_ep ep4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct tcp_ep e;
    memset(&e, 0, sizeof e);
    e.ip[0] = a; e.ip[1] = b; e.ip[2] = c; e.ip[3] = d;
    e.port = port;
    e.ver = 4;
    return e;
}

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, (uint16_t)(v >> 16)); be16(p + 2, (uint16_t)v); }

size_t frame_tcp(uint8_t *out, size_t cap, const struct tcp_ep *src, const struct tcp_ep *dst,
                 uint32_t seq, uint32_t ack, uint8_t flags, const void *payload, size_t plen)
{
    size_t iph = src->ver == 4 ? 20 : 40, n = 14 + iph + 20 + plen;
    if (n > cap || plen > 60000) return 0;
    memset(out, 0, n);
    memset(out, 0x02, 12);
    be16(out + 12, src->ver == 4 ? 0x0800 : 0x86DD);
    uint8_t *ip = out + 14;
    if (src->ver == 4) {
        ip[0] = 0x45;
        be16(ip + 2, (uint16_t)(20 + 20 + plen));
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, src->ip, 4);
        memcpy(ip + 16, dst->ip, 4);
    } else {
        ip[0] = 0x60;
        be16(ip + 4, (uint16_t)(20 + plen));
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, src->ip, 16);
        memcpy(ip + 24, dst->ip, 16);
    }
    uint8_t *t = ip + iph;
    be16(t, src->port);
    be16(t + 2, dst->port);
    be32(t + 4, seq);
    be32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    be16(t + 14, 65535);
    if (plen) memcpy(t + 20, payload, plen);
    return n;
}
