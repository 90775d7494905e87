/* facts.c: helpers for struct bw_facts (bounded string copies, reset) and error strings.
 * Owns nothing; never stores a password. */
#include <string.h>
#include "bw_err.h"
#include "bw_facts.h"

void bw_fstr_set(struct bw_fstr *dst, const uint8_t *src, size_t n)
{
    size_t keep = n > BW_FACTS_STR_MAX ? BW_FACTS_STR_MAX : n;   /* fixed array: cut, and say so */
    if (keep && src) memcpy(dst->s, src, keep);
    else keep = 0;
    dst->len = (uint8_t)keep;
    dst->cut = n > keep;
}

void bw_facts_secret(struct bw_facts *f, const uint8_t *ptr, size_t len)
{
    static const uint8_t none[4] = { 0, 0, 0, 0 };
    bw_facts_secret_masked(f, ptr, len, none, 0);
}

void bw_facts_secret_masked(struct bw_facts *f, const uint8_t *ptr, size_t len, const uint8_t key[4],
                            uint8_t key_off)
{
    /* Addresses compared as integers: ptr may belong to another object (a decoded copy). */
    uintptr_t b = (uintptr_t)f->feed.buf, q = (uintptr_t)ptr;
    if (!f->feed.buf || !ptr || q < b || q - b > f->feed.len || len > f->feed.len - (q - b) ||
        len > UINT32_MAX || f->nsecrets >= BW_FACTS_SECRETS_MAX) {
        f->secret_unplaced = true;
        return;
    }
    struct bw_secret_pos *s = &f->secret[f->nsecrets++];
    s->seq = f->feed.seq + (uint32_t)(q - b);
    s->len = (uint32_t)len;
    s->dir = f->feed.dir;
    s->key_off = key_off & 3;
    memcpy(s->key, key, 4);
}

void bw_fid_set(struct bw_fid *dst, const uint8_t *src, size_t n)
{
    size_t keep = n > BW_FACTS_ID_MAX ? BW_FACTS_ID_MAX : n;     /* fixed array: cut, and say so */
    if (keep && src) memcpy(dst->s, src, keep);
    else keep = 0;
    dst->len = (uint16_t)keep;
    dst->cut = n > keep;
    dst->unread = false;
}

void bw_facts_init(struct bw_facts *f)
{
    memset(f, 0, sizeof *f);
    f->result_code = -1;
}

const char *bw_strerror(int err)
{
    switch (err) {
    case BW_OK:         return "success";
    case BW_ENOMEM:     return "out of memory";
    case BW_ELIMIT:     return "limit reached";
    case BW_EMALFORMED: return "malformed input";
    case BW_EIO:        return "input/output error";
    case BW_EINVAL:     return "invalid argument";
    default:            return "unknown error";
    }
}
