/*
 * report.h - the files a suite run leaves behind for people and CI: JUnit
 * XML, a JSON summary and one self-contained HTML page, all written from
 * the same array of scenario results (in file order).
 *
 * Text from scenarios (names, failure messages) is arbitrary bytes: it may
 * quote published input that is not UTF-8 or holds control characters.
 * Every writer therefore escapes for its format and replaces what the
 * format cannot carry (invalid UTF-8, and for XML the control characters
 * XML 1.0 forbids) with U+FFFD, so the files always parse.
 *
 * Wall-clock durations appear in JUnit and HTML only (never in the JSON,
 * which stays identical between two runs of the same suite and seed).
 */
#ifndef ONEX_SIM_REPORT_H
#define ONEX_SIM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "scenario_run.h"

struct onex_report {
	const struct onex_scenario_result *results; /* count, in file order */
	const uint64_t *wall_us;		    /* count, or NULL */
	size_t count;
	uint64_t elapsed_us; /* wall time of the whole run; 0: sum of wall_us */
	int seed_override; /* --seed was given ... */
	uint64_t seed;	   /* ... with this value */
	/*
	 * The program name for rerun commands ("build/bin/onex-sim"), or NULL
	 * to leave rerun commands out.
	 */
	const char *prog;
};

/*
 * Write the report to `path` (created or truncated). Returns 0, or -1 with
 * err naming the path when it cannot be opened or written.
 *
 * JUnit: <testsuites><testsuite name="onex-sim" tests failures time> with one
 * <testcase classname="<directory of the file>" name="<scenario>" time>
 * each; a failed one holds <failure message="<first failure line>"> with the
 * whole failure text, the seed and the rerun command.
 *
 * JSON: {"passed", "failed", "seed_override" (the number or null),
 * "scenarios": [{name, path, seed, passed, failure (null when passed),
 * failed_step, failed_line, virtual_us, steps_run, requests, responses}]}.
 *
 * HTML: totals, a table of scenarios with status colours, failure texts in
 * <pre>; inline CSS, no scripts, no external resources.
 */
int onex_report_write_junit(const struct onex_report *rep, const char *path,
			    struct onex_error *err);
int onex_report_write_json(const struct onex_report *rep, const char *path,
			   struct onex_error *err);
int onex_report_write_html(const struct onex_report *rep, const char *path,
			   struct onex_error *err);

/* The same, to an open stream (not closed). -1 when a write failed. */
int onex_report_junit_to(const struct onex_report *rep, FILE *out);
int onex_report_json_to(const struct onex_report *rep, FILE *out);
int onex_report_html_to(const struct onex_report *rep, FILE *out);

/*
 * The command that reruns one scenario alone, into buf:
 * "<prog> run --seed <seed> <path>", with `path` (and `prog`) single-quoted
 * for a POSIX shell when they hold anything but [A-Za-z0-9_./+,:@%=-].
 * Returns buf.
 */
const char *onex_report_rerun_command(const char *prog, uint64_t seed,
				      const char *path, char *buf, size_t size);

/*
 * The name to show for a result: its scenario name, or the file's basename
 * without ".yaml" when the engine could not read one. Returns a pointer to
 * res->name or to buf.
 */
const char *onex_report_display_name(const struct onex_scenario_result *res,
				     char *buf, size_t size);

#endif
