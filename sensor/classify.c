/* classify.c: nDPI (Debian 12's 4.2) behind a small interface; the only <ndpi_api.h> user.
 * Owns the detection module and a slot pool of ndpi_flow_struct, sized once at startup.
 * nDPI's own allocations go through counting hooks so each module's memory shows in its worker's
 * stats; the hooks are process-wide, and find the module through a thread-local pointer, because
 * nDPI's allocator API has no context argument.
 * Modules may be made and freed on several threads at once (the workers set up in parallel):
 * what nDPI keeps process-wide is set once before the first (the allocator hooks, libgcrypt's
 * initialisation, which nDPI would otherwise do on its first module without a lock). nDPI 4.2
 * keeps one more process-wide counter, of patricia trees made, for its debug output only. */
#include <gcrypt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ndpi/ndpi_api.h>
#include "bw_classify.h"

#define SLOT_CHUNK 1024

/* A module's making: nDPI 4.2 makes some 100,000 small blocks (its protocol tables and IP
 * trees, 4.6 MB) and frees them only with the module. They are cut from large blocks of the
 * module's own instead, and nDPI's frees of them do nothing: the blocks go as a whole after the
 * module. Kept in malloc's bins, their teardown (and the consolidation of the bins after it)
 * took about as long as the making, and two modules made at once contended in malloc. */
#define ARENA_BLOCK  (1u << 20)
#define ARENA_BLOCKS 64                /* 64 MiB at most; what would not fit comes from malloc */
#define ARENA_LARGE  (ARENA_BLOCK / 4) /* blocks larger than this come from malloc */

struct arena {
    uint8_t *block[ARENA_BLOCKS];
    unsigned n;
    size_t used;                       /* in block[n - 1] */
};

struct bw_classify {
    struct ndpi_detection_module_struct *ndpi;
    struct arena arena;                /* what the module was made of */
    bool making;                       /* nDPI's blocks come from the arena */
    uint64_t ndpi_bytes;               /* what nDPI holds for this module */
    uint8_t **chunks;                /* slots of SIZEOF_FLOW_STRUCT bytes, chunked */
    uint32_t nchunks, max_slots, used, free_head;
    uint32_t *next;                  /* free list links */
    size_t slot_size;
    struct bw_classify_stats st;
};

/* nDPI's allocator hooks have no context argument: the module nDPI works for on this thread is
 * set by every call into nDPI here (a module is used by one thread at a time). */
static _Thread_local struct bw_classify *serving;

enum { FROM_ARENA = 1 };               /* in a block's head instead of its module's counter */
#define HEAD (sizeof(uint64_t) * 2)    /* size and owner, in front of every block (16-aligned) */

static uint64_t *arena_take(struct arena *a, size_t n)
{
    size_t need = (HEAD + n + 15) & ~(size_t)15;
    if (n > ARENA_LARGE) return NULL;
    if (!a->n || a->used + need > ARENA_BLOCK) {
        if (a->n == ARENA_BLOCKS || !(a->block[a->n] = malloc(ARENA_BLOCK))) return NULL;
        a->n++;
        a->used = 0;
    }
    uint64_t *p = (uint64_t *)(void *)(a->block[a->n - 1] + a->used);
    a->used += need;
    return p;
}

/* Each block carries its size and where to subtract it in front, for the free hook. */
static void *count_malloc(size_t n)
{
    struct bw_classify *c = serving;
    uint64_t *p = c && c->making ? arena_take(&c->arena, n) : NULL;
    if (p) {
        p[1] = FROM_ARENA;
    } else {
        if (n > SIZE_MAX - HEAD || !(p = malloc(n + HEAD))) return NULL;
        p[1] = c ? (uint64_t)(uintptr_t)&c->ndpi_bytes : 0;
    }
    p[0] = n;
    if (c) c->ndpi_bytes += n;
    return p + 2;
}

static void count_free(void *ptr)
{
    if (!ptr) return;
    uint64_t *p = (uint64_t *)ptr - 2;
    if (p[1] == FROM_ARENA) return;    /* goes with its arena */
    if (p[1]) *(uint64_t *)(uintptr_t)p[1] -= p[0];
    free(p);
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void process_init(void)
{
    set_ndpi_malloc(count_malloc);
    set_ndpi_free(count_free);
    /* what ndpi_init_detection_module does when libgcrypt is not initialised yet */
    if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
        gcry_check_version(NULL);
        gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    }
}

struct bw_classify *bw_classify_new(uint32_t max_slots, int *err)
{
    struct bw_classify *c = calloc(1, sizeof *c);
    *err = BW_ENOMEM;
    if (!c || max_slots == 0) { if (c) *err = BW_EINVAL; goto fail; }
    pthread_once(&process_once, process_init);
    serving = c;
    c->making = true;
    c->ndpi = ndpi_init_detection_module(ndpi_no_prefs);
    if (c->ndpi) {
        NDPI_PROTOCOL_BITMASK all;
        NDPI_BITMASK_SET_ALL(all);
        ndpi_set_protocol_detection_bitmask2(c->ndpi, &all);
        ndpi_finalize_initialization(c->ndpi);
    }
    c->making = false;
    serving = NULL;
    if (!c->ndpi) goto fail;
    c->slot_size = (SIZEOF_FLOW_STRUCT + 15) & ~(size_t)15;
    c->max_slots = max_slots;
    c->nchunks = (max_slots + SLOT_CHUNK - 1) / SLOT_CHUNK;
    c->chunks = calloc(c->nchunks, sizeof *c->chunks);
    c->next = calloc(max_slots, sizeof *c->next);
    if (!c->chunks || !c->next) goto fail;
    c->st.slots_max = max_slots;
    c->st.slot_bytes = c->slot_size;
    *err = 0;
    return c;
fail:
    bw_classify_free(c);
    return NULL;
}

void bw_classify_free(struct bw_classify *c)
{
    if (!c) return;
    serving = c;
    if (c->ndpi) ndpi_exit_detection_module(c->ndpi);
    serving = NULL;
    for (unsigned i = 0; i < c->arena.n; i++) free(c->arena.block[i]);   /* after the module */
    if (c->chunks)
        for (uint32_t i = 0; i < c->nchunks; i++) free(c->chunks[i]);
    free(c->chunks);
    free(c->next);
    free(c);
}

static struct ndpi_flow_struct *slot(struct bw_classify *c, uint32_t idx1)
{
    uint32_t i = idx1 - 1;
    return (struct ndpi_flow_struct *)(void *)(c->chunks[i / SLOT_CHUNK] + (size_t)(i % SLOT_CHUNK) * c->slot_size);
}

static uint32_t slot_get(struct bw_classify *c)
{
    uint32_t idx;
    if (c->free_head) {
        idx = c->free_head;
        c->free_head = c->next[idx - 1];
    } else {
        if (c->used >= c->max_slots) { c->st.slot_memcap_hits++; return 0; }
        uint32_t ch = c->used / SLOT_CHUNK;
        if (!c->chunks[ch]) {
            c->chunks[ch] = calloc(SLOT_CHUNK, c->slot_size);
            if (!c->chunks[ch]) { c->st.slot_memcap_hits++; return 0; }
        }
        idx = ++c->used;
    }
    memset(slot(c, idx), 0, c->slot_size);
    c->st.slots_in_use++;
    if (c->st.slots_in_use > c->st.slots_hwm) c->st.slots_hwm = c->st.slots_in_use;
    return idx;
}

void bw_classify_release(struct bw_classify *c, struct bw_dpi_flow *df)
{
    if (!df->idx) return;
    serving = c;
    ndpi_free_flow_data(slot(c, df->idx));         /* what nDPI allocated inside the flow */
    c->next[df->idx - 1] = c->free_head;
    c->free_head = df->idx;
    df->idx = 0;
    c->st.slots_in_use--;
}

const char *bw_app_name(enum bw_app a)
{
    return a == BW_APP_MQTT ? "mqtt" : a == BW_APP_AMQP ? "amqp" : NULL;
}

static enum bw_dpi map(uint16_t proto)
{
    switch (proto) {
    case NDPI_PROTOCOL_UNKNOWN: return BW_DPI_UNKNOWN;
    case NDPI_PROTOCOL_MQTT:    return BW_DPI_MQTT;
    case NDPI_PROTOCOL_AMQP:    return BW_DPI_AMQP;
    case NDPI_PROTOCOL_TLS:     return BW_DPI_TLS;
    case NDPI_PROTOCOL_HTTP:    return BW_DPI_HTTP;
    default:                    return BW_DPI_OTHER;
    }
}

static uint16_t pick(ndpi_protocol p)
{
    /* A broker protocol or TLS as either part wins; otherwise the master protocol. */
    uint16_t ids[2] = { p.app_protocol, p.master_protocol };
    for (int i = 0; i < 2; i++) {
        enum bw_dpi d = map(ids[i]);
        if (d == BW_DPI_MQTT || d == BW_DPI_AMQP || d == BW_DPI_TLS) return ids[i];
    }
    return p.master_protocol != NDPI_PROTOCOL_UNKNOWN ? p.master_protocol : p.app_protocol;
}

/* Case-insensitive search of a short needle in a bounded string. */
static bool has(const char *hay, size_t cap, const char *needle)
{
    size_t n = strlen(needle), h = hay ? strnlen(hay, cap) : 0;
    for (size_t i = 0; i + n <= h; i++) {
        size_t k = 0;
        while (k < n && (hay[i + k] | 0x20) == needle[k]) k++;
        if (k == n) return true;
    }
    return false;
}

/* What the ClientHello's SNI and ALPN say about the application inside TLS. The names are the
 * ALPN ids brokers use ("mqtt", "x-amzn-mqtt-ca", "amqp") and the cloud endpoints that only
 * speak broker protocols (Azure IoT Hub, Service Bus / Event Hubs, AWS IoT). */
enum bw_app bw_classify_tls_names(const char *sni, size_t sni_cap, const char *alpn, size_t alpn_cap)
{
    if (has(alpn, alpn_cap, "mqtt") || has(sni, sni_cap, "mqtt") || has(sni, sni_cap, ".azure-devices.net") ||
        (has(sni, sni_cap, "iot.") && has(sni, sni_cap, ".amazonaws.com")))
        return BW_APP_MQTT;
    if (has(alpn, alpn_cap, "amqp") || has(sni, sni_cap, "amqp") || has(sni, sni_cap, ".servicebus.windows.net"))
        return BW_APP_AMQP;
    return BW_APP_NONE;
}

static uint8_t tls_hint(struct ndpi_flow_struct *nf)
{
    return (uint8_t)bw_classify_tls_names(nf->host_server_name, sizeof nf->host_server_name,
                                          nf->protos.tls_quic.alpn, 256);
}

enum bw_dpi bw_classify_result(const struct bw_dpi_flow *df)
{
    if (!df->done) return BW_DPI_PENDING;
    return df->proto ? map(df->proto) : BW_DPI_UNKNOWN;
}

enum bw_dpi bw_classify_packet(struct bw_classify *c, struct bw_dpi_flow *df, const struct bw_packet *p)
{
    if (df->done) return df->proto ? map(df->proto) : BW_DPI_UNKNOWN;
    if (!df->idx) {
        df->idx = slot_get(c);
        if (!df->idx) { df->done = true; return BW_DPI_NO_SLOT; }
    }
    /* nDPI takes the length as an unsigned short: larger (jumbo/GRO) packets are cut, never wrapped. */
    unsigned short len = p->l3_len > 65535 ? 65535 : (unsigned short)p->l3_len;
    serving = c;
    ndpi_protocol r = ndpi_detection_process_packet(c->ndpi, slot(c, df->idx), p->l3, len, p->ts_us / 1000);
    df->pkts++;
    uint16_t id = pick(r);
    if (id == NDPI_PROTOCOL_UNKNOWN && df->pkts >= BW_DPI_MAX_PKTS) {
        uint8_t guessed = 0;
        r = ndpi_detection_giveup(c->ndpi, slot(c, df->idx), 0, &guessed);
        id = pick(r);
        c->st.gave_up++;
        if (id == NDPI_PROTOCOL_UNKNOWN) {
            df->done = true;
            df->proto = 0;
            bw_classify_release(c, df);
            return BW_DPI_UNKNOWN;
        }
    }
    if (id == NDPI_PROTOCOL_UNKNOWN) return BW_DPI_PENDING;
    df->proto = id;
    if (map(id) == BW_DPI_TLS) df->tls_hint = tls_hint(slot(c, df->idx));
    df->done = true;
    c->st.flows_classified++;
    bw_classify_release(c, df);
    return map(id);
}

const char *bw_classify_name(struct bw_classify *c, uint16_t proto)
{
    const char *n = ndpi_get_proto_name(c->ndpi, proto);
    return n ? n : "Unknown";
}

void bw_classify_get_stats(const struct bw_classify *c, struct bw_classify_stats *out)
{
    *out = c->st;
    out->ndpi_bytes = c->ndpi_bytes;
}
