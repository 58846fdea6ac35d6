/*
 * test_sim_cli.c - onex-sim end to end through the built binary: help and
 * version, usage errors and exit codes, directory walking, --filter,
 * --jobs ordering, the failure output of a deliberately broken scenario
 * (step, field diff, seed, rerun command, and that the rerun command
 * reproduces it), the JUnit/JSON/HTML reports, --trace, and `check`.
 * The report writers' escaping is also driven in-process with results no
 * engine would produce (invalid UTF-8, control characters).
 *
 * Scenario files: tests/data/scenarios/{pass,broken,escaping,invalid,unmatched}/.
 * Standard output is not a terminal here, so the progress line never shows,
 * except in the one test that runs onex-sim on a pseudo-terminal (forkpty).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"
#include "spawn.h"

#define DATA "tests/data/scenarios"
#define PASS DATA "/pass"
#define BROKEN DATA "/broken"
#define BROKEN_FILE BROKEN "/echo_payload_mismatch.yaml"
#define ESCAPING DATA "/escaping"
#define INVALID DATA "/invalid"
#define UNMATCHED DATA "/unmatched"

static char sim_bin[512];

static int setup(void **state)
{
	(void)state;
	spawn_bin("onex-sim", sim_bin, sizeof(sim_bin));
	if (access(sim_bin, X_OK) != 0) {
		fprintf(stderr, "%s is not built\n", sim_bin);
		return -1;
	}
	return 0;
}

/* argv after the binary, NULL-terminated. */
static void sim(struct spawn_result *res, const char *const *args)
{
	const char *argv[32] = { sim_bin };
	size_t n = 1;
	for (; args[n - 1]; n++) {
		assert_true(n < 31);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	struct spawn_opts o = { "", 0, NULL, 0, 0, 60000 };
	assert_int_equal(spawn_run(argv, &o, res), 0);
}

#define SIM(res, ...) sim((res), (const char *const[]){ __VA_ARGS__, NULL })

static void assert_contains(const char *text, const char *part)
{
	if (!text || !strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text ? text : "(null)", part);
}

static void assert_lacks(const char *text, const char *part)
{
	if (text && strstr(text, part))
		fail_msg("'%s' contains '%s'", text, part);
}

/* The last line of text (without its '\n'). */
static const char *last_line(const char *text, char *buf, size_t size)
{
	size_t lines = spawn_count_lines(text);
	assert_true(lines > 0);
	return spawn_line(text, lines - 1, buf, size);
}

static void assert_summary(const struct spawn_result *res, const char *want)
{
	char line[256];
	assert_string_equal(last_line(res->out, line, sizeof(line)), want);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	text[n] = '\0';
	fclose(f);
	return text;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void make_tmp(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/onex-sim-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static void remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- command line ---------------------------------------------------------- */

static void test_help_and_version(void **state)
{
	(void)state;
	struct spawn_result res;
	SIM(&res, "--version");
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "onex-sim 0.1.0\n");
	spawn_result_release(&res);

	SIM(&res, "--help");
	assert_int_equal(res.exit_code, 0);
	assert_contains(res.out, "onex-sim run [options] PATH...");
	assert_contains(res.out, "onex-sim check PATH...");
	assert_contains(res.out, "exit codes");
	spawn_result_release(&res);

	SIM(&res, "run", "--help");
	assert_int_equal(res.exit_code, 0);
	static const char *const opts[] = { "--seed N", "--filter GLOB", "--jobs N",
					    "--junit FILE", "--json FILE", "--html FILE",
					    "--trace DIR", "N passed, N failed" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		assert_contains(res.out, opts[i]);
	spawn_result_release(&res);

	SIM(&res, "check", "--help");
	assert_int_equal(res.exit_code, 0);
	assert_contains(res.out, "N valid, N invalid");
	spawn_result_release(&res);
}

static void test_usage_errors_exit_1(void **state)
{
	(void)state;
	static const struct {
		const char *args[4];
		const char *message;
	} cases[] = {
		{ { "frobnicate" }, "unknown command 'frobnicate'" },
		{ { "--bogus" }, "unknown option '--bogus'" },
		{ { "run" }, "expected at least one PATH" },
		{ { "run", "--jobs", "0", PASS }, "--jobs takes a number from 1 to 64, got '0'" },
		{ { "run", "--jobs", "65", PASS }, "--jobs takes a number from 1 to 64" },
		{ { "run", "--jobs", "2x", PASS }, "--jobs takes a number" },
		{ { "run", "--seed", "-1", PASS }, "--seed takes a number" },
		{ { "run", "--seed", "99999999999999999999", PASS }, "--seed takes a number" },
		{ { "run", "--frob", PASS }, "unknown or incomplete option '--frob'" },
		{ { "run", PASS, "--seed" }, "unknown or incomplete option '--seed'" },
		{ { "check" }, "expected at least one PATH" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spawn_result res;
		const char *argv[8] = { sim_bin };
		for (size_t k = 0; k < 4 && cases[i].args[k]; k++)
			argv[k + 1] = cases[i].args[k];
		struct spawn_opts o = { "", 0, NULL, 0, 0, 20000 };
		assert_int_equal(spawn_run(argv, &o, &res), 0);
		assert_int_equal(res.exit_code, 1);
		assert_contains(res.err, cases[i].message);
		assert_contains(res.err, "--help' for usage");
		assert_string_equal(res.out, "");
		spawn_result_release(&res);
	}

	struct spawn_result res;
	const char *bare[] = { sim_bin, NULL };
	struct spawn_opts o = { "", 0, NULL, 0, 0, 20000 };
	assert_int_equal(spawn_run(bare, &o, &res), 0);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "usage: onex-sim run");
	spawn_result_release(&res);
}

static void test_nothing_to_run_is_an_error(void **state)
{
	(void)state;
	char dir[64];
	struct spawn_result res;
	make_tmp(dir, sizeof(dir));
	SIM(&res, "run", dir);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "no scenario files (*.yaml) found");
	/* The error, and then the summary line all runs end with. */
	assert_string_equal(res.out, "0 passed, 0 failed\n");
	spawn_result_release(&res);
	remove_tree(dir);

	SIM(&res, "run", DATA "/no_such_dir");
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, DATA "/no_such_dir: No such file or directory");
	assert_string_equal(res.out, "0 passed, 0 failed\n");
	spawn_result_release(&res);

	SIM(&res, "run", "--filter", "zzz*", PASS);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "no scenario matches --filter 'zzz*'");
	assert_string_equal(res.out, "0 passed, 0 failed\n");
	spawn_result_release(&res);

	/* A trace directory that cannot be made. */
	SIM(&res, "run", "--trace", "/proc/onex-no-such/trace", PASS);
	assert_int_equal(res.exit_code, 1);
	assert_string_equal(res.out, "0 passed, 0 failed\n");
	spawn_result_release(&res);
}

/* ---- running ---------------------------------------------------------------- */

/* Run onex-sim with stdout and stderr on a pseudo-terminal; all it wrote, and its status. */
static char *run_on_pty(const char *const *args, int *status)
{
	const char *argv[16] = { sim_bin };
	size_t n = 1;
	for (; args[n - 1]; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	int master;
	struct winsize ws = { .ws_row = 24, .ws_col = 200 };
	pid_t pid = forkpty(&master, NULL, NULL, &ws);
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	size_t len = 0, cap = 1 << 16;
	char *out = malloc(cap);
	for (;;) {
		if (len + 4096 > cap)
			out = realloc(out, cap *= 2);
		ssize_t r = read(master, out + len, 4096);
		if (r > 0)
			len += (size_t)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else
			break; /* EIO: the child closed the terminal */
	}
	out[len] = '\0';
	close(master);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

static void test_progress_only_on_a_terminal(void **state)
{
	(void)state;
	int status;
	char *out = run_on_pty((const char *const[]){ "run", "--jobs", "1", PASS, NULL }, &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The live counter, redrawn in place, for each scenario, then erased. */
	assert_contains(out, "\r\033[K[1/3] 1 passed, 0 failed  ");
	assert_contains(out, "\r\033[K[2/3] 2 passed, 0 failed  ");
	assert_contains(out, "\r\033[K[3/3] 3 passed, 0 failed  ");
	/* The summary comes after the last counter was erased (the pty turns \n into \r\n). */
	const char *last = strstr(out, "[3/3]");
	assert_non_null(strstr(last, "\r\033[K3 passed, 0 failed\r\n"));
	free(out);

	/* Not a terminal: no counter at all, on either stream. */
	struct spawn_result res;
	SIM(&res, "run", "--jobs", "1", PASS);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "3 passed, 0 failed\n");
	assert_string_equal(res.err, "");
	assert_lacks(res.out, "[1/3]");
	assert_lacks(res.out, "\r");
	spawn_result_release(&res);
}

static void test_passing_suite_is_quiet(void **state)
{
	(void)state;
	struct spawn_result res;
	SIM(&res, "run", PASS);
	assert_int_equal(res.exit_code, 0);
	/* Not a terminal: nothing per passing scenario, only the summary. */
	assert_string_equal(res.out, "3 passed, 0 failed\n");
	assert_string_equal(res.err, "");
	spawn_result_release(&res);

	/* A file given by name runs whatever else is in its directory. */
	SIM(&res, "run", PASS "/echo_roundtrip.yaml");
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "1 passed, 0 failed\n");
	spawn_result_release(&res);

	/* The same file twice (directly and through its directory) runs once. */
	SIM(&res, "run", PASS "/echo_roundtrip.yaml", PASS "/");
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "3 passed, 0 failed\n");
	spawn_result_release(&res);
}

static void test_broken_scenario_shows_step_diff_seed_and_rerun(void **state)
{
	(void)state;
	struct spawn_result res, again;
	char want[1024], line[1024];
	SIM(&res, "run", BROKEN);
	assert_int_equal(res.exit_code, 1);
	/* Which scenario and where. */
	assert_contains(res.out, "FAIL echo_payload_mismatch  " BROKEN_FILE "\n");
	/* The failing step, as the engine reports it (number, kind, file line). */
	assert_contains(res.out, "step 2 (expect, " BROKEN_FILE ":");
	/* Expected vs actual, field by field: only the field that differs. */
	assert_contains(res.out, "payload.msg: expected \"bye\", got \"hi\"");
	assert_lacks(res.out, "payload.count: expected");
	/* The seed of the file, and the exact command that reruns it alone. */
	assert_contains(res.out, "\nseed: 42\n");
	snprintf(want, sizeof(want), "\nrerun: %s run --seed 42 " BROKEN_FILE "\n", sim_bin);
	assert_contains(res.out, want);
	assert_summary(&res, "0 passed, 1 failed");

	/* Running that command gives the same failure, byte for byte. */
	const char *p = strstr(res.out, "\nrerun: ") + strlen("\nrerun: ");
	snprintf(line, sizeof(line), "%.*s", (int)(strchr(p, '\n') - p), p);
	const char *argv[8];
	size_t n = 0;
	for (char *tok = strtok(line, " "); tok && n < 7; tok = strtok(NULL, " "))
		argv[n++] = tok;
	argv[n] = NULL;
	assert_int_equal(n, 5);
	struct spawn_opts o = { "", 0, NULL, 0, 0, 60000 };
	assert_int_equal(spawn_run(argv, &o, &again), 0);
	assert_int_equal(again.exit_code, 1);
	assert_string_equal(again.out, res.out);
	spawn_result_release(&again);
	spawn_result_release(&res);

	/* --seed overrides the file's seed, in the output and the rerun command. */
	SIM(&res, "run", "--seed", "9", BROKEN_FILE);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.out, "\nseed: 9\n");
	snprintf(want, sizeof(want), "rerun: %s run --seed 9 " BROKEN_FILE "\n", sim_bin);
	assert_contains(res.out, want);
	spawn_result_release(&res);
}

/* A request no stub matched: the closest stub is shown, also when a later expect failed first. */
static void test_unmatched_http_shows_closest_stub_after_step_failure(void **state)
{
	(void)state;
	struct spawn_result res;
	SIM(&res, "run", "--json", "build/test-unmatched.json", UNMATCHED);
	assert_int_equal(res.exit_code, 1);
	/* The step's own failure first ... */
	const char *diff = strstr(res.out, "success: expected true, got false");
	assert_non_null(diff);
	/* ... then the unmatched request with its closest stub, before seed and rerun. */
	const char *closest = strstr(res.out, "an HTTP request matched no stub: no stub matches GET "
					      "http://users.test/users/2; closest stub: GET "
					      "http://users.test/users/1 (edit distance 1)\n");
	assert_non_null(closest);
	assert_true(diff < closest);
	assert_true(closest < strstr(res.out, "seed: 1\n"));
	assert_summary(&res, "0 passed, 1 failed");
	spawn_result_release(&res);
	/* The reports carry it too. */
	char *json = read_text("build/test-unmatched.json");
	assert_contains(json, "closest stub: GET http://users.test/users/1");
	free(json);
	unlink("build/test-unmatched.json");
}

static void test_jobs_keep_file_order(void **state)
{
	(void)state;
	struct spawn_result one, many;
	SIM(&one, "run", ESCAPING, PASS, BROKEN);
	SIM(&many, "run", "--jobs", "4", ESCAPING, PASS, BROKEN);
	assert_int_equal(one.exit_code, 1);
	assert_int_equal(many.exit_code, 1);
	/* Failures in argument order: escaping before broken, whatever finished first. */
	const char *a = strstr(one.out, "FAIL markup_in_failure");
	const char *b = strstr(one.out, "FAIL echo_payload_mismatch");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_string_equal(many.out, one.out);
	assert_summary(&one, "3 passed, 2 failed");
	spawn_result_release(&one);
	spawn_result_release(&many);
}

static void test_filter_by_name_or_file_name(void **state)
{
	(void)state;
	struct spawn_result res;
	/* By scenario name: nested/differently_named.yaml is named echo_nested. */
	SIM(&res, "run", "--filter", "echo_*", PASS, BROKEN);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.out, "FAIL echo_payload_mismatch");
	assert_summary(&res, "2 passed, 1 failed");
	spawn_result_release(&res);

	/* By file name without .yaml. */
	SIM(&res, "run", "--filter", "differently_*", PASS, BROKEN);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "1 passed, 0 failed\n");
	spawn_result_release(&res);

	SIM(&res, "run", "--filter", "error_reply", PASS);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "1 passed, 0 failed\n");
	spawn_result_release(&res);
}

/* ---- reports and traces ----------------------------------------------------- */

static json_t *scenario_named(json_t *list, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) {
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return s;
	}
	fail_msg("no scenario '%s' in the JSON report", name);
	return NULL;
}

static void check_json_report(const char *path)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root)
		fail_msg("%s: %s", path, jerr.text);
	assert_int_equal(json_integer_value(json_object_get(root, "passed")), 3);
	assert_int_equal(json_integer_value(json_object_get(root, "failed")), 1);
	assert_true(json_is_null(json_object_get(root, "seed_override")));
	json_t *list = json_object_get(root, "scenarios");
	assert_int_equal(json_array_size(list), 4);
	/* File order: broken/ before pass/ (arguments in that order). */
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "echo_payload_mismatch");
	json_t *bad = scenario_named(list, "echo_payload_mismatch");
	assert_string_equal(json_string_value(json_object_get(bad, "path")), BROKEN_FILE);
	assert_int_equal(json_integer_value(json_object_get(bad, "seed")), 42);
	assert_true(json_is_false(json_object_get(bad, "passed")));
	assert_contains(json_string_value(json_object_get(bad, "failure")),
			"payload.msg: expected \"bye\", got \"hi\"");
	assert_int_equal(json_integer_value(json_object_get(bad, "failed_step")), 2);
	assert_true(json_integer_value(json_object_get(bad, "failed_line")) > 0);
	json_t *ok = scenario_named(list, "echo_roundtrip");
	assert_true(json_is_true(json_object_get(ok, "passed")));
	assert_true(json_is_null(json_object_get(ok, "failure")));
	assert_int_equal(json_integer_value(json_object_get(ok, "seed")), 3);
	static const char *const keys[] = { "failed_step", "failed_line", "virtual_us",
					    "steps_run", "requests", "responses" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(json_is_integer(json_object_get(ok, keys[i])));
	assert_int_equal(json_integer_value(json_object_get(ok, "requests")), 1);
	assert_int_equal(json_integer_value(json_object_get(ok, "responses")), 1);
	json_decref(root);
}

static void check_junit_report(const char *path)
{
	char *xml = read_text(path);
	assert_contains(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
	assert_contains(xml, "<testsuites>");
	assert_contains(xml, "<testsuite name=\"onex-sim\" tests=\"4\" failures=\"1\" time=\"");
	assert_contains(xml, "<testcase classname=\"" PASS "\" name=\"echo_roundtrip\" time=\"");
	assert_contains(xml, "<testcase classname=\"" PASS "/nested\" name=\"echo_nested\"");
	assert_contains(xml, "<testcase classname=\"" BROKEN "\" name=\"echo_payload_mismatch\"");
	assert_contains(xml, "<failure message=\"step 2 (expect, " BROKEN_FILE ":");
	assert_contains(xml, "payload.msg: expected \"bye\", got \"hi\"");
	assert_contains(xml, "seed: 42\n");
	assert_contains(xml, "rerun: ");
	assert_contains(xml, "</testsuites>\n");
	free(xml);
}

static void check_html_report(const char *path)
{
	char *html = read_text(path);
	assert_contains(html, "<!DOCTYPE html>");
	assert_contains(html, "<style>");
	assert_contains(html, "3 passed</span>");
	assert_contains(html, "1 failed</span>");
	assert_contains(html, "<tr class=\"fail\">");
	assert_contains(html, "<pre>step 2 (expect, " BROKEN_FILE);
	/* Self-contained: no scripts, no links to anything. */
	assert_lacks(html, "<script");
	assert_lacks(html, "src=");
	assert_lacks(html, "href=");
	assert_lacks(html, "url(");
	free(html);
}

/* Every line of a trace is a JSON object with t_us and event. */
static void check_trace(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.jsonl", dir, name);
	char *text = read_text(path);
	size_t lines = spawn_count_lines(text);
	assert_true(lines > 0);
	for (size_t i = 0; i < lines; i++) {
		static char buf[1 << 16];
		json_t *ev = json_loads(spawn_line(text, i, buf, sizeof(buf)), 0, NULL);
		if (!ev)
			fail_msg("%s line %zu is not JSON", path, i + 1);
		assert_true(json_is_integer(json_object_get(ev, "t_us")));
		assert_true(json_is_string(json_object_get(ev, "event")));
		json_decref(ev);
	}
	free(text);
}

static void test_reports_and_traces(void **state)
{
	(void)state;
	char dir[64], junit[128], json[128], html[128], trace[128], trace2[128];
	struct spawn_result res;
	make_tmp(dir, sizeof(dir));
	snprintf(junit, sizeof(junit), "%s/junit.xml", dir);
	snprintf(json, sizeof(json), "%s/results.json", dir);
	snprintf(html, sizeof(html), "%s/summary.html", dir);
	snprintf(trace, sizeof(trace), "%s/traces/one", dir); /* created, parents too */
	snprintf(trace2, sizeof(trace2), "%s/traces/two", dir);
	SIM(&res, "run", "--jobs", "3", "--junit", junit, "--json", json, "--html", html,
	    "--trace", trace, BROKEN, PASS);
	assert_int_equal(res.exit_code, 1);
	assert_summary(&res, "3 passed, 1 failed");
	spawn_result_release(&res);
	check_json_report(json);
	check_junit_report(junit);
	check_html_report(html);
	static const char *const names[] = { "echo_payload_mismatch", "echo_roundtrip",
					     "error_reply", "echo_nested" };
	for (size_t i = 0; i < 4; i++)
		check_trace(trace, names[i]);

	/* Same files and seeds: byte-identical traces (no wall time in them). */
	SIM(&res, "run", "--trace", trace2, BROKEN, PASS);
	spawn_result_release(&res);
	for (size_t i = 0; i < 4; i++) {
		char a[256], b[256];
		snprintf(a, sizeof(a), "%s/%s.jsonl", trace, names[i]);
		snprintf(b, sizeof(b), "%s/%s.jsonl", trace2, names[i]);
		char *ta = read_text(a), *tb = read_text(b);
		assert_string_equal(ta, tb);
		free(ta);
		free(tb);
	}

	/* --seed shows in the JSON report. */
	SIM(&res, "run", "--seed", "5", "--json", json, PASS);
	assert_int_equal(res.exit_code, 0);
	spawn_result_release(&res);
	json_t *root = json_load_file(json, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(root, "seed_override")), 5);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(root, "scenarios"), 0), "seed")),
			 5);
	json_decref(root);
	remove_tree(dir);
}

static void test_unwritable_report_fails_the_run(void **state)
{
	(void)state;
	struct spawn_result res;
	SIM(&res, "run", "--junit", DATA "/no_such_dir/junit.xml", PASS);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, DATA "/no_such_dir/junit.xml: cannot write the report");
	assert_summary(&res, "3 passed, 0 failed");
	spawn_result_release(&res);
}

static void test_markup_is_escaped_in_reports(void **state)
{
	(void)state;
	char dir[64], junit[128], html[128];
	struct spawn_result res;
	make_tmp(dir, sizeof(dir));
	snprintf(junit, sizeof(junit), "%s/junit.xml", dir);
	snprintf(html, sizeof(html), "%s/summary.html", dir);
	SIM(&res, "run", "--junit", junit, "--html", html, ESCAPING);
	assert_int_equal(res.exit_code, 1);
	spawn_result_release(&res);
	char *xml = read_text(junit), *page = read_text(html);
	/* The diff quotes "<i>]]></i>" and "<b>&amp;</b> \"q\" 'a'". */
	assert_contains(xml, "&lt;i&gt;]]&gt;&lt;/i&gt;");
	assert_contains(xml, "&lt;b&gt;&amp;amp;&lt;/b&gt;");
	assert_lacks(xml, "<i>");
	assert_lacks(xml, "<b>");
	assert_contains(page, "&lt;i&gt;]]&gt;&lt;/i&gt;");
	assert_lacks(page, "<i>");
	free(xml);
	free(page);
	remove_tree(dir);
}

/* ---- check ------------------------------------------------------------------ */

static void test_check_validates_without_running(void **state)
{
	(void)state;
	struct spawn_result res;
	/* The broken scenario is a valid file: it only fails when run. */
	SIM(&res, "check", PASS, BROKEN);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "4 valid, 0 invalid\n");
	spawn_result_release(&res);

	SIM(&res, "check", PASS, INVALID);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.out, INVALID "/unknown_key.yaml:");
	assert_contains(res.out, "stepz");
	assert_summary(&res, "3 valid, 1 invalid");
	spawn_result_release(&res);
}

/* ---- report writers in-process ---------------------------------------------- */

static char *capture(int (*to)(const struct onex_report *, FILE *), const struct onex_report *rep)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(to(rep, f), 0);
	fclose(f);
	return text;
}

static void test_report_writers_sanitize_bytes(void **state)
{
	(void)state;
	struct onex_scenario_result r[2];
	uint64_t wall_us[2] = { 1500, 2500 };
	memset(r, 0, sizeof(r));
	snprintf(r[0].name, sizeof(r[0].name), "ok_one");
	snprintf(r[0].path, sizeof(r[0].path), "top.yaml");
	r[0].passed = 1;
	/* No name (unreadable file): shown by its file name. */
	snprintf(r[1].path, sizeof(r[1].path), "dir/it's <odd>.yaml");
	r[1].seed = 18446744073709551615u;
	r[1].failure = (char *)"bad byte \xff, bell \a, overlong \xc0\xaf\nline two \"q\" & <x>";
	struct onex_report rep = { r, wall_us, 2, 0, 0, 0, "bin/onex-sim" };

	char *xml = capture(onex_report_junit_to, &rep);
	assert_contains(xml, "tests=\"2\" failures=\"1\" time=\"0.004\"");
	assert_contains(xml, "<testcase classname=\".\" name=\"ok_one\" time=\"0.002\"/>");
	assert_contains(xml, "classname=\"dir\" name=\"it&#39;s &lt;odd&gt;\"");
	/* The message attribute is the first line only, with no raw control byte. */
	assert_contains(xml, "message=\"bad byte \xef\xbf\xbd, bell \xef\xbf\xbd, overlong "
			     "\xef\xbf\xbd\xef\xbf\xbd\">");
	assert_contains(xml, "line two \"q\" &amp; &lt;x&gt;");
	assert_contains(xml, "seed: 18446744073709551615\n");
	assert_contains(xml, "rerun: bin/onex-sim run --seed 18446744073709551615 "
			     "'dir/it'\\''s &lt;odd&gt;.yaml'");
	assert_lacks(xml, "\xff");
	assert_lacks(xml, "\a");
	free(xml);

	char *json = capture(onex_report_json_to, &rep);
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	if (!root)
		fail_msg("JSON report does not parse: %s", jerr.text);
	json_t *s1 = json_array_get(json_object_get(root, "scenarios"), 1);
	assert_string_equal(json_string_value(json_object_get(s1, "name")), "");
	assert_string_equal(json_string_value(json_object_get(s1, "seed")),
			    "18446744073709551615");
	assert_contains(json_string_value(json_object_get(s1, "failure")),
			"bad byte \xef\xbf\xbd, bell \a");
	json_decref(root);
	free(json);

	char *html = capture(onex_report_html_to, &rep);
	assert_contains(html, "<td>it's &lt;odd&gt;</td>");
	assert_contains(html, "<pre>bad byte \xef\xbf\xbd");
	assert_lacks(html, "\xff");
	free(html);

	char cmd[256];
	assert_string_equal(onex_report_rerun_command("onex-sim", 7, "a b.yaml", cmd, sizeof(cmd)),
			    "onex-sim run --seed 7 'a b.yaml'");
	assert_string_equal(onex_report_rerun_command("./x", 0, "s/ok-1.yaml", cmd, sizeof(cmd)),
			    "./x run --seed 0 s/ok-1.yaml");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_usage_errors_exit_1),
		cmocka_unit_test(test_nothing_to_run_is_an_error),
		cmocka_unit_test(test_passing_suite_is_quiet),
		cmocka_unit_test(test_broken_scenario_shows_step_diff_seed_and_rerun),
		cmocka_unit_test(test_jobs_keep_file_order),
		cmocka_unit_test(test_filter_by_name_or_file_name),
		cmocka_unit_test(test_progress_only_on_a_terminal),
		cmocka_unit_test(test_unmatched_http_shows_closest_stub_after_step_failure),
		cmocka_unit_test(test_reports_and_traces),
		cmocka_unit_test(test_unwritable_report_fails_the_run),
		cmocka_unit_test(test_markup_is_escaped_in_reports),
		cmocka_unit_test(test_check_validates_without_running),
		cmocka_unit_test(test_report_writers_sanitize_bytes),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
