/* bw_escape.h: wire strings (user names, products, client ids: hostile bytes) made safe for the
 * places people and other programs read them: a terminal, an HTML page, a spreadsheet cell.
 * Invalid UTF-8, control characters and the invisible characters that reorder or hide text
 * (bidi overrides, zero-width marks) never pass through: they become U+FFFD or '?'. Pure
 * formatting: no allocation; the FILE writers report errors through ferror(). */
#ifndef BW_ESCAPE_H
#define BW_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length (1-4) of the valid UTF-8 character at s (n bytes left) and its code point in *cp;
 * 0 when the bytes there are not valid UTF-8 (overlong forms and surrogates included). */
size_t bw_utf8_char(const uint8_t *s, size_t n, uint32_t *cp);

/* True for code points never shown as they are: C0/C1 controls, DEL, bidi embeddings,
 * overrides, isolates and marks, zero-width characters, line/paragraph separators, BOM. */
bool bw_escape_hidden_cp(uint32_t cp);

/* Printable ASCII only (one '?' per other byte), NUL-terminated, cut to cap - 1 bytes.
 * For terminals and the text report. Returns the length written. */
size_t bw_escape_ascii(char *out, size_t cap, const void *s, size_t n);

/* HTML text or attribute value: & < > " ' become entities; hidden or invalid characters
 * become U+FFFD. */
void bw_escape_html(FILE *out, const void *s, size_t n);

/* One CSV cell (RFC 4180): always quoted, '"' doubled, hidden or invalid characters become
 * U+FFFD; a cell that would start with = + - @ (or their full-width forms) gets a leading '
 * so that no spreadsheet takes it for a formula. */
void bw_escape_csv(FILE *out, const void *s, size_t n);
/* The inside of a quoted cell, for cells holding several values (the caller writes the quotes
 * and the "\n" between values); cell_start: these bytes begin the cell (formula guard). */
void bw_escape_csv_text(FILE *out, const void *s, size_t n, bool cell_start);

#endif
