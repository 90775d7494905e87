/* dissector_fuzz.h: the libFuzzer body shared by dissector harnesses. Include it after
 * defining FUZZ_DISSECTOR (the struct bw_dissector to drive).
 * Input: one byte choosing how the session ends, then chunks separated by the marker byte 0xF7;
 * chunk i goes to the client (even i) or the broker (odd i); a chunk starting with 0xF8 declares
 * a gap in its direction first. Each chunk is copied into an exact-size heap buffer, probes see
 * each direction's first bytes, parse runs through a driver with the stream layer's contract
 * (unconsumed bytes kept, *used > len skipped), then close and facts_json. Broken invariants
 * abort(). */
#ifndef BW_DISSECTOR_FUZZ_H
#define BW_DISSECTOR_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"

#ifndef FUZZ_DISSECTOR
#error "define FUZZ_DISSECTOR before including dissector_fuzz.h"
#endif
#define MARK_CHUNK 0xF7
#define MARK_GAP   0xF8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct bw_dissector FUZZ_DISSECTOR;

struct dir {
    uint8_t *pend;               /* unconsumed bytes, capacity = the whole input */
    size_t   have;
    uint64_t skip;               /* bytes the dissector asked to skip, still to come */
    bool     stop;
    uint8_t  probe[BW_PROBE_WINDOW];
    size_t   probed;
};

static void check_facts(const struct bw_facts *f)
{
    const struct bw_amqp_ext *x = (const struct bw_amqp_ext *)(const void *)f->ext;
    if (f->user.len > BW_FACTS_ID_MAX || f->mech.len > BW_FACTS_STR_MAX ||
        f->client_id.len > BW_FACTS_ID_MAX)
        abort();
    if ((f->user.unread && f->user.len) || (f->client_id.unread && f->client_id.len))
        abort();                 /* an identity never read has no bytes */
    if (memchr(f->version, 0, sizeof f->version) == NULL)
        abort();
    if (x->ready && (x->broker_product.len > BW_AMQP_STR_MAX || x->mechanisms.len > BW_AMQP_LSTR_MAX ||
                     x->close_text.len > BW_AMQP_LSTR_MAX || x->vhost.len > BW_AMQP_STR_MAX))
        abort();
    if ((f->seen & BW_FACT_DEFAULT_CREDS) && !(f->seen & BW_FACT_CREDS_PASS))
        abort();                 /* a default pair needs a password that was seen */
    if (f->anomalies && !(f->seen & BW_FACT_SPEC_VIOLATION))
        abort();
}

static void probe(struct dir *d, enum bw_dir dir, const uint8_t *p, size_t n)
{
    const struct bw_dissector *ds = &FUZZ_DISSECTOR;
    if (d->probed >= sizeof d->probe || n == 0) return;
    size_t k = n < sizeof d->probe - d->probed ? n : sizeof d->probe - d->probed;
    memcpy(d->probe + d->probed, p, k);
    d->probed += k;
    uint8_t *c = malloc(d->probed);
    if (!c) return;
    memcpy(c, d->probe, d->probed);
    int score = ds->probe(dir, c, d->probed);
    free(c);
    if (score < 0 || score > 100) abort();
}

static void feed(void *st, struct bw_facts *f, struct dir *d, enum bw_dir dir,
                 const uint8_t *p, size_t n)
{
    const struct bw_dissector *ds = &FUZZ_DISSECTOR;
    if (d->stop) return;
    size_t k = d->skip < n ? (size_t)d->skip : n;
    d->skip -= k;
    memcpy(d->pend + d->have, p + k, n - k);
    d->have += n - k;
    while (d->have > 0 && !d->stop) {
        uint8_t *c = malloc(d->have);                /* exact size: ASan sees one byte past */
        if (!c) return;
        memcpy(c, d->pend, d->have);
        size_t used = 0;
        enum bw_parse r = ds->parse(st, dir, c, d->have, &used, f);
        free(c);
        if (r == BW_PARSE_OK && used == 0) abort();   /* would spin the stream layer */
        if (r == BW_PARSE_NEED_MORE && used > d->have) abort();
        check_facts(f);
        if (used > d->have) {
            d->skip = used - d->have;
            used = d->have;
        }
        memmove(d->pend, d->pend + used, d->have - used);
        d->have -= used;
        if (r == BW_PARSE_DONE || r == BW_PARSE_MALFORMED) d->stop = true;
        if (r != BW_PARSE_OK) break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum bw_close hows[] = {
        BW_CLOSE_FIN, BW_CLOSE_RST_CLIENT, BW_CLOSE_RST_SERVER, BW_CLOSE_FIN_SERVER_FIRST,
        BW_CLOSE_TIMEOUT, BW_CLOSE_EVICTED, BW_CLOSE_END,
    };
    const struct bw_dissector *ds = &FUZZ_DISSECTOR;
    if (size < 1 || ds->state_size > BW_DISSECTOR_STATE_MAX) return 0;
    _Alignas(16) uint8_t st[BW_DISSECTOR_STATE_MAX];
    struct bw_facts f;
    struct dir d[2];
    memset(st, 0, sizeof st);
    memset(d, 0, sizeof d);
    bw_facts_init(&f);
    ds->reset(st);
    d[0].pend = malloc(size);
    d[1].pend = malloc(size);
    if (!d[0].pend || !d[1].pend) goto out;

    size_t i = 1, chunk = 0;
    while (i <= size) {
        size_t j = i;
        while (j < size && data[j] != MARK_CHUNK) j++;
        enum bw_dir dir = (chunk % 2) ? BW_DIR_TOCLIENT : BW_DIR_TOSERVER;
        const uint8_t *p = data + i;
        size_t n = j - i;
        if (n > 0 && p[0] == MARK_GAP) {
            p++; n--;
            if (!d[dir].stop) {
                d[dir].have = 0;
                d[dir].skip = 0;
                if (ds->gap(st, dir, &f) != BW_PARSE_OK) d[dir].stop = true;
                check_facts(&f);
            }
        }
        uint8_t *c = malloc(n ? n : 1);
        if (!c) goto out;
        if (n) memcpy(c, p, n);
        probe(&d[dir], dir, c, n);
        feed(st, &f, &d[dir], dir, c, n);
        free(c);
        chunk++;
        i = j + 1;
    }
    ds->close(st, hows[data[0] % (sizeof hows / sizeof hows[0])], &f);
    check_facts(&f);

    char out[16384];
    struct bw_json j;
    bw_json_init(&j, out, sizeof out);
    bw_json_obj_open(&j, NULL);
    bw_json_obj_open(&j, "amqp");
    ds->facts_json(&f, &j);
    bw_json_obj_close(&j);
    bw_json_obj_close(&j);
    if (!bw_json_finish(&j)) abort();               /* the members always fit 16 KiB */
out:
    free(d[0].pend);
    free(d[1].pend);
    return 0;
}

#endif
