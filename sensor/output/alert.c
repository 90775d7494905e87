/* alert.c: builds the JSON line of an alert or a session record from the flow, the session's
 * facts and the verdict. Formatting only: the caller writes the line to its sinks.
 * Never prints a password (facts hold none); with --redact-usernames a user name leaves only as
 * its keyed token (bw_redact.h), the same in the JSON member and in the summary. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "bw_alert.h"
#include "bw_json.h"
#include "bw_tls.h"

void bw_format_ts(uint64_t ts_us, char out[32])
{
    time_t sec = (time_t)(ts_us / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%06u+0000", day, (unsigned)(ts_us % 1000000u) % 1000000u);
}

void bw_format_ip(uint8_t ip_ver, const uint8_t *ip, char out[46])
{
    if (!inet_ntop(ip_ver == 4 ? AF_INET : AF_INET6, ip, out, 46)) memcpy(out, "?", 2);
}

static const char *proto_name(const struct bw_session *s)
{
    if (s && s->app) return s->app;
    return s && s->dis ? s->dis->name : "unknown";
}

/* A user name, or its token under the redaction key (bw_redact.h) when the operator asked for
 * redaction. Without a key (a caller that set the flag only) the name is withheld: null. */
static void put_user(struct bw_json *j, const struct bw_alert_cfg *cfg, const struct bw_facts *f)
{
    /* Announced but never read (lost or cut off bytes): null, never "" (an anomaly says why). */
    if (!(f->seen & BW_FACT_CREDS_USER) || f->user.unread) { bw_json_null(j, "username"); return; }
    if (!cfg->redact_usernames) { bw_json_fid(j, "username", "username_truncated", &f->user); return; }
    if (!cfg->redact) { bw_json_null(j, "username"); return; }
    char tok[BW_REDACT_TOKEN_MAX];
    bw_redact_token(cfg->redact, f->user.s, f->user.len, f->user.cut, tok);
    bw_json_str(j, "username", tok);
    if (f->user.cut) bw_json_bool(j, "username_truncated", true);
}

/* Short printable form of the user name for summaries (never a password): the same token as
 * the username member when redacting. */
static void user_for_summary(const struct bw_alert_cfg *cfg, const struct bw_facts *f, char *out, size_t cap)
{
    if (!(f->seen & BW_FACT_CREDS_USER)) { snprintf(out, cap, "(none)"); return; }
    if (f->user.unread) { snprintf(out, cap, "(unread)"); return; }
    if (cfg->redact_usernames) {
        char tok[BW_REDACT_TOKEN_MAX];
        if (!cfg->redact) { snprintf(out, cap, "(redacted)"); return; }
        bw_redact_token(cfg->redact, f->user.s, f->user.len, f->user.cut, tok);
        snprintf(out, cap, "%s", tok);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < f->user.len && n + 1 < cap && n < 32; i++) {
        unsigned char c = (unsigned char)f->user.s[i];
        out[n++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
    }
    /* The summary is a one-liner for people; the username member holds the whole name. */
    if ((n < f->user.len || f->user.cut) && n + 4 <= cap) { memcpy(out + n, "...", 3); n += 3; }
    out[n] = '\0';
}

static void proto_object(struct bw_json *j, const struct bw_alert_cfg *cfg, const struct bw_session *s)
{
    const struct bw_facts *f = &s->facts;
    bw_json_obj_open(j, proto_name(s));
    if (f->version[0]) bw_json_str(j, "protocol_version", f->version);
    else bw_json_null(j, "protocol_version");
    if (f->client_id.len || f->client_id.cut || f->client_id.unread)
        bw_json_fid(j, "client_id", "client_id_truncated", &f->client_id);
    put_user(j, cfg, f);
    /* Midstream, the handshake was never seen: say "unknown", not "no password". */
    if ((f->seen & BW_FACT_MIDSTREAM) && !(f->seen & (BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS)))
        bw_json_null(j, "password_present");
    else
        bw_json_bool(j, "password_present", (f->seen & BW_FACT_CREDS_PASS) != 0);
    if (f->seen & BW_FACT_CREDS_PASS) bw_json_u64(j, "password_length", f->pass_len);
    else bw_json_null(j, "password_length");
    if (f->mech.len) bw_json_fstr(j, "mechanism", &f->mech);
    /* A refusal after a first yes (AMQP: Tune, then Close 530 for the vhost) is the last word. */
    if (f->seen & (BW_FACT_AUTH_FAILED | BW_FACT_REFUSED)) bw_json_bool(j, "accepted", false);
    else if (f->seen & BW_FACT_AUTH_OK) bw_json_bool(j, "accepted", true);
    else bw_json_null(j, "accepted");
    if (f->seen & BW_FACT_AUTH_INFERRED) bw_json_bool(j, "accepted_inferred", true);
    if (f->seen & BW_FACT_DEFAULT_CREDS) bw_json_bool(j, "default_credentials", true);
    bw_json_bool(j, "midstream", (f->seen & BW_FACT_MIDSTREAM) != 0);
    if (f->seen & BW_FACT_GAP) bw_json_bool(j, "gap", true);
    bw_json_arr_open(j, "anomalies");
    if (s->dis && s->dis->anomaly_names) {
        for (unsigned b = 0; b < 32 && s->dis->anomaly_names[b]; b++)
            if (f->anomalies & (1u << b)) bw_json_str(j, NULL, s->dis->anomaly_names[b]);
    }
    bw_json_arr_close(j);
    /* A TLS session's details go to the top-level EVE "tls" object instead (see below). */
    if (s->dis && s->dis->facts_json && !bw_tls_facts_of(f)) s->dis->facts_json(f, j);
    bw_json_obj_close(j);
}

static const char *app_upper(const char *name)
{
    if (strcmp(name, "mqtt") == 0) return "MQTT";
    if (strcmp(name, "amqp") == 0) return "AMQP";
    return name;
}

static void summary(char *out, size_t cap, const struct bw_alert_cfg *cfg, const struct bw_record_in *in,
                    const char *cli, const char *srv, uint16_t sport)
{
    const struct bw_session *s = in->session;
    const struct bw_facts *f = &s->facts;
    const char *app = app_upper(proto_name(s));
    const char *ver = f->version[0] ? f->version : "";
    char user[BW_REDACT_TOKEN_MAX + 8];
    user_for_summary(cfg, f, user, sizeof user);
    switch (in->kind) {
    case BW_KIND_PLAINTEXT_SESSION:
        snprintf(out, cap, "%s%s%s session from %s to broker %s:%u without TLS%s", app, *ver ? " " : "",
                 ver, cli, srv, sport, (f->seen & BW_FACT_MIDSTREAM) ? " (seen midstream)" : "");
        break;
    case BW_KIND_ANONYMOUS_SESSION:
        snprintf(out, cap, "%s broker %s:%u accepted client %s without credentials%s", app, srv, sport, cli,
                 (f->seen & BW_FACT_AUTH_INFERRED) ? " (acceptance inferred from traffic)" : "");
        break;
    case BW_KIND_CLEARTEXT_CREDENTIALS:
        snprintf(out, cap, "%s credentials (user '%s'%s) sent in cleartext from %s to %s:%u", app, user,
                 (f->seen & BW_FACT_CREDS_PASS) ? " and a password" : "", cli, srv, sport);
        break;
    case BW_KIND_DEFAULT_CREDENTIALS:
        snprintf(out, cap, "well-known default credentials (user '%s') used from %s on %s broker %s:%u",
                 user, cli, app, srv, sport);
        break;
    case BW_KIND_AUTH_FAILURE:
        snprintf(out, cap, "%s broker %s:%u refused client %s (user '%s', code %" PRId32 ")", app, srv, sport,
                 cli, user, f->result_code);
        break;
    case BW_KIND_BRUTEFORCE:
        snprintf(out, cap, "%" PRIu32 " authentication failures from %s to %s broker %s:%u within %" PRIu32 " s",
                 in->brute_failures, cli, app, srv, sport, in->brute_window_s);
        break;
    case BW_KIND_WILDCARD_SUBSCRIBE:
        snprintf(out, cap, "client %s subscribed to a wildcard topic filter on %s broker %s:%u without TLS",
                 cli, app, srv, sport);
        break;
    case BW_KIND_WEAK_TLS: {
        char why[160] = "";
        if (s->dis && s->dis->describe) s->dis->describe(f, why, sizeof why);
        snprintf(out, cap, "weak TLS on %s broker %s:%u%s%s%s", app, srv, sport, why[0] ? " (" : "", why,
                 why[0] ? ")" : "");
        break;
    }
    default:
        snprintf(out, cap, "%s session", app);
        break;
    }
}

/* One line about a finished session for people (text output; not part of the JSON record). */
static void session_line(char *out, size_t cap, const struct bw_record_in *in, const char *cli,
                         const char *srv, uint16_t sport)
{
    const struct bw_session *s = in->session;
    const char *ver = s && s->facts.version[0] ? s->facts.version : "";
    size_t n = (size_t)snprintf(out, cap, "%s%s%s session from %s to %s:%u ended (%s); alerts:",
                                app_upper(proto_name(s)), *ver ? " " : "", ver, cli, srv, sport,
                                in->end_reason ? in->end_reason : "end");
    bool any = false;
    for (int k = 0; s && k < BW_KIND_COUNT && n < cap; k++) {
        if (!(s->alerted & BW_KIND_BIT(k))) continue;
        n += (size_t)snprintf(out + n, cap - n, "%s %s", any ? "," : "", bw_kind_name((enum bw_kind)k));
        any = true;
    }
    if (!any && n < cap) snprintf(out + n, cap - n, " none");
}

int bw_alert_format(const struct bw_alert_cfg *cfg, const struct bw_record_in *in,
                    char *buf, size_t cap, size_t *len, struct bw_record_meta *meta)
{
    const struct bw_flow *fl = in->flow;
    const struct bw_session *s = in->session;
    const uint8_t *cip, *sip;
    uint16_t cport, sport;
    char cli[46], srv[46], ts[32], cid[32];
    bw_flow_client(fl, &cip, &cport);
    bw_flow_server(fl, &sip, &sport);
    bw_format_ip(fl->key.ip_ver, cip, cli);
    bw_format_ip(fl->key.ip_ver, sip, srv);
    bw_format_ts(in->ts_us, ts);
    bw_community_id(0, fl->key.ip_ver, cip, sip, 6, cport, sport, cid);
    bool tls = s && (s->facts.seen & BW_FACT_TLS);
    bool is_alert = in->kind >= 0;
    char sum[BW_SUMMARY_MAX];
    if (is_alert) summary(sum, sizeof sum, cfg, in, cli, srv, sport);
    else session_line(sum, sizeof sum, in, cli, srv, sport);

    /* Two attempts: with the protocol object, then (if it did not fit) without it. */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct bw_json j;
        bw_json_init(&j, buf, cap);
        bw_json_obj_open(&j, NULL);
        bw_json_str(&j, "timestamp", ts);
        bw_json_str(&j, "event_type", is_alert ? "alert" : "session");
        bw_json_str(&j, "sensor", cfg->sensor ? cfg->sensor : "");
        bw_json_u64(&j, "flow_id", fl->id);
        bw_json_str(&j, "community_id", cid);
        bw_json_str(&j, "src_ip", cli);
        bw_json_u64(&j, "src_port", cport);
        bw_json_str(&j, "dest_ip", srv);
        bw_json_u64(&j, "dest_port", sport);
        bw_json_str(&j, "proto", "TCP");
        bw_json_str(&j, "app_proto", proto_name(s));
        /* EVE has "tls" as an object only: a plaintext session has none, and "encrypted" says
         * it for filters that want a boolean. */
        bw_json_bool(&j, "encrypted", tls);
        if (s && s->dis && s->dis->facts_json && bw_tls_facts_of(&s->facts)) s->dis->facts_json(&s->facts, &j);
        if (is_alert) {
            enum bw_kind k = (enum bw_kind)in->kind;
            enum bw_severity sev = bw_kind_severity(k);
            bw_json_obj_open(&j, "alert");
            bw_json_str(&j, "action", "allowed");          /* a passive sensor blocks nothing */
            bw_json_u64(&j, "gid", 1);
            bw_json_u64(&j, "signature_id", bw_kind_sid(k));
            bw_json_u64(&j, "rev", 1);
            bw_json_str(&j, "signature", bw_kind_signature(k));
            bw_json_str(&j, "category", bw_kind_category(k));
            bw_json_u64(&j, "severity", (uint64_t)bw_severity_eve(sev));
            bw_json_str(&j, "kind", bw_kind_name(k));
            bw_json_str(&j, "summary", sum);
            bw_json_obj_open(&j, "metadata");
            bw_json_arr_open(&j, "signature_severity");
            bw_json_str(&j, NULL, bw_severity_name(sev));
            bw_json_arr_close(&j);
            bw_json_obj_close(&j);
            if (in->kind == BW_KIND_BRUTEFORCE) {
                bw_json_u64(&j, "failures", in->brute_failures);
                bw_json_u64(&j, "window_s", in->brute_window_s);
            }
            bw_json_obj_close(&j);
        } else {
            char t0[32], t1[32];
            bw_format_ts(fl->first_us, t0);
            bw_format_ts(fl->last_us, t1);
            bw_json_obj_open(&j, "flow");
            bw_json_str(&j, "start", t0);
            bw_json_str(&j, "end", t1);
            bw_json_u64(&j, "pkts_toserver", fl->pkts[BW_DIR_TOSERVER]);
            bw_json_u64(&j, "pkts_toclient", fl->pkts[BW_DIR_TOCLIENT]);
            bw_json_u64(&j, "bytes_toserver", fl->bytes[BW_DIR_TOSERVER]);
            bw_json_u64(&j, "bytes_toclient", fl->bytes[BW_DIR_TOCLIENT]);
            bw_json_str(&j, "reason", in->end_reason ? in->end_reason : "end");
            bw_json_bool(&j, "broker_answered", !in->unanswered);
            bw_json_obj_close(&j);
            bw_json_arr_open(&j, "alerts");
            for (int k = 0; s && k < BW_KIND_COUNT; k++)
                if (s->alerted & BW_KIND_BIT(k)) bw_json_str(&j, NULL, bw_kind_name((enum bw_kind)k));
            bw_json_arr_close(&j);
        }
        if (s && attempt == 0) proto_object(&j, cfg, s);
        bw_json_obj_close(&j);
        if (bw_json_finish(&j)) {
            *len = j.len;
            if (meta) {
                meta->type = is_alert ? BW_REC_ALERT : BW_REC_SESSION;
                meta->event_type = is_alert ? "alert" : "session";
                meta->kind = is_alert ? bw_kind_name((enum bw_kind)in->kind) : NULL;
                meta->severity = is_alert ? bw_severity_name(bw_kind_severity((enum bw_kind)in->kind)) : NULL;
                meta->app_proto = proto_name(s);
                memcpy(meta->src_ip, cli, sizeof cli);
                memcpy(meta->dest_ip, srv, sizeof srv);
                meta->src_port = cport;
                meta->dest_port = sport;
                meta->ts_us = in->ts_us;
                memcpy(meta->summary, sum, sizeof sum);
            }
            return 0;
        }
    }
    *len = 0;
    return BW_ELIMIT;
}
