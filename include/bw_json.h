/* bw_json.h: a JSON writer into a caller-owned fixed buffer.
 * Overflow is sticky (like the cursor): write everything, check `bad` once.
 * Strings from the wire are escaped; invalid UTF-8 becomes U+FFFD. Commas are automatic. */
#ifndef BW_JSON_H
#define BW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_JSON_DEPTH_MAX 16

struct bw_json {
    char  *buf;
    size_t cap, len;
    bool   bad;                       /* overflowed or misused */
    uint8_t depth;
    bool   first[BW_JSON_DEPTH_MAX];  /* no member written yet at this depth */
};

void bw_json_init(struct bw_json *j, char *buf, size_t cap);
void bw_json_obj_open(struct bw_json *j, const char *key);    /* key NULL inside arrays / top */
void bw_json_obj_close(struct bw_json *j);
void bw_json_arr_open(struct bw_json *j, const char *key);
void bw_json_arr_close(struct bw_json *j);
void bw_json_str(struct bw_json *j, const char *key, const char *s);   /* NUL-terminated */
void bw_json_strn(struct bw_json *j, const char *key, const void *s, size_t n);  /* any bytes */
void bw_json_fstr(struct bw_json *j, const char *key, const void *fstr); /* struct bw_fstr *; "..." marks cut */
/* An identity (struct bw_fid *): key with the bytes kept, exactly (null when unread), and, when
 * the wire string was longer, trunc_key: true. */
void bw_json_fid(struct bw_json *j, const char *key, const char *trunc_key, const void *fid);
void bw_json_u64(struct bw_json *j, const char *key, uint64_t v);
void bw_json_i64(struct bw_json *j, const char *key, int64_t v);
void bw_json_bool(struct bw_json *j, const char *key, bool v);
void bw_json_null(struct bw_json *j, const char *key);
void bw_json_raw(struct bw_json *j, const char *key, const char *raw);  /* trusted literal */
/* Terminates with NUL (not counted in len). Returns false when the output did not fit. */
bool bw_json_finish(struct bw_json *j);

#endif
