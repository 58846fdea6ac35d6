/*
 * seeded_ids.h - a seeded id unit: UUIDv4s whose 122 random bits come from
 * a seeded PRNG stream, so the same seed gives the same ids in the same
 * order on every machine. onex-sim draws every id from it; the host
 * binaries use it behind --id-seed (replay and the differential test).
 */
#ifndef ONEX_UNITS_SEEDED_IDS_H
#define ONEX_UNITS_SEEDED_IDS_H

#include <stdint.h>

#include "ids.h"
#include "prng.h"

/*
 * A new id unit drawing from a copy of `stream` (the caller's generator is
 * not advanced; pass a stream made with onex_prng_fork(root, "ids", ...)).
 * Ownership: free with onex_ids_free(). NULL when out of memory.
 */
struct onex_ids *onex_seeded_ids_new(const struct onex_prng *stream);

/*
 * The id stream of a world seeded with `seed`, derived exactly as onex-sim
 * derives it (onex_prng_init(seed), then the fork named "ids"): a host run
 * with --id-seed N hands out the ids a scenario with seed N sees, in the
 * same order. NULL when out of memory.
 */
struct onex_ids *onex_seeded_ids_from_seed(uint64_t seed);

/* How many ids the unit has handed out (for traces and checks). */
uint64_t onex_seeded_ids_count(const struct onex_ids *ids);

#endif
