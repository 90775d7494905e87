/* bw_known.h: servers known in this run to speak a broker protocol (a confirmed session seen from
 * its handshake). Their TLS sessions are broker sessions too (by address), and with no SYN seen
 * the endpoint (address and port) is the server. This is the one piece of state that spans the
 * workers: each worker owns the flows of its address pairs, but a server's clients are spread
 * over all of them. So the table is shared, written rarely (a server not known yet, or known as
 * another protocol: a session of a server already held is only read) and read
 * once per new flow: every slot is a small seqlock of atomic words, so readers never block and
 * never see half an entry (a slot being rewritten reads as empty). One slot per hash: the newest
 * server wins. With several workers, a worker learns of a broker when the worker that saw it has
 * got that far, which may be a little later in packet time than one worker would. */
#ifndef BW_KNOWN_H
#define BW_KNOWN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BW_KNOWN_BROKERS 4096

struct bw_known_slot {
    _Atomic uint32_t seq;              /* odd while a writer is inside */
    _Atomic uint64_t w[3];             /* ip[0..8), ip[8..16), ip_ver | app << 8 | port << 16 */
};

struct bw_known {
    struct bw_known_slot addr[BW_KNOWN_BROKERS];   /* by server address (apps only: TLS) */
    struct bw_known_slot ep[BW_KNOWN_BROKERS];     /* by server address and port (orientation) */
};

/* Zeroed memory is an empty table; this says so for readers of the code. */
void bw_known_init(struct bw_known *k);
/* The server end of a confirmed session (ip: 16 bytes, IPv4 in the first 4). app 0: it spoke
 * some dissector's protocol but not MQTT or AMQP, so only the endpoint is remembered. */
void bw_known_remember(struct bw_known *k, uint8_t ip_ver, const uint8_t *ip, uint16_t port, uint8_t app);
/* Is this endpoint a server seen in this run? */
bool bw_known_endpoint(const struct bw_known *k, uint8_t ip_ver, const uint8_t *ip, uint16_t port);
/* The broker protocol (enum bw_app) this address spoke in clear, 0 if none known. */
uint8_t bw_known_app(const struct bw_known *k, uint8_t ip_ver, const uint8_t *ip);

#endif
