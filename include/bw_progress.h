/* bw_progress.h: a one-line progress bar on stderr for long replays (bytes read of total,
 * packets/s, alerts so far, time left), redrawn a few times a second and erased at the end.
 * Only for a terminal: the caller enables it when stderr is a tty and -q was not given. */
#ifndef BW_PROGRESS_H
#define BW_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct bw_progress {
    bool     on, drawn;
    FILE    *out;
    uint64_t total;               /* bytes of all input files; 0 = unknown (stdin) */
    struct timespec start, last;
};

void bw_progress_init(struct bw_progress *p, bool on, FILE *out, uint64_t total_bytes);
/* Cheap to call often: draws at most 4 times a second. */
void bw_progress_update(struct bw_progress *p, uint64_t bytes_done, uint64_t packets, uint64_t alerts);
/* Erase the line. */
void bw_progress_end(struct bw_progress *p);

#endif
