/*
 * test_wiring.c - a binary's wiring table (core/wiring.c): handler and bus
 * lookups, the errors for units a binary did not link (naming what it
 * links), and the JSON description.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "wiring.h"

static const struct onex_handler_unit http_unit = { ONEX_HANDLER_HTTP, "test-curl", NULL };
static const struct onex_handler_unit db_unit = { ONEX_HANDLER_DB, "test-pg", NULL };
static const struct onex_bus_unit stdio_unit = { "stdio", NULL };
static const struct onex_bus_unit kafka_unit = { "kafka", NULL };

static const struct onex_handler_unit *const handlers[] = { &http_unit, &db_unit };
static const struct onex_bus_unit *const buses[] = { &stdio_unit, &kafka_unit };

static const struct onex_wiring table = { "test-host", handlers, 2, buses, 2 };
static const struct onex_wiring empty = { "empty-host", NULL, 0, NULL, 0 };

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text, part);
}

static void test_handler_lookup(void **state)
{
	(void)state;
	struct onex_error err;
	onex_error_clear(&err);
	assert_ptr_equal(onex_wiring_handler(&table, ONEX_HANDLER_HTTP, &err), &http_unit);
	assert_ptr_equal(onex_wiring_handler(&table, ONEX_HANDLER_DB, &err), &db_unit);
	assert_false(onex_error_is_set(&err));
}

static void test_handler_not_linked_names_what_is(void **state)
{
	(void)state;
	struct onex_error err;
	onex_error_clear(&err);
	assert_null(onex_wiring_handler(&table, ONEX_HANDLER_VAULT, &err));
	assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
	assert_string_equal(err.source, "test-host");
	assert_string_equal(err.text,
			    "handler type 'vault' is not available in test-host; it links: http, db");
	assert_string_equal(err.action, "");
	/* local gets an action pointing at the dev host. */
	onex_error_clear(&err);
	assert_null(onex_wiring_handler(&table, ONEX_HANDLER_LOCAL, &err));
	assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
	assert_contains(err.action, "onex-host-dev");
	/* A binary with no handlers says so. */
	onex_error_clear(&err);
	assert_null(onex_wiring_handler(&empty, ONEX_HANDLER_HTTP, &err));
	assert_contains(err.text, "it links: (none)");
}

static void test_bus_lookup(void **state)
{
	(void)state;
	struct onex_error err;
	onex_error_clear(&err);
	assert_ptr_equal(onex_wiring_bus(&table, "kafka", &err), &kafka_unit);
	assert_ptr_equal(onex_wiring_bus(&table, "stdio", &err), &stdio_unit);
	assert_false(onex_error_is_set(&err));
	assert_null(onex_wiring_bus(&table, "inmemory", &err));
	assert_int_equal(err.code, ONEX_ERR_EVENT_BUS_ERROR);
	assert_string_equal(err.text,
			    "event bus kind 'inmemory' is not available in test-host; it links: stdio, kafka");
	/* Exact names only. */
	onex_error_clear(&err);
	assert_null(onex_wiring_bus(&table, "Kafka", &err));
	assert_null(onex_wiring_bus(&table, "kaf", &err));
	onex_error_clear(&err);
	assert_null(onex_wiring_bus(&empty, "stdio", &err));
	assert_contains(err.text, "it links: (none)");
}

static void test_describe(void **state)
{
	(void)state;
	json_t *d = onex_wiring_describe(&table);
	char *s = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"binary\":\"test-host\",\"bus_units\":[\"stdio\",\"kafka\"],"
			       "\"handler_units\":{\"db\":\"test-pg\",\"http\":\"test-curl\"}}");
	free(s);
	json_decref(d);
	d = onex_wiring_describe(&empty);
	assert_int_equal(json_object_size(json_object_get(d, "handler_units")), 0);
	assert_int_equal(json_array_size(json_object_get(d, "bus_units")), 0);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handler_lookup),
		cmocka_unit_test(test_handler_not_linked_names_what_is),
		cmocka_unit_test(test_bus_lookup),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
