/* toy_dissector.h: the test dissector that proves the seam (see toy_dissector.c). */
#ifndef TOY_DISSECTOR_H
#define TOY_DISSECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "bw_dissector.h"
#include "bw_json.h"

struct toy_state { bool hello; };
struct toy_facts { uint32_t client_lines, server_lines, gaps; bool closed; int close_how; };

extern const struct bw_dissector toy_dissector;

#endif
