/* output/redact.c: the redaction key (load, create) and user-name tokens (bw_redact.h).
 * OpenSSL's HMAC and RAND_bytes: the sensor already links libcrypto, and a keyed hash is exactly
 * what a plain SHA-256 of a user name is not (a table of common names reverses that in seconds).
 * Owns nothing but the key bytes in the caller's struct; never prints the key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "bw_digest.h"
#include "bw_redact.h"

static void key_id(struct bw_redact *k)
{
    static const char label[] = "brokerwatch redaction key id";
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    HMAC(bw_md_sha256(), k->key, (int)k->key_len, (const uint8_t *)label, sizeof label - 1, md, &mdlen);
    for (int i = 0; i < 4; i++) snprintf(k->key_id + 2 * i, 3, "%02x", md[i]);
}

/* Write a new key next to path and link it into place; losing the race to another process that
 * created path first is fine (its key is then read). Returns 0 or BW_EIO with err set. */
static int create_key(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    uint8_t key[BW_REDACT_KEY_NEW];
    int fd = -1, rc = BW_EIO;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid()) >= sizeof tmp) {
        snprintf(err, errlen, "redaction key file name '%s' is too long", path);
        return BW_EINVAL;
    }
    if (RAND_bytes(key, sizeof key) != 1) {
        snprintf(err, errlen, "cannot create the redaction key '%s': no random bytes from the system", path);
        return BW_EIO;
    }
    unlink(tmp);                                   /* a leftover of a crashed start with our pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the redaction key '%s': %s", path, strerror(errno));
        goto fail;
    }
    /* 0600 whatever the umask left, before a single key byte is in the file */
    if (fchmod(fd, 0600) != 0 || write(fd, key, sizeof key) != (ssize_t)sizeof key || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write the redaction key '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, errlen, "cannot write the redaction key '%s': %s", path, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (link(tmp, path) != 0 && errno != EEXIST) {  /* EEXIST: another start was first */
        snprintf(err, errlen, "cannot create the redaction key '%s': %s", path, strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int bw_redact_load(struct bw_redact *k, const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = -1, rc = BW_EIO;
    memset(k, 0, sizeof *k);
    if (!path) {
        if (RAND_bytes(k->key, BW_REDACT_KEY_NEW) != 1) {
            snprintf(err, errlen, "cannot make a redaction key: no random bytes from the system");
            return BW_EIO;
        }
        k->key_len = BW_REDACT_KEY_NEW;
        k->ephemeral = true;
        key_id(k);
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if ((rc = create_key(path, err, errlen)) != 0) return rc;
        k->created = true;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot read the redaction key '%s': %s", path, strerror(errno));
        return BW_EIO;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot read the redaction key '%s': %s", path, strerror(errno));
        goto fail;
    }
    rc = BW_EINVAL;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read the redaction key '%s': not a regular file", path);
        goto fail;
    }
    /* Whoever can read the key can reverse the tokens of common names: it stays private. */
    if (st.st_mode & 077) {
        snprintf(err, errlen, "redaction key '%s' is accessible to other users (mode %04o): "
                 "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
        goto fail;
    }
    size_t n = 0;
    for (;;) {
        uint8_t extra;
        ssize_t r = n < sizeof k->key ? read(fd, k->key + n, sizeof k->key - n) : read(fd, &extra, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read the redaction key '%s': %s", path, strerror(errno));
            rc = BW_EIO;
            goto fail;
        }
        if (r == 0) break;
        if (n >= sizeof k->key) {
            snprintf(err, errlen, "redaction key '%s' is longer than %d bytes", path, BW_REDACT_KEY_MAX);
            goto fail;
        }
        n += (size_t)r;
    }
    if (n < BW_REDACT_KEY_MIN) {
        snprintf(err, errlen, "redaction key '%s' holds %zu bytes, fewer than the %d needed", path, n,
                 BW_REDACT_KEY_MIN);
        goto fail;
    }
    k->key_len = n;
    close(fd);
    key_id(k);
    return 0;
fail:
    close(fd);
    bw_redact_wipe(k);
    return rc;
}

void bw_redact_token(const struct bw_redact *k, const void *name, size_t n, bool cut,
                     char out[BW_REDACT_TOKEN_MAX])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    size_t p = sizeof BW_REDACT_PREFIX - 1;
    /* HMAC() is OpenSSL's one-shot form (not deprecated in 3.0); a name with no bytes has a token too. */
    if (!HMAC(bw_md_sha256(), k->key, (int)k->key_len, n ? name : (const void *)"", n, md, &mdlen)) mdlen = 0;
    memcpy(out, BW_REDACT_PREFIX, p);
    for (unsigned i = 0; i < BW_REDACT_TOKEN_HEX / 2; i++, p += 2)
        snprintf(out + p, 3, "%02x", i < mdlen ? md[i] : 0);
    if (cut) { memcpy(out + p, "...", 3); p += 3; }
    out[p] = '\0';
    OPENSSL_cleanse(md, sizeof md);
}

void bw_redact_wipe(struct bw_redact *k)
{
    OPENSSL_cleanse(k->key, sizeof k->key);
    k->key_len = 0;
}
