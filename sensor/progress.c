/* progress.c: the replay progress line (see bw_progress.h). Wall-clock time is used here only,
 * for the human watching; the pipeline itself runs on packet time. */
#include <string.h>
#include "bw_progress.h"

static double secs(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void bw_progress_init(struct bw_progress *p, bool on, FILE *out, uint64_t total_bytes)
{
    memset(p, 0, sizeof *p);
    p->on = on;
    p->out = out;
    p->total = total_bytes;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->last = p->start;
}

static void human(double v, char *out, size_t cap)
{
    static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (v >= 1024 && u < 4) { v /= 1024; u++; }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

void bw_progress_update(struct bw_progress *p, uint64_t done, uint64_t packets, uint64_t alerts)
{
    if (!p->on) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (secs(&p->last, &now) < 0.25) return;
    p->last = now;
    double el = secs(&p->start, &now);
    char d[24], t[24], bar[31], eta[24] = "";
    human((double)done, d, sizeof d);
    double frac = p->total ? (double)done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[30] = '\0';
    if (p->total && frac > 0.001) {
        double left = el / frac - el;
        snprintf(eta, sizeof eta, "  %d:%02d left", (int)left / 60, (int)left % 60);
    }
    if (p->total) {
        human((double)p->total, t, sizeof t);
        fprintf(p->out, "\r[%s] %3d%%  %s / %s  %.0f pkt/s  %llu alerts%s\033[K", bar, (int)(frac * 100), d, t,
                el > 0 ? (double)packets / el : 0.0, (unsigned long long)alerts, eta);
    } else {
        fprintf(p->out, "\r%s read  %.0f pkt/s  %llu alerts\033[K", d, el > 0 ? (double)packets / el : 0.0,
                (unsigned long long)alerts);
    }
    fflush(p->out);
    p->drawn = true;
}

void bw_progress_end(struct bw_progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
    }
    p->drawn = false;
}
