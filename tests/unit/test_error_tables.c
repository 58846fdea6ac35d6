/*
 * test_error_tables.c - the error record (first error wins, formatting)
 * and the data tables of error codes and handler types / operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "handler_type.h"

static void test_first_error_wins(void **state)
{
	(void)state;
	struct onex_error err;
	char buf[512];
	onex_error_clear(&err);
	assert_false(onex_error_is_set(&err));
	assert_int_equal(onex_error_set(&err, ONEX_ERR_TIMEOUT, "f.yaml", 3, 7, "first %d", 1), -1);
	onex_error_set(&err, ONEX_ERR_NODE_NOT_FOUND, "g.yaml", 9, 9, "second");
	assert_int_equal(err.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(err.text, "first 1");
	onex_error_hint(&err, "try %s", "this");
	onex_error_action(&err, "do that");
	assert_string_equal(onex_error_format(&err, buf, sizeof(buf)),
			    "f.yaml:3:7: first 1\n  hint: try this\n  action: do that");
	assert_int_equal(onex_error_set(NULL, ONEX_ERR_TIMEOUT, NULL, 0, 0, "x"), -1);
	char small[8];
	onex_error_format(&err, small, sizeof(small));
	assert_int_equal(strlen(small), 7); /* truncated, terminated */
}

static void test_code_table(void **state)
{
	(void)state;
	static const char *const spec[] = { "HANDLER_EXECUTION_ERROR", "HANDLER_NOT_FOUND",
					    "NODE_NOT_FOUND", "INVALID_OPERATION",
					    "ENVELOPE_VALIDATION_ERROR", "CONTRACT_VALIDATION_ERROR",
					    "HANDLER_CONFIGURATION_ERROR", "EVENT_BUS_ERROR",
					    "SECRET_RESOLUTION_ERROR", "TIMEOUT", "RATE_LIMITED",
					    "CIRCUIT_OPEN" };
	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
		enum onex_error_code code;
		assert_int_equal(onex_error_code_parse(spec[i], &code), 0);
		assert_string_equal(onex_error_code_name(code), spec[i]);
	}
	enum onex_error_code code;
	assert_int_equal(onex_error_code_parse("NOPE", &code), -1);
	assert_int_equal(onex_error_code_parse("NONE", &code), -1);
	assert_string_equal(onex_error_code_name((enum onex_error_code)999), "UNKNOWN");
}

static void test_handler_types(void **state)
{
	(void)state;
	enum onex_handler_type t;
	assert_int_equal(onex_handler_type_parse("db", &t), 0);
	assert_int_equal(t, ONEX_HANDLER_DB);
	assert_int_equal(onex_handler_type_parse("kafka", &t), -1); /* a bus, never a handler */
	assert_int_equal(onex_handler_type_from_operation("vault.read_secret", &t), 0);
	assert_int_equal(t, ONEX_HANDLER_VAULT);
	assert_int_equal(onex_handler_type_from_operation("dbx.query", &t), -1);
	assert_true(onex_handler_type_has_operation(ONEX_HANDLER_HTTP, "http.patch"));
	assert_false(onex_handler_type_has_operation(ONEX_HANDLER_HTTP, "db.query"));
	/* Operation lists are sorted: "Available: ..." messages print them in order. */
	for (unsigned i = 0; i < ONEX_HANDLER__COUNT; i++) {
		const char *const *ops = onex_handler_type_operations((enum onex_handler_type)i);
		for (size_t j = 1; ops[0] && ops[j]; j++)
			assert_true(strcmp(ops[j - 1], ops[j]) < 0);
	}
	static const char *const need[] = { "db.query", "db.execute", "http.post", "http.put",
					    "http.patch", "vault.write_secret", "consul.kv_put",
					    "consul.register" };
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		assert_true(onex_operation_requires_payload(need[i]));
	assert_false(onex_operation_requires_payload("http.get"));
	assert_false(onex_operation_requires_payload("local.echo"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_code_table),
		cmocka_unit_test(test_handler_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
