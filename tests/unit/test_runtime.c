/*
 * test_runtime.c - NodeRuntime (core/runtime.c): handler registration, the
 * routing decision and its errors (HANDLER_NOT_FOUND with
 * available_handlers and the handler type looked for, INVALID_OPERATION
 * listing the type's operations, NODE_NOT_FOUND listing the loaded nodes),
 * and that routing never mutates the request it routes (spec §2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

/* ---- a handler that does nothing: routing only looks at its type ------------- */
static void noop_execute(struct onex_handler *h, const struct onex_envelope *req,
			 onex_handler_done_cb done, void *done_arg)
{
	(void)h, (void)req, (void)done, (void)done_arg;
	fail_msg("routing must not execute a handler");
}

static const struct onex_handler_ops http_ops = { .type = ONEX_HANDLER_HTTP,
						  .unit_name = "test-http",
						  .execute = noop_execute };
static const struct onex_handler_ops local_ops = { .type = ONEX_HANDLER_LOCAL,
						   .unit_name = "test-local",
						   .execute = noop_execute };

struct fixture {
	struct onex_handler http, local, http2;
	struct onex_node_runtime rt;
	struct onex_node_contract node_a, node_b;
	struct onex_node_contract *node_list[2];
	struct onex_node_registry nodes;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct onex_handler_env env = { 0 };
	struct onex_error err;
	onex_error_clear(&err);
	onex_handler_base_init(&f->http, &http_ops, &env);
	onex_handler_base_init(&f->local, &local_ops, &env);
	onex_handler_base_init(&f->http2, &http_ops, &env);
	onex_node_runtime_init(&f->rt);
	assert_int_equal(onex_node_runtime_register_handler(&f->rt, &f->local, &err), 0);
	assert_int_equal(onex_node_runtime_register_handler(&f->rt, &f->http, &err), 0);
	strcpy(f->node_a.slug, "user_service");
	strcpy(f->node_b.slug, "billing");
	f->node_list[0] = &f->node_a;
	f->node_list[1] = &f->node_b;
	f->nodes.nodes = f->node_list;
	f->nodes.count = 2;
	onex_node_runtime_set_nodes(&f->rt, &f->nodes);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* ---- routing one request, checking it is left exactly as it was ------------- */
struct routed {
	struct onex_handler *h;
	json_t *extra;
	struct onex_error err;
};

static struct routed route(const struct onex_node_runtime *rt, const char *text)
{
	struct onex_envelope env;
	struct onex_error perr;
	json_t *json = NULL;
	struct routed r;
	memset(&env, 0, sizeof(env));
	onex_error_clear(&perr);
	onex_error_clear(&r.err);
	if (onex_envelope_parse(text, strlen(text), &json, &perr) < 0 ||
	    onex_envelope_init(&env, json, &perr) < 0)
		fail_msg("test envelope does not validate: %s: %s", text, perr.text);
	json_t *copy = json_deep_copy(env.json);
	char *before = json_dumps(env.json, JSON_SORT_KEYS | JSON_ENCODE_ANY);
	struct onex_envelope views;
	memcpy(&views, &env, sizeof(env));

	r.h = onex_node_runtime_route(rt, &env, &r.extra, &r.err);

	char *after = json_dumps(env.json, JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_string_equal(before, after);
	assert_true(json_equal(copy, env.json));
	assert_memory_equal(&views, &env, sizeof(env)); /* no view or assigned field moved */
	free(before);
	free(after);
	json_decref(copy);
	onex_envelope_release(&env);
	return r;
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text, part);
}

static void test_register_one_handler_per_type(void **state)
{
	struct fixture *f = *state;
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_node_runtime_register_handler(&f->rt, &f->http2, &err), -1);
	assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
	assert_contains(err.text, "a handler of type 'http' is already registered");
	assert_ptr_equal(f->rt.handlers[ONEX_HANDLER_HTTP], &f->http); /* the first stays */
}

static void test_available_handlers_sorted(void **state)
{
	struct fixture *f = *state;
	json_t *list = onex_node_runtime_available_handlers(&f->rt);
	char *s = json_dumps(list, JSON_COMPACT);
	assert_string_equal(s, "[\"http\",\"local\"]");
	free(s);
	json_decref(list);
	struct onex_node_runtime empty;
	onex_node_runtime_init(&empty);
	list = onex_node_runtime_available_handlers(&empty);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void test_routes_by_operation_prefix_and_handler_type(void **state)
{
	struct fixture *f = *state;
	struct routed r = route(&f->rt, "{\"operation\":\"http.get\",\"payload\":{\"url\":\"http://x\"},"
					"\"unknown_field\":[1,2.5,\"\\u00e9\"]}");
	assert_ptr_equal(r.h, &f->http);
	assert_null(r.extra);
	r = route(&f->rt, "{\"handler_type\":\"local\",\"operation\":\"local.echo\","
			  "\"correlation_id\":\"0a1b2c3d-4e5f-4a6b-9c8d-abcdefabcdef\"}");
	assert_ptr_equal(r.h, &f->local);
	r = route(&f->rt, "{\"operation\":\"http.post\",\"target_node\":\"billing\","
			  "\"payload\":{\"url\":\"http://x\"}}");
	assert_ptr_equal(r.h, &f->http);
}

static void test_handler_not_found_from_operation_prefix(void **state)
{
	struct fixture *f = *state;
	struct routed r = route(&f->rt, "{\"operation\":\"grpc.call\",\"payload\":{}}");
	assert_null(r.h);
	assert_int_equal(r.err.code, ONEX_ERR_HANDLER_NOT_FOUND);
	assert_string_equal(r.err.text, "no handler registered for type 'grpc'");
	assert_non_null(r.extra);
	char *s = json_dumps(r.extra, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"available_handlers\":[\"http\",\"local\"],\"handler_type\":\"grpc\"}");
	free(s);
	json_decref(r.extra);
}

static void test_handler_not_found_named_type(void **state)
{
	struct fixture *f = *state;
	/* A known type this host does not run. */
	struct routed r = route(&f->rt, "{\"handler_type\":\"db\",\"operation\":\"db.query\","
					"\"payload\":{\"sql\":\"SELECT 1\"}}");
	assert_null(r.h);
	assert_int_equal(r.err.code, ONEX_ERR_HANDLER_NOT_FOUND);
	assert_string_equal(r.err.text, "no handler registered for type 'db'");
	assert_string_equal(json_string_value(json_object_get(r.extra, "handler_type")), "db");
	assert_int_equal(json_array_size(json_object_get(r.extra, "available_handlers")), 2);
	json_decref(r.extra);
	/* A type nobody knows, named explicitly. */
	r = route(&f->rt, "{\"handler_type\":\"smtp\",\"operation\":\"smtp.send\",\"payload\":{}}");
	assert_null(r.h);
	assert_int_equal(r.err.code, ONEX_ERR_HANDLER_NOT_FOUND);
	assert_string_equal(json_string_value(json_object_get(r.extra, "handler_type")), "smtp");
	json_decref(r.extra);
}

static void test_invalid_operation_lists_operations(void **state)
{
	struct fixture *f = *state;
	struct routed r = route(&f->rt, "{\"operation\":\"http.fetch\",\"payload\":{\"url\":\"u\"}}");
	assert_null(r.h);
	assert_null(r.extra);
	assert_int_equal(r.err.code, ONEX_ERR_INVALID_OPERATION);
	assert_string_equal(r.err.text, "Operation 'http.fetch' not supported. Available: "
					"http.delete, http.get, http.patch, http.post, http.put");
	/* The named handler type wins; an operation of another type is invalid for it. */
	r = route(&f->rt, "{\"handler_type\":\"local\",\"operation\":\"http.get\",\"payload\":{\"url\":\"u\"}}");
	assert_null(r.h);
	assert_int_equal(r.err.code, ONEX_ERR_INVALID_OPERATION);
	assert_string_equal(r.err.text, "Operation 'http.get' not supported. Available: "
					"local.echo, local.error, local.transform");
}

static void test_node_not_found_lists_loaded_nodes(void **state)
{
	struct fixture *f = *state;
	struct routed r = route(&f->rt, "{\"operation\":\"local.echo\",\"target_node\":\"orders\"}");
	assert_null(r.h);
	assert_null(r.extra);
	assert_int_equal(r.err.code, ONEX_ERR_NODE_NOT_FOUND);
	assert_string_equal(r.err.text,
			    "node 'orders' is not loaded in this host; loaded: user_service, billing");
	/* No registry at all. */
	onex_node_runtime_set_nodes(&f->rt, NULL);
	r = route(&f->rt, "{\"operation\":\"local.echo\",\"target_node\":\"user_service\"}");
	assert_null(r.h);
	assert_int_equal(r.err.code, ONEX_ERR_NODE_NOT_FOUND);
	assert_contains(r.err.text, "loaded: (none)");
	/* Without a target_node, nodes do not matter. */
	r = route(&f->rt, "{\"operation\":\"local.echo\"}");
	assert_ptr_equal(r.h, &f->local);
}

/* Handler lookup comes before the operation check, which comes before the node check. */
static void test_error_precedence(void **state)
{
	struct fixture *f = *state;
	struct routed r = route(&f->rt, "{\"operation\":\"db.nope\",\"target_node\":\"x\"}");
	assert_int_equal(r.err.code, ONEX_ERR_HANDLER_NOT_FOUND);
	json_decref(r.extra);
	r = route(&f->rt, "{\"operation\":\"http.nope\",\"target_node\":\"x\"}");
	assert_int_equal(r.err.code, ONEX_ERR_INVALID_OPERATION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_one_handler_per_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_available_handlers_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes_by_operation_prefix_and_handler_type,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_not_found_from_operation_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handler_not_found_named_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_operation_lists_operations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_node_not_found_lists_loaded_nodes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_error_precedence, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
