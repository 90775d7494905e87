/* fuzz_mqtt.c: the MQTT dissector under the stream contract. The input is cut into chunks at
 * 0xA5 bytes, chunks alternate directions (client first); 0x5A marks a gap in the next one,
 * after a partial() look at the bytes held before it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bw_json.h"
#include "bw_mqtt.h"

struct dirbuf { uint8_t b[16384]; size_t n, skip; bool done; };

static void deliver(uint8_t *st, struct bw_facts *f, enum bw_dir d, struct dirbuf *db, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && !db->done; i++) {
        if (db->skip) { db->skip--; continue; }
        if (db->n < sizeof db->b) db->b[db->n++] = p[i];
    }
    while (!db->done && db->n > 0) {
        uint8_t *copy = malloc(db->n);                 /* exact size: any over-read is caught */
        if (!copy) return;
        memcpy(copy, db->b, db->n);
        size_t used = 0;
        enum bw_parse r = bw_dissector_mqtt.parse(st, d, copy, db->n, &used, f);
        free(copy);
        if (r == BW_PARSE_DONE || r == BW_PARSE_MALFORMED) { db->done = true; break; }
        if (used > db->n) { db->skip = used - db->n; used = db->n; }
        memmove(db->b, db->b + used, db->n - used);
        db->n -= used;
        if (used == 0) { if (db->n == sizeof db->b) db->done = true; break; }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dirbuf dir[2];
    uint8_t st[BW_DISSECTOR_STATE_MAX];
    struct bw_facts f;
    memset(dir, 0, sizeof dir);
    memset(st, 0, sizeof st);
    bw_facts_init(&f);
    bw_dissector_mqtt.reset(st);
    size_t start = 0;
    int d = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0xA5) continue;
        const uint8_t *p = data + start;
        size_t n = i - start;
        if (n && p[0] == 0x5A && !dir[d].done) {
            if (dir[d].n > 0) {                       /* the stream's last look: partial() */
                uint8_t *held = malloc(dir[d].n);
                if (held) {
                    memcpy(held, dir[d].b, dir[d].n);
                    bw_dissector_mqtt.partial(st, (enum bw_dir)d, held, dir[d].n, &f);
                    free(held);
                }
            }
            dir[d].n = 0;
            dir[d].skip = 0;
            if (bw_dissector_mqtt.gap(st, (enum bw_dir)d, &f) != BW_PARSE_OK) dir[d].done = true;
            p++; n--;
        }
        uint8_t *copy = malloc(n ? n : 1);
        if (copy) {
            memcpy(copy, p, n);
            (void)bw_dissector_mqtt.probe((enum bw_dir)d, copy, n);
            deliver(st, &f, (enum bw_dir)d, &dir[d], copy, n);
            free(copy);
        }
        start = i + 1;
        d = !d;
    }
    bw_dissector_mqtt.close(st, BW_CLOSE_FIN, &f);
    /* Identities fit their record; one announced but never read has no bytes and says so. */
    if (f.user.len > BW_FACTS_ID_MAX || f.client_id.len > BW_FACTS_ID_MAX) abort();
    if (f.user.unread && (f.user.len || !(f.seen & BW_FACT_CREDS_USER) ||
                          !(f.anomalies & (1u << BW_MQTT_ANOM_USER_UNREAD))))
        abort();
    char out[4096];
    struct bw_json j;
    bw_json_init(&j, out, sizeof out);
    bw_json_obj_open(&j, NULL);
    bw_dissector_mqtt.facts_json(&f, &j);
    bw_json_obj_close(&j);
    (void)bw_json_finish(&j);
    return 0;
}
