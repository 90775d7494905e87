/* dissector_driver.h: feeds a dissector the way the stream layer does, for unit tests:
 * unconsumed bytes are kept and offered again with more appended, *used > len skips bytes still
 * to come, DONE/MALFORMED stop a direction, every parse call gets an exact-size heap copy (ASan
 * sees one-byte over-reads). Scripts replay a session as messages, split at every offset or cut
 * at every prefix. Include after check.h (failures count in the including test). */
#ifndef BW_DISSECTOR_DRIVER_H
#define BW_DISSECTOR_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_dissector.h"
#include "bw_facts.h"
#include "check.h"
struct drv {
    const struct bw_dissector *d;
    _Alignas(16) uint8_t st[BW_DISSECTOR_STATE_MAX];
    struct bw_facts f;
    uint8_t  pend[2][16384];
    size_t   have[2];
    uint64_t skip[2];
    bool     stop[2];
    enum bw_parse last[2];
    unsigned calls;
};

static inline struct drv *drv_new(const struct bw_dissector *d)
{
    struct drv *v = calloc(1, sizeof *v);
    v->d = d;
    bw_facts_init(&v->f);
    d->reset(v->st);
    v->last[0] = v->last[1] = BW_PARSE_NEED_MORE;
    return v;
}

static inline enum bw_parse parse_copy(struct drv *v, enum bw_dir dir, const uint8_t *p, size_t n,
                                size_t *used)
{
    uint8_t *c = malloc(n ? n : 1);               /* exact size: ASan sees one byte past */
    if (n) memcpy(c, p, n);
    enum bw_parse r = v->d->parse(v->st, dir, c, n, used, &v->f);
    free(c);
    return r;
}

static inline void drv_feed(struct drv *v, enum bw_dir dir, const uint8_t *p, size_t n)
{
    if (v->stop[dir]) return;
    size_t k = v->skip[dir] < n ? (size_t)v->skip[dir] : n;    /* honour *used > len skips */
    v->skip[dir] -= k;
    p += k; n -= k;
    if (n > sizeof v->pend[dir] - v->have[dir]) { CHECK(!"driver buffer too small"); return; }
    memcpy(v->pend[dir] + v->have[dir], p, n);
    v->have[dir] += n;
    while (v->have[dir] > 0 && !v->stop[dir]) {
        size_t used = 0;
        enum bw_parse r = parse_copy(v, dir, v->pend[dir], v->have[dir], &used);
        v->calls++;
        v->last[dir] = r;
        if (r == BW_PARSE_OK && used == 0) { CHECK(!"OK without progress"); v->stop[dir] = true; break; }
        if (used > v->have[dir]) { v->skip[dir] = used - v->have[dir]; used = v->have[dir]; }
        memmove(v->pend[dir], v->pend[dir] + used, v->have[dir] - used);
        v->have[dir] -= used;
        if (r == BW_PARSE_DONE || r == BW_PARSE_MALFORMED) v->stop[dir] = true;
        if (r != BW_PARSE_OK) break;
    }
}

static inline void drv_gap(struct drv *v, enum bw_dir dir)
{
    if (v->stop[dir]) return;
    v->have[dir] = 0;
    v->skip[dir] = 0;
    if (v->d->gap(v->st, dir, &v->f) != BW_PARSE_OK) v->stop[dir] = true;
}


/* ---- scripts: a session as a list of messages ---- */

#define MSG_MAX 16
struct script {
    unsigned n;
    struct { enum bw_dir dir; size_t off, len; } m[MSG_MAX];
    uint8_t data[32768];
    size_t used;
};

static inline void script_add(struct script *s, enum bw_dir dir, const uint8_t *p, size_t n)
{
    if (s->n >= MSG_MAX || n > sizeof s->data - s->used) { CHECK(!"script too long"); return; }
    s->m[s->n].dir = dir;
    s->m[s->n].off = s->used;
    s->m[s->n].len = n;
    memcpy(s->data + s->used, p, n);
    s->used += n;
    s->n++;
}

/* Play the script; message `split` is delivered in two pieces cut at `at`. */
static inline struct drv *sc_run_with(const struct bw_dissector *d, const struct script *s, unsigned split, size_t at)
{
    struct drv *v = drv_new(d);
    for (unsigned i = 0; i < s->n && i < MSG_MAX; i++) {
        const uint8_t *p = s->data + s->m[i].off;
        size_t len = s->m[i].len;
        if (i == split) {
            drv_feed(v, s->m[i].dir, p, at);
            drv_feed(v, s->m[i].dir, p + at, len - at);
        } else {
            drv_feed(v, s->m[i].dir, p, len);
        }
    }
    return v;
}

/* Every message cut in two at every offset gives the facts of the unsplit run. */
static inline void split_sweep_with(const struct bw_dissector *d, const struct script *s, const char *what)
{
    struct drv *ref = sc_run_with(d, s, MSG_MAX, 0);
    unsigned bad = 0;
    size_t runs = 0, want = 0;
    for (unsigned i = 0; i < s->n && i < MSG_MAX; i++)
        for (size_t at = 0; at <= s->m[i].len; at++) {
            struct drv *v = sc_run_with(d, s, i, at);
            runs++;
            if (memcmp(&v->f, &ref->f, sizeof v->f) != 0) {
                if (!bad) fprintf(stderr, "split %s: message %u at %zu differs\n", what, i, at);
                bad++;
            }
            free(v);
        }
    for (unsigned i = 0; i < s->n && i < MSG_MAX; i++) want += s->m[i].len + 1;
    CHECK_EQ(runs, want);
    CHECK(runs > 100);
    CHECK_EQ(bad, 0);
    free(ref);
}

/* Every proper prefix of message `m` (one header or one frame), parsed after the messages
 * before it, is NEED_MORE with nothing consumed; the whole message is consumed exactly. */
static inline void trunc_sweep_with(const struct bw_dissector *d, const struct script *s, unsigned m, enum bw_parse whole)
{
    struct drv *v = drv_new(d);
    for (unsigned i = 0; i < m && i < MSG_MAX; i++) drv_feed(v, s->m[i].dir, s->data + s->m[i].off, s->m[i].len);
    CHECK(!v->stop[s->m[m].dir]);
    CHECK_EQ(v->have[s->m[m].dir], 0);
    unsigned bad = 0;
    for (size_t k = 0; k <= s->m[m].len; k++) {
        struct drv *w = malloc(sizeof *w);
        memcpy(w, v, sizeof *w);
        size_t used = 12345;
        enum bw_parse r = parse_copy(w, s->m[m].dir, s->data + s->m[m].off, k, &used);
        if (k < s->m[m].len && (r != BW_PARSE_NEED_MORE || used != 0)) {
            if (!bad) fprintf(stderr, "trunc msg %u prefix %zu: r=%d used=%zu\n", m, k, r, used);
            bad++;
        }
        if (k == s->m[m].len) { CHECK_EQ(r, whole); CHECK_EQ(used, k); }
        free(w);
    }
    CHECK_EQ(bad, 0);
    free(v);
}

#endif
