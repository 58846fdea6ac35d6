/*
 * invariants.h - checks over a whole simulated run (docs/SCENARIOS.md
 * "Invariants"), reading only what crossed the bus: the deliveries to the
 * host on the input topic and the replies it published on the output
 * topic (including replies a drop_publish fault lost); and, for
 * log_lines_carry_correlation, the log lines the world kept.
 */
#ifndef ONEX_SIM_INVARIANTS_H
#define ONEX_SIM_INVARIANTS_H

#include <stddef.h>

#include "world.h"

/*
 * Check the invariants in `which` (ONEX_INV_* bits). Returns the bits that
 * were violated and appends one line per violation to `report`.
 */
unsigned onex_sim_check_invariants(const struct onex_sim_world *w, const char *input_topic,
				   const char *output_topic, unsigned which, char *report,
				   size_t report_size);

#endif
