/*
 * wiring.c - lookups in a binary's wiring table.
 */
#include "wiring.h"

#include <stdio.h>
#include <string.h>

const struct onex_handler_unit *onex_wiring_handler(const struct onex_wiring *w,
						    enum onex_handler_type type,
						    struct onex_error *err)
{
	char have[256] = "";
	size_t n = 0;
	for (size_t i = 0; i < w->handler_count; i++) {
		if (w->handlers[i]->type == type)
			return w->handlers[i];
		int wr = snprintf(have + n, sizeof(have) - n, "%s%s", n ? ", " : "",
				  onex_handler_type_name(w->handlers[i]->type));
		if (wr > 0 && (size_t)wr < sizeof(have) - n)
			n += (size_t)wr;
	}
	onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, w->binary, 0, 0,
		       "handler type '%s' is not available in %s; it links: %s",
		       onex_handler_type_name(type), w->binary, n ? have : "(none)");
	if (type == ONEX_HANDLER_LOCAL)
		onex_error_action(err, "use onex-host-dev for contracts with the local handler");
	return NULL;
}

const struct onex_bus_unit *onex_wiring_bus(const struct onex_wiring *w,
					    const char *kind,
					    struct onex_error *err)
{
	char have[256] = "";
	size_t n = 0;
	for (size_t i = 0; i < w->bus_count; i++) {
		if (strcmp(w->buses[i]->kind, kind) == 0)
			return w->buses[i];
		int wr = snprintf(have + n, sizeof(have) - n, "%s%s", n ? ", " : "",
				  w->buses[i]->kind);
		if (wr > 0 && (size_t)wr < sizeof(have) - n)
			n += (size_t)wr;
	}
	onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, w->binary, 0, 0,
		       "event bus kind '%s' is not available in %s; it links: %s",
		       kind, w->binary, n ? have : "(none)");
	return NULL;
}

json_t *onex_wiring_describe(const struct onex_wiring *w)
{
	json_t *handlers = json_object(), *buses = json_array();
	for (size_t i = 0; i < w->handler_count; i++)
		json_object_set_new(handlers, onex_handler_type_name(w->handlers[i]->type),
				    json_string(w->handlers[i]->unit_name));
	for (size_t i = 0; i < w->bus_count; i++)
		json_array_append_new(buses, json_string(w->buses[i]->kind));
	return json_pack("{s:s,s:o,s:o}", "binary", w->binary, "handler_units",
			 handlers, "bus_units", buses);
}
