/* json.c: JSON writer into a fixed caller buffer (see bw_json.h).
 * Escapes every string, replaces invalid UTF-8 with U+FFFD, never writes past cap.
 * It allocates nothing and formats without the printf family; overflow is sticky and reported
 * once by bw_json_finish(). */
#include <string.h>
#include "bw_facts.h"
#include "bw_json.h"

void bw_json_init(struct bw_json *j, char *buf, size_t cap)
{
    memset(j, 0, sizeof *j);
    j->buf = buf;
    j->cap = cap;
    j->first[0] = true;
    if (cap == 0) j->bad = true;   /* not even room for the terminator */
}

static void put(struct bw_json *j, const char *s, size_t n)
{
    /* keep one byte for the NUL written by finish() */
    if (j->bad || n >= j->cap - j->len) { j->bad = true; return; }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

static void putc1(struct bw_json *j, char c) { put(j, &c, 1); }

/* Length of a valid UTF-8 sequence at s (n bytes left), or 0 when invalid. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { need = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; cp = c & 0x07; }
    else return 0;                                 /* continuation byte or overlong lead */
    if (need > n) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;                                  /* overlong or beyond Unicode */
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;    /* surrogates are not characters */
    return need;
}

/* 1: a byte that stands for itself inside a JSON string (printable ASCII but '"' and '\\'). */
static const uint8_t plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static void put_escaped(struct bw_json *j, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    putc1(j, '"');
    size_t i = 0;
    while (i < n && !j->bad) {
        /* The common case: a run of printable ASCII that needs no escape, copied at once. */
        size_t k = i;
        while (k < n && plain[s[k]]) k++;
        if (k > i) {
            put(j, (const char *)s + i, k - i);
            i = k;
            continue;
        }
        uint8_t c = s[i];
        if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; put(j, e, 2); i++; continue; }
        if (c < 0x20 || c == 0x7F) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            switch (c) {
            case '\n': put(j, "\\n", 2); break;
            case '\r': put(j, "\\r", 2); break;
            case '\t': put(j, "\\t", 2); break;
            default:   put(j, e, 6); break;
            }
            i++;
            continue;
        }
        size_t l = utf8_len(s + i, n - i);
        if (l == 0) { put(j, "\xEF\xBF\xBD", 3); i++; continue; }   /* U+FFFD */
        put(j, (const char *)s + i, l);
        i += l;
    }
    putc1(j, '"');
}

static void member(struct bw_json *j, const char *key)
{
    if (j->bad) return;
    if (!j->first[j->depth]) putc1(j, ',');
    j->first[j->depth] = false;
    if (key) {
        put_escaped(j, (const uint8_t *)key, strlen(key));   /* keys are ours: one run, quoted */
        putc1(j, ':');
    }
}

static void open_(struct bw_json *j, const char *key, char c)
{
    member(j, key);
    putc1(j, c);
    if (j->depth + 1 >= BW_JSON_DEPTH_MAX) { j->bad = true; return; }
    j->depth++;
    j->first[j->depth] = true;
}

static void close_(struct bw_json *j, char c)
{
    if (j->depth == 0) { j->bad = true; return; }
    j->depth--;
    putc1(j, c);
}

void bw_json_obj_open(struct bw_json *j, const char *key) { open_(j, key, '{'); }
void bw_json_obj_close(struct bw_json *j) { close_(j, '}'); }
void bw_json_arr_open(struct bw_json *j, const char *key) { open_(j, key, '['); }
void bw_json_arr_close(struct bw_json *j) { close_(j, ']'); }

void bw_json_str(struct bw_json *j, const char *key, const char *s)
{
    member(j, key);
    put_escaped(j, (const uint8_t *)s, strlen(s));
}

void bw_json_strn(struct bw_json *j, const char *key, const void *s, size_t n)
{
    member(j, key);
    put_escaped(j, s, n);
}

void bw_json_fstr(struct bw_json *j, const char *key, const void *fstr)
{
    const struct bw_fstr *f = fstr;
    member(j, key);
    if (!f->cut) { put_escaped(j, (const uint8_t *)f->s, f->len); return; }
    /* A cut string ends in "..." so nobody takes it for the whole value. */
    char tmp[BW_FACTS_STR_MAX + 3];
    memcpy(tmp, f->s, f->len);
    memcpy(tmp + f->len, "...", 3);
    put_escaped(j, (const uint8_t *)tmp, (size_t)f->len + 3);
}

void bw_json_fid(struct bw_json *j, const char *key, const char *trunc_key, const void *fid)
{
    const struct bw_fid *f = fid;
    if (f->unread) { bw_json_null(j, key); return; }
    bw_json_strn(j, key, f->s, f->len);
    /* No "..." inside the value: a reader must be able to take it for the first bytes as sent. */
    if (f->cut) bw_json_bool(j, trunc_key, true);
}

/* Decimal digits of v, right-aligned ending at end; returns where they start. */
static char *digits(char *end, uint64_t v)
{
    do { *--end = (char)('0' + v % 10); v /= 10; } while (v);
    return end;
}

void bw_json_u64(struct bw_json *j, const char *key, uint64_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *b = digits(e, v);
    member(j, key);
    put(j, b, (size_t)(e - b));
}

void bw_json_i64(struct bw_json *j, const char *key, int64_t v)
{
    char tmp[24], *e = tmp + sizeof tmp;
    /* the magnitude as unsigned, so INT64_MIN has one too */
    char *b = digits(e, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0) *--b = '-';
    member(j, key);
    put(j, b, (size_t)(e - b));
}

void bw_json_bool(struct bw_json *j, const char *key, bool v)
{
    member(j, key);
    if (v) put(j, "true", 4); else put(j, "false", 5);
}

void bw_json_null(struct bw_json *j, const char *key)
{
    member(j, key);
    put(j, "null", 4);
}

void bw_json_raw(struct bw_json *j, const char *key, const char *raw)
{
    member(j, key);
    put(j, raw, strlen(raw));
}

bool bw_json_finish(struct bw_json *j)
{
    if (j->depth != 0) j->bad = true;
    if (j->bad) {
        if (j->cap) j->buf[0] = '\0';
        j->len = 0;
        return false;
    }
    j->buf[j->len] = '\0';   /* put() always left room for it */
    return true;
}
