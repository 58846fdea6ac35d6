/*
 * test_kafka_bus.c - the Kafka bus unit against librdkafka's mock cluster
 * (tests/support/kafka_mock.h, a child process), driven by the real host
 * on the real epoll loop, with `kcat` as an independent client that writes
 * the requests and reads the replies and dead letters.
 *
 * Each test uses its own topics and consumer group. Consumers use
 * fetch_wait_max_ms 5: the mock answers a waiting fetch only when the
 * wait expires, so the default 500 ms would cost a second per round trip.
 *
 * ONEX_TEST_LOG=debug|info|warn shows the host's and the bus's log lines;
 * ONEX_TEST_FILTER='*dead*' runs only the matching tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"
#include "host.h"
#include "real/kafka_bus.h"
#include "kafka_mock.h"
#include "local_handler.h"
#include "spawn.h"
#include "system_units.h"

#define MS 1000000ull
#define KCAT "/usr/bin/kcat"

/*
 * Two clusters, both started before any handle of ours exists (see
 * kafka_mock.h): `mock` with one broker for most tests, `trio` with three
 * for moving partition leaders. `cur` is the one the world and kcat use.
 */
static struct kafka_mock mock, trio;
static struct kafka_mock *cur = &mock;
/* Bootstrap servers for the next world_open() instead of cur's (NULL: cur's). */
static const char *bootstrap_override;

/* ---- a slow handler (type http): answers after payload.delay_ms ------------ */

struct slow_call {
	struct slow_handler *h;
	struct slow_call *prev, *next;
	onex_handler_done_cb done;
	void *arg;
	json_t *payload;
	uint64_t timer;
};

struct slow_handler {
	struct onex_handler base;
	struct slow_call *calls;
	int executed;
};

static void slow_unlink(struct slow_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->h->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void slow_complete(void *arg)
{
	struct slow_call *c = arg;
	struct onex_handler_result r;
	slow_unlink(c);
	onex_handler_result_ok(&r, c->payload);
	c->done(c->arg, &r);
	onex_handler_result_release(&r);
	free(c);
}

static int slow_init(struct onex_handler *h, const json_t *config, struct onex_error *err)
{
	(void)h;
	(void)config;
	(void)err;
	return 0;
}

static void slow_execute(struct onex_handler *base, const struct onex_envelope *req,
			 onex_handler_done_cb done, void *arg)
{
	struct slow_handler *h = (struct slow_handler *)base;
	struct slow_call *c = calloc(1, sizeof(*c));
	json_int_t delay = json_integer_value(json_object_get(req->payload, "delay_ms"));
	c->h = h;
	c->done = done;
	c->arg = arg;
	c->payload = req->payload ? json_deep_copy(req->payload) : NULL;
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	h->executed++;
	onex_loop_timer_add(base->env.loop, (uint64_t)delay * MS, slow_complete, c, &c->timer,
			    NULL);
}

static json_t *slow_health(struct onex_handler *h)
{
	(void)h;
	return json_pack("{s:b}", "healthy", 1);
}

static json_t *slow_describe(const struct onex_handler *h)
{
	(void)h;
	return json_pack("{s:s,s:s}", "type", "http", "unit", "slow-test");
}

/* A host torn down mid-call: the calls are dropped, as a crash would. */
static void slow_shutdown(struct onex_handler *base)
{
	struct slow_handler *h = (struct slow_handler *)base;
	while (h->calls) {
		struct slow_call *c = h->calls;
		onex_loop_timer_cancel(base->env.loop, c->timer);
		slow_unlink(c);
		json_decref(c->payload);
		free(c);
	}
}

static void slow_free(struct onex_handler *h)
{
	slow_shutdown(h);
	free(h);
}

static const struct onex_handler_ops slow_ops = {
	.type = ONEX_HANDLER_HTTP,
	.unit_name = "slow-test",
	.initialize = slow_init,
	.execute = slow_execute,
	.health_check = slow_health,
	.describe = slow_describe,
	.shutdown = slow_shutdown,
	.free = slow_free,
};

static struct onex_handler *slow_create(const struct onex_handler_env *env,
					struct onex_error *err)
{
	struct slow_handler *h = calloc(1, sizeof(*h));
	(void)err;
	onex_handler_base_init(&h->base, &slow_ops, env);
	return &h->base;
}

static const struct onex_handler_unit slow_unit = { ONEX_HANDLER_HTTP, "slow-test",
						    slow_create };

static const struct onex_handler_unit *const handler_units[] = { &onex_local_handler_unit,
								  &slow_unit };
static const struct onex_bus_unit *const bus_units[] = { &onex_kafka_bus_unit };
static const struct onex_wiring wiring = { "test_kafka_bus", handler_units, 2, bus_units, 1 };

/* ---- the world: loop, clock, ids, log, contract, host ------------------------ */

struct world {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_ids *ids;
	struct onex_log *log;
	struct onex_runtime_contract *contract;
	struct onex_host *host;
	char in[96], out[96], dlq[112], group[64];
};

static enum onex_log_level test_log_level(void)
{
	const char *s = getenv("ONEX_TEST_LOG");
	if (!s)
		return ONEX_LOG_ERROR;
	return strcmp(s, "debug") == 0	 ? ONEX_LOG_DEBUG
	       : strcmp(s, "info") == 0 ? ONEX_LOG_INFO
					 : ONEX_LOG_WARN;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Topics onex.test.<name>.cmd.v1 / .evt.v1 (+ .dlq), group g-<name>;
 * extra_config (lines of event_bus.config) may set session_timeout_ms,
 * else it is 6000.
 */
static void world_open(struct world *w, const char *name, int partitions,
		       const char *extra_config)
{
	char text[4096];
	struct onex_contract_options copt = { 0, 0 };
	struct onex_error err;
	memset(w, 0, sizeof(*w));
	snprintf(w->in, sizeof(w->in), "onex.test.%s.cmd.v1", name);
	snprintf(w->out, sizeof(w->out), "onex.test.%s.evt.v1", name);
	snprintf(w->dlq, sizeof(w->dlq), "%s.dlq", w->in);
	snprintf(w->group, sizeof(w->group), "g-%s", name);
	assert_int_equal(kafka_mock_create_topic(cur, w->in, partitions), 0);
	assert_int_equal(kafka_mock_create_topic(cur, w->out, 1), 0);
	assert_int_equal(kafka_mock_create_topic(cur, w->dlq, 1), 0);
	onex_error_clear(&err);
	w->clock = onex_system_clock_new();
	w->ids = onex_uuid4_ids_new();
	w->log = onex_stderr_log_new(w->clock, test_log_level());
	w->loop = onex_epoll_loop_new(&err);
	assert_non_null(w->loop);
	snprintf(text, sizeof(text),
		 "schema_version: \"1.0.0\"\n"
		 "runtime:\n"
		 "  name: \"kafka_test\"\n"
		 "  version: \"1.0.0\"\n"
		 "  event_bus:\n"
		 "    kind: \"kafka\"\n"
		 "    config:\n"
		 "      bootstrap_servers: \"%s\"\n"
		 "      consumer_group: \"%s\"\n"
		 "      topics: { input: \"%s\", output: \"%s\" }\n"
		 "      fetch_wait_max_ms: 5\n"
		 "%s%s"
		 "  handlers:\n"
		 "    - type: \"local\"\n"
		 "    - type: \"http\"\n",
		 bootstrap_override ? bootstrap_override : cur->bootstrap, w->group, w->in, w->out, extra_config ? extra_config : "",
		 extra_config && strstr(extra_config, "session_timeout_ms")
			 ? ""
			 : "      session_timeout_ms: 6000\n");
	if (onex_runtime_contract_load_text(text, strlen(text), "kafka_test.yaml", ".", 0, &copt,
					    &w->contract, &err) < 0)
		fail_msg("contract: %s", err.text);
}

static void host_start(struct world *w, unsigned inflight)
{
	struct onex_host_env env = { w->loop, w->clock, w->ids, w->log, &wiring, NULL };
	struct onex_host_options opt = { .inflight_max = inflight, .shutdown_grace_s = 5 };
	struct onex_error err;
	onex_error_clear(&err);
	if (onex_host_new(&env, w->contract, &opt, &w->host, &err) < 0 ||
	    onex_host_start(w->host, &err) < 0)
		fail_msg("host: %s", err.text);
}

/* ---- running the loop until something holds ----------------------------------- */

typedef int (*cond_fn)(struct world *w, void *arg);

struct waiter {
	struct world *w;
	cond_fn cond;
	void *arg;
	uint64_t deadline_ns;
	int met;
	int (*each)(struct world *w, void *arg); /* called every tick, may be NULL */
};

static void wait_tick(void *arg)
{
	struct waiter *wt = arg;
	if (wt->each)
		wt->each(wt->w, wt->arg);
	if (wt->cond(wt->w, wt->arg)) {
		wt->met = 1;
		onex_loop_stop(wt->w->loop);
		return;
	}
	if (onex_loop_now_ns(wt->w->loop) >= wt->deadline_ns) {
		onex_loop_stop(wt->w->loop);
		return;
	}
	onex_loop_timer_add(wt->w->loop, 5 * MS, wait_tick, wt, NULL, NULL);
}

/* Run the loop until cond(w, arg) holds (1) or timeout_ms passed (0); `each` every tick. */
static int run_until_each(struct world *w, cond_fn cond, void *arg, cond_fn each,
			  int timeout_ms)
{
	struct waiter wt = { w, cond, arg, onex_loop_now_ns(w->loop) + (uint64_t)timeout_ms * MS,
			     0, each };
	onex_loop_timer_add(w->loop, 0, wait_tick, &wt, NULL, NULL);
	onex_loop_run(w->loop);
	return wt.met;
}

static int run_until(struct world *w, cond_fn cond, void *arg, int timeout_ms)
{
	return run_until_each(w, cond, arg, NULL, timeout_ms);
}

static int never(struct world *w, void *arg)
{
	(void)w;
	(void)arg;
	return 0;
}

static void run_for(struct world *w, int ms)
{
	run_until(w, never, NULL, ms);
}

/* Shut the host down as SIGTERM would (drain, then stop), and free it. */
static void host_stop(struct world *w)
{
	onex_host_shutdown(w->host);
	if (!onex_host_is_stopped(w->host))
		onex_loop_run(w->loop); /* finish_shutdown stops the loop */
	assert_true(onex_host_is_stopped(w->host));
	onex_host_free(w->host);
	w->host = NULL;
}

/* Tear the host down with work in flight: nothing drained, nothing acked. */
static void host_kill(struct world *w)
{
	onex_host_free(w->host);
	w->host = NULL;
}

static void world_close(struct world *w)
{
	if (w->host)
		host_stop(w);
	onex_runtime_contract_free(w->contract);
	onex_loop_free(w->loop);
	onex_log_free(w->log);
	onex_ids_free(w->ids);
	onex_clock_free(w->clock);
}

/* ---- reading the bus's health --------------------------------------------------- */

static json_int_t health_int(struct onex_bus *bus, const char *group, const char *name)
{
	json_t *h = onex_bus_health_check(bus);
	json_t *v = group ? json_object_get(json_object_get(h, group), name)
			  : json_object_get(h, name);
	json_int_t n = json_is_true(v) ? 1 : json_integer_value(v);
	json_decref(h);
	return n;
}

/* Sum of committed offsets over the assigned partitions (each starts at 0). */
static json_int_t committed_total(struct onex_bus *bus)
{
	json_t *h = onex_bus_health_check(bus), *p;
	json_int_t total = 0;
	size_t i;
	json_array_foreach(json_object_get(h, "partitions"), i, p) {
		json_int_t c = json_integer_value(json_object_get(p, "committed"));
		total += c > 0 ? c : 0;
	}
	json_decref(h);
	return total;
}

struct expect {
	json_int_t replies; /* host replies published (ok + error) */
	json_int_t committed;
	json_int_t received;
	json_int_t dead;
};

static int reached(struct world *w, void *arg)
{
	const struct expect *e = arg;
	const struct onex_host_stats *st = onex_host_stats(w->host);
	struct onex_bus *bus = onex_host_bus(w->host);
	return (json_int_t)st->received >= e->received &&
	       health_int(bus, "counts", "published") >= e->replies &&
	       health_int(bus, "counts", "dead_lettered") >= e->dead &&
	       committed_total(bus) >= e->committed;
}

/* ---- kcat as the independent client ---------------------------------------------- */

static void kcat_produce(const char *topic, const char *lines, size_t len)
{
	struct spawn_result res;
	const char *argv[] = { KCAT, "-b", cur->bootstrap, "-P", "-t", topic, "-X",
			       "message.max.bytes=4000000", NULL };
	struct spawn_opts opt = { .input = lines, .input_len = len, .timeout_ms = 20000 };
	assert_int_equal(spawn_run(argv, &opt, &res), 0);
	if (res.exit_code != 0)
		fail_msg("kcat -P failed (%d): %s", res.exit_code, res.err);
	spawn_result_release(&res);
}

/* Every message of `topic` as kcat -J objects (key, payload, headers, ...). */
static json_t *kcat_consume(const char *topic)
{
	struct spawn_result res;
	const char *argv[] = { KCAT, "-b", cur->bootstrap, "-C", "-t", topic, "-o", "beginning",
			       "-e", "-J", "-X", "fetch.wait.max.ms=5", NULL };
	struct spawn_opts opt = { .timeout_ms = 20000 };
	json_t *all = json_array();
	char *line, *save = NULL;
	assert_int_equal(spawn_run(argv, &opt, &res), 0);
	if (res.exit_code != 0)
		fail_msg("kcat -C failed (%d): %s", res.exit_code, res.err);
	for (line = strtok_r(res.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		/* kcat copies payload bytes as they are; keep the line JSON. */
		for (char *c = line; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
		json_t *m = json_loads(line, JSON_ALLOW_NUL, &jerr);
		if (!m)
			fail_msg("kcat printed a line that is not JSON: %.200s", line);
		json_array_append_new(all, m);
	}
	spawn_result_release(&res);
	return all;
}

/* The header `name` of a kcat -J message, or NULL. */
static const char *kcat_header(const json_t *m, const char *name)
{
	const json_t *h = json_object_get(m, "headers");
	for (size_t i = 0; i + 1 < json_array_size(h); i += 2)
		if (strcmp(json_string_value(json_array_get(h, i)), name) == 0)
			return json_string_value(json_array_get(h, i + 1));
	return NULL;
}

/* The reply envelope carried by a kcat -J message. New reference. */
static json_t *reply_of(const json_t *m)
{
	const char *payload = json_string_value(json_object_get(m, "payload"));
	json_t *reply = payload ? json_loads(payload, 0, NULL) : NULL;
	assert_non_null(reply);
	return reply;
}

static void uuid_for(unsigned i, char out[37])
{
	snprintf(out, 37, "00000000-0000-4000-8000-%012u", i);
}

/* n echo requests, correlation ids uuid_for(first..first+n-1), one line each. */
static char *echo_requests(unsigned first, unsigned n, const char *op, unsigned delay_ms,
			   size_t *len)
{
	size_t cap = (size_t)n * 200 + 1, used = 0;
	char *text = malloc(cap), id[37];
	for (unsigned i = first; i < first + n; i++) {
		uuid_for(i, id);
		used += (size_t)snprintf(text + used, cap - used,
					 "{\"operation\":\"%s\",\"correlation_id\":\"%s\","
					 "\"payload\":{\"n\":%u,\"delay_ms\":%u}}\n",
					 op, id, i, delay_ms);
	}
	*len = used;
	return text;
}

/* Check that `msgs` holds a reply for every id first..first+n-1; returns duplicates. */
static unsigned check_replies(const json_t *msgs, unsigned first, unsigned n)
{
	unsigned *seen = calloc(n, sizeof(*seen)), dups = 0;
	const json_t *m;
	size_t i;
	json_array_foreach(msgs, i, m) {
		json_t *reply = reply_of(m);
		const char *cid = json_string_value(json_object_get(reply, "correlation_id"));
		const char *key = json_string_value(json_object_get(m, "key"));
		unsigned k;
		assert_non_null(cid);
		assert_non_null(key);
		assert_string_equal(key, cid); /* the message key is the correlation id */
		assert_true(json_is_true(json_object_get(reply, "is_response")));
		assert_int_equal(sscanf(cid, "00000000-0000-4000-8000-%u", &k), 1);
		if (k >= first && k < first + n && seen[k - first]++)
			dups++;
		json_decref(reply);
	}
	for (unsigned k = 0; k < n; k++)
		if (!seen[k])
			fail_msg("no reply for request %u", first + k);
	free(seen);
	return dups;
}

/* ---- tests ------------------------------------------------------------------------- */

/* Requests in, replies out: value = envelope, key = correlation_id, offsets committed. */
static void test_round_trip(void **state)
{
	struct world w;
	size_t len;
	char *req = echo_requests(1, 20, "local.echo", 0, &len);
	struct expect e = { .replies = 20, .committed = 20, .received = 20 };
	(void)state;
	world_open(&w, "roundtrip", 3, NULL);
	kcat_produce(w.in, req, len);
	free(req);
	double t0 = now_s();
	host_start(&w, 1); /* sequential: the host pauses the bus after each delivery */
	assert_true(run_until(&w, reached, &e, 20000));
	double t1 = now_s();
	print_message("20 requests on 3 partitions answered and committed in %.2f s "
		      "(includes joining the group)\n", t1 - t0);
	assert_int_equal(onex_host_stats(w.host)->responded_ok, 20);

	/* One more, now that the group is joined: the round trip itself. */
	req = echo_requests(21, 1, "local.echo", 0, &len);
	kcat_produce(w.in, req, len);
	free(req);
	e = (struct expect){ .replies = 21, .committed = 21, .received = 21 };
	t0 = now_s();
	assert_true(run_until(&w, reached, &e, 10000));
	print_message("one more request: delivered, answered, acked, committed in %.3f s\n",
		      now_s() - t0);
	json_t *desc = onex_bus_describe(onex_host_bus(w.host));
	assert_string_equal(json_string_value(json_object_get(desc, "kind")), "kafka");
	assert_string_equal(json_string_value(json_object_get(desc, "dead_letter_topic")), w.dlq);
	assert_int_equal(json_integer_value(json_object_get(desc, "max_inflight_envelopes")), 100);
	assert_int_equal(
		json_integer_value(json_object_get(desc, "pause_consumption_threshold")), 80);
	json_decref(desc);
	host_stop(&w);

	json_t *out = kcat_consume(w.out);
	assert_int_equal(json_array_size(out), 21);
	assert_int_equal(check_replies(out, 1, 21), 0);
	json_t *r0 = reply_of(json_array_get(out, 0));
	assert_true(json_is_true(json_object_get(r0, "success")));
	assert_non_null(json_object_get(json_object_get(r0, "payload"), "n"));
	json_decref(r0);
	json_decref(out);
	world_close(&w);
}

/*
 * At-least-once: A is answered and committed; B is delivered, then the host
 * is torn down before B's reply exists. The next host in the group gets B
 * again (not A) and answers it.
 */
static void test_redelivered_when_not_acked(void **state)
{
	struct world w;
	size_t len;
	char *req = echo_requests(1, 1, "local.echo", 0, &len);
	struct expect e = { .replies = 1, .committed = 1, .received = 1 };
	(void)state;
	world_open(&w, "redeliver", 1, NULL);
	kcat_produce(w.in, req, len);
	free(req);
	host_start(&w, 1);
	assert_true(run_until(&w, reached, &e, 20000));

	req = echo_requests(2, 1, "http.get", 1500, &len); /* in flight for 1.5 s */
	kcat_produce(w.in, req, len);
	free(req);
	e = (struct expect){ .received = 2 };
	assert_true(run_until(&w, reached, &e, 10000));
	assert_int_equal(committed_total(onex_host_bus(w.host)), 1);
	host_kill(&w); /* B delivered, never answered, never acked */

	host_start(&w, 1);
	e = (struct expect){ .replies = 1, .committed = 2, .received = 1 };
	assert_true(run_until(&w, reached, &e, 20000));
	assert_int_equal(onex_host_stats(w.host)->received, 1); /* B only: A was committed */
	host_stop(&w);

	json_t *out = kcat_consume(w.out);
	assert_int_equal(json_array_size(out), 2);
	assert_int_equal(check_replies(out, 1, 2), 0);
	json_decref(out);
	world_close(&w);
}

/*
 * Undeliverable messages go to <input>.dlq with their reason and source,
 * are committed, and the valid requests around them are answered.
 */
static void test_dead_letters(void **state)
{
	struct world w;
	size_t big = ONEX_ENVELOPE_BYTES_MAX + 100000, len;
	char *lines = malloc(big + 4096), *p = lines;
	char *req;
	(void)state;
	world_open(&w, "deadletter", 1, NULL);
	p += sprintf(p, "not json at all\n");
	p += sprintf(p, "[1,2,3]\n");
	req = echo_requests(1, 1, "local.echo", 0, &len);
	memcpy(p, req, len);
	p += len;
	free(req);
	p += sprintf(p, "{\"operation\":\"local.echo\",\"payload\":{\"s\":\"");
	memset(p, 'x', big);
	p += big;
	p += sprintf(p, "\"}}\n");
	p += sprintf(p, "{\"operation\":\"local.echo\",\"payload\":{\"s\":\"\xff\xfe\"}}\n");
	req = echo_requests(2, 1, "local.echo", 0, &len);
	memcpy(p, req, len);
	p += len;
	free(req);
	kcat_produce(w.in, lines, (size_t)(p - lines));
	free(lines);

	struct expect e = { .replies = 2, .committed = 6, .dead = 4 };
	host_start(&w, 1);
	assert_true(run_until(&w, reached, &e, 20000));
	assert_int_equal(onex_host_stats(w.host)->received, 2); /* the host saw the valid two */
	host_stop(&w);

	json_t *out = kcat_consume(w.out);
	assert_int_equal(json_array_size(out), 2);
	assert_int_equal(check_replies(out, 1, 2), 0);
	json_decref(out);

	json_t *dead = kcat_consume(w.dlq);
	static const char *const offsets[] = { "0", "1", "3", "4" };
	static const char *const words[] = { "JSON", "object", "limit", "decode byte 0xff" };
	assert_int_equal(json_array_size(dead), 4);
	for (size_t i = 0; i < 4; i++) {
		const json_t *m = json_array_get(dead, i);
		const char *reason = kcat_header(m, "onex-dlq-reason");
		assert_non_null(reason);
		print_message("dead letter %zu: %s\n", i, reason);
		if (!strstr(reason, words[i]))
			fail_msg("reason '%s' does not mention '%s'", reason, words[i]);
		assert_string_equal(kcat_header(m, "onex-source-topic"), w.in);
		assert_string_equal(kcat_header(m, "onex-source-partition"), "0");
		assert_string_equal(kcat_header(m, "onex-source-offset"), offsets[i]);
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(dead, 0), "payload")),
			    "not json at all");
	assert_non_null(kcat_header(json_array_get(dead, 2), "onex-dlq-truncated"));
	json_decref(dead);
	world_close(&w);
}

/* ---- flow control, driving the bus directly ---------------------------------------- */

struct driver {
	struct onex_bus *bus;
	uint64_t tokens[256];
	unsigned delivered, want;
	int ack_at_once;
};

static void driver_deliver(void *arg, const struct onex_bus_message *msg)
{
	struct driver *d = arg;
	assert_true(d->delivered < 256);
	assert_non_null(strstr(msg->position, "kafka onex.test."));
	d->tokens[d->delivered++] = msg->token;
	if (d->ack_at_once)
		onex_bus_ack(d->bus, msg->token);
}

static int delivered_at_least(struct world *w, void *arg)
{
	struct driver *d = arg;
	(void)w;
	return d->delivered >= d->want;
}

static int bus_held_at_least(struct world *w, void *arg)
{
	struct driver *d = arg;
	(void)w;
	return health_int(d->bus, NULL, "held") >= (json_int_t)d->want &&
	       health_int(d->bus, NULL, "taking_stopped");
}

static struct onex_bus *bus_new(struct world *w)
{
	struct onex_bus_env env = { w->loop, w->clock, w->log, NULL };
	struct onex_error err;
	struct onex_bus *bus;
	onex_error_clear(&err);
	bus = onex_kafka_bus_unit.create(&env, &w->contract->bus, &err);
	if (!bus)
		fail_msg("kafka bus: %s", err.text);
	return bus;
}

/*
 * pause(): nothing is delivered, messages wait in the bus up to
 * pause_consumption_threshold, where it stops taking them; resume()
 * delivers them all. An ack below the threshold takes again.
 */
static void test_pause_and_threshold(void **state)
{
	struct world w;
	struct driver d = { 0 };
	struct onex_error err;
	size_t len;
	char *req = echo_requests(1, 12, "local.echo", 0, &len);
	(void)state;
	world_open(&w, "pause", 1,
		   "      max_inflight_envelopes: 6\n      pause_consumption_threshold: 4\n");
	d.bus = bus_new(&w);
	onex_error_clear(&err);
	assert_int_equal(onex_bus_subscribe(d.bus, w.in, driver_deliver, NULL, &d, &err), 0);
	onex_bus_pause(d.bus);
	assert_int_equal(onex_bus_start_consuming(d.bus, &err), 0);
	kcat_produce(w.in, req, len);
	free(req);
	d.want = 4;
	assert_true(run_until(&w, bus_held_at_least, &d, 15000));
	run_for(&w, 300); /* nothing more is taken at the threshold */
	assert_int_equal(d.delivered, 0);
	assert_int_equal(health_int(d.bus, NULL, "held"), 4);
	assert_int_equal(health_int(d.bus, NULL, "in_flight"), 4);

	onex_bus_resume(d.bus); /* deliver the 4, no acks: still at the threshold */
	assert_true(run_until(&w, delivered_at_least, &d, 5000));
	run_for(&w, 300);
	assert_int_equal(d.delivered, 4);
	assert_true(health_int(d.bus, NULL, "taking_stopped"));

	onex_bus_ack(d.bus, d.tokens[0]); /* 3 in flight: one more is taken, no more */
	d.want = 5;
	assert_true(run_until(&w, delivered_at_least, &d, 5000));
	run_for(&w, 300);
	assert_int_equal(d.delivered, 5);
	assert_int_equal(health_int(d.bus, NULL, "in_flight"), 4);
	assert_true(health_int(d.bus, NULL, "taking_stopped"));
	d.ack_at_once = 1;
	for (unsigned i = 1; i < 5; i++)
		onex_bus_ack(d.bus, d.tokens[i]);
	d.want = 12;
	assert_true(run_until(&w, delivered_at_least, &d, 10000));
	assert_int_equal(health_int(d.bus, NULL, "in_flight_high_water"), 4);
	assert_true(health_int(d.bus, "counts", "threshold_stops") >= 1);
	assert_int_equal(health_int(d.bus, "counts", "partition_pauses"), 0);
	onex_bus_shutdown(d.bus);
	onex_bus_free(d.bus);
	world_close(&w);
}

static int committed_at_least(struct world *w, void *arg)
{
	struct driver *d = arg;
	(void)w;
	return committed_total(d->bus) >= (json_int_t)d->want;
}

static int prefetched_at_least(struct world *w, void *arg)
{
	struct driver *d = arg;
	(void)w;
	return health_int(d->bus, NULL, "prefetched") >= (json_int_t)d->want;
}

/*
 * The bound with a host that does not answer: 60 messages on 2
 * partitions, threshold 4. The bus takes and delivers 4 and no more, the
 * rest stays prefetched in librdkafka (the partitions are not paused:
 * nothing is thrown away and fetched again); health shows it. Once the
 * host answers, the bus takes again and every message comes exactly once,
 * in offset order per partition, and all are committed.
 */
static void test_bound_when_host_does_not_answer(void **state)
{
	struct world w;
	struct driver d = { 0 };
	struct onex_error err;
	size_t len;
	int64_t last[2] = { -1, -1 };
	char *req = echo_requests(1, 60, "local.echo", 0, &len);
	(void)state;
	world_open(&w, "bound", 2,
		   "      max_inflight_envelopes: 6\n      pause_consumption_threshold: 4\n");
	d.bus = bus_new(&w);
	onex_error_clear(&err);
	assert_int_equal(onex_bus_subscribe(d.bus, w.in, driver_deliver, NULL, &d, &err), 0);
	assert_int_equal(onex_bus_start_consuming(d.bus, &err), 0);
	kcat_produce(w.in, req, len);
	free(req);
	d.want = 4;
	assert_true(run_until(&w, delivered_at_least, &d, 15000));
	d.want = 56; /* all but the 4 taken, waiting in librdkafka */
	assert_true(run_until(&w, prefetched_at_least, &d, 15000));
	run_for(&w, 500);
	assert_int_equal(d.delivered, 4);
	assert_int_equal(health_int(d.bus, NULL, "in_flight"), 4);
	assert_int_equal(health_int(d.bus, NULL, "prefetched"), 56);
	assert_true(health_int(d.bus, NULL, "taking_stopped"));
	assert_int_equal(health_int(d.bus, "counts", "taken"), 4);
	assert_int_equal(health_int(d.bus, "counts", "partition_pauses"), 0);

	d.ack_at_once = 1; /* the host answers again */
	for (unsigned i = 0; i < 4; i++)
		onex_bus_ack(d.bus, d.tokens[i]);
	d.want = 60;
	assert_true(run_until(&w, delivered_at_least, &d, 10000));
	assert_true(run_until(&w, committed_at_least, &d, 5000));
	run_for(&w, 300);
	assert_int_equal(d.delivered, 60); /* none twice */
	for (unsigned i = 0; i < d.delivered; i++) {
		unsigned p = (unsigned)(d.tokens[i] >> 48) - 1;
		int64_t offset = (int64_t)(d.tokens[i] & ((UINT64_C(1) << 48) - 1));
		assert_true(p < 2);
		assert_true(offset > last[p]); /* in order, nothing skipped twice */
		last[p] = offset;
	}
	assert_int_equal(last[0] + 1 + last[1] + 1, 60); /* offsets 0.. on both: none lost */
	assert_int_equal(health_int(d.bus, NULL, "in_flight_high_water"), 4);
	assert_int_equal(health_int(d.bus, NULL, "prefetched"), 0);
	assert_false(health_int(d.bus, NULL, "taking_stopped"));
	onex_bus_shutdown(d.bus);
	onex_bus_free(d.bus);
	world_close(&w);
}

/*
 * A message given back without a reply (its reply could not be published)
 * is delivered again after the backoff, with the ones after it; the
 * offsets are committed once all are acked.
 */
static void test_release_redelivers(void **state)
{
	struct world w;
	struct driver d = { 0 };
	struct onex_error err;
	size_t len;
	char *req = echo_requests(1, 3, "local.echo", 0, &len);
	(void)state;
	world_open(&w, "release", 1, NULL);
	d.bus = bus_new(&w);
	onex_error_clear(&err);
	assert_int_equal(onex_bus_subscribe(d.bus, w.in, driver_deliver, NULL, &d, &err), 0);
	assert_int_equal(onex_bus_start_consuming(d.bus, &err), 0);
	kcat_produce(w.in, req, len);
	free(req);
	d.want = 3;
	assert_true(run_until(&w, delivered_at_least, &d, 15000));
	onex_bus_ack(d.bus, d.tokens[0]);
	onex_kafka_bus_release(d.bus, d.tokens[1]);
	assert_int_equal(health_int(d.bus, NULL, "in_flight"), 0);
	double t0 = now_s();
	d.want = 5; /* #2 and #3 again */
	assert_true(run_until(&w, delivered_at_least, &d, 10000));
	print_message("released message delivered again after %.2f s\n", now_s() - t0);
	assert_true(d.tokens[3] == d.tokens[1] && d.tokens[4] == d.tokens[2]);
	onex_bus_ack(d.bus, d.tokens[2]); /* late ack of the first delivery: counts for #3 */
	onex_bus_ack(d.bus, d.tokens[3]);
	d.want = 3;
	assert_true(run_until(&w, committed_at_least, &d, 5000));
	assert_int_equal(health_int(d.bus, "counts", "released"), 1);
	assert_int_equal(health_int(d.bus, NULL, "in_flight"), 0);
	onex_bus_shutdown(d.bus);
	onex_bus_free(d.bus);
	world_close(&w);
}

/* The host with room for 50 in flight is held to max 10 / pause 8 by the bus. */
static void test_backpressure_with_host(void **state)
{
	struct world w;
	size_t len;
	char *req = echo_requests(1, 60, "http.get", 200, &len);
	struct expect e = { .replies = 60, .committed = 60, .received = 60 };
	(void)state;
	world_open(&w, "backpressure", 2,
		   "      max_inflight_envelopes: 10\n      pause_consumption_threshold: 8\n");
	kcat_produce(w.in, req, len);
	free(req);
	host_start(&w, 50);
	double t0 = now_s();
	assert_true(run_until(&w, reached, &e, 30000));
	struct onex_bus *bus = onex_host_bus(w.host);
	json_int_t high = health_int(bus, NULL, "in_flight_high_water");
	print_message("60 requests of 200 ms: %.2f s, at most %lld in flight, %lld stops\n",
		      now_s() - t0, (long long)high,
		      (long long)health_int(bus, "counts", "threshold_stops"));
	assert_true(high <= 8);
	assert_true(high >= 8);
	assert_true(health_int(bus, "counts", "threshold_stops") >= 2);
	host_stop(&w);
	json_t *out = kcat_consume(w.out);
	assert_int_equal(check_replies(out, 1, 60), 0);
	json_decref(out);
	world_close(&w);
}

/* ---- broker outage ------------------------------------------------------------------ */

static int saw_degraded;

static int watch_degraded(struct world *w, void *arg)
{
	(void)arg;
	if (health_int(onex_host_bus(w->host), NULL, "degraded"))
		saw_degraded = 1;
	return 0;
}

static int not_degraded(struct world *w, void *arg)
{
	(void)arg;
	return !health_int(onex_host_bus(w->host), NULL, "degraded");
}

static int all_handled(struct world *w, void *arg)
{
	return (json_int_t)onex_host_stats(w->host)->responded_ok >= *(json_int_t *)arg;
}

/*
 * The broker goes away while 20 replies are being produced; health turns
 * degraded; when it is back every reply is delivered and every offset
 * committed; no request is left without a reply.
 */
static void test_broker_down_loses_nothing(void **state)
{
	struct world w;
	size_t len;
	char *req = echo_requests(1, 20, "http.get", 500, &len);
	struct expect e = { .received = 20 };
	json_int_t twenty = 20;
	(void)state;
	/* A session longer than the outage and the reconnect backoff after it. */
	world_open(&w, "outage", 1, "      session_timeout_ms: 30000\n");
	kcat_produce(w.in, req, len);
	free(req);
	host_start(&w, 20);
	assert_true(run_until(&w, reached, &e, 20000));
	assert_int_equal(kafka_mock_broker_down(&mock, 0), 0);
	saw_degraded = 0;
	/* The handlers answer while the broker is away; nothing can be confirmed. */
	assert_true(run_until_each(&w, all_handled, &twenty, watch_degraded, 5000));
	run_until_each(&w, never, NULL, watch_degraded, 2500);
	struct onex_bus *bus = onex_host_bus(w.host);
	assert_true(saw_degraded);
	assert_int_equal(health_int(bus, "counts", "published"), 0);
	assert_int_equal(committed_total(bus), 0);
	assert_int_equal(health_int(bus, NULL, "in_flight"), 20);
	assert_int_equal(kafka_mock_broker_up(&mock, 0), 0);
	e = (struct expect){ .replies = 20, .committed = 20, .received = 20 };
	double t0 = now_s();
	assert_true(run_until(&w, reached, &e, 30000));
	print_message("broker back: 20 queued replies delivered and committed in %.2f s\n",
		      now_s() - t0);
	assert_true(run_until(&w, not_degraded, NULL, 5000)); /* statistics come every second */
	host_stop(&w);
	json_t *out = kcat_consume(w.out);
	unsigned dups = check_replies(out, 1, 20);
	print_message("replies after the outage: %zu (%u duplicates)\n", json_array_size(out),
		      dups);
	json_decref(out);
	world_close(&w);
}

/* ---- the circuit breaker --------------------------------------------------------------- */

struct pub_result {
	int calls, status;
	struct onex_error err;
};

static void on_published(void *arg, int status, const struct onex_error *err)
{
	struct pub_result *r = arg;
	r->calls++;
	r->status = status;
	if (err)
		r->err = *err;
}

static int published(struct world *w, void *arg)
{
	(void)w;
	return ((struct pub_result *)arg)->calls > 0;
}

/* Publish one message and wait for its outcome; returns the status. */
static int publish_one(struct world *w, struct onex_bus *bus, struct pub_result *r)
{
	struct onex_error err;
	memset(r, 0, sizeof(*r));
	onex_error_clear(&err);
	if (onex_bus_publish(bus, w->out, "k", "{}", 2, on_published, r, &err) < 0) {
		r->err = err;
		return -2;
	}
	assert_true(run_until(w, published, r, 20000));
	return r->status;
}

static void test_circuit_breaker(void **state)
{
	struct world w;
	struct pub_result r;
	(void)state;
	world_open(&w, "circuit", 1, "      circuit_breaker_threshold: 3\n");
	struct onex_bus *bus = bus_new(&w);
	onex_kafka_bus_set_circuit_open_ms(bus, 700);
	assert_int_equal(publish_one(&w, bus, &r), 0); /* the producer is up */
	assert_int_equal(kafka_mock_push_errors(&mock, KAFKA_MOCK_API_PRODUCE, 3, 10), 0);
	for (int i = 0; i < 3; i++) {
		int status = publish_one(&w, bus, &r);
		if (status != -1)
			fail_msg("publish %d: status %d: %s", i + 1, status, r.err.text);
		assert_int_equal(r.err.code, ONEX_ERR_EVENT_BUS_ERROR);
		print_message("publish %d failed: %s\n", i + 1, r.err.text);
	}
	json_t *h = onex_bus_health_check(bus);
	assert_string_equal(json_string_value(json_object_get(h, "circuit")), "open");
	assert_true(json_is_true(json_object_get(h, "degraded")));
	json_decref(h);
	if (publish_one(&w, bus, &r) != -2) /* refused at once */
		fail_msg("expected a refusal, got status %d: %s", r.status, r.err.text);
	assert_int_equal(r.err.code, ONEX_ERR_CIRCUIT_OPEN);
	print_message("while open: %s\n", r.err.text);
	run_for(&w, 800);
	assert_int_equal(publish_one(&w, bus, &r), 0); /* half-open trial succeeds */
	h = onex_bus_health_check(bus);
	assert_string_equal(json_string_value(json_object_get(h, "circuit")), "closed");
	json_decref(h);
	onex_bus_shutdown(bus);
	onex_bus_free(bus);
	world_close(&w);
}

/* ---- configuration ---------------------------------------------------------------------- */

static void expect_config_error(const char *config_json, const char *needle)
{
	struct onex_contract_bus cfg;
	struct onex_error err;
	struct onex_loop *loop;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.kind, sizeof(cfg.kind), "kafka");
	snprintf(cfg.topic_input, sizeof(cfg.topic_input), "onex.test.cfg.cmd.v1");
	snprintf(cfg.topic_output, sizeof(cfg.topic_output), "onex.test.cfg.evt.v1");
	cfg.config = json_loads(config_json, 0, NULL);
	assert_non_null(cfg.config);
	onex_error_clear(&err);
	loop = onex_epoll_loop_new(&err);
	struct onex_bus_env env = { loop, NULL, NULL, NULL };
	struct onex_bus *bus = onex_kafka_bus_unit.create(&env, &cfg, &err);
	if (bus)
		fail_msg("expected an error mentioning '%s'", needle);
	if (!strstr(err.text, needle) && !strstr(err.hint, needle))
		fail_msg("error '%s' (hint '%s') does not mention '%s'", err.text, err.hint, needle);
	assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	json_decref(cfg.config);
	onex_loop_free(loop);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_error("{}", "bootstrap_servers");
	expect_config_error("{\"bootstrap_servers\":\"h:1\"}", "consumer_group");
	expect_config_error("{\"bootstrap_servers\":\"h:1\",\"consumer_group\":\"g\","
			    "\"max_inflight_envelopes\":10,\"pause_consumption_threshold\":20}",
			    "above");
	expect_config_error("{\"bootstrap_servers\":\"h:1\",\"consumer_group\":\"g\","
			    "\"fetch_wait_max_ms\":400000}",
			    "fetch_wait_max_ms");
}


/* ---- configuration after ${NAME} expansion ----------------------------------------------- */

static const char *test_env_lookup(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "ONEX_TEST_BOOTSTRAP") == 0)
		return cur->bootstrap;
	if (strcmp(name, "ONEX_TEST_GROUP") == 0)
		return "g-${not-a-reference}"; /* a value is never expanded again */
	return NULL;
}

/*
 * The contract loader expands ${NAME}; what still holds "${" afterwards is
 * literal ("$${" in the file, or a variable's value) and reaches
 * librdkafka as it stands.
 */
static void test_literal_dollar_brace_reaches_librdkafka(void **state)
{
	static const char text[] =
		"schema_version: \"1.0.0\"\n"
		"runtime:\n"
		"  name: \"kafka_env\"\n"
		"  version: \"1.0.0\"\n"
		"  event_bus:\n"
		"    kind: \"kafka\"\n"
		"    config:\n"
		"      bootstrap_servers: \"${ONEX_TEST_BOOTSTRAP}\"\n"
		"      consumer_group: \"${ONEX_TEST_GROUP}\"\n"
		"      client_id: \"svc-$${HOST}-1\"\n"
		"      topics: { input: \"onex.test.env.cmd.v1\", output: \"onex.test.env.evt.v1\" }\n"
		"  handlers:\n"
		"    - type: \"local\"\n";
	struct onex_contract_options copt = { 0, 0 };
	struct onex_contract_env env = { test_env_lookup, NULL };
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;
	struct onex_loop *loop;
	(void)state;
	onex_error_clear(&err);
	if (onex_runtime_contract_load_text_env(text, strlen(text), "kafka_env.yaml", ".", 0,
						&copt, &env, &c, &err) < 0)
		fail_msg("contract: %s", err.text);
	loop = onex_epoll_loop_new(&err);
	struct onex_bus_env benv = { loop, NULL, NULL, NULL };
	struct onex_bus *bus = onex_kafka_bus_unit.create(&benv, &c->bus, &err);
	if (!bus)
		fail_msg("kafka bus: %s (hint %s)", err.text, err.hint);
	json_t *d = onex_bus_describe(bus), *lib = json_object_get(d, "librdkafka_config");
	char *dump = json_dumps(lib, JSON_COMPACT);
	print_message("librdkafka holds %s\n", dump);
	free(dump);
	assert_string_equal(json_string_value(json_object_get(lib, "client.id")), "svc-${HOST}-1");
	assert_string_equal(json_string_value(json_object_get(lib, "group.id")),
			    "g-${not-a-reference}");
	assert_string_equal(json_string_value(json_object_get(lib, "bootstrap.servers")),
			    cur->bootstrap);
	json_decref(d);
	onex_bus_free(bus);
	onex_loop_free(loop);
	onex_runtime_contract_free(c);
}

/* ---- a broker that was never there ------------------------------------------------------ */

/* "degraded_reasons" of the bus's health mentions `needle`. */
static int reason_mentions(struct onex_bus *bus, const char *needle)
{
	json_t *h = onex_bus_health_check(bus), *r;
	size_t i;
	int found = 0;
	json_array_foreach(json_object_get(h, "degraded_reasons"), i, r)
		found |= strstr(json_string_value(r), needle) != NULL;
	json_decref(h);
	return found;
}

/* Both handles say nothing is reachable. */
static int both_unreachable(struct world *w, void *arg)
{
	(void)w;
	return reason_mentions(arg, "consumer: no broker reachable at 127.0.0.1:1") &&
	       reason_mentions(arg, "producer: no broker reachable at 127.0.0.1:1");
}

/*
 * Nothing listens at the bootstrap address from the start: the bus never
 * learns of a broker, yet health must say degraded (with the reason)
 * within the first statistics interval or so, while staying "healthy"
 * (it keeps retrying; nothing is lost).
 */
static void test_unreachable_from_start_is_degraded(void **state)
{
	struct world w;
	struct onex_error err;
	struct driver d = { 0 };
	(void)state;
	bootstrap_override = "127.0.0.1:1";
	world_open(&w, "unreachable", 1, NULL);
	bootstrap_override = NULL;
	d.bus = bus_new(&w);
	onex_error_clear(&err);
	assert_int_equal(onex_bus_subscribe(d.bus, w.in, driver_deliver, NULL, &d, &err), 0);
	assert_int_equal(onex_bus_start_consuming(d.bus, &err), 0);
	double t0 = now_s();
	assert_true(run_until(&w, both_unreachable, d.bus, 6000));
	print_message("unreachable broker: degraded after %.2f s\n", now_s() - t0);
	json_t *h = onex_bus_health_check(d.bus);
	char *dump = json_dumps(json_object_get(h, "degraded_reasons"), JSON_COMPACT);
	print_message("reasons: %s\n", dump);
	free(dump);
	assert_true(json_is_true(json_object_get(h, "healthy")));
	assert_true(json_is_true(json_object_get(h, "degraded")));
	json_decref(h);
	run_for(&w, 1500); /* and it stays so: statistics see no connection up */
	assert_true(health_int(d.bus, NULL, "degraded"));
	assert_true(reason_mentions(d.bus, "no broker reachable"));
	onex_bus_shutdown(d.bus);
	onex_bus_free(d.bus);
	world_close(&w);
}

/* ---- leader changes and request errors ---------------------------------------------------- */

/* The leader of topic/partition as kcat -L sees it, or -1. */
static int kcat_leader(const char *topic, int partition)
{
	struct spawn_result res;
	const char *argv[] = { KCAT, "-b", cur->bootstrap, "-L", "-J", "-t", topic, NULL };
	struct spawn_opts opt = { .timeout_ms = 20000 };
	int leader = -1;
	size_t i, j;
	json_t *t, *p;
	assert_int_equal(spawn_run(argv, &opt, &res), 0);
	json_t *meta = json_loads(res.out, 0, NULL);
	json_array_foreach(json_object_get(meta, "topics"), i, t) {
		if (strcmp(json_string_value(json_object_get(t, "topic")), topic) != 0)
			continue;
		json_array_foreach(json_object_get(t, "partitions"), j, p)
			if (json_integer_value(json_object_get(p, "partition")) == partition)
				leader = (int)json_integer_value(json_object_get(p, "leader"));
	}
	json_decref(meta);
	spawn_result_release(&res);
	return leader;
}

/* Move the leaders of the input's 2 partitions and of the output's to other brokers. */
static void move_leaders(const struct world *w)
{
	for (int p = 0; p < 2; p++) {
		int from = kcat_leader(w->in, p), to = from % 3 + 1;
		assert_true(from >= 1);
		assert_int_equal(kafka_mock_set_leader(cur, w->in, p, to), 0);
		assert_int_equal(kcat_leader(w->in, p), to); /* the cluster says so too */
		print_message("%s [%d]: leader %d -> %d\n", w->in, p, from, to);
	}
	int from = kcat_leader(w->out, 0);
	assert_int_equal(kafka_mock_set_leader(cur, w->out, 0, from % 3 + 1), 0);
	print_message("%s [0]: leader %d -> %d\n", w->out, from, from % 3 + 1);
}

/*
 * Three brokers; the leaders of the input partitions and of the output
 * partition move twice while requests are being consumed and replies
 * produced. Every request gets its reply, every offset is committed, and
 * replies keep coming after each move.
 */
static void test_leader_change_loses_nothing(void **state)
{
	struct world w;
	size_t len;
	char *req = echo_requests(1, 150, "http.get", 10, &len);
	(void)state;
	cur = &trio;
	world_open(&w, "leader", 2, NULL);
	kcat_produce(w.in, req, len);
	free(req);
	host_start(&w, 4);
	struct expect e = { .replies = 30, .received = 30 };
	assert_true(run_until(&w, reached, &e, 20000));
	move_leaders(&w);
	e = (struct expect){ .replies = 90, .received = 90 };
	double t0 = now_s();
	assert_true(run_until(&w, reached, &e, 30000));
	print_message("60 more replies after the first move in %.2f s\n", now_s() - t0);
	move_leaders(&w);
	req = echo_requests(151, 50, "http.get", 10, &len);
	kcat_produce(w.in, req, len); /* produced to the new leaders */
	free(req);
	e = (struct expect){ .replies = 200, .committed = 200, .received = 200 };
	t0 = now_s();
	assert_true(run_until(&w, reached, &e, 30000));
	print_message("the remaining replies after the second move in %.2f s\n", now_s() - t0);
	struct onex_bus *bus = onex_host_bus(w.host);
	assert_int_equal(health_int(bus, "counts", "publish_failed"), 0);
	assert_false(health_int(bus, NULL, "degraded")); /* brokers up: not degraded */
	host_stop(&w);
	json_t *out = kcat_consume(w.out);
	unsigned dups = check_replies(out, 1, 200);
	print_message("replies: %zu for 200 requests (%u duplicates)\n", json_array_size(out),
		      dups);
	json_decref(out);
	world_close(&w);
	cur = &mock;
}

/* Kafka error codes for the consumer side. */
#define KAFKA_NOT_LEADER_OR_FOLLOWER 6
#define KAFKA_COORDINATOR_NOT_AVAILABLE 15

static int commit_failed(struct world *w, void *arg)
{
	(void)arg;
	return health_int(onex_host_bus(w->host), "counts", "commit_failures") >= 1 &&
	       health_int(onex_host_bus(w->host), "counts", "published") >= 30;
}

/*
 * Fetches fail now and then and every commit fails: the host answers all
 * 30 requests, but nothing is committed; it dies; a new host in the same
 * group gets the uncommitted requests again and answers them: every
 * request has a reply, the repeats are counted as duplicates.
 */
static void test_consumer_request_errors_at_least_once(void **state)
{
	struct world w;
	size_t len;
	char *req = echo_requests(1, 30, "local.echo", 0, &len);
	(void)state;
	world_open(&w, "reqerr", 1, NULL);
	kcat_produce(w.in, req, len);
	free(req);
	assert_int_equal(kafka_mock_push_errors(cur, KAFKA_MOCK_API_FETCH, 3,
						KAFKA_NOT_LEADER_OR_FOLLOWER), 0);
	assert_int_equal(kafka_mock_push_errors(cur, KAFKA_MOCK_API_OFFSET_COMMIT, 1000,
						KAFKA_COORDINATOR_NOT_AVAILABLE), 0);
	host_start(&w, 4);
	assert_true(run_until(&w, commit_failed, NULL, 20000));
	struct onex_bus *bus = onex_host_bus(w.host);
	json_int_t committed = committed_total(bus);
	print_message("first host: 30 answered, %lld commit failures, %lld committed\n",
		      (long long)health_int(bus, "counts", "commit_failures"),
		      (long long)committed);
	assert_true(committed < 30);
	host_kill(&w); /* dies with its offsets uncommitted */
	assert_int_equal(kafka_mock_clear_errors(cur, KAFKA_MOCK_API_OFFSET_COMMIT), 0);

	host_start(&w, 4);
	struct expect e = { .committed = 30 };
	assert_true(run_until(&w, reached, &e, 30000));
	json_int_t again = (json_int_t)onex_host_stats(w.host)->received;
	print_message("second host: %lld requests delivered again\n", (long long)again);
	assert_true(again >= 30 - committed);
	host_stop(&w);
	json_t *out = kcat_consume(w.out);
	unsigned dups = check_replies(out, 1, 30);
	print_message("replies: %zu for 30 requests (%u duplicates)\n", json_array_size(out),
		      dups);
	assert_int_equal(json_array_size(out), 30 + dups);
	assert_true(dups >= 30 - committed);
	json_decref(out);
	world_close(&w);
}

static int group_setup(void **state)
{
	(void)state;
	if (access(KCAT, X_OK) != 0) {
		fprintf(stderr, "test_kafka_bus needs kcat at %s (apt-get install kcat)\n", KCAT);
		return -1;
	}
	if (kafka_mock_start(&mock, 1) < 0 || kafka_mock_start(&trio, 3) < 0) {
		fprintf(stderr, "mock cluster: %s%s\n", mock.last_error, trio.last_error);
		kafka_mock_stop(&mock);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kafka_mock_stop(&mock);
	kafka_mock_stop(&trio);
	return 0;
}

int main(int argc, char **argv)
{
	/* `test_kafka_bus --mock-cluster TOPIC[:N]...`: a cluster to try onex-host by hand. */
	if (argc > 1 && strcmp(argv[1], "--mock-cluster") == 0)
		return kafka_mock_serve(argc - 2, argv + 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_redelivered_when_not_acked),
		cmocka_unit_test(test_dead_letters),
		cmocka_unit_test(test_pause_and_threshold),
		cmocka_unit_test(test_bound_when_host_does_not_answer),
		cmocka_unit_test(test_release_redelivers),
		cmocka_unit_test(test_backpressure_with_host),
		cmocka_unit_test(test_broker_down_loses_nothing),
		cmocka_unit_test(test_circuit_breaker),
		cmocka_unit_test(test_literal_dollar_brace_reaches_librdkafka),
		cmocka_unit_test(test_unreachable_from_start_is_degraded),
		cmocka_unit_test(test_leader_change_loses_nothing),
		cmocka_unit_test(test_consumer_request_errors_at_least_once),
	};
	if (getenv("ONEX_TEST_FILTER")) /* e.g. ONEX_TEST_FILTER='*dead*' */
		cmocka_set_test_filter(getenv("ONEX_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
