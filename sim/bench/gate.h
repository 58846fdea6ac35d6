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
 *                    deterministic: compared value to value, no threshold:
 *                    any change in the worse direction is a regression
 *                    (instructions: any increase), any change in the
 *                    better direction is reported as an improvement, any
 *                    change of a metric with no better direction fails
 *   fingerprints     (digest of a deterministic workload's virtual-time
 *                    results) any change fails: "virtual-time results
 *                    changed", behaviour changed
 *   info metrics     never compared
 *   "ref_*" metrics  the real workloads' reference loops (pgbench, bare
 *                    librdkafka, bare libcurl): shown, never gated; their
 *                    ratio to the unit ("vs_reference") is
 *
 * Across machine kinds (the baseline was made on another CPU) only the
 * machine-independent figures are gated: exact metrics and fingerprints.
 */
#ifndef ONEX_BENCH_GATE_H
#define ONEX_BENCH_GATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "runner.h"

/* Write `run` as a baseline. 0, or -1 with why. */
int onex_bench_baseline_write(const char *path, const struct onex_bench_run *run, char *why,
			      size_t why_size);

/* Load a baseline (new reference), or NULL with why. */
json_t *onex_bench_baseline_load(const char *path, char *why, size_t why_size);

/* Names of the baseline's workloads (borrowed from `baseline`), at most max. */
size_t onex_bench_baseline_workloads(const json_t *baseline, const char **names, size_t max);

/*
 * The baseline for `machine_kind` in `dir`: path = dir/<machine_kind>.json
 * and 0 when it exists. Otherwise list the baselines in `dir` on `out`
 * and pick the most alike machine kind (architecture, then CPU vendor,
 * then CPU count; the newest among equals): 1 with its path, or -1 when
 * there is none.
 */
int onex_bench_baseline_pick(const char *dir, const char *machine_kind, char *path,
			     size_t size, FILE *out);

/* True when a baseline workload (its JSON) has exact metrics or a fingerprint. */
int onex_bench_baseline_machine_independent(const json_t *workload);

/* True when the baseline holds instruction counts. */
int onex_bench_baseline_has_ir(const json_t *baseline);

struct onex_bench_gate_options {
	double threshold; /* relative, e.g. 0.05 */
	double alpha;	  /* e.g. 0.05 */
	int machine_independent_only; /* other machine: gate exact metrics and fingerprints only */
	/*
	 * Instruction counts (ir_per_env) within this relative distance of the
	 * baseline's count as the same; 0 (the default): compared exactly.
	 * A rebuild moves counts by a few Ir per envelope through code and
	 * data layout alone (docs/BENCHMARKS.md).
	 */
	double ir_tolerance;
};

/*
 * Compare `run` with `baseline`, print the table to run->ctx->out.
 * Returns the number of regressions plus the number of workloads whose
 * virtual-time fingerprint changed (0: the gate passes).
 */
unsigned onex_bench_gate(const json_t *baseline, const struct onex_bench_run *run,
			 const struct onex_bench_gate_options *opt);

#endif
