/*
 * test_sim_determinism.c - same scenario + same seed = byte-identical
 * trace; another seed changes ids but not verdicts (for the golden
 * scenario and for every scenario of the suite); the trace of the golden
 * scenario equals the committed file. (Runs under SAN=1 too, where
 * the same golden file must match: the trace may not depend on the build.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scenario_run.h"
#include "suite.h"
#include "spawn.h"

#define GOLDEN_SCENARIO "tests/data/golden/mixed.yaml"
#define GOLDEN_TRACE "tests/data/golden/mixed.trace.jsonl"

static void run(const char *path, int seed_override, uint64_t seed,
		struct onex_scenario_result *res)
{
	struct onex_scenario_run_options opt = { seed_override, seed, 1 };
	int rc = onex_scenario_run_file(path, &opt, res);
	if (rc != 0)
		fail_msg("%s failed:\n%s", path, res->failure ? res->failure : "?");
	assert_non_null(res->trace);
	assert_true(res->trace_len > 0);
}

static void test_same_seed_same_bytes(void **state)
{
	(void)state;
	struct onex_scenario_result a, b;
	run(GOLDEN_SCENARIO, 0, 0, &a);
	run(GOLDEN_SCENARIO, 0, 0, &b);
	assert_int_equal(a.trace_len, b.trace_len);
	assert_memory_equal(a.trace, b.trace, a.trace_len);
	assert_int_equal(a.virtual_us, b.virtual_us);
	onex_scenario_result_release(&a);
	onex_scenario_result_release(&b);
}

static void test_other_seed_other_ids_same_verdict(void **state)
{
	(void)state;
	struct onex_scenario_result a, b;
	run(GOLDEN_SCENARIO, 1, 1, &a);
	run(GOLDEN_SCENARIO, 1, 2, &b);
	assert_int_equal(a.passed, 1);
	assert_int_equal(b.passed, 1);
	assert_int_equal(a.seed, 1);
	assert_int_equal(b.seed, 2);
	/* Same events at the same virtual times, different generated ids. */
	assert_int_equal(a.virtual_us, b.virtual_us);
	assert_int_equal(a.requests, b.requests);
	assert_int_equal(a.responses, b.responses);
	assert_true(a.trace_len == b.trace_len); /* UUIDs have one length */
	assert_memory_not_equal(a.trace, b.trace, a.trace_len);
	onex_scenario_result_release(&a);
	onex_scenario_result_release(&b);
}

/* The envelope_id of every reply the host published, in order, from a trace. */
static json_t *reply_ids(const struct onex_scenario_result *res)
{
	json_t *ids = json_array();
	const char *line = res->trace, *end = res->trace + res->trace_len;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		json_t *ev = json_loadb(line, n, 0, NULL);
		if (!ev)
			fail_msg("%s: a trace line is not JSON: %.*s", res->path, (int)n, line);
		const char *kind = json_string_value(json_object_get(ev, "event"));
		const char *by = json_string_value(json_object_get(ev, "by"));
		json_t *id = json_object_get(json_object_get(ev, "data"), "envelope_id");
		if (kind && by && strcmp(kind, "publish") == 0 && strcmp(by, "host") == 0)
			json_array_append(ids, json_is_string(id) ? id : json_null());
		json_decref(ev);
		line += n + 1;
	}
	return ids;
}

/* Every scenario of scenarios/: seed 1 and seed 2 give the same verdicts, other ids. */
static void test_other_seed_same_verdicts_whole_suite(void **state)
{
	(void)state;
	struct onex_suite suite;
	struct onex_error err;
	size_t with_replies = 0;
	onex_suite_init(&suite);
	onex_error_clear(&err);
	assert_int_equal(onex_suite_add_path(&suite, "scenarios", &err), 0);
	assert_true(suite.count >= 90);
	for (size_t i = 0; i < suite.count; i++) {
		const char *path = suite.files[i].path;
		struct onex_scenario_run_options o1 = { 1, 1, 1 }, o2 = { 1, 2, 1 };
		struct onex_scenario_result a, b;
		int rc1 = onex_scenario_run_file(path, &o1, &a);
		int rc2 = onex_scenario_run_file(path, &o2, &b);
		if (rc1 != rc2 || a.passed != b.passed)
			fail_msg("%s: seed 1 %s, seed 2 %s:\n%s%s", path, a.passed ? "passed" : "failed",
				 b.passed ? "passed" : "failed", a.failure ? a.failure : "",
				 b.failure ? b.failure : "");
		assert_int_equal(a.failed_step, b.failed_step);
		assert_int_equal(a.steps_run, b.steps_run);
		assert_int_equal(a.requests, b.requests);
		assert_int_equal(a.responses, b.responses);
		assert_int_equal(a.virtual_us, b.virtual_us);
		json_t *ia = reply_ids(&a), *ib = reply_ids(&b);
		if (json_array_size(ia) != json_array_size(ib))
			fail_msg("%s: %zu replies with seed 1, %zu with seed 2", path,
				 json_array_size(ia), json_array_size(ib));
		for (size_t k = 0; k < json_array_size(ia); k++) {
			const char *x = json_string_value(json_array_get(ia, k));
			const char *y = json_string_value(json_array_get(ib, k));
			if (!x && !y)
				continue; /* a large reply is traced by its size only */
			if (!x || !y || strcmp(x, y) == 0)
				fail_msg("%s: reply %zu has envelope_id %s with seed 1 and %s with "
					 "seed 2; the seed must change generated ids", path, k + 1,
					 x ? x : "(none)", y ? y : "(none)");
		}
		with_replies += json_array_size(ia) > 0;
		json_decref(ia);
		json_decref(ib);
		onex_scenario_result_release(&a);
		onex_scenario_result_release(&b);
	}
	/* The id check has teeth: most scenarios publish replies. */
	assert_true(with_replies * 2 > suite.count);
	onex_suite_release(&suite);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void test_golden_trace(void **state)
{
	(void)state;
	struct onex_scenario_result a;
	run(GOLDEN_SCENARIO, 0, 0, &a);
	if (getenv("ONEX_UPDATE_GOLDEN")) {
		FILE *f = fopen(GOLDEN_TRACE, "wb");
		assert_non_null(f);
		fwrite(a.trace, 1, a.trace_len, f);
		fclose(f);
	}
	size_t len = 0;
	char *golden = slurp(GOLDEN_TRACE, &len);
	if (!golden)
		fail_msg("%s is missing; create it with ONEX_UPDATE_GOLDEN=1", GOLDEN_TRACE);
	if (len != a.trace_len || memcmp(golden, a.trace, len) != 0) {
		size_t i = 0, line = 1;
		while (i < len && i < a.trace_len && golden[i] == a.trace[i])
			line += golden[i++] == '\n';
		fail_msg("the trace differs from %s at line %zu (byte %zu); if the change is "
			 "intended, regenerate with ONEX_UPDATE_GOLDEN=1", GOLDEN_TRACE, line, i);
	}
	free(golden);
	onex_scenario_result_release(&a);
}

/* Run onex-sim over `dir` with --jobs N and --trace into a fresh directory. */
static void sim_traces(const char *jobs, const char *trace_dir)
{
	char bin[512], cmd[1024];
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", trace_dir, trace_dir);
	assert_int_equal(system(cmd), 0);
	spawn_bin("onex-sim", bin, sizeof(bin));
	const char *argv[] = { bin, "run", "--jobs", jobs, "--trace", trace_dir,
			       "tests/data/golden", "scenarios/mvp", "scenarios/timing", NULL };
	struct spawn_opts o = { "", 0, NULL, 0, 0, 300000 };
	struct spawn_result res;
	assert_int_equal(spawn_run(argv, &o, &res), 0);
	if (res.exit_code != 0)
		fail_msg("onex-sim --jobs %s failed (%d):\n%s\n%s", jobs, res.exit_code, res.out,
			 res.err);
	spawn_result_release(&res);
}

static void test_jobs_do_not_change_traces(void **state)
{
	(void)state;
	sim_traces("1", "build/test-traces/jobs1");
	sim_traces("2", "build/test-traces/jobs2");
	/* diff -r exits 0 only when both trees hold the same files, byte for byte. */
	assert_int_equal(system("diff -r build/test-traces/jobs1 build/test-traces/jobs2 >/dev/null"), 0);
	assert_int_equal(system("test $(ls build/test-traces/jobs1 | wc -l) -ge 5"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_seed_same_bytes),
		cmocka_unit_test(test_other_seed_other_ids_same_verdict),
		cmocka_unit_test(test_other_seed_same_verdicts_whole_suite),
		cmocka_unit_test(test_golden_trace),
		cmocka_unit_test(test_jobs_do_not_change_traces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
