/*
 * history.h - every benchmark run, kept in SQLite (reports/bench.sqlite).
 *
 * Tables (created when missing):
 *   runs          one row per run: git commit (+ dirty flag), date, machine,
 *                 machine kind, command, repetitions, quick, seed, and the
 *                 1-minute load average at its start and end
 *   measurements  one row per (run, workload, metric): git commit, date,
 *                 machine, workload, metric, unit, kind, better, value (the
 *                 median), repetitions (samples behind it), samples (JSON)
 *   histograms    the merged latency histogram of each workload of a run,
 *                 as its percentile points (JSON [[value_ns, percentile,
 *                 count], ...])
 *   workloads     per run and workload: available, note, fingerprint
 */
#ifndef ONEX_BENCH_HISTORY_H
#define ONEX_BENCH_HISTORY_H

#include <stddef.h>

#include "runner.h"

/* Append `run` to the history at `path`. 0 with *run_id, or -1 with why. */
int onex_bench_history_store(const char *path, const struct onex_bench_run *run, long long *run_id,
			     char *why, size_t why_size);

#endif
