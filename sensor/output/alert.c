/* alert.c: builds the JSON line of an alert or a session record from the flow, the session's
 * facts and the verdict. Formatting only: the caller writes the line to its sinks.
 * Never prints a password (facts hold none); with --redact-usernames a user name leaves only as
 * its keyed token (bw_redact.h), the same in the JSON member and in the summary. */
#include <arpa/inet.h>
#include <string.h>
#include "bw_alert.h"
#include "bw_json.h"
#include "bw_strbuf.h"
#include "bw_tls.h"

/* Two decimal digits at p. */
static char *two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuu+0000", the calendar computed here (days to civil date, proleptic
 * Gregorian) rather than through gmtime_r/strftime/snprintf on every record. */
void bw_format_ts(uint64_t ts_us, char out[32])
{
    uint64_t sec = ts_us / 1000000u;
    unsigned us = (unsigned)(ts_us % 1000000u);
    uint64_t days = sec / 86400u;
    unsigned sod = (unsigned)(sec % 86400u);
    /* days since 1970-01-01 -> year, month, day, with eras of 400 years from 0000-03-01 */
    uint64_t z = days + 719468u;
    uint64_t era = z / 146097u;
    unsigned doe = (unsigned)(z - era * 146097u);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t y = (uint64_t)yoe + era * 400u;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    if (y > 9999) {                     /* only a forged capture time: the last one with 4 digits */
        memcpy(out, "9999-12-31T23:59:59.999999+0000", 32);
        return;
    }
    char *p = out;
    p = two(p, (unsigned)(y / 100));
    p = two(p, (unsigned)(y % 100));
    *p++ = '-';
    p = two(p, m);
    *p++ = '-';
    p = two(p, d);
    *p++ = 'T';
    p = two(p, sod / 3600);
    *p++ = ':';
    p = two(p, sod / 60 % 60);
    *p++ = ':';
    p = two(p, sod % 60);
    *p++ = '.';
    p = two(p, us / 10000);
    p = two(p, us / 100 % 100);
    p = two(p, us % 100);
    memcpy(p, "+0000", 6);
}

void bw_format_ip(uint8_t ip_ver, const uint8_t *ip, char out[46])
{
    if (ip_ver == 4) {                  /* dotted quad by hand: the common case, every record */
        char *p = out;
        for (int i = 0; i < 4; i++) {
            unsigned v = ip[i];
            if (v >= 100) *p++ = (char)('0' + v / 100);
            if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = i < 3 ? '.' : '\0';
        }
        return;
    }
    if (!inet_ntop(AF_INET6, ip, out, 46)) memcpy(out, "?", 2);
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
static void user_for_summary(const struct bw_alert_cfg *cfg, const struct bw_facts *f, struct bw_strbuf *b)
{
    if (!(f->seen & BW_FACT_CREDS_USER)) { bw_sb_put(b, "(none)"); return; }
    if (f->user.unread) { bw_sb_put(b, "(unread)"); return; }
    if (cfg->redact_usernames) {
        char tok[BW_REDACT_TOKEN_MAX];
        if (!cfg->redact) { bw_sb_put(b, "(redacted)"); return; }
        bw_redact_token(cfg->redact, f->user.s, f->user.len, f->user.cut, tok);
        bw_sb_put(b, tok);
        return;
    }
    char out[40];
    size_t n = 0;
    for (size_t i = 0; i < f->user.len && n < 32; i++) {
        unsigned char c = (unsigned char)f->user.s[i];
        out[n++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
    }
    /* The summary is a one-liner for people; the username member holds the whole name. */
    if (n < f->user.len || f->user.cut) { memcpy(out + n, "...", 3); n += 3; }
    bw_sb_putn(b, out, n);
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

/* "srv:port" */
static void put_hostport(struct bw_strbuf *b, const char *host, uint16_t port)
{
    bw_sb_put(b, host);
    bw_sb_putn(b, ":", 1);
    bw_sb_u64(b, port);
}

/* "APP broker srv:port" */
static void put_broker(struct bw_strbuf *b, const char *app, const char *host, uint16_t port)
{
    bw_sb_put(b, app);
    bw_sb_put(b, " broker ");
    put_hostport(b, host, port);
}

static void summary(char *out, size_t cap, const struct bw_alert_cfg *cfg, const struct bw_record_in *in,
                    const char *cli, const char *srv, uint16_t sport)
{
    const struct bw_session *s = in->session;
    const struct bw_facts *f = &s->facts;
    const char *app = app_upper(proto_name(s));
    const char *ver = f->version[0] ? f->version : "";
    struct bw_strbuf b;
    bw_sb_init(&b, out, cap);
    switch (in->kind) {
    case BW_KIND_PLAINTEXT_SESSION:
        bw_sb_put(&b, app);
        if (*ver) { bw_sb_put(&b, " "); bw_sb_put(&b, ver); }
        bw_sb_put(&b, " session from ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " to broker ");
        put_hostport(&b, srv, sport);
        bw_sb_put(&b, " without TLS");
        if (f->seen & BW_FACT_MIDSTREAM) bw_sb_put(&b, " (seen midstream)");
        break;
    case BW_KIND_ANONYMOUS_SESSION:
        put_broker(&b, app, srv, sport);
        bw_sb_put(&b, " accepted client ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " without credentials");
        if (f->seen & BW_FACT_AUTH_INFERRED) bw_sb_put(&b, " (acceptance inferred from traffic)");
        break;
    case BW_KIND_CLEARTEXT_CREDENTIALS:
        bw_sb_put(&b, app);
        bw_sb_put(&b, " credentials (user '");
        user_for_summary(cfg, f, &b);
        bw_sb_put(&b, "'");
        if (f->seen & BW_FACT_CREDS_PASS) bw_sb_put(&b, " and a password");
        bw_sb_put(&b, ") sent in cleartext from ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " to ");
        put_hostport(&b, srv, sport);
        break;
    case BW_KIND_DEFAULT_CREDENTIALS:
        bw_sb_put(&b, "well-known default credentials (user '");
        user_for_summary(cfg, f, &b);
        bw_sb_put(&b, "') used from ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " on ");
        put_broker(&b, app, srv, sport);
        break;
    case BW_KIND_AUTH_FAILURE:
        put_broker(&b, app, srv, sport);
        bw_sb_put(&b, " refused client ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " (user '");
        user_for_summary(cfg, f, &b);
        bw_sb_put(&b, "', code ");
        bw_sb_i64(&b, f->result_code);
        bw_sb_put(&b, ")");
        break;
    case BW_KIND_BRUTEFORCE:
        bw_sb_u64(&b, in->brute_failures);
        bw_sb_put(&b, " authentication failures from ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " to ");
        put_broker(&b, app, srv, sport);
        bw_sb_put(&b, " within ");
        bw_sb_u64(&b, in->brute_window_s);
        bw_sb_put(&b, " s");
        break;
    case BW_KIND_WILDCARD_SUBSCRIBE:
        bw_sb_put(&b, "client ");
        bw_sb_put(&b, cli);
        bw_sb_put(&b, " subscribed to a wildcard topic filter on ");
        put_broker(&b, app, srv, sport);
        bw_sb_put(&b, " without TLS");
        break;
    case BW_KIND_WEAK_TLS: {
        char why[160] = "";
        if (s->dis && s->dis->describe) s->dis->describe(f, why, sizeof why);
        bw_sb_put(&b, "weak TLS on ");
        put_broker(&b, app, srv, sport);
        if (why[0]) { bw_sb_put(&b, " ("); bw_sb_put(&b, why); bw_sb_put(&b, ")"); }
        break;
    }
    default:
        bw_sb_put(&b, app);
        bw_sb_put(&b, " session");
        break;
    }
}

/* One line about a finished session for people (text output; not part of the JSON record). */
static void session_line(char *out, size_t cap, const struct bw_record_in *in, const char *cli,
                         const char *srv, uint16_t sport)
{
    const struct bw_session *s = in->session;
    const char *ver = s && s->facts.version[0] ? s->facts.version : "";
    struct bw_strbuf b;
    bw_sb_init(&b, out, cap);
    bw_sb_put(&b, app_upper(proto_name(s)));
    if (*ver) { bw_sb_put(&b, " "); bw_sb_put(&b, ver); }
    bw_sb_put(&b, " session from ");
    bw_sb_put(&b, cli);
    bw_sb_put(&b, " to ");
    put_hostport(&b, srv, sport);
    bw_sb_put(&b, " ended (");
    bw_sb_put(&b, in->end_reason ? in->end_reason : "end");
    bw_sb_put(&b, "); alerts:");
    bool any = false;
    for (int k = 0; s && k < BW_KIND_COUNT; k++) {
        if (!(s->alerted & BW_KIND_BIT(k))) continue;
        bw_sb_put(&b, any ? ", " : " ");
        bw_sb_put(&b, bw_kind_name((enum bw_kind)k));
        any = true;
    }
    if (!any) bw_sb_put(&b, " none");
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
            /* EVE's flow.age: whole seconds between the first and the last packet's seconds */
            uint64_t age = fl->last_us > fl->first_us ? fl->last_us / 1000000 - fl->first_us / 1000000 : 0;
            bw_json_u64(&j, "age", age);
            bw_json_str(&j, "reason", in->end_reason ? in->end_reason : "end");
            bw_json_bool(&j, "alerted", s && s->alerted);
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
