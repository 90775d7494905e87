/* test_alert_text.c: the one-line-per-alert sink (output/text.c): its columns, the session line,
 * colour and the column header only when asked for, and no wire byte that could drive a terminal
 * (escape sequences, other control bytes, non-ASCII) reaching the output. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "bw_sink.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return buf;
}

static struct bw_record_meta meta(const char *summary)
{
    struct bw_record_meta m;
    memset(&m, 0, sizeof m);
    m.event_type = "alert";
    m.kind = "default_credentials";
    m.severity = "critical";
    m.app_proto = "mqtt";
    snprintf(m.src_ip, sizeof m.src_ip, "10.0.0.9");
    snprintf(m.dest_ip, sizeof m.dest_ip, "2001:db8::1");
    m.src_port = 40000;
    m.dest_port = 1883;
    m.ts_us = 1764000000123456ULL;                           /* 2025-11-24 16:00:00.123456 */
    snprintf(m.summary, sizeof m.summary, "%s", summary);
    return m;
}

int main(void)
{
    char path[] = "/tmp/bw-test-text.XXXXXX", err[256];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);

    struct bw_sink *s = bw_sink_text_open(path, false, false, false, err, sizeof err);
    CHECK(s != NULL);
    struct bw_record_meta m = meta("user 'a\x1b]0;owned\x07\x1b[2J\xc3\xa9' logged in");
    CHECK_EQ(s->write(s, "{}", 2, &m), 0);
    m.event_type = "session";
    m.kind = NULL;
    m.severity = NULL;
    snprintf(m.summary, sizeof m.summary, "MQTT 5.0 session from 10.0.0.9 to 2001:db8::1:1883 ended (fin); alerts: none");
    CHECK_EQ(s->write(s, "{}", 2, &m), 0);
    CHECK_EQ(s->close(s), 0);
    const char *out = slurp(path);
    CHECK_STR(out,
        "2025-11-24 16:00:00  critical  default_credentials    10.0.0.9:40000 -> [2001:db8::1]:1883          "
        "user 'a?]0;owned?" "?[2J?" "?' logged in\n"
        "2025-11-24 16:00:00  -         session                10.0.0.9:40000 -> [2001:db8::1]:1883          "
        "MQTT 5.0 session from 10.0.0.9 to 2001:db8::1:1883 ended (fin); alerts: none\n");
    CHECK(strchr(out, '\x1b') == NULL);

    /* a terminal: the column names first, each line erases a progress line, severity in colour */
    unlink(path);
    s = bw_sink_text_open(path, true, true, false, err, sizeof err);
    m = meta("x");
    CHECK_EQ(s->write(s, "{}", 2, &m), 0);
    CHECK_EQ(s->write(s, "{}", 2, &m), 0);
    CHECK_EQ(s->close(s), 0);
    out = slurp(path);
    CHECK(strncmp(out, "\r\033[KTIME (UTC)           SEVERITY  KIND                   CLIENT -> BROKER", 73) == 0);
    CHECK(strstr(out, "\r\033[K2025-11-24 16:00:00  \033[1;31mcritical\033[0m  default_credentials") != NULL);
    int heads = 0;
    for (const char *p = out; (p = strstr(p, "TIME (UTC)")) != NULL; p++) heads++;
    CHECK_EQ(heads, 1);
    unlink(path);

    /* an unwritable place: one line naming it */
    CHECK(bw_sink_text_open("/nonexistent-dir/alerts.txt", false, false, true, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent-dir/alerts.txt") != NULL && strstr(err, "No such file") != NULL);
    return check_summary("alert_text");
}
