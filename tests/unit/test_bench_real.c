/*
 * test_bench_real.c - the helpers the real-unit benchmarks share
 * (sim/bench/wl_real.c): pinning this process and another one to one CPU
 * and giving both their old affinity back, all or nothing; and one
 * request run on a unit's epoll loop to its answer (with the local
 * handler as the unit).
 *
 * wl_real.c is compiled in here (it is part of onex-bench, not of a
 * library the tests link); the workloads it names and the result lookup
 * it uses are stubbed, and the two clocks of bench.c written again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/histogram.c"
#include "bench/stats.c"
#include "bench/wl_real.c"

#include "local_handler.h"
#include "system_units.h"

/* ---- stubs for what wl_real.c names but these tests do not run ---------------- */

const struct onex_bench_metric *onex_bench_metric_find(const struct onex_bench_result *res,
						       const char *name)
{
	(void)res;
	(void)name;
	return NULL;
}

int onex_bench_real_kafka_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			      unsigned rep)
{
	(void)ctx, (void)res, (void)rep;
	return -1;
}

int onex_bench_real_db_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			   unsigned rep)
{
	(void)ctx, (void)res, (void)rep;
	return -1;
}

int onex_bench_real_http_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			     unsigned rep)
{
	(void)ctx, (void)res, (void)rep;
	return -1;
}

uint64_t onex_bench_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t onex_bench_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- pinning ------------------------------------------------------------------ */

static pid_t start_sleeper(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
		for (;;)
			pause();
	}
	return pid;
}

static void stop_sleeper(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static cpu_set_t affinity_of(pid_t pid)
{
	cpu_set_t set;
	assert_int_equal(sched_getaffinity(pid, sizeof(set), &set), 0);
	return set;
}

static int is_only(const cpu_set_t *set, int cpu)
{
	return CPU_COUNT(set) == 1 && CPU_ISSET(cpu, set);
}

static void test_pin_self_and_other_then_restore(void **state)
{
	(void)state;
	pid_t other = start_sleeper();
	cpu_set_t self0 = affinity_of(0), other0 = affinity_of(other);
	struct onex_bench_pin pin;

	assert_int_equal(onex_bench_pin_one_cpu(&pin, &other, 1), 0);
	assert_true(pin.cpu >= 0);
	assert_int_equal(pin.n, 2);
	cpu_set_t self1 = affinity_of(0), other1 = affinity_of(other);
	assert_true(is_only(&self1, pin.cpu));
	assert_true(is_only(&other1, pin.cpu));

	/* A process forked now (pgbench, a server) inherits the one CPU. */
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		cpu_set_t mine;
		_exit(sched_getaffinity(0, sizeof(mine), &mine) == 0 && is_only(&mine, pin.cpu)
			      ? 0
			      : 1);
	}
	int status = -1;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	onex_bench_unpin(&pin);
	assert_int_equal(pin.n, 0);
	assert_int_equal(pin.cpu, -1);
	cpu_set_t self2 = affinity_of(0), other2 = affinity_of(other);
	assert_true(CPU_EQUAL(&self2, &self0));
	assert_true(CPU_EQUAL(&other2, &other0));
	stop_sleeper(other);
}

static void test_pin_all_or_nothing(void **state)
{
	(void)state;
	cpu_set_t self0 = affinity_of(0);
	struct onex_bench_pin pin;

	/* A process that is gone: nothing may stay pinned. */
	pid_t gone = start_sleeper();
	stop_sleeper(gone);
	assert_int_equal(onex_bench_pin_one_cpu(&pin, &gone, 1), -1);
	assert_int_equal(pin.cpu, -1);
	assert_int_equal(pin.n, 0);
	cpu_set_t self1 = affinity_of(0);
	assert_true(CPU_EQUAL(&self1, &self0));

	/* More processes than the helper keeps masks for: refused before any change. */
	pid_t many[ONEX_BENCH_PIN_MAX];
	for (unsigned i = 0; i < ONEX_BENCH_PIN_MAX; i++)
		many[i] = getpid();
	assert_int_equal(onex_bench_pin_one_cpu(&pin, many, ONEX_BENCH_PIN_MAX), -1);
	cpu_set_t self2 = affinity_of(0);
	assert_true(CPU_EQUAL(&self2, &self0));

	/* Unpinning what was never pinned changes nothing. */
	onex_bench_unpin(&pin);
	cpu_set_t self3 = affinity_of(0);
	assert_true(CPU_EQUAL(&self3, &self0));
}

/* ---- one request on the unit's loop -------------------------------------------- */

struct unit {
	struct onex_bench_call call;
	struct onex_clock *clock;
	struct onex_log *log;
};

static void unit_start(struct unit *u)
{
	struct onex_error err;
	memset(u, 0, sizeof(*u));
	onex_error_clear(&err);
	u->call.loop = onex_epoll_loop_new(&err);
	assert_non_null(u->call.loop);
	u->clock = onex_system_clock_new();
	assert_non_null(u->clock);
	u->log = onex_stderr_log_new(u->clock, ONEX_LOG_ERROR);
	assert_non_null(u->log);
	struct onex_handler_env env = { u->call.loop, u->clock, u->log, NULL };
	u->call.h = onex_local_handler_unit.create(&env, &err);
	assert_non_null(u->call.h);
	assert_int_equal(onex_handler_initialize(u->call.h, NULL, &err), 0);
}

static void unit_stop(struct unit *u)
{
	onex_handler_shutdown(u->call.h);
	onex_handler_free(u->call.h);
	onex_loop_free(u->call.loop);
	onex_log_free(u->log);
	onex_clock_free(u->clock);
}

/* The answer's payload (owned by the caller) or NULL. */
static json_t *call(struct unit *u, const char *operation, json_t *payload)
{
	struct onex_envelope req;
	memset(&req, 0, sizeof(req));
	req.json = json_pack("{s:s,s:o}", "operation", operation, "payload", payload);
	req.operation = operation;
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = "11111111-2222-4333-8444-555555555555";
	req.handler_type = ONEX_HANDLER_LOCAL;
	json_t *answer = onex_bench_call_once(&u->call, &req);
	json_decref(req.json);
	return answer;
}

static void test_call_returns_the_answer(void **state)
{
	(void)state;
	struct unit u;
	unit_start(&u);
	json_t *a = call(&u, "local.echo", json_pack("{s:i}", "n", 7));
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "n")), 7);
	json_decref(a);

	/* An answer that comes later: the loop runs until it is there. */
	uint64_t t0 = onex_bench_wall_ns();
	a = call(&u, "local.echo", json_pack("{s:i,s:i}", "n", 8, "delay_ms", 30));
	assert_true(onex_bench_wall_ns() - t0 >= 30ull * 1000000ull);
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "n")), 8);
	json_decref(a);
	unit_stop(&u);
}

static void test_call_failure_is_null(void **state)
{
	(void)state;
	struct unit u;
	unit_start(&u);
	assert_null(call(&u, "local.error", json_pack("{s:s}", "message", "no")));
	/* The handler is still usable after a failed call. */
	json_t *a = call(&u, "local.echo", json_pack("{s:i}", "n", 9));
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "n")), 9);
	json_decref(a);
	unit_stop(&u);
}

/* ---- the unit's side of a round ------------------------------------------------- */

struct busy {
	unsigned long calls, fail_at; /* fail_at: the call that fails (1-based), 0: none */
};

/* A "request" that keeps the CPU busy for 200 us. */
static int busy_one(void *arg)
{
	struct busy *b = arg;
	uint64_t until = onex_bench_wall_ns() + 200000u;
	while (onex_bench_wall_ns() < until)
		;
	return ++b->calls == b->fail_at ? -1 : 0;
}

static void test_unit_round_times_each_request(void **state)
{
	(void)state;
	struct onex_hist h;
	struct busy b = { 0, 0 };
	double cpu = 1000.0; /* added to, not set */
	assert_int_equal(onex_hist_init(&h, 1, 3600ll * 1000000000ll, 3), 0);
	uint64_t ns = onex_bench_real_unit_round(busy_one, &b, 20, &h, &cpu);
	assert_int_equal(b.calls, 20);
	assert_true(ns >= 20ull * 200000u);
	assert_int_equal(h.total_count, 20);
	assert_true(onex_hist_value_at_percentile(&h, 0.0) >= 190000);
	assert_true(cpu > 1000.0 + 20.0 * 20000.0); /* busy: CPU time was added (>= 10 % of 4 ms, even on a loaded machine) */

	/* A request that fails ends the round: 0, and nothing more is called. */
	struct busy bad = { 0, 3 };
	assert_int_equal(onex_bench_real_unit_round(busy_one, &bad, 20, &h, &cpu), 0);
	assert_int_equal(bad.calls, 3);
	onex_hist_release(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_self_and_other_then_restore),
		cmocka_unit_test(test_pin_all_or_nothing),
		cmocka_unit_test(test_call_returns_the_answer),
		cmocka_unit_test(test_call_failure_is_null),
		cmocka_unit_test(test_unit_round_times_each_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
