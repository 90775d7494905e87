/* fuzz_amqp10.c: libFuzzer entry for the AMQP 1.0 dissector (dissectors/amqp10.c).
 * The input format and the checks are those of dissector_fuzz.h. */
#include "bw_amqp.h"

#define FUZZ_DISSECTOR bw_dissector_amqp10
#include "dissector_fuzz.h"
