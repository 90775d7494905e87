/* bw_sink.h: where records go. A sink takes finished JSON lines (plus a few indexed fields) and
 * delivers them; it never sees flows or facts. The JSONL sink is here; others plug in the same way. */
#ifndef BW_SINK_H
#define BW_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_alert.h"
#include "bw_err.h"
#include "bw_stats.h"

/* What a sink's own bounded queue refused, for "capacity" records. */
struct bw_sink_capacity {
    uint64_t refused;            /* records dropped since the start */
    uint64_t cap, high_water;    /* the queue's bound and most use, in bytes */
};

struct bw_sink {
    const char *name;
    /* Deliver one line (no newline in it). Returns 0 or a BW_E* code (counted by the caller).
     * meta->type says what it is: BW_REC_ALERT and BW_REC_CAPACITY records are events for the
     * SOC (a Redis sink adds both to its stream), BW_REC_SESSION records are inventory. */
    int  (*write)(struct bw_sink *s, const char *line, size_t len, const struct bw_record_meta *meta);
    /* Push buffered lines out. Returns 0 or a BW_E* code. */
    int  (*flush)(struct bw_sink *s);
    /* Flush, release everything; returns the first error seen over the sink's life (0 if none). */
    int  (*close)(struct bw_sink *s);
    /* Optional: the run's counters (one JSON line and the struct), every few seconds and at the
     * end. NULL = not interested. */
    void (*stats)(struct bw_sink *s, const char *json, size_t len, const struct bw_stats *st);
    /* Optional (files): SIGHUP, after log rotation. Flush to the old file, open the path anew and
     * write there from now on. On failure keep the old one (nothing is lost) and return BW_E*
     * with one line in err. NULL = nothing to reopen. */
    int  (*reopen)(struct bw_sink *s, char *err, size_t errlen);
    /* The sink wants every session record (e.g. to keep an inventory of brokers), even without
     * --session-log. Its write() then sees event_type "session" records too. */
    bool wants_sessions;
    char errmsg[256];            /* the first error, one line, for the exit message */
    /* Optional: what the sink's own queue refused so far. NULL = it refuses nothing. */
    void (*capacity)(struct bw_sink *s, struct bw_sink_capacity *out);
};

/* JSON lines to a file ("-" = stdout), appended, whole lines only: records wait in a buffer of
 * complete lines and leave with one write() per batch (when it is full, on flush(), with each
 * stats record). line_buffered: one write per record (a terminal). */
struct bw_sink *bw_sink_jsonl_open(const char *path, bool line_buffered, char *err, size_t errlen);

/* One line per record for people (output/text.c), to a file ("-" = stdout). tty: the output is a
 * terminal (column names first, every line flushed and erasing a progress line); colour:
 * severities in colour; line_buffered: flush every line (live capture). */
struct bw_sink *bw_sink_text_open(const char *path, bool tty, bool colour, bool line_buffered, char *err,
                                  size_t errlen);

#endif
