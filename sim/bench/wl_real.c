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
 */
#include <stdarg.h>
#include <stdio.h>

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
