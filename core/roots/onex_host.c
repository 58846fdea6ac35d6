/*
 * onex_host.c - composition root of onex-host: the production host. Its
 * wiring table names the units it links; contracts enabling the dev-only
 * `local` handler are refused while loading.
 *
 * The real units live in core/real/; a handler type or bus kind that is
 * not in these tables is refused at start with the list of what is linked.
 */
#include "host_cli.h"
#include "inmemory_bus.h"
#include "real/curl_http.h"
#include "real/kafka_bus.h"
#include "real/pg_db.h"
#include "stdio_bus.h"

static const struct onex_handler_unit *const handlers[] = { &onex_curl_http_unit,
								    &onex_pg_db_unit };

static const struct onex_bus_unit *const buses[] = { &onex_stdio_bus_unit,
						     &onex_inmemory_bus_unit,
						     &onex_kafka_bus_unit };

static const struct onex_wiring wiring = {
	.binary = "onex-host",
	.handlers = handlers,
	.handler_count = sizeof(handlers) / sizeof(handlers[0]),
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
