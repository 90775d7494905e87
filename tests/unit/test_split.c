/* test_split.c: a file read by the workers themselves (bw_split.h) gives the packets the
 * sensor's own reading gives (bw_capture_next, itself checked against libpcap in test_capture.c),
 * each once, to the worker its address pair belongs to, in file order within every worker, with
 * the same numbers as their places in the file; clocks reach every worker; a filter, a file cut
 * in the middle of a record (the same error line, after the same packets) and a stop
 * in the middle (the first packets of the file, each whole chunk walked) read alike. The files
 * are made from a real capture, repeated until they span many chunks. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bw_split.h"
#include "bw_workers.h"
#include "check.h"
#include "slurp.h"

#ifndef BW_SOURCE_DIR
#define BW_SOURCE_DIR "."
#endif

static char tmpdir[] = "/tmp/bw_test_split.XXXXXX";

struct got { uint64_t seq, ts; size_t caplen; uint8_t *copy; unsigned worker; };
struct job {
    struct bw_split *sp;
    unsigned id;
    size_t stop_after;                      /* worker 0 stops the reading after so many packets */
    struct got *g;
    size_t n, cap;
    uint64_t clocks;
    int disorder;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct bw_split_pos pos = bw_split_start(j->sp, j->id);
    uint64_t last = 0;
    bool any = false;
    for (;;) {
        if (bw_split_read(j->sp, &pos)) continue;
        struct bw_split_item it;
        uint64_t next = 0;
        int r = bw_split_next(j->sp, &pos, &it, &next);
        if (r < 0) break;
        if (r == 0) {
            if (any && next <= last) j->disorder++;     /* what comes is after what came */
            sched_yield();
            continue;
        }
        if (any && it.seq < last) j->disorder++;
        any = true;
        last = it.seq;
        if (it.kind == BW_SPLIT_CLOCK) { j->clocks++; continue; }
        if (it.kind != BW_SPLIT_PACKET) continue;
        if (j->n == j->cap) {
            j->cap = j->cap ? 2 * j->cap : 1024;
            j->g = realloc(j->g, j->cap * sizeof *j->g);
        }
        struct got *g = &j->g[j->n++];
        *g = (struct got){ it.seq, it.ts, it.caplen, malloc(it.caplen ? it.caplen : 1), j->id };
        memcpy(g->copy, it.data, it.caplen);
        if (j->stop_after && j->n == j->stop_after) bw_split_stop(j->sp);
    }
    return NULL;
}

static int by_seq(const void *a, const void *b)
{
    const struct got *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Read path with n workers (stop: worker 0 stops the reading after its 100th packet) and compare
 * with one reader: the same packets (with a stop, the first ones); returns how many. */
static size_t compare(const char *path, const char *bpf, unsigned n, bool stop)
{
    char err[512], err2[512] = "";
    struct bw_capture *cap, *ref;
    CHECK(bw_capture_open_file(&cap, path, bpf, NULL, err, sizeof err) == 0);
    CHECK(bw_capture_open_file(&ref, path, bpf, NULL, err, sizeof err) == 0);
    int dlt = bw_capture_dlt(cap);
    struct bw_split_clock from = { 0, 0, 0, 0, 0, 0 };
    struct bw_split *sp = bw_split_new(cap, dlt, n, 600000000u, 0, &from);
    CHECK(sp != NULL);
    if (!sp) return 0;
    struct job job[BW_WORKERS_MAX];
    pthread_t th[BW_WORKERS_MAX];
    for (unsigned i = 0; i < n; i++) {
        job[i] = (struct job){ .sp = sp, .id = i, .stop_after = stop && i == 0 ? 100 : 0 };
        CHECK(pthread_create(&th[i], NULL, worker, &job[i]) == 0);
    }
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += job[i].n;
        CHECK(job[i].disorder == 0);
        if (n > 1 && !stop) CHECK(job[i].clocks > 0);
    }
    struct got *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (job[i].n) memcpy(all + k, job[i].g, job[i].n * sizeof *all);
        k += job[i].n;
        free(job[i].g);
    }
    qsort(all, total, sizeof *all, by_seq);
    /* the one reader's packets, in order: the same, numbered by their places */
    size_t i = 0;
    int r;
    const uint8_t *data;
    size_t caplen;
    uint64_t ts;
    while ((r = bw_capture_next(ref, &data, &caplen, &ts, err2, sizeof err2)) == 1 && i < total) {
        const struct got *g = &all[i];
        if (g->seq != i || g->caplen != caplen || g->ts != ts || memcmp(g->copy, data, caplen) != 0 ||
            g->worker != bw_workers_pick_frame(dlt, data, caplen, ts, n)) {
            fprintf(stderr, "%s (%u workers): packet %zu differs\n", path, n, i);
            CHECK(false);
            break;
        }
        i++;
    }
    CHECK(i == total);
    if (!stop) {
        CHECK(r != 1);                                  /* nothing left over */
        CHECK(strcmp(bw_split_error(sp), r < 0 ? err2 : "") == 0);
        if (strcmp(bw_split_error(sp), r < 0 ? err2 : "") != 0)
            fprintf(stderr, "errors: '%s' and '%s'\n", bw_split_error(sp), err2);
    }
    for (size_t j = 0; j < total; j++) free(all[j].copy);
    free(all);
    bw_split_free(sp);
    bw_capture_close(cap);
    bw_capture_close(ref);
    return total;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    size_t n = 0;
    uint8_t *src = slurp(BW_SOURCE_DIR "/pcaps/mqtt_bruteforce.pcap", &n);
    CHECK(src && n > 24);
    if (!src || n <= 24) return check_summary("split");
    /* its records over and over, 8 MiB: 16 chunks and more, records crossing their ends (a stop
     * early in the first leaves most of them unread: a worker reads at most 6 ahead) */
    char big[300], cut[300];
    snprintf(big, sizeof big, "%s/big.pcap", tmpdir);
    snprintf(cut, sizeof cut, "%s/cut.pcap", tmpdir);
    FILE *f = fopen(big, "wb");
    size_t written = fwrite(src, 1, 24, f);
    while (written < (8u << 20)) written += fwrite(src + 24, 1, n - 24, f);
    fclose(f);
    size_t bn = 0;
    uint8_t *b = slurp(big, &bn);
    f = fopen(cut, "wb");
    fwrite(b, 1, bn * 2 / 3 | 1, f);                    /* in the middle of some record */
    fclose(f);
    free(b);
    free(src);
    size_t whole = compare(big, NULL, 1, false);
    CHECK(whole > 10000);
    for (unsigned w = 2; w <= 3; w++) {
        CHECK(compare(big, NULL, w, false) == whole);
        CHECK(compare(big, "tcp port 1883 and tcp[13] & 8 != 0", w, false) > 0);
        size_t c = compare(cut, NULL, w, false);
        CHECK(c > 0 && c < whole);
        size_t s = compare(big, NULL, w, true);        /* the first packets (checked inside) */
        CHECK(s >= 100 && s < whole / 2);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary("split");
}
