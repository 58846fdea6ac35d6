/*
 * gate.h - baselines and the regression gate.
 *
 * A baseline (reports/baselines/<machine-kind>.json) is one run's results
 * with every sample kept, so a later run can be tested against it:
 *
 *   sampled metrics  regression when the median moved the wrong way by
 *                    more than the threshold AND the Mann-Whitney U test
 *                    says the two sample sets differ (p < alpha); both
 *                    sides need >= 2 samples (9 recommended, as
 *                    google-benchmark's compare.py)
 *   exact metrics    (instructions per envelope, virtual-time figures)
 *                    deterministic: compared value to value, regression
 *                    when worse by more than the threshold; any other
 *                    difference is reported as a change
 *   info metrics     never compared
 */
#ifndef ONEX_BENCH_GATE_H
#define ONEX_BENCH_GATE_H

#include <jansson.h>
#include <stddef.h>

#include "runner.h"

/* Write `run` as a baseline. 0, or -1 with why. */
int onex_bench_baseline_write(const char *path, const struct onex_bench_run *run, char *why,
			      size_t why_size);

/* Load a baseline (new reference), or NULL with why. */
json_t *onex_bench_baseline_load(const char *path, char *why, size_t why_size);

/* Names of the baseline's workloads (borrowed from `baseline`), at most max. */
size_t onex_bench_baseline_workloads(const json_t *baseline, const char **names, size_t max);

/* True when the baseline holds instruction counts. */
int onex_bench_baseline_has_ir(const json_t *baseline);

struct onex_bench_gate_options {
	double threshold; /* relative, e.g. 0.05 */
	double alpha;	  /* e.g. 0.05 */
};

/*
 * Compare `run` with `baseline`, print the table to run->ctx->out.
 * Returns the number of regressions.
 */
unsigned onex_bench_gate(const json_t *baseline, const struct onex_bench_run *run,
			 const struct onex_bench_gate_options *opt);

#endif
