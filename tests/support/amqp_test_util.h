/* amqp_test_util.h: small helpers the AMQP dissector tests share: byte search, the facts as
 * JSON, and comparisons on the ext strings. Include after check.h. */
#ifndef BW_AMQP_TEST_UTIL_H
#define BW_AMQP_TEST_UTIL_H

#include <stdbool.h>
#include <string.h>
#include "bw_amqp.h"
#include "bw_json.h"
#include "check.h"
#include "dissector_driver.h"

static inline bool has_bytes(const void *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static inline const char *json_of_with(const struct bw_dissector *d, const struct bw_facts *f, char *out, size_t cap)
{
    struct bw_json j;
    bw_json_init(&j, out, cap);
    bw_json_obj_open(&j, NULL);
    bw_json_obj_open(&j, "amqp");
    d->facts_json(f, &j);
    bw_json_obj_close(&j);
    bw_json_obj_close(&j);
    CHECK(bw_json_finish(&j));
    return out;
}

static inline const struct bw_amqp_ext *ext(const struct drv *v)
{
    return (const struct bw_amqp_ext *)(const void *)v->f.ext;
}

static inline bool str_is(const struct bw_amqp_str *s, const char *want)
{
    return s->set && !s->cut && s->len == strlen(want) && memcmp(s->s, want, s->len) == 0;
}
/* Works on both bounded string kinds (struct bw_fstr, struct bw_fid): same member names. */
#define fstr_is(str, want) \
    (!(str)->cut && (str)->len == strlen(want) && memcmp((str)->s, (want), (str)->len) == 0)

#endif
