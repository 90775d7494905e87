/* fuzz_probe.c: libFuzzer harness for probe slots (sensor/probe.c).
 * The input is a script of operations on one direction: place a segment (sequence number near a
 * start, length), learn the ISN, fix the start (a probe judged it), build the probes' view.
 * Segment bytes are a function of their sequence number, so after every operation each held
 * byte must be the byte of its sequence number, the in-order length must match the held bytes,
 * the view must be those bytes in order (continued by the segment), and the replay runs must
 * cover exactly the held bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_probe.h"

#define FZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

static uint8_t content(uint32_t seq)
{
    uint32_t x = seq * 2654435761u;
    x ^= x >> 15;
    x *= 2246822519u;
    return (uint8_t)(x ^ (x >> 13));
}

static uint8_t seg[2048], scratch[600];

static void check(const struct bw_probe_dir *d)
{
    size_t held = 0, run = 0, off = 0, start, len;
    bool in_order = true;
    for (size_t i = 0; i < BW_PROBE_BYTES; i++) {
        bool f = (d->map[i >> 6] >> (i & 63)) & 1u;
        if (f) {
            FZ_ASSERT(d->flags & BW_PD_BASE);
            FZ_ASSERT(d->data[i] == content(d->base + (uint32_t)i));
            held++;
            if (in_order) run++;
        } else {
            in_order = false;
        }
    }
    FZ_ASSERT(run == d->len);
    FZ_ASSERT(held == bw_probe_dir_held(d));
    size_t covered = 0, last_end = 0;
    while (bw_probe_dir_next_run(d, &off, &start, &len)) {
        FZ_ASSERT(len > 0 && start >= last_end && start + len <= BW_PROBE_BYTES);
        last_end = start + len;
        covered += len;
    }
    FZ_ASSERT(covered == held);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bw_probe_dir d;
    memset(&d, 0, sizeof d);
    uint32_t origin = size >= 4 ? (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3] : 0;
    size_t i = size >= 4 ? 4 : size;
    while (i + 4 <= size) {
        uint8_t op = data[i];
        int16_t rel = (int16_t)(data[i + 1] << 8 | data[i + 2]);
        size_t n = (size_t)data[i + 3] * 4;                     /* 0 .. 1020 bytes */
        i += 4;
        uint32_t seq = origin + (uint32_t)(int32_t)(rel % 400);
        switch (op % 4) {
        case 0: case 1: {
            for (size_t k = 0; k < n; k++) seg[k] = content(seq + (uint32_t)k);
            /* exact-size copy: ASan sees any read past the segment */
            uint8_t *p = n ? malloc(n) : NULL;
            if (n) memcpy(p, seg, n);
            bool fixed = d.flags & (BW_PD_ISN | BW_PD_FIXED);
            bool over = bw_probe_dir_overflows(&d, seq, n);
            bw_probe_dir_place(&d, seq, p, n);
            /* bytes past the slot are never silently dropped */
            if (n && bw_probe_dir_overflows(&d, seq, n)) FZ_ASSERT(d.flags & BW_PD_LOST);
            /* a fixed start does not move, so the answer given before placing stays true */
            if (fixed) FZ_ASSERT(over == bw_probe_dir_overflows(&d, seq, n));
            struct bw_bytes v = bw_probe_view(&d, seq, p, n, scratch, sizeof scratch);
            if (v.len) FZ_ASSERT(d.flags & BW_PD_BASE);
            for (size_t k = 0; k < v.len; k++) FZ_ASSERT(v.ptr[k] == content(d.base + (uint32_t)k));
            FZ_ASSERT(v.len >= d.len || v.len == sizeof scratch);
            free(p);
            break;
        }
        case 2:
            bw_probe_dir_isn(&d, seq);
            break;
        default:
            if (d.flags & BW_PD_BASE) d.flags |= BW_PD_FIXED;
            break;
        }
        check(&d);
    }
    return 0;
}
