/* test_alert_redact.c: --redact-usernames. Tokens are HMAC-SHA256 (RFC 4231 vector), the same
 * under the same key and different under another; the key file is created with mode 0600 and
 * random bytes, read back the same, and refused (one line naming it) when unsafe or unusable;
 * an alert and a session record carry the token, in the member and in the summary, never the name. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "bw_alert.h"
#include "bw_redact.h"

static char dir[] = "/tmp/bw-test-redact.XXXXXX";

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, data, n), (long long)n);
    CHECK_EQ(fchmod(fd, mode), 0);
    close(fd);
}

static void test_tokens(void)
{
    char p[256], err[256], t1[BW_REDACT_TOKEN_MAX], t2[BW_REDACT_TOKEN_MAX];
    struct bw_redact a, b;
    /* RFC 4231 test case 1: key 0x0b x 20, "Hi There" -> b0344c61d8db38535ca8afceaf0bf12b... */
    uint8_t key[20];
    memset(key, 0x0b, sizeof key);
    path_of(p, sizeof p, "rfc4231.key");
    write_file(p, key, sizeof key, 0600);
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), 0);
    CHECK(!a.created && !a.ephemeral);
    bw_redact_token(&a, "Hi There", 8, false, t1);
    CHECK_STR(t1, "hmac:b0344c61d8db38535ca8afceaf0bf12b");
    bw_redact_token(&a, "Hi There", 8, true, t1);            /* a name cut at capture says so */
    CHECK_STR(t1, "hmac:b0344c61d8db38535ca8afceaf0bf12b...");
    CHECK_EQ(strlen(t1) + 1, BW_REDACT_TOKEN_MAX);

    /* same key, same token (a second load of the file); another key, another token */
    CHECK_EQ(bw_redact_load(&b, p, err, sizeof err), 0);
    bw_redact_token(&a, "admin", 5, false, t1);
    bw_redact_token(&b, "admin", 5, false, t2);
    CHECK_STR(t1, t2);
    CHECK_STR(a.key_id, b.key_id);
    key[0] ^= 1;
    path_of(p, sizeof p, "other.key");
    write_file(p, key, sizeof key, 0600);
    CHECK_EQ(bw_redact_load(&b, p, err, sizeof err), 0);
    bw_redact_token(&b, "admin", 5, false, t2);
    CHECK(strcmp(t1, t2) != 0);
    CHECK(strcmp(a.key_id, b.key_id) != 0);
    bw_redact_token(&a, "admin2", 6, false, t2);             /* another name, another token */
    CHECK(strcmp(t1, t2) != 0);
    /* and not the plain SHA-256 of the name that a table would reverse */
    CHECK(strstr(t1, "8c6976e5b5410415bde908bd4dee15df") == NULL);
    /* no file: a key for this run, different every time */
    CHECK_EQ(bw_redact_load(&a, NULL, err, sizeof err), 0);
    CHECK_EQ(bw_redact_load(&b, NULL, err, sizeof err), 0);
    CHECK(a.ephemeral && a.key_len == BW_REDACT_KEY_NEW);
    bw_redact_token(&a, "admin", 5, false, t1);
    bw_redact_token(&b, "admin", 5, false, t2);
    CHECK(strcmp(t1, t2) != 0);
    bw_redact_wipe(&a);
    bw_redact_wipe(&b);
}

static void test_key_file(void)
{
    char p[256], err[256], t1[BW_REDACT_TOKEN_MAX], t2[BW_REDACT_TOKEN_MAX];
    struct bw_redact a, b;
    struct stat st;
    mode_t old = umask(0);                                    /* the file is 0600 whatever the umask */
    path_of(p, sizeof p, "new.key");
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), 0);
    umask(old);
    CHECK(a.created && a.key_len == BW_REDACT_KEY_NEW);
    CHECK_EQ(stat(p, &st), 0);
    CHECK_EQ(st.st_mode & 07777, 0600);
    CHECK_EQ(st.st_size, BW_REDACT_KEY_NEW);
    /* no temporary file left behind */
    char tmpname[300];
    snprintf(tmpname, sizeof tmpname, "%s.new.%ld", p, (long)getpid());
    CHECK(access(tmpname, F_OK) != 0);
    /* the next start reads the same key: the same tokens */
    CHECK_EQ(bw_redact_load(&b, p, err, sizeof err), 0);
    CHECK(!b.created);
    bw_redact_token(&a, "guest", 5, false, t1);
    bw_redact_token(&b, "guest", 5, false, t2);
    CHECK_STR(t1, t2);
    /* random bytes: two new files differ */
    path_of(p, sizeof p, "new2.key");
    CHECK_EQ(bw_redact_load(&b, p, err, sizeof err), 0);
    bw_redact_token(&b, "guest", 5, false, t2);
    CHECK(strcmp(t1, t2) != 0);

    /* refused, each with one line naming the file and the reason */
    uint8_t key[32] = { 1, 2, 3 };
    path_of(p, sizeof p, "open.key");
    write_file(p, key, sizeof key, 0644);
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), BW_EINVAL);
    CHECK(strstr(err, p) && strstr(err, "mode 0644") && strstr(err, "chmod 600") && !strchr(err, '\n'));
    path_of(p, sizeof p, "short.key");
    write_file(p, key, 8, 0600);
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), BW_EINVAL);
    CHECK(strstr(err, p) && strstr(err, "8 bytes"));
    path_of(p, sizeof p, "long.key");
    static uint8_t big[BW_REDACT_KEY_MAX + 1];
    write_file(p, big, sizeof big, 0600);
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), BW_EINVAL);
    CHECK(strstr(err, "longer than 1024 bytes") != NULL);
    path_of(p, sizeof p, "adir");
    CHECK_EQ(mkdir(p, 0700), 0);
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), BW_EINVAL);
    CHECK(strstr(err, p) && strstr(err, "not a regular file"));
    path_of(p, sizeof p, "missing-dir/x.key");
    CHECK_EQ(bw_redact_load(&a, p, err, sizeof err), BW_EIO);
    CHECK(strstr(err, "cannot create the redaction key") && strstr(err, "No such file or directory"));
    bw_redact_wipe(&a);
    bw_redact_wipe(&b);
}

/* A record of a session that sent user "admin": the token in it, the name nowhere. */
static void test_records(void)
{
    static struct bw_flow f;
    static struct bw_session s;
    struct bw_redact k;
    char err[256], tok[BW_REDACT_TOKEN_MAX], buf[BW_RECORD_MAX];
    size_t len;
    struct bw_record_meta m;
    CHECK_EQ(bw_redact_load(&k, NULL, err, sizeof err), 0);
    f.key.ip_ver = 4;
    f.key.a[0] = 10; f.key.a[3] = 1; f.key.pa = 40000;
    f.key.b[0] = 10; f.key.b[3] = 2; f.key.pb = 1883;
    f.cli_is_a = true;
    s.app = "mqtt";
    bw_facts_init(&s.facts);
    s.facts.seen = BW_FACT_CONFIRMED | BW_FACT_CREDS_USER | BW_FACT_CREDS_PASS | BW_FACT_AUTH_OK;
    bw_fid_set(&s.facts.user, (const uint8_t *)"admin", 5);
    bw_redact_token(&k, "admin", 5, false, tok);
    struct bw_alert_cfg cfg = { .sensor = "t", .redact_usernames = true, .redact = &k };
    struct bw_record_in in = { .ts_us = 1, .flow = &f, .session = &s, .kind = BW_KIND_CLEARTEXT_CREDENTIALS };
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, &m), 0);
    char want[128];
    snprintf(want, sizeof want, "\"username\":\"%s\"", tok);
    CHECK(strstr(buf, want) != NULL);
    snprintf(want, sizeof want, "(user '%s' and a password)", tok);
    CHECK(strstr(buf, want) != NULL && strstr(m.summary, want) != NULL);
    CHECK(strstr(buf, "admin") == NULL);
    in.kind = -1;                                             /* the session record */
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, &m), 0);
    snprintf(want, sizeof want, "\"username\":\"%s\"", tok);
    CHECK(strstr(buf, want) != NULL && strstr(buf, "admin") == NULL);
    /* the flag without a key: the name is withheld, never written */
    cfg.redact = NULL;
    in.kind = BW_KIND_CLEARTEXT_CREDENTIALS;
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, &m), 0);
    CHECK(strstr(buf, "\"username\":null") != NULL && strstr(buf, "admin") == NULL);
    /* without redaction, the name as sent */
    cfg.redact_usernames = false;
    CHECK_EQ(bw_alert_format(&cfg, &in, buf, sizeof buf, &len, &m), 0);
    CHECK(strstr(buf, "\"username\":\"admin\"") != NULL);
    bw_redact_wipe(&k);
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_tokens();
    test_key_file();
    test_records();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("alert_redact");
}
