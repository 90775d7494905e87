/* test_redis_keys.c: the names of a sensor's keys, the Redis Cluster slot of a key (CRC16 and
 * hash tags, against the values the Redis Cluster specification and CLUSTER KEYSLOT give), and the
 * MOVED / ASK redirections a cluster node answers with. */
#include <string.h>
#include "check.h"
#include "bw_redis.h"

static uint16_t slot(const char *k) { return bw_redis_key_slot(k, strlen(k)); }

int main(void)
{
    /* CRC16-XMODEM check value ("123456789" -> 0x31C3), reduced to 14 bits */
    CHECK_EQ(slot("123456789"), 0x31C3 & 16383);
    /* CLUSTER KEYSLOT (Redis 7.0) */
    CHECK_EQ(slot("foo"), 12182);
    CHECK_EQ(slot("bar"), 5061);
    CHECK_EQ(slot("a"), 15495);
    CHECK_EQ(slot("brokerwatch:sensors"), 4643);
    CHECK_EQ(slot(""), 0);
    /* hash tags (cluster spec, "Hash tags"): the first {...} with something inside */
    CHECK_EQ(slot("{user1000}.following"), slot("user1000"));
    CHECK_EQ(slot("{user1000}.followers"), slot("user1000"));
    CHECK_EQ(slot("foo{}{bar}"), slot("foo{}{bar}"));           /* empty first tag: whole key */
    CHECK(slot("foo{}{bar}") != slot("bar"));
    CHECK_EQ(slot("foo{{bar}}zap"), slot("{bar"));
    CHECK_EQ(slot("foo{bar}{zap}"), slot("bar"));
    CHECK_EQ(slot("no{close"), slot("no{close"));
    CHECK(slot("no{close") != slot("close"));
    /* a key of length n is read for n bytes only (no NUL needed) */
    CHECK_EQ(bw_redis_key_slot("foo{x}", 3), 12182);

    /* every key of one sensor in one slot; that slot is the sensor name's */
    char k[BW_REDIS_KEY_MAX], k2[BW_REDIS_KEY_MAX];
    CHECK_EQ(bw_redis_sensor_key(k, sizeof k, "edge-1", "alerts"), 0);
    CHECK_STR(k, "brokerwatch:{edge-1}:alerts");
    CHECK_EQ(bw_redis_sensor_key(k2, sizeof k2, "edge-1", "broker:10.0.0.1:1883:clients"), 0);
    CHECK_STR(k2, "brokerwatch:{edge-1}:broker:10.0.0.1:1883:clients");
    CHECK_EQ(slot(k), slot(k2));
    CHECK_EQ(slot(k), slot("edge-1"));
    CHECK_EQ(bw_redis_sensor_key(k, 10, "edge-1", "alerts"), BW_ELIMIT);
    CHECK_STR(k, "");
    /* names that would break the tag, or are empty or too long */
    CHECK(bw_redis_sensor_name_ok("edge-1.example:dc2"));
    CHECK(!bw_redis_sensor_name_ok(""));
    CHECK(!bw_redis_sensor_name_ok(NULL));
    CHECK(!bw_redis_sensor_name_ok("a{b"));
    CHECK(!bw_redis_sensor_name_ok("a}b"));
    char longname[BW_REDIS_SENSOR_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(!bw_redis_sensor_name_ok(longname));
    longname[BW_REDIS_SENSOR_MAX] = '\0';
    CHECK(bw_redis_sensor_name_ok(longname));

    /* redirections */
    bool ask = true;
    uint16_t s = 0, port = 0;
    char host[64];
    CHECK(bw_redis_redirect_parse("MOVED 3999 127.0.0.1:6381", &ask, &s, host, sizeof host, &port));
    CHECK(!ask);
    CHECK_EQ(s, 3999);
    CHECK_STR(host, "127.0.0.1");
    CHECK_EQ(port, 6381);
    CHECK(bw_redis_redirect_parse("ASK 16383 redis-3.example:7000", &ask, &s, host, sizeof host, &port));
    CHECK(ask);
    CHECK_EQ(s, 16383);
    CHECK_STR(host, "redis-3.example");
    CHECK_EQ(port, 7000);
    CHECK(bw_redis_redirect_parse("MOVED 0 ::1:7001", &ask, &s, host, sizeof host, &port));
    CHECK_STR(host, "::1");
    CHECK_EQ(port, 7001);
    CHECK(bw_redis_redirect_parse("MOVED 5 [fe80::1]:7002", &ask, &s, host, sizeof host, &port));
    CHECK_STR(host, "fe80::1");
    CHECK(bw_redis_redirect_parse("MOVED 12 :7003", &ask, &s, host, sizeof host, &port));   /* same host */
    CHECK_STR(host, "");
    CHECK_EQ(port, 7003);
    /* not redirections, or broken ones */
    CHECK(!bw_redis_redirect_parse("ERR unknown command", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("CLUSTERDOWN The cluster is down", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 16384 h:1", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED x h:1", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 1 h", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 1 h:0", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 1 h:65536", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 1 h:12a", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 1 h:", &ask, &s, host, sizeof host, &port));
    CHECK(!bw_redis_redirect_parse("MOVED 1234567 h:1", &ask, &s, host, sizeof host, &port));
    char tiny[4];
    CHECK(!bw_redis_redirect_parse("MOVED 1 longhost:1", &ask, &s, tiny, sizeof tiny, &port));

    return check_summary("redis_keys");
}
