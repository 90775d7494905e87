/* dispatch.c: choose a dissector (nDPI hint, then probes) and feed it bytes, mapping
 * enum bw_parse onto the stream layer's consume/skip/stop contract. Owns nothing; the
 * dissector state lives in the session record. */
#include <string.h>
#include "bw_dispatch.h"
#include "bw_stream.h"

int bw_dispatch_find(const struct bw_dissector *const *tab, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i]->name, name) == 0) return (int)i;
    return -1;
}

enum bw_choice bw_dispatch_choose(const struct bw_dissector *const *tab, size_t n, enum bw_dir dir,
                                  const uint8_t *buf, size_t len, int hint, bool final, size_t *chosen)
{
    int best = -1, best_score = 0;
    bool undecided = false;
    for (size_t i = 0; i < n; i++) {
        int sc = tab[i]->probe ? tab[i]->probe(dir, buf, len) : BW_PROBE_NO;
        if (sc < BW_PROBE_NO) sc = BW_PROBE_NO;
        if (sc > BW_PROBE_YES) sc = BW_PROBE_YES;
        if (sc > BW_PROBE_NO && sc < BW_PROBE_CLAIM) undecided = true;
        /* nDPI agreeing lifts a plausible guess to a claim. */
        if ((int)i == hint && sc >= BW_PROBE_MAYBE && sc < BW_PROBE_CLAIM) sc = BW_PROBE_CLAIM;
        if (sc > best_score) { best = (int)i; best_score = sc; }
    }
    if (best >= 0 && best_score >= BW_PROBE_CLAIM) { *chosen = (size_t)best; return BW_CHOICE_FOUND; }
    if (undecided && !final) return BW_CHOICE_WAIT;
    /* Out of bytes to look at: a plausible guess is better than nothing, a silent "no" is final. */
    if (best >= 0 && best_score >= BW_PROBE_MAYBE) { *chosen = (size_t)best; return BW_CHOICE_FOUND; }
    return BW_CHOICE_NONE;
}

void bw_dispatch_attach(struct bw_session *s, const struct bw_dissector *d)
{
    s->dis = d;
    s->consumed[0] = s->consumed[1] = 0;
    s->rejected[0] = s->rejected[1] = false;
    memset(s->dstate, 0, sizeof s->dstate);
    if (d->reset) d->reset(s->dstate);
}

size_t bw_dispatch_feed(struct bw_session *s, enum bw_dir dir, const uint8_t *buf, size_t len)
{
    if (s->dir_done[dir]) return BW_STREAM_STOP;
    size_t used = 0;
    enum bw_parse r = s->dis->parse(s->dstate, dir, buf, len, &used, &s->facts);
    switch (r) {
    case BW_PARSE_OK:
    case BW_PARSE_NEED_MORE:
        /* OK with nothing consumed would loop forever: it means "wait", like NEED_MORE. */
        s->consumed[dir] += used;
        return used;
    case BW_PARSE_MALFORMED:
        /* Refused before reading anything: the bytes are not this protocol. */
        if (s->consumed[dir] == 0) s->rejected[dir] = true;
        s->dir_done[dir] = true;
        return BW_STREAM_STOP;
    case BW_PARSE_DONE:
    default:
        /* What DONE read counts: a broker's one answer may be all it ever parses. */
        if (!s->consumed[dir]) s->consumed[dir] = used ? used : len;
        s->dir_done[dir] = true;
        return BW_STREAM_STOP;
    }
}

void bw_dispatch_partial(struct bw_session *s, enum bw_dir dir, const uint8_t *buf, size_t len)
{
    if (s->dir_done[dir] || !s->dis->partial || len == 0) return;
    s->dis->partial(s->dstate, dir, buf, len, &s->facts);
}

bool bw_dispatch_gap(struct bw_session *s, enum bw_dir dir)
{
    s->facts.seen |= BW_FACT_GAP;
    if (s->dir_done[dir]) return false;
    enum bw_parse r = s->dis->gap ? s->dis->gap(s->dstate, dir, &s->facts) : BW_PARSE_DONE;
    if (r == BW_PARSE_OK || r == BW_PARSE_NEED_MORE) return true;
    s->dir_done[dir] = true;
    return false;
}
