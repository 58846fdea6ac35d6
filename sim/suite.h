/*
 * suite.h - a scenario suite: the files to run, collected from the paths
 * given on the command line, optionally narrowed by a --filter glob, run
 * over `jobs` worker processes.
 *
 * Collection. A file argument is taken as-is (whatever its extension). A
 * directory is walked recursively for regular files named `*.yaml`; names
 * starting with '.' are skipped, symbolic links to directories are not
 * followed (no cycles), and each directory's files are sorted bytewise
 * (strcmp) so the order never depends on the file system. Arguments keep
 * the order they were given in. A file reached twice (same device and
 * inode) is kept once, at its first position.
 *
 * Filtering. docs/SCENARIOS.md says `--filter` selects by scenario *name*,
 * which lives inside the file. Running every file only to throw most
 * results away would make `--filter` useless for speed, so
 * onex_suite_filter() reads just the top-level `name:` scalar of each file
 * (the only scenario key this module ever looks at) and keeps a file when
 * the glob matches that name OR the file's basename without `.yaml`. A file
 * that cannot be read or parsed has no name to match; it is kept when its
 * basename matches (the run then reports why it cannot be read).
 *
 * Running. Each scenario runs in its own forked child (one scenario per
 * child, at most `jobs` children at a time), so a crash, a leak or an
 * abort in one scenario cannot take the suite down, and a child's memory is
 * returned to the system when it exits. The child sends its result back
 * over a pipe; the parent reassembles it and keeps results in file order
 * whatever the completion order. No threads.
 */
#ifndef ONEX_SIM_SUITE_H
#define ONEX_SIM_SUITE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "scenario_run.h"


struct onex_suite_file {
	char *path; /* as given, or "<dir>/<relative path>" when walked; owned */
	dev_t dev;
	ino_t ino;
};

struct onex_suite {
	struct onex_suite_file *files; /* owned */
	size_t count, cap;
};

void onex_suite_init(struct onex_suite *suite);
void onex_suite_release(struct onex_suite *suite);

/*
 * Add one command-line path (a file or a directory, see above). Returns 0,
 * or -1 with err naming the path (missing, unreadable, neither file nor
 * directory, too deep, too many files). A directory holding no `*.yaml`
 * adds nothing and is not an error: the caller decides what an empty suite
 * means.
 */
int onex_suite_add_path(struct onex_suite *suite, const char *path,
			struct onex_error *err);

/* Keep only the files `glob` (fnmatch(3), no flags) selects, see above. */
void onex_suite_filter(struct onex_suite *suite, const char *glob);

/* The basename of `path` without a trailing ".yaml", into buf. Returns buf. */
const char *onex_suite_stem(const char *path, char *buf, size_t size);

/*
 * Callbacks from onex_suite_run(), all in the parent process.
 *   progress: after each scenario finishes, in completion order; `name` is
 *             the finished scenario's display name.
 *   result:   once per scenario, in file order (index 0, 1, 2, ...), as soon
 *             as it and all before it have finished; `res` stays valid (it
 *             is results[index]).
 * Either may be NULL.
 */
struct onex_suite_progress {
	size_t done, total, passed, failed;
	const char *name;
};

struct onex_suite_hooks {
	void (*progress)(void *ctx, const struct onex_suite_progress *p);
	void (*result)(void *ctx, size_t index, const struct onex_scenario_result *res,
		       uint64_t wall_us);
	void *ctx;
};

/*
 * Run every file of `suite` with `opt`, at most `jobs` (1..ONEX_SUITE_JOBS_MAX)
 * at a time. results[i] and wall_us[i] (both `suite->count` long, caller-
 * allocated) receive file i's result and wall-clock duration in
 * microseconds (measured by the parent, for reports only).
 * A child that dies, or sends a result that cannot be decoded, gives a
 * failed result saying so. results[i].name is only ever what the engine
 * reported ("" when the file could not be read or the child died); use
 * onex_report_display_name() to show it.
 * Ownership: each results[i] must be released with
 * onex_scenario_result_release(), also after a failure return.
 * Returns the number of failed scenarios (>= 0), or -1 with err when the
 * suite itself could not run (pipe or fork failed); results are then
 * filled for every file, those not run saying so.
 */
int onex_suite_run(const struct onex_suite *suite,
		   const struct onex_scenario_run_options *opt, unsigned jobs,
		   const struct onex_suite_hooks *hooks,
		   struct onex_scenario_result *results, uint64_t *wall_us,
		   struct onex_error *err);

#endif
