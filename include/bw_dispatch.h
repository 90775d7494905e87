/* bw_dispatch.h: choosing a dissector for a flow and feeding it.
 * Choice: nDPI's hint first, then every dissector's probe over the first bytes of a direction.
 * Feeding: one call into the dissector, its answer mapped onto the stream layer's contract.
 * Pure functions over the dissector table; no flow table, no I/O. */
#ifndef BW_DISPATCH_H
#define BW_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_dissector.h"
#include "bw_flow.h"

#define BW_PROBE_CLAIM   80     /* a probe at or above this claims the flow at once */

enum bw_choice { BW_CHOICE_WAIT, BW_CHOICE_FOUND, BW_CHOICE_NONE };

/* Run the probes on the first `len` bytes of `dir`. `hint` = index of the dissector nDPI named
 * (-1 none); it claims with a lower score. `final` = no more bytes will come for probing.
 * FOUND sets *chosen. WAIT = some probe wants more bytes. NONE = nobody recognizes them. */
enum bw_choice bw_dispatch_choose(const struct bw_dissector *const *tab, size_t n, enum bw_dir dir,
                                  const uint8_t *buf, size_t len, int hint, bool final, size_t *chosen);

/* Index of the dissector called `name` (the first if several share it), -1 if none. */
int bw_dispatch_find(const struct bw_dissector *const *tab, size_t n, const char *name);

/* Start a session's dissector (zeroes its state, calls reset). */
void bw_dispatch_attach(struct bw_session *s, const struct bw_dissector *d);

/* Feed bytes to the session's dissector. Returns what the stream layer expects from its data
 * callback: bytes consumed (0 = need more, > len = skip) or BW_STREAM_STOP (direction finished;
 * s->dir_done[dir] set). Keeps s->consumed[dir] (bytes the dissector took, skips included; a DONE
 * counts what it read) and s->rejected[dir] (MALFORMED before any byte was taken). */
size_t bw_dispatch_feed(struct bw_session *s, enum bw_dir dir, const uint8_t *buf, size_t len);

/* The bytes last offered to `dir` will never be completed: the dissector's partial() look. */
void bw_dispatch_partial(struct bw_session *s, enum bw_dir dir, const uint8_t *buf, size_t len);

/* A hole in `dir`. Returns false when the dissector gives that direction up. */
bool bw_dispatch_gap(struct bw_session *s, enum bw_dir dir);

#endif
