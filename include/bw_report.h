/* bw_report.h: the exposure report: one row per broker (server address and port that spoke
 * MQTT or AMQP), aggregated from finished sessions, printed at the end of the run as a table for
 * people and as JSON for machines. Memory is bounded (max brokers, clients and user names kept per
 * broker); what does not fit is counted, never silently merged. */
#ifndef BW_REPORT_H
#define BW_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "bw_err.h"
#include "bw_facts.h"

#define BW_REPORT_CLIENTS_MAX   128   /* distinct client addresses counted exactly per broker */
#define BW_REPORT_USERS_MAX     8     /* distinct user names kept per broker (--show-usernames) */
#define BW_REPORT_USER_LEN      32

struct bw_report_session {
    uint8_t  ip_ver;
    const uint8_t *server_ip, *client_ip;   /* 16 bytes each (IPv4 in the first 4) */
    uint16_t server_port;
    const char *app;                        /* "mqtt" / "amqp" */
    const struct bw_facts *facts;
    uint64_t first_us, last_us;
};

struct bw_report;

/* max_brokers rows at most; NULL on allocation failure. */
struct bw_report *bw_report_new(uint32_t max_brokers);
void bw_report_free(struct bw_report *r);
/* One finished session. Only confirmed broker sessions count; others are ignored. */
void bw_report_session(struct bw_report *r, const struct bw_report_session *s);
/* A table for people. Returns 0 or BW_EIO. */
int  bw_report_write_text(const struct bw_report *r, FILE *out, bool show_usernames) BW_WARN_UNUSED;
/* {"brokers":[...],"totals":{...}}. Returns 0 or BW_EIO. */
int  bw_report_write_json(const struct bw_report *r, FILE *out, bool show_usernames) BW_WARN_UNUSED;
uint32_t bw_report_brokers(const struct bw_report *r);

#endif
