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
