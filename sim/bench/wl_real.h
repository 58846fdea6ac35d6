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
 * Write res->note (printed above the workload's table): the median of
 * "vs_reference" and `how` the two sides were measured. The PASS/FAIL
 * verdict is in the target list (runner.c), not here.
 */
void onex_bench_real_note(struct onex_bench_result *res, const char *how);

/* A prerequisite is missing: say why, record nothing. Returns 0. */
int onex_bench_real_unavailable(struct onex_bench_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
