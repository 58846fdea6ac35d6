/*
 * bench.h - the benchmark tool's shared vocabulary: workloads, their
 * results (metrics with one sample per repetition, a latency histogram
 * merged over repetitions), and the measuring helpers (wall and CPU
 * clocks, peak RSS).
 *
 * A workload runs once per repetition and adds one sample to each of its
 * metrics. Kinds of metric:
 *   - sampled: wall-clock figures, noisy; the gate compares the baseline's
 *     samples with new ones by the Mann-Whitney U test (stats.h);
 *   - exact: deterministic figures (instruction counts, virtual-time
 *     latencies); compared value to value, no statistics;
 *   - info: printed and stored, never gated (max latency, totals).
 *
 * The benchmark is a tool beside the simulator, not a unit: it may read
 * the wall clock, spawn processes and write files.
 */
#ifndef ONEX_BENCH_H
#define ONEX_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "histogram.h"

#define ONEX_BENCH_REPS_MAX 64u
#define ONEX_BENCH_REPS_GATE_MIN 9u /* google-benchmark's UTEST_OPTIMAL_REPETITIONS */
#define ONEX_BENCH_METRICS_MAX 40u
#define ONEX_BENCH_NAME_BYTES 48u

/* Histograms: nanoseconds, 1 ns .. 1 hour, 3 significant digits (~270 KiB each). */
#define ONEX_BENCH_HIST_LOWEST 1
#define ONEX_BENCH_HIST_HIGHEST (3600LL * 1000000000LL)
#define ONEX_BENCH_HIST_SIG_FIGS 3

enum onex_bench_better { ONEX_BENCH_LOWER, ONEX_BENCH_HIGHER, ONEX_BENCH_NEITHER };
enum onex_bench_kind { ONEX_BENCH_SAMPLED, ONEX_BENCH_EXACT, ONEX_BENCH_INFO };

struct onex_bench_metric {
	char name[ONEX_BENCH_NAME_BYTES];
	char unit[16];
	enum onex_bench_better better;
	enum onex_bench_kind kind;
	double samples[ONEX_BENCH_REPS_MAX];
	size_t n;
};

struct onex_bench_workload;

struct onex_bench_result {
	const struct onex_bench_workload *wl;
	int ran;       /* has results to keep (a repetition ran, or an instruction count) */
	int measured;  /* run_once completed at least once */
	int failed;    /* run_once failed (note says why); not run again */
	int available; /* 0: a placeholder, or what it needs is missing */
	char note[512];
	struct onex_bench_metric metrics[ONEX_BENCH_METRICS_MAX];
	size_t metric_count;
	/* Latency, merged over the repetitions (ns of wall or virtual time). */
	int has_hist;
	struct onex_hist hist;
	char hist_what[96];
	/* Deterministic workloads: a digest of what they produced, per repetition. */
	int has_fingerprint;
	uint64_t fingerprint;
	int fingerprint_mismatch;
};

struct onex_bench_ctx {
	int quick;
	unsigned repetitions;
	char self_exe[4096]; /* this binary, to spawn probes */
	char sim_exe[4096];  /* onex-sim beside this binary */
	char scenarios[4096];
	FILE *out;
	int print_distribution;
	uint64_t seed;
	const char *callgrind_dir; /* keep callgrind's files here (NULL: delete them) */
};

/* One benchmark. `run_once` adds one sample per metric; -1 aborts the workload. */
struct onex_bench_workload {
	const char *name;  /* "sim-echo-trace" */
	const char *group; /* selected by --workload GROUP too ("sim-echo") */
	const char *what;  /* one line, printed above its results */
	int (*run_once)(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep);
	/* Instruction counting under callgrind (NULL: not a simulation workload). */
	void *(*ir_setup)(const struct onex_bench_ctx *ctx, unsigned long envelopes);
	void (*ir_body)(void *state);
	void (*ir_teardown)(void *state);
	unsigned long ir_envelopes, ir_envelopes_quick;
};

/* Every workload, in the order `run` runs them (floor first). */
extern const struct onex_bench_workload *const onex_bench_workloads[];
extern const size_t onex_bench_workload_count;
const struct onex_bench_workload *onex_bench_workload_find(const char *name);

/* ---- results ----------------------------------------------------------------- */

void onex_bench_result_init(struct onex_bench_result *res, const struct onex_bench_workload *wl);
void onex_bench_result_release(struct onex_bench_result *res);

/* Add one sample to metric `name` (created on first use). */
void onex_bench_add(struct onex_bench_result *res, const char *name, const char *unit,
		    enum onex_bench_better better, enum onex_bench_kind kind, double value);

/* The metric, or NULL. */
const struct onex_bench_metric *onex_bench_metric_find(const struct onex_bench_result *res,
						       const char *name);
/* Median of a metric's samples, or `fallback` when absent. */
double onex_bench_value(const struct onex_bench_result *res, const char *name, double fallback);

/*
 * Add p50/p90/p99/p99.9/max of one repetition's latency histogram as
 * samples of "<prefix>_p50" ... (`kind` for p50; for sampled figures the
 * tails and max are info, for exact ones everything is exact),
 * in microseconds, and merge it into res->hist.
 */
void onex_bench_add_latency(struct onex_bench_result *res, const char *prefix,
			    const struct onex_hist *rep_hist, enum onex_bench_kind kind,
			    const char *what);

/*
 * Throughput of a loop timed in equal batches: the median of the batch
 * rates (items per second), so a batch during which the process was
 * preempted does not move the figure. The loop adds one time per batch.
 */
#define ONEX_BENCH_BATCHES 20u
struct onex_bench_batches {
	unsigned long per_batch, done;
	uint64_t start_ns;
	double ns[ONEX_BENCH_BATCHES];
	size_t n;
};
void onex_bench_batches_start(struct onex_bench_batches *b, unsigned long items);
/* Call after each item with the current wall time. */
void onex_bench_batches_tick(struct onex_bench_batches *b, uint64_t now_ns);
double onex_bench_batches_rate(const struct onex_bench_batches *b);

/* Record a repetition's fingerprint; a different one marks a mismatch. */
void onex_bench_fingerprint(struct onex_bench_result *res, uint64_t fp);

/* FNV-1a 64, to fold bytes into a fingerprint. */
uint64_t onex_bench_fnv1a(uint64_t h, const void *data, size_t len);
#define ONEX_BENCH_FNV_INIT 0xcbf29ce484222325ull

/* ---- measuring ------------------------------------------------------------------- */

uint64_t onex_bench_wall_ns(void);	 /* CLOCK_MONOTONIC */
uint64_t onex_bench_cpu_ns(void);	 /* user + system of this process */
long onex_bench_vmhwm_kb(void);		 /* peak RSS of this process (VmHWM), -1 if unknown */
long onex_bench_vmrss_kb(void);		 /* current RSS, -1 if unknown */
long onex_bench_maxrss_kb(void);	 /* getrusage ru_maxrss */
/*
 * Give freed heap back and reset the peak-RSS mark to the current RSS
 * (/proc/self/clear_refs "5"), so the next VmHWM is one workload's peak.
 * 0, or -1 when the kernel cannot reset it (then VmHWM is the process's).
 */
int onex_bench_rss_reset(void);

/*
 * Add "peak_rss" (hwm_kb: VmHWM read when the measured part ended) and
 * "rss_growth" (hwm_kb minus VmRSS right after the last
 * onex_bench_rss_reset(): what this workload added to the process at its
 * peak), both info, kB. Nothing when hwm_kb < 0; no growth when the reset
 * failed.
 */
void onex_bench_add_peak_rss(struct onex_bench_result *res, long hwm_kb);

/* Keep the compiler from dropping a computation whose result is unused. */
static inline void onex_bench_escape(const void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

/*
 * Machine speed, independent of onex code: CPU ns per iteration of a fixed
 * dependent integer loop (best of three). It sees a slower or throttled
 * CPU; it does not see neighbours that contend for caches and memory (a
 * workload's cpu_vs_floor does).
 */
double onex_bench_calibrate_ns(void);

/*
 * CPU ns of one floor round trip, measured now over `n` round trips
 * (wl_floor.c). Workloads divide their CPU time per envelope by it in the
 * same repetition ("cpu_vs_floor"), a ratio that a uniformly slower
 * machine does not move.
 */
double onex_bench_floor_cpu_ns(unsigned long n);

/* The region callgrind counts (--toggle-collect=onex_bench_ir_region). */
void onex_bench_ir_region(void (*body)(void *), void *state);

#endif
