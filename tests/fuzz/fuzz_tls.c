/* fuzz_tls.c: libFuzzer harness for the TLS handshake dissector (dissectors/tls.c).
 * The input is split into chunks on the marker byte 0xFE: FE 01 ends a chunk (the next goes the
 * other way; the first goes to the server), FE 02 ends it and declares a gap in its direction,
 * FE 00 is a literal FE (FE before any other byte is kept as it is). Each direction is fed the
 * way the stream layer feeds a dissector: unconsumed bytes are offered again with more
 * appended, *used past the end skips, DONE / MALFORMED stop it, a 32 KiB window. Every offer is
 * an exact-size malloc copy, so ASan sees one-byte overreads. Probe on the first bytes, close,
 * evaluate and facts_json at the end; contract violations abort. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_dissector.h"
#include "bw_facts.h"
#include "bw_json.h"
#include "bw_tls.h"

#define MARK   0xFE
#define WINDOW (32u << 10)

#define FZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

struct fz_dir {
    uint8_t  buf[WINDOW];
    size_t   n;          /* bytes held, not consumed */
    uint64_t skip;       /* bytes still to pass over */
    bool     done, probed;
};

struct fz {
    _Alignas(16) uint8_t state[BW_DISSECTOR_STATE_MAX];
    struct bw_facts f;
    struct fz_dir d[2];
};

static const struct bw_dissector *const D = &bw_dissector_tls;

static void check_facts(const struct bw_facts *f)
{
    const struct bw_tls_facts *x = bw_tls_facts_of(f);
    if (!x) return;
    FZ_ASSERT(f->seen & BW_FACT_TLS);
    FZ_ASSERT(f->version[0] == '\0');
    FZ_ASSERT(x->sni_len <= BW_TLS_SNI_MAX && x->alpn_len <= BW_TLS_ALPN_MAX);
    FZ_ASSERT(x->alpn_offered_len <= BW_TLS_ALPN_LIST_MAX);
    FZ_ASSERT(x->subject_len <= BW_TLS_NAME_MAX && x->issuer_len <= BW_TLS_NAME_MAX);
    FZ_ASSERT(memchr(x->sig_alg, 0, sizeof x->sig_alg) != NULL);
    if (x->have & BW_TLS_HAVE_SNI) FZ_ASSERT(strlen(bw_tls_sni(f)) == x->sni_len);
    if (x->have & BW_TLS_HAVE_ALPN) FZ_ASSERT(strlen(bw_tls_alpn(f)) == x->alpn_len);
    if ((f->seen & BW_FACT_CONFIRMED)) FZ_ASSERT(x->have & BW_TLS_HAVE_SERVER_HELLO);
    if (f->anomalies) FZ_ASSERT(f->seen & BW_FACT_SPEC_VIOLATION);
    FZ_ASSERT(f->anomalies < (1u << BW_TLS_ANOM_COUNT));
}

static void offer(struct fz *z, enum bw_dir dir)
{
    struct fz_dir *d = &z->d[dir];
    while (!d->done && d->n > 0) {
        uint8_t *copy = malloc(d->n);
        if (!copy) return;
        memcpy(copy, d->buf, d->n);
        if (!d->probed) {
            int p = D->probe(dir, copy, d->n);
            FZ_ASSERT(p >= BW_PROBE_NO && p <= BW_PROBE_YES);
            d->probed = true;               /* the pipeline attaches TLS whatever it says */
        }
        size_t used = (size_t)-7;
        enum bw_parse r = D->parse(z->state, dir, copy, d->n, &used, &z->f);
        free(copy);
        check_facts(&z->f);
        FZ_ASSERT(r == BW_PARSE_OK || r == BW_PARSE_NEED_MORE || r == BW_PARSE_DONE ||
                  r == BW_PARSE_MALFORMED);
        if (r == BW_PARSE_DONE || r == BW_PARSE_MALFORMED) { d->done = true; d->n = 0; return; }
        if (r == BW_PARSE_OK) FZ_ASSERT(used > 0);
        if (r == BW_PARSE_NEED_MORE) FZ_ASSERT(used <= d->n);
        FZ_ASSERT(used < ((size_t)1 << 20));  /* a skip is one record at most */
        size_t take = used < d->n ? used : d->n;
        memmove(d->buf, d->buf + take, d->n - take);
        d->n -= take;
        d->skip += used - take;
        if (r == BW_PARSE_NEED_MORE || used == 0) return;
    }
}

static void deliver(struct fz *z, enum bw_dir dir, const uint8_t *p, size_t n)
{
    struct fz_dir *d = &z->d[dir];
    if (d->done || n == 0) return;
    size_t sk = d->skip < n ? (size_t)d->skip : n;
    p += sk;
    n -= sk;
    d->skip -= sk;
    if (n == 0) return;
    if (n > WINDOW - d->n) { d->done = true; d->n = 0; return; }   /* window full: the stream stops */
    memcpy(d->buf + d->n, p, n);
    d->n += n;
    offer(z, dir);
}

static void gap(struct fz *z, enum bw_dir dir)
{
    struct fz_dir *d = &z->d[dir];
    if (d->done) return;
    d->n = 0;
    d->skip = 0;
    if (D->gap(z->state, dir, &z->f) != BW_PARSE_OK) d->done = true;
    check_facts(&z->f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *z = calloc(1, sizeof *z);
    uint8_t *chunk = malloc(size ? size : 1);
    if (!z || !chunk) { free(z); free(chunk); return 0; }
    bw_facts_init(&z->f);
    D->reset(z->state);
    enum bw_dir dir = BW_DIR_TOSERVER;
    size_t cn = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] != MARK || i + 1 == size) { chunk[cn++] = data[i]; continue; }
        uint8_t op = data[++i];
        if (op == 1 || op == 2) {
            deliver(z, dir, chunk, cn);
            cn = 0;
            if (op == 2) gap(z, dir);
            else dir = dir == BW_DIR_TOSERVER ? BW_DIR_TOCLIENT : BW_DIR_TOSERVER;
        } else {
            chunk[cn++] = MARK;
            if (op != 0) chunk[cn++] = op;  /* FE 00 is a literal FE */
        }
    }
    deliver(z, dir, chunk, cn);
    D->close(z->state, size % 2 ? BW_CLOSE_FIN : BW_CLOSE_RST_SERVER, &z->f);
    check_facts(&z->f);
    bool weak = bw_tls_evaluate(&z->f, 1750000000ull * 1000000u);
    FZ_ASSERT(weak == ((z->f.seen & BW_FACT_WEAK_TLS) != 0));
    (void)bw_tls_alpn_offered(&z->f, "mqtt");
    (void)bw_tls_alpn_offered(&z->f, "");
    char *out = malloc(16384);
    if (out) {
        struct bw_json j;
        bw_json_init(&j, out, 16384);
        bw_json_obj_open(&j, NULL);
        D->facts_json(&z->f, &j);
        bw_json_obj_close(&j);
        FZ_ASSERT(bw_json_finish(&j));       /* bounded facts always fit */
        free(out);
    }
    free(chunk);
    free(z);
    return 0;
}
