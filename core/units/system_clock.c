/*
 * system_clock.c - the clock port over the OS clocks.
 */
#include <stdlib.h>
#include <time.h>

#include "system_units.h"

static uint64_t monotonic_ns(struct onex_clock *clock)
{
	struct timespec ts;
	(void)clock;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ns(struct onex_clock *clock)
{
	struct timespec ts;
	(void)clock;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void clock_free(struct onex_clock *clock)
{
	free(clock);
}

static const struct onex_clock_ops system_clock_ops = {
	.name = "system",
	.monotonic_ns = monotonic_ns,
	.wall_ns = wall_ns,
	.free = clock_free,
};

struct onex_clock *onex_system_clock_new(void)
{
	struct onex_clock *clock = malloc(sizeof(*clock));
	if (clock)
		clock->ops = &system_clock_ops;
	return clock;
}
