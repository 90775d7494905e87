/* digest.c: the digests of bw_digest.h, fetched on first use (pthread_once: workers may ask at
 * once) and kept for the life of the process. A fetch that fails falls back to OpenSSL's
 * implicit form, which works the same, only slower. */
#include <pthread.h>
#include "bw_digest.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *md5, *sha1, *sha256;

static void fetch(void)
{
    md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *bw_md_md5(void)
{
    pthread_once(&once, fetch);
    return md5 ? md5 : EVP_md5();
}

const EVP_MD *bw_md_sha1(void)
{
    pthread_once(&once, fetch);
    return sha1 ? sha1 : EVP_sha1();
}

const EVP_MD *bw_md_sha256(void)
{
    pthread_once(&once, fetch);
    return sha256 ? sha256 : EVP_sha256();
}
