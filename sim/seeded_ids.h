/*
 * seeded_ids.h - the id port for the simulation: UUIDv4s whose 122 random
 * bits come from a seeded PRNG stream, so the same seed gives the same ids
 * in the same order on every machine.
 */
#ifndef ONEX_SIM_SEEDED_IDS_H
#define ONEX_SIM_SEEDED_IDS_H

#include <stdint.h>

#include "ids.h"
#include "prng.h"

/*
 * A new id unit drawing from a copy of `stream` (the caller's generator is
 * not advanced; pass a stream made with onex_prng_fork(root, "ids", ...)).
 * Ownership: free with onex_ids_free(). NULL when out of memory.
 */
struct onex_ids *onex_seeded_ids_new(const struct onex_prng *stream);

/* How many ids the unit has handed out (for traces and checks). */
uint64_t onex_seeded_ids_count(const struct onex_ids *ids);

#endif
