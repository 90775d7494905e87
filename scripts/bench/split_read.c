/* split_read.c: a measurement, not part of the sensor. How fast could N workers read a classic
 * pcap file if there were no reader thread: each worker reads chunks of the file itself (chunk c
 * by worker c mod N, 512 KiB at the offset where chunk c-1's last whole record ended), walks their
 * records, and hands every worker a list of the offsets of its packets in that chunk (the worker
 * a symmetric hash of the address pair picks, bw_workers_pick); every worker runs its own
 * pipeline (the sensor's, with its dissectors, nDPI and TLS checks) on its lists in chunk order,
 * so each address pair's packets keep their order. Records go to a sink that only counts them;
 * no clock reaches a worker but its own packets'; no BPF filter, no progress, one file.
 * docs/performance.md ("Workers") has the figures and the command:
 *
 *   build/split_read WORKERS FILE [LOOKAHEAD]
 *
 * LOOKAHEAD (default 6): how many chunks a worker may have read and walked beyond the one it
 * works on. Prints per worker the packets, the time spent reading and walking, and waiting. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bw_config.h"
#include "bw_dissector.h"
#include "bw_known.h"
#include "bw_packet.h"
#include "bw_pcapfile.h"
#include "bw_pipeline.h"
#include "bw_sink.h"
#include "bw_workers.h"

#define CHUNK (512u * 1024u)
#define BUFS 8                         /* chunk c is read into buffer c mod BUFS */
#define MAX_CHUNKS 65536               /* 32 GiB of file */
#define MAX_WORKERS 4
#define MAX_RECS (CHUNK / 16 + 1)      /* a record is at least its 16-byte header */

static int fd, nworkers, lookahead = 6, dlt;
static struct bw_pcapfile_fmt fmt;
static _Atomic int64_t end_off[MAX_CHUNKS];    /* where chunk c's last whole record ends; -1 */
static _Atomic int64_t last_chunk = -1;        /* the chunk that met the end of the file */
static _Atomic int done[MAX_CHUNKS][MAX_WORKERS];
static uint32_t count[MAX_CHUNKS][MAX_WORKERS];
static uint8_t *buf[BUFS];
static size_t have[BUFS];
static uint32_t *list[BUFS][MAX_WORKERS];
static struct bw_pipeline pl[MAX_WORKERS];
static struct bw_config cfg[MAX_WORKERS];
static struct bw_sink sink[MAX_WORKERS];
static struct bw_known known;
static double waited[MAX_WORKERS], walking[MAX_WORKERS];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int count_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *m)
{
    (void)s; (void)line; (void)len; (void)m;
    return 0;
}
static int count_flush(struct bw_sink *s) { (void)s; return 0; }
static int count_close(struct bw_sink *s) { (void)s; return 0; }

/* Buffer c mod BUFS is free once every worker is done with the chunk it held. */
static bool buffer_free(int64_t c)
{
    if (c < BUFS) return true;
    for (int i = 0; i < nworkers; i++)
        if (!atomic_load_explicit(&done[c - BUFS][i], memory_order_acquire)) return false;
    return true;
}

/* Read chunk c from `start` and make every worker's list of it. */
static void read_walk(int64_t c, int64_t start)
{
    int b = (int)(c % BUFS);
    size_t n = 0;
    while (n < CHUNK) {
        ssize_t r = pread(fd, buf[b] + n, CHUNK - n, (off_t)(start + (int64_t)n));
        if (r <= 0) break;
        n += (size_t)r;
    }
    bool eof = n < CHUNK;
    uint32_t k[MAX_WORKERS] = { 0 };
    size_t off = 0;
    for (;;) {
        struct bw_pcaprec rec;
        size_t need;
        char why[160];
        if (bw_pcapfile_record(&fmt, buf[b] + off, n - off, eof, &rec, &need, why, sizeof why) != BW_PCAPREC_OK)
            break;
        unsigned w = 0;
        uint8_t ver;
        const uint8_t *x, *y;
        if (nworkers > 1 && bw_decode_pair(dlt, rec.data, rec.caplen, &ver, &x, &y))
            w = bw_workers_pick(ver, x, y, (unsigned)nworkers);
        list[b][w][k[w]++] = (uint32_t)off;
        off += rec.size;
    }
    have[b] = n;
    for (int i = 0; i < nworkers; i++) count[c][i] = k[i];
    if (eof) atomic_store_explicit(&last_chunk, c, memory_order_release);
    atomic_store_explicit(&end_off[c], start + (int64_t)off, memory_order_release);
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    int64_t next_read = w, next_work = 0;
    uint32_t pos = 0;
    for (;;) {
        int64_t last = atomic_load_explicit(&last_chunk, memory_order_acquire);
        if (last >= 0 && next_work > last) break;
        /* the chain of reads first: the next worker's read waits for this one's walk */
        if (last < 0 && next_read - next_work < lookahead && next_read < MAX_CHUNKS) {
            int64_t start = next_read == 0 ? BW_PCAPFILE_HDR
                                           : atomic_load_explicit(&end_off[next_read - 1], memory_order_acquire);
            if (start >= 0 && atomic_load_explicit(&last_chunk, memory_order_acquire) < 0 && buffer_free(next_read)) {
                double t = now();
                read_walk(next_read, start);
                walking[w] += now() - t;
                next_read += nworkers;
                continue;
            }
        }
        if (atomic_load_explicit(&end_off[next_work], memory_order_acquire) >= 0) {
            int b = (int)(next_work % BUFS);
            uint32_t n = count[next_work][w], stop = pos + 64 < n ? pos + 64 : n;
            for (; pos < stop; pos++) {
                struct bw_pcaprec rec;
                size_t need;
                char why[160];
                uint32_t off = list[b][w][pos];
                if (pos + 1 < n) __builtin_prefetch(buf[b] + list[b][w][pos + 1]);
                if (bw_pcapfile_record(&fmt, buf[b] + off, have[b] - off, true, &rec, &need, why, sizeof why) ==
                    BW_PCAPREC_OK)
                    bw_pipeline_packet(&pl[w], dlt, rec.data, rec.caplen,
                                       (uint64_t)rec.ts_sec * 1000000u + (uint64_t)rec.ts_usec);
            }
            if (pos == n) {
                atomic_store_explicit(&done[next_work][w], 1, memory_order_release);
                next_work++;
                pos = 0;
            }
            continue;
        }
        double t = now();
        sched_yield();
        waited[w] += now() - t;
    }
    bw_pipeline_finish(&pl[w]);
    return NULL;
}

static void *setup(void *arg)
{
    int w = (int)(intptr_t)arg;
    char err[256];
    char *argv[] = { "brokerwatch", "-r", "-", NULL };
    if (bw_config_parse(&cfg[w], 3, argv, err, sizeof err) != BW_CONFIG_RUN) abort();
    if (nworkers > 1) {                 /* the caps shared out, as bw_workers_new does */
        cfg[w].max_flows = (cfg[w].max_flows + (uint32_t)nworkers - 1) / (uint32_t)nworkers;
        cfg[w].max_sessions = (cfg[w].max_sessions + (uint32_t)nworkers - 1) / (uint32_t)nworkers;
        cfg[w].stream_memcap /= (uint64_t)nworkers;
        cfg[w].dpi_slots = (cfg[w].dpi_slots + (uint32_t)nworkers - 1) / (uint32_t)nworkers;
    }
    if (bw_pipeline_init(&pl[w], &cfg[w], bw_dissectors, bw_dissectors_count) != 0) abort();
    bw_pipeline_share_known(&pl[w], &known);
    pl[w].tls_dis = bw_tls_dissector;
    pl[w].tls_evaluate = bw_tls_evaluate_fn;
    sink[w] = (struct bw_sink){ .name = "count", .write = count_write, .flush = count_flush, .close = count_close };
    if (bw_pipeline_add_sink(&pl[w], &sink[w]) != 0) abort();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (nworkers = atoi(argv[1])) < 1 || nworkers > MAX_WORKERS) {
        fprintf(stderr, "usage: split_read WORKERS(1-%d) FILE [LOOKAHEAD]\n", MAX_WORKERS);
        return 2;
    }
    if (argc > 3) lookahead = atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
    uint8_t hdr[BW_PCAPFILE_HDR];
    if ((fd = open(argv[2], O_RDONLY)) < 0 || pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
        !bw_pcapfile_header(hdr, sizeof hdr, &fmt)) {
        fprintf(stderr, "split_read: %s: not a classic pcap file\n", argv[2]);
        return 1;
    }
    uint32_t snap, link;
    memcpy(&snap, hdr + 16, 4);
    memcpy(&link, hdr + 20, 4);
    fmt.snapshot = fmt.swapped ? __builtin_bswap32(snap) : snap;
    if (fmt.snapshot == 0 || fmt.snapshot > BW_PCAPFILE_MAXSNAP) fmt.snapshot = BW_PCAPFILE_MAXSNAP;
    dlt = (int)((fmt.swapped ? __builtin_bswap32(link) : link) & 0x0fffffffu);
    for (int i = 0; i < MAX_CHUNKS; i++) atomic_init(&end_off[i], -1);
    for (int b = 0; b < BUFS; b++) {
        if (!(buf[b] = malloc(CHUNK))) return 1;
        for (int i = 0; i < nworkers; i++)
            if (!(list[b][i] = malloc(MAX_RECS * sizeof(uint32_t)))) return 1;
    }
    bw_known_init(&known);
    double t0 = now();
    pthread_t th[MAX_WORKERS];
    for (int i = 1; i < nworkers; i++) pthread_create(&th[i], NULL, setup, (void *)(intptr_t)i);
    setup((void *)0);
    for (int i = 1; i < nworkers; i++) pthread_join(th[i], NULL);
    double t1 = now();
    for (int i = 1; i < nworkers; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    worker((void *)0);
    for (int i = 1; i < nworkers; i++) pthread_join(th[i], NULL);
    double t2 = now();
    uint64_t alerts = 0, packets = 0;
    for (int i = 0; i < nworkers; i++) {
        printf("worker %d: %llu packets, reading and walking %.3f s, waiting %.3f s\n", i,
               (unsigned long long)pl[i].cnt.packets, walking[i], waited[i]);
        alerts += pl[i].cnt.alerts;
        packets += pl[i].cnt.packets;
    }
    printf("%d workers: set-up %.3f s, run %.3f s, %llu packets, %llu alerts\n", nworkers, t1 - t0, t2 - t1,
           (unsigned long long)packets, (unsigned long long)alerts);
    for (int i = 0; i < nworkers; i++) bw_pipeline_free(&pl[i]);
    return 0;
}
