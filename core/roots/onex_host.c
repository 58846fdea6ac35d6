/*
 * onex_host.c - composition root of onex-host: the production host. Its
 * wiring table names the units it links; contracts enabling the dev-only
 * `local` handler are refused while loading.
 *
 * Handler units for http/db (libcurl, libpq) and the Kafka bus arrive
 * with the real units (core/real/); until then this binary links the
 * stdio and in-memory buses and no handler unit, and says so when a
 * contract asks for one.
 */
#include "host_cli.h"
#include "inmemory_bus.h"
#include "stdio_bus.h"

static const struct onex_bus_unit *const buses[] = { &onex_stdio_bus_unit,
						     &onex_inmemory_bus_unit };

static const struct onex_wiring wiring = {
	.binary = "onex-host",
	.handlers = NULL,
	.handler_count = 0,
	.buses = buses,
	.bus_count = sizeof(buses) / sizeof(buses[0]),
};

int main(int argc, char **argv)
{
	static const struct onex_host_cli_profile profile = {
		.binary = "onex-host",
		.summary = "The ONEX runtime host: consumes envelopes from the contract's "
			   "event bus, routes each to its handler, publishes the reply.",
		.wiring = &wiring,
		.production = 1,
		.dev = 0,
	};
	return onex_host_cli_main(argc, argv, &profile);
}
