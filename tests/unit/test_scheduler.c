/*
 * test_scheduler.c - the discrete-event scheduler as loop and clock port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "limits.h"
#include "loop.h"
#include "prng.h"
#include "scheduler.h"

#define MS(x) ((uint64_t)(x) * 1000000u)

/* A log of fired timers: (tag, time) pairs. */
struct trace {
	struct onex_sim_scheduler *sched;
	int tags[64];
	uint64_t times[64];
	int n;
};

struct tagged {
	struct trace *trace;
	int tag;
};

static void record(void *arg)
{
	struct tagged *t = arg;
	struct trace *tr = t->trace;
	tr->tags[tr->n] = t->tag;
	tr->times[tr->n] = onex_sim_scheduler_now_ns(tr->sched);
	tr->n++;
}

static int add(struct onex_sim_scheduler *sched, uint64_t delay, struct tagged *t,
	       uint64_t *id)
{
	return onex_loop_timer_add(onex_sim_scheduler_loop(sched), delay, record, t,
				   id, NULL);
}

static void test_order_by_time_then_insertion(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct trace tr = { .sched = sched };
	struct tagged t[5];
	static const uint64_t delays[5] = { MS(10), MS(5), MS(10), MS(5), 0 };
	static const int order[5] = { 4, 1, 3, 0, 2 };
	(void)state;
	for (int i = 0; i < 5; i++) {
		t[i] = (struct tagged){ &tr, i };
		assert_int_equal(add(sched, delays[i], &t[i], NULL), 0);
	}
	assert_int_equal(tr.n, 0); /* never called from inside timer_add */
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 5);
	assert_int_equal(onex_loop_run(onex_sim_scheduler_loop(sched)), 0);
	assert_int_equal(tr.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(tr.tags[i], order[i]);
		assert_int_equal(tr.times[i], delays[order[i]]);
	}
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 0);
	assert_int_equal(onex_sim_scheduler_fired_count(sched), 5);
	onex_sim_scheduler_free(sched);
}

/* A timer added from a callback for "now" runs after those already due now. */
struct chain {
	struct trace *trace;
	struct tagged child;
};

static void add_child_now(void *arg)
{
	struct chain *c = arg;
	struct trace *tr = c->trace;
	tr->tags[tr->n] = 100;
	tr->times[tr->n++] = onex_sim_scheduler_now_ns(tr->sched);
	assert_int_equal(onex_loop_timer_add(onex_sim_scheduler_loop(tr->sched), 0,
					     record, &c->child, NULL, NULL),
			 0);
	assert_int_equal(tr->tags[tr->n - 1], 100); /* not run synchronously */
}

static void test_zero_delay_from_callback_goes_last(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct trace tr = { .sched = sched };
	struct chain c = { &tr, { &tr, 101 } };
	struct tagged b = { &tr, 1 };
	(void)state;
	onex_loop_timer_add(onex_sim_scheduler_loop(sched), MS(1), add_child_now, &c,
			    NULL, NULL);
	add(sched, MS(1), &b, NULL);
	onex_loop_run(onex_sim_scheduler_loop(sched));
	assert_int_equal(tr.n, 3);
	assert_int_equal(tr.tags[0], 100);
	assert_int_equal(tr.tags[1], 1);
	assert_int_equal(tr.tags[2], 101);
	assert_int_equal(tr.times[2], MS(1));
	onex_sim_scheduler_free(sched);
}

static void test_cancel(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_loop *loop = onex_sim_scheduler_loop(sched);
	struct trace tr = { .sched = sched };
	struct tagged t[4] = { { &tr, 0 }, { &tr, 1 }, { &tr, 2 }, { &tr, 3 } };
	uint64_t id[4];
	(void)state;
	for (int i = 0; i < 4; i++)
		add(sched, MS(i + 1), &t[i], &id[i]);
	assert_int_equal(onex_loop_timer_cancel(loop, id[0]), 0); /* the heap root */
	assert_int_equal(onex_loop_timer_cancel(loop, id[2]), 0); /* the middle */
	assert_int_equal(onex_loop_timer_cancel(loop, id[2]), -1); /* twice */
	assert_int_equal(onex_loop_timer_cancel(loop, 0), -1);
	assert_int_equal(onex_loop_timer_cancel(loop, UINT64_MAX), -1);
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 2);
	onex_loop_run(loop);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.tags[0], 1);
	assert_int_equal(tr.tags[1], 3);
	/* Fired timers cannot be cancelled. */
	assert_int_equal(onex_loop_timer_cancel(loop, id[1]), -1);

	/* A stale id whose slot was reused does not cancel the new timer. */
	uint64_t stale, fresh;
	add(sched, MS(1), &t[0], &stale);
	assert_int_equal(onex_loop_timer_cancel(loop, stale), 0);
	add(sched, MS(1), &t[1], &fresh);
	assert_int_not_equal(stale, fresh);
	assert_int_equal(onex_loop_timer_cancel(loop, stale), -1);
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 1);
	onex_sim_scheduler_free(sched);
}

/* A callback cancels a timer due at the same instant, after it. */
struct canceller {
	struct onex_loop *loop;
	uint64_t victim;
	int rc;
};

static void cancel_victim(void *arg)
{
	struct canceller *c = arg;
	c->rc = onex_loop_timer_cancel(c->loop, c->victim);
}

static void test_cancel_from_callback(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_loop *loop = onex_sim_scheduler_loop(sched);
	struct trace tr = { .sched = sched };
	struct tagged v = { &tr, 9 };
	struct canceller c = { loop, 0, 42 };
	(void)state;
	onex_loop_timer_add(loop, MS(3), cancel_victim, &c, NULL, NULL);
	add(sched, MS(3), &v, &c.victim);
	onex_loop_run(loop);
	assert_int_equal(c.rc, 0);
	assert_int_equal(tr.n, 0);
	onex_sim_scheduler_free(sched);
}

static void test_run_until(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct trace tr = { .sched = sched };
	struct tagged t[3] = { { &tr, 0 }, { &tr, 1 }, { &tr, 2 } };
	uint64_t due;
	(void)state;
	add(sched, MS(10), &t[0], NULL);
	add(sched, MS(20), &t[1], NULL);
	add(sched, MS(30), &t[2], NULL);
	assert_int_equal(onex_sim_scheduler_next_due_ns(sched, &due), 0);
	assert_int_equal(due, MS(10));

	assert_int_equal(onex_sim_scheduler_run_until(sched, MS(20)), 0);
	assert_int_equal(tr.n, 2); /* due <= t, inclusive */
	assert_int_equal(onex_sim_scheduler_now_ns(sched), MS(20));
	assert_int_equal(onex_sim_scheduler_run_until(sched, MS(25)), 0);
	assert_int_equal(tr.n, 2);
	assert_int_equal(onex_sim_scheduler_now_ns(sched), MS(25));
	/* Time never goes backwards. */
	assert_int_equal(onex_sim_scheduler_run_until(sched, MS(1)), 0);
	assert_int_equal(onex_sim_scheduler_now_ns(sched), MS(25));
	/* Relative delays count from the current virtual time. */
	struct tagged late = { &tr, 3 };
	add(sched, MS(10), &late, NULL); /* due at 35 ms */
	assert_int_equal(onex_sim_scheduler_run_until(sched, MS(34)), 0);
	assert_int_equal(tr.n, 3);
	assert_int_equal(tr.times[2], MS(30));
	assert_int_equal(onex_sim_scheduler_run_until(sched, MS(100)), 0);
	assert_int_equal(tr.n, 4);
	assert_int_equal(tr.times[3], MS(35));
	assert_int_equal(onex_sim_scheduler_now_ns(sched), MS(100));
	assert_int_equal(onex_sim_scheduler_next_due_ns(sched, &due), -1);
	onex_sim_scheduler_free(sched);
}

static void test_idle_time_jumps(void **state)
{
	const int64_t epoch = INT64_C(1735689600) * 1000000000; /* 2025-01-01 */
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(epoch);
	struct onex_clock *clock = onex_sim_scheduler_clock(sched);
	struct trace tr = { .sched = sched };
	struct tagged t = { &tr, 0 };
	const uint64_t hour = UINT64_C(3600) * 1000000000;
	(void)state;
	assert_int_equal(onex_clock_monotonic_ns(clock), 0);
	assert_int_equal(onex_clock_wall_ns(clock), epoch);
	add(sched, hour, &t, NULL);
	onex_loop_run(onex_sim_scheduler_loop(sched));
	assert_int_equal(tr.times[0], hour);
	assert_int_equal(onex_clock_monotonic_ns(clock), hour);
	assert_int_equal(onex_loop_now_ns(onex_sim_scheduler_loop(sched)), hour);
	assert_int_equal(onex_clock_wall_ns(clock), epoch + (int64_t)hour);
	onex_sim_scheduler_free(sched);
}

static void test_clock_jump(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(1000);
	struct onex_clock *clock = onex_sim_scheduler_clock(sched);
	struct trace tr = { .sched = sched };
	struct tagged t = { &tr, 0 };
	(void)state;
	onex_sim_scheduler_run_until(sched, 500);
	add(sched, 100, &t, NULL);
	onex_sim_scheduler_advance_clock(sched, -INT64_C(10000));
	assert_int_equal(onex_clock_wall_ns(clock), 1000 + 500 - 10000);
	assert_int_equal(onex_clock_monotonic_ns(clock), 500);
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 1);
	assert_int_equal(tr.n, 0); /* a jump fires nothing */
	onex_sim_scheduler_advance_clock(sched, INT64_C(60000000000));
	assert_int_equal(onex_clock_monotonic_ns(clock), 500);
	onex_sim_scheduler_run_until(sched, 1000);
	assert_int_equal(tr.n, 1);
	assert_int_equal(tr.times[0], 600);
	assert_int_equal(onex_clock_wall_ns(clock),
			 1000 + 1000 - 10000 + INT64_C(60000000000));
	onex_clock_free(clock); /* no-op: the scheduler owns its clock */
	onex_sim_scheduler_free(sched);
}

/* stop() from a callback ends run() and run_until(); the rest stays. */
static void stop_loop(void *arg)
{
	onex_loop_stop(arg);
}

static void test_stop(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_loop *loop = onex_sim_scheduler_loop(sched);
	struct trace tr = { .sched = sched };
	struct tagged t[2] = { { &tr, 0 }, { &tr, 1 } };
	(void)state;
	add(sched, MS(1), &t[0], NULL);
	onex_loop_timer_add(loop, MS(2), stop_loop, loop, NULL, NULL);
	add(sched, MS(3), &t[1], NULL);
	onex_loop_timer_add(loop, MS(4), stop_loop, loop, NULL, NULL);
	assert_int_equal(onex_loop_run(loop), 0);
	assert_int_equal(tr.n, 1);
	assert_int_equal(onex_sim_scheduler_now_ns(sched), MS(2));
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 2);
	/* run_until reports the stop and keeps time at the stopping instant. */
	assert_int_equal(onex_sim_scheduler_run_until(sched, MS(10)), 1);
	assert_int_equal(tr.n, 2);
	assert_int_equal(onex_sim_scheduler_now_ns(sched), MS(4));
	/* stop() outside a run makes the next run return at once. */
	add(sched, MS(1), &t[0], NULL);
	onex_loop_stop(loop);
	assert_int_equal(onex_loop_run(loop), 0);
	assert_int_equal(tr.n, 2);
	assert_int_equal(onex_loop_run(loop), 0);
	assert_int_equal(tr.n, 3);
	onex_loop_free(loop); /* frees the whole scheduler */
}

static void nested_run(void *arg)
{
	struct onex_sim_scheduler *sched = arg;
	assert_int_equal(onex_loop_run(onex_sim_scheduler_loop(sched)), -1);
	assert_int_equal(onex_sim_scheduler_run_until(sched, UINT64_MAX), -1);
}

static void test_no_nesting(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	(void)state;
	onex_loop_timer_add(onex_sim_scheduler_loop(sched), 0, nested_run, sched,
			    NULL, NULL);
	assert_int_equal(onex_loop_run(onex_sim_scheduler_loop(sched)), 0);
	assert_int_equal(onex_sim_scheduler_fired_count(sched), 1);
	onex_sim_scheduler_free(sched);
}

static void test_fd_watch_refused(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_loop *loop = onex_sim_scheduler_loop(sched);
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_loop_fd_watch(loop, 0, ONEX_LOOP_READABLE, NULL, NULL,
					    &err),
			 -1);
	assert_int_equal(err.code, ONEX_ERR_EVENT_BUS_ERROR);
	assert_non_null(strstr(err.text, "no descriptors"));
	assert_int_equal(onex_loop_fd_unwatch(loop, 0), -1);
	assert_ptr_equal(onex_sim_scheduler_from_loop(loop), sched);
	onex_sim_scheduler_free(sched);
}

static void noop(void *arg)
{
	(void)arg;
}

static void test_timer_bound(void **state)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_loop *loop = onex_sim_scheduler_loop(sched);
	struct onex_error err;
	uint64_t first;
	(void)state;
	for (unsigned i = 0; i < ONEX_LOOP_TIMERS_MAX; i++)
		assert_int_equal(onex_loop_timer_add(loop, i, noop, NULL,
						     i ? NULL : &first, NULL),
				 0);
	onex_error_clear(&err);
	assert_int_equal(onex_loop_timer_add(loop, 0, noop, NULL, NULL, &err), -1);
	assert_int_equal(err.code, ONEX_ERR_EVENT_BUS_ERROR);
	assert_non_null(strstr(err.text, "ONEX_LOOP_TIMERS_MAX"));
	assert_int_equal(onex_sim_scheduler_pending_count(sched), ONEX_LOOP_TIMERS_MAX);
	/* Room again once one is cancelled. */
	assert_int_equal(onex_loop_timer_cancel(loop, first), 0);
	assert_int_equal(onex_loop_timer_add(loop, 0, noop, NULL, NULL, NULL), 0);
	onex_sim_scheduler_run_until(sched, ONEX_LOOP_TIMERS_MAX);
	assert_int_equal(onex_sim_scheduler_pending_count(sched), 0);
	assert_int_equal(onex_sim_scheduler_fired_count(sched), ONEX_LOOP_TIMERS_MAX);
	onex_sim_scheduler_free(sched);
}

/* Random adds and cancels: the firing order is sorted by (due, insertion). */
struct rnd_timer {
	uint64_t due, seq, id;
	int cancelled, fired;
	uint64_t *last_due, *last_seq;
	int *count;
};

static void rnd_fire(void *arg)
{
	struct rnd_timer *t = arg;
	assert_false(t->cancelled);
	assert_false(t->fired);
	assert_true(t->due > *t->last_due ||
		    (t->due == *t->last_due && t->seq > *t->last_seq));
	*t->last_due = t->due;
	*t->last_seq = t->seq;
	t->fired = 1;
	(*t->count)++;
}

static void test_random_heap_order(void **state)
{
	enum { N = 5000 };
	struct onex_sim_scheduler *sched = onex_sim_scheduler_new(0);
	struct onex_loop *loop = onex_sim_scheduler_loop(sched);
	struct rnd_timer *t = calloc(N, sizeof(*t));
	struct onex_prng p;
	uint64_t last_due = 0, last_seq = 0;
	int count = 0, cancelled = 0;
	(void)state;
	onex_prng_init(&p, 99);
	for (int i = 0; i < N; i++) {
		t[i] = (struct rnd_timer){ .due = onex_prng_below(&p, 50), .seq = (uint64_t)i + 1,
					   .last_due = &last_due, .last_seq = &last_seq,
					   .count = &count };
		assert_int_equal(onex_loop_timer_add(loop, t[i].due, rnd_fire, &t[i],
						     &t[i].id, NULL),
				 0);
		if (i > 0 && onex_prng_below(&p, 3) == 0) {
			int victim = (int)onex_prng_below(&p, (uint64_t)i);
			if (!t[victim].cancelled) {
				assert_int_equal(onex_loop_timer_cancel(loop, t[victim].id), 0);
				t[victim].cancelled = 1;
				cancelled++;
			}
		}
	}
	onex_loop_run(loop);
	assert_int_equal(count, N - cancelled);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].fired, !t[i].cancelled);
	free(t);
	onex_sim_scheduler_free(sched);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_by_time_then_insertion),
		cmocka_unit_test(test_zero_delay_from_callback_goes_last),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_from_callback),
		cmocka_unit_test(test_run_until),
		cmocka_unit_test(test_idle_time_jumps),
		cmocka_unit_test(test_clock_jump),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_no_nesting),
		cmocka_unit_test(test_fd_watch_refused),
		cmocka_unit_test(test_timer_bound),
		cmocka_unit_test(test_random_heap_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
