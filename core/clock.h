/*
 * clock.h - the clock port: monotonic time for durations, wall time for
 * envelope timestamps. Kernel and host read time only through here; the
 * system unit reads the OS clocks, the simulation unit virtual time.
 */
#ifndef ONEX_CLOCK_H
#define ONEX_CLOCK_H

#include <stdint.h>

struct onex_clock;

struct onex_clock_ops {
	const char *name;
	uint64_t (*monotonic_ns)(struct onex_clock *clock);
	/* Nanoseconds since 1970-01-01T00:00:00Z. */
	int64_t (*wall_ns)(struct onex_clock *clock);
	void (*free)(struct onex_clock *clock);
};

struct onex_clock {
	const struct onex_clock_ops *ops;
};

static inline uint64_t onex_clock_monotonic_ns(struct onex_clock *clock)
{
	return clock->ops->monotonic_ns(clock);
}

static inline int64_t onex_clock_wall_ns(struct onex_clock *clock)
{
	return clock->ops->wall_ns(clock);
}

static inline void onex_clock_free(struct onex_clock *clock)
{
	if (clock && clock->ops->free)
		clock->ops->free(clock);
}

#endif
