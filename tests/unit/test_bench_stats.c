/*
 * test_bench_stats.c - the benchmark tool's statistics: the log-linear
 * histogram (exact percentiles on known inputs, bucket equivalence,
 * merging, saturation, bounded memory, HdrHistogram's text format) and
 * the Mann-Whitney U test (p-values checked against scipy 1.10.1,
 * scipy.stats.mannwhitneyu(a, b, alternative='two-sided',
 * method='asymptotic'), the test google-benchmark's compare.py runs).
 *
 * The two modules are compiled in here (they are part of onex-bench, not
 * of a library the tests link).
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

#include "bench/histogram.c"
#include "bench/stats.c"

#define HOUR_NS (3600LL * 1000000000LL)

static void new_hist(struct onex_hist *h, int sig_figs)
{
	assert_int_equal(onex_hist_init(h, 1, HOUR_NS, sig_figs), 0);
}

/* ---- histogram ------------------------------------------------------------------- */

static void test_percentiles_exact_for_small_values(void **state)
{
	struct onex_hist h;
	(void)state;
	new_hist(&h, 3);
	for (int64_t v = 1; v <= 1000; v++)
		assert_int_equal(onex_hist_record(&h, v), 0);
	assert_int_equal(h.total_count, 1000);
	assert_int_equal(onex_hist_value_at_percentile(&h, 0.0), 1);
	assert_int_equal(onex_hist_value_at_percentile(&h, 50.0), 500);
	assert_int_equal(onex_hist_value_at_percentile(&h, 90.0), 900);
	assert_int_equal(onex_hist_value_at_percentile(&h, 99.0), 990);
	assert_int_equal(onex_hist_value_at_percentile(&h, 99.9), 999);
	assert_int_equal(onex_hist_value_at_percentile(&h, 100.0), 1000);
	assert_int_equal(onex_hist_min(&h), 1);
	assert_int_equal(onex_hist_max(&h), 1000);
	assert_true(fabs(onex_hist_mean(&h) - 500.5) < 1e-9);
	/* Population standard deviation of 1..n: sqrt((n^2 - 1) / 12). */
	assert_true(fabs(onex_hist_stddev(&h) - sqrt((1000.0 * 1000.0 - 1.0) / 12.0)) < 1e-9);
	onex_hist_release(&h);
}

static void test_percentile_rounds_like_hdrhistogram(void **state)
{
	struct onex_hist h;
	(void)state;
	new_hist(&h, 3);
	/* Four values: the count wanted is round(p / 100 * 4): p51 -> 2 (the 2nd), p63 -> 3. */
	onex_hist_record(&h, 10);
	onex_hist_record(&h, 20);
	onex_hist_record(&h, 30);
	onex_hist_record(&h, 40);
	assert_int_equal(onex_hist_value_at_percentile(&h, 25.0), 10);
	assert_int_equal(onex_hist_value_at_percentile(&h, 50.0), 20);
	assert_int_equal(onex_hist_value_at_percentile(&h, 51.0), 20);
	assert_int_equal(onex_hist_value_at_percentile(&h, 63.0), 30);
	assert_int_equal(onex_hist_value_at_percentile(&h, 100.0), 40);
	onex_hist_release(&h);
}

static void test_equivalent_ranges_keep_three_digits(void **state)
{
	struct onex_hist h;
	(void)state;
	new_hist(&h, 3);
	assert_int_equal(h.sub_bucket_count, 2048);
	/* Below 2048 every value has its own count. */
	assert_int_equal(onex_hist_lowest_equivalent(&h, 2047), 2047);
	assert_int_equal(onex_hist_highest_equivalent(&h, 2047), 2047);
	/* 1,000,000 lies in the bucket of 2^19..2^20, 512 wide. */
	assert_int_equal(onex_hist_lowest_equivalent(&h, 1000000), 999936);
	assert_int_equal(onex_hist_highest_equivalent(&h, 1000000), 1000447);
	onex_hist_record(&h, 1000000);
	assert_int_equal(onex_hist_value_at_percentile(&h, 50.0), 1000447);
	assert_int_equal(onex_hist_max(&h), 1000000); /* the exact maximum is kept */
	onex_hist_release(&h);
}

/* HdrHistogram_c's own test data: 10 000 values of 1000 and one of 100 000 000. */
static void test_outlier_distribution(void **state)
{
	struct onex_hist h;
	(void)state;
	new_hist(&h, 3);
	assert_int_equal(onex_hist_record_n(&h, 1000, 10000), 0);
	assert_int_equal(onex_hist_record(&h, 100000000), 0);
	assert_int_equal(onex_hist_value_at_percentile(&h, 30.0), 1000);
	assert_int_equal(onex_hist_value_at_percentile(&h, 99.0), 1000);
	assert_int_equal(onex_hist_value_at_percentile(&h, 99.99), 1000);
	int64_t top = onex_hist_value_at_percentile(&h, 99.999);
	assert_true(llabs(top - 100000000) <= 100000); /* within 0.1 % */
	assert_int_equal(onex_hist_value_at_percentile(&h, 100.0), top);
	double mean = (1000.0 * 10000 + 100000000.0) / 10001.0;
	assert_true(fabs(onex_hist_mean(&h) - mean) / mean < 0.001);
	onex_hist_release(&h);
}

static void test_merge_equals_recording_everything(void **state)
{
	struct onex_hist a, b, all;
	(void)state;
	new_hist(&a, 3);
	new_hist(&b, 3);
	new_hist(&all, 3);
	for (int64_t v = 1; v <= 200000; v += 7) {
		onex_hist_record(v % 2 ? &a : &b, v * 13);
		onex_hist_record(&all, v * 13);
	}
	assert_int_equal(onex_hist_merge(&a, &b), 0);
	assert_int_equal(a.total_count, all.total_count);
	assert_int_equal(onex_hist_min(&a), onex_hist_min(&all));
	assert_int_equal(onex_hist_max(&a), onex_hist_max(&all));
	assert_memory_equal(a.counts, all.counts, onex_hist_memory_bytes(&all));
	for (double p = 0; p <= 100.0; p += 0.5)
		assert_int_equal(onex_hist_value_at_percentile(&a, p),
				 onex_hist_value_at_percentile(&all, p));
	onex_hist_release(&a);
	onex_hist_release(&b);
	onex_hist_release(&all);
}

static void test_merge_across_layouts(void **state)
{
	struct onex_hist coarse, fine;
	(void)state;
	new_hist(&coarse, 2);
	new_hist(&fine, 3);
	for (int64_t v = 1; v <= 100; v++)
		onex_hist_record(&coarse, v);
	assert_int_equal(onex_hist_merge(&fine, &coarse), 0);
	assert_int_equal(fine.total_count, 100);
	assert_int_equal(onex_hist_value_at_percentile(&fine, 50.0), 50);
	assert_int_equal(onex_hist_max(&fine), 100);
	onex_hist_release(&coarse);
	onex_hist_release(&fine);
}

static void test_memory_is_bounded_and_values_saturate(void **state)
{
	struct onex_hist h;
	(void)state;
	assert_int_equal(onex_hist_init(&h, 1, 1000000, 3), 0);
	size_t bytes = onex_hist_memory_bytes(&h);
	/* 10 buckets (2048 << 9 > 10^6) of 1024 counts, plus the first half bucket. */
	assert_int_equal(h.bucket_count, 10);
	assert_int_equal(bytes, (10 + 1) * 1024 * sizeof(int64_t));
	for (int64_t i = 0; i < 1000000; i++)
		onex_hist_record(&h, (i * 7919) % 2000000);
	assert_int_equal(onex_hist_memory_bytes(&h), bytes);
	assert_true(h.saturated > 0);
	assert_int_equal(onex_hist_max(&h), 1000000);
	assert_int_equal(onex_hist_record(&h, -1), -1);
	onex_hist_release(&h);
	assert_int_equal(onex_hist_init(&h, 0, 10, 3), -1); /* lowest must be >= 1 */
	assert_int_equal(onex_hist_init(&h, 1, 1000, 6), -1); /* at most 5 digits */
}

static void test_hgrm_text_format(void **state)
{
	struct onex_hist h;
	char *text = NULL;
	size_t len = 0;
	(void)state;
	new_hist(&h, 3);
	for (int64_t v = 1; v <= 1000; v++)
		onex_hist_record(&h, v);
	FILE *f = open_memstream(&text, &len);
	onex_hist_print_distribution(&h, f, 5, 1.0);
	fclose(f);
	assert_non_null(strstr(text, "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
	assert_non_null(strstr(text, "       1.000 0.000000000000          1           1.00\n"));
	assert_non_null(strstr(text, "     500.000 0.500000000000        500           2.00\n"));
	assert_non_null(strstr(text, "     900.000 0.900000000000        900          10.00\n"));
	assert_non_null(strstr(text, "    1000.000 1.000000000000       1000\n"));
	assert_non_null(strstr(text, "#[Mean    =      500.500, StdDeviation   =      288.675]\n"));
	assert_non_null(strstr(text, "#[Max     =     1000.000, Total count    =         1000]\n"));
	assert_non_null(strstr(text, "#[Buckets =           32, SubBuckets     =         2048]\n"));
	free(text);
	onex_hist_release(&h);
}

/* ---- Mann-Whitney U --------------------------------------------------------------- */

static void check_utest(const double *a, size_t na, const double *b, size_t nb, double u1,
			double p)
{
	struct onex_utest t;
	assert_int_equal(onex_mann_whitney(a, na, b, nb, &t), 0);
	assert_true(t.valid);
	if (fabs(t.u1 - u1) > 1e-12 || fabs(t.p_value - p) > 1e-12)
		fail_msg("U1 %.17g p %.17g, expected U1 %.17g p %.17g", t.u1, t.p_value, u1, p);
}

static void test_utest_separated_samples(void **state)
{
	const double a[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	const double b[] = { 10, 11, 12, 13, 14, 15, 16, 17, 18 };
	(void)state;
	check_utest(a, 9, b, 9, 0.0, 0.00041229480206169127);
	check_utest(b, 9, a, 9, 81.0, 0.00041229480206169127); /* symmetric */
}

static void test_utest_timings(void **state)
{
	const double base[] = { 10.0, 10.2, 10.1, 10.3, 9.9, 10.0, 10.1, 10.2, 10.05 };
	const double slow[] = { 10.6, 10.8, 10.7, 10.5, 10.9, 10.65, 10.75, 10.55, 10.85 };
	(void)state;
	/* Ties inside the first sample (10.0, 10.1, 10.2 twice each). */
	check_utest(base, 9, slow, 9, 0.0, 0.000403832264974161);
}

static void test_utest_overlapping_samples(void **state)
{
	const double a[] = { 1.1, 2.2, 3.3, 4.4, 5.5, 6.6, 7.7, 8.8, 9.9 };
	const double b[] = { 2, 4, 6, 8, 10, 12, 14, 16, 18 };
	const double odd[] = { 1, 3, 5, 7, 9, 11, 13, 15, 17 };
	const double even[] = { 2, 4, 6, 8, 10, 12, 14, 16, 18 };
	(void)state;
	check_utest(a, 9, b, 9, 20.0, 0.07738861114200664);
	check_utest(odd, 9, even, 9, 36.0, 0.7239320396139757);
}

static void test_utest_ties_across_samples(void **state)
{
	const double a[] = { 1, 2, 2, 3, 3, 3, 4, 5, 9 };
	const double b[] = { 2, 3, 3, 4, 5, 5, 6, 7, 8 };
	(void)state;
	check_utest(a, 9, b, 9, 24.5, 0.16463951925956344);
}

static void test_utest_degenerate(void **state)
{
	const double same[] = { 5, 5, 5 };
	struct onex_utest t;
	(void)state;
	assert_int_equal(onex_mann_whitney(same, 3, same, 3, &t), 0);
	assert_false(t.valid);
	assert_true(t.p_value == 1.0);
	assert_int_equal(onex_mann_whitney(same, 0, same, 3, &t), 0);
	assert_false(t.valid);
	assert_true(t.p_value == 1.0);
}

static void test_median(void **state)
{
	const double odd[] = { 3, 1, 2 };
	const double even[] = { 4, 1, 3, 2 };
	(void)state;
	assert_true(onex_stats_median(odd, 3) == 2.0);
	assert_true(onex_stats_median(even, 4) == 2.5);
	assert_true(odd[0] == 3); /* not reordered */
	assert_true(onex_stats_median(odd, 0) == 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles_exact_for_small_values),
		cmocka_unit_test(test_percentile_rounds_like_hdrhistogram),
		cmocka_unit_test(test_equivalent_ranges_keep_three_digits),
		cmocka_unit_test(test_outlier_distribution),
		cmocka_unit_test(test_merge_equals_recording_everything),
		cmocka_unit_test(test_merge_across_layouts),
		cmocka_unit_test(test_memory_is_bounded_and_values_saturate),
		cmocka_unit_test(test_hgrm_text_format),
		cmocka_unit_test(test_utest_separated_samples),
		cmocka_unit_test(test_utest_timings),
		cmocka_unit_test(test_utest_overlapping_samples),
		cmocka_unit_test(test_utest_ties_across_samples),
		cmocka_unit_test(test_utest_degenerate),
		cmocka_unit_test(test_median),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
