/* decode.c: one captured frame -> struct bw_packet (link header, VLAN tags, IPv4/IPv6, TCP header).
 * Owns no state and allocates nothing; the result borrows the caller's buffer.
 * Reads bytes only through bw_cursor.h. Never verifies checksums (loopback and offloaded captures
 * carry wrong ones) and never logs: every outcome is a bw_decode_res plus one counter.
 * IP fragments are counted and skipped, not reassembled. */
#include <string.h>

#include "bw_cursor.h"
#include "bw_packet.h"

#define ETH_IPV4      0x0800
#define ETH_IPV6      0x86dd
#define ETH_VLAN      0x8100   /* 802.1Q */
#define ETH_QINQ      0x88a8   /* 802.1ad service tag */
#define ETH_QINQ_OLD  0x9100   /* pre-standard QinQ, still sent by some switches */
#define ETH_MPLS_UC   0x8847
#define ETH_MPLS_MC   0x8848
#define ETH_PPPOE     0x8864

#define SLL_HDR_LEN   16
#define SLL2_HDR_LEN  20

#define IPPROTO_NUM_TCP      6
#define IP6_EXT_HOPOPTS      0
#define IP6_EXT_ROUTING     43
#define IP6_EXT_FRAGMENT    44
#define IP6_EXT_AH          51
#define IP6_EXT_DSTOPTS     60

#define IPV4_MIN_HDR  20
#define IPV6_HDR      40
#define TCP_MIN_HDR   20

/* AF_INET6 as each OS numbers it in DLT_NULL / DLT_LOOP headers. */
#define BSD_AF_INET          2
#define LINUX_AF_INET6      10
#define NETBSD_AF_INET6     24   /* also OpenBSD */
#define FREEBSD_AF_INET6    28
#define DARWIN_AF_INET6     30

/* Are n more header bytes there? `wire_len` is the IP packet length per its own header, measured
 * from the cursor's base; the cursor covers at most that many bytes, so c->off <= wire_len.
 * Past the IP length the header lies (MALFORMED); past the capture snaplen cut it (TRUNCATED). */
static bool header_room(const struct bw_cur *c, size_t wire_len, size_t n, enum bw_decode_res *why)
{
    if (c->bad || n > wire_len - c->off) {
        *why = BW_DEC_MALFORMED;
        return false;
    }
    if (n > bw_cur_left(c)) {
        *why = BW_DEC_TRUNCATED;
        return false;
    }
    return true;
}

/* TCP header at the cursor, payload up to the end of the IP packet. */
static enum bw_decode_res decode_tcp(struct bw_cur *c, size_t wire_len, struct bw_packet *out)
{
    enum bw_decode_res why;
    if (!header_room(c, wire_len, TCP_MIN_HDR, &why))
        return why;
    const uint8_t *h;
    if (!bw_cur_take(c, TCP_MIN_HDR, &h))       /* unreachable after the room check; fail closed */
        return BW_DEC_MALFORMED;
    out->ip_len = wire_len;
    out->sport = bw_be16(h);
    out->dport = bw_be16(h + 2);
    out->seq = bw_be32(h + 4);
    out->ack = bw_be32(h + 8);
    size_t doff = (size_t)(h[12] >> 4) * 4;
    out->tcp_flags = h[13];
    out->win = bw_be16(h + 14);                 /* then checksum (never verified), urgent pointer */
    if (doff < TCP_MIN_HDR)                     /* data offset inside the fixed header: a lie */
        return BW_DEC_MALFORMED;
    if (!header_room(c, wire_len, doff - TCP_MIN_HDR, &why)) {
        if (why != BW_DEC_TRUNCATED)            /* options past the packet: the header lies */
            return why;
        /* Options cut by snaplen (-s 96 with timestamps, SACK blocks): ports, sequence numbers
         * and flags are all here; none of the payload was captured, and the IP length says how
         * much the stream misses. */
        out->tcp_options_cut = true;
        out->payload = c->base + c->len;        /* empty, at the end of what was captured */
        out->payload_len = 0;
        out->seg_len = wire_len - c->off - (doff - TCP_MIN_HDR);
        return BW_DEC_TCP;
    }
    bw_cur_skip(c, doff - TCP_MIN_HDR);
    if (c->bad)                                 /* unreachable after the room checks; fail closed */
        return BW_DEC_MALFORMED;
    struct bw_bytes pl = bw_cur_rest(c);
    out->payload = pl.ptr;
    out->payload_len = pl.len;                  /* captured, already bounded by the IP length */
    out->seg_len = wire_len - c->off;           /* what the sender put on the wire */
    return BW_DEC_TCP;
}

static enum bw_decode_res decode_ipv4(struct bw_bytes ip, struct bw_packet *out,
                                      struct bw_decode_stats *st)
{
    struct bw_cur h = bw_cur_init(ip.ptr, ip.len);
    const uint8_t *fixed;
    if (!bw_cur_take(&h, IPV4_MIN_HDR, &fixed)) /* fixed header cut by snaplen */
        return BW_DEC_TRUNCATED;
    uint8_t vihl = fixed[0];                    /* then DSCP/ECN */
    size_t total = bw_be16(fixed + 2);          /* then identification */
    uint16_t frag = bw_be16(fixed + 6);         /* then TTL */
    uint8_t proto = fixed[9];                   /* then the header checksum: never verified */
    struct bw_bytes src = { fixed + 12, 4 };
    struct bw_bytes dst = { fixed + 16, 4 };
    if ((vihl >> 4) != 4)                       /* link layer said IPv4, the packet disagrees */
        return BW_DEC_MALFORMED;
    size_t ihl = (size_t)(vihl & 0x0f) * 4;
    if (total == 0 && ihl >= IPV4_MIN_HDR) {
        /* Captured on a host that hands segmentation to its NIC (TSO/GSO): the stack leaves the
         * length to the card. The captured bytes are all there is to go by. */
        st->ip_len_zero++;
        total = ip.len;
    }
    if (ihl < IPV4_MIN_HDR || total < ihl)      /* header or total length smaller than the header */
        return BW_DEC_MALFORMED;

    out->ip_ver = 4;
    memcpy(out->src, src.ptr, 4);
    memcpy(out->dst, dst.ptr, 4);
    /* The packet ends at its total length (Ethernet pads short frames) or where the capture
     * stopped, whichever comes first. */
    struct bw_cur c = bw_cur_init(ip.ptr, total < ip.len ? total : ip.len);
    out->l3 = ip.ptr;
    out->l3_len = c.len;

    if (ihl > IPV4_MIN_HDR)
        st->ip_options++;
    enum bw_decode_res why;
    if (!header_room(&c, total, ihl, &why))     /* options cut by snaplen (total >= ihl holds) */
        return why;
    bw_cur_skip(&c, ihl);                       /* options are skipped, never interpreted */
    if ((frag & 0x2000) || (frag & 0x1fff))     /* MF set or non-zero offset: part of a whole */
        return BW_DEC_FRAGMENT;
    if (proto != IPPROTO_NUM_TCP)
        return BW_DEC_NOT_TCP;
    return decode_tcp(&c, total, out);
}

/* Walks the extension header chain up to the upper-layer header (RFC 8200 §4). */
static enum bw_decode_res decode_ipv6(struct bw_bytes ip, struct bw_packet *out,
                                      struct bw_decode_stats *st)
{
    struct bw_cur h = bw_cur_init(ip.ptr, ip.len);
    uint32_t vtcfl = bw_cur_be32(&h);
    size_t plen = bw_cur_be16(&h);
    uint8_t nh = bw_cur_u8(&h);
    bw_cur_skip(&h, 1);                         /* hop limit */
    struct bw_bytes src = bw_cur_bytes(&h, 16);
    struct bw_bytes dst = bw_cur_bytes(&h, 16);
    if (h.bad)                                  /* fixed header cut by snaplen */
        return BW_DEC_TRUNCATED;
    if ((vtcfl >> 28) != 6)                     /* link layer said IPv6, the packet disagrees */
        return BW_DEC_MALFORMED;

    st->ipv6++;
    out->ip_ver = 6;
    memcpy(out->src, src.ptr, 16);
    memcpy(out->dst, dst.ptr, 16);
    size_t total = IPV6_HDR + plen;             /* a jumbogram (plen 0) fails the TCP room check */
    struct bw_cur c = bw_cur_init(ip.ptr, total < ip.len ? total : ip.len);
    out->l3 = ip.ptr;
    out->l3_len = c.len;
    bw_cur_skip(&c, IPV6_HDR);                  /* c.len >= 40: both ip.len and total are */

    enum bw_decode_res why;
    for (unsigned n = 0;; n++) {
        if (nh == IPPROTO_NUM_TCP)
            return decode_tcp(&c, total, out);
        if (nh != IP6_EXT_HOPOPTS && nh != IP6_EXT_ROUTING && nh != IP6_EXT_DSTOPTS &&
            nh != IP6_EXT_FRAGMENT && nh != IP6_EXT_AH)
            return BW_DEC_NOT_TCP;              /* UDP, ICMPv6, ESP (opaque), no-next-header, ... */
        if (n == BW_IPV6_EXT_MAX)               /* bounded work per packet */
            return BW_DEC_UNSUPPORTED;
        if (n == 0)
            st->ipv6_ext++;
        if (nh == IP6_EXT_HOPOPTS && n != 0)    /* §4.3: only right after the fixed header; */
            return BW_DEC_MALFORMED;            /* receivers drop it elsewhere, so must we */
        if (!header_room(&c, total, 2, &why))   /* next header + length byte */
            return why;
        uint8_t next = bw_cur_u8(&c);
        size_t len8 = bw_cur_u8(&c);
        size_t hlen;
        if (nh == IP6_EXT_FRAGMENT) {
            hlen = 8;                           /* fixed size; the second byte is reserved */
        } else if (nh == IP6_EXT_AH) {
            hlen = (len8 + 2) * 4;              /* RFC 4302 §2.2: 32-bit words, minus 2 */
        } else {
            hlen = (len8 + 1) * 8;              /* 8-octet units, not counting the first 8 */
        }
        if (!header_room(&c, total, hlen - 2, &why))
            return why;
        if (nh == IP6_EXT_FRAGMENT) {
            uint16_t offm = bw_cur_be16(&c);
            bw_cur_skip(&c, 4);                 /* identification */
            /* RFC 6946: offset 0 and M=0 is an atomic fragment, a whole packet; go on. */
            if ((offm & 0xfff8) || (offm & 0x0001))
                return BW_DEC_FRAGMENT;
        } else {
            bw_cur_skip(&c, hlen - 2);          /* options, addresses, ICV: not interpreted */
        }
        nh = next;
    }
}

/* The link layer named IP version `ver`; 0 means the version nibble decides (raw IP). */
static enum bw_decode_res decode_ip(const struct bw_cur *c, int ver, struct bw_packet *out,
                                    struct bw_decode_stats *st)
{
    struct bw_bytes ip = bw_cur_rest(c);
    if (ip.len == 0)
        return BW_DEC_TRUNCATED;
    if (ver == 0)
        ver = ip.ptr[0] >> 4;
    if (ver == 4)
        return decode_ipv4(ip, out, st);
    if (ver == 6)
        return decode_ipv6(ip, out, st);
    return BW_DEC_MALFORMED;                    /* raw IP with a version nibble that is neither */
}

static bool is_vlan_tpid(uint16_t type)
{
    return type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD;
}

/* An Ethernet type at the cursor's back, possibly stacked VLAN tags, then the network layer.
 * Shared by Ethernet and both cooked headers (libpcap re-inserts stripped tags into those too). */
static enum bw_decode_res decode_ethertype(struct bw_cur *c, uint16_t type, struct bw_packet *out,
                                           struct bw_decode_stats *st)
{
    while (is_vlan_tpid(type)) {
        if (out->vlan_depth == BW_VLAN_MAX)     /* cap the walk; deeper stacks are not ours */
            return BW_DEC_UNSUPPORTED;
        uint16_t tci = bw_cur_be16(c);
        type = bw_cur_be16(c);
        if (c->bad)
            return BW_DEC_TRUNCATED;
        if (out->vlan_depth == 0) {
            out->vlan_id = tci & 0x0fff;        /* outermost tag; PCP and DEI dropped */
            st->vlan_tagged++;
        }
        out->vlan_depth++;
    }
    switch (type) {
    case ETH_IPV4:
        return decode_ip(c, 4, out, st);
    case ETH_IPV6:
        return decode_ip(c, 6, out, st);
    case ETH_MPLS_UC:
    case ETH_MPLS_MC:
    case ETH_PPPOE:
        return BW_DEC_UNSUPPORTED;              /* may carry IP, but we do not peel these */
    default:
        return BW_DEC_NOT_IP;                   /* ARP, LLDP, 802.3 length field, ... */
    }
}

/* DLT_NULL holds the family in the capturing host's byte order, DLT_LOOP in network order, and
 * files travel between hosts: families are small, so a non-zero upper half means swapped. */
static enum bw_decode_res decode_null(struct bw_cur *c, struct bw_packet *out,
                                      struct bw_decode_stats *st)
{
    struct bw_cur peek = *c;
    uint32_t fam = bw_cur_be32(c);
    if (c->bad)
        return BW_DEC_TRUNCATED;
    if (fam & 0xffff0000u)
        fam = bw_cur_le32(&peek);
    switch (fam) {
    case BSD_AF_INET:
        return decode_ip(c, 4, out, st);
    case LINUX_AF_INET6:
    case NETBSD_AF_INET6:
    case FREEBSD_AF_INET6:
    case DARWIN_AF_INET6:
        return decode_ip(c, 6, out, st);
    default:
        return BW_DEC_NOT_IP;
    }
}

static enum bw_decode_res decode_link(int dlt, struct bw_cur *c, struct bw_packet *out,
                                      struct bw_decode_stats *st)
{
    uint16_t type;
    switch (dlt) {
    case BW_DLT_EN10MB:
        bw_cur_skip(c, 12);                     /* destination, source MAC */
        type = bw_cur_be16(c);
        break;
    case BW_DLT_LINUX_SLL:
        bw_cur_skip(c, SLL_HDR_LEN - 2);        /* packet type, ARPHRD, address length, address */
        type = bw_cur_be16(c);
        break;
    case BW_DLT_LINUX_SLL2:
        type = bw_cur_be16(c);
        bw_cur_skip(c, SLL2_HDR_LEN - 2);       /* reserved, ifindex, ARPHRD, type, address */
        break;
    case BW_DLT_NULL:
    case BW_DLT_LOOP:
        return decode_null(c, out, st);
    case BW_DLT_RAW:
    case BW_DLT_RAW_ALT:
    case BW_DLT_RAW101:
        return decode_ip(c, 0, out, st);
    case BW_DLT_IPV4:
        return decode_ip(c, 4, out, st);
    case BW_DLT_IPV6:
        return decode_ip(c, 6, out, st);
    default:
        return BW_DEC_UNSUPPORTED;
    }
    if (c->bad)                                 /* link header cut by snaplen */
        return BW_DEC_TRUNCATED;
    return decode_ethertype(c, type, out, st);
}

bool bw_decode_pair(int dlt, const uint8_t *data, size_t caplen, uint8_t *ip_ver, const uint8_t **a,
                    const uint8_t **b)
{
    if (dlt != BW_DLT_EN10MB) return false;
    struct bw_cur c = bw_cur_init(data, caplen);
    bw_cur_skip(&c, 12);                        /* MAC addresses */
    uint16_t type = bw_cur_be16(&c);
    for (int depth = 0; is_vlan_tpid(type) && depth < BW_VLAN_MAX; depth++) {
        bw_cur_skip(&c, 2);
        type = bw_cur_be16(&c);
    }
    const uint8_t *h;
    if (type == ETH_IPV4) {
        if (!bw_cur_take(&c, IPV4_MIN_HDR, &h)) return false;
        /* version 4, a valid header length, TCP, not a fragment */
        if ((h[0] >> 4) != 4 || (h[0] & 0x0f) < 5 || h[9] != IPPROTO_NUM_TCP || (h[6] & 0x3f) || h[7])
            return false;
        *ip_ver = 4;
        *a = h + 12;
        *b = h + 16;
        return true;
    }
    if (type == ETH_IPV6) {
        if (!bw_cur_take(&c, 40, &h)) return false;
        if ((h[0] >> 4) != 6 || h[6] != IPPROTO_NUM_TCP) return false;     /* extension headers: in full */
        *ip_ver = 6;
        *a = h + 8;
        *b = h + 24;
        return true;
    }
    return false;
}

bool bw_decode_dlt_supported(int dlt)
{
    switch (dlt) {
    case BW_DLT_NULL:
    case BW_DLT_EN10MB:
    case BW_DLT_RAW:
    case BW_DLT_RAW_ALT:
    case BW_DLT_RAW101:
    case BW_DLT_LOOP:
    case BW_DLT_LINUX_SLL:
    case BW_DLT_IPV4:
    case BW_DLT_IPV6:
    case BW_DLT_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

/* `out` is cleared first, so fields a non-TCP result did not reach read as zero. `st` may be
 * NULL when the caller keeps no counters. Exactly one result counter moves per non-TCP call;
 * vlan_tagged, ipv6, ip_options and ipv6_ext count what was seen on the way, whatever the result. */
enum bw_decode_res bw_decode_packet(int dlt, const uint8_t *data, size_t caplen, uint64_t ts_us,
                                    struct bw_packet *out, struct bw_decode_stats *st)
{
    struct bw_decode_stats discard;
    if (st == NULL) {
        memset(&discard, 0, sizeof discard);
        st = &discard;
    }
    /* Cleared by copying a zero packet: compilers make a memset of this size a `rep stos`, whose
     * start-up cost was most of a decode (every packet, on the reader's thread too). */
    static const struct bw_packet zero;
    memcpy(out, &zero, sizeof *out);
    out->ts_us = ts_us;
    struct bw_cur c = bw_cur_init(data, caplen);
    enum bw_decode_res res = decode_link(dlt, &c, out, st);
    switch (res) {
    case BW_DEC_TCP:         if (out->tcp_options_cut) st->tcp_options_cut++; break;
    case BW_DEC_NOT_IP:      st->not_ip++; break;
    case BW_DEC_NOT_TCP:     st->not_tcp++; break;
    case BW_DEC_FRAGMENT:    st->fragments++; break;
    case BW_DEC_TRUNCATED:   st->truncated++; break;
    case BW_DEC_MALFORMED:   st->malformed++; break;
    case BW_DEC_UNSUPPORTED: st->unsupported++; break;
    }
    return res;
}
