/* output/escape.c: hostile wire strings -> terminal text, HTML text, CSV cells (bw_escape.h).
 * Validates UTF-8 itself (the rules are short and the JSON writer's copy is private to it);
 * never writes an invalid, control or invisible character through. */
#include <string.h>
#include "bw_escape.h"

size_t bw_utf8_char(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t v;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { need = 2; v = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; v = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; v = c & 0x07u; }
    else return 0;                                 /* continuation byte or overlong lead */
    if (need > n) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if ((need == 3 && v < 0x800) || (need == 4 && (v < 0x10000 || v > 0x10FFFF))) return 0;
    if (v >= 0xD800 && v <= 0xDFFF) return 0;      /* surrogates are not characters */
    *cp = v;
    return need;
}

bool bw_escape_hidden_cp(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return true;       /* C0, DEL, C1 */
    if (cp == 0x061C || cp == 0x180E || cp == 0xFEFF) return true;   /* Arabic mark, MVS, BOM */
    if (cp >= 0x200B && cp <= 0x200F) return true;                   /* zero-width, LRM, RLM */
    if (cp >= 0x2028 && cp <= 0x202E) return true;                   /* separators, embeddings, overrides */
    if (cp >= 0x2060 && cp <= 0x206F) return true;                   /* word joiner, isolates, ... */
    if (cp >= 0xFFF9 && cp <= 0xFFFB) return true;                   /* interlinear annotation */
    return false;
}

size_t bw_escape_ascii(char *out, size_t cap, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t k = 0;
    if (cap == 0) return 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = (s[i] >= 0x20 && s[i] < 0x7F) ? (char)s[i] : '?';
    out[k] = '\0';
    return k;
}

static const char replacement[] = "\xEF\xBF\xBD";  /* U+FFFD */

void bw_escape_html(FILE *out, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = bw_utf8_char(s + i, n - i, &cp);
        if (l == 0 || bw_escape_hidden_cp(cp)) { fputs(replacement, out); i += l ? l : 1; continue; }
        switch (cp) {
        case '&':  fputs("&amp;", out); break;
        case '<':  fputs("&lt;", out); break;
        case '>':  fputs("&gt;", out); break;
        case '"':  fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:   fwrite(s + i, 1, l, out); break;
        }
        i += l;
    }
}

/* What a spreadsheet may read as the start of a formula (OWASP "CSV injection"), including the
 * full-width forms some of them normalize. */
static bool formula_start(uint32_t cp)
{
    return cp == '=' || cp == '+' || cp == '-' || cp == '@' ||
           cp == 0xFF1D || cp == 0xFF0B || cp == 0xFF0D || cp == 0xFF20;
}

void bw_escape_csv_text(FILE *out, const void *src, size_t n, bool cell_start)
{
    const uint8_t *s = src;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = bw_utf8_char(s + i, n - i, &cp);
        if (i == 0 && cell_start && l && formula_start(cp)) fputc('\'', out);
        if (l == 0 || bw_escape_hidden_cp(cp)) { fputs(replacement, out); i += l ? l : 1; continue; }
        if (cp == '"') fputs("\"\"", out);
        else fwrite(s + i, 1, l, out);
        i += l;
    }
}

void bw_escape_csv(FILE *out, const void *s, size_t n)
{
    fputc('"', out);
    bw_escape_csv_text(out, s, n, true);
    fputc('"', out);
}
