/*
 * test_node_registry.c - node contracts and the node registry (spec §3).
 *
 * The node files live in tests/data/contracts/registry/nodes/; each test
 * builds a small runtime contract in memory whose base_dir is
 * tests/data/contracts/registry, so it lists exactly the nodes it needs.
 * Runs from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_registry.h"

#define REG_DIR "tests/data/contracts/registry"
#define NODES_DIR REG_DIR "/nodes"
#define FORMAT_BYTES 4096

/* A runtime contract running http only, listing `nodes` ("a, b"). */
static struct onex_runtime_contract *host_with(const char *nodes)
{
	char text[2048];
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;
	snprintf(text, sizeof(text),
		 "schema_version: \"1.0.0\"\n"
		 "runtime:\n"
		 "  name: test_host\n"
		 "  version: \"1\"\n"
		 "  event_bus: { kind: inmemory }\n"
		 "  handlers: [ { type: http } ]\n"
		 "  nodes:\n%s",
		 nodes);
	onex_error_clear(&err);
	if (onex_runtime_contract_load_text(text, strlen(text), "host.yaml", REG_DIR,
					    0, NULL, &c, &err)) {
		char buf[FORMAT_BYTES];
		fail_msg("%s", onex_error_format(&err, buf, sizeof(buf)));
	}
	return c;
}

/* Load one node file and expect failure with `substring` in the text. */
static struct onex_error node_error(const char *file, const char *substring)
{
	char path[256];
	struct onex_node_contract *node = (void *)1;
	struct onex_error err;
	snprintf(path, sizeof(path), "%s/%s", NODES_DIR, file);
	onex_error_clear(&err);
	assert_int_equal(onex_node_contract_load(path, NULL, NULL, &node, &err), -1);
	assert_null(node);
	assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	assert_string_equal(err.source, path);
	assert_true(err.line > 0 && err.column > 0);
	assert_true(err.hint[0] && err.action[0]);
	if (!strstr(err.text, substring))
		fail_msg("%s: error '%s' lacks '%s'", file, err.text, substring);
	return err;
}

static void test_valid_registry(void **state)
{
	struct onex_runtime_contract *c =
		host_with("    - slug: good_effect\n    - slug: good_compute\n");
	struct onex_node_registry reg;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_node_registry_load(&reg, c, NULL, &err), 0);
	assert_int_equal(reg.count, 2);

	const struct onex_node_contract *n = onex_node_registry_find(&reg, "good_effect");
	assert_non_null(n);
	assert_string_equal(n->slug, "good_effect");
	assert_string_equal(n->path, NODES_DIR "/good_effect.yaml");
	assert_string_equal(n->name, "order_store");
	assert_string_equal(n->schema_version, "1.0.0");
	assert_string_equal(n->node_version, "2.0.0");
	assert_int_equal(n->node_type, ONEX_NODE_EFFECT);
	assert_string_equal(n->description, "Stores orders");
	assert_string_equal(n->input_model, "acme.orders.StoreRequest");
	assert_string_equal(n->output_model, "acme.orders.StoreResponse");
	assert_int_equal(n->io_operation_count, 2);
	assert_string_equal(n->io_operations[0].type, "db");
	assert_int_equal(n->io_operations[0].operation_count, 2);
	assert_string_equal(n->io_operations[0].operations[0], "db.execute");
	assert_string_equal(n->io_operations[0].operations[1], "db.transaction");
	assert_string_equal(n->io_operations[0].target, "orders.orders");
	assert_string_equal(n->io_operations[1].type, "http");
	assert_string_equal(n->io_operations[1].target, "");
	json_t *deps = json_loads("[\"order_schema\", {\"name\": \"audit\", "
				  "\"optional\": true, \"retries\": 3}]",
				  0, NULL);
	assert_true(json_equal(n->dependencies, deps));
	json_decref(deps);

	const struct onex_node_contract *t = onex_node_registry_find(&reg, "good_compute");
	assert_non_null(t);
	assert_int_equal(t->node_type, ONEX_NODE_COMPUTE);
	assert_int_equal(t->io_operation_count, 0);
	assert_null(t->description);
	assert_true(json_is_array(t->dependencies));
	assert_int_equal(json_array_size(t->dependencies), 0);
	assert_null(onex_node_registry_find(&reg, "nope"));

	/* good_effect uses db, which this host does not run: one warning. */
	assert_int_equal(reg.warning_count, 1);
	assert_string_equal(reg.warnings[0].text,
			    "node 'good_effect' uses handler type 'db', which "
			    "runtime.handlers does not list");
	assert_string_equal(reg.warnings[0].source, NODES_DIR "/good_effect.yaml");
	onex_node_registry_release(&reg);
	assert_int_equal(reg.count, 0);
	onex_node_registry_release(&reg); /* twice is harmless */
	onex_runtime_contract_free(c);
}

static void test_fixture_nodes_and_describe(void **state)
{
	struct onex_runtime_contract *c = NULL;
	struct onex_node_registry reg;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load("fixtures/contracts/orders_host.yaml",
						    NULL, &c, &err),
			 0);
	assert_int_equal(onex_node_registry_load(&reg, c, NULL, &err), 0);
	assert_int_equal(reg.count, 2);
	assert_int_equal(reg.warning_count, 0);
	json_t *got = onex_node_contract_describe(onex_node_registry_find(&reg, "price_calculator"));
	json_t *want = json_loads(
		"{\"slug\": \"price_calculator\", \"name\": \"price_calculator\", "
		"\"node_type\": \"COMPUTE\", \"node_version\": \"1.0.0\", "
		"\"schema_version\": \"1.0.0\", \"description\": \"Computes order "
		"totals with tax\", \"input_model\": \"acme.orders.PriceRequest\", "
		"\"output_model\": \"acme.orders.PriceResponse\", "
		"\"io_operations\": [], \"dependencies\": []}",
		0, NULL);
	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_SORT_KEYS);
		fail_msg("describe: %s", s);
	}
	json_decref(got);
	json_decref(want);
	got = onex_node_contract_describe(onex_node_registry_find(&reg, "user_service"));
	json_t *io = json_object_get(got, "io_operations");
	assert_int_equal(json_array_size(io), 2);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(json_array_get(io, 1), "operations"), 1)),
			    "db.execute");
	json_decref(got);
	onex_node_registry_release(&reg);
	onex_runtime_contract_free(c);
}

static void test_missing_node_file(void **state)
{
	struct onex_runtime_contract *c =
		host_with("    - slug: good_compute\n    - slug: ghost_node\n");
	struct onex_node_registry reg;
	struct onex_error err;
	char buf[FORMAT_BYTES];
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_node_registry_load(&reg, c, NULL, &err), -1);
	assert_int_equal(reg.count, 0);
	assert_null(reg.nodes);
	assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	/* Points at the runtime contract's line that lists the slug. */
	assert_string_equal(err.source, "host.yaml");
	assert_int_equal(err.line, 9);
	assert_int_equal(err.column, 13);
	assert_string_equal(onex_error_format(&err, buf, sizeof(buf)),
			    "host.yaml:9:13: node contract for 'ghost_node' not "
			    "found: tried '" NODES_DIR "/ghost_node.yaml'\n"
			    "  hint: runtime.nodes lists 'ghost_node' here; node "
			    "contracts are read from nodes_dir ('" NODES_DIR
			    "') as <slug>.yaml\n"
			    "  action: create " NODES_DIR "/ghost_node.yaml, or fix "
			    "the slug or runtime.nodes_dir");
	onex_runtime_contract_free(c);
}

static void test_bad_node_type(void **state)
{
	(void)state;
	struct onex_error err = node_error("bad_node_type.yaml", "unknown node_type 'effect'");
	assert_int_equal(err.line, 4);
	assert_int_equal(err.column, 12);
	assert_string_equal(err.hint, "did you mean 'EFFECT'? valid types: COMPUTE, "
				      "EFFECT, ORCHESTRATOR, REDUCER");
}

static void test_bad_io_operation(void **state)
{
	(void)state;
	struct onex_error err = node_error(
		"bad_io_operation.yaml",
		"'http.fetch' in io_operations[0].operations is not an operation "
		"of handler type 'http' (http operations: http.delete, http.get, "
		"http.patch, http.post, http.put)");
	assert_int_equal(err.line, 9);
	assert_int_equal(err.column, 30);
	err = node_error("bad_io_type.yaml", "unknown handler type 'kafka' in io_operations[0]");
	assert_int_equal(err.line, 8);
	assert_int_equal(err.column, 13);
	assert_string_equal(err.hint, "valid types: consul, db, http, local, vault");
	err = node_error("operations_not_list.yaml",
			 "field 'io_operations[0].operations' must be a list, not a string");
	assert_int_equal(err.line, 9);
}

static void test_compute_and_effect_io_rules(void **state)
{
	(void)state;
	struct onex_error err = node_error("compute_with_io.yaml",
					   "a COMPUTE node must have no io_operations (found 1)");
	assert_int_equal(err.line, 8);
	assert_int_equal(err.column, 3);
	err = node_error("effect_without_io.yaml", "missing required field: io_operations");
	assert_int_equal(err.line, 1);
	err = node_error("effect_empty_io.yaml",
			 "an EFFECT node needs at least one io_operation");
	assert_int_equal(err.line, 7);
	assert_int_equal(err.column, 16);
}

static void test_node_file_checks(void **state)
{
	struct onex_node_contract *node = NULL;
	struct onex_error err, warnings[4];
	struct onex_contract_options lenient = { .lenient = 1 };
	size_t warning_count = 0;
	(void)state;
	err = node_error("missing_fields.yaml", "missing required fields: node_version, "
						"input_model, output_model");
	err = node_error("unknown_field.yaml", "unknown field 'input_modle' at the top level");
	assert_int_equal(err.line, 7);
	assert_non_null(strstr(err.hint, "did you mean 'input_model'?"));
	err = node_error("secret_inline.yaml",
			 "secret written inline in 'io_operations[0].target'");
	assert_null(strstr(err.text, "hunter2"));
	err = node_error("tenant_id.yaml", "field 'tenant_id' at the top level is not "
					   "available in v0.1 contracts");

	/* Lenient: the unknown field is a warning and the node loads. */
	onex_error_clear(&err);
	assert_int_equal(onex_node_contract_load_with_warnings(
				 NODES_DIR "/unknown_field.yaml", "custom_slug", &lenient,
				 warnings, 4, &warning_count, &node, &err),
			 0);
	assert_string_equal(node->slug, "custom_slug");
	assert_int_equal(node->node_type, ONEX_NODE_ORCHESTRATOR);
	assert_int_equal(warning_count, 1);
	assert_string_equal(warnings[0].text, "unknown field 'input_modle' at the top level");
	onex_node_contract_free(node);

	/* Without a slug, it is the file name without .yaml. */
	assert_int_equal(onex_node_contract_load(NODES_DIR "/good_compute.yaml", NULL, NULL,
						 &node, &err),
			 0);
	assert_string_equal(node->slug, "good_compute");
	assert_string_equal(node->schema_version, "1.1.0");
	onex_node_contract_free(node);

	onex_error_clear(&err);
	assert_int_equal(onex_node_contract_load(NODES_DIR "/nope.yaml", NULL, NULL, &node,
						 &err),
			 -1);
	assert_string_equal(err.text, "node contract file not found");
	assert_string_equal(err.hint, "tried '" NODES_DIR "/nope.yaml'");
}

static void test_registry_error_in_node(void **state)
{
	struct onex_runtime_contract *c =
		host_with("    - slug: good_compute\n    - slug: bad_node_type\n");
	struct onex_node_registry reg;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_node_registry_load(&reg, c, NULL, &err), -1);
	assert_int_equal(reg.count, 0);
	assert_string_equal(err.source, NODES_DIR "/bad_node_type.yaml");
	assert_string_equal(err.text, "unknown node_type 'effect'");
	onex_runtime_contract_free(c);
}

static void test_duplicate_slug(void **state)
{
	struct onex_runtime_contract *c = NULL;
	struct onex_node_registry reg;
	struct onex_error err;
	static const char text[] =
		"schema_version: \"1.0.0\"\nruntime:\n  name: a\n  version: b\n"
		"  event_bus: { kind: inmemory }\n  handlers: [ { type: http } ]\n"
		"  nodes:\n    - slug: good_compute\n    - slug: good_compute\n";
	(void)state;
	/* The runtime contract refuses it, naming both lines... */
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load_text(text, strlen(text), "host.yaml",
							 REG_DIR, 0, NULL, &c, &err),
			 -1);
	assert_string_equal(err.text, "duplicate node slug 'good_compute' (lines 8 and 9)");
	assert_int_equal(err.line, 9);
	assert_int_equal(err.column, 13);

	/* ...and the registry refuses a contract built some other way. */
	c = host_with("    - slug: good_compute\n    - slug: tenant_id\n");
	snprintf(c->nodes[1].slug, sizeof(c->nodes[1].slug), "good_compute");
	onex_error_clear(&err);
	assert_int_equal(onex_node_registry_load(&reg, c, NULL, &err), -1);
	assert_string_equal(err.text, "duplicate node slug 'good_compute'");
	assert_int_equal(err.line, 9);
	onex_runtime_contract_free(c);
}

static void test_node_type_names(void **state)
{
	enum onex_node_type type;
	(void)state;
	assert_string_equal(onex_node_type_name(ONEX_NODE_EFFECT), "EFFECT");
	assert_string_equal(onex_node_type_name(ONEX_NODE_COMPUTE), "COMPUTE");
	assert_string_equal(onex_node_type_name(ONEX_NODE_REDUCER), "REDUCER");
	assert_string_equal(onex_node_type_name(ONEX_NODE_ORCHESTRATOR), "ORCHESTRATOR");
	assert_string_equal(onex_node_type_name((enum onex_node_type)99), "unknown");
	assert_int_equal(onex_node_type_parse("REDUCER", &type), 0);
	assert_int_equal(type, ONEX_NODE_REDUCER);
	assert_int_equal(onex_node_type_parse("reducer", &type), -1);
}

static void test_no_nodes(void **state)
{
	struct onex_runtime_contract *c = host_with("    []\n");
	struct onex_node_registry reg;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_node_registry_load(&reg, c, NULL, &err), 0);
	assert_int_equal(reg.count, 0);
	assert_null(onex_node_registry_find(&reg, "x"));
	onex_node_registry_release(&reg);
	onex_runtime_contract_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_registry),
		cmocka_unit_test(test_fixture_nodes_and_describe),
		cmocka_unit_test(test_missing_node_file),
		cmocka_unit_test(test_bad_node_type),
		cmocka_unit_test(test_bad_io_operation),
		cmocka_unit_test(test_compute_and_effect_io_rules),
		cmocka_unit_test(test_node_file_checks),
		cmocka_unit_test(test_registry_error_in_node),
		cmocka_unit_test(test_duplicate_slug),
		cmocka_unit_test(test_node_type_names),
		cmocka_unit_test(test_no_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
