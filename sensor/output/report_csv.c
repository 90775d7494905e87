/* output/report_csv.c: the broker table as CSV for spreadsheets (RFC 4180: CRLF line ends, text
 * cells quoted, quotes doubled). Wire strings are hostile here too: no cell may start like a
 * formula (bw_escape_csv adds a leading '), invalid or invisible characters become U+FFFD.
 * One header row, then one row per broker; the run's header lives in the other forms. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "bw_alert.h"
#include "bw_escape.h"
#include "bw_report.h"

static void text(FILE *out, const char *s) { fputc(',', out); bw_escape_csv(out, s, strlen(s)); }
static void num(FILE *out, uint64_t n) { fprintf(out, ",%" PRIu64, n); }
static void flag(FILE *out, bool b) { fputs(b ? ",true" : ",false", out); }

int bw_report_write_csv(const struct bw_report *r, const struct bw_report_header *h, FILE *out)
{
    size_t n;
    const struct bw_report_row **v = bw_report_sorted(r, &n);
    if (!v) return BW_ENOMEM;
    fputs("ip,port,app_proto,versions,exposure,tls,plaintext,tls_version,weak_tls,sessions,clients,"
          "clients_capped,anonymous_accepted,cleartext_credentials,default_credentials,"
          "default_credentials_accepted,auth_failures,bruteforce,alerts,product,first_seen,last_seen", out);
    if (h->show_usernames) fputs(",usernames", out);
    fputs("\r\n", out);
    for (size_t i = 0; i < n; i++) {
        const struct bw_report_row *w = v[i];
        char ip[46], t0[32], t1[32], vers[64] = "";
        size_t vn = 0;
        uint64_t alerts = 0;
        if (!w->sessions) continue;
        bw_format_ip(w->ip_ver, w->ip, ip);
        bw_escape_csv(out, ip, strlen(ip));
        num(out, w->port);
        text(out, bw_report_apps_name(w->apps));
        for (uint8_t k = 0; k < w->nversions && vn < sizeof vers; k++)
            vn += (size_t)snprintf(vers + vn, sizeof vers - vn, "%s%s", k ? " " : "", w->versions[k]);
        text(out, vers);
        text(out, bw_exposure_name(bw_report_exposure(w)));
        flag(out, w->tls);
        flag(out, w->plaintext);
        text(out, w->tls_version);
        flag(out, w->weak_tls);
        num(out, w->sessions);
        num(out, w->nclients);
        flag(out, w->clients_more);
        flag(out, w->anonymous_accepted);
        num(out, w->cleartext_credentials);
        num(out, w->default_credentials);
        flag(out, w->default_accepted);
        num(out, w->auth_failures);
        num(out, w->alerts[BW_KIND_BRUTEFORCE]);
        for (int k = 0; k < BW_KIND_COUNT; k++) alerts += w->alerts[k];
        num(out, alerts);
        fputs(",\"", out);
        bw_escape_csv_text(out, w->product.s, w->product.len, true);
        if (w->product.cut) fputs("...", out);
        fputc('"', out);
        bw_format_ts(w->first_us, t0);
        bw_format_ts(w->last_us, t1);
        text(out, t0);
        text(out, t1);
        if (h->show_usernames) {
            /* One cell, one name per line (a quoted cell may hold line breaks). */
            fputs(",\"", out);
            for (uint8_t k = 0; k < w->nusers; k++) {
                char u[BW_REPORT_USER_OUT];
                size_t ul = bw_report_user(h, &w->users[k], true, u);
                if (k) fputc('\n', out);
                bw_escape_csv_text(out, u, ul, k == 0);
            }
            if (w->users_more) fputs(w->nusers ? "\n..." : "...", out);
            fputc('"', out);
        }
        fputs("\r\n", out);
    }
    free(v);
    return ferror(out) ? BW_EIO : 0;
}
