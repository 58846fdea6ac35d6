/*
 * wl_real.c - the real-unit workloads: the Kafka bus (wl_real_kafka.c),
 * PostgreSQL through libpq (wl_real_db.c) and HTTP through libcurl
 * (wl_real_http.c), each measured next to its reference in the same
 * repetition (a bare librdkafka loop, pgbench -S -M prepared, a bare
 * libcurl loop). The services are started as the units' tests start them
 * (tests/support/kafka_mock.c, pg_cluster.c, http_server.c, included by
 * the wl_real_*.c files). A missing prerequisite (no PostgreSQL binaries,
 * no pgbench) makes the workload "not available" with the reason; no
 * number is made up.
 *
 * The targets (real-kafka >= 0.7x the bare loop, real-db >= 0.8x pgbench,
 * real-http >= 0.8x bare libcurl) are rows of the target table in
 * runner.c, decided on the median of each workload's "vs_reference"
 * metric; the workload's note says how the two sides were measured.
 *
 * Shared: the note, "not available", one request run on a unit's loop to
 * its answer (onex_bench_call_once), the timed unit side of a round
 * (onex_bench_real_unit_round), and pinning a client and its server to
 * one CPU (onex_bench_pin_one_cpu); see wl_real.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "stats.h"
#include "wl_real.h"

void onex_bench_real_note(struct onex_bench_result *res, const char *how)
{
	const struct onex_bench_metric *m = onex_bench_metric_find(res, "vs_reference");
	if (!m || m->n == 0)
		return;
	snprintf(res->note, sizeof(res->note), "%.3fx the reference (median of %zu): %s",
		 onex_stats_median(m->samples, m->n), m->n, how);
}

int onex_bench_real_unavailable(struct onex_bench_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	res->available = 0;
	vsnprintf(res->note, sizeof(res->note), fmt, ap);
	va_end(ap);
	return 0;
}

static void call_done(void *arg, struct onex_handler_result *r)
{
	struct onex_bench_call *c = arg;
	c->done = 1;
	c->ok = r->ok;
	c->payload = r->ok ? r->payload : NULL; /* ours now (handler.h): taken, not shared */
	if (!r->ok)
		json_decref(r->payload);
	json_decref(r->error_extra);
	r->payload = r->error_extra = NULL;
	onex_handler_finished(c->h);
	onex_loop_stop(c->loop);
}

static void call_guard(void *arg)
{
	struct onex_bench_call *c = arg;
	onex_loop_stop(c->loop);
}

json_t *onex_bench_call_once(struct onex_bench_call *c, const struct onex_envelope *req)
{
	struct onex_error err;
	uint64_t guard;
	onex_error_clear(&err);
	c->done = c->ok = 0;
	c->payload = NULL;
	if (onex_handler_execute(c->h, req, call_done, c, &err) < 0)
		return NULL;
	if (!c->done) {
		if (onex_loop_timer_add(c->loop, ONEX_BENCH_CALL_GUARD_NS, call_guard, c, &guard,
					NULL) < 0)
			return NULL; /* the call stays in flight: the caller gives up the handler */
		onex_loop_run(c->loop);
		onex_loop_timer_cancel(c->loop, guard);
	}
	return c->done && c->ok ? c->payload : NULL;
}

uint64_t onex_bench_real_unit_round(int (*one)(void *arg), void *arg, unsigned long n,
				    struct onex_hist *h, double *cpu_ns)
{
	uint64_t cpu0 = onex_bench_cpu_ns(), t0 = onex_bench_wall_ns(), prev = t0;
	for (unsigned long i = 0; i < n; i++) {
		if (one(arg) < 0)
			return 0;
		uint64_t now = onex_bench_wall_ns();
		onex_hist_record(h, (int64_t)(now - prev));
		prev = now;
	}
	*cpu_ns += (double)(onex_bench_cpu_ns() - cpu0);
	return prev > t0 ? prev - t0 : 1;
}

int onex_bench_pin_one_cpu(struct onex_bench_pin *p, const pid_t *others, unsigned n_others)
{
	cpu_set_t one;
	memset(p, 0, sizeof(*p));
	p->cpu = sched_getcpu();
	if (p->cpu < 0 || n_others + 1 > ONEX_BENCH_PIN_MAX) {
		p->cpu = -1;
		return -1;
	}
	CPU_ZERO(&one);
	CPU_SET(p->cpu, &one);
	for (unsigned i = 0; i <= n_others; i++) {
		pid_t pid = i == 0 ? 0 : others[i - 1];
		if (sched_getaffinity(pid, sizeof(p->saved[i]), &p->saved[i]) < 0 ||
		    sched_setaffinity(pid, sizeof(one), &one) < 0) {
			onex_bench_unpin(p);
			return -1;
		}
		p->pid[i] = pid;
		p->n = i + 1;
	}
	return 0;
}

void onex_bench_unpin(struct onex_bench_pin *p)
{
	for (unsigned i = p->n; i-- > 0;)
		sched_setaffinity(p->pid[i], sizeof(p->saved[i]), &p->saved[i]);
	p->n = 0;
	p->cpu = -1;
}

const struct onex_bench_workload onex_bench_wl_real_kafka = {
	.name = "real-kafka",
	.group = "real",
	.what = "echo envelopes consumed and answered by a host on the Kafka bus unit "
		"(librdkafka mock cluster, local handler) vs a bare librdkafka "
		"consume -> JSON parse -> produce loop on the same cluster",
	.run_once = onex_bench_real_kafka_run,
};

const struct onex_bench_workload onex_bench_wl_real_db = {
	.name = "real-db",
	.group = "real",
	.what = "db.query by primary key through the libpq unit (throwaway PostgreSQL "
		"cluster, pgbench table) vs pgbench -S -M prepared, same connection count",
	.run_once = onex_bench_real_db_run,
};

const struct onex_bench_workload onex_bench_wl_real_http = {
	.name = "real-http",
	.group = "real",
	.what = "http.get through the libcurl unit against a loopback server vs a bare "
		"libcurl loop (one easy handle, one reused connection, same URL)",
	.run_once = onex_bench_real_http_run,
};
