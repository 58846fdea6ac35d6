/*
 * onex_sim.c - composition root and command line of onex-sim, the
 * scenario simulator. The engine (scenario_run.h) builds every simulated
 * world; this file only parses arguments, hands the files to the suite
 * runner (suite.h), shows progress and failures, and writes the reports
 * (report.h) and traces. No scenario semantics live here.
 *
 * Output contract (docs/SIM_CLI.md): failures and the closing line
 * "N passed, N failed" go to stdout, in file order whatever --jobs is, so
 * two runs of one suite print the same bytes; the live progress line goes
 * to stderr and only when stderr is a terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "scenario_run.h"
#include "suite.h"
#include "version.h"

#define BINARY "onex-sim"

enum { EXIT_OK = 0, EXIT_FAIL = 1 };

static void usage_main(FILE *out)
{
	fputs("usage: " BINARY " run [options] PATH...\n"
	      "       " BINARY " check PATH...\n"
	      "       " BINARY " --help | --version\n"
	      "\n"
	      "The ONEX simulator: runs scenario files (docs/SCENARIOS.md) against the\n"
	      "real runtime on a virtual clock. Same file + same seed = same result.\n"
	      "\n"
	      "commands:\n"
	      "  run      run scenarios and report which failed\n"
	      "  check    parse and validate scenarios without running them\n"
	      "\n"
	      "A PATH is a scenario file, or a directory searched recursively for\n"
	      "*.yaml files (sorted by name; names starting with '.' are skipped).\n"
	      "Run '" BINARY " run --help' for the options of run.\n"
	      "\n"
	      "options:\n"
	      "  --version    print the version and exit\n"
	      "  -h, --help   show this help\n"
	      "\n"
	      "exit codes: 0 everything passed (or is valid); 1 otherwise: a scenario\n"
	      "failed or is invalid, no scenario was found, a report could not be\n"
	      "written, or the command line was wrong\n",
	      out);
}

static void usage_run(FILE *out)
{
	fprintf(out,
		"usage: " BINARY " run [options] PATH...\n"
		"\n"
		"Run each scenario in PATH (a file, or a directory searched recursively\n"
		"for *.yaml) in a process of its own.\n"
		"\n"
		"options:\n"
		"  --seed N        run every scenario with seed N instead of its own\n"
		"  --filter GLOB   run only the scenarios whose name, or file name without\n"
		"                  .yaml, matches the shell pattern GLOB (e.g. 'db_*')\n"
		"  --jobs N        run N scenarios at once (1..%u, default 1)\n"
		"  --junit FILE    write a JUnit XML report to FILE\n"
		"  --json FILE     write a JSON report to FILE\n"
		"  --html FILE     write a self-contained HTML summary to FILE\n"
		"  --trace DIR     write each scenario's trace to DIR/<name>.jsonl\n"
		"                  (DIR is created)\n"
		"  -h, --help      show this help\n"
		"\n"
		"output: on a terminal, a progress line on stderr. On stdout, for each\n"
		"failed scenario (in file order): its name and file, the failure, its\n"
		"seed and the command that reruns it alone; then the line\n"
		"\"N passed, N failed\" (also \"0 passed, 0 failed\" after an error that\n"
		"left nothing to run).\n"
		"\n"
		"exit codes: 0 every scenario passed; 1 a scenario failed, no scenario\n"
		"was found, a report or trace could not be written, or the command line\n"
		"was wrong\n",
		ONEX_SUITE_JOBS_MAX);
}

static void usage_check(FILE *out)
{
	fputs("usage: " BINARY " check PATH...\n"
	      "\n"
	      "Parse and validate each scenario in PATH (a file, or a directory\n"
	      "searched recursively for *.yaml) without running it. Prints each error\n"
	      "as file:line:column: text, then the line \"N valid, N invalid\".\n"
	      "\n"
	      "options:\n"
	      "  -h, --help   show this help\n"
	      "\n"
	      "exit codes: 0 every scenario is valid; 1 one is not, none was found,\n"
	      "or the command line was wrong\n",
	      out);
}

static int usage_error(const char *command, const char *fmt, const char *what)
{
	fprintf(stderr, BINARY ": ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\nrun '" BINARY "%s%s --help' for usage\n", command ? " " : "",
		command ? command : "");
	return EXIT_FAIL;
}

static void print_error(const struct onex_error *err)
{
	char text[4096];
	fprintf(stderr, BINARY ": error: %s\n", onex_error_format(err, text, sizeof(text)));
}

/* ---- run: arguments ------------------------------------------------------ */

struct run_args {
	int seed_override;
	uint64_t seed;
	unsigned jobs;
	const char *filter, *junit, *json, *html, *trace_dir;
	char **paths;
	int path_count;
};

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (*s < '0' || *s > '9') /* strtoull would accept "-1" and " 1" */
		return -1;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = n;
	return 0;
}

/* 0 to run, 1 usage error, -1 when --help already answered. */
static int parse_run_args(int argc, char **argv, struct run_args *a)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "filter", required_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "junit", required_argument, NULL, 'J' },
		{ "json", required_argument, NULL, 'o' },
		{ "html", required_argument, NULL, 'H' },
		{ "trace", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;
	memset(a, 0, sizeof(*a));
	a->jobs = 1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, &a->seed) < 0)
				return usage_error("run", "--seed takes a number from 0 to "
						   "18446744073709551615, got '%s'", optarg);
			a->seed_override = 1;
			break;
		case 'j':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > ONEX_SUITE_JOBS_MAX)
				return usage_error("run", "--jobs takes a number from 1 to 64, got '%s'",
						   optarg);
			a->jobs = (unsigned)v;
			break;
		case 'f': a->filter = optarg; break;
		case 'J': a->junit = optarg; break;
		case 'o': a->json = optarg; break;
		case 'H': a->html = optarg; break;
		case 't': a->trace_dir = optarg; break;
		case 'h': usage_run(stdout); return -1;
		default:
			return usage_error("run", "unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("run", "%s", "expected at least one PATH (a scenario file or directory)");
	a->paths = argv + optind;
	a->path_count = argc - optind;
	return 0;
}

/* mkdir -p: each missing component of `dir`, in order. */
static int make_dirs(const char *dir, struct onex_error *err)
{
	char path[ONEX_PATH_BYTES_MAX];
	struct stat st;
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, dir, 0, 0,
				      "path too long");
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0777) < 0 && errno != EEXIST)
			return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, path, 0, 0,
					      "cannot create the trace directory: %s",
					      strerror(errno));
		*p = saved;
		if (!saved)
			break;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, dir, 0, 0,
				      "the trace directory is not a directory");
	return 0;
}

/* ---- run: output --------------------------------------------------------- */

struct run_view {
	const char *prog; /* argv[0], for rerun commands */
	const struct run_args *args;
	const struct onex_scenario_result *results;
	int tty;		 /* stderr is a terminal: draw the progress line */
	char progress[512];	 /* the line last drawn ("" when none) */
	int trace_errors;
};

static void progress_clear(struct run_view *view)
{
	if (view->tty && view->progress[0])
		fputs("\r\033[K", stderr);
}

static void progress_draw(struct run_view *view)
{
	if (!view->tty || !view->progress[0])
		return;
	/* Cut the line to the terminal width: a wrapped line cannot be redrawn. */
	struct winsize ws;
	int width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1
										   : 79;
	fprintf(stderr, "\r\033[K%.*s", width, view->progress);
	fflush(stderr);
}

static void on_progress(void *ctx, const struct onex_suite_progress *p)
{
	struct run_view *view = ctx;
	if (!view->tty)
		return;
	snprintf(view->progress, sizeof(view->progress), "[%zu/%zu] %zu passed, %zu failed  %s",
		 p->done, p->total, p->passed, p->failed, p->name);
	progress_draw(view);
}

static void print_failure(const struct run_view *view, const struct onex_scenario_result *res)
{
	char name[256], cmd[ONEX_PATH_BYTES_MAX * 2 + 128];
	const char *failure = res->failure ? res->failure : "failed (the engine gave no reason)";
	size_t len = strlen(failure);
	printf("FAIL %s  %s\n%s%s", onex_report_display_name(res, name, sizeof(name)), res->path,
	       failure, len && failure[len - 1] == '\n' ? "" : "\n");
	printf("seed: %" PRIu64 "\n", res->seed);
	printf("rerun: %s\n\n",
	       onex_report_rerun_command(view->prog, res->seed, res->path, cmd, sizeof(cmd)));
}

static void write_trace(struct run_view *view, size_t index,
			const struct onex_scenario_result *res)
{
	char name[256], path[ONEX_PATH_BYTES_MAX];
	const char *shown = onex_report_display_name(res, name, sizeof(name));
	for (size_t i = 0; i < index; i++) {
		char other[256];
		if (strcmp(onex_report_display_name(&view->results[i], other, sizeof(other)),
			   shown) == 0)
			fprintf(stderr, BINARY ": warning: %s and %s are both named '%s': "
					"the trace of the second replaces the first\n",
				view->results[i].path, res->path, shown);
	}
	if (snprintf(path, sizeof(path), "%s/%s.jsonl", view->args->trace_dir, shown) >=
	    (int)sizeof(path)) {
		fprintf(stderr, BINARY ": error: trace path too long for '%s'\n", shown);
		view->trace_errors++;
		return;
	}
	FILE *out = fopen(path, "w");
	if (out && res->trace_len)
		fwrite(res->trace, 1, res->trace_len, out);
	if (!out || ferror(out) | (fclose(out) != 0)) {
		fprintf(stderr, BINARY ": error: %s: cannot write the trace: %s\n", path,
			strerror(errno));
		view->trace_errors++;
	}
}

/* In file order, as soon as a scenario and all before it have finished. */
static void on_result(void *ctx, size_t index, const struct onex_scenario_result *res,
		      uint64_t wall_us)
{
	struct run_view *view = ctx;
	(void)wall_us;
	if (view->args->trace_dir)
		write_trace(view, index, res);
	if (res->passed)
		return;
	progress_clear(view);
	print_failure(view, res);
	fflush(stdout);
	progress_draw(view);
}

/* ---- run ----------------------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Collect the files named on the command line. 0, or 1 after a message. */
static int collect(struct onex_suite *suite, char **paths, int count, const char *filter)
{
	struct onex_error err;
	for (int i = 0; i < count; i++) {
		onex_error_clear(&err);
		if (onex_suite_add_path(suite, paths[i], &err) < 0) {
			print_error(&err);
			return EXIT_FAIL;
		}
	}
	if (suite->count == 0) {
		fprintf(stderr, BINARY ": no scenario files (*.yaml) found in the given paths\n");
		return EXIT_FAIL;
	}
	if (filter) {
		onex_suite_filter(suite, filter);
		if (suite->count == 0) {
			fprintf(stderr, BINARY ": no scenario matches --filter '%s'\n", filter);
			return EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

static int write_reports(const struct run_args *a, const struct onex_report *rep)
{
	struct onex_error err;
	int rc = EXIT_OK;
	onex_error_clear(&err);
	if (a->junit && onex_report_write_junit(rep, a->junit, &err) < 0)
		rc = EXIT_FAIL;
	if (rc == EXIT_OK && a->json && onex_report_write_json(rep, a->json, &err) < 0)
		rc = EXIT_FAIL;
	if (rc == EXIT_OK && a->html && onex_report_write_html(rep, a->html, &err) < 0)
		rc = EXIT_FAIL;
	if (rc != EXIT_OK)
		print_error(&err);
	return rc;
}

static int run_suite(const char *prog, const struct run_args *a, const struct onex_suite *suite)
{
	struct onex_scenario_result *results = calloc(suite->count, sizeof(*results));
	uint64_t *wall_us = calloc(suite->count, sizeof(*wall_us));
	struct onex_scenario_run_options opt = { a->seed_override, a->seed, a->trace_dir != NULL };
	struct run_view view = { .prog = prog, .args = a, .results = results,
				 .tty = isatty(STDERR_FILENO) };
	struct onex_suite_hooks hooks = { on_progress, on_result, &view };
	struct onex_error err;
	int rc = EXIT_OK;
	if (!results || !wall_us) {
		fprintf(stderr, BINARY ": out of memory\n");
		free(results);
		free(wall_us);
		return EXIT_FAIL;
	}
	onex_error_clear(&err);
	uint64_t start = now_us();
	int failed = onex_suite_run(suite, &opt, a->jobs, &hooks, results, wall_us, &err);
	uint64_t elapsed = now_us() - start;
	progress_clear(&view);
	if (failed < 0) {
		print_error(&err);
		rc = EXIT_FAIL;
		failed = 0;
		for (size_t i = 0; i < suite->count; i++)
			failed += !results[i].passed;
	}
	struct onex_report rep = { results, wall_us, suite->count, elapsed,
				   a->seed_override, a->seed, prog };
	if (write_reports(a, &rep) != EXIT_OK || view.trace_errors || failed)
		rc = EXIT_FAIL;
	printf("%zu passed, %d failed\n", suite->count - (size_t)failed, failed);
	for (size_t i = 0; i < suite->count; i++)
		onex_scenario_result_release(&results[i]);
	free(results);
	free(wall_us);
	return rc;
}

static int cmd_run(const char *prog, int argc, char **argv)
{
	struct run_args a;
	struct onex_suite suite;
	struct onex_error err;
	int rc = parse_run_args(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? EXIT_OK : EXIT_FAIL;
	onex_error_clear(&err);
	if (a.trace_dir && make_dirs(a.trace_dir, &err) < 0) {
		print_error(&err);
		printf("0 passed, 0 failed\n"); /* a run always ends with its summary */
		return EXIT_FAIL;
	}
	onex_suite_init(&suite);
	rc = collect(&suite, a.paths, a.path_count, a.filter);
	if (rc == EXIT_OK)
		rc = run_suite(prog, &a, &suite);
	else
		printf("0 passed, 0 failed\n");
	onex_suite_release(&suite);
	return rc;
}

/* ---- check --------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct onex_suite suite;
	struct onex_error err;
	size_t valid = 0, invalid = 0;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage_check(stdout);
			return EXIT_OK;
		}
		return usage_error("check", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind >= argc)
		return usage_error("check", "%s", "expected at least one PATH (a scenario file or directory)");
	onex_suite_init(&suite);
	int rc = collect(&suite, argv + optind, argc - optind, NULL);
	for (size_t i = 0; rc == EXIT_OK && i < suite.count; i++) {
		char text[4096];
		onex_error_clear(&err);
		if (onex_scenario_check_file(suite.files[i].path, &err) == 0) {
			valid++;
			continue;
		}
		invalid++;
		if (!onex_error_is_set(&err)) /* the engine owes us a reason; say where */
			onex_error_set(&err, ONEX_ERR_INVALID_OPERATION, suite.files[i].path, 0, 0,
				       "invalid scenario");
		printf("%s\n", onex_error_format(&err, text, sizeof(text)));
	}
	if (rc == EXIT_OK) {
		printf("%zu valid, %zu invalid\n", valid, invalid);
		rc = invalid ? EXIT_FAIL : EXIT_OK;
	}
	onex_suite_release(&suite);
	return rc;
}

int main(int argc, char **argv)
{
	const char *prog = argc > 0 && argv[0] && argv[0][0] ? argv[0] : BINARY;
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_FAIL;
	}
	const char *command = argv[1];
	if (strcmp(command, "run") == 0)
		return cmd_run(prog, argc - 1, argv + 1);
	if (strcmp(command, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
		usage_main(stdout);
		return EXIT_OK;
	}
	if (strcmp(command, "--version") == 0) {
		printf(BINARY " %s\n", ONEX_VERSION);
		return EXIT_OK;
	}
	return usage_error(NULL, command[0] == '-' ? "unknown option '%s'"
						   : "unknown command '%s' (expected run or check)",
			   command);
}
