/*
 * test_topic.c - topic naming rules (spec §4): every example of the spec,
 * each reserved tenant, the length limit, versions and segment starts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "topic.h"

static void expect_valid(const char *topic, enum onex_topic_direction want)
{
	struct onex_error err;
	enum onex_topic_direction dir = want == ONEX_TOPIC_CMD ? ONEX_TOPIC_EVT
							      : ONEX_TOPIC_CMD;
	onex_error_clear(&err);
	if (onex_topic_validate(topic, &dir, &err) != 0)
		fail_msg("'%s' rejected: %s", topic, err.text);
	assert_false(onex_error_is_set(&err));
	assert_int_equal(dir, want);
}

/* Invalid, with an error whose text holds `substring`, hint and action. */
static void expect_invalid(const char *topic, const char *substring)
{
	struct onex_error err;
	enum onex_topic_direction dir = ONEX_TOPIC_LOG;
	onex_error_clear(&err);
	if (onex_topic_validate(topic, &dir, &err) != -1)
		fail_msg("'%s' accepted", topic ? topic : "(null)");
	assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	if (!strstr(err.text, substring))
		fail_msg("'%s': error '%s' lacks '%s'", topic ? topic : "(null)",
			 err.text, substring);
	assert_non_null(strstr(err.hint, "onex.acme.orders.cmd.v1"));
	assert_string_equal(err.action, "rename the topic");
	assert_int_equal(dir, ONEX_TOPIC_LOG); /* untouched on failure */
}

static void test_spec_valid_examples(void **state)
{
	(void)state;
	expect_valid("onex.acme.orders.cmd.v1", ONEX_TOPIC_CMD);
	expect_valid("onex.acme.user-service.cmd.v1", ONEX_TOPIC_CMD);
	expect_valid("onex.acme.user_service.evt.v2", ONEX_TOPIC_EVT);
}

static void test_spec_invalid_examples(void **state)
{
	(void)state;
	expect_invalid("onex.ACME.orders.cmd.v1", "tenant 'ACME' has an uppercase");
	expect_invalid("onex.acme.orders.command.v1",
		       "direction 'command' is not one of cmd, evt");
	expect_invalid("onex.acme.orders.cmd.1", "version '1' must be 'v'");
	expect_invalid("onex.acme.orders.cmd", "has 4 segments; expected 5");
	expect_invalid("acme.orders.cmd.v1", "must start with 'onex.'");
	expect_invalid("onex..orders.cmd.v1", "empty segment (segment 2)");
	expect_invalid("onex.acme.orders.query.v1",
		       "direction 'query' is not one of cmd, evt");
	expect_invalid("onex.internal.debug.evt.v1", "tenant 'internal' is reserved");
}

static void test_each_reserved_tenant(void **state)
{
	static const char *const tenants[] = { "internal", "debug", "metrics",
					       "health", "admin" };
	char topic[64], want[64];
	(void)state;
	for (size_t i = 0; i < 5; i++) {
		assert_true(onex_topic_tenant_is_reserved(tenants[i]));
		snprintf(topic, sizeof(topic), "onex.%s.orders.cmd.v1", tenants[i]);
		snprintf(want, sizeof(want), "tenant '%s' is reserved", tenants[i]);
		expect_invalid(topic, want);
	}
	assert_false(onex_topic_tenant_is_reserved("acme"));
	assert_false(onex_topic_tenant_is_reserved("Admin"));
	assert_false(onex_topic_tenant_is_reserved("admins"));
	assert_false(onex_topic_tenant_is_reserved(""));
	assert_false(onex_topic_tenant_is_reserved(NULL));
	/* Reserved only as the tenant: a domain may be called "debug". */
	expect_valid("onex.acme.debug.evt.v1", ONEX_TOPIC_EVT);
}

static void test_length_limit(void **state)
{
	char topic[ONEX_TOPIC_BYTES_MAX + 8];
	(void)state;
	/* "onex.t." + domain + ".cmd.v1": make exactly the limit, then one more. */
	size_t fixed = strlen("onex.t.") + strlen(".cmd.v1");
	memcpy(topic, "onex.t.", 7);
	memset(topic + 7, 'd', ONEX_TOPIC_BYTES_MAX - fixed);
	strcpy(topic + 7 + (ONEX_TOPIC_BYTES_MAX - fixed), ".cmd.v1");
	assert_int_equal(strlen(topic), ONEX_TOPIC_BYTES_MAX);
	expect_valid(topic, ONEX_TOPIC_CMD);

	memcpy(topic, "onex.t.", 7);
	memset(topic + 7, 'd', ONEX_TOPIC_BYTES_MAX - fixed + 1);
	strcpy(topic + 7 + (ONEX_TOPIC_BYTES_MAX - fixed + 1), ".cmd.v1");
	expect_invalid(topic, "topic is 250 bytes long; the limit is 249");
}

static void test_versions(void **state)
{
	(void)state;
	expect_valid("onex.acme.orders.cmd.v10", ONEX_TOPIC_CMD);
	expect_valid("onex.acme.orders.cmd.v999999999", ONEX_TOPIC_CMD);
	expect_invalid("onex.acme.orders.cmd.v0", "must be v1 or higher");
	expect_invalid("onex.acme.orders.cmd.v01", "without a leading zero");
	expect_invalid("onex.acme.orders.cmd.v", "version 'v' must be 'v' and a number");
	expect_invalid("onex.acme.orders.cmd.V1", "version 'V1'");
	expect_invalid("onex.acme.orders.cmd.v1a", "version 'v1a'");
	expect_invalid("onex.acme.orders.cmd.v1234567890", "more than 9 digits");
}

static void test_segment_characters(void **state)
{
	(void)state;
	expect_invalid("onex.-acme.orders.cmd.v1",
		       "tenant '-acme' must start with a lowercase letter or a digit");
	expect_invalid("onex._acme.orders.cmd.v1",
		       "tenant '_acme' must start with a lowercase letter or a digit");
	expect_invalid("onex.acme.-orders.cmd.v1",
		       "domain '-orders' must start with a lowercase letter or a digit");
	expect_invalid("onex.acme._orders.cmd.v1",
		       "domain '_orders' must start with a lowercase letter or a digit");
	expect_invalid("onex.acme.Orders.cmd.v1", "domain 'Orders' has an uppercase");
	expect_invalid("onex.acme.ord$rs.cmd.v1", "has the character '$'");
	expect_invalid("onex.acme.ord rs.cmd.v1", "has the character ' '");
	/* Digits may start a segment; '_' and '-' may follow. */
	expect_valid("onex.9acme.o-r_d.evt.v3", ONEX_TOPIC_EVT);
}

static void test_structure(void **state)
{
	(void)state;
	expect_invalid("", "topic is empty");
	expect_invalid(NULL, "topic is empty");
	expect_invalid("onex", "has 1 segments; expected 5");
	expect_invalid("onex.acme.orders.cmd.v1.extra", "has 6 segments");
	expect_invalid("onex.acme.orders.cmd.v1.", "empty segment (segment 6)");
	expect_invalid(".onex.acme.orders.cmd.v1", "must start with 'onex.'");
	expect_invalid("ONEX.acme.orders.cmd.v1", "must start with 'onex.'");
	expect_invalid("onex.acme.orders..v1", "empty segment (segment 4)");
}

static void test_later_directions_are_reserved(void **state)
{
	(void)state;
	expect_invalid("onex.acme.orders.state.v1", "direction 'state' is reserved");
	expect_invalid("onex.acme.orders.error.v1", "direction 'error' is reserved");
	expect_invalid("onex.acme.orders.log.v1", "direction 'log' is reserved");
	expect_invalid("onex.acme.orders.CMD.v1", "direction 'CMD' is not one of");
}

static void test_defaults_are_valid(void **state)
{
	(void)state;
	expect_valid(ONEX_TOPIC_DEFAULT_INPUT, ONEX_TOPIC_CMD);
	expect_valid(ONEX_TOPIC_DEFAULT_OUTPUT, ONEX_TOPIC_EVT);
}

static void test_first_error_wins_and_null_args(void **state)
{
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	onex_error_set(&err, ONEX_ERR_TIMEOUT, "earlier", 3, 4, "earlier error");
	onex_error_hint(&err, "earlier hint");
	assert_int_equal(onex_topic_validate("bad", NULL, &err), -1);
	assert_int_equal(err.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(err.text, "earlier error");
	assert_string_equal(err.hint, "earlier hint");
	/* No error record and no direction wanted: still answers. */
	assert_int_equal(onex_topic_validate("bad", NULL, NULL), -1);
	assert_int_equal(onex_topic_validate("onex.acme.orders.cmd.v1", NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_valid_examples),
		cmocka_unit_test(test_spec_invalid_examples),
		cmocka_unit_test(test_each_reserved_tenant),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_segment_characters),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_later_directions_are_reserved),
		cmocka_unit_test(test_defaults_are_valid),
		cmocka_unit_test(test_first_error_wins_and_null_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
