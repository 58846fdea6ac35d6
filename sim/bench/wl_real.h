/*
 * wl_real.h - the real-unit workloads (wl_real_*.c), each measured next to
 * its reference loop in the same repetition.
 */
#ifndef ONEX_BENCH_WL_REAL_H
#define ONEX_BENCH_WL_REAL_H

#include "bench.h"

int onex_bench_real_http_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			     unsigned rep);
int onex_bench_real_db_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			   unsigned rep);
int onex_bench_real_kafka_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			      unsigned rep);

/*
 * Write the target's verdict into res->note (printed above the workload's
 * table): the median of "vs_reference" against `min_ratio`, and `how`.
 */
void onex_bench_real_verdict(struct onex_bench_result *res, const char *target,
			     double min_ratio, const char *how);

/* A prerequisite is missing: say why, record nothing. Returns 0. */
int onex_bench_real_unavailable(struct onex_bench_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
