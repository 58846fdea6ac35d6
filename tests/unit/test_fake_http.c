/*
 * test_fake_http.c - the simulation http handler through the handler
 * wrappers, on the scheduler: matching, virtual latency, timeouts, faults,
 * unmatched requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "fake_http.h"
#include "handler.h"
#include "log.h"
#include "scheduler.h"

#define MS(x) ((uint64_t)(x) * 1000000u)

/* ---- harness --------------------------------------------------------------- */

struct outcome {
	struct onex_handler *h;
	struct onex_sim_scheduler *sched;
	int calls, ok;
	json_t *payload;
	struct onex_error error;
	uint64_t at;
};

static void on_done(void *arg, struct onex_handler_result *r)
{
	struct outcome *o = arg;
	o->calls++;
	o->ok = r->ok;
	o->payload = r->payload; /* ownership taken */
	json_decref(r->error_extra);
	o->error = r->error;
	o->at = onex_sim_scheduler_now_ns(o->sched);
	onex_handler_finished(o->h);
}

static void outcome_release(struct outcome *o)
{
	json_decref(o->payload);
	o->payload = NULL;
}

struct world {
	struct onex_sim_scheduler *sched;
	struct onex_handler *h;
};

static void world_open(struct world *w, const char *config_json)
{
	struct onex_handler_env env = { 0 };
	struct onex_error err;
	json_t *config = config_json ? json_loads(config_json, 0, NULL) : NULL;
	w->sched = onex_sim_scheduler_new(0);
	env.loop = onex_sim_scheduler_loop(w->sched);
	env.clock = onex_sim_scheduler_clock(w->sched);
	onex_error_clear(&err);
	w->h = onex_fake_http_unit.create(&env, &err);
	assert_non_null(w->h);
	assert_int_equal(onex_handler_initialize(w->h, config, &err), 0);
	json_decref(config);
}

static void world_close(struct world *w)
{
	onex_handler_free(w->h);
	onex_sim_scheduler_free(w->sched);
}

static void add_stubs(struct world *w, const char *stubs_json)
{
	struct onex_error err;
	json_error_t jerr;
	json_t *stubs = json_loads(stubs_json, 0, &jerr);
	if (!stubs)
		fail_msg("bad stub JSON in test: %s", jerr.text);
	onex_error_clear(&err);
	if (onex_fake_http_add_stubs(w->h, stubs, &err) < 0)
		fail_msg("add_stubs: %s", err.text);
	json_decref(stubs);
}

/*
 * Build a request by hand (only the views the handler reads), start it,
 * and run the scheduler until it completes. payload_json may be NULL.
 */
static void call(struct world *w, const char *operation, const char *payload_json,
		 struct outcome *o)
{
	struct onex_envelope req;
	struct onex_error err;
	memset(&req, 0, sizeof(req));
	memset(o, 0, sizeof(*o));
	o->h = w->h;
	o->sched = w->sched;
	req.json = json_pack("{s:s,s:o?}", "operation", operation, "payload",
			     payload_json ? json_loads(payload_json, 0, NULL) : NULL);
	req.operation = json_string_value(json_object_get(req.json, "operation"));
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = "11111111-2222-4333-8444-555555555555";
	req.handler_type = ONEX_HANDLER_HTTP;
	onex_error_clear(&err);
	assert_int_equal(onex_handler_execute(w->h, &req, on_done, o, &err), 0);
	json_decref(req.json); /* the handler must not keep pointers into it */
	assert_int_equal(o->calls, 0); /* never from inside execute() */
	onex_loop_run(onex_sim_scheduler_loop(w->sched));
	assert_int_equal(o->calls, 1);
}

static const char *STUBS =
	"["
	" {\"method\": \"GET\", \"url\": \"http://users/api/1\","
	"  \"response\": {\"status\": 200, \"headers\": {\"Content-Type\": \"application/json\","
	"   \"X-Trace\": \"t1\"}, \"body\": {\"id\": 1, \"name\": \"Ada\"}}, \"latency_ms\": 30},"
	" {\"method\": \"get\", \"url\": \"http://users/api/404\","
	"  \"response\": {\"status\": 404, \"body\": \"not here\"}},"
	" {\"method\": \"POST\", \"url\": \"http://orders/api\","
	"  \"body\": {\"item\": \"book\", \"qty\": [1, 2]},"
	"  \"response\": {\"status\": 201, \"headers\": {\"content-type\": \"application/json\"},"
	"   \"body\": \"{\\\"order\\\": 7}\"}, \"latency_ms\": 12.5},"
	" {\"method\": \"POST\", \"url\": \"http://orders/api\","
	"  \"response\": {\"status\": 400, \"body\": \"{\\\"not\\\": \\\"parsed\\\"}\"}},"
	" {\"method\": \"GET\", \"url\": \"http://slow/api\", \"latency_ms\": 1500,"
	"  \"response\": {\"status\": 200}},"
	" {\"method\": \"GET\", \"url\": \"http://hang/api\", \"error\": \"timeout\"},"
	" {\"method\": \"DELETE\", \"url\": \"http://down/api\", \"error\": \"connect\","
	"  \"latency_ms\": 3}"
	"]";

/* ---- tests ------------------------------------------------------------------- */

static void test_match_after_virtual_latency(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	call(&w, "http.get", "{\"url\": \"http://users/api/1\"}", &o);
	assert_true(o.ok);
	assert_int_equal(o.at, MS(30));
	assert_int_equal(json_integer_value(json_object_get(o.payload, "status_code")), 200);
	json_t *headers = json_object_get(o.payload, "headers");
	assert_string_equal(json_string_value(json_object_get(headers, "content-type")),
			    "application/json");
	assert_string_equal(json_string_value(json_object_get(headers, "x-trace")), "t1");
	assert_null(json_object_get(headers, "Content-Type"));
	json_t *body = json_object_get(o.payload, "body");
	assert_string_equal(json_string_value(json_object_get(body, "name")), "Ada");
	outcome_release(&o);
	assert_int_equal(onex_fake_http_request_count(w.h), 1);
	assert_int_equal(onex_fake_http_unmatched(w.h, NULL), 0);
	world_close(&w);
}

static void test_non_2xx_is_success(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	/* Stub method "get" matches GET: methods are case-insensitive. */
	call(&w, "http.get", "{\"url\": \"http://users/api/404\"}", &o);
	assert_true(o.ok);
	assert_int_equal(o.at, 0);
	assert_int_equal(json_integer_value(json_object_get(o.payload, "status_code")), 404);
	assert_string_equal(json_string_value(json_object_get(o.payload, "body")), "not here");
	/* As from a real server: the framing header libcurl reports. */
	assert_int_equal(json_object_size(json_object_get(o.payload, "headers")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o.payload, "headers"),
							      "content-length")), "8");
	outcome_release(&o);
	world_close(&w);
}

static void test_body_matching(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	/* Same JSON, other key order: the first POST stub; its JSON text body is parsed. */
	call(&w, "http.post",
	     "{\"url\": \"http://orders/api\", \"body\": {\"qty\": [1, 2], \"item\": \"book\"}}", &o);
	assert_true(o.ok);
	assert_int_equal(json_integer_value(json_object_get(o.payload, "status_code")), 201);
	assert_int_equal(o.at, 12500000u);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o.payload, "body"),
							    "order")),
			 7);
	outcome_release(&o);
	/* The same body sent as JSON text also matches. */
	call(&w, "http.post",
	     "{\"url\": \"http://orders/api\", \"body\": \"{\\\"item\\\":\\\"book\\\",\\\"qty\\\":[1,2]}\"}",
	     &o);
	assert_int_equal(json_integer_value(json_object_get(o.payload, "status_code")), 201);
	outcome_release(&o);
	/* Another body falls through to the body-less stub; without a JSON
	 * content-type its body stays text. */
	call(&w, "http.post", "{\"url\": \"http://orders/api\", \"body\": {\"item\": \"pen\"}}", &o);
	assert_int_equal(json_integer_value(json_object_get(o.payload, "status_code")), 400);
	assert_string_equal(json_string_value(json_object_get(o.payload, "body")),
			    "{\"not\": \"parsed\"}");
	outcome_release(&o);
	world_close(&w);
}

static void test_timeouts(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, "{\"type\": \"http\", \"config\": {\"timeout_ms\": 1000}}");
	add_stubs(&w, STUBS);
	/* Latency 1500 ms >= timeout 1000 ms: TIMEOUT, at the timeout. */
	call(&w, "http.get", "{\"url\": \"http://slow/api\"}", &o);
	assert_false(o.ok);
	assert_int_equal(o.error.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(o.error.text, "HTTP GET request timed out after 1.0s");
	assert_int_equal(o.at, MS(1000));
	world_close(&w);

	/*
	 * Without config.timeout_ms the unit's own limit is the host's deadline
	 * (30 s by default) + 1 s, so the host's TIMEOUT reply comes first; an
	 * "error": "timeout" stub waits for it.
	 */
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	call(&w, "http.get", "{\"url\": \"http://hang/api\"}", &o);
	assert_int_equal(o.error.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(o.error.text, "HTTP GET request timed out after 31.0s");
	assert_int_equal(o.at, MS(31000));
	/* ... and the slow stub is fine under it. */
	call(&w, "http.get", "{\"url\": \"http://slow/api\"}", &o);
	assert_true(o.ok);
	assert_int_equal(o.at, MS(32500));
	/* No body: the empty text libcurl returns, not null. */
	assert_string_equal(json_string_value(json_object_get(o.payload, "body")), "");
	outcome_release(&o);
	world_close(&w);
}

static void test_connect_error(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	call(&w, "http.delete", "{\"url\": \"http://down/api\"}", &o);
	assert_false(o.ok);
	assert_null(o.payload);
	assert_int_equal(o.error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(o.error.text, "Failed to connect to http://down/api");
	assert_int_equal(o.at, MS(3));
	world_close(&w);
}

static void test_unmatched_names_closest_stub(void **state)
{
	struct world w;
	struct outcome o;
	const char *first;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	call(&w, "http.get", "{\"url\": \"http://users/api/2\"}", &o);
	assert_false(o.ok);
	assert_int_equal(o.error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(o.error.text, "no stub matches GET http://users/api/2");
	assert_int_equal(onex_fake_http_unmatched(w.h, &first), 1);
	assert_string_equal(first, "no stub matches GET http://users/api/2; closest stub: "
				   "GET http://users/api/1 (edit distance 1)");
	/* Right URL, wrong method: unmatched too. The first report stays. */
	call(&w, "http.put", "{\"url\": \"http://users/api/1\", \"body\": \"x\"}", &o);
	assert_string_equal(o.error.text, "no stub matches PUT http://users/api/1");
	assert_int_equal(onex_fake_http_unmatched(w.h, &first), 2);
	assert_non_null(strstr(first, "http://users/api/2;"));
	json_t *health = onex_handler_health_check(w.h);
	assert_int_equal(json_integer_value(json_object_get(health, "unmatched")), 2);
	json_decref(health);
	world_close(&w);

	world_open(&w, NULL);
	call(&w, "http.get", "{\"url\": \"http://x\"}", &o);
	assert_int_equal(onex_fake_http_unmatched(w.h, &first), 1);
	assert_string_equal(first, "no stub matches GET http://x; no stubs are defined");
	world_close(&w);
}

static void test_request_validation(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, STUBS);
	call(&w, "http.get", "{\"headers\": {}}", &o);
	assert_int_equal(o.error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o.error.text, "payload.url is required");
	call(&w, "http.get", NULL, &o);
	assert_string_equal(o.error.text, "payload.url is required");
	call(&w, "http.get", "{\"url\": 5}", &o);
	assert_string_equal(o.error.text, "payload.url is required");
	call(&w, "http.get", "{\"url\": \"http://users/api/1\", \"headers\": [1]}", &o);
	assert_int_equal(o.error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o.error.text, "payload.headers must be an object");
	call(&w, "http.head", "{\"url\": \"http://users/api/1\"}", &o);
	assert_int_equal(o.error.code, ONEX_ERR_INVALID_OPERATION);
	assert_string_equal(o.error.text,
			    "Operation 'http.head' not supported. Available: http.delete, "
			    "http.get, http.patch, http.post, http.put");
	assert_int_equal(onex_fake_http_unmatched(w.h, NULL), 0);
	world_close(&w);
}

static void test_faults(void **state)
{
	struct world w;
	struct outcome o;
	(void)state;
	world_open(&w, "{\"config\": {\"timeout_ms\": 100}}");
	add_stubs(&w, STUBS);
	onex_fake_http_set_fault(w.h, ONEX_FAKE_HTTP_FAULT_NONE, MS(40));
	call(&w, "http.get", "{\"url\": \"http://users/api/1\"}", &o);
	assert_true(o.ok);
	assert_int_equal(o.at, MS(70)); /* 30 + 40 */
	outcome_release(&o);
	onex_fake_http_set_fault(w.h, ONEX_FAKE_HTTP_FAULT_NONE, MS(80));
	call(&w, "http.get", "{\"url\": \"http://users/api/1\"}", &o);
	assert_int_equal(o.error.code, ONEX_ERR_TIMEOUT); /* 110 >= 100 */
	assert_int_equal(o.at, MS(70) + MS(100));
	onex_fake_http_set_fault(w.h, ONEX_FAKE_HTTP_FAULT_ERROR, MS(1));
	call(&w, "http.get", "{\"url\": \"http://users/api/1\"}", &o);
	assert_string_equal(o.error.text, "Failed to connect to http://users/api/1");
	onex_fake_http_set_fault(w.h, ONEX_FAKE_HTTP_FAULT_TIMEOUT, 0);
	call(&w, "http.get", "{\"url\": \"http://users/api/1\"}", &o);
	assert_string_equal(o.error.text, "HTTP GET request timed out after 0.1s");
	onex_fake_http_set_fault(w.h, ONEX_FAKE_HTTP_FAULT_NONE, 0);
	call(&w, "http.get", "{\"url\": \"http://users/api/1\"}", &o);
	assert_true(o.ok);
	outcome_release(&o);
	world_close(&w);
}

static void test_concurrent_calls_complete_by_latency(void **state)
{
	struct world w;
	struct outcome slow, fast;
	struct onex_envelope a, b;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, "[{\"method\": \"GET\", \"url\": \"http://a\", \"latency_ms\": 50,"
		       "  \"response\": {\"status\": 200}},"
		       " {\"method\": \"GET\", \"url\": \"http://b\", \"latency_ms\": 10,"
		       "  \"response\": {\"status\": 200}}]");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&slow, 0, sizeof(slow));
	memset(&fast, 0, sizeof(fast));
	slow.h = fast.h = w.h;
	slow.sched = fast.sched = w.sched;
	a.json = json_pack("{s:s,s:{s:s}}", "operation", "http.get", "payload", "url", "http://a");
	b.json = json_pack("{s:s,s:{s:s}}", "operation", "http.get", "payload", "url", "http://b");
	a.operation = b.operation = "http.get";
	a.payload = json_object_get(a.json, "payload");
	b.payload = json_object_get(b.json, "payload");
	assert_int_equal(onex_handler_execute(w.h, &a, on_done, &slow, NULL), 0);
	assert_int_equal(onex_handler_execute(w.h, &b, on_done, &fast, NULL), 0);
	assert_int_equal(w.h->executing, 2);
	onex_sim_scheduler_run_until(w.sched, MS(10));
	assert_int_equal(fast.calls, 1);
	assert_int_equal(slow.calls, 0);
	assert_int_equal(w.h->state, ONEX_HANDLER_EXECUTING);
	onex_sim_scheduler_run_until(w.sched, MS(50));
	assert_int_equal(slow.calls, 1);
	assert_int_equal(w.h->state, ONEX_HANDLER_HEALTHY);
	outcome_release(&slow);
	outcome_release(&fast);
	json_decref(a.json);
	json_decref(b.json);

	/* Freed with a call in flight: dropped cleanly (no leak, no call). */
	a.json = json_pack("{s:s,s:{s:s}}", "operation", "http.get", "payload", "url", "http://a");
	a.payload = json_object_get(a.json, "payload");
	memset(&slow, 0, sizeof(slow));
	assert_int_equal(onex_handler_execute(w.h, &a, on_done, &slow, NULL), 0);
	json_decref(a.json);
	world_close(&w);
	assert_int_equal(slow.calls, 0);
}

static void test_stub_validation(void **state)
{
	static const struct {
		const char *stubs, *message;
	} cases[] = {
		{ "[{\"method\": \"GET\", \"response\": {}}]", "stubs[0].url is required" },
		{ "[{\"url\": \"http://a\", \"response\": {}}]", "stubs[0].method is required (GET, POST, PUT, DELETE, PATCH)" },
		{ "[{\"method\": \"HEAD\", \"url\": \"http://a\", \"response\": {}}]",
		  "stubs[0].method must be GET, POST, PUT, DELETE or PATCH" },
		{ "[{\"method\": \"GET\", \"url\": \"http://a\"}]",
		  "stubs[0].response is required (or an error)" },
		{ "[{\"method\": \"GET\", \"url\": \"http://a\", \"response\": {}, \"latncy_ms\": 1}]",
		  "stubs[0]: unknown field 'latncy_ms'" },
		{ "[{\"method\": \"GET\", \"url\": \"http://a\", \"response\": {\"status\": 99}}]",
		  "stubs[0].response.status must be an integer from 100 to 599" },
		{ "[{\"method\": \"GET\", \"url\": \"http://a\", \"error\": \"dns\"}]",
		  "stubs[0].error must be \"timeout\" or \"connect\"" },
		{ "[{\"method\": \"GET\", \"url\": \"http://a\", \"response\": {}, \"latency_ms\": -1}]",
		  "stubs[0].latency_ms must be from 0 to 86400000" },
		{ "[{\"method\": \"GET\", \"url\": \"http://a\", \"response\": {}}, 3]",
		  "stubs[1] must be an object" },
		{ "{}", "stubs must be a list" },
	};
	struct world w;
	(void)state;
	world_open(&w, NULL);
	add_stubs(&w, "[{\"method\": \"GET\", \"url\": \"http://ok\", \"response\": {}}]");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct onex_error err;
		json_t *stubs = json_loads(cases[i].stubs, 0, NULL);
		onex_error_clear(&err);
		assert_non_null(stubs);
		assert_int_equal(onex_fake_http_add_stubs(w.h, stubs, &err), -1);
		assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
		/* Indexes count from the stubs already there. */
		char expected[256];
		snprintf(expected, sizeof(expected), "%s", cases[i].message);
		if (strncmp(expected, "stubs[", 6) == 0)
			expected[6] = (char)(expected[6] + 1);
		assert_string_equal(err.text, expected);
		json_decref(stubs);
	}
	json_t *health = onex_handler_health_check(w.h);
	assert_int_equal(json_integer_value(json_object_get(health, "stubs")), 1);
	json_decref(health);
	world_close(&w);
}

static void test_config_and_describe(void **state)
{
	struct world w;
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_handler_env env = { .loop = onex_sim_scheduler_loop(sched) };
	struct onex_error err;
	struct outcome o;
	(void)state;
	/* Stubs may also come with the handler config. */
	world_open(&w, "{\"type\": \"http\", \"config\": {\"timeout_ms\": 2500, \"stubs\": "
		       "[{\"method\": \"GET\", \"url\": \"http://c\", \"response\": {\"status\": 204}}]}}");
	call(&w, "http.get", "{\"url\": \"http://c\"}", &o);
	assert_int_equal(json_integer_value(json_object_get(o.payload, "status_code")), 204);
	outcome_release(&o);
	json_t *d = onex_handler_describe(w.h);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "http");
	assert_string_equal(json_string_value(json_object_get(d, "unit")), "sim-http");
	assert_int_equal(json_array_size(json_object_get(d, "operations")), 5);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(d, "required_payload_fields"), 0)),
			    "url");
	assert_non_null(json_object_get(json_object_get(d, "response_shape"), "status_code"));
	assert_int_equal(json_integer_value(json_object_get(d, "timeout_ms")), 2500);
	assert_non_null(json_object_get(d, "version"));
	json_decref(d);
	/* After shutdown the wrapper refuses calls. */
	onex_handler_shutdown(w.h);
	struct onex_envelope req;
	memset(&req, 0, sizeof(req));
	req.operation = "http.get";
	onex_error_clear(&err);
	assert_int_equal(onex_handler_execute(w.h, &req, on_done, &o, &err), -1);
	world_close(&w);

	struct onex_handler *h = onex_fake_http_unit.create(&env, NULL);
	json_t *bad = json_pack("{s:{s:i}}", "config", "timeout_ms", 0);
	onex_error_clear(&err);
	assert_int_equal(onex_handler_initialize(h, bad, &err), -1);
	assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
	assert_non_null(strstr(err.text, "timeout_ms"));
	json_decref(bad);
	onex_handler_free(h);
	onex_sim_scheduler_free(sched);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_after_virtual_latency),
		cmocka_unit_test(test_non_2xx_is_success),
		cmocka_unit_test(test_body_matching),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_connect_error),
		cmocka_unit_test(test_unmatched_names_closest_stub),
		cmocka_unit_test(test_request_validation),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_concurrent_calls_complete_by_latency),
		cmocka_unit_test(test_stub_validation),
		cmocka_unit_test(test_config_and_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
