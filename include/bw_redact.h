/* bw_redact.h: --redact-usernames. A user name leaves the sensor only as a token, the
 * HMAC-SHA256 of its bytes under a per-deployment key: "admin" gives the same token in every
 * alert, session record, Redis entry and report of every sensor sharing the key, and nobody
 * without the key can look a token up in a table of likely names. The key comes from
 * --redact-key-file (created with random bytes, mode 0600, when missing) or, without one, is
 * random for the run. docs/alerts.md documents the token format. */
#ifndef BW_REDACT_H
#define BW_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bw_err.h"

#define BW_REDACT_PREFIX     "hmac:"
#define BW_REDACT_TOKEN_HEX  32        /* the first 128 bits of the HMAC, in hex */
/* prefix + hex + "..." (a name cut at capture) + NUL */
#define BW_REDACT_TOKEN_MAX  (sizeof BW_REDACT_PREFIX - 1 + BW_REDACT_TOKEN_HEX + 3 + 1)
#define BW_REDACT_KEY_MIN    16        /* bytes; shorter key files are refused */
#define BW_REDACT_KEY_MAX    1024
#define BW_REDACT_KEY_NEW    32        /* bytes written to a new key file */

struct bw_redact {
    uint8_t key[BW_REDACT_KEY_MAX];
    size_t  key_len;
    char    key_id[9];                 /* 8 hex digits naming the key (an HMAC of a constant) */
    bool    created;                   /* the key file did not exist and was written now */
    bool    ephemeral;                 /* no key file: random for this run */
};

/* Load the key from path, creating the file (mode 0600, BW_REDACT_KEY_NEW random bytes from
 * RAND_bytes, written under a temporary name and linked into place, so concurrent starts agree
 * on one key) when it does not exist. path NULL: a random key for this run only.
 * Refuses a file that is not a regular file, is readable or writable by group or others, or
 * holds fewer than BW_REDACT_KEY_MIN or more than BW_REDACT_KEY_MAX bytes.
 * Returns 0, or BW_EIO / BW_EINVAL with one line in err naming the file and the cause. */
int bw_redact_load(struct bw_redact *k, const char *path, char *err, size_t errlen) BW_WARN_UNUSED;

/* The token of name[0..n): "hmac:" + 32 hex digits, then "..." when cut (the name was longer on
 * the wire than what was kept; the token covers the kept bytes). out: BW_REDACT_TOKEN_MAX. */
void bw_redact_token(const struct bw_redact *k, const void *name, size_t n, bool cut,
                     char out[BW_REDACT_TOKEN_MAX]);

/* Overwrite the key in memory. */
void bw_redact_wipe(struct bw_redact *k);

#endif
