/* redis_url.c: redis://[user[:password]@]host[:port][/db] and unix://[user[:password]@]/path[?db=N]
 * -> struct bw_redis_url; the password's other source (BROKERWATCH_REDIS_PASSWORD) and its removal
 * from argv. Pure string work: no I/O, no hiredis, no allocation. Error messages never quote the
 * password (they quote the URL only up to the scheme or name the part that is wrong). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bw_redis.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return BW_EINVAL; } while (0)

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (cap bytes with the NUL). False when too long, a bad %XX, or a
 * %00 (a NUL cannot travel in an AUTH argument we build from C strings). */
static bool pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int h, l;
            if (n - i < 3) return false;                       /* fewer than 2 digits left */
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) return false;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (o + 1 >= cap) return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static bool parse_u32(const char *s, size_t n, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 10) return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max) return false;
    *out = (uint32_t)v;
    return true;
}

/* Where the userinfo of a URL body ends: the last '@' before the part that cannot hold one.
 * For redis:// that is the last '@' anywhere (host, port and db never contain one), so a
 * password may carry '/', ':' or '@' without encoding. For unix:// the path starts at "@/". */
static const char *userinfo_end(const char *body, bool unix_sock)
{
    const char *at = NULL;
    for (const char *p = body; *p; p++) {
        if (*p != '@') continue;
        if (!unix_sock || p[1] == '/') at = p;
    }
    return at;
}

int bw_redis_url_parse(const char *url, struct bw_redis_url *u, char *err, size_t errlen)
{
    const char *body;
    memset(u, 0, sizeof *u);
    u->port = BW_REDIS_PORT_DEFAULT;
    if (!url || !*url) FAIL("empty Redis URL (want redis://[user:password@]host[:port][/db] or unix:///path)");
    if (strncmp(url, "redis://", 8) == 0) {
        body = url + 8;
    } else if (strncmp(url, "unix://", 7) == 0) {
        body = url + 7;
        u->unix_socket = true;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        FAIL("rediss:// (TLS) is not supported by this build's hiredis; use redis:// on a trusted "
             "network or unix:///path");
    } else {
        FAIL("Redis URL must start with redis:// or unix:// (want redis://[user:password@]host[:port][/db])");
    }

    const char *at = userinfo_end(body, u->unix_socket);
    if (at) {
        const char *colon = memchr(body, ':', (size_t)(at - body));
        size_t ulen = colon ? (size_t)(colon - body) : (size_t)(at - body);
        if (!pct_decode(body, ulen, u->user, sizeof u->user))
            FAIL("Redis URL: the user name is too long or badly percent-encoded");
        if (colon) {
            size_t plen = (size_t)(at - colon - 1);
            if (!pct_decode(colon + 1, plen, u->password, sizeof u->password))
                FAIL("Redis URL: the password is too long or badly percent-encoded");
            u->has_password = plen > 0;
        }
        body = at + 1;
    }

    if (u->unix_socket) {
        const char *q = strchr(body, '?');
        size_t plen = q ? (size_t)(q - body) : strlen(body);
        if (plen == 0 || body[0] != '/') FAIL("unix:// URL needs an absolute socket path (unix:///run/redis/redis.sock)");
        if (plen >= sizeof u->path) FAIL("unix socket path too long (at most %zu bytes)", sizeof u->path - 1);
        memcpy(u->path, body, plen);
        u->path[plen] = '\0';
        if (q) {
            if (strncmp(q, "?db=", 4) != 0 || !parse_u32(q + 4, strlen(q + 4), 1000000, &u->db))
                FAIL("unix:// URL: only ?db=N may follow the socket path");
        }
        return 0;
    }

    /* host: [v6] or up to ':' or '/' */
    const char *p = body, *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend) FAIL("Redis URL: IPv6 address without its closing ']'");
        size_t hl = (size_t)(hend - p - 1);
        if (hl == 0 || hl >= sizeof u->host) FAIL("Redis URL: bad IPv6 address");
        memcpy(u->host, p + 1, hl);
        u->host[hl] = '\0';
        p = hend + 1;
    } else {
        hend = p + strcspn(p, ":/?");
        size_t hl = (size_t)(hend - p);
        if (hl == 0) FAIL("Redis URL has no host (redis://host[:port][/db])");
        if (hl >= sizeof u->host) FAIL("Redis URL: host name too long");
        memcpy(u->host, p, hl);
        u->host[hl] = '\0';
        p = hend;
    }
    if (*p == ':') {
        uint32_t port;
        size_t pl = strcspn(p + 1, "/?");
        if (!parse_u32(p + 1, pl, 65535, &port) || port == 0) FAIL("Redis URL: port must be 1-65535");
        u->port = (uint16_t)port;
        p += 1 + pl;
    }
    if (*p == '/') {
        size_t dl = strcspn(p + 1, "?");
        if (dl > 0 && !parse_u32(p + 1, dl, 1000000, &u->db)) FAIL("Redis URL: the database after '/' must be a number");
        p += 1 + dl;
    }
    if (*p) FAIL("Redis URL: unexpected text after the host, port and /db");
    return 0;
}

bool bw_redis_url_env_password(struct bw_redis_url *u, const char *env_value)
{
    if (u->has_password || !env_value || !*env_value) return false;
    if (strlen(env_value) >= sizeof u->password) return false;
    snprintf(u->password, sizeof u->password, "%s", env_value);
    u->has_password = true;
    return true;
}

void bw_redis_url_describe(const struct bw_redis_url *u, char *out, size_t cap)
{
    char user[140] = "";
    if (u->user[0]) snprintf(user, sizeof user, "%s@", u->user);
    if (u->unix_socket) {
        if (u->db) snprintf(out, cap, "%sunix:%s?db=%u", user, u->path, u->db);
        else snprintf(out, cap, "%sunix:%s", user, u->path);
        return;
    }
    bool v6 = strchr(u->host, ':') != NULL;
    char db[16] = "";
    if (u->db) snprintf(db, sizeof db, "/%u", u->db);
    snprintf(out, cap, "%s%s%s%s:%u%s", user, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, db);
}

bool bw_redis_url_scrub(char *arg)
{
    static const char *const schemes[] = { "redis://", "rediss://", "unix://" };
    bool done = false;
    for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        char *body = strstr(arg, schemes[k]);
        if (!body) continue;
        body += strlen(schemes[k]);
        const char *at = userinfo_end(body, k == 2);
        if (!at) continue;
        char *colon = memchr(body, ':', (size_t)(at - body));
        if (!colon) continue;
        for (char *c = colon + 1; c < at; c++) { *c = '*'; done = true; }
    }
    return done;
}
