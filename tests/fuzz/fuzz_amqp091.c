/* fuzz_amqp091.c: libFuzzer entry for the AMQP 0-9-1 dissector (dissectors/amqp091.c).
 * The input format and the checks are those of dissector_fuzz.h. */
#include "bw_amqp.h"

#define FUZZ_DISSECTOR bw_dissector_amqp091
#include "dissector_fuzz.h"
