/* bw_digest.h: OpenSSL's digests fetched once per process. EVP_md5() and friends are fetched
 * again from the provider on every EVP_DigestInit (a lock and a lookup each time); the record path
 * (Community ID) and every ClientHello (JA3) hash often enough for that to show. */
#ifndef BW_DIGEST_H
#define BW_DIGEST_H

#include <openssl/evp.h>

const EVP_MD *bw_md_md5(void);
const EVP_MD *bw_md_sha1(void);
const EVP_MD *bw_md_sha256(void);

#endif
