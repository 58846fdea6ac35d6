/*
 * test_curl_http.c - the libcurl http handler through the handler
 * wrappers, on the real epoll loop, against the loopback test server
 * (tests/support/http_server.c): every operation, headers, JSON vs text,
 * non-2xx, timeouts, refused and reset connections, size limits,
 * redirects, connection reuse, concurrency and shutdown in flight.
 *
 * The loop runs until every started call's done arrived (done stops it);
 * a watchdog timer fails the test instead of hanging it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "real/curl_http.h"
#include "envelope.h"
#include "handler.h"
#include "http_server.h"
#include "loop.h"
#include "system_units.h"
#include "version.h"

#define MS(x) ((uint64_t)(x) * 1000000u)
#define WATCHDOG_MS 20000u

/* ---- harness ------------------------------------------------------------------ */

struct fixture {
	struct http_server srv;
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_handler *h;
	unsigned pending; /* calls started whose done has not arrived */
	int watchdog_fired;
};

struct outcome {
	struct fixture *fx;
	int calls, ok;
	json_t *payload;
	struct onex_error error;
	uint64_t started_ns, done_ns;
};

static void on_done(void *arg, struct onex_handler_result *r)
{
	struct outcome *o = arg;
	o->calls++;
	o->ok = r->ok;
	json_decref(o->payload);
	o->payload = r->payload; /* ownership taken */
	json_decref(r->error_extra);
	o->error = r->error;
	o->done_ns = onex_loop_now_ns(o->fx->loop);
	onex_handler_finished(o->fx->h);
	if (--o->fx->pending == 0)
		onex_loop_stop(o->fx->loop);
}

static void outcome_release(struct outcome *o)
{
	json_decref(o->payload);
	o->payload = NULL;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct onex_error err;
	onex_error_clear(&err);
	if (!fx || http_server_start(&fx->srv) < 0)
		return -1;
	fx->loop = onex_epoll_loop_new(&err);
	fx->clock = onex_system_clock_new();
	*state = fx;
	return fx->loop && fx->clock ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	onex_handler_free(fx->h);
	onex_loop_free(fx->loop);
	onex_clock_free(fx->clock);
	http_server_stop(&fx->srv);
	free(fx);
	return 0;
}

/* Create and initialize the handler with a contract entry (JSON text or NULL). */
static void open_handler(struct fixture *fx, const char *entry_json)
{
	struct onex_handler_env env = { fx->loop, fx->clock, NULL, NULL };
	struct onex_error err;
	json_t *entry = entry_json ? json_loads(entry_json, 0, NULL) : NULL;
	if (entry_json && !entry)
		fail_msg("bad config JSON in test");
	onex_error_clear(&err);
	onex_handler_free(fx->h);
	fx->h = onex_curl_http_unit.create(&env, &err);
	assert_non_null(fx->h);
	if (onex_handler_initialize(fx->h, entry, &err) < 0)
		fail_msg("initialize: %s", err.text);
	json_decref(entry);
}

static void on_watchdog(void *arg)
{
	struct fixture *fx = arg;
	fx->watchdog_fired = 1;
	onex_loop_stop(fx->loop);
}

/* Start one call; done must not have run yet (never from inside execute). */
static void start(struct fixture *fx, const char *operation, const char *payload_json,
		  struct outcome *o)
{
	struct onex_envelope req;
	struct onex_error err;
	json_t *payload = payload_json ? json_loads(payload_json, 0, NULL) : NULL;
	if (payload_json && !payload)
		fail_msg("bad payload JSON in test: %s", payload_json);
	memset(&req, 0, sizeof(req));
	memset(o, 0, sizeof(*o));
	o->fx = fx;
	req.json = json_pack("{s:s,s:o?}", "operation", operation, "payload", payload);
	req.operation = json_string_value(json_object_get(req.json, "operation"));
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = "11111111-2222-4333-8444-555555555555";
	req.handler_type = ONEX_HANDLER_HTTP;
	onex_error_clear(&err);
	o->started_ns = onex_loop_now_ns(fx->loop);
	if (onex_handler_execute(fx->h, &req, on_done, o, &err) < 0)
		fail_msg("execute refused: %s", err.text);
	json_decref(req.json); /* the handler must not keep pointers into it */
	assert_int_equal(o->calls, 0);
	fx->pending++;
}

/* Run the loop until every started call is done. */
static void run(struct fixture *fx)
{
	uint64_t watchdog;
	assert_int_equal(onex_loop_timer_add(fx->loop, MS(WATCHDOG_MS), on_watchdog, fx,
					     &watchdog, NULL),
			 0);
	onex_loop_run(fx->loop);
	onex_loop_timer_cancel(fx->loop, watchdog);
	if (fx->watchdog_fired)
		fail_msg("watchdog: %u calls still pending after %u ms", fx->pending,
			 WATCHDOG_MS);
	assert_int_equal(fx->pending, 0);
}

static void call(struct fixture *fx, const char *operation, const char *payload_json,
		 struct outcome *o)
{
	start(fx, operation, payload_json, o);
	run(fx);
	assert_int_equal(o->calls, 1);
}

/* call() with payload {"url": <server url of path>} plus `extra` members. */
static void call_path(struct fixture *fx, const char *operation, const char *path,
		      const char *extra, struct outcome *o)
{
	char url[256];
	size_t size = sizeof(url) + (extra ? strlen(extra) : 0) + 32;
	char *payload = malloc(size);
	assert_non_null(payload);
	http_server_url(&fx->srv, path, url, sizeof(url));
	snprintf(payload, size, "{\"url\": \"%s\"%s%s}", url, extra ? ", " : "",
		 extra ? extra : "");
	call(fx, operation, payload, o);
	free(payload);
}

static long status_of(const struct outcome *o)
{
	return (long)json_integer_value(json_object_get(o->payload, "status_code"));
}

static const char *header_of(const struct outcome *o, const char *name)
{
	return json_string_value(json_object_get(json_object_get(o->payload, "headers"), name));
}

static const json_t *body_of(const struct outcome *o)
{
	return json_object_get(o->payload, "body");
}

static void assert_failed(const struct outcome *o, enum onex_error_code code,
			  const char *text)
{
	if (o->ok)
		fail_msg("expected %s \"%s\", got success", onex_error_code_name(code), text);
	if (o->error.code != code || strcmp(o->error.text, text) != 0)
		fail_msg("expected %s \"%s\", got %s \"%s\"", onex_error_code_name(code), text,
			 onex_error_code_name(o->error.code), o->error.text);
	assert_null(o->payload);
}

/* ---- responses ---------------------------------------------------------------- */

static void test_get_json_lowercases_headers(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	const char *name;
	json_t *v;
	open_handler(fx, NULL);
	call_path(fx, "http.get", "/json", NULL, &o);
	assert_true(o.ok);
	assert_int_equal(status_of(&o), 200);
	assert_string_equal(header_of(&o, "content-type"), "application/json; charset=utf-8");
	assert_string_equal(header_of(&o, "x-test-header"), "Yes");
	json_object_foreach(json_object_get(o.payload, "headers"), name, v)
		for (const char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				fail_msg("header name not lower-cased: %s", name);
	assert_true(json_is_object(body_of(&o)));
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "hello")), "world");
	assert_int_equal(json_array_size(json_object_get(body_of(&o), "n")), 3);
	outcome_release(&o);
}

static void test_text_and_invalid_json_are_text(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	open_handler(fx, NULL);
	call_path(fx, "http.get", "/text", NULL, &o);
	assert_true(o.ok);
	assert_string_equal(json_string_value(body_of(&o)), "hello, world");
	outcome_release(&o);
	/* Content type says JSON but the body does not parse: text. */
	call_path(fx, "http.get", "/badjson", NULL, &o);
	assert_true(o.ok);
	assert_string_equal(json_string_value(body_of(&o)), "{not json");
	outcome_release(&o);
	/* Repeated names join with ", "; a 204 has an empty text body. */
	call_path(fx, "http.get", "/headers", NULL, &o);
	assert_string_equal(header_of(&o, "x-dup"), "a, b");
	assert_string_equal(header_of(&o, "x-mixed-case"), "Value");
	outcome_release(&o);
	call_path(fx, "http.get", "/status/204", NULL, &o);
	assert_true(o.ok);
	assert_int_equal(status_of(&o), 204);
	assert_string_equal(json_string_value(body_of(&o)), "");
	outcome_release(&o);
}

static void test_non_2xx_is_success(void **state)
{
	struct fixture *fx = *state;
	static const char *const paths[] = { "/status/404", "/status/500", "/status/503",
					     "/status/400" };
	static const long codes[] = { 404, 500, 503, 400 };
	struct outcome o;
	open_handler(fx, NULL);
	for (size_t i = 0; i < 4; i++) {
		call_path(fx, "http.get", paths[i], NULL, &o);
		assert_true(o.ok);
		assert_int_equal(status_of(&o), codes[i]);
		outcome_release(&o);
	}
	call_path(fx, "http.get", "/nowhere", NULL, &o);
	assert_true(o.ok);
	assert_int_equal(status_of(&o), 404);
	assert_string_equal(json_string_value(body_of(&o)), "not found");
	outcome_release(&o);
}

/* ---- requests ----------------------------------------------------------------- */

static void test_every_operation(void **state)
{
	struct fixture *fx = *state;
	static const char *const ops[] = { "http.get", "http.post", "http.put", "http.delete",
					   "http.patch" };
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH" };
	struct outcome o;
	open_handler(fx, NULL);
	for (size_t i = 0; i < 5; i++) {
		/* GET and DELETE without a body, the others with a JSON object. */
		int with_body = i == 1 || i == 2 || i == 4;
		call_path(fx, ops[i], "/echo",
			  with_body ? "\"headers\": {\"X-Request-Id\": \"abc\", \"X-Num\": 7},"
				      " \"body\": {\"item\": \"book\", \"qty\": 2}"
				    : "\"headers\": {\"X-Request-Id\": \"abc\", \"X-Num\": 7}",
			  &o);
		assert_true(o.ok);
		assert_int_equal(status_of(&o), 200);
		const json_t *echo = body_of(&o), *hdrs = json_object_get(echo, "headers");
		assert_string_equal(json_string_value(json_object_get(echo, "method")), methods[i]);
		assert_string_equal(json_string_value(json_object_get(echo, "path")), "/echo");
		assert_string_equal(json_string_value(json_object_get(hdrs, "x-request-id")), "abc");
		assert_string_equal(json_string_value(json_object_get(hdrs, "x-num")), "7");
		assert_null(json_object_get(hdrs, "expect"));
		if (with_body) {
			assert_string_equal(json_string_value(json_object_get(echo, "body")),
					    "{\"item\":\"book\",\"qty\":2}");
			assert_string_equal(json_string_value(json_object_get(hdrs, "content-type")),
					    "application/json");
		} else {
			assert_string_equal(json_string_value(json_object_get(echo, "body")), "");
		}
		outcome_release(&o);
	}
	/* Easy handles are reused: a GET after a PATCH with a body and headers
	 * carries none of them. */
	call_path(fx, "http.get", "/echo", NULL, &o);
	const json_t *echo = body_of(&o), *hdrs = json_object_get(echo, "headers");
	assert_string_equal(json_string_value(json_object_get(echo, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(echo, "body")), "");
	assert_null(json_object_get(hdrs, "content-type"));
	assert_null(json_object_get(hdrs, "content-length"));
	assert_null(json_object_get(hdrs, "x-request-id"));
	outcome_release(&o);
	/* A DELETE after it, with a body, then a POST without one. */
	call_path(fx, "http.delete", "/echo", "\"body\": \"gone\"", &o);
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "method")), "DELETE");
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "body")), "gone");
	outcome_release(&o);
	call_path(fx, "http.post", "/echo", NULL, &o);
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "body")), "");
	outcome_release(&o);
}

static void test_request_bodies(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	const json_t *echo, *hdrs;
	open_handler(fx, NULL);
	/* A string goes as-is, with no content-type of ours. */
	call_path(fx, "http.post", "/echo", "\"body\": \"a=1&b=two\"", &o);
	echo = body_of(&o);
	hdrs = json_object_get(echo, "headers");
	assert_string_equal(json_string_value(json_object_get(echo, "body")), "a=1&b=two");
	assert_null(json_object_get(hdrs, "content-type"));
	assert_string_equal(json_string_value(json_object_get(hdrs, "content-length")), "9");
	outcome_release(&o);
	/* A JSON array, with the caller's content-type kept. */
	call_path(fx, "http.put", "/echo",
		  "\"headers\": {\"Content-Type\": \"application/vnd.x+json\"}, \"body\": [1, 2]",
		  &o);
	echo = body_of(&o);
	hdrs = json_object_get(echo, "headers");
	assert_string_equal(json_string_value(json_object_get(echo, "body")), "[1,2]");
	assert_string_equal(json_string_value(json_object_get(hdrs, "content-type")),
			    "application/vnd.x+json");
	outcome_release(&o);
	/* GET with a body: sent with that method. */
	call_path(fx, "http.get", "/echo", "\"body\": \"q\"", &o);
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "body")), "q");
	outcome_release(&o);
	/* A body larger than libcurl's Expect threshold: no 100-continue wait. */
	char big[8192], extra[8300];
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(extra, sizeof(extra), "\"body\": \"%s\"", big);
	call_path(fx, "http.patch", "/echo", extra, &o);
	assert_int_equal(json_integer_value(json_object_get(body_of(&o), "body_bytes")),
			 sizeof(big) - 1);
	assert_true(o.done_ns - o.started_ns < MS(900));
	outcome_release(&o);
}

/* User-Agent and Accept-Encoding: ours by default, the caller's when named. */
static void test_default_request_headers(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	const json_t *hdrs;
	open_handler(fx, NULL);
	call_path(fx, "http.get", "/echo", NULL, &o);
	hdrs = json_object_get(body_of(&o), "headers");
	assert_string_equal(json_string_value(json_object_get(hdrs, "user-agent")),
			    "onex/" ONEX_VERSION);
	/* Every encoding libcurl decodes (Debian's libcurl has zlib). */
	assert_non_null(strstr(json_string_value(json_object_get(hdrs, "accept-encoding")),
			       "gzip"));
	assert_null(json_object_get(hdrs, "expect"));
	outcome_release(&o);
	/* The caller's replace ours; sent once each (the server keeps the last
	 * of a repeated name, and ours would come after the caller's). */
	call_path(fx, "http.post", "/echo",
		  "\"headers\": {\"user-agent\": \"probe/1\", \"Accept-Encoding\": \"identity\"}, "
		  "\"body\": {\"a\": 1}",
		  &o);
	hdrs = json_object_get(body_of(&o), "headers");
	assert_string_equal(json_string_value(json_object_get(hdrs, "user-agent")), "probe/1");
	assert_string_equal(json_string_value(json_object_get(hdrs, "accept-encoding")),
			    "identity");
	assert_string_equal(json_string_value(json_object_get(hdrs, "content-type")),
			    "application/json");
	assert_null(json_object_get(hdrs, "expect"));
	outcome_release(&o);
	/* Only one named: the other is still ours. */
	call_path(fx, "http.delete", "/echo", "\"headers\": {\"User-Agent\": \"probe/2\"}", &o);
	hdrs = json_object_get(body_of(&o), "headers");
	assert_string_equal(json_string_value(json_object_get(hdrs, "user-agent")), "probe/2");
	assert_non_null(strstr(json_string_value(json_object_get(hdrs, "accept-encoding")),
			       "gzip"));
	outcome_release(&o);
	call_path(fx, "http.get", "/echo", "\"headers\": {\"accept-encoding\": \"br\"}", &o);
	hdrs = json_object_get(body_of(&o), "headers");
	assert_string_equal(json_string_value(json_object_get(hdrs, "user-agent")),
			    "onex/" ONEX_VERSION);
	assert_string_equal(json_string_value(json_object_get(hdrs, "accept-encoding")), "br");
	outcome_release(&o);
}

static void test_request_validation(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	open_handler(fx, "{\"type\": \"http\", \"config\": {\"request_body_bytes_max\": 100}}");
	call(fx, "http.get", "{\"headers\": {}}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, "payload.url is required");
	call(fx, "http.get", NULL, &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, "payload.url is required");
	call(fx, "http.get", "{\"url\": \"http://127.0.0.1:1/\", \"headers\": [1]}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, "payload.headers must be an object");
	call(fx, "http.get", "{\"url\": \"file:///etc/passwd\"}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
		      "payload.url must be an http:// or https:// URL");
	call(fx, "http.get", "{\"url\": \"http://exa mple/\"}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, "payload.url is not a valid URL");
	/* The last valid URL is remembered, an invalid one never is. */
	call(fx, "http.get", "{\"url\": \"http://exa mple/\"}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, "payload.url is not a valid URL");
	call(fx, "http.get", "{\"url\": \"file:///etc/passwd\"}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
		      "payload.url must be an http:// or https:// URL");
	call(fx, "http.get",
	     "{\"url\": \"http://127.0.0.1:1/\", \"headers\": {\"X-A\": \"1\\r\\nX-Evil: 2\"}}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
		      "payload.headers.X-A must not contain CR, LF or NUL");
	call(fx, "http.get", "{\"url\": \"http://127.0.0.1:1/\", \"headers\": {\"X-A\": {}}}", &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, "payload.headers.X-A must be a string");
	call(fx, "http.head", "{\"url\": \"http://127.0.0.1:1/\"}", &o);
	assert_int_equal(o.error.code, ONEX_ERR_INVALID_OPERATION);
	assert_string_equal(o.error.text, "Operation 'http.head' not supported. Available: "
					  "http.delete, http.get, http.patch, http.post, http.put");
	/* Request body over the configured limit: refused before sending. */
	char extra[300];
	snprintf(extra, sizeof(extra), "\"body\": \"%0200d\"", 0);
	call_path(fx, "http.post", "/echo", extra, &o);
	assert_failed(&o, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
		      "payload.body is 200 bytes, over the request body limit of 100 bytes");
	assert_int_equal(http_server_connections(&fx->srv), 0);
}

/* ---- failures ------------------------------------------------------------------ */

static void test_timeout(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	open_handler(fx, "{\"type\": \"http\", \"config\": {\"timeout_ms\": 200}}");
	call_path(fx, "http.get", "/slow/3000", NULL, &o);
	assert_failed(&o, ONEX_ERR_TIMEOUT, "HTTP GET request timed out after 0.2s");
	assert_true(o.done_ns - o.started_ns >= MS(190));
	assert_true(o.done_ns - o.started_ns < MS(1500));
	/*
	 * Without config.timeout_ms the unit's limit is the host's deadline (the
	 * entry's timeout_ms) + 1 s: the host answers first, this only cleans up.
	 */
	open_handler(fx, "{\"type\": \"http\", \"timeout_ms\": 300}");
	call_path(fx, "http.post", "/slow/3000", "\"body\": \"x\"", &o);
	assert_failed(&o, ONEX_ERR_TIMEOUT, "HTTP POST request timed out after 1.3s");
	json_t *health = onex_handler_health_check(fx->h);
	assert_int_equal(json_integer_value(json_object_get(health, "timeouts")), 1);
	json_decref(health);
}

static void test_connection_refused_hides_credentials(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	char url[128], payload[256], want[256];
	unsigned short port = http_server_closed_port();
	assert_true(port != 0);
	open_handler(fx, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)port);
	snprintf(payload, sizeof(payload), "{\"url\": \"%s\"}", url);
	call(fx, "http.get", payload, &o);
	snprintf(want, sizeof(want), "Failed to connect to %s", url);
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
	/* user:password in the URL never reaches a message. */
	snprintf(payload, sizeof(payload),
		 "{\"url\": \"http://alice:s3cret@127.0.0.1:%u/x?q=1\"}", (unsigned)port);
	call(fx, "http.delete", payload, &o);
	snprintf(want, sizeof(want), "Failed to connect to http://***@127.0.0.1:%u/x?q=1",
		 (unsigned)port);
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
	assert_null(strstr(o.error.text, "s3cret"));
	assert_null(strstr(o.error.text, "alice"));
}

static void test_connection_reset(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	char want[256], url[128];
	open_handler(fx, NULL);
	call_path(fx, "http.get", "/reset", NULL, &o);
	assert_false(o.ok);
	assert_int_equal(o.error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	snprintf(want, sizeof(want), "HTTP GET request to %s failed: ",
		 http_server_url(&fx->srv, "/reset", url, sizeof(url)));
	if (strncmp(o.error.text, want, strlen(want)) != 0)
		fail_msg("unexpected message: %s", o.error.text);
	assert_true(o.error.backend_code != 0); /* the CURLcode */
	/* The handler is still fine afterwards. */
	call_path(fx, "http.get", "/text", NULL, &o);
	assert_true(o.ok);
	outcome_release(&o);
}

static void test_response_limit(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	char want[256], url[128];
	open_handler(fx, "{\"type\": \"http\", \"config\": {\"response_body_bytes_max\": 1000}}");
	/* Declared by Content-Length. */
	call_path(fx, "http.get", "/big/5000", NULL, &o);
	snprintf(want, sizeof(want),
		 "HTTP GET request to %s failed: the response body exceeds the limit of 1000 bytes",
		 http_server_url(&fx->srv, "/big/5000", url, sizeof(url)));
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
	/* Found while streaming (chunked, no Content-Length). */
	call_path(fx, "http.get", "/stream/5000", NULL, &o);
	snprintf(want, sizeof(want),
		 "HTTP GET request to %s failed: the response body exceeds the limit of 1000 bytes",
		 http_server_url(&fx->srv, "/stream/5000", url, sizeof(url)));
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
	/* Exactly at the limit is fine, both ways. */
	call_path(fx, "http.get", "/big/1000", NULL, &o);
	assert_true(o.ok);
	assert_int_equal(json_string_length(body_of(&o)), 1000);
	outcome_release(&o);
	call_path(fx, "http.get", "/stream/1000", NULL, &o);
	assert_true(o.ok);
	assert_int_equal(json_string_length(body_of(&o)), 1000);
	outcome_release(&o);
}

static void test_redirects(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	char want[256], url[128];
	open_handler(fx, "{\"type\": \"http\", \"config\": {\"redirects_max\": 3}}");
	call_path(fx, "http.get", "/redirect", NULL, &o);
	assert_true(o.ok);
	assert_int_equal(status_of(&o), 200);
	assert_string_equal(header_of(&o, "x-test-header"), "Yes"); /* the final response's */
	assert_null(header_of(&o, "location"));
	assert_string_equal(json_string_value(json_object_get(body_of(&o), "hello")), "world");
	outcome_release(&o);
	call_path(fx, "http.get", "/redirect-loop", NULL, &o);
	snprintf(want, sizeof(want), "HTTP GET request to %s failed: more than 3 redirects",
		 http_server_url(&fx->srv, "/redirect-loop", url, sizeof(url)));
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
}

/* ---- connections, concurrency, lifecycle ---------------------------------------- */

static void test_connection_reuse(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	open_handler(fx, NULL);
	for (int i = 0; i < 5; i++) {
		call_path(fx, "http.get", "/json", NULL, &o);
		assert_true(o.ok);
		outcome_release(&o);
	}
	assert_int_equal(http_server_connections(&fx->srv), 1);
	json_t *health = onex_handler_health_check(fx->h);
	assert_int_equal(json_integer_value(json_object_get(health, "connections_opened")), 1);
	assert_int_equal(json_integer_value(json_object_get(health, "succeeded")), 5);
	assert_int_equal(json_integer_value(json_object_get(health, "in_flight")), 0);
	json_decref(health);
}

static void test_concurrent_calls_do_not_block(void **state)
{
	struct fixture *fx = *state;
	struct outcome o[4];
	char url[128], payload[256];
	open_handler(fx, NULL);
	uint64_t t0 = onex_loop_now_ns(fx->loop);
	for (int i = 0; i < 4; i++) {
		snprintf(payload, sizeof(payload), "{\"url\": \"%s\"}",
			 http_server_url(&fx->srv, "/slow/400", url, sizeof(url)));
		start(fx, "http.get", payload, &o[i]);
	}
	run(fx);
	uint64_t elapsed = onex_loop_now_ns(fx->loop) - t0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_true(o[i].ok);
		outcome_release(&o[i]);
	}
	/* Four 400 ms calls at once: well under 4 x 400 ms. */
	assert_true(elapsed < MS(1200));
	assert_int_equal(http_server_connections(&fx->srv), 4);
}

struct shutdown_ctx {
	struct fixture *fx;
	int refused;
};

static void shutdown_now(void *arg)
{
	struct shutdown_ctx *ctx = arg;
	struct onex_envelope req;
	struct onex_error err;
	onex_handler_shutdown(ctx->fx->h);
	/* Nothing is accepted after shutdown. */
	memset(&req, 0, sizeof(req));
	req.operation = "http.get";
	onex_error_clear(&err);
	ctx->refused = onex_handler_execute(ctx->fx->h, &req, on_done, NULL, &err) < 0;
}

static void test_shutdown_with_request_in_flight(void **state)
{
	struct fixture *fx = *state;
	struct outcome o;
	struct shutdown_ctx ctx = { fx, 0 };
	char url[128], payload[256], want[256];
	open_handler(fx, NULL);
	http_server_url(&fx->srv, "/slow/5000", url, sizeof(url));
	snprintf(payload, sizeof(payload), "{\"url\": \"%s\"}", url);
	start(fx, "http.get", payload, &o);
	assert_int_equal(onex_loop_timer_add(fx->loop, MS(100), shutdown_now, &ctx, NULL, NULL), 0);
	run(fx);
	assert_int_equal(o.calls, 1);
	snprintf(want, sizeof(want),
		 "HTTP GET request to %s was cancelled: the http handler shut down", url);
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
	assert_true(o.done_ns - o.started_ns < MS(2000));
	assert_true(ctx.refused);
	/* Run on a little: no second done, nothing left watched. */
	fx->pending = 1;
	assert_int_equal(onex_loop_timer_add(fx->loop, MS(200), on_watchdog, fx, NULL, NULL), 0);
	onex_loop_run(fx->loop);
	assert_int_equal(o.calls, 1);
	json_t *health = onex_handler_health_check(fx->h);
	assert_false(json_is_true(json_object_get(health, "healthy")));
	assert_int_equal(json_integer_value(json_object_get(health, "cancelled")), 1);
	json_decref(health);
}

/* A loop that forwards to the epoll loop but can refuse descriptors. */
struct refusing_loop {
	struct onex_loop base;
	struct onex_loop *inner;
	int refuse;
};

static struct onex_loop *inner_of(struct onex_loop *l)
{
	return ((struct refusing_loop *)l)->inner;
}

static uint64_t rl_now(struct onex_loop *l)
{
	return onex_loop_now_ns(inner_of(l));
}

static int rl_timer_add(struct onex_loop *l, uint64_t delay_ns, onex_loop_timer_cb cb,
			void *arg, uint64_t *id, struct onex_error *err)
{
	return onex_loop_timer_add(inner_of(l), delay_ns, cb, arg, id, err);
}

static int rl_timer_cancel(struct onex_loop *l, uint64_t id)
{
	return onex_loop_timer_cancel(inner_of(l), id);
}

static int rl_fd_watch(struct onex_loop *l, int fd, unsigned events, onex_loop_fd_cb cb,
		       void *arg, struct onex_error *err)
{
	if (((struct refusing_loop *)l)->refuse)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "test loop", 0, 0,
				      "descriptor %d refused", fd);
	return onex_loop_fd_watch(inner_of(l), fd, events, cb, arg, err);
}

static int rl_fd_unwatch(struct onex_loop *l, int fd)
{
	return onex_loop_fd_unwatch(inner_of(l), fd);
}

static int rl_run(struct onex_loop *l)
{
	return onex_loop_run(inner_of(l));
}

static void rl_stop(struct onex_loop *l)
{
	onex_loop_stop(inner_of(l));
}

static void rl_free(struct onex_loop *l)
{
	(void)l;
}

static const struct onex_loop_ops refusing_loop_ops = {
	"refusing", rl_now, rl_timer_add, rl_timer_cancel, rl_fd_watch, rl_fd_unwatch,
	rl_run, rl_stop, rl_free,
};

static void test_loop_refuses_descriptor(void **state)
{
	struct fixture *fx = *state;
	struct refusing_loop rl = { { &refusing_loop_ops }, fx->loop, 1 };
	struct outcome o;
	char url[128], want[256];
	/* The handler sees only the refusing loop; the harness drives the inner one. */
	fx->loop = &rl.base;
	open_handler(fx, NULL);
	fx->loop = rl.inner;
	call_path(fx, "http.get", "/json", NULL, &o);
	snprintf(want, sizeof(want),
		 "HTTP GET request to %s failed: the event loop cannot watch another connection",
		 http_server_url(&fx->srv, "/json", url, sizeof(url)));
	assert_failed(&o, ONEX_ERR_HANDLER_EXECUTION_ERROR, want);
	/* Once the loop accepts descriptors again, calls work. */
	rl.refuse = 0;
	call_path(fx, "http.get", "/json", NULL, &o);
	assert_true(o.ok);
	outcome_release(&o);
	onex_handler_free(fx->h); /* before rl goes out of scope */
	fx->h = NULL;
}

/* ---- configuration and description -------------------------------------------------- */

static void test_config_errors(void **state)
{
	struct fixture *fx = *state;
	static const char *const bad[] = {
		"{\"type\": \"http\", \"config\": {\"stubs\": []}}",
		"{\"type\": \"http\", \"config\": {\"timeout_ms\": 0}}",
		"{\"type\": \"http\", \"config\": {\"timeout_ms\": \"5s\"}}",
		"{\"type\": \"http\", \"config\": {\"connections_max\": 100000}}",
		"{\"type\": \"http\", \"config\": [1]}",
	};
	struct onex_handler_env env = { fx->loop, fx->clock, NULL, NULL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct onex_error err;
		json_t *entry = json_loads(bad[i], 0, NULL);
		onex_error_clear(&err);
		struct onex_handler *h = onex_curl_http_unit.create(&env, &err);
		assert_non_null(h);
		assert_int_equal(onex_handler_initialize(h, entry, &err), -1);
		assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
		json_decref(entry);
		onex_handler_free(h);
	}
}

static void test_describe_and_health(void **state)
{
	struct fixture *fx = *state;
	open_handler(fx, "{\"type\": \"http\", \"timeout_ms\": 1000, \"config\": "
			 "{\"timeout_ms\": 2500, \"connections_max\": 4}}");
	json_t *d = onex_handler_describe(fx->h);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "http");
	assert_string_equal(json_string_value(json_object_get(d, "unit")), "libcurl");
	assert_int_equal(json_array_size(json_object_get(d, "operations")), 5);
	assert_string_equal(json_string_value(json_array_get(json_object_get(d,
		"required_payload_fields"), 0)), "url");
	assert_string_equal(json_string_value(json_object_get(json_object_get(d,
		"response_shape"), "status_code")), "integer");
	assert_non_null(json_object_get(d, "version"));
	assert_int_equal(json_integer_value(json_object_get(d, "timeout_ms")), 2500);
	json_t *limits = json_object_get(d, "limits");
	assert_int_equal(json_integer_value(json_object_get(limits, "request_body_bytes_max")),
			 10 * 1024 * 1024);
	assert_int_equal(json_integer_value(json_object_get(limits, "response_body_bytes_max")),
			 50 * 1024 * 1024);
	assert_int_equal(json_integer_value(json_object_get(limits, "connections_max")), 4);
	json_decref(d);
	json_t *health = onex_handler_health_check(fx->h);
	assert_true(json_is_true(json_object_get(health, "healthy")));
	assert_string_equal(json_string_value(json_object_get(health, "handler_type")), "http");
	json_decref(health);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_get_json_lowercases_headers),
		T(test_text_and_invalid_json_are_text),
		T(test_non_2xx_is_success),
		T(test_every_operation),
		T(test_request_bodies),
		T(test_default_request_headers),
		T(test_request_validation),
		T(test_timeout),
		T(test_connection_refused_hides_credentials),
		T(test_connection_reset),
		T(test_response_limit),
		T(test_redirects),
		T(test_connection_reuse),
		T(test_concurrent_calls_do_not_block),
		T(test_shutdown_with_request_in_flight),
		T(test_loop_refuses_descriptor),
		T(test_config_errors),
		T(test_describe_and_health),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
