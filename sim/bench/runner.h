/*
 * runner.h - one benchmark run: which workloads, how many repetitions,
 * their results, where the run happened (commit, date, machine), the
 * printed report and the PASS/FAIL targets.
 */
#ifndef ONEX_BENCH_RUNNER_H
#define ONEX_BENCH_RUNNER_H

#include <stddef.h>

#include "bench.h"

#define ONEX_BENCH_RESULTS_MAX 32u

struct onex_bench_run {
	struct onex_bench_ctx *ctx;
	char command[16]; /* run, compare, baseline, ir */
	char git_commit[64];
	int git_dirty;
	char date[32];	       /* UTC, RFC 3339 */
	char machine[256];     /* human description */
	char machine_kind[96]; /* slug: names the baseline file */
	long cpus;
	double load_start, load_end; /* 1-minute load average around the run */
	double calibration_ns;	     /* onex_bench_calibrate_ns() at the start */
	struct onex_bench_result results[ONEX_BENCH_RESULTS_MAX];
	size_t count;
	int ir_measured;
	unsigned targets_failed;
};

/* Fill commit, date and machine; no workload yet. */
void onex_bench_run_init(struct onex_bench_run *run, struct onex_bench_ctx *ctx,
			 const char *command);
void onex_bench_run_release(struct onex_bench_run *run);

/*
 * True when workload `wl` is selected by `names` (exact names or groups;
 * none given: every workload).
 */
int onex_bench_selected(const struct onex_bench_workload *wl, const char *const *names,
			size_t count);

/*
 * Run the selected workloads (the floor always, first) ctx->repetitions
 * times each, printing as it goes; then, when with_ir, count instructions
 * under callgrind. Returns the number of workloads that failed to run.
 */
int onex_bench_run_workloads(struct onex_bench_run *run, const char *const *names,
			     size_t count, int with_ir);

/* Count instructions for the selected simulation workloads (and the floor). */
void onex_bench_run_ir(struct onex_bench_run *run, const char *const *names, size_t count);

/* The result of a workload by name, or NULL. */
struct onex_bench_result *onex_bench_run_find(struct onex_bench_run *run, const char *name);

/* Print every workload's table (and distributions) to ctx->out. */
void onex_bench_print_result(const struct onex_bench_run *run, const struct onex_bench_result *res);

/* The 1-minute load average (/proc/loadavg), or -1. */
double onex_bench_loadavg(void);

/* Print a warning when other processes were competing for the CPUs. */
void onex_bench_print_load(const struct onex_bench_run *run, double load);

/* Print the PASS/FAIL lines; returns the number of FAILs (also in run->targets_failed). */
unsigned onex_bench_print_targets(struct onex_bench_run *run);

/* A number as the tables print it (no exponent, sensible digits). */
const char *onex_bench_fmt(double v, char *buf, size_t size);

#endif
