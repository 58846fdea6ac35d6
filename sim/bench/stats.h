/*
 * stats.h - the statistics the benchmark gate needs: medians and the
 * Mann-Whitney U test.
 *
 * The U test is the one google-benchmark's tools/compare.py runs
 * (scipy.stats.mannwhitneyu, two-sided): ranks with ties averaged, the
 * normal approximation of U with the tie correction of its variance and a
 * continuity correction of 0.5. It makes no assumption about the shape of
 * the timing distributions, which are skewed and often bimodal.
 */
#ifndef ONEX_BENCH_STATS_H
#define ONEX_BENCH_STATS_H

#include <stddef.h>

struct onex_utest {
	double u;	/* max(U1, U2) */
	double u1;	/* U of the first sample */
	double z;	/* standardized, continuity-corrected */
	double p_value; /* two-sided; 1.0 when it cannot be computed */
	int valid;	/* both samples non-empty and not all values tied */
};

/*
 * Two-sided Mann-Whitney U test of samples a (na values) and b (nb).
 * Never allocates more than (na + nb) pairs; returns 0, or -1 when out of
 * memory (then *out says p = 1, valid = 0).
 */
int onex_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		      struct onex_utest *out);

/* Median of n values (n > 0; 0.0 when n == 0). Does not reorder `v`. */
double onex_stats_median(const double *v, size_t n);
double onex_stats_mean(const double *v, size_t n);
double onex_stats_min(const double *v, size_t n);
double onex_stats_max(const double *v, size_t n);
/* Sample standard deviation (n - 1); 0.0 when n < 2. */
double onex_stats_stddev(const double *v, size_t n);

#endif
