/*
 * test_envelope.c - envelope parse / validate / encode / reply (spec §2, §5, §6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define ID1 "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"
#define ID2 "0a1b2c3d-4e5f-4a6b-9c8d-abcdefabcdef"

static json_t *parse_ok(const char *text)
{
	json_t *json = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_envelope_parse(text, strlen(text), &json, &err), 0);
	assert_non_null(json);
	return json;
}

static void expect_parse_error(const char *data, size_t len, const char *substring)
{
	json_t *json = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_envelope_parse(data, len, &json, &err), -1);
	assert_null(json);
	assert_int_equal(err.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	if (!strstr(err.text, substring))
		fail_msg("error '%s' lacks '%s'", err.text, substring);
}

static void test_parse_rejects_bad_input(void **state)
{
	(void)state;
	expect_parse_error("{\"a\":", 5, "invalid JSON at line 1");
	expect_parse_error("[]", 2, "must be a JSON object, got an array");
	expect_parse_error("null", 4, "got null");
	expect_parse_error("123", 3, "got an integer");
	expect_parse_error("\"x\"", 3, "got a string");
	expect_parse_error("{\"a\":\"\xff\"}", 9, "invalid JSON");
	expect_parse_error("{\"a\":1,\"a\":2}", 13, "duplicate");
	size_t big = ONEX_ENVELOPE_BYTES_MAX + 1;
	char *buf = malloc(big);
	memset(buf, ' ', big);
	expect_parse_error(buf, big, "the limit is 1048576 bytes");
	free(buf);
}

static void test_round_trip_is_lossless(void **state)
{
	(void)state;
	/* Unknown fields, big/small numbers, UTF-8, NUL, nested values, key order. */
	const char *text =
		"{\"zeta\":1,\"envelope_id\":\"" ID1 "\",\"operation\":\"local.echo\","
		"\"payload\":{\"n\":9007199254740993,\"f\":0.1,\"neg\":-1e-300,"
		"\"s\":\"h\xc3\xa9llo \xe2\x82\xac \\u0000 end\",\"a\":[1,{\"b\":null}]},"
		"\"x_custom\":{\"deep\":[true,false]}}";
	json_t *first = parse_ok(text);
	size_t len1 = 0, len2 = 0;
	char *enc1 = onex_envelope_encode(first, &len1);
	json_t *second = parse_ok(enc1);
	char *enc2 = onex_envelope_encode(second, &len2);
	assert_true(json_equal(first, second));
	assert_int_equal(len1, len2);
	assert_memory_equal(enc1, enc2, len1);
	/* Key order is the input's order. */
	assert_true(strncmp(enc1, "{\"zeta\":1,\"envelope_id\"", 23) == 0);
	/* The NUL inside the string survives. */
	const json_t *s = json_object_get(json_object_get(second, "payload"), "s");
	assert_int_equal(json_string_length(s), strlen("h\xc3\xa9llo \xe2\x82\xac ") + 1 + 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(second, "payload"), "n")),
			 9007199254740993LL);
	free(enc1);
	free(enc2);
	json_decref(first);
	json_decref(second);
}

static void test_init_fills_views(void **state)
{
	(void)state;
	struct onex_envelope env;
	struct onex_error err;
	onex_error_clear(&err);
	json_t *json = parse_ok("{\"envelope_id\":\"" ID1 "\",\"correlation_id\":\"" ID2 "\","
				"\"operation\":\"db.query\",\"payload\":{\"sql\":\"select 1\"},"
				"\"target_node\":\"user_service\",\"metadata\":{\"k\":\"v\"}}");
	assert_int_equal(onex_envelope_init(&env, json, &err), 0);
	assert_string_equal(env.envelope_id, ID1);
	assert_string_equal(env.correlation_id, ID2);
	assert_string_equal(env.operation, "db.query");
	assert_string_equal(env.target_node, "user_service");
	assert_null(env.handler_type_name);
	assert_true(env.handler_type_known); /* derived from the operation prefix */
	assert_int_equal(env.handler_type, ONEX_HANDLER_DB);
	assert_non_null(env.payload);
	assert_null(env.timestamp);
	onex_envelope_release(&env);
}

static void expect_invalid(const char *text, const char *substrings[])
{
	struct onex_envelope env;
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_envelope_init(&env, parse_ok(text), &err), -1);
	assert_int_equal(err.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	for (const char **s = substrings; *s; s++)
		if (!strstr(err.text, *s))
			fail_msg("error '%s' lacks '%s'", err.text, *s);
	onex_envelope_release(&env);
}

static void test_validation_names_every_field(void **state)
{
	(void)state;
	expect_invalid("{}", (const char *[]){ "missing required field(s): operation", NULL });
	expect_invalid("{\"operation\":5,\"payload\":[1],\"correlation_id\":7,"
		       "\"envelope_id\":\"nope\",\"timestamp\":\"yesterday\",\"metadata\":\"m\","
		       "\"is_response\":\"no\",\"target_node\":\"Bad Node\"}",
		       (const char *[]){ "operation (must be", "payload (must be an object or null)",
					 "correlation_id (must be a UUID string or null)",
					 "envelope_id (must be a UUID string)", "timestamp",
					 "metadata", "is_response", "target_node", NULL });
	expect_invalid("{\"operation\":\"DB.Query\"}",
		       (const char *[]){ "operation (must be a lowercase dotted", NULL });
	expect_invalid("{\"operation\":\"db.query\"}",
		       (const char *[]){ "payload is required for operation: db.query", NULL });
	expect_invalid("{\"operation\":\"http.post\",\"payload\":{}}",
		       (const char *[]){ "payload is required for operation: http.post", NULL });
	expect_invalid("{\"operation\":\"local.echo\",\"is_response\":true}",
		       (const char *[]){ "takes requests only", NULL });
}

static void test_invalid_correlation_is_rejected_not_echoed(void **state)
{
	(void)state;
	struct onex_envelope env;
	struct onex_error err;
	onex_error_clear(&err);
	json_t *json = parse_ok("{\"operation\":\"local.echo\",\"correlation_id\":\"abc\"}");
	assert_int_equal(onex_envelope_init(&env, json, &err), -1);
	assert_null(env.correlation_id);
	assert_string_equal(env.rejected_correlation_id, "abc");
	onex_envelope_assign_correlation(&env, ID2);
	char id[] = ID1, ts[ONEX_TIMESTAMP_BYTES];
	onex_timestamp_format(0, ts);
	struct onex_reply_spec spec = { id, ts, &env, 0, NULL, &err, NULL };
	json_t *reply = onex_envelope_build_reply(&spec);
	assert_string_equal(json_string_value(json_object_get(reply, "correlation_id")), ID2);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(reply, "metadata"), "rejected_correlation_id")),
			    "abc");
	json_decref(reply);
	onex_envelope_release(&env);
}

static void test_unknown_handler_type_is_not_a_validation_error(void **state)
{
	(void)state;
	struct onex_envelope env;
	struct onex_error err;
	onex_error_clear(&err);
	json_t *json = parse_ok("{\"operation\":\"kafka.send\",\"handler_type\":\"kafka\"}");
	assert_int_equal(onex_envelope_init(&env, json, &err), 0);
	assert_false(env.handler_type_known);
	assert_string_equal(env.handler_type_name, "kafka");
	onex_envelope_release(&env);
}

static void test_reply_shapes(void **state)
{
	(void)state;
	struct onex_envelope env;
	struct onex_error err;
	onex_error_clear(&err);
	json_t *json = parse_ok("{\"envelope_id\":\"" ID1 "\",\"correlation_id\":\"" ID2 "\","
				"\"operation\":\"local.echo\",\"source_node\":\"caller\","
				"\"target_node\":\"echo_node\",\"payload\":{\"x\":1}}");
	assert_int_equal(onex_envelope_init(&env, json, &err), 0);
	char before[1024];
	char *enc = onex_envelope_encode(env.json, NULL);
	snprintf(before, sizeof(before), "%s", enc);
	free(enc);

	char id[] = "11111111-2222-4333-8444-555555555555";
	char ts[ONEX_TIMESTAMP_BYTES];
	onex_timestamp_format(1735689600123456789LL, ts);
	assert_string_equal(ts, "2025-01-01T00:00:00.123456Z");

	struct onex_reply_spec ok = { id, ts, &env, 1, json_pack("{s:i}", "x", 1), NULL, NULL };
	json_t *reply = onex_envelope_build_reply(&ok);
	assert_string_equal(json_string_value(json_object_get(reply, "envelope_id")), id);
	assert_string_equal(json_string_value(json_object_get(reply, "correlation_id")), ID2);
	assert_string_equal(json_string_value(json_object_get(reply, "causation_id")), ID1);
	assert_string_equal(json_string_value(json_object_get(reply, "source_node")), "echo_node");
	assert_string_equal(json_string_value(json_object_get(reply, "target_node")), "caller");
	assert_string_equal(json_string_value(json_object_get(reply, "handler_type")), "local");
	assert_true(json_is_true(json_object_get(reply, "is_response")));
	assert_true(json_is_true(json_object_get(reply, "success")));
	assert_true(json_is_null(json_object_get(reply, "error")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "payload"), "x")), 1);
	json_decref(reply);

	onex_error_set(&err, ONEX_ERR_HANDLER_NOT_FOUND, NULL, 0, 0, "no handler");
	struct onex_reply_spec bad = { id, ts, &env, 0, NULL, &err,
				       json_pack("{s:[s]}", "available_handlers", "db") };
	reply = onex_envelope_build_reply(&bad);
	json_t *e = json_object_get(reply, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "HANDLER_NOT_FOUND");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "no handler");
	assert_string_equal(json_string_value(json_object_get(e, "operation")), "local.echo");
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "available_handlers"), 0)), "db");
	assert_true(json_is_null(json_object_get(reply, "payload")));
	assert_true(json_is_false(json_object_get(reply, "success")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "metadata"),
							      "original_target_node")),
			    "echo_node");
	json_decref(reply);

	/* The request was not mutated by building replies. */
	enc = onex_envelope_encode(env.json, NULL);
	assert_string_equal(enc, before);
	free(enc);
	onex_envelope_release(&env);
}

static void test_lossy_string(void **state)
{
	(void)state;
	json_t *s = onex_json_string_lossy("ok \xff\xfe end");
	assert_string_equal(json_string_value(s), "ok ?? end");
	json_decref(s);
}

static void test_timestamps(void **state)
{
	(void)state;
	char ts[ONEX_TIMESTAMP_BYTES];
	onex_timestamp_format(0, ts);
	assert_string_equal(ts, "1970-01-01T00:00:00.000000Z");
	onex_timestamp_format(951782400000000000LL, ts); /* leap day 2000 */
	assert_string_equal(ts, "2000-02-29T00:00:00.000000Z");
	onex_timestamp_format(-1000, ts);
	assert_string_equal(ts, "1969-12-31T23:59:59.999999Z");
	assert_true(onex_timestamp_is_valid("2025-01-01T00:00:00.000000Z"));
	assert_true(onex_timestamp_is_valid("2025-01-01T00:00:00Z"));
	assert_true(onex_timestamp_is_valid("2025-01-01T00:00:00.5+02:00"));
	assert_false(onex_timestamp_is_valid("2025-13-01T00:00:00Z"));
	assert_false(onex_timestamp_is_valid("2025-01-01 00:00:00Z"));
	assert_false(onex_timestamp_is_valid("2025-01-01T00:00:00"));
	assert_false(onex_timestamp_is_valid("2025-01-01T00:00:00.Z"));
}

static void test_uuid(void **state)
{
	(void)state;
	uint8_t bytes[16];
	char out[ONEX_UUID_STR_BYTES];
	memset(bytes, 0xff, sizeof(bytes));
	onex_uuid_format_v4(bytes, out);
	assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
	assert_true(onex_uuid_is_valid(out));
	assert_true(onex_uuid_is_valid("6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB"));
	assert_false(onex_uuid_is_valid("6f1c2d3e4a5b4c6d8e7f0123456789ab"));
	assert_false(onex_uuid_is_valid("6f1c2d3e-4a5b-4c6d-8e7f-0123456789ag"));
	assert_false(onex_uuid_is_valid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rejects_bad_input),
		cmocka_unit_test(test_round_trip_is_lossless),
		cmocka_unit_test(test_init_fills_views),
		cmocka_unit_test(test_validation_names_every_field),
		cmocka_unit_test(test_invalid_correlation_is_rejected_not_echoed),
		cmocka_unit_test(test_unknown_handler_type_is_not_a_validation_error),
		cmocka_unit_test(test_reply_shapes),
		cmocka_unit_test(test_lossy_string),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_uuid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
