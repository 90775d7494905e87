/* bw_report.h: the exposure report: one row per broker (server address and port that spoke
 * MQTT or AMQP), aggregated from finished sessions, plus the run's alerts by kind over time, printed
 * at the end of the run as a table for people (120 columns), JSON for machines, one self-contained
 * HTML page (inline SVG charts, no script) and CSV for spreadsheets. Memory is bounded (max
 * brokers, clients and user names kept per broker, fixed timeline buckets); what does not fit is
 * counted, never silently merged. Writers take an open FILE: the caller decides where (and opens
 * it while it may). docs/report.md describes every form. */
#ifndef BW_REPORT_H
#define BW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "bw_err.h"
#include "bw_facts.h"
#include "bw_redact.h"
#include "bw_verdict.h"

#define BW_REPORT_CLIENTS_MAX   128   /* distinct client addresses counted exactly per broker */
#define BW_REPORT_USERS_MAX     8     /* distinct user names kept per broker (--show-usernames) */
#define BW_REPORT_VERSIONS_MAX  4     /* distinct protocol versions kept per broker */
#define BW_REPORT_BUCKETS       60    /* timeline buckets over the capture span */
#define BW_REPORT_TEXT_WIDTH    120   /* columns of the text report */

struct bw_report_session {
    uint8_t  ip_ver;
    const uint8_t *server_ip, *client_ip;   /* 16 bytes each (IPv4 in the first 4) */
    uint16_t server_port;
    const char *app;                        /* "mqtt" / "amqp" */
    const struct bw_facts *facts;
    uint64_t first_us, last_us;
};

/* Exposure classes: each broker is in exactly one, its worst (docs/report.md). */
enum bw_exposure {
    BW_EXPOSURE_DEFAULT_CREDS = 0,          /* accepted a well-known default user/password pair */
    BW_EXPOSURE_ANONYMOUS,                  /* accepted a client without credentials */
    BW_EXPOSURE_CLEARTEXT_CREDS,            /* credentials crossed the wire in clear */
    BW_EXPOSURE_PLAINTEXT,                  /* plaintext sessions, no credentials seen */
    BW_EXPOSURE_WEAK_TLS,                   /* TLS only, with a weakness */
    BW_EXPOSURE_TLS,                        /* TLS only */
    BW_EXPOSURE_COUNT
};

/* One broker, as the writers see it. */
struct bw_report_row {
    uint8_t  ip[16];
    uint8_t  ip_ver;
    uint16_t port;
    uint8_t  apps;                          /* bit 0 mqtt, bit 1 amqp */
    char     versions[BW_REPORT_VERSIONS_MAX][sizeof ((struct bw_facts *)0)->version];
    uint8_t  nversions;
    bool     tls, plaintext, anonymous_accepted, default_accepted, weak_tls, clients_more, users_more;
    char     tls_version[sizeof ((struct bw_facts *)0)->tls_version];   /* weakest seen */
    uint64_t sessions, cleartext_credentials, default_credentials, auth_failures;
    uint64_t alerts[BW_KIND_COUNT];         /* alerts raised against this broker, by kind */
    uint64_t first_us, last_us;
    uint32_t nclients;
    uint64_t clients[BW_REPORT_CLIENTS_MAX];     /* hashes of client addresses */
    uint8_t  nusers;
    struct bw_fid  users[BW_REPORT_USERS_MAX];   /* as sent, whole up to 256 bytes; redacted only when written */
    struct bw_fstr product;
    uint32_t next;                          /* hash chain, index + 1 (report.c's) */
};

struct bw_report_totals {
    /* brokers */
    uint64_t brokers, plaintext, tls, anonymous, creds, default_creds, weak_tls;
    uint64_t failed_brokers, bruteforce_brokers;  /* brokers with a failed login / a bruteforce alert */
    uint64_t exposure[BW_EXPOSURE_COUNT];
    /* sessions and alerts */
    uint64_t failed_logins;                 /* sessions whose authentication failed */
    uint64_t alerts[BW_KIND_COUNT];         /* every alert of the run, by kind */
    uint64_t alerts_total;
};

/* Alerts by kind in BW_REPORT_BUCKETS fixed buckets: bucket i counts alerts with time in
 * [start_us + i * width_us, start_us + (i + 1) * width_us). */
struct bw_report_timeline {
    int64_t  start_us;
    uint64_t width_us;
    uint32_t nbuckets;                      /* buckets that cover the span (0: nothing to show) */
    uint64_t count[BW_KIND_COUNT][BW_REPORT_BUCKETS];
    uint64_t peak;                          /* largest bucket, all kinds together */
};

/* What the report says about the run itself (its header). */
struct bw_report_header {
    const char *sensor;                     /* --sensor-name */
    const char *version;                    /* brokerwatch's */
    const char *const *inputs;              /* -r files, in order */
    size_t ninputs;
    const char *iface;                      /* live capture interface, or NULL */
    const char *bpf;                        /* capture filter, or NULL */
    uint64_t first_us, last_us;             /* capture time of the first and last packet; 0: none */
    uint64_t generated_us;                  /* wall-clock time the report was written */
    bool show_usernames;                    /* --show-usernames */
    bool redact;                            /* --redact-usernames: user names as tokens ... */
    const struct bw_redact *redact_key;     /* ... under this key; NULL: names withheld */
};

struct bw_report;

/* max_brokers rows at most; NULL on allocation failure. */
struct bw_report *bw_report_new(uint32_t max_brokers);
void bw_report_free(struct bw_report *r);
/* Make dst (from bw_report_new with the same max_brokers) an exact copy of src: what a report
 * written now starts from, before the sessions still open are added to it. Returns 0, or
 * BW_ENOMEM (dst is then partial; do not write it) or BW_ELIMIT (different sizes). */
int bw_report_copy(struct bw_report *dst, const struct bw_report *src) BW_WARN_UNUSED;
/* One finished session. Only confirmed broker sessions count; others are ignored. */
/* Workers: add src's brokers, alerts and timeline into dst (a broker both saw is one row; what
 * does not fit is counted as dropped). Returns 0. */
int bw_report_merge(struct bw_report *dst, const struct bw_report *src) BW_WARN_UNUSED;
void bw_report_session(struct bw_report *r, const struct bw_report_session *s);
/* One alert against the broker at server_ip:port (capture time ts_us): the timeline and the
 * broker's alert counts. */
void bw_report_alert(struct bw_report *r, enum bw_kind kind, uint8_t ip_ver, const uint8_t *server_ip,
                     uint16_t server_port, uint64_t ts_us);
uint32_t bw_report_brokers(const struct bw_report *r);
/* Sessions left out because the broker table was full. */
uint32_t bw_report_dropped(const struct bw_report *r);
uint32_t bw_report_max(const struct bw_report *r);

/* Writers. Each returns 0, BW_ENOMEM, or BW_EIO when out reported a write error. */
int bw_report_write_text(const struct bw_report *r, const struct bw_report_header *h, FILE *out) BW_WARN_UNUSED;
int bw_report_write_json(const struct bw_report *r, const struct bw_report_header *h, FILE *out) BW_WARN_UNUSED;
int bw_report_write_html(const struct bw_report *r, const struct bw_report_header *h, FILE *out) BW_WARN_UNUSED;
int bw_report_write_csv(const struct bw_report *r, const struct bw_report_header *h, FILE *out) BW_WARN_UNUSED;

/* ---- for the writers (report.c) ---- */

/* Rows sorted by address (IPv4 first), *n of them; NULL when out of memory. The caller frees the
 * array, not the rows; valid until the report changes. */
const struct bw_report_row **bw_report_sorted(const struct bw_report *r, size_t *n);
void bw_report_totals(const struct bw_report *r, struct bw_report_totals *t);
/* The timeline stretched to cover [first_us, last_us] as well as every alert. */
void bw_report_timeline(const struct bw_report *r, uint64_t first_us, uint64_t last_us,
                        struct bw_report_timeline *tl);
enum bw_exposure bw_report_exposure(const struct bw_report_row *w);
const char *bw_exposure_name(enum bw_exposure e);      /* "default_credentials", ... */
const char *bw_exposure_label(enum bw_exposure e);     /* "Default credentials accepted", ... */
const char *bw_report_apps_name(uint8_t apps);         /* "mqtt", "amqp", "mqtt+amqp" */
/* "10.0.0.1:1883" / "[::1]:1883"; out needs 56 bytes. */
void bw_report_addr(const struct bw_report_row *w, char out[56]);
/* "2026-11-24 10:00:00Z"; "-" for 0. out needs 32 bytes. */
void bw_report_time(uint64_t us, char out[32]);
/* "36 min 43 s", "2 d 3 h"; out needs 32 bytes. */
void bw_report_duration(uint64_t us, char out[32]);
/* A user name as the report may show it: its bytes (cut ones end in "..." when dots: the text,
 * HTML and CSV reports; the JSON report says "usernames_truncated" instead), or its token when
 * redacting, or "(redacted)" without a key. Returns the length in out (not NUL-terminated when
 * raw: the bytes may be anything; escape them for the output). out needs BW_REPORT_USER_OUT. */
#define BW_REPORT_USER_OUT (sizeof ((struct bw_fid *)0)->s + BW_REDACT_TOKEN_MAX + 4)
size_t bw_report_user(const struct bw_report_header *h, const struct bw_fid *u, bool dots, char *out);

#endif
