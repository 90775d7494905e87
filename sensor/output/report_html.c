/* output/report_html.c: the exposure report as one self-contained HTML page: header, totals,
 * brokers by exposure class and alerts over time as inline SVG drawn here, the broker table.
 * No script, no external asset (a Content-Security-Policy says so to the browser too); every
 * wire string (user names, products) and every name given on the command line goes through
 * bw_escape_html. Reads the report through bw_report.h's accessors; writes only to the FILE. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bw_alert.h"
#include "bw_escape.h"
#include "bw_report.h"

/* Colours by alert kind and by exposure class (the worst classes the warmest). */
static const char *const kind_colour[BW_KIND_COUNT] = {
    [BW_KIND_PLAINTEXT_SESSION] = "#e9b949", [BW_KIND_ANONYMOUS_SESSION] = "#d64545",
    [BW_KIND_CLEARTEXT_CREDENTIALS] = "#e8833a", [BW_KIND_DEFAULT_CREDENTIALS] = "#7b2cbf",
    [BW_KIND_AUTH_FAILURE] = "#4aa3df", [BW_KIND_BRUTEFORCE] = "#a61e4d",
    [BW_KIND_WILDCARD_SUBSCRIBE] = "#8d6e63", [BW_KIND_WEAK_TLS] = "#2b6cb0",
};
static const char *const exposure_colour[BW_EXPOSURE_COUNT] = {
    "#7b2cbf", "#d64545", "#e8833a", "#e9b949", "#4aa3df", "#2f9e44",
};

static const char *const exposure_short[BW_EXPOSURE_COUNT] = {
    "default credentials", "anonymous", "cleartext credentials", "plaintext", "weak TLS", "TLS only",
};

static const char *kcolour(int k) { return kind_colour[k] ? kind_colour[k] : "#888888"; }

static void esc(FILE *out, const char *s) { bw_escape_html(out, s, strlen(s)); }

static const char css[] =
    ":root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--card:#f4f6f9}"
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:var(--fg);"
    "background:#fff;margin:0 auto;max-width:1400px;padding:24px 28px}"
    "h1{font-size:24px;margin:0 0 10px}h2{font-size:17px;margin:30px 0 12px;padding-bottom:4px;"
    "border-bottom:1px solid var(--line)}"
    "dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 18px;margin:0;color:var(--muted)}"
    "dl.run dt{font-weight:600;color:var(--fg)}dl.run dd{margin:0;overflow-wrap:anywhere}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}"
    ".card{background:var(--card);border-left:5px solid #9aa3b2;border-radius:4px;padding:10px 12px}"
    ".card b{display:block;font-size:28px;line-height:1.15}.card small{color:var(--muted)}"
    ".card.bad{border-color:#d64545}.card.warn{border-color:#e8833a}.card.ok{border-color:#2f9e44}"
    ".card.zero{opacity:.7}"
    "svg text{font-family:system-ui,'DejaVu Sans',sans-serif;font-size:12px;fill:#1d2330}"
    "svg .axis{fill:#5b6475;font-size:11px}"
    ".legend{list-style:none;padding:0;margin:8px 0;display:flex;flex-wrap:wrap;gap:4px 18px}"
    ".legend i{display:inline-block;width:11px;height:11px;margin-right:6px;border-radius:2px}"
    ".note{color:var(--muted);margin:6px 0}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;font-size:12.5px}"
    "th,td{border-bottom:1px solid var(--line);padding:5px 7px;text-align:left;vertical-align:top}"
    "th{background:var(--card);font-weight:600;vertical-align:bottom}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}.t{white-space:nowrap}"
    "td.w{overflow-wrap:anywhere;min-width:120px;max-width:260px}"
    ".pill{display:inline-block;border-radius:9px;padding:0 8px;color:#fff;font-size:12px;white-space:nowrap}"
    "tr.hot td:first-child{border-left:4px solid #d64545}"
    "footer{margin-top:32px;color:var(--muted);font-size:12px}"
    "@media print{body{padding:0}.card{break-inside:avoid}}";

static void header(FILE *out, const struct bw_report_header *h)
{
    char t0[32], t1[32], d[32];
    fputs("<header><h1>Broker exposure report</h1><dl class=\"run\">", out);
    fputs("<dt>Sensor</dt><dd id=\"sensor\">", out);
    esc(out, h->sensor ? h->sensor : "");
    fputs("</dd><dt>Version</dt><dd id=\"version\">brokerwatch ", out);
    esc(out, h->version ? h->version : "");
    fputs("</dd>", out);
    if (h->iface) {
        fputs("<dt>Input</dt><dd id=\"inputs\">live capture on ", out);
        esc(out, h->iface);
        fputs("</dd>", out);
    } else {
        fprintf(out, "<dt>Input%s</dt><dd id=\"inputs\">", h->ninputs == 1 ? "" : "s");
        for (size_t i = 0; i < h->ninputs; i++) {
            if (i) fputs(", ", out);
            esc(out, h->inputs[i]);
        }
        fputs("</dd>", out);
    }
    if (h->bpf) {
        fputs("<dt>Filter</dt><dd>", out);
        esc(out, h->bpf);
        fputs("</dd>", out);
    }
    bw_report_time(h->first_us, t0);
    bw_report_time(h->last_us, t1);
    bw_report_duration(h->last_us > h->first_us ? h->last_us - h->first_us : 0, d);
    if (h->first_us) fprintf(out, "<dt>Capture</dt><dd id=\"span\">%s to %s (%s)</dd>", t0, t1, d);
    else fputs("<dt>Capture</dt><dd id=\"span\">no packets</dd>", out);
    bw_report_time(h->generated_us, t0);
    fprintf(out, "<dt>Generated</dt><dd id=\"generated\">%s</dd>", t0);
    if (h->show_usernames && h->redact)
        fprintf(out, "<dt>User names</dt><dd>%s tokens (HMAC-SHA256, key %s), not the names</dd>",
                BW_REDACT_PREFIX, h->redact_key ? h->redact_key->key_id : "withheld");
    fputs("</dl></header>\n", out);
}

static void card(FILE *out, const char *id, uint64_t n, const char *label, const char *sub, const char *cls)
{
    fprintf(out, "<div class=\"card %s%s\" data-total=\"%s\"><b>%" PRIu64 "</b> ", cls, n ? "" : " zero", id, n);
    esc(out, label);
    if (sub) {
        fputs("<br><small>", out);
        esc(out, sub);
        fputs("</small>", out);
    }
    fputs("</div>", out);
}

static void totals(FILE *out, const struct bw_report_totals *t)
{
    char sub[96];
    fputs("<section id=\"totals\"><h2>Totals</h2><div class=\"cards\">", out);
    card(out, "brokers", t->brokers, "brokers", NULL, "");
    card(out, "plaintext", t->plaintext, "plaintext only", NULL, t->plaintext ? "warn" : "ok");
    card(out, "tls", t->tls, "with TLS", NULL, "ok");
    card(out, "anonymous", t->anonymous, "accept anonymous clients", NULL, t->anonymous ? "bad" : "ok");
    card(out, "cleartext_credentials", t->creds, "leak credentials in cleartext", NULL, t->creds ? "bad" : "ok");
    card(out, "default_credentials", t->default_creds, "accept default credentials", NULL,
         t->default_creds ? "bad" : "ok");
    card(out, "weak_tls", t->weak_tls, "with weak TLS", NULL, t->weak_tls ? "warn" : "ok");
    snprintf(sub, sizeof sub, "on %" PRIu64 " broker%s", t->failed_brokers, t->failed_brokers == 1 ? "" : "s");
    card(out, "failed_logins", t->failed_logins, "failed logins", sub, t->failed_logins ? "warn" : "ok");
    snprintf(sub, sizeof sub, "on %" PRIu64 " broker%s", t->bruteforce_brokers, t->bruteforce_brokers == 1 ? "" : "s");
    card(out, "bruteforce", t->alerts[BW_KIND_BRUTEFORCE], "brute-force alerts", sub,
         t->alerts[BW_KIND_BRUTEFORCE] ? "bad" : "ok");
    fputs("</div></section>\n", out);
}

static void exposure_chart(FILE *out, const struct bw_report_totals *t)
{
    const double label_w = 230, bar_max = 420, row_h = 30;
    const double height = row_h * BW_EXPOSURE_COUNT + 8;
    uint64_t most = 1;
    for (int e = 0; e < BW_EXPOSURE_COUNT; e++) if (t->exposure[e] > most) most = t->exposure[e];
    fputs("<section id=\"exposure\"><h2>Brokers by exposure class</h2>", out);
    if (!t->brokers) { fputs("<p class=\"note\">No broker seen.</p></section>\n", out); return; }
    fprintf(out, "<svg width=\"720\" height=\"%.0f\" viewBox=\"0 0 720 %.0f\" role=\"img\" "
            "aria-label=\"Brokers by exposure class\">", height, height);
    for (int e = 0; e < BW_EXPOSURE_COUNT; e++) {
        double y = 4 + e * row_h, w = (double)t->exposure[e] / (double)most * bar_max;
        if (t->exposure[e] && w < 2) w = 2;
        fprintf(out, "<text x=\"0\" y=\"%.1f\">", y + 17);
        esc(out, bw_exposure_label((enum bw_exposure)e));
        fprintf(out, "</text><rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" rx=\"2\" fill=\"%s\">"
                "<title>%" PRIu64 " brokers: ", label_w, y + 3, w, exposure_colour[e], t->exposure[e]);
        esc(out, bw_exposure_label((enum bw_exposure)e));
        fprintf(out, "</title></rect><text x=\"%.1f\" y=\"%.1f\" data-exposure=\"%s\">%" PRIu64 "</text>",
                label_w + w + 6, y + 17, bw_exposure_name((enum bw_exposure)e), t->exposure[e]);
    }
    fputs("</svg><p class=\"note\">Each broker counts once, in its worst class (top to bottom).</p>"
          "</section>\n", out);
}

/* Axis label of a bucket start: the precision the bucket width calls for. */
static void tick_label(int64_t us, uint64_t width, bool multi_day, char out[40])
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    if (width < 1000000) {
        char hms[16];
        strftime(hms, sizeof hms, "%H:%M:%S", &tm);
        snprintf(out, 40, "%s.%03d", hms, (int)((us / 1000) % 1000));
    } else if (multi_day) {
        strftime(out, 40, "%m-%d %H:%M", &tm);
    } else if (width < 60000000) {
        strftime(out, 40, "%H:%M:%S", &tm);
    } else {
        strftime(out, 40, "%H:%M", &tm);
    }
}

static uint64_t nice_step(uint64_t peak)
{
    uint64_t raw = peak / 4 ? peak / 4 : 1, p = 1;
    while (p <= UINT64_MAX / 10 && p * 10 <= raw) p *= 10;
    if (raw <= p) return p;
    if (raw <= 2 * p) return 2 * p;
    if (raw <= 5 * p) return 5 * p;
    return 10 * p;
}

static void timeline_chart(FILE *out, const struct bw_report *r, const struct bw_report_header *h,
                           const struct bw_report_totals *t)
{
    struct bw_report_timeline tl;
    const double W = 960, H = 300, left = 52, right = 14, top = 12, bottom = 40;
    const double pw = W - left - right, ph = H - top - bottom;
    char a[40], b[32], d[32];
    fputs("<section id=\"timeline\"><h2>Alerts over time</h2>", out);
    bw_report_timeline(r, h->first_us, h->last_us, &tl);
    if (!t->alerts_total || !tl.nbuckets) { fputs("<p class=\"note\">No alerts.</p></section>\n", out); return; }
    uint64_t step = nice_step(tl.peak), ymax = (tl.peak + step - 1) / step * step;
    if (!ymax) ymax = step;
    uint64_t span = tl.width_us * tl.nbuckets;
    bool multi_day = span > 86400000000ULL;
    fprintf(out, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
            "aria-label=\"Alerts over time by kind\">", W, H, W, H);
    for (uint64_t y = 0; y <= ymax; y += step) {
        double py = top + ph - (double)y / (double)ymax * ph;
        fprintf(out, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
                "<text class=\"axis\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%" PRIu64 "</text>",
                left, W - right, py, py, y ? "#e3e6ec" : "#9aa3b2", left - 6, py + 4, y);
    }
    double bw = pw / tl.nbuckets, gap = bw > 4 ? bw * 0.15 : 0;
    for (uint32_t i = 0; i < tl.nbuckets; i++) {
        double x = left + i * bw, y = top + ph;
        for (int k = 0; k < BW_KIND_COUNT; k++) {
            uint64_t n = tl.count[k][i];
            if (!n) continue;
            double hgt = (double)n / (double)ymax * ph;
            y -= hgt;
            tick_label(tl.start_us + (int64_t)(i * tl.width_us), tl.width_us, true, a);
            fprintf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
                    "<title>%s: %" PRIu64 " %s</title></rect>", x + gap / 2, y, bw - gap, hgt, kcolour(k), a, n,
                    bw_kind_name((enum bw_kind)k));
        }
    }
    /* About six labels under the axis, at bucket starts. */
    uint32_t every = (tl.nbuckets + 5) / 6;
    for (uint32_t i = 0; i < tl.nbuckets; i += every) {
        tick_label(tl.start_us + (int64_t)(i * tl.width_us), tl.width_us, multi_day, a);
        fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#9aa3b2\"/>"
                "<text class=\"axis\" x=\"%.1f\" y=\"%.0f\">%s</text>", left + i * bw, left + i * bw, top + ph,
                top + ph + 5, left + i * bw, top + ph + 20, a);
    }
    fputs("</svg><ul class=\"legend\">", out);
    for (int k = 0; k < BW_KIND_COUNT; k++) {
        if (!t->alerts[k]) continue;
        fprintf(out, "<li data-kind=\"%s\"><i style=\"background:%s\"></i>%s: %" PRIu64 "</li>",
                bw_kind_name((enum bw_kind)k), kcolour(k), bw_kind_name((enum bw_kind)k), t->alerts[k]);
    }
    bw_report_time(tl.start_us > 0 ? (uint64_t)tl.start_us : 0, b);
    bw_report_duration(tl.width_us, d);
    fprintf(out, "</ul><p class=\"note\">%" PRIu64 " alerts in %u buckets of %s from %s (times UTC).</p>"
            "</section>\n", t->alerts_total, tl.nbuckets, d, b);
}

static void num_cell(FILE *out, uint64_t n) { fprintf(out, "<td class=\"n\">%" PRIu64 "</td>", n); }

static void broker_table(FILE *out, const struct bw_report_row *const *v, size_t n,
                         const struct bw_report_header *h, const struct bw_report *r,
                         const struct bw_report_totals *t)
{
    fputs("<section id=\"brokers\"><h2>Brokers</h2>", out);
    if (!t->brokers) { fputs("<p class=\"note\">No broker seen.</p></section>\n", out); return; }
    fputs("<div class=\"scroll\"><table><thead><tr><th>Broker</th><th>Protocol</th><th>Exposure</th>"
          "<th>TLS</th><th>Sessions</th><th>Clients</th><th>Anonymous</th><th>Cleartext credentials</th>"
          "<th>Default credentials</th><th>Failed logins</th><th>Brute force</th><th>Product</th>"
          "<th>Seen (first, last)</th>", out);
    if (h->show_usernames) fputs("<th>User names in cleartext</th>", out);
    fputs("</tr></thead><tbody>\n", out);
    for (size_t i = 0; i < n; i++) {
        const struct bw_report_row *w = v[i];
        char addr[56], t0[32], t1[32];
        if (!w->sessions) continue;
        enum bw_exposure e = bw_report_exposure(w);
        bw_report_addr(w, addr);
        fprintf(out, "<tr%s data-broker=\"", e <= BW_EXPOSURE_CLEARTEXT_CREDS ? " class=\"hot\"" : "");
        esc(out, addr);
        fputs("\"><td class=\"t\">", out);
        esc(out, addr);
        fprintf(out, "</td><td>%s", bw_report_apps_name(w->apps));
        for (uint8_t k = 0; k < w->nversions; k++) {        /* "0-9-1" never splits at a hyphen */
            fputs(k ? ", <span class=\"t\">" : " <span class=\"t\">", out);
            esc(out, w->versions[k]);
            fputs("</span>", out);
        }
        fprintf(out, "</td><td><span class=\"pill\" style=\"background:%s\" title=\"", exposure_colour[e]);
        esc(out, bw_exposure_label(e));
        fputs("\">", out);
        esc(out, exposure_short[e]);
        fputs("</span></td><td class=\"t\">", out);
        if (!w->tls) fputs("no", out);
        else {
            if (w->plaintext) fputs("mixed ", out);
            esc(out, w->tls_version[0] ? w->tls_version : "yes");
            if (w->weak_tls) fputs(", weak", out);
        }
        fputs("</td>", out);
        num_cell(out, w->sessions);
        fprintf(out, "<td class=\"n\">%u%s</td><td>%s</td>", w->nclients, w->clients_more ? "+" : "",
                w->anonymous_accepted ? "accepted" : "no");
        num_cell(out, w->cleartext_credentials);
        num_cell(out, w->default_credentials);
        num_cell(out, w->auth_failures);
        num_cell(out, w->alerts[BW_KIND_BRUTEFORCE]);
        fputs("<td class=\"w\">", out);
        if (w->product.len) {
            bw_escape_html(out, w->product.s, w->product.len);
            if (w->product.cut) fputs("...", out);
        } else {
            fputs("-", out);
        }
        bw_report_time(w->first_us, t0);
        bw_report_time(w->last_us, t1);
        fprintf(out, "</td><td class=\"t\">%s<br>%s</td>", t0, t1);
        if (h->show_usernames) {
            fputs("<td class=\"w\">", out);
            for (uint8_t k = 0; k < w->nusers; k++) {
                char u[BW_REPORT_USER_OUT];
                size_t ul = bw_report_user(h, &w->users[k], true, u);
                if (k) fputs("<br>", out);
                bw_escape_html(out, u, ul);
            }
            if (w->users_more) fputs("<br>...", out);
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table></div>", out);
    if (bw_report_dropped(r))
        fprintf(out, "<p class=\"note\">%u sessions not counted: more than %u brokers.</p>",
                bw_report_dropped(r), bw_report_max(r));
    fputs("</section>\n", out);
}

int bw_report_write_html(const struct bw_report *r, const struct bw_report_header *h, FILE *out)
{
    size_t n;
    const struct bw_report_row **v = bw_report_sorted(r, &n);
    if (!v) return BW_ENOMEM;
    struct bw_report_totals t;
    bw_report_totals(r, &t);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          /* Defence in depth: even a string that escaped escaping could neither run nor fetch. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n", out);
    fputs("<meta name=\"generator\" content=\"brokerwatch ", out);
    esc(out, h->version ? h->version : "");
    fputs("\">\n<title>Broker exposure report: ", out);
    esc(out, h->sensor ? h->sensor : "");
    fprintf(out, "</title>\n<style>%s</style></head>\n<body>\n", css);
    header(out, h);
    totals(out, &t);
    exposure_chart(out, &t);
    timeline_chart(out, r, h, &t);
    broker_table(out, v, n, h, r, &t);
    fputs("<footer>Written by brokerwatch ", out);
    esc(out, h->version ? h->version : "");
    fputs(", a passive sensor: it saw these brokers on the wire and never connected to them. "
          "Passwords are never kept or shown.</footer>\n</body></html>\n", out);
    free(v);
    return ferror(out) ? BW_EIO : 0;
}
