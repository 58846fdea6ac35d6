/*
 * test_bench_gate.c - the benchmark gate (sim/bench/gate.c): exact
 * metrics (instruction counts, virtual-time figures) compare value to
 * value with no threshold, a changed virtual-time fingerprint fails,
 * sampled metrics need both the threshold and significance, and across
 * machine kinds only machine-independent figures are gated; the choice of
 * a baseline when this machine kind has none.
 *
 * gate.c and stats.c are compiled in here (they are part of onex-bench,
 * not of a library the tests link); the two helpers of runner.c and
 * bench.c that gate.c calls are given below, as small as they are there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/gate.c"
#include "bench/stats.c"

const char *onex_bench_fmt(double v, char *buf, size_t size)
{
	snprintf(buf, size, "%g", v);
	return buf;
}

const struct onex_bench_metric *onex_bench_metric_find(const struct onex_bench_result *res,
						       const char *name)
{
	for (size_t i = 0; i < res->metric_count; i++)
		if (strcmp(res->metrics[i].name, name) == 0)
			return &res->metrics[i];
	return NULL;
}

static const struct onex_bench_workload wl_echo = { .name = "sim-echo", .group = "sim-echo" };

struct fixture {
	struct onex_bench_ctx ctx;
	struct onex_bench_run run;
	char *text;
	size_t text_len;
};

/* A run holding one workload, "sim-echo", with no metric yet; output to memory. */
static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ctx.out = open_memstream(&f->text, &f->text_len);
	assert_non_null(f->ctx.out);
	f->run.ctx = &f->ctx;
	snprintf(f->run.machine_kind, sizeof(f->run.machine_kind), "x86_64-test-2cpu");
	struct onex_bench_result *r = &f->run.results[f->run.count++];
	r->wl = &wl_echo;
	r->available = r->measured = r->ran = 1;
	return f;
}

static void fixture_free(struct fixture *f)
{
	fclose(f->ctx.out);
	free(f->text);
	free(f);
}

static void add_metric(struct fixture *f, const char *name, enum onex_bench_better better,
		       enum onex_bench_kind kind, const double *v, size_t n)
{
	struct onex_bench_result *r = &f->run.results[0];
	struct onex_bench_metric *m = &r->metrics[r->metric_count++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->unit, sizeof(m->unit), "x");
	m->better = better;
	m->kind = kind;
	memcpy(m->samples, v, n * sizeof(v[0]));
	m->n = n;
}

/* A baseline of machine kind `kind` whose sim-echo has `metrics` (stolen). */
static json_t *baseline(const char *kind, json_t *metrics)
{
	json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:i,s:{s:{s:b,s:s,s:o}}}", "format", FORMAT,
			      "machine_kind", kind, "git_commit", "0123456789ab", "date",
			      "2026-01-01T00:00:00Z", "repetitions", 9, "workloads", "sim-echo",
			      "available", 1, "note", "", "metrics", metrics);
	assert_non_null(b);
	return b;
}

static json_t *bmetric(const char *kind, const char *better, const double *v, size_t n)
{
	json_t *samples = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(samples, json_real(v[i]));
	return json_pack("{s:s,s:s,s:s,s:o}", "unit", "x", "kind", kind, "better", better,
			 "samples", samples);
}

static unsigned gate(struct fixture *f, const json_t *b, int cross)
{
	struct onex_bench_gate_options opt = { 0.05, 0.05, cross, 0 };
	unsigned n = onex_bench_gate(b, &f->run, &opt);
	fflush(f->ctx.out);
	return n;
}

/* ---- exact metrics -------------------------------------------------------------- */

static unsigned gate_ir(double base, double now, char **text)
{
	struct fixture *f = fixture_new();
	double b[1] = { base }, c[1] = { now };
	add_metric(f, "ir_per_env", ONEX_BENCH_LOWER, ONEX_BENCH_EXACT, c, 1);
	json_t *bl = baseline("x86_64-test-2cpu",
			      json_pack("{s:o}", "ir_per_env", bmetric("exact", "lower", b, 1)));
	unsigned n = gate(f, bl, 0);
	*text = strdup(f->text);
	json_decref(bl);
	fixture_free(f);
	return n;
}

static void test_one_more_instruction_is_a_regression(void **state)
{
	char *text;
	(void)state;
	/* +0.001 %: far below the 5 % threshold, still a regression. */
	assert_int_equal(gate_ir(195868.0, 195870.0, &text), 1);
	assert_non_null(strstr(text, "REGRESSION (exact"));
	free(text);
}

static void test_fewer_instructions_is_an_improvement(void **state)
{
	char *text;
	(void)state;
	assert_int_equal(gate_ir(195868.0, 195000.0, &text), 0);
	assert_non_null(strstr(text, "improved (exact)"));
	assert_non_null(strstr(text, "1 exact change(s) (1 improved)"));
	free(text);
}

static void test_ir_tolerance_is_opt_in_and_only_for_instructions(void **state)
{
	struct fixture *f = fixture_new();
	double b[1] = { 195868.0 }, c[1] = { 195870.0 }, vb[1] = { 3000.0 }, vc[1] = { 3000.5 };
	(void)state;
	add_metric(f, "ir_per_env", ONEX_BENCH_LOWER, ONEX_BENCH_EXACT, c, 1);
	add_metric(f, "virtual_latency_p50", ONEX_BENCH_LOWER, ONEX_BENCH_EXACT, vc, 1);
	json_t *bl = baseline("x86_64-test-2cpu",
			      json_pack("{s:o,s:o}", "ir_per_env", bmetric("exact", "lower", b, 1),
					"virtual_latency_p50", bmetric("exact", "lower", vb, 1)));
	struct onex_bench_gate_options opt = { 0.05, 0.05, 0, 0.0001 }; /* 0.01 % */
	/* +2 Ir is within 0.01 %; the virtual-time figure stays exact. */
	assert_int_equal(onex_bench_gate(bl, &f->run, &opt), 1);
	fflush(f->ctx.out);
	assert_non_null(strstr(f->text, "within --ir-tolerance"));
	assert_non_null(strstr(f->text, "virtual_latency_p50"));
	assert_non_null(strstr(f->text, "REGRESSION (exact"));
	json_decref(bl);
	fixture_free(f);
}

static void test_same_instructions_pass(void **state)
{
	char *text;
	(void)state;
	assert_int_equal(gate_ir(195868.159, 195868.159, &text), 0);
	assert_non_null(strstr(text, "same"));
	assert_non_null(strstr(text, "0 exact change(s)"));
	free(text);
}

static void test_exact_metric_without_direction_fails_on_any_change(void **state)
{
	struct fixture *f = fixture_new();
	double b[1] = { 4.804 }, c[1] = { 4.805 };
	(void)state;
	add_metric(f, "virtual_seconds", ONEX_BENCH_NEITHER, ONEX_BENCH_EXACT, c, 1);
	json_t *bl = baseline("x86_64-test-2cpu", json_pack("{s:o}", "virtual_seconds",
							    bmetric("exact", "neither", b, 1)));
	assert_int_equal(gate(f, bl, 0), 1);
	assert_non_null(strstr(f->text, "CHANGED (exact"));
	json_decref(bl);
	fixture_free(f);
}

/* ---- fingerprints ---------------------------------------------------------------- */

static unsigned gate_fingerprint(uint64_t now, char **text)
{
	struct fixture *f = fixture_new();
	f->run.results[0].has_fingerprint = 1;
	f->run.results[0].fingerprint = now;
	json_t *bl = baseline("x86_64-test-2cpu", json_object());
	json_object_set_new(json_object_get(json_object_get(bl, "workloads"), "sim-echo"),
			    "fingerprint", json_string("2f15bb0a5ad17403"));
	unsigned n = gate(f, bl, 0);
	*text = strdup(f->text);
	json_decref(bl);
	fixture_free(f);
	return n;
}

static void test_changed_fingerprint_fails(void **state)
{
	char *text;
	(void)state;
	assert_int_equal(gate_fingerprint(0x2f15bb0a5ad17404ull, &text), 1);
	assert_non_null(strstr(text, "FAIL: virtual-time results changed"));
	assert_non_null(strstr(text, "2f15bb0a5ad17403 -> 2f15bb0a5ad17404"));
	free(text);
}

static void test_same_fingerprint_passes(void **state)
{
	char *text;
	(void)state;
	assert_int_equal(gate_fingerprint(0x2f15bb0a5ad17403ull, &text), 0);
	assert_non_null(strstr(text, "virtual-time results identical"));
	free(text);
}

/* ---- sampled metrics and machine kinds --------------------------------------------- */

static const double slow[9] = { 120, 121, 122, 123, 124, 125, 126, 127, 128 };
static const double fast[9] = { 100, 101, 102, 103, 104, 105, 106, 107, 108 };

static unsigned gate_sampled(const double *base, const double *now, const char *kind, int cross,
			     char **text)
{
	struct fixture *f = fixture_new();
	add_metric(f, "cpu_per_env", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED, now, 9);
	json_t *bl = baseline(kind, json_pack("{s:o}", "cpu_per_env",
					      bmetric("sampled", "lower", base, 9)));
	unsigned n = gate(f, bl, cross);
	*text = strdup(f->text);
	json_decref(bl);
	fixture_free(f);
	return n;
}

static void test_sampled_regression_needs_size_and_significance(void **state)
{
	char *text;
	(void)state;
	assert_int_equal(gate_sampled(fast, slow, "x86_64-test-2cpu", 0, &text), 1);
	assert_non_null(strstr(text, "REGRESSION"));
	free(text);
	assert_int_equal(gate_sampled(slow, fast, "x86_64-test-2cpu", 0, &text), 0);
	assert_non_null(strstr(text, "improved"));
	free(text);

	/* Significant (the samples do not overlap) but under the 5 % threshold: ok. */
	static const double a_bit_slower[9] = { 102, 103, 104, 105, 106, 107, 108, 109, 110 };
	assert_int_equal(gate_sampled(fast, a_bit_slower, "x86_64-test-2cpu", 0, &text), 0);
	assert_null(strstr(text, "REGRESSION"));
	assert_non_null(strstr(text, "ok"));
	free(text);

	/* 20 % worse by the median, but so noisy that it is not significant. */
	static const double noisy[9] = { 60, 70, 80, 124, 125, 126, 127, 160, 200 };
	assert_int_equal(gate_sampled(fast, noisy, "x86_64-test-2cpu", 0, &text), 0);
	assert_non_null(strstr(text, "worse, not significant"));
	free(text);
}

static void test_reference_figures_are_not_gated(void **state)
{
	struct fixture *f = fixture_new();
	(void)state;
	/* pgbench got 20 % slower: the reference's figure, not onex's. */
	add_metric(f, "ref_throughput", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, fast, 9);
	json_t *bl = baseline("x86_64-test-2cpu", json_pack("{s:o}", "ref_throughput",
							    bmetric("sampled", "higher", slow, 9)));
	assert_int_equal(gate(f, bl, 0), 0);
	assert_non_null(strstr(f->text, "not gated (the reference, not onex)"));
	json_decref(bl);
	fixture_free(f);
}

static void test_other_machine_times_are_not_gated(void **state)
{
	char *text;
	(void)state;
	assert_int_equal(gate_sampled(fast, slow, "x86_64-other-2cpu", 1, &text), 0);
	assert_non_null(strstr(text, "not gated (other machine)"));
	assert_non_null(strstr(text, "cross-machine comparison"));
	free(text);
}

/* ---- picking a baseline -------------------------------------------------------------- */

static void write_baseline(const char *dir, const char *kind, const char *date)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.json", dir, kind);
	json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:{}}", "format", FORMAT, "machine_kind", kind,
			      "git_commit", "0123456789ab", "date", date, "workloads");
	assert_int_equal(json_dump_file(b, path, 0), 0);
	json_decref(b);
}

static void test_pick_own_then_most_alike(void **state)
{
	char dir[] = "/tmp/onex-bench-gate-XXXXXX", path[1024], *text = NULL;
	size_t len = 0;
	(void)state;
	assert_non_null(mkdtemp(dir));
	FILE *out = open_memstream(&text, &len);
	/* None at all. */
	assert_int_equal(onex_bench_baseline_pick(dir, "x86_64-intel-xeon-2cpu", path,
						  sizeof(path), out),
			 -1);
	write_baseline(dir, "aarch64-intel-xeon-2cpu", "2026-03-01T00:00:00Z");
	write_baseline(dir, "x86_64-amd-epyc-2cpu", "2026-01-01T00:00:00Z");
	write_baseline(dir, "x86_64-amd-epyc-4cpu", "2026-02-01T00:00:00Z");
	/* No baseline of this kind: the same architecture and CPU count wins. */
	assert_int_equal(onex_bench_baseline_pick(dir, "x86_64-intel-xeon-2cpu", path,
						  sizeof(path), out),
			 1);
	fflush(out);
	assert_non_null(strstr(path, "/x86_64-amd-epyc-2cpu.json"));
	assert_non_null(strstr(text, "no baseline for this machine kind (x86_64-intel-xeon-2cpu)"));
	assert_non_null(strstr(text, "aarch64-intel-xeon-2cpu"));
	/* Its own kind, once there. */
	write_baseline(dir, "x86_64-intel-xeon-2cpu", "2026-04-01T00:00:00Z");
	assert_int_equal(onex_bench_baseline_pick(dir, "x86_64-intel-xeon-2cpu", path,
						  sizeof(path), out),
			 0);
	assert_non_null(strstr(path, "/x86_64-intel-xeon-2cpu.json"));
	fclose(out);
	free(text);
	const char *kinds[] = { "aarch64-intel-xeon-2cpu", "x86_64-amd-epyc-2cpu",
				"x86_64-amd-epyc-4cpu", "x86_64-intel-xeon-2cpu" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.json", dir, kinds[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_more_instruction_is_a_regression),
		cmocka_unit_test(test_fewer_instructions_is_an_improvement),
		cmocka_unit_test(test_same_instructions_pass),
		cmocka_unit_test(test_ir_tolerance_is_opt_in_and_only_for_instructions),
		cmocka_unit_test(test_exact_metric_without_direction_fails_on_any_change),
		cmocka_unit_test(test_changed_fingerprint_fails),
		cmocka_unit_test(test_same_fingerprint_passes),
		cmocka_unit_test(test_sampled_regression_needs_size_and_significance),
		cmocka_unit_test(test_reference_figures_are_not_gated),
		cmocka_unit_test(test_other_machine_times_are_not_gated),
		cmocka_unit_test(test_pick_own_then_most_alike),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
