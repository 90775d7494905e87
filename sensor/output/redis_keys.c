/* redis_keys.c: the names of a sensor's Redis keys, the Redis Cluster slot of a key (CRC16 with
 * hash tags, Redis Cluster specification "Keys distribution model") and the redirections a cluster
 * node answers with (-MOVED / -ASK slot host:port). Pure string work: no I/O, no hiredis, no
 * allocation. Every key of one sensor carries the hash tag {SENSOR}, so all of them live in one
 * slot: one node serves the sensor's whole MULTI/EXEC batch, and different sensors spread over
 * the shards. docs/redis.md lists the keys. */
#include <stdio.h>
#include <string.h>
#include "bw_redis.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection; the checksum Redis
 * Cluster uses ("123456789" -> 0x31C3). Bitwise: a key is short and this runs once per batch. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t bw_redis_key_slot(const char *key, size_t len)
{
    /* The hash tag: the bytes between the first '{' and the first '}' after it, when there is at
     * least one; otherwise the whole key ("a{}b" and "a{b" hash whole). */
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close && close > key + from)
            return (uint16_t)(crc16((const uint8_t *)key + from, (size_t)(close - key) - from) & (BW_REDIS_SLOTS - 1));
    }
    return (uint16_t)(crc16((const uint8_t *)key, len) & (BW_REDIS_SLOTS - 1));
}

bool bw_redis_sensor_name_ok(const char *name)
{
    /* '{' or '}' inside the tag would end it early or start another: the keys of one sensor
     * would no longer share a slot. */
    return name && *name && strlen(name) <= BW_REDIS_SENSOR_MAX && !strpbrk(name, "{}");
}

int bw_redis_sensor_key(char *out, size_t cap, const char *sensor, const char *what)
{
    int n = snprintf(out, cap, "brokerwatch:{%s}:%s", sensor, what);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) out[0] = '\0';
        return BW_ELIMIT;
    }
    return 0;
}

bool bw_redis_redirect_parse(const char *msg, bool *ask, uint16_t *slot, char *host, size_t hostcap,
                             uint16_t *port)
{
    const char *p;
    if (strncmp(msg, "MOVED ", 6) == 0) { *ask = false; p = msg + 6; }
    else if (strncmp(msg, "ASK ", 4) == 0) { *ask = true; p = msg + 4; }
    else return false;
    unsigned long s = 0, pt = 0;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) s = s * 10 + (unsigned long)(*p - '0');
    if (digits == 0 || *p != ' ' || s >= BW_REDIS_SLOTS) return false;
    p++;
    /* host:port; the host may be an IPv6 address (its own colons: split at the last one), or
     * empty, meaning the host this reply came from (Redis 7, unknown endpoint). */
    const char *colon = strrchr(p, ':');
    if (!colon) return false;
    size_t hl = (size_t)(colon - p);
    if (hl >= hostcap) return false;
    digits = 0;
    for (const char *q = colon + 1; *q; q++, digits++) {
        if (*q < '0' || *q > '9' || digits >= 5) return false;
        pt = pt * 10 + (unsigned long)(*q - '0');
    }
    if (digits == 0 || pt == 0 || pt > 65535) return false;
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {          /* "[::1]:7000" */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    *slot = (uint16_t)s;
    *port = (uint16_t)pt;
    return true;
}
