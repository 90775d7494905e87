/* test_redis_url.c: Redis URL parsing (every accepted form, one clear error per bad one, errors
 * never echo the password), the environment password, descriptions without secrets, the argv
 * scrub that keeps the password out of ps, and the Redis options of the command line. */
#include <string.h>
#include "check.h"
#include "bw_config.h"
#include "bw_redis.h"

static struct bw_redis_url u;
static char err[256];

static int parse(const char *url)
{
    err[0] = '\0';
    return bw_redis_url_parse(url, &u, err, sizeof err);
}

static void describe_is(const char *want)
{
    char d[300];
    bw_redis_url_describe(&u, d, sizeof d);
    CHECK_STR(d, want);
}

int main(void)
{
    /* plain host, defaults */
    CHECK_EQ(parse("redis://127.0.0.1"), 0);
    CHECK(!u.unix_socket);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_EQ(u.port, 6379);
    CHECK_EQ(u.db, 0);
    CHECK(!u.has_password);
    CHECK_STR(u.user, "");
    describe_is("127.0.0.1:6379");

    CHECK_EQ(parse("redis://redis.example:6380/3"), 0);
    CHECK_STR(u.host, "redis.example");
    CHECK_EQ(u.port, 6380);
    CHECK_EQ(u.db, 3);
    describe_is("redis.example:6380/3");

    CHECK_EQ(parse("redis://localhost/"), 0);
    CHECK_EQ(u.db, 0);

    /* password only (legacy requirepass), ACL user + password, user alone */
    CHECK_EQ(parse("redis://:s3cret@10.0.0.1:7000"), 0);
    CHECK(u.has_password);
    CHECK_STR(u.password, "s3cret");
    CHECK_STR(u.user, "");
    CHECK_EQ(u.port, 7000);
    describe_is("10.0.0.1:7000");                         /* no secret in messages */

    CHECK_EQ(parse("redis://alice:pw@h/1"), 0);
    CHECK_STR(u.user, "alice");
    CHECK_STR(u.password, "pw");
    CHECK_EQ(u.db, 1);
    describe_is("alice@h:6379/1");

    CHECK_EQ(parse("redis://alice@h"), 0);
    CHECK_STR(u.user, "alice");
    CHECK(!u.has_password);
    CHECK_EQ(parse("redis://alice:@h"), 0);               /* empty password = none given */
    CHECK(!u.has_password);

    /* percent-encoding, and raw '@' '/' ':' in a password (the last '@' ends the user info) */
    CHECK_EQ(parse("redis://bob:p%40ss%3Aw%2Fd@h:1"), 0);
    CHECK_STR(u.password, "p@ss:w/d");
    CHECK_EQ(parse("redis://bob:p@ss:w/d@h:2/4"), 0);
    CHECK_STR(u.user, "bob");
    CHECK_STR(u.password, "p@ss:w/d");
    CHECK_STR(u.host, "h");
    CHECK_EQ(u.port, 2);
    CHECK_EQ(u.db, 4);
    CHECK_EQ(parse("redis://b%6Fb:x@h"), 0);
    CHECK_STR(u.user, "bob");

    /* IPv6 */
    CHECK_EQ(parse("redis://[::1]:6390/2"), 0);
    CHECK_STR(u.host, "::1");
    CHECK_EQ(u.port, 6390);
    describe_is("[::1]:6390/2");
    CHECK_EQ(parse("redis://u:p@[fe80::1]"), 0);
    CHECK_STR(u.host, "fe80::1");
    CHECK_EQ(u.port, 6379);

    /* unix sockets */
    CHECK_EQ(parse("unix:///run/redis/redis.sock"), 0);
    CHECK(u.unix_socket);
    CHECK_STR(u.path, "/run/redis/redis.sock");
    describe_is("unix:/run/redis/redis.sock");
    CHECK_EQ(parse("unix://carol:pw@/tmp/r.sock?db=5"), 0);
    CHECK_STR(u.user, "carol");
    CHECK_STR(u.password, "pw");
    CHECK_STR(u.path, "/tmp/r.sock");
    CHECK_EQ(u.db, 5);
    describe_is("carol@unix:/tmp/r.sock?db=5");

    /* errors: one line, and never the password */
    CHECK_EQ(parse(""), BW_EINVAL);
    CHECK(strstr(err, "empty") != NULL);
    CHECK_EQ(parse("http://h"), BW_EINVAL);
    CHECK(strstr(err, "redis://") != NULL);
    CHECK_EQ(parse("rediss://h"), BW_EINVAL);
    CHECK(strstr(err, "TLS") != NULL);
    CHECK_EQ(parse("redis://:topsecret@h:0"), BW_EINVAL);
    CHECK(strstr(err, "port") != NULL);
    CHECK(strstr(err, "topsecret") == NULL);
    CHECK_EQ(parse("redis://h:70000"), BW_EINVAL);
    CHECK_EQ(parse("redis://h:12ab"), BW_EINVAL);
    CHECK_EQ(parse("redis://h/x"), BW_EINVAL);
    CHECK(strstr(err, "database") != NULL);
    CHECK_EQ(parse("redis://"), BW_EINVAL);
    CHECK(strstr(err, "no host") != NULL);
    CHECK_EQ(parse("redis://u:pw@"), BW_EINVAL);
    CHECK_EQ(parse("redis://[::1"), BW_EINVAL);
    CHECK_EQ(parse("redis://:bad%zzpw@h"), BW_EINVAL);
    CHECK(strstr(err, "password") != NULL && strstr(err, "bad%zz") == NULL);
    CHECK_EQ(parse("redis://:nul%00@h"), BW_EINVAL);
    CHECK_EQ(parse("unix://relative.sock"), BW_EINVAL);
    CHECK_EQ(parse("unix:///tmp/s?foo=1"), BW_EINVAL);

    /* password from the environment only when the URL has none */
    CHECK_EQ(parse("redis://h"), 0);
    CHECK(!bw_redis_url_env_password(&u, NULL));
    CHECK(!bw_redis_url_env_password(&u, ""));
    CHECK(bw_redis_url_env_password(&u, "fromenv"));
    CHECK(u.has_password);
    CHECK_STR(u.password, "fromenv");
    CHECK_EQ(parse("redis://:inurl@h"), 0);
    CHECK(!bw_redis_url_env_password(&u, "fromenv"));
    CHECK_STR(u.password, "inurl");
    CHECK_EQ(parse("redis://alice@h"), 0);              /* ACL user with the password from env */
    CHECK(bw_redis_url_env_password(&u, "pw2"));
    CHECK_STR(u.user, "alice");

    /* scrub: in place, same length, the rest untouched */
    char a1[] = "redis://alice:hunter2@10.0.0.1:6379/0";
    CHECK(bw_redis_url_scrub(a1));
    CHECK_STR(a1, "redis://alice:*******@10.0.0.1:6379/0");
    char a2[] = "--redis=redis://:p@ss@h";
    CHECK(bw_redis_url_scrub(a2));
    CHECK_STR(a2, "--redis=redis://:****@h");
    char a3[] = "redis://alice@h";                           /* nothing secret */
    CHECK(!bw_redis_url_scrub(a3));
    CHECK_STR(a3, "redis://alice@h");
    char a4[] = "unix://u:pw@/tmp/s";
    CHECK(bw_redis_url_scrub(a4));
    CHECK_STR(a4, "unix://u:**@/tmp/s");
    char a5[] = "-r";
    CHECK(!bw_redis_url_scrub(a5));
    /* the scrubbed URL still parses (the sensor parsed the original before scrubbing) */
    CHECK_EQ(parse(a1), 0);
    CHECK_STR(u.host, "10.0.0.1");

    /* command line: defaults, every Redis option, and the usage errors */
    struct bw_config c;
    char *a1v[] = { "brokerwatch", "-r", "x.pcap", "--redis", "redis://:pw@h:1/2", NULL };
    CHECK_EQ(bw_config_parse(&c, 5, a1v, err, sizeof err), BW_CONFIG_RUN);
    CHECK_STR(c.redis_url, "redis://:pw@h:1/2");
    CHECK(c.redis_stream == NULL && c.spool_dir == NULL && !c.redis_publish && !c.redis_optional);
    CHECK_EQ(c.redis_maxlen, BW_REDIS_MAXLEN_DEFAULT);
    bw_config_free(&c);
    char *a2v[] = { "brokerwatch", "-r", "x.pcap", "--redis", "unix:///tmp/s", "--redis-stream", "s1",
                    "--redis-maxlen", "0", "--redis-publish", "--redis-optional", "--redis-queue", "1M",
                    "--spool", "/var/spool/bw", NULL };
    CHECK_EQ(bw_config_parse(&c, 15, a2v, err, sizeof err), BW_CONFIG_RUN);
    CHECK_STR(c.redis_stream, "s1");
    CHECK_EQ(c.redis_maxlen, 0);
    CHECK(c.redis_publish && c.redis_optional);
    CHECK_EQ(c.redis_queue, 1u << 20);
    CHECK_STR(c.spool_dir, "/var/spool/bw");
    CHECK(!c.redis_cluster);
    bw_config_free(&c);
    char *a6v[] = { "brokerwatch", "-r", "x.pcap", "--redis", "redis://h:7000", "--redis-cluster", NULL };
    CHECK_EQ(bw_config_parse(&c, 6, a6v, err, sizeof err), BW_CONFIG_RUN);
    CHECK(c.redis_cluster);
    bw_config_free(&c);
    char *a7v[] = { "brokerwatch", "-r", "x.pcap", "--redis-cluster", NULL };
    CHECK_EQ(bw_config_parse(&c, 4, a7v, err, sizeof err), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--redis-cluster needs --redis") != NULL);
    bw_config_free(&c);
    char *a3v[] = { "brokerwatch", "-r", "x.pcap", "--spool", "/tmp/s", NULL };
    CHECK_EQ(bw_config_parse(&c, 5, a3v, err, sizeof err), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--spool needs --redis") != NULL);
    bw_config_free(&c);
    char *a4v[] = { "brokerwatch", "-r", "x.pcap", "--redis", "redis://:hunter2@h:99999", NULL };
    CHECK_EQ(bw_config_parse(&c, 5, a4v, err, sizeof err), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--redis") != NULL && strstr(err, "port") != NULL && strstr(err, "hunter2") == NULL);
    bw_config_free(&c);
    char *a5v[] = { "brokerwatch", "-r", "x.pcap", "--redis", "redis://h", "--redis-queue", "1K", NULL };
    CHECK_EQ(bw_config_parse(&c, 7, a5v, err, sizeof err), BW_CONFIG_USAGE);
    CHECK(strstr(err, "--redis-queue") != NULL);
    bw_config_free(&c);

    return check_summary("redis_url");
}
