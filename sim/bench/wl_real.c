/*
 * wl_real.c - PLACEHOLDERS for the real-unit workloads.
 *
 * The real Kafka bus, PostgreSQL (libpq) and HTTP (libcurl) units exist
 * in core/real/ (docs/BACKENDS.md), but their workloads, each next to its
 * reference in the same run (a bare librdkafka loop, pgbench -S -M
 * prepared, a bare libcurl loop), are not written yet: until then these
 * report "not measured yet" and record no figure. No number here is made
 * up. To write one: start the service as the unit's test does
 * (tests/support/kafka_mock.c, pg_cluster.c, http_server.c) and measure
 * it as sim-echo does.
 */
#include <stdio.h>

#include "bench.h"

static int not_yet(struct onex_bench_result *res, const char *what)
{
	res->available = 0;
	snprintf(res->note, sizeof(res->note),
		 "not measured yet: the %s workload and its reference loop are "
		 "still to be written (issue 5)", what);
	return 0;
}

static int kafka_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)ctx, (void)rep;
	return not_yet(res, "Kafka bus");
}

static int db_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)ctx, (void)rep;
	return not_yet(res, "PostgreSQL db handler");
}

static int http_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)ctx, (void)rep;
	return not_yet(res, "libcurl http handler");
}

const struct onex_bench_workload onex_bench_wl_real_kafka = {
	.name = "real-kafka",
	.group = "real",
	.what = "PLACEHOLDER: envelopes through the real Kafka bus",
	.run_once = kafka_run,
};

const struct onex_bench_workload onex_bench_wl_real_db = {
	.name = "real-db",
	.group = "real",
	.what = "PLACEHOLDER: db.query through the real PostgreSQL unit",
	.run_once = db_run,
};

const struct onex_bench_workload onex_bench_wl_real_http = {
	.name = "real-http",
	.group = "real",
	.what = "PLACEHOLDER: http.get through the real libcurl unit",
	.run_once = http_run,
};
