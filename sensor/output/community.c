/* community.c: Community ID v1 (github.com/corelight/community-id-spec) with OpenSSL's SHA-1 (fetched once, bw_digest.h) and
 * base64. The endpoint ordering makes both directions of a flow share one ID. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "bw_alert.h"
#include "bw_digest.h"

void bw_community_id(uint16_t seed, uint8_t ip_ver, const uint8_t *src, const uint8_t *dst,
                     uint8_t proto, uint16_t sport, uint16_t dport, char out[32])
{
    size_t alen = ip_ver == 4 ? 4 : 16;
    int c = memcmp(src, dst, alen);
    /* The spec orders endpoints by address, then port, so A->B and B->A hash alike. */
    if (c > 0 || (c == 0 && sport > dport)) {
        const uint8_t *t = src; src = dst; dst = t;
        uint16_t p = sport; sport = dport; dport = p;
    }
    uint8_t buf[2 + 16 + 16 + 1 + 1 + 2 + 2];
    size_t n = 0;
    buf[n++] = (uint8_t)(seed >> 8); buf[n++] = (uint8_t)seed;
    memcpy(buf + n, src, alen); n += alen;
    memcpy(buf + n, dst, alen); n += alen;
    buf[n++] = proto;
    buf[n++] = 0;                              /* padding */
    buf[n++] = (uint8_t)(sport >> 8); buf[n++] = (uint8_t)sport;
    buf[n++] = (uint8_t)(dport >> 8); buf[n++] = (uint8_t)dport;
    uint8_t md[SHA_DIGEST_LENGTH];
    unsigned mdlen = 0;
    if (EVP_Digest(buf, n, md, &mdlen, bw_md_sha1(), NULL) != 1 || mdlen != SHA_DIGEST_LENGTH)
        memset(md, 0, sizeof md);
    memcpy(out, "1:", 2);
    EVP_EncodeBlock((unsigned char *)out + 2, md, SHA_DIGEST_LENGTH);   /* 28 chars + NUL */
}
