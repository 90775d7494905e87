/* bw_cursor.h: bounds-checked reading of untrusted bytes.
 * The error flag is sticky: after one short read every read returns 0, so a parser reads
 * straight through and checks `bad` once. Lengths are compared, never end pointers. */
#ifndef BW_CURSOR_H
#define BW_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bw_bytes { const uint8_t *ptr; size_t len; };           /* borrowed view */
struct bw_cur   { const uint8_t *base; size_t len, off; bool bad; };

/* Big-endian fields of bytes a bw_cur_take() has already vouched for (compilers make each one
 * load and a byte swap). */
static inline uint16_t bw_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t bw_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t bw_be64(const uint8_t *p) { return ((uint64_t)bw_be32(p) << 32) | bw_be32(p + 4); }

static inline struct bw_cur bw_cur_init(const uint8_t *p, size_t len)
{ struct bw_cur c = { p, len, 0, false }; return c; }

static inline size_t bw_cur_left(const struct bw_cur *c)
{ return c->bad ? 0 : c->len - c->off; }

/* The single place that decides whether n more bytes exist. */
static inline bool bw_cur_take(struct bw_cur *c, size_t n, const uint8_t **out)
{
    if (c->bad || n > c->len - c->off) { c->bad = true; *out = NULL; return false; }
    *out = c->base + c->off;
    c->off += n;
    return true;
}

static inline bool bw_cur_skip(struct bw_cur *c, size_t n)
{ const uint8_t *p; return bw_cur_take(c, n, &p); }

static inline uint8_t bw_cur_u8(struct bw_cur *c)
{ const uint8_t *p; return bw_cur_take(c, 1, &p) ? p[0] : 0; }

static inline uint16_t bw_cur_be16(struct bw_cur *c)
{
    const uint8_t *p;
    return bw_cur_take(c, 2, &p) ? bw_be16(p) : 0;
}

static inline uint16_t bw_cur_le16(struct bw_cur *c)
{
    const uint8_t *p;
    if (!bw_cur_take(c, 2, &p)) return 0;
    return (uint16_t)((p[1] << 8) | p[0]);
}

static inline uint32_t bw_cur_be32(struct bw_cur *c)
{
    const uint8_t *p;
    return bw_cur_take(c, 4, &p) ? bw_be32(p) : 0;
}

static inline uint32_t bw_cur_le32(struct bw_cur *c)
{
    const uint8_t *p;
    if (!bw_cur_take(c, 4, &p)) return 0;
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static inline uint64_t bw_cur_be64(struct bw_cur *c)
{
    uint64_t hi = bw_cur_be32(c);
    return (hi << 32) | bw_cur_be32(c);
}

static inline struct bw_bytes bw_cur_bytes(struct bw_cur *c, size_t n)
{ struct bw_bytes b = { NULL, 0 }; if (bw_cur_take(c, n, &b.ptr)) b.len = n; return b; }

/* Window over the next n bytes. The parent skips them. A lying length poisons both. */
static inline struct bw_cur bw_cur_sub(struct bw_cur *c, size_t n)
{
    const uint8_t *p;
    if (!bw_cur_take(c, n, &p)) { struct bw_cur dead = { NULL, 0, 0, true }; return dead; }
    return bw_cur_init(p, n);
}

/* Bytes not yet read, without consuming them. */
static inline struct bw_bytes bw_cur_rest(const struct bw_cur *c)
{
    struct bw_bytes b = { NULL, 0 };
    if (!c->bad) { b.ptr = c->base + c->off; b.len = c->len - c->off; }
    return b;
}

#endif
