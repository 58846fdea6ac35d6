/*
 * stats.c - median and the Mann-Whitney U test (see stats.h).
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ranked {
	double value;
	int from_a;
};

static int by_value(const void *x, const void *y)
{
	double a = ((const struct ranked *)x)->value, b = ((const struct ranked *)y)->value;
	return (a > b) - (a < b);
}

int onex_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		      struct onex_utest *out)
{
	size_t n = na + nb;
	memset(out, 0, sizeof(*out));
	out->p_value = 1.0;
	if (na == 0 || nb == 0)
		return 0;
	struct ranked *all = malloc(n * sizeof(*all));
	if (!all)
		return -1;
	for (size_t i = 0; i < na; i++)
		all[i] = (struct ranked){ a[i], 1 };
	for (size_t i = 0; i < nb; i++)
		all[na + i] = (struct ranked){ b[i], 0 };
	qsort(all, n, sizeof(*all), by_value);

	/* Average ranks over ties; sum t^3 - t over each tie group. */
	double rank_sum_a = 0.0, tie_term = 0.0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && all[j].value == all[i].value)
			j++;
		double t = (double)(j - i);
		double rank = ((double)(i + 1) + (double)j) / 2.0; /* ranks i+1 .. j */
		for (size_t k = i; k < j; k++)
			if (all[k].from_a)
				rank_sum_a += rank;
		tie_term += t * t * t - t;
		i = j;
	}
	free(all);

	double dna = (double)na, dnb = (double)nb, dn = (double)n;
	double u1 = rank_sum_a - dna * (dna + 1.0) / 2.0;
	double u2 = dna * dnb - u1;
	double mu = dna * dnb / 2.0;
	double var = dna * dnb / 12.0 * ((dn + 1.0) - tie_term / (dn * (dn - 1.0)));
	out->u1 = u1;
	out->u = u1 > u2 ? u1 : u2;
	if (var <= 0.0)
		return 0; /* every value tied: no evidence either way */
	out->z = (out->u - mu - 0.5) / sqrt(var);
	if (out->z < 0.0)
		out->z = 0.0; /* |U - mu| < 0.5: the correction overshoots */
	out->p_value = erfc(out->z / sqrt(2.0)); /* = 2 * (1 - Phi(z)) */
	if (out->p_value > 1.0)
		out->p_value = 1.0;
	out->valid = 1;
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

double onex_stats_median(const double *v, size_t n)
{
	if (n == 0)
		return 0.0;
	double small[64], *copy = n <= 64 ? small : malloc(n * sizeof(*copy));
	if (!copy)
		return v[0];
	memcpy(copy, v, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), cmp_double);
	double m = n % 2 ? copy[n / 2] : (copy[n / 2 - 1] + copy[n / 2]) / 2.0;
	if (copy != small)
		free(copy);
	return m;
}

double onex_stats_mean(const double *v, size_t n)
{
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : 0.0;
}

double onex_stats_min(const double *v, size_t n)
{
	double m = n ? v[0] : 0.0;
	for (size_t i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

double onex_stats_max(const double *v, size_t n)
{
	double m = n ? v[0] : 0.0;
	for (size_t i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

double onex_stats_stddev(const double *v, size_t n)
{
	if (n < 2)
		return 0.0;
	double mean = onex_stats_mean(v, n), sq = 0.0;
	for (size_t i = 0; i < n; i++)
		sq += (v[i] - mean) * (v[i] - mean);
	return sqrt(sq / (double)(n - 1));
}
