/*
 * stdio_bus.h - the stdio bus unit: envelopes as JSON lines on stdin,
 * replies as JSON lines on stdout. For pipelines, demos and tests.
 */
#ifndef ONEX_STDIO_BUS_H
#define ONEX_STDIO_BUS_H

#include "bus.h"

extern const struct onex_bus_unit onex_stdio_bus_unit;

/* Create over explicit descriptors (tests); the unit's create() uses 0 and 1. */
struct onex_bus *onex_stdio_bus_new_fds(const struct onex_bus_env *env, int in_fd,
					int out_fd, struct onex_error *err);

#endif
