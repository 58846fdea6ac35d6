/*
 * onex_host_dev.c - composition root of onex-host-dev: the development
 * host. It links only the `local` handler, with the stdio and in-memory
 * buses, and refuses to start when ENVIRONMENT=prod.
 */
#include "host_cli.h"
#include "inmemory_bus.h"
#include "local_handler.h"
#include "stdio_bus.h"

static const struct onex_handler_unit *const handlers[] = { &onex_local_handler_unit };
static const struct onex_bus_unit *const buses[] = { &onex_stdio_bus_unit,
						     &onex_inmemory_bus_unit };

static const struct onex_wiring wiring = {
	.binary = "onex-host-dev",
	.handlers = handlers,
	.handler_count = sizeof(handlers) / sizeof(handlers[0]),
	.buses = buses,
	.bus_count = sizeof(buses) / sizeof(buses[0]),
};

int main(int argc, char **argv)
{
	static const struct onex_host_cli_profile profile = {
		.binary = "onex-host-dev",
		.summary = "The ONEX development host: routes envelopes to the dev-only "
			   "'local' handler.",
		.wiring = &wiring,
		.production = 0,
		.dev = 1,
	};
	return onex_host_cli_main(argc, argv, &profile);
}
