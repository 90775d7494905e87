/* check.h: the smallest test harness that tells what failed and where.
 * Each tests/unit/test_<module>.c is one executable: CHECK* record failures and go on,
 * main() ends with `return check_summary("module");` (non-zero exit when anything failed). */
#ifndef BW_CHECK_H
#define BW_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_pass_, check_fail_;

#define CHECK(cond) do { if (cond) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ == b_) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); } } while (0)

#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (a_ && b_ && strcmp(a_, b_) == 0) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "%s:%d: %s == \"%s\" failed: got \"%s\"\n", __FILE__, __LINE__, #a, b_ ? b_ : "(null)", a_ ? a_ : "(null)"); } } while (0)

#define CHECK_MEM(a, b, n) do { if (memcmp((a), (b), (n)) == 0) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "%s:%d: memcmp(%s, %s, %s) failed\n", __FILE__, __LINE__, #a, #b, #n); } } while (0)

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_pass_, check_fail_);
    return check_fail_ ? 1 : 0;
}

#endif
