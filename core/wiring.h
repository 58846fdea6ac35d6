/*
 * wiring.h - the wiring table: the one place that maps contract names
 * (handler types, bus kinds) to the units a binary linked.
 *
 * Each composition root (core/roots/onex_host.c, onex_host_dev.c,
 * sim/roots/onex_sim.c) defines one table naming its units; the host looks
 * units up here and nowhere else. A contract that names a unit the binary
 * did not link gets an error listing what it has.
 */
#ifndef ONEX_WIRING_H
#define ONEX_WIRING_H

#include <jansson.h>
#include <stddef.h>

#include "bus.h"
#include "error.h"
#include "handler.h"

struct onex_wiring {
	const char *binary; /* "onex-host", "onex-host-dev", "onex-sim" */
	const struct onex_handler_unit *const *handlers;
	size_t handler_count;
	const struct onex_bus_unit *const *buses;
	size_t bus_count;
};

/* The unit for `type`, or NULL with err (HANDLER_CONFIGURATION_ERROR) listing what is linked. */
const struct onex_handler_unit *onex_wiring_handler(const struct onex_wiring *w,
						    enum onex_handler_type type,
						    struct onex_error *err);

/* The bus unit for `kind`, or NULL with err (EVENT_BUS_ERROR) listing what is linked. */
const struct onex_bus_unit *onex_wiring_bus(const struct onex_wiring *w,
					    const char *kind,
					    struct onex_error *err);

/* {"binary":..., "handlers": {"http": "libcurl", ...}, "buses": [...]}. New reference. */
json_t *onex_wiring_describe(const struct onex_wiring *w);

#endif
