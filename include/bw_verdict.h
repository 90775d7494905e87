/* bw_verdict.h: facts -> alert kinds. The only place that decides what is dangerous.
 * bw_verdict_eval() is pure; the bruteforce window is the one piece of state, kept in a fixed
 * table owned by the caller's context. Time is packet time. */
#ifndef BW_VERDICT_H
#define BW_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"
#include "bw_facts.h"

enum bw_kind {
    BW_KIND_PLAINTEXT_SESSION = 0,
    BW_KIND_ANONYMOUS_SESSION,
    BW_KIND_CLEARTEXT_CREDENTIALS,
    BW_KIND_DEFAULT_CREDENTIALS,
    BW_KIND_AUTH_FAILURE,
    BW_KIND_BRUTEFORCE,
    BW_KIND_WILDCARD_SUBSCRIBE,
    BW_KIND_WEAK_TLS,
    BW_KIND_COUNT
};

enum bw_severity { BW_SEV_LOW = 0, BW_SEV_MEDIUM, BW_SEV_HIGH, BW_SEV_CRITICAL };

#define BW_KIND_BIT(k) (1u << (k))

/* Kinds the facts justify that are not in `already` (a mask of BW_KIND_BIT). Bruteforce is
 * never returned here: it needs the window (bw_brute_fail).
 * Alerts wait until the handshake has an outcome (accepted, refused, failed), so each record
 * carries the broker's answer; they go out without it when there is no handshake to wait for
 * (midstream, encrypted, bytes lost) or when `session_over`. */
uint32_t bw_verdict_eval(const struct bw_facts *f, uint32_t already, bool session_over);

/* An anonymous client the broker accepted (the anonymous_session rule; the exposure report
 * asks the same). */
bool bw_verdict_anonymous(uint32_t seen);

/* True once the facts are complete enough to judge (see bw_verdict_eval). */
bool bw_verdict_settled(const struct bw_facts *f, bool session_over);

const char *bw_kind_name(enum bw_kind k);
enum bw_severity bw_kind_severity(enum bw_kind k);
const char *bw_severity_name(enum bw_severity s);
/* The rule-like identity of each kind, for EVE consumers (docs/alerts.md lists them):
 * alert.signature_id (stable, 8510001 + kind), alert.signature, alert.category (one of
 * Suricata's classification names) and alert.severity as EVE's integer (1 high .. 3 low;
 * critical and high are both 1, told apart by alert.metadata.signature_severity). */
#define BW_SID_BASE 8510001u
uint32_t bw_kind_sid(enum bw_kind k);
const char *bw_kind_signature(enum bw_kind k);
const char *bw_kind_category(enum bw_kind k);
int bw_severity_eve(enum bw_severity s);
/* Parse "low|medium|high|critical" / a kind name; -1 when unknown. */
int bw_severity_parse(const char *s);
int bw_kind_parse(const char *s);

/* ---- bruteforce window: N failures from one client address to one broker in T seconds ---- */

#define BW_BRUTE_N_MAX   256      /* largest N accepted by --bruteforce */
#define BW_BRUTE_SLOTS   4096     /* (client, broker) pairs tracked; the stalest is replaced */
#define BW_BRUTE_WAYS    4

struct bw_brute_entry {
    uint8_t  cli[16], srv[16];
    uint16_t srv_port;
    uint8_t  ip_ver;
    bool     used;
    uint16_t head, count;         /* ring of the last failure times */
    uint64_t last_us;             /* last failure */
    uint64_t fired_until_us;      /* no second alert before this time */
    uint64_t ring[];              /* n slots */
};

struct bw_brute {
    uint8_t *mem;                 /* BW_BRUTE_SLOTS entries of entry_size bytes */
    size_t   entry_size;
    uint32_t n;                   /* threshold */
    uint64_t window_us;
    uint64_t replaced;            /* entries dropped for lack of room */
};

int  bw_brute_init(struct bw_brute *b, uint32_t n, uint32_t window_s) BW_WARN_UNUSED;
void bw_brute_free(struct bw_brute *b);
/* Record one failure at ts. Returns true when this failure completes N within the window and no
 * alert was raised for this pair in the current window; *count gets the failures in the window. */
bool bw_brute_fail(struct bw_brute *b, uint8_t ip_ver, const uint8_t *cli, const uint8_t *srv,
                   uint16_t srv_port, uint64_t ts_us, uint32_t *count);

#endif
