/* output/text.c: one line per alert for a person at a terminal (--format text, or stdout a
 * terminal without -o): time (UTC), severity, kind, client -> broker, summary, in the columns of
 * `brokerwatch-alerts` (the same rows whether read live or from Redis). Built from the record's
 * meta (never by parsing the JSON); only printable ASCII reaches the terminal, so no wire string
 * can move the cursor or recolour the screen. Session records (--session-log) get a line too; the
 * counters do not. Owns its FILE when it opened one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bw_escape.h"
#include "bw_sink.h"

struct text {
    struct bw_sink base;             /* first: the sink pointer is the struct pointer */
    FILE *fp;
    bool  own, tty, colour, line_buffered, failed, headed;
    const char *path;
};

static void fail(struct text *t, int e)
{
    if (t->failed) return;
    t->failed = true;
    snprintf(t->base.errmsg, sizeof t->base.errmsg, "cannot write alerts to '%s': %s", t->path, strerror(e));
}

/* ANSI SGR per severity name (bw_severity_name's words); "" for others. */
static const char *sgr(const char *sev)
{
    if (!sev) return "";
    if (strcmp(sev, "critical") == 0) return "\033[1;31m";
    if (strcmp(sev, "high") == 0) return "\033[31m";
    if (strcmp(sev, "medium") == 0) return "\033[33m";
    return "";
}

static void endpoint(char *out, size_t cap, const char *ip, uint16_t port)
{
    snprintf(out, cap, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
}

static int text_write(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *m)
{
    struct text *t = (struct text *)s;
    (void)line;
    (void)len;
    bool session = m->event_type && strcmp(m->event_type, "session") == 0;
    char ts[32], cli[64], srv[64], sum[BW_SUMMARY_MAX], kind[32], sev[16];
    time_t sec = (time_t)(m->ts_us / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    endpoint(cli, sizeof cli, m->src_ip, m->src_port);
    endpoint(srv, sizeof srv, m->dest_ip, m->dest_port);
    bw_escape_ascii(sum, sizeof sum, m->summary, strnlen(m->summary, sizeof m->summary));
    snprintf(kind, sizeof kind, "%s", session ? "session" : m->kind ? m->kind : "?");
    snprintf(sev, sizeof sev, "%s", session ? "-" : m->severity ? m->severity : "?");
    const char *on = t->colour && !session ? sgr(m->severity) : "", *off = *on ? "\033[0m" : "";
    char flow[140];
    snprintf(flow, sizeof flow, "%s -> %s", cli, srv);
    /* On a terminal the replay progress line may be drawn (stderr, same screen): erase it first;
     * it is redrawn on its next update. */
    if (t->tty && !t->headed) {                  /* column names once, for the person reading */
        t->headed = true;
        if (fprintf(t->fp, "\r\033[K%-19s  %-8s  %-21s  %-44s  %s\n", "TIME (UTC)", "SEVERITY", "KIND",
                    "CLIENT -> BROKER", "SUMMARY") < 0) { fail(t, errno); return BW_EIO; }
    }
    int rc = fprintf(t->fp, "%s%s  %s%-8s%s  %-21s  %-44s  %s\n", t->tty ? "\r\033[K" : "", ts, on, sev, off,
                     kind, flow, sum);
    if (rc < 0) { fail(t, errno); return BW_EIO; }
    if ((t->tty || t->line_buffered) && fflush(t->fp) != 0) { fail(t, errno); return BW_EIO; }
    return 0;
}

static int text_flush(struct bw_sink *s)
{
    struct text *t = (struct text *)s;
    if (fflush(t->fp) != 0) { fail(t, errno); return BW_EIO; }
    return 0;
}

static int text_close(struct bw_sink *s)
{
    struct text *t = (struct text *)s;
    int rc = 0;
    if (fflush(t->fp) != 0) fail(t, errno);
    if (t->own && fclose(t->fp) != 0) fail(t, errno);
    if (t->failed) rc = BW_EIO;
    free(t);
    return rc;
}

/* SIGHUP after rotation: the lines so far stay in the old file, the next ones go to the path. */
static int text_reopen(struct bw_sink *s, char *err, size_t errlen)
{
    struct text *t = (struct text *)s;
    if (fflush(t->fp) != 0) fail(t, errno);
    if (!t->own) return 0;
    FILE *fp = fopen(t->path, "a");
    if (!fp) {
        snprintf(err, errlen, "cannot reopen '%s': %s", t->path, strerror(errno));
        return BW_EIO;
    }
    fclose(t->fp);
    t->fp = fp;
    return 0;
}

struct bw_sink *bw_sink_text_open(const char *path, bool tty, bool colour, bool line_buffered, char *err,
                                  size_t errlen)
{
    struct text *t = calloc(1, sizeof *t);
    if (!t) { snprintf(err, errlen, "out of memory"); return NULL; }
    t->path = path;
    t->tty = tty;
    t->colour = colour;
    t->line_buffered = line_buffered;
    if (strcmp(path, "-") == 0) {
        t->fp = stdout;
    } else {
        t->fp = fopen(path, "a");    /* append, as the JSON lines do */
        if (!t->fp) {
            snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
            free(t);
            return NULL;
        }
        t->own = true;
    }
    t->base.name = "text";
    t->base.write = text_write;
    t->base.flush = text_flush;
    t->base.close = text_close;
    t->base.reopen = text_reopen;
    return &t->base;
}
