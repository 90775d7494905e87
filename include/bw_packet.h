/* bw_packet.h: the decode stage. Link layer + IPv4/IPv6 + TCP header -> struct bw_packet.
 * decode.c owns no state: input view in, packet view out, counters bumped.
 * Pointers in struct bw_packet borrow the capture buffer and die with it. */
#ifndef BW_PACKET_H
#define BW_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"

/* Link types, numbered as libpcap's DLT_* on Linux (capture.c passes pcap_datalink()). */
#define BW_DLT_NULL        0
#define BW_DLT_EN10MB      1
#define BW_DLT_RAW        12   /* DLT_RAW on Linux */
#define BW_DLT_RAW_ALT    14   /* DLT_RAW on some BSDs */
#define BW_DLT_LOOP      108
#define BW_DLT_RAW101    101   /* LINKTYPE_RAW as stored in files */
#define BW_DLT_LINUX_SLL 113
#define BW_DLT_IPV4      228
#define BW_DLT_IPV6      229
#define BW_DLT_LINUX_SLL2 276

#define BW_VLAN_MAX        4   /* deeper tag stacks are counted and skipped */
#define BW_IPV6_EXT_MAX    8   /* extension headers followed before giving up */

/* TCP flag bits as on the wire. */
#define BW_TCP_FIN 0x01
#define BW_TCP_SYN 0x02
#define BW_TCP_RST 0x04
#define BW_TCP_PSH 0x08
#define BW_TCP_ACK 0x10

enum bw_decode_res {
    BW_DEC_TCP = 0,       /* out is a TCP segment */
    BW_DEC_NOT_IP,        /* ARP, LLDP, ...: ignored */
    BW_DEC_NOT_TCP,       /* UDP, ICMP, ...: ignored */
    BW_DEC_FRAGMENT,      /* IPv4/IPv6 fragment: counted and skipped (brokers' TCP is not fragmented) */
    BW_DEC_TRUNCATED,     /* headers cut by snaplen */
    BW_DEC_MALFORMED,     /* a header lies (length, version, offset) */
    BW_DEC_UNSUPPORTED,   /* link type or stack we do not decode (too many VLAN tags, ...) */
};

struct bw_packet {
    uint64_t ts_us;               /* capture time, microseconds since the epoch */
    uint8_t  ip_ver;              /* 4 or 6 */
    uint8_t  vlan_depth;          /* 802.1Q / 802.1ad tags seen */
    uint16_t vlan_id;             /* outermost VLAN id, 0 if none */
    uint8_t  src[16], dst[16];    /* IPv4 uses the first 4 bytes, the rest is zero */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint16_t win;
    uint8_t  tcp_flags;           /* BW_TCP_* */
    const uint8_t *l3;            /* IP header onwards, for nDPI */
    size_t   l3_len;              /* captured bytes of the IP packet (bounded by its length field) */
    const uint8_t *payload;       /* TCP payload as captured */
    size_t   payload_len;         /* bytes of payload captured */
    size_t   seg_len;             /* payload length per the IP header; > payload_len when snaplen cut it */
    size_t   ip_len;              /* the IP packet's length per its header (captured, when the header
                                   * leaves it to segmentation offload); > l3_len when cut */
    bool     tcp_options_cut;     /* snaplen cut the TCP options: nothing of the payload captured */
};

struct bw_decode_stats {
    uint64_t not_ip, not_tcp, fragments, truncated, malformed, unsupported;
    uint64_t vlan_tagged, ipv6, ip_options, ipv6_ext;
    uint64_t ip_len_zero;         /* IPv4 total length 0 (segmentation offload): captured length used */
    uint64_t tcp_options_cut;     /* TCP options cut by snaplen: decoded, the payload all missing */
};

/* Decode one captured frame. `data`/`caplen` are the captured bytes, `dlt` the link type.
 * Returns a bw_decode_res; on BW_DEC_TCP `out` is filled, otherwise its content is undefined.
 * Never reads outside data[0..caplen). Bumps the matching counter in `st`. */
enum bw_decode_res bw_decode_packet(int dlt, const uint8_t *data, size_t caplen, uint64_t ts_us,
                                    struct bw_packet *out, struct bw_decode_stats *st);

/* The reader's quick look, to choose a worker: the address pair of an Ethernet frame (VLAN tags
 * peeled) whose IPv4 or IPv6 header leads straight to TCP, without a full decode. false for
 * anything else, and the caller decodes in full; when true, a full decode of a TCP packet gives
 * the same pair (a, b: views into data, 4 or 16 bytes by *ip_ver). */
bool bw_decode_pair(int dlt, const uint8_t *data, size_t caplen, uint8_t *ip_ver, const uint8_t **a,
                    const uint8_t **b);

/* True when decode.c knows this link type. */
bool bw_decode_dlt_supported(int dlt);

#endif
