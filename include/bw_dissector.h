/* bw_dissector.h: the plug-in seam between the pipeline and one application protocol.
 * A dissector is one .c file exporting one const struct bw_dissector; dissectors/registry.c
 * lists them. It gets each direction's reassembled bytes, gap notices and the close, keeps its
 * state inside the flow record (state_size bytes), and reports what it learned as facts.
 * It never allocates, never logs, never sees a flow, a socket or another dissector. */
#ifndef BW_DISSECTOR_H
#define BW_DISSECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_facts.h"

#define BW_DISSECTOR_STATE_MAX 512
#define BW_PROBE_WINDOW        512    /* bytes per direction offered to probes before giving up */

enum bw_dir   { BW_DIR_TOSERVER = 0, BW_DIR_TOCLIENT = 1 };

enum bw_parse {
    BW_PARSE_OK,          /* consumed *used bytes; call again with the rest */
    BW_PARSE_NEED_MORE,   /* *used bytes consumed (often 0); wait for more data */
    BW_PARSE_DONE,        /* nothing more to learn in this direction */
    BW_PARSE_MALFORMED,   /* cannot follow this direction any longer */
};

enum bw_close {
    BW_CLOSE_FIN,         /* the client closed first (FIN; the broker answered FIN or RST) */
    BW_CLOSE_RST_CLIENT,  /* the client reset */
    BW_CLOSE_RST_SERVER,  /* the broker reset */
    BW_CLOSE_FIN_SERVER_FIRST, /* the broker closed first (FIN; the client answered FIN or RST) */
    BW_CLOSE_TIMEOUT,     /* idle timeout */
    BW_CLOSE_EVICTED,     /* flow table full */
    BW_CLOSE_END,         /* end of capture */
};

/* Probe verdicts (0..100). */
#define BW_PROBE_NO     0     /* not this protocol */
#define BW_PROBE_MAYBE  50    /* consistent so far; more bytes would tell */
#define BW_PROBE_YES    100   /* certain: claim the flow */

struct bw_json;

struct bw_dissector {
    const char *name;           /* "mqtt": key for logs, stats and the alert's app_proto */
    uint16_t    ports[4];       /* hints only; 0-terminated */
    size_t      state_size;     /* <= BW_DISSECTOR_STATE_MAX, lives inside struct bw_flow */

    /* First bytes of one direction (maybe very few): BW_PROBE_NO / MAYBE / YES or between. */
    int  (*probe)(enum bw_dir dir, const uint8_t *buf, size_t len);
    /* Set the state to "start of session". The state memory is zeroed before the call. */
    void (*reset)(void *state);
    /* Parse contiguous bytes of one direction. *used may exceed len: the excess is skipped from
     * the stream without delivery (a PUBLISH payload, a content frame). */
    enum bw_parse (*parse)(void *state, enum bw_dir dir, const uint8_t *buf, size_t len,
                           size_t *used, struct bw_facts *facts);
    /* Bytes of `dir` were lost. Return OK to go on (the next parse starts after the hole: resync
     * there) or DONE to stop that direction. NULL = stop. */
    enum bw_parse (*gap)(void *state, enum bw_dir dir, struct bw_facts *facts);
    /* The last bytes parse() answered NEED_MORE to will never be completed (a hole follows them:
     * a snaplen cut or a lost segment; or the session ended). Read what the incomplete message
     * still tells (a CONNECT's flags, say) and mark facts that could not be read. Called before
     * gap() for that hole; never for a direction already DONE. NULL = nothing to learn. */
    void (*partial)(void *state, enum bw_dir dir, const uint8_t *buf, size_t len, struct bw_facts *facts);
    /* The TCP session ended. Last chance to conclude (e.g. broker closed after credentials). */
    void (*close)(void *state, enum bw_close how, struct bw_facts *facts);
    /* Append protocol-specific members to the open protocol object; NULL = none. */
    void (*facts_json)(const struct bw_facts *facts, struct bw_json *j);
    /* A short phrase for alert summaries (e.g. why a TLS session is weak); NULL = none. */
    void (*describe)(const struct bw_facts *facts, char *out, size_t cap);
    /* Names of the anomaly bits (index = bit), NULL-terminated; NULL = none. */
    const char *const *anomaly_names;
};

/* dissectors/registry.c */
extern const struct bw_dissector *const bw_dissectors[];
extern const size_t bw_dissectors_count;
/* The TLS handshake dissector for encrypted broker sessions and its capture-time evaluation. */
extern const struct bw_dissector *const bw_tls_dissector;
extern bool (*const bw_tls_evaluate_fn)(struct bw_facts *f, uint64_t ts_us);

#endif
