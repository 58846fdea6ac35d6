/*
 * test_scenario.c - the scenario parser: unknown keys, bad references,
 * wrong types and unknown kinds are errors naming file:line:column; raw
 * bytes and references parse as documented (docs/SCENARIOS.md); inline
 * node contracts keep the scenario file's lines; expect_log steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "node_registry.h"
#include "scenario.h"

#define HEAD "name: t\ndescription: d\ncontract: x.yaml\n"

static char path[64];

static void write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/onex-test-scenario-%d.yaml", (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_error(const char *text, int line, int column, const char *part)
{
	struct onex_scenario *sc = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	write_file(text);
	assert_int_equal(onex_scenario_load(path, &sc, &err), -1);
	assert_null(sc);
	if (!strstr(err.text, part))
		fail_msg("error '%s' lacks '%s'", err.text, part);
	assert_string_equal(err.source, path);
	assert_int_equal(err.line, line);
	if (column)
		assert_int_equal(err.column, column);
	unlink(path);
}

static struct onex_scenario *load_ok(const char *text)
{
	struct onex_scenario *sc = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	write_file(text);
	if (onex_scenario_load(path, &sc, &err) < 0)
		fail_msg("load failed: %d:%d: %s", err.line, err.column, err.text);
	unlink(path);
	return sc;
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_error(HEAD "stepz: []\n", 4, 1, "unknown key 'stepz' in the scenario");
	expect_error(HEAD "steps:\n  - publish: { envelop: {} }\n", 5, 16,
		     "unknown key 'envelop' in publish");
	expect_error(HEAD "steps:\n  - wait: 5\n", 5, 5, "unknown step 'wait'");
	expect_error(HEAD "faults:\n  - { kind: meteor }\nsteps: []\n", 5, 13,
		     "unknown fault kind 'meteor'");
	expect_error(HEAD "invariants: [nice]\nsteps: []\n", 4, 14, "unknown invariant 'nice'");
}

static void test_types_and_shape(void **state)
{
	(void)state;
	expect_error(HEAD "seed: -3\nsteps: []\n", 4, 7, "seed must be a non-negative integer");
	expect_error(HEAD "steps:\n  - advance_ms: soon\n", 5, 17, "advance_ms must be a non-negative integer");
	expect_error(HEAD "steps: []\nexpect_startup_failure: { code: TIMEOUT }\n", 1, 1,
		     "either steps or expect_startup_failure");
	expect_error(HEAD "expect_startup_failure: { code: OOPS }\n", 4, 33, "unknown error code 'OOPS'");
	expect_error("name: Bad Name\ndescription: d\ncontract: x.yaml\nsteps: []\n", 1, 7,
		     "may use only a-z, 0-9, _ and -");
	expect_error("name: t\ncontract: x.yaml\nsteps: []\n", 1, 1, "missing required key 'description'");
}

static void test_real_flag(void **state)
{
	(void)state;
	struct onex_scenario *sc = load_ok(HEAD "steps: []\n");
	assert_int_equal(sc->real, 0);
	onex_scenario_free(sc);
	sc = load_ok(HEAD "real: true\nsteps: []\n");
	assert_int_equal(sc->real, 1);
	onex_scenario_free(sc);
	sc = load_ok(HEAD "real: false\nsteps: []\n");
	assert_int_equal(sc->real, 0);
	onex_scenario_free(sc);
	expect_error(HEAD "real: yes please\nsteps: []\n", 4, 7, "real must be");
}

static void test_references_must_be_defined_earlier(void **state)
{
	(void)state;
	expect_error(HEAD "steps:\n"
			  "  - expect: { envelope: { causation_id: \"{{req.envelope_id}}\" } }\n"
			  "  - publish: { as: req, envelope: { operation: local.echo } }\n",
		     5, 41, "reference '{{req.envelope_id}}' names no earlier step");
	expect_error(HEAD "steps:\n"
			  "  - publish: { as: a, envelope: { operation: local.echo } }\n"
			  "  - publish: { as: a, envelope: { operation: local.echo } }\n",
		     6, 20, "name 'a' is already used");
	struct onex_scenario *sc = load_ok(
		HEAD "steps:\n"
		     "  - publish: { as: req, envelope: { operation: local.echo } }\n"
		     "  - expect: { as: rep, envelope: { causation_id: \"{{req.envelope_id}}\" } }\n"
		     "  - expect: { envelope: { correlation_id: \"{{rep.correlation_id}}\" } }\n");
	assert_int_equal(sc->step_count, 3);
	assert_string_equal(sc->steps[0].as, "req");
	assert_string_equal(sc->steps[1].topic, "output");
	assert_int_equal(sc->steps[1].ms, 1000);
	onex_scenario_free(sc);
}

static void test_raw_bytes_and_defaults(void **state)
{
	(void)state;
	struct onex_scenario *sc = load_ok(
		HEAD "steps:\n"
		     "  - publish: { raw: '{\"a\":\"\\xff\\x41\"}' }\n"
		     "  - publish: { raw_repeat: { prefix: \"[\", text: \"ab\", times: 3, suffix: \"]\" } }\n");
	assert_int_equal(sc->steps[0].raw_len, 10);
	assert_memory_equal(sc->steps[0].raw, "{\"a\":\"\xff" "A\"}", 10);
	assert_int_equal(sc->steps[1].raw_len, 8);
	assert_string_equal(sc->steps[1].raw, "[ababab]");
	assert_string_equal(sc->steps[0].topic, "input");
	assert_int_equal(sc->seed, 1);
	assert_int_equal(sc->settle_ms, 60000);
	assert_int_equal(sc->invariants, ONEX_INV_ALL);
	onex_scenario_free(sc);
}

static void test_inline_contract_keeps_its_lines(void **state)
{
	(void)state;
	struct onex_scenario *sc = load_ok("name: t\ndescription: d\ncontract:\n  inline:\n"
					   "    schema_version: \"1.0.0\"\n    runtime:\n"
					   "      name: x\nsteps: []\n");
	assert_int_equal(sc->contract_line_offset, 4);
	assert_non_null(strstr(sc->contract_inline, "    schema_version: \"1.0.0\"\n"));
	assert_null(strstr(sc->contract_inline, "steps"));
	onex_scenario_free(sc);
}

static void test_faults_parse(void **state)
{
	(void)state;
	struct onex_scenario *sc = load_ok(
		HEAD "faults:\n"
		     "  - { kind: handler_latency, handler: db, latency_ms: 50, at_ms: 10, for_ms: 20 }\n"
		     "  - { kind: drop_publish, topic: output, count: 2 }\n"
		     "steps: []\n");
	assert_int_equal(sc->fault_count, 2);
	assert_int_equal(sc->faults[0].kind, ONEX_FAULT_HANDLER_LATENCY);
	assert_int_equal(sc->faults[0].handler, ONEX_HANDLER_DB);
	assert_int_equal(sc->faults[0].value_ms, 50);
	assert_int_equal(sc->faults[0].for_ms, 20);
	assert_int_equal(sc->faults[1].count, 2);
	assert_true(sc->faults[1].for_ms == UINT64_MAX);
	onex_scenario_free(sc);
	expect_error(HEAD "faults:\n  - { kind: bus_delay, topic: input }\nsteps: []\n", 5, 5,
		     "fault bus_delay needs delay_ms");
	expect_error(HEAD "faults:\n  - { kind: drop_publish, topic: output, for_ms: 5 }\nsteps: []\n",
		     5, 50, "takes no for_ms");
}

static void test_inline_nodes_keep_their_lines(void **state)
{
	(void)state;
	struct onex_scenario *sc = load_ok(HEAD
		"nodes:\n"				/* 4 */
		"  greeter:\n"				/* 5 */
		"    schema_version: \"1.0.0\"\n"	/* 6 */
		"    node_version: \"1.0.0\"\n"		/* 7 */
		"    name: greeter\n"			/* 8 */
		"    node_type: SIDEWAYS\n"		/* 9 */
		"    description: d\n"
		"    input_model: a.B\n"
		"    output_model: a.C\n"
		"  other: { schema_version: \"1.0.0\" }\n" /* 13 */
		"steps: []\n");
	assert_int_equal(sc->node_count, 2);
	assert_string_equal(sc->nodes[0].slug, "greeter");
	assert_int_equal(sc->nodes[0].line, 5);
	assert_int_equal(sc->nodes[0].line_offset, 5);
	assert_non_null(strstr(sc->nodes[0].text, "    node_type: SIDEWAYS\n"));
	assert_null(strstr(sc->nodes[0].text, "other"));
	assert_null(strstr(sc->nodes[0].text, "steps"));
	assert_string_equal(sc->nodes[1].slug, "other");
	assert_int_equal(sc->nodes[1].line, 13);
	assert_int_equal(sc->nodes[1].line_offset, 12); /* flow style: JSON on the node's line */
	assert_string_equal(sc->nodes[1].text, "{\"schema_version\":\"1.0.0\"}");

	/* The node loader reports the scenario file's line and column. */
	struct onex_node_text t = { sc->nodes[0].slug, sc->nodes[0].text,
				    strlen(sc->nodes[0].text), "s.yaml", sc->nodes[0].line_offset };
	struct onex_contract_options opt = { 0, 0 };
	struct onex_node_contract *node = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_node_contract_load_text(&t, &opt, &node, &err), -1);
	assert_null(node);
	assert_string_equal(err.source, "s.yaml");
	assert_int_equal(err.line, 9);
	assert_int_equal(err.column, 16);
	assert_non_null(strstr(err.text, "unknown node_type 'SIDEWAYS'"));
	onex_scenario_free(sc);

	expect_error(HEAD "nodes: [ a ]\nsteps: []\n", 4, 8, "nodes must be a mapping");
	expect_error(HEAD "nodes:\n  a: x.yaml\nsteps: []\n", 5, 6,
		     "nodes.a must be a mapping (a whole node contract)");
	expect_error(HEAD "nodes:\n  \"a/b\": {}\nsteps: []\n", 5, 3,
		     "node slug 'a/b' may use only letters, digits, _ and -");
	expect_error(HEAD "nodes:\n  a: {}\n  a: {}\nsteps: []\n", 6, 3, "duplicate");
}

static void test_expect_log_parse(void **state)
{
	(void)state;
	struct onex_scenario *sc = load_ok(
		HEAD "steps:\n"
		     "  - publish: { as: req, envelope: { operation: local.echo } }\n"
		     "  - expect_log: { message: \"suspicious\", correlation_id: \"{{req.correlation_id}}\" }\n"
		     "  - expect_log: { level: error, message: \"queue full\", within_ms: 5 }\n");
	assert_int_equal(sc->steps[1].kind, ONEX_STEP_EXPECT_LOG);
	assert_int_equal(sc->steps[1].level, ONEX_LOG_WARN);
	assert_string_equal(sc->steps[1].raw, "suspicious");
	assert_int_equal(sc->steps[1].ms, 1000);
	assert_string_equal(json_string_value(json_object_get(sc->steps[1].envelope, "correlation_id")),
			    "{{req.correlation_id}}");
	assert_int_equal(sc->steps[2].level, ONEX_LOG_ERROR);
	assert_int_equal(sc->steps[2].ms, 5);
	assert_int_equal(json_object_size(sc->steps[2].envelope), 0);
	assert_string_equal(onex_step_kind_name(ONEX_STEP_EXPECT_LOG), "expect_log");
	onex_scenario_free(sc);
	expect_error(HEAD "steps:\n  - expect_log: { level: warn }\n", 5, 17, "expect_log needs message");
	expect_error(HEAD "steps:\n  - expect_log: { level: loud, message: x }\n", 5, 26,
		     "expect_log.level must be debug, info, warn or error, got 'loud'");
	expect_error(HEAD "steps:\n  - expect_log: { message: x, envelope: {} }\n", 5, 31,
		     "unknown key 'envelope' in expect_log");
	expect_error(HEAD "steps:\n  - expect_log: { message: x, correlation_id: \"{{nope.x}}\" }\n",
		     5, 47, "reference '{{nope.x}}' names no earlier step");
	/* The invariant can be chosen by name. */
	sc = load_ok(HEAD "invariants: [ log_lines_carry_correlation ]\nsteps: []\n");
	assert_int_equal(sc->invariants, ONEX_INV_LOG_CORRELATION);
	onex_scenario_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_flag),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_types_and_shape),
		cmocka_unit_test(test_references_must_be_defined_earlier),
		cmocka_unit_test(test_raw_bytes_and_defaults),
		cmocka_unit_test(test_inline_contract_keeps_its_lines),
		cmocka_unit_test(test_faults_parse),
		cmocka_unit_test(test_inline_nodes_keep_their_lines),
		cmocka_unit_test(test_expect_log_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
