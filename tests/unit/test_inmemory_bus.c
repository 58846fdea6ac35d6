/*
 * test_inmemory_bus.c - the in-memory bus on the simulation scheduler:
 * FIFO, asynchronous delivery, pause/resume, bounded queue, history, acks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "contract.h"
#include "inmemory_bus.h"
#include "limits.h"
#include "scheduler.h"

#define MS(x) ((uint64_t)(x) * 1000000u)
#define REC_MAX 64

/* What a subscriber saw. */
struct rec {
	struct onex_sim_scheduler *sched;
	struct onex_bus *bus;
	int n;
	char data[REC_MAX][64];
	char position[REC_MAX][300];
	uint64_t token[REC_MAX];
	uint64_t at[REC_MAX];
	size_t len[REC_MAX], len_original[REC_MAX];
	int auto_ack;
	int pause_after; /* pause the bus after this many deliveries (0: never) */
	int closed;
};

static void on_deliver(void *arg, const struct onex_bus_message *msg)
{
	struct rec *r = arg;
	assert_true(r->n < REC_MAX);
	snprintf(r->data[r->n], sizeof(r->data[0]), "%.*s",
		 (int)(msg->len < 63 ? msg->len : 63), msg->data);
	snprintf(r->position[r->n], sizeof(r->position[0]), "%s", msg->position);
	r->token[r->n] = msg->token;
	r->len[r->n] = msg->len;
	r->len_original[r->n] = msg->len_original;
	r->at[r->n] = onex_sim_scheduler_now_ns(r->sched);
	r->n++;
	if (r->auto_ack)
		onex_bus_ack(r->bus, msg->token);
	if (r->pause_after && r->n == r->pause_after)
		onex_bus_pause(r->bus);
}

static void on_closed(void *arg)
{
	((struct rec *)arg)->closed++;
}

struct fixture {
	struct onex_sim_scheduler *sched;
	struct onex_bus *bus;
	struct onex_contract_bus contract;
};

static void fixture_open(struct fixture *f, json_t *config)
{
	struct onex_bus_env env = { 0 };
	struct onex_error err;
	memset(f, 0, sizeof(*f));
	f->sched = onex_sim_scheduler_new(0);
	env.loop = onex_sim_scheduler_loop(f->sched);
	env.clock = onex_sim_scheduler_clock(f->sched);
	strcpy(f->contract.kind, "inmemory");
	f->contract.config = config ? config : json_object();
	onex_error_clear(&err);
	f->bus = onex_inmemory_bus_unit.create(&env, &f->contract, &err);
	assert_non_null(f->bus);
	assert_false(onex_error_is_set(&err));
}

static void fixture_close(struct fixture *f)
{
	onex_bus_free(f->bus);
	onex_sim_scheduler_free(f->sched);
	json_decref(f->contract.config);
}

static void run(struct fixture *f)
{
	assert_int_equal(onex_loop_run(onex_sim_scheduler_loop(f->sched)), 0);
}

static int pub(struct fixture *f, const char *topic, const char *text,
	       struct onex_error *err)
{
	return onex_bus_publish(f->bus, topic, NULL, text, strlen(text), NULL, NULL, err);
}

static void rec_init(struct rec *r, struct fixture *f)
{
	memset(r, 0, sizeof(*r));
	r->sched = f->sched;
	r->bus = f->bus;
	r->auto_ack = 1;
}

static void test_fifo_and_async(void **state)
{
	struct fixture f;
	struct rec r;
	char text[16];
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	assert_string_equal(onex_inmemory_bus_unit.kind, "inmemory");
	assert_true(onex_inmemory_bus_is(f.bus));
	assert_int_equal(onex_bus_subscribe(f.bus, "t.in", on_deliver, NULL, &r, NULL), 0);
	assert_int_equal(onex_bus_start_consuming(f.bus, NULL), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		assert_int_equal(pub(&f, "t.in", text, NULL), 0);
	}
	assert_int_equal(pub(&f, "t.other", "x", NULL), 0);
	assert_int_equal(r.n, 0); /* never synchronously */
	run(&f);
	assert_int_equal(r.n, 5);
	for (int i = 0; i < 5; i++) {
		char pos[64];
		snprintf(text, sizeof(text), "m%d", i);
		snprintf(pos, sizeof(pos), "inmemory t.in #%d", i + 1);
		assert_string_equal(r.data[i], text);
		assert_string_equal(r.position[i], pos);
		assert_int_equal(r.len[i], r.len_original[i]);
	}
	/* Acked messages are gone; the unsubscribed topic keeps its one. */
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 1);
	assert_int_equal(onex_inmemory_bus_queued_bytes(f.bus),
			 1 + ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES);
	fixture_close(&f);
}

static void test_nothing_before_start_consuming(void **state)
{
	struct fixture f;
	struct rec r;
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	/* Published before anyone subscribed: the first subscriber gets it. */
	assert_int_equal(pub(&f, "t", "early", NULL), 0);
	assert_int_equal(onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &r, NULL), 0);
	assert_int_equal(pub(&f, "t", "later", NULL), 0);
	run(&f);
	assert_int_equal(r.n, 0);
	assert_int_equal(onex_bus_start_consuming(f.bus, NULL), 0);
	run(&f);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.data[0], "early");
	assert_string_equal(r.data[1], "later");
	fixture_close(&f);
}

static void test_pause_resume_keeps_order(void **state)
{
	struct fixture f;
	struct rec r;
	char text[16];
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	r.pause_after = 2; /* the host pausing at its in-flight limit */
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &r, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	for (int i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		pub(&f, "t", text, NULL);
	}
	run(&f);
	assert_int_equal(r.n, 2);
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 4);
	json_t *h = onex_bus_health_check(f.bus);
	assert_true(json_is_true(json_object_get(h, "paused")));
	json_decref(h);
	/* Published while paused: queued behind the others. */
	pub(&f, "t", "m6", NULL);
	run(&f);
	assert_int_equal(r.n, 2);
	r.pause_after = 0;
	onex_bus_resume(f.bus);
	assert_int_equal(r.n, 2); /* resume does not deliver synchronously */
	run(&f);
	assert_int_equal(r.n, 7);
	for (int i = 0; i < 7; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		assert_string_equal(r.data[i], text);
	}
	fixture_close(&f);
}

static void test_queue_full_is_an_error(void **state)
{
	struct fixture f;
	struct rec r;
	struct onex_error err;
	const size_t per = 10 + ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES;
	int accepted = 0;
	(void)state;
	fixture_open(&f, json_pack("{s:I}", "queue_bytes_max", (json_int_t)(3 * per)));
	rec_init(&r, &f);
	r.auto_ack = 0;
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &r, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	for (int i = 0; i < 5; i++) {
		onex_error_clear(&err);
		if (pub(&f, "t", "0123456789", &err) == 0) {
			accepted++;
			continue;
		}
		assert_int_equal(err.code, ONEX_ERR_EVENT_BUS_ERROR);
		assert_non_null(strstr(err.text, "queue full"));
	}
	assert_int_equal(accepted, 3);
	/* Delivered but not acked still counts: the host has not finished. */
	run(&f);
	assert_int_equal(r.n, 3);
	onex_error_clear(&err);
	assert_int_equal(pub(&f, "t", "0123456789", &err), -1);
	json_t *h = onex_bus_health_check(f.bus);
	assert_int_equal(json_integer_value(json_object_get(h, "refused")), 3);
	json_decref(h);
	/* An ack makes room; duplicate and unknown tokens change nothing. */
	onex_bus_ack(f.bus, r.token[0]);
	onex_bus_ack(f.bus, r.token[0]);
	onex_bus_ack(f.bus, 0);
	onex_bus_ack(f.bus, UINT64_MAX);
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 2);
	assert_int_equal(onex_inmemory_bus_queued_bytes(f.bus), 2 * per);
	assert_int_equal(pub(&f, "t", "0123456789", NULL), 0);
	assert_int_equal(pub(&f, "t", "0123456789", NULL), -1);
	/* Out-of-order acks: bytes are returned at once. */
	onex_bus_ack(f.bus, r.token[2]);
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 2);
	onex_bus_ack(f.bus, r.token[1]);
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 1);
	assert_int_equal(onex_inmemory_bus_queued_bytes(f.bus), per);
	fixture_close(&f);
}

static void test_history_bounded(void **state)
{
	struct fixture f;
	const char *topic, *data;
	size_t len;
	char text[16];
	(void)state;
	fixture_open(&f, json_pack("{s:i}", "history_size", 3));
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "h%d", i);
		pub(&f, i % 2 ? "odd" : "even", text, NULL);
	}
	assert_int_equal(onex_inmemory_bus_history_count(f.bus), 3);
	for (size_t i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "h%zu", i + 2);
		assert_int_equal(onex_inmemory_bus_history_get(f.bus, i, &topic, &data, &len), 0);
		assert_int_equal(len, strlen(text));
		assert_memory_equal(data, text, len);
		assert_string_equal(topic, (i + 2) % 2 ? "odd" : "even");
	}
	assert_int_equal(onex_inmemory_bus_history_get(f.bus, 3, &topic, &data, &len), -1);
	json_t *d = onex_bus_describe(f.bus);
	assert_int_equal(json_integer_value(json_object_get(d, "history_size")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "published")), 5);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "inmemory");
	json_t *topics = json_object_get(d, "topics");
	assert_int_equal(json_array_size(topics), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(topics, 0), "name")),
			    "even");
	json_decref(d);
	fixture_close(&f);

	fixture_open(&f, json_pack("{s:i}", "history_size", 0));
	pub(&f, "t", "x", NULL);
	assert_int_equal(onex_inmemory_bus_history_count(f.bus), 0);
	fixture_close(&f);

	/* The default keeps ONEX_INMEMORY_HISTORY_DEFAULT. */
	fixture_open(&f, NULL);
	for (unsigned i = 0; i < ONEX_INMEMORY_HISTORY_DEFAULT + 5; i++)
		pub(&f, "t", "x", NULL);
	assert_int_equal(onex_inmemory_bus_history_count(f.bus), ONEX_INMEMORY_HISTORY_DEFAULT);
	fixture_close(&f);
}

static void test_fan_out_acks_per_subscriber(void **state)
{
	struct fixture f;
	struct rec a, b, late;
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&a, &f);
	rec_init(&b, &f);
	rec_init(&late, &f);
	b.auto_ack = 0;
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &a, NULL);
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &b, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	pub(&f, "t", "one", NULL);
	run(&f);
	/* A later subscriber sees only what is published after it joined. */
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &late, NULL);
	pub(&f, "t", "two", NULL);
	run(&f);
	assert_int_equal(a.n, 2);
	assert_int_equal(b.n, 2);
	assert_int_equal(late.n, 1);
	assert_string_equal(late.data[0], "two");
	assert_int_not_equal(a.token[0], b.token[0]);
	/* Kept until every subscriber acked. */
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 2);
	onex_bus_ack(f.bus, b.token[0]);
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 1);
	onex_bus_ack(f.bus, b.token[1]);
	assert_int_equal(onex_inmemory_bus_queued_count(f.bus), 0);
	assert_int_equal(onex_inmemory_bus_queued_bytes(f.bus), 0);
	fixture_close(&f);
}

struct done_rec {
	int calls, status;
};

static void on_published(void *arg, int status, const struct onex_error *err)
{
	struct done_rec *d = arg;
	(void)err;
	d->calls++;
	d->status = status;
}

static void test_publish_done_and_shutdown(void **state)
{
	struct fixture f;
	struct rec r;
	struct done_rec d = { 0, -7 };
	struct onex_error err;
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &r, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	assert_int_equal(onex_bus_publish(f.bus, "t", "key", "a", 1, on_published, &d, NULL), 0);
	assert_int_equal(d.calls, 0);
	run(&f);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);

	/* A publish accepted before shutdown still completes; no deliveries. */
	onex_bus_publish(f.bus, "t", NULL, "b", 1, on_published, &d, NULL);
	onex_bus_shutdown(f.bus);
	run(&f);
	assert_int_equal(d.calls, 2);
	assert_int_equal(r.n, 1);
	onex_error_clear(&err);
	assert_int_equal(pub(&f, "t", "c", &err), -1);
	assert_int_equal(err.code, ONEX_ERR_EVENT_BUS_ERROR);
	assert_non_null(strstr(err.text, "shut down"));
	json_t *h = onex_bus_health_check(f.bus);
	assert_true(json_is_false(json_object_get(h, "healthy")));
	json_decref(h);

	/* Freeing with a confirmation still pending drops it without a call. */
	struct fixture g;
	fixture_open(&g, NULL);
	onex_bus_publish(g.bus, "t", NULL, "x", 1, on_published, &d, NULL);
	fixture_close(&g);
	assert_int_equal(d.calls, 2);
	fixture_close(&f);
}

static void test_delivery_delay_keeps_fifo(void **state)
{
	struct fixture f;
	struct rec r;
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &r, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	assert_int_equal(onex_inmemory_bus_set_delivery_delay(f.bus, "t", MS(5), NULL), 0);
	pub(&f, "t", "slow", NULL);
	onex_inmemory_bus_set_delivery_delay(f.bus, "t", 0, NULL);
	pub(&f, "t", "fast", NULL);
	run(&f);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.data[0], "slow");
	assert_int_equal(r.at[0], MS(5));
	assert_string_equal(r.data[1], "fast"); /* never overtakes */
	assert_int_equal(r.at[1], MS(5));
	fixture_close(&f);
}

static void test_close_topic(void **state)
{
	struct fixture f;
	struct rec r;
	struct onex_error err;
	(void)state;
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	onex_bus_subscribe(f.bus, "in", on_deliver, on_closed, &r, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	pub(&f, "in", "a", NULL);
	pub(&f, "in", "b", NULL);
	assert_int_equal(onex_inmemory_bus_close_topic(f.bus, "in", NULL), 0);
	onex_error_clear(&err);
	assert_int_equal(pub(&f, "in", "c", &err), -1);
	assert_non_null(strstr(err.text, "closed"));
	assert_int_equal(r.closed, 0);
	run(&f);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.closed, 1);
	fixture_close(&f);
}

static void test_oversize_is_truncated_and_reported(void **state)
{
	struct fixture f;
	struct rec r;
	size_t big = ONEX_ENVELOPE_BYTES_MAX + 10;
	char *data = malloc(big);
	(void)state;
	memset(data, 'x', big);
	fixture_open(&f, NULL);
	rec_init(&r, &f);
	onex_bus_subscribe(f.bus, "t", on_deliver, NULL, &r, NULL);
	onex_bus_start_consuming(f.bus, NULL);
	assert_int_equal(onex_bus_publish(f.bus, "t", NULL, data, big, NULL, NULL, NULL), 0);
	run(&f);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.len[0], ONEX_ENVELOPE_BYTES_MAX);
	assert_int_equal(r.len_original[0], big);
	free(data);
	fixture_close(&f);
}

static void test_config_errors(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_bus_env env = { .loop = onex_sim_scheduler_loop(sched) };
	struct onex_contract_bus c;
	struct onex_error err;
	struct onex_bus *bus;
	(void)state;
	memset(&c, 0, sizeof(c));
	strcpy(c.kind, "inmemory");
	c.line = 7;
	c.config = json_pack("{s:i}", "history_size", -1);
	onex_error_clear(&err);
	assert_null(onex_inmemory_bus_new(&env, &c, &err));
	assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	assert_non_null(strstr(err.text, "history_size"));
	assert_int_equal(err.line, 7);
	json_decref(c.config);

	c.config = json_pack("{s:s}", "queue_bytes_max", "big");
	onex_error_clear(&err);
	assert_null(onex_inmemory_bus_new(&env, &c, &err));
	assert_non_null(strstr(err.text, "queue_bytes_max"));
	json_decref(c.config);

	c.config = NULL;
	strcpy(c.kind, "kafka");
	onex_error_clear(&err);
	assert_null(onex_inmemory_bus_new(&env, &c, &err));
	assert_non_null(strstr(err.text, "kafka"));

	/* NULL config: all defaults. */
	bus = onex_inmemory_bus_new(&env, NULL, NULL);
	assert_non_null(bus);
	json_t *d = onex_bus_describe(bus);
	assert_int_equal(json_integer_value(json_object_get(d, "queue_bytes_max")),
			 ONEX_INMEMORY_QUEUE_BYTES_MAX);
	json_decref(d);
	onex_bus_free(bus);
	onex_sim_scheduler_free(sched);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_and_async),
		cmocka_unit_test(test_nothing_before_start_consuming),
		cmocka_unit_test(test_pause_resume_keeps_order),
		cmocka_unit_test(test_queue_full_is_an_error),
		cmocka_unit_test(test_history_bounded),
		cmocka_unit_test(test_fan_out_acks_per_subscriber),
		cmocka_unit_test(test_publish_done_and_shutdown),
		cmocka_unit_test(test_delivery_delay_keeps_fifo),
		cmocka_unit_test(test_close_topic),
		cmocka_unit_test(test_oversize_is_truncated_and_reported),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
