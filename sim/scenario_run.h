/*
 * scenario_run.h - run one scenario file in a fresh simulated world and
 * report its verdict. The format is docs/SCENARIOS.md.
 *
 * Each run builds its own world (scheduler, seeded ids, in-memory bus,
 * fake handlers, host); nothing is shared between runs, so runs can be
 * spread over processes in any order and give the same results.
 */
#ifndef ONEX_SCENARIO_RUN_H
#define ONEX_SCENARIO_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "limits.h"

struct onex_scenario_run_options {
	int seed_override; /* use `seed` instead of the file's */
	uint64_t seed;
	int want_trace; /* fill result->trace */
};

struct onex_scenario_result {
	char name[128];			/* scenario name ("" if it could not be read) */
	char path[ONEX_PATH_BYTES_MAX]; /* as given */
	uint64_t seed;			/* the seed used */
	int passed;
	/*
	 * Human-readable failure, several lines: the step (number, kind, file
	 * line), expected vs actual as a field diff, invariant violations.
	 * NULL when passed. Owned.
	 */
	char *failure;
	int failed_step; /* 1-based; 0 when the failure is not a step's */
	int failed_line; /* line in the scenario file; 0 if unknown */
	char *trace;	 /* JSON lines, when want_trace; owned */
	size_t trace_len;
	uint64_t virtual_us; /* virtual time at the end of the run */
	unsigned steps_run;
	unsigned requests;  /* messages delivered to the host */
	unsigned responses; /* replies published by the host */
};

/*
 * Parse and validate the file only (onex-sim check). 0, or -1 with err
 * naming file:line:column.
 */
int onex_scenario_check_file(const char *path, struct onex_error *err);

/*
 * Run the scenario at `path`. Always fills `res` (a file that cannot be
 * read or parsed is a failed result whose failure says why). Returns 0 when
 * it passed, -1 when it failed.
 */
int onex_scenario_run_file(const char *path,
			   const struct onex_scenario_run_options *opt,
			   struct onex_scenario_result *res);

void onex_scenario_result_release(struct onex_scenario_result *res);

#endif
