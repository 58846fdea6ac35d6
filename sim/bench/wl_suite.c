/*
 * wl_suite.c - suite: wall time of `onex-sim run --jobs N scenarios/`
 * (the binary beside onex-bench), N = 1 and 2. The simulator is another
 * engineer's binary: when it is not built the workload says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "proc.h"

static int suite_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, const char *jobs)
{
	struct onex_bench_child child;
	unsigned passed = 0, failed = 0;
	if (!onex_bench_executable(ctx->sim_exe)) {
		res->available = 0;
		snprintf(res->note, sizeof(res->note), "not available: %.300s is not built", ctx->sim_exe);
		return 0;
	}
	const char *argv[] = { ctx->sim_exe, "run", "--jobs", jobs, ctx->scenarios, NULL };
	if (onex_bench_spawn_measured(ctx->self_exe, argv, &child) < 0) {
		snprintf(res->note, sizeof(res->note), "could not run %.300s", ctx->sim_exe);
		onex_bench_child_release(&child);
		return -1;
	}
	if (sscanf(child.out, "%u passed, %u failed", &passed, &failed) != 2) {
		snprintf(res->note, sizeof(res->note),
			 "onex-sim exited %d without its closing line (last line: %.200s)",
			 child.exit_code, child.out);
		onex_bench_child_release(&child);
		return -1;
	}
	snprintf(res->note, sizeof(res->note), "onex-sim run --jobs %s %.150s: \"%.200s\" (exit %d)", jobs,
		 ctx->scenarios, child.out, child.exit_code);
	onex_bench_add(res, "wall", "s", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)child.wall_ns / 1e9);
	onex_bench_add(res, "cpu", "s", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)child.cpu_ns / 1e9);
	onex_bench_add(res, "scenarios_per_s", "1/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       (double)(passed + failed) / ((double)child.wall_ns / 1e9));
	onex_bench_add(res, "peak_rss", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)child.maxrss_kb);
	onex_bench_add(res, "scenarios", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       (double)(passed + failed));
	onex_bench_add(res, "failed", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)failed);
	onex_bench_child_release(&child);
	return 0;
}

static int suite1_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	return suite_run(ctx, res, "1");
}

static int suite2_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	return suite_run(ctx, res, "2");
}

const struct onex_bench_workload onex_bench_wl_suite1 = {
	.name = "suite-jobs1",
	.group = "suite",
	.what = "wall time of `onex-sim run --jobs 1 scenarios/` (spawned)",
	.run_once = suite1_run,
};

const struct onex_bench_workload onex_bench_wl_suite2 = {
	.name = "suite-jobs2",
	.group = "suite",
	.what = "wall time of `onex-sim run --jobs 2 scenarios/` (spawned)",
	.run_once = suite2_run,
};
