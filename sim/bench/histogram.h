/*
 * histogram.h - a log-linear histogram in the manner of HdrHistogram
 * (Gil Tene's HdrHistogram; the C port's hdr_histogram.c): values are
 * counted in buckets, one bucket per power of two, each split into
 * `sub_bucket_count` linear sub-buckets, so every recorded value is kept
 * to within a relative error of 10^-significant_figures, and the memory
 * is fixed when the histogram is made (it never grows while recording).
 *
 * Two histograms with the same layout merge by adding their counts;
 * different layouts merge by re-recording the other's bucket values.
 * Percentiles follow HdrHistogram: the value at percentile p is the highest
 * value equivalent (same sub-bucket) to the value whose cumulative count
 * first reaches round(p / 100 * total); values below 2 * 10^sig_figs
 * (times the lowest discernible value) are exact.
 *
 * The exact minimum and maximum recorded are kept beside the counts, so
 * `max` is the true maximum rather than its bucket's upper edge.
 *
 * Not thread-safe; no allocation after onex_hist_init().
 */
#ifndef ONEX_BENCH_HISTOGRAM_H
#define ONEX_BENCH_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct onex_hist {
	int64_t lowest;	 /* lowest discernible value, >= 1 */
	int64_t highest; /* highest trackable value; larger ones saturate */
	int sig_figs;	 /* 1..5 */
	int32_t unit_magnitude;
	int32_t sub_bucket_half_count_magnitude;
	int32_t sub_bucket_count;
	int32_t sub_bucket_half_count;
	int64_t sub_bucket_mask;
	int32_t bucket_count;
	int32_t counts_len;
	int64_t total_count;
	int64_t saturated; /* values above `highest`, recorded as `highest` */
	int64_t min_value, max_value; /* exact; min INT64_MAX / max 0 when empty */
	int64_t *counts;	      /* owned, counts_len entries */
};

/*
 * Make an empty histogram tracking [lowest, highest] with sig_figs
 * significant decimal digits (1..5). 0, or -1 on bad arguments or out of
 * memory. Ownership: release with onex_hist_release().
 */
int onex_hist_init(struct onex_hist *h, int64_t lowest, int64_t highest, int sig_figs);
void onex_hist_release(struct onex_hist *h);

/* Forget every value; the layout stays. */
void onex_hist_reset(struct onex_hist *h);

/*
 * Count `value` once / `count` times. Negative values are refused (-1);
 * values above `highest` are counted as `highest` and in h->saturated.
 */
int onex_hist_record(struct onex_hist *h, int64_t value);
int onex_hist_record_n(struct onex_hist *h, int64_t value, int64_t count);

/* Add every count of `src` to `dst`. 0, or -1 when a value was refused. */
int onex_hist_merge(struct onex_hist *dst, const struct onex_hist *src);

/* The value at percentile p (0..100), as HdrHistogram defines it; 0 when empty. */
int64_t onex_hist_value_at_percentile(const struct onex_hist *h, double p);

int64_t onex_hist_min(const struct onex_hist *h); /* 0 when empty */
int64_t onex_hist_max(const struct onex_hist *h); /* 0 when empty */
double onex_hist_mean(const struct onex_hist *h);
double onex_hist_stddev(const struct onex_hist *h);

/* The bucket arithmetic, exposed for tests. */
int64_t onex_hist_lowest_equivalent(const struct onex_hist *h, int64_t value);
int64_t onex_hist_highest_equivalent(const struct onex_hist *h, int64_t value);
/* Bytes used by the counts array (the bound on memory). */
size_t onex_hist_memory_bytes(const struct onex_hist *h);

/*
 * HdrHistogram's classic percentile distribution ("hgrm" text, as
 * AbstractHistogram.outputPercentileDistribution prints it), values divided
 * by `scale` (e.g. 1000.0 to print microseconds from nanoseconds), with
 * ticks_per_half_distance lines per halving of the distance to 100 %.
 */
void onex_hist_print_distribution(const struct onex_hist *h, FILE *out,
				  int ticks_per_half_distance, double scale);

/*
 * Walk the same percentile points (value, percentile 0..100, cumulative
 * count) without printing, e.g. to draw them. Returns the number of points.
 */
typedef void (*onex_hist_point_cb)(void *arg, int64_t value, double percentile,
				   int64_t total_count);
size_t onex_hist_percentile_points(const struct onex_hist *h, int ticks_per_half_distance,
				   onex_hist_point_cb cb, void *arg);

#endif
