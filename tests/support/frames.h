/* frames.h: build Ethernet/IPv4/IPv6 + TCP frames for pipeline tests. */
#ifndef BW_TEST_FRAMES_H
#define BW_TEST_FRAMES_H

#include <stddef.h>
#include <stdint.h>

struct tcp_ep { uint8_t ip[16]; uint16_t port; int ver; };

/* Writes an Ethernet frame into out (cap bytes) and returns its length (0 if it did not fit). */
size_t frame_tcp(uint8_t *out, size_t cap, const struct tcp_ep *src, const struct tcp_ep *dst,
                 uint32_t seq, uint32_t ack, uint8_t flags, const void *payload, size_t plen);

struct tcp_ep ep4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);

#endif
