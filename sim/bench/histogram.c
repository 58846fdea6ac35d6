/*
 * histogram.c - log-linear histogram; the index arithmetic is
 * HdrHistogram's (hdr_histogram.c), the percentile walk is its Java
 * PercentileIterator, so the printed distribution reads like every other
 * .hgrm file and HdrHistogram's plotter accepts it.
 */
#include "histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int32_t clz64(uint64_t v)
{
	return v ? (int32_t)__builtin_clzll(v) : 64;
}

/* Number of buckets needed so that `value` is trackable. */
static int32_t buckets_to_cover(int64_t value, int32_t sub_bucket_count, int32_t unit_magnitude)
{
	int64_t smallest_untrackable = (int64_t)sub_bucket_count << unit_magnitude;
	int32_t needed = 1;
	while (smallest_untrackable <= value) {
		if (smallest_untrackable > INT64_MAX / 2)
			return needed + 1;
		smallest_untrackable <<= 1;
		needed++;
	}
	return needed;
}

int onex_hist_init(struct onex_hist *h, int64_t lowest, int64_t highest, int sig_figs)
{
	memset(h, 0, sizeof(*h));
	if (lowest < 1 || sig_figs < 1 || sig_figs > 5 || highest < 2 * lowest)
		return -1;
	int64_t single_unit = 2;
	for (int i = 0; i < sig_figs; i++)
		single_unit *= 10;
	int32_t sub_bucket_count_magnitude = (int32_t)ceil(log2((double)single_unit));
	h->lowest = lowest;
	h->highest = highest;
	h->sig_figs = sig_figs;
	h->sub_bucket_half_count_magnitude =
		(sub_bucket_count_magnitude > 1 ? sub_bucket_count_magnitude : 1) - 1;
	h->unit_magnitude = (int32_t)floor(log2((double)lowest));
	h->sub_bucket_count = (int32_t)1 << (h->sub_bucket_half_count_magnitude + 1);
	h->sub_bucket_half_count = h->sub_bucket_count / 2;
	h->sub_bucket_mask = ((int64_t)h->sub_bucket_count - 1) << h->unit_magnitude;
	if (h->unit_magnitude + h->sub_bucket_half_count_magnitude > 61)
		return -1;
	h->bucket_count = buckets_to_cover(highest, h->sub_bucket_count, h->unit_magnitude);
	h->counts_len = (h->bucket_count + 1) * (h->sub_bucket_count / 2);
	h->counts = calloc((size_t)h->counts_len, sizeof(*h->counts));
	if (!h->counts)
		return -1;
	h->min_value = INT64_MAX;
	return 0;
}

void onex_hist_release(struct onex_hist *h)
{
	free(h->counts);
	memset(h, 0, sizeof(*h));
}

void onex_hist_reset(struct onex_hist *h)
{
	memset(h->counts, 0, (size_t)h->counts_len * sizeof(*h->counts));
	h->total_count = 0;
	h->saturated = 0;
	h->min_value = INT64_MAX;
	h->max_value = 0;
}

size_t onex_hist_memory_bytes(const struct onex_hist *h)
{
	return (size_t)h->counts_len * sizeof(*h->counts);
}

/* ---- index arithmetic (hdr_histogram.c) ---------------------------------------- */

static int32_t bucket_index(const struct onex_hist *h, int64_t value)
{
	int32_t pow2ceiling = 64 - clz64((uint64_t)(value | h->sub_bucket_mask));
	return pow2ceiling - h->unit_magnitude - (h->sub_bucket_half_count_magnitude + 1);
}

static int32_t sub_bucket_index(const struct onex_hist *h, int64_t value, int32_t bucket)
{
	return (int32_t)(value >> (bucket + h->unit_magnitude));
}

static int32_t counts_index(const struct onex_hist *h, int32_t bucket, int32_t sub_bucket)
{
	int32_t bucket_base = (bucket + 1) << h->sub_bucket_half_count_magnitude;
	return bucket_base + (sub_bucket - h->sub_bucket_half_count);
}

static int64_t value_from(const struct onex_hist *h, int32_t bucket, int32_t sub_bucket)
{
	return (int64_t)sub_bucket << (bucket + h->unit_magnitude);
}

static int64_t value_at_index(const struct onex_hist *h, int32_t index)
{
	int32_t bucket = (index >> h->sub_bucket_half_count_magnitude) - 1;
	int32_t sub_bucket = (index & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
	if (bucket < 0) {
		sub_bucket -= h->sub_bucket_half_count;
		bucket = 0;
	}
	return value_from(h, bucket, sub_bucket);
}

static int64_t equivalent_range(const struct onex_hist *h, int64_t value)
{
	int32_t bucket = bucket_index(h, value);
	int32_t sub_bucket = sub_bucket_index(h, value, bucket);
	int32_t adjusted = sub_bucket >= h->sub_bucket_count ? bucket + 1 : bucket;
	return (int64_t)1 << (h->unit_magnitude + adjusted);
}

int64_t onex_hist_lowest_equivalent(const struct onex_hist *h, int64_t value)
{
	int32_t bucket = bucket_index(h, value);
	return value_from(h, bucket, sub_bucket_index(h, value, bucket));
}

int64_t onex_hist_highest_equivalent(const struct onex_hist *h, int64_t value)
{
	return onex_hist_lowest_equivalent(h, value) + equivalent_range(h, value) - 1;
}

static int64_t median_equivalent(const struct onex_hist *h, int64_t value)
{
	return onex_hist_lowest_equivalent(h, value) + (equivalent_range(h, value) >> 1);
}

/* ---- recording -------------------------------------------------------------- */

int onex_hist_record_n(struct onex_hist *h, int64_t value, int64_t count)
{
	if (value < 0 || count < 0)
		return -1;
	if (count == 0)
		return 0;
	if (value > h->highest) {
		value = h->highest;
		h->saturated += count;
	}
	int32_t bucket = bucket_index(h, value);
	int32_t index = counts_index(h, bucket, sub_bucket_index(h, value, bucket));
	if (index < 0 || index >= h->counts_len)
		return -1; /* cannot happen for value <= highest; kept as a guard */
	h->counts[index] += count;
	h->total_count += count;
	if (value < h->min_value)
		h->min_value = value;
	if (value > h->max_value)
		h->max_value = value;
	return 0;
}

int onex_hist_record(struct onex_hist *h, int64_t value)
{
	return onex_hist_record_n(h, value, 1);
}

static int same_layout(const struct onex_hist *a, const struct onex_hist *b)
{
	return a->counts_len == b->counts_len && a->unit_magnitude == b->unit_magnitude &&
	       a->sub_bucket_half_count_magnitude == b->sub_bucket_half_count_magnitude &&
	       a->highest == b->highest;
}

int onex_hist_merge(struct onex_hist *dst, const struct onex_hist *src)
{
	if (src->total_count == 0)
		return 0;
	if (same_layout(dst, src)) {
		for (int32_t i = 0; i < dst->counts_len; i++)
			dst->counts[i] += src->counts[i];
		dst->total_count += src->total_count;
		dst->saturated += src->saturated;
		if (src->min_value < dst->min_value)
			dst->min_value = src->min_value;
		if (src->max_value > dst->max_value)
			dst->max_value = src->max_value;
		return 0;
	}
	/* Different layouts: re-record each bucket's value (exact min/max kept). */
	int rc = 0;
	for (int32_t i = 0; i < src->counts_len; i++)
		if (src->counts[i] && onex_hist_record_n(dst, value_at_index(src, i), src->counts[i]) < 0)
			rc = -1;
	if (src->min_value < dst->min_value)
		dst->min_value = src->min_value;
	if (src->max_value > dst->max_value && src->max_value <= dst->highest)
		dst->max_value = src->max_value;
	return rc;
}

/* ---- reading ------------------------------------------------------------------ */

int64_t onex_hist_value_at_percentile(const struct onex_hist *h, double p)
{
	if (h->total_count == 0)
		return 0;
	double requested = p < 100.0 ? (p > 0.0 ? p : 0.0) : 100.0;
	int64_t count_at = (int64_t)((requested / 100.0) * (double)h->total_count + 0.5);
	int64_t running = 0;
	if (count_at < 1)
		count_at = 1;
	for (int32_t i = 0; i < h->counts_len; i++) {
		running += h->counts[i];
		if (running >= count_at) {
			int64_t v = value_at_index(h, i);
			return requested == 0.0 ? onex_hist_lowest_equivalent(h, v)
						: onex_hist_highest_equivalent(h, v);
		}
	}
	return 0;
}

int64_t onex_hist_min(const struct onex_hist *h)
{
	return h->total_count ? h->min_value : 0;
}

int64_t onex_hist_max(const struct onex_hist *h)
{
	return h->total_count ? h->max_value : 0;
}

double onex_hist_mean(const struct onex_hist *h)
{
	double total = 0;
	if (h->total_count == 0)
		return 0.0;
	for (int32_t i = 0; i < h->counts_len; i++)
		if (h->counts[i])
			total += (double)h->counts[i] *
				 (double)median_equivalent(h, value_at_index(h, i));
	return total / (double)h->total_count;
}

double onex_hist_stddev(const struct onex_hist *h)
{
	double mean = onex_hist_mean(h), sq = 0;
	if (h->total_count == 0)
		return 0.0;
	for (int32_t i = 0; i < h->counts_len; i++)
		if (h->counts[i]) {
			double d = (double)median_equivalent(h, value_at_index(h, i)) - mean;
			sq += d * d * (double)h->counts[i];
		}
	return sqrt(sq / (double)h->total_count);
}

/* ---- the percentile walk (Java PercentileIterator) ---------------------------- */

size_t onex_hist_percentile_points(const struct onex_hist *h, int ticks_per_half_distance,
				   onex_hist_point_cb cb, void *arg)
{
	size_t points = 0;
	int32_t index = 0;
	int64_t cumulative = 0;
	int fresh = 1, reached_last = 0;
	double level = 0.0;
	if (h->total_count == 0)
		return 0;
	if (ticks_per_half_distance < 1)
		ticks_per_half_distance = 1;
	for (;;) {
		/* hasNext(): counts left to walk, or one last step to 100 %. */
		if (cumulative >= h->total_count) {
			if (reached_last)
				break;
			level = 100.0;
			reached_last = 1;
		}
		/* next(): advance until the walk reaches the current level. */
		int found = 0;
		while (index < h->counts_len) {
			int64_t here = h->counts[index];
			if (fresh) {
				cumulative += here;
				fresh = 0;
			}
			if (here != 0 &&
			    100.0 * (double)cumulative / (double)h->total_count >= level) {
				found = 1;
				break;
			}
			index++;
			fresh = 1;
		}
		if (!found)
			break; /* cannot happen: the last non-empty index reaches 100 % */
		cb(arg, onex_hist_highest_equivalent(h, value_at_index(h, index)), level,
		   cumulative);
		points++;
		if (level >= 100.0)
			break;
		/* incrementIterationLevel() */
		double halvings = floor(log(100.0 / (100.0 - level)) / log(2.0));
		double ticks = (double)ticks_per_half_distance * pow(2.0, halvings + 1.0);
		level += 100.0 / ticks;
	}
	return points;
}

struct print_state {
	FILE *out;
	double scale;
	int sig_figs;
};

static void print_point(void *arg, int64_t value, double percentile, int64_t total_count)
{
	struct print_state *ps = arg;
	double v = (double)value / ps->scale, q = percentile / 100.0;
	if (percentile != 100.0)
		fprintf(ps->out, "%12.*f %2.12f %10lld %14.2f\n", ps->sig_figs, v, q,
			(long long)total_count, 1.0 / (1.0 - q));
	else
		fprintf(ps->out, "%12.*f %2.12f %10lld\n", ps->sig_figs, v, q,
			(long long)total_count);
}

void onex_hist_print_distribution(const struct onex_hist *h, FILE *out,
				  int ticks_per_half_distance, double scale)
{
	struct print_state ps = { out, scale > 0 ? scale : 1.0, h->sig_figs };
	int64_t max = h->total_count ? onex_hist_highest_equivalent(h, h->max_value) : 0;
	fprintf(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	onex_hist_percentile_points(h, ticks_per_half_distance, print_point, &ps);
	fprintf(out, "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n", h->sig_figs,
		onex_hist_mean(h) / ps.scale, h->sig_figs, onex_hist_stddev(h) / ps.scale);
	fprintf(out, "#[Max     = %12.*f, Total count    = %12lld]\n", h->sig_figs,
		(double)max / ps.scale, (long long)h->total_count);
	fprintf(out, "#[Buckets = %12d, SubBuckets     = %12d]\n", h->bucket_count,
		h->sub_bucket_count);
}
