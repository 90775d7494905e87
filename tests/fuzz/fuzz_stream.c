/* fuzz_stream.c: libFuzzer harness for TCP reassembly (sensor/stream.c).
 * The input is a script of segment / ack / flush / start operations (each one also a packet for
 * bw_stream_tick, its top bits moving packet time; all three set toggles bw_stream_hold) on four
 * directions sharing a 3-buffer pool of 4096-byte windows. Segment bytes are a function of their
 * sequence number (plain or altered), so the consumer checks each delivered byte is the first
 * copy offered, in order, never twice; pool and direction invariants are checked after every
 * operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_stream.h"

#define WIN   4096
#define NBUF  3
#define NDIR  4

#define FZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

/* First copies: which copy (plain or altered) of each stream byte was offered first, as
 * sorted, disjoint intervals of absolute consumer positions (bytes since the direction
 * started, delivered or not). Only bytes the stream must keep are recorded. */
#define NIV 4096
struct iv { uint64_t a, b; bool alter; };
static struct iv ivs[NDIR][NIV];
static struct iv iv_tmp[2 * NIV + 2];

struct fz_dir {
    struct bw_stream_dir d;
    struct iv *iv;           /* first copies, see above */
    size_t   niv;
    bool     iv_full;        /* too many intervals: first-copy checks are off until a restart */
    uint32_t front;          /* end of the furthest segment offered */
    uint32_t pos;            /* consumer: sequence number of the next byte it expects */
    uint64_t abs;            /* consumer: absolute position of that byte */
    uint64_t last_end;       /* consumer: absolute end of the last delivered range */
    size_t   pending;        /* consumer: length of the offer it refused last, 0 if none */
    size_t   expect;         /* consumer: the next offer must be exactly this long (0 = any) */
    bool     said_stop;      /* consumer returned STOP or refused a gap */
    bool     flushing;       /* inside bw_stream_flush: the held bytes get a last offer */
    bool     restarted;      /* bw_stream_start() may have kept an empty buffer attached */
    uint64_t rng;
};

static uint8_t content(uint32_t seq)
{
    uint32_t x = seq * 2654435761u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (uint8_t)x;
}

static uint64_t next_rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Record [a, b) as offered with `alter`, keeping earlier copies where they overlap. */
static void iv_add(struct fz_dir *f, uint64_t a, uint64_t b, bool alter)
{
    if (a < f->abs)
        a = f->abs;
    if (f->iv_full || a >= b)
        return;
    size_t no = 0;
    uint64_t x = a;
    for (size_t i = 0; i < f->niv; i++) {
        struct iv v = f->iv[i];
        if (v.b > x && v.a > x && x < b) {   /* uncovered stretch before v */
            uint64_t e = v.a < b ? v.a : b;
            iv_tmp[no++] = (struct iv){ x, e, alter };
            x = e;
        }
        iv_tmp[no++] = v;
        if (v.b > x && v.a <= x)
            x = v.b;
    }
    if (x < b)
        iv_tmp[no++] = (struct iv){ x, b, alter };
    size_t n = 0;                             /* merge neighbours from the same copy */
    for (size_t i = 0; i < no; i++) {
        if (n > 0 && iv_tmp[n - 1].b == iv_tmp[i].a && iv_tmp[n - 1].alter == iv_tmp[i].alter)
            iv_tmp[n - 1].b = iv_tmp[i].b;
        else
            iv_tmp[n++] = iv_tmp[i];
    }
    if (n > NIV) {
        f->iv_full = true;
        return;
    }
    memcpy(f->iv, iv_tmp, n * sizeof *f->iv);
    f->niv = n;
}

/* The consumer passed everything before f->abs: those records can never be looked up again. */
static void iv_trim(struct fz_dir *f)
{
    size_t k = 0;
    while (k < f->niv && f->iv[k].b <= f->abs)
        k++;
    memmove(f->iv, f->iv + k, (f->niv - k) * sizeof *f->iv);
    f->niv -= k;
}

static size_t fz_data(void *ctx, const uint8_t *buf, size_t len)
{
    struct fz_dir *f = ctx;
    FZ_ASSERT(!f->said_stop);                 /* nothing after STOP */
    FZ_ASSERT(len > 0);
    FZ_ASSERT(f->d.next_seq == f->pos);       /* the stream agrees where these bytes start */
    if (f->flushing && f->pending) {          /* the last offer: the same refused bytes, again */
        FZ_ASSERT(len == f->pending);
        return 0;
    }
    if (f->expect)                            /* a partial take is followed by the rest, at once */
        FZ_ASSERT(len == f->expect);
    if (f->pending)                           /* refused bytes come back only with more appended */
        FZ_ASSERT(len > f->pending);
    iv_trim(f);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        uint64_t at = f->abs + i;
        while (j < f->niv && f->iv[j].b <= at)
            j++;
        uint8_t want = content(f->pos + (uint32_t)i);
        if (f->iv_full) {
            FZ_ASSERT(buf[i] == want || buf[i] == (uint8_t)(want ^ 0xA5));
            continue;
        }
        FZ_ASSERT(j < f->niv && f->iv[j].a <= at);   /* every delivered byte was offered */
        FZ_ASSERT(buf[i] == (uint8_t)(want ^ (f->iv[j].alter ? 0xA5 : 0)));  /* first copy wins */
    }
    uint64_t r = next_rnd(&f->rng);
    size_t used;
    switch (r % 16) {
    case 0: case 1: case 2: case 3: used = len; break;
    case 4: case 5: case 6: used = 0; break;
    case 7: case 8: case 9: case 10: used = 1 + (size_t)((r >> 8) % len); break;
    case 11: case 12: used = len + 1 + (size_t)((r >> 8) % 3000); break;
    case 13: used = len + (size_t)((r >> 8) % ((uint64_t)1 << 31)); break;
    case 14: used = (r >> 8) % 64 == 0 ? BW_STREAM_STOP : len; break;
    default: used = len < 40 ? 0 : 40; break;
    }
    f->expect = 0;
    if (used == BW_STREAM_STOP) {
        f->said_stop = true;
        return used;
    }
    if (used == 0) {
        f->pending = len;
        return 0;
    }
    size_t take = used < len ? used : len;
    FZ_ASSERT(f->abs >= f->last_end);         /* delivered ranges only move forward */
    f->last_end = f->abs + take;
    f->pending = 0;
    if (used < len)
        f->expect = len - used;
    f->pos += (uint32_t)used;
    f->abs += used;
    return used;
}

/* The last look at refused bytes that will never be completed: exactly the refused offer. */
static void fz_cut(void *ctx, const uint8_t *buf, size_t len)
{
    struct fz_dir *f = ctx;
    FZ_ASSERT(!f->said_stop);
    FZ_ASSERT(buf != NULL && len > 0);
    FZ_ASSERT(len == f->pending);             /* the bytes the consumer asked more for, no other */
    FZ_ASSERT(f->d.next_seq == f->pos);       /* ... starting where the consumer stands */
    for (size_t i = 0; i < len; i++) {
        uint8_t want = content(f->pos + (uint32_t)i);
        FZ_ASSERT(buf[i] == want || buf[i] == (uint8_t)(want ^ 0xA5));
    }
}

static bool fz_gap(void *ctx, uint64_t len)
{
    struct fz_dir *f = ctx;
    FZ_ASSERT(!f->said_stop);
    FZ_ASSERT(f->expect == 0);                /* never in the middle of a partial take */
    FZ_ASSERT(len > 0 && len < ((uint64_t)1 << 32));
    f->pos += (uint32_t)(f->pending + len);  /* refused bytes are dropped before a hole */
    f->abs += f->pending + len;
    f->pending = 0;
    if (next_rnd(&f->rng) % 32 == 0) {
        f->said_stop = true;
        return false;
    }
    return true;
}

static void check_dir(const struct bw_stream_pool *p, const struct fz_dir *f)
{
    const struct bw_stream_dir *d = &f->d;
    FZ_ASSERT(d->held <= WIN);
    FZ_ASSERT(d->nooo <= BW_STREAM_RANGES_MAX);
    uint32_t prev = d->held;
    for (uint8_t i = 0; i < d->nooo; i++) {
        FZ_ASSERT(d->ooo[i].start > prev);    /* a real hole before every range */
        FZ_ASSERT(d->ooo[i].end > d->ooo[i].start);
        prev = d->ooo[i].end;
    }
    FZ_ASSERT(prev <= WIN);
    FZ_ASSERT((uint64_t)d->head + prev <= WIN);
    bool holds = d->held > 0 || d->nooo > 0;
    if (!f->restarted)
        FZ_ASSERT(holds == (d->buf_idx != 0)); /* a buffer exactly while bytes are held */
    else
        FZ_ASSERT(!holds || d->buf_idx != 0);
    FZ_ASSERT(d->buf_idx <= p->nbufs);
    if (d->skip > 0 || d->stopped)
        FZ_ASSERT(!holds);
    if (f->said_stop)
        FZ_ASSERT(d->stopped);
    if (d->init && !d->stopped)               /* stream and consumer agree on the position */
        FZ_ASSERT(d->next_seq + (uint32_t)d->skip == f->pos);
}

static void check_pool(const struct bw_stream_pool *p, const struct fz_dir *fd)
{
    uint64_t used = 0;
    for (int i = 0; i < NDIR; i++) {
        check_dir(p, &fd[i]);
        if (fd[i].d.buf_idx) {
            used++;
            for (int j = 0; j < i; j++)
                FZ_ASSERT(fd[j].d.buf_idx != fd[i].d.buf_idx);
        }
    }
    FZ_ASSERT(used == p->st.buffers_in_use);
    FZ_ASSERT(p->nfree + used == p->nbufs);
    FZ_ASSERT(p->st.buffers_hwm >= used && p->st.buffers_hwm <= NBUF);
}

static void consumer_start(struct fz_dir *f, uint32_t next)
{
    f->niv = 0;
    f->iv_full = false;
    f->pos = next;
    f->pending = 0;
    f->expect = 0;
    f->said_stop = false;
}

static void do_segment(struct bw_stream_pool *p, struct fz_dir *f, uint32_t seq, size_t len,
                       size_t seg_len, bool alter, const struct bw_stream_cb *cb)
{
    uint8_t *b = malloc(len ? len : 1);      /* exact size: ASan sees any overread */
    if (!b)
        return;
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(content(seq + (uint32_t)i) ^ (alter ? 0xA5 : 0));
    if (!f->d.init)
        consumer_start(f, seq);               /* midstream pickup starts at this segment */
    if (!f->d.stopped) {
        /* The stream keeps byte i when its offset from next_seq, taken from the segment's
         * start, is at least the pending skip; the consumer's position is next_seq + skip. */
        uint32_t next = f->d.init ? f->d.next_seq : seq;
        int64_t rel = (int32_t)(seq - next);
        int64_t from = rel > (int64_t)f->d.skip ? rel : (int64_t)f->d.skip;
        if (rel + (int64_t)len > from)
            iv_add(f, f->abs + (uint64_t)(from - (int64_t)f->d.skip),
                   f->abs + (uint64_t)(rel + (int64_t)len - (int64_t)f->d.skip), alter);
    }
    bw_stream_segment(p, &f->d, seq, len ? b : NULL, len, seg_len, cb);
    free(b);
    uint32_t e = seq + (uint32_t)seg_len;
    if ((int32_t)(e - f->front) > 0)
        f->front = e;
}

static void do_flush(struct bw_stream_pool *p, struct fz_dir *f, const struct bw_stream_cb *cb)
{
    if (f->d.hold && f->d.init && !f->d.stopped)  /* what the flush does first: a usual offer */
        bw_stream_hold(p, &f->d, false, cb);
    f->flushing = true;
    bw_stream_flush(p, &f->d, cb);
    f->flushing = false;
    FZ_ASSERT(f->d.buf_idx == 0);
    if (!f->d.stopped) {                      /* refused bytes end with the flush */
        f->pos += (uint32_t)f->pending;
        f->abs += f->pending;
    }
    f->pending = 0;
    f->restarted = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    struct bw_stream_pool p;
    if (bw_stream_pool_init(&p, NBUF * WIN, WIN) != 0)
        return 0;
    struct fz_dir fd[NDIR];
    struct bw_stream_cb cb[NDIR];
    memset(fd, 0, sizeof fd);
    uint32_t isn = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
    uint64_t seed = (uint64_t)data[4] << 24 | (uint64_t)data[5] << 16 | (uint64_t)data[6] << 8 | data[7];
    for (int i = 0; i < NDIR; i++) {
        fd[i].iv = ivs[i];
        fd[i].front = isn + (uint32_t)i * 0x40000000u;
        fd[i].rng = (seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i;
        cb[i] = (struct bw_stream_cb){ fz_data, fz_gap, &fd[i], fz_cut };
    }
    size_t at = 8;
    uint64_t now = 0;                        /* packet time: the top bits of each op move it */
    while (at < size) {
        uint8_t op = data[at++];
        int k = op & 3;
        struct fz_dir *f = &fd[k];
        now += (uint64_t)(op >> 5) * 40000u;
        bw_stream_tick(&p, &f->d, now, &cb[k]);  /* a packet: an ack's wait may end here */
        if ((op >> 5) == 7 && f->d.init)          /* hold or resume (the other side waits) */
            bw_stream_hold(&p, &f->d, !f->d.hold, &cb[k]);
        f->rng ^= (uint64_t)op << 32;         /* the input steers the consumer too */
        switch ((op >> 2) & 7) {
        case 0: case 1: case 2: case 3: case 7: {   /* segment: delta(2) len(1) flags(1) */
            if (size - at < 4) { at = size; break; }
            int16_t delta = (int16_t)(data[at] << 8 | data[at + 1]);
            size_t len = data[at + 2];
            uint8_t fl = data[at + 3];
            at += 4;
            static const size_t scale[4] = { 1, 3, 9, 17 };
            len *= scale[fl & 3];
            size_t seg_len = len;
            if (fl & 4)                       /* snaplen cut */
                seg_len += 1 + (size_t)(fl >> 4) * 37;
            int64_t off = ((op >> 2) & 7) == 7 ? (int64_t)delta * 16384 : delta;
            do_segment(&p, f, f->front + (uint32_t)off, len, seg_len, (fl & 8) != 0, &cb[k]);
            f->restarted = false;
            break;
        }
        case 4: {                                    /* ack: delta(2) */
            if (size - at < 2) { at = size; break; }
            int16_t delta = (int16_t)(data[at] << 8 | data[at + 1]);
            at += 2;
            bw_stream_ack(&p, &f->d, f->front + (uint32_t)delta, now, &cb[k]);
            f->restarted = false;
            break;
        }
        case 5:                                      /* flush */
            do_flush(&p, f, &cb[k]);
            break;
        case 6: {                                    /* start again: flags(1) */
            if (size - at < 1) { at = size; break; }
            uint8_t fl = data[at++];
            if (fl & 1)
                bw_stream_release(&p, &f->d);
            uint32_t seq = f->front + (uint32_t)(fl >> 2);
            bw_stream_start(&f->d, seq, (fl & 2) != 0);
            consumer_start(f, f->d.next_seq);
            f->restarted = true;
            break;
        }
        }
        check_pool(&p, fd);
    }
    for (int i = 0; i < NDIR; i++)
        do_flush(&p, &fd[i], &cb[i]);
    check_pool(&p, fd);
    FZ_ASSERT(p.st.buffers_in_use == 0);
    for (int i = 0; i < NDIR; i++)
        bw_stream_release(&p, &fd[i].d);
    FZ_ASSERT(p.st.buffers_in_use == 0 && p.nfree == p.nbufs);
    bw_stream_pool_free(&p);
    return 0;
}
