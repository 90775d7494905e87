/* toy_dissector.c: a deliberately small line protocol that proves the dissector seam in tests.
 * Client: "TOY1 <user> <pass>\n" (user "-" = anonymous). Server: "OK\n" or "NO <code>\n".
 * It follows the same contract as the real dissectors: bounded, zero-copy, password never kept. */
#include <string.h>
#include "bw_cursor.h"
#include "bw_dissector.h"
#include "toy_dissector.h"

#define TOY_LINE_MAX 200

static int toy_probe(enum bw_dir dir, const uint8_t *buf, size_t len)
{
    static const char magic[] = "TOY1 ";
    size_t n = len < 5 ? len : 5;
    if (dir != BW_DIR_TOSERVER) return BW_PROBE_NO;
    if (memcmp(buf, magic, n) != 0) return BW_PROBE_NO;
    return n < 5 ? BW_PROBE_MAYBE : BW_PROBE_YES;
}

static void toy_reset(void *state) { memset(state, 0, sizeof(struct toy_state)); }

/* One complete line from buf, or NULL. */
static const uint8_t *line_end(const uint8_t *buf, size_t len)
{
    return memchr(buf, '\n', len < TOY_LINE_MAX ? len : TOY_LINE_MAX);
}

static enum bw_parse toy_parse(void *state, enum bw_dir dir, const uint8_t *buf, size_t len,
                               size_t *used, struct bw_facts *f)
{
    struct toy_state *st = state;
    struct toy_facts *x = (struct toy_facts *)(void *)f->ext;
    *used = 0;
    const uint8_t *nl = line_end(buf, len);
    if (!nl) return len >= TOY_LINE_MAX ? BW_PARSE_MALFORMED : BW_PARSE_NEED_MORE;
    size_t n = (size_t)(nl - buf);
    *used = n + 1;
    if (dir == BW_DIR_TOSERVER) {
        if (n < 5 || memcmp(buf, "TOY1 ", 5) != 0) return BW_PARSE_MALFORMED;
        const uint8_t *u = buf + 5, *sp = memchr(u, ' ', n - 5);
        size_t ulen = sp ? (size_t)(sp - u) : n - 5;
        const uint8_t *pw = sp ? sp + 1 : NULL;
        size_t plen = sp ? (size_t)(nl - pw) : 0;
        snprintf(f->version, sizeof f->version, "1");
        f->seen |= BW_FACT_CONFIRMED;
        if (ulen == 1 && u[0] == '-') {
            f->seen |= BW_FACT_ANONYMOUS;
        } else {
            f->seen |= BW_FACT_CREDS_USER;
            bw_fid_set(&f->user, u, ulen);
            if (pw) {
                f->seen |= BW_FACT_CREDS_PASS;
                f->pass_len = (uint32_t)plen;
                if (bw_defcreds_match(u, ulen, pw, plen)) f->seen |= BW_FACT_DEFAULT_CREDS;
            }
        }
        st->hello = true;
        x->client_lines++;
        return BW_PARSE_OK;
    }
    x->server_lines++;
    if (n >= 2 && memcmp(buf, "OK", 2) == 0) { f->seen |= BW_FACT_AUTH_OK; f->result_code = 0; return BW_PARSE_DONE; }
    if (n >= 2 && memcmp(buf, "NO", 2) == 0) { f->seen |= BW_FACT_AUTH_FAILED; f->result_code = 5; return BW_PARSE_DONE; }
    return BW_PARSE_OK;
}

static enum bw_parse toy_gap(void *state, enum bw_dir dir, struct bw_facts *f)
{
    struct toy_facts *x = (struct toy_facts *)(void *)f->ext;
    (void)state; (void)dir;
    x->gaps++;
    return BW_PARSE_DONE;
}

static void toy_close(void *state, enum bw_close how, struct bw_facts *f)
{
    struct toy_facts *x = (struct toy_facts *)(void *)f->ext;
    (void)state;
    x->closed = true;
    x->close_how = (int)how;
}

static void toy_json(const struct bw_facts *f, struct bw_json *j)
{
    const struct toy_facts *x = (const struct toy_facts *)(const void *)f->ext;
    bw_json_u64(j, "client_lines", x->client_lines);
    bw_json_u64(j, "server_lines", x->server_lines);
}

static const char *const toy_anomalies[] = { "toy_anomaly", NULL };

const struct bw_dissector toy_dissector = {
    .name = "toy", .ports = { 7777, 0 }, .state_size = sizeof(struct toy_state),
    .probe = toy_probe, .reset = toy_reset, .parse = toy_parse, .gap = toy_gap,
    .close = toy_close, .facts_json = toy_json, .anomaly_names = toy_anomalies,
};
