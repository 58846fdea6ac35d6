/*
 * fake_http.c - stub-driven http handler on the loop port (see fake_http.h).
 *
 * execute() decides the outcome at once (the request is matched as sent)
 * and schedules its delivery at now + latency; the call record keeps the
 * result until then. Nothing here reads the wall clock or any descriptor.
 */
#include "fake_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handler_type.h"
#include "limits.h"
#include "loop.h"

#define UNIT "sim-http"
#define NS_PER_MS UINT64_C(1000000)

enum stub_error { STUB_ANSWER, STUB_TIMEOUT, STUB_CONNECT };

struct stub {
	char method[8];
	char *url;
	json_t *body; /* to match; NULL = any body */
	int status;
	json_t *headers; /* lower-cased names */
	json_t *resp_body;
	uint64_t latency_ns;
	enum stub_error error;
};

struct call {
	struct fake_http *self;
	onex_handler_done_cb done;
	void *done_arg;
	struct onex_handler_result result;
	uint64_t timer_id;
	struct call *prev, *next;
};

struct fake_http {
	struct onex_handler base; /* first: the handler port */
	struct stub *stubs;
	size_t nstubs;
	uint64_t timeout_ms;
	enum onex_fake_http_fault fault;
	uint64_t extra_latency_ns;
	uint64_t requests;
	size_t unmatched;
	char unmatched_first[ONEX_ERROR_TEXT_BYTES];
	struct call *calls; /* scheduled, not yet delivered */
};

/* Operation -> method: the handler's dispatch table. */
static const struct {
	const char *operation;
	const char *method;
} methods[] = {
	{ "http.get", "GET" },	   { "http.post", "POST" },   { "http.put", "PUT" },
	{ "http.delete", "DELETE" }, { "http.patch", "PATCH" },
};

static const struct onex_handler_ops fake_http_ops;

static struct fake_http *http_self(const struct onex_handler *h)
{
	if (!h || h->ops != &fake_http_ops)
		ONEX_BUG("not a sim-http handler");
	return (struct fake_http *)h;
}

static const char *method_for(const char *operation)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (operation && strcmp(methods[i].operation, operation) == 0)
			return methods[i].method;
	return NULL;
}

/* ---- stubs -------------------------------------------------------------------- */

static void stub_release(struct stub *s)
{
	free(s->url);
	json_decref(s->body);
	json_decref(s->headers);
	json_decref(s->resp_body);
	memset(s, 0, sizeof(*s));
}

static int stub_fail(struct onex_error *err, size_t i, const char *what)
{
	return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
			      "stubs[%zu]%s", i, what);
}

static int keys_allowed(const json_t *obj, const char *const *allowed, size_t i,
			const char *where, struct onex_error *err)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		const char *const *a = allowed;
		while (*a && strcmp(*a, key) != 0)
			a++;
		if (!*a)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT,
					      0, 0, "stubs[%zu]%s: unknown field '%s'", i,
					      where, key);
	}
	return 0;
}

static int contains_json(const char *content_type)
{
	for (const char *p = content_type; *p; p++)
		if (strncasecmp(p, "json", 4) == 0)
			return 1;
	return 0;
}

/* Response headers with lower-cased names; the final response body. */
static int stub_response(struct stub *s, const json_t *resp, size_t i,
			 struct onex_error *err)
{
	static const char *const allowed[] = { "status", "headers", "body", NULL };
	const json_t *status = json_object_get(resp, "status");
	const json_t *headers = json_object_get(resp, "headers");
	const json_t *body = json_object_get(resp, "body");
	const char *key, *ctype = "";
	const json_t *v;
	if (keys_allowed(resp, allowed, i, ".response", err) < 0)
		return -1;
	s->status = 200;
	if (status) {
		if (!json_is_integer(status) || json_integer_value(status) < 100 ||
		    json_integer_value(status) > 599)
			return stub_fail(err, i, ".response.status must be an integer from 100 to 599");
		s->status = (int)json_integer_value(status);
	}
	if (headers && !json_is_object(headers))
		return stub_fail(err, i, ".response.headers must be an object");
	s->headers = json_object();
	json_object_foreach((json_t *)headers, key, v) {
		char lower[256];
		size_t n = strlen(key);
		if (!json_is_string(v))
			return stub_fail(err, i, ".response.headers values must be strings");
		if (n >= sizeof(lower))
			return stub_fail(err, i, ".response.headers: a name is too long");
		for (size_t k = 0; k <= n; k++)
			lower[k] = (char)tolower((unsigned char)key[k]);
		json_object_set_new(s->headers, lower, json_deep_copy(v));
		if (strcmp(lower, "content-type") == 0)
			ctype = json_string_value(v);
	}
	/*
	 * What a real server sends and libcurl returns (the differential test,
	 * docs/BACKENDS.md "Simulation equals reality"): the body's bytes are the
	 * string as written, anything else as compact JSON, nothing for null or
	 * absent; the reply's body is those bytes parsed when the content type
	 * names JSON and they parse, else the text ("" for no body); and the
	 * response carries content-length, except for 204 and 304.
	 */
	char *text = NULL;
	size_t len = 0;
	if (json_is_string(body)) {
		len = json_string_length(body);
		text = malloc(len + 1);
		if (text)
			memcpy(text, json_string_value(body), len + 1);
	} else if (body && !json_is_null(body)) {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		len = text ? strlen(text) : 0;
	}
	if (body && !json_is_null(body) && !text)
		return stub_fail(err, i, ".response.body: out of memory");
	if (len && contains_json(ctype))
		s->resp_body = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	if (!s->resp_body)
		s->resp_body = json_stringn(text ? text : "", len);
	free(text);
	if (!s->resp_body)
		return stub_fail(err, i, ".response.body is not valid UTF-8 text");
	if (s->status != 204 && s->status != 304 && !json_object_get(s->headers, "content-length")) {
		char n[32];
		snprintf(n, sizeof(n), "%zu", len);
		json_object_set_new(s->headers, "content-length", json_string(n));
	}
	return 0;
}

static int stub_latency(struct stub *s, const json_t *latency, size_t i,
			struct onex_error *err)
{
	double ms;
	if (!latency)
		return 0;
	if (!json_is_number(latency))
		return stub_fail(err, i, ".latency_ms must be a number");
	ms = json_number_value(latency);
	if (!(ms >= 0 && ms <= ONEX_FAKE_HTTP_LATENCY_MS_MAX))
		return stub_fail(err, i, ".latency_ms must be from 0 to 86400000");
	s->latency_ns = json_is_integer(latency)
				? (uint64_t)json_integer_value(latency) * NS_PER_MS
				: (uint64_t)(ms * 1e6);
	return 0;
}

static int stub_parse(struct stub *s, const json_t *j, size_t i, struct onex_error *err)
{
	static const char *const allowed[] = { "method", "url", "body", "response",
					       "latency_ms", "error", "name",
					       "description", NULL };
	const json_t *method = json_object_get(j, "method");
	const json_t *url = json_object_get(j, "url");
	const json_t *resp = json_object_get(j, "response");
	const json_t *error = json_object_get(j, "error");
	const json_t *body = json_object_get(j, "body");
	size_t n;
	memset(s, 0, sizeof(*s));
	if (!json_is_object(j))
		return stub_fail(err, i, " must be an object");
	if (keys_allowed(j, allowed, i, "", err) < 0)
		return -1;
	if (!json_is_string(method) || (n = strlen(json_string_value(method))) == 0 ||
	    n >= sizeof(s->method))
		return stub_fail(err, i, ".method is required (GET, POST, PUT, DELETE, PATCH)");
	for (size_t k = 0; k <= n; k++)
		s->method[k] = (char)toupper((unsigned char)json_string_value(method)[k]);
	if (!strcmp(s->method, "GET") + !strcmp(s->method, "POST") +
		    !strcmp(s->method, "PUT") + !strcmp(s->method, "DELETE") +
		    !strcmp(s->method, "PATCH") ==
	    0)
		return stub_fail(err, i, ".method must be GET, POST, PUT, DELETE or PATCH");
	if (!json_is_string(url) || json_string_value(url)[0] == '\0')
		return stub_fail(err, i, ".url is required");
	if (!(s->url = strdup(json_string_value(url))))
		return stub_fail(err, i, ": out of memory");
	s->body = body ? json_deep_copy(body) : NULL;
	if (error) {
		const char *e = json_is_string(error) ? json_string_value(error) : "";
		if (strcmp(e, "timeout") == 0)
			s->error = STUB_TIMEOUT;
		else if (strcmp(e, "connect") == 0)
			s->error = STUB_CONNECT;
		else
			return stub_fail(err, i, ".error must be \"timeout\" or \"connect\"");
	}
	if (resp && !json_is_object(resp))
		return stub_fail(err, i, ".response must be an object");
	if (!resp && !error)
		return stub_fail(err, i, ".response is required (or an error)");
	if (stub_response(s, resp, i, err) < 0) /* resp may be NULL: defaults */
		return -1;
	return stub_latency(s, json_object_get(j, "latency_ms"), i, err);
}

int onex_fake_http_add_stubs(struct onex_handler *h, const json_t *stubs,
			     struct onex_error *err)
{
	struct fake_http *self = http_self(h);
	size_t count = json_array_size(stubs);
	struct stub *grown;
	if (!json_is_array(stubs))
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "stubs must be a list");
	if (count > ONEX_FAKE_HTTP_STUBS_MAX - self->nstubs)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "too many stubs (more than %u, ONEX_FAKE_HTTP_STUBS_MAX)",
				      ONEX_FAKE_HTTP_STUBS_MAX);
	if (!count)
		return 0;
	grown = realloc(self->stubs, (self->nstubs + count) * sizeof(*grown));
	if (!grown)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "out of memory");
	self->stubs = grown;
	for (size_t i = 0; i < count; i++) {
		if (stub_parse(&self->stubs[self->nstubs + i], json_array_get(stubs, i),
			       self->nstubs + i, err) < 0) {
			/* All or nothing: drop the ones parsed in this call. */
			for (size_t k = 0; k <= i; k++)
				stub_release(&self->stubs[self->nstubs + k]);
			return -1;
		}
	}
	self->nstubs += count;
	return 0;
}

/* ---- matching ----------------------------------------------------------------- */

/* want (structured) vs got (a string that may hold JSON text). */
static int string_holds(const json_t *want, const json_t *got_string)
{
	json_t *parsed = json_loadb(json_string_value(got_string),
				    json_string_length(got_string), JSON_DECODE_ANY, NULL);
	int eq = parsed && json_equal(want, parsed);
	json_decref(parsed);
	return eq;
}

static int body_matches(const json_t *want, const json_t *got)
{
	if (!want)
		return 1;
	if (!got)
		return json_is_null(want);
	if (json_equal(want, got))
		return 1;
	if (json_is_string(got) && !json_is_string(want))
		return string_holds(want, got);
	if (json_is_string(want) && !json_is_string(got))
		return string_holds(got, want);
	return 0;
}

static const struct stub *find_stub(const struct fake_http *self, const char *method,
				    const char *url, const json_t *body)
{
	for (size_t i = 0; i < self->nstubs; i++) {
		const struct stub *s = &self->stubs[i];
		if (strcmp(s->method, method) == 0 && strcmp(s->url, url) == 0 &&
		    body_matches(s->body, body))
			return s;
	}
	return NULL;
}

/* Levenshtein distance of the first ONEX_FAKE_HTTP_URL_COMPARE_BYTES_MAX bytes. */
static size_t edit_distance(const char *a, const char *b)
{
	static const size_t cap = ONEX_FAKE_HTTP_URL_COMPARE_BYTES_MAX;
	uint32_t rows[2][ONEX_FAKE_HTTP_URL_COMPARE_BYTES_MAX + 1];
	size_t na = strnlen(a, cap), nb = strnlen(b, cap);
	uint32_t *prev = rows[0], *cur = rows[1];
	for (size_t j = 0; j <= nb; j++)
		prev[j] = (uint32_t)j;
	for (size_t i = 1; i <= na; i++) {
		cur[0] = (uint32_t)i;
		for (size_t j = 1; j <= nb; j++) {
			uint32_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			uint32_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		uint32_t *t = prev;
		prev = cur;
		cur = t;
	}
	return prev[nb];
}

static void record_unmatched(struct fake_http *self, const char *method, const char *url)
{
	const struct stub *best = NULL;
	size_t best_d = 0;
	if (self->unmatched++)
		return; /* the first one is the one worth explaining */
	for (size_t i = 0; i < self->nstubs; i++) {
		size_t d = edit_distance(url, self->stubs[i].url);
		if (!best || d < best_d) {
			best = &self->stubs[i];
			best_d = d;
		}
	}
	if (best)
		snprintf(self->unmatched_first, sizeof(self->unmatched_first),
			 "no stub matches %s %s; closest stub: %s %s (edit distance %zu)",
			 method, url, best->method, best->url, best_d);
	else
		snprintf(self->unmatched_first, sizeof(self->unmatched_first),
			 "no stub matches %s %s; no stubs are defined", method, url);
}

/* ---- execution ------------------------------------------------------------------ */

static void call_complete(void *arg)
{
	struct call *c = arg;
	struct fake_http *self = c->self;
	if (c->prev)
		c->prev->next = c->next;
	else
		self->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->done(c->done_arg, &c->result); /* takes payload and error_extra */
	free(c);
}

static void fail_timeout(struct fake_http *self, struct onex_handler_result *r,
			 const char *method, uint64_t *delay_ns)
{
	onex_handler_result_fail(r, ONEX_ERR_TIMEOUT,
				 "HTTP %s request timed out after %.1fs", method,
				 (double)self->timeout_ms / 1000.0);
	*delay_ns = self->timeout_ms * NS_PER_MS;
}

static void answer(struct fake_http *self, const struct stub *s, const char *method,
		   const char *url, struct onex_handler_result *r, uint64_t *delay_ns)
{
	uint64_t latency = s->latency_ns + self->extra_latency_ns;
	if (s->error == STUB_TIMEOUT || latency >= self->timeout_ms * NS_PER_MS) {
		fail_timeout(self, r, method, delay_ns);
		return;
	}
	*delay_ns = latency;
	if (s->error == STUB_CONNECT) {
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "Failed to connect to %s", url);
		return;
	}
	/* Copies: the receiver may change its payload without touching the stub. */
	onex_handler_result_ok(r, json_pack("{s:i,s:o,s:o}", "status_code", s->status,
					    "headers", json_deep_copy(s->headers),
					    "body", json_deep_copy(s->resp_body)));
}

/* Decide the outcome of one request and when it is delivered. */
static void decide(struct fake_http *self, const struct onex_envelope *req,
		   struct onex_handler_result *r, uint64_t *delay_ns)
{
	const char *method = method_for(req->operation);
	const json_t *url_j = req->payload ? json_object_get(req->payload, "url") : NULL;
	const json_t *headers = req->payload ? json_object_get(req->payload, "headers") : NULL;
	const char *url;
	const struct stub *s;
	*delay_ns = 0;
	if (!method) {
		memset(r, 0, sizeof(*r));
		onex_error_clear(&r->error);
		onex_handler_invalid_operation(&r->error, ONEX_HANDLER_HTTP,
					       req->operation ? req->operation : "");
		return;
	}
	if (!json_is_string(url_j) || json_string_value(url_j)[0] == '\0') {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.url is required");
		return;
	}
	if (headers && !json_is_object(headers) && !json_is_null(headers)) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.headers must be an object");
		return;
	}
	url = json_string_value(url_j);
	if (self->fault == ONEX_FAKE_HTTP_FAULT_TIMEOUT) {
		fail_timeout(self, r, method, delay_ns);
	} else if (self->fault == ONEX_FAKE_HTTP_FAULT_ERROR) {
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "Failed to connect to %s", url);
		*delay_ns = self->extra_latency_ns;
	} else if ((s = find_stub(self, method, url, json_object_get(req->payload, "body")))) {
		answer(self, s, method, url, r, delay_ns);
	} else {
		record_unmatched(self, method, url);
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "no stub matches %s %s", method, url);
		*delay_ns = self->extra_latency_ns;
	}
}

static void http_execute(struct onex_handler *h, const struct onex_envelope *req,
			 onex_handler_done_cb done, void *done_arg)
{
	struct fake_http *self = http_self(h);
	struct call *c = calloc(1, sizeof(*c));
	struct onex_error err;
	uint64_t delay_ns;
	if (!c)
		ONEX_BUG("sim-http: out of memory");
	self->requests++;
	c->self = self;
	c->done = done;
	c->done_arg = done_arg;
	decide(self, req, &c->result, &delay_ns);
	onex_error_clear(&err);
	/* The host bounds calls in flight well below the loop's timer bound, so
	 * a full loop here is a broken invariant, not a runtime condition. */
	if (onex_loop_timer_add(h->env.loop, delay_ns, call_complete, c, &c->timer_id,
				&err) < 0)
		ONEX_BUG("sim-http: cannot schedule a completion: %s", err.text);
	c->next = self->calls;
	if (c->next)
		c->next->prev = c;
	self->calls = c;
}

/* ---- lifecycle and reports -------------------------------------------------------- */

static int http_initialize(struct onex_handler *h, const json_t *config,
			   struct onex_error *err)
{
	struct fake_http *self = http_self(h);
	const json_t *conf = json_object_get(config, "config");
	const json_t *timeout = json_object_get(conf, "timeout_ms");
	const json_t *stubs = json_object_get(conf, "stubs");
	if (conf && !json_is_object(conf))
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "http handler config must be a mapping");
	if (timeout) {
		if (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
		    json_integer_value(timeout) > ONEX_FAKE_HTTP_TIMEOUT_MS_MAX)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT,
					      0, 0,
					      "config.timeout_ms must be an integer from 1 to %u",
					      ONEX_FAKE_HTTP_TIMEOUT_MS_MAX);
	}
	self->timeout_ms = onex_handler_unit_timeout_ms(config);
	if (stubs && onex_fake_http_add_stubs(h, stubs, err) < 0)
		return -1;
	return 0;
}

static const char *fault_name(enum onex_fake_http_fault f)
{
	return f == ONEX_FAKE_HTTP_FAULT_ERROR	 ? "error"
	       : f == ONEX_FAKE_HTTP_FAULT_TIMEOUT ? "timeout"
						   : "none";
}

static json_t *http_health(struct onex_handler *h)
{
	struct fake_http *self = http_self(h);
	return json_pack("{s:s,s:I,s:I,s:I,s:s}", "handler_type", "http",
			 "stubs", (json_int_t)self->nstubs,
			 "requests", (json_int_t)self->requests,
			 "unmatched", (json_int_t)self->unmatched,
			 "fault", fault_name(self->fault));
}

static json_t *http_describe(const struct onex_handler *h)
{
	const struct fake_http *self = http_self(h);
	json_t *ops = json_array();
	for (const char *const *op = onex_handler_type_operations(ONEX_HANDLER_HTTP); *op; op++)
		json_array_append_new(ops, json_string(*op));
	return json_pack("{s:s,s:s,s:o,s:[s],s:[s,s],s:{s:s,s:s,s:s},s:I,s:s}",
			 "type", "http", "unit", UNIT, "operations", ops,
			 "required_payload_fields", "url",
			 "optional_payload_fields", "headers", "body",
			 "response_shape", "status_code", "integer", "headers", "object",
			 "body", "any", "timeout_ms", (json_int_t)self->timeout_ms,
			 "version", "0.1.0");
}

static void http_shutdown(struct onex_handler *h)
{
	/* Calls already scheduled still complete: the host drains them. */
	(void)h;
}

static void http_free(struct onex_handler *h)
{
	struct fake_http *self = http_self(h);
	while (self->calls) {
		struct call *c = self->calls;
		self->calls = c->next;
		onex_loop_timer_cancel(h->env.loop, c->timer_id);
		onex_handler_result_release(&c->result);
		free(c);
	}
	for (size_t i = 0; i < self->nstubs; i++)
		stub_release(&self->stubs[i]);
	free(self->stubs);
	free(self);
}

static const struct onex_handler_ops fake_http_ops = {
	.type = ONEX_HANDLER_HTTP,
	.unit_name = UNIT,
	.initialize = http_initialize,
	.execute = http_execute,
	.health_check = http_health,
	.describe = http_describe,
	.shutdown = http_shutdown,
	.free = http_free,
};

static struct onex_handler *http_create(const struct onex_handler_env *env,
					struct onex_error *err)
{
	struct fake_http *self;
	if (!env || !env->loop)
		ONEX_BUG("sim-http needs a loop");
	if (!(self = calloc(1, sizeof(*self)))) {
		onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
			       "out of memory");
		return NULL;
	}
	onex_handler_base_init(&self->base, &fake_http_ops, env);
	self->timeout_ms = ONEX_HANDLER_TIMEOUT_MS_DEFAULT;
	return &self->base;
}

const struct onex_handler_unit onex_fake_http_unit = {
	.type = ONEX_HANDLER_HTTP,
	.unit_name = UNIT,
	.create = http_create,
};

size_t onex_fake_http_unmatched(const struct onex_handler *h, const char **first)
{
	const struct fake_http *self = http_self(h);
	if (first)
		*first = self->unmatched ? self->unmatched_first : NULL;
	return self->unmatched;
}

void onex_fake_http_set_fault(struct onex_handler *h, enum onex_fake_http_fault fault,
			      uint64_t extra_latency_ns)
{
	struct fake_http *self = http_self(h);
	self->fault = fault;
	self->extra_latency_ns = extra_latency_ns;
}

uint64_t onex_fake_http_request_count(const struct onex_handler *h)
{
	return http_self(h)->requests;
}
