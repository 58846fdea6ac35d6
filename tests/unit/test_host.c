/*
 * test_host.c - the host loop of spec §9 end to end in one process: the
 * simulation scheduler (virtual time), seeded ids, the in-memory bus, the
 * local handler and a counting test handler. Each test publishes raw bytes
 * on the input topic, runs virtual time, and reads the replies from the
 * bus history.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "host.h"
#include "inmemory_bus.h"
#include "local_handler.h"
#include "prng.h"
#include "scheduler.h"
#include "seeded_ids.h"

#define IN "onex.local.runtime.cmd.v1"
#define OUT "onex.local.runtime.evt.v1"
#define ID1 "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"
#define ID2 "0a1b2c3d-4e5f-4a6b-9c8d-abcdefabcdef"
#define MS 1000000ull

/* ---- a counting handler of type http, for lifecycle checks ---------------- */
struct counting_handler {
	struct onex_handler base;
	int initialized, shutdowns, executed;
};

struct counting_call {
	onex_handler_done_cb done;
	void *arg;
	json_t *payload;
};

static void counting_complete(void *arg)
{
	struct counting_call *call = arg;
	struct onex_handler_result r;
	onex_handler_result_ok(&r, call->payload);
	call->done(call->arg, &r);
	onex_handler_result_release(&r);
	free(call);
}

static int counting_init(struct onex_handler *h, const json_t *config, struct onex_error *err)
{
	(void)config;
	(void)err;
	((struct counting_handler *)h)->initialized++;
	return 0;
}

static void counting_execute(struct onex_handler *h, const struct onex_envelope *req,
			     onex_handler_done_cb done, void *arg)
{
	struct counting_call *call = malloc(sizeof(*call));
	((struct counting_handler *)h)->executed++;
	call->done = done;
	call->arg = arg;
	call->payload = json_pack("{s:i}", "status_code", 200);
	(void)req;
	onex_loop_timer_add(h->env.loop, 5 * MS, counting_complete, call, NULL, NULL);
}

static void counting_shutdown(struct onex_handler *h)
{
	((struct counting_handler *)h)->shutdowns++;
}

static void counting_free(struct onex_handler *h)
{
	(void)h; /* static storage: the test reads the counters afterwards */
}

static const struct onex_handler_ops counting_ops = {
	.type = ONEX_HANDLER_HTTP,
	.unit_name = "counting",
	.initialize = counting_init,
	.execute = counting_execute,
	.shutdown = counting_shutdown,
	.free = counting_free,
};

static struct counting_handler counting;

static struct onex_handler *counting_create(const struct onex_handler_env *env,
					    struct onex_error *err)
{
	(void)err;
	memset(&counting, 0, sizeof(counting));
	onex_handler_base_init(&counting.base, &counting_ops, env);
	return &counting.base;
}

static const struct onex_handler_unit counting_unit = { ONEX_HANDLER_HTTP, "counting",
							counting_create };

/* ---- the world ------------------------------------------------------------ */
static const struct onex_handler_unit *const handlers[] = { &onex_local_handler_unit,
							    &counting_unit };
static const struct onex_bus_unit *const buses[] = { &onex_inmemory_bus_unit };
static const struct onex_wiring wiring = { "test-host", handlers, 2, buses, 1 };

struct world {
	struct onex_sim_scheduler *sched;
	struct onex_ids *ids;
	struct onex_runtime_contract *contract;
	struct onex_host *host;
	struct onex_bus *bus;
};

static const char *contract_text =
	"schema_version: \"1.0.0\"\n"
	"runtime:\n"
	"  name: \"test_host\"\n"
	"  version: \"1.0.0\"\n"
	"  event_bus: { kind: \"inmemory\" }\n"
	"  handlers:\n"
	"    - type: \"local\"\n"
	"      timeout_ms: 100\n"
	"    - type: \"http\"\n";

static void world_open(struct world *w, unsigned grace_s)
{
	struct onex_error err;
	struct onex_prng prng;
	struct onex_contract_options copt = { 0, 0 };
	onex_error_clear(&err);
	memset(w, 0, sizeof(*w));
	w->sched = onex_sim_scheduler_new(1735689600LL * 1000000000LL);
	onex_prng_init(&prng, 42);
	w->ids = onex_seeded_ids_new(&prng);
	if (onex_runtime_contract_load_text(contract_text, strlen(contract_text), "test.yaml",
					    ".", 0, &copt, &w->contract, &err) < 0)
		fail_msg("contract: %s", err.text);
	struct onex_host_env env = { onex_sim_scheduler_loop(w->sched),
				     onex_sim_scheduler_clock(w->sched), w->ids, NULL, &wiring,
				     NULL };
	struct onex_host_options opt = { 0, grace_s, NULL, { 0, 0 } };
	if (onex_host_new(&env, w->contract, &opt, &w->host, &err) < 0)
		fail_msg("host: %s", err.text);
	assert_int_equal(onex_host_start(w->host, &err), 0);
	w->bus = onex_host_bus(w->host);
	assert_non_null(w->bus);
}

static void world_close(struct world *w)
{
	onex_host_free(w->host);
	onex_runtime_contract_free(w->contract);
	onex_ids_free(w->ids);
	onex_sim_scheduler_free(w->sched);
}

static void send(struct world *w, const char *text)
{
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_bus_publish(w->bus, IN, NULL, text, strlen(text), NULL, NULL, &err), 0);
}

static void run_for(struct world *w, uint64_t ns)
{
	onex_sim_scheduler_run_until(w->sched, onex_sim_scheduler_now_ns(w->sched) + ns);
}

/* The n-th message published on OUT, parsed (new reference), or NULL. */
static json_t *reply(struct world *w, size_t n)
{
	size_t seen = 0;
	for (size_t i = 0; i < onex_inmemory_bus_history_count(w->bus); i++) {
		const char *topic, *data;
		size_t len;
		onex_inmemory_bus_history_get(w->bus, i, &topic, &data, &len);
		if (strcmp(topic, OUT) != 0)
			continue;
		if (seen++ == n)
			return json_loadb(data, len, 0, NULL);
	}
	return NULL;
}

static size_t reply_count(struct world *w)
{
	size_t n = 0;
	for (size_t i = 0; i < onex_inmemory_bus_history_count(w->bus); i++) {
		const char *topic;
		onex_inmemory_bus_history_get(w->bus, i, &topic, NULL, NULL);
		n += strcmp(topic, OUT) == 0;
	}
	return n;
}

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const char *error_code(const json_t *r)
{
	return str(json_object_get(r, "error"), "code");
}

static void assert_contains(const char *text, const char *part)
{
	if (!text || !strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text ? text : "(null)", part);
}

/* ---- tests ---------------------------------------------------------------- */
static void test_echo_preserves_correlation_and_links_causation(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	send(&w, "{\"envelope_id\":\"" ID1 "\",\"correlation_id\":\"" ID2 "\","
		 "\"handler_type\":\"local\",\"operation\":\"local.echo\","
		 "\"payload\":{\"hello\":\"world\"},\"unknown_field\":1}");
	run_for(&w, 10 * MS);
	assert_int_equal(reply_count(&w), 1);
	json_t *r = reply(&w, 0);
	assert_string_equal(str(r, "correlation_id"), ID2);
	assert_string_equal(str(r, "causation_id"), ID1);
	assert_true(json_is_true(json_object_get(r, "success")));
	assert_true(json_is_true(json_object_get(r, "is_response")));
	assert_string_equal(str(json_object_get(r, "payload"), "hello"), "world");
	assert_true(onex_uuid_is_valid(str(r, "envelope_id")));
	assert_string_not_equal(str(r, "envelope_id"), ID1);
	assert_string_equal(str(r, "timestamp"), "2025-01-01T00:00:00.000000Z");
	json_decref(r);
	assert_int_equal(onex_host_stats(w.host)->responded_ok, 1);
	world_close(&w);
}

static void test_missing_ids_are_assigned_by_the_host(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	/* A reference-style request: operation and payload only. */
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"n\":1}}");
	run_for(&w, 10 * MS);
	json_t *r = reply(&w, 0);
	assert_non_null(r);
	assert_true(onex_uuid_is_valid(str(r, "correlation_id")));
	assert_true(onex_uuid_is_valid(str(r, "causation_id")));
	assert_string_not_equal(str(r, "causation_id"), str(r, "envelope_id"));
	assert_string_equal(str(r, "handler_type"), "local");
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
	world_close(&w);
}

static void test_bad_input_is_answered_and_the_loop_goes_on(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	send(&w, "{\"operation\": \"local.echo\", ");		      /* truncated */
	send(&w, "[1,2,3]");					      /* not an object */
	send(&w, "{\"operation\":\"local.echo\",\"payload\":\"str\"}"); /* wrong type */
	send(&w, "{\"operation\":\"local.echo\",\"correlation_id\":\"not-a-uuid\"}");
	send(&w, "{\"a\":\"\xc3\x28\"}"); /* invalid UTF-8 */
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"ok\":true}}");
	run_for(&w, 50 * MS);
	assert_int_equal(reply_count(&w), 6);
	for (size_t i = 0; i < 5; i++) {
		json_t *r = reply(&w, i);
		assert_string_equal(error_code(r), "ENVELOPE_VALIDATION_ERROR");
		assert_true(json_is_false(json_object_get(r, "success")));
		assert_true(json_is_null(json_object_get(r, "payload")));
		assert_true(onex_uuid_is_valid(str(r, "correlation_id")));
		assert_contains(str(json_object_get(r, "error"), "message"), "inmemory");
		json_decref(r);
	}
	json_t *r = reply(&w, 3);
	assert_string_equal(str(json_object_get(r, "metadata"), "rejected_correlation_id"),
			    "not-a-uuid");
	assert_string_not_equal(str(r, "correlation_id"), "not-a-uuid");
	json_decref(r);
	r = reply(&w, 5);
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
	world_close(&w);
}

static void test_oversized_payload_is_rejected(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	size_t n = ONEX_ENVELOPE_BYTES_MAX + 100;
	char *big = malloc(n + 1);
	int head = snprintf(big, n, "{\"operation\":\"local.echo\",\"payload\":{\"s\":\"");
	memset(big + head, 'x', n - (size_t)head - 3);
	memcpy(big + n - 3, "\"}}", 4);
	send(&w, big);
	free(big);
	send(&w, "{\"operation\":\"local.echo\"}");
	run_for(&w, 10 * MS);
	assert_int_equal(reply_count(&w), 2);
	json_t *r = reply(&w, 0);
	assert_string_equal(error_code(r), "ENVELOPE_VALIDATION_ERROR");
	assert_contains(str(json_object_get(r, "error"), "message"), "the limit is 1048576 bytes");
	json_decref(r);
	r = reply(&w, 1);
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
	world_close(&w);
}

/* A big reply (beyond the buffer the host keeps) and small ones around it, all whole. */
static void test_big_and_small_replies_in_turn(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	size_t n = ONEX_HOST_REPLY_BUFFER_KEEP_BYTES * 3;
	char *big = malloc(n + 64);
	int head = snprintf(big, 64, "{\"operation\":\"local.echo\",\"payload\":{\"s\":\"");
	memset(big + head, 'y', n);
	memcpy(big + (size_t)head + n, "\"}}", 4);
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"k\":\"small 1\"}}");
	send(&w, big);
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"k\":\"small 2\"}}");
	run_for(&w, 10 * MS);
	assert_int_equal(reply_count(&w), 3);
	json_t *r = reply(&w, 0);
	assert_string_equal(str(json_object_get(r, "payload"), "k"), "small 1");
	json_decref(r);
	r = reply(&w, 1);
	assert_true(json_is_true(json_object_get(r, "success")));
	const char *s = str(json_object_get(r, "payload"), "s");
	assert_int_equal(strlen(s), n);
	assert_int_equal(s[0], 'y');
	assert_int_equal(s[n - 1], 'y');
	json_decref(r);
	r = reply(&w, 2);
	assert_string_equal(str(json_object_get(r, "payload"), "k"), "small 2");
	json_decref(r);
	free(big);
	world_close(&w);
}

static void test_routing_errors(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	send(&w, "{\"envelope_id\":\"" ID1 "\",\"correlation_id\":\"" ID2 "\","
		 "\"handler_type\":\"vault\",\"operation\":\"vault.read_secret\"}");
	send(&w, "{\"handler_type\":\"kafka\",\"operation\":\"kafka.send\"}");
	send(&w, "{\"operation\":\"local.nope\"}");
	send(&w, "{\"handler_type\":\"local\",\"operation\":\"http.get\",\"payload\":{\"url\":\"x\"}}");
	send(&w, "{\"operation\":\"local.echo\",\"target_node\":\"ghost\"}");
	run_for(&w, 10 * MS);
	assert_int_equal(reply_count(&w), 5);

	json_t *r = reply(&w, 0);
	json_t *e = json_object_get(r, "error");
	assert_string_equal(error_code(r), "HANDLER_NOT_FOUND");
	assert_string_equal(str(r, "correlation_id"), ID2);
	assert_string_equal(str(r, "causation_id"), ID1);
	assert_string_equal(str(e, "handler_type"), "vault");
	assert_string_equal(str(e, "operation"), "vault.read_secret");
	json_t *avail = json_object_get(e, "available_handlers");
	assert_int_equal(json_array_size(avail), 2);
	assert_string_equal(json_string_value(json_array_get(avail, 0)), "http");
	assert_string_equal(json_string_value(json_array_get(avail, 1)), "local");
	json_decref(r);

	r = reply(&w, 1);
	assert_string_equal(error_code(r), "HANDLER_NOT_FOUND");
	json_decref(r);
	r = reply(&w, 2);
	assert_string_equal(error_code(r), "INVALID_OPERATION");
	assert_contains(str(json_object_get(r, "error"), "message"),
			"Operation 'local.nope' not supported. Available: local.echo, local.error, local.transform");
	json_decref(r);
	r = reply(&w, 3);
	assert_string_equal(error_code(r), "INVALID_OPERATION");
	json_decref(r);
	r = reply(&w, 4);
	assert_string_equal(error_code(r), "NODE_NOT_FOUND");
	assert_string_equal(str(json_object_get(r, "metadata"), "original_target_node"), "ghost");
	json_decref(r);
	world_close(&w);
}

static void test_handler_errors_and_transform(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	send(&w, "{\"operation\":\"local.error\",\"payload\":{\"code\":\"RATE_LIMITED\",\"message\":\"slow down\"}}");
	send(&w, "{\"operation\":\"local.transform\",\"payload\":{\"value\":\"abc\",\"transform\":\"uppercase\"}}");
	run_for(&w, 10 * MS);
	json_t *r = reply(&w, 0);
	assert_string_equal(error_code(r), "RATE_LIMITED");
	assert_string_equal(str(json_object_get(r, "error"), "message"), "slow down");
	json_decref(r);
	r = reply(&w, 1);
	assert_string_equal(str(json_object_get(r, "payload"), "value"), "ABC");
	json_decref(r);
	world_close(&w);
}

static void test_timeout_replies_once(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	/* Contract: local timeout_ms 100; the echo takes 500 ms. */
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"delay_ms\":500}}");
	run_for(&w, 99 * MS);
	assert_int_equal(reply_count(&w), 0);
	run_for(&w, 2 * MS);
	assert_int_equal(reply_count(&w), 1);
	json_t *r = reply(&w, 0);
	assert_string_equal(error_code(r), "TIMEOUT");
	assert_contains(str(json_object_get(r, "error"), "message"), "within 100 ms");
	json_decref(r);
	run_for(&w, 1000 * MS); /* the late answer is dropped, not published */
	assert_int_equal(reply_count(&w), 1);
	assert_int_equal(onex_host_stats(w.host)->timed_out, 1);
	world_close(&w);
}

static void test_sequential_in_input_order(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"i\":0,\"delay_ms\":30}}");
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"i\":1,\"delay_ms\":10}}");
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"i\":2}}");
	run_for(&w, 35 * MS); /* only the first can be done: one at a time */
	assert_int_equal(reply_count(&w), 1);
	run_for(&w, 20 * MS);
	assert_int_equal(reply_count(&w), 3);
	for (int i = 0; i < 3; i++) {
		json_t *r = reply(&w, (size_t)i);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "payload"), "i")), i);
		json_decref(r);
	}
	world_close(&w);
}

static void test_shutdown_drains_and_shuts_handlers_down_once(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 1);
	assert_int_equal(counting.initialized, 1);
	send(&w, "{\"operation\":\"http.get\",\"payload\":{\"url\":\"http://x\"}}");
	run_for(&w, 1 * MS); /* in flight: the handler answers at 5 ms */
	assert_int_equal(counting.executed, 1);
	onex_host_shutdown(w.host);
	onex_host_shutdown(w.host);
	run_for(&w, 10 * MS);
	assert_true(onex_host_is_stopped(w.host));
	assert_int_equal(reply_count(&w), 1); /* drained, not dropped */
	json_t *r = reply(&w, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "payload"), "status_code")), 200);
	json_decref(r);
	assert_int_equal(counting.shutdowns, 1);
	onex_host_free(w.host);
	w.host = NULL;
	assert_int_equal(counting.shutdowns, 1); /* free does not shut down again */
	world_close(&w);
}

static void test_grace_period_bounds_the_drain(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 1);
	send(&w, "{\"operation\":\"local.echo\",\"payload\":{\"delay_ms\":90}}");
	run_for(&w, 1 * MS);
	onex_host_shutdown(w.host);
	run_for(&w, 200 * MS);
	/* 90 ms < 1 s grace: answered, then stopped. */
	assert_true(onex_host_is_stopped(w.host));
	assert_int_equal(reply_count(&w), 1);
	assert_int_equal(onex_host_stats(w.host)->abandoned, 0);
	world_close(&w);
}

static void test_input_end_stops_the_host(void **state)
{
	struct world w;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	world_open(&w, 0);
	send(&w, "{\"operation\":\"local.echo\"}");
	assert_int_equal(onex_inmemory_bus_close_topic(w.bus, IN, &err), 0);
	run_for(&w, 10 * MS);
	assert_int_equal(reply_count(&w), 1);
	assert_true(onex_host_is_stopped(w.host));
	json_t *health = onex_host_health(w.host);
	assert_true(json_is_false(json_object_get(health, "is_running")));
	json_decref(health);
	world_close(&w);
}

static void test_describe_wiring(void **state)
{
	struct world w;
	(void)state;
	world_open(&w, 0);
	json_t *d = onex_host_describe_wiring(w.host);
	assert_string_equal(str(d, "binary"), "test-host");
	assert_string_equal(str(json_object_get(d, "bus"), "kind"), "inmemory");
	assert_string_equal(str(json_object_get(d, "bus"), "input_topic"), IN);
	json_t *hs = json_object_get(d, "handlers");
	assert_int_equal(json_array_size(hs), 2);
	assert_string_equal(str(json_array_get(hs, 0), "type"), "local");
	assert_true(json_is_true(json_object_get(json_array_get(hs, 0), "dev_test_only")));
	assert_string_equal(str(json_array_get(hs, 1), "unit"), "counting");
	json_decref(d);
	world_close(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_preserves_correlation_and_links_causation),
		cmocka_unit_test(test_missing_ids_are_assigned_by_the_host),
		cmocka_unit_test(test_bad_input_is_answered_and_the_loop_goes_on),
		cmocka_unit_test(test_oversized_payload_is_rejected),
		cmocka_unit_test(test_big_and_small_replies_in_turn),
		cmocka_unit_test(test_routing_errors),
		cmocka_unit_test(test_handler_errors_and_transform),
		cmocka_unit_test(test_timeout_replies_once),
		cmocka_unit_test(test_sequential_in_input_order),
		cmocka_unit_test(test_shutdown_drains_and_shuts_handlers_down_once),
		cmocka_unit_test(test_grace_period_bounds_the_drain),
		cmocka_unit_test(test_input_end_stops_the_host),
		cmocka_unit_test(test_describe_wiring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
