/* registry.c: the table of every dissector the sensor runs, in probe order.
 * A new protocol is one dissector file plus one line here. */
#include <stddef.h>
#include "bw_dissector.h"
#include "bw_amqp.h"
#include "bw_mqtt.h"
#include "bw_tls.h"

const struct bw_dissector *const bw_dissectors[] = {
    &bw_dissector_mqtt,
    &bw_dissector_amqp091,
    &bw_dissector_amqp10,
    NULL,   /* placeholder so the table is never empty; not counted */
};
const size_t bw_dissectors_count = sizeof bw_dissectors / sizeof bw_dissectors[0] - 1;

/* Encrypted broker sessions: the pipeline attaches this one itself (port, SNI/ALPN, or a server
 * known to speak a broker protocol), never through the probes above. */
const struct bw_dissector *const bw_tls_dissector = &bw_dissector_tls;
bool (*const bw_tls_evaluate_fn)(struct bw_facts *f, uint64_t ts_us) = bw_tls_evaluate;
