/* bw_strbuf.h: a short string built in a caller's fixed buffer, for the one-line summaries of
 * the record path (no printf family there). Always NUL-terminated; what does not fit is cut,
 * like snprintf. */
#ifndef BW_STRBUF_H
#define BW_STRBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct bw_strbuf {
    char  *p;
    size_t cap, n;         /* n < cap always (cap >= 1) */
};

static inline void bw_sb_init(struct bw_strbuf *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->n = 0;
    if (cap) p[0] = '\0';
}

static inline void bw_sb_putn(struct bw_strbuf *b, const char *s, size_t len)
{
    if (!b->cap) return;
    size_t room = b->cap - 1 - b->n;
    if (len > room) len = room;
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static inline void bw_sb_put(struct bw_strbuf *b, const char *s) { bw_sb_putn(b, s, strlen(s)); }

static inline void bw_sb_u64(struct bw_strbuf *b, uint64_t v)
{
    char tmp[20], *e = tmp + sizeof tmp, *d = e;
    do { *--d = (char)('0' + v % 10); v /= 10; } while (v);
    bw_sb_putn(b, d, (size_t)(e - d));
}

static inline void bw_sb_i64(struct bw_strbuf *b, int64_t v)
{
    if (v < 0) bw_sb_putn(b, "-", 1);
    bw_sb_u64(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

#endif
